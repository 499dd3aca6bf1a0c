//! Housekeeping: prunes delivered messages (and the batches and records nothing refers to any
//! more), leaving an audit row for each, and reads the audit back. Must not touch a message that
//! is not delivered: everything else is still the queue's or the operator's.

use uuid::Uuid;

use super::{AuditEntry, PruneReport, StoreError};

/// Pruning and the audit trail it leaves.
#[async_trait::async_trait]
pub trait HousekeepingStore: Send + Sync {
    /// Prunes up to `limit` messages delivered before `before_ms` (and the batches and records
    /// nothing refers to any more), leaving an audit row for each; one short transaction.
    async fn prune_delivered(
        &self,
        before_ms: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<PruneReport, StoreError>;
    /// The audit row of a pruned message.
    async fn audit_entry(&self, id: Uuid) -> Result<Option<AuditEntry>, StoreError>;
}

macro_rules! impl_housekeeping {
    (
        store = $Store:ident,
        begin_write = $begin:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::HousekeepingStore for $Store {
            async fn prune_delivered(
                &self,
                before_ms: i64,
                limit: i64,
                now_ms: i64,
            ) -> Result<$crate::store::PruneReport, $crate::store::StoreError> {
                use sha2::Digest;
                use std::collections::BTreeSet;
                let _turn = self.write_turn().await;

                let mut tx = self.pool.begin_with($begin).await?;
                // Delivered is final: nothing else writes these rows, so no row locks are needed;
                // two instances pruning at once write the same audit row once.
                let rows: Vec<$crate::store::rows::PruneRow> = sqlx::query_as(
                    "SELECT o.id, o.peer, o.operation, o.dossier, o.created_at, o.delivered_at, o.attempts, \
                     o.state, o.batch_id, o.batch_history, o.record_id, o.mapping_version, \
                     b.body AS batch_body, b.answer_sha256 \
                     FROM outbox o LEFT JOIN batches b ON b.id = o.batch_id \
                     WHERE o.state = 'delivered' AND o.delivered_at < $1 ORDER BY o.delivered_at LIMIT $2",
                )
                .bind(before_ms)
                .bind(limit.max(1))
                .fetch_all(&mut *tx)
                .await?;
                let mut report = $crate::store::PruneReport::default();
                let mut batches = BTreeSet::new();
                let mut records = BTreeSet::new();
                for r in rows {
                    sqlx::query(
                        "INSERT INTO outbox_audit (message_id, peer, operation, dossier, created_at, \
                         delivered_at, attempts, final_state, batch_id, request_sha256, response_sha256, \
                         mapping_version, pruned_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (message_id) DO NOTHING",
                    )
                    .bind(&r.id)
                    .bind(&r.peer)
                    .bind(&r.operation)
                    .bind(&r.dossier)
                    .bind(r.created_at)
                    .bind(r.delivered_at)
                    .bind(r.attempts)
                    .bind(&r.state)
                    .bind(&r.batch_id)
                    .bind(r.batch_body.map(|b| hex::encode(sha2::Sha256::digest(b.as_bytes()))))
                    .bind(&r.answer_sha256)
                    // A message queued without a mapping (a catalog change, a postal order).
                    .bind(r.mapping_version.as_deref().unwrap_or(""))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    report.messages += sqlx::query("DELETE FROM outbox WHERE id = $1")
                        .bind(&r.id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    batches.extend(r.batch_id);
                    batches.extend(
                        r.batch_history
                            .as_deref()
                            .unwrap_or_default()
                            .split_whitespace()
                            .map(str::to_string),
                    );
                    records.extend(r.record_id);
                }
                // A batch or record still referred to by a message stays (a batch may be reopened
                // by a replay; a record is the source of a remap).
                for b in &batches {
                    let gone = sqlx::query(
                        "DELETE FROM batches WHERE id = $1 AND state = 'done' \
                         AND NOT EXISTS (SELECT 1 FROM outbox WHERE batch_id = $1)",
                    )
                    .bind(b)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if gone > 0 {
                        sqlx::query("DELETE FROM batch_attempts WHERE batch_id = $1")
                            .bind(b)
                            .execute(&mut *tx)
                            .await?;
                    }
                    report.batches += gone;
                }
                for rec in &records {
                    report.records += sqlx::query(
                        "DELETE FROM records WHERE id = $1 \
                         AND NOT EXISTS (SELECT 1 FROM outbox WHERE record_id = $1)",
                    )
                    .bind(rec)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(report)
            }

            async fn audit_entry(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<$crate::store::AuditEntry>, $crate::store::StoreError> {
                let row: Option<$crate::store::rows::AuditRow> = sqlx::query_as(
                    "SELECT message_id, peer, operation, dossier, created_at, delivered_at, attempts, \
                     final_state, batch_id, request_sha256, response_sha256, mapping_version, pruned_at \
                     FROM outbox_audit WHERE message_id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| r.into_entry()).transpose()
            }
        }
    };
}

pub(crate) use impl_housekeeping;
