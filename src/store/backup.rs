//! A consistent copy of the store taken while the gateway runs (`lienthong backup`).
//!
//! SQLite: `VACUUM INTO` a new file, which reads the database in one read transaction (a
//! snapshot: in WAL mode writers go on meanwhile and nothing they commit later is in the copy),
//! then the copy is flushed to disk and checked with `PRAGMA integrity_check` on a connection of
//! its own before it is reported done; a copy that fails the check is removed. PostgreSQL has its
//! own tool for this (`pg_dump`), so the store refuses rather than wrap it.
//!
//! A restore is a plain file copy while the gateway is stopped (see `docs/operator-guide.md`).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Outbox messages in the copy (every state).
    pub messages: i64,
}

/// Why no backup was made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backend is backed up with its own tools.
    #[error(
        "the {0} store is backed up with its own tools: pg_dump --format=custom (see the operator guide)"
    )]
    NotForBackend(&'static str),
    /// The target exists; a backup never overwrites.
    #[error("{0}: already exists; a backup never overwrites a file")]
    Exists(PathBuf),
    /// The copy was made but failed its check; it has been removed.
    #[error("the copy failed its integrity check and was removed: {0}")]
    Damaged(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

/// `VACUUM INTO out` on a connection of `pool`, then the copy's check. The caller has made
/// sure the pool is SQLite's.
pub(crate) async fn sqlite_backup(
    pool: &sqlx::SqlitePool,
    out: &Path,
) -> Result<BackupReport, BackupError> {
    let io = |source| BackupError::Io {
        path: out.to_path_buf(),
        source,
    };
    // VACUUM INTO also refuses a non-empty file, but would write into an empty one.
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let target = out.to_str().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path is not valid UTF-8",
        ))
    })?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(pool)
        .await
        .map_err(super::StoreError::from)?;
    // On disk before it is called done: the copy may be all that is left after a disk fails.
    std::fs::File::open(out)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A directory cannot be synced on every platform; the file itself is.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    match check_copy(out).await {
        Ok(messages) => {
            let bytes = std::fs::metadata(out).map_err(io)?.len();
            Ok(BackupReport {
                path: out.to_path_buf(),
                bytes,
                messages,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(out);
            Err(e)
        }
    }
}

/// `PRAGMA integrity_check` on the copy, and its outbox's size.
async fn check_copy(out: &Path) -> Result<i64, BackupError> {
    let damaged = |e: sqlx::Error| BackupError::Damaged(e.to_string());
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(damaged)?
        .filename(out)
        .create_if_missing(false);
    let mut conn = options.connect().await.map_err(damaged)?;
    let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(damaged)?;
    if verdict != ["ok"] {
        let _ = conn.close().await;
        return Err(BackupError::Damaged(verdict.join("; ")));
    }
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&mut conn)
        .await
        .map_err(damaged)?;
    let _ = conn.close().await;
    Ok(messages)
}
