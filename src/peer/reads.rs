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
    /// Refused for good (credentials, a rejected request).
    #[error("{0}")]
    Failed(String),
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
