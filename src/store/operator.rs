//! The operator's side of the queue: counts, lists, one message in full, replay (keeping the
//! `X-Request-ID` when a batch goes again whole), skip and remap. Must not claim or settle, and
//! decides nothing about mappings: `outbox::operator` works out a remap, this only stores it.

use uuid::Uuid;

use super::{
    DeadLetter, DestinationBacklog, DestinationHealth, MessageDetail, MessageFilter,
    MessageSummary, QuarantineEntry, Remap, ReplayOutcome, StateCount, StoreError,
};

/// What an operator sees and does.
#[async_trait::async_trait]
pub trait OperatorStore: Send + Sync {
    async fn outbox_counts(&self) -> Result<Vec<StateCount>, StoreError>;
    async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, StoreError>;
    async fn quarantine(&self, limit: i64) -> Result<Vec<QuarantineEntry>, StoreError>;
    async fn quarantine_count(&self) -> Result<i64, StoreError>;
    async fn list_messages(
        &self,
        filter: &MessageFilter,
    ) -> Result<Vec<MessageSummary>, StoreError>;
    /// Puts dead messages back in the queue at their old place in their dossier's order, with
    /// their attempts reset, reopening their last batch when it goes again whole (see
    /// [`ReplayOutcome`]). Returns how many were dead and are queued again.
    async fn replay(&self, ids: &[Uuid], now_ms: i64) -> Result<u64, StoreError>;
    /// Replays every dead message of `peer` that died at or after `since_ms`, in chunks of 500
    /// (one transaction each); `outbox::operator::replay_dead` does the same with progress.
    async fn replay_dead(&self, peer: &str, since_ms: i64, now_ms: i64) -> Result<u64, StoreError>;
    /// Gives a dead, pending or waiting message up for good (`skipped`, with the operator's
    /// reason); it no longer holds back its dossier. Returns whether it was skipped.
    async fn skip(&self, id: Uuid, reason: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Replays dead messages (see [`ReplayOutcome`] for the batch rule). Messages that are not
    /// dead are left alone.
    async fn replay_messages(&self, ids: &[Uuid], now_ms: i64)
        -> Result<ReplayOutcome, StoreError>;
    /// How many dead messages of `peer` died at or after `since_ms`.
    async fn count_dead(&self, peer: &str, since_ms: i64) -> Result<i64, StoreError>;
    /// Up to `limit` dead messages of `peer` that died at or after `since_ms`, with a queue
    /// position after `after_position`, in queue order: `(id, position)`.
    async fn dead_page(
        &self,
        peer: &str,
        since_ms: i64,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<(Uuid, i64)>, StoreError>;
    /// Everything about one message, with its source record (none for a message queued without
    /// one: the caller refuses to remap it) and its batches.
    async fn message(&self, id: Uuid) -> Result<Option<MessageDetail>, StoreError>;
    /// Replaces a dead message's item (rendered again with the current mapping) and queues it
    /// for a new batch at its old place. Returns whether it was dead and is now pending.
    async fn remap(&self, id: Uuid, remap: &Remap, now_ms: i64) -> Result<bool, StoreError>;
    /// Each destination of `peer` as its settlements left it (`destination_health`), sorted by
    /// destination; only destinations that have been sent to.
    async fn destination_health(&self, peer: &str) -> Result<Vec<DestinationHealth>, StoreError>;
    /// Per destination of `peer` that has any, its messages not delivered yet by state (through
    /// the partial index `outbox_backlog`: delivered history is not read), sorted by destination.
    async fn destination_backlog(&self, peer: &str) -> Result<Vec<DestinationBacklog>, StoreError>;
}

macro_rules! impl_operator {
    (
        store = $Store:ident,
        begin_write = $begin:literal,
        lock_rows = $lock:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::OperatorStore for $Store {
            async fn destination_health(
                &self,
                peer: &str,
            ) -> Result<Vec<$crate::store::DestinationHealth>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT peer, destination, last_success_ms, last_failure_ms, last_error, \
                     failing_since_ms, consecutive_failures, paused_reason, paused_at_ms \
                     FROM destination_health WHERE peer = $1 ORDER BY destination",
                )
                .bind(peer)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn destination_backlog(
                &self,
                peer: &str,
            ) -> Result<Vec<$crate::store::DestinationBacklog>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT destination, \
                     SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS pending, \
                     SUM(CASE WHEN state = 'inflight' THEN 1 ELSE 0 END) AS inflight, \
                     SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS dead, \
                     MIN(CASE WHEN state = 'pending' THEN created_at END) AS oldest_pending_ms \
                     FROM outbox WHERE peer = $1 AND state IN ('pending', 'inflight', 'dead') \
                     GROUP BY destination ORDER BY destination",
                )
                .bind(peer)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn outbox_counts(
                &self,
            ) -> Result<Vec<$crate::store::StateCount>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::rows::StateCountRow> = sqlx::query_as(
                    "SELECT peer, operation, state, COUNT(*) AS n, \
                     SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS retried \
                     FROM outbox GROUP BY peer, operation, state ORDER BY peer, operation, state",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn dead_letters(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::DeadLetter>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::rows::DeadLetterRow> = sqlx::query_as(
                    "SELECT id, peer, operation, dossier, attempts, last_error FROM outbox \
                     WHERE state = 'dead' ORDER BY updated_at, position LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|r| r.into_dead_letter()).collect()
            }

            async fn quarantine(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::QuarantineEntry>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::rows::QuarantineRow> = sqlx::query_as(
                    "SELECT source, kind, dossier, error FROM quarantine ORDER BY created_at, record_index LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn quarantine_count(&self) -> Result<i64, $crate::store::StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM quarantine")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn list_messages(
                &self,
                f: &$crate::store::MessageFilter,
            ) -> Result<Vec<$crate::store::MessageSummary>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::rows::MessageSummaryRow> = sqlx::query_as(
                    "SELECT id, peer, operation, dossier, state, attempts, batch_id, last_error, updated_at \
                     FROM outbox WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR peer = $2) \
                     AND ($3 IS NULL OR dossier = $3) ORDER BY position LIMIT $4",
                )
                .bind(f.state.as_deref())
                .bind(f.peer.as_deref())
                .bind(f.dossier.as_deref())
                .bind(if f.limit > 0 { f.limit } else { 100 })
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|r| r.into_summary()).collect()
            }

            async fn replay(
                &self,
                ids: &[uuid::Uuid],
                now_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                Ok($crate::store::OperatorStore::replay_messages(self, ids, now_ms).await?.replayed)
            }

            async fn replay_dead(
                &self,
                peer: &str,
                since_ms: i64,
                now_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                // In chunks, so a large dead-letter list never holds one long transaction.
                let mut after = i64::MIN;
                let mut n = 0;
                loop {
                    let page =
                        $crate::store::OperatorStore::dead_page(self, peer, since_ms, after, 500).await?;
                    let Some(last) = page.last() else {
                        return Ok(n);
                    };
                    after = last.1;
                    let ids: Vec<uuid::Uuid> = page.iter().map(|(id, _)| *id).collect();
                    n += $crate::store::OperatorStore::replay_messages(self, &ids, now_ms)
                        .await?
                        .replayed;
                }
            }

            async fn skip(
                &self,
                id: uuid::Uuid,
                reason: &str,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let key: Option<(String, String, String)> =
                    sqlx::query_as("SELECT peer, destination, dossier FROM outbox WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((peer, destination, dossier)) = key else {
                    return Ok(false);
                };
                // It no longer holds back its key: if it was the head, the next message is.
                let locks = std::collections::BTreeSet::from([$crate::store::ingest::lock_key(
                    &peer,
                    &destination,
                    &dossier,
                )]);
                lock_keys(&mut *tx, &locks).await?;
                let n = sqlx::query(
                    "UPDATE outbox SET state = 'skipped', last_error = $1, updated_at = $2, is_head = FALSE \
                     WHERE id = $3 AND state IN ('dead', 'pending', 'waiting', 'held')",
                )
                .bind(format!("skipped by operator: {reason}"))
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                promote_heads(&mut *tx, &[(&peer, &destination, &dossier)]).await?;
                tx.commit().await?;
                Ok(n == 1)
            }

            async fn replay_messages(
                &self,
                ids: &[uuid::Uuid],
                now_ms: i64,
            ) -> Result<$crate::store::ReplayOutcome, $crate::store::StoreError> {
                use std::collections::{BTreeMap, BTreeSet};
                let _turn = self.write_turn().await;

                let mut tx = self.pool.begin_with($begin).await?;
                let mut out = $crate::store::ReplayOutcome::default();
                // Dead messages among `ids`, grouped by their last batch.
                let mut by_batch: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
                let wanted: BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
                for id in &wanted {
                    let row: Option<(Option<String>,)> = sqlx::query_as(concat!(
                        "SELECT batch_id FROM outbox WHERE id = $1 AND state = 'dead'",
                        $lock
                    ))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((batch,)) = row {
                        by_batch.entry(batch).or_default().insert(id.clone());
                    }
                }
                for (batch, dead) in by_batch {
                    let reopen = match &batch {
                        None => false,
                        Some(b) => {
                            let head: Option<$crate::store::rows::BatchStateRow> = sqlx::query_as(concat!(
                                "SELECT items, state FROM batches WHERE id = $1",
                                $lock
                            ))
                            .bind(b)
                            .fetch_optional(&mut *tx)
                            .await?;
                            let members: Vec<$crate::store::rows::MemberRow> = sqlx::query_as(concat!(
                                "SELECT id, state FROM outbox WHERE batch_id = $1",
                                $lock
                            ))
                            .bind(b)
                            .fetch_all(&mut *tx)
                            .await?;
                            let mut whole = match &head {
                                Some(h) => h.state == "done" && h.items == members.len() as i64,
                                None => false,
                            };
                            // Every item of the old body must be going again: dead and replayed
                            // now, or pending from an earlier replay and not sent since.
                            for m in &members {
                                whole &= (m.state == "dead" && dead.contains(&m.id)) || m.state == "pending";
                            }
                            whole
                        }
                    };
                    match batch {
                        Some(b) if reopen => {
                            sqlx::query(
                                "UPDATE batches SET state = 'open', attempts = 0, next_attempt_at = $1, \
                                 lease_until = NULL, owner = NULL, closed_at = NULL WHERE id = $2",
                            )
                            .bind(now_ms)
                            .bind(&b)
                            .execute(&mut *tx)
                            .await?;
                            sqlx::query(
                                "UPDATE outbox SET state = 'inflight', attempts = 0, next_attempt_at = $1, \
                                 updated_at = $1, replayed_at = $1 WHERE batch_id = $2 AND state IN ('dead', 'pending')",
                            )
                            .bind(now_ms)
                            .bind(&b)
                            .execute(&mut *tx)
                            .await?;
                            out.replayed += dead.len() as u64;
                            out.reopened.push($crate::store::parse_uuid(&b)?);
                        }
                        _ => {
                            // The last batch id stays on the row, so that a later replay of the
                            // rest of that batch can still reopen it whole.
                            for id in &dead {
                                let n = sqlx::query(
                                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, \
                                     updated_at = $1, replayed_at = $1 WHERE id = $2 AND state = 'dead'",
                                )
                                .bind(now_ms)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                                out.replayed += n;
                                out.new_batch += n;
                            }
                        }
                    }
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn count_dead(
                &self,
                peer: &str,
                since_ms: i64,
            ) -> Result<i64, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM outbox WHERE peer = $1 AND state = 'dead' AND updated_at >= $2",
                )
                .bind(peer)
                .bind(since_ms)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn dead_page(
                &self,
                peer: &str,
                since_ms: i64,
                after_position: i64,
                limit: i64,
            ) -> Result<Vec<(uuid::Uuid, i64)>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::rows::PositionRow> = sqlx::query_as(
                    "SELECT id, position FROM outbox WHERE peer = $1 AND state = 'dead' \
                     AND updated_at >= $2 AND position > $3 ORDER BY position LIMIT $4",
                )
                .bind(peer)
                .bind(since_ms)
                .bind(after_position)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|r| r.into_pair()).collect()
            }

            async fn message(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<$crate::store::MessageDetail>, $crate::store::StoreError> {
                let row: Option<$crate::store::rows::MessageDetailRow> = sqlx::query_as(
                    "SELECT o.id, o.peer, o.destination, o.operation, o.dossier, o.state, o.position, \
                     o.is_update, o.attempts, o.created_at, o.updated_at, o.next_attempt_at, o.delivered_at, \
                     o.last_error, o.mapping_version, o.warnings, o.item, o.record_id, o.batch_id, \
                     o.batch_history, r.source, r.kind, r.body AS record_body \
                     FROM outbox o LEFT JOIN records r ON r.id = o.record_id WHERE o.id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let mut batches = Vec::new();
                for b in row.batch_ids() {
                    let info: Option<$crate::store::rows::BatchInfoRow> = sqlx::query_as(
                        "SELECT state, attempts, items, created_at, closed_at, last_error, answer_sha256 \
                         FROM batches WHERE id = $1",
                    )
                    .bind(&b)
                    .fetch_optional(&self.pool)
                    .await?;
                    let mut info = $crate::store::rows::BatchInfoRow::info(b, info);
                    let tries: Vec<$crate::store::rows::BatchTryRow> = sqlx::query_as(
                        "SELECT at_ms, outcome, answer, answer_sha256, failures FROM batch_attempts \
                         WHERE batch_id = $1 ORDER BY at_ms",
                    )
                    .bind(&info.id)
                    .fetch_all(&self.pool)
                    .await?;
                    let me = id.to_string();
                    info.tries = tries.into_iter().map(|t| t.for_message(&me)).collect();
                    batches.push(info);
                }
                row.into_detail(batches).map(Some)
            }

            async fn remap(
                &self,
                id: uuid::Uuid,
                remap: &$crate::store::Remap,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                // A new body needs a new batch: the row leaves its last batch (kept in history).
                let n = sqlx::query(
                    "UPDATE outbox SET item = $1, mapping_version = $2, warnings = $3, state = 'pending', \
                     attempts = 0, next_attempt_at = $4, updated_at = $4, batch_id = NULL \
                     WHERE id = $5 AND state = 'dead'",
                )
                .bind(remap.item.to_string())
                .bind(&remap.mapping_version)
                .bind(serde_json::to_string(&remap.warnings).unwrap_or_else(|_| "[]".into()))
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }
        }
    };
}

pub(crate) use impl_operator;
