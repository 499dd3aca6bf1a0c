//! `[catalog]`: how the procedure catalog is pulled from the portal and fanned out. When it is
//! pulled is `[schedules] catalog_pull`; where it goes is `[peers.commune]` (the subscribers and
//! their filters).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[catalog]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// The share of the in-force procedures a new list may lose (withdrawn or missing) before
    /// the pull is held for an operator instead of withdrawing them (`0.2` = a fifth).
    pub max_shrink: f64,
    /// `LayThuTuc` calls in flight at once.
    pub concurrency: usize,
    /// `LayThuTuc` calls per second at most (the portal's rate limit); 0: no limit.
    pub rate_per_second: f64,
    /// A subscriber failing for this long is marked down (and alerted).
    pub down_after_seconds: u64,
    /// Messages queued per fan-out transaction (a change to 300 subscribers is 300 messages):
    /// keeps each transaction short while ingest goes on. On PostgreSQL each message's key takes
    /// an advisory lock until the commit, and the server's lock table holds about 64 per
    /// connection (`max_locks_per_transaction`): a transaction of 15,000 fails with "out of
    /// shared memory", so stay well under that.
    pub fan_out_messages: usize,
    /// Fetched procedures written to the store together (a pull cut half-way refetches at most
    /// this many).
    pub record_every: usize,
    /// Tries of one catalog read the portal answers "busy" (timeout, 5xx, 429; waiting as its
    /// `Retry-After` says) before the pull stops, to resume at the next run.
    pub read_tries: u32,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            max_shrink: 0.2,
            concurrency: 4,
            rate_per_second: 10.0,
            down_after_seconds: 3_600,
            fan_out_messages: 5_000,
            record_every: 50,
            read_tries: 6,
        }
    }
}

impl CatalogConfig {
    /// One line per problem, each with its key.
    pub fn check(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !(0.0..=1.0).contains(&self.max_shrink) {
            p.push(format!(
                "catalog.max_shrink: {} is not a share between 0 and 1",
                self.max_shrink
            ));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            p.push("catalog.concurrency: must be between 1 and 64".into());
        }
        if !self.rate_per_second.is_finite() || self.rate_per_second < 0.0 {
            p.push("catalog.rate_per_second: must be 0 (no limit) or more".into());
        }
        if self.down_after_seconds == 0 {
            p.push("catalog.down_after_seconds: must be greater than 0".into());
        }
        if self.fan_out_messages == 0 {
            p.push("catalog.fan_out_messages: must be greater than 0".into());
        }
        if self.record_every == 0 {
            p.push("catalog.record_every: must be greater than 0".into());
        }
        if self.read_tries == 0 {
            p.push("catalog.read_tries: must be greater than 0".into());
        }
        p
    }

    /// How long a subscriber may fail before it is marked down.
    pub fn down_after(&self) -> Duration {
        Duration::from_secs(self.down_after_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sound_and_bad_values_are_named() {
        assert!(CatalogConfig::default().check().is_empty());
        let bad = CatalogConfig {
            max_shrink: 1.5,
            concurrency: 0,
            rate_per_second: -1.0,
            down_after_seconds: 0,
            fan_out_messages: 0,
            record_every: 0,
            read_tries: 0,
        };
        let problems = bad.check();
        assert_eq!(problems.len(), 7, "{problems:?}");
        assert!(problems[0].starts_with("catalog.max_shrink: 1.5"));
    }
}
