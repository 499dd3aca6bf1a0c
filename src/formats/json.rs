//! Reads an ingest body as JSON strictly: a duplicate key in one object or nesting deeper than
//! [`MAX_DEPTH`] is refused (serde_json alone would keep the last duplicate silently), and a
//! UTF-8 byte-order mark is skipped.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Nesting limit, counting the outermost value as level 1.
pub const MAX_DEPTH: usize = 64;

/// Parses `bytes` as one JSON value under the rules above; the error says why in plain words.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // Depth is checked by the seed itself; serde_json's own limit (128) is higher.
    let value = Strict { depth: 1 }
        .deserialize(&mut de)
        .map_err(|e| format!("body is not valid JSON: {e}"))?;
    de.end()
        .map_err(|e| format!("body is not valid JSON: {e}"))?;
    Ok(value)
}

/// A body's records: one object, or an array of objects.
pub fn records(v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Object(_) => Ok(vec![v]),
        Value::Array(items) => {
            if let Some(pos) = items.iter().position(|i| !i.is_object()) {
                return Err(format!(
                    "body must be a JSON object or an array of objects; element {pos} is not an object"
                ));
            }
            Ok(items)
        }
        _ => Err("body must be a JSON object or an array of objects".to_string()),
    }
}

struct Strict {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { depth })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key \"{key}\" in one object"
                )));
            }
            let v = map.next_value_seed(Strict { depth })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        "[".repeat(levels - 1) + "{}" + &"]".repeat(levels - 1)
    }

    #[test]
    fn duplicate_keys_are_refused_with_the_key() {
        let e = parse_strict(br#"{"MaHoSo": "a", "MaHoSo": "b"}"#).unwrap_err();
        assert!(e.contains("duplicate key \"MaHoSo\""), "{e}");
        let e = parse_strict(br#"[{"a": {"x": 1, "x": 2}}]"#).unwrap_err();
        assert!(e.contains("duplicate key \"x\""), "{e}");
    }

    #[test]
    fn depth_64_is_allowed_and_65_is_not() {
        assert!(parse_strict(nested(64).as_bytes()).is_ok());
        let e = parse_strict(nested(65).as_bytes()).unwrap_err();
        assert!(e.contains("deeper than 64"), "{e}");
    }

    #[test]
    fn bom_is_skipped_and_text_kept_byte_for_byte() {
        let v = parse_strict("\u{feff}{\"TrichYeu\": \"Xin cấp phép\"}".as_bytes()).unwrap();
        assert_eq!(v["TrichYeu"], "Xin cấp phép");
    }

    #[test]
    fn trailing_garbage_and_truncation_are_refused() {
        assert!(parse_strict(b"{} x").is_err());
        assert!(parse_strict(b"{\"a\": ").is_err());
        assert!(parse_strict(b"\xff\xfe").is_err());
    }
}
