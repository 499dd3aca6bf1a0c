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

pub mod policy;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::DeliveryConfig;
use crate::peer::Peer;
use crate::store::{now_ms, Batch, Claim, Store, StoreError};

pub use policy::{decide, Backoff};

/// What one [`Lane::try_execute`] did, so tests can drive the queue without sleeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due.
    Idle,
    /// A batch was sent; how many of its items were delivered.
    Sent { items: usize, delivered: usize },
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
    /// Set when the peer refused our credentials: nothing is claimed until then.
    paused_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Lane {
    /// `operations` are claimed in this order (e.g. dossier headers before steps).
    pub fn new(
        store: Arc<dyn Store>,
        peer: Arc<dyn Peer>,
        operations: Vec<String>,
        policy: DeliveryConfig,
        owner: String,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            peer,
            operations,
            idle_poll: policy.poll_interval(),
            policy,
            owner,
            wake,
            paused_until: std::sync::Mutex::new(None),
        }
    }

    /// Every instance sharing the store wakes this lane when it queues work (the store's
    /// [`work_listener`](crate::store::Store::work_listener) runs): polling is then only a safety
    /// net, for signals lost while reconnecting, and may be slow.
    pub fn with_shared_wakeups(mut self) -> Self {
        self.idle_poll = self.idle_poll.max(SHARED_WAKEUP_POLL);
        self
    }

    /// Whether the peer refused our credentials recently; the lane claims nothing meanwhile.
    pub fn is_paused(&self) -> bool {
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        match *paused {
            Some(until) if until > std::time::Instant::now() => true,
            _ => {
                *paused = None;
                false
            }
        }
    }

    /// Claims one batch (a due retry first, else a new one) and delivers it.
    pub async fn try_execute(&self) -> Result<Outcome, StoreError> {
        if self.is_paused() {
            return Ok(Outcome::Idle);
        }
        let now = now_ms();
        let lease_until = now + self.policy.lease().as_millis() as i64;
        let mut claim = Claim {
            peer: self.peer.name(),
            operation: "",
            limit: 0,
            now_ms: now,
            lease_until_ms: lease_until,
            owner: &self.owner,
        };
        let mut batch = self.store.claim_open_batch(&claim).await?;
        if batch.is_none() {
            for op in &self.operations {
                claim.operation = op;
                claim.limit = self.peer.max_batch(op).max(1);
                let peer = self.peer.clone();
                let op_name = op.clone();
                let build = move |is_update: bool, items: &[serde_json::Value]| {
                    peer.build_body(&op_name, is_update, items)
                };
                batch = self.store.claim_new_batch(&claim, &build).await?;
                if batch.is_some() {
                    break;
                }
            }
        }
        let Some(batch) = batch else {
            return Ok(Outcome::Idle);
        };
        self.deliver(batch).await
    }

    async fn deliver(&self, batch: Batch) -> Result<Outcome, StoreError> {
        let verdict = self
            .peer
            .send(batch.id, &batch.operation, &batch.body)
            .await;
        if let crate::peer::BatchVerdict::Paused { reason } = &verdict {
            tracing::error!(peer = %batch.peer, %reason, "destination refuses our credentials: sending paused; check the peer's config");
            *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(std::time::Instant::now() + policy::PAUSE);
        }
        let now = now_ms();
        let fate = decide(&batch, &verdict, &self.policy, now, &mut rand::thread_rng());
        let delivered = policy::delivered_count(&fate);
        tracing::debug!(
            peer = %batch.peer,
            request_id = %batch.id,
            items = batch.messages.len(),
            delivered,
            "batch settled"
        );
        if let crate::store::BatchFate::Reopen { error, .. } = &fate {
            tracing::info!(peer = %batch.peer, request_id = %batch.id, %error, "batch will be retried");
        }
        self.store.resolve_batch(&batch, fate, now).await?;
        Ok(Outcome::Sent {
            items: batch.messages.len(),
            delivered,
        })
    }

    /// Runs `try_execute` until `shutdown`, sleeping while idle until work is due or ingest wakes
    /// the lane.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut store_backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            // Registered before looking for work, so a wake-up that comes while this worker is
            // busy or computing its sleep is not lost.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.try_execute().await {
                Ok(Outcome::Sent { .. }) => {
                    store_backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(Outcome::Idle) => {
                    store_backoff = Duration::from_millis(200);
                    let wait = self.idle_wait().await;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = woken => {}
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
