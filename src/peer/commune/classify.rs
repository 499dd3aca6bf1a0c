//! What a subscriber's answer means (commune.md, "Answers"). [`classify`] is pure: no I/O and no
//! clock (the caller passes `now` for `Retry-After` dates), so every case is a unit test.
//!
//! A request carries one procedure, so a success is one delivered item. Reasons hold the status
//! and at most a short excerpt of the answer with anything that looks like a token, an e-mail
//! address or a long number masked: a subscriber may echo what it was sent.

use std::sync::OnceLock;
use std::time::SystemTime;

use regex::Regex;

use crate::peer::classify::{
    first_rule, parse_retry_after, whole_batch, ClassifyRule, ClassifyScope, Facts,
};
use crate::peer::{BatchVerdict, ItemVerdict};

/// Characters of the answer kept in a reason.
const EXCERPT_CHARS: usize = 120;

/// Decides what an answer to one upsert or withdrawal means.
///
/// - any 2xx (the spec names 200 and 204): applied;
/// - 409: the subscriber already has this version or a newer one: done;
/// - 401: our signature is refused; only a config change helps: pause the destination;
/// - 408, 429, any 5xx (with `Retry-After` when given): try again later;
/// - any other 4xx: the request itself is wrong: reject with the status and an excerpt;
/// - 1xx/3xx (redirects are not followed): try again later; the reason says what came.
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    rules: &[ClassifyRule],
    now: SystemTime,
) -> BatchVerdict {
    let delivered = || BatchVerdict::Items(vec![ItemVerdict::Delivered]);
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    let text = String::from_utf8_lossy(&body[..body.len().min(2_000)]);
    let facts = Facts {
        status,
        code: None,
        message: &text,
    };
    if let Some((index, rule)) = first_rule(rules, ClassifyScope::Envelope, &facts) {
        let reason = with_excerpt(
            &format!(
                "classify rule {index} ({:?}): {}",
                rule.outcome,
                status_line(status)
            ),
            body,
        );
        return whole_batch(rule.outcome, reason, after, 1).into_verdict();
    }
    match status {
        200..=299 | 409 => delivered(),
        401 => BatchVerdict::Paused {
            reason: with_excerpt(
                "HTTP 401: the subscriber refuses our signature (check its secret)",
                body,
            ),
        },
        408 | 429 | 500..=599 => BatchVerdict::Retry {
            reason: status_line(status),
            after,
        },
        400..=499 => BatchVerdict::Reject {
            reason: with_excerpt(&status_line(status), body),
        },
        _ => BatchVerdict::Retry {
            reason: format!(
                "{} (not an answer the contract defines; redirects are not followed)",
                status_line(status)
            ),
            after,
        },
    }
}

/// `HTTP 503 Service Unavailable`.
fn status_line(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

fn with_excerpt(head: &str, body: &[u8]) -> String {
    let excerpt = masked_excerpt(body);
    if excerpt.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {excerpt}")
    }
}

/// The start of an answer body for a reason: whitespace collapsed, at most [`EXCERPT_CHARS`]
/// characters, with e-mail addresses, runs of 9+ digits (phone and ID numbers) and runs of 24+
/// token characters (secrets, signatures, hashes) replaced by `***`.
pub fn masked_excerpt(body: &[u8]) -> String {
    static MASK: OnceLock<Option<Regex>> = OnceLock::new();
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(mask) =
        MASK.get_or_init(|| Regex::new(r"[^\s@]+@[^\s@]+|\d{9,}|[A-Za-z0-9+/=_\-.]{24,}").ok())
    else {
        // Without the mask nothing of the body may be shown.
        return String::new();
    };
    // Masked before cutting, so a cut cannot leave the visible half of a secret.
    let masked = mask.replace_all(&collapsed, "***");
    match masked.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &masked[..at]),
        None => masked.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> SystemTime {
        // 2026-11-22 02:00:00 UTC
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_312_800)
    }

    fn run(status: u16, body: &str) -> BatchVerdict {
        classify(status, None, body.as_bytes(), &[], now())
    }

    #[test]
    fn applied_and_already_there_are_delivered() {
        for status in [200, 201, 204, 409] {
            assert_eq!(
                run(status, "{\"version\": 3}"),
                BatchVerdict::Items(vec![ItemVerdict::Delivered]),
                "{status}"
            );
        }
    }

    #[test]
    fn unauthorized_pauses_without_burning_a_retry() {
        let got = run(401, "bad signature");
        assert_eq!(
            got,
            BatchVerdict::Paused {
                reason: "HTTP 401: the subscriber refuses our signature (check its secret): bad signature"
                    .into()
            }
        );
    }

    #[test]
    fn temporary_answers_retry_with_retry_after() {
        assert_eq!(
            classify(429, Some("120"), b"", &[], now()),
            BatchVerdict::Retry {
                reason: "HTTP 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(120))
            }
        );
        assert_eq!(
            classify(503, Some("Sun, 22 Nov 2026 02:01:30 GMT"), b"", &[], now()),
            BatchVerdict::Retry {
                reason: "HTTP 503 Service Unavailable".into(),
                after: Some(Duration::from_secs(90))
            }
        );
        for status in [408, 500, 502, 504, 599] {
            assert!(
                matches!(run(status, "oops"), BatchVerdict::Retry { after: None, .. }),
                "{status}"
            );
        }
        // An unreadable Retry-After is ignored, not fatal.
        assert!(matches!(
            classify(503, Some("soon"), b"", &[], now()),
            BatchVerdict::Retry { after: None, .. }
        ));
    }

    #[test]
    fn other_client_errors_reject_with_status_and_excerpt() {
        assert_eq!(
            run(
                422,
                "{\"error\": \"procedure.MATTHC does not match the path\"}"
            ),
            BatchVerdict::Reject {
                reason: "HTTP 422 Unprocessable Entity: {\"error\": \"procedure.MATTHC does not match the path\"}"
                    .into()
            }
        );
        for status in [400, 403, 404, 405, 413] {
            assert!(
                matches!(run(status, ""), BatchVerdict::Reject { .. }),
                "{status}"
            );
        }
        assert_eq!(
            run(404, ""),
            BatchVerdict::Reject {
                reason: "HTTP 404 Not Found".into()
            }
        );
    }

    #[test]
    fn redirects_and_oddities_retry() {
        for status in [100, 301, 302, 307] {
            assert!(
                matches!(run(status, ""), BatchVerdict::Retry { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn excerpts_are_short_and_masked() {
        let body = format!(
            "bad   request\n from nguyen.van.a@example.vn, phone 0912345678, id 001099012345, \
             signature sha256=1cf14ef343f9f19221ee1b138d52f73b659586ae88bd5d048e7b72072967433a; {}",
            "x ".repeat(200)
        );
        let excerpt = masked_excerpt(body.as_bytes());
        assert!(excerpt.starts_with("bad request from *** phone ***, id ***, signature ***; x x"));
        assert!(excerpt.ends_with('…'));
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1);
        for secret in ["nguyen", "0912345678", "001099012345", "1cf14ef3"] {
            assert!(!excerpt.contains(secret), "{excerpt}");
        }
        // Short codes and versions stay readable.
        assert_eq!(
            masked_excerpt("procedure 1.005129 version 4".as_bytes()),
            "procedure 1.005129 version 4"
        );
        assert_eq!(masked_excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after(" 7 ", now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 01:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-5", now()), None);
    }
}
