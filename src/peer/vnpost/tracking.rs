//! One page of VNPost's tracking feed (vnpost.md, "Tracking feed"), read into typed events.
//! Pure: no I/O, no clock; never panics on what VNPost sends.
//!
//! Each event keeps its raw JSON. An event with a missing or unreadable field is not dropped
//! silently nor fatal to the page: it is reported as a [`BadEvent`] naming its position, its
//! `$oid` when readable, and every field that is wrong. The cursor ([`TrackingPage::next_last_id`])
//! moves past every event whose `$oid` is readable and increasing, good or bad, so one bad event
//! cannot stall the feed; deciding what to do with it (store, alert) is the caller's.
//!
//! What this module must not do: put a field's value in a problem's text (events carry
//! names and notes about citizens), or show `Notes` and the raw JSON in `Debug`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The cursor of an empty feed: where reading starts.
pub const FEED_START: &str = "000000000000000000000000";

/// What the contract's `StatusCode`s mean (vnpost.md).
const STATUS_NAMES: [&str; 23] = [
    "draft",
    "created",
    "handed to postman",
    "processing",
    "collecting",
    "collection failed",
    "collected",
    "at post office",
    "retrieve failed",
    "collection cancelled",
    "in transit",
    "arrived at post office",
    "out for delivery",
    "forwarded",
    "delivered",
    "delivery failed",
    "awaiting transfer",
    "approved",
    "transfer started",
    "completed",
    "partly returned",
    "COD paid",
    "delivery cancelled",
];

/// The meaning of a `StatusCode` the contract defines (`14` → `delivered`).
pub fn status_name(code: u8) -> Option<&'static str> {
    STATUS_NAMES.get(usize::from(code)).copied()
}

/// Whether `id` is a feed id: 24 hexadecimal digits.
pub fn is_feed_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One event of the feed.
#[derive(Clone, PartialEq)]
pub struct TrackingEvent {
    /// `_id.$oid`, in lower case.
    pub id: String,
    pub customer_code: String,
    /// The dossier code (`MaHoSo`) the order was registered under.
    pub order_number: String,
    /// `"1"` collection, `"2"` delivery.
    pub order_type: String,
    /// The waybill number, when VNPost gave one.
    pub item_code: Option<String>,
    /// `EventTime` as sent (`yyyyMMddHHmmss`, Vietnam time).
    pub event_time_text: String,
    /// `EventTime` as an instant.
    pub event_time: DateTime<Utc>,
    /// The post office (`POSID`).
    pub pos_id: String,
    /// `StatusCode`, 0 to 22.
    pub status_code: u8,
    pub status_message: String,
    /// Free text; may name the citizen.
    pub notes: String,
    /// The event as VNPost sent it.
    pub raw: Value,
}

impl fmt::Debug for TrackingEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Notes and the raw event may name the citizen: left out.
        f.debug_struct("TrackingEvent")
            .field("id", &self.id)
            .field("order_number", &self.order_number)
            .field("order_type", &self.order_type)
            .field("status_code", &self.status_code)
            .field("event_time", &self.event_time_text)
            .field("pos_id", &self.pos_id)
            .finish_non_exhaustive()
    }
}

/// One field of an event that is missing or cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path (`EventTime`, `_id.$oid`).
    pub field: &'static str,
    /// What is wrong, never the value itself.
    pub problem: String,
}

/// An event of the page that could not be read.
#[derive(Clone, PartialEq)]
pub struct BadEvent {
    /// Its position in the page, from 0.
    pub index: usize,
    /// Its `$oid`, when readable.
    pub id: Option<String>,
    /// Every field that is wrong.
    pub problems: Vec<FieldProblem>,
    /// The event as VNPost sent it.
    pub raw: Value,
}

impl fmt::Debug for BadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BadEvent")
            .field("index", &self.index)
            .field("id", &self.id)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for BadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}", self.index)?;
        if let Some(id) = &self.id {
            write!(f, " ({id})")?;
        }
        let problems: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.problem))
            .collect();
        write!(f, ": {}", problems.join("; "))
    }
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingPage {
    /// `_size`: events in the whole feed (informational), when given.
    pub size: Option<u64>,
    /// `_returned`: events on this page.
    pub returned: u64,
    /// The `pagesize` asked for.
    pub page_size: u32,
    /// The events read, in feed order.
    pub events: Vec<TrackingEvent>,
    /// The events that could not be read, in feed order.
    pub bad: Vec<BadEvent>,
    /// Where the next page starts: the last increasing `$oid` of the page, or the `lastId`
    /// asked with when the page has none.
    pub next_last_id: String,
}

impl TrackingPage {
    /// Whether this page is the end of the feed for now (`_returned` < `pagesize`).
    pub fn is_end(&self) -> bool {
        self.returned < u64::from(self.page_size)
    }
}

/// Reads a page asked for with `last_id` and `page_size`. `Err` when the page as a whole cannot
/// be read (not an object, `_embedded."rh:doc"` not a list, `_returned` disagreeing with it).
pub fn parse_page(body: &[u8], last_id: &str, page_size: u32) -> Result<TrackingPage, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("tracking page is not JSON ({} bytes): {e}", body.len()))?;
    let Value::Object(page) = value else {
        return Err("tracking page is not a JSON object".into());
    };
    let count = |key: &str| -> Result<Option<u64>, String> {
        match page.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("tracking page: {key} is not a count")),
        }
    };
    let size = count("_size")?;
    let returned = count("_returned")?;
    let docs: &[Value] = match page.get("_embedded") {
        None | Some(Value::Null) => &[],
        Some(Value::Object(embedded)) => match embedded.get("rh:doc") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(docs)) => docs,
            Some(_) => return Err("tracking page: _embedded.rh:doc is not a list".into()),
        },
        Some(_) => return Err("tracking page: _embedded is not an object".into()),
    };
    let held = docs.len() as u64;
    let returned = match returned {
        Some(r) if r != held => {
            return Err(format!(
                "tracking page: _returned is {r} but _embedded.rh:doc holds {held} events"
            ))
        }
        Some(r) => r,
        None => held,
    };

    let mut cursor = last_id.to_ascii_lowercase();
    let mut events = Vec::with_capacity(docs.len());
    let mut bad = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        match read_event(doc, &cursor) {
            Ok(event) => {
                cursor.clone_from(&event.id);
                events.push(event);
            }
            Err((id, problems)) => {
                // An event whose id is readable and increasing moves the cursor past it.
                if let Some(id) = &id {
                    if !problems.iter().any(|p| p.field == "_id.$oid") {
                        cursor.clone_from(id);
                    }
                }
                bad.push(BadEvent {
                    index,
                    id,
                    problems,
                    raw: doc.clone(),
                });
            }
        }
    }
    Ok(TrackingPage {
        size,
        returned,
        page_size,
        events,
        bad,
        next_last_id: cursor,
    })
}

/// Reads the body of a push (`/callbacks/vnpost`): a JSON array of the feed's event objects,
/// in any order. `Err` when the body as a whole is not such an array.
pub fn parse_pushed(body: &[u8]) -> Result<(Vec<TrackingEvent>, Vec<BadEvent>), String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("push body is not JSON ({} bytes): {e}", body.len()))?;
    let Value::Array(docs) = value else {
        return Err("push body is not a JSON array of events".into());
    };
    let mut events = Vec::with_capacity(docs.len());
    let mut bad = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        // Pushed events come in no feed order: any id above the feed's start is taken.
        match read_event(doc, FEED_START) {
            Ok(event) => events.push(event),
            Err((id, problems)) => bad.push(BadEvent {
                index,
                id,
                problems,
                raw: doc.clone(),
            }),
        }
    }
    Ok((events, bad))
}

/// One event, or its readable id and every problem.
fn read_event(
    doc: &Value,
    after: &str,
) -> Result<TrackingEvent, (Option<String>, Vec<FieldProblem>)> {
    let Value::Object(fields) = doc else {
        return Err((
            None,
            vec![FieldProblem {
                field: "(event)",
                problem: "not a JSON object".into(),
            }],
        ));
    };
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, text: &str| {
        problems.push(FieldProblem {
            field,
            problem: text.to_string(),
        })
    };

    let id = match fields.get("_id").and_then(|v| v.get("$oid")) {
        None | Some(Value::Null) => {
            problem("_id.$oid", "missing");
            None
        }
        Some(Value::String(s)) if is_feed_id(s) => {
            let id = s.to_ascii_lowercase();
            if id.as_str() <= after {
                problem(
                    "_id.$oid",
                    "does not come after the previous id (the feed must increase)",
                );
            }
            Some(id)
        }
        Some(_) => {
            problem("_id.$oid", "not 24 hexadecimal digits");
            None
        }
    };
    let customer_code = text(fields, "CustomerCode", true, &mut problem);
    let order_number = text(fields, "OrderNumber", true, &mut problem);
    let order_type = code(fields, "OrderType", &mut problem);
    if order_type.as_ref().is_some_and(|t| t != "1" && t != "2") {
        problem("OrderType", "not \"1\" (collection) or \"2\" (delivery)");
    }
    let item_code = match fields.get("ItemCode") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            problem("ItemCode", "not a string");
            None
        }
    };
    let event_time_text = text(fields, "EventTime", true, &mut problem);
    let event_time = event_time_text.as_deref().and_then(|t| {
        let parsed = crate::time::from_wire(t);
        if parsed.is_none() {
            problem("EventTime", "not a date as yyyyMMddHHmmss");
        }
        parsed
    });
    let pos_id = code(fields, "POSID", &mut problem);
    let status_code = code(fields, "StatusCode", &mut problem).and_then(|c| {
        let known = c
            .parse::<u8>()
            .ok()
            .filter(|n| status_name(*n).is_some() && c.bytes().all(|b| b.is_ascii_digit()));
        if known.is_none() {
            problem("StatusCode", "not one of the contract's codes 0 to 22");
        }
        known
    });
    let status_message = text(fields, "StatusMessage", false, &mut problem);
    let notes = text(fields, "Notes", false, &mut problem);

    match (
        id,
        customer_code,
        order_number,
        order_type,
        event_time_text,
        event_time,
        pos_id,
        status_code,
    ) {
        (
            Some(id),
            Some(customer_code),
            Some(order_number),
            Some(order_type),
            Some(event_time_text),
            Some(event_time),
            Some(pos_id),
            Some(status_code),
        ) if problems.is_empty() => Ok(TrackingEvent {
            id,
            customer_code,
            order_number,
            order_type,
            item_code,
            event_time_text,
            event_time,
            pos_id,
            status_code,
            status_message: status_message.unwrap_or_default(),
            notes: notes.unwrap_or_default(),
            raw: doc.clone(),
        }),
        (id, ..) => Err((id, problems)),
    }
}

/// A string field. A mandatory one must be present and not blank; an optional one may be
/// missing or null (read as empty).
fn text(
    fields: &Map<String, Value>,
    key: &'static str,
    mandatory: bool,
    problem: &mut impl FnMut(&'static str, &str),
) -> Option<String> {
    match fields.get(key) {
        None | Some(Value::Null) if mandatory => {
            problem(key, "missing");
            None
        }
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) if mandatory && s.trim().is_empty() => {
            problem(key, "empty");
            None
        }
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            problem(key, "not a string");
            None
        }
    }
}

/// A mandatory code, sent as a string or as a whole number (`"14"` or `14`).
fn code(
    fields: &Map<String, Value>,
    key: &'static str,
    problem: &mut impl FnMut(&'static str, &str),
) -> Option<String> {
    match fields.get(key) {
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(Value::Number(_)) => {
            problem(key, "not a whole number");
            None
        }
        _ => text(fields, key, true, problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(oid: &str, code: &str) -> Value {
        json!({"_id": {"$oid": oid}, "CustomerCode": "C00330117",
            "OrderNumber": "000.00.56.H56-261105-0007", "OrderType": "2", "ItemCode": "EB123456785VN",
            "EventTime": "20261116104200", "POSID": "401160", "StatusCode": code,
            "StatusMessage": "Phát thành công", "Notes": "Người nhận: Nguyễn Thị Hoa (chủ hồ sơ)"})
    }

    fn page(size: u64, events: Vec<Value>) -> Vec<u8> {
        json!({"_size": size, "_returned": events.len(), "_embedded": {"rh:doc": events}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_page_in_the_contracts_shape_is_read_with_raw_events() {
        let events = vec![
            event("6af67760a3b5d1e2f34b5c61", "6"),
            event("6afa593ca3b5d1e2f34b5c64", "12"),
            event("6AFA7B99A3B5D1E2F34B5C65", "14"),
        ];
        let got =
            parse_page(&page(1287, events.clone()), "6af584ffa3b5d1e2f34b5c60", 50).expect("page");
        assert_eq!(got.size, Some(1287));
        assert_eq!(got.returned, 3);
        assert!(got.is_end());
        assert!(got.bad.is_empty(), "{:?}", got.bad);
        assert_eq!(got.next_last_id, "6afa7b99a3b5d1e2f34b5c65");
        let last = &got.events[2];
        assert_eq!(last.status_code, 14);
        assert_eq!(status_name(last.status_code), Some("delivered"));
        assert_eq!(last.order_type, "2");
        assert_eq!(last.item_code.as_deref(), Some("EB123456785VN"));
        assert_eq!(last.event_time.to_rfc3339(), "2026-11-16T03:42:00+00:00");
        assert_eq!(last.raw, events[2]);
        let printed = format!("{got:?}");
        assert!(!printed.contains("Nguyễn"), "{printed}");
        // A full page is not the end; an empty one is.
        let full = parse_page(&page(3, events), FEED_START, 3).expect("page");
        assert!(!full.is_end());
        let empty =
            parse_page(br#"{"_size": 3, "_returned": 0}"#, &full.next_last_id, 3).expect("page");
        assert!(empty.is_end() && empty.events.is_empty());
        assert_eq!(empty.next_last_id, full.next_last_id);
    }

    #[test]
    fn a_bad_event_is_reported_precisely_and_the_feed_moves_past_it() {
        let mut broken = event("6af6b7e7a3b5d1e2f34b5c62", "23");
        broken["EventTime"] = json!("16/11/2026 10:42");
        broken["OrderType"] = json!(3);
        if let Some(o) = broken.as_object_mut() {
            o.remove("OrderNumber");
        }
        let mut no_id = event("x", "6");
        no_id["_id"] = json!({"$oid": 42});
        let mut numeric = event("6af6c4c2a3b5d1e2f34b5c63", "6");
        numeric["StatusCode"] = json!(6);
        let events = vec![
            event("6af67760a3b5d1e2f34b5c61", "6"),
            broken,
            json!("not an event"),
            no_id,
            // Not after the previous id: reported, and the cursor does not go back.
            event("6af67760a3b5d1e2f34b5c61", "6"),
            numeric,
        ];
        let got = parse_page(&page(9, events), FEED_START, 50).expect("page");
        assert_eq!(got.events.len(), 2);
        assert_eq!(got.events[1].status_code, 6);
        assert_eq!(got.next_last_id, "6af6c4c2a3b5d1e2f34b5c63");
        let shown: Vec<String> = got.bad.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "event 1 (6af6b7e7a3b5d1e2f34b5c62): OrderNumber: missing; OrderType: not \"1\" (collection) or \"2\" (delivery); EventTime: not a date as yyyyMMddHHmmss; StatusCode: not one of the contract's codes 0 to 22",
                "event 2: (event): not a JSON object",
                "event 3: _id.$oid: not 24 hexadecimal digits",
                "event 4 (6af67760a3b5d1e2f34b5c61): _id.$oid: does not come after the previous id (the feed must increase)",
            ]
        );
        assert_eq!(got.bad[0].raw["StatusCode"], "23");
        for text in &shown {
            assert!(
                !text.contains("Nguyễn") && !text.contains("16/11"),
                "{text}"
            );
        }
        // A bad last event with a readable id still moves the cursor.
        let mut late_bad = event("6af6c4c2a3b5d1e2f34b5c63", "14");
        late_bad["POSID"] = json!(["401160"]);
        let got = parse_page(&page(1, vec![late_bad]), FEED_START, 50).expect("page");
        assert_eq!(got.next_last_id, "6af6c4c2a3b5d1e2f34b5c63");
        assert_eq!(got.bad[0].problems[0].field, "POSID");
    }

    #[test]
    fn optional_fields_and_numbers_for_codes() {
        let mut e = event("6af67760a3b5d1e2f34b5c61", "1");
        e["StatusCode"] = json!(1);
        e["POSID"] = json!(401160);
        e["ItemCode"] = json!("");
        if let Some(o) = e.as_object_mut() {
            o.remove("Notes");
            o.remove("StatusMessage");
        }
        let got = parse_page(&page(1, vec![e]), FEED_START, 10).expect("page");
        let read = &got.events[0];
        assert_eq!(
            (
                read.status_code,
                read.pos_id.as_str(),
                read.item_code.as_deref()
            ),
            (1, "401160", None)
        );
        assert_eq!(
            (read.notes.as_str(), read.status_message.as_str()),
            ("", "")
        );
    }

    #[test]
    fn pages_that_cannot_be_read_as_a_whole() {
        let cases: [(&[u8], &str); 6] = [
            (b"<html>", "tracking page is not JSON"),
            (b"[]", "tracking page is not a JSON object"),
            (
                br#"{"_returned": "5"}"#,
                "tracking page: _returned is not a count",
            ),
            (
                br#"{"_embedded": []}"#,
                "tracking page: _embedded is not an object",
            ),
            (
                br#"{"_embedded": {"rh:doc": {}}}"#,
                "tracking page: _embedded.rh:doc is not a list",
            ),
            (
                br#"{"_returned": 2, "_embedded": {"rh:doc": [{}]}}"#,
                "tracking page: _returned is 2 but _embedded.rh:doc holds 1 events",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_page(body, FEED_START, 10).expect_err("unreadable");
            assert!(err.starts_with(expected), "{err}");
        }
    }

    #[test]
    fn feed_ids_and_status_names() {
        assert!(is_feed_id(FEED_START));
        assert!(is_feed_id("6AFA7B99A3B5D1E2F34B5C65"));
        assert!(!is_feed_id("6afa7b99a3b5d1e2f34b5c6"));
        assert!(!is_feed_id("6afa7b99a3b5d1e2f34b5c6g"));
        assert_eq!(status_name(0), Some("draft"));
        assert_eq!(status_name(22), Some("delivery cancelled"));
        assert_eq!(status_name(23), None);
    }
}
