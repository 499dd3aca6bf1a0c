//! Reads a peer offers besides deliveries: the procedure catalog (the portal's `LayDanhSachTTHC`
//! and `LayThuTuc`). The catalog asks [`crate::peer::registry::catalog_source`] for the
//! configured source of these reads and sees only this trait, not which family serves it.

use std::time::Duration;

use serde_json::Value;

/// One entry of the catalog's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedProcedure {
    /// `MATTHC`.
    pub code: String,
    /// `TENTTHC`.
    pub name: String,
    /// `TRANGTHAI`: `"1"` in force, anything else withdrawn.
    pub state: String,
}

/// Why a read gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not now (timeout, 5xx, 429): worth another try, after `after` when the peer said so.
    #[error("temporarily unavailable: {reason}")]
    Busy {
        reason: String,
        after: Option<Duration>,
    },
    /// Refused for good (a rejected request, an answer that cannot be read).
    #[error("{0}")]
    Failed(String),
    /// Our credentials are refused: nothing will work until the config changes.
    #[error("{0}")]
    Refused(String),
}

/// The procedure catalog's source.
#[async_trait::async_trait]
pub trait CatalogReads: Send + Sync {
    /// The whole list.
    async fn list(&self) -> Result<Vec<ListedProcedure>, ReadError>;
    /// One procedure's object as the peer sent it (key order kept); `None` when it does not
    /// know the code.
    async fn procedure(&self, code: &str) -> Result<Option<Value>, ReadError>;
}

/// Whether a queued message is a dossier's header or one of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedKind {
    Header,
    Step,
}

/// What the portal should hold after a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub kind: ExpectedKind,
    /// The dossier status it carries.
    pub status: String,
}

/// The portal's record of one dossier (`TraCuuHoSo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PortalRecord {
    pub procedure: String,
    pub status: String,
    /// Wire dates as the portal sent them (`yyyyMMddHHmmss`), empty when none.
    pub received: String,
    pub appointment: String,
    pub updated: String,
}

/// The portal's dossier records, for reconciliation: a lookup, and how to read what was queued.
/// [`crate::peer::registry::portal_records`] gives the configured one.
#[async_trait::async_trait]
pub trait PortalRecords: Send + Sync {
    /// The family whose messages make the portal's record.
    fn family(&self) -> &'static str;
    /// What a queued message of that family (`operation`, `item`) says the portal should hold;
    /// `None` for a message that says nothing of a dossier's status.
    fn expects(&self, operation: &str, item: &Value) -> Option<Expected>;
    /// The portal's record of `dossier`; `None` when it does not know it.
    async fn lookup(&self, dossier: &str) -> Result<Option<PortalRecord>, ReadError>;
}
