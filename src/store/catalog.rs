//! The procedure catalog's state: pulls (a staged list and what has been fetched so far, so a
//! pull cut half-way resumes), every version of every procedure, and the fan-out of versions to
//! the subscribers, which queues its messages and marks the versions fanned out in one
//! transaction. Must not decide what changed (that is `catalog/`): publishing writes the plan it
//! is given.
//!
//! Versions carry a global `seq` so changes are fanned out (and listed by `catalog diff`) in the
//! order they were published; one procedure's versions therefore reach each subscriber in
//! version order.

use super::{NewMessage, StoreError};

/// A pull as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CatalogPull {
    pub id: String,
    /// `running`, `held`, `published` or `abandoned`.
    pub state: String,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// Entries in the portal's list, and how many of them are in force.
    pub listed: i64,
    pub in_force: i64,
    /// Procedures fetched (or settled without a fetch) so far.
    pub fetched: i64,
    pub added: i64,
    pub changed: i64,
    pub withdrawn: i64,
    pub returned: i64,
    pub unchanged: i64,
    /// Why it is held, or what stopped it last.
    pub note: Option<String>,
}

/// One entry of the portal's list (`LayDanhSachTTHC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedProcedure {
    pub code: String,
    pub name: String,
    /// `TRANGTHAI` as listed (`"1"` in force).
    pub state: String,
}

/// A staged entry of a running pull.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StagedProcedure {
    pub code: String,
    pub name: String,
    pub listed_state: String,
    /// 1 once fetched or settled without a fetch.
    pub done: i64,
    /// The fetched object's hash; none when not fetched yet, or when there is no object.
    pub hash: Option<String>,
    /// Why there is no object (`LayThuTuc` did not know it, ...).
    pub note: Option<String>,
}

/// What fetching one procedure gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedProcedure {
    pub code: String,
    /// The portal's object as received; none when it had none.
    pub object: Option<String>,
    pub hash: Option<String>,
    pub note: Option<String>,
}

/// A procedure's latest published version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct CurrentProcedure {
    pub code: String,
    pub version: i64,
    pub in_force: i64,
    pub hash: Option<String>,
    pub name: String,
    pub changed_at: i64,
}

/// One new version to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub code: String,
    pub version: i64,
    pub in_force: bool,
    /// For an in-force version: its hash (its object is taken from the pull's staged one).
    /// For a withdrawal: the last in-force hash, kept on the procedure.
    pub hash: Option<String>,
    pub name: String,
    /// `added`, `changed`, `returned`, or why it was withdrawn.
    pub reason: String,
}

/// What a pull publishes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishPlan {
    pub versions: Vec<NewVersion>,
    pub added: i64,
    pub changed: i64,
    pub withdrawn: i64,
    pub returned: i64,
    pub unchanged: i64,
}

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct CatalogVersion {
    pub code: String,
    pub version: i64,
    pub seq: i64,
    pub in_force: i64,
    pub hash: Option<String>,
    /// The portal's object (in-force versions; empty in lists that do not ask for it).
    pub object: Option<String>,
    pub reason: String,
    pub changed_at: i64,
    pub pull_id: String,
    pub fanned_out: i64,
    /// The object of the latest in-force version before this one, where asked for (fan-out:
    /// who had the procedure; diff: what changed).
    pub previous_object: Option<String>,
}

/// Counts for the operations view.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CatalogCounts {
    pub in_force: i64,
    pub withdrawn: i64,
    /// Versions not fanned out yet.
    pub unfanned: i64,
    /// The highest `seq` published (0: none).
    pub last_seq: i64,
}

/// Makes the messages of a fan-out from the versions being fanned out.
pub type FanOutFn<'a> = &'a (dyn Fn(&[CatalogVersion]) -> Vec<NewMessage> + Send + Sync);

/// The catalog's storage.
#[async_trait::async_trait]
pub trait CatalogStore: Send + Sync {
    /// The pull that is running or held, if any (at most one is).
    async fn catalog_open_pull(&self) -> Result<Option<CatalogPull>, StoreError>;
    /// Starts a pull with the portal's list staged, `running` or `held` (with `note`).
    async fn catalog_start_pull(
        &self,
        id: &str,
        list: &[ListedProcedure],
        held: Option<&str>,
        now_ms: i64,
    ) -> Result<CatalogPull, StoreError>;
    /// A pull's staged entries, by code.
    async fn catalog_staged(&self, pull_id: &str) -> Result<Vec<StagedProcedure>, StoreError>;
    /// Records fetched procedures of a running pull, in one transaction.
    async fn catalog_record_fetched(
        &self,
        pull_id: &str,
        fetched: &[FetchedProcedure],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Sets a running or held pull's state (`running`, `held`, `abandoned`) and note; an
    /// abandoned pull's staged entries are deleted.
    async fn catalog_set_pull(
        &self,
        pull_id: &str,
        state: &str,
        note: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Every procedure's latest version.
    async fn catalog_current(&self) -> Result<Vec<CurrentProcedure>, StoreError>;
    /// Publishes a running pull: its new versions (objects from its staged entries), the
    /// procedures' latest versions, its counts; deletes its staged entries. One transaction;
    /// false (nothing written) when the pull is not running any more.
    async fn catalog_publish(
        &self,
        pull_id: &str,
        plan: &PublishPlan,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Fans out up to `limit` versions not fanned out yet, oldest first: queues what `make`
    /// makes of them and marks them, in one transaction. Returns how many versions.
    async fn catalog_fan_out(&self, limit: i64, make: FanOutFn<'_>) -> Result<usize, StoreError>;
    /// Queues what `make` makes of every procedure's latest in-force version (objects
    /// included) and notes `subscribers` as sent the whole catalog, in one transaction.
    /// Returns how many messages were queued.
    async fn catalog_send_whole(
        &self,
        subscribers: &[String],
        make: FanOutFn<'_>,
        now_ms: i64,
    ) -> Result<usize, StoreError>;
    /// Subscribers that have been sent the whole catalog once.
    async fn catalog_seeded_subscribers(&self) -> Result<Vec<String>, StoreError>;
    /// A procedure's versions, newest first, without objects.
    async fn catalog_history(&self, code: &str) -> Result<Vec<CatalogVersion>, StoreError>;
    /// One version with its object and the previous in-force object (`None`: the latest).
    async fn catalog_version(
        &self,
        code: &str,
        version: Option<i64>,
    ) -> Result<Option<CatalogVersion>, StoreError>;
    /// The portal's object of one version as stored (a version's object never changes), `None`
    /// when there is no such version or it has no object (a withdrawal).
    async fn catalog_object(&self, code: &str, version: i64) -> Result<Option<String>, StoreError>;
    /// Versions published at or after `since_ms`, in publication order, with their objects and
    /// previous objects, at most `limit`.
    async fn catalog_changes(
        &self,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<CatalogVersion>, StoreError>;
    /// The latest pulls, newest first.
    async fn catalog_pulls(&self, limit: i64) -> Result<Vec<CatalogPull>, StoreError>;
    /// Counts for the operations view.
    async fn catalog_counts(&self) -> Result<CatalogCounts, StoreError>;
}

/// The columns of a version, with the previous in-force object when `previous` (table alias
/// `v`).
pub(crate) fn version_columns(object: bool, previous: bool) -> String {
    format!(
        "v.code, v.version, v.seq, v.in_force, v.hash, {}, v.reason, v.changed_at, v.pull_id, \
         v.fanned_out, {}",
        if object { "v.object" } else { "NULL AS object" },
        if previous {
            "(SELECT p.object FROM catalog_versions p WHERE p.code = v.code AND p.version < v.version \
             AND p.in_force = 1 ORDER BY p.version DESC LIMIT 1) AS previous_object"
        } else {
            "NULL AS previous_object"
        }
    )
}

macro_rules! impl_catalog {
    (
        store = $Store:ident,
        begin_write = $begin:literal,
        lock_rows = $lock:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::CatalogStore for $Store {
            async fn catalog_open_pull(
                &self,
            ) -> Result<Option<$crate::store::CatalogPull>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM catalog_pulls WHERE state IN ('running', 'held') \
                     ORDER BY started_at DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn catalog_start_pull(
                &self,
                id: &str,
                list: &[$crate::store::ListedProcedure],
                held: Option<&str>,
                now_ms: i64,
            ) -> Result<$crate::store::CatalogPull, $crate::store::StoreError> {
                use $crate::store::ingest::placeholders;
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let in_force = list.iter().filter(|p| p.state == "1").count() as i64;
                sqlx::query(
                    "INSERT INTO catalog_pulls (id, state, started_at, updated_at, listed, in_force, note) \
                     VALUES ($1, $2, $3, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(if held.is_some() { "held" } else { "running" })
                .bind(now_ms)
                .bind(list.len() as i64)
                .bind(in_force)
                .bind(held)
                .execute(&mut *tx)
                .await?;
                // A code listed twice is staged once (the first entry).
                let mut seen = std::collections::HashSet::new();
                let unique: Vec<&$crate::store::ListedProcedure> =
                    list.iter().filter(|p| seen.insert(p.code.as_str())).collect();
                for part in unique.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "INSERT INTO catalog_pull_items (pull_id, code, name, listed_state) VALUES {}",
                        placeholders(part.len(), 4, 1)
                    );
                    let mut q = sqlx::query(&sql);
                    for p in part {
                        q = q.bind(id).bind(&p.code).bind(&p.name).bind(&p.state);
                    }
                    q.execute(&mut *tx).await?;
                }
                let pull: $crate::store::CatalogPull =
                    sqlx::query_as("SELECT * FROM catalog_pulls WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(pull)
            }

            async fn catalog_staged(
                &self,
                pull_id: &str,
            ) -> Result<Vec<$crate::store::StagedProcedure>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT code, name, listed_state, done, hash, note FROM catalog_pull_items \
                     WHERE pull_id = $1 ORDER BY code",
                )
                .bind(pull_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn catalog_record_fetched(
                &self,
                pull_id: &str,
                fetched: &[$crate::store::FetchedProcedure],
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                if fetched.is_empty() {
                    return Ok(());
                }
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let mut n = 0i64;
                for f in fetched {
                    n += sqlx::query(
                        "UPDATE catalog_pull_items SET done = 1, object = $1, hash = $2, note = $3 \
                         WHERE pull_id = $4 AND code = $5 AND done = 0",
                    )
                    .bind(&f.object)
                    .bind(&f.hash)
                    .bind(&f.note)
                    .bind(pull_id)
                    .bind(&f.code)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                }
                sqlx::query(
                    "UPDATE catalog_pulls SET fetched = fetched + $1, updated_at = $2 WHERE id = $3",
                )
                .bind(n)
                .bind(now_ms)
                .bind(pull_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn catalog_set_pull(
                &self,
                pull_id: &str,
                state: &str,
                note: Option<&str>,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let finished = (state == "abandoned").then_some(now_ms);
                let n = sqlx::query(
                    "UPDATE catalog_pulls SET state = $1, note = $2, updated_at = $3, finished_at = $4 \
                     WHERE id = $5 AND state IN ('running', 'held')",
                )
                .bind(state)
                .bind(note)
                .bind(now_ms)
                .bind(finished)
                .bind(pull_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n > 0 && state == "abandoned" {
                    sqlx::query("DELETE FROM catalog_pull_items WHERE pull_id = $1")
                        .bind(pull_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn catalog_current(
                &self,
            ) -> Result<Vec<$crate::store::CurrentProcedure>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT code, version, in_force, hash, name, changed_at FROM catalog_procedures ORDER BY code",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn catalog_publish(
                &self,
                pull_id: &str,
                plan: &$crate::store::PublishPlan,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let running: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT id FROM catalog_pulls WHERE id = $1 AND state = 'running'{}",
                    $lock
                ))
                .bind(pull_id)
                .fetch_optional(&mut *tx)
                .await?;
                if running.is_none() {
                    return Ok(false);
                }
                let mut seq: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM catalog_versions")
                        .fetch_one(&mut *tx)
                        .await?;
                for v in &plan.versions {
                    seq += 1;
                    if v.in_force {
                        sqlx::query(
                            "INSERT INTO catalog_versions (code, version, seq, in_force, hash, object, \
                             reason, changed_at, pull_id) \
                             SELECT $1, $2, $3, 1, $4, object, $5, $6, $7 FROM catalog_pull_items \
                             WHERE pull_id = $7 AND code = $1 AND object IS NOT NULL",
                        )
                    } else {
                        sqlx::query(
                            "INSERT INTO catalog_versions (code, version, seq, in_force, hash, object, \
                             reason, changed_at, pull_id) VALUES ($1, $2, $3, 0, $4, NULL, $5, $6, $7)",
                        )
                    }
                    .bind(&v.code)
                    .bind(v.version)
                    .bind(seq)
                    .bind(&v.hash)
                    .bind(&v.reason)
                    .bind(now_ms)
                    .bind(pull_id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO catalog_procedures (code, version, in_force, hash, name, changed_at, seen_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (code) DO UPDATE SET \
                         version = excluded.version, in_force = excluded.in_force, hash = excluded.hash, \
                         name = excluded.name, changed_at = excluded.changed_at",
                    )
                    .bind(&v.code)
                    .bind(v.version)
                    .bind(v.in_force as i64)
                    .bind(&v.hash)
                    .bind(&v.name)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE catalog_procedures SET seen_at = $1 WHERE code IN \
                     (SELECT code FROM catalog_pull_items WHERE pull_id = $2)",
                )
                .bind(now_ms)
                .bind(pull_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE catalog_pulls SET state = 'published', finished_at = $1, updated_at = $1, \
                     added = $2, changed = $3, withdrawn = $4, returned = $5, unchanged = $6, note = NULL \
                     WHERE id = $7",
                )
                .bind(now_ms)
                .bind(plan.added)
                .bind(plan.changed)
                .bind(plan.withdrawn)
                .bind(plan.returned)
                .bind(plan.unchanged)
                .bind(pull_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM catalog_pull_items WHERE pull_id = $1")
                    .bind(pull_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn catalog_fan_out(
                &self,
                limit: i64,
                make: $crate::store::FanOutFn<'_>,
            ) -> Result<usize, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                // Versions another instance is fanning out now are left to it.
                let sql = format!(
                    "SELECT {} FROM catalog_versions v WHERE v.fanned_out = 0 ORDER BY v.seq LIMIT $1{}",
                    $crate::store::catalog::version_columns(true, true),
                    $lock
                );
                let versions: Vec<$crate::store::CatalogVersion> = sqlx::query_as(&sql)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                if versions.is_empty() {
                    return Ok(0);
                }
                let messages = make(&versions);
                let mut peers = Vec::new();
                enqueue_in(&mut tx, &messages, None, "", $crate::store::now_ms(), &mut peers).await?;
                for part in versions.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let list: Vec<String> = (1..=part.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "UPDATE catalog_versions SET fanned_out = 1 WHERE seq IN ({})",
                        list.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for v in part {
                        q = q.bind(v.seq);
                    }
                    q.execute(&mut *tx).await?;
                }
                commit_signalled(tx, &peers).await?;
                Ok(versions.len())
            }

            async fn catalog_send_whole(
                &self,
                subscribers: &[String],
                make: $crate::store::FanOutFn<'_>,
                now_ms: i64,
            ) -> Result<usize, $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let sql = format!(
                    "SELECT {} FROM catalog_procedures c JOIN catalog_versions v \
                     ON v.code = c.code AND v.version = c.version WHERE c.in_force = 1 ORDER BY v.seq",
                    $crate::store::catalog::version_columns(true, false)
                );
                let versions: Vec<$crate::store::CatalogVersion> =
                    sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
                let messages = make(&versions);
                let mut peers = Vec::new();
                enqueue_in(&mut tx, &messages, None, "", now_ms, &mut peers).await?;
                for s in subscribers {
                    sqlx::query(
                        "INSERT INTO catalog_subscribers (name, seeded_at) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET seeded_at = excluded.seeded_at",
                    )
                    .bind(s)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                commit_signalled(tx, &peers).await?;
                Ok(messages.len())
            }

            async fn catalog_seeded_subscribers(
                &self,
            ) -> Result<Vec<String>, $crate::store::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT name FROM catalog_subscribers ORDER BY name")
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn catalog_history(
                &self,
                code: &str,
            ) -> Result<Vec<$crate::store::CatalogVersion>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {} FROM catalog_versions v WHERE v.code = $1 ORDER BY v.version DESC",
                    $crate::store::catalog::version_columns(false, false)
                );
                Ok(sqlx::query_as(&sql).bind(code).fetch_all(&self.pool).await?)
            }

            async fn catalog_version(
                &self,
                code: &str,
                version: Option<i64>,
            ) -> Result<Option<$crate::store::CatalogVersion>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {} FROM catalog_versions v WHERE v.code = $1 AND ($2 < 0 OR v.version = $2) \
                     ORDER BY v.version DESC LIMIT 1",
                    $crate::store::catalog::version_columns(true, true)
                );
                Ok(sqlx::query_as(&sql)
                    .bind(code)
                    .bind(version.unwrap_or(-1))
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn catalog_object(
                &self,
                code: &str,
                version: i64,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar::<_, Option<String>>(
                    "SELECT object FROM catalog_versions WHERE code = $1 AND version = $2",
                )
                .bind(code)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?
                .flatten())
            }

            async fn catalog_changes(
                &self,
                since_ms: i64,
                limit: i64,
            ) -> Result<Vec<$crate::store::CatalogVersion>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {} FROM catalog_versions v WHERE v.changed_at >= $1 ORDER BY v.seq LIMIT $2",
                    $crate::store::catalog::version_columns(true, true)
                );
                Ok(sqlx::query_as(&sql)
                    .bind(since_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn catalog_pulls(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::CatalogPull>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT * FROM catalog_pulls ORDER BY started_at DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn catalog_counts(
                &self,
            ) -> Result<$crate::store::CatalogCounts, $crate::store::StoreError> {
                let (in_force, withdrawn): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(CASE WHEN in_force = 1 THEN 1 END), \
                     COUNT(CASE WHEN in_force = 0 THEN 1 END) FROM catalog_procedures",
                )
                .fetch_one(&self.pool)
                .await?;
                let unfanned: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM catalog_versions WHERE fanned_out = 0")
                        .fetch_one(&self.pool)
                        .await?;
                let last_seq: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM catalog_versions")
                        .fetch_one(&self.pool)
                        .await?;
                Ok($crate::store::CatalogCounts {
                    in_force,
                    withdrawn,
                    unfanned,
                    last_seq,
                })
            }
        }
    };
}

pub(crate) use impl_catalog;
