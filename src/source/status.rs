//! Every source as an operator checks it (`lienthong sources`, `/admin/sources`, the dashboard's
//! sources page and `/metrics`): its ways in as configured, the health its readers last wrote
//! (state, failures, last error, next try, lag, rows read), its polled streams' watermarks, the
//! files it took last and its quarantined records. Sources no longer configured still show while
//! the store holds something of theirs.
//!
//! What it must not do: run SQL, or decide anything about a source (its readers write its health).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::source::config::SourceConfig;
use crate::store::{SourceStatus, Store, StoreError, StreamCursor, TakenFile};

/// Files of each source listed, newest first.
pub const RECENT_FILES: i64 = 5;

/// A configured source's name and its ways in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredSource {
    pub name: String,
    /// `http` (it pushes), `sql` (polled).
    pub ways: Vec<&'static str>,
}

impl ConfiguredSource {
    pub fn from_config(sources: &[SourceConfig]) -> Vec<ConfiguredSource> {
        sources
            .iter()
            .map(|s| ConfiguredSource {
                name: s.name.clone(),
                ways: s.ways(),
            })
            .collect()
    }
}

/// One way a source's records come in, and how its reader last found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Way {
    /// `http`, `sql` or `files`.
    pub way: String,
    /// Whether the config has it (a reader's health stays after its way is removed).
    pub configured: bool,
    /// `ok`, `down` or `failing` as its reader last wrote; `None` for a way nobody reads
    /// (HTTP push) or not read yet.
    pub state: Option<String>,
    pub failures: i64,
    /// Masked ([`crate::mapping::mask_text`]).
    pub last_error: Option<String>,
    pub last_ok_at: Option<i64>,
    pub next_try_at: Option<i64>,
    pub lag_ms: Option<i64>,
    pub rows_read: i64,
    pub updated_at: Option<i64>,
}

impl Way {
    /// Whether its reader says it is down or failing.
    pub fn unhealthy(&self) -> bool {
        matches!(self.state.as_deref(), Some("down") | Some("failing"))
    }

    fn of(way: &str, configured: bool, status: Option<&SourceStatus>) -> Way {
        Way {
            way: way.to_string(),
            configured,
            state: status.map(|s| s.state.clone()),
            failures: status.map_or(0, |s| s.failures),
            last_error: status
                .and_then(|s| s.last_error.as_deref())
                .map(crate::mapping::mask_text),
            last_ok_at: status.and_then(|s| s.last_ok_at),
            next_try_at: status.and_then(|s| s.next_try_at),
            lag_ms: status.and_then(|s| s.lag_ms),
            rows_read: status.map_or(0, |s| s.rows_read),
            updated_at: status.map(|s| s.updated_at),
        }
    }
}

/// One source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceView {
    pub source: String,
    pub configured: bool,
    pub ways: Vec<Way>,
    /// Its polled streams' watermarks.
    pub streams: Vec<StreamCursor>,
    /// The files it took last, newest first (at most [`RECENT_FILES`]).
    pub files: Vec<TakenFile>,
    pub quarantined: i64,
}

impl SourceView {
    /// Whether a configured way of this configured source is down or failing.
    pub fn unhealthy(&self) -> bool {
        self.configured && self.ways.iter().any(|w| w.configured && w.unhealthy())
    }
}

/// Every configured source (in config order), then any other the store holds something of.
pub async fn overview(
    store: &dyn Store,
    configured: &[ConfiguredSource],
) -> Result<Vec<SourceView>, StoreError> {
    let statuses = store.source_statuses().await?;
    let cursors = store.stream_cursors().await?;
    let counts = store.quarantine_counts().await?;
    let mut names: Vec<(String, bool)> =
        configured.iter().map(|c| (c.name.clone(), true)).collect();
    let known: BTreeSet<&str> = configured.iter().map(|c| c.name.as_str()).collect();
    let others: BTreeSet<&str> = statuses
        .iter()
        .map(|s| s.source.as_str())
        .chain(cursors.iter().map(|c| c.source.as_str()))
        .chain(counts.iter().map(|c| c.source.as_str()))
        .filter(|s| !known.contains(s))
        .collect();
    names.extend(others.into_iter().map(|s| (s.to_string(), false)));
    let mut out = Vec::with_capacity(names.len());
    for (name, is_configured) in names {
        let ways_configured: &[&str] = configured
            .iter()
            .find(|c| c.name == name)
            .map_or(&[], |c| c.ways.as_slice());
        let mut ways: Vec<Way> = ways_configured
            .iter()
            .map(|w| {
                let status = statuses.iter().find(|s| s.source == name && s.way == *w);
                Way::of(w, true, status)
            })
            .collect();
        ways.extend(
            statuses
                .iter()
                .filter(|s| s.source == name && !ways_configured.contains(&s.way.as_str()))
                .map(|s| Way::of(&s.way, false, Some(s))),
        );
        out.push(SourceView {
            files: store.taken_files(Some(&name), RECENT_FILES).await?,
            streams: cursors
                .iter()
                .filter(|c| c.source == name)
                .cloned()
                .collect(),
            quarantined: counts
                .iter()
                .find(|c| c.source == name)
                .map_or(0, |c| c.records),
            source: name,
            configured: is_configured,
            ways,
        });
    }
    Ok(out)
}
