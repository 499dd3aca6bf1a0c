//! Delivery: claims (a due open batch again, or due heads as a new batch), settlements, and when
//! work next becomes due. Must not queue messages (that is `ingest.rs`) nor decide a policy: the
//! lane says what happened, this only records it.
//!
//! Durability: claims and settlements go through `delivery`, which a backend may make cheaper
//! (SQLite: no fsync per commit). Losing a settlement to a power cut only means the batch is
//! sent again under the same id, which the peer absorbs.
//!
//! Ordering invariant: a message may be claimed only when no message of the same peer,
//! destination and key with a smaller `position` is `pending`, `inflight` or `dead`. That
//! message is its key's head (`is_head`, see `ingest.rs`): claims read due heads only, through
//! a partial index, so their cost depends neither on the backlog behind blocked keys nor on the
//! planner. A head that is delivered or skipped hands the flag to the next such message of its
//! key (a dead head keeps it: it blocks its key). `waiting` steps (their dossier not accepted
//! yet) block nothing and are moved behind the dossier's header, in their own order, when it
//! arrives.

use super::{Batch, BatchFate, BuildBody, Claim, StoreError};

/// Claims and settlements.
#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claims an open batch that is due again (a retry) or whose lease ran out (its instance
    /// died mid-send).
    async fn claim_open_batch(&self, claim: &Claim<'_>) -> Result<Option<Batch>, StoreError>;
    /// Claims the due heads of dossiers (one message per dossier, oldest first) and stores them
    /// as a new batch whose body `build` makes.
    async fn claim_new_batch(
        &self,
        claim: &Claim<'_>,
        build: BuildBody<'_>,
    ) -> Result<Option<Batch>, StoreError>;
    /// Records how a sent batch ended.
    async fn resolve_batch(
        &self,
        batch: &Batch,
        fate: BatchFate,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// The earliest time a message or batch of `peer` becomes due, if any is waiting; a message
    /// held back by an earlier message of its dossier counts by that message's batch (its lease
    /// or next try), not by its own time.
    async fn next_due(&self, peer: &str) -> Result<Option<i64>, StoreError>;
}

macro_rules! impl_delivery {
    (
        store = $Store:ident,
        db = $Db:ty,
        begin_write = $begin:literal,
        lock_rows = $lock:literal $(,)?
    ) => {
        /// Hands the head flag of each of `keys` (whose head just left: delivered or skipped) to
        /// the next pending, inflight or dead message of the key. The caller holds the keys'
        /// locks (see `lock_keys`).
        async fn promote_heads(
            conn: &mut <$Db as sqlx::Database>::Connection,
            keys: &[(&str, &str, &str)],
        ) -> Result<(), $crate::store::StoreError> {
            let keys: std::collections::BTreeSet<&(&str, &str, &str)> = keys.iter().collect();
            let keys: Vec<_> = keys.into_iter().collect();
            for part in keys.chunks(<$Store>::ROWS_PER_STATEMENT) {
                let sql = $crate::store::delivery::promote_sql(part.len());
                let mut q = sqlx::query(&sql);
                for (p, d, k) in part {
                    q = q.bind(*p).bind(*d).bind(*k);
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        }

        /// Records what the batch's answer said about its destination (`batch.health`), in the
        /// settlement's transaction.
        async fn record_health(
            conn: &mut <$Db as sqlx::Database>::Connection,
            batch: &$crate::store::Batch,
            now_ms: i64,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::store::HealthEvent;
            let Some(event) = &batch.health else {
                return Ok(());
            };
            let (success, failure, error, paused): (Option<i64>, Option<i64>, Option<&str>, Option<&str>) =
                match event {
                    HealthEvent::Success => (Some(now_ms), None, None, None),
                    HealthEvent::Failure { error } => (None, Some(now_ms), Some(error), None),
                    HealthEvent::Paused { reason } => {
                        (None, Some(now_ms), Some(reason), Some(reason))
                    }
                };
            sqlx::query($crate::store::delivery::HEALTH_UPSERT)
                .bind(&batch.peer)
                .bind(&batch.destination)
                .bind(success)
                .bind(failure)
                .bind(error)
                .bind(failure)
                .bind(failure.map_or(0i64, |_| 1))
                .bind(paused)
                .bind(paused.map(|_| now_ms))
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// Adds a settlement's delivered and failed messages to its peer's minute, in the
        /// settlement's transaction (last, so the minute's row is locked only until commit).
        async fn record_minute(
            conn: &mut <$Db as sqlx::Database>::Connection,
            peer: &str,
            now_ms: i64,
            delivered: i64,
            failed: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if delivered == 0 && failed == 0 {
                return Ok(());
            }
            sqlx::query($crate::store::pauses::MINUTE_UPSERT)
                .bind($crate::store::pauses::minute_of(now_ms))
                .bind(peer)
                .bind(delivered)
                .bind(failed)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        /// Writes one try of the batch (see migration 0015), in the settlement's transaction.
        async fn record_attempt(
            conn: &mut <$Db as sqlx::Database>::Connection,
            batch: &$crate::store::Batch,
            now_ms: i64,
            outcome: &str,
            answer: Option<&str>,
            failures: Option<String>,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(
                "INSERT INTO batch_attempts (batch_id, at_ms, outcome, answer, answer_sha256, failures) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(batch.id.to_string())
            .bind(now_ms)
            .bind(outcome)
            .bind(answer)
            .bind(batch.answer_sha256.as_deref())
            .bind(failures)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::DeliveryStore for $Store {
            async fn claim_open_batch(
                &self,
                c: &$crate::store::Claim<'_>,
            ) -> Result<Option<$crate::store::Batch>, $crate::store::StoreError> {
                let _turn = self.write_turn().await;

                let mut tx = self.delivery.begin_with($begin).await?;
                // Held-back and paused destinations' batches wait with them.
                let sql = format!(
                    "SELECT b.id, b.destination, b.operation, b.is_update, b.body, b.attempts FROM batches b \
                     WHERE b.peer = $1 AND b.state = 'open' AND b.next_attempt_at <= $2 \
                     AND (b.lease_until IS NULL OR b.lease_until < $2) {} {} \
                     ORDER BY b.next_attempt_at LIMIT 1{}",
                    $crate::store::delivery::skip_clause("b.destination", 3, c.skip_destinations.len()),
                    $crate::store::pauses::not_paused("b"),
                    $lock
                );
                let mut q = sqlx::query_as::<_, $crate::store::rows::OpenBatchRow>(&sql)
                    .bind(c.peer)
                    .bind(c.now_ms);
                for d in c.skip_destinations {
                    q = q.bind(d.as_str());
                }
                let row = q.fetch_optional(&mut *tx).await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                sqlx::query("UPDATE batches SET lease_until = $1, owner = $2 WHERE id = $3")
                    .bind(c.lease_until_ms)
                    .bind(c.owner)
                    .bind(&row.id)
                    .execute(&mut *tx)
                    .await?;
                let messages: Vec<$crate::store::rows::BatchMessageRow> = sqlx::query_as(
                    "SELECT id, dossier, attempts, COALESCE(replayed_at, created_at) AS accepted_at \
                     FROM outbox WHERE batch_id = $1 ORDER BY position",
                )
                .bind(&row.id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some($crate::store::Batch {
                    id: $crate::store::parse_uuid(&row.id)?,
                    peer: c.peer.to_string(),
                    destination: row.destination,
                    operation: row.operation,
                    is_update: row.is_update != 0,
                    body: $crate::store::parse_json(&row.body)?,
                    messages: messages
                        .into_iter()
                        .map(|m| m.into_message())
                        .collect::<Result<_, _>>()?,
                    attempts: row.attempts as u32,
                    owner: c.owner.to_string(),
                    answer_sha256: None,
                    health: None,
                }))
            }

            async fn claim_new_batch(
                &self,
                c: &$crate::store::Claim<'_>,
                build: $crate::store::BuildBody<'_>,
            ) -> Result<Option<$crate::store::Batch>, $crate::store::StoreError> {
                let _turn = self.write_turn().await;

                let mut tx = self.delivery.begin_with($begin).await?;
                // Due heads only (the partial index `outbox_claim`), minus held-back destinations
                // and those an operator paused (read in this statement, so a pause committed
                // before it holds on every instance).
                // The unary `+` keeps SQLite from taking the due index (`outbox_head_due`) for
                // the time bound and sorting every due head by position.
                let sql = format!(
                    "SELECT o.id, o.destination, o.dossier, o.is_update, o.item, o.attempts, \
                     COALESCE(o.replayed_at, o.created_at) AS accepted_at FROM outbox o \
                     WHERE o.peer = $1 AND o.operation = $2 AND o.state = 'pending' AND o.is_head \
                     AND +o.next_attempt_at <= $3 {} {} ORDER BY o.position LIMIT $4{}",
                    $crate::store::delivery::skip_clause("o.destination", 5, c.skip_destinations.len()),
                    $crate::store::pauses::not_paused("o"),
                    $lock
                );
                // The first due head names the batch's destination; only it is taken (and, on
                // PostgreSQL, locked) here, so concurrent claims do not split each other's
                // destinations into small batches.
                let mut q = sqlx::query_as::<_, $crate::store::rows::ClaimRow>(&sql)
                    .bind(c.peer)
                    .bind(c.operation)
                    .bind(c.now_ms)
                    .bind(1i64);
                for d in c.skip_destinations {
                    q = q.bind(d.as_str());
                }
                let mut rows = q.fetch_all(&mut *tx).await?;
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                // One batch is all creates or all updates, for one destination; the others wait
                // for the next claim.
                let is_update = first.is_update != 0;
                let destination = first.destination.clone();
                if c.limit > 1 {
                    // Fill the batch with the due heads of that destination, in queue order
                    // (those of many destinations are interleaved: a fan-out queues each change
                    // to every destination in turn).
                    let sql = format!(
                        "SELECT o.id, o.destination, o.dossier, o.is_update, o.item, o.attempts, \
                         COALESCE(o.replayed_at, o.created_at) AS accepted_at FROM outbox o \
                         WHERE o.peer = $1 AND o.operation = $2 AND o.destination = $3 \
                         AND o.state = 'pending' AND o.is_head AND +o.next_attempt_at <= $4 \
                         AND o.is_update = $5 ORDER BY o.position LIMIT $6{}",
                        $lock
                    );
                    rows = sqlx::query_as::<_, $crate::store::rows::ClaimRow>(&sql)
                        .bind(c.peer)
                        .bind(c.operation)
                        .bind(&destination)
                        .bind(c.now_ms)
                        .bind(is_update as i64)
                        .bind(c.limit as i64)
                        .fetch_all(&mut *tx)
                        .await?;
                }
                let mut messages = Vec::with_capacity(rows.len());
                let mut items = Vec::with_capacity(rows.len());
                for r in rows {
                    if (r.is_update != 0) != is_update || r.destination != destination {
                        continue;
                    }
                    items.push($crate::store::parse_json(&r.item)?);
                    messages.push($crate::store::BatchMessage {
                        id: $crate::store::parse_uuid(&r.id)?,
                        dossier: r.dossier,
                        attempts: r.attempts as u32,
                        accepted_ms: r.accepted_at,
                    });
                }
                let id = uuid::Uuid::now_v7();
                let body = build(is_update, &items);
                sqlx::query(
                    "INSERT INTO batches (id, peer, operation, is_update, body, items, state, attempts, \
                     next_attempt_at, lease_until, owner, created_at, destination) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'open', 0, $7, $8, $9, $7, $10)",
                )
                .bind(id.to_string())
                .bind(c.peer)
                .bind(c.operation)
                .bind(is_update as i64)
                .bind(body.to_string())
                .bind(messages.len() as i64)
                .bind(c.now_ms)
                .bind(c.lease_until_ms)
                .bind(c.owner)
                .bind(&destination)
                .execute(&mut *tx)
                .await?;
                // One statement for the whole batch: a round trip per message would cost more
                // than the claim itself on PostgreSQL.
                let placeholders: Vec<String> =
                    (0..messages.len()).map(|i| format!("${}", i + 3)).collect();
                let sql = format!(
                    "UPDATE outbox SET state = 'inflight', batch_id = $1, \
                     batch_history = COALESCE(batch_history || ' ', '') || $1, updated_at = $2 WHERE id IN ({})",
                    placeholders.join(", ")
                );
                let mut q = sqlx::query(&sql).bind(id.to_string()).bind(c.now_ms);
                for m in &messages {
                    q = q.bind(m.id.to_string());
                }
                q.execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Some($crate::store::Batch {
                    id,
                    peer: c.peer.to_string(),
                    destination,
                    operation: c.operation.to_string(),
                    is_update,
                    body,
                    messages,
                    attempts: 0,
                    owner: c.owner.to_string(),
                    answer_sha256: None,
                    health: None,
                }))
            }

            async fn resolve_batch(
                &self,
                batch: &$crate::store::Batch,
                fate: $crate::store::BatchFate,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::{BatchFate, MessageFate};
                let _turn = self.write_turn().await;

                let mut tx = self.delivery.begin_with($begin).await?;
                let id = batch.id.to_string();
                match fate {
                    BatchFate::Reopen { next_attempt_ms, error, count_attempt } => {
                        let add = count_attempt as i64;
                        // Only the instance holding the lease may settle the batch; a late answer
                        // from one that lost it is dropped (the new holder resends the same body).
                        let owned = sqlx::query(
                            "UPDATE batches SET next_attempt_at = $1, lease_until = NULL, owner = NULL, \
                             last_error = $2, attempts = attempts + $3, \
                             answer_sha256 = COALESCE($6, answer_sha256) \
                             WHERE id = $4 AND state = 'open' AND owner = $5",
                        )
                        .bind(next_attempt_ms)
                        .bind(&error)
                        .bind(add)
                        .bind(&id)
                        .bind(&batch.owner)
                        .bind(batch.answer_sha256.as_deref())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if owned == 0 {
                            return Ok(());
                        }
                        record_health(&mut *tx, batch, now_ms).await?;
                        let outcome = if count_attempt { "failed" } else { "held" };
                        record_attempt(&mut *tx, batch, now_ms, outcome, Some(&error), None).await?;
                        sqlx::query(
                            "UPDATE outbox SET attempts = attempts + $1, last_error = $2, updated_at = $3 \
                             WHERE batch_id = $4",
                        )
                        .bind(add)
                        .bind(&error)
                        .bind(now_ms)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                        // A try that counts is a failed try of every message of the batch.
                        let failed = if count_attempt { batch.messages.len() as i64 } else { 0 };
                        record_minute(&mut *tx, &batch.peer, now_ms, 0, failed).await?;
                    }
                    BatchFate::Close(fates) => {
                        // Delivered heads hand their flag on: serialise with enqueues of their
                        // keys first (PostgreSQL), before any row is touched.
                        let keys: Vec<(&str, &str, &str)> = batch
                            .messages
                            .iter()
                            .map(|m| (batch.peer.as_str(), batch.destination.as_str(), m.dossier.as_str()))
                            .collect();
                        let locks: std::collections::BTreeSet<String> = keys
                            .iter()
                            .map(|(p, d, k)| $crate::store::ingest::lock_key(p, d, k))
                            .collect();
                        lock_keys(&mut *tx, &locks).await?;
                        let owned = sqlx::query(
                            "UPDATE batches SET state = 'done', closed_at = $1, lease_until = NULL, \
                             answer_sha256 = COALESCE($4, answer_sha256) \
                             WHERE id = $2 AND state = 'open' AND owner = $3",
                        )
                        .bind(now_ms)
                        .bind(&id)
                        .bind(&batch.owner)
                        .bind(batch.answer_sha256.as_deref())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if owned == 0 {
                            return Ok(());
                        }
                        record_health(&mut *tx, batch, now_ms).await?;
                        if fates.iter().all(|(_, f)| matches!(f, MessageFate::Delivered)) {
                            record_attempt(&mut *tx, batch, now_ms, "delivered", None, None).await?;
                            // The usual case, in one statement: every message of the batch went.
                            sqlx::query(
                                "UPDATE outbox SET state = 'delivered', delivered_at = $1, updated_at = $1, \
                                 last_error = NULL, is_head = FALSE WHERE batch_id = $2 AND state = 'inflight'",
                            )
                            .bind(now_ms)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                            promote_heads(&mut *tx, &keys).await?;
                            record_minute(&mut *tx, &batch.peer, now_ms, fates.len() as i64, 0).await?;
                            tx.commit().await?;
                            return Ok(());
                        }
                        let delivered = fates
                            .iter()
                            .filter(|(_, f)| matches!(f, MessageFate::Delivered))
                            .count() as i64;
                        let failed = fates
                            .iter()
                            .filter(|(_, f)| match f {
                                MessageFate::Delivered => false,
                                MessageFate::Retry { count_attempt, .. } => *count_attempt,
                                MessageFate::Dead { .. } => true,
                            })
                            .count() as i64;
                        record_attempt(
                            &mut *tx,
                            batch,
                            now_ms,
                            "partial",
                            None,
                            Some($crate::store::delivery::failures_json(&fates)),
                        )
                        .await?;
                        let mut retired = Vec::new();
                        for (mid, f) in fates {
                            let q = match f {
                                MessageFate::Delivered => {
                                    if let Some(m) = batch.messages.iter().find(|m| m.id == mid) {
                                        retired.push((
                                            batch.peer.as_str(),
                                            batch.destination.as_str(),
                                            m.dossier.as_str(),
                                        ));
                                    }
                                    sqlx::query(
                                        "UPDATE outbox SET state = 'delivered', delivered_at = $1, updated_at = $1, \
                                         last_error = NULL, is_head = FALSE WHERE id = $2 AND batch_id = $3",
                                    )
                                    .bind(now_ms)
                                }
                                MessageFate::Retry { next_attempt_ms, error, count_attempt, is_update } => {
                                    sqlx::query(
                                        "UPDATE outbox SET state = 'pending', batch_id = NULL, next_attempt_at = $1, \
                                         attempts = attempts + $2, last_error = $3, is_update = $4, updated_at = $5 \
                                         WHERE id = $6 AND batch_id = $7",
                                    )
                                    .bind(next_attempt_ms)
                                    .bind(count_attempt as i64)
                                    .bind(error)
                                    .bind(is_update as i64)
                                    .bind(now_ms)
                                }
                                MessageFate::Dead { error } => sqlx::query(
                                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $1, \
                                     updated_at = $2 WHERE id = $3 AND batch_id = $4",
                                )
                                .bind(error)
                                .bind(now_ms),
                            };
                            q.bind(mid.to_string()).bind(&id).execute(&mut *tx).await?;
                        }
                        promote_heads(&mut *tx, &retired).await?;
                        record_minute(&mut *tx, &batch.peer, now_ms, delivered, failed).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn next_due(&self, peer: &str) -> Result<Option<i64>, $crate::store::StoreError> {
                // Messages held back by an earlier one of their dossier are not due by their own
                // time: the batch holding that one (its lease, below) or its retry decides.
                // A peer paused as a whole has nothing due (its destinations paused one by one
                // are looked at by the claims, which skip them).
                let paused: Option<i64> = sqlx::query_scalar(
                    "SELECT paused_at_ms FROM outbox_pauses WHERE peer = $1 AND destination = $2",
                )
                .bind(peer)
                .bind($crate::store::ALL_DESTINATIONS)
                .fetch_optional(&self.pool)
                .await?;
                if paused.is_some() {
                    return Ok(None);
                }
                let m: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(next_attempt_at) FROM outbox WHERE peer = $1 AND state = 'pending' AND is_head",
                )
                .bind(peer)
                .fetch_one(&self.pool)
                .await?;
                let b: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(CASE WHEN lease_until IS NULL OR lease_until < next_attempt_at \
                     THEN next_attempt_at ELSE lease_until END) FROM batches WHERE peer = $1 AND state = 'open'",
                )
                .bind(peer)
                .fetch_one(&self.pool)
                .await?;
                Ok(match (m, b) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                })
            }
        }
    };
}

pub(crate) use impl_delivery;

/// `UPDATE` that makes the first pending, inflight or dead message of each key (peer,
/// destination, dossier given as `VALUES` rows) its head, for keys that have none.
pub(crate) fn promote_sql(keys: usize) -> String {
    format!(
        "UPDATE outbox SET is_head = TRUE WHERE id IN (\
         SELECT (SELECT o.id FROM outbox o WHERE o.peer = k.column1 AND o.destination = k.column2 \
                 AND o.dossier = k.column3 AND o.state IN ('pending', 'inflight', 'dead', 'held') \
                 ORDER BY o.position LIMIT 1) \
         FROM (VALUES {}) AS k \
         WHERE NOT EXISTS (SELECT 1 FROM outbox h WHERE h.peer = k.column1 \
               AND h.destination = k.column2 AND h.dossier = k.column3 AND h.is_head))",
        super::ingest::placeholders(keys, 3, 1)
    )
}

/// Upsert of one `destination_health` row (peer, destination, last_success_ms,
/// last_failure_ms, last_error, failing_since_ms, consecutive_failures, paused_reason,
/// paused_at_ms): a success clears the failure counters and the pause; a failure adds to them.
pub(crate) const HEALTH_UPSERT: &str = "INSERT INTO destination_health (peer, destination, \
     last_success_ms, last_failure_ms, last_error, failing_since_ms, consecutive_failures, \
     paused_reason, paused_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (peer, destination) DO UPDATE SET \
     last_success_ms = COALESCE(excluded.last_success_ms, destination_health.last_success_ms), \
     last_failure_ms = COALESCE(excluded.last_failure_ms, destination_health.last_failure_ms), \
     last_error = COALESCE(excluded.last_error, destination_health.last_error), \
     failing_since_ms = CASE WHEN excluded.last_success_ms IS NOT NULL THEN NULL \
         ELSE COALESCE(destination_health.failing_since_ms, excluded.failing_since_ms) END, \
     consecutive_failures = CASE WHEN excluded.last_success_ms IS NOT NULL THEN 0 \
         ELSE destination_health.consecutive_failures + excluded.consecutive_failures END, \
     paused_reason = CASE WHEN excluded.paused_reason IS NOT NULL THEN excluded.paused_reason \
         WHEN excluded.last_success_ms IS NOT NULL THEN NULL \
         ELSE destination_health.paused_reason END, \
     paused_at_ms = COALESCE(excluded.paused_at_ms, destination_health.paused_at_ms)";

/// `AND <column> NOT IN ($first, ...)` for `n` held-back destinations bound from parameter
/// `first` on; empty when none is held back.
pub(crate) fn skip_clause(column: &str, first: usize, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let params: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("AND {column} NOT IN ({})", params.join(", "))
}

/// The `failures` of a partial try (migration 0015): the messages that did not go, each with its
/// fate and the peer's answer about it.
pub(crate) fn failures_json(fates: &[(uuid::Uuid, super::MessageFate)]) -> String {
    use super::MessageFate;
    let mut out = serde_json::Map::new();
    for (id, fate) in fates {
        let (fate, error) = match fate {
            MessageFate::Delivered => continue,
            MessageFate::Retry { error, .. } => ("retry", error),
            MessageFate::Dead { error } => ("dead", error),
        };
        out.insert(
            id.to_string(),
            serde_json::json!({ "fate": fate, "error": error }),
        );
    }
    serde_json::Value::Object(out).to_string()
}
