//! What the portal's answer means. [`classify`] is the one place that turns an HTTP answer
//! (status, `Retry-After`, body) into a verdict for the batch or for each of its items,
//! including "HTTP 200 with an error inside". It is pure: no I/O and no clock (the caller
//! passes `now` for `Retry-After` dates), so every case is a unit test.
//!
//! Order of decision: configured envelope rules, then the HTTP status, then the envelope's
//! `error_code` and `result`; for each result item, configured item rules, then the item's
//! `error_code`, then its message text. Reasons carry the peer's code and message only, never
//! the request body.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::peer::classify::{
    first_rule, fold, item_outcome, parse_retry_after, whole_batch, Classified, ClassifyRule,
    ClassifyScope, Facts,
};
use crate::peer::ItemVerdict;

/// Decides what an answer means for a batch of `sent_items` items.
///
/// `rules` (from config) are tried before the built-in defaults of the spec.
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    sent_items: usize,
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Classified {
    let envelope = match open_envelope(status, retry_after, body, sent_items, rules, now) {
        Ok(envelope) => envelope,
        Err(decided) => return decided,
    };
    let items = match envelope.result {
        Ok(items) => items,
        Err(reason) => {
            return Classified::Retry {
                reason,
                after: envelope.after,
            }
        }
    };
    if items.is_empty() {
        return match envelope.code {
            Some(0) if sent_items == 0 => Classified::Items(Vec::new()),
            Some(0) => Classified::Retry {
                reason: format!(
                    "peer answered success ({}) but no result items for {sent_items} sent",
                    describe(envelope.code, &envelope.message)
                ),
                after: envelope.after,
            },
            code => envelope_default(code, &envelope.message, envelope.after),
        };
    }
    if items.len() != sent_items {
        return Classified::Retry {
            reason: format!(
                "peer answered {} result items for {sent_items} sent ({})",
                items.len(),
                describe(envelope.code, &envelope.message)
            ),
            after: envelope.after,
        };
    }
    Classified::Items(
        items
            .iter()
            .map(|item| classify_item(status, item, rules))
            .collect(),
    )
}

/// Reads the answer to a `TraCuuHoSo` lookup: `Ok(None)` when the portal does not know the
/// dossier, `Ok(Some(item))` when it does, `Err` with what to do otherwise.
pub fn classify_lookup(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Result<Option<Value>, Classified> {
    let (envelope, items) = read_items(status, retry_after, body, rules, now)?;
    match envelope.code {
        Some(0) => Ok(items.into_iter().next()),
        code if items.is_empty() => Err(envelope_default(code, &envelope.message, envelope.after)),
        // A failure code next to a result: trust the result only if it is the dossier itself.
        _ => Ok(items.into_iter().next()),
    }
}

/// Reads the answer to a catalog read (`POST /share`): the `result` items when the envelope
/// says success (an empty list included), `Err` with what to do otherwise.
pub fn classify_read(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Result<Vec<Value>, Classified> {
    let (envelope, items) = read_items(status, retry_after, body, rules, now)?;
    match envelope.code {
        Some(0) => Ok(items),
        code => Err(envelope_default(code, &envelope.message, envelope.after)),
    }
}

/// A read's envelope (its `result` taken out) and its items; a `result` that cannot be read
/// is temporary. Shared by the lookup and the catalog reads.
fn read_items(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Result<(Envelope, Vec<Value>), Classified> {
    let mut envelope = open_envelope(status, retry_after, body, 1, rules, now)?;
    let result = std::mem::replace(&mut envelope.result, Ok(Vec::new()));
    let items = result.map_err(|reason| Classified::Retry {
        reason,
        after: envelope.after,
    })?;
    Ok((envelope, items))
}

/// A readable JSON envelope that no configured envelope rule claimed.
struct Envelope {
    code: Option<i64>,
    message: String,
    /// The `result` items, or why they cannot be read.
    result: Result<Vec<Value>, String>,
    after: Option<Duration>,
}

/// Applies envelope rules, the HTTP status and the body's readability; what is left is an
/// envelope whose codes decide.
fn open_envelope(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    sent_items: usize,
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Result<Envelope, Classified> {
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    let parsed: Result<Value, serde_json::Error> = serde_json::from_slice(body);
    let (code, message) = match &parsed {
        Ok(v) => (code_of(v.get("error_code")), message_of(v)),
        // Rules may still match text in a non-JSON answer (an HTML error page, say).
        Err(_) => (None, String::from_utf8_lossy(body).into_owned()),
    };
    let facts = Facts {
        status,
        code,
        message: &message,
    };
    if let Some((index, rule)) = first_rule(rules, ClassifyScope::Envelope, &facts) {
        let reason = format!(
            "classify rule {index} ({:?}): HTTP {status}, {}",
            rule.outcome,
            describe(code, short(&message))
        );
        return Err(whole_batch(rule.outcome, reason, after, sent_items));
    }
    if !(200..300).contains(&status) {
        return Err(http_default(status, after));
    }
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            return Err(Classified::Retry {
                reason: format!(
                    "HTTP {status} with an unreadable body ({} bytes): {e}",
                    body.len()
                ),
                after,
            })
        }
    };
    let Value::Object(mut object) = value else {
        return Err(Classified::Retry {
            reason: format!("HTTP {status} with a body that is not a JSON object"),
            after,
        });
    };
    let result = match object.remove("result") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!(
            "peer's \"result\" is not a list ({})",
            describe(code, &message)
        )),
    };
    Ok(Envelope {
        code,
        message,
        result,
        after,
    })
}

/// The spec's meaning of an envelope `error_code` ≠ 0 with no result items.
fn envelope_default(code: Option<i64>, message: &str, after: Option<Duration>) -> Classified {
    let reason = describe(code, message);
    match code {
        Some(-2) => Classified::Reauth { reason },
        Some(-1) => Classified::Paused { reason },
        Some(2) => Classified::Reject { reason },
        Some(9) => Classified::Retry { reason, after },
        Some(_) => Classified::Retry {
            reason: format!("unknown envelope code, {reason}"),
            after,
        },
        None => Classified::Retry {
            reason: format!("answer without a usable error_code, {reason}"),
            after,
        },
    }
}

/// The spec's meaning of a non-2xx HTTP status.
fn http_default(status: u16, after: Option<Duration>) -> Classified {
    match status {
        401 => Classified::Reauth {
            reason: "HTTP 401 Unauthorized".into(),
        },
        429 => Classified::Retry {
            reason: "HTTP 429 Too Many Requests".into(),
            after,
        },
        503 => Classified::Retry {
            reason: "HTTP 503 Service Unavailable".into(),
            after,
        },
        500..=599 => Classified::Retry {
            reason: format!("HTTP {status} (server error)"),
            after,
        },
        // Anything else without an envelope is unexpected; keep the batch and let back-off and
        // the attempt limit decide rather than dead-letter on a misrouted gateway.
        _ => Classified::Retry {
            reason: format!("unexpected HTTP {status}"),
            after,
        },
    }
}

fn classify_item(status: u16, item: &Value, rules: &[ClassifyRule]) -> ItemVerdict {
    if !item.is_object() {
        return ItemVerdict::Retry {
            reason: "result item is not a JSON object".into(),
        };
    }
    let code = code_of(item.get("error_code"));
    let message = message_of(item);
    let facts = Facts {
        status,
        code,
        message: &message,
    };
    let reason = describe(code, &message);
    if let Some((_, rule)) = first_rule(rules, ClassifyScope::Item, &facts) {
        if let Some(verdict) = item_outcome(rule.outcome, reason.clone()) {
            return verdict;
        }
    }
    match code {
        Some(0) => ItemVerdict::Delivered,
        Some(2) | Some(5) => ItemVerdict::Reject { reason },
        Some(3) => ItemVerdict::AlreadyExists { reason },
        Some(4) => ItemVerdict::NotFound { reason },
        Some(9) => ItemVerdict::Retry { reason },
        _ => by_message_text(&message, reason),
    }
}

/// Real adapters signal item outcomes by message text; used when an item has no usable code.
fn by_message_text(message: &str, reason: String) -> ItemVerdict {
    let text = fold(message);
    // Negative phrases first: "không thành công" contains "thành công".
    if text.contains("không tồn tại") {
        ItemVerdict::NotFound { reason }
    } else if text.contains("đã tồn tại") {
        ItemVerdict::AlreadyExists { reason }
    } else if text.contains("không thành công") || text.contains("thất bại") {
        ItemVerdict::Retry { reason }
    } else if text.contains("thành công") {
        ItemVerdict::Delivered
    } else {
        ItemVerdict::Retry {
            reason: format!("item without a usable error_code, {reason}"),
        }
    }
}

/// `error_code` as an integer, whether it came as a number or a string (`"00"` = 0).
fn code_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

fn message_of(value: &Value) -> String {
    value
        .get("message")
        .or_else(|| value.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `error_code 3: Hồ sơ đã tồn tại`, for reasons.
fn describe(code: Option<i64>, message: &str) -> String {
    let message = message.trim();
    match (code, message.is_empty()) {
        (Some(c), false) => format!("error_code {c}: {message}"),
        (Some(c), true) => format!("error_code {c}"),
        (None, false) => format!("no error_code: {message}"),
        (None, true) => "no error_code, no message".into(),
    }
}

/// At most 200 characters of a non-JSON body, for a reason.
fn short(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::classify::ClassifyOutcome;
    use crate::peer::BatchVerdict;
    use serde_json::json;
    use unicode_normalization::UnicodeNormalization;

    fn now() -> SystemTime {
        // 2026-11-22 02:00:00 UTC
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_312_800)
    }

    fn run(status: u16, body: Value, sent: usize) -> Classified {
        classify(status, None, body.to_string().as_bytes(), sent, &[], now())
    }

    fn items(codes: &[Value]) -> Value {
        let result: Vec<Value> = codes
            .iter()
            .map(|c| json!({"MaHoSo": "X", "error_code": c, "message": "m"}))
            .collect();
        json!({"error_code": 0, "message": "ok", "result": result})
    }

    fn rule(scope: ClassifyScope, outcome: ClassifyOutcome) -> ClassifyRule {
        ClassifyRule {
            scope,
            error_code: None,
            http_status: None,
            message_contains: None,
            outcome,
        }
    }

    #[test]
    fn envelope_success_codes_as_number_or_string() {
        for code in [json!(0), json!("0"), json!("00")] {
            let body = json!({"error_code": code, "message": "Thành công",
                "result": [{"error_code": code, "message": "Thành công"}]});
            assert_eq!(
                run(200, body, 1),
                Classified::Items(vec![ItemVerdict::Delivered]),
                "{code}"
            );
        }
    }

    #[test]
    fn item_codes_follow_the_spec() {
        let got = run(
            200,
            items(&[
                json!(0),
                json!(2),
                json!(3),
                json!("4"),
                json!(5),
                json!("09"),
            ]),
            6,
        );
        let Classified::Items(v) = got else {
            panic!("{got:?}")
        };
        assert_eq!(v[0], ItemVerdict::Delivered);
        assert!(matches!(&v[1], ItemVerdict::Reject { reason } if reason == "error_code 2: m"));
        assert!(matches!(v[2], ItemVerdict::AlreadyExists { .. }));
        assert!(matches!(v[3], ItemVerdict::NotFound { .. }));
        assert!(matches!(v[4], ItemVerdict::Reject { .. }));
        assert!(matches!(v[5], ItemVerdict::Retry { .. }));
    }

    #[test]
    fn invalid_item_reason_carries_the_peer_message() {
        let body = json!({"error_code": 0, "result": [
            {"error_code": 2, "message": "Trường NgayHenTra không đúng định dạng"}]});
        assert_eq!(
            run(200, body, 1),
            Classified::Items(vec![ItemVerdict::Reject {
                reason: "error_code 2: Trường NgayHenTra không đúng định dạng".into()
            }])
        );
    }

    #[test]
    fn items_without_a_code_are_read_by_message() {
        let body = json!({"error_code": 0, "result": [
            {"message": "Thành công"},
            {"error_code": null, "message": "Hồ sơ đã tồn tại"},
            {"error_code": "", "message": "Hồ sơ KHÔNG TỒN TẠI"},
            {"message": "Cập nhật không thành công"},
            {"message": "???"},
            {"error_code": 77, "message": "thành công"},
        ]});
        let Classified::Items(v) = run(200, body, 6) else {
            panic!()
        };
        assert_eq!(v[0], ItemVerdict::Delivered);
        assert!(matches!(v[1], ItemVerdict::AlreadyExists { .. }));
        assert!(matches!(v[2], ItemVerdict::NotFound { .. }));
        assert!(matches!(v[3], ItemVerdict::Retry { .. }));
        assert!(matches!(v[4], ItemVerdict::Retry { .. }));
        assert_eq!(v[5], ItemVerdict::Delivered);
    }

    #[test]
    fn message_text_matching_ignores_unicode_composition() {
        // "đã tồn tại" written decomposed (NFD).
        let nfd: String = "Hồ sơ đã tồn tại".nfd().collect();
        let body = json!({"error_code": 0, "result": [{"message": nfd}]});
        let Classified::Items(v) = run(200, body, 1) else {
            panic!()
        };
        assert!(matches!(v[0], ItemVerdict::AlreadyExists { .. }));
    }

    #[test]
    fn envelope_failures_without_items_apply_to_the_batch() {
        let with = |code: Value| run(200, json!({"error_code": code, "message": "msg"}), 3);
        assert!(matches!(with(json!(-2)), Classified::Reauth { .. }));
        assert!(matches!(with(json!("-1")), Classified::Paused { .. }));
        assert_eq!(
            with(json!(2)),
            Classified::Reject {
                reason: "error_code 2: msg".into()
            }
        );
        assert!(matches!(
            with(json!(9)),
            Classified::Retry { after: None, .. }
        ));
        assert!(
            matches!(with(json!(42)), Classified::Retry { reason, .. } if reason.contains("42"))
        );
        assert!(matches!(with(json!("abc")), Classified::Retry { .. }));
        assert!(matches!(
            run(200, json!({"message": "x"}), 1),
            Classified::Retry { .. }
        ));
    }

    #[test]
    fn session_expired_example_means_reauth() {
        let body =
            json!({"error_code": -2, "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn"});
        assert_eq!(
            run(200, body, 2),
            Classified::Reauth {
                reason: "error_code -2: Phiên làm việc không hợp lệ hoặc đã hết hạn".into()
            }
        );
    }

    #[test]
    fn envelope_failure_with_items_is_decided_per_item() {
        let body = json!({"error_code": 1, "message": "Có lỗi",
            "result": [{"error_code": 0}, {"error_code": 3, "message": "Hồ sơ đã tồn tại"}]});
        let Classified::Items(v) = run(200, body, 2) else {
            panic!()
        };
        assert_eq!(v[0], ItemVerdict::Delivered);
        assert!(matches!(v[1], ItemVerdict::AlreadyExists { .. }));
    }

    #[test]
    fn item_count_mismatch_retries_the_batch() {
        let got = run(200, items(&[json!(0), json!(0)]), 3);
        assert!(
            matches!(&got, Classified::Retry { reason, .. } if reason.contains("2 result items for 3 sent")),
            "{got:?}"
        );
        let got = run(
            200,
            json!({"error_code": 0, "message": "ok", "result": []}),
            2,
        );
        assert!(
            matches!(&got, Classified::Retry { reason, .. } if reason.contains("no result items")),
            "{got:?}"
        );
    }

    #[test]
    fn unreadable_success_body_retries() {
        for body in [
            &b"<html>oops</html>"[..],
            b"",
            b"[1,2]",
            b"{\"error_code\":0,\"result\":{}}",
        ] {
            let got = classify(200, None, body, 1, &[], now());
            assert!(matches!(got, Classified::Retry { .. }), "{got:?}");
        }
    }

    #[test]
    fn http_statuses() {
        let got = classify(429, Some("120"), b"", 1, &[], now());
        assert_eq!(
            got,
            Classified::Retry {
                reason: "HTTP 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(120))
            }
        );
        let got = classify(
            503,
            Some("Sun, 22 Nov 2026 02:01:30 GMT"),
            b"",
            1,
            &[],
            now(),
        );
        assert!(
            matches!(got, Classified::Retry { after: Some(d), .. } if d == Duration::from_secs(90)),
            "{got:?}"
        );
        for status in [500, 502, 504] {
            let got = classify(status, None, b"{\"error_code\":0}", 1, &[], now());
            assert!(
                matches!(got, Classified::Retry { after: None, .. }),
                "{got:?}"
            );
        }
        assert!(matches!(
            classify(401, None, b"", 1, &[], now()),
            Classified::Reauth { .. }
        ));
        assert!(matches!(
            classify(404, None, b"", 1, &[], now()),
            Classified::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(" 7 ", now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 02:00:10 GMT", now()),
            Some(Duration::from_secs(10))
        );
        // A date in the past: go now.
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 01:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(parse_retry_after("-5", now()), None);
    }

    #[test]
    fn item_rule_with_message_overrides_default() {
        let mut r = rule(ClassifyScope::Item, ClassifyOutcome::Retry);
        r.message_contains = Some("ĐANG BẢO TRÌ".into());
        let body = json!({"error_code": 0, "result": [
            {"error_code": 2, "message": "Hệ thống đang bảo trì"},
            {"error_code": 2, "message": "Trường X sai"}]});
        let got = classify(200, None, body.to_string().as_bytes(), 2, &[r], now());
        let Classified::Items(v) = got else { panic!() };
        assert!(matches!(v[0], ItemVerdict::Retry { .. }), "{v:?}");
        assert!(matches!(v[1], ItemVerdict::Reject { .. }), "{v:?}");
    }

    #[test]
    fn rule_error_code_is_compared_as_integer_and_all_conditions_must_hold() {
        let mut r = rule(ClassifyScope::Item, ClassifyOutcome::Delivered);
        r.error_code = Some(7);
        r.message_contains = Some("đã xử lý".into());
        let body = json!({"error_code": 0, "result": [
            {"error_code": "007", "message": "Đã xử lý trước đó"},
            {"error_code": 7, "message": "khác"}]});
        let Classified::Items(v) = classify(200, None, body.to_string().as_bytes(), 2, &[r], now())
        else {
            panic!()
        };
        assert_eq!(v[0], ItemVerdict::Delivered);
        assert!(matches!(v[1], ItemVerdict::Retry { .. }));
    }

    #[test]
    fn envelope_rules_come_before_http_and_envelope_defaults() {
        let mut pause = rule(ClassifyScope::Envelope, ClassifyOutcome::Pause);
        pause.http_status = Some(403);
        assert!(matches!(
            classify(403, None, b"forbidden", 1, &[pause], now()),
            Classified::Paused { .. }
        ));

        let mut retry = rule(ClassifyScope::Envelope, ClassifyOutcome::Retry);
        retry.error_code = Some(2);
        retry.message_contains = Some("quá tải".into());
        let body = json!({"error_code": "02", "message": "Hệ thống quá tải"});
        assert!(matches!(
            classify(200, Some("5"), body.to_string().as_bytes(), 1, &[retry.clone()], now()),
            Classified::Retry { after: Some(d), .. } if d == Duration::from_secs(5)
        ));
        // Without the message the default (2 = reject) holds.
        let body = json!({"error_code": 2, "message": "Sai cú pháp"});
        assert!(matches!(
            classify(200, None, body.to_string().as_bytes(), 1, &[retry], now()),
            Classified::Reject { .. }
        ));

        let mut done = rule(ClassifyScope::Envelope, ClassifyOutcome::Delivered);
        done.error_code = Some(1);
        let body = json!({"error_code": 1, "message": "Đã nhận"});
        assert_eq!(
            classify(200, None, body.to_string().as_bytes(), 3, &[done], now()),
            Classified::Items(vec![ItemVerdict::Delivered; 3])
        );
    }

    #[test]
    fn rule_without_condition_never_matches_and_item_rules_cannot_pause() {
        let empty = rule(ClassifyScope::Item, ClassifyOutcome::Reject);
        let mut pause = rule(ClassifyScope::Item, ClassifyOutcome::Pause);
        pause.error_code = Some(0);
        let got = classify(
            200,
            None,
            items(&[json!(0)]).to_string().as_bytes(),
            1,
            &[empty, pause],
            now(),
        );
        assert_eq!(got, Classified::Items(vec![ItemVerdict::Delivered]));
    }

    #[test]
    fn partial_example_from_the_spec() {
        let body = r#"{"error_code": 0, "message": "Đồng bộ hoàn tất: 1 hồ sơ thành công, 1 hồ sơ lỗi",
          "result": [{"MaHoSo": "a", "error_code": 0, "message": "Thành công"},
                     {"MaHoSo": "b", "error_code": 3, "message": "Hồ sơ đã tồn tại"}]}"#;
        assert_eq!(
            classify(200, None, body.as_bytes(), 2, &[], now()),
            Classified::Items(vec![
                ItemVerdict::Delivered,
                ItemVerdict::AlreadyExists {
                    reason: "error_code 3: Hồ sơ đã tồn tại".into()
                }
            ])
        );
    }

    #[test]
    fn lookup_answers() {
        let known = json!({"error_code": 0, "result": [{"MaHoSo": "a", "TrangThaiHoSo": "9"}]});
        assert_eq!(
            classify_lookup(200, None, known.to_string().as_bytes(), &[], now()),
            Ok(Some(json!({"MaHoSo": "a", "TrangThaiHoSo": "9"})))
        );
        let unknown = json!({"error_code": "0", "result": []});
        assert_eq!(
            classify_lookup(200, None, unknown.to_string().as_bytes(), &[], now()),
            Ok(None)
        );
        let expired = json!({"error_code": -2, "message": "hết hạn"});
        assert!(matches!(
            classify_lookup(200, None, expired.to_string().as_bytes(), &[], now()),
            Err(Classified::Reauth { .. })
        ));
        assert!(matches!(
            classify_lookup(502, None, b"", &[], now()),
            Err(Classified::Retry { .. })
        ));
    }

    #[test]
    fn into_verdict_turns_a_second_reauth_into_retry() {
        let v = Classified::Reauth {
            reason: "error_code -2: x".into(),
        }
        .into_verdict();
        assert!(matches!(v, BatchVerdict::Retry { after: None, .. }));
    }
}
