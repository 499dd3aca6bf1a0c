//! The postal service (vnpost.md): what happens to a dossier's postal orders after they are
//! queued. Orders themselves are queued by the routes' triggers (`[sources.triggers]`,
//! `peer::registry::TRIGGERS`), `held` until the dossier's header is at the portal; this module
//!
//! - releases them (`release`, every `postal.release_every_ms`; a cancel whose order tracking
//!   already shows collected is skipped with the reason instead),
//! - reads VNPost's tracking feed (`poll`, the `postal_poll` job: one leader), page by page, each
//!   page's events stored with the cursor moved in one transaction,
//! - takes VNPost's signed pushes (`callback.rs`, `/callbacks/vnpost`),
//! - turns events into the dossier's steps at the portal and alerts (`rules.rs`: forward-only
//!   status, steps, what a failure is), each event applied once whichever way it came,
//! - and shows orders and events to operators and to the local system.
//!
//! `config.rs` is `[postal]`. What it must not do: run SQL (the store does), know the wire of
//! the portal (steps are items of the portal's step operation, which the registry names).

pub mod callback;
pub mod config;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::mapping::Target;
use crate::peer::registry::{self, PeersConfig};
use crate::peer::vnpost::{self, TrackingEvent, VnpostPeer, FEED_START};
use crate::store::{
    now_ms, HeaderAt, NewMessage, PostalApplied, PostalEvent, PostalEventRow, PostalOrderState,
    Released, Store,
};

pub use config::PostalConfig;
use rules::StepTarget;

/// The scheduler's name for the tracking poll.
pub const JOB_POLL: &str = crate::scheduler::POSTAL_POLL;

/// The tracking cursor's name in the store.
const CURSOR: &str = "vnpost_tracking";

/// What a poll did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PollReport {
    pub pages: u64,
    pub events: u64,
    /// Events the feed held that could not be read (reported, skipped).
    pub unreadable: u64,
    pub applied: PostalApplied,
    /// Where the next poll starts.
    pub last_id: String,
    /// The feed was read to its end for now.
    pub at_end: bool,
}

/// Progress of a poll, page by page.
pub trait PollProgress: Send + Sync {
    fn page(&self, report: &PollReport, feed_size: Option<u64>);
}

/// No progress shown.
pub struct Quiet;
impl PollProgress for Quiet {
    fn page(&self, _: &PollReport, _: Option<u64>) {}
}

/// What went wrong in a poll or a cancel.
#[derive(Debug, thiserror::Error)]
pub enum PostalError {
    #[error("postal: no [peers.vnpost] is configured")]
    NotConfigured,
    #[error("postal: {0}")]
    Feed(String),
    #[error("postal: {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// One order as an operator sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    /// The dossier code (`OrderNumber`).
    pub dossier: String,
    /// `"1"` collection, `"2"` delivery.
    pub order_type: String,
    pub kind: &'static str,
    /// `waiting_header`, `queued`, `dead`, `skipped`, `ordered`, then tracking's `collected`,
    /// `in_transit`, `delivered`, `failed`, `cancelled`.
    pub state: String,
    /// The order message's id and state in the outbox (when still there).
    pub message_id: Option<String>,
    pub message_state: Option<String>,
    pub last_error: Option<String>,
    pub status_code: Option<i64>,
    pub status: Option<String>,
    pub status_time: Option<String>,
    pub waybill: Option<String>,
    pub alert: Option<String>,
    pub events: i64,
    /// A cancel for it, and its state.
    pub cancel_state: Option<String>,
}

/// One order with its events.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderDetail {
    pub order: OrderView,
    pub events: Vec<PostalEventRow>,
}

/// The postal service, built from config.
pub struct Postal {
    store: Arc<dyn Store>,
    feed: Option<Arc<VnpostPeer>>,
    config: PostalConfig,
    secret: Option<SecretString>,
    step: Option<StepTarget>,
    /// The local webhook, when configured: told of every new event of an order we made.
    notify: Option<StepTarget>,
    header_peer: String,
    header_operations: Vec<&'static str>,
}

impl std::fmt::Debug for Postal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postal")
            .field("feed", &self.feed.is_some())
            .field("push", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Postal {
    /// Builds the postal service; without `[peers.vnpost]` it only shows what is stored.
    pub fn from_config(
        store: Arc<dyn Store>,
        peers: &PeersConfig,
        cfg: &PostalConfig,
        base_dir: &std::path::Path,
        policy_for: impl Fn(&str) -> crate::outbox::config::DeliveryConfig,
    ) -> anyhow::Result<Self> {
        let problems = cfg.check(base_dir);
        if !problems.is_empty() {
            anyhow::bail!(problems.join("\n"));
        }
        let feed = match &peers.vnpost {
            Some(v) => Some(Arc::new(
                VnpostPeer::new_in(v, base_dir, policy_for(vnpost::PEER_VNPOST).timeout())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            None => None,
        };
        let secret = crate::settings::resolve_secret(
            "postal.callback_secret",
            &cfg.callback_secret,
            &cfg.callback_secret_file
                .as_ref()
                .map(|f| crate::settings::resolve_path(base_dir, f)),
        )
        .map_err(anyhow::Error::msg)?;
        let step = registry::taking(Target::Step).map(|(family, takes)| StepTarget {
            peer: family.name.to_string(),
            operation: takes.operation.to_string(),
        });
        let (header_peer, header_operations) = match registry::taking(Target::Dossier) {
            Some((family, takes)) => (family.name.to_string(), vec![takes.operation]),
            None => (String::new(), Vec::new()),
        };
        let notify = peers.local_webhook.as_ref().map(|_| StepTarget {
            peer: crate::peer::webhook::PEER_WEBHOOK.to_string(),
            operation: crate::peer::webhook::OP_POSTAL_EVENT.to_string(),
        });
        Ok(Self {
            store,
            feed,
            config: cfg.clone(),
            secret,
            step,
            notify,
            header_peer,
            header_operations,
        })
    }

    /// Whether VNPost is configured (orders are sent and tracking can be read).
    pub fn is_configured(&self) -> bool {
        self.feed.is_some()
    }

    fn header(&self) -> HeaderAt<'_> {
        HeaderAt {
            peer: &self.header_peer,
            operations: &self.header_operations,
        }
    }

    /// Stores `events` (by `via`: `poll` or `push`) and applies the new ones, moving the
    /// tracking cursor to `cursor` in the same transaction when given.
    pub async fn apply(
        &self,
        events: &[TrackingEvent],
        via: &str,
        cursor: Option<&str>,
    ) -> Result<PostalApplied, PostalError> {
        let rows: Vec<PostalEvent> = events.iter().map(to_row).collect();
        let step = self.step.clone().unwrap_or(StepTarget {
            peer: String::new(),
            operation: String::new(),
        });
        let now = now_ms();
        let notify = self.notify.clone();
        let decide = move |ctx: &crate::store::PostalEventContext<'_>| {
            let mut d = rules::decide(ctx, &step, notify.as_ref(), now);
            if step.peer.is_empty() {
                d.messages.retain(|m| m.peer != step.peer);
            }
            d
        };
        let applied = self
            .store
            .apply_postal_events(
                crate::store::PostalBatch {
                    events: &rows,
                    via,
                    cursor: cursor.map(|c| (CURSOR, c)),
                    header: self.header(),
                    order_tag: &vnpost::order_tag,
                    now_ms: now,
                },
                &decide,
            )
            .await?;
        if applied.unknown > 0 {
            tracing::warn!(
                unknown = applied.unknown,
                via,
                "postal: events for orders the gateway did not make; kept (lienthong postal unknown)"
            );
        }
        self.log_alerts(events).await;
        Ok(applied)
    }

    /// Logs the failures and cancels among `events` that are now their order's alert.
    async fn log_alerts(&self, events: &[TrackingEvent]) {
        for e in events {
            if ![5u8, 9, 15, 22].contains(&e.status_code) {
                continue;
            }
            let Ok(orders) = self.store.postal_orders(Some(&e.order_number), 10).await else {
                continue;
            };
            if let Some(o) = orders.iter().find(|o| {
                o.order_type == e.order_type
                    && o.status_code == i64::from(e.status_code)
                    && o.status_time == e.event_time_text
            }) {
                tracing::error!(
                    alert = "postal_failure",
                    order_number = %o.order_number,
                    order_type = %o.order_type,
                    status = e.status_code,
                    "postal: {}",
                    o.alert.as_deref().unwrap_or("failure")
                );
            }
        }
    }

    /// One tracking poll: reads pages from the stored cursor until the feed's end for now (or
    /// `postal.max_pages`), each page stored with the cursor in one transaction.
    pub async fn poll(&self, progress: &dyn PollProgress) -> Result<PollReport, PostalError> {
        let feed = self.feed.as_ref().ok_or(PostalError::NotConfigured)?;
        let mut report = PollReport {
            last_id: self
                .store
                .postal_cursor(CURSOR)
                .await?
                .unwrap_or_else(|| FEED_START.to_string()),
            ..PollReport::default()
        };
        let mut tries = 0u32;
        while report.pages < u64::from(self.config.max_pages) {
            let page = match feed
                .tracking_page(&report.last_id, self.config.page_size)
                .await
            {
                Ok(page) => page,
                Err(crate::peer::reads::ReadError::Busy { reason, after }) if tries < 5 => {
                    tries += 1;
                    let wait = after
                        .unwrap_or(Duration::from_millis(500 << tries))
                        .min(Duration::from_secs(30));
                    tracing::info!(%reason, wait_ms = wait.as_millis() as u64, "postal: tracking busy; trying again");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => return Err(PostalError::Feed(e.to_string())),
            };
            tries = 0;
            for bad in &page.bad {
                tracing::warn!(event = %bad, "postal: tracking event unreadable; skipped");
            }
            let applied = self
                .apply(&page.events, "poll", Some(&page.next_last_id))
                .await?;
            report.pages += 1;
            report.events += page.events.len() as u64;
            report.unreadable += page.bad.len() as u64;
            report.applied.new += applied.new;
            report.applied.duplicate += applied.duplicate;
            report.applied.unknown += applied.unknown;
            report.applied.changed += applied.changed;
            report.applied.queued += applied.queued;
            report.last_id.clone_from(&page.next_last_id);
            progress.page(&report, page.size);
            if page.is_end() {
                report.at_end = true;
                break;
            }
        }
        Ok(report)
    }

    /// Releases held orders whose dossier's header is at the portal.
    pub async fn release(&self) -> Result<Released, PostalError> {
        let released = self
            .store
            .release_held(vnpost::PEER_VNPOST, self.header(), 500, now_ms(), &|held| {
                rules::release(held, vnpost::OP_CANCEL)
            })
            .await?;
        if released.released + released.skipped > 0 {
            tracing::info!(
                released = released.released,
                skipped = released.skipped,
                still_held = released.held,
                "postal: held orders looked at"
            );
        }
        Ok(released)
    }

    /// Releases held orders every `postal.release_every_ms` until `stop`.
    pub async fn run_release(
        self: Arc<Self>,
        wake: Arc<tokio::sync::Notify>,
        stop: CancellationToken,
    ) {
        let every = Duration::from_millis(self.config.release_every_ms);
        loop {
            match self.release().await {
                Ok(r) if r.released > 0 => wake.notify_waiters(),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "postal: release of held orders failed; trying again")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Orders, newest first: every order message still in the outbox, with what tracking
    /// knows of it, and tracked orders whose messages were pruned. Filtered by dossier and by
    /// state ([`OrderView::state`]).
    pub async fn orders(
        &self,
        dossier: Option<&str>,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OrderView>, PostalError> {
        let limit = limit.clamp(1, 10_000) as i64;
        let messages = self
            .store
            .postal_messages(
                vnpost::PEER_VNPOST,
                &[vnpost::OP_ORDER, vnpost::OP_CANCEL],
                dossier,
                limit * 2,
            )
            .await?;
        let tracked = self.store.postal_orders(dossier, limit).await?;
        let mut views: Vec<OrderView> = Vec::new();
        let find = |views: &mut Vec<OrderView>, d: &str, t: &str| {
            views
                .iter()
                .position(|v| v.dossier == d && v.order_type == t)
        };
        for m in messages.iter().filter(|m| m.operation == vnpost::OP_ORDER) {
            let item: Value = serde_json::from_str(&m.item).unwrap_or(Value::Null);
            let t = item
                .get("OrderType")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if find(&mut views, &m.dossier, &t).is_some() {
                continue;
            }
            views.push(OrderView {
                dossier: m.dossier.clone(),
                kind: kind_of(&t),
                order_type: t,
                state: message_state(&m.state).to_string(),
                message_id: Some(m.id.clone()),
                message_state: Some(m.state.clone()),
                last_error: m.last_error.clone(),
                status_code: None,
                status: None,
                status_time: None,
                waybill: item
                    .get("ItemCode")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                alert: None,
                events: 0,
                cancel_state: None,
            });
        }
        for m in messages.iter().filter(|m| m.operation == vnpost::OP_CANCEL) {
            let item: Value = serde_json::from_str(&m.item).unwrap_or(Value::Null);
            let t = item.get("OrderType").and_then(Value::as_str).unwrap_or("");
            if let Some(i) = find(&mut views, &m.dossier, t) {
                views[i].cancel_state.get_or_insert_with(|| m.state.clone());
            }
        }
        for o in tracked {
            let i = match find(&mut views, &o.order_number, &o.order_type) {
                Some(i) => i,
                None => {
                    views.push(OrderView {
                        dossier: o.order_number.clone(),
                        order_type: o.order_type.clone(),
                        kind: kind_of(&o.order_type),
                        state: "ordered".into(),
                        message_id: None,
                        message_state: None,
                        last_error: None,
                        status_code: None,
                        status: None,
                        status_time: None,
                        waybill: None,
                        alert: None,
                        events: 0,
                        cancel_state: None,
                    });
                    views.len() - 1
                }
            };
            apply_tracking(&mut views[i], &o);
        }
        if let Some(s) = state {
            views.retain(|v| v.state == s);
        }
        views.truncate(limit as usize);
        Ok(views)
    }

    /// One order and its events.
    pub async fn show(
        &self,
        dossier: &str,
        order_type: Option<&str>,
    ) -> Result<Vec<OrderDetail>, PostalError> {
        let orders = self.orders(Some(dossier), None, 100).await?;
        let mut out = Vec::new();
        for o in orders {
            if order_type.is_some_and(|t| t != o.order_type) {
                continue;
            }
            let events = self
                .store
                .postal_events(&o.dossier, Some(&o.order_type))
                .await?;
            out.push(OrderDetail { order: o, events });
        }
        Ok(out)
    }

    /// A dossier's postal events, in event time order (for the local system).
    pub async fn dossier_events(&self, dossier: &str) -> Result<Vec<PostalEventRow>, PostalError> {
        Ok(self.store.postal_events(dossier, None).await?)
    }

    /// Events of orders the gateway does not know.
    pub async fn unknown(&self, limit: usize) -> Result<Vec<PostalEventRow>, PostalError> {
        Ok(self
            .store
            .postal_unknown_events(limit.clamp(1, 10_000) as i64)
            .await?)
    }

    /// Queues a cancel of each of `dossier`'s orders (of `order_type` when given) that was made
    /// and is not settled; returns the order types cancelled.
    pub async fn cancel(
        &self,
        dossier: &str,
        order_type: Option<&str>,
    ) -> Result<Vec<String>, PostalError> {
        let feed = self.feed.as_ref().ok_or(PostalError::NotConfigured)?;
        let orders = self.orders(Some(dossier), None, 100).await?;
        let mut messages = Vec::new();
        let mut types = Vec::new();
        for o in &orders {
            if order_type.is_some_and(|t| t != o.order_type)
                || matches!(o.state.as_str(), "delivered" | "cancelled" | "skipped")
                || o.cancel_state.is_some()
            {
                continue;
            }
            let item = feed
                .cancel_item(&o.dossier, &o.order_type)
                .map_err(|e| PostalError::Refused(e.to_string()))?;
            let mut m = NewMessage::new(vnpost::PEER_VNPOST, vnpost::OP_CANCEL, dossier, item);
            m.requires = Some(vnpost::order_tag(&o.order_type));
            m.once = Some(format!("postal_cancel_{}", o.order_type));
            messages.push(m);
            types.push(o.order_type.clone());
        }
        if messages.is_empty() {
            return Err(PostalError::Refused(format!(
                "dossier {dossier} has no order that can still be cancelled"
            )));
        }
        let mut tx = self.store.begin_write().await?;
        let queued = tx.enqueue(&messages, now_ms()).await?;
        tx.commit().await?;
        Ok(types
            .into_iter()
            .zip(queued)
            .filter(|(_, q)| q.queued)
            .map(|(t, _)| t)
            .collect())
    }

    /// Counts for the operations view.
    pub async fn counts(&self) -> Result<crate::store::PostalCounts, PostalError> {
        Ok(self.store.postal_counts(vnpost::PEER_VNPOST).await?)
    }

    /// The push route's secret, when pushes are taken.
    pub(crate) fn callback_secret(&self) -> Option<&SecretString> {
        self.secret.as_ref()
    }

    pub(crate) fn callback_max_events(&self) -> usize {
        self.config.callback_max_events
    }
}

fn kind_of(order_type: &str) -> &'static str {
    match order_type {
        "1" => "collection",
        "2" => "delivery",
        _ => "unknown",
    }
}

fn message_state(state: &str) -> &'static str {
    match state {
        "held" => "waiting_header",
        "pending" | "inflight" | "waiting" => "queued",
        "dead" => "dead",
        "skipped" => "skipped",
        _ => "ordered",
    }
}

fn apply_tracking(v: &mut OrderView, o: &PostalOrderState) {
    v.events = o.events;
    v.alert.clone_from(&o.alert);
    if o.item_code.is_some() {
        v.waybill.clone_from(&o.item_code);
    }
    if o.status_time.is_empty() {
        return;
    }
    v.status_code = Some(o.status_code);
    v.status = Some(rules::status_text(o.status_code));
    v.status_time = Some(o.status_time.clone());
    v.state = match o.status_code {
        5 | 15 => "failed",
        9 | 22 => "cancelled",
        14 | 19 | 21 if o.order_type == "2" => "delivered",
        20 => "returned",
        _ if o.collected_at.is_some() && o.order_type == "1" => "collected",
        _ if o.collected_at.is_some() => "in_transit",
        _ => "ordered",
    }
    .to_string();
}

fn to_row(e: &TrackingEvent) -> PostalEvent {
    PostalEvent {
        id: e.id.clone(),
        order_number: e.order_number.clone(),
        order_type: e.order_type.clone(),
        status_code: i64::from(e.status_code),
        event_time: e.event_time_text.clone(),
        pos_id: e.pos_id.clone(),
        item_code: e.item_code.clone(),
        raw: e.raw.to_string(),
    }
}

/// The help lines of the postal metrics (set at each scrape by [`record`]).
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "lienthong_postal_orders",
        "Postal orders tracked, by what tracking shows (tracked, collected, delivered, alert)"
    );
    metrics::describe_gauge!(
        "lienthong_postal_held_messages",
        "Postal orders and cancels held until their dossier's header is at the portal"
    );
    metrics::describe_gauge!(
        "lienthong_postal_events",
        "Tracking events stored (each once, by poll or push), and those of orders the gateway did not make"
    );
    metrics::describe_gauge!(
        "lienthong_postal_last_poll_timestamp_seconds",
        "When a tracking poll last stored a page (unix seconds; 0: never)"
    );
}

/// Sets the postal gauges from `counts` (inside the scrape's recorder).
pub fn record(counts: &crate::store::PostalCounts) {
    for (what, n) in [
        ("tracked", counts.orders_tracked),
        ("collected", counts.collected),
        ("delivered", counts.delivered),
        ("alert", counts.alerts),
    ] {
        metrics::gauge!("lienthong_postal_orders", "state" => what).set(n as f64);
    }
    metrics::gauge!("lienthong_postal_held_messages").set(counts.held as f64);
    metrics::gauge!("lienthong_postal_events", "order" => "known")
        .set((counts.events - counts.unknown_events) as f64);
    metrics::gauge!("lienthong_postal_events", "order" => "unknown")
        .set(counts.unknown_events as f64);
    metrics::gauge!("lienthong_postal_last_poll_timestamp_seconds")
        .set(counts.cursor_updated_ms.unwrap_or(0) as f64 / 1000.0);
}

/// The `postal_poll` job.
pub struct PollJob {
    pub postal: Arc<Postal>,
}

#[async_trait::async_trait]
impl crate::scheduler::Job for PollJob {
    async fn run(&self, _tick: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        let r = self.postal.poll(&Quiet).await?;
        tracing::info!(
            pages = r.pages,
            events = r.events,
            new = r.applied.new,
            duplicate = r.applied.duplicate,
            unknown = r.applied.unknown,
            changed = r.applied.changed,
            steps = r.applied.queued,
            at_end = r.at_end,
            "postal: tracking polled"
        );
        Ok(())
    }
}
