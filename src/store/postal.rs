//! The postal service's records: tracking events kept once each, every order's forward-only
//! state, the tracking cursor (moved in the transaction that stores its page), and the release
//! of messages `held` until their dossier's header is at the portal. What an event means is the
//! caller's decision ([`PostalDecide`]); this module stores it, with the messages it queues, all
//! or nothing.

use serde::Serialize;
use serde_json::Value;

use super::{NewMessage, StoreError};

/// One tracking event as received (by poll or by push).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalEvent {
    /// The feed's `_id.$oid`.
    pub id: String,
    pub order_number: String,
    pub order_type: String,
    pub status_code: i64,
    /// `EventTime` as sent (`yyyyMMddHHmmss`, Vietnam time).
    pub event_time: String,
    pub pos_id: String,
    pub item_code: Option<String>,
    /// The event object as received.
    pub raw: String,
}

/// An order's state as tracking made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PostalOrderState {
    pub order_number: String,
    pub order_type: String,
    pub status_code: i64,
    pub status_time: String,
    pub item_code: Option<String>,
    pub collected_at: Option<String>,
    pub delivered_at: Option<String>,
    pub alert: Option<String>,
    pub alert_at: Option<i64>,
    pub events: i64,
    pub updated_at: i64,
}

/// What one new event is, for the caller to decide on.
#[derive(Debug, Clone)]
pub struct PostalEventContext<'a> {
    pub event: &'a PostalEvent,
    /// The gateway queued this order (a collection or delivery order of its dossier).
    pub known: bool,
    /// The order's state before this event (after the page's earlier events).
    pub before: Option<&'a PostalOrderState>,
    /// The last header item queued for the event's dossier to the portal, if any.
    pub dossier_header: Option<&'a Value>,
}

/// What the caller decided for one new event.
#[derive(Debug, Clone, Default)]
pub struct PostalDecision {
    /// The order's state after the event (at least its event count); `None` leaves it as it
    /// was.
    pub after: Option<PostalOrderState>,
    /// The event changed the order (its status, or a milestone such as collected).
    pub changed: bool,
    /// Kept with the event: `advanced`, `milestone`, `unchanged`, `unknown_order`, ...
    pub effect: &'static str,
    /// Messages to queue (steps to the portal), in the same transaction.
    pub messages: Vec<NewMessage>,
}

/// Decides one new event.
pub type PostalDecide<'a> = &'a (dyn Fn(&PostalEventContext<'_>) -> PostalDecision + Sync);

/// Where the portal's dossier headers are: the peer and the operation(s) that carry them.
#[derive(Debug, Clone, Copy)]
pub struct HeaderAt<'a> {
    pub peer: &'a str,
    pub operations: &'a [&'a str],
}

/// Events to store together, and what goes with them.
#[derive(Clone, Copy)]
pub struct PostalBatch<'a> {
    pub events: &'a [PostalEvent],
    /// `poll` or `push`.
    pub via: &'a str,
    /// The tracking cursor's name and where it moves to (poll), if it moves.
    pub cursor: Option<(&'a str, &'a str)>,
    /// Where the dossiers' headers are (for each step's current dossier status).
    pub header: HeaderAt<'a>,
    /// The tag an order of a type was queued under (`message_once`): whether we made it.
    pub order_tag: &'a (dyn for<'s> Fn(&'s str) -> String + Sync),
    pub now_ms: i64,
}

/// What storing a batch of events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PostalApplied {
    /// Events stored now.
    pub new: u64,
    /// Events already stored (by poll or push), changing nothing.
    pub duplicate: u64,
    /// New events of orders the gateway does not know (kept and reported).
    pub unknown: u64,
    /// New events that changed their order's state.
    pub changed: u64,
    /// Messages queued.
    pub queued: u64,
}

/// A stored event, for reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PostalEventRow {
    pub id: String,
    pub order_number: String,
    pub order_type: String,
    pub status_code: i64,
    pub event_time: String,
    pub pos_id: String,
    pub item_code: Option<String>,
    pub via: String,
    pub known: i64,
    pub effect: String,
    pub received_at: i64,
    #[serde(skip)]
    pub raw: String,
}

/// A message held for its dossier's header, offered for release.
#[derive(Debug, Clone)]
pub struct HeldMessage {
    pub id: String,
    pub dossier: String,
    pub operation: String,
    pub item: Value,
    /// The tracked state of the dossier's orders.
    pub orders: Vec<PostalOrderState>,
}

/// What to do with a held message whose header is at the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    Go,
    /// Kept as `skipped` with this reason (a cancel of an order already collected).
    Skip(String),
}

/// Decides one held message.
pub type ReleaseDecide<'a> = &'a (dyn for<'m> Fn(&'m HeldMessage) -> Release + Sync);

/// What a release pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Released {
    pub released: u64,
    pub skipped: u64,
    /// Still held: their header is not at the portal yet (or is dead-lettered).
    pub held: u64,
}

/// A message of the postal peer, for the orders view.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostalMessageRow {
    pub id: String,
    pub dossier: String,
    pub operation: String,
    pub state: String,
    pub item: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Counts for the operations view and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PostalCounts {
    pub orders_tracked: i64,
    pub collected: i64,
    pub delivered: i64,
    pub alerts: i64,
    pub events: i64,
    pub unknown_events: i64,
    pub held: i64,
    /// When the tracking cursor last moved (ms), if ever.
    pub cursor_updated_ms: Option<i64>,
}

/// The postal service's records.
#[async_trait::async_trait]
pub trait PostalStore: Send + Sync {
    /// Where the tracking poll `name` goes on from, if it ever stored a page.
    async fn postal_cursor(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// In one transaction: stores the `events` not already stored (the same order, status
    /// code, event time and post office is the same event), decides each new one with
    /// `decide` (in the order given, each seeing its order's state after the ones before),
    /// saves the orders' new states, queues the messages decided, and moves cursor `name` to
    /// `last_id` when given. `via` is `poll` or `push`.
    async fn apply_postal_events(
        &self,
        batch: PostalBatch<'_>,
        decide: PostalDecide<'_>,
    ) -> Result<PostalApplied, StoreError>;

    /// Records an alert on an order (a cancel refused as too late).
    async fn postal_alert(
        &self,
        order_number: &str,
        order_type: &str,
        alert: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Releases `peer`'s held messages whose dossier's header has been delivered to the portal
    /// (or was delivered and pruned since), up to `limit`, each as `decide` says.
    async fn release_held(
        &self,
        peer: &str,
        header: HeaderAt<'_>,
        limit: i64,
        now_ms: i64,
        decide: ReleaseDecide<'_>,
    ) -> Result<Released, StoreError>;

    /// `peer`'s messages of `operations`, newest first, of one dossier when given.
    async fn postal_messages(
        &self,
        peer: &str,
        operations: &[&str],
        dossier: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PostalMessageRow>, StoreError>;

    /// Tracked orders, newest change first, of one dossier when given.
    async fn postal_orders(
        &self,
        dossier: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PostalOrderState>, StoreError>;

    /// The events of one dossier's orders (`order_type` when given), in event time order.
    async fn postal_events(
        &self,
        order_number: &str,
        order_type: Option<&str>,
    ) -> Result<Vec<PostalEventRow>, StoreError>;

    /// Events of orders the gateway does not know, newest first.
    async fn postal_unknown_events(&self, limit: i64) -> Result<Vec<PostalEventRow>, StoreError>;

    /// The source that registered `dossier`, if it is known.
    async fn dossier_source(&self, dossier: &str) -> Result<Option<String>, StoreError>;

    /// Counts for the operations view (`peer`: the postal peer, for its held messages).
    async fn postal_counts(&self, peer: &str) -> Result<PostalCounts, StoreError>;
}

/// The columns of a [`PostalEventRow`], as the start of a `SELECT` (a macro, for `concat!`).
macro_rules! event_columns {
    () => {
        "SELECT id, order_number, order_type, status_code, event_time, pos_id, item_code, via, \
         known, effect, received_at, raw FROM postal_events"
    };
}
pub(crate) use event_columns;

macro_rules! impl_postal {
    (
        store = $Store:ident,
        begin_write = $begin:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::PostalStore for $Store {
            async fn postal_cursor(
                &self,
                name: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT last_id FROM postal_cursor WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn apply_postal_events(
                &self,
                batch: $crate::store::PostalBatch<'_>,
                decide: $crate::store::PostalDecide<'_>,
            ) -> Result<$crate::store::PostalApplied, $crate::store::StoreError> {
                let $crate::store::PostalBatch {
                    events,
                    via,
                    cursor,
                    header,
                    order_tag: order_tags,
                    now_ms,
                } = batch;
                use std::collections::{BTreeSet, HashMap, HashSet};
                use $crate::store::ingest::placeholders;
                use $crate::store::{PostalEventContext, PostalOrderState};
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                // One apply at a time (PostgreSQL: an advisory lock until commit; SQLite's
                // writers take turns already), so that the same new event arriving by poll on
                // one instance and by push on another is decided once, and an order's state is
                // read after the other's write.
                let lock: std::collections::BTreeSet<String> =
                    [String::from("lienthong_postal_events")].into_iter().collect();
                lock_keys(&mut *tx, &lock).await?;
                let mut applied = $crate::store::PostalApplied::default();

                // Which of these events are new: those not stored yet by their identity,
                // also not twice within this batch.
                let mut seen: HashSet<(&str, &str, i64, &str, &str)> = HashSet::new();
                let mut fresh: Vec<&$crate::store::PostalEvent> = Vec::new();
                for part in events.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "SELECT e.order_number, e.order_type, e.status_code, e.event_time, e.pos_id \
                         FROM (VALUES {}) AS k JOIN postal_events e ON e.order_number = k.column1 \
                         AND e.order_type = k.column2 AND e.status_code = k.column3 \
                         AND e.event_time = k.column4 AND e.pos_id = k.column5",
                        placeholders(part.len(), 5, 1)
                    );
                    let mut q = sqlx::query_as::<_, (String, String, i64, String, String)>(&sql);
                    for e in part {
                        q = q
                            .bind(&e.order_number)
                            .bind(&e.order_type)
                            .bind(e.status_code)
                            .bind(&e.event_time)
                            .bind(&e.pos_id);
                    }
                    let stored: HashSet<(String, String, i64, String, String)> =
                        q.fetch_all(&mut *tx).await?.into_iter().collect();
                    for e in part {
                        let key = (
                            e.order_number.clone(),
                            e.order_type.clone(),
                            e.status_code,
                            e.event_time.clone(),
                            e.pos_id.clone(),
                        );
                        if stored.contains(&key)
                            || !seen.insert((
                                e.order_number.as_str(),
                                e.order_type.as_str(),
                                e.status_code,
                                e.event_time.as_str(),
                                e.pos_id.as_str(),
                            ))
                        {
                            applied.duplicate += 1;
                        } else {
                            fresh.push(e);
                        }
                    }
                }

                // The orders' states, whether the gateway made them, and the dossiers' headers.
                let orders: BTreeSet<(&str, &str)> = fresh
                    .iter()
                    .map(|e| (e.order_number.as_str(), e.order_type.as_str()))
                    .collect();
                let orders: Vec<(&str, &str)> = orders.into_iter().collect();
                let mut states: HashMap<(String, String), PostalOrderState> = HashMap::new();
                let mut known: HashSet<(String, String)> = HashSet::new();
                for part in orders.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "SELECT p.* FROM (VALUES {}) AS k JOIN postal_orders p \
                         ON p.order_number = k.column1 AND p.order_type = k.column2",
                        placeholders(part.len(), 2, 1)
                    );
                    let mut q = sqlx::query_as::<_, PostalOrderState>(&sql);
                    for (n, t) in part {
                        q = q.bind(*n).bind(*t);
                    }
                    for s in q.fetch_all(&mut *tx).await? {
                        states.insert((s.order_number.clone(), s.order_type.clone()), s);
                    }
                    let sql = format!(
                        "SELECT m.dossier, m.tag FROM (VALUES {}) AS k JOIN message_once m \
                         ON m.dossier = k.column1 AND m.tag = k.column2",
                        placeholders(part.len(), 2, 1)
                    );
                    let mut q = sqlx::query_as::<_, (String, String)>(&sql);
                    let tags: Vec<String> = part.iter().map(|(_, t)| order_tags(t)).collect();
                    for ((n, _), tag) in part.iter().zip(&tags) {
                        q = q.bind(*n).bind(tag.as_str());
                    }
                    let found: HashSet<(String, String)> =
                        q.fetch_all(&mut *tx).await?.into_iter().collect();
                    for ((n, t), tag) in part.iter().zip(&tags) {
                        if found.contains(&(n.to_string(), tag.clone())) {
                            known.insert((n.to_string(), t.to_string()));
                        }
                    }
                }
                let dossiers: BTreeSet<&str> = orders.iter().map(|(n, _)| *n).collect();
                let dossiers: Vec<&str> = dossiers.into_iter().collect();
                let mut headers: HashMap<String, serde_json::Value> = HashMap::new();
                if !header.operations.is_empty() {
                    let ops: Vec<String> = (0..header.operations.len())
                        .map(|i| format!("${}", i + 2))
                        .collect();
                    let first = header.operations.len() + 2;
                    for part in dossiers.chunks(<$Store>::ROWS_PER_STATEMENT) {
                        let sql = format!(
                            "SELECT k.column1, (SELECT o.item FROM outbox o WHERE o.peer = $1 \
                             AND o.destination = '' AND o.dossier = k.column1 AND o.operation IN ({}) \
                             ORDER BY o.position DESC LIMIT 1) FROM (VALUES {}) AS k",
                            ops.join(", "),
                            placeholders(part.len(), 1, first)
                        );
                        let mut q = sqlx::query_as::<_, (String, Option<String>)>(&sql)
                            .bind(header.peer);
                        for op in header.operations {
                            q = q.bind(*op);
                        }
                        for d in part {
                            q = q.bind(*d);
                        }
                        for (d, item) in q.fetch_all(&mut *tx).await? {
                            if let Some(v) =
                                item.and_then(|i| serde_json::from_str::<serde_json::Value>(&i).ok())
                            {
                                headers.insert(d, v);
                            }
                        }
                    }
                }

                // Decide each new event in order; keep the events and the orders' last states.
                let mut rows: Vec<(&$crate::store::PostalEvent, bool, &'static str)> =
                    Vec::with_capacity(fresh.len());
                let mut changed: BTreeSet<(String, String)> = BTreeSet::new();
                let mut messages = Vec::new();
                for e in &fresh {
                    let k = (e.order_number.clone(), e.order_type.clone());
                    let is_known = known.contains(&k) || states.contains_key(&k);
                    let decision = {
                        let ctx = PostalEventContext {
                            event: e,
                            known: is_known,
                            before: states.get(&k),
                            dossier_header: headers.get(&e.order_number),
                        };
                        decide(&ctx)
                    };
                    if !is_known {
                        applied.unknown += 1;
                    }
                    if decision.changed {
                        applied.changed += 1;
                    }
                    if let Some(after) = decision.after {
                        changed.insert(k.clone());
                        states.insert(k, after);
                    } else if let Some(s) = states.get_mut(&k) {
                        s.events += 1;
                        changed.insert(k);
                    }
                    messages.extend(decision.messages);
                    rows.push((e, is_known, decision.effect));
                }
                for part in rows.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "INSERT INTO postal_events (id, order_number, order_type, status_code, event_time, \
                         pos_id, item_code, raw, via, known, effect, received_at) VALUES {} \
                         ON CONFLICT DO NOTHING",
                        placeholders(part.len(), 12, 1)
                    );
                    let mut q = sqlx::query(&sql);
                    for (e, is_known, effect) in part {
                        q = q
                            .bind(&e.id)
                            .bind(&e.order_number)
                            .bind(&e.order_type)
                            .bind(e.status_code)
                            .bind(&e.event_time)
                            .bind(&e.pos_id)
                            .bind(&e.item_code)
                            .bind(&e.raw)
                            .bind(via)
                            .bind(i64::from(*is_known))
                            .bind(*effect)
                            .bind(now_ms);
                    }
                    q.execute(&mut *tx).await?;
                }
                applied.new = rows.len() as u64;
                let changed: Vec<&PostalOrderState> =
                    changed.iter().filter_map(|k| states.get(k)).collect();
                for part in changed.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "INSERT INTO postal_orders (order_number, order_type, status_code, status_time, \
                         item_code, collected_at, delivered_at, alert, alert_at, events, updated_at) \
                         VALUES {} ON CONFLICT (order_number, order_type) DO UPDATE SET \
                         status_code = excluded.status_code, status_time = excluded.status_time, \
                         item_code = excluded.item_code, collected_at = excluded.collected_at, \
                         delivered_at = excluded.delivered_at, alert = excluded.alert, \
                         alert_at = excluded.alert_at, events = excluded.events, \
                         updated_at = excluded.updated_at",
                        placeholders(part.len(), 11, 1)
                    );
                    let mut q = sqlx::query(&sql);
                    for s in part {
                        q = q
                            .bind(&s.order_number)
                            .bind(&s.order_type)
                            .bind(s.status_code)
                            .bind(&s.status_time)
                            .bind(&s.item_code)
                            .bind(&s.collected_at)
                            .bind(&s.delivered_at)
                            .bind(&s.alert)
                            .bind(s.alert_at)
                            .bind(s.events)
                            .bind(now_ms);
                    }
                    q.execute(&mut *tx).await?;
                }
                let mut peers = Vec::new();
                let queued = enqueue_in(&mut tx, &messages, None, "", now_ms, &mut peers).await?;
                applied.queued = queued.iter().filter(|q| q.queued).count() as u64;
                if let Some((name, last_id)) = cursor {
                    sqlx::query(
                        "INSERT INTO postal_cursor (name, last_id, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(name)
                    .bind(last_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                commit_signalled(tx, &peers).await?;
                Ok(applied)
            }

            async fn postal_alert(
                &self,
                order_number: &str,
                order_type: &str,
                alert: &str,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                sqlx::query(
                    "INSERT INTO postal_orders (order_number, order_type, status_code, status_time, \
                     alert, alert_at, events, updated_at) VALUES ($1, $2, 0, '', $3, $4, 0, $4) \
                     ON CONFLICT (order_number, order_type) DO UPDATE SET alert = excluded.alert, \
                     alert_at = excluded.alert_at, updated_at = excluded.updated_at",
                )
                .bind(order_number)
                .bind(order_type)
                .bind(alert)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn release_held(
                &self,
                peer: &str,
                header: $crate::store::HeaderAt<'_>,
                limit: i64,
                now_ms: i64,
                decide: $crate::store::ReleaseDecide<'_>,
            ) -> Result<$crate::store::Released, $crate::store::StoreError> {
                use $crate::store::{HeldMessage, PostalOrderState, Release};
                let mut out = $crate::store::Released::default();
                // Read without the write turn: most passes find nothing to do.
                let held: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT id, dossier, operation, item FROM outbox WHERE peer = $1 AND state = 'held' \
                     ORDER BY position LIMIT $2",
                )
                .bind(peer)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                if held.is_empty() {
                    return Ok(out);
                }
                let ops: Vec<String> = (0..header.operations.len())
                    .map(|i| format!("${}", i + 3))
                    .collect();
                let at_portal = format!(
                    "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM outbox h WHERE h.peer = $1 AND h.destination = '' \
                     AND h.dossier = $2 AND h.operation IN ({ops}) AND h.state = 'delivered') \
                     OR (EXISTS (SELECT 1 FROM dossiers d WHERE d.dossier = $2) AND NOT EXISTS (\
                     SELECT 1 FROM outbox h WHERE h.peer = $1 AND h.destination = '' AND h.dossier = $2 \
                     AND h.operation IN ({ops}))) THEN 1 ELSE 0 END AS BIGINT)",
                    ops = ops.join(", ")
                );
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let mut woke = false;
                for (id, dossier, operation, item) in held {
                    let mut q = sqlx::query_scalar::<_, i64>(&at_portal)
                        .bind(header.peer)
                        .bind(&dossier);
                    for op in header.operations {
                        q = q.bind(*op);
                    }
                    if q.fetch_one(&mut *tx).await? == 0 {
                        out.held += 1;
                        continue;
                    }
                    let orders: Vec<PostalOrderState> = sqlx::query_as(
                        "SELECT * FROM postal_orders WHERE order_number = $1 ORDER BY order_type",
                    )
                    .bind(&dossier)
                    .fetch_all(&mut *tx)
                    .await?;
                    let message = HeldMessage {
                        id: id.clone(),
                        dossier,
                        operation,
                        item: serde_json::from_str(&item).unwrap_or(serde_json::Value::Null),
                        orders,
                    };
                    match decide(&message) {
                        Release::Go => {
                            sqlx::query(
                                "UPDATE outbox SET state = 'pending', updated_at = $2 \
                                 WHERE id = $1 AND state = 'held'",
                            )
                            .bind(&id)
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await?;
                            out.released += 1;
                            woke = true;
                        }
                        Release::Skip(reason) => {
                            let key = [$crate::store::ingest::lock_key(
                                peer,
                                "",
                                &message.dossier,
                            )]
                            .into_iter()
                            .collect();
                            lock_keys(&mut *tx, &key).await?;
                            sqlx::query(
                                "UPDATE outbox SET state = 'skipped', is_head = FALSE, last_error = $2, \
                                 updated_at = $3 WHERE id = $1 AND state = 'held'",
                            )
                            .bind(&id)
                            .bind(&reason)
                            .bind(now_ms)
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query(&$crate::store::delivery::promote_sql(1))
                                .bind(peer)
                                .bind("")
                                .bind(&message.dossier)
                                .execute(&mut *tx)
                                .await?;
                            out.skipped += 1;
                        }
                    }
                }
                let woken: Vec<String> = if woke { vec![peer.to_string()] } else { Vec::new() };
                commit_signalled(tx, &woken).await?;
                Ok(out)
            }

            async fn postal_messages(
                &self,
                peer: &str,
                operations: &[&str],
                dossier: Option<&str>,
                limit: i64,
            ) -> Result<Vec<$crate::store::PostalMessageRow>, $crate::store::StoreError> {
                let ops: Vec<String> = (0..operations.len())
                    .map(|i| format!("${}", i + 4))
                    .collect();
                let sql = format!(
                    "SELECT id, dossier, operation, state, item, attempts, last_error, created_at, updated_at \
                     FROM outbox WHERE peer = $1 AND ($2 IS NULL OR dossier = $2) AND operation IN ({}) \
                     ORDER BY position DESC LIMIT $3",
                    ops.join(", ")
                );
                let mut q = sqlx::query_as(&sql).bind(peer).bind(dossier).bind(limit);
                for op in operations {
                    q = q.bind(*op);
                }
                Ok(q.fetch_all(&self.pool).await?)
            }

            async fn postal_orders(
                &self,
                dossier: Option<&str>,
                limit: i64,
            ) -> Result<Vec<$crate::store::PostalOrderState>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM postal_orders WHERE ($1 IS NULL OR order_number = $1) \
                     ORDER BY updated_at DESC, order_number, order_type LIMIT $2",
                )
                .bind(dossier)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn postal_events(
                &self,
                order_number: &str,
                order_type: Option<&str>,
            ) -> Result<Vec<$crate::store::PostalEventRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::postal::event_columns!(),
                    " WHERE order_number = $1 AND ($2 IS NULL OR order_type = $2) \
                     ORDER BY event_time, status_code, id"
                ))
                .bind(order_number)
                .bind(order_type)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn postal_unknown_events(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::PostalEventRow>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::postal::event_columns!(),
                    " WHERE known = 0 ORDER BY received_at DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn dossier_source(
                &self,
                dossier: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar("SELECT source FROM dossiers WHERE dossier = $1")
                    .bind(dossier)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn postal_counts(
                &self,
                peer: &str,
            ) -> Result<$crate::store::PostalCounts, $crate::store::StoreError> {
                let (orders_tracked, collected, delivered, alerts): (i64, Option<i64>, Option<i64>, Option<i64>) =
                    sqlx::query_as(
                        "SELECT COUNT(*), SUM(CASE WHEN collected_at IS NOT NULL THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), \
                         SUM(CASE WHEN alert IS NOT NULL THEN 1 ELSE 0 END) FROM postal_orders",
                    )
                    .fetch_one(&self.pool)
                    .await?;
                let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM postal_events")
                    .fetch_one(&self.pool)
                    .await?;
                let unknown_events: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM postal_events WHERE known = 0")
                        .fetch_one(&self.pool)
                        .await?;
                let held: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM outbox WHERE peer = $1 AND state = 'held'",
                )
                .bind(peer)
                .fetch_one(&self.pool)
                .await?;
                let cursor_updated_ms: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(updated_at) FROM postal_cursor")
                        .fetch_one(&self.pool)
                        .await?;
                Ok($crate::store::PostalCounts {
                    cursor_updated_ms,
                    orders_tracked,
                    collected: collected.unwrap_or(0),
                    delivered: delivered.unwrap_or(0),
                    alerts: alerts.unwrap_or(0),
                    events,
                    unknown_events,
                    held,
                })
            }
        }
    };
}

pub(crate) use impl_postal;
