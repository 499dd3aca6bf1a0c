//! The port a destination plugs into: [`Peer`] and the verdicts it answers with. The outbox
//! defines it and knows nothing else about a peer; each peer family (`crate::peer`) implements it.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

/// What became of one item of a batch, as the peer said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemVerdict {
    /// Applied (or already applied earlier under this item's identity).
    Delivered,
    /// A create of something the peer already has: send again as an update.
    AlreadyExists { reason: String },
    /// An update (or a step) of something the peer does not have: send again as a create,
    /// or, for a step, wait until its dossier is accepted.
    NotFound { reason: String },
    /// Temporary: try again later.
    Retry { reason: String },
    /// Permanent: dead-letter with this reason.
    Reject { reason: String },
    /// Temporary, with the peer's `Retry-After` if it gave one: try again after `after` (else
    /// after the back-off). `tried` is false for an item the peer did not send at all because
    /// an earlier item of the batch told it to wait: no attempt is used for it.
    Later {
        reason: String,
        after: Option<Duration>,
        tried: bool,
    },
    /// The destination refused our credentials at or before this item: it waits, no attempt
    /// used, and the lane pauses the destination (as for [`BatchVerdict::Paused`]).
    Paused { reason: String },
}

/// What became of a whole batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchVerdict {
    /// One verdict per item, in request order.
    Items(Vec<ItemVerdict>),
    /// Nothing was applied; send the same body under the same id later.
    /// `after` is the peer's `Retry-After`, if it gave one.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Nothing was applied and repeating will not help (e.g. the request itself is invalid):
    /// every item is dead-lettered with this reason.
    Reject { reason: String },
    /// The destination refuses our credentials: stop sending to it until its config changes.
    /// Items stay queued; no attempt is consumed.
    Paused { reason: String },
}

impl ItemVerdict {
    fn map_reason(self, f: &impl Fn(String) -> String) -> ItemVerdict {
        match self {
            ItemVerdict::Delivered => ItemVerdict::Delivered,
            ItemVerdict::AlreadyExists { reason } => {
                ItemVerdict::AlreadyExists { reason: f(reason) }
            }
            ItemVerdict::NotFound { reason } => ItemVerdict::NotFound { reason: f(reason) },
            ItemVerdict::Retry { reason } => ItemVerdict::Retry { reason: f(reason) },
            ItemVerdict::Reject { reason } => ItemVerdict::Reject { reason: f(reason) },
            ItemVerdict::Later {
                reason,
                after,
                tried,
            } => ItemVerdict::Later {
                reason: f(reason),
                after,
                tried,
            },
            ItemVerdict::Paused { reason } => ItemVerdict::Paused { reason: f(reason) },
        }
    }
}

impl BatchVerdict {
    /// The verdict with every reason masked of personal data ([`crate::mapping::mask_text`]): a
    /// peer's answer may echo the item it was sent, and reasons are stored, listed and logged.
    pub fn masked(self) -> BatchVerdict {
        let f = |r: String| crate::mapping::mask_text(&r);
        match self {
            BatchVerdict::Items(items) => {
                BatchVerdict::Items(items.into_iter().map(|v| v.map_reason(&f)).collect())
            }
            BatchVerdict::Retry { reason, after } => BatchVerdict::Retry {
                reason: f(reason),
                after,
            },
            BatchVerdict::Reject { reason } => BatchVerdict::Reject { reason: f(reason) },
            BatchVerdict::Paused { reason } => BatchVerdict::Paused { reason: f(reason) },
        }
    }
}

/// One stored batch on its way to one destination of a peer.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The `X-Request-ID`, the same on every try of the batch.
    pub id: Uuid,
    /// Which destination of the peer family (`""` for a peer with one destination).
    pub destination: &'a str,
    pub operation: &'a str,
    /// The body as stored.
    pub body: &'a Value,
    /// The queued messages' ids, in item order: the identity on the wire of each item for a
    /// peer that [regroups](Peer::regroups).
    pub item_ids: &'a [Uuid],
    /// A peer that sends a batch's items one request after another starts no request after
    /// this instant (the batch's lease would run out while it is still sending, and another
    /// worker would take the batch): it answers the items not sent as `Later { tried: false }`.
    pub start_by: Option<std::time::Instant>,
}

/// A remote system the outbox can deliver batches to.
#[async_trait]
pub trait Peer: Send + Sync {
    /// The name messages are queued under (`dvcqg`, `vnpost`, `commune:<id>`).
    fn name(&self) -> &str;
    /// The largest number of items one request of `operation` may carry.
    fn max_batch(&self, operation: &str) -> usize;
    /// Builds the request body for `items` once; the outbox stores it and every retry sends it
    /// unchanged (credentials such as a session are added by [`Peer::send`], not stored).
    fn build_body(&self, operation: &str, is_update: bool, items: &[Value]) -> Value;
    /// Sends a stored body under `request_id` (the `X-Request-ID`) and classifies the answer.
    /// Never panics and never returns an error: transport failures are `BatchVerdict::Retry`.
    async fn send(&self, request_id: Uuid, operation: &str, body: &Value) -> BatchVerdict;
    /// Like [`Peer::send`], also giving the hex SHA-256 of the answer body the verdict was read
    /// from (kept for the audit trail), `None` when no answer came.
    async fn send_recorded(
        &self,
        request_id: Uuid,
        operation: &str,
        body: &Value,
    ) -> (BatchVerdict, Option<String>) {
        (self.send(request_id, operation, body).await, None)
    }
    /// The peer's own create ↔ update rule: when an item of a batch sent as `is_update` got
    /// `verdict`, whether to send it again at once as an update (`Some(true)`) or a create
    /// (`Some(false)`). `None`: the verdict means what it says (the default).
    fn resend_as(
        &self,
        _operation: &str,
        _is_update: bool,
        _verdict: &ItemVerdict,
    ) -> Option<bool> {
        None
    }
    /// Whether each item goes on the wire under its own identity (its message id as the
    /// `X-Request-ID`), not the batch's: the outbox may then send an item again in another
    /// batch, and a batch nothing of which was applied is dissolved back into its messages
    /// (each waits its back-off, each can be superseded) instead of being retried whole. A peer
    /// that sends a batch as one request must answer `false` (the default): a duplicate of it
    /// on the wire must carry the batch's id.
    fn regroups(&self) -> bool {
        false
    }
    /// What the outbox calls: sends `request` to its destination and classifies the answer,
    /// with the hex SHA-256 of the answer body. A peer with one destination need not override
    /// it; a family of many destinations does.
    async fn deliver(&self, request: Request<'_>) -> (BatchVerdict, Option<String>) {
        self.send_recorded(request.id, request.operation, request.body)
            .await
    }
}
