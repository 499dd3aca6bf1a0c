//! Declarative mappings: local records in each vendor's shape → the portal's messages.
//! Pure: no I/O after loading, no clock. Loading reads the mapping file (and the CSV code
//! tables beside it) once and compiles it into a plan; evaluating a plan never panics on input.
//!
//! The public API below is the contract the rest of the gateway uses.
//!
//! Targets: `dossier` (`HoSo` of `DongBoHoSoMC`), `step` (`TienDo` of `CapNhatTienDoHoSoMC`),
//! `survey` (a `DongBoDanhGia` row), `postal_order` (VNPost `MOrder`) and `sync_document` (the
//! legacy LGSP `MSyncDocument`, XML). Every item is built as JSON ([`Mapped::item`], keys in the
//! spec's order), checked by the field tables, the cross-field rules and the target's JSON
//! Schema (`mappings/schemas/`) before `map()` returns it; a schema failure is a [`Rejection`]
//! naming the field path and the rule.
//!
//! Rendering for the wire: [`Mapping::render`] gives [`Rendered::Json`] (the item as a JSON
//! object) for the JSON targets and [`Rendered::Xml`] (the whole `MSyncDocument` document, UTF-8,
//! with its XML declaration) for `sync_document`; [`render_xml`] renders a `sync_document` item
//! directly. Rendering a `sync_document` item that `map()` returned cannot fail; characters XML
//! 1.0 cannot carry are already dropped then, with a warning in [`Mapped::warnings`].
//!
//! Layout: [`plan`] loads and compiles a mapping file; [`target`] holds the portal's message
//! shapes (fields, kinds, limits) as data; [`eval`] runs a plan on a record; [`value`]
//! normalises single values; [`schema`] checks items against the JSON Schemas; [`xml`] writes
//! the `MSyncDocument`; [`golden`] runs the golden tests declared beside mapping files
//! (`lienthong test-mappings`; it reads files, and the gateway never uses it). The mapping format
//! is documented in `mappings/README.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

mod eval;
pub mod golden;
mod plan;
mod schema;
pub mod target;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_conditions;
#[cfg(test)]
mod tests_outputs;
mod value;
mod xml;

/// Which portal message a mapping produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A `HoSo` item of `DongBoHoSoMC`.
    Dossier,
    /// A `TienDo` item of `CapNhatTienDoHoSoMC`.
    Step,
    /// A `DongBoDanhGia` row (monthly satisfaction figures).
    Survey,
    /// A VNPost `MOrder` (`POST /order/post`).
    PostalOrder,
    /// The legacy LGSP `MSyncDocument`, rendered as XML ([`render_xml`]).
    SyncDocument,
}

impl Target {
    /// The name a mapping file gives it (`target = "..."`).
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Dossier => "dossier",
            Target::Step => "step",
            Target::Survey => "survey",
            Target::PostalOrder => "postal_order",
            Target::SyncDocument => "sync_document",
        }
    }
}

/// A mapped item ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// A JSON item (`HoSo`, `TienDo`, `DongBoDanhGia` row, `MOrder`), to put in its request.
    Json(Value),
    /// A whole XML document (`MSyncDocument`), the request body as it is.
    Xml(String),
}

/// Values a source's config lends its mappings (`$vars.<name>`).
pub type Vars = BTreeMap<String, String>;

/// One problem with one field of one record. Personal data in `value` is already masked.
/// Display: `field (from source): value "…": rule`, or `field (from source): missing: rule`
/// (no `(from …)` when only constants feed the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// The target field (`NgayHenTra`, `DanhSachLePhi[1].Gia`).
    pub field: String,
    /// Where the mapping read it in the local record, as the local system names it
    /// (`HanTra`, `LePhi[1].SoTien`, `TenThuTuc + NguoiNop`, `TrichYeu or TenThuTuc +
    /// NguoiNop` for a chain none of whose sources gave a value); `None` for constants.
    pub source: Option<String>,
    /// The offending source value, masked when personal, `None` when missing.
    pub value: Option<String>,
    /// The rule broken, in words an operator understands.
    pub rule: String,
}

/// A record mapped into a portal item.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The portal item (`HoSo`, `TienDo`, ...; for `sync_document` the JSON form of the XML,
    /// element names as keys), keys in the spec's order, empty optionals left out.
    pub item: Map<String, Value>,
    /// The dossier the item belongs to (the ordering key): `MaHoSo`, an order's `OrderNumber`,
    /// a sync document's `DocCode`; empty for a survey row.
    pub dossier: String,
    /// When it happened: a step's `ThoiDiemXuLy`; a dossier's `NgayNopHoSo`, else `NgayTiepNhan`;
    /// a sync document's `DateReceived`; else `None` (the caller then uses the time of receipt;
    /// always for survey rows and postal orders).
    pub at: Option<DateTime<Utc>>,
    /// The source's own sequence number for steps (ties in `at`), when it has one.
    pub source_seq: Option<i64>,
    /// Optional fields left out, values cut to length, characters removed.
    pub warnings: Vec<FieldIssue>,
}

/// A record that cannot be sent: every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub issues: Vec<FieldIssue>,
}

/// A mapping file that cannot be used. Display is one line: the file, the key, the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("{}: cannot read: {problem}", file.display())]
    Io { file: PathBuf, problem: String },
    #[error("{}: {key}: {problem}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        problem: String,
    },
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.field)?;
        if let Some(s) = &self.source {
            write!(f, " (from {s})")?;
        }
        match &self.value {
            Some(v) => write!(f, ": value \"{}\": {}", v, self.rule),
            None => write!(f, ": missing: {}", self.rule),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

/// A compiled mapping file: what to read from a source record for each field of a target.
#[derive(Debug)]
pub struct Mapping {
    plan: plan::Plan,
}

impl Mapping {
    /// Reads the mapping file (and the CSV tables it names, relative to it) and compiles it.
    /// The target's JSON Schema is compiled here (once per process) so a broken one fails the
    /// load, not the first record.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let plan = plan::load(path)?;
        if let Err(problem) = schema::validator(plan.target) {
            return Err(MappingError::Invalid {
                file: path.to_path_buf(),
                key: "target".into(),
                problem: format!("the target's schema is unusable: {problem}"),
            });
        }
        Ok(Mapping { plan })
    }

    /// The message this mapping produces.
    pub fn target(&self) -> Target {
        self.plan.target
    }

    /// Hex SHA-256 over the mapping file and then each table file it uses, in table-name order.
    pub fn version(&self) -> &str {
        &self.plan.version
    }

    /// Maps one record. Every issue is collected; never panics on any input.
    pub fn map(&self, record: &Value, vars: &Vars) -> Result<Mapped, Rejection> {
        if !record.is_object() {
            return Err(Rejection {
                issues: vec![FieldIssue {
                    field: "(record)".into(),
                    source: None,
                    value: Some(value::show(record, false)),
                    rule: "a record is a JSON object".into(),
                }],
            });
        }
        let scope = eval::Scope {
            row: record,
            parent: record,
            vars,
        };
        let mut rep = eval::Report::default();
        let mut item = eval::map_fields(&self.plan.fields, &scope, None, &mut rep);
        match self.plan.target {
            Target::Dossier => eval::dossier_rules(&mut item, &mut rep),
            Target::SyncDocument => {
                eval::sync_document_rules(&mut item, &mut rep, target::M_SYNC_DOCUMENT);
                eval::xml_chars(&mut item, &mut rep);
            }
            Target::Survey => eval::survey_rules(&item, &mut rep),
            Target::Step | Target::PostalOrder => {}
        }
        // The cross-field rules know only the portal's fields: name the local ones.
        eval::attribute(&self.plan.fields, &mut rep.errors);
        eval::attribute(&self.plan.fields, &mut rep.warnings);
        if !rep.errors.is_empty() {
            return Err(Rejection { issues: rep.errors });
        }
        // The schema sees the item exactly as it would be sent.
        let whole = Value::Object(item);
        let mut broken = schema::check(self.plan.target, &whole);
        if !broken.is_empty() {
            eval::attribute(&self.plan.fields, &mut broken);
            return Err(Rejection { issues: broken });
        }
        let Value::Object(item) = whole else {
            // Built as an object just above; kept as a rejection rather than a panic.
            return Err(Rejection {
                issues: vec![FieldIssue {
                    field: "(item)".into(),
                    source: None,
                    value: None,
                    rule: "the mapped item is not a JSON object".into(),
                }],
            });
        };
        let dossier = eval::key_of(self.plan.target, &item);
        let at = eval::at_of(self.plan.target, &item);
        let source_seq = self
            .plan
            .sequence
            .as_ref()
            .and_then(|p| eval::sequence(eval::lookup(&scope, p)));
        Ok(Mapped {
            item,
            dossier,
            at,
            source_seq,
            warnings: rep.warnings,
        })
    }
}

impl Mapping {
    /// The item as it goes on the wire: JSON for the JSON targets (moved out of `mapped`,
    /// which is left without it), the XML document for `sync_document`.
    pub fn render(&self, mapped: &mut Mapped) -> Result<Rendered, Rejection> {
        match self.plan.target {
            Target::SyncDocument => render_xml(mapped).map(Rendered::Xml),
            _ => Ok(Rendered::Json(Value::Object(std::mem::take(
                &mut mapped.item,
            )))),
        }
    }
}

/// Renders a `sync_document` item as the `MSyncDocument` XML document (UTF-8, with its XML
/// declaration, two-space indentation, ending with a line feed). Fails only for an item without
/// `DocCode` or `Status` (never for one `map()` returned).
pub fn render_xml(mapped: &Mapped) -> Result<String, Rejection> {
    xml::render(&mapped.item)
}

/// A copy of a `target` item with every personal field masked as issues mask them (`Ng***`,
/// `0912***678`, `ho***@example.com`), for places that must not show personal data (the admin
/// API). Free text is masked too (a summary such as `TrichYeuHoSo` names the applicants), and so
/// is a field the target's table does not know: neither is known to be harmless. Codes, dates,
/// amounts and flags stay readable.
pub fn mask_personal(target: Target, item: &Value) -> Value {
    let fields = match target {
        Target::Dossier => target::HO_SO,
        Target::Step => target::TIEN_DO,
        Target::Survey => target::DANH_GIA,
        Target::PostalOrder => target::M_ORDER,
        Target::SyncDocument => target::M_SYNC_DOCUMENT,
    };
    mask_fields(fields, item)
}

fn mask_fields(fields: &[target::FieldSpec], item: &Value) -> Value {
    let Value::Object(map) = item else {
        return Value::String("***".into());
    };
    let masked = |v: &Value| match v {
        Value::String(s) => Value::String(value::mask(s)),
        Value::Null => Value::Null,
        _ => Value::String("***".into()),
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let shown = match fields.iter().find(|f| f.name == k) {
            None => masked(v),
            Some(f) if f.personal || matches!(f.kind, target::Kind::Text) => masked(v),
            Some(f) => match (f.kind, v) {
                (target::Kind::Children(children), Value::Array(entries)) => {
                    Value::Array(entries.iter().map(|e| mask_fields(children, e)).collect())
                }
                (target::Kind::Children(_), other) => masked(other),
                _ => v.clone(),
            },
        };
        out.insert(k.clone(), shown);
    }
    Value::Object(out)
}

/// A copy of a source record (a quarantined one) with every value masked as issues mask them
/// and its field names kept, so an operator sees its shape without its content: a record is in
/// the source's own shape, so nothing says which of its fields are harmless. Only flags and nulls
/// stay.
pub fn mask_record(record: &Value) -> Value {
    match record {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_record(v)))
                .collect(),
        ),
        Value::Array(entries) => Value::Array(entries.iter().map(mask_record).collect()),
        Value::String(s) => Value::String(value::mask(s)),
        Value::Number(_) => Value::String("***".into()),
        Value::Bool(_) | Value::Null => record.clone(),
    }
}

/// Free text (a refusal reason, a peer's answer, a log line) with what looks personal in it
/// masked as issues mask it: e-mail addresses, runs of 9 to 12 digits (identity numbers, phones)
/// and runs of two or more capitalised words with Vietnamese letters (names, and the street,
/// ward and district names of addresses: `Nguyễn Thị Hoa` becomes `Ng***`). The text is read as
/// NFC first, so a name sent decomposed is found too. A mapping's refusal already masks the
/// values of personal fields; this is the one function every other place that shows text from
/// outside goes through (reasons, peer answers, parse errors, every log line, panics), and it
/// leaves codes, dates, times, dossier codes and English or unaccented words readable.
pub fn mask_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let text: String = text.nfc().collect();
    let text = mask_names(&text);
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let word_char = |c: char| c.is_alphanumeric() || "._%+-@".contains(c);
        if !word_char(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && word_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        // An id (a message, a batch's X-Request-ID) is no one's data, even when its hex holds
        // a run of nine digits.
        let core = word.trim_end_matches('.');
        if core.len() == 36 && uuid::Uuid::try_parse(core).is_ok() {
            out.push_str(&word);
            continue;
        }
        if word.contains('@') && word.rsplit('@').next().is_some_and(|d| d.contains('.')) {
            out.push_str(&value::mask(word.trim_end_matches('.')));
            if word.ends_with('.') {
                out.push('.');
            }
            continue;
        }
        // Digit runs inside the word, each on its own.
        let mut rest = word.as_str();
        while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
            out.push_str(&rest[..at]);
            let run = rest[at..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(rest.len(), |end| at + end);
            let digits = &rest[at..run];
            // The fraction of a decimal number (`0.000290905` seconds) is no identity number.
            let fraction =
                out.ends_with('.') && out[..out.len() - 1].ends_with(|c: char| c.is_ascii_digit());
            if (9..=12).contains(&digits.len()) && !fraction {
                out.push_str(&value::mask(digits));
            } else {
                out.push_str(digits);
            }
            rest = &rest[run..];
        }
        out.push_str(rest);
    }
    out
}

/// Runs of two or more capitalised words (`Nguyễn Văn An`, `NGUYỄN VĂN AN`, `Bến Nghé`) of which
/// one at least has a letter outside ASCII, or whose first word is a Vietnamese family name
/// written without its marks (`Nguyen Van An`, `TRAN THI HOA`), masked as one value. English
/// text (`Service Unavailable`) and single capitalised words (`Hồ sơ đã tồn tại`) are left
/// alone.
/// The family names most Vietnamese people carry, as written without marks (a name copied
/// through a system that drops them).
const FAMILY_NAMES: &[&str] = &[
    "Nguyen", "Tran", "Le", "Pham", "Hoang", "Huynh", "Phan", "Vu", "Vo", "Dang", "Bui", "Do",
    "Ho", "Ngo", "Duong", "Ly", "Dinh", "Truong", "Lam", "Mai", "Cao", "Trinh", "Doan", "Luong",
    "Ha", "Ta", "Chu", "Quach", "Kieu", "Thai", "Luu", "La", "Tong", "Ton", "Lai", "Trieu",
];

fn mask_names(text: &str) -> std::borrow::Cow<'_, str> {
    static NAME: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(name) =
        NAME.get_or_init(|| regex::Regex::new(r"\b\p{Lu}\p{L}*(?:[ \t]+\p{Lu}\p{L}*)+\b").ok())
    else {
        // Without the pattern no text may be shown as it is.
        return std::borrow::Cow::Owned(value::mask(text));
    };
    name.replace_all(text, |c: &regex::Captures<'_>| {
        let run = &c[0];
        let first = run.split([' ', '\t']).next().unwrap_or_default();
        let family = FAMILY_NAMES.iter().any(|f| f.eq_ignore_ascii_case(first));
        if run.is_ascii() && !family {
            run.to_string()
        } else {
            value::mask(run)
        }
    })
}

/// What `lienthong map` prints: each record of an input mapped, or why not.
#[derive(Debug)]
pub struct DryRunReport {
    /// The input could not be read as JSON records at all.
    pub unreadable: Option<String>,
    pub records: Vec<Result<Mapped, Rejection>>,
    /// The mapping's target: a `sync_document` record is also shown as the XML it sends.
    pub target: Target,
}

impl DryRunReport {
    /// Records rejected (an unreadable input counts as one).
    pub fn rejected(&self) -> usize {
        usize::from(self.unreadable.is_some()) + self.records.iter().filter(|r| r.is_err()).count()
    }
}

impl fmt::Display for DryRunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.unreadable {
            return writeln!(f, "input: {e}");
        }
        for (i, r) in self.records.iter().enumerate() {
            match r {
                Ok(m) => {
                    writeln!(f, "record {i}: ok ({} warnings)", m.warnings.len())?;
                    let pretty = serde_json::to_string_pretty(&m.item).map_err(|_| fmt::Error)?;
                    writeln!(f, "{pretty}")?;
                    if self.target == Target::SyncDocument {
                        match render_xml(m) {
                            Ok(xml) => f.write_str(&xml)?,
                            Err(e) => writeln!(f, "record {i}: cannot render XML: {e}")?,
                        }
                    }
                    for w in &m.warnings {
                        writeln!(f, "record {i}: warning: {w}")?;
                    }
                }
                Err(rej) => {
                    writeln!(f, "record {i}: rejected ({} errors)", rej.issues.len())?;
                    for e in &rej.issues {
                        writeln!(f, "record {i}: error: {e}")?;
                    }
                }
            }
        }
        let n = self.records.len();
        writeln!(f, "{n} records, {} rejected", self.rejected())
    }
}

/// Maps every record of `input` (a JSON object or an array of objects) without sending anything.
pub fn dry_run(mapping: &Mapping, input: &[u8], vars: &Vars) -> DryRunReport {
    let input = input.strip_prefix(b"\xef\xbb\xbf").unwrap_or(input);
    let parsed: Value = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(e) => {
            return DryRunReport {
                unreadable: Some(format!("not JSON: {e}")),
                records: Vec::new(),
                target: mapping.target(),
            }
        }
    };
    let records = match &parsed {
        Value::Array(a) => a.iter().map(|r| mapping.map(r, vars)).collect(),
        Value::Object(_) => vec![mapping.map(&parsed, vars)],
        _ => {
            return DryRunReport {
                unreadable: Some("neither a JSON object nor an array of objects".into()),
                records: Vec::new(),
                target: mapping.target(),
            }
        }
    };
    DryRunReport {
        unreadable: None,
        records,
        target: mapping.target(),
    }
}
