//! Loading a mapping file and compiling it into a plan: paths pre-split, code tables as hash
//! maps, date formats pre-parsed, conditions as trees, jq expressions compiled once. Every problem found here is a
//! [`MappingError`] naming the file, the key and the problem; nothing here runs per record.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::target::{FieldSpec, Kind, DANH_GIA, HO_SO, M_ORDER, M_SYNC_DOCUMENT, TIEN_DO};
use super::value::DateFormat;
use super::{MappingError, Target};

/// A compiled jq filter (jaq).
pub type JqFilter = jaq_core::Filter<jaq_core::Native<jaq_json::Val>>;

/// A compiled jq expression with its source text (for Debug).
pub struct Jq(pub JqFilter, pub Box<str>);

impl std::fmt::Debug for Jq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "jq({:?})", self.1)
    }
}

/// A dotted path into the current row; `$parent.` starts from the enclosing record.
#[derive(Debug, Clone)]
pub struct SrcPath {
    pub parent: bool,
    pub keys: Box<[Box<str>]>,
}

/// Where a value comes from.
#[derive(Debug)]
pub enum Source {
    Path(SrcPath),
    Const(Value),
    Var(Box<str>),
    Template(Box<[Part]>),
    Jq {
        input: Option<SrcPath>,
        filter: Box<Jq>,
    },
}

/// A condition on a source (its `when`): the source applies only when it holds. Read on the
/// current row; never an error (a missing value is simply not one of the listed values).
#[derive(Debug)]
pub enum Cond {
    /// The value at `path` (a scalar, trimmed) is one of `values`.
    Is {
        path: SrcPath,
        values: Box<[String]>,
    },
    Not(Box<Cond>),
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    /// Some row of the list at `list` meets `test`, read on that row (`None`: any row at
    /// all). A single object counts as a list of one (an XML export's one child element).
    Some {
        list: SrcPath,
        test: Option<Box<Cond>>,
    },
}

/// A source with its optional condition.
#[derive(Debug)]
pub struct Guarded {
    pub when: Option<Cond>,
    pub source: Source,
    /// Turns the source's code into the portal's.
    pub table: Option<TableRef>,
}

/// A piece of a template: literal text or a placeholder.
#[derive(Debug)]
pub enum Part {
    Lit(Box<str>),
    Path(SrcPath),
    Var(Box<str>),
}

/// A code table: rows by key, and rows by (key, sub-key) for status pairs.
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: HashMap<String, Vec<Value>>,
    pub pairs: HashMap<String, HashMap<String, Vec<Value>>>,
    /// Tried in order after the exact rows: codes recognised by their shape.
    pub patterns: Vec<(regex::Regex, Vec<Value>)>,
}

/// A field's use of a table.
#[derive(Debug)]
pub struct TableRef {
    pub name: Box<str>,
    pub table: Arc<Table>,
    pub column: usize,
    pub sub: Option<SrcPath>,
}

/// How to fill one target field.
#[derive(Debug)]
pub struct Rule {
    /// Tried in order; the first that yields a value wins (fallback chain).
    pub sources: Vec<Guarded>,
    pub formats: Arc<[DateFormat]>,
    /// For child arrays: how each row maps; empty = the rows' keys are the target's.
    pub children: Vec<FieldPlan>,
    pub order_by: Option<SrcPath>,
}

/// One target field with its rule.
#[derive(Debug)]
pub struct FieldPlan {
    pub spec: &'static FieldSpec,
    pub rule: Option<Rule>,
}

/// A whole compiled mapping.
#[derive(Debug)]
pub struct Plan {
    pub target: Target,
    /// Every field of the target, in the spec's order (`rule` None when unmapped).
    pub fields: Vec<FieldPlan>,
    pub sequence: Option<SrcPath>,
    pub version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    target: String,
    #[serde(default)]
    date_formats: Vec<String>,
    sequence: Option<String>,
    #[serde(default)]
    tables: BTreeMap<String, TableToml>,
    #[serde(default)]
    fields: BTreeMap<String, RuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableToml {
    rows: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    pairs: Vec<PairToml>,
    #[serde(default)]
    patterns: Vec<PatternToml>,
    file: Option<String>,
    key: Option<String>,
    sub: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairToml {
    key: toml::Value,
    sub: toml::Value,
    value: toml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternToml {
    #[serde(rename = "match")]
    pattern: String,
    value: toml::Value,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourceToml {
    table: Option<String>,
    column: Option<String>,
    sub: Option<String>,
    from: Option<String>,
    value: Option<toml::Value>,
    template: Option<String>,
    jq: Option<String>,
    when: Option<toml::Value>,
    is: Option<Vec<toml::Value>>,
    is_not: Option<Vec<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    from: Option<String>,
    value: Option<toml::Value>,
    template: Option<String>,
    jq: Option<String>,
    when: Option<toml::Value>,
    is: Option<Vec<toml::Value>>,
    is_not: Option<Vec<toml::Value>>,
    each: Option<String>,
    #[serde(default, rename = "or")]
    fallback: Vec<SourceToml>,
    table: Option<String>,
    column: Option<String>,
    sub: Option<String>,
    formats: Option<Vec<String>>,
    order_by: Option<String>,
    fields: Option<BTreeMap<String, RuleToml>>,
}

struct Ctx<'a> {
    file: &'a Path,
    dir: PathBuf,
    tables: HashMap<String, Arc<Table>>,
    formats: Arc<[DateFormat]>,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> MappingError {
        MappingError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Reads, checks and compiles a mapping file (and the CSV tables it names).
pub fn load(path: &Path) -> Result<Plan, MappingError> {
    let bytes = std::fs::read(path).map_err(|e| MappingError::Io {
        file: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut hasher = Sha256::new();
    hasher.update(&bytes);
    let text = std::str::from_utf8(&bytes).map_err(|_| MappingError::Invalid {
        file: path.to_path_buf(),
        key: "(file)".into(),
        problem: "not UTF-8 text".into(),
    })?;
    let parsed: FileToml = toml::from_str(text).map_err(|e| {
        // toml's message spans several lines (with a snippet); keep the first and the span.
        let msg = e.message().replace('\n', " ");
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        MappingError::Invalid {
            file: path.to_path_buf(),
            key: "(syntax)".into(),
            problem: format!("{msg}{at}"),
        }
    })?;
    let mut cx = Ctx {
        file: path,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        tables: HashMap::new(),
        formats: Arc::from(Vec::new()),
    };
    let (target, specs) = match parsed.target.as_str() {
        "dossier" => (Target::Dossier, HO_SO),
        "step" => (Target::Step, TIEN_DO),
        "survey" => (Target::Survey, DANH_GIA),
        "postal_order" => (Target::PostalOrder, M_ORDER),
        "sync_document" => (Target::SyncDocument, M_SYNC_DOCUMENT),
        other => {
            return Err(cx.err(
                "target",
                format!(
                    "\"{other}\" is not a target (dossier | step | survey | postal_order | sync_document)"
                ),
            ))
        }
    };
    let mut formats = Vec::new();
    for f in &parsed.date_formats {
        formats.push(DateFormat::compile(f).ok_or_else(|| cx.err("date_formats", bad_format(f)))?);
    }
    cx.formats = Arc::from(formats);
    for (name, t) in &parsed.tables {
        let table = load_table(&cx, name, t, &mut hasher)?;
        cx.tables.insert(name.clone(), Arc::new(table));
    }
    let fields = compile_fields(&cx, "fields", specs, &parsed.fields, true)?;
    let sequence = parsed
        .sequence
        .as_deref()
        .map(|s| parse_path(&cx, "sequence", s))
        .transpose()?;
    Ok(Plan {
        target,
        fields,
        sequence,
        version: hex::encode(hasher.finalize()),
    })
}

fn bad_format(f: &str) -> String {
    format!(
        "\"{f}\" is not a date format (a pattern of yyyy MM dd HH mm ss, e.g. \"dd/MM/yyyy HH:mm:ss\", or epoch_ms, or iso8601)"
    )
}

fn compile_fields(
    cx: &Ctx<'_>,
    at: &str,
    specs: &'static [FieldSpec],
    rules: &BTreeMap<String, RuleToml>,
    top: bool,
) -> Result<Vec<FieldPlan>, MappingError> {
    for name in rules.keys() {
        if !specs.iter().any(|s| s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
            return Err(cx.err(
                format!("{at}.{name}"),
                format!("not a field of this target (fields: {})", known.join(", ")),
            ));
        }
    }
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let key = format!("{at}.{}", spec.name);
        let rule = match rules.get(spec.name) {
            Some(r) => Some(compile_rule(cx, &key, spec, r)?),
            None if spec.mandatory && top => {
                return Err(cx.err(key, "mandatory field of the target has no rule"));
            }
            None => None,
        };
        out.push(FieldPlan { spec, rule });
    }
    Ok(out)
}

fn compile_rule(
    cx: &Ctx<'_>,
    key: &str,
    spec: &'static FieldSpec,
    r: &RuleToml,
) -> Result<Rule, MappingError> {
    let mut sources = Vec::new();
    let main = SourceToml {
        from: r.from.clone().or_else(|| r.each.clone()),
        value: r.value.clone(),
        template: r.template.clone(),
        jq: r.jq.clone(),
        when: r.when.clone(),
        is: r.is.clone(),
        is_not: r.is_not.clone(),
        table: r.table.clone(),
        column: r.column.clone(),
        sub: r.sub.clone(),
    };
    if r.from.is_some() && r.each.is_some() {
        return Err(cx.err(key, "give either from or each, not both"));
    }
    if main.from.is_some()
        || main.value.is_some()
        || main.template.is_some()
        || main.jq.is_some()
        || main.when.is_some()
        || main.is.is_some()
        || main.is_not.is_some()
    {
        sources.push(compile_source(cx, key, &main)?);
    }
    for (i, s) in r.fallback.iter().enumerate() {
        sources.push(compile_source(cx, &format!("{key}.or[{i}]"), s)?);
    }
    if sources.is_empty() {
        return Err(cx.err(
            key,
            "no source: give from, value, template, jq or each (and optionally or = [...])",
        ));
    }
    let children_specs = match spec.kind {
        Kind::Children(c) => Some(c),
        _ => None,
    };
    let children =
        match (&r.fields, children_specs) {
            (Some(f), Some(c)) => compile_fields(cx, &format!("{key}.fields"), c, f, false)?,
            (Some(_), None) => return Err(cx.err(
                format!("{key}.fields"),
                "only a list field (DinhDanhCHS, TaiLieuNop, DanhSach..., DocFees) has sub-fields",
            )),
            (None, _) => Vec::new(),
        };
    if r.each.is_some() && children_specs.is_none() {
        return Err(cx.err(format!("{key}.each"), "each is only for list fields"));
    }
    let order_by = match (&r.order_by, children_specs) {
        (Some(p), Some(_)) => Some(parse_path(cx, &format!("{key}.order_by"), p)?),
        (Some(_), None) => {
            return Err(cx.err(
                format!("{key}.order_by"),
                "order_by is only for list fields",
            ))
        }
        (None, _) => None,
    };
    let formats = match &r.formats {
        Some(list) => {
            let mut v = Vec::new();
            for f in list {
                v.push(
                    DateFormat::compile(f)
                        .ok_or_else(|| cx.err(format!("{key}.formats"), bad_format(f)))?,
                );
            }
            Arc::from(v)
        }
        None => Arc::clone(&cx.formats),
    };
    if matches!(spec.kind, Kind::Date) && formats.is_empty() {
        return Err(cx.err(
            key,
            "a date field needs its source's formats (formats = [...] or date_formats at the top)",
        ));
    }
    Ok(Rule {
        sources,
        formats,
        children,
        order_by,
    })
}

fn compile_table_ref(
    cx: &Ctx<'_>,
    key: &str,
    r: &SourceToml,
) -> Result<Option<TableRef>, MappingError> {
    Ok(match &r.table {
        None => {
            if r.column.is_some() || r.sub.is_some() {
                return Err(cx.err(key, "column and sub need a table"));
            }
            None
        }
        Some(name) => {
            let table = cx.tables.get(name).ok_or_else(|| {
                cx.err(
                    format!("{key}.table"),
                    format!("no table \"{name}\" in [tables]"),
                )
            })?;
            let column = match &r.column {
                Some(c) => table.columns.iter().position(|x| x == c).ok_or_else(|| {
                    cx.err(
                        format!("{key}.column"),
                        format!(
                            "table \"{name}\" has no column \"{c}\" (columns: {})",
                            table.columns.join(", ")
                        ),
                    )
                })?,
                None if table.columns.len() == 1 => 0,
                None => {
                    return Err(cx.err(
                        format!("{key}.column"),
                        format!(
                            "table \"{name}\" has several columns ({}): say which",
                            table.columns.join(", ")
                        ),
                    ))
                }
            };
            let sub = r
                .sub
                .as_deref()
                .map(|s| parse_path(cx, &format!("{key}.sub"), s))
                .transpose()?;
            Some(TableRef {
                name: name.as_str().into(),
                table: Arc::clone(table),
                column,
                sub,
            })
        }
    })
}

fn compile_source(cx: &Ctx<'_>, key: &str, s: &SourceToml) -> Result<Guarded, MappingError> {
    let when = match (&s.when, &s.is, &s.is_not) {
        (None, None, None) => None,
        (None, _, _) => return Err(cx.err(key, "is and is_not need when = \"Col\"")),
        (Some(toml::Value::String(w)), is, is_not) => Some(compile_is(
            cx,
            key,
            parse_path(cx, &format!("{key}.when"), w)?,
            is.as_deref(),
            is_not.as_deref(),
        )?),
        (Some(c @ toml::Value::Table(_)), None, None) => {
            Some(compile_cond(cx, &format!("{key}.when"), c, 0)?)
        }
        (Some(toml::Value::Table(_)), _, _) => {
            return Err(cx.err(
                key,
                "with a condition table (when = { ... }), is and is_not go inside it",
            ))
        }
        (Some(_), _, _) => {
            return Err(cx.err(
                format!("{key}.when"),
                "when is a column (when = \"Col\", is = [...]) or a condition table \
                 (when = { field = ..., is = [...] }, { not = ... }, { all = [...] }, \
                 { any = [...] }, { some = \"List\", where = ... })",
            ))
        }
    };
    Ok(Guarded {
        when,
        source: compile_plain(cx, key, s)?,
        table: compile_table_ref(cx, key, s)?,
    })
}

/// `is = [...]` or `is_not = [...]` (exactly one) on the value at `path`.
fn compile_is(
    cx: &Ctx<'_>,
    key: &str,
    path: SrcPath,
    is: Option<&[toml::Value]>,
    is_not: Option<&[toml::Value]>,
) -> Result<Cond, MappingError> {
    let (list, negated, name) = match (is, is_not) {
        (Some(l), None) => (l, false, "is"),
        (None, Some(l)) => (l, true, "is_not"),
        (None, None) => {
            return Err(cx.err(
                key,
                "a column's condition needs is = [...] or is_not = [...]",
            ))
        }
        (Some(_), Some(_)) => return Err(cx.err(key, "give is or is_not, not both")),
    };
    if list.is_empty() {
        return Err(cx.err(format!("{key}.{name}"), "empty list: give the values"));
    }
    let mut values = Vec::with_capacity(list.len());
    for v in list {
        values.push(toml_key(v).ok_or_else(|| {
            cx.err(
                format!("{key}.{name}"),
                "values must be text or whole numbers",
            )
        })?);
    }
    let cond = Cond::Is {
        path,
        values: values.into(),
    };
    Ok(if negated {
        Cond::Not(Box::new(cond))
    } else {
        cond
    })
}

/// Deeper than any mapping needs; keeps a runaway file from exhausting the stack.
const MAX_COND_DEPTH: usize = 16;

/// One condition table: `{ field = "Col", is = [...] }` (or `is_not`), `{ not = {...} }`,
/// `{ all = [...] }`, `{ any = [...] }`, `{ some = "List", where = {...} }`.
fn compile_cond(
    cx: &Ctx<'_>,
    at: &str,
    v: &toml::Value,
    depth: usize,
) -> Result<Cond, MappingError> {
    const FORMS: &str = "{ field = \"Col\", is = [...] } (or is_not = [...]), { not = {...} }, \
                         { all = [...] }, { any = [...] } or { some = \"List\", where = {...} }";
    let toml::Value::Table(t) = v else {
        return Err(cx.err(at, format!("a condition is a table: {FORMS}")));
    };
    if depth >= MAX_COND_DEPTH {
        return Err(cx.err(
            at,
            format!("conditions nest deeper than {MAX_COND_DEPTH} levels"),
        ));
    }
    const KEYS: [&str; 8] = [
        "field", "is", "is_not", "not", "all", "any", "some", "where",
    ];
    if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(cx.err(
            format!("{at}.{k}"),
            format!("not a key of a condition (keys: {})", KEYS.join(", ")),
        ));
    }
    let heads: Vec<&str> = ["field", "not", "all", "any", "some"]
        .into_iter()
        .filter(|h| t.contains_key(*h))
        .collect();
    let head = match heads.as_slice() {
        [one] => *one,
        [] => return Err(cx.err(at, format!("say what to test: {FORMS}"))),
        many => {
            return Err(cx.err(
                at,
                format!(
                    "one test per table ({} given): combine them with all = [...] or any = [...]",
                    many.join(", ")
                ),
            ))
        }
    };
    if head != "field" {
        if let Some(k) = ["is", "is_not"].into_iter().find(|k| t.contains_key(*k)) {
            return Err(cx.err(
                format!("{at}.{k}"),
                format!("{k} goes with field, not {head}"),
            ));
        }
    }
    if head != "some" && t.contains_key("where") {
        return Err(cx.err(format!("{at}.where"), "where goes with some = \"List\""));
    }
    let text = |k: &str| -> Result<&str, MappingError> {
        t[k].as_str()
            .ok_or_else(|| cx.err(format!("{at}.{k}"), "a column or path as text"))
    };
    let list_of = |k: &str| -> Result<Option<Vec<toml::Value>>, MappingError> {
        match t.get(k) {
            None => Ok(None),
            Some(toml::Value::Array(a)) => Ok(Some(a.clone())),
            Some(_) => Err(cx.err(format!("{at}.{k}"), "a list of values: [\"A\", \"B\"]")),
        }
    };
    match head {
        "field" => {
            let path = parse_path(cx, &format!("{at}.field"), text("field")?)?;
            compile_is(
                cx,
                at,
                path,
                list_of("is")?.as_deref(),
                list_of("is_not")?.as_deref(),
            )
        }
        "not" => Ok(Cond::Not(Box::new(compile_cond(
            cx,
            &format!("{at}.not"),
            &t["not"],
            depth + 1,
        )?))),
        "all" | "any" => {
            let toml::Value::Array(items) = &t[head] else {
                return Err(cx.err(
                    format!("{at}.{head}"),
                    format!("a list of conditions: {head} = [{{...}}, {{...}}]"),
                ));
            };
            if items.is_empty() {
                return Err(cx.err(format!("{at}.{head}"), "empty list: give the conditions"));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, c) in items.iter().enumerate() {
                out.push(compile_cond(
                    cx,
                    &format!("{at}.{head}[{i}]"),
                    c,
                    depth + 1,
                )?);
            }
            Ok(if head == "all" {
                Cond::All(out.into())
            } else {
                Cond::Any(out.into())
            })
        }
        _ => {
            let list = parse_path(cx, &format!("{at}.some"), text("some")?)?;
            let test = t
                .get("where")
                .map(|w| compile_cond(cx, &format!("{at}.where"), w, depth + 1))
                .transpose()?
                .map(Box::new);
            Ok(Cond::Some { list, test })
        }
    }
}

fn compile_plain(cx: &Ctx<'_>, key: &str, s: &SourceToml) -> Result<Source, MappingError> {
    let given = [
        s.value.is_some(),
        s.template.is_some(),
        s.jq.is_some(),
        s.from.is_some() && s.jq.is_none(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if given != 1 {
        return Err(cx.err(
            key,
            "give exactly one of from, value, template, jq (from may accompany jq as its input)",
        ));
    }
    if let Some(v) = &s.value {
        return Ok(Source::Const(toml_to_json(v)));
    }
    if let Some(t) = &s.template {
        return compile_template(cx, &format!("{key}.template"), t);
    }
    if let Some(code) = &s.jq {
        let input = s
            .from
            .as_deref()
            .map(|p| parse_path(cx, &format!("{key}.from"), p))
            .transpose()?;
        let filter = compile_jq(code).map_err(|e| cx.err(format!("{key}.jq"), e))?;
        return Ok(Source::Jq {
            input,
            filter: Box::new(Jq(filter, code.as_str().into())),
        });
    }
    let from = s.from.as_deref().unwrap_or_default();
    if let Some(var) = from.strip_prefix("$vars.") {
        if var.is_empty() {
            return Err(cx.err(format!("{key}.from"), "empty $vars name"));
        }
        return Ok(Source::Var(var.into()));
    }
    Ok(Source::Path(parse_path(cx, &format!("{key}.from"), from)?))
}

fn parse_path(cx: &Ctx<'_>, key: &str, p: &str) -> Result<SrcPath, MappingError> {
    let (parent, rest) = match p.strip_prefix("$parent.") {
        Some(r) => (true, r),
        None => (false, p),
    };
    if rest == "." {
        return Ok(SrcPath {
            parent,
            keys: Box::new([]),
        });
    }
    if rest.starts_with('$') {
        return Err(cx.err(
            key,
            format!("\"{p}\": only $vars.NAME and $parent.PATH are known"),
        ));
    }
    let keys: Vec<Box<str>> = rest.split('.').map(Into::into).collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(cx.err(
            key,
            format!("\"{p}\" is not a path (keys separated by single dots)"),
        ));
    }
    Ok(SrcPath {
        parent,
        keys: keys.into(),
    })
}

fn compile_template(cx: &Ctx<'_>, key: &str, t: &str) -> Result<Source, MappingError> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].into()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| cx.err(key, format!("\"{t}\": a {{ is not closed")))?;
        let name = after[..close].trim();
        if let Some(v) = name.strip_prefix("$vars.") {
            parts.push(Part::Var(v.into()));
        } else {
            parts.push(Part::Path(parse_path(cx, key, name)?));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(cx.err(key, format!("\"{t}\": a }} is not opened")));
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.into()));
    }
    Ok(Source::Template(parts.into()))
}

/// Natives that would reach outside a pure mapping (exit the process, read the environment or
/// the clock, print) are shadowed by definitions that fail.
const JQ_PRELUDE: &str = "def halt: error(\"halt is not allowed in a mapping\"); \
def halt_error: error(\"halt_error is not allowed in a mapping\"); \
def halt_error($c): error(\"halt_error is not allowed in a mapping\"); \
def input: error(\"input is not allowed in a mapping\"); \
def inputs: error(\"inputs is not allowed in a mapping\"); \
def env: error(\"env is not allowed in a mapping\"); \
def now: error(\"now is not allowed in a mapping (mappings are pure)\"); \
def debug: .; def debug(m): .; def stderr: .;\n";

/// Compiles one jq expression with the standard library and `$vars` as a global.
pub fn compile_jq(code: &str) -> Result<JqFilter, String> {
    use jaq_core::load::{Arena, File, Loader};
    let full = format!("{JQ_PRELUDE}{code}");
    let arena = Arena::default();
    let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
    let modules = loader
        .load(
            &arena,
            File {
                code: &full,
                path: (),
            },
        )
        .map_err(|errs| {
            let first = errs
                .into_iter()
                .next()
                .map(|(_, e)| format!("{e:?}"))
                .unwrap_or_default();
            let mut msg = format!("jq expression does not parse: {first}");
            if msg.len() > 200 {
                let mut cut = 200;
                while !msg.is_char_boundary(cut) {
                    cut -= 1;
                }
                msg.truncate(cut);
                msg.push('…');
            }
            msg
        })?;
    jaq_core::Compiler::default()
        .with_funs(jaq_std::funs().chain(jaq_json::funs()))
        .with_global_vars(["$vars"])
        .compile(modules)
        .map_err(|errs| {
            let names: Vec<String> = errs
                .into_iter()
                .flat_map(|(_, es)| es.into_iter().map(|(name, u)| format!("{name} ({u:?})")))
                .collect();
            format!("jq expression uses undefined names: {}", names.join(", "))
        })
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A table key as text: codes may be written as numbers in TOML or CSV.
fn toml_key(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.trim().to_string()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn load_table(
    cx: &Ctx<'_>,
    name: &str,
    t: &TableToml,
    hasher: &mut Sha256,
) -> Result<Table, MappingError> {
    let at = format!("tables.{name}");
    let mut table = Table::default();
    match (&t.file, &t.rows) {
        (Some(_), Some(_)) => {
            return Err(cx.err(at, "give either rows (inline) or file (CSV), not both"))
        }
        (None, None) if t.pairs.is_empty() && t.patterns.is_empty() => {
            return Err(cx.err(
                at,
                "empty table: give rows = {...}, pairs = [...], patterns = [...] or file",
            ))
        }
        (Some(file), None) => {
            if t.key.is_none() {
                return Err(cx.err(
                    format!("{at}.key"),
                    "a CSV table names its key column (key = \"...\")",
                ));
            }
            let full = cx.dir.join(file);
            let bytes = std::fs::read(&full).map_err(|e| {
                cx.err(
                    format!("{at}.file"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            hasher.update(&bytes);
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                cx.err(
                    format!("{at}.file"),
                    format!("{} is not UTF-8", full.display()),
                )
            })?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            csv_table(cx, &at, &full, text, t, &mut table)?;
        }
        _ => {
            if t.key.is_some() || t.sub.is_some() {
                return Err(cx.err(at, "key and sub name CSV columns: they need file"));
            }
        }
    }
    if let Some(rows) = &t.rows {
        inline_rows(cx, &at, rows, &mut table)?;
    }
    for (i, p) in t.pairs.iter().enumerate() {
        let k = format!("{at}.pairs[{i}]");
        let (Some(key), Some(sub)) = (toml_key(&p.key), toml_key(&p.sub)) else {
            return Err(cx.err(k, "key and sub must be text or whole numbers"));
        };
        let row = row_values(cx, &k, &p.value, &mut table.columns)?;
        let slot = table.pairs.entry(key.clone()).or_default();
        if slot.insert(sub.clone(), row).is_some() {
            return Err(cx.err(k, format!("pair (\"{key}\", \"{sub}\") appears twice")));
        }
    }
    for (i, p) in t.patterns.iter().enumerate() {
        let k = format!("{at}.patterns[{i}]");
        // Anchored: a pattern must match the whole code.
        let re = regex::Regex::new(&format!("^(?:{})$", p.pattern)).map_err(|e| {
            cx.err(
                format!("{k}.match"),
                format!(
                    "not a regular expression: {}",
                    e.to_string().replace('\n', " ")
                ),
            )
        })?;
        let row = row_values(cx, &k, &p.value, &mut table.columns)?;
        table.patterns.push((re, row));
    }
    if table.columns.is_empty() {
        table.columns.push("value".into());
    }
    Ok(table)
}

/// One inline row's values in column order, growing `columns` for a table-shaped row.
fn row_values(
    cx: &Ctx<'_>,
    key: &str,
    v: &toml::Value,
    columns: &mut Vec<String>,
) -> Result<Vec<Value>, MappingError> {
    match v {
        toml::Value::Table(t) => {
            if columns.is_empty() {
                columns.extend(t.keys().cloned());
            }
            if t.len() != columns.len() || t.keys().any(|k| !columns.contains(k)) {
                return Err(cx.err(
                    key,
                    format!("every row needs the same columns ({})", columns.join(", ")),
                ));
            }
            Ok(columns.iter().map(|c| toml_to_json(&t[c])).collect())
        }
        toml::Value::Array(_) => Err(cx.err(key, "a row value is text, a number or a table")),
        other => {
            if columns.is_empty() {
                columns.push("value".into());
            }
            if columns.len() != 1 {
                return Err(cx.err(
                    key,
                    format!("every row needs the same columns ({})", columns.join(", ")),
                ));
            }
            Ok(vec![match toml_to_json(other) {
                Value::Number(n) => Value::String(n.to_string()),
                x => x,
            }])
        }
    }
}

fn inline_rows(
    cx: &Ctx<'_>,
    at: &str,
    rows: &BTreeMap<String, toml::Value>,
    table: &mut Table,
) -> Result<(), MappingError> {
    for (k, v) in rows {
        let row = row_values(cx, &format!("{at}.rows.{k}"), v, &mut table.columns)?;
        table.rows.insert(k.trim().to_string(), row);
    }
    Ok(())
}

fn csv_table(
    cx: &Ctx<'_>,
    at: &str,
    full: &Path,
    text: &str,
    t: &TableToml,
    table: &mut Table,
) -> Result<(), MappingError> {
    let records = parse_csv(text).map_err(|(line, p)| {
        cx.err(
            format!("{at}.file"),
            format!("{} line {line}: {p}", full.display()),
        )
    })?;
    let mut it = records.into_iter();
    let Some((_, header)) = it.next() else {
        return Err(cx.err(
            format!("{at}.file"),
            format!("{} is empty (it needs a header row)", full.display()),
        ));
    };
    let col = |name: &Option<String>, what: &str| -> Result<Option<usize>, MappingError> {
        match name {
            None => Ok(None),
            Some(n) => header
                .iter()
                .position(|h| h.trim() == n)
                .map(Some)
                .ok_or_else(|| {
                    cx.err(
                        format!("{at}.{what}"),
                        format!(
                            "{} has no column \"{n}\" (header: {})",
                            full.display(),
                            header.join(", ")
                        ),
                    )
                }),
        }
    };
    let key_col = col(&t.key, "key")?.unwrap_or(0);
    let sub_col = col(&t.sub, "sub")?;
    let value_cols: Vec<usize> = (0..header.len())
        .filter(|i| *i != key_col && Some(*i) != sub_col)
        .collect();
    if value_cols.is_empty() {
        return Err(cx.err(
            format!("{at}.file"),
            format!("{} has no value column", full.display()),
        ));
    }
    table.columns = value_cols
        .iter()
        .map(|i| header[*i].trim().to_string())
        .collect();
    for (line, rec) in it {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue;
        }
        if rec.len() != header.len() {
            return Err(cx.err(
                format!("{at}.file"),
                format!(
                    "{} line {line}: {} cells, the header has {}",
                    full.display(),
                    rec.len(),
                    header.len()
                ),
            ));
        }
        let key = rec[key_col].trim().to_string();
        let row: Vec<Value> = value_cols
            .iter()
            .map(|i| Value::String(rec[*i].clone()))
            .collect();
        let sub = sub_col.map(|i| rec[i].trim()).unwrap_or("");
        let dup = if sub.is_empty() {
            table.rows.insert(key.clone(), row).is_some()
        } else {
            table
                .pairs
                .entry(key.clone())
                .or_default()
                .insert(sub.to_string(), row)
                .is_some()
        };
        if dup {
            return Err(cx.err(
                format!("{at}.file"),
                format!(
                    "{} line {line}: key \"{key}\" appears twice",
                    full.display()
                ),
            ));
        }
    }
    Ok(())
}

/// RFC 4180 CSV: comma-separated, `"` quotes with `""` inside, CRLF or LF. Returns each
/// record with its first line number.
/// CSV records, each with the line it starts on.
type CsvRecords = Vec<(usize, Vec<String>)>;

fn parse_csv(text: &str) -> Result<CsvRecords, (usize, &'static str)> {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut at_cell_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push(c);
                }
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if at_cell_start => {
                quoted = true;
                at_cell_start = false;
            }
            '"' => return Err((line, "a quote inside an unquoted cell")),
            ',' => {
                rec.push(std::mem::take(&mut cell));
                at_cell_start = true;
            }
            '\r' => {}
            '\n' => {
                rec.push(std::mem::take(&mut cell));
                out.push((start, std::mem::take(&mut rec)));
                line += 1;
                start = line;
                at_cell_start = true;
            }
            _ => {
                cell.push(c);
                at_cell_start = false;
            }
        }
    }
    if quoted {
        return Err((line, "a quoted cell is not closed"));
    }
    if !cell.is_empty() || !rec.is_empty() {
        rec.push(cell);
        out.push((start, rec));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_lines() {
        let r = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n1,2").expect("csv");
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].1, vec!["x, y".to_string(), "say \"hi\"".to_string()]);
        assert_eq!(r[2].0, 3);
        assert!(parse_csv("a,\"b").is_err());
    }

    #[test]
    fn jq_compiles_and_forbids_exit() {
        assert!(compile_jq(".a + 1").is_ok());
        assert!(compile_jq(".a +").is_err());
        assert!(compile_jq("nosuchfn(1)").is_err());
        // halt compiles (shadowed) but only errors when run.
        assert!(compile_jq("halt").is_ok());
    }
}
