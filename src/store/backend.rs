//! The SQL both backends share, written once. `impl_store!` generates the [`Store`] impl for a
//! backend from these statements plus the few fragments where the databases differ (how a write
//! transaction begins, how the next queue position is drawn, how claims lock rows).
//!
//! Durability: ingest writes go through `pool` (every commit reaches the disk before the 202);
//! claims and settlements go through `delivery`, which a backend may make cheaper (SQLite: no
//! fsync per commit). Losing a settlement to a power cut only means the batch is sent again
//! under the same id, which the peer absorbs.
//!
//! Ordering invariant: a message may be claimed only when no message of the same peer and
//! dossier with a smaller `position` is `pending`, `inflight` or `dead`. `waiting` steps (their
//! dossier not accepted yet) block nothing and are moved behind the dossier's header, in their
//! own order, when it arrives.
//!
//! [`Store`]: super::Store

macro_rules! impl_store {
    (
        store = $Store:ident,
        db = $Db:ty,
        name = $name:literal,
        begin_write = $begin:literal,
        next_position = $nextpos:literal,
        lock_rows = $lock:literal,
        migrator = $migrator:expr $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $Store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                $migrator.run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn find_idempotent(
                &self,
                source: &str,
                key: &str,
            ) -> Result<Option<$crate::store::IdempotentAnswer>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT body_hash, status, answer FROM idempotency WHERE source = $1 AND key = $2",
                )
                .bind(source)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok($crate::store::IdempotentAnswer {
                        key: key.to_string(),
                        body_hash: r.try_get("body_hash")?,
                        status: r.try_get::<i64, _>("status")? as u16,
                        answer: r.try_get("answer")?,
                    })
                })
                .transpose()
                .map_err(|e: sqlx::Error| e.into())
            }

            async fn ingest(
                &self,
                w: $crate::store::IngestWrite,
                answer: $crate::store::AnswerFn<'_>,
            ) -> Result<String, $crate::store::StoreError> {
                use $crate::store::RecordKind;
                let mut tx = self.pool.begin_with($begin).await?;
                let mut result = $crate::store::IngestResult::default();
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
                    let (is_update, state, first_header) = match w.kind {
                        RecordKind::Dossier => {
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
                            (inserted == 0, "pending", inserted == 1)
                        }
                        RecordKind::Step => {
                            let known = sqlx::query("SELECT 1 FROM dossiers WHERE dossier = $1")
                                .bind(&r.dossier)
                                .fetch_optional(&mut *tx)
                                .await?
                                .is_some();
                            (false, if known { "pending" } else { "waiting" }, false)
                        }
                    };
                    result.waiting.push(state == "waiting");
                    sqlx::query(concat!(
                        "INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, \
                         item, record_id, mapping_version, warnings, state, attempts, next_attempt_at, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, ",
                        $nextpos,
                        ", $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13, $13)"
                    ))
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(&w.peer)
                    .bind(&w.operation)
                    .bind(&r.dossier)
                    .bind(r.at_ms)
                    .bind(r.source_seq)
                    .bind(is_update as i64)
                    .bind(r.item.to_string())
                    .bind(r.record_id.to_string())
                    .bind(&r.mapping_version)
                    .bind(serde_json::to_string(&r.warnings).unwrap_or_else(|_| "[]".into()))
                    .bind(state)
                    .bind(w.now_ms)
                    .execute(&mut *tx)
                    .await?;
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
                    if result.waiting.iter().any(|waiting| !waiting) {
                        sqlx::query(notify).bind(&w.peer).execute(&mut *tx).await?;
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

            async fn claim_open_batch(
                &self,
                c: &$crate::store::Claim<'_>,
            ) -> Result<Option<$crate::store::Batch>, $crate::store::StoreError> {
                use sqlx::Row;
                let mut tx = self.delivery.begin_with($begin).await?;
                let row = sqlx::query(concat!(
                    "SELECT id, operation, is_update, body, attempts FROM batches \
                     WHERE peer = $1 AND state = 'open' AND next_attempt_at <= $2 \
                     AND (lease_until IS NULL OR lease_until < $2) \
                     ORDER BY next_attempt_at LIMIT 1",
                    $lock
                ))
                .bind(c.peer)
                .bind(c.now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let id: String = row.try_get("id")?;
                sqlx::query("UPDATE batches SET lease_until = $1, owner = $2 WHERE id = $3")
                    .bind(c.lease_until_ms)
                    .bind(c.owner)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                let messages = sqlx::query(
                    "SELECT id, dossier, attempts FROM outbox WHERE batch_id = $1 ORDER BY position",
                )
                .bind(&id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let body: String = row.try_get("body")?;
                Ok(Some($crate::store::Batch {
                    id: super::parse_uuid(&id)?,
                    peer: c.peer.to_string(),
                    operation: row.try_get("operation")?,
                    is_update: row.try_get::<i64, _>("is_update")? != 0,
                    body: super::parse_json(&body)?,
                    messages: messages
                        .iter()
                        .map(|m| {
                            Ok($crate::store::BatchMessage {
                                id: super::parse_uuid(&m.try_get::<String, _>("id")?)?,
                                dossier: m.try_get("dossier")?,
                                attempts: m.try_get::<i64, _>("attempts")? as u32,
                            })
                        })
                        .collect::<Result<_, $crate::store::StoreError>>()?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    owner: c.owner.to_string(),
                }))
            }

            async fn claim_new_batch(
                &self,
                c: &$crate::store::Claim<'_>,
                build: $crate::store::BuildBody<'_>,
            ) -> Result<Option<$crate::store::Batch>, $crate::store::StoreError> {
                use sqlx::Row;
                let mut tx = self.delivery.begin_with($begin).await?;
                let rows = sqlx::query(concat!(
                    "SELECT o.id, o.dossier, o.is_update, o.item, o.attempts FROM outbox o \
                     WHERE o.peer = $1 AND o.operation = $2 AND o.state = 'pending' AND o.next_attempt_at <= $3 \
                     AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.peer = o.peer AND p.dossier = o.dossier \
                         AND p.position < o.position AND p.state IN ('pending', 'inflight', 'dead')) \
                     ORDER BY o.position LIMIT $4",
                    $lock
                ))
                .bind(c.peer)
                .bind(c.operation)
                .bind(c.now_ms)
                .bind(c.limit as i64)
                .fetch_all(&mut *tx)
                .await?;
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                // One batch is all creates or all updates; the others wait for the next claim.
                let is_update = first.try_get::<i64, _>("is_update")? != 0;
                let mut messages = Vec::with_capacity(rows.len());
                let mut items = Vec::with_capacity(rows.len());
                for r in &rows {
                    if (r.try_get::<i64, _>("is_update")? != 0) != is_update {
                        continue;
                    }
                    let item: String = r.try_get("item")?;
                    items.push(super::parse_json(&item)?);
                    messages.push($crate::store::BatchMessage {
                        id: super::parse_uuid(&r.try_get::<String, _>("id")?)?,
                        dossier: r.try_get("dossier")?,
                        attempts: r.try_get::<i64, _>("attempts")? as u32,
                    });
                }
                let id = uuid::Uuid::new_v4();
                let body = build(is_update, &items);
                sqlx::query(
                    "INSERT INTO batches (id, peer, operation, is_update, body, items, state, attempts, \
                     next_attempt_at, lease_until, owner, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'open', 0, $7, $8, $9, $7)",
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
                .execute(&mut *tx)
                .await?;
                for m in &messages {
                    sqlx::query(
                        "UPDATE outbox SET state = 'inflight', batch_id = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(id.to_string())
                    .bind(c.now_ms)
                    .bind(m.id.to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(Some($crate::store::Batch {
                    id,
                    peer: c.peer.to_string(),
                    operation: c.operation.to_string(),
                    is_update,
                    body,
                    messages,
                    attempts: 0,
                    owner: c.owner.to_string(),
                }))
            }

            async fn resolve_batch(
                &self,
                batch: &$crate::store::Batch,
                fate: $crate::store::BatchFate,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::{BatchFate, MessageFate};
                let mut tx = self.delivery.begin_with($begin).await?;
                let id = batch.id.to_string();
                match fate {
                    BatchFate::Reopen { next_attempt_ms, error, count_attempt } => {
                        let add = count_attempt as i64;
                        // Only the instance holding the lease may settle the batch; a late answer
                        // from one that lost it is dropped (the new holder resends the same body).
                        let owned = sqlx::query(
                            "UPDATE batches SET next_attempt_at = $1, lease_until = NULL, owner = NULL, \
                             last_error = $2, attempts = attempts + $3 \
                             WHERE id = $4 AND state = 'open' AND owner = $5",
                        )
                        .bind(next_attempt_ms)
                        .bind(&error)
                        .bind(add)
                        .bind(&id)
                        .bind(&batch.owner)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if owned == 0 {
                            return Ok(());
                        }
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
                    }
                    BatchFate::Close(fates) => {
                        let owned = sqlx::query(
                            "UPDATE batches SET state = 'done', closed_at = $1, lease_until = NULL \
                             WHERE id = $2 AND state = 'open' AND owner = $3",
                        )
                        .bind(now_ms)
                        .bind(&id)
                        .bind(&batch.owner)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if owned == 0 {
                            return Ok(());
                        }
                        for (mid, f) in fates {
                            let q = match f {
                                MessageFate::Delivered => sqlx::query(
                                    "UPDATE outbox SET state = 'delivered', delivered_at = $1, updated_at = $1, \
                                     last_error = NULL WHERE id = $2 AND batch_id = $3",
                                )
                                .bind(now_ms),
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
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn next_due(&self, peer: &str) -> Result<Option<i64>, $crate::store::StoreError> {
                // Messages held back by an earlier one of their dossier are not due by their own
                // time: the batch holding that one (its lease, below) or its retry decides.
                let m: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.peer = $1 AND o.state = 'pending' \
                     AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.peer = o.peer AND p.dossier = o.dossier \
                         AND p.position < o.position AND p.state IN ('pending', 'inflight', 'dead'))",
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

            async fn outbox_counts(
                &self,
            ) -> Result<Vec<$crate::store::StateCount>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT peer, operation, state, COUNT(*) AS n, \
                     SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS retried \
                     FROM outbox GROUP BY peer, operation, state ORDER BY peer, operation, state",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::StateCount {
                            peer: r.try_get("peer")?,
                            operation: r.try_get("operation")?,
                            state: r.try_get("state")?,
                            count: r.try_get("n")?,
                            retried: r.try_get::<Option<i64>, _>("retried")?.unwrap_or(0),
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn dead_letters(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::DeadLetter>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, peer, operation, dossier, attempts, last_error FROM outbox \
                     WHERE state = 'dead' ORDER BY updated_at, position LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::DeadLetter {
                            id: super::parse_uuid(&r.try_get::<String, _>("id")?)?,
                            peer: r.try_get("peer")?,
                            operation: r.try_get("operation")?,
                            dossier: r.try_get("dossier")?,
                            attempts: r.try_get::<i64, _>("attempts")? as u32,
                            error: r.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
                        })
                    })
                    .collect()
            }

            async fn quarantine(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::QuarantineEntry>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT source, kind, dossier, error FROM quarantine ORDER BY created_at, record_index LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::QuarantineEntry {
                            source: r.try_get("source")?,
                            kind: r.try_get("kind")?,
                            dossier: r.try_get("dossier")?,
                            error: r.try_get("error")?,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn list_messages(
                &self,
                f: &$crate::store::MessageFilter,
            ) -> Result<Vec<$crate::store::MessageSummary>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
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
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::MessageSummary {
                            id: super::parse_uuid(&r.try_get::<String, _>("id")?)?,
                            peer: r.try_get("peer")?,
                            operation: r.try_get("operation")?,
                            dossier: r.try_get("dossier")?,
                            state: r.try_get("state")?,
                            attempts: r.try_get::<i64, _>("attempts")? as u32,
                            batch_id: r.try_get("batch_id")?,
                            error: r.try_get("last_error")?,
                            updated_ms: r.try_get("updated_at")?,
                        })
                    })
                    .collect()
            }

            async fn replay(
                &self,
                ids: &[uuid::Uuid],
                now_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let mut n = 0;
                for id in ids {
                    n += sqlx::query(
                        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, \
                         batch_id = NULL, updated_at = $1 WHERE id = $2 AND state = 'dead'",
                    )
                    .bind(now_ms)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                tx.commit().await?;
                Ok(n)
            }

            async fn replay_dead(
                &self,
                peer: &str,
                since_ms: i64,
                now_ms: i64,
            ) -> Result<u64, $crate::store::StoreError> {
                let n = sqlx::query(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, \
                     batch_id = NULL, updated_at = $1 WHERE peer = $2 AND state = 'dead' AND updated_at >= $3",
                )
                .bind(now_ms)
                .bind(peer)
                .bind(since_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n)
            }

            async fn skip(
                &self,
                id: uuid::Uuid,
                reason: &str,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let n = sqlx::query(
                    "UPDATE outbox SET state = 'skipped', last_error = $1, updated_at = $2 \
                     WHERE id = $3 AND state IN ('dead', 'pending', 'waiting')",
                )
                .bind(format!("skipped by operator: {reason}"))
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn quarantine_count(&self) -> Result<i64, $crate::store::StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM quarantine")
                    .fetch_one(&self.pool)
                    .await?)
            }

            // Several instances: wake-ups and named leases.

            fn work_listener(
                &self,
                wake: std::sync::Arc<tokio::sync::Notify>,
                shutdown: tokio_util::sync::CancellationToken,
            ) -> Option<futures::future::BoxFuture<'static, ()>> {
                self.listen_for_work(wake, shutdown)
            }

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
                use sqlx::Row;
                let row = sqlx::query("SELECT holder, until_ms FROM leases WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.delivery)
                    .await?;
                row.map(|r| {
                    Ok($crate::store::Lease {
                        name: name.to_string(),
                        holder: r.try_get("holder")?,
                        until_ms: r.try_get("until_ms")?,
                    })
                })
                .transpose()
                .map_err(|e: sqlx::Error| e.into())
            }
        }
    };
}

pub(crate) use impl_store;
