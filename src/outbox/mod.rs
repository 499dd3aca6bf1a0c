//! The durable delivery queue. Records are enqueued by ingest in the same transaction that
//! stores them; lanes (one per peer) claim due work as batches, send them through the peer and
//! record the outcome. Policy lives here; all SQL lives in the store.
//!
//! Invariants:
//! - A batch has one id (the `X-Request-ID`) and one body for life: it is stored before it is
//!   sent, and every retry of it (timeout, 5xx, crash and restart) resends it unchanged.
//! - A batch that must change (only the failed items of a partly applied batch, a create turned
//!   into an update) is a new batch with a new id; a fully failed batch is retried as it is.
//! - Per dossier, messages go in queue order (header first, steps by time); a failing dossier
//!   holds back only itself.
//! - Nothing is deleted on failure: permanent errors are dead-lettered with the peer's reason.
//! - Each peer has its own lane and its own policy ([`DeliveryConfig`], from `[delivery]` and the
//!   peer's `policy` table): rate limit, circuit breaker, maintenance windows and max age hold
//!   back only that lane; the decisions are pure code in `breaker.rs`, `window.rs`,
//!   `throttle.rs` and `policy.rs`, the lane only applies them.

pub mod breaker;
pub mod config;
pub mod housekeeping;
pub mod peer;
pub mod policy;
pub mod throttle;
pub mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::{now_ms, Batch, Claim, Store, StoreError};
use config::DeliveryConfig;
use peer::Peer;

pub use breaker::BreakerState;
pub use policy::{decide, Backoff};

use breaker::{Admit, Breaker, Ticket, Transition};
use throttle::Throttle;
use window::MaintenanceWindow;

/// What one [`Lane::try_execute`] did, so tests can drive the queue without sleeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// A batch was sent; how many of its items were delivered.
    Sent { items: usize, delivered: usize },
    /// A claimed batch held messages older than the policy's `max_age`: they were dead-lettered
    /// unsent and the others put back in the queue.
    Expired { items: usize, expired: usize },
    /// The policy holds the lane back: nothing was claimed. Try again after `retry_in`.
    Held { reason: Hold, retry_in: Duration },
}

/// Why a lane claims nothing for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A maintenance window of the peer is on.
    Maintenance,
    /// The circuit breaker is open, or its one probe is in flight.
    BreakerOpen,
    /// The token bucket is empty.
    RateLimited,
}

/// One peer's delivery lane.
pub struct Lane {
    store: Arc<dyn Store>,
    peer: Arc<dyn Peer>,
    operations: Vec<String>,
    policy: DeliveryConfig,
    owner: String,
    wake: Arc<Notify>,
    /// The longest an idle lane sleeps when nothing wakes it.
    idle_poll: Duration,
    /// Per destination: its breaker, its credential pause, its batches in flight here. Entries
    /// exist only for destinations seen; nothing loops over them while idle.
    destinations: Mutex<HashMap<String, Destination>>,
    throttle: Option<Throttle>,
    windows: Vec<MaintenanceWindow>,
    in_window: AtomicBool,
    /// Where delivery figures go (`/metrics`), if anywhere.
    recording: Option<Recording>,
}

/// Runs what it is given with the gateway's metrics recorder in place (the recorder is the
/// gateway's own, not a global one), so the lane's `metrics::...!` calls reach `/metrics`.
pub type Recording = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// The delivery metrics' names, described by the exporter.
pub const METRIC_REQUEST_SECONDS: &str = "lienthong_delivery_request_seconds";
pub const METRIC_LATENCY_SECONDS: &str = "lienthong_delivery_latency_seconds";
pub const METRIC_ATTEMPTS: &str = "lienthong_delivery_attempts_total";

/// The policy cannot be applied (a maintenance window that does not parse).
#[derive(Debug, thiserror::Error)]
#[error("delivery policy of {peer}: {reason}")]
pub struct PolicyError {
    pub peer: String,
    pub reason: String,
}

impl Lane {
    /// `operations` are claimed in this order (e.g. dossier headers before steps). `policy` is
    /// the peer's: `[delivery]` with the peer's `policy` keys over it.
    pub fn new(
        store: Arc<dyn Store>,
        peer: Arc<dyn Peer>,
        operations: Vec<String>,
        policy: DeliveryConfig,
        owner: String,
        wake: Arc<Notify>,
    ) -> Result<Self, PolicyError> {
        let windows = policy
            .maintenance
            .iter()
            .map(MaintenanceWindow::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| PolicyError {
                peer: peer.name().to_string(),
                reason,
            })?;
        Ok(Self {
            destinations: Mutex::new(HashMap::new()),
            throttle: Throttle::new(policy.rate_per_second, policy.rate_burst),
            windows,
            in_window: AtomicBool::new(false),
            recording: None,
            store,
            peer,
            operations,
            idle_poll: policy.poll_interval(),
            policy,
            owner,
            wake,
        })
    }

    /// The policy this lane applies.
    pub fn policy(&self) -> &DeliveryConfig {
        &self.policy
    }

    /// The peer this lane delivers to.
    pub fn peer_name(&self) -> &str {
        self.peer.name()
    }

    /// Every instance sharing the store wakes this lane when it queues work (the store's
    /// [`work_listener`](crate::store::Store::work_listener) runs): polling is then only a safety
    /// net, for signals lost while reconnecting, and may be slow.
    /// Records delivery figures (request durations, queued-to-delivered latency, attempts per
    /// peer and destination) through `recording`.
    pub fn with_recording(mut self, recording: Recording) -> Self {
        self.recording = Some(recording);
        self
    }

    pub fn with_shared_wakeups(mut self) -> Self {
        self.idle_poll = self.idle_poll.max(SHARED_WAKEUP_POLL);
        self
    }

    /// Whether the peer (its only destination) refused our credentials recently; the lane
    /// claims nothing for it meanwhile.
    pub fn is_paused(&self) -> bool {
        self.destination_state("").is_some_and(|(_, paused)| paused)
    }

    /// The circuit breaker's state of the peer's only destination.
    pub fn breaker_state(&self) -> BreakerState {
        self.destination_state("")
            .map_or(BreakerState::Closed, |(state, _)| state)
    }

    /// A destination's breaker state and whether it is paused (refused our credentials), if the
    /// lane has sent to it.
    pub fn destination_state(&self, destination: &str) -> Option<(BreakerState, bool)> {
        let now = Instant::now();
        self.lock_destinations()
            .get_mut(destination)
            .map(|d| (d.breaker.state(), d.paused(now)))
    }

    fn lock_destinations(&self) -> std::sync::MutexGuard<'_, HashMap<String, Destination>> {
        self.destinations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on `destination`'s state, made on first use.
    fn with_destination<T>(&self, destination: &str, f: impl FnOnce(&mut Destination) -> T) -> T {
        let mut all = self.lock_destinations();
        if !all.contains_key(destination) {
            all.insert(destination.to_string(), Destination::new(&self.policy));
        }
        // Just inserted when missing.
        match all.get_mut(destination) {
            Some(d) => f(d),
            None => f(&mut Destination::new(&self.policy)),
        }
    }

    /// Destinations nothing may be claimed for now: paused, breaker open (or its one probe in
    /// flight), or at the policy's per-destination in-flight cap.
    fn held_destinations(&self, now: Instant) -> Vec<String> {
        let cap = self.policy.destination_concurrency;
        let mut held = Vec::new();
        for (name, d) in self.lock_destinations().iter_mut() {
            if d.paused(now) || d.breaker.blocks(now) || (cap > 0 && d.in_flight >= cap) {
                held.push(name.clone());
            }
        }
        held
    }

    /// Claims one batch (a due retry first, else a new one) and delivers it, unless the policy
    /// holds the lane back. A destination that is paused or whose breaker is open is skipped;
    /// the others go on.
    pub async fn try_execute(&self) -> Result<Outcome, StoreError> {
        // A peer with one destination (`""`) held back holds the whole lane, before any claim.
        let now = Instant::now();
        if self.with_destination("", |d| d.paused(now)) {
            return Ok(Outcome::Idle);
        }
        if let Some(retry_in) = self.maintenance() {
            return Ok(Outcome::Held {
                reason: Hold::Maintenance,
                retry_in,
            });
        }
        if let Some(after) =
            self.with_destination("", |d| d.breaker.blocks(now).then(|| d.breaker.wait(now)))
        {
            return Ok(Outcome::Held {
                reason: Hold::BreakerOpen,
                retry_in: after.unwrap_or_else(|| self.policy.poll_interval()),
            });
        }
        if let Some(throttle) = &self.throttle {
            if let Err(retry_in) = throttle.try_take() {
                return Ok(Outcome::Held {
                    reason: Hold::RateLimited,
                    retry_in,
                });
            }
        }
        let skip = self.held_destinations(now);
        let Some(batch) = self.claim(&skip).await? else {
            return Ok(Outcome::Idle);
        };
        let (admit, transition) =
            self.with_destination(&batch.destination, |d| d.breaker.admit(Instant::now()));
        self.log_breaker(&batch.destination, transition);
        let ticket = match admit {
            Admit::Go(ticket) => {
                self.with_destination(&batch.destination, |d| d.in_flight += 1);
                Admitted {
                    lane: self,
                    destination: batch.destination.clone(),
                    ticket: Some(ticket),
                }
            }
            Admit::Wait(after) => {
                // Another worker took this destination's one probe between the look and the
                // claim: give the batch back unsent, same id and body, no attempt used.
                let now = now_ms();
                let later = after.unwrap_or_else(|| self.policy.poll_interval());
                let mut fate = crate::store::BatchFate::Reopen {
                    next_attempt_ms: now + later.as_millis() as i64,
                    error: "held back: the destination's circuit breaker is open".into(),
                    count_attempt: false,
                };
                if self.peer.regroups() {
                    fate = policy::dissolve(&batch, fate);
                }
                self.store.resolve_batch(&batch, fate, now).await?;
                // Other destinations may have work: look again soon.
                return Ok(Outcome::Held {
                    reason: Hold::BreakerOpen,
                    retry_in: self.policy.poll_interval(),
                });
            }
        };
        let now = now_ms();
        if let Some(fate) = policy::expire(&batch, self.policy.max_age(), now) {
            drop(ticket);
            let expired = policy::dead_count(&fate);
            tracing::warn!(peer = %batch.peer, request_id = %batch.id, expired, "messages past max_age dead-lettered unsent");
            self.store.resolve_batch(&batch, fate, now).await?;
            return Ok(Outcome::Expired {
                items: batch.messages.len(),
                expired,
            });
        }
        self.deliver(batch, ticket).await
    }

    /// How long until the maintenance window that is on now ends; logs when one starts or ends.
    fn maintenance(&self) -> Option<Duration> {
        if self.windows.is_empty() {
            return None;
        }
        let now = chrono::Utc::now();
        let until = window::paused_until(&self.windows, now);
        let was = self.in_window.swap(until.is_some(), Ordering::Relaxed);
        match (until, was) {
            (Some(end), false) => tracing::info!(
                peer = %self.peer.name(),
                until = %end.with_timezone(&crate::time::vietnam()).to_rfc3339(),
                "maintenance window: sending paused"
            ),
            (None, true) => {
                tracing::info!(peer = %self.peer.name(), "maintenance window over: sending again")
            }
            _ => {}
        }
        until.map(|end| (end - now).to_std().unwrap_or(Duration::ZERO))
    }

    async fn claim(&self, skip: &[String]) -> Result<Option<Batch>, StoreError> {
        let now = now_ms();
        let lease_until = now + self.policy.lease().as_millis() as i64;
        let mut claim = Claim {
            peer: self.peer.name(),
            skip_destinations: skip,
            operation: "",
            limit: 0,
            now_ms: now,
            lease_until_ms: lease_until,
            owner: &self.owner,
        };
        if let Some(batch) = self.store.claim_open_batch(&claim).await? {
            return Ok(Some(batch));
        }
        for op in &self.operations {
            claim.operation = op;
            claim.limit = self.peer.max_batch(op).max(1);
            let peer = self.peer.clone();
            let op_name = op.clone();
            let build = move |is_update: bool, items: &[serde_json::Value]| {
                peer.build_body(&op_name, is_update, items)
            };
            if let Some(batch) = self.store.claim_new_batch(&claim, &build).await? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    async fn deliver(&self, mut batch: Batch, ticket: Admitted<'_>) -> Result<Outcome, StoreError> {
        let item_ids: Vec<uuid::Uuid> = batch.messages.iter().map(|m| m.id).collect();
        // Room for one more call before the lease taken at the claim runs out.
        let start_by = Instant::now()
            + self
                .policy
                .lease()
                .saturating_sub(self.policy.timeout())
                .saturating_sub(Duration::from_secs(1));
        // Every line logged while this batch is out names its messages and their dossiers.
        let ids: Vec<String> = item_ids.iter().map(uuid::Uuid::to_string).collect();
        let dossiers: Vec<&str> = batch.messages.iter().map(|m| m.dossier.as_str()).collect();
        let span = tracing::info_span!(
            "batch",
            peer = %batch.peer,
            destination = %batch.destination,
            request_id = %batch.id,
            messages = %ids.join(","),
            dossiers = %dossiers.join(","),
        );
        let sent_at = Instant::now();
        let (verdict, answer_sha256) = tracing::Instrument::instrument(
            self.peer.deliver(peer::Request {
                id: batch.id,
                destination: &batch.destination,
                operation: &batch.operation,
                body: &batch.body,
                item_ids: &item_ids,
                start_by: Some(start_by),
            }),
            span.clone(),
        )
        .await;
        // Reasons are stored, listed and logged: a peer echoing the item must not put the
        // citizen's data in them.
        let verdict = verdict.masked();
        batch.answer_sha256 = answer_sha256;
        batch.health = Some(policy::health(&verdict, batch.messages.len()));
        if let Some(reason) = policy::paused_reason(&verdict) {
            tracing::error!(peer = %batch.peer, destination = %batch.destination, %reason, "destination refuses our credentials: sending paused; check the peer's config");
            self.with_destination(&batch.destination, |d| {
                d.paused_until = Some(Instant::now() + policy::PAUSE)
            });
        }
        match policy::peer_failed(&verdict, batch.messages.len()) {
            Some(failed) => {
                let transition = ticket.record(failed);
                self.log_breaker(&batch.destination, transition);
            }
            None => drop(ticket),
        }
        let now = now_ms();
        let resend_as =
            |v: &peer::ItemVerdict| self.peer.resend_as(&batch.operation, batch.is_update, v);
        let mut fate = decide(
            &batch,
            &verdict,
            &self.policy,
            now,
            &mut rand::thread_rng(),
            &resend_as,
        );

        self.record(&batch, &fate, sent_at.elapsed(), now);
        let delivered = policy::delivered_count(&fate);
        tracing::debug!(
            peer = %batch.peer,
            request_id = %batch.id,
            items = batch.messages.len(),
            delivered,
            "batch settled"
        );
        match &fate {
            crate::store::BatchFate::Reopen { error, .. } => {
                tracing::info!(peer = %batch.peer, request_id = %batch.id, messages = %ids.join(","),
                    dossiers = %dossiers.join(","), %error, "batch will be retried");
            }
            crate::store::BatchFate::Close(fates) => {
                for (id, fate) in fates {
                    let dossier = batch
                        .messages
                        .iter()
                        .find(|m| m.id == *id)
                        .map_or("", |m| m.dossier.as_str());
                    log_message_fate(&batch.peer, *id, dossier, fate);
                }
            }
        }
        if self.peer.regroups() {
            fate = policy::dissolve(&batch, fate);
        }
        self.store.resolve_batch(&batch, fate, now).await?;
        Ok(Outcome::Sent {
            items: batch.messages.len(),
            delivered,
        })
    }

    /// One request's duration and attempt, and each delivered message's time from acceptance
    /// (or its last replay) to delivery, per peer and destination.
    fn record(&self, batch: &Batch, fate: &crate::store::BatchFate, took: Duration, now: i64) {
        let Some(recording) = &self.recording else {
            return;
        };
        let delivered: Vec<uuid::Uuid> = match fate {
            crate::store::BatchFate::Close(f) => f
                .iter()
                .filter(|(_, f)| matches!(f, crate::store::MessageFate::Delivered))
                .map(|(id, _)| *id)
                .collect(),
            crate::store::BatchFate::Reopen { .. } => Vec::new(),
        };
        recording(&mut || {
            let labels = [
                ("peer", batch.peer.clone()),
                ("destination", batch.destination.clone()),
            ];
            metrics::histogram!(METRIC_REQUEST_SECONDS, &labels).record(took.as_secs_f64());
            metrics::counter!(METRIC_ATTEMPTS, &labels).increment(1);
            let latency = metrics::histogram!(METRIC_LATENCY_SECONDS, &labels);
            for m in batch.messages.iter().filter(|m| delivered.contains(&m.id)) {
                latency.record((now - m.accepted_ms).max(0) as f64 / 1000.0);
            }
        });
    }

    fn log_breaker(&self, destination: &str, transition: Option<Transition>) {
        let peer = match destination {
            "" => self.peer.name().to_string(),
            d => format!("{}/{d}", self.peer.name()),
        };
        let cool_down_s = self.policy.breaker_cool_down_seconds;
        match transition {
            Some(Transition::Opened { failures }) => tracing::warn!(
                %peer, failures, cool_down_s,
                "circuit breaker open: peer failing, nothing is claimed until a probe succeeds"
            ),
            Some(Transition::HalfOpened) => {
                tracing::info!(%peer, "circuit breaker half-open: sending one probe batch")
            }
            Some(Transition::Closed) => {
                tracing::info!(%peer, "circuit breaker closed: probe succeeded, sending again")
            }
            Some(Transition::Reopened) => tracing::warn!(
                %peer, cool_down_s,
                "circuit breaker open again: probe failed"
            ),
            None => {}
        }
    }

    /// Runs `try_execute` until `shutdown`, sleeping while idle until work is due or ingest wakes
    /// the lane, and while the policy holds it back.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut store_backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            // Registered before looking for work, so a wake-up that comes while this worker is
            // still busy finding nothing is not lost (it would otherwise sleep a whole poll).
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.try_execute().await {
                Ok(Outcome::Sent { .. } | Outcome::Expired { .. }) => {
                    store_backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(Outcome::Held { retry_in, .. }) => {
                    store_backoff = Duration::from_millis(200);
                    // Bounded, so a long window or cool-down is re-checked now and then.
                    let wait = retry_in.clamp(Duration::from_millis(1), Duration::from_secs(60));
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Ok(Outcome::Idle) => {
                    store_backoff = Duration::from_millis(200);
                    let wait = self.idle_wait().await;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = &mut woken => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => {
                    // The store is down or full: pause and try again, never lose the claim.
                    tracing::warn!(peer = %self.peer.name(), error = %e, "delivery paused: store unavailable");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(store_backoff) => {}
                    }
                    store_backoff = (store_backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Sleeps until the next retry is due, but never longer than the idle poll: other
    /// instances may have queued work this one was not woken for.
    async fn idle_wait(&self) -> Duration {
        let poll = self.idle_poll;
        if self.is_paused() {
            return poll;
        }
        match self.store.next_due(self.peer.name()).await {
            Ok(Some(due)) if due > now_ms() => {
                Duration::from_millis((due - now_ms()) as u64).clamp(Duration::from_millis(1), poll)
            }
            // Due already, yet nothing was claimed: it became due meanwhile, or another worker
            // or instance took it a moment ago. Look again after the configured poll.
            Ok(Some(_)) => self.policy.poll_interval().min(poll),
            _ => poll,
        }
    }
}

/// A batch the breaker let through. Dropped without [`Admitted::record`] (nothing was sent,
/// an error, a cancelled future) it gives its place back, so a half-open breaker is never left
/// waiting for a probe that will not answer.
struct Admitted<'a> {
    lane: &'a Lane,
    destination: String,
    ticket: Option<Ticket>,
}

impl Admitted<'_> {
    /// The batch was sent; `failed` when the peer itself failed.
    fn record(mut self, failed: bool) -> Option<Transition> {
        let ticket = self.ticket.take()?;
        self.lane.with_destination(&self.destination, |d| {
            d.in_flight = d.in_flight.saturating_sub(1);
            d.breaker.record(ticket, failed, Instant::now())
        })
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.lane.with_destination(&self.destination, |d| {
                d.in_flight = d.in_flight.saturating_sub(1);
                d.breaker.release(ticket)
            });
        }
    }
}

/// What a lane keeps about one destination of its peer.
struct Destination {
    breaker: Breaker,
    /// Set when the destination refused our credentials: nothing is claimed for it until then.
    paused_until: Option<Instant>,
    /// Batches of this destination being sent by this instance now.
    in_flight: usize,
}

impl Destination {
    fn new(policy: &DeliveryConfig) -> Self {
        Self {
            breaker: Breaker::new(policy.breaker_failures, policy.breaker_cool_down()),
            paused_until: None,
            in_flight: 0,
        }
    }

    fn paused(&mut self, now: Instant) -> bool {
        match self.paused_until {
            Some(until) if until > now => true,
            _ => {
                self.paused_until = None;
                false
            }
        }
    }
}

/// The idle poll of a lane that other instances wake (see [`Lane::with_shared_wakeups`]).
pub const SHARED_WAKEUP_POLL: Duration = Duration::from_secs(5);

/// Starts `concurrency` workers on a lane; they stop when `shutdown` is cancelled.
pub fn spawn_lane(
    lane: Arc<Lane>,
    concurrency: usize,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) {
    for _ in 0..concurrency.max(1) {
        tracker.spawn(lane.clone().run(shutdown.clone()));
    }
}

/// One line per message settled, with its id, peer and dossier code (the reason already masked).
fn log_message_fate(peer: &str, id: uuid::Uuid, dossier: &str, fate: &crate::store::MessageFate) {
    use crate::store::MessageFate;
    match fate {
        MessageFate::Delivered => {
            tracing::debug!(%peer, message_id = %id, %dossier, "message delivered")
        }
        MessageFate::Retry { error, .. } => {
            tracing::info!(%peer, message_id = %id, %dossier, %error, "message will be retried")
        }
        MessageFate::Dead { error } => {
            tracing::warn!(%peer, message_id = %id, %dossier, %error, "message dead-lettered")
        }
    }
}
