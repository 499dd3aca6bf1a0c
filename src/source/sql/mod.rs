//! SQL polling: reads a local system's database where it is, in pages ordered by a watermark,
//! and hands the records to [`crate::source::intake`] with the stream's new watermark and the
//! rows' content hashes, all stored in one transaction.
//!
//! How no row is lost or sent twice:
//! - **Late commits.** A read stops at the database's clock minus `lag_seconds`, and each read
//!   starts `overlap_seconds` before the watermark: a row committed late with an earlier stamp
//!   is read by a later pass. Rows re-read unchanged (same key, same content hash, children
//!   included) are skipped.
//! - **Ties.** Reads are inclusive of the watermark (`>=`), so rows tied on it are read again,
//!   not skipped, also after a restart in the middle of a tie group; a page made only of rows
//!   already stored is read again twice as large until the tie group ends.
//! - **Crashes.** The watermark and the hashes move with the records they cover: a crash
//!   between read and commit re-reads the page; after commit, the re-read skips it.
//! - **Two pollers.** One instance reads a source at a time (its lease); and a page is stored
//!   only if the watermark is still the one it was read from.
//! - **Children.** A changed child row (fee, document, supplement) re-reads its parent with all
//!   its children; the child's own watermark moves with that parent's record.
//! - **Forgetting.** Housekeeping forgets the hashes of rows last seen
//!   [`crate::store::SEEN_FORGET`] ago; a row re-read unchanged has its time refreshed (with the
//!   next page stored) once it is [`crate::store::SEEN_REFRESH`] old, so the hash of a row still
//!   inside the re-read window is never forgotten while its source is polled.
//!
//! A database that cannot be reached is retried with back-off up to `retry_max_seconds`; each
//! source polls on its own task, so one down never holds back another. Its health is written to
//! the store, which `lienthong sources`, `/admin/sources` and `/metrics` (`lienthong_source_up`,
//! `..._lag_seconds`, `..._rows_total`, labelled by source and way) read, whichever instance
//! polls. Write-back statements run after the commit, never before.

pub mod config;
pub mod db;
pub mod value;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::mapping::Vars;
use crate::source::intake::{self, Along};
use crate::source::routes::Routes;
use crate::store::{
    now_ms, RecordKind, SeenRow, SourcePosition, SourceStatus, Store, StoreError, StreamPosition,
    WatermarkMove,
};
use config::{ChildQuery, PollConfig, PollQuery};
use db::{LocalDb, LocalDbError, LocalRow};
use value::SqlValue;

/// The lease a poller holds on its source, so instances sharing a store never read it twice.
fn lease_name(source: &str) -> String {
    format!("source:{source}")
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The database could not be reached or opened.
    #[error("local database unreachable: {0}")]
    Down(LocalDbError),
    #[error("local database: {0}")]
    Local(#[from] LocalDbError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
}

impl PollError {
    fn state(&self) -> &'static str {
        match self {
            PollError::Down(_) => "down",
            PollError::Local(e) if e.is_connection() => "down",
            _ => "failing",
        }
    }
}

/// One source read by SQL polling.
pub struct SqlSource {
    pub name: String,
    cfg: PollConfig,
    zone: Tz,
    db: LocalDb,
}

impl SqlSource {
    pub fn new(name: &str, cfg: &PollConfig) -> anyhow::Result<Self> {
        let problems = cfg.check(&format!("sources.{name}.poll"));
        if !problems.is_empty() {
            anyhow::bail!(problems.join("\n"));
        }
        let url = crate::settings::require_secret(
            &format!("sources.{name}.poll.url"),
            &cfg.url,
            &cfg.url_file,
        )
        .map_err(anyhow::Error::msg)?;
        let db = LocalDb::connect_lazy(
            secrecy::ExposeSecret::expose_secret(&url),
            cfg.max_connections,
        )?;
        Ok(Self {
            name: name.to_string(),
            zone: cfg
                .timezone
                .parse()
                .map_err(|_| anyhow::anyhow!("bad zone"))?,
            cfg: cfg.clone(),
            db,
        })
    }
}

/// What one pass over a source did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Rows read (changed or new) and handed to intake.
    pub rows: u64,
    /// Of them, refused by the mapping (quarantined).
    pub rejected: u64,
    /// Rows re-read unchanged and skipped.
    pub unchanged: u64,
    /// Deleted rows not sent.
    pub deleted: u64,
    /// Lag: now minus the oldest stream's watermark, when its first column is a time.
    pub lag_ms: Option<i64>,
    /// Where the pass spent its time: reading the local database (rows and children), checking
    /// the stored hashes, and mapping and storing (intake).
    pub local_time: Duration,
    pub seen_time: Duration,
    pub store_time: Duration,
}

/// Reads every SQL source on a schedule.
pub struct Poller {
    store: Arc<dyn Store>,
    routes: Arc<Routes>,
    owner: String,
    wake: Arc<Notify>,
}

impl Poller {
    pub fn new(
        store: Arc<dyn Store>,
        routes: Arc<Routes>,
        owner: String,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            routes,
            owner,
            wake,
        }
    }

    /// Polls `source` until `shutdown`: a pass, then `interval_seconds` (at once again while
    /// pages come full), and back-off while it fails.
    pub async fn run(self: Arc<Self>, source: Arc<SqlSource>, shutdown: CancellationToken) {
        let interval = Duration::from_secs(source.cfg.interval_seconds);
        let ttl = Duration::from_secs(source.cfg.interval_seconds.max(10) * 3);
        let mut failures: i64 = 0;
        let mut rows_read: i64 = 0;
        let mut last_ok = None;
        loop {
            // One process per SQLite store: no other instance to share with (the watermark's
            // check still refuses a page stored twice).
            let held = self.store.backend() == "sqlite"
                || self
                    .store
                    .try_acquire_lease(&lease_name(&source.name), &self.owner, ttl, now_ms())
                    .await
                    .unwrap_or(false);
            let wait = if !held {
                interval
            } else {
                match self.pass(&source).await {
                    Ok(pass) => {
                        failures = 0;
                        rows_read += pass.rows as i64;
                        last_ok = Some(now_ms());
                        if pass.rows > 0 {
                            self.wake.notify_waiters();
                        }
                        self.status(
                            &source,
                            "ok",
                            0,
                            None,
                            last_ok,
                            None,
                            pass.lag_ms,
                            rows_read,
                        )
                        .await;
                        interval
                    }
                    Err(e) => {
                        failures += 1;
                        let backoff =
                            crate::source::retry_delay(failures, source.cfg.retry_max_seconds);
                        tracing::warn!(source = %source.name, failures, retry_in_s = backoff.as_secs(), error = %e, "SQL source: pass failed");
                        let next = now_ms() + backoff.as_millis() as i64;
                        self.status(
                            &source,
                            e.state(),
                            failures,
                            Some(e.to_string()),
                            last_ok,
                            Some(next),
                            None,
                            rows_read,
                        )
                        .await;
                        backoff
                    }
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let _ = self
            .store
            .release_lease(&lease_name(&source.name), &self.owner)
            .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn status(
        &self,
        source: &SqlSource,
        state: &str,
        failures: i64,
        last_error: Option<String>,
        last_ok_at: Option<i64>,
        next_try_at: Option<i64>,
        lag_ms: Option<i64>,
        rows_read: i64,
    ) {
        let status = SourceStatus {
            source: source.name.clone(),
            way: "sql".to_string(),
            state: state.to_string(),
            failures,
            last_error,
            last_ok_at,
            next_try_at,
            lag_ms,
            rows_read,
            updated_at: now_ms(),
        };
        if let Err(e) = self.store.set_source_status(&status).await {
            tracing::warn!(source = %source.name, error = %e, "SQL source: could not record its health");
        }
    }

    /// One pass: every stream of `source` read to its end (as far as the lag allows).
    pub async fn pass(&self, source: &SqlSource) -> Result<Pass, PollError> {
        let mut pass = Pass::default();
        let now = source.db.now().await.map_err(PollError::Down)?;
        for (kind, q) in [
            (RecordKind::Dossier, &source.cfg.dossiers),
            (RecordKind::Step, &source.cfg.steps),
        ] {
            let Some(q) = q else { continue };
            let stream = stream_name(kind);
            let mut reader = StreamReader {
                poller: self,
                source,
                kind,
                query: q,
                pages: Arc::new(PageSource {
                    db: source.db.clone(),
                    query: q.clone(),
                    zone: source.zone,
                }),
                now,
            };
            // A stream read from its start reads every record with its children as they are
            // now: its child streams need only start at their tables' last change before that
            // read (changes from then on are read by them), not re-read every child row.
            let first = self
                .store
                .stream_watermark(&source.name, &stream)
                .await?
                .is_none();
            let mut starts = Vec::new();
            for child in &q.children {
                let child_stream = format!("{stream}.{}", child.field);
                if first
                    && self
                        .store
                        .stream_watermark(&source.name, &child_stream)
                        .await?
                        .is_none()
                {
                    if let Some(last) = reader.last_change(child).await? {
                        starts.push((child_stream, last));
                    }
                }
            }
            reader.read_stream(&stream, None, &mut pass).await?;
            for (child_stream, last) in starts {
                let watermark = Some(WatermarkMove {
                    from: None,
                    to: serde_json::to_string(&last).expect("watermark values serialise"),
                });
                let mut from = None;
                reader
                    .store_page(
                        &child_stream,
                        &mut from,
                        watermark,
                        Vec::new(),
                        Vec::new(),
                        &mut pass,
                    )
                    .await?;
            }
            for child in &q.children {
                reader
                    .read_stream(&format!("{stream}.{}", child.field), Some(child), &mut pass)
                    .await?;
            }
        }
        Ok(pass)
    }
}

fn stream_name(kind: RecordKind) -> String {
    match kind {
        RecordKind::Dossier => "dossiers".to_string(),
        RecordKind::Step => "steps".to_string(),
        other => other.as_str().to_string(),
    }
}

/// Reads one stream of one kind: its own rows, or a child table's changes.
struct StreamReader<'a> {
    poller: &'a Poller,
    source: &'a SqlSource,
    kind: RecordKind,
    query: &'a PollQuery,
    pages: Arc<PageSource>,
    now: chrono::DateTime<Utc>,
}

/// A record read, with what identifies it.
struct Read {
    key: String,
    key_values: Vec<SqlValue>,
    record: Value,
    /// The record as JSON text (what is hashed and stored).
    text: String,
    hash: String,
    deleted: bool,
}

impl StreamReader<'_> {
    fn db(&self) -> &LocalDb {
        &self.source.db
    }

    /// Reads `stream` (the kind's own rows, or with `child` that child table's changes) from
    /// its watermark to its end, a page at a time, storing each page.
    async fn read_stream(
        &mut self,
        stream: &str,
        child: Option<&ChildQuery>,
        pass: &mut Pass,
    ) -> Result<(), PollError> {
        let store = &self.poller.store;
        let (table_sql, watermark) = match child {
            None => (self.query.query.as_str(), &self.query.watermark),
            Some(c) => (c.query.as_str(), &c.watermark),
        };
        let mut from = store.stream_watermark(&self.source.name, stream).await?;
        let cursor: Option<Vec<SqlValue>> =
            from.as_deref().and_then(|w| serde_json::from_str(w).ok());
        // The kind of the first watermark column, for the time bounds.
        let sample = match &cursor {
            Some(c) => c.first().cloned(),
            None => {
                let sql = format!(
                    "SELECT {w} FROM ({table_sql}) q ORDER BY {w} LIMIT 1",
                    w = self.db().quote(&watermark[0])
                );
                self.db()
                    .rows(&sql, &[])
                    .await?
                    .first()
                    .and_then(|r| r.value(0).cloned())
            }
        };
        let Some(sample) = sample else {
            return Ok(()); // nothing to read yet
        };
        let zone = self.source.zone;
        let lag = chrono::Duration::seconds(self.source.cfg.lag_seconds as i64);
        let overlap = chrono::Duration::seconds(self.source.cfg.overlap_seconds as i64);
        let upper = sample.same_kind_at(self.now - lag, zone);
        let lower = cursor
            .as_ref()
            .and_then(|c| c.first())
            .map(|w0| match w0.instant(zone) {
                Some(at) => w0
                    .same_kind_at(at - overlap, zone)
                    .unwrap_or_else(|| w0.clone()),
                None => w0.clone(),
            });
        let caught_up;
        let mut after: Option<Vec<SqlValue>> = None;
        let mut limit = self.source.cfg.page_size as usize;
        // The next page is read while this one is mapped and stored: its bounds depend only on
        // the rows read, and whether its rows were seen is asked only once this one is stored.
        let read = |after: Option<&[SqlValue]>, limit: usize| {
            let (sql, binds) = self.pages.page_sql(
                table_sql,
                watermark,
                lower.as_ref(),
                upper.as_ref(),
                after,
                limit,
            );
            self.pages.read_ahead(stream, child, sql, binds, limit)
        };
        let mut next = Some(read(None, limit));
        let mut storing: Option<Storing> = None;
        let mut moved_to = from.clone();
        loop {
            let Some(reading) = next.take() else {
                caught_up = true;
                break;
            };
            let page = reading.page().await?;
            pass.local_time += page.took;
            let Some(last) = page.last else {
                caught_up = true;
                break;
            };
            let full = page.full;
            if full {
                if after.as_ref() == Some(&last) {
                    // A full page of one tie group: read it again larger.
                    limit = limit.saturating_mul(2);
                }
                after = Some(last.clone());
                next = Some(read(after.as_deref(), limit));
            }
            let clock = std::time::Instant::now();
            let own = stream_name(self.kind);
            let keys: Vec<String> = page.reads.iter().map(|r| r.key.clone()).collect();
            let mut seen: HashMap<String, (String, i64)> = store
                .seen_hashes(&self.source.name, &own, &keys)
                .await?
                .into_iter()
                .map(|s| (s.key, (s.hash, s.seen_at)))
                .collect();
            // The page being stored may not be committed yet: its hashes count as seen (now).
            if let Some(s) = &storing {
                for k in &keys {
                    if let Some(h) = s.hashes.get(k) {
                        seen.insert(k.clone(), (h.clone(), i64::MAX));
                    }
                }
            }
            let stale = now_ms().saturating_sub(crate::store::SEEN_REFRESH.as_millis() as i64);
            let mut fresh = Vec::new();
            let mut hashes = Vec::new();
            let mut in_page = BTreeSet::new();
            for r in page.reads {
                let known = seen.get(&r.key).filter(|(h, _)| *h == r.hash);
                if known.is_some() || !in_page.insert((r.key.clone(), r.hash.clone())) {
                    pass.unchanged += 1;
                    if known.is_some_and(|&(_, at)| at < stale) {
                        // Still re-read: its hash must outlive housekeeping.
                        hashes.push(SeenRow {
                            key: r.key.clone(),
                            hash: r.hash.clone(),
                        });
                    }
                    continue;
                }
                hashes.push(SeenRow {
                    key: r.key.clone(),
                    hash: r.hash.clone(),
                });
                if r.deleted {
                    pass.deleted += 1;
                    continue;
                }
                fresh.push(r);
            }
            pass.seen_time += clock.elapsed();
            let clock = std::time::Instant::now();
            // The watermark only moves forward (an overlap re-read ends before it). `moved_to`
            // is where the page being stored moves it, once committed.
            let advance = cursor_before(&moved_to, &last);
            let prepared = if advance || !hashes.is_empty() {
                let watermark = advance.then(|| WatermarkMove {
                    from: moved_to.clone(),
                    to: serde_json::to_string(&last).expect("watermark values serialise"),
                });
                let in_flight: HashMap<String, String> = hashes
                    .iter()
                    .map(|h| (h.key.clone(), h.hash.clone()))
                    .collect();
                // Mapped while the page before it is being stored.
                Some((
                    self.prepare_page(stream, watermark, fresh, hashes)?,
                    in_flight,
                ))
            } else {
                None
            };
            // Pages are stored one at a time, in order: the one before must be committed
            // before this one's watermark can move on from it.
            if let Some(s) = storing.take() {
                if !self.settle(s, &mut from, pass).await? {
                    return Ok(()); // another poller stored it first
                }
            }
            if let Some((page, in_flight)) = prepared {
                if let Some(to) = &page.done.to {
                    moved_to = Some(to.clone());
                }
                let store = Arc::clone(&self.poller.store);
                let prepared = page.prepared;
                storing = Some(Storing {
                    task: tokio::spawn(async move { prepared.store(&*store).await }),
                    done: page.done,
                    hashes: in_flight,
                });
            }
            pass.store_time += clock.elapsed();
            if !full {
                caught_up = true;
                break;
            }
        }
        if let Some(s) = storing.take() {
            let clock = std::time::Instant::now();
            let stored = self.settle(s, &mut from, pass).await?;
            pass.store_time += clock.elapsed();
            if !stored {
                return Ok(());
            }
        }
        let behind = if caught_up {
            self.source.cfg.lag_seconds as i64 * 1000
        } else {
            from.as_deref()
                .and_then(|w| serde_json::from_str::<Vec<SqlValue>>(w).ok())
                .and_then(|w| w.first().and_then(|v| v.instant(zone)))
                .map_or(0, |at| (self.now - at).num_milliseconds().max(0))
        };
        pass.lag_ms = Some(pass.lag_ms.map_or(behind, |l| l.max(behind)));
        Ok(())
    }

    /// The watermark of a child table's last change, if it has rows.
    async fn last_change(&self, child: &ChildQuery) -> Result<Option<Vec<SqlValue>>, PollError> {
        let db = self.db();
        let order: Vec<String> = child
            .watermark
            .iter()
            .map(|c| format!("c.{} DESC", db.quote(c)))
            .collect();
        let sql = format!(
            "SELECT * FROM ({}) c ORDER BY {} LIMIT 1",
            child.query,
            order.join(", ")
        );
        Ok(db
            .rows(&sql, &[])
            .await?
            .first()
            .and_then(|row| watermark_of(row, &child.watermark)))
    }

    /// Stores one page's records with the stream's new watermark; runs the write-back after.
    /// False when another poller moved the watermark first (nothing stored).
    async fn store_page(
        &self,
        stream: &str,
        from: &mut Option<String>,
        watermark: Option<WatermarkMove>,
        fresh: Vec<Read>,
        seen: Vec<SeenRow>,
        pass: &mut Pass,
    ) -> Result<bool, PollError> {
        let page = self.prepare_page(stream, watermark, fresh, seen)?;
        let stored = page.prepared.store(&*self.poller.store).await;
        self.finish_page(from, page.done, stored, pass).await
    }

    /// One page's records mapped for intake, with the stream's new watermark and the rows'
    /// hashes (pure: mapping only).
    fn prepare_page(
        &self,
        stream: &str,
        watermark: Option<WatermarkMove>,
        fresh: Vec<Read>,
        seen: Vec<SeenRow>,
    ) -> Result<PreparedPage, PollError> {
        let name = &self.source.name;
        let route = self.poller.routes.get(name, self.kind).ok_or_else(|| {
            PollError::Config(format!(
                "source {name} has no {} mapping",
                self.kind.as_str()
            ))
        })?;
        let vars: Vars = self.poller.routes.vars(name).cloned().unwrap_or_default();
        let to = watermark.as_ref().map(|w| w.to.clone());
        let own = stream_name(self.kind);
        let mut positions = vec![SourcePosition::Stream(StreamPosition {
            stream: stream.to_string(),
            watermark,
            seen: Vec::new(),
        })];
        if own == stream {
            if let Some(SourcePosition::Stream(p)) = positions.first_mut() {
                p.seen = seen;
            }
        } else {
            // A child stream's page stores its parents' hashes under the parents' stream,
            // whose watermark it does not move.
            positions.push(SourcePosition::Stream(StreamPosition {
                stream: own.clone(),
                watermark: None,
                seen,
            }));
        }
        let mut key_values = Vec::with_capacity(fresh.len());
        let mut records = Vec::with_capacity(fresh.len());
        let mut texts = Vec::with_capacity(fresh.len());
        for r in fresh {
            key_values.push(r.key_values);
            records.push(r.record);
            texts.push(r.text);
        }
        let rows = records.len() as u64;
        let along = Along {
            positions,
            origin: Some(format!("sql {stream}")),
            texts,
            ..Along::default()
        };
        Ok(PreparedPage {
            prepared: intake::prepare(route, name, &vars, self.kind, records, along),
            done: PageDone {
                to,
                key_values,
                rows,
            },
        })
    }

    /// Waits for a page being stored and finishes it ([`Self::finish_page`]).
    async fn settle(
        &self,
        storing: Storing,
        from: &mut Option<String>,
        pass: &mut Pass,
    ) -> Result<bool, PollError> {
        let mut task = storing.task;
        let stored = match (&mut task).await {
            Ok(stored) => stored,
            Err(e) => return Err(PollError::Config(format!("a page's store stopped: {e}"))),
        };
        self.finish_page(from, storing.done, stored, pass).await
    }

    /// After a page's store: the watermark it moved to, the pass's counts, and the write-back
    /// of each stored row (only now, after the commit). False when another poller moved the
    /// watermark first (nothing stored).
    async fn finish_page(
        &self,
        from: &mut Option<String>,
        done: PageDone,
        stored: Result<intake::Stored, StoreError>,
        pass: &mut Pass,
    ) -> Result<bool, PollError> {
        match stored {
            Ok(stored) => {
                if let Some(to) = done.to {
                    *from = Some(to);
                }
                pass.rows += done.rows;
                pass.rejected += stored.rejected as u64;
                if let Some(sql) = &self.query.write_back {
                    let rejected: BTreeSet<usize> = stored.rejected_indexes.into_iter().collect();
                    for (i, binds) in done.key_values.iter().enumerate() {
                        if rejected.contains(&i) {
                            continue;
                        }
                        if let Err(e) = self.db().execute(sql, binds).await {
                            tracing::warn!(source = %self.source.name, error = %e, "SQL source: write-back failed (the record is stored)");
                        }
                    }
                }
                Ok(true)
            }
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// What reads a stream's pages: owned, so the next page is read on its own task while the
/// page before it is mapped and stored.
struct PageSource {
    db: LocalDb,
    query: PollQuery,
    zone: Tz,
}

/// A page read from the local database.
struct Page {
    reads: Vec<Read>,
    /// The watermark of the page's last row (none when the page is empty).
    last: Option<Vec<SqlValue>>,
    /// It came with as many rows as asked for.
    full: bool,
    took: Duration,
}

/// A page mapped and ready to store, and what to do once it is stored.
struct PreparedPage {
    prepared: intake::Prepared,
    done: PageDone,
}

/// What a page's store leaves to do: its watermark, its rows' keys for the write-back.
struct PageDone {
    to: Option<String>,
    key_values: Vec<Vec<SqlValue>>,
    rows: u64,
}

/// A page being stored on its own task while the next one is read, checked and mapped.
struct Storing {
    task: tokio::task::JoinHandle<Result<intake::Stored, StoreError>>,
    done: PageDone,
    /// The hashes it stores, by key: the next page's check must see them, committed or not.
    hashes: HashMap<String, String>,
}

/// A page being read on its own task; dropped unread (another poller stored first, an error),
/// the read is stopped.
struct ReadAhead(tokio::task::JoinHandle<Result<Page, PollError>>);

impl ReadAhead {
    async fn page(mut self) -> Result<Page, PollError> {
        match (&mut self.0).await {
            Ok(page) => page,
            Err(e) => Err(PollError::Config(format!("page read stopped: {e}"))),
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PageSource {
    fn db(&self) -> &LocalDb {
        &self.db
    }

    /// Reads the page `sql` selects: the records of this kind (with `child`, the parents of
    /// the child rows it selects), each with its children.
    fn read_ahead(
        self: &Arc<Self>,
        stream: &str,
        child: Option<&ChildQuery>,
        sql: String,
        binds: Vec<SqlValue>,
        limit: usize,
    ) -> ReadAhead {
        let this = Arc::clone(self);
        let stream = stream.to_string();
        let child = child.cloned();
        ReadAhead(tokio::spawn(async move {
            let clock = std::time::Instant::now();
            let rows = this.db().rows(&sql, &binds).await?;
            let watermark = match &child {
                None => &this.query.watermark,
                Some(c) => &c.watermark,
            };
            let full = rows.len() == limit;
            let last = match rows.last() {
                None => None,
                Some(row) => Some(watermark_of(row, watermark).ok_or_else(|| {
                    PollError::Config(format!(
                        "{stream}: the query gives no watermark column {watermark:?}"
                    ))
                })?),
            };
            let reads = match &child {
                None => this.records(rows).await?,
                Some(c) => {
                    let mut parents: BTreeMap<String, SqlValue> = BTreeMap::new();
                    for r in &rows {
                        if let Some(v) = column(r, &c.parent_key) {
                            parents.insert(v.key_text(), v.clone());
                        }
                    }
                    this.parents(parents.into_values().collect()).await?
                }
            };
            Ok(Page {
                reads,
                last,
                full,
                took: clock.elapsed(),
            })
        }))
    }

    /// `SELECT * FROM (<query>) q WHERE <bounds> ORDER BY <watermark> LIMIT n`.
    fn page_sql(
        &self,
        table_sql: &str,
        watermark: &[String],
        lower: Option<&SqlValue>,
        upper: Option<&SqlValue>,
        after: Option<&[SqlValue]>,
        limit: usize,
    ) -> (String, Vec<SqlValue>) {
        let db = self.db();
        let cols: Vec<String> = watermark
            .iter()
            .map(|c| format!("q.{}", db.quote(c)))
            .collect();
        let mut binds = Vec::new();
        let mut conds = Vec::new();
        let param = |v: &SqlValue, binds: &mut Vec<SqlValue>| {
            binds.push(v.clone());
            db.param(binds.len())
        };
        if let Some(l) = lower {
            conds.push(format!("{} >= {}", cols[0], param(l, &mut binds)));
        }
        if let Some(u) = upper {
            conds.push(format!("{} <= {}", cols[0], param(u, &mut binds)));
        }
        if let Some(after) = after {
            // (c1, c2, …) >= (v1, v2, …), spelt out so every database uses an index on c1.
            conds.push(format!("{} >= {}", cols[0], param(&after[0], &mut binds)));
            // Parameters in the order they are written (MySQL's `?` are positional).
            let mut expr = String::new();
            let mut close = String::new();
            for i in 0..cols.len() {
                if i == cols.len() - 1 {
                    expr.push_str(&format!("{} >= {}", cols[i], param(&after[i], &mut binds)));
                } else {
                    let p = param(&after[i], &mut binds);
                    let p2 = param(&after[i], &mut binds);
                    expr.push_str(&format!("({} > {p} OR ({} = {p2} AND ", cols[i], cols[i]));
                    close.push_str("))");
                }
            }
            conds.push(expr + &close);
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        (
            format!(
                "SELECT * FROM ({table_sql}) q{filter} ORDER BY {} LIMIT {limit}",
                cols.join(", ")
            ),
            binds,
        )
    }

    /// The records of `rows` of this kind, each with its children.
    async fn records(&self, rows: Vec<LocalRow>) -> Result<Vec<Read>, PollError> {
        let keys: Vec<SqlValue> = rows
            .iter()
            .map(|r| {
                column(r, &self.query.key[0])
                    .cloned()
                    .unwrap_or(SqlValue::Null)
            })
            .collect();
        let children = self.children_of(&keys).await?;
        Ok(rows.into_iter().map(|r| self.read(r, &children)).collect())
    }

    /// Re-reads the records whose key is in `keys` (their children changed).
    async fn parents(&self, keys: Vec<SqlValue>) -> Result<Vec<Read>, PollError> {
        let mut out = Vec::new();
        let db = self.db();
        let key_col = format!("q.{}", db.quote(&self.query.key[0]));
        for part in keys.chunks(500) {
            let params: Vec<String> = (1..=part.len()).map(|i| db.param(i)).collect();
            let sql = format!(
                "SELECT * FROM ({}) q WHERE {key_col} IN ({})",
                self.query.query,
                params.join(", ")
            );
            let rows = db.rows(&sql, part).await?;
            out.extend(self.records(rows).await?);
        }
        Ok(out)
    }

    /// Each child table's rows of `keys`, by field then parent key.
    async fn children_of(
        &self,
        keys: &[SqlValue],
    ) -> Result<BTreeMap<String, HashMap<String, Vec<Value>>>, PollError> {
        let mut out = BTreeMap::new();
        let db = self.db();
        for c in &self.query.children {
            let mut by_parent: HashMap<String, Vec<Value>> = HashMap::new();
            let order: Vec<String> = if c.order_by.is_empty() {
                &c.watermark
            } else {
                &c.order_by
            }
            .iter()
            .map(|o| format!("c.{}", db.quote(o)))
            .collect();
            for part in keys.chunks(500) {
                if part.is_empty() {
                    continue;
                }
                let params: Vec<String> = (1..=part.len()).map(|i| db.param(i)).collect();
                let sql = format!(
                    "SELECT * FROM ({}) c WHERE c.{} IN ({}) ORDER BY {}",
                    c.query,
                    db.quote(&c.parent_key),
                    params.join(", "),
                    order.join(", ")
                );
                for row in db.rows(&sql, part).await? {
                    let parent = column(&row, &c.parent_key)
                        .map(SqlValue::key_text)
                        .unwrap_or_default();
                    by_parent.entry(parent).or_default().push(self.object(row));
                }
            }
            out.insert(c.field.clone(), by_parent);
        }
        Ok(out)
    }

    /// The row as the JSON object a mapping reads (its values moved, not copied).
    fn object(&self, row: LocalRow) -> Value {
        let mut m = Map::with_capacity(row.len());
        for (name, v) in row.into_iter_owned() {
            m.insert(name, v.into_json(self.zone));
        }
        Value::Object(m)
    }

    /// The row's key text and values.
    fn key_of(&self, row: &LocalRow) -> (String, Vec<SqlValue>) {
        let values: Vec<SqlValue> = self
            .query
            .key
            .iter()
            .map(|k| column(row, k).cloned().unwrap_or(SqlValue::Null))
            .collect();
        let text = values
            .iter()
            .map(SqlValue::key_text)
            .collect::<Vec<_>>()
            .join("/");
        (text, values)
    }

    fn read(
        &self,
        row: LocalRow,
        children: &BTreeMap<String, HashMap<String, Vec<Value>>>,
    ) -> Read {
        let (key, key_values) = self.key_of(&row);
        let deleted_row = self.query.deleted.as_ref().filter(|d| {
            column(&row, &d.column).map(SqlValue::key_text).as_deref() == Some(d.equals.as_str())
        });
        let mut record = self.object(row);
        if let Value::Object(m) = &mut record {
            for c in &self.query.ignore {
                m.remove(c);
            }
        }
        for (field, by_parent) in children {
            record[field.as_str()] = Value::Array(by_parent.get(&key).cloned().unwrap_or_default());
        }
        let mut deleted = false;
        if let Some(d) = deleted_row {
            if d.set.is_empty() {
                deleted = true;
            } else {
                for (k, v) in &d.set {
                    record[k.as_str()] = Value::String(v.clone());
                }
            }
        }
        // The text hashed is the text stored: written once (straight into bytes, not through
        // `Display`).
        let text = serde_json::to_string(&record).expect("JSON values serialise");
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        Read {
            key,
            key_values,
            record,
            text,
            hash,
            deleted,
        }
    }
}

fn column<'r>(row: &'r LocalRow, name: &str) -> Option<&'r SqlValue> {
    row.get(name)
}

fn watermark_of(row: &LocalRow, watermark: &[String]) -> Option<Vec<SqlValue>> {
    watermark.iter().map(|c| column(row, c).cloned()).collect()
}

/// Whether `last` is past the stored watermark (a watermark never moves back: an overlap
/// re-read ends before it).
fn cursor_before(from: &Option<String>, last: &[SqlValue]) -> bool {
    let Some(from) = from else { return true };
    let Ok(stored) = serde_json::from_str::<Vec<SqlValue>>(from) else {
        return true;
    };
    compare(&stored, last) == std::cmp::Ordering::Less
}

fn compare(a: &[SqlValue], b: &[SqlValue]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (SqlValue::Int(x), SqlValue::Int(y)) => x.cmp(y),
            (SqlValue::Float(x), SqlValue::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
            (SqlValue::Local(x), SqlValue::Local(y)) => x.cmp(y),
            (SqlValue::Utc(x), SqlValue::Utc(y)) => x.cmp(y),
            (SqlValue::Date(x), SqlValue::Date(y)) => x.cmp(y),
            (x, y) => x.key_text().cmp(&y.key_text()),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_never_moves_back() {
        let stored =
            serde_json::to_string(&vec![SqlValue::Int(10), SqlValue::Text("b".into())]).unwrap();
        assert!(!cursor_before(
            &Some(stored.clone()),
            &[SqlValue::Int(9), SqlValue::Text("z".into())]
        ));
        assert!(!cursor_before(
            &Some(stored.clone()),
            &[SqlValue::Int(10), SqlValue::Text("b".into())]
        ));
        assert!(cursor_before(
            &Some(stored),
            &[SqlValue::Int(10), SqlValue::Text("c".into())]
        ));
        assert!(cursor_before(&None, &[SqlValue::Int(1)]));
    }
}
