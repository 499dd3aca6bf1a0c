//! Bulk fill of a new store with a synthetic history, for benchmarks that must start from a
//! large store (`lienthong bench prefill`), and the PostgreSQL databases benchmarks create,
//! copy from a template and drop. Nothing here runs in the daemon, and like the rest of the
//! store it imports nothing above it: the caller passes peer, operations and texts in.
//!
//! The fill writes rows directly with one statement per table (PostgreSQL: `generate_series`;
//! SQLite: a recursive CTE, in one transaction), not through [`IngestStore::ingest`]: a million
//! messages through ingest takes many minutes. It must stay in step with what ingest and
//! delivery write (the columns of `outbox`, `records` and `dossiers`; every row goes to
//! destination `''`, and `is_head` is set by migration 0006's own backfill statement), and it
//! never fills a store that already holds messages.
//!
//! [`IngestStore::ingest`]: super::IngestStore::ingest

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row};

use super::StoreError;

/// Replaced in the item and record texts of [`Prefill`] by each row's dossier code.
pub const CODE_MARK: &str = "@@DOSSIER_CODE@@";

/// What to write: `messages` messages for `peer`, laid out as a bad day's history.
///
/// Of the messages, 80% are delivered dossier headers and 1% dead dossier headers (one dossier
/// each, all distinct), and the rest are pending steps queued behind the dead headers (spread
/// evenly over those dossiers, later positions), which nothing will claim until an operator
/// replays or skips their header. With fewer than 100 messages all are delivered headers.
#[derive(Debug, Clone)]
pub struct Prefill {
    pub messages: u64,
    pub peer: String,
    pub source: String,
    pub header_operation: String,
    pub step_operation: String,
    /// Dossier codes are this prefix and a 7-digit number.
    pub code_prefix: String,
    /// Texts stored for each header and step message and its record, with [`CODE_MARK`] where
    /// the dossier code goes.
    pub header_item: String,
    pub header_record: String,
    pub step_item: String,
    pub step_record: String,
    pub mapping_version: String,
    /// The last message is created at this time, the first a day before.
    pub now_ms: i64,
}

/// How many rows the store holds after the fill.
#[derive(Debug, Clone, Default)]
pub struct PrefillCounts {
    /// Outbox messages by operation and state.
    pub outbox: Vec<(String, String, i64)>,
    /// Head messages (the one a claim may take of each key) by operation and state.
    pub heads: Vec<(String, String, i64)>,
    pub records: i64,
    pub dossiers: i64,
}

/// `(delivered headers, dead headers, steps)`.
fn layout(messages: u64) -> (i64, i64, i64) {
    let n = messages as i64;
    let dead = n / 100;
    if dead == 0 {
        return (n, 0, 0);
    }
    let delivered = n * 80 / 100;
    (delivered, dead, n - delivered - dead)
}

/// What a dead header's last error says.
const DEAD_ERROR: &str = "portal answered -1 for this dossier (bench prefill: a bad day)";

/// A record for every message (the body from the template, with the message's dossier code);
/// the outbox holds only the fill's rows when it runs. $1 source, $2 header operation, $3 header
/// record, $4 step record, $5 [`CODE_MARK`].
const FILL_RECORDS: &str = "INSERT INTO records (id, source, kind, dossier, body, mapping_version, received_at) \
     SELECT record_id, $1, CASE WHEN operation = $2 THEN 'dossier' ELSE 'step' END, dossier, \
     replace(CASE WHEN operation = $2 THEN $3 ELSE $4 END, $5, dossier), mapping_version, created_at \
     FROM outbox ORDER BY position";

/// A `dossiers` row for every header. $1 source, $2 header operation.
const FILL_DOSSIERS: &str = "INSERT INTO dossiers (dossier, source, first_record, created_at) \
     SELECT dossier, $1, record_id, created_at FROM outbox WHERE operation = $2 ORDER BY position";

/// Migration 0006 of each backend, whose head backfill the fill runs.
const PG_0006: &str = include_str!("migrations/postgres/0006_destinations_heads.sql");
const SQLITE_0006: &str = include_str!("migrations/sqlite/0006_destinations_heads.sql");

/// The statement with which migration 0006 marks the head of every (peer, destination, dossier)
/// key in an existing outbox, taken from the migration itself: the fill and a store migrated
/// from an older version then agree on which rows are heads, and a change to the rule in a
/// later migration has one place to be copied from.
fn head_backfill(migration: &'static str) -> Result<&'static str, StoreError> {
    const START: &str = "UPDATE outbox SET is_head = TRUE";
    migration
        .find(START)
        .and_then(|at| {
            let rest = &migration[at..];
            rest.find(';').map(|end| &rest[..end])
        })
        .ok_or_else(|| StoreError::Corrupt("migration 0006 has no head backfill statement".into()))
}

/// Messages that are heads, by operation and state (the unique index `outbox_head` makes
/// each key have one at most).
const COUNT_HEADS: &str = "SELECT operation, state, COUNT(*) AS n FROM outbox WHERE is_head \
     GROUP BY operation, state ORDER BY operation, state";

const COUNT_OUTBOX: &str =
    "SELECT operation, state, COUNT(*) AS n FROM outbox GROUP BY operation, state ORDER BY operation, state";
const COUNT_RECORDS: &str = "SELECT COUNT(*) FROM records";
const COUNT_DOSSIERS: &str = "SELECT COUNT(*) FROM dossiers";

/// Runs the statements after the outbox fill and counts the rows, on either backend.
macro_rules! finish_fill {
    ($tx:expr, $p:expr, $migration:expr) => {{
        // Rows are written as non-heads; the heads are then marked as migration 0006 marks them.
        sqlx::query(head_backfill($migration)?)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(FILL_RECORDS)
            .bind(&$p.source)
            .bind(&$p.header_operation)
            .bind(&$p.header_record)
            .bind(&$p.step_record)
            .bind(CODE_MARK)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(FILL_DOSSIERS)
            .bind(&$p.source)
            .bind(&$p.header_operation)
            .execute(&mut *$tx)
            .await?;
    }};
}

macro_rules! count_rows {
    ($conn:expr) => {{
        let mut counts = PrefillCounts::default();
        for r in sqlx::query(COUNT_OUTBOX).fetch_all(&mut *$conn).await? {
            counts.outbox.push((
                r.try_get("operation")?,
                r.try_get("state")?,
                r.try_get("n")?,
            ));
        }
        for r in sqlx::query(COUNT_HEADS).fetch_all(&mut *$conn).await? {
            counts.heads.push((
                r.try_get("operation")?,
                r.try_get("state")?,
                r.try_get("n")?,
            ));
        }
        counts.records = sqlx::query_scalar(COUNT_RECORDS)
            .fetch_one(&mut *$conn)
            .await?;
        counts.dossiers = sqlx::query_scalar(COUNT_DOSSIERS)
            .fetch_one(&mut *$conn)
            .await?;
        counts
    }};
}

/// Creates the store at `url` (`sqlite:PATH`, or `postgres://…/DBNAME`, the database created
/// when missing), applies migrations and fills it as `p` says. Fails if it holds messages.
pub async fn prefill(url: &str, p: &Prefill) -> Result<PrefillCounts, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut server = reqwest::Url::parse(url)
            .map_err(|e| StoreError::Unavailable(format!("store url: {e}")))?;
        let name = server.path().trim_start_matches('/').to_string();
        server.set_path("/postgres");
        if !database_exists(server.as_str(), &name).await? {
            create_database(server.as_str(), &name, None).await?;
        }
    }
    // Migrations as the daemon applies them; the fill then uses a connection of its own.
    let store = super::open(url, 1).await?;
    let backend = store.backend();
    drop(store);
    if backend == "postgres" {
        prefill_postgres(url, p).await
    } else {
        prefill_sqlite(url, p).await
    }
}

async fn prefill_postgres(url: &str, p: &Prefill) -> Result<PrefillCounts, StoreError> {
    let (delivered, dead, _) = layout(p.messages);
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut tx = conn.begin().await?;
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&mut *tx)
        .await?;
    if held > 0 {
        return Err(StoreError::Unavailable(format!(
            "the store already holds {held} messages; prefill fills only an empty store"
        )));
    }
    // $1 messages, $2 delivered headers, $3 dead headers, $4 now; a row's number i is its
    // position; k is its dossier's number (a step's: one of the dead headers', round robin).
    sqlx::query(
        "INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, item, \
         record_id, mapping_version, warnings, state, attempts, next_attempt_at, last_error, \
         created_at, updated_at, delivered_at, destination, is_head) \
         SELECT gen_random_uuid()::text, $5, CASE WHEN s.step THEN $7 ELSE $6 END, s.code, s.i, \
         s.created, NULL, 0, replace(CASE WHEN s.step THEN $10 ELSE $8 END, $13, s.code), \
         gen_random_uuid()::text, $12, '[]', s.state, \
         CASE s.state WHEN 'delivered' THEN 1 WHEN 'dead' THEN 5 ELSE 0 END, s.created, \
         CASE WHEN s.state = 'dead' THEN $14 END, s.created, \
         CASE WHEN s.state = 'pending' THEN s.created ELSE s.created + 2000 END, \
         CASE WHEN s.state = 'delivered' THEN s.created + 2000 END, '', FALSE \
         FROM (SELECT n.i, n.i > $2 + $3 AS step, \
               $15 || lpad((CASE WHEN n.i <= $2 + $3 THEN n.i ELSE $2 + 1 + (n.i - $2 - $3 - 1) % GREATEST($3, 1) END)::text, 7, '0') AS code, \
               CASE WHEN n.i <= $2 THEN 'delivered' WHEN n.i <= $2 + $3 THEN 'dead' ELSE 'pending' END AS state, \
               $4 - (($1 - n.i) * 86400000) / $1 AS created \
               FROM generate_series(1::bigint, $1) AS n(i)) s",
    )
    .bind(p.messages as i64)
    .bind(delivered)
    .bind(dead)
    .bind(p.now_ms)
    .bind(&p.peer)
    .bind(&p.header_operation)
    .bind(&p.step_operation)
    .bind(&p.header_item)
    .bind(&p.header_record)
    .bind(&p.step_item)
    .bind(&p.step_record)
    .bind(&p.mapping_version)
    .bind(CODE_MARK)
    .bind(DEAD_ERROR)
    .bind(&p.code_prefix)
    .execute(&mut *tx)
    .await?;
    finish_fill!(tx, p, PG_0006);
    // The next message ingest queues goes after the last one written here.
    sqlx::query("SELECT setval('outbox_position_seq', (SELECT MAX(position) FROM outbox))")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // What autovacuum would have done to a store that grew to this size by itself.
    sqlx::raw_sql("VACUUM ANALYZE").execute(&mut conn).await?;
    let counts = count_rows!(&mut conn);
    conn.close().await?;
    Ok(counts)
}

async fn prefill_sqlite(url: &str, p: &Prefill) -> Result<PrefillCounts, StoreError> {
    let (delivered, dead, _) = layout(p.messages);
    // A rollback journal without sync for the fill: the WAL would take every page twice, and a
    // fill cut short is simply made again.
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Delete)
        .synchronous(SqliteSynchronous::Off)
        .busy_timeout(Duration::from_secs(30))
        .pragma("cache_size", "-262144");
    // The migrating pool was just dropped; its connections close in the background, and the
    // journal mode can change only once they are gone.
    let mut tries = 0;
    let mut conn = loop {
        match sqlx::SqliteConnection::connect_with(&options).await {
            Ok(conn) => break conn,
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!(error = %e, "prefill: waiting for the store's pool to close");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut tx = conn.begin().await?;
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&mut *tx)
        .await?;
    if held > 0 {
        return Err(StoreError::Unavailable(format!(
            "the store already holds {held} messages; prefill fills only an empty store"
        )));
    }
    // The same rows as on PostgreSQL (see there); ids are random version-4 UUIDs.
    let uuid = "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) \
                || '-' || substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' \
                || hex(randomblob(6)))";
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1), \
         s AS (SELECT n.i, n.i > $2 + $3 AS step, \
               $15 || printf('%07d', CASE WHEN n.i <= $2 + $3 THEN n.i ELSE $2 + 1 + (n.i - $2 - $3 - 1) % max($3, 1) END) AS code, \
               CASE WHEN n.i <= $2 THEN 'delivered' WHEN n.i <= $2 + $3 THEN 'dead' ELSE 'pending' END AS state, \
               $4 - (($1 - n.i) * 86400000) / $1 AS created FROM n) \
         INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, item, \
         record_id, mapping_version, warnings, state, attempts, next_attempt_at, last_error, \
         created_at, updated_at, delivered_at, destination, is_head) \
         SELECT {uuid}, $5, CASE WHEN s.step THEN $7 ELSE $6 END, s.code, s.i, \
         s.created, NULL, 0, replace(CASE WHEN s.step THEN $10 ELSE $8 END, $13, s.code), \
         {uuid}, $12, '[]', s.state, \
         CASE s.state WHEN 'delivered' THEN 1 WHEN 'dead' THEN 5 ELSE 0 END, s.created, \
         CASE WHEN s.state = 'dead' THEN $14 END, s.created, \
         CASE WHEN s.state = 'pending' THEN s.created ELSE s.created + 2000 END, \
         CASE WHEN s.state = 'delivered' THEN s.created + 2000 END, '', FALSE \
         FROM s ORDER BY s.i"
    ))
    .bind(p.messages as i64)
    .bind(delivered)
    .bind(dead)
    .bind(p.now_ms)
    .bind(&p.peer)
    .bind(&p.header_operation)
    .bind(&p.step_operation)
    .bind(&p.header_item)
    .bind(&p.header_record)
    .bind(&p.step_item)
    .bind(&p.step_record)
    .bind(&p.mapping_version)
    .bind(CODE_MARK)
    .bind(DEAD_ERROR)
    .bind(&p.code_prefix)
    .execute(&mut *tx)
    .await?;
    finish_fill!(tx, p, SQLITE_0006);
    tx.commit().await?;
    // Back to the journal the store runs with.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    let counts = count_rows!(&mut conn);
    conn.close().await?;
    Ok(counts)
}

/// A database name benchmarks may put into SQL: lower-case ASCII letters, digits and `_`,
/// starting with a letter (identifiers cannot be bound as parameters).
fn checked_name(name: &str) -> Result<&str, StoreError> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(StoreError::Unavailable(format!(
            "database name {name:?}: use lower-case letters, digits and _"
        )))
    }
}

async fn database_exists(server: &str, name: &str) -> Result<bool, StoreError> {
    let mut admin = sqlx::PgConnection::connect(server).await?;
    let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut admin)
        .await?
        .is_some();
    admin.close().await?;
    Ok(found)
}

/// Creates database `name` on the PostgreSQL server at `server` (a URL to any database on it),
/// empty or as a copy of database `template` (which nobody may be connected to). The copy is
/// made file by file (`STRATEGY FILE_COPY`): a large template copied through the WAL would
/// take minutes.
pub async fn create_database(
    server: &str,
    name: &str,
    template: Option<&str>,
) -> Result<(), StoreError> {
    let name = checked_name(name)?;
    let sql = match template {
        Some(t) => format!(
            "CREATE DATABASE {name} TEMPLATE {} STRATEGY FILE_COPY",
            checked_name(t)?
        ),
        None => format!("CREATE DATABASE {name}"),
    };
    let mut admin = sqlx::PgConnection::connect(server).await?;
    sqlx::raw_sql(&sql).execute(&mut admin).await?;
    admin.close().await?;
    Ok(())
}

/// Drops database `name` on the server at `server`, closing its connections first.
pub async fn drop_database(server: &str, name: &str) -> Result<(), StoreError> {
    let name = checked_name(name)?;
    let mut admin = sqlx::PgConnection::connect(server).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_migrations_have_the_same_head_backfill() {
        let pg = head_backfill(PG_0006).expect("postgres 0006");
        let sqlite = head_backfill(SQLITE_0006).expect("sqlite 0006");
        assert_eq!(pg, sqlite);
        assert!(pg.contains("NOT EXISTS"), "{pg}");
    }

    #[test]
    fn layout_is_a_bad_day() {
        assert_eq!(layout(1000), (800, 10, 190));
        assert_eq!(layout(99), (99, 0, 0));
    }
}

/// What [`prefill_facts`] writes: `dossiers` rows of `dossier_facts`, numbered 1 to `dossiers`
/// with codes `code_prefix` and a 7-digit number (the codes [`prefill`] gives its headers), all
/// registered on `registered_on`, received over the year before `now_ms`.
///
/// Row `n`: agency `000.00.<n mod agencies>.H56`, procedure `1.<n mod procedures>`, channel `1 +
/// n mod 3`; status by `n mod 20`: `4` (0), `3` (1), `7` (2), `2` (3), `9` (4), else `10`; due ten
/// days after reception, ended `n mod 13` days after it (so about one in seven late); an apology
/// on one in fifty, by post one in seven, inputs digitised nine in ten, results three in four.
#[derive(Debug, Clone)]
pub struct FactsFill {
    pub dossiers: u64,
    pub code_prefix: String,
    pub registered_on: i64,
    pub agencies: u32,
    pub procedures: u32,
    pub now_ms: i64,
}

/// The row expressions of [`FactsFill`], over `n.i` (`$1` rows, `$2` prefix, `$3` registered
/// on, `$4` agencies, `$5` procedures, `$6` now); `{code}`, `{agency}`, `{procedure}` differ
/// by backend.
const FACTS_FILL: &str = "INSERT INTO dossier_facts (dossier, source, agency, registered_on, \
    procedure_code, channel, status, received_at, appointment_at, due_at, apologies, finished_at, \
    returned_at, by_post, digitised_inputs, digitised_results, updated_at) \
    SELECT s.code, 'bench', s.agency, $3, s.procedure, s.channel, s.status, s.received, \
    s.received + 864000000, s.received + 864000000, CASE WHEN s.i % 50 = 0 THEN 1 ELSE 0 END, \
    CASE WHEN s.status IN ('3', '7', '9', '10') THEN s.received + (s.i % 13) * 86400000 END, \
    CASE WHEN s.status = '10' THEN s.received + (s.i % 13 + 1) * 86400000 END, \
    s.i % 7 = 0, s.i % 10 <> 0, s.i % 4 <> 0, $6 \
    FROM (SELECT n.i, {code} AS code, {agency} AS agency, {procedure} AS procedure, \
          CAST(1 + n.i % 3 AS TEXT) AS channel, \
          CASE n.i % 20 WHEN 0 THEN '4' WHEN 1 THEN '3' WHEN 2 THEN '7' WHEN 3 THEN '2' \
          WHEN 4 THEN '9' ELSE '10' END AS status, \
          $6 - (n.i % 365) * 86400000 - (n.i % 480) * 60000 AS received FROM {series}) s \
    WHERE true ON CONFLICT (dossier) DO NOTHING";

/// Fills `dossier_facts` of the store at `url` (migrated already) as `f` says, in one
/// statement; rows already there are kept (their codes are skipped).
pub async fn prefill_facts(url: &str, f: &FactsFill) -> Result<u64, StoreError> {
    let store = super::open(url, 1).await?;
    let backend = store.backend();
    drop(store);
    let n = f.dossiers as i64;
    if backend == "postgres" {
        let sql = FACTS_FILL
            .replace("{code}", "$2 || lpad(n.i::text, 7, '0')")
            .replace(
                "{agency}",
                "'000.00.' || lpad((n.i % $4)::text, 2, '0') || '.H56'",
            )
            .replace("{procedure}", "'1.' || lpad((n.i % $5)::text, 6, '0')")
            .replace("{series}", "generate_series(1::bigint, $1) AS n(i)")
            .replace("THEN 1 ELSE 0 END,", "THEN 1 ELSE 0 END::bigint,");
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let done = sqlx::query(&sql)
            .bind(n)
            .bind(&f.code_prefix)
            .bind(f.registered_on)
            .bind(f.agencies.max(1) as i64)
            .bind(f.procedures.max(1) as i64)
            .bind(f.now_ms)
            .execute(&mut conn)
            .await?
            .rows_affected();
        sqlx::raw_sql("ANALYZE dossier_facts")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(done)
    } else {
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) {}",
            FACTS_FILL
                .replace("{code}", "$2 || printf('%07d', n.i)")
                .replace(
                    "{agency}",
                    "'000.00.' || printf('%02d', n.i % $4) || '.H56'"
                )
                .replace("{procedure}", "'1.' || printf('%06d', n.i % $5)")
                .replace("{series}", "n")
        );
        let options = SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(30));
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        let done = sqlx::query(&sql)
            .bind(n)
            .bind(&f.code_prefix)
            .bind(f.registered_on)
            .bind(f.agencies.max(1) as i64)
            .bind(f.procedures.max(1) as i64)
            .bind(f.now_ms)
            .execute(&mut conn)
            .await?
            .rows_affected();
        sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;
        Ok(done)
    }
}
