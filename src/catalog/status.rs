//! What operators look at: each subscriber's state (versions behind, last success, last
//! error, paused, down), from the outbox's per-destination backlog and health.

use serde::Serialize;

use super::{Catalog, CatalogError};
use crate::peer::commune::PEER_COMMUNE;
use crate::store::now_ms;

/// One subscriber as `catalog subscribers` and the admin API show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SubscriberState {
    pub name: String,
    /// Procedures whose latest version it has not acknowledged yet (queued, being sent, dead).
    pub behind: i64,
    /// Of which dead-lettered (refused for good: see `lienthong outbox list --state dead`).
    pub dead: i64,
    pub oldest_pending_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub last_error: Option<String>,
    pub failing_since_ms: Option<i64>,
    /// It refused our signature (401): nothing is sent to it until its config changes.
    pub paused: bool,
    pub paused_reason: Option<String>,
    /// Failing for longer than `catalog.down_after_seconds`.
    pub down: bool,
    /// It has been sent the whole catalog once.
    pub seeded: bool,
}

impl Catalog {
    /// Every configured subscriber's state, by name.
    pub async fn subscriber_states(&self) -> Result<Vec<SubscriberState>, CatalogError> {
        let backlog = self.store.destination_backlog(PEER_COMMUNE).await?;
        let health = self.store.destination_health(PEER_COMMUNE).await?;
        let seeded = self.store.catalog_seeded_subscribers().await?;
        let down_after = self.config.down_after().as_millis() as i64;
        let now = now_ms();
        let mut out = Vec::with_capacity(self.subscribers.len());
        let mut names: Vec<&str> = self.subscribers.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        for name in names {
            let b = backlog.iter().find(|b| b.destination == name);
            let h = health.iter().find(|h| h.destination == name);
            let failing_since = h.and_then(|h| h.failing_since_ms);
            out.push(SubscriberState {
                name: name.to_string(),
                behind: b.map_or(0, |b| b.pending + b.inflight + b.dead),
                dead: b.map_or(0, |b| b.dead),
                oldest_pending_ms: b.and_then(|b| b.oldest_pending_ms),
                last_success_ms: h.and_then(|h| h.last_success_ms),
                last_failure_ms: h.and_then(|h| h.last_failure_ms),
                last_error: h.and_then(|h| h.last_error.clone()),
                failing_since_ms: failing_since,
                paused: h.is_some_and(|h| h.paused_reason.is_some()),
                paused_reason: h.and_then(|h| h.paused_reason.clone()),
                down: failing_since.is_some_and(|since| now - since >= down_after),
                seeded: seeded.iter().any(|s| s == name),
            });
        }
        Ok(out)
    }
}

/// What the catalog's metrics show, read from the store at scrape time.
#[derive(Debug, Clone, Default)]
pub struct CatalogSnapshot {
    pub counts: crate::store::CatalogCounts,
    /// When the last published pull finished (ms).
    pub last_published_ms: Option<i64>,
    /// A pull is held for an operator.
    pub held: bool,
    pub subscribers: Vec<SubscriberState>,
}

impl Catalog {
    /// The catalog's figures for `/metrics`.
    pub async fn snapshot(&self) -> Result<CatalogSnapshot, CatalogError> {
        let (counts, pulls) = self.overview().await?;
        Ok(CatalogSnapshot {
            counts,
            last_published_ms: pulls
                .iter()
                .filter(|p| p.state == "published")
                .filter_map(|p| p.finished_at)
                .max(),
            held: pulls.first().is_some_and(|p| p.state == "held"),
            subscribers: self.subscriber_states().await?,
        })
    }
}

impl CatalogSnapshot {
    /// Sets the catalog's gauges on the current `metrics` recorder.
    pub fn record(&self) {
        use metrics::gauge;
        gauge!("lienthong_catalog_procedures", "state" => "in_force")
            .set(self.counts.in_force as f64);
        gauge!("lienthong_catalog_procedures", "state" => "withdrawn")
            .set(self.counts.withdrawn as f64);
        gauge!("lienthong_catalog_versions_not_fanned_out").set(self.counts.unfanned as f64);
        gauge!("lienthong_catalog_last_version_seq").set(self.counts.last_seq as f64);
        if let Some(ms) = self.last_published_ms {
            gauge!("lienthong_catalog_last_pull_timestamp_seconds").set(ms as f64 / 1e3);
        }
        gauge!("lienthong_catalog_pull_held").set(if self.held { 1.0 } else { 0.0 });
        for s in &self.subscribers {
            let name = s.name.clone();
            gauge!("lienthong_catalog_subscriber_behind", "subscriber" => name.clone())
                .set(s.behind as f64);
            gauge!("lienthong_catalog_subscriber_dead", "subscriber" => name.clone())
                .set(s.dead as f64);
            gauge!("lienthong_catalog_subscriber_down", "subscriber" => name.clone())
                .set(if s.down { 1.0 } else { 0.0 });
            gauge!("lienthong_catalog_subscriber_paused", "subscriber" => name.clone())
                .set(if s.paused { 1.0 } else { 0.0 });
            if let Some(ms) = s.last_success_ms {
                gauge!("lienthong_catalog_subscriber_last_success_timestamp_seconds", "subscriber" => name)
                    .set(ms as f64 / 1e3);
            }
        }
    }
}

/// Describes the catalog's metrics (help lines) on the current recorder.
pub fn describe_metrics() {
    use metrics::describe_gauge;
    describe_gauge!(
        "lienthong_catalog_procedures",
        "Procedures of the portal's catalog by state (in_force, withdrawn)"
    );
    describe_gauge!(
        "lienthong_catalog_versions_not_fanned_out",
        "Catalog versions published but not yet queued for the subscribers"
    );
    describe_gauge!(
        "lienthong_catalog_last_version_seq",
        "Publication number of the newest catalog version"
    );
    describe_gauge!(
        "lienthong_catalog_last_pull_timestamp_seconds",
        "When the last catalog pull was published (Unix seconds)"
    );
    describe_gauge!(
        "lienthong_catalog_pull_held",
        "1 while a catalog pull is held for an operator (the list shrank past catalog.max_shrink)"
    );
    describe_gauge!(
        "lienthong_catalog_subscriber_behind",
        "Catalog messages queued for a subscriber and not yet delivered"
    );
    describe_gauge!(
        "lienthong_catalog_subscriber_dead",
        "Catalog messages to a subscriber that are dead-lettered"
    );
    describe_gauge!(
        "lienthong_catalog_subscriber_down",
        "1 while a subscriber has been failing longer than catalog.down_after_seconds"
    );
    describe_gauge!(
        "lienthong_catalog_subscriber_paused",
        "1 while a subscriber refuses our signature (HTTP 401)"
    );
    describe_gauge!(
        "lienthong_catalog_subscriber_last_success_timestamp_seconds",
        "When a subscriber last accepted a request (Unix seconds)"
    );
}

/// How often [`Catalog::watch`] looks at the subscribers.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Catalog {
    /// Until `shutdown`: every [`WATCH_EVERY`], logs an alert (level error) when a subscriber
    /// becomes down (failing longer than `catalog.down_after_seconds`) or paused (it refused our
    /// signature), and a notice when it is back. The same states show in `catalog subscribers`,
    /// `/admin/catalog` and the `lienthong_catalog_subscriber_{down,paused}` metrics.
    pub async fn watch(&self, shutdown: tokio_util::sync::CancellationToken) {
        let mut alerted: std::collections::HashMap<String, (bool, bool)> =
            std::collections::HashMap::new();
        loop {
            match self.subscriber_states().await {
                Ok(states) => {
                    for s in states {
                        let was = alerted.insert(s.name.clone(), (s.down, s.paused));
                        let (was_down, was_paused) = was.unwrap_or((false, false));
                        if s.down && !was_down {
                            tracing::error!(
                                subscriber = %s.name, behind = s.behind,
                                failing_since_ms = s.failing_since_ms,
                                last_error = s.last_error.as_deref().unwrap_or(""),
                                "catalog: subscriber DOWN (failing longer than catalog.down_after_seconds); it catches up by itself when it answers again"
                            );
                        } else if !s.down && was_down {
                            tracing::info!(subscriber = %s.name, behind = s.behind, "catalog: subscriber answers again");
                        }
                        if s.paused && !was_paused {
                            tracing::error!(
                                subscriber = %s.name,
                                reason = s.paused_reason.as_deref().unwrap_or(""),
                                "catalog: subscriber PAUSED: it refuses our signature; check its secret in [peers.commune]"
                            );
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "catalog: cannot read the subscribers' state"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(WATCH_EVERY) => {}
            }
        }
    }
}
