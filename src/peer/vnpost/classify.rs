//! What VNPost's answers mean (vnpost.md). Pure: no I/O and no clock (the caller passes `now`
//! for `Retry-After` dates), so every case is a unit test.
//!
//! An answer is `{"Status": "...", "Message": "..."}`. A request carries one order (or one
//! cancel), so a success is one delivered item. The configured `[[peers.vnpost.classify]]`
//! rules are tried first (envelope scope, then item scope), with `error_code` matching `Status`.
//!
//! Reasons never quote `Message`: VNPost may echo the rejected value, which can be a citizen's
//! name, phone or address. A reason holds the HTTP status, the `Status` code and the `MOrder`
//! field names the message mentions, nothing else of it.

use std::time::SystemTime;

use serde_json::Value;

use crate::mapping::target::M_ORDER;
use crate::peer::classify::{
    first_rule, item_outcome, parse_retry_after, whole_batch, Classified, ClassifyRule,
    ClassifyScope, Facts,
};
use crate::peer::ItemVerdict;

use super::{OP_CANCEL, OP_ORDER};

/// `Status` and `Message` of an answer body, when it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The `Status` code as text (`"100"`); a number is read as its digits.
    pub status: String,
    /// The `Message` (empty when missing). May hold personal data: match on it, never show it.
    pub message: String,
}

impl Envelope {
    /// Reads `{"Status", "Message"}` from `body`; `None` when there is no usable `Status`.
    pub fn read(body: &[u8]) -> Option<Envelope> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let status = match value.get("Status")? {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        if status.is_empty() {
            return None;
        }
        let message = value
            .get("Message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some(Envelope { status, message })
    }

    /// The status as a number, for `error_code` rules.
    fn code(&self) -> Option<i64> {
        self.status.parse().ok()
    }

    /// The status for a reason: a short code as sent; anything else is not shown.
    fn shown(&self) -> String {
        if self.status.len() <= 8 && self.status.bytes().all(|b| b.is_ascii_alphanumeric()) {
            format!("Status {}", self.status)
        } else {
            "a Status the contract does not define".to_string()
        }
    }
}

/// What became of a cancel, as far as the answer says. The outbox sees a cancel that came too
/// late as done (nothing more can be sent), so this is how a caller tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// `"100"`: the order is cancelled.
    Cancelled,
    /// `"103"`: the postman already collected or delivered: the order stands.
    TooLate,
    /// Any other answer: nothing was cancelled (the verdict says whether to try again).
    NotDone,
}

/// Reads the outcome of a cancel from its answer.
pub fn cancel_outcome(status: u16, body: &[u8]) -> CancelOutcome {
    if !(200..300).contains(&status) {
        return CancelOutcome::NotDone;
    }
    match Envelope::read(body).as_ref().map(|e| e.status.as_str()) {
        Some("100") => CancelOutcome::Cancelled,
        Some("103") => CancelOutcome::TooLate,
        _ => CancelOutcome::NotDone,
    }
}

/// Decides what an answer to one order (`postal_order`) or cancel (`postal_cancel`) means.
///
/// - 2xx with `Status` `"100"`: done (created, or cancelled);
/// - `"101"` on an order: an order with this number and type exists; the earlier one stands:
///   done;
/// - `"103"` on a cancel: too late to cancel (already collected or delivered): done as far as
///   the outbox goes (see [`cancel_outcome`] to tell it from a cancel);
/// - `"102"`: invalid, permanent: rejected, naming the fields the message mentions;
/// - `"500"`, or a 2xx without a readable `Status` or with one the contract does not define
///   for the operation: try again later (a repeated order is answered `"101"`);
/// - HTTP 401: the token was refused: [`Classified::Reauth`] (the peer gets a new token and
///   repeats once; refused again, it pauses);
/// - 408, 429 and every 5xx (with `Retry-After` when given), 1xx and 3xx: try again later;
/// - any other 4xx: rejected.
pub fn classify(
    operation: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Classified {
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    let envelope = Envelope::read(body);
    let facts = Facts {
        status,
        code: envelope.as_ref().and_then(Envelope::code),
        message: envelope.as_ref().map_or("", |e| e.message.as_str()),
    };
    for scope in [ClassifyScope::Envelope, ClassifyScope::Item] {
        if let Some((index, rule)) = first_rule(rules, scope, &facts) {
            let reason = format!(
                "classify rule {index} ({:?}): {}",
                rule.outcome,
                answer_line(status, envelope.as_ref())
            );
            return match (scope, item_outcome(rule.outcome, reason.clone())) {
                (ClassifyScope::Item, Some(verdict)) => Classified::Items(vec![verdict]),
                _ => whole_batch(rule.outcome, reason, after, 1),
            };
        }
    }
    match status {
        200..=299 => by_status(operation, status, envelope.as_ref(), after),
        401 => Classified::Reauth {
            reason: "HTTP 401 Unauthorized: the token was refused".into(),
        },
        408 | 429 | 500..=599 => Classified::Retry {
            reason: answer_line(status, envelope.as_ref()),
            after,
        },
        400..=499 => Classified::Reject {
            reason: with_fields(
                answer_line(status, envelope.as_ref()),
                envelope.as_ref(),
                operation,
            ),
        },
        _ => Classified::Retry {
            reason: format!(
                "{} (not an answer the contract defines; redirects are not followed)",
                status_line(status)
            ),
            after,
        },
    }
}

/// What an answer to a tracking read means: `Ok` for a 2xx (the page is read next), else what
/// the reader should do: [`Classified::Reauth`] for a 401, `Retry` for 408, 429, 5xx, 1xx and
/// 3xx, `Reject` for another 4xx. The configured rules are about deliveries and are not applied.
pub fn classify_read(
    status: u16,
    retry_after: Option<&str>,
    now: SystemTime,
) -> Result<(), Classified> {
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    match status {
        200..=299 => Ok(()),
        401 => Err(Classified::Reauth {
            reason: "HTTP 401 Unauthorized: the token was refused".into(),
        }),
        408 | 429 | 500..=599 => Err(Classified::Retry {
            reason: status_line(status),
            after,
        }),
        400..=499 => Err(Classified::Reject {
            reason: status_line(status),
        }),
        _ => Err(Classified::Retry {
            reason: status_line(status),
            after,
        }),
    }
}

/// A 2xx answer, read by its `Status`.
fn by_status(
    operation: &str,
    http: u16,
    envelope: Option<&Envelope>,
    after: Option<std::time::Duration>,
) -> Classified {
    let delivered = || Classified::Items(vec![ItemVerdict::Delivered]);
    let Some(envelope) = envelope else {
        return Classified::Retry {
            reason: format!("{} without a readable Status", status_line(http)),
            after,
        };
    };
    match (envelope.status.as_str(), operation) {
        ("100", _) | ("101", OP_ORDER) | ("103", OP_CANCEL) => delivered(),
        ("102", _) => Classified::Reject {
            reason: with_fields(
                format!("VNPost Status 102 (invalid {})", what(operation)),
                Some(envelope),
                operation,
            ),
        },
        ("500", _) => Classified::Retry {
            reason: "VNPost Status 500 (temporary error)".into(),
            after,
        },
        _ => Classified::Retry {
            reason: format!(
                "VNPost answered {} to {} (not one the contract defines for it)",
                envelope.shown(),
                what(operation)
            ),
            after,
        },
    }
}

fn what(operation: &str) -> &'static str {
    match operation {
        OP_ORDER => "order",
        OP_CANCEL => "cancel",
        _ => "request",
    }
}

/// `HTTP 503 Service Unavailable`, with the envelope's status when there is one.
fn answer_line(status: u16, envelope: Option<&Envelope>) -> String {
    match envelope {
        Some(e) => format!("{}, {}", status_line(status), e.shown()),
        None => status_line(status),
    }
}

fn status_line(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// `head` followed by the fields the message names, or a note that it names none (the message
/// itself is withheld).
fn with_fields(head: String, envelope: Option<&Envelope>, operation: &str) -> String {
    let Some(envelope) = envelope else {
        return head;
    };
    let fields = fields_named(&envelope.message);
    match fields.as_slice() {
        [] if envelope.message.trim().is_empty() => format!("{head}: no message"),
        [] => format!(
            "{head}: the message names no {} field (its text is withheld: it may hold personal data)",
            if operation == OP_CANCEL { "cancel" } else { "MOrder" }
        ),
        [one] => format!("{head}: field {one}"),
        many => format!("{head}: fields {}", many.join(", ")),
    }
}

/// The `MOrder` field names (which include the cancel's parameters) `message` mentions as
/// whole words, case-insensitively, in the contract's order.
pub fn fields_named(message: &str) -> Vec<&'static str> {
    let words: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    M_ORDER
        .iter()
        .map(|f| f.name)
        .filter(|name| words.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::classify::{ClassifyOutcome, ClassifyRule};
    use std::time::Duration;

    fn now() -> SystemTime {
        // 2026-11-22 02:00:00 UTC
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_312_800)
    }

    fn answer(status: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"Status": status, "Message": message})
            .to_string()
            .into_bytes()
    }

    fn run(operation: &str, http: u16, body: &[u8]) -> Classified {
        classify(operation, http, None, body, &[], now())
    }

    fn delivered() -> Classified {
        Classified::Items(vec![ItemVerdict::Delivered])
    }

    #[test]
    fn created_and_already_existing_orders_are_delivered() {
        let created = answer("100", "Tạo đơn hàng thành công");
        assert_eq!(run(OP_ORDER, 200, &created), delivered());
        // Laid out as VNPost lays it out.
        let spaced = "{\n  \"Status\": \"100\",\n  \"Message\": \"Tạo đơn hàng thành công\"\n}";
        assert_eq!(run(OP_ORDER, 200, spaced.as_bytes()), delivered());
        assert_eq!(
            run(OP_ORDER, 200, &answer("101", "Đơn hàng đã tồn tại")),
            delivered()
        );
        // A numeric Status reads the same.
        assert_eq!(run(OP_ORDER, 200, br#"{"Status": 101}"#), delivered());
    }

    #[test]
    fn an_invalid_order_is_rejected_naming_the_field_without_personal_data() {
        let body = answer(
            "102",
            "Số điện thoại người nhận không hợp lệ (ReceiverTel): 0912 345 678 của Nguyễn Thị Hoa, Thôn Đông",
        );
        let got = run(OP_ORDER, 200, &body);
        assert_eq!(
            got,
            Classified::Reject {
                reason: "VNPost Status 102 (invalid order): field ReceiverTel".into()
            }
        );
        let Classified::Reject { reason } = got else {
            unreachable!()
        };
        for personal in ["0912", "345", "Nguyễn", "Hoa", "Thôn", "Đông"] {
            assert!(!reason.contains(personal), "{reason}");
        }
        // Several fields, any case, in the contract's order; a field name inside a word is not one.
        assert_eq!(
            run(
                OP_ORDER,
                200,
                &answer("102", "receiveraddress trống; SenderTel sai; XSenderName")
            ),
            Classified::Reject {
                reason: "VNPost Status 102 (invalid order): fields SenderTel, ReceiverAddress"
                    .into()
            }
        );
        assert_eq!(
            run(OP_ORDER, 200, &answer("102", "Dữ liệu không hợp lệ: Trần Văn B")),
            Classified::Reject {
                reason: "VNPost Status 102 (invalid order): the message names no MOrder field (its text is withheld: it may hold personal data)".into()
            }
        );
        assert_eq!(
            run(OP_CANCEL, 200, &answer("102", "")),
            Classified::Reject {
                reason: "VNPost Status 102 (invalid cancel): no message".into()
            }
        );
        assert_eq!(
            run(OP_CANCEL, 200, &answer("102", "OrderNumber không tồn tại")),
            Classified::Reject {
                reason: "VNPost Status 102 (invalid cancel): field OrderNumber".into()
            }
        );
    }

    #[test]
    fn temporary_answers_retry_with_retry_after() {
        assert_eq!(
            run(OP_ORDER, 200, &answer("500", "Lỗi hệ thống")),
            Classified::Retry {
                reason: "VNPost Status 500 (temporary error)".into(),
                after: None
            }
        );
        assert_eq!(
            classify(OP_ORDER, 200, Some("30"), &answer("500", ""), &[], now()),
            Classified::Retry {
                reason: "VNPost Status 500 (temporary error)".into(),
                after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(
            classify(OP_ORDER, 429, Some("120"), b"", &[], now()),
            Classified::Retry {
                reason: "HTTP 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(120))
            }
        );
        assert_eq!(
            classify(
                OP_CANCEL,
                503,
                Some("Sun, 22 Nov 2026 02:01:30 GMT"),
                b"down",
                &[],
                now()
            ),
            Classified::Retry {
                reason: "HTTP 503 Service Unavailable".into(),
                after: Some(Duration::from_secs(90))
            }
        );
        for status in [408, 500, 502, 504, 599] {
            assert!(
                matches!(
                    run(OP_ORDER, status, b"oops"),
                    Classified::Retry { after: None, .. }
                ),
                "{status}"
            );
        }
        assert!(matches!(
            classify(OP_ORDER, 503, Some("soon"), b"", &[], now()),
            Classified::Retry { after: None, .. }
        ));
        // A success without a readable Status, or with one not defined for the operation.
        let unreadable: [&[u8]; 4] = [
            b"",
            b"<html>",
            br#"{"Message": "ok"}"#,
            br#"{"Status": ""}"#,
        ];
        for body in unreadable {
            assert!(
                matches!(run(OP_ORDER, 200, body), Classified::Retry { .. }),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            run(OP_ORDER, 200, &answer("103", "")),
            Classified::Retry {
                reason: "VNPost answered Status 103 to order (not one the contract defines for it)"
                    .into(),
                after: None
            }
        );
        assert!(matches!(
            run(OP_CANCEL, 200, &answer("101", "")),
            Classified::Retry { .. }
        ));
        let odd = run(OP_ORDER, 200, &answer("0912345678 Hoa", ""));
        assert!(
            matches!(&odd, Classified::Retry { reason, .. } if !reason.contains("0912") && reason.contains("a Status the contract does not define")),
            "{odd:?}"
        );
        for status in [100, 301, 302, 307] {
            assert!(
                matches!(run(OP_ORDER, status, b""), Classified::Retry { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn cancels_done_or_too_late_are_final_and_told_apart() {
        let cancelled = answer("100", "Hủy đơn hàng thành công");
        let too_late = answer("103", "Không thể hủy: bưu tá đã thu gom");
        assert_eq!(run(OP_CANCEL, 200, &cancelled), delivered());
        assert_eq!(run(OP_CANCEL, 200, &too_late), delivered());
        assert_eq!(cancel_outcome(200, &cancelled), CancelOutcome::Cancelled);
        assert_eq!(cancel_outcome(200, &too_late), CancelOutcome::TooLate);
        assert_eq!(
            cancel_outcome(200, &answer("500", "")),
            CancelOutcome::NotDone
        );
        assert_eq!(cancel_outcome(503, &too_late), CancelOutcome::NotDone);
        assert_eq!(cancel_outcome(200, b"not json"), CancelOutcome::NotDone);
    }

    #[test]
    fn unauthorized_asks_for_a_new_token_and_other_client_errors_reject() {
        assert_eq!(
            run(OP_ORDER, 401, b""),
            Classified::Reauth {
                reason: "HTTP 401 Unauthorized: the token was refused".into()
            }
        );
        assert_eq!(
            run(OP_ORDER, 404, b"no such path"),
            Classified::Reject {
                reason: "HTTP 404 Not Found".into()
            }
        );
        assert_eq!(
            run(
                OP_ORDER,
                400,
                &answer("102", "CODAmount phải là số: một trăm")
            ),
            Classified::Reject {
                reason: "HTTP 400 Bad Request, Status 102: field CODAmount".into()
            }
        );
        for status in [403, 405, 413, 422] {
            assert!(
                matches!(run(OP_CANCEL, status, b""), Classified::Reject { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn configured_rules_come_first() {
        let rule = |scope, error_code, http_status, message: Option<&str>, outcome| ClassifyRule {
            scope,
            error_code,
            http_status,
            message_contains: message.map(str::to_string),
            outcome,
        };
        let rules = vec![
            rule(
                ClassifyScope::Envelope,
                Some(102),
                None,
                Some("tạm thời"),
                ClassifyOutcome::Retry,
            ),
            rule(
                ClassifyScope::Item,
                Some(103),
                None,
                None,
                ClassifyOutcome::Reject,
            ),
            rule(
                ClassifyScope::Envelope,
                None,
                Some(403),
                None,
                ClassifyOutcome::Pause,
            ),
        ];
        let at =
            |status: u16, body: &[u8]| classify(OP_CANCEL, status, Some("5"), body, &rules, now());
        assert_eq!(
            at(200, &answer("102", "Lỗi TẠM THỜI, thử lại")),
            Classified::Retry {
                reason: "classify rule 0 (Retry): HTTP 200 OK, Status 102".into(),
                after: Some(Duration::from_secs(5))
            }
        );
        assert_eq!(
            at(200, &answer("103", "Nguyễn Văn A đã nhận")),
            Classified::Items(vec![ItemVerdict::Reject {
                reason: "classify rule 1 (Reject): HTTP 200 OK, Status 103".into()
            }])
        );
        assert_eq!(
            at(403, b""),
            Classified::Paused {
                reason: "classify rule 2 (Pause): HTTP 403 Forbidden".into()
            }
        );
        // Without a match, the contract's reading.
        assert_eq!(
            at(200, &answer("102", "OrderType")),
            Classified::Reject {
                reason: "VNPost Status 102 (invalid cancel): field OrderType".into()
            }
        );
    }

    #[test]
    fn tracking_reads() {
        assert_eq!(classify_read(200, None, now()), Ok(()));
        assert_eq!(
            classify_read(401, None, now()),
            Err(Classified::Reauth {
                reason: "HTTP 401 Unauthorized: the token was refused".into()
            })
        );
        assert_eq!(
            classify_read(503, Some("15"), now()),
            Err(Classified::Retry {
                reason: "HTTP 503 Service Unavailable".into(),
                after: Some(Duration::from_secs(15))
            })
        );
        for status in [408, 429, 500, 302] {
            assert!(
                matches!(
                    classify_read(status, None, now()),
                    Err(Classified::Retry { .. })
                ),
                "{status}"
            );
        }
        for status in [400, 403, 404] {
            assert!(
                matches!(
                    classify_read(status, None, now()),
                    Err(Classified::Reject { .. })
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn field_names_are_whole_words() {
        assert_eq!(
            fields_named("SenderEmail, senderdesc"),
            vec!["SenderEmail", "SenderDesc"]
        );
        assert!(fields_named("SenderEmails Sender Email").is_empty());
        assert!(fields_named("").is_empty());
    }
}
