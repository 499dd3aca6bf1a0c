//! The embedded SQLite backend: one file, WAL journal; accepted records are synced to disk on
//! commit (they survive a power cut), delivery bookkeeping is not (see `backend.rs`).
//! One process per file; several instances share work through PostgreSQL instead.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::StoreError;

pub struct SqliteStore {
    /// Ingest and everything else: full sync, a commit is on disk.
    pool: SqlitePool,
    /// Claims and settlements: normal sync (WAL keeps the file consistent; a process crash loses
    /// nothing, a power cut may forget the last settlements, and their batches are resent).
    delivery: SqlitePool,
    /// One writer at a time, in arrival order. SQLite has one write lock per file; a connection
    /// that finds it taken sleeps in SQLite's busy handler (steps up to 100 ms), which shows
    /// as long tail latencies under load. Queueing here instead wakes the next writer at once.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Stops the WAL's checkpoints when the store goes.
    _checkpoints: tokio_util::sync::DropGuard,
}

/// How often `checkpoints` copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL size (pages of 4 KiB, 16 MiB) past which `checkpoints` makes the WAL start over.
/// A restart holds the writers while it copies what the last commit wrote: at SQLite's own
/// 1,000 pages, a steady stream of ingests of a thousand records waited for one after most
/// commits (72 of 102 in `bench sources`).
const WAL_RESTART_PAGES: i64 = 4096;

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] on a connection of its own,
/// until the guard is dropped.
///
/// SQLite's own checkpoint runs inside the commit that crosses its threshold, which an ingest
/// of a thousand records crosses nearly every time: the writer waited for the copy while no one
/// could write. Here the copy is made beside the writers (a passive checkpoint takes no write
/// lock). But the WAL starts over only when a writer begins after a checkpoint that copied
/// everything, which under a steady stream of commits never happens by chance: once the WAL
/// is past [`WAL_RESTART_PAGES`], the next checkpoint takes the writers' turn, copies the little
/// written since the last one, and lets the next writer start the WAL over. The WAL file stays
/// near that size (16 MiB and one commit).
fn checkpoints(
    pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
) -> tokio_util::sync::DropGuard {
    async fn checkpoint(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
        // (busy, pages in the WAL, pages copied)
        let (_, pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(pool)
            .await?;
        Ok(pages)
    }
    let stop = CancellationToken::new();
    let guard = stop.clone().drop_guard();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let copied = match checkpoint(&pool).await {
                Ok(pages) if pages > WAL_RESTART_PAGES => {
                    let _turn = writer.lock().await;
                    checkpoint(&pool).await.map(|_| ())
                }
                other => other.map(|_| ()),
            };
            if let Err(e) = copied {
                tracing::debug!(error = %e, "WAL checkpoint failed (tried again shortly)");
            }
        }
        pool.close().await;
    });
    guard
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite:path`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            // A page of a thousand records touches thousands of index pages: with SQLite's
            // default 2 MiB cache they spill to the WAL in the middle of the transaction.
            .pragma("cache_size", "-32768")
            // Statement journals (a multi-row statement inside a transaction) in memory, not
            // in temporary files.
            .pragma("temp_store", "memory")
            // The WAL is copied into the file by `checkpoints`, beside the writers; a commit
            // does it itself only past this many pages (64 MiB), if that task fell behind.
            .pragma("wal_autocheckpoint", "16384")
            // A statement's rows (a page's hashes, the keys it registered) are handed over a
            // thousand at a time, not fifty: fewer wake-ups between SQLite's thread and the
            // task.
            .row_buffer_size(1024);
        let pool = pool_options(max_connections)
            .connect_with(options.clone())
            .await?;
        let checkpointer = pool_options(1).connect_with(options.clone()).await?;
        let delivery = pool_options(max_connections)
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        Ok(Self {
            pool,
            delivery,
            _checkpoints: checkpoints(checkpointer, Arc::clone(&writer)),
            writer,
        })
    }

    /// Waits for this process's turn to write (see `writer`).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// One process per file: its ingest wakes its lanes in-process, nothing to signal.
    const NOTIFY_WORK: Option<&'static str> = None;

    /// Rows per multi-row statement. Small: SQLite finds a numbered parameter's name by a
    /// linear search, so binding `n` of them costs `n²` (1,000 outbox rows, 15,000 parameters,
    /// took 400 ms to bind and 10 ms to insert).
    pub(crate) const ROWS_PER_STATEMENT: usize = 32;

    /// Statements whose parameters are all rows of values use anonymous ones (`?`), bound in
    /// linear time (`ingest::row_params`), so they can be large: one statement of a thousand
    /// outbox rows instead of thirty-two of thirty-two. Well under SQLite's 32,766.
    pub(crate) const ANONYMOUS_PARAMS: bool = true;
    pub(crate) const PARAMS_PER_STATEMENT: usize = 20_000;

    /// Written before a column in a condition that must not pick the index (SQLite's unary
    /// plus): SQLite plans without statistics, so the outbox browser tells it which index to
    /// walk (`browse::Driver`); left to itself it once sorted a million rows by queue position.
    pub(crate) const NO_INDEX: &'static str = "+";

    /// `n` queue positions after the last one, in order (writers take turns: no one else
    /// draws). One row read, not `n`.
    async fn next_positions(
        conn: &mut sqlx::SqliteConnection,
        n: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM outbox")
            .fetch_one(conn)
            .await?;
        Ok((last + 1..=last + n).collect())
    }

    /// Writers take turns in process: keys need no lock of their own.
    const LOCK_KEYS: Option<&'static str> = None;

    /// `VACUUM INTO` a new file, checked (see `backup.rs`).
    async fn backup_into(
        &self,
        out: &std::path::Path,
    ) -> Result<super::backup::BackupReport, super::backup::BackupError> {
        super::backup::sqlite_backup(&self.pool, out).await
    }

    fn listen_for_work(
        &self,
        _wake: Arc<Notify>,
        _shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// Pools whose connections are checked before use once the database has failed a statement
/// ([`super::STORE_FAILED_ONCE`]): a connection on which a transaction cannot begin (the driver
/// still counts a transaction that SQLite rolled back by itself, e.g. on a full disk) is closed
/// and replaced instead of failing every request it serves, so the gateway recovers by itself
/// once the disk has room again.
fn pool_options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(3))
        .before_acquire(|conn, _meta| {
            Box::pin(async move {
                if !super::STORE_FAILED_ONCE.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(true);
                }
                match sqlx::Connection::begin_with(conn, "BEGIN").await {
                    Ok(tx) => Ok(tx.rollback().await.is_ok()),
                    Err(_) => Ok(false),
                }
            })
        })
}

// Writes take the database lock up front (BEGIN IMMEDIATE): a deferred transaction that reads
// and then writes would fail instead of waiting when another connection wrote in between.
super::backend::impl_store!(
    store = SqliteStore,
    name = "sqlite",
    db = sqlx::Sqlite,
    begin_write = "BEGIN IMMEDIATE",
    lock_rows = "",
    migrator = sqlx::migrate!("src/store/migrations/sqlite"),
);
