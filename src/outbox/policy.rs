//! What to do with a batch once its peer has answered: pure (no I/O, no clock; `now` and the
//! random source are arguments), so every rule is tested directly.

use std::time::Duration;

use rand::Rng;

use super::config::DeliveryConfig;
use super::peer::{BatchVerdict, ItemVerdict};
use crate::store::{Batch, BatchFate, BatchMessage, HealthEvent, MessageFate};

/// How long a destination that refuses our credentials is left alone before the next try.
pub const PAUSE: Duration = Duration::from_secs(60);

/// Exponential back-off with jitter: a delay in `[(1 - jitter) * c, c]` where
/// `c = min(cap, initial * 2^attempt)`; jitter 1.0 is "full jitter".
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub cap: Duration,
    /// The random part, 0.0..=1.0.
    pub jitter: f64,
}

impl Backoff {
    pub fn from_policy(p: &DeliveryConfig) -> Self {
        Self {
            initial: Duration::from_millis(p.backoff_initial_ms),
            cap: Duration::from_millis(p.backoff_cap_ms),
            jitter: p.backoff_jitter.clamp(0.0, 1.0),
        }
    }

    /// The upper bound of the delay after `attempt` failed tries (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.min(32);
        let ms = (self.initial.as_millis() as u64).saturating_mul(factor);
        Duration::from_millis(ms).min(self.cap)
    }

    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        let random = (ceiling as f64 * self.jitter) as u64;
        Duration::from_millis(rng.gen_range(ceiling.saturating_sub(random)..=ceiling))
    }
}

/// Decides the fate of a sent batch from the peer's verdict. `resend_as` is the peer's own
/// create ↔ update rule ([`super::peer::Peer::resend_as`]) for this batch's operation.
pub fn decide(
    batch: &Batch,
    verdict: &BatchVerdict,
    policy: &DeliveryConfig,
    now_ms: i64,
    rng: &mut impl Rng,
    resend_as: &dyn Fn(&ItemVerdict) -> Option<bool>,
) -> BatchFate {
    let backoff = Backoff::from_policy(policy);
    let at = |d: Duration| now_ms + d.as_millis() as i64;
    let whole_retry = |reason: &str, after: Option<Duration>, rng: &mut dyn rand::RngCore| {
        let before = batch.messages.iter().map(|m| m.attempts).max().unwrap_or(0);
        let tried = before + 1;
        if tried >= policy.max_attempts {
            return give_up(batch, &format!("gave up after {tried} attempts: {reason}"));
        }
        let delay = match after {
            Some(d) => d.min(Duration::from_secs(policy.retry_after_cap_seconds)),
            // A message's own count: a batch made of regrouped messages is new, they are not.
            None => backoff.delay(batch.attempts.max(before), rng),
        };
        BatchFate::Reopen {
            next_attempt_ms: at(delay),
            error: reason.to_string(),
            count_attempt: true,
        }
    };
    match verdict {
        BatchVerdict::Retry { reason, after } => whole_retry(reason, *after, rng),
        BatchVerdict::Reject { reason } => give_up(batch, reason),
        BatchVerdict::Paused { reason } => BatchFate::Reopen {
            next_attempt_ms: at(PAUSE),
            error: format!("destination paused: {reason}"),
            count_attempt: false,
        },
        BatchVerdict::Items(items) if items.len() != batch.messages.len() => whole_retry(
            &format!(
                "answer has {} results for {} items",
                items.len(),
                batch.messages.len()
            ),
            None,
            rng,
        ),
        BatchVerdict::Items(items) => {
            // Nothing applied: the same batch goes again under the same id.
            if let Some(reason) = all_retry(items) {
                return whole_retry(reason, None, rng);
            }
            let fates = batch
                .messages
                .iter()
                .zip(items)
                .map(|(m, v)| {
                    let retry = |reason: &str, rng: &mut dyn rand::RngCore| {
                        if m.attempts + 1 >= policy.max_attempts {
                            return MessageFate::Dead {
                                error: format!(
                                    "gave up after {} attempts: {reason}",
                                    m.attempts + 1
                                ),
                            };
                        }
                        MessageFate::Retry {
                            next_attempt_ms: at(backoff.delay(m.attempts, rng)),
                            error: reason.to_string(),
                            count_attempt: true,
                            is_update: batch.is_update,
                        }
                    };
                    // Create ↔ update switches go at once, but count, so a peer that answers
                    // "exists" and "does not exist" in turn cannot keep a message forever.
                    let switch = |reason: &str, is_update: bool| {
                        if m.attempts + 1 >= policy.max_attempts {
                            return MessageFate::Dead {
                                error: format!(
                                    "gave up after {} attempts: {reason}",
                                    m.attempts + 1
                                ),
                            };
                        }
                        MessageFate::Retry {
                            next_attempt_ms: now_ms,
                            error: reason.to_string(),
                            count_attempt: true,
                            is_update,
                        }
                    };
                    let fate = match (v, resend_as(v)) {
                        (ItemVerdict::Delivered, _) => MessageFate::Delivered,
                        (ItemVerdict::Paused { reason }, _) => MessageFate::Retry {
                            next_attempt_ms: at(PAUSE),
                            error: format!("destination paused: {reason}"),
                            count_attempt: false,
                            is_update: batch.is_update,
                        },
                        (
                            ItemVerdict::Later {
                                reason,
                                after,
                                tried,
                            },
                            _,
                        ) => {
                            if *tried && m.attempts + 1 >= policy.max_attempts {
                                MessageFate::Dead {
                                    error: format!(
                                        "gave up after {} attempts: {reason}",
                                        m.attempts + 1
                                    ),
                                }
                            } else {
                                let delay = match after {
                                    Some(d) => (*d)
                                        .min(Duration::from_secs(policy.retry_after_cap_seconds)),
                                    None => backoff.delay(m.attempts, rng),
                                };
                                MessageFate::Retry {
                                    next_attempt_ms: at(delay),
                                    error: reason.clone(),
                                    count_attempt: *tried,
                                    is_update: batch.is_update,
                                }
                            }
                        }
                        (
                            ItemVerdict::AlreadyExists { reason }
                            | ItemVerdict::NotFound { reason }
                            | ItemVerdict::Retry { reason }
                            | ItemVerdict::Reject { reason },
                            Some(is_update),
                        ) => switch(reason, is_update),
                        (
                            ItemVerdict::AlreadyExists { reason }
                            | ItemVerdict::NotFound { reason }
                            | ItemVerdict::Retry { reason },
                            None,
                        ) => retry(reason, rng),
                        (ItemVerdict::Reject { reason }, None) => MessageFate::Dead {
                            error: reason.clone(),
                        },
                    };
                    (m.id, fate)
                })
                .collect();
            BatchFate::Close(fates)
        }
    }
}

/// For a peer that [regroups](super::peer::Peer::regroups) its items: a batch to be retried
/// whole (nothing of it applied, or paused) is closed unsent instead, each message going back
/// to the queue with the batch's next try, error and attempt, so it travels again in any batch
/// and a newer message of its key can supersede it meanwhile. Other fates stay as they are.
pub fn dissolve(batch: &Batch, fate: BatchFate) -> BatchFate {
    match fate {
        BatchFate::Reopen {
            next_attempt_ms,
            error,
            count_attempt,
        } => BatchFate::Close(
            batch
                .messages
                .iter()
                .map(|m| {
                    (
                        m.id,
                        MessageFate::Retry {
                            next_attempt_ms,
                            error: error.clone(),
                            count_attempt,
                            is_update: batch.is_update,
                        },
                    )
                })
                .collect(),
        ),
        close => close,
    }
}

/// Whether a verdict says the peer itself is failing (transport error, 5xx, "try again later",
/// an answer that does not fit the request), for the circuit breaker. `None` for a verdict that
/// tells nothing about its health (paused credentials). Item rejections are our data's fault:
/// the peer answered, so they count as health.
/// `sent` is how many items the batch carried.
pub fn peer_failed(verdict: &BatchVerdict, sent: usize) -> Option<bool> {
    match verdict {
        BatchVerdict::Retry { .. } => Some(true),
        BatchVerdict::Paused { .. } => None,
        BatchVerdict::Reject { .. } => Some(false),
        BatchVerdict::Items(items)
            if items
                .iter()
                .any(|i| matches!(i, ItemVerdict::Paused { .. })) =>
        {
            None
        }
        // An item told to wait after it was sent (5xx, 429, a timeout) is the peer failing,
        // whatever the items before it got.
        BatchVerdict::Items(items) => Some(
            items.len() != sent
                || all_retry(items).is_some()
                || items
                    .iter()
                    .any(|i| matches!(i, ItemVerdict::Later { tried: true, .. })),
        ),
    }
}

/// The credentials refusal a verdict carries, whole or at one of its items.
pub fn paused_reason(verdict: &BatchVerdict) -> Option<&str> {
    match verdict {
        BatchVerdict::Paused { reason } => Some(reason),
        BatchVerdict::Items(items) => items.iter().find_map(|i| match i {
            ItemVerdict::Paused { reason } => Some(reason.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// What an answer says about its destination's health: a pause, a failure of the peer itself
/// (see [`peer_failed`]) with its reason, or a success.
pub fn health(verdict: &BatchVerdict, sent: usize) -> HealthEvent {
    if let Some(reason) = paused_reason(verdict) {
        return HealthEvent::Paused {
            reason: reason.to_string(),
        };
    }
    match verdict {
        v if peer_failed(v, sent) == Some(true) => HealthEvent::Failure {
            error: match v {
                BatchVerdict::Retry { reason, .. } | BatchVerdict::Reject { reason } => {
                    reason.clone()
                }
                BatchVerdict::Items(items) => items
                    .iter()
                    .find_map(|i| match i {
                        ItemVerdict::Retry { reason }
                        | ItemVerdict::Later {
                            reason,
                            tried: true,
                            ..
                        } => Some(reason.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| {
                        format!("the peer answered {} of {sent} items", items.len())
                    }),
                BatchVerdict::Paused { reason } => reason.clone(),
            },
        },
        _ => HealthEvent::Success,
    }
}

/// When messages of `batch` were accepted longer than `max_age` ago: the batch is closed
/// unsent, those messages are dead-lettered with the reason, the others go back to the queue
/// (due now, no attempt used) to travel in a new batch. `None` when all are young enough.
pub fn expire(batch: &Batch, max_age: Option<Duration>, now_ms: i64) -> Option<BatchFate> {
    let max_age = max_age?;
    let limit_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    let too_old = |m: &BatchMessage| now_ms.saturating_sub(m.accepted_ms) > limit_ms;
    if !batch.messages.iter().any(too_old) {
        return None;
    }
    let hours = max_age.as_secs_f64() / 3_600.0;
    Some(BatchFate::Close(
        batch
            .messages
            .iter()
            .map(|m| {
                let fate = if too_old(m) {
                    let age_h = now_ms.saturating_sub(m.accepted_ms) as f64 / 3_600_000.0;
                    MessageFate::Dead {
                        error: format!(
                            "not sent: older than max_age ({hours:.1} h): accepted {age_h:.1} h ago"
                        ),
                    }
                } else {
                    MessageFate::Retry {
                        next_attempt_ms: now_ms,
                        error: "batch had messages past max_age; sent again without them".into(),
                        count_attempt: false,
                        is_update: batch.is_update,
                    }
                };
                (m.id, fate)
            })
            .collect(),
    ))
}

/// `Some(reason)` when every item failed temporarily (so nothing was applied).
fn all_retry(items: &[ItemVerdict]) -> Option<&str> {
    let mut first = None;
    for v in items {
        match v {
            ItemVerdict::Retry { reason } => {
                first.get_or_insert(reason.as_str());
            }
            _ => return None,
        }
    }
    first
}

fn give_up(batch: &Batch, reason: &str) -> BatchFate {
    BatchFate::Close(
        batch
            .messages
            .iter()
            .map(|m| {
                (
                    m.id,
                    MessageFate::Dead {
                        error: reason.to_string(),
                    },
                )
            })
            .collect(),
    )
}

/// How many messages a fate dead-letters.
pub fn dead_count(fate: &BatchFate) -> usize {
    match fate {
        BatchFate::Close(f) => f
            .iter()
            .filter(|(_, f)| matches!(f, MessageFate::Dead { .. }))
            .count(),
        BatchFate::Reopen { .. } => 0,
    }
}

/// How many messages a fate marks delivered.
pub fn delivered_count(fate: &BatchFate) -> usize {
    match fate {
        BatchFate::Close(f) => f
            .iter()
            .filter(|(_, f)| matches!(f, MessageFate::Delivered))
            .count(),
        BatchFate::Reopen { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    /// The portal's create ↔ update rule, as its peer gives it to the lane.
    fn portal(b: &Batch) -> impl Fn(&ItemVerdict) -> Option<bool> {
        let (operation, is_update) = (b.operation.clone(), b.is_update);
        move |v| crate::peer::dvcqg::resend_as(&operation, is_update, v)
    }

    fn batch(op: &str, is_update: bool, n: usize, attempts: u32) -> Batch {
        Batch {
            id: Uuid::new_v4(),
            peer: "dvcqg".into(),
            destination: String::new(),
            operation: op.into(),
            is_update,
            body: serde_json::json!({}),
            messages: (0..n)
                .map(|i| BatchMessage {
                    id: Uuid::new_v4(),
                    dossier: format!("000.00.56.H56-261105-{i:04}"),
                    attempts,
                    accepted_ms: 0,
                })
                .collect(),
            attempts,
            owner: "me".into(),
            answer_sha256: None,
            health: None,
        }
    }

    fn policy() -> DeliveryConfig {
        DeliveryConfig {
            backoff_initial_ms: 1_000,
            backoff_cap_ms: 60_000,
            retry_after_cap_seconds: 600,
            max_attempts: 5,
            ..DeliveryConfig::default()
        }
    }

    fn max_rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let b = Backoff::from_policy(&policy());
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(3), Duration::from_secs(8));
        assert_eq!(b.ceiling(10), Duration::from_secs(60));
        assert_eq!(b.ceiling(200), Duration::from_secs(60));
        let mut rng = rand::thread_rng();
        for attempt in 0..20 {
            assert!(b.delay(attempt, &mut rng) <= b.ceiling(attempt));
        }
    }

    #[test]
    fn jitter_is_the_random_part_of_the_delay() {
        let mut p = policy();
        p.backoff_jitter = 0.0;
        let b = Backoff::from_policy(&p);
        let mut rng = max_rng();
        for attempt in 0..8 {
            assert_eq!(b.delay(attempt, &mut rng), b.ceiling(attempt));
        }
        p.backoff_jitter = 0.25;
        let b = Backoff::from_policy(&p);
        for _ in 0..200 {
            let d = b.delay(3, &mut rng);
            assert!(
                (Duration::from_secs(6)..=Duration::from_secs(8)).contains(&d),
                "{d:?}"
            );
        }
    }

    #[test]
    fn too_old_messages_die_and_the_others_go_again_unsent() {
        let mut b = batch("DongBoHoSoMC", true, 3, 2);
        let hour = 3_600_000;
        let now = 100 * hour;
        b.messages[0].accepted_ms = now - 73 * hour;
        b.messages[1].accepted_ms = now - 71 * hour;
        b.messages[2].accepted_ms = now - 72 * hour;
        let max_age = Some(Duration::from_secs(72 * 3_600));
        let Some(BatchFate::Close(f)) = expire(&b, max_age, now) else {
            panic!("expected close");
        };
        match &f[0].1 {
            MessageFate::Dead { error } => {
                assert!(
                    error.contains("max_age (72.0 h)") && error.contains("73.0 h"),
                    "{error}"
                )
            }
            other => panic!("{other:?}"),
        }
        for (_, fate) in &f[1..] {
            assert!(
                matches!(
                    fate,
                    MessageFate::Retry {
                        count_attempt: false,
                        is_update: true,
                        next_attempt_ms,
                        ..
                    } if *next_attempt_ms == now
                ),
                "{fate:?}"
            );
        }
        assert!(expire(&b, None, now).is_none(), "no limit");
        b.messages[0].accepted_ms = now;
        assert!(expire(&b, max_age, now).is_none(), "all young enough");
    }

    #[test]
    fn only_the_peer_failing_counts_for_the_breaker() {
        let retry = |r: &str| ItemVerdict::Retry { reason: r.into() };
        assert_eq!(
            peer_failed(
                &BatchVerdict::Retry {
                    reason: "HTTP 503".into(),
                    after: None
                },
                1
            ),
            Some(true)
        );
        assert_eq!(
            peer_failed(&BatchVerdict::Items(vec![retry("9"), retry("9")]), 2),
            Some(true)
        );
        assert_eq!(
            peer_failed(
                &BatchVerdict::Items(vec![retry("9"), ItemVerdict::Reject { reason: "x".into() }]),
                2
            ),
            Some(false),
            "item rejections are not the peer's failure"
        );
        assert_eq!(
            peer_failed(&BatchVerdict::Reject { reason: "x".into() }, 1),
            Some(false)
        );
        assert_eq!(
            peer_failed(&BatchVerdict::Paused { reason: "x".into() }, 1),
            None
        );
        assert_eq!(
            peer_failed(&BatchVerdict::Items(vec![ItemVerdict::Delivered]), 3),
            Some(true),
            "an answer that does not fit the request"
        );
    }

    #[test]
    fn retry_after_is_obeyed_and_capped() {
        let b = batch("DongBoHoSoMC", false, 2, 0);
        let v = BatchVerdict::Retry {
            reason: "HTTP 503".into(),
            after: Some(Duration::from_secs(120)),
        };
        match decide(&b, &v, &policy(), 1_000, &mut max_rng(), &portal(&b)) {
            BatchFate::Reopen {
                next_attempt_ms,
                count_attempt,
                ..
            } => {
                assert_eq!(next_attempt_ms, 1_000 + 120_000);
                assert!(count_attempt);
            }
            other => panic!("{other:?}"),
        }
        let v = BatchVerdict::Retry {
            reason: "HTTP 429".into(),
            after: Some(Duration::from_secs(86_400)),
        };
        match decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)) {
            BatchFate::Reopen {
                next_attempt_ms, ..
            } => assert_eq!(next_attempt_ms, 600_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_items_temporary_keeps_the_same_batch() {
        let b = batch("CapNhatTienDoHoSoMC", false, 2, 1);
        let v = BatchVerdict::Items(vec![
            ItemVerdict::Retry { reason: "9".into() },
            ItemVerdict::Retry { reason: "9".into() },
        ]);
        assert!(matches!(
            decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)),
            BatchFate::Reopen { .. }
        ));
    }

    #[test]
    fn partial_failure_requeues_only_failed_items() {
        let b = batch("DongBoHoSoMC", false, 4, 0);
        let v = BatchVerdict::Items(vec![
            ItemVerdict::Delivered,
            ItemVerdict::Retry {
                reason: "tạm thời".into(),
            },
            ItemVerdict::Reject {
                reason: "Trường NgayHenTra không đúng định dạng".into(),
            },
            ItemVerdict::AlreadyExists {
                reason: "Hồ sơ đã tồn tại".into(),
            },
        ]);
        let BatchFate::Close(f) = decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)) else {
            panic!("expected close");
        };
        assert!(matches!(f[0].1, MessageFate::Delivered));
        assert!(matches!(
            f[1].1,
            MessageFate::Retry {
                is_update: false,
                count_attempt: true,
                ..
            }
        ));
        match &f[2].1 {
            MessageFate::Dead { error } => assert!(error.contains("NgayHenTra")),
            other => panic!("{other:?}"),
        }
        // "already exists" on a create: the same item again, now as an update, at once.
        assert!(matches!(
            f[3].1,
            MessageFate::Retry {
                is_update: true,
                next_attempt_ms: 0,
                ..
            }
        ));
    }

    #[test]
    fn update_of_unknown_dossier_turns_into_create() {
        let b = batch("DongBoHoSoMC", true, 1, 0);
        let v = BatchVerdict::Items(vec![ItemVerdict::NotFound {
            reason: "không tồn tại".into(),
        }]);
        let BatchFate::Close(f) = decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)) else {
            panic!("expected close");
        };
        assert!(matches!(
            f[0].1,
            MessageFate::Retry {
                is_update: false,
                ..
            }
        ));
    }

    #[test]
    fn step_of_unknown_dossier_waits_with_backoff() {
        let b = batch("CapNhatTienDoHoSoMC", false, 2, 0);
        let v = BatchVerdict::Items(vec![
            ItemVerdict::Delivered,
            ItemVerdict::NotFound {
                reason: "Hồ sơ không tồn tại".into(),
            },
        ]);
        let BatchFate::Close(f) = decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)) else {
            panic!("expected close");
        };
        match f[1].1 {
            MessageFate::Retry {
                next_attempt_ms, ..
            } => assert!(next_attempt_ms > 0),
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gives_up_after_max_attempts_with_the_reason() {
        let b = batch("DongBoHoSoMC", false, 1, 4);
        let v = BatchVerdict::Retry {
            reason: "HTTP 500".into(),
            after: None,
        };
        let BatchFate::Close(f) = decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)) else {
            panic!("expected close");
        };
        match &f[0].1 {
            MessageFate::Dead { error } => {
                assert!(
                    error.contains("5 attempts") && error.contains("HTTP 500"),
                    "{error}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pause_does_not_use_up_a_retry() {
        let b = batch("DongBoHoSoMC", false, 1, 0);
        let v = BatchVerdict::Paused {
            reason: "Sai tên đăng nhập hoặc mật khẩu".into(),
        };
        assert!(matches!(
            decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)),
            BatchFate::Reopen {
                count_attempt: false,
                ..
            }
        ));
    }

    #[test]
    fn mismatched_answer_is_retried_whole() {
        let b = batch("DongBoHoSoMC", false, 3, 0);
        let v = BatchVerdict::Items(vec![ItemVerdict::Delivered]);
        match decide(&b, &v, &policy(), 0, &mut max_rng(), &portal(&b)) {
            BatchFate::Reopen { error, .. } => assert!(error.contains("1 results for 3")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_item_told_to_wait_honours_retry_after_and_an_unsent_one_uses_no_attempt() {
        let b = batch("procedure_upsert", false, 3, 2);
        let p = policy();
        let v = BatchVerdict::Items(vec![
            ItemVerdict::Delivered,
            ItemVerdict::Later {
                reason: "HTTP 503".into(),
                after: Some(Duration::from_secs(30)),
                tried: true,
            },
            ItemVerdict::Later {
                reason: "not sent".into(),
                after: Some(Duration::from_secs(30)),
                tried: false,
            },
        ]);
        let BatchFate::Close(fates) = decide(&b, &v, &p, 1_000, &mut max_rng(), &|_| None) else {
            panic!("closed expected")
        };
        assert!(matches!(fates[0].1, MessageFate::Delivered));
        assert!(matches!(
            &fates[1].1,
            MessageFate::Retry { next_attempt_ms: 31_000, count_attempt: true, error, .. } if error == "HTTP 503"
        ));
        assert!(matches!(
            &fates[2].1,
            MessageFate::Retry {
                next_attempt_ms: 31_000,
                count_attempt: false,
                ..
            }
        ));
        // A tried item on its last attempt is dead-lettered; an unsent one never is.
        let last = batch("procedure_upsert", false, 3, 4);
        let BatchFate::Close(fates) = decide(&last, &v, &p, 1_000, &mut max_rng(), &|_| None)
        else {
            panic!("closed expected")
        };
        assert!(
            matches!(&fates[1].1, MessageFate::Dead { error } if error.contains("gave up after 5"))
        );
        assert!(matches!(fates[2].1, MessageFate::Retry { .. }));
    }

    #[test]
    fn dissolving_puts_each_message_back_with_the_batch_retry() {
        let b = batch("procedure_upsert", false, 2, 1);
        let reopen = BatchFate::Reopen {
            next_attempt_ms: 9_000,
            error: "connection refused".into(),
            count_attempt: true,
        };
        let BatchFate::Close(fates) = dissolve(&b, reopen) else {
            panic!("closed expected")
        };
        assert_eq!(fates.len(), 2);
        for (i, (id, f)) in fates.iter().enumerate() {
            assert_eq!(*id, b.messages[i].id);
            assert!(matches!(
                f,
                MessageFate::Retry { next_attempt_ms: 9_000, count_attempt: true, error, is_update: false }
                    if error == "connection refused"
            ));
        }
        // A closed fate is left as it is.
        let closed = BatchFate::Close(vec![(b.messages[0].id, MessageFate::Delivered)]);
        assert!(matches!(dissolve(&b, closed), BatchFate::Close(f) if f.len() == 1));
    }

    #[test]
    fn regrouped_messages_back_off_by_their_own_attempts() {
        // A new batch (attempts 0) of messages tried 6 times: the back-off is the seventh's.
        let mut b = batch("procedure_upsert", false, 2, 6);
        b.attempts = 0;
        let mut p = policy();
        p.max_attempts = 100;
        p.backoff_jitter = 0.0;
        let v = BatchVerdict::Retry {
            reason: "down".into(),
            after: None,
        };
        let BatchFate::Reopen {
            next_attempt_ms, ..
        } = decide(&b, &v, &p, 0, &mut max_rng(), &|_| None)
        else {
            panic!("reopen expected")
        };
        assert_eq!(next_attempt_ms, 60_000);
    }

    #[test]
    fn a_batch_stopped_part_way_tells_the_breaker_and_the_health_what_happened() {
        let b = batch("procedure_upsert", false, 3, 0);
        let later = |tried| ItemVerdict::Later {
            reason: "HTTP 503".into(),
            after: None,
            tried,
        };
        // Sent, then a 503: the peer is failing, whatever the first item got.
        let v = BatchVerdict::Items(vec![ItemVerdict::Delivered, later(true), later(false)]);
        assert_eq!(peer_failed(&v, 3), Some(true));
        assert!(matches!(health(&v, 3), HealthEvent::Failure { error } if error == "HTTP 503"));
        // Not sent at all (our side): no failure of the peer.
        let v = BatchVerdict::Items(vec![ItemVerdict::Delivered, later(false), later(false)]);
        assert_eq!(peer_failed(&v, 3), Some(false));
        // Refused for our signature part-way: a pause, no attempt, the first item delivered.
        let refused = ItemVerdict::Paused {
            reason: "HTTP 401".into(),
        };
        let v = BatchVerdict::Items(vec![ItemVerdict::Delivered, refused.clone(), refused]);
        assert_eq!(peer_failed(&v, 3), None);
        assert_eq!(paused_reason(&v), Some("HTTP 401"));
        assert!(matches!(health(&v, 3), HealthEvent::Paused { .. }));
        let BatchFate::Close(fates) = decide(&b, &v, &policy(), 0, &mut max_rng(), &|_| None)
        else {
            panic!("closed expected")
        };
        assert!(matches!(fates[0].1, MessageFate::Delivered));
        for (_, f) in &fates[1..] {
            assert!(matches!(
                f,
                MessageFate::Retry { count_attempt: false, next_attempt_ms, .. }
                    if *next_attempt_ms == PAUSE.as_millis() as i64
            ));
        }
    }
}
