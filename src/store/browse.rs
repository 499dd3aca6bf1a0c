//! The outbox browser's reads and the bulk jobs' rows: messages matching a filter (state, peer,
//! destination, operation, dossier code, error text, attempts, time of the last change),
//! newest first by keyset on the queue position (unique, and kept by a replay, so no row moves
//! across a page boundary while rows change state), never by offset, so a page costs the same
//! at any depth of a million rows (`outbox_position`, and `outbox_browse_*` of 0013); the same
//! filter in queue order for a bulk job; and the jobs themselves. Only the filter's present parts become SQL
//! conditions, so each query can use the index its filter needs. Must not decide what a job
//! does with a message (`operator.rs` does).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreError;

/// Which messages the browser lists and a bulk job acts on. Empty parts match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dossier: Option<String>,
    /// A part of the last error's text (case is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(deserialize_with = "json_integer")]
    pub min_attempts: Option<i64>,
    /// Last changed at or after this time (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 9999999999999_i64)]
    #[serde(deserialize_with = "json_integer")]
    pub updated_from_ms: Option<i64>,
    /// Last changed at or before this time (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 9999999999999_i64)]
    #[serde(deserialize_with = "json_integer")]
    pub updated_to_ms: Option<i64>,
}

/// An optional integer of a JSON body as JSON Schema counts one: `30` and `30.0` alike; a
/// fraction or a value beyond ±(2^53 - 1) (where a number written with a fraction is no longer
/// exact) is refused.
fn json_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    const EXACT: i64 = (1 << 53) - 1;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT as f64)
                .map(|f| f as i64)
        })
        .filter(|v| v.abs() <= EXACT)
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n}: expected a whole number in range")))
}

impl OutboxFilter {
    /// The same filter with blank texts taken as absent.
    pub fn normalized(mut self) -> Self {
        for f in [
            &mut self.state,
            &mut self.peer,
            &mut self.destination,
            &mut self.operation,
            &mut self.dossier,
            &mut self.error,
        ] {
            if f.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *f = None;
            } else if let Some(s) = f {
                *s = s.trim().to_string();
            }
        }
        self
    }
}

/// One page of the outbox browser: the messages, newest first, and where the next page starts
/// (`before` for it): after the last message of a full page, or where the search stopped when
/// its time ran out; none at the end of the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowsePage {
    pub messages: Vec<BrowsedMessage>,
    pub next: Option<i64>,
}

/// How far one page searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrowseLimits {
    /// How long a page searches before it answers with what it found (the page then takes
    /// about this plus one window's read).
    pub budget: std::time::Duration,
    /// The first window of queue positions a page reads. Each further one is sized from what
    /// the last one cost, for about a fifth of the budget, between this and `last_window`, and
    /// at most four times the last: a window read through a column's index costs what it
    /// matches (a wide window of a peer with few messages costs nothing), one read in queue
    /// order costs its width.
    pub first_window: i64,
    pub last_window: i64,
}

impl Default for BrowseLimits {
    fn default() -> Self {
        BrowseLimits {
            budget: std::time::Duration::from_millis(120),
            first_window: 8_192,
            last_window: 262_144,
        }
    }
}

/// The index a filtered page walks in queue order: the filter's part that narrows it most and
/// has one (migrations 0013 and 0016). A dossier code matches a handful of messages; an error
/// text or "tried more than once" only messages that failed; a state other than `delivered` a
/// backlog; then an operation, a destination, a peer; `delivered` (most of the history) last.
/// Without any of these the queue order itself is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    Column(&'static str),
    /// `outbox_browse_error`: messages with an error.
    Error,
    /// `outbox_browse_retried`: messages tried more than once.
    Retried,
    Queue,
}

impl Driver {
    pub(crate) fn of(f: &OutboxFilter) -> Driver {
        let backlog = f.state.as_deref().is_some_and(|s| s != "delivered");
        if f.dossier.is_some() {
            Driver::Column("dossier")
        } else if f.error.is_some() {
            Driver::Error
        } else if f.min_attempts.is_some_and(|n| n > 1) {
            Driver::Retried
        } else if backlog {
            Driver::Column("state")
        } else if f.operation.is_some() {
            Driver::Column("operation")
        } else if f.destination.is_some() {
            Driver::Column("destination")
        } else if f.peer.is_some() {
            Driver::Column("peer")
        } else if f.state.is_some() {
            Driver::Column("state")
        } else {
            Driver::Queue
        }
    }

    /// The column whose index is walked, if it is one.
    pub(crate) fn column(self) -> Option<&'static str> {
        match self {
            Driver::Column(c) => Some(c),
            _ => None,
        }
    }
}

/// A message as the browser lists it (no item: it holds personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrowsedMessage {
    pub id: Uuid,
    pub peer: String,
    pub destination: String,
    pub operation: String,
    pub dossier: String,
    pub state: String,
    pub attempts: i64,
    pub batch_id: Option<String>,
    pub last_error: Option<String>,
    pub updated_ms: i64,
    pub position: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct BrowsedRow {
    id: String,
    peer: String,
    destination: String,
    operation: String,
    dossier: String,
    state: String,
    attempts: i64,
    batch_id: Option<String>,
    last_error: Option<String>,
    updated_at: i64,
    position: i64,
}

impl BrowsedRow {
    pub(crate) fn into_message(self) -> Result<BrowsedMessage, StoreError> {
        Ok(BrowsedMessage {
            id: super::parse_uuid(&self.id)?,
            peer: self.peer,
            destination: self.destination,
            operation: self.operation,
            dossier: self.dossier,
            state: self.state,
            attempts: self.attempts,
            batch_id: self.batch_id,
            last_error: self.last_error,
            updated_ms: self.updated_at,
            position: self.position,
        })
    }
}

/// A bulk action over every message matching a filter, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboxJob {
    pub id: String,
    /// `replay`, `skip` or `remap`.
    pub action: String,
    /// The [`OutboxFilter`] as JSON.
    pub filter: String,
    /// A skip's reason.
    pub reason: Option<String>,
    pub who: String,
    /// `queued`, `running`, `done` or `failed` (see [`OutboxJob::shown_state`] for `interrupted`).
    pub state: String,
    /// Messages matching the filter when the job began.
    pub total: i64,
    /// Messages looked at so far.
    pub done: i64,
    /// Of these, how many the action changed (replayed, skipped).
    pub changed: i64,
    /// Queue position of the last message looked at.
    pub after_position: Option<i64>,
    pub error: Option<String>,
    pub created_ms: i64,
    pub heartbeat_ms: i64,
    pub finished_ms: Option<i64>,
    /// Messages a remap left alone because the current mapping refuses them (or puts them in
    /// another dossier), and the last such reason (masked).
    pub refused: i64,
    pub last_refusal: Option<String>,
}

/// Where a running job stands after a chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStep {
    pub done: i64,
    pub changed: i64,
    pub refused: i64,
    /// The chunk's last refusal, if it had any.
    pub last_refusal: Option<String>,
    pub after_position: i64,
}

/// A running job whose runner has not written for this long has stopped (a restart, a crash).
pub const JOB_STALE_MS: i64 = 60_000;

impl OutboxJob {
    /// `interrupted` for a job still marked running whose runner stopped writing.
    pub fn shown_state(&self, now_ms: i64) -> &str {
        if self.state == "running" && now_ms - self.heartbeat_ms > JOB_STALE_MS {
            "interrupted"
        } else {
            &self.state
        }
    }
}

#[async_trait::async_trait]
pub trait BrowseStore {
    /// Up to `limit` messages matching `filter`, newest first (by queue position), before
    /// `before` (the previous page's `next`). A page reads the queue in windows of positions
    /// for about [`BrowseLimits::budget`]: a filter that matches little answers a page with fewer
    /// messages and a `next` to search on from, rather than reading a million rows at once.
    async fn browse_messages(
        &self,
        filter: &OutboxFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<BrowsePage, StoreError> {
        self.browse_within(filter, before, limit, BrowseLimits::default())
            .await
    }
    /// [`Self::browse_messages`] with the search's limits given.
    async fn browse_within(
        &self,
        filter: &OutboxFilter,
        before: Option<i64>,
        limit: i64,
        limits: BrowseLimits,
    ) -> Result<BrowsePage, StoreError>;
    /// How many messages match `filter`.
    async fn count_matching(&self, filter: &OutboxFilter) -> Result<i64, StoreError>;
    /// Up to `limit` messages matching `filter` with a queue position after `after_position`,
    /// in queue order: `(id, position)`.
    async fn matching_page(
        &self,
        filter: &OutboxFilter,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<(Uuid, i64)>, StoreError>;
    async fn create_job(&self, job: &OutboxJob) -> Result<(), StoreError>;
    async fn job(&self, id: &str) -> Result<Option<OutboxJob>, StoreError>;
    /// The newest jobs first.
    async fn jobs(&self, limit: i64) -> Result<Vec<OutboxJob>, StoreError>;
    /// A chunk's progress (and the runner's heartbeat).
    async fn job_progress(&self, id: &str, step: &JobStep, now_ms: i64) -> Result<(), StoreError>;
    /// Takes a job over to run it (again): `running`, heartbeat now. False when it is running
    /// under a live runner.
    async fn resume_job(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
    async fn finish_job(
        &self,
        id: &str,
        state: &str,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_browse {
    (store = $Store:ident, db = $Db:ty $(,)?) => {
        /// Appends the filter's present parts as conditions (`WHERE TRUE` already written).
        fn push_filter(q: &mut sqlx::QueryBuilder<'_, $Db>, f: &$crate::store::OutboxFilter) {
            // One index drives the walk in queue order (see `Driver`); on SQLite, whose planner
            // has no statistics to choose by, the other columns are kept from their indexes.
            let driver = $crate::store::browse::Driver::of(f);
            let any = <$Store>::NO_INDEX;
            for (column, value) in [
                ("state", &f.state),
                ("peer", &f.peer),
                ("destination", &f.destination),
                ("operation", &f.operation),
                ("dossier", &f.dossier),
            ] {
                if let Some(v) = value {
                    let prefix = if driver.column() == Some(column) { "" } else { any };
                    q.push(" AND ")
                        .push(prefix)
                        .push(column)
                        .push(" = ")
                        .push_bind(v.clone());
                }
            }
            if let Some(e) = &f.error {
                // Through `outbox_browse_error`: only the messages that have an error.
                q.push(" AND last_error IS NOT NULL");
                let escaped = e
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                q.push(" AND LOWER(last_error) LIKE ")
                    .push_bind(format!("%{escaped}%"))
                    .push(" ESCAPE '\\'");
            }
            if let Some(n) = f.min_attempts {
                if n > 1 {
                    // Through `outbox_browse_retried`: only the messages tried more than once.
                    q.push(" AND attempts > 1");
                }
                q.push(" AND attempts >= ").push_bind(n);
            }
            if let Some(t) = f.updated_from_ms {
                q.push(" AND updated_at >= ").push_bind(t);
            }
            if let Some(t) = f.updated_to_ms {
                q.push(" AND updated_at <= ").push_bind(t);
            }
        }

        macro_rules! job_columns {
            () => {
                "id, action, filter, reason, who, state, total, done, changed, after_position, \
                 error, created_ms, heartbeat_ms, finished_ms, refused, last_refusal"
            };
        }

        #[async_trait::async_trait]
        impl $crate::store::BrowseStore for $Store {
            async fn browse_within(
                &self,
                f: &$crate::store::OutboxFilter,
                before: Option<i64>,
                limit: i64,
                limits: $crate::store::BrowseLimits,
            ) -> Result<$crate::store::BrowsePage, $crate::store::StoreError> {
                let limit = limit.clamp(1, 1000);
                // One aggregate per statement: each is then read off the end of the index
                // (SQLite reads the whole table for the two in one).
                let (low, high): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT (SELECT MIN(position) FROM outbox), (SELECT MAX(position) FROM outbox)",
                )
                .fetch_one(&self.pool)
                .await?;
                let (Some(low), Some(high)) = (low, high) else {
                    return Ok($crate::store::BrowsePage::default());
                };
                let started = std::time::Instant::now();
                let mut top = before.unwrap_or(i64::MAX).min(high.saturating_add(1));
                let mut window = limits.first_window.max(1);
                let mut page = $crate::store::BrowsePage::default();
                // Windows of queue positions, newest first, each read through the filter's
                // index: a filter that matches little never reads the whole queue in one page.
                while top > low {
                    let bottom = top.saturating_sub(window).max(low);
                    let read_at = std::time::Instant::now();
                    let mut q = sqlx::QueryBuilder::<$Db>::new(
                        "SELECT id, peer, destination, operation, dossier, state, attempts, batch_id, \
                         last_error, updated_at, position FROM outbox WHERE TRUE",
                    );
                    push_filter(&mut q, f);
                    q.push(" AND position < ")
                        .push_bind(top)
                        .push(" AND position >= ")
                        .push_bind(bottom)
                        .push(" ORDER BY position DESC LIMIT ")
                        .push_bind(limit - page.messages.len() as i64);
                    let rows: Vec<$crate::store::browse::BrowsedRow> =
                        q.build_query_as().fetch_all(&self.pool).await?;
                    for r in rows {
                        page.messages.push(r.into_message()?);
                    }
                    if page.messages.len() as i64 == limit {
                        page.next = page.messages.last().map(|m| m.position);
                        return Ok(page);
                    }
                    top = bottom;
                    if top > low && started.elapsed() >= limits.budget {
                        // Not full, and the page's time is spent: it goes on from here.
                        page.next = Some(top);
                        return Ok(page);
                    }
                    let took = read_at.elapsed().as_secs_f64().max(1e-6);
                    let fits = (limits.budget.as_secs_f64() / 5.0 / took * window as f64) as i64;
                    window = fits
                        .min(window.saturating_mul(4))
                        .min(limits.last_window)
                        .max(limits.first_window)
                        .max(1);
                }
                Ok(page)
            }

            async fn count_matching(
                &self,
                f: &$crate::store::OutboxFilter,
            ) -> Result<i64, $crate::store::StoreError> {
                let mut q =
                    sqlx::QueryBuilder::<$Db>::new("SELECT COUNT(*) FROM outbox WHERE TRUE");
                push_filter(&mut q, f);
                Ok(q.build_query_scalar().fetch_one(&self.pool).await?)
            }

            async fn matching_page(
                &self,
                f: &$crate::store::OutboxFilter,
                after_position: i64,
                limit: i64,
            ) -> Result<Vec<(uuid::Uuid, i64)>, $crate::store::StoreError> {
                let mut q =
                    sqlx::QueryBuilder::<$Db>::new("SELECT id, position FROM outbox WHERE TRUE");
                push_filter(&mut q, f);
                q.push(" AND position > ")
                    .push_bind(after_position)
                    .push(" ORDER BY position LIMIT ")
                    .push_bind(limit);
                let rows: Vec<$crate::store::rows::PositionRow> =
                    q.build_query_as().fetch_all(&self.pool).await?;
                rows.into_iter().map(|r| r.into_pair()).collect()
            }

            async fn create_job(
                &self,
                j: &$crate::store::OutboxJob,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO outbox_jobs (",
                    job_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ))
                .bind(&j.id)
                .bind(&j.action)
                .bind(&j.filter)
                .bind(&j.reason)
                .bind(&j.who)
                .bind(&j.state)
                .bind(j.total)
                .bind(j.done)
                .bind(j.changed)
                .bind(j.after_position)
                .bind(&j.error)
                .bind(j.created_ms)
                .bind(j.heartbeat_ms)
                .bind(j.finished_ms)
                .bind(j.refused)
                .bind(&j.last_refusal)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn job(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::OutboxJob>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    job_columns!(),
                    " FROM outbox_jobs WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn jobs(
                &self,
                limit: i64,
            ) -> Result<Vec<$crate::store::OutboxJob>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    job_columns!(),
                    " FROM outbox_jobs ORDER BY created_ms DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn job_progress(
                &self,
                id: &str,
                step: &$crate::store::JobStep,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE outbox_jobs SET done = $1, changed = $2, after_position = $3, \
                     heartbeat_ms = $4, refused = $5, last_refusal = COALESCE($6, last_refusal) \
                     WHERE id = $7",
                )
                .bind(step.done)
                .bind(step.changed)
                .bind(step.after_position)
                .bind(now_ms)
                .bind(step.refused)
                .bind(step.last_refusal.as_deref())
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn resume_job(
                &self,
                id: &str,
                now_ms: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                Ok(sqlx::query(
                    "UPDATE outbox_jobs SET state = 'running', heartbeat_ms = $1, \
                     finished_ms = NULL, error = NULL \
                     WHERE id = $2 AND (state <> 'running' OR heartbeat_ms < $3)",
                )
                .bind(now_ms)
                .bind(id)
                .bind(now_ms - $crate::store::browse::JOB_STALE_MS)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    > 0)
            }

            async fn finish_job(
                &self,
                id: &str,
                state: &str,
                error: Option<&str>,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE outbox_jobs SET state = $1, error = $2, finished_ms = $3, \
                     heartbeat_ms = $3 WHERE id = $4",
                )
                .bind(state)
                .bind(error)
                .bind(now_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_browse;
