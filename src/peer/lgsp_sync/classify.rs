//! What an answer of `SyncDocument` means: the shared classification table first
//! (`[[peers.lgsp_sync.classify]]`: envelope rules see the HTTP status and the answer's text; item
//! rules see `Status` as the code and `Message`), then the route's built-in reading. Pure.

use std::time::SystemTime;

use quick_xml::events::Event;

use crate::peer::classify::{
    first_rule, item_outcome, parse_retry_after, whole_batch, Classified, ClassifyRule,
    ClassifyScope, Facts,
};
use crate::peer::ItemVerdict;

/// What an answer of `SyncDocument` means. Pure, so every case is tested without a server.
///
/// - HTTP 200 with `<MResult><Status>1</Status>`: delivered.
/// - HTTP 200 with `Status` 0: refused, with the platform's message (dead letter; an operator
///   fixes the record or the mapping and replays).
/// - HTTP 200 that is not a readable `MResult`: we cannot tell whether it was applied, so the
///   same document goes again (safe: a document sync is a whole-state write).
/// - 401: the token expired (one fresh token, then repeat); 403: credentials refused (pause).
/// - 408, 429, 5xx: later, obeying `Retry-After`; any other 4xx: the request itself is wrong.
pub fn classify_sync(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    rules: &[ClassifyRule],
    now: SystemTime,
) -> Classified {
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    let mresult = read_mresult(body);
    let text = String::from_utf8_lossy(&body[..body.len().min(2_000)]);
    let envelope = Facts {
        status,
        code: mresult.as_ref().map(|(code, _)| *code),
        message: mresult.as_ref().map_or(&*text, |(_, m)| m.as_str()),
    };
    if let Some((index, rule)) = first_rule(rules, ClassifyScope::Envelope, &envelope) {
        let reason = format!(
            "classify rule {index} ({:?}): HTTP {status}: {}",
            rule.outcome,
            excerpt(envelope.message)
        );
        return whole_batch(rule.outcome, reason, after, 1);
    }
    match status {
        200..=299 => match mresult {
            Some((code, message)) => {
                let reason = format!("SyncDocument Status {code}: {}", message.trim());
                let item = Facts {
                    status,
                    code: Some(code),
                    message: &message,
                };
                if let Some(verdict) = first_rule(rules, ClassifyScope::Item, &item)
                    .and_then(|(_, rule)| item_outcome(rule.outcome, reason.clone()))
                {
                    return Classified::Items(vec![verdict]);
                }
                if code == 1 {
                    Classified::Items(vec![ItemVerdict::Delivered])
                } else {
                    Classified::Items(vec![ItemVerdict::Reject { reason }])
                }
            }
            None => Classified::Retry {
                reason: format!(
                    "HTTP {status} without a readable MResult ({} bytes)",
                    body.len()
                ),
                after,
            },
        },
        401 => Classified::Reauth {
            reason: "HTTP 401: token refused".into(),
        },
        403 => Classified::Paused {
            reason: "HTTP 403: the platform refuses this client".into(),
        },
        408 | 429 | 500..=599 => Classified::Retry {
            reason: format!("HTTP {status}"),
            after,
        },
        _ => Classified::Reject {
            reason: format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
            ),
        },
    }
}

/// At most 200 characters, for a reason.
fn excerpt(text: &str) -> &str {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// `(Status, Message)` of an `<MResult>`, or `None` if the body is not one.
fn read_mresult(body: &[u8]) -> Option<(i64, String)> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let (mut status, mut message) = (None, String::new());
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_vec());
                if path.len() == 1 && path[0] != b"MResult" {
                    return None;
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().ok()?;
                match path.last().map(Vec::as_slice) {
                    Some(b"Status") if path.len() == 2 => status = text.trim().parse().ok(),
                    Some(b"Message") if path.len() == 2 => message.push_str(&text),
                    _ => {}
                }
            }
            Event::DocType(_) => return None,
            Event::Eof => break,
            _ => {}
        }
    }
    status.map(|s| (s, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::classify::ClassifyOutcome;
    use std::time::Duration;

    fn items(c: Classified) -> Vec<ItemVerdict> {
        match c {
            Classified::Items(v) => v,
            other => panic!("expected items, got {other:?}"),
        }
    }

    #[test]
    fn status_one_is_delivered() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MResult>\n  <Status>1</Status>\n  <Message>Đồng bộ hồ sơ thành công</Message>\n</MResult>\n";
        let v = items(classify_sync(
            200,
            None,
            body.as_bytes(),
            &[],
            SystemTime::now(),
        ));
        assert_eq!(v, vec![ItemVerdict::Delivered]);
    }

    #[test]
    fn status_zero_is_refused_with_the_message() {
        let body = "<MResult><Status>0</Status><Message>Mã hồ sơ &amp; trạng thái không hợp lệ</Message></MResult>";
        let v = items(classify_sync(
            200,
            None,
            body.as_bytes(),
            &[],
            SystemTime::now(),
        ));
        assert_eq!(
            v,
            vec![ItemVerdict::Reject {
                reason: "SyncDocument Status 0: Mã hồ sơ & trạng thái không hợp lệ".into()
            }]
        );
    }

    #[test]
    fn unreadable_success_is_retried_not_dropped() {
        for body in [
            "",
            "<html>proxy</html>",
            "{\"Status\":1}",
            "<MResult><Status>x",
        ] {
            let c = classify_sync(200, None, body.as_bytes(), &[], SystemTime::now());
            assert!(matches!(c, Classified::Retry { .. }), "{body}: {c:?}");
        }
    }

    #[test]
    fn http_statuses() {
        let now = SystemTime::now();
        assert!(matches!(
            classify_sync(401, None, b"", &[], now),
            Classified::Reauth { .. }
        ));
        assert!(matches!(
            classify_sync(403, None, b"", &[], now),
            Classified::Paused { .. }
        ));
        match classify_sync(503, Some("7"), b"", &[], now) {
            Classified::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_sync(429, None, b"", &[], now),
            Classified::Retry { .. }
        ));
        assert!(matches!(
            classify_sync(400, None, b"bad xml", &[], now),
            Classified::Reject { .. }
        ));
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
    fn the_shared_table_comes_before_the_built_in_reading() {
        let now = SystemTime::now();
        // An item rule: the platform's "busy" refusal is temporary, not permanent.
        let busy = ClassifyRule {
            error_code: Some(0),
            message_contains: Some("hệ thống đang bận".into()),
            ..rule(ClassifyScope::Item, ClassifyOutcome::Retry)
        };
        let body = "<MResult><Status>0</Status><Message>Hệ thống đang bận</Message></MResult>";
        let v = items(classify_sync(
            200,
            None,
            body.as_bytes(),
            std::slice::from_ref(&busy),
            now,
        ));
        assert!(matches!(&v[..], [ItemVerdict::Retry { .. }]), "{v:?}");
        // Other refusals keep their built-in meaning.
        let other = "<MResult><Status>0</Status><Message>Sai mã</Message></MResult>";
        let v = items(classify_sync(200, None, other.as_bytes(), &[busy], now));
        assert!(matches!(&v[..], [ItemVerdict::Reject { .. }]), "{v:?}");
        // An envelope rule: a gateway's 400 page that means "later".
        let gateway = ClassifyRule {
            http_status: Some(400),
            message_contains: Some("upstream".into()),
            ..rule(ClassifyScope::Envelope, ClassifyOutcome::Retry)
        };
        let c = classify_sync(
            400,
            Some("3"),
            b"<html>upstream timeout</html>",
            &[gateway],
            now,
        );
        match c {
            Classified::Retry { after, reason } => {
                assert_eq!(after, Some(Duration::from_secs(3)));
                assert!(reason.starts_with("classify rule 0"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
