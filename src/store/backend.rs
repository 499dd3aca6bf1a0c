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
                // One statement for every message ingest queues (the record's own, and those for
                // further routes).
                const INSERT_OUTBOX: &str = concat!(
                    "INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, \
                     item, record_id, mapping_version, warnings, state, attempts, next_attempt_at, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, ",
                    $nextpos,
                    ", $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13, $13)"
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

            async fn claim_open_batch(
                &self,
                c: &$crate::store::Claim<'_>,
            ) -> Result<Option<$crate::store::Batch>, $crate::store::StoreError> {
                use sqlx::Row;
                let _turn = self.write_turn().await;

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
                    "SELECT id, dossier, attempts, COALESCE(replayed_at, created_at) AS accepted_at \
                     FROM outbox WHERE batch_id = $1 ORDER BY position",
                )
                .bind(&id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                let body: String = row.try_get("body")?;
                Ok(Some($crate::store::Batch {
                    id: super::parse_uuid(&id)?,
                    peer: c.peer.to_string(),
                    destination: String::new(),
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
                                accepted_ms: m.try_get("accepted_at")?,
                            })
                        })
                        .collect::<Result<_, $crate::store::StoreError>>()?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    owner: c.owner.to_string(),
                    answer_sha256: None,
                }))
            }

            async fn claim_new_batch(
                &self,
                c: &$crate::store::Claim<'_>,
                build: $crate::store::BuildBody<'_>,
            ) -> Result<Option<$crate::store::Batch>, $crate::store::StoreError> {
                use sqlx::Row;
                let _turn = self.write_turn().await;

                let mut tx = self.delivery.begin_with($begin).await?;
                let rows = sqlx::query(concat!(
                    "SELECT o.id, o.dossier, o.is_update, o.item, o.attempts, \
                     COALESCE(o.replayed_at, o.created_at) AS accepted_at FROM outbox o \
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
                        accepted_ms: r.try_get("accepted_at")?,
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
                    destination: String::new(),
                    operation: c.operation.to_string(),
                    is_update,
                    body,
                    messages,
                    attempts: 0,
                    owner: c.owner.to_string(),
                    answer_sha256: None,
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
                        if fates.iter().all(|(_, f)| matches!(f, MessageFate::Delivered)) {
                            // The usual case, in one statement: every message of the batch went.
                            sqlx::query(
                                "UPDATE outbox SET state = 'delivered', delivered_at = $1, updated_at = $1, \
                                 last_error = NULL WHERE batch_id = $2 AND state = 'inflight'",
                            )
                            .bind(now_ms)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                            tx.commit().await?;
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
                Ok($crate::store::Store::replay_messages(self, ids, now_ms).await?.replayed)
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
                    let page = $crate::store::Store::dead_page(self, peer, since_ms, after, 500).await?;
                    let Some(last) = page.last() else {
                        return Ok(n);
                    };
                    after = last.1;
                    let ids: Vec<uuid::Uuid> = page.iter().map(|(id, _)| *id).collect();
                    n += $crate::store::Store::replay_messages(self, &ids, now_ms).await?.replayed;
                }
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

            // Operator side: replay that keeps the X-Request-ID, show, remap, housekeeping.

            async fn replay_messages(
                &self,
                ids: &[uuid::Uuid],
                now_ms: i64,
            ) -> Result<$crate::store::ReplayOutcome, $crate::store::StoreError> {
                use sqlx::Row;
                use std::collections::{BTreeMap, BTreeSet};
                let _turn = self.write_turn().await;

                let mut tx = self.pool.begin_with($begin).await?;
                let mut out = $crate::store::ReplayOutcome::default();
                // Dead messages among `ids`, grouped by their last batch.
                let mut by_batch: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
                let wanted: BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
                for id in &wanted {
                    let row = sqlx::query(concat!(
                        "SELECT batch_id FROM outbox WHERE id = $1 AND state = 'dead'",
                        $lock
                    ))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = row {
                        let batch: Option<String> = row.try_get("batch_id")?;
                        by_batch.entry(batch).or_default().insert(id.clone());
                    }
                }
                for (batch, dead) in by_batch {
                    let reopen = match &batch {
                        None => false,
                        Some(b) => {
                            let head = sqlx::query(concat!(
                                "SELECT items, state FROM batches WHERE id = $1",
                                $lock
                            ))
                            .bind(b)
                            .fetch_optional(&mut *tx)
                            .await?;
                            let members = sqlx::query(concat!(
                                "SELECT id, state FROM outbox WHERE batch_id = $1",
                                $lock
                            ))
                            .bind(b)
                            .fetch_all(&mut *tx)
                            .await?;
                            let mut whole = match &head {
                                Some(h) => {
                                    h.try_get::<String, _>("state")? == "done"
                                        && h.try_get::<i64, _>("items")? == members.len() as i64
                                }
                                None => false,
                            };
                            // Every item of the old body must be going again: dead and replayed
                            // now, or pending from an earlier replay and not sent since.
                            for m in &members {
                                let id: String = m.try_get("id")?;
                                let state: String = m.try_get("state")?;
                                whole &= (state == "dead" && dead.contains(&id)) || state == "pending";
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
                            out.reopened.push(super::parse_uuid(&b)?);
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
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, position FROM outbox WHERE peer = $1 AND state = 'dead' \
                     AND updated_at >= $2 AND position > $3 ORDER BY position LIMIT $4",
                )
                .bind(peer)
                .bind(since_ms)
                .bind(after_position)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            super::parse_uuid(&r.try_get::<String, _>("id")?)?,
                            r.try_get::<i64, _>("position")?,
                        ))
                    })
                    .collect()
            }

            async fn message(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<$crate::store::MessageDetail>, $crate::store::StoreError> {
                use sqlx::Row;
                let Some(r) = sqlx::query(
                    "SELECT o.id, o.peer, o.operation, o.dossier, o.state, o.position, o.is_update, \
                     o.attempts, o.created_at, o.updated_at, o.next_attempt_at, o.delivered_at, \
                     o.last_error, o.mapping_version, o.warnings, o.item, o.record_id, o.batch_id, \
                     o.batch_history, r.source, r.kind, r.body AS record_body \
                     FROM outbox o LEFT JOIN records r ON r.id = o.record_id WHERE o.id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let batch_id: Option<String> = r.try_get("batch_id")?;
                let history: Option<String> = r.try_get("batch_history")?;
                let mut ids: Vec<String> = history
                    .as_deref()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                // Messages claimed before the history was kept know only their last batch.
                if let Some(b) = &batch_id {
                    if ids.last() != Some(b) {
                        ids.retain(|x| x != b);
                        ids.push(b.clone());
                    }
                }
                let mut batches = Vec::with_capacity(ids.len());
                for b in ids {
                    let row = sqlx::query(
                        "SELECT state, attempts, items, created_at, closed_at, last_error, answer_sha256 \
                         FROM batches WHERE id = $1",
                    )
                    .bind(&b)
                    .fetch_optional(&self.pool)
                    .await?;
                    batches.push(match row {
                        Some(x) => $crate::store::BatchInfo {
                            id: b,
                            state: Some(x.try_get("state")?),
                            attempts: x.try_get::<i64, _>("attempts")? as u32,
                            items: x.try_get("items")?,
                            created_ms: Some(x.try_get("created_at")?),
                            closed_ms: x.try_get("closed_at")?,
                            last_error: x.try_get("last_error")?,
                            answer_sha256: x.try_get("answer_sha256")?,
                        },
                        None => $crate::store::BatchInfo {
                            id: b,
                            state: None,
                            attempts: 0,
                            items: 0,
                            created_ms: None,
                            closed_ms: None,
                            last_error: None,
                            answer_sha256: None,
                        },
                    });
                }
                let warnings: String = r.try_get("warnings")?;
                let item: String = r.try_get("item")?;
                let record: Option<String> = r.try_get("record_body")?;
                Ok(Some($crate::store::MessageDetail {
                    id: super::parse_uuid(&r.try_get::<String, _>("id")?)?,
                    peer: r.try_get("peer")?,
                    operation: r.try_get("operation")?,
                    dossier: r.try_get("dossier")?,
                    state: r.try_get("state")?,
                    position: r.try_get("position")?,
                    is_update: r.try_get::<i64, _>("is_update")? != 0,
                    attempts: r.try_get::<i64, _>("attempts")? as u32,
                    created_ms: r.try_get("created_at")?,
                    updated_ms: r.try_get("updated_at")?,
                    next_attempt_ms: r.try_get("next_attempt_at")?,
                    delivered_ms: r.try_get("delivered_at")?,
                    last_error: r.try_get("last_error")?,
                    mapping_version: r.try_get("mapping_version")?,
                    warnings: serde_json::from_str(&warnings).unwrap_or_default(),
                    item: super::parse_json(&item)?,
                    record_id: r.try_get("record_id")?,
                    source: r.try_get("source")?,
                    record_kind: r.try_get("kind")?,
                    record: record.as_deref().map(super::parse_json).transpose()?,
                    batch_id,
                    batches,
                }))
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

            async fn prune_delivered(
                &self,
                before_ms: i64,
                limit: i64,
                now_ms: i64,
            ) -> Result<$crate::store::PruneReport, $crate::store::StoreError> {
                use sha2::Digest;
                use sqlx::Row;
                use std::collections::BTreeSet;
                let _turn = self.write_turn().await;

                let mut tx = self.pool.begin_with($begin).await?;
                // Delivered is final: nothing else writes these rows, so no row locks are needed;
                // two instances pruning at once write the same audit row once.
                let rows = sqlx::query(
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
                for r in &rows {
                    let id: String = r.try_get("id")?;
                    let batch_id: Option<String> = r.try_get("batch_id")?;
                    let body: Option<String> = r.try_get("batch_body")?;
                    let history: Option<String> = r.try_get("batch_history")?;
                    sqlx::query(
                        "INSERT INTO outbox_audit (message_id, peer, operation, dossier, created_at, \
                         delivered_at, attempts, final_state, batch_id, request_sha256, response_sha256, \
                         mapping_version, pruned_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (message_id) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(r.try_get::<String, _>("peer")?)
                    .bind(r.try_get::<String, _>("operation")?)
                    .bind(r.try_get::<String, _>("dossier")?)
                    .bind(r.try_get::<i64, _>("created_at")?)
                    .bind(r.try_get::<Option<i64>, _>("delivered_at")?)
                    .bind(r.try_get::<i64, _>("attempts")?)
                    .bind(r.try_get::<String, _>("state")?)
                    .bind(&batch_id)
                    .bind(body.map(|b| hex::encode(sha2::Sha256::digest(b.as_bytes()))))
                    .bind(r.try_get::<Option<String>, _>("answer_sha256")?)
                    .bind(r.try_get::<String, _>("mapping_version")?)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                    report.messages += sqlx::query("DELETE FROM outbox WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    batches.extend(batch_id);
                    batches.extend(
                        history
                            .as_deref()
                            .unwrap_or_default()
                            .split_whitespace()
                            .map(str::to_string),
                    );
                    records.insert(r.try_get::<String, _>("record_id")?);
                }
                // A batch or record still referred to by a message stays (a batch may be reopened
                // by a replay; a record is the source of a remap).
                for b in &batches {
                    report.batches += sqlx::query(
                        "DELETE FROM batches WHERE id = $1 AND state = 'done' \
                         AND NOT EXISTS (SELECT 1 FROM outbox WHERE batch_id = $1)",
                    )
                    .bind(b)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
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
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT message_id, peer, operation, dossier, created_at, delivered_at, attempts, \
                     final_state, batch_id, request_sha256, response_sha256, mapping_version, pruned_at \
                     FROM outbox_audit WHERE message_id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok($crate::store::AuditEntry {
                        message_id: super::parse_uuid(&r.try_get::<String, _>("message_id")?)?,
                        peer: r.try_get("peer")?,
                        operation: r.try_get("operation")?,
                        dossier: r.try_get("dossier")?,
                        created_ms: r.try_get("created_at")?,
                        delivered_ms: r.try_get("delivered_at")?,
                        attempts: r.try_get::<i64, _>("attempts")? as u32,
                        final_state: r.try_get("final_state")?,
                        batch_id: r.try_get("batch_id")?,
                        request_sha256: r.try_get("request_sha256")?,
                        response_sha256: r.try_get("response_sha256")?,
                        mapping_version: r.try_get("mapping_version")?,
                        pruned_ms: r.try_get("pruned_at")?,
                    })
                })
                .transpose()
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
