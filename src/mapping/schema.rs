//! The portal's messages as JSON Schemas (`mappings/schemas/*.schema.json`, built into the
//! binary), compiled once per process by the `jsonschema` crate and checked on every item
//! [`super::Mapping::map`] produces, before it is returned: a declarative second line of defence
//! behind the field tables of [`super::target`] (formats of codes and dates, required fields,
//! status-dependent fields, no stray keys). A failure becomes a [`super::FieldIssue`] naming the
//! field path and the rule; values are masked by the same rules as the engine's issues.
//! Pure: no I/O (the schemas are compiled-in text), no remote `$ref`s.

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;

use super::target::{FieldSpec, Kind, DANH_GIA, HO_SO, M_ORDER, M_SYNC_DOCUMENT, TIEN_DO};
use super::{value, FieldIssue, Target};

/// A schema's file (for messages) and its text.
struct Source {
    file: &'static str,
    text: &'static str,
}

macro_rules! schema {
    ($name:literal) => {
        Source {
            file: concat!("mappings/schemas/", $name),
            text: include_str!(concat!("../../mappings/schemas/", $name)),
        }
    };
}

fn source(target: Target) -> Source {
    match target {
        Target::Dossier => schema!("HoSo.schema.json"),
        Target::Step => schema!("TienDo.schema.json"),
        Target::Survey => schema!("DongBoDanhGia.schema.json"),
        Target::PostalOrder => schema!("MOrder.schema.json"),
        Target::SyncDocument => schema!("MSyncDocument.schema.json"),
    }
}

/// The target's field table (to know which values are personal).
fn specs(target: Target) -> &'static [FieldSpec] {
    match target {
        Target::Dossier => HO_SO,
        Target::Step => TIEN_DO,
        Target::Survey => DANH_GIA,
        Target::PostalOrder => M_ORDER,
        Target::SyncDocument => M_SYNC_DOCUMENT,
    }
}

type Compiled = Result<Validator, String>;

fn compile(target: Target) -> Compiled {
    let src = source(target);
    let schema: Value =
        serde_json::from_str(src.text).map_err(|e| format!("{}: not JSON: {e}", src.file))?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("{}: not a usable JSON Schema: {e}", src.file))
}

static DOSSIER: LazyLock<Compiled> = LazyLock::new(|| compile(Target::Dossier));
static STEP: LazyLock<Compiled> = LazyLock::new(|| compile(Target::Step));
static SURVEY: LazyLock<Compiled> = LazyLock::new(|| compile(Target::Survey));
static POSTAL_ORDER: LazyLock<Compiled> = LazyLock::new(|| compile(Target::PostalOrder));
static SYNC_DOCUMENT: LazyLock<Compiled> = LazyLock::new(|| compile(Target::SyncDocument));

/// The target's compiled schema (compiled on first use, then shared), or why it is unusable.
pub fn validator(target: Target) -> Result<&'static Validator, &'static str> {
    let compiled = match target {
        Target::Dossier => &*DOSSIER,
        Target::Step => &*STEP,
        Target::Survey => &*SURVEY,
        Target::PostalOrder => &*POSTAL_ORDER,
        Target::SyncDocument => &*SYNC_DOCUMENT,
    };
    compiled.as_ref().map_err(String::as_str)
}

/// The schema's file, relative to the crate (for messages).
pub fn file(target: Target) -> &'static str {
    source(target).file
}

/// Every way `item` breaks the target's schema, as issues (empty = valid).
pub fn check(target: Target, item: &Value) -> Vec<FieldIssue> {
    let v = match validator(target) {
        Ok(v) => v,
        Err(problem) => {
            return vec![FieldIssue {
                field: "(item)".into(),
                source: None,
                value: None,
                rule: format!("schema cannot be used: {problem}"),
            }]
        }
    };
    // Nearly every item is valid: asking that first is cheaper than collecting no errors.
    if v.is_valid(item) {
        return Vec::new();
    }
    let specs = specs(target);
    v.iter_errors(item)
        .map(|e| {
            let pointer = e.instance_path().as_str();
            let (field, personal) = field_of(pointer, specs);
            let rule = format!(
                "breaks {} ({}): {}",
                file(target),
                e.kind().keyword(),
                e.masked()
            );
            // A missing or stray key has no value of its own to show.
            let shown = match e.kind().keyword() {
                "required" | "additionalProperties" | "dependentRequired" => None,
                _ => Some(value::show(e.instance(), personal)),
            };
            FieldIssue {
                field,
                source: None,
                value: shown,
                rule,
            }
        })
        .collect()
}

/// A JSON pointer (`/DanhSachLePhi/0/Gia`) as the engine names fields (`DanhSachLePhi[0].Gia`),
/// and whether the field holds personal data.
fn field_of(pointer: &str, specs: &'static [FieldSpec]) -> (String, bool) {
    if pointer.is_empty() {
        return ("(item)".into(), false);
    }
    let mut name = String::new();
    let mut level = specs;
    let mut personal = false;
    for seg in pointer.trim_start_matches('/').split('/') {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !name.is_empty() && seg.bytes().all(|c| c.is_ascii_digit()) {
            name.push_str(&format!("[{seg}]"));
            continue;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&seg);
        match level.iter().find(|s| s.name == seg) {
            Some(spec) => {
                personal = spec.personal;
                if let Kind::Children(c) = spec.kind {
                    level = c;
                }
            }
            None => personal = true,
        }
    }
    (name, personal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles() {
        for t in [
            Target::Dossier,
            Target::Step,
            Target::Survey,
            Target::PostalOrder,
            Target::SyncDocument,
        ] {
            if let Err(e) = validator(t) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn pointers_read_as_field_names() {
        assert_eq!(
            field_of("/DanhSachLePhi/0/Gia", HO_SO),
            ("DanhSachLePhi[0].Gia".to_string(), false)
        );
        assert_eq!(field_of("/ChuHoSo", HO_SO), ("ChuHoSo".to_string(), true));
        assert_eq!(field_of("", HO_SO).0, "(item)");
    }
}
