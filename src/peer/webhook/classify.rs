//! The local webhook's answers as verdicts: the HTTP status is all there is. 2xx: every event
//! of the call delivered; 401 and 403: our signature is refused (paused, no attempt used);
//! 408, 429 and 5xx: temporary, after `Retry-After` when given; any other 4xx: the call will
//! never be taken (dead-lettered with the status).

use std::time::SystemTime;

use crate::peer::classify::parse_retry_after;
use crate::peer::{BatchVerdict, ItemVerdict};

/// The verdict on a call of `items` events answered `status`.
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    items: usize,
    now: SystemTime,
) -> BatchVerdict {
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    let line = format!("local webhook answered HTTP {status}");
    match status {
        200..=299 => BatchVerdict::Items(vec![ItemVerdict::Delivered; items]),
        401 | 403 => BatchVerdict::Paused {
            reason: format!("{line}: our signature is refused; check peers.local_webhook.secret"),
        },
        408 | 429 | 500..=599 => BatchVerdict::Retry {
            reason: line,
            after,
        },
        400..=499 => BatchVerdict::Reject { reason: line },
        _ => BatchVerdict::Retry {
            reason: line,
            after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statuses_read_as_the_module_says() {
        let now = SystemTime::now();
        assert_eq!(
            classify(204, None, 3, now),
            BatchVerdict::Items(vec![ItemVerdict::Delivered; 3])
        );
        assert!(matches!(
            classify(401, None, 1, now),
            BatchVerdict::Paused { .. }
        ));
        assert!(matches!(
            classify(403, None, 1, now),
            BatchVerdict::Paused { .. }
        ));
        assert_eq!(
            classify(503, Some("7"), 1, now),
            BatchVerdict::Retry {
                reason: "local webhook answered HTTP 503".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify(429, None, 1, now),
            BatchVerdict::Retry { .. }
        ));
        assert!(matches!(
            classify(422, None, 1, now),
            BatchVerdict::Reject { .. }
        ));
    }
}
