//! Pruning of delivered messages after the retention time. Each pruned message leaves an audit
//! row (ids, times, attempts, final state, SHA-256 of its request body and of the peer's
//! answer); its payload, and the batches and source records nothing refers to any more, go.
//! Works in chunks (one short transaction each) so SQLite is never locked for long; runs from
//! `lienthong outbox prune` and periodically inside `lienthong run`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{now_ms, PruneReport, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Prunes every message delivered before `before_ms`, `chunk` at a time; `progress` is called
/// after each chunk with the running totals.
pub async fn prune(
    store: &dyn Store,
    before_ms: i64,
    chunk: u32,
    progress: &mut (dyn FnMut(&PruneReport) + Send),
) -> Result<PruneReport, StoreError> {
    let mut total = PruneReport::default();
    loop {
        let done = store
            .prune_delivered(before_ms, i64::from(chunk.max(1)), now_ms())
            .await?;
        total.messages += done.messages;
        total.batches += done.batches;
        total.records += done.records;
        progress(&total);
        if done.messages < u64::from(chunk.max(1)) {
            return Ok(total);
        }
        // Let ingest and delivery in between chunks.
        tokio::task::yield_now().await;
    }
}

/// The cut-off time for `retention` before now.
pub fn cutoff(retention: Duration) -> i64 {
    now_ms().saturating_sub(retention.as_millis().min(i64::MAX as u128) as i64)
}

/// Prunes every `prune_interval_minutes` until `shutdown` (nothing when the interval is 0).
pub fn spawn(
    store: Arc<dyn Store>,
    cfg: HousekeepingConfig,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) {
    if cfg.prune_interval_minutes == 0 {
        return;
    }
    let every = Duration::from_secs(cfg.prune_interval_minutes.saturating_mul(60));
    let shutdown = shutdown.clone();
    tracker.spawn(async move {
        loop {
            let before = cutoff(cfg.retention());
            let mut quiet = |_: &PruneReport| {};
            let run = prune(&*store, before, cfg.prune_chunk, &mut quiet);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                done = run => match done {
                    Ok(r) if r.messages > 0 => tracing::info!(
                        messages = r.messages, batches = r.batches, records = r.records,
                        "housekeeping: delivered messages pruned (audit rows kept)"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "housekeeping: prune failed; trying again later"),
                },
            }
            // The throughput chart shows an hour; a day of minutes is kept.
            let day_ago = crate::store::now_ms() - 24 * 3600 * 1000;
            if let Err(e) = store.prune_delivery_minutes(day_ago).await {
                tracing::warn!(error = %e, "housekeeping: delivery minutes not pruned; trying again later");
            }
            // Content hashes of polled rows no longer re-read.
            match store.prune_seen(cutoff(crate::store::SEEN_FORGET)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "housekeeping: hashes of polled rows no longer re-read forgotten"),
                Err(e) => tracing::warn!(error = %e, "housekeeping: row hashes not pruned; trying again later"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}

/// Pruning of delivered messages: each leaves an audit row (ids, times, attempts, hashes of the
/// request and the answer); its payload, its batches and its source record go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingConfig {
    /// Delivered messages older than this many days are pruned.
    pub retention_days: u32,
    /// How often `lienthong run` prunes, in minutes; 0 = never (prune with
    /// `lienthong outbox prune` instead).
    pub prune_interval_minutes: u64,
    /// Messages pruned per transaction, so the store is never locked for long.
    pub prune_chunk: u32,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            prune_interval_minutes: 60,
            prune_chunk: 500,
        }
    }
}

impl HousekeepingConfig {
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 86_400)
    }
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.retention_days == 0 {
            problems.push("housekeeping.retention_days: must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.prune_chunk) {
            problems.push(format!(
                "housekeeping.prune_chunk: {} is outside 1..=10000",
                self.prune_chunk
            ));
        }
        problems
    }
}
