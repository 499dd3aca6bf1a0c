//! File drop: a watched inbox where a local system leaves `*.json`, `*.xml` and `*.csv` exports.
//! Each complete file is read whole, its records handed to [`crate::source::intake`] in one
//! call (so one transaction) together with the file's ledger row, and the file then moved to
//! `done/`; a file that cannot be read goes to `rejected/` next to `<name>.error.txt` saying why.
//!
//! # Configuration (`[sources.files]`, see [`config::FilesConfig`])
//!
//! ```toml
//! [sources.files]
//! folder = "/srv/lienthong/inbox/tinh"  # the inbox (relative: to the config file's folder)
//! dossiers = "dossiers"                 # dossier files go here (default); "." = the inbox
//! steps = "steps"                       # step files go here (default)
//! encoding = "utf-8"                    # or "utf-16", "windows-1258"; a byte-order mark wins
//! stable_seconds = 5                    # unchanged this long = complete (or a <name>.done marker)
//! scan_seconds = 10                     # scan interval; file events only wake it earlier
//! max_file_bytes = 52428800             # larger files are rejected unread
//! max_records = 10000                   # per file; more: rejected
//! done_folder = "done"                  # relative to the inbox
//! rejected_folder = "rejected"          # relative to the inbox
//! csv_delimiter = ","                   # or ";"
//! retry_max_seconds = 300               # back-off cap while the folder cannot be read
//! ```
//!
//! The record kind is the subfolder a file is in; the format is its extension (any case).
//! XML files need the source's XML record element of their kind (`xml_record_elements`, else
//! `xml_record_element`). A file's name in the ledger, in messages
//! and in the quarantine's origin (`file dossiers/x.json`) is its path inside the inbox;
//! `done/` and `rejected/` keep that path (`done/dossiers/x.json`), adding `-1`, `-2`, … before
//! the extension when the name is taken there.
//!
//! # Which files are taken
//!
//! A periodic scan is what counts; file-system events (`notify`) only wake it early (network
//! shares send none, and event queues overflow). Names ending `.part` or `.tmp`, hidden names,
//! `*.error.txt`, markers and anything not `.json`/`.xml`/`.csv` are left alone. A file is taken
//! when its size and modification time have stayed the same across scans for `stable_seconds`,
//! or at once when its marker `<name>.done` exists (removed once the file has moved; a marker
//! left without its file, after a crash, is removed when seen so for `stable_seconds`). A writer
//! that keeps writing after that breaks the protocol: write to `.part` and rename, or write the
//! marker last.
//!
//! # Order of the steps, and what a crash at each point leaves
//!
//! The ledger (`source_files`) names a file by source, name, size, modification time and
//! SHA-256, and is written in the transaction that stores the file's records.
//! 1. Read the file, hash it, and look it up in the ledger. Found: it was taken before the
//!    crash, and is only moved on (to `done/`, or to `rejected/` with its `.error.txt` written
//!    again from the ledger's reason), never read twice.
//! 2. Readable: its records, quarantined ones and the ledger row (`done`) commit together; then
//!    the file is renamed into `done/`, then its marker removed. A crash before the commit
//!    leaves nothing stored: the file is read again. A crash after it leaves the file in the
//!    inbox with its ledger row: step 1 moves it.
//! 3. Unreadable: the ledger row (`rejected`, with the reason) commits first; then
//!    `rejected/<name>.error.txt` is written (and synced), then the file renamed next to it,
//!    then its marker removed. A crash between any two leaves the file in the inbox with its
//!    ledger row: step 1 writes the `.error.txt` again (over a half-written one) and moves it.
//!
//! Files are only ever renamed out of the inbox after their ledger row is committed, so a file
//! in `done/` always has one. A file in the inbox without a ledger row is read, whatever
//! `done/` holds: when `done/` already has a file of that name (an earlier file, or a copy
//! left there by hand), this one is read once and lands beside it under a suffixed name. A
//! `done_folder` on another file system is filled by copy (synced, then renamed into place)
//! and delete; a crash between the two leaves the file in both places, and the next scan moves
//! the inbox's copy on by its ledger row (a second copy in `done/`, not a second reading).
//!
//! Instances sharing a PostgreSQL store read a folder one at a time: the scan runs under the
//! lease `source:<name>:files`, renewed between files. A folder that is missing or cannot be
//! listed makes the source `down` (retried with back-off, up to `retry_max_seconds`); other
//! sources go on. Health (`lienthong sources`) has the files taken as `rows_read` and the age of
//! the oldest file waiting in the inbox as `lag_ms`; `lienthong_source_files_total{source,
//! outcome}` counts files read (`done`) and set aside (`rejected`).

pub mod config;
pub mod decode;

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::formats::csv::CsvLimits;
use crate::formats::xml::XmlLimits;
use crate::source::config::SourceConfig;
use crate::source::intake::{self, Along};
use crate::source::routes::Routes;
use crate::store::{
    now_ms, RecordKind, SourcePosition, SourceStatus, Store, StoreError, TakenFile,
};
use config::{subfolder, FilesConfig};

/// The lease a drop folder's reader holds, so instances sharing a store never read it twice.
fn lease_name(source: &str) -> String {
    format!("source:{source}:files")
}

/// After a file-system event, scans start at most this often (a file being copied sends many).
const EVENT_GAP: Duration = Duration::from_secs(1);

/// Why a scan stopped, or a file was left where it is.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The inbox (or a kind's subfolder) is missing or cannot be listed.
    #[error("folder {path}: {source}")]
    Folder { path: String, source: io::Error },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A file taken could not be moved on (it stays in the inbox with its ledger row).
    #[error("{file}: cannot move it to {to}: {source}")]
    Move {
        file: String,
        to: String,
        source: io::Error,
    },
    /// A file could not be opened or read: it is left in the inbox.
    #[error("{file}: cannot read it: {source}")]
    Read { file: String, source: io::Error },
    #[error("{0}")]
    Config(String),
}

impl FilesError {
    fn state(&self) -> &'static str {
        match self {
            FilesError::Folder { .. } => "down",
            _ => "failing",
        }
    }
}

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Files read and moved to `done/`.
    pub done: u64,
    /// Files set aside in `rejected/` as unreadable.
    pub rejected: u64,
    /// Files found in the ledger (taken before a crash) and only moved on.
    pub finished: u64,
    /// Records read from the files moved to `done/`, and of them those refused by their
    /// mapping (quarantined).
    pub records: u64,
    pub quarantined: u64,
    /// Files left in the inbox: not complete yet, or not readable now (`errors`).
    pub waiting: u64,
    /// Now minus the modification time of the oldest file left in the inbox.
    pub lag_ms: Option<i64>,
    /// When the first file left waiting becomes complete, if it stays unchanged.
    pub next_due_ms: Option<i64>,
    /// Files that could not be read or moved on now, each in words; they are tried again.
    pub errors: Vec<String>,
}

impl Scan {
    /// Files taken out of the inbox.
    pub fn taken(&self) -> u64 {
        self.done + self.rejected + self.finished
    }
}

/// Where a drop folder's files are and how they are read.
#[derive(Debug)]
struct Layout {
    inbox: PathBuf,
    done: PathBuf,
    rejected: PathBuf,
    /// Each kind and its subfolder (`None`: the inbox itself); dossiers first.
    kinds: Vec<(RecordKind, Option<String>)>,
    cfg: FilesConfig,
    /// The XML record element of each kind (`xml_record_elements`, else `xml_record_element`).
    xml_record_elements: Vec<(RecordKind, String)>,
}

/// The extension that decides how a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
    Csv,
}

/// A file in a kind's folder, as listed.
#[derive(Debug, Clone)]
struct Listed {
    kind: RecordKind,
    sub: Option<String>,
    file_name: String,
    format: Format,
    path: PathBuf,
    size: u64,
    modified_ms: i64,
    /// Its `<name>.done` marker, if there is one.
    marker: Option<PathBuf>,
}

impl Listed {
    /// Its name in the ledger: its path inside the inbox.
    fn name(&self) -> String {
        join_name(self.sub.as_deref(), &self.file_name)
    }
}

fn join_name(sub: Option<&str>, file_name: &str) -> String {
    match sub {
        Some(s) => format!("{s}/{file_name}"),
        None => file_name.to_string(),
    }
}

/// One listing of every kind's folder.
#[derive(Debug, Default)]
struct Listing {
    files: Vec<Listed>,
    /// Markers whose file is not there, by name in the inbox.
    orphan_markers: Vec<(String, PathBuf)>,
}

/// A file (or orphan marker) as last seen, and since when it has been so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    modified_ms: i64,
    since_ms: i64,
}

/// A file's bytes as read once, with what names it in the ledger.
struct FileRead {
    /// `None` when larger than `max_file_bytes` (it was hashed, not kept).
    bytes: Option<Vec<u8>>,
    size: u64,
    modified_ms: i64,
    sha256: String,
}

/// What became of one file.
enum Taken {
    Done {
        records: u64,
        quarantined: u64,
    },
    Rejected,
    Finished,
    /// It was no longer there when read.
    Gone,
}

/// One source's drop folder.
pub struct DropFolder {
    pub source: String,
    layout: Arc<Layout>,
    store: Arc<dyn Store>,
    routes: Arc<Routes>,
    owner: String,
    wake: Arc<Notify>,
    seen: Mutex<HashMap<String, Seen>>,
}

impl DropFolder {
    /// The drop folder of `source` (which has `[sources.files]`); relative paths against
    /// `base_dir`. Nothing is touched on disk until the first scan.
    pub fn new(
        source: &SourceConfig,
        base_dir: &Path,
        store: Arc<dyn Store>,
        routes: Arc<Routes>,
        owner: String,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let cfg = source
            .files
            .clone()
            .ok_or_else(|| anyhow::anyhow!("source {} has no [sources.files]", source.name))?;
        let problems = cfg.check(&format!("sources.{}.files", source.name));
        if !problems.is_empty() {
            anyhow::bail!(problems.join("\n"));
        }
        let inbox = crate::settings::resolve_path(base_dir, &cfg.folder);
        let layout = Layout {
            done: crate::settings::resolve_path(&inbox, &cfg.done_folder),
            rejected: crate::settings::resolve_path(&inbox, &cfg.rejected_folder),
            kinds: vec![
                (
                    RecordKind::Dossier,
                    subfolder(&cfg.dossiers).map(str::to_string),
                ),
                (RecordKind::Step, subfolder(&cfg.steps).map(str::to_string)),
            ],
            inbox,
            xml_record_elements: crate::source::RECORD_KINDS
                .iter()
                .filter_map(|(name, kind)| {
                    let element = source.xml_record_elements.get(*name);
                    Some((
                        *kind,
                        element.or(source.xml_record_element.as_ref())?.clone(),
                    ))
                })
                .collect(),
            cfg,
        };
        Ok(Self {
            source: source.name.clone(),
            layout: Arc::new(layout),
            store,
            routes,
            owner,
            wake,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// The inbox as resolved.
    pub fn inbox(&self) -> &Path {
        &self.layout.inbox
    }

    fn lease_ttl(&self) -> Duration {
        Duration::from_secs((self.layout.cfg.scan_seconds * 3).max(60))
    }

    /// Reads the folder until `shutdown`: a scan under the lease every `scan_seconds` (earlier
    /// when a file becomes complete or an event comes), and back-off while it fails.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let interval = Duration::from_secs(self.layout.cfg.scan_seconds);
        let lease = lease_name(&self.source);
        let events = Arc::new(Notify::new());
        let mut watcher = None;
        let mut failures: i64 = 0;
        let mut files_read: i64 = 0;
        let mut last_ok = None;
        loop {
            let started = tokio::time::Instant::now();
            let held = self
                .store
                .try_acquire_lease(&lease, &self.owner, self.lease_ttl(), now_ms())
                .await
                .unwrap_or(false);
            let wait = if !held {
                watcher = None;
                interval
            } else {
                match self.scan(now_ms(), true).await {
                    Ok(scan) => {
                        if watcher.is_none() {
                            watcher = self.watch(events.clone());
                        }
                        files_read += scan.taken() as i64;
                        let last_error = scan.errors.first().cloned();
                        failures = if last_error.is_some() {
                            failures + 1
                        } else {
                            0
                        };
                        last_ok = Some(now_ms());
                        let state = if last_error.is_some() {
                            "failing"
                        } else {
                            "ok"
                        };
                        if let Some(e) = &last_error {
                            tracing::warn!(source = %self.source, error = %e, "file drop: a file is left in the inbox");
                        }
                        self.status(
                            state,
                            failures,
                            last_error,
                            last_ok,
                            None,
                            scan.lag_ms,
                            files_read,
                        )
                        .await;
                        let now = now_ms();
                        scan.next_due_ms
                            .map(|due| Duration::from_millis((due - now).max(100) as u64))
                            .map_or(interval, |d| d.min(interval))
                    }
                    Err(e) => {
                        watcher = None;
                        failures += 1;
                        let backoff =
                            crate::source::retry_delay(failures, self.layout.cfg.retry_max_seconds);
                        tracing::warn!(source = %self.source, failures, retry_in_s = backoff.as_secs(), error = %e, "file drop: scan failed");
                        let next = now_ms() + backoff.as_millis() as i64;
                        self.status(
                            e.state(),
                            failures,
                            Some(e.to_string()),
                            last_ok,
                            Some(next),
                            None,
                            files_read,
                        )
                        .await;
                        backoff
                    }
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = events.notified(), if watcher.is_some() => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep_until(started + EVENT_GAP) => {}
                    }
                }
            }
        }
        let _ = self.store.release_lease(&lease, &self.owner).await;
    }

    /// File-system events on the kind folders wake the scan; `None` when they cannot be
    /// watched (the scan alone then finds the files).
    fn watch(&self, events: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher;
        let mut watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            // An error (a queue overflow) wakes the scan too: it is what finds the files.
            events.notify_one();
        })
        .map_err(|e| tracing::debug!(source = %self.source, error = %e, "file drop: no file events, scans only"))
        .ok()?;
        for (_, sub) in &self.layout.kinds {
            let dir = kind_dir(&self.layout.inbox, sub.as_deref());
            if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
                tracing::debug!(source = %self.source, folder = %dir.display(), error = %e, "file drop: no file events, scans only");
                return None;
            }
        }
        Some(watcher)
    }

    #[allow(clippy::too_many_arguments)]
    async fn status(
        &self,
        state: &str,
        failures: i64,
        last_error: Option<String>,
        last_ok_at: Option<i64>,
        next_try_at: Option<i64>,
        lag_ms: Option<i64>,
        files_read: i64,
    ) {
        let status = SourceStatus {
            source: self.source.clone(),
            way: "files".to_string(),
            state: state.to_string(),
            failures,
            last_error,
            last_ok_at,
            next_try_at,
            lag_ms,
            rows_read: files_read,
            updated_at: now_ms(),
        };
        if let Err(e) = self.store.set_source_status(&status).await {
            tracing::warn!(source = %self.source, error = %e, "file drop: could not record its health");
        }
    }

    /// One scan at time `now_ms` (which decides how long files have been unchanged), without
    /// the lease: every complete file taken, in order (dossiers first, then by time). Tests and
    /// benchmarks drive the folder with this.
    pub async fn scan_once(&self, now_ms: i64) -> Result<Scan, FilesError> {
        self.scan(now_ms, false).await
    }

    async fn scan(&self, now: i64, leased: bool) -> Result<Scan, FilesError> {
        let layout = self.layout.clone();
        let listing =
            blocking(move || list(&layout))
                .await
                .map_err(|source| FilesError::Folder {
                    path: self.layout.inbox.display().to_string(),
                    source,
                })??;
        let (due, orphans, next_due_ms) = self.decide(&listing, now);
        for (name, marker) in orphans {
            // Left by a crash between the file's move and the marker's removal.
            if std::fs::remove_file(&marker).is_ok() {
                tracing::info!(source = %self.source, marker = %name, "file drop: removed a marker whose file is gone");
            }
        }
        let mut scan = Scan {
            next_due_ms,
            ..Scan::default()
        };
        let mut taken = BTreeSet::new();
        for file in &due {
            if leased
                && !self
                    .store
                    .try_acquire_lease(
                        &lease_name(&self.source),
                        &self.owner,
                        self.lease_ttl(),
                        now_ms(),
                    )
                    .await
                    .unwrap_or(false)
            {
                break; // another instance has the folder now
            }
            let name = file.name();
            match self.take(file).await {
                Ok(t) => {
                    match t {
                        Taken::Done {
                            records,
                            quarantined,
                        } => {
                            scan.done += 1;
                            scan.records += records;
                            scan.quarantined += quarantined;
                        }
                        Taken::Rejected => scan.rejected += 1,
                        Taken::Finished => scan.finished += 1,
                        Taken::Gone => {}
                    }
                    taken.insert(name.clone());
                    self.forget(&name);
                }
                Err(e @ (FilesError::Read { .. } | FilesError::Move { .. })) => {
                    scan.errors.push(e.to_string())
                }
                Err(e) => return Err(e),
            }
        }
        let left: Vec<&Listed> = listing
            .files
            .iter()
            .filter(|f| !taken.contains(&f.name()))
            .collect();
        scan.waiting = left.len() as u64;
        scan.lag_ms = Some(
            left.iter()
                .map(|f| (now - f.modified_ms).max(0))
                .max()
                .unwrap_or(0),
        );
        Ok(scan)
    }

    /// Which listed files are complete now, which orphan markers may go, and when the next
    /// waiting file would be complete; remembers what it saw.
    fn decide(
        &self,
        listing: &Listing,
        now: i64,
    ) -> (Vec<Listed>, Vec<(String, PathBuf)>, Option<i64>) {
        let stable_ms = self.layout.cfg.stable_seconds as i64 * 1000;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut kept = HashMap::with_capacity(seen.len());
        let mut due = Vec::new();
        let mut next_due: Option<i64> = None;
        let mut observe = |key: String, size: u64, modified_ms: i64| -> (bool, i64) {
            let since = match seen.get(&key) {
                Some(s) if s.size == size && s.modified_ms == modified_ms => s.since_ms,
                _ => now,
            };
            kept.insert(
                key,
                Seen {
                    size,
                    modified_ms,
                    since_ms: since,
                },
            );
            (now - since >= stable_ms, since + stable_ms)
        };
        for f in &listing.files {
            let (stable, at) = observe(f.name(), f.size, f.modified_ms);
            if stable || f.marker.is_some() {
                due.push(f.clone());
            } else {
                next_due = Some(next_due.map_or(at, |n| n.min(at)));
            }
        }
        let mut orphans = Vec::new();
        for (name, path) in &listing.orphan_markers {
            let key = format!("{name}.done");
            // Seen in an earlier scan too, and orphaned for `stable_seconds`: a marker written
            // just after its file could be listed without it.
            let before = seen.contains_key(&key);
            let (stable, _) = observe(key, 0, 0);
            if before && stable {
                orphans.push((name.clone(), path.clone()));
            }
        }
        *seen = kept;
        // Dossiers before steps (a step waits for its dossier otherwise), then oldest first.
        due.sort_by(|a, b| {
            (a.kind != RecordKind::Dossier, a.modified_ms, &a.file_name).cmp(&(
                b.kind != RecordKind::Dossier,
                b.modified_ms,
                &b.file_name,
            ))
        });
        (due, orphans, next_due)
    }

    fn forget(&self, name: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Takes one complete file: see the module docs for the order of the steps.
    async fn take(&self, file: &Listed) -> Result<Taken, FilesError> {
        let name = file.name();
        let (path, max) = (file.path.clone(), self.layout.cfg.max_file_bytes);
        let read = match blocking(move || read_file(&path, max))
            .await
            .and_then(|r| r)
        {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Taken::Gone),
            Err(source) => return Err(FilesError::Read { file: name, source }),
        };
        let size = i64::try_from(read.size).unwrap_or(i64::MAX);
        if let Some(entry) = self
            .store
            .taken_file(&self.source, &name, size, read.modified_ms, &read.sha256)
            .await?
        {
            self.move_on(file, &entry).await?;
            tracing::info!(source = %self.source, file = %name, outcome = %entry.outcome, "file drop: moved on a file taken before a restart");
            return Ok(Taken::Finished);
        }
        let (layout, kind, format) = (self.layout.clone(), file.kind, file.format);
        let FileRead {
            bytes,
            size: bytes_len,
            modified_ms,
            sha256,
        } = read;
        let parsed = blocking(move || match bytes {
            None => Err(format!(
                "the file is {bytes_len} bytes, more than max_file_bytes ({})",
                layout.cfg.max_file_bytes
            )),
            Some(bytes) => read_records(&layout, kind, format, &bytes),
        })
        .await
        .map_err(|source| FilesError::Read {
            file: name.clone(),
            source,
        })?;
        let route = self.routes.get(&self.source, kind).ok_or_else(|| {
            FilesError::Config(format!(
                "source {} has no {} mapping",
                self.source,
                kind.as_str()
            ))
        })?;
        let vars = self.routes.vars(&self.source).cloned().unwrap_or_default();
        let (records, outcome, error) = match parsed {
            Ok(records) => (records, "done", None),
            // The reason may quote the file's content: kept (in the ledger, the API, the
            // dashboard and `.error.txt`) masked, like every text from outside.
            Err(reason) => (
                Vec::new(),
                "rejected",
                Some(crate::mapping::mask_text(&reason)),
            ),
        };
        let entry = TakenFile {
            source: self.source.clone(),
            name: name.clone(),
            size,
            modified_ms,
            sha256,
            outcome: outcome.to_string(),
            records: records.len() as i64,
            // Intake counts the records its mappings refuse.
            rejected: 0,
            error,
            taken_at: now_ms(),
        };
        let n = records.len() as u64;
        let along = Along {
            positions: vec![SourcePosition::File(entry.clone())],
            origin: Some(format!("file {name}")),
            ..Along::default()
        };
        let stored = match intake::accept_along(
            &*self.store,
            route,
            &self.source,
            &vars,
            kind,
            records,
            along,
        )
        .await
        {
            Ok(stored) => stored,
            Err(StoreError::KeyTaken) => {
                // Its ledger row is there: another reader took it meanwhile.
                return match self
                    .store
                    .taken_file(&self.source, &name, size, modified_ms, &entry.sha256)
                    .await?
                {
                    Some(entry) => {
                        self.move_on(file, &entry).await?;
                        Ok(Taken::Finished)
                    }
                    None => Err(StoreError::KeyTaken.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        if stored.accepted > 0 {
            self.wake.notify_waiters();
        }
        let to = self.move_on(file, &entry).await?;
        if let Some(reason) = &entry.error {
            tracing::warn!(source = %self.source, file = %name, to = %to.display(), reason = %reason, "file drop: file not readable, set aside");
            return Ok(Taken::Rejected);
        }
        tracing::info!(
            source = %self.source,
            file = %name,
            records = n,
            quarantined = stored.rejected,
            "file drop: file read"
        );
        Ok(Taken::Done {
            records: n,
            quarantined: stored.rejected as u64,
        })
    }

    /// Moves a file whose ledger row is committed to where its outcome says (writing its
    /// `.error.txt` first when rejected), then removes its marker. Returns where it went.
    async fn move_on(&self, file: &Listed, entry: &TakenFile) -> Result<PathBuf, FilesError> {
        let rejected = entry.outcome == "rejected";
        let base = if rejected {
            &self.layout.rejected
        } else {
            &self.layout.done
        };
        let dir = kind_dir(base, file.sub.as_deref());
        let (src, marker, file_name) = (
            file.path.clone(),
            file.marker.clone(),
            file.file_name.clone(),
        );
        let note = rejected.then(|| error_note(entry));
        let (size, sha256) = (entry.size, entry.sha256.clone());
        let dir2 = dir.clone();
        blocking(move || -> io::Result<PathBuf> {
            std::fs::create_dir_all(&dir2)?;
            // The same bytes already there under its name (a copy left by a crash): keep one.
            let first = dir2.join(&file_name);
            let there = same_content(&first, size, &sha256);
            let dest = if there {
                first
            } else {
                free_name(&dir2, &file_name)
            };
            if let Some(note) = note {
                let mut txt = dest.clone().into_os_string();
                txt.push(".error.txt");
                let mut f = std::fs::File::create(PathBuf::from(txt))?;
                f.write_all(note.as_bytes())?;
                f.sync_all()?;
            }
            if there {
                std::fs::remove_file(&src)?;
            } else {
                place(&src, &dest)?;
            }
            if let Some(m) = marker {
                match std::fs::remove_file(&m) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            Ok(dest)
        })
        .await
        .and_then(|r| r)
        .map_err(|source| FilesError::Move {
            file: entry.name.clone(),
            to: dir.display().to_string(),
            source,
        })
    }
}

/// What `<name>.error.txt` says: the reason first, then what identifies the file.
fn error_note(entry: &TakenFile) -> String {
    let at = chrono::DateTime::from_timestamp_millis(entry.taken_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    format!(
        "{}: not read: {}\n\nSize {} bytes, SHA-256 {}, set aside at {at}.\nNothing from this file was stored. Correct it and drop it in the inbox again.\n",
        entry.name,
        entry.error.as_deref().unwrap_or("unreadable"),
        entry.size,
        entry.sha256,
    )
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("file task failed: {e}")))
}

fn kind_dir(base: &Path, sub: Option<&str>) -> PathBuf {
    match sub {
        Some(s) => base.join(s),
        None => base.to_path_buf(),
    }
}

fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        },
        Err(_) => 0,
    }
}

/// The format a file name says, or `None` for a name the folder leaves alone.
fn format_of(file_name: &str) -> Option<Format> {
    let lower = file_name.to_ascii_lowercase();
    if file_name.starts_with('.') || lower.ends_with(".error.txt") {
        return None;
    }
    let (_, ext) = lower.rsplit_once('.')?;
    match ext {
        "json" => Some(Format::Json),
        "xml" => Some(Format::Xml),
        "csv" => Some(Format::Csv),
        _ => None, // also `.part`, `.tmp`, `.done`
    }
}

/// Lists every kind's folder (creating missing kind folders inside an inbox that exists).
fn list(layout: &Layout) -> Result<Listing, FilesError> {
    let folder_error = |path: &Path, source: io::Error| FilesError::Folder {
        path: path.display().to_string(),
        source,
    };
    match std::fs::metadata(&layout.inbox) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(folder_error(
                &layout.inbox,
                io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
            ))
        }
        Err(e) => return Err(folder_error(&layout.inbox, e)),
    }
    let mut listing = Listing::default();
    for (kind, sub) in &layout.kinds {
        let dir = kind_dir(&layout.inbox, sub.as_deref());
        if sub.is_some() {
            std::fs::create_dir_all(&dir).map_err(|e| folder_error(&dir, e))?;
        }
        let mut files = Vec::new();
        let mut names = BTreeSet::new();
        let mut markers = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| folder_error(&dir, e))? {
            let entry = entry.map_err(|e| folder_error(&dir, e))?;
            let Ok(file_name) = entry.file_name().into_string() else {
                continue; // not a name any local system writes
            };
            names.insert(file_name.clone());
            if let Some(base) = file_name.strip_suffix(".done") {
                if !base.is_empty() && !file_name.starts_with('.') {
                    markers.push((base.to_string(), entry.path()));
                }
                continue;
            }
            let Some(format) = format_of(&file_name) else {
                continue;
            };
            let path = entry.path();
            // Follows a link; a file gone meanwhile is simply not listed.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            files.push(Listed {
                kind: *kind,
                sub: sub.clone(),
                file_name,
                format,
                path,
                size: meta.len(),
                modified_ms: modified_ms(&meta),
                marker: None,
            });
        }
        for (base, path) in markers {
            match files.iter_mut().find(|f| f.file_name == base) {
                Some(f) => f.marker = Some(path),
                None if !names.contains(&base) => listing
                    .orphan_markers
                    .push((join_name(sub.as_deref(), &base), path)),
                None => {}
            }
        }
        listing.files.extend(files);
    }
    Ok(listing)
}

/// Reads and hashes a file; one larger than `max` is hashed without being kept.
fn read_file(path: &Path, max: u64) -> io::Result<FileRead> {
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    let mut hasher = Sha256::new();
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    (&mut f)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    hasher.update(&bytes);
    let mut size = bytes.len() as u64;
    let bytes = if size > max {
        size += io::copy(&mut f, &mut hasher)?;
        None
    } else {
        Some(bytes)
    };
    Ok(FileRead {
        bytes,
        size,
        modified_ms: modified_ms(&meta),
        sha256: hex::encode(hasher.finalize()),
    })
}

/// A file's records, or why it cannot be read (naming the line, offset or element).
fn read_records(
    layout: &Layout,
    kind: RecordKind,
    format: Format,
    bytes: &[u8],
) -> Result<Vec<Value>, String> {
    let cfg = &layout.cfg;
    let text = decode::decode(bytes, cfg.encoding).map_err(|e| e.to_string())?;
    let records = match format {
        Format::Json => crate::formats::json::parse_strict(text.text.as_bytes())
            .and_then(crate::formats::json::records)?,
        Format::Csv => {
            let limits = CsvLimits {
                max_records: cfg.max_records,
                delimiter: cfg.delimiter(),
            };
            crate::formats::csv::parse_records(text.text.as_bytes(), &limits)
                .map_err(|e| e.to_string())?
        }
        Format::Xml => {
            let element = xml_record_element(layout, kind).ok_or_else(|| {
                "an XML file needs the source's xml_record_elements (or xml_record_element): the element holding one record"
                    .to_string()
            })?;
            let xml = decode::xml_as_utf8(&text)?;
            let limits = XmlLimits {
                max_records: cfg.max_records,
                ..XmlLimits::default()
            };
            crate::formats::xml::parse_records(xml.as_bytes(), element, &limits)
                .map_err(|e| e.to_string())?
        }
    };
    if records.len() > cfg.max_records {
        return Err(format!(
            "{} records is more than max_records ({})",
            records.len(),
            cfg.max_records
        ));
    }
    Ok(records)
}

/// The element holding one record of `kind` in an XML file.
fn xml_record_element(layout: &Layout, kind: RecordKind) -> Option<&str> {
    layout
        .xml_record_elements
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, e)| e.as_str())
}

/// Whether `path` holds a file of `size` bytes whose SHA-256 is `sha256`.
fn same_content(path: &Path, size: i64, sha256: &str) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() as i64 != size {
        return false;
    }
    read_file(path, 0).is_ok_and(|r| r.sha256 == sha256)
}

/// `dir/file_name`, or `dir/<stem>-1.<ext>`, `-2`, … when that name is taken.
fn free_name(dir: &Path, file_name: &str) -> PathBuf {
    let first = dir.join(file_name);
    if std::fs::symlink_metadata(&first).is_err() {
        return first;
    }
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (file_name, String::new()),
    };
    (1u64..)
        .map(|i| dir.join(format!("{stem}-{i}{ext}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}

/// Renames `src` to `dest`; across file systems, copies (synced, renamed into place) and
/// deletes.
fn place(src: &Path, dest: &Path) -> io::Result<()> {
    match std::fs::rename(src, dest) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let dir = dest.parent().unwrap_or(Path::new("."));
            let name = dest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.copying"));
            std::fs::copy(src, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, dest)?;
            std::fs::remove_file(src)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_xml_and_csv_files_are_read() {
        assert_eq!(format_of("ho-so.json"), Some(Format::Json));
        assert_eq!(format_of("HO-SO.XML"), Some(Format::Xml));
        assert_eq!(format_of("buoc.Csv"), Some(Format::Csv));
        for left in [
            "ho-so.json.part",
            "ho-so.json.tmp",
            "ho-so.json.done",
            ".ho-so.json",
            "ho-so.json.error.txt",
            "ho-so.txt",
            "json",
        ] {
            assert_eq!(format_of(left), None, "{left}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_suffix_before_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.json"), dir.path().join("a.json"));
        std::fs::write(dir.path().join("a.json"), "x").unwrap();
        assert_eq!(free_name(dir.path(), "a.json"), dir.path().join("a-1.json"));
        std::fs::write(dir.path().join("a-1.json"), "x").unwrap();
        assert_eq!(free_name(dir.path(), "a.json"), dir.path().join("a-2.json"));
    }

    #[test]
    fn a_file_too_large_is_hashed_whole_but_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        let whole = read_file(&path, 100).unwrap();
        let cut = read_file(&path, 10).unwrap();
        assert_eq!(whole.bytes.as_deref().map(<[u8]>::len), Some(100));
        assert!(cut.bytes.is_none());
        assert_eq!((cut.size, &cut.sha256), (100, &whole.sha256));
    }
}
