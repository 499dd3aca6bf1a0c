//! Named leases held by one instance at a time (e.g. the scheduler's leader lease): taken,
//! renewed and released by single compare-and-set statements. Must not guard queue rows: a
//! batch's own lease lives on the batch (`delivery.rs`).

use std::time::Duration;

use super::{Lease, StoreError};

/// Named leases between instances sharing one store.
#[async_trait::async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder` until `now_ms + ttl` if it is free, expired, or
    /// already `holder`'s (then it is renewed). One atomic statement; returns whether `holder`
    /// holds it now.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Extends `holder`'s lease to `now_ms + ttl`, only while it still holds it (not expired).
    /// Returns false when it lost the lease: it must stop what the lease guarded.
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` holds it, so another instance may take it at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError>;
    /// The lease as stored (possibly expired), if any.
    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError>;
}

macro_rules! impl_leases {
    (store = $Store:ident $(,)?) => {
        #[async_trait::async_trait]
        impl $crate::store::LeaseStore for $Store {
            async fn try_acquire_lease(
                &self,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                // Insert, or take over when it is ours already or has expired; the conflicting
                // row is locked and the condition checked on its latest version, so two
                // instances racing cannot both win.
                let n = sqlx::query(
                    "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
                     WHERE leases.holder = excluded.holder OR leases.until_ms <= $4",
                )
                .bind(name)
                .bind(holder)
                .bind(now_ms.saturating_add(ttl.as_millis() as i64))
                .bind(now_ms)
                .execute(&self.delivery)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn renew_lease(
                &self,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let n = sqlx::query(
                    "UPDATE leases SET until_ms = $1 WHERE name = $2 AND holder = $3 AND until_ms > $4",
                )
                .bind(now_ms.saturating_add(ttl.as_millis() as i64))
                .bind(name)
                .bind(holder)
                .bind(now_ms)
                .execute(&self.delivery)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn release_lease(
                &self,
                name: &str,
                holder: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let n = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.delivery)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn lease(
                &self,
                name: &str,
            ) -> Result<Option<$crate::store::Lease>, $crate::store::StoreError> {
                let row: Option<$crate::store::rows::LeaseRow> =
                    sqlx::query_as("SELECT holder, until_ms FROM leases WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.delivery)
                        .await?;
                Ok(row.map(|r| r.into_lease(name)))
            }
        }
    };
}

pub(crate) use impl_leases;
