//! Reconciliation runs: which dossiers a run checks (in `(registered_on, dossier)` order, from
//! its cursor), what was queued for each, and each page's findings, repairs and cursor in one
//! transaction, so that a run killed half-way resumes where its last page ended and queues no
//! repair twice. What is drift and how to repair it is the caller's (`reconcile`).

use serde::Serialize;

use super::{DossierFacts, NewMessage, StoreError};

/// One run, with its counts so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ReconcileRun {
    pub id: String,
    /// Registration days checked, `yyyymmdd`, inclusive.
    pub from_day: i64,
    pub to_day: i64,
    /// The agency checked; empty for all.
    pub agency: String,
    pub repair: bool,
    /// `running`, `done`, `failed`.
    pub state: String,
    pub cursor_day: Option<i64>,
    pub cursor_dossier: Option<String>,
    /// Dossiers in the range when the run began.
    pub total: i64,
    pub checked: i64,
    pub in_sync: i64,
    pub missing: i64,
    pub stale: i64,
    pub missing_steps: i64,
    /// Dossiers the portal holds that no local system sent through this gateway.
    pub unknown: i64,
    /// Dossiers with messages not delivered yet (pending, waiting, held or dead): not drift.
    pub undelivered: i64,
    pub repaired: i64,
    pub errors: i64,
    pub last_error: Option<String>,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// What one page adds to its run's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileCounts {
    pub checked: i64,
    pub in_sync: i64,
    pub missing: i64,
    pub stale: i64,
    pub missing_steps: i64,
    pub unknown: i64,
    pub undelivered: i64,
    pub repaired: i64,
    pub errors: i64,
}

/// One difference found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ReconcileFinding {
    pub run_id: String,
    pub dossier: String,
    /// `missing`, `stale_status`, `missing_step`, `unknown_at_source`, `unrepairable`, `error`.
    pub kind: String,
    pub detail: String,
    pub repaired: bool,
    pub at: i64,
}

/// One page of a run, recorded in one transaction ([`ReconcileStore::reconcile_page`]).
#[derive(Debug, Clone)]
pub struct ReconcilePage<'a> {
    pub run_id: &'a str,
    pub findings: Vec<ReconcileFinding>,
    /// Messages to queue again, under their dossiers' keys.
    pub repairs: Vec<NewMessage>,
    /// Per repaired dossier, the newest queue position the page read: a dossier that has a newer
    /// message by now, or one not delivered yet, is not repaired (its finding says so).
    pub seen: Vec<(String, i64)>,
    /// The cursor the page was read after, and the one it moves to.
    pub from: Option<(i64, &'a str)>,
    pub cursor: (i64, &'a str),
    pub counts: ReconcileCounts,
    pub now_ms: i64,
}

/// Why a repair was left out at the last moment.
pub const REPAIR_OVERTAKEN: &str =
    " (not queued again: the dossier got a newer message meanwhile, which goes instead)";

/// A message queued for a dossier, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DossierMessage {
    pub dossier: String,
    pub destination: String,
    pub position: i64,
    pub operation: String,
    pub state: String,
    pub item: String,
}

/// Reconciliation's records.
#[async_trait::async_trait]
pub trait ReconcileStore: Send + Sync {
    /// Dossiers registered in `[from_day, to_day]` (of `agency`), after `after`, in order.
    async fn reconcile_dossiers(
        &self,
        from_day: i64,
        to_day: i64,
        agency: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<DossierFacts>, StoreError>;
    /// How many dossiers that range holds.
    async fn reconcile_total(
        &self,
        from_day: i64,
        to_day: i64,
        agency: Option<&str>,
    ) -> Result<i64, StoreError>;
    /// Every stored message of `peer` for these dossiers, per dossier in queue order.
    async fn dossier_messages(
        &self,
        peer: &str,
        dossiers: &[String],
    ) -> Result<Vec<DossierMessage>, StoreError>;
    /// Records a new run.
    async fn reconcile_begin(&self, run: &ReconcileRun) -> Result<(), StoreError>;
    /// The newest unfinished run over the same range, agency and repair setting.
    async fn reconcile_unfinished(
        &self,
        from_day: i64,
        to_day: i64,
        agency: &str,
        repair: bool,
    ) -> Result<Option<ReconcileRun>, StoreError>;
    /// One page: its repairs queued (less those of dossiers that got a newer message since the
    /// page read them), its findings kept, the run's counts and cursor moved from `from` to
    /// `cursor`, all in one transaction. When the run is no longer running or its cursor is no
    /// longer `from` (another runner recorded this page first), nothing is written and the
    /// answer is [`StoreError::Conflict`].
    async fn reconcile_page(&self, page: ReconcilePage<'_>) -> Result<(), StoreError>;
    /// Ends a run (`done` or `failed`, with the error).
    async fn reconcile_end(
        &self,
        run_id: &str,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// The newest runs first.
    async fn reconcile_runs(&self, limit: i64) -> Result<Vec<ReconcileRun>, StoreError>;
    async fn reconcile_run(&self, id: &str) -> Result<Option<ReconcileRun>, StoreError>;
    /// A run's findings, by dossier.
    async fn reconcile_findings(
        &self,
        run_id: &str,
        limit: i64,
    ) -> Result<Vec<ReconcileFinding>, StoreError>;
}

macro_rules! run_columns {
    () => {
        "id, from_day, to_day, agency, repair, state, cursor_day, cursor_dossier, total, \
         checked, in_sync, missing, stale, missing_steps, unknown, undelivered, repaired, errors, \
         last_error, started_at, updated_at, finished_at"
    };
}
pub(crate) use run_columns;

macro_rules! impl_reconcile {
    (
        store = $Store:ident,
        begin_write = $begin:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::ReconcileStore for $Store {
            async fn reconcile_dossiers(
                &self,
                from_day: i64,
                to_day: i64,
                agency: Option<&str>,
                after: Option<(i64, &str)>,
                limit: i64,
            ) -> Result<Vec<$crate::store::DossierFacts>, $crate::store::StoreError> {
                // A row-value comparison, so that both databases start the index range at the
                // cursor (an OR of the two parts made every page scan from the range's start).
                let (day, dossier) = after.unwrap_or((i64::MIN, ""));
                let sql = format!(
                    "SELECT {} FROM dossier_facts WHERE registered_on >= $1 \
                     AND registered_on <= $2 AND ($3 IS NULL OR agency = $3) \
                     AND (registered_on, dossier) > ($4, $5) \
                     ORDER BY registered_on, dossier LIMIT $6",
                    $crate::store::facts::facts_columns!()
                );
                Ok(sqlx::query_as(&sql)
                    .bind(from_day)
                    .bind(to_day)
                    .bind(agency)
                    .bind(day)
                    .bind(dossier)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn reconcile_total(
                &self,
                from_day: i64,
                to_day: i64,
                agency: Option<&str>,
            ) -> Result<i64, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM dossier_facts WHERE registered_on >= $1 \
                     AND registered_on <= $2 AND ($3 IS NULL OR agency = $3)",
                )
                .bind(from_day)
                .bind(to_day)
                .bind(agency)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn dossier_messages(
                &self,
                peer: &str,
                dossiers: &[String],
            ) -> Result<Vec<$crate::store::DossierMessage>, $crate::store::StoreError> {
                use $crate::store::ingest::placeholders;
                let mut out = Vec::new();
                for part in dossiers.chunks(<$Store>::ROWS_PER_STATEMENT) {
                    let list = placeholders(1, part.len(), 2);
                    let sql = format!(
                        "SELECT dossier, destination, position, operation, state, item \
                         FROM outbox WHERE peer = $1 AND dossier IN {list} \
                         ORDER BY dossier, position"
                    );
                    let mut q = sqlx::query_as(&sql).bind(peer);
                    for d in part {
                        q = q.bind(d);
                    }
                    out.extend(q.fetch_all(&self.pool).await?);
                }
                Ok(out)
            }

            async fn reconcile_begin(
                &self,
                r: &$crate::store::ReconcileRun,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO reconcile_runs ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                     $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
                    $crate::store::reconcile::run_columns!()
                ))
                .bind(&r.id)
                .bind(r.from_day)
                .bind(r.to_day)
                .bind(&r.agency)
                .bind(r.repair)
                .bind(&r.state)
                .bind(r.cursor_day)
                .bind(&r.cursor_dossier)
                .bind(r.total)
                .bind(r.checked)
                .bind(r.in_sync)
                .bind(r.missing)
                .bind(r.stale)
                .bind(r.missing_steps)
                .bind(r.unknown)
                .bind(r.undelivered)
                .bind(r.repaired)
                .bind(r.errors)
                .bind(&r.last_error)
                .bind(r.started_at)
                .bind(r.updated_at)
                .bind(r.finished_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn reconcile_unfinished(
                &self,
                from_day: i64,
                to_day: i64,
                agency: &str,
                repair: bool,
            ) -> Result<Option<$crate::store::ReconcileRun>, $crate::store::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM reconcile_runs WHERE state = 'running' AND from_day = $1 \
                     AND to_day = $2 AND agency = $3 AND repair = $4 \
                     ORDER BY started_at DESC LIMIT 1",
                    $crate::store::reconcile::run_columns!()
                ))
                .bind(from_day)
                .bind(to_day)
                .bind(agency)
                .bind(repair)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn reconcile_page(
                &self,
                page: $crate::store::ReconcilePage<'_>,
            ) -> Result<(), $crate::store::StoreError> {
                let $crate::store::ReconcilePage {
                    run_id,
                    mut findings,
                    mut repairs,
                    seen,
                    from,
                    cursor,
                    counts: mut c,
                    now_ms,
                } = page;
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                // The repaired keys locked as any enqueue locks them, then each dossier checked
                // for a message newer than the page saw or not delivered yet: its repair would
                // overtake it (an older status put back at the portal), so it is left out.
                let keys: std::collections::BTreeSet<String> = repairs
                    .iter()
                    .map(|m| $crate::store::ingest::lock_key(&m.peer, &m.destination, &m.key))
                    .collect();
                lock_keys(&mut *tx, &keys).await?;
                let mut overtaken = std::collections::HashSet::new();
                for (dossier, position) in &seen {
                    let Some(peer) = repairs.iter().find(|m| &m.key == dossier).map(|m| m.peer.clone())
                    else {
                        continue;
                    };
                    let newer: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM outbox WHERE peer = $1 AND dossier = $2 \
                         AND (position > $3 OR state IN ('pending', 'inflight', 'waiting', 'held'))",
                    )
                    .bind(&peer)
                    .bind(dossier)
                    .bind(*position)
                    .fetch_one(&mut *tx)
                    .await?;
                    if newer > 0 {
                        overtaken.insert(dossier.clone());
                    }
                }
                if !overtaken.is_empty() {
                    repairs.retain(|m| !overtaken.contains(&m.key));
                    for f in findings.iter_mut().filter(|f| f.repaired && overtaken.contains(&f.dossier)) {
                        f.repaired = false;
                        f.detail.push_str($crate::store::reconcile::REPAIR_OVERTAKEN);
                    }
                    c.repaired -= overtaken.len() as i64;
                }
                let mut peers = Vec::new();
                enqueue_in(&mut tx, &repairs, None, "reconcile", now_ms, &mut peers).await?;
                for f in &findings {
                    sqlx::query(
                        "INSERT INTO reconcile_findings (run_id, dossier, kind, detail, \
                         repaired, at) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (run_id, dossier, kind) DO NOTHING",
                    )
                    .bind(&f.run_id)
                    .bind(&f.dossier)
                    .bind(&f.kind)
                    .bind(&f.detail)
                    .bind(f.repaired)
                    .bind(f.at)
                    .execute(&mut *tx)
                    .await?;
                }
                let moved = sqlx::query(
                    "UPDATE reconcile_runs SET cursor_day = $2, cursor_dossier = $3, \
                     checked = checked + $4, in_sync = in_sync + $5, missing = missing + $6, \
                     stale = stale + $7, missing_steps = missing_steps + $8, \
                     unknown = unknown + $9, undelivered = undelivered + $10, \
                     repaired = repaired + $11, errors = errors + $12, updated_at = $13 \
                     WHERE id = $1 AND state = 'running' AND COALESCE(cursor_day, -1) = $14 \
                     AND COALESCE(cursor_dossier, '') = $15",
                )
                .bind(run_id)
                .bind(cursor.0)
                .bind(cursor.1)
                .bind(c.checked)
                .bind(c.in_sync)
                .bind(c.missing)
                .bind(c.stale)
                .bind(c.missing_steps)
                .bind(c.unknown)
                .bind(c.undelivered)
                .bind(c.repaired)
                .bind(c.errors)
                .bind(now_ms)
                .bind(from.map_or(-1, |f| f.0))
                .bind(from.map_or("", |f| f.1))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Err($crate::store::StoreError::Conflict(format!(
                        "reconcile run {run_id} is not running or another runner recorded this page"
                    )));
                }
                commit_signalled(tx, &peers).await
            }

            async fn reconcile_end(
                &self,
                run_id: &str,
                state: &str,
                error: Option<&str>,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                let _turn = self.write_turn().await;
                sqlx::query(
                    "UPDATE reconcile_runs SET state = $2, last_error = COALESCE($3, last_error), \
                     updated_at = $4, finished_at = $4 WHERE id = $1",
                )
                .bind(run_id)
                .bind(state)
                .bind(error)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn reconcile_runs(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::ReconcileRun>, $crate::store::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM reconcile_runs ORDER BY started_at DESC, id DESC LIMIT $1",
                    $crate::store::reconcile::run_columns!()
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn reconcile_run(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::ReconcileRun>, $crate::store::StoreError> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {} FROM reconcile_runs WHERE id = $1",
                    $crate::store::reconcile::run_columns!()
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn reconcile_findings(
                &self,
                run_id: &str,
                limit: i64,
            ) -> Result<Vec<$crate::store::ReconcileFinding>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT run_id, dossier, kind, detail, repaired, at FROM reconcile_findings \
                     WHERE run_id = $1 ORDER BY dossier, kind LIMIT $2",
                )
                .bind(run_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use impl_reconcile;
