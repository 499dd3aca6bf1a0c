//! What the ways in that read (SQL polling, file drop) keep of where they are, and the operator's
//! side of the quarantine.
//!
//! A polled stream's watermark and the content hashes of the rows it stored, and a dropped file's
//! ledger entry, are [`SourcePosition`]s: ingest writes them in the transaction that stores the
//! records they cover (`IngestWrite::positions`), so a crash never moves a watermark past rows
//! not stored, nor stores a file's records without its ledger entry. A retried quarantined record
//! goes through ingest too (`IngestWrite::retried`): accepted, its quarantine row is removed in
//! that transaction; refused again, its row takes the new reason.

use serde::Serialize;

use super::StoreError;

/// Where a way in has read to, written with what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePosition {
    /// A polled stream's new watermark and the rows it stored.
    Stream(StreamPosition),
    /// A file taken from a drop folder.
    File(TakenFile),
}

/// A polled stream (`dossiers`, `steps`, `dossiers.children.LePhi`, ...) after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPosition {
    pub stream: String,
    /// The watermark's move, if it moves.
    pub watermark: Option<WatermarkMove>,
    /// Each row stored: its key and content hash.
    pub seen: Vec<SeenRow>,
}

/// A polled stream's watermark moving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkMove {
    /// The watermark the page was read from (`None`: the stream had none). The write is refused
    /// ([`StoreError::Conflict`]) when the stored one is no longer this: another poller stored
    /// the page first.
    pub from: Option<String>,
    /// The new watermark (the poller's own encoding).
    pub to: String,
}

/// A row a polled stream stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRow {
    pub key: String,
    pub hash: String,
}

/// Content hashes of polled rows not re-read for this long are forgotten by housekeeping.
pub const SEEN_FORGET: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
/// A poller refreshes the time of a row it re-reads unchanged once its hash is this old, so a
/// row still inside its re-read window never reaches [`SEEN_FORGET`].
pub const SEEN_REFRESH: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// A row's stored content hash, and when it was last stored or found unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenHash {
    pub key: String,
    pub hash: String,
    pub seen_at: i64,
}

/// A file taken from a drop folder, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TakenFile {
    pub source: String,
    pub name: String,
    pub size: i64,
    pub modified_ms: i64,
    pub sha256: String,
    /// `done` (read; its records stored or quarantined) or `rejected` (unreadable).
    pub outcome: String,
    pub records: i64,
    pub rejected: i64,
    pub error: Option<String>,
    pub taken_at: i64,
}

/// A polled stream's watermark as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StreamCursor {
    pub source: String,
    pub stream: String,
    pub watermark: String,
    pub updated_at: i64,
}

/// A quarantined record for the operator. Holds personal data (`body`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct QuarantineItem {
    pub id: String,
    pub source: String,
    /// `dossier`, `step`, `survey`.
    pub kind: String,
    pub dossier: Option<String>,
    /// The record as received (JSON).
    pub body: String,
    pub error: String,
    /// Where it came from when not an HTTP request: `file <name>`, `sql <stream>`.
    pub origin: Option<String>,
    pub retries: i64,
    pub retried_at: Option<i64>,
    pub created_at: i64,
}

/// A polled or watched source's health as its reader last wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SourceStatus {
    pub source: String,
    /// `sql` or `files`.
    pub way: String,
    /// `ok`, `down` (unreachable; retried with back-off) or `failing` (reachable, but reading
    /// fails: a query or folder problem).
    pub state: String,
    /// Failed attempts in a row.
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_ok_at: Option<i64>,
    pub next_try_at: Option<i64>,
    /// How far behind the local system the source is (its oldest change not yet read), when
    /// known.
    pub lag_ms: Option<i64>,
    /// Rows or files read since the reader started.
    pub rows_read: i64,
    pub updated_at: i64,
}

/// Quarantined records of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct QuarantineCount {
    pub source: String,
    pub records: i64,
}

#[async_trait::async_trait]
pub trait SourceStore {
    /// A polled stream's watermark.
    async fn stream_watermark(
        &self,
        source: &str,
        stream: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Every polled stream's watermark.
    async fn stream_cursors(&self) -> Result<Vec<StreamCursor>, StoreError>;
    /// The stored content hashes of `keys` in a polled stream.
    async fn seen_hashes(
        &self,
        source: &str,
        stream: &str,
        keys: &[String],
    ) -> Result<Vec<SeenHash>, StoreError>;
    /// Forgets content hashes last seen before `before_ms`. A poller refreshes the time of the
    /// rows it re-reads unchanged (with the page it stores), so only rows no longer re-read grow
    /// that old.
    async fn prune_seen(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// The ledger entry of a file with this name, size, time and content, if taken.
    async fn taken_file(
        &self,
        source: &str,
        name: &str,
        size: i64,
        modified_ms: i64,
        sha256: &str,
    ) -> Result<Option<TakenFile>, StoreError>;
    /// The files taken last, newest first (of one source, or all).
    async fn taken_files(
        &self,
        source: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TakenFile>, StoreError>;
    /// Quarantined records, oldest first, after `after` (`(created_at, id)` of the last one
    /// listed), of one source or all.
    async fn quarantine_page(
        &self,
        source: Option<&str>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<QuarantineItem>, StoreError>;
    async fn quarantine_item(&self, id: &str) -> Result<Option<QuarantineItem>, StoreError>;
    /// Removes a quarantined record; false when there was none.
    async fn quarantine_drop(&self, id: &str) -> Result<bool, StoreError>;
    /// Quarantined records per source.
    async fn quarantine_counts(&self) -> Result<Vec<QuarantineCount>, StoreError>;
    /// Records a source's health.
    async fn set_source_status(&self, status: &SourceStatus) -> Result<(), StoreError>;
    async fn source_statuses(&self) -> Result<Vec<SourceStatus>, StoreError>;
}

macro_rules! quarantine_columns {
    () => {
        "id, source, kind, dossier, body, error, origin, retries, retried_at, created_at"
    };
}
pub(crate) use quarantine_columns;

macro_rules! file_columns {
    () => {
        "source, name, size, modified_ms, sha256, outcome, records, rejected, error, taken_at"
    };
}
pub(crate) use file_columns;

macro_rules! impl_sources {
    (
        store = $Store:ident,
        db = $Db:ty $(,)?
    ) => {
        /// Writes `positions` of `source` in an ingest transaction.
        async fn write_positions(
            tx: &mut sqlx::Transaction<'static, $Db>,
            source: &str,
            positions: &[$crate::store::SourcePosition],
            now_ms: i64,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::store::ingest::row_params;
            use $crate::store::SourcePosition;
            for p in positions {
                match p {
                    SourcePosition::Stream(s) => {
                        if let Some(w) = &s.watermark {
                        let moved = match &w.from {
                            None => sqlx::query(
                                "INSERT INTO source_cursors (source, stream, watermark, updated_at) \
                                 VALUES ($1, $2, $3, $4) ON CONFLICT (source, stream) DO NOTHING",
                            )
                            .bind(source)
                            .bind(&s.stream)
                            .bind(&w.to)
                            .bind(now_ms)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected(),
                            Some(from) => sqlx::query(
                                "UPDATE source_cursors SET watermark = $1, updated_at = $2 \
                                 WHERE source = $3 AND stream = $4 AND watermark = $5",
                            )
                            .bind(&w.to)
                            .bind(now_ms)
                            .bind(source)
                            .bind(&s.stream)
                            .bind(from)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected(),
                        };
                        if moved == 0 {
                            return Err($crate::store::StoreError::Conflict(format!(
                                "source {source}: stream {} was moved by another poller",
                                s.stream
                            )));
                        }
                        }
                        // A key seen twice in one page keeps its last hash (one row per key
                        // in a statement, which PostgreSQL's upsert requires).
                        let mut last = std::collections::BTreeMap::new();
                        for r in &s.seen {
                            last.insert(r.key.as_str(), r.hash.as_str());
                        }
                        let rows: Vec<(&str, &str)> = last.into_iter().collect();
                        for part in rows.chunks(<$Store>::PARAMS_PER_STATEMENT / 5) {
                            let sql = format!(
                                "INSERT INTO source_seen (source, stream, row_key, hash, seen_at) VALUES {} \
                                 ON CONFLICT (source, stream, row_key) DO UPDATE \
                                 SET hash = excluded.hash, seen_at = excluded.seen_at",
                                row_params(<$Store>::ANONYMOUS_PARAMS, part.len(), 5)
                            );
                            let mut q = sqlx::query(&sql);
                            for (key, hash) in part {
                                q = q
                                    .bind(source)
                                    .bind(&s.stream)
                                    .bind(*key)
                                    .bind(*hash)
                                    .bind(now_ms);
                            }
                            q.execute(&mut **tx).await?;
                        }
                    }
                    SourcePosition::File(f) => {
                        sqlx::query(concat!(
                            "INSERT INTO source_files (",
                            $crate::store::sources::file_columns!(),
                            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                        ))
                        .bind(source)
                        .bind(&f.name)
                        .bind(f.size)
                        .bind(f.modified_ms)
                        .bind(&f.sha256)
                        .bind(&f.outcome)
                        .bind(f.records)
                        .bind(f.rejected)
                        .bind(&f.error)
                        .bind(now_ms)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::SourceStore for $Store {
            async fn stream_watermark(
                &self,
                source: &str,
                stream: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT watermark FROM source_cursors WHERE source = $1 AND stream = $2",
                )
                .bind(source)
                .bind(stream)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn stream_cursors(
                &self,
            ) -> Result<Vec<$crate::store::StreamCursor>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT source, stream, watermark, updated_at FROM source_cursors \
                     ORDER BY source, stream",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn seen_hashes(
                &self,
                source: &str,
                stream: &str,
                keys: &[String],
            ) -> Result<Vec<$crate::store::SeenHash>, $crate::store::StoreError> {
                use $crate::store::ingest::row_params;
                let mut out = Vec::new();
                for part in keys.chunks(<$Store>::PARAMS_PER_STATEMENT / 3) {
                    // A join on a list of values, not `row_key IN (...)`: while the table is
                    // young PostgreSQL plans a scan, and a scan testing a thousand-value list
                    // on every row took most of a page's time.
                    let sql = format!(
                        "SELECT s.row_key, s.hash, s.seen_at FROM (VALUES {}) AS k JOIN source_seen s \
                         ON s.source = k.column1 AND s.stream = k.column2 AND s.row_key = k.column3",
                        row_params(<$Store>::ANONYMOUS_PARAMS, part.len(), 3)
                    );
                    let mut q = sqlx::query_as::<_, (String, String, i64)>(&sql);
                    for k in part {
                        q = q.bind(source).bind(stream).bind(k);
                    }
                    for (key, hash, seen_at) in q.fetch_all(&self.pool).await? {
                        out.push($crate::store::SeenHash { key, hash, seen_at });
                    }
                }
                Ok(out)
            }

            async fn prune_seen(&self, before_ms: i64) -> Result<u64, $crate::store::StoreError> {
                Ok(sqlx::query("DELETE FROM source_seen WHERE seen_at < $1")
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            async fn taken_file(
                &self,
                source: &str,
                name: &str,
                size: i64,
                modified_ms: i64,
                sha256: &str,
            ) -> Result<Option<$crate::store::TakenFile>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::sources::file_columns!(),
                    " FROM source_files WHERE source = $1 AND name = $2 AND size = $3 \
                     AND modified_ms = $4 AND sha256 = $5"
                ))
                .bind(source)
                .bind(name)
                .bind(size)
                .bind(modified_ms)
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn taken_files(
                &self,
                source: Option<&str>,
                limit: i64,
            ) -> Result<Vec<$crate::store::TakenFile>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::sources::file_columns!(),
                    " FROM source_files WHERE ($1 IS NULL OR source = $1) \
                     ORDER BY taken_at DESC LIMIT $2"
                ))
                .bind(source)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn quarantine_page(
                &self,
                source: Option<&str>,
                after: Option<(i64, &str)>,
                limit: i64,
            ) -> Result<Vec<$crate::store::QuarantineItem>, $crate::store::StoreError> {
                let (at, id) = after.unwrap_or((i64::MIN, ""));
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::sources::quarantine_columns!(),
                    " FROM quarantine WHERE ($1 IS NULL OR source = $1) \
                     AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4"
                ))
                .bind(source)
                .bind(at)
                .bind(id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn quarantine_item(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::QuarantineItem>, $crate::store::StoreError> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::sources::quarantine_columns!(),
                    " FROM quarantine WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn quarantine_drop(&self, id: &str) -> Result<bool, $crate::store::StoreError> {
                Ok(sqlx::query("DELETE FROM quarantine WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }

            async fn quarantine_counts(
                &self,
            ) -> Result<Vec<$crate::store::QuarantineCount>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT source, COUNT(*) AS records FROM quarantine GROUP BY source ORDER BY source",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_source_status(
                &self,
                s: &$crate::store::SourceStatus,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO source_status (source, way, state, failures, last_error, last_ok_at, \
                     next_try_at, lag_ms, rows_read, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (source, way) DO UPDATE SET state = excluded.state, \
                     failures = excluded.failures, last_error = excluded.last_error, \
                     last_ok_at = excluded.last_ok_at, next_try_at = excluded.next_try_at, \
                     lag_ms = excluded.lag_ms, rows_read = excluded.rows_read, \
                     updated_at = excluded.updated_at",
                )
                .bind(&s.source)
                .bind(&s.way)
                .bind(&s.state)
                .bind(s.failures)
                .bind(&s.last_error)
                .bind(s.last_ok_at)
                .bind(s.next_try_at)
                .bind(s.lag_ms)
                .bind(s.rows_read)
                .bind(s.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn source_statuses(
                &self,
            ) -> Result<Vec<$crate::store::SourceStatus>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT source, way, state, failures, last_error, last_ok_at, next_try_at, \
                     lag_ms, rows_read, updated_at FROM source_status ORDER BY source, way",
                )
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}
pub(crate) use impl_sources;
