//! Ingest: accepted records with their messages, quarantined records and the idempotent answer,
//! written all or nothing; and the lookup of a remembered answer. Owns the statements that
//! queue messages. Must not claim or settle (that is `delivery.rs`).

use super::{AnswerFn, IdempotentAnswer, IngestWrite, StoreError};

/// Records in, answers remembered.
#[async_trait::async_trait]
pub trait IngestStore: Send + Sync {
    /// The first answer given to `key` from `source`, if any.
    async fn find_idempotent(
        &self,
        source: &str,
        key: &str,
    ) -> Result<Option<IdempotentAnswer>, StoreError>;
    /// Stores accepted records with their messages, quarantined records and the idempotent
    /// answer (made by `answer`, status 202), all or nothing. Returns the answer.
    async fn ingest(&self, write: IngestWrite, answer: AnswerFn<'_>) -> Result<String, StoreError>;
}

macro_rules! impl_ingest {
    (
        store = $Store:ident,
        begin_write = $begin:literal,
        next_position = $nextpos:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::IngestStore for $Store {
            async fn find_idempotent(
                &self,
                source: &str,
                key: &str,
            ) -> Result<Option<$crate::store::IdempotentAnswer>, $crate::store::StoreError> {
                let row: Option<$crate::store::rows::IdempotencyRow> = sqlx::query_as(
                    "SELECT body_hash, status, answer FROM idempotency WHERE source = $1 AND key = $2",
                )
                .bind(source)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.into_answer(key)))
            }

            async fn ingest(
                &self,
                w: $crate::store::IngestWrite,
                answer: $crate::store::AnswerFn<'_>,
            ) -> Result<String, $crate::store::StoreError> {
                // One statement for every message ingest queues (the record's own, and those for
                // further routes).
                const INSERT_OUTBOX: &str = concat!(
                    "INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, \
                     item, record_id, mapping_version, warnings, state, attempts, next_attempt_at, \
                     created_at, updated_at, destination) VALUES ($1, $2, $3, $4, ",
                    $nextpos,
                    ", $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13, $13, $14)"
                );
                let _turn = self.write_turn().await;

                let mut tx = self.pool.begin_with($begin).await?;
                let mut result = $crate::store::IngestResult::default();
                let mut any_pending = false;
                // The peers that have new work due now (signalled to other instances).
                let mut peers: Vec<String> = Vec::new();
                for r in &w.accepted {
                    sqlx::query(
                        "INSERT INTO records (id, source, kind, dossier, body, mapping_version, received_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(r.record_id.to_string())
                    .bind(&w.source)
                    .bind(w.kind.as_str())
                    .bind(&r.dossier)
                    .bind(r.record.to_string())
                    .bind(&r.mapping_version)
                    .bind(w.now_ms)
                    .execute(&mut *tx)
                    .await?;
                    // The key is registered once per record, before its messages are queued.
                    let registers = r.messages.iter().any(|m| m.header == $crate::store::HeaderRule::Header);
                    let (known_before, first_header) = if registers {
                        let inserted = sqlx::query(
                            "INSERT INTO dossiers (dossier, source, first_record, created_at) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (dossier) DO NOTHING",
                        )
                        .bind(&r.dossier)
                        .bind(&w.source)
                        .bind(r.record_id.to_string())
                        .bind(w.now_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        (inserted == 0, inserted == 1)
                    } else {
                        (false, false)
                    };
                    let mut any_waiting = false;
                    for m in &r.messages {
                        let (is_update, state) = match m.header {
                            $crate::store::HeaderRule::Free => (false, "pending"),
                            $crate::store::HeaderRule::Header => (known_before, "pending"),
                            $crate::store::HeaderRule::AfterHeader => {
                                let known = sqlx::query("SELECT 1 FROM dossiers WHERE dossier = $1")
                                    .bind(&m.key)
                                    .fetch_optional(&mut *tx)
                                    .await?
                                    .is_some();
                                (false, if known { "pending" } else { "waiting" })
                            }
                        };
                        any_waiting |= state == "waiting";
                        any_pending |= state == "pending";
                        sqlx::query(INSERT_OUTBOX)
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(&m.peer)
                            .bind(&m.operation)
                            .bind(&m.key)
                            .bind(m.at_ms)
                            .bind(m.source_seq)
                            .bind(is_update as i64)
                            .bind(m.item.to_string())
                            .bind(m.record_id.unwrap_or(r.record_id).to_string())
                            .bind(m.mapping_version.as_deref().unwrap_or(&r.mapping_version))
                            .bind(serde_json::to_string(&m.warnings).unwrap_or_else(|_| "[]".into()))
                            .bind(state)
                            .bind(w.now_ms)
                            .bind(&m.destination)
                            .execute(&mut *tx)
                            .await?;
                        if state == "pending" && !peers.contains(&m.peer) {
                            peers.push(m.peer.clone());
                        }
                    }
                    result.waiting.push(any_waiting);
                    if first_header {
                        // Steps that arrived before their dossier go now, right behind it, in the
                        // order they were queued.
                        let waiting: Vec<String> = sqlx::query_scalar(
                            "SELECT id FROM outbox WHERE dossier = $1 AND state = 'waiting' ORDER BY position",
                        )
                        .bind(&r.dossier)
                        .fetch_all(&mut *tx)
                        .await?;
                        for id in waiting {
                            sqlx::query(concat!(
                                "UPDATE outbox SET state = 'pending', updated_at = $2, position = ",
                                $nextpos,
                                " WHERE id = $1"
                            ))
                            .bind(id)
                            .bind(w.now_ms)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                for q in &w.rejected {
                    sqlx::query(
                        "INSERT INTO quarantine (id, source, kind, dossier, record_index, body, error, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(&w.source)
                    .bind(w.kind.as_str())
                    .bind(&q.dossier)
                    .bind(q.index as i64)
                    .bind(q.record.to_string())
                    .bind(&q.error)
                    .bind(w.now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(notify) = <$Store>::NOTIFY_WORK {
                    // Delivered to every listening instance when (and only if) this commits.
                    if any_pending {
                        for peer in &peers {
                            sqlx::query(notify).bind(peer).execute(&mut *tx).await?;
                        }
                    }
                }
                let answer = answer(&result);
                if let Some(idem) = &w.idempotency {
                    sqlx::query(
                        "INSERT INTO idempotency (source, key, body_hash, status, answer, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&w.source)
                    .bind(&idem.key)
                    .bind(&idem.body_hash)
                    .bind(202i64)
                    .bind(&answer)
                    .bind(w.now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(answer)
            }
        }
    };
}

pub(crate) use impl_ingest;
