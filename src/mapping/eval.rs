//! Evaluating a compiled plan on one record: pick each field's value (fallback chain,
//! conditions, table, jq), normalise and check it by its target kind, then apply the
//! cross-field rules of codes.md. Collects every issue, each naming the portal field and the
//! local field(s) its value was read from; never panics on input (jq runs behind
//! `catch_unwind`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::panic::AssertUnwindSafe;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::plan::{Cond, FieldPlan, Guarded, Part, Rule, Source, SrcPath, TableRef};
use super::target::{FieldSpec, Kind, Overflow, CONDITIONAL_DATES};
use super::value::{self, DateFormat};
use super::{FieldIssue, Target, Vars};

/// What one record produced so far.
#[derive(Default)]
pub struct Report {
    pub errors: Vec<FieldIssue>,
    pub warnings: Vec<FieldIssue>,
}

/// The rows a path can start from, and the config's values.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub row: &'a Value,
    pub parent: &'a Value,
    pub vars: &'a Vars,
}

pub fn lookup<'a>(scope: &Scope<'a>, p: &SrcPath) -> Option<&'a Value> {
    let mut cur = if p.parent { scope.parent } else { scope.row };
    for k in p.keys.iter() {
        cur = match cur {
            Value::Object(m) => m.get(&**k)?,
            Value::Array(a) => a.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A field's problem before it is filed as an error or a warning.
struct Problem {
    value: Option<String>,
    rule: String,
}

fn invalid(v: &Value, spec: &FieldSpec, rule: impl Into<String>) -> Problem {
    Problem {
        value: Some(value::show(v, spec.personal)),
        rule: rule.into(),
    }
}

/// A field for issues, put into words only when an issue is filed: its name (`Gia` or
/// `DanhSachLePhi[1].Gia`, by Display) and where its value was read in the local record
/// ([`Name::source`]).
#[derive(Clone, Copy)]
pub struct Name<'a> {
    pub entry: Option<Entry<'a>>,
    pub name: &'a str,
    pub read: Read<'a>,
}

/// One entry of a list field: the list, the row's place in the local list, and the source
/// that gave the rows.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub list: &'a str,
    pub index: usize,
    pub rows_from: &'a [Guarded],
    /// The rows were one object, not an array: the local path has no index.
    pub single: bool,
}

/// What a field's value was read from.
#[derive(Clone, Copy)]
pub enum Read<'a> {
    /// The source that gave the value, or every source of the chain when none did.
    Sources(&'a [Guarded]),
    /// The row's own key of the field's name (list rows already in the portal's keys).
    OwnKey,
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(e) => write!(f, "{}[{}].{}", e.list, e.index, self.name),
            None => f.write_str(self.name),
        }
    }
}

impl<'a> Name<'a> {
    /// The local fields the value was read from, as the local system names them: `NgayNhan`,
    /// `LePhi[1].SoTien`, `TenThuTuc + NguoiNop` (a template's inputs), alternatives of a
    /// chain joined by `or`. `None` when only constants were read.
    pub fn source(&self) -> Option<String> {
        let rows = self.entry.and_then(|e| match e.rows_from {
            [g] => match &g.source {
                // `from = "."`: the record itself is the one row; its columns are the record's.
                Source::Path(p) if p.keys.is_empty() => None,
                Source::Path(p) => Some(Rows::Local(p, e.index, e.single)),
                _ => Some(Rows::Computed(g)),
            },
            _ => None,
        });
        let mut labels: Vec<String> = Vec::new();
        match self.read {
            Read::OwnKey => match rows {
                Some(Rows::Computed(g)) => labels.extend(source_label(g, None)),
                _ => labels.extend(path_label(false, &[self.name], rows)),
            },
            Read::Sources(gs) => {
                for g in gs {
                    if let Some(l) = source_label(g, rows) {
                        if !labels.contains(&l) {
                            labels.push(l);
                        }
                    }
                }
            }
        }
        (!labels.is_empty()).then(|| labels.join(" or "))
    }

    /// The same field, read from these sources (the one that gave the value or had a problem).
    fn read_from(self, sources: &'a [Guarded]) -> Name<'a> {
        Name {
            read: Read::Sources(sources),
            ..self
        }
    }
}

/// Where a list entry's row came from in the local record.
#[derive(Clone, Copy)]
enum Rows<'a> {
    /// A local list (`LePhi`), the row's index, and whether it was one object (no index).
    Local(&'a SrcPath, usize, bool),
    /// Rows a source computed (jq): their keys are not the local record's.
    Computed(&'a Guarded),
}

/// A path as the local system names it: `NguoiNop.HoTen`, a list row's column as
/// `LePhi[1].SoTien`, a `$parent.` column as the record's column. `None` for the row itself.
fn path_label(parent: bool, keys: &[impl AsRef<str>], rows: Option<Rows<'_>>) -> Option<String> {
    let mut out = String::new();
    if let (false, Some(Rows::Local(list, i, single))) = (parent, rows) {
        out.push_str(&list.keys.join("."));
        if !single {
            out.push_str(&format!("[{i}]"));
        }
    }
    for k in keys {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(k.as_ref());
    }
    (!out.is_empty()).then_some(out)
}

/// The local fields one source reads, joined by `+` (a template's inputs, a status and its
/// sub-status); `None` for a constant.
fn source_label(g: &Guarded, rows: Option<Rows<'_>>) -> Option<String> {
    let path = |p: &SrcPath| path_label(p.parent, &p.keys, rows);
    let mut parts: Vec<String> = Vec::new();
    match &g.source {
        Source::Path(p) | Source::Jq { input: Some(p), .. } => parts.extend(path(p)),
        Source::Const(_) => {}
        Source::Var(name) => parts.push(format!("$vars.{name}")),
        Source::Template(pieces) => {
            for piece in pieces.iter() {
                match piece {
                    Part::Lit(_) => {}
                    Part::Path(p) => parts.extend(path(p)),
                    Part::Var(name) => parts.push(format!("$vars.{name}")),
                }
            }
        }
        Source::Jq {
            input: None,
            filter,
        } => {
            // The expression reads the whole row: name it (cut, it may be long).
            let code: String = filter.1.chars().take(60).collect();
            let more = if code.len() < filter.1.len() {
                "…"
            } else {
                ""
            };
            parts.push(format!("jq '{code}{more}'"));
        }
    }
    if let Some(sub) = g.table.as_ref().and_then(|t| t.sub.as_ref()) {
        parts.extend(path(sub));
    }
    (!parts.is_empty()).then(|| parts.join(" + "))
}

fn issue(field: Name<'_>, p: Problem) -> FieldIssue {
    FieldIssue {
        field: field.to_string(),
        source: field.source(),
        value: p.value,
        rule: p.rule,
    }
}

/// Names the local source of issues filed after evaluation (the cross-field rules, the
/// schema), which know only the portal field: from the field's whole chain, since which
/// source gave the value is not kept.
pub fn attribute(plans: &[FieldPlan], issues: &mut [FieldIssue]) {
    for i in issues.iter_mut().filter(|i| i.source.is_none()) {
        i.source = source_of(plans, &i.field);
    }
}

fn source_of(plans: &[FieldPlan], field: &str) -> Option<String> {
    let (top, rest) = match field.split_once('[') {
        Some((top, rest)) => (top, Some(rest)),
        None => (field.split('.').next().unwrap_or(field), None),
    };
    let rule = plans.iter().find(|p| p.spec.name == top)?.rule.as_ref()?;
    let Some(rest) = rest else {
        return Name {
            entry: None,
            name: top,
            read: Read::Sources(&rule.sources),
        }
        .source();
    };
    // `DanhSachLePhi[0].Gia...`: the entry's field, read from the list's rows.
    let (index, child) = rest.split_once("].")?;
    let child = child.split(['.', '[']).next().unwrap_or(child);
    let entry = Entry {
        list: top,
        index: index.parse().ok()?,
        // Which source gave the rows is known only when there is one.
        rows_from: if rule.sources.len() == 1 {
            &rule.sources
        } else {
            &[]
        },
        single: false,
    };
    let read = if rule.children.is_empty() {
        Read::OwnKey
    } else {
        let fp = rule.children.iter().find(|c| c.spec.name == child)?;
        Read::Sources(&fp.rule.as_ref()?.sources)
    };
    Name {
        entry: Some(entry),
        name: child,
        read,
    }
    .source()
}

/// Whether a source's condition holds on the current row.
fn holds(c: &Cond, scope: &Scope<'_>) -> bool {
    match c {
        Cond::Is { path, values } => lookup(scope, path)
            .and_then(value::scalar_text)
            .is_some_and(|v| values.iter().any(|x| x == v.trim())),
        Cond::Not(c) => !holds(c, scope),
        Cond::All(cs) => cs.iter().all(|c| holds(c, scope)),
        Cond::Any(cs) => cs.iter().any(|c| holds(c, scope)),
        Cond::Some { list, test } => {
            let rows = match lookup(scope, list) {
                Some(Value::Array(a)) => a.as_slice(),
                Some(one @ Value::Object(_)) => std::slice::from_ref(one),
                _ => &[],
            };
            rows.iter().filter(|r| !value::is_empty(r)).any(|row| {
                test.as_deref().is_none_or(|t| {
                    holds(
                        t,
                        &Scope {
                            row,
                            parent: scope.parent,
                            vars: scope.vars,
                        },
                    )
                })
            })
        }
    }
}

fn eval_source<'a>(
    src: &'a Source,
    scope: &Scope<'a>,
    personal: bool,
) -> Result<Option<Cow<'a, Value>>, Problem> {
    match src {
        Source::Path(p) => Ok(lookup(scope, p)
            .filter(|v| !value::is_empty(v))
            .map(Cow::Borrowed)),
        Source::Const(v) => Ok((!value::is_empty(v)).then_some(Cow::Borrowed(v))),
        Source::Var(name) => Ok(scope
            .vars
            .get(&**name)
            .filter(|s| !s.trim().is_empty())
            .map(|s| Cow::Owned(Value::String(s.clone())))),
        Source::Template(parts) => {
            let mut out = String::new();
            for part in parts.iter() {
                match part {
                    Part::Lit(s) => out.push_str(s),
                    Part::Var(name) => match scope.vars.get(&**name) {
                        Some(s) if !s.trim().is_empty() => out.push_str(s),
                        _ => return Ok(None),
                    },
                    Part::Path(p) => {
                        let Some(v) = lookup(scope, p).filter(|v| !value::is_empty(v)) else {
                            return Ok(None);
                        };
                        let Some(t) = value::scalar_text(v) else {
                            return Ok(None);
                        };
                        out.push_str(&t);
                    }
                }
            }
            Ok(Some(Cow::Owned(Value::String(out))))
        }
        Source::Jq { input, filter } => {
            let input = match input {
                Some(p) => match lookup(scope, p).filter(|v| !value::is_empty(v)) {
                    Some(v) => v,
                    None => return Ok(None),
                },
                None => scope.row,
            };
            run_jq(filter, input, scope.vars, personal)
                .map(|o| o.filter(|v| !value::is_empty(v)).map(Cow::Owned))
                .map_err(|rule| Problem {
                    value: Some(value::show(input, personal)),
                    rule,
                })
        }
    }
}

fn run_jq(
    filter: &super::plan::Jq,
    input: &Value,
    vars: &Vars,
    personal: bool,
) -> Result<Option<Value>, String> {
    use jaq_core::{Ctx, RcIter};
    use jaq_json::Val;
    let run = || {
        let vars_val = Val::from(Value::Object(
            vars.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ));
        let inputs = RcIter::new(core::iter::empty());
        let mut out = filter
            .0
            .run((Ctx::new([vars_val], &inputs), Val::from(input.clone())));
        match out.next() {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(Value::from(v))),
            Some(Err(e)) => Err(jq_failure(&e.to_string(), personal)),
        }
    };
    std::panic::catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err("jq expression failed (internal error)".to_string()))
}

/// jaq's own errors quote the values involved, which may be personal data from anywhere in
/// the row: keep what went wrong, not the values. An author's `error("...")` text is kept.
fn jq_failure(msg: &str, personal: bool) -> String {
    let what = if let Some(rest) = msg.strip_prefix("cannot use ") {
        match rest.rfind(" as ") {
            Some(i) => format!("cannot use a value as {}", &rest[i + 4..]),
            None => "cannot use a value".to_string(),
        }
    } else if msg.starts_with("cannot calculate ") {
        "cannot calculate with these values".to_string()
    } else if msg.starts_with("cannot index ") {
        "cannot index a value".to_string()
    } else if personal {
        return "jq expression failed".to_string();
    } else {
        value::show_str(msg, false)
    };
    format!("jq expression failed: {what}")
}

/// The first value the chain yields with the source that gave it (a one-source slice), or the
/// problem that stopped it with the source that had it.
type Picked<'a> = Result<Option<(Cow<'a, Value>, &'a [Guarded])>, (Problem, &'a [Guarded])>;

fn pick<'a>(rule: &'a Rule, scope: &Scope<'a>, spec: &FieldSpec) -> Picked<'a> {
    for (i, g) in rule.sources.iter().enumerate() {
        let one = &rule.sources[i..=i];
        if g.when.as_ref().is_some_and(|c| !holds(c, scope)) {
            continue;
        }
        let v = match eval_source(&g.source, scope, spec.personal) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(p) => return Err((p, one)),
        };
        let Some(t) = &g.table else {
            return Ok(Some((v, one)));
        };
        match apply_table(t, v, scope, spec).map_err(|p| (p, one))? {
            Some(out) => return Ok(Some((out, one))),
            // A row whose value is empty maps the code to "no value": try the next source.
            None => continue,
        }
    }
    Ok(None)
}

fn apply_table<'a>(
    t: &'a TableRef,
    v: Cow<'a, Value>,
    scope: &Scope<'a>,
    spec: &FieldSpec,
) -> Result<Option<Cow<'a, Value>>, Problem> {
    let Some(key) = value::scalar_text(&v) else {
        return Err(invalid(&v, spec, "not a code (object or array)"));
    };
    let key = key.trim();
    let sub = t
        .sub
        .as_ref()
        .and_then(|p| lookup(scope, p))
        .filter(|v| !value::is_empty(v))
        .and_then(value::scalar_text);
    let sub = sub.as_deref().map(str::trim);
    let row = sub
        .and_then(|s| t.table.pairs.get(key).and_then(|m| m.get(s)))
        .or_else(|| t.table.rows.get(key))
        .or_else(|| {
            t.table
                .patterns
                .iter()
                .find(|(re, _)| re.is_match(key))
                .map(|(_, row)| row)
        });
    match row.and_then(|r| r.get(t.column)) {
        Some(out) => Ok((!value::is_empty(out)).then_some(Cow::Borrowed(out))),
        None => {
            let shown = match sub {
                Some(s) => format!(
                    "{} / {}",
                    value::show_str(key, spec.personal),
                    value::show_str(s, spec.personal)
                ),
                None => value::show_str(key, spec.personal),
            };
            let rule = match sub {
                Some(_) => format!(
                    "no row in table {} for this (status, sub-status) pair nor for the status alone",
                    t.name
                ),
                None => format!("no row in table {} for this code", t.name),
            };
            Err(Problem {
                value: Some(shown),
                rule,
            })
        }
    }
}

/// Normalises and checks one value by its kind. `Ok(None)` = no value after all.
fn check(
    field: Name<'_>,
    spec: &FieldSpec,
    rule_formats: &[DateFormat],
    children: Option<(&[FieldPlan], Option<&SrcPath>)>,
    v: &Value,
    scope: &Scope<'_>,
    rep: &mut Report,
) -> Result<Option<Value>, Problem> {
    let text = |trim: bool| -> Result<(String, bool), Problem> {
        let Some(t) = value::scalar_text(v) else {
            return Err(invalid(v, spec, "not a text value (object or array)"));
        };
        let t = if trim { t.trim() } else { &t };
        let (clean, removed) = value::clean_text(t);
        Ok((clean.into_owned(), removed))
    };
    let warn_removed = |rep: &mut Report, removed: bool, s: &str| {
        if removed {
            rep.warnings.push(FieldIssue {
                field: field.to_string(),
                source: field.source(),
                value: Some(value::show_str(s, spec.personal)),
                rule: "control characters removed".into(),
            });
        }
    };
    let out = match spec.kind {
        Kind::Text | Kind::Identifier | Kind::DossierCode => {
            let trim = !matches!(spec.kind, Kind::Text);
            let (mut s, removed) = text(trim)?;
            warn_removed(rep, removed, &s);
            if s.trim().is_empty() {
                return Ok(None);
            }
            if let Some((n, how)) = spec.max_len {
                if let Some(cut) = value::cut_chars(&s, n) {
                    match how {
                        Overflow::Reject => {
                            return Err(invalid(v, spec, format!("longer than {n} characters")))
                        }
                        Overflow::Cut => {
                            let was = s.chars().count();
                            let cut = cut.to_string();
                            rep.warnings.push(FieldIssue {
                                field: field.to_string(),
                                source: field.source(),
                                value: Some(value::show_str(&cut, spec.personal)),
                                rule: format!("cut to {n} characters (was {was})"),
                            });
                            s = cut;
                        }
                    }
                }
            }
            if matches!(spec.kind, Kind::DossierCode) && !value::dossier_code_ok(&s) {
                return Err(invalid(
                    v,
                    spec,
                    "not a dossier code <agency id NNN.NN.NN.LNN>-<yyMMdd>-<digits>",
                ));
            }
            Value::String(s)
        }
        Kind::Code(set) => {
            let (s, _) = text(true)?;
            if !set.contains(&s.as_str()) {
                return Err(invalid(
                    v,
                    spec,
                    format!("not one of the codes {}", set.join(", ")),
                ));
            }
            Value::String(s)
        }
        Kind::Flag => {
            let s = match v {
                Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n.to_string()),
                Value::String(s) => match s.trim() {
                    "0" => Some("0".to_string()),
                    "1" => Some("1".to_string()),
                    _ => None,
                },
                _ => None,
            };
            Value::String(s.ok_or_else(|| invalid(v, spec, "not a flag (0 or 1)"))?)
        }
        Kind::TrueFalse => {
            let b = match v {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            let b = b.ok_or_else(|| invalid(v, spec, "not True/False"))?;
            Value::String(if b { "True" } else { "False" }.to_string())
        }
        Kind::Bool => {
            let b = match v {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            Value::Bool(b.ok_or_else(|| invalid(v, spec, "not a boolean (true/false or 0/1)"))?)
        }
        Kind::Month => {
            let (s, _) = text(true)?;
            Value::String(
                value::month(&s)
                    .ok_or_else(|| invalid(v, spec, "not a month (M-YYYY, MM-YYYY or YYYY-MM)"))?,
            )
        }
        Kind::Count => Value::from(
            value::count(v).ok_or_else(|| invalid(v, spec, "not a whole number of 0 or more"))?,
        ),
        Kind::Percent => Value::String(
            value::percent(v)
                .ok_or_else(|| invalid(v, spec, "not a percentage from 0 to 100 (85, \"85%\")"))?,
        ),
        Kind::Digits => {
            Value::String(value::digits(v).ok_or_else(|| invalid(v, spec, "not a code of digits"))?)
        }
        Kind::Money => Value::String(value::money(v).ok_or_else(|| {
            invalid(
                v,
                spec,
                "not an amount (a decimal number in VND, no grouping or currency sign)",
            )
        })?),
        Kind::Phone => {
            let (s, _) = text(true)?;
            Value::String(value::phone(&s).ok_or_else(|| {
                invalid(
                    v,
                    spec,
                    "not a phone number (10 digits starting 0, or 11 starting 02)",
                )
            })?)
        }
        Kind::Email => {
            let (s, _) = text(true)?;
            if !value::email_ok(&s) {
                return Err(invalid(
                    v,
                    spec,
                    "not an e-mail address (one @, a local part, a domain with a dot)",
                ));
            }
            Value::String(s)
        }
        Kind::Date => {
            let t = rule_formats.iter().find_map(|f| f.parse(v));
            let t = t.ok_or_else(|| {
                let names: Vec<&str> = rule_formats.iter().map(DateFormat::name).collect();
                invalid(
                    v,
                    spec,
                    format!("not a date in any accepted format ({})", names.join(", ")),
                )
            })?;
            Value::String(value::wire_date(&t))
        }
        Kind::Children(specs) => {
            let (plans, order_by) = children.unwrap_or((&[], None));
            let rows: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Object(_) => vec![v],
                _ => return Err(invalid(v, spec, "not a list of rows")),
            };
            let single = !v.is_array();
            let rows_from = match field.read {
                Read::Sources(one @ [_]) => one,
                _ => &[],
            };
            let mut rows: Vec<(usize, &Value)> = rows.into_iter().enumerate().collect();
            if let Some(p) = order_by {
                let (parent, vars) = (scope.parent, scope.vars);
                let key = |r| {
                    lookup(
                        &Scope {
                            row: r,
                            parent,
                            vars,
                        },
                        p,
                    )
                };
                rows.sort_by(|a, b| cmp_values(key(a.1), key(b.1)));
            }
            let mut out = Vec::with_capacity(rows.len());
            for (i, row) in rows {
                if !row.is_object() {
                    rep.warnings.push(FieldIssue {
                        field: format!("{field}[{i}]"),
                        source: field.source(),
                        value: Some(value::show(row, spec.personal)),
                        rule: "not an object: entry left out".into(),
                    });
                    continue;
                }
                let list = Some(Entry {
                    list: field.name,
                    index: i,
                    rows_from,
                    single,
                });
                let child_scope = Scope {
                    row,
                    parent: scope.parent,
                    vars: scope.vars,
                };
                let mut sub = Report::default();
                let entry = if plans.is_empty() {
                    map_implicit(list, specs, rule_formats, &child_scope, &mut sub)
                } else {
                    map_fields(plans, &child_scope, list, &mut sub)
                };
                if entry.is_empty()
                    && sub.warnings.is_empty()
                    && sub.errors.iter().all(|e| e.value.is_none())
                {
                    // Nothing in this row maps (e.g. the record has no id number): no entry,
                    // and nothing to warn about.
                    continue;
                }
                rep.warnings.append(&mut sub.warnings);
                if sub.errors.is_empty() {
                    out.push(Value::Object(entry));
                } else {
                    for mut e in sub.errors {
                        e.rule.push_str(": entry left out");
                        rep.warnings.push(e);
                    }
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            if specs.first().map(|s| s.name) == Some("LoaiDinhDanh") {
                check_ids(field.name, &mut out, rep);
                if out.is_empty() {
                    return Ok(None);
                }
            }
            Value::Array(out)
        }
    };
    Ok(Some(out))
}

/// Child rows whose keys already are the target's (e.g. produced by jq).
fn map_implicit(
    list: Option<Entry<'_>>,
    specs: &'static [FieldSpec],
    formats: &[DateFormat],
    scope: &Scope<'_>,
    rep: &mut Report,
) -> Map<String, Value> {
    let mut item = Map::new();
    for spec in specs {
        let field = Name {
            entry: list,
            name: spec.name,
            read: Read::OwnKey,
        };
        let raw = scope.row.get(spec.name).filter(|v| !value::is_empty(v));
        file_value(
            field,
            spec,
            raw.map(Cow::Borrowed),
            formats,
            None,
            scope,
            &mut item,
            rep,
        );
    }
    item
}

#[allow(clippy::too_many_arguments)]
fn file_value(
    field: Name<'_>,
    spec: &FieldSpec,
    raw: Option<Cow<'_, Value>>,
    formats: &[DateFormat],
    children: Option<(&[FieldPlan], Option<&SrcPath>)>,
    scope: &Scope<'_>,
    item: &mut Map<String, Value>,
    rep: &mut Report,
) {
    let result = match raw {
        None => Ok(None),
        Some(v) => check(field, spec, formats, children, &v, scope, rep),
    };
    match result {
        Ok(Some(v)) => {
            item.insert(spec.name.to_string(), v);
        }
        Ok(None) if spec.mandatory => rep.errors.push(FieldIssue {
            field: field.to_string(),
            source: field.source(),
            value: None,
            rule: "mandatory".into(),
        }),
        Ok(None) => {}
        Err(p) => file_problem(field, spec, p, rep),
    }
}

fn file_problem(field: Name<'_>, spec: &FieldSpec, p: Problem, rep: &mut Report) {
    let conditional = CONDITIONAL_DATES.contains(&spec.name) && p.value.is_some();
    if spec.mandatory || conditional {
        rep.errors.push(issue(field, p));
    } else {
        let mut i = issue(field, p);
        i.rule.push_str(" (optional: left out)");
        rep.warnings.push(i);
    }
}

/// Maps every field with a rule, in the spec's order.
pub fn map_fields(
    plans: &[FieldPlan],
    scope: &Scope<'_>,
    list: Option<Entry<'_>>,
    rep: &mut Report,
) -> Map<String, Value> {
    let mut item = Map::with_capacity(plans.len());
    for fp in plans {
        let Some(rule) = &fp.rule else { continue };
        // Until a source gives a value, the field reads the whole chain.
        let field = Name {
            entry: list,
            name: fp.spec.name,
            read: Read::Sources(&rule.sources),
        };
        match pick(rule, scope, fp.spec) {
            Ok(raw) => {
                let (raw, field) = match raw {
                    Some((v, one)) => (Some(v), field.read_from(one)),
                    None => (None, field),
                };
                file_value(
                    field,
                    fp.spec,
                    raw,
                    &rule.formats,
                    Some((&rule.children, rule.order_by.as_ref())),
                    scope,
                    &mut item,
                    rep,
                )
            }
            Err((p, one)) => file_problem(field.read_from(one), fp.spec, p, rep),
        }
    }
    item
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => {
            let (xs, ys) = (value::scalar_text(x), value::scalar_text(y));
            // Digit strings compare as numbers so "10" follows "9".
            match (
                xs.as_deref().and_then(|s| s.trim().parse::<f64>().ok()),
                ys.as_deref().and_then(|s| s.trim().parse::<f64>().ok()),
            ) {
                (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
                _ => xs.cmp(&ys),
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// `DinhDanhCHS`: the number must fit its kind (12-digit citizen id, 9-digit old id, tax code).
fn check_ids(field: &str, entries: &mut Vec<Value>, rep: &mut Report) {
    let mut i = 0;
    entries.retain(|e| {
        let kind = e.get("LoaiDinhDanh").and_then(Value::as_str).unwrap_or("");
        let no = e.get("SoDinhDanh").and_then(Value::as_str).unwrap_or("");
        let (ok, what) = match kind {
            "1" => (value::digits_ok(no, 12), "a citizen id of 12 digits"),
            "2" => (value::digits_ok(no, 9), "an old id of 9 digits"),
            _ => (value::tax_code_ok(no), "a tax code (10 digits, or 10-3)"),
        };
        if !ok {
            rep.warnings.push(FieldIssue {
                field: format!("{field}[{i}].SoDinhDanh"),
                source: None,
                value: Some(value::mask(no)),
                rule: format!("not {what} (LoaiDinhDanh {kind}): entry left out"),
            });
        }
        i += 1;
        ok
    });
}

fn status_of(item: &Map<String, Value>, key: &str) -> Option<String> {
    item.get(key).and_then(Value::as_str).map(str::to_string)
}

fn has_error(rep: &Report, field: &str) -> bool {
    rep.errors.iter().any(|e| e.field == field)
}

/// codes.md's rules across fields of a dossier.
pub fn dossier_rules(item: &mut Map<String, Value>, rep: &mut Report) {
    let Some(status) = status_of(item, "TrangThaiHoSo") else {
        return;
    };
    let s = status.as_str();
    // An unreadable date in a field the status allows to be empty is only a warning.
    for (field, may_be_empty) in [
        ("NgayTiepNhan", matches!(s, "1" | "7")),
        ("NgayHenTra", matches!(s, "1" | "3" | "7")),
    ] {
        if may_be_empty {
            let (moved, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut rep.errors)
                .into_iter()
                .partition(|e| e.field == field);
            rep.errors = kept;
            for mut e in moved {
                e.rule
                    .push_str(&format!(" (optional while TrangThaiHoSo is {s}: left out)"));
                rep.warnings.push(e);
            }
        }
    }
    if !item.contains_key("NgayTiepNhan")
        && !has_error(rep, "NgayTiepNhan")
        && !matches!(s, "1" | "7")
    {
        rep.errors.push(FieldIssue {
            field: "NgayTiepNhan".into(),
            source: None,
            value: None,
            rule: format!("mandatory unless TrangThaiHoSo is 1 or 7 (it is {s})"),
        });
    }
    if !item.contains_key("NgayHenTra")
        && !has_error(rep, "NgayHenTra")
        && !matches!(s, "1" | "3" | "7")
    {
        rep.errors.push(FieldIssue {
            field: "NgayHenTra".into(),
            source: None,
            value: None,
            rule: format!("mandatory unless TrangThaiHoSo is 1, 3 or 7 (it is {s})"),
        });
    }
    if s == "3" {
        if !item.contains_key("NgayTuChoi") && !has_error(rep, "NgayTuChoi") {
            rep.errors.push(FieldIssue {
                field: "NgayTuChoi".into(),
                source: None,
                value: None,
                rule: "mandatory when TrangThaiHoSo is 3 (refused)".into(),
            });
        }
        if let Some(v) = item.shift_remove("NgayKetThucXuLy") {
            rep.warnings.push(FieldIssue {
                field: "NgayKetThucXuLy".into(),
                source: None,
                value: v.as_str().map(str::to_string),
                rule: "a refused dossier (TrangThaiHoSo 3) carries no NgayKetThucXuLy: left out"
                    .into(),
            });
        }
    }
    if let (Some(Value::String(due)), Some(Value::String(recv))) =
        (item.get("NgayHenTra"), item.get("NgayTiepNhan"))
    {
        // Same fixed-width wire format: text order is time order.
        if due < recv {
            rep.errors.push(FieldIssue {
                field: "NgayHenTra".into(),
                source: None,
                value: Some(due.clone()),
                rule: format!("due date before the reception date NgayTiepNhan ({recv})"),
            });
        }
    }
}

/// Reads a wire date back as an instant.
pub fn wire_to_utc(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    let t = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    t.and_local_timezone(value::vietnam())
        .single()
        .map(|d| d.with_timezone(&Utc))
}

/// The source's sequence number, when it has a whole one.
pub fn sequence(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Which wire field says when a message happened.
pub fn at_of(target: Target, item: &Map<String, Value>) -> Option<DateTime<Utc>> {
    match target {
        Target::Step => wire_to_utc(item.get("ThoiDiemXuLy")),
        Target::Dossier => {
            wire_to_utc(item.get("NgayNopHoSo")).or_else(|| wire_to_utc(item.get("NgayTiepNhan")))
        }
        Target::SyncDocument => wire_to_utc(item.get("DateReceived")),
        Target::Survey | Target::PostalOrder => None,
    }
}

/// Which field names the dossier an item belongs to (`None`: the target has none).
pub fn dossier_key(target: Target) -> Option<&'static str> {
    match target {
        Target::Dossier | Target::Step => Some("MaHoSo"),
        Target::PostalOrder => Some("OrderNumber"),
        Target::SyncDocument => Some("DocCode"),
        Target::Survey => None,
    }
}

/// The ordering key of an item: its dossier's code, or for a month's satisfaction row (which
/// has no dossier) `<NgayTongHop>/<MaThuTuc>/<Madonvi>`, so that rows of different months,
/// procedures and agencies never wait for each other.
pub fn key_of(target: Target, item: &Map<String, Value>) -> String {
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    match dossier_key(target) {
        Some(k) => text(k).to_string(),
        None => format!(
            "{}/{}/{}",
            text("NgayTongHop"),
            text("MaThuTuc"),
            text("Madonvi")
        ),
    }
}

/// Files an error as a warning when the status allows the field to be empty.
fn relax(rep: &mut Report, field: &str, status_field: &str, s: &str) {
    let (moved, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut rep.errors)
        .into_iter()
        .partition(|e| e.field == field);
    rep.errors = kept;
    for mut e in moved {
        e.rule.push_str(&format!(
            " (optional while {status_field} is {s}: left out)"
        ));
        rep.warnings.push(e);
    }
}

/// Leaves a date out, with a warning, when the status says it cannot be there yet.
fn drop_unless(item: &mut Map<String, Value>, rep: &mut Report, field: &str, ok: bool, why: &str) {
    if ok {
        return;
    }
    if let Some(v) = item.shift_remove(field) {
        rep.warnings.push(FieldIssue {
            field: field.into(),
            source: None,
            value: v.as_str().map(str::to_string),
            rule: format!("{why}: left out"),
        });
    }
}

/// dvcqg.md's rules for the legacy `MSyncDocument`: `DateReceived` unless the status is 1 or 7,
/// `IsSuccess`/`IsReturned` derived from `Status`, `SuccessDate` only once processing finished
/// (9, 10), `ReturnedDate` only for 10, `FinishedDate` only in a terminal status (3, 7, 8, 10),
/// and no due date before the reception date. Keeps the spec's element order.
pub fn sync_document_rules(item: &mut Map<String, Value>, rep: &mut Report, specs: &[FieldSpec]) {
    let Some(status) = status_of(item, "Status") else {
        return;
    };
    let s = status.as_str();
    if matches!(s, "1" | "7") {
        relax(rep, "DateReceived", "Status", s);
    } else if !item.contains_key("DateReceived") && !has_error(rep, "DateReceived") {
        rep.errors.push(FieldIssue {
            field: "DateReceived".into(),
            source: None,
            value: None,
            rule: format!("mandatory unless Status is 1 or 7 (it is {s})"),
        });
    }
    for (field, derived) in [
        ("IsSuccess", matches!(s, "9" | "10")),
        ("IsReturned", s == "10"),
    ] {
        if let Some(given) = item.get(field).and_then(Value::as_bool) {
            if given != derived {
                rep.warnings.push(FieldIssue {
                    field: field.into(),
                    source: None,
                    value: Some(given.to_string()),
                    rule: format!("derived from Status {s}: sent as {derived}"),
                });
            }
        }
        item.insert(field.into(), Value::Bool(derived));
    }
    drop_unless(
        item,
        rep,
        "SuccessDate",
        matches!(s, "9" | "10"),
        &format!("SuccessDate needs Status 9 or 10 (it is {s})"),
    );
    drop_unless(
        item,
        rep,
        "ReturnedDate",
        s == "10",
        &format!("ReturnedDate needs Status 10 (it is {s})"),
    );
    drop_unless(
        item,
        rep,
        "FinishedDate",
        matches!(s, "3" | "7" | "8" | "10"),
        &format!("FinishedDate needs a terminal Status 3, 7, 8 or 10 (it is {s})"),
    );
    if let (Some(Value::String(due)), Some(Value::String(recv))) =
        (item.get("DateAppointed"), item.get("DateReceived"))
    {
        if due < recv {
            rep.errors.push(FieldIssue {
                field: "DateAppointed".into(),
                source: None,
                value: Some(due.clone()),
                rule: format!("due date before the reception date DateReceived ({recv})"),
            });
        }
    }
    reorder(item, specs);
}

/// A `DongBoDanhGia` row's three percentages should add up to 100 (give or take rounding) when
/// anyone answered: a warning, not a rejection (the source's own rounding is not ours to fix).
pub fn survey_rules(item: &Map<String, Value>, rep: &mut Report) {
    let answered = item.get("TongSoNguoiDanhGia").and_then(Value::as_u64);
    let parts: Option<Vec<f64>> = [
        "PhanTramDanhGiaRatHaiLong",
        "PhanTramDanhGiaHaiLong",
        "PhanTramDanhGiaChuaHaiLong",
    ]
    .iter()
    .map(|k| {
        item.get(*k)
            .and_then(Value::as_str)
            .and_then(|s| s.trim_end_matches('%').parse::<f64>().ok())
    })
    .collect();
    let (Some(n), Some(parts)) = (answered, parts) else {
        return;
    };
    let sum: f64 = parts.iter().sum();
    let off = if n == 0 {
        sum > 0.0
    } else {
        (sum - 100.0).abs() > 1.0
    };
    if off {
        rep.warnings.push(FieldIssue {
            field: "PhanTramDanhGiaRatHaiLong".into(),
            source: None,
            value: Some(format!("{sum}%")),
            rule: format!(
                "the three percentages add up to {sum}% for {n} answers (expected 100%, or 0% for none)"
            ),
        });
    }
}

/// Puts the item's keys back in the spec's order (after rules inserted derived fields).
fn reorder(item: &mut Map<String, Value>, specs: &[FieldSpec]) {
    let mut old = std::mem::take(item);
    for spec in specs {
        if let Some(v) = old.shift_remove(spec.name) {
            item.insert(spec.name.into(), v);
        }
    }
    item.append(&mut old);
}

/// Drops every character XML 1.0 cannot carry from the item's text, with a warning per field
/// (codes.md: "dropped when rendering XML, with a warning on the message").
pub fn xml_chars(item: &mut Map<String, Value>, rep: &mut Report) {
    fn walk(v: &mut Value, at: &str, rep: &mut Report) {
        match v {
            Value::String(s) if !s.chars().all(value::xml_char_ok) => {
                s.retain(value::xml_char_ok);
                rep.warnings.push(FieldIssue {
                    field: at.to_string(),
                    source: None,
                    value: None,
                    rule: "characters XML 1.0 cannot carry removed".into(),
                });
            }
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    walk(x, &format!("{at}[{i}]"), rep);
                }
            }
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    walk(x, &format!("{at}.{k}"), rep);
                }
            }
            _ => {}
        }
    }
    for (k, v) in item.iter_mut() {
        walk(v, k, rep);
    }
}
