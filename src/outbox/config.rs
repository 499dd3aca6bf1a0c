//! The delivery policy's settings: `[delivery]` (the default every peer starts from) and each
//! peer's `policy` table of overrides. The lane applies them; this file only reads and checks them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A delivery policy: how one peer's lane sends, retries, slows down and stops. `[delivery]` is
/// the policy every peer starts from; a peer's `policy` table (e.g. `[peers.dvcqg.policy]`)
/// overrides single keys of it ([`PolicyOverride`]); `Config::policy_for` gives the result.
/// Which answers are retryable, permanent or already done is the peer's own `classify` rules.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How often an idle lane looks for due messages.
    pub poll_interval_ms: u64,
    /// How long a claimed batch belongs to its instance before another may take it over; also
    /// how long the scheduler's leader lease outlives an instance that stopped renewing it.
    pub lease_seconds: u64,
    /// Batches in flight at once (workers of the lane).
    pub concurrency: usize,
    /// For a peer family of many destinations: batches in flight at once to one destination
    /// from this instance, so a destination that hangs holds at most this many workers. 0: no
    /// cap of its own (`concurrency` applies).
    pub destination_concurrency: usize,
    /// Time allowed for one call to the peer (connect, send, answer).
    pub timeout_ms: u64,
    /// Back-off: a delay of at most `min(cap, initial * 2^attempt)`.
    pub backoff_initial_ms: u64,
    pub backoff_cap_ms: u64,
    /// Which part of that delay is random: 1.0 = anywhere in `[0, ceiling]` (full jitter),
    /// 0.0 = exactly the ceiling, 0.25 = in `[0.75 * ceiling, ceiling]`.
    pub backoff_jitter: f64,
    /// The longest `Retry-After` obeyed; longer ones are cut to this.
    pub retry_after_cap_seconds: u64,
    /// Failed attempts after which a message is dead-lettered.
    pub max_attempts: u32,
    /// A message not delivered this many hours after it was accepted (or replayed) is
    /// dead-lettered instead of sent. 0: no limit.
    pub max_age_hours: u64,
    /// Token bucket: batches per second, on average, per instance. 0: no limit.
    pub rate_per_second: f64,
    /// Token bucket: batches that may go at once after a quiet spell.
    pub rate_burst: u32,
    /// Circuit breaker: consecutive failed batches (transport error, 5xx, "try later") after
    /// which the lane stops claiming. 0: never opens.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe batch is let through.
    pub breaker_cool_down_seconds: u64,
    /// When the peer is known to be down: the lane sends nothing in these windows.
    pub maintenance: Vec<MaintenanceWindowConfig>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 200,
            lease_seconds: 60,
            concurrency: 4,
            destination_concurrency: 0,
            timeout_ms: 30_000,
            backoff_initial_ms: 1_000,
            backoff_cap_ms: 300_000,
            backoff_jitter: 1.0,
            retry_after_cap_seconds: 3_600,
            max_attempts: 50,
            max_age_hours: 0,
            rate_per_second: 0.0,
            rate_burst: 1,
            breaker_failures: 5,
            breaker_cool_down_seconds: 30,
            maintenance: Vec::new(),
        }
    }
}

impl DeliveryConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn breaker_cool_down(&self) -> Duration {
        Duration::from_secs(self.breaker_cool_down_seconds)
    }
    /// `None` when messages may wait forever.
    pub fn max_age(&self) -> Option<Duration> {
        (self.max_age_hours > 0).then(|| Duration::from_secs(self.max_age_hours * 3_600))
    }

    /// This policy with the keys `o` sets replaced.
    pub fn with(&self, o: &PolicyOverride) -> DeliveryConfig {
        let d = self.clone();
        DeliveryConfig {
            poll_interval_ms: o.poll_interval_ms.unwrap_or(d.poll_interval_ms),
            lease_seconds: o.lease_seconds.unwrap_or(d.lease_seconds),
            concurrency: o.concurrency.unwrap_or(d.concurrency),
            destination_concurrency: o
                .destination_concurrency
                .unwrap_or(d.destination_concurrency),
            timeout_ms: o.timeout_ms.unwrap_or(d.timeout_ms),
            backoff_initial_ms: o.backoff_initial_ms.unwrap_or(d.backoff_initial_ms),
            backoff_cap_ms: o.backoff_cap_ms.unwrap_or(d.backoff_cap_ms),
            backoff_jitter: o.backoff_jitter.unwrap_or(d.backoff_jitter),
            retry_after_cap_seconds: o
                .retry_after_cap_seconds
                .unwrap_or(d.retry_after_cap_seconds),
            max_attempts: o.max_attempts.unwrap_or(d.max_attempts),
            max_age_hours: o.max_age_hours.unwrap_or(d.max_age_hours),
            rate_per_second: o.rate_per_second.unwrap_or(d.rate_per_second),
            rate_burst: o.rate_burst.unwrap_or(d.rate_burst),
            breaker_failures: o.breaker_failures.unwrap_or(d.breaker_failures),
            breaker_cool_down_seconds: o
                .breaker_cool_down_seconds
                .unwrap_or(d.breaker_cool_down_seconds),
            maintenance: o.maintenance.clone().unwrap_or(d.maintenance),
        }
    }

    /// Every problem of this policy, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.poll_interval_ms == 0 {
            p.push(("poll_interval_ms", "must be greater than 0".to_string()));
        }
        if self.lease_seconds == 0 {
            p.push(("lease_seconds", "must be greater than 0".to_string()));
        }
        if self.concurrency == 0 {
            p.push(("concurrency", "must be greater than 0".to_string()));
        }
        if self.timeout_ms == 0 {
            p.push(("timeout_ms", "must be greater than 0".to_string()));
        }
        if self.backoff_initial_ms == 0 || self.backoff_cap_ms < self.backoff_initial_ms {
            p.push((
                "backoff_initial_ms",
                format!(
                    "({}) must be > 0 and not above backoff_cap_ms ({})",
                    self.backoff_initial_ms, self.backoff_cap_ms
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.backoff_jitter) {
            p.push((
                "backoff_jitter",
                format!("{} is outside 0.0..=1.0", self.backoff_jitter),
            ));
        }
        if self.max_attempts == 0 {
            p.push(("max_attempts", "must be greater than 0".to_string()));
        }
        if !self.rate_per_second.is_finite() || !(0.0..=1e6).contains(&self.rate_per_second) {
            p.push((
                "rate_per_second",
                format!(
                    "{} is not between 0 (no limit) and 1000000",
                    self.rate_per_second
                ),
            ));
        } else if self.rate_per_second > 0.0 && self.rate_burst == 0 {
            p.push((
                "rate_burst",
                "must be greater than 0 when rate_per_second is set".to_string(),
            ));
        }
        if self.breaker_failures > 0 && self.breaker_cool_down_seconds == 0 {
            p.push((
                "breaker_cool_down_seconds",
                "must be greater than 0 when breaker_failures is set".to_string(),
            ));
        }
        for (i, w) in self.maintenance.iter().enumerate() {
            if let Err(e) = super::window::MaintenanceWindow::parse(w) {
                p.push((
                    "maintenance",
                    format!("[{i}]: {e} (cron has seconds: sec min hour day month weekday [year])"),
                ));
            }
        }
        p
    }
}

/// A recurring maintenance window of a peer: it starts at each time `cron` names, read in
/// Vietnam time (UTC+7, whatever the server's time zone), and lasts `duration_minutes`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindowConfig {
    /// With seconds: `sec min hour day month weekday [year]`, e.g. `0 0 23 * * Sat`.
    pub cron: String,
    pub duration_minutes: u64,
}

/// A peer's changes to the `[delivery]` policy: every key of [`DeliveryConfig`], each optional.
/// `maintenance`, when given, replaces the default list.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    pub poll_interval_ms: Option<u64>,
    pub lease_seconds: Option<u64>,
    pub concurrency: Option<usize>,
    pub destination_concurrency: Option<usize>,
    pub timeout_ms: Option<u64>,
    pub backoff_initial_ms: Option<u64>,
    pub backoff_cap_ms: Option<u64>,
    pub backoff_jitter: Option<f64>,
    pub retry_after_cap_seconds: Option<u64>,
    pub max_attempts: Option<u32>,
    pub max_age_hours: Option<u64>,
    pub rate_per_second: Option<f64>,
    pub rate_burst: Option<u32>,
    pub breaker_failures: Option<u32>,
    pub breaker_cool_down_seconds: Option<u64>,
    pub maintenance: Option<Vec<MaintenanceWindowConfig>>,
}

/// Every problem of the default policy and of each peer's policy, one line each (`delivery.KEY:`,
/// `peers.NAME.policy.KEY:`); a peer's problem inherited unchanged from the default is said once.
pub fn check_policies(
    default: &DeliveryConfig,
    overrides: &[(&str, &PolicyOverride)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let defaults = default.problems();
    for (key, msg) in &defaults {
        problems.push(format!("delivery.{key}: {msg}"));
    }
    for (peer, o) in overrides {
        for (key, msg) in default.with(o).problems() {
            if !defaults.iter().any(|(k, m)| *k == key && *m == msg) {
                problems.push(format!("peers.{peer}.policy.{key}: {msg}"));
            }
        }
    }
    problems
}
