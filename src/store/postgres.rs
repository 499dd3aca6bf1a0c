//! The PostgreSQL backend, for provinces that run several instances: claims lock rows with
//! `FOR UPDATE SKIP LOCKED`, so instances share the queue without sending anything twice.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::StoreError;

/// The channel ingest notifies (payload: the peer) when it queued work that is due now.
const WORK_CHANNEL: &str = "lienthong_work";

pub struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL groups commits itself.
    delivery: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        Ok(Self {
            delivery: pool.clone(),
            pool,
        })
    }

    /// PostgreSQL takes concurrent writers itself: no turn to wait for.
    async fn write_turn(&self) -> Option<()> {
        None
    }

    /// Sent inside the ingest transaction: PostgreSQL delivers it on commit, never for a
    /// rolled-back one.
    const NOTIFY_WORK: Option<&'static str> = Some("SELECT pg_notify('lienthong_work', $1)");

    /// Rows per multi-row statement: well under PostgreSQL's 65,535 bound parameters.
    pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;

    /// Numbered parameters (`$1`); a statement's parameters well under PostgreSQL's 65,535.
    pub(crate) const ANONYMOUS_PARAMS: bool = false;
    pub(crate) const PARAMS_PER_STATEMENT: usize = 20_000;

    /// PostgreSQL's planner weighs the columns' statistics itself (see `SqliteStore::NO_INDEX`).
    pub(crate) const NO_INDEX: &'static str = "";

    /// `n` queue positions from the sequence, in order (no table lock; concurrent writers interleave,
    /// which only matters within a key, and keys are locked).
    async fn next_positions(
        conn: &mut sqlx::PgConnection,
        n: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let mut positions: Vec<i64> = sqlx::query_scalar(
            "SELECT nextval('outbox_position_seq') FROM generate_series(1, $1::BIGINT)",
        )
        .bind(n)
        .fetch_all(conn)
        .await?;
        positions.sort_unstable();
        Ok(positions)
    }

    /// Transaction-scoped advisory locks on the keys (`{keys}`: one `($n)` row per key), taken
    /// in hash order so two transactions never wait on each other in a cycle.
    const LOCK_KEYS: Option<&'static str> = Some(
        "SELECT pg_advisory_xact_lock(h) FROM \
         (SELECT DISTINCT hashtextextended(column1, 0) AS h FROM (VALUES {keys}) AS k ORDER BY h) AS s",
    );

    /// `pg_dump` does this better than the gateway could (see `backup.rs`).
    async fn backup_into(
        &self,
        _out: &std::path::Path,
    ) -> Result<super::backup::BackupReport, super::backup::BackupError> {
        Err(super::backup::BackupError::NotForBackend("postgres"))
    }

    fn listen_for_work(
        &self,
        wake: Arc<Notify>,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        // A pool of its own holding the one listening connection, so the store's pool keeps
        // all of its connections for queries.
        let options = (*self.pool.connect_options()).clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        Some(Box::pin(listen(pool, wake, shutdown)))
    }
}

/// LISTENs on [`WORK_CHANNEL`] and wakes the lanes on every notification, until `shutdown`.
/// Reconnects with back-off; after each (re)connection it wakes the lanes once, since work
/// queued while it was not listening was not signalled.
async fn listen(pool: PgPool, wake: Arc<Notify>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    let mut listener: Option<PgListener> = None;
    while !shutdown.is_cancelled() {
        let l = match listener.as_mut() {
            Some(l) => l,
            None => {
                let connected = async {
                    let mut l = PgListener::connect_with(&pool).await?;
                    l.ignore_pool_close_event(true);
                    l.listen(WORK_CHANNEL).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                match connected.await {
                    Ok(l) => {
                        tracing::debug!("listening for work queued by other instances");
                        backoff = Duration::from_millis(200);
                        wake.notify_waiters();
                        listener.insert(l)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for work from other instances; polling meanwhile");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            received = l.try_recv() => match received {
                Ok(Some(_)) => wake.notify_waiters(),
                // The connection was lost and made again: signals in between are gone.
                Ok(None) => wake.notify_waiters(),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection listening for work; reconnecting");
                    listener = None;
                }
            }
        }
    }
}

super::backend::impl_store!(
    store = PostgresStore,
    name = "postgres",
    db = sqlx::Postgres,
    begin_write = "BEGIN",
    lock_rows = " FOR UPDATE SKIP LOCKED",
    migrator = sqlx::migrate!("src/store/migrations/postgres"),
);
