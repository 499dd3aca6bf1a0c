//! A local database, whichever driver its URL names: the few things the poller asks of it
//! (its clock, rows of a query with bound values, a write-back statement), each written once per
//! driver, and how each quotes names and numbers its parameters.

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::TryStreamExt;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::value::{read_mysql, read_pg, read_sqlite, SqlValue, Unreadable};

/// Binds one value to a query of any driver.
macro_rules! bind {
    ($q:expr, $b:expr) => {
        match $b {
            SqlValue::Null => $q.bind(None::<String>),
            SqlValue::Int(i) => $q.bind(*i),
            SqlValue::Float(f) => $q.bind(*f),
            SqlValue::Bool(b) => $q.bind(*b),
            SqlValue::Text(s) => $q.bind(s.clone()),
            SqlValue::Local(t) => $q.bind(*t),
            SqlValue::Utc(t) => $q.bind(*t),
            SqlValue::Date(d) => $q.bind(*d),
        }
    };
}

/// One row: its values in the order of its columns, whose names the rows of one query share.
#[derive(Debug, Clone)]
pub struct LocalRow {
    names: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl LocalRow {
    /// The value of column `name` (its exact name first, then ignoring ASCII case).
    pub fn get(&self, name: &str) -> Option<&SqlValue> {
        let at = self
            .names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))?;
        self.values.get(at)
    }

    /// The value of the `i`th column.
    pub fn value(&self, i: usize) -> Option<&SqlValue> {
        self.values.get(i)
    }

    /// Each column's name and value, the values moved out.
    pub fn into_iter_owned(self) -> impl Iterator<Item = (String, SqlValue)> {
        let names = self.names;
        self.values
            .into_iter()
            .enumerate()
            .map(move |(i, v)| (names[i].clone(), v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A connection pool to a local database.
#[derive(Clone)]
pub enum LocalDb {
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

/// What went wrong talking to a local database.
#[derive(Debug, thiserror::Error)]
pub enum LocalDbError {
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    Unreadable(#[from] Unreadable),
    #[error("unsupported database URL (postgres://, mysql://, mariadb:// or sqlite:)")]
    Scheme,
}

impl LocalDbError {
    /// The database is unreachable or gone (retry later), rather than the query being wrong.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            LocalDbError::Sql(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

impl LocalDb {
    /// A pool that connects lazily: a database down at start is retried by the poller, not
    /// fatal.
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<Self, LocalDbError> {
        let acquire = Duration::from_secs(10);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(LocalDb::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire)
                    .connect_lazy(url)?,
            ))
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            Ok(LocalDb::MySql(
                MySqlPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire)
                    .connect_lazy(&url)?,
            ))
        } else if url.starts_with("sqlite:") {
            // A page's rows are handed over a thousand at a time, not fifty (the driver's
            // default): fewer wake-ups between its thread and the poller.
            let opts = SqliteConnectOptions::from_str(url)?.row_buffer_size(1024);
            Ok(LocalDb::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire)
                    .connect_lazy_with(opts),
            ))
        } else {
            Err(LocalDbError::Scheme)
        }
    }

    /// `"name"` or `` `name` ``.
    pub fn quote(&self, name: &str) -> String {
        match self {
            LocalDb::MySql(_) => format!("`{name}`"),
            _ => format!("\"{name}\""),
        }
    }

    /// The `n`th parameter (from 1).
    pub fn param(&self, n: usize) -> String {
        match self {
            LocalDb::MySql(_) => "?".to_string(),
            _ => format!("${n}"),
        }
    }

    /// The database's clock.
    pub async fn now(&self) -> Result<DateTime<Utc>, LocalDbError> {
        Ok(match self {
            LocalDb::Postgres(p) => sqlx::query_scalar("SELECT now()").fetch_one(p).await?,
            LocalDb::MySql(p) => {
                let t: NaiveDateTime = sqlx::query_scalar("SELECT UTC_TIMESTAMP(6)")
                    .fetch_one(p)
                    .await?;
                t.and_utc()
            }
            LocalDb::Sqlite(p) => {
                let t: String = sqlx::query_scalar("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
                    .fetch_one(p)
                    .await?;
                super::value::parse_local(&t)
                    .map(|t| t.and_utc())
                    .unwrap_or_else(Utc::now)
            }
        })
    }

    /// The rows of `sql` with `binds`.
    pub async fn rows(&self, sql: &str, binds: &[SqlValue]) -> Result<Vec<LocalRow>, LocalDbError> {
        macro_rules! run {
            ($pool:expr, $read:expr, $binds:expr) => {{
                let mut q = sqlx::query(sql);
                for b in $binds {
                    q = bind!(q, b);
                }
                let mut out = Vec::new();
                let mut stream = q.fetch($pool);
                // The column names, read from the first row and shared by every row.
                let mut names: Option<Arc<[String]>> = None;
                while let Some(row) = stream.try_next().await? {
                    let names = names.get_or_insert_with(|| {
                        sqlx::Row::columns(&row)
                            .iter()
                            .map(|c| sqlx::Column::name(c).to_string())
                            .collect()
                    });
                    out.push(LocalRow {
                        names: Arc::clone(names),
                        values: $read(&row)?,
                    });
                }
                out
            }};
        }
        Ok(match self {
            LocalDb::Postgres(p) => run!(p, read_pg, binds),
            LocalDb::MySql(p) => run!(p, read_mysql, binds),
            LocalDb::Sqlite(p) => {
                // SQLite compares a bound time with text columns as text.
                let binds: Vec<SqlValue> = binds
                    .iter()
                    .map(|b| match b {
                        SqlValue::Local(t) => {
                            SqlValue::Text(t.format(super::value::LOCAL_FORMAT).to_string())
                        }
                        other => other.clone(),
                    })
                    .collect();
                run!(p, read_sqlite, &binds)
            }
        })
    }

    /// Runs a write-back statement with `binds`; the rows it changed.
    pub async fn execute(&self, sql: &str, binds: &[SqlValue]) -> Result<u64, LocalDbError> {
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = bind!(q, b);
                }
                q.execute($pool).await?.rows_affected()
            }};
        }
        Ok(match self {
            LocalDb::Postgres(p) => run!(p),
            LocalDb::MySql(p) => run!(p),
            LocalDb::Sqlite(p) => run!(p),
        })
    }
}
