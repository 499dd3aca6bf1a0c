//! Operators' pauses of a peer or one of its destinations (`outbox_pauses`), which every claim
//! honours (see `delivery.rs`), and the per-minute delivery counts the settlements write
//! (`delivery_minutes`), which the overview's chart reads. Must not claim or settle.
//!
//! A pause is a row, not a lane's memory: every instance's claims read it in their own
//! statement, so nothing of a paused destination is claimed anywhere once the pause is
//! committed. A batch already in flight finishes. Resuming deletes the row and, on PostgreSQL,
//! signals every instance's lanes (`pg_notify`) in the same transaction.

use serde::Serialize;

use super::StoreError;

/// The destination that stands for every destination of a peer.
pub const ALL_DESTINATIONS: &str = "*";

/// A peer or destination an operator paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Pause {
    pub peer: String,
    /// [`ALL_DESTINATIONS`] (`"*"`) when the whole peer is paused.
    pub destination: String,
    pub reason: String,
    /// Who paused it (`cli`, `admin`, `dashboard`).
    pub paused_by: String,
    pub paused_at_ms: i64,
}

impl Pause {
    /// Whether this pause holds `destination` of `peer` back.
    pub fn covers(&self, peer: &str, destination: &str) -> bool {
        self.peer == peer
            && (self.destination == ALL_DESTINATIONS || self.destination == destination)
    }
}

/// One minute of one peer's deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MinuteCount {
    /// The minute's start (ms since the epoch).
    pub minute_ms: i64,
    pub peer: String,
    /// Messages delivered in that minute.
    pub delivered: i64,
    /// Messages whose try failed in that minute (to be tried again, or dead-lettered).
    pub failed: i64,
}

/// Pauses and delivery minutes.
#[async_trait::async_trait]
pub trait PauseStore: Send + Sync {
    /// Pauses `destination` of `peer` ([`ALL_DESTINATIONS`]: all of them). Returns false, and
    /// changes nothing, when it is paused already.
    async fn pause(
        &self,
        peer: &str,
        destination: &str,
        reason: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Resumes what [`PauseStore::pause`] paused (the same peer and destination). Returns
    /// whether it was paused.
    async fn resume(&self, peer: &str, destination: &str) -> Result<bool, StoreError>;
    /// Every pause, by peer and destination.
    async fn pauses(&self) -> Result<Vec<Pause>, StoreError>;
    /// Every peer's delivery minutes from `since_ms` on, oldest first.
    async fn delivery_minutes(&self, since_ms: i64) -> Result<Vec<MinuteCount>, StoreError>;
    /// Deletes delivery minutes before `before_ms`; returns how many rows went.
    async fn prune_delivery_minutes(&self, before_ms: i64) -> Result<u64, StoreError>;
}

/// The claims' condition: the row `alias` (with `peer` and `destination` columns) is not
/// paused.
pub(crate) fn not_paused(alias: &str) -> String {
    format!(
        "AND NOT EXISTS (SELECT 1 FROM outbox_pauses p WHERE p.peer = {alias}.peer \
         AND p.destination IN ({alias}.destination, '{ALL_DESTINATIONS}'))"
    )
}

/// Adds a settled batch's counts to its minute, in the settlement's transaction.
pub(crate) const MINUTE_UPSERT: &str =
    "INSERT INTO delivery_minutes (minute_ms, peer, delivered, failed) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (minute_ms, peer) DO UPDATE SET \
     delivered = delivery_minutes.delivered + excluded.delivered, \
     failed = delivery_minutes.failed + excluded.failed";

/// The minute `now_ms` falls in.
pub(crate) fn minute_of(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(60_000)
}

macro_rules! impl_pauses {
    (
        store = $Store:ident,
        begin_write = $begin:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::PauseStore for $Store {
            async fn pause(
                &self,
                peer: &str,
                destination: &str,
                reason: &str,
                by: &str,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let added = sqlx::query(
                    "INSERT INTO outbox_pauses (peer, destination, reason, paused_by, paused_at_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (peer, destination) DO NOTHING",
                )
                .bind(peer)
                .bind(destination)
                .bind(reason)
                .bind(by)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(added == 1)
            }

            async fn resume(
                &self,
                peer: &str,
                destination: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let gone = sqlx::query(
                    "DELETE FROM outbox_pauses WHERE peer = $1 AND destination = $2",
                )
                .bind(peer)
                .bind(destination)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if gone > 0 {
                    // Every instance's lanes look for work at once (delivered on commit).
                    if let Some(notify) = <$Store>::NOTIFY_WORK {
                        sqlx::query(notify).bind(peer).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(gone > 0)
            }

            async fn pauses(
                &self,
            ) -> Result<Vec<$crate::store::Pause>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT peer, destination, reason, paused_by, paused_at_ms FROM outbox_pauses \
                     ORDER BY peer, destination",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn delivery_minutes(
                &self,
                since_ms: i64,
            ) -> Result<Vec<$crate::store::MinuteCount>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT minute_ms, peer, delivered, failed FROM delivery_minutes \
                     WHERE minute_ms >= $1 ORDER BY minute_ms, peer",
                )
                .bind($crate::store::pauses::minute_of(since_ms))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn prune_delivery_minutes(
                &self,
                before_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let gone = sqlx::query("DELETE FROM delivery_minutes WHERE minute_ms < $1")
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(gone)
            }
        }
    };
}

pub(crate) use impl_pauses;
