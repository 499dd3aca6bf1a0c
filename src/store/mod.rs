//! Durable state behind one trait, [`Store`], with a SQLite backend (the default, embedded) and a
//! PostgreSQL backend (several instances sharing one database). Every SQL statement of the
//! project lives in this folder; no other module writes SQL.
//!
//! Times are stored as milliseconds since the Unix epoch (`i64`) so both backends share one schema
//! shape. Ids are UUIDs stored as text.
//!
//! Layout, one file per concern, each a trait and the macro that implements it for both
//! backends: `ingest.rs` (records in, idempotency), `delivery.rs` (claims, settlements, next
//! due), `operator.rs` (counts, lists, replay, skip, show, remap), `housekeeping.rs` (prune,
//! audit), `leases.rs` (named leases), `pauses.rs` (operators' pauses, delivery minutes),
//! `catalog.rs` (the procedure catalog: pulls, versions, fan-out); `backup.rs` (a consistent
//! copy of a running SQLite store); `audit.rs` (the operators' audit log); `browse.rs` (the
//! outbox browser's filtered keyset pages and the bulk jobs' rows); `rows.rs` decodes rows;
//! `backend.rs` puts a backend
//! together. [`Store`] is their union; methods of a `dyn Store` need no import, generic code
//! over a concrete backend imports [`prelude`].
//!
//! This module must not import anything above it (config, outbox, peers, sources, mapping,
//! app, scheduler, admin): they depend on the store, never the reverse.

pub(crate) mod audit;
mod backend;
pub mod backup;
pub(crate) mod browse;
pub(crate) mod catalog;
pub mod config;
pub(crate) mod delivery;
pub(crate) mod facts;
pub(crate) mod housekeeping;
pub(crate) mod ingest;
pub(crate) mod leases;
pub(crate) mod operator;
pub(crate) mod pauses;
pub(crate) mod postal;
pub mod postgres;
pub mod prefill;
pub(crate) mod reconcile;
pub(crate) mod rows;
pub(crate) mod sources;
pub mod sqlite;

pub use audit::{ActionFilter, ActionRecord, AuditStore};
pub use browse::{
    BrowseLimits, BrowsePage, BrowseStore, BrowsedMessage, JobStep, OutboxFilter, OutboxJob,
    JOB_STALE_MS,
};
pub use catalog::{
    CatalogCounts, CatalogPull, CatalogStore, CatalogVersion, CurrentProcedure, FanOutFn,
    FetchedProcedure, ListedProcedure, NewVersion, PublishPlan, StagedProcedure,
};
pub use delivery::DeliveryStore;
pub use facts::{DossierFacts, FactsStore, FactsUpdate, PostalOutcome, SurveyFacts};
pub use housekeeping::HousekeepingStore;
pub use ingest::{IngestStore, Queued, WriteTx};
pub use leases::LeaseStore;
pub use operator::OperatorStore;
pub use pauses::{MinuteCount, Pause, PauseStore, ALL_DESTINATIONS};
pub use postal::{
    HeaderAt, HeldMessage, PostalApplied, PostalBatch, PostalCounts, PostalDecide, PostalDecision,
    PostalEvent, PostalEventContext, PostalEventRow, PostalMessageRow, PostalOrderState,
    PostalStore, Release, ReleaseDecide, Released,
};
pub use reconcile::{
    DossierMessage, ReconcileCounts, ReconcileFinding, ReconcilePage, ReconcileRun, ReconcileStore,
};
pub use sources::{
    QuarantineCount, QuarantineItem, SeenHash, SeenRow, SourcePosition, SourceStatus, SourceStore,
    StreamCursor, StreamPosition, TakenFile, WatermarkMove, SEEN_FORGET, SEEN_REFRESH,
};

/// The store's traits, to bring their methods into scope: `use crate::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        AuditStore, BrowseStore, CatalogStore, DeliveryStore, FactsStore, HousekeepingStore,
        IngestStore, LeaseStore, OperatorStore, PauseStore, PostalStore, ReconcileStore,
        SourceStore, Store,
    };
}

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or cannot write (down, disk full, locked too long).
    /// Callers answer 503 and try again later; nothing was half-written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Another request stored the same idempotency key first.
    #[error("idempotency key already used")]
    KeyTaken,
    /// A row could not be read back (corrupt or written by an incompatible version).
    #[error("store row unreadable: {0}")]
    Corrupt(String),
    /// The row to change is not in the state the caller expected (another instance moved it).
    #[error("store conflict: {0}")]
    Conflict(String),
}

/// Set once the database has failed a statement for a reason other than a duplicate key (disk
/// full, I/O error, lost connection). From then on pooled SQLite connections are checked before
/// use: a transaction the database rolled back by itself (as SQLite does on a full disk) can
/// leave the driver believing it is still open, and such a connection would fail every later
/// transaction. See `sqlite.rs`.
pub(crate) static STORE_FAILED_ONCE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::KeyTaken,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => {
                STORE_FAILED_ONCE.store(true, std::sync::atomic::Ordering::Relaxed);
                StoreError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Unavailable(format!("migration failed: {e}"))
    }
}

/// What kind of local record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Dossier,
    Step,
    /// A month's satisfaction figures for a procedure at an agency.
    Survey,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Dossier => "dossier",
            RecordKind::Step => "step",
            RecordKind::Survey => "survey",
        }
    }

    /// The kind [`RecordKind::as_str`] names.
    pub fn parse(s: &str) -> Option<RecordKind> {
        [RecordKind::Dossier, RecordKind::Step, RecordKind::Survey]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One accepted record and the messages rendered from it (one per route target).
#[derive(Debug, Clone)]
pub struct AcceptedRecord {
    pub record_id: Uuid,
    /// The record as the source sent it, as JSON text.
    pub record: String,
    /// The version of the record's first (primary) mapping.
    pub mapping_version: String,
    /// The record's key (`MaHoSo`).
    pub dossier: String,
    pub warnings: Vec<String>,
    /// What to queue for it, in this order, in the same transaction.
    pub messages: Vec<NewMessage>,
}

/// How a queued message relates to its key's header (a dossier's `HoSo` before its steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderRule {
    /// Goes on its own: pending at once, sent as a create.
    #[default]
    Free,
    /// The header of its key: registers the key; sent as an update when the key was registered
    /// by an earlier record, as a create otherwise; moves messages waiting for the key behind it.
    Header,
    /// Waits (`waiting`, blocking nothing) until its key's header has been registered.
    AfterHeader,
    /// Queued `held`: its key's head, so it holds back what comes after it, but not claimed
    /// until released ([`PostalStore::release_held`]) once its dossier's header has been
    /// delivered to the portal. A dead-lettered header holds it with it.
    Held,
}

/// One message to queue: what any way in (ingest, the catalog fan-out, postal orders, repairs)
/// hands the outbox, in the caller's transaction.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The peer family (`dvcqg`, `lgsp_sync`, `commune`, ...).
    pub peer: String,
    /// Which destination of the family: `""` for a peer with one destination; a subscriber's
    /// name for a family of many. Order, back-off and breakers are per destination.
    pub destination: String,
    pub operation: String,
    /// Ordering key: messages of one (peer, destination, key) go in queue order.
    pub key: String,
    /// The rendered item (a JSON value; an XML document is a JSON string).
    pub item: Value,
    /// When it happened (ms), for information and ordering within one request.
    pub at_ms: Option<i64>,
    pub source_seq: Option<i64>,
    pub warnings: Vec<String>,
    /// The source record it was rendered from, if any (for remap).
    pub record_id: Option<Uuid>,
    /// The mapping version it was rendered with, if any.
    pub mapping_version: Option<String>,
    pub header: HeaderRule,
    /// Replaces the undelivered messages of its (peer, destination, key) that are not being
    /// sent right now (pending, dead, or alone in an open batch whose lease is not held): they
    /// are `skipped` as superseded. For whole-state messages where only the latest matters (a
    /// catalog version); never for dossier messages, whose every step counts.
    pub supersedes: bool,
    /// Queued at most once per (peer, destination, key) with this tag (a dossier's collection
    /// order): a later message with the same tag is not queued.
    pub once: Option<String>,
    /// Queued only when a message of its (peer, destination, key) was queued with this tag
    /// (a cancel, only for an order that was made).
    pub requires: Option<String>,
}

impl NewMessage {
    /// A message of `peer`'s only destination, free of header rules, with no source record.
    pub fn new(
        peer: impl Into<String>,
        operation: impl Into<String>,
        key: impl Into<String>,
        item: Value,
    ) -> Self {
        Self {
            peer: peer.into(),
            destination: String::new(),
            operation: operation.into(),
            key: key.into(),
            item,
            at_ms: None,
            source_seq: None,
            warnings: Vec::new(),
            record_id: None,
            mapping_version: None,
            header: HeaderRule::Free,
            supersedes: false,
            once: None,
            requires: None,
        }
    }

    pub fn with_header(mut self, header: HeaderRule) -> Self {
        self.header = header;
        self
    }

    /// For `destination` of a family of many (a subscriber).
    pub fn to_destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = destination.into();
        self
    }

    /// Replacing the undelivered messages of its key (see [`NewMessage::supersedes`]).
    pub fn superseding(mut self) -> Self {
        self.supersedes = true;
        self
    }
}

/// One record rejected at ingest, kept for the operator.
#[derive(Debug, Clone)]
pub struct QuarantinedRecord {
    /// The quarantine row it already has when this is a retry refused again (the row takes the
    /// new reason); `None` for a new row.
    pub id: Option<String>,
    pub index: usize,
    pub dossier: Option<String>,
    pub record: Value,
    pub error: String,
}

/// Everything one ingest request writes, in one transaction.
#[derive(Debug, Clone)]
pub struct IngestWrite {
    pub source: String,
    pub kind: RecordKind,
    /// In the order they must be sent (steps sorted by time, then source sequence).
    pub accepted: Vec<AcceptedRecord>,
    pub rejected: Vec<QuarantinedRecord>,
    /// The request's `Idempotency-Key` and body hash; its answer is stored with the records.
    pub idempotency: Option<IdempotencyKey>,
    /// What the accepted records' messages say of their dossiers (and surveys), in send order.
    pub facts: Vec<FactsUpdate>,
    /// Where the way in has read to with these records (a polled stream's watermark, a dropped
    /// file's ledger entry), moved in the same transaction.
    pub positions: Vec<SourcePosition>,
    /// Quarantined records these accepted records retry: their quarantine rows are removed. The
    /// write is refused ([`StoreError::Conflict`]) when one of them is gone already (retried or
    /// dropped by someone else), so a record is never queued twice.
    pub retried: Vec<String>,
    /// Where the records came from when not an HTTP request (`file <name>`, `sql <stream>`),
    /// kept with any quarantined one.
    pub origin: Option<String>,
    pub now_ms: i64,
}

/// What ingest wrote, per accepted record in order: whether any of its messages waits for its
/// key's header.
#[derive(Debug, Clone, Default)]
pub struct IngestResult {
    pub waiting: Vec<bool>,
}

/// An `Idempotency-Key` and the hash of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub body_hash: String,
}

/// Builds the 202 answer of an ingest request once the store knows which steps wait.
pub type AnswerFn<'a> = &'a (dyn Fn(&IngestResult) -> String + Send + Sync);

/// A remembered first answer to an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    pub key: String,
    pub body_hash: String,
    pub status: u16,
    pub answer: String,
}

/// A batch claimed for sending: one request to one peer.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The `X-Request-ID`, for life.
    pub id: Uuid,
    pub peer: String,
    /// The destination of the peer family (`""` for a peer with one destination).
    pub destination: String,
    pub operation: String,
    pub is_update: bool,
    /// The body exactly as stored; sent unchanged on every try.
    pub body: Value,
    /// The messages it carries, in body order.
    pub messages: Vec<BatchMessage>,
    /// Tries of this batch so far.
    pub attempts: u32,
    /// The instance holding the lease; only it may settle the batch.
    pub owner: String,
    /// Hex SHA-256 of the peer's answer body to this send, when there was one; set by the lane
    /// after sending and stored with the settlement (for the audit trail).
    pub answer_sha256: Option<String>,
    /// What the answer says about the destination; set by the lane after sending and recorded
    /// (`destination_health`) by the settlement, if this instance still holds the batch.
    pub health: Option<HealthEvent>,
}

#[derive(Debug, Clone)]
pub struct BatchMessage {
    pub id: Uuid,
    pub dossier: String,
    pub attempts: u32,
    /// When it was accepted (queued by ingest, or put back by an operator's replay), in ms;
    /// a policy's `max_age` counts from here.
    pub accepted_ms: i64,
}

/// Builds a batch body from its items (the peer's `build_body`).
pub type BuildBody<'a> = &'a (dyn Fn(bool, &[Value]) -> Value + Send + Sync);

/// What to claim.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub peer: &'a str,
    /// Destinations held back by the lane (breaker open, paused): nothing of theirs is claimed.
    pub skip_destinations: &'a [String],
    pub operation: &'a str,
    pub limit: usize,
    pub now_ms: i64,
    pub lease_until_ms: i64,
    pub owner: &'a str,
}

/// What one answer says about its destination, recorded in `destination_health` by the
/// settlement transaction (only when the settling instance still holds the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEvent {
    /// Something was delivered, or the batch closed without a failure of the peer itself.
    Success,
    /// The peer failed (transport error, 5xx, "try later"): the reason, masked like every error.
    Failure { error: String },
    /// The destination refused our credentials: a failure that also pauses it.
    Paused { reason: String },
}

/// A destination's health as the settlements recorded it (`destination_health`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct DestinationHealth {
    pub peer: String,
    pub destination: String,
    pub last_success_ms: Option<i64>,
    pub last_failure_ms: Option<i64>,
    pub last_error: Option<String>,
    pub failing_since_ms: Option<i64>,
    pub consecutive_failures: i64,
    pub paused_reason: Option<String>,
    pub paused_at_ms: Option<i64>,
}

/// How many messages of one destination are not delivered yet, by state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct DestinationBacklog {
    pub destination: String,
    pub pending: i64,
    pub inflight: i64,
    pub dead: i64,
    /// When the oldest pending message was queued.
    pub oldest_pending_ms: Option<i64>,
}

/// How a sent batch ended.
#[derive(Debug, Clone)]
pub enum BatchFate {
    /// Nothing applied: keep the batch (same id, same body) and try it again at `next_attempt_ms`.
    Reopen {
        next_attempt_ms: i64,
        error: String,
        /// False for pauses and re-logins that must not use up a retry.
        count_attempt: bool,
    },
    /// The batch is finished; each message goes its own way.
    Close(Vec<(Uuid, MessageFate)>),
}

#[derive(Debug, Clone)]
pub enum MessageFate {
    Delivered,
    /// Back to the queue, to go in a new batch at `next_attempt_ms`.
    Retry {
        next_attempt_ms: i64,
        error: String,
        count_attempt: bool,
        /// Send next time as an update (`true`) or a create (`false`).
        is_update: bool,
    },
    Dead {
        error: String,
    },
}

/// Message counts by peer and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    pub peer: String,
    pub operation: String,
    pub state: String,
    pub count: i64,
    /// Of these, how many needed more than one try.
    pub retried: i64,
}

/// A dead-lettered message, for the operator.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: Uuid,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub attempts: u32,
    pub error: String,
}

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub state: Option<String>,
    pub peer: Option<String>,
    pub dossier: Option<String>,
    pub limit: i64,
}

/// A message as listed for the operator (no payload: it holds personal data).
#[derive(Debug, Clone)]
pub struct MessageSummary {
    pub id: Uuid,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub state: String,
    pub attempts: u32,
    pub batch_id: Option<String>,
    pub error: Option<String>,
    pub updated_ms: i64,
}

/// A quarantined record as listed for the operator.
#[derive(Debug, Clone)]
pub struct QuarantineEntry {
    pub source: String,
    pub kind: String,
    pub dossier: Option<String>,
    pub error: String,
}

/// A named lease (e.g. the scheduler's leader lease) as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// Held until this time (ms); after it anyone may take it.
    pub until_ms: i64,
}

/// The gateway's durable state: every concern's trait, plus what a backend is.
#[async_trait::async_trait]
pub trait Store:
    IngestStore
    + DeliveryStore
    + OperatorStore
    + PauseStore
    + HousekeepingStore
    + LeaseStore
    + CatalogStore
    + PostalStore
    + FactsStore
    + ReconcileStore
    + SourceStore
    + AuditStore
    + BrowseStore
    + Send
    + Sync
{
    /// Which backend (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap liveness check.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The migrations this program knows that the store has not applied (empty: up to date).
    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError>;
    /// Writes a consistent copy of the store, taken while it is in use, to the new file `out`
    /// and checks it (SQLite; PostgreSQL is backed up with `pg_dump`). See [`backup`].
    async fn backup_to(
        &self,
        out: &std::path::Path,
    ) -> Result<backup::BackupReport, backup::BackupError>;
    /// A task that wakes `wake` whenever any instance sharing this store queues work, until
    /// `shutdown`; it reconnects by itself and wakes `wake` after each reconnection (signals sent
    /// meanwhile are lost). `None` when the backend has no signal between processes (SQLite: one
    /// process per file, whose ingest wakes its own lanes); lanes then rely on that and on polling.
    fn work_listener(
        &self,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>>;
}

/// What a replay did. A dead message goes back to its old place in its dossier's order (its
/// queue position never changes). Its last batch is reopened (same `X-Request-ID`, same stored
/// body) when every message of that batch is being replayed now or was replayed earlier and not
/// sent since (a single-message batch always is); otherwise the message goes in a new batch with
/// a new id, because the old body carries items that must not be sent again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    /// Dead messages now queued again.
    pub replayed: u64,
    /// Batches reopened under their old id.
    pub reopened: Vec<Uuid>,
    /// Of `replayed`, how many will go in a new batch.
    pub new_batch: u64,
}

/// A new rendering of a dead message's item, for [`Store::remap`].
#[derive(Debug, Clone)]
pub struct Remap {
    pub item: Value,
    pub mapping_version: String,
    pub warnings: Vec<String>,
}

/// One batch a message went in.
#[derive(Debug, Clone)]
pub struct BatchInfo {
    /// The `X-Request-ID`.
    pub id: String,
    /// `open` or `done`; `None` when housekeeping has pruned it.
    pub state: Option<String>,
    pub attempts: u32,
    pub items: i64,
    pub created_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    pub last_error: Option<String>,
    pub answer_sha256: Option<String>,
    /// Every try of the batch, oldest first, as it concerned this message.
    pub tries: Vec<BatchTry>,
}

/// One try of a batch, as it concerned one of its messages. Holds the peer's answer as the lane
/// summed it up, which may quote personal data: mask before showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTry {
    pub at_ms: i64,
    /// `delivered`, `retry` or `dead` (this message did not go; the others of a partial try
    /// may have), `failed` (nothing went; the batch is tried again as it is) or `held` (a
    /// pause or a re-login, not counted as a try).
    pub outcome: String,
    /// The peer's answer; `None` when the message went.
    pub answer: Option<String>,
    /// Hex SHA-256 of the answer's body.
    pub answer_sha256: Option<String>,
}

/// Everything about one message, for `lienthong outbox show`. Holds personal data.
#[derive(Debug, Clone)]
pub struct MessageDetail {
    pub id: Uuid,
    pub peer: String,
    /// The destination of the peer family (`""` for a peer with one destination).
    pub destination: String,
    pub operation: String,
    pub dossier: String,
    pub state: String,
    pub position: i64,
    pub is_update: bool,
    pub attempts: u32,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub next_attempt_ms: i64,
    pub delivered_ms: Option<i64>,
    pub last_error: Option<String>,
    /// The mapping version it was rendered with; `None` for a message queued without one.
    pub mapping_version: Option<String>,
    pub warnings: Vec<String>,
    /// The rendered item as queued.
    pub item: Value,
    /// The source record it was rendered from; `None` for a message queued without one (it
    /// can be replayed, not remapped).
    pub record_id: Option<String>,
    /// The source and kind (`dossier`, `step`) of the record, and the record as received.
    pub source: Option<String>,
    pub record_kind: Option<String>,
    pub record: Option<Value>,
    /// The last batch; also the last of `batches`.
    pub batch_id: Option<String>,
    /// Every batch it went in, oldest first.
    pub batches: Vec<BatchInfo>,
}

/// What one [`Store::prune_delivered`] call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub messages: u64,
    pub batches: u64,
    pub records: u64,
}

/// The audit row left by a pruned message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub message_id: Uuid,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
    pub attempts: u32,
    pub final_state: String,
    pub batch_id: Option<String>,
    pub request_sha256: Option<String>,
    pub response_sha256: Option<String>,
    pub mapping_version: String,
    pub pruned_ms: i64,
}

/// Opens the store named by `url` (`sqlite:...` or `postgres://...`) and applies migrations.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    let store = connect(url, max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// Opens the store named by `url` as it is, without migrating it (for `lienthong backup`).
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(postgres::PostgresStore::connect(url, max_connections).await?)
        } else if url.starts_with("sqlite:") {
            Arc::new(sqlite::SqliteStore::connect(url, max_connections).await?)
        } else {
            // Only the scheme is shown: the rest may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(StoreError::Unavailable(format!(
                "store url must start with sqlite: or postgres:// (got a \"{scheme}:\" url)"
            )));
        };
    Ok(store)
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("id {s:?}: {e}")))
}

pub(crate) fn parse_json(s: &str) -> Result<Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
