//! Remote systems the outbox delivers to. Each peer has its own folder (config, client,
//! classification) and implements [`Peer`], the only thing the outbox knows about it.
//! The outbox is peer-agnostic: it hands a peer a batch body it built once and stored, and
//! gets back one verdict for the batch or one per item.

pub mod commune;
pub mod dvcqg;

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
    /// What the outbox calls: sends `request` to its destination and classifies the answer,
    /// with the hex SHA-256 of the answer body. A peer with one destination need not override
    /// it; a family of many destinations does.
    async fn deliver(&self, request: Request<'_>) -> (BatchVerdict, Option<String>) {
        self.send_recorded(request.id, request.operation, request.body)
            .await
    }
}
