//! Rendering the legacy LGSP `MSyncDocument` (dvcqg.md, "Legacy XML route") from its JSON form
//! (the item a `sync_document` mapping produces) with quick-xml's writer: UTF-8, an XML
//! declaration, two-space indentation, elements in the spec's order ([`M_SYNC_DOCUMENT`]),
//! elements with no value left out, booleans `true`/`false`, the optional
//! `<DocFees><DocFee>…</DocFee></DocFees>` list. Text is escaped (`&`, `<`, `>`; quotes need no
//! escaping in element content and are left as they are; a carriage return is written `&#13;`
//! so a reader gets it back). Characters XML 1.0 cannot carry were already dropped, with a
//! warning, by `map()`; any left (an item edited by hand) are dropped here too.
//! Pure: writes to memory only.

use std::io;

use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::{Map, Value};

use super::target::{FieldSpec, Kind, M_SYNC_DOCUMENT};
use super::{value, FieldIssue, Rejection};

/// The root element.
pub const ROOT: &str = "MSyncDocument";

/// Writes the `MSyncDocument` for an item; `DocCode` and `Status` must be there.
pub fn render(item: &Map<String, Value>) -> Result<String, Rejection> {
    let missing: Vec<FieldIssue> = ["DocCode", "Status"]
        .into_iter()
        .filter(|k| item.get(*k).is_none_or(value::is_empty))
        .map(|k| FieldIssue {
            field: k.into(),
            source: None,
            value: None,
            rule: "always present in MSyncDocument".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(Rejection { issues: missing });
    }
    write(item).map_err(|e| Rejection {
        issues: vec![FieldIssue {
            field: "(item)".into(),
            source: None,
            value: None,
            rule: format!("cannot render XML: {e}"),
        }],
    })
}

fn write(item: &Map<String, Value>) -> io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.write_event(Event::Start(BytesStart::new(ROOT)))?;
    elements(&mut w, item, M_SYNC_DOCUMENT)?;
    w.write_event(Event::End(BytesEnd::new(ROOT)))?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn elements(
    w: &mut Writer<Vec<u8>>,
    item: &Map<String, Value>,
    specs: &[FieldSpec],
) -> io::Result<()> {
    for spec in specs {
        let Some(v) = item.get(spec.name).filter(|v| !value::is_empty(v)) else {
            continue;
        };
        match (spec.kind, v) {
            (Kind::Children(children), Value::Array(rows)) => {
                // `DocFees` holds one `DocFee` per entry.
                let entry = spec.name.strip_suffix('s').unwrap_or(spec.name);
                w.write_event(Event::Start(BytesStart::new(spec.name)))?;
                for row in rows {
                    let Value::Object(row) = row else { continue };
                    w.write_event(Event::Start(BytesStart::new(entry)))?;
                    elements(w, row, children)?;
                    w.write_event(Event::End(BytesEnd::new(entry)))?;
                }
                w.write_event(Event::End(BytesEnd::new(spec.name)))?;
            }
            (_, Value::Array(_) | Value::Object(_)) => {}
            (_, scalar) => {
                let Some(text) = value::scalar_text(scalar) else {
                    continue;
                };
                let clean: String = text.chars().filter(|c| value::xml_char_ok(*c)).collect();
                let escaped = partial_escape(clean.as_str()).replace('\r', "&#13;");
                w.create_element(spec.name)
                    .write_text_content(BytesText::from_escaped(escaped))?;
            }
        }
    }
    Ok(())
}
