//! What makes two portal objects "the same": the SHA-256 of their RFC 8785 canonical JSON
//! (`serde_json_canonicalizer`), so a change of key order or whitespace is no change; and what
//! changed between two objects, field by field, for `catalog diff`. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `sha256:<64 hex>` of `value`'s RFC 8785 canonical JSON: the hash of commune.md.
pub fn hash(value: &Value) -> Result<String, String> {
    let bytes = serde_json_canonicalizer::to_vec(value)
        .map_err(|e| format!("cannot canonicalise the object: {e}"))?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
}

/// One field that differs between two versions: its JSON Pointer (RFC 6901) path, and its
/// value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The fields that differ between `before` and `after`, in path order. Objects are compared
/// key by key (order ignored); arrays position by position; anything else by value.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    flatten(before, String::new(), &mut a);
    flatten(after, String::new(), &mut b);
    let mut out = Vec::new();
    let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let (x, y) = (a.get(path), b.get(path));
        if x != y {
            out.push(FieldChange {
                path: path.clone(),
                before: x.map(|v| (*v).clone()),
                after: y.map(|v| (*v).clone()),
            });
        }
    }
    out
}

/// Leaves (and empty containers) by JSON Pointer path.
fn flatten<'a>(value: &'a Value, path: String, out: &mut BTreeMap<String, &'a Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                flatten(v, format!("{path}/{key}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}/{i}"), out);
            }
        }
        _ => {
            out.insert(if path.is_empty() { "/".into() } else { path }, value);
        }
    }
}

/// A value for one line of text: strings as they are, the rest as JSON, cut at 120 characters.
pub fn show(value: Option<&Value>) -> String {
    let text = match value {
        None => return "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let mut cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut.replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_canonical_form_is_rfc_8785_s() {
        // Keys sorted by UTF-16 code units, no whitespace, raw UTF-8, only '"', '\' and control
        // characters escaped, numbers in ECMAScript's shortest form.
        let v: Value = serde_json::from_str(
            r#"{ "b": "é\n\"", "a": [1, 2.50, 1e21, -0.0], "\u20ac": true, "\ud83d\ude00": null, "A": {} }"#,
        )
        .expect("json");
        let canonical =
            "{\"A\":{},\"a\":[1,2.5,1e+21,0],\"b\":\"é\\n\\\"\",\"€\":true,\"😀\":null}";
        assert_eq!(
            String::from_utf8(serde_json_canonicalizer::to_vec(&v).expect("jcs")).expect("utf8"),
            canonical
        );
        assert_eq!(
            hash(&v).expect("hash"),
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(canonical.as_bytes()))
            )
        );
    }

    #[test]
    fn key_order_is_no_change_and_a_fee_is_one() {
        let a = json!({"MATTHC": "1.1", "PHI": [{"SOTIEN": "75000", "DONVI": "Đồng"}]});
        let b: Value =
            serde_json::from_str(r#"{"PHI":[{"DONVI":"Đồng","SOTIEN":"75000"}], "MATTHC":"1.1"}"#)
                .expect("json");
        assert_eq!(hash(&a), hash(&b));
        let c = json!({"MATTHC": "1.1", "PHI": [{"SOTIEN": "80000", "DONVI": "Đồng"}]});
        assert_ne!(hash(&a), hash(&c));
        let changes = diff(&a, &c);
        assert_eq!(
            changes,
            vec![FieldChange {
                path: "/PHI/0/SOTIEN".into(),
                before: Some(json!("75000")),
                after: Some(json!("80000")),
            }]
        );
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn added_and_removed_fields_and_items_are_listed() {
        let a = json!({"A": [1, 2], "B/C": {"x": 1}});
        let b = json!({"A": [1], "B/C": {}, "D": "new"});
        let paths: Vec<String> = diff(&a, &b).into_iter().map(|c| c.path).collect();
        assert_eq!(paths, vec!["/A/1", "/B~1C", "/B~1C/x", "/D"]);
    }
}
