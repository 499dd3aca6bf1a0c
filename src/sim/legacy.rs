//! What the simulated LGSP platform answers on the legacy XML route (dvcqg.md, "Legacy XML
//! route"): `POST /Document/SyncDocument` with one `<MSyncDocument>`, the LGSP bearer token,
//! and `<MResult><Status>1|0</Status><Message>…</Message></MResult>` back.
//!
//! It checks the document the way the contract reads: well-formed XML without a DTD, the root
//! `MSyncDocument`, known elements in the contract's order, `DocCode` and `Status` present,
//! `DateReceived` present unless the status is `1` or `7`, dates as `yyyyMMddHHmmss`, booleans
//! `true`/`false` that agree with the status, no empty optional element. A document that fails
//! gets `Status 0` with the rule it broke and changes nothing. Repeats of an applied
//! `X-Request-ID` are answered from memory; a known id with other bytes is a contract breach.

use bytes::Bytes;
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::dvcqg::Reply;
use super::{RememberedRequest, Simulator, State};

/// The elements of `MSyncDocument`, in the contract's order.
const ORDER: &[&str] = &[
    "DocCode",
    "DocTypeCode",
    "DocTypeName",
    "CitizenName",
    "ApplicantsType",
    "Address",
    "Phone",
    "Email",
    "Compendium",
    "DateReceived",
    "DateAppointed",
    "Status",
    "ProcessingOrganName",
    "IsSuccess",
    "SuccessDate",
    "IsReturned",
    "ReturnedDate",
    "FinishedDate",
    "HasSupplementary",
    "Note",
    "DocFees",
];

const DATES: &[&str] = &[
    "DateReceived",
    "DateAppointed",
    "SuccessDate",
    "ReturnedDate",
    "FinishedDate",
];

/// One document the platform accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedDocument {
    /// The `X-Request-ID` it came under.
    pub request_id: Option<String>,
    pub status: String,
    /// Global apply order, shared with the portal's events.
    pub seq: u64,
}

/// The route's answer.
pub(super) fn sync_document(
    sim: &Simulator,
    headers: &HeaderMap,
    body: &[u8],
    temporary: bool,
) -> Reply {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let checked = check(body);
    let hash: [u8; 32] = Sha256::digest(body).into();

    let mut state = sim.state();
    let state = &mut *state;
    *state
        .stats
        .requests_by_service
        .entry("SyncDocument".into())
        .or_default() += 1;
    if request_id.is_none() {
        state.stats.violations.missing_request_id += 1;
    }
    let token_ok =
        matches!(state.tokens.get(token), Some(until) if *until > tokio::time::Instant::now());
    if !token_ok {
        state.stats.unauthorized += 1;
        return Reply::Xml(
            StatusCode::UNAUTHORIZED,
            mresult(0, "Access token không hợp lệ hoặc đã hết hạn"),
        );
    }
    if temporary {
        return Reply::Xml(
            StatusCode::SERVICE_UNAVAILABLE,
            mresult(0, "Hệ thống đang bận, vui lòng thử lại sau"),
        );
    }
    if let Some(id) = &request_id {
        if let Some(seen) = state.requests_by_id.get(id) {
            if seen.body_hash != hash {
                state.stats.violations.id_reused_with_different_body += 1;
            } else if let Some(answer) = &seen.answer {
                state.stats.duplicates_absorbed += 1;
                return Reply::Xml(StatusCode::OK, answer.clone());
            }
        }
        if state
            .first_id_by_body
            .get(&hash)
            .is_some_and(|first| first != id)
        {
            state.stats.violations.same_body_under_two_ids += 1;
        }
    }
    let (doc_code, status) = match checked {
        Ok(ok) => ok,
        Err(rule) => {
            *state
                .stats
                .items_rejected
                .entry("SyncDocument".into())
                .or_default() += 1;
            return Reply::Xml(StatusCode::OK, mresult(0, &rule));
        }
    };
    state.seq += 1;
    let seq = state.seq;
    state
        .documents
        .entry(doc_code)
        .or_default()
        .push(SyncedDocument {
            request_id: request_id.clone(),
            status,
            seq,
        });
    *state
        .stats
        .items_applied
        .entry("SyncDocument".into())
        .or_default() += 1;
    let answer = mresult(1, "Đồng bộ hồ sơ thành công");
    if let Some(id) = request_id {
        remember(state, sim.settings().request_id_capacity, id, hash, &answer);
    }
    Reply::Xml(StatusCode::OK, answer)
}

fn remember(state: &mut State, capacity: usize, id: String, hash: [u8; 32], answer: &Bytes) {
    super::dvcqg::remember(
        state,
        capacity,
        id,
        RememberedRequest {
            body_hash: hash,
            answer: Some(answer.clone()),
        },
    );
}

fn mresult(status: u8, message: &str) -> Bytes {
    let escaped = quick_xml::escape::escape(message);
    Bytes::from(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MResult>\n  <Status>{status}</Status>\n  <Message>{escaped}</Message>\n</MResult>\n"
    ))
}

/// `(DocCode, Status)` of a valid document, or the rule it broke.
fn check(body: &[u8]) -> Result<(String, String), String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut last_index = 0usize;
    let mut fee_parts: Vec<String> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML không hợp lệ: {e}"))?;
        match event {
            Event::DocType(_) => return Err("Không chấp nhận DOCTYPE".into()),
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match path.len() {
                    0 if name != "MSyncDocument" => {
                        return Err(format!(
                            "Phần tử gốc phải là MSyncDocument, không phải {name}"
                        ))
                    }
                    1 => {
                        let Some(i) = ORDER.iter().position(|o| *o == name) else {
                            return Err(format!("Phần tử không xác định: {name}"));
                        };
                        if i < last_index {
                            return Err(format!("Phần tử {name} sai thứ tự"));
                        }
                        last_index = i;
                        fields.push((name.clone(), String::new()));
                    }
                    3 => fee_parts.push(name.clone()),
                    _ => {}
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                return Err(format!(
                    "Phần tử {name} rỗng: phần tử không có giá trị phải bỏ đi"
                ));
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| format!("XML không hợp lệ: {e}"))?;
                if path.len() == 2 {
                    if let Some(last) = fields.last_mut() {
                        last.1.push_str(&text);
                    }
                }
            }
            Event::End(_) => {
                if path.len() == 3 && path[1] == "DocFees" {
                    let mut parts = std::mem::take(&mut fee_parts);
                    parts.sort();
                    if parts != ["FeeName", "FeeType", "Price"] {
                        return Err("DocFee phải có FeeName, FeeType và Price".into());
                    }
                }
                if path.len() == 2 && path[1] != "DocFees" {
                    if let Some((name, value)) = fields.last() {
                        if value.trim().is_empty() {
                            return Err(format!(
                                "Phần tử {name} rỗng: phần tử không có giá trị phải bỏ đi"
                            ));
                        }
                    }
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let get = |n: &str| {
        fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.trim().to_string())
    };
    let doc_code = get("DocCode").ok_or("Thiếu DocCode")?;
    let status = get("Status").ok_or("Thiếu Status")?;
    if !(1..=10).contains(&status.parse::<u8>().unwrap_or(0)) {
        return Err(format!("Status {status} không thuộc 1..10"));
    }
    if get("DateReceived").is_none() && status != "1" && status != "7" {
        return Err(format!("Thiếu DateReceived với Status {status}"));
    }
    for d in DATES {
        if let Some(v) = get(d) {
            if v.len() != 14 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{d} \"{v}\" không đúng định dạng yyyyMMddHHmmss"));
            }
        }
    }
    for (flag, true_when) in [
        ("IsSuccess", &["9", "10"][..]),
        ("IsReturned", &["10"][..]),
        ("HasSupplementary", &[][..]),
    ] {
        if let Some(v) = get(flag) {
            let expected = true_when.contains(&status.as_str());
            match v.as_str() {
                "true" | "false" if flag == "HasSupplementary" => {}
                "true" | "false" if (v == "true") == expected => {}
                "true" | "false" => {
                    return Err(format!("{flag} = {v} không khớp với Status {status}"))
                }
                _ => return Err(format!("{flag} \"{v}\" phải là true hoặc false")),
            }
        }
    }
    Ok((doc_code, status))
}

#[cfg(test)]
mod tests {
    use super::check;

    const GOOD: &str = "<?xml version=\"1.0\"?><MSyncDocument><DocCode>A-1</DocCode>\
        <DateReceived>20261029081200</DateReceived><Status>4</Status><IsSuccess>false</IsSuccess>\
        <IsReturned>false</IsReturned><DocFees><DocFee><FeeName>Lệ phí &amp; phí</FeeName>\
        <FeeType>1</FeeType><Price>50000</Price></DocFee></DocFees></MSyncDocument>";

    #[test]
    fn a_valid_document_passes() {
        assert_eq!(check(GOOD.as_bytes()), Ok(("A-1".into(), "4".into())));
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases = [
            (GOOD.replace("<Status>4</Status>", ""), "Thiếu Status"),
            (
                GOOD.replace("<DateReceived>20261029081200</DateReceived>", ""),
                "Thiếu DateReceived",
            ),
            (
                GOOD.replace("<IsSuccess>false", "<IsSuccess>true"),
                "IsSuccess",
            ),
            (GOOD.replace("20261029081200", "2026-10-29"), "DateReceived"),
            (
                GOOD.replace(
                    "<DocCode>A-1</DocCode>",
                    "<Note>x</Note><DocCode>A-1</DocCode>",
                ),
                "sai thứ tự",
            ),
            (
                GOOD.replace(
                    "<IsReturned>false</IsReturned>",
                    "<IsReturned></IsReturned>",
                ),
                "rỗng",
            ),
            (
                GOOD.replace("<IsReturned>false</IsReturned>", "<Email/>"),
                "rỗng",
            ),
            (GOOD.replace("<Price>50000</Price>", ""), "DocFee"),
            (GOOD.replace("MSyncDocument>", "Doc>"), "MSyncDocument"),
            (format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{GOOD}"), "DOCTYPE"),
        ];
        for (doc, expected) in cases {
            let err = check(doc.as_bytes()).expect_err(&doc);
            assert!(err.contains(expected), "{doc}: {err}");
        }
    }
}
