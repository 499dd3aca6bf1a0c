//! The built-in simulator of the peers, for `lienthong sim`, `lienthong demo`, integration tests
//! and benchmarks.
//!
//! [`Simulator`] plays the national portal adapter (DVCQG, `spec/dvcqg.md`) over real sockets:
//! both ways in (direct session and LGSP bearer token), the `/integration` and `/share`
//! services with the contract's strict validation and per-item codes, state per dossier, replay
//! of answers by `X-Request-ID`, and faults injected by rate or by a one-shot script. It also
//! watches the gateway: it counts breaches of the request-id rules and steps that arrive out of
//! order, so tests and benchmarks can assert the gateway kept the contract.
//!
//! It keeps everything in memory and must stay cheap per request (it is the peer in throughput
//! benchmarks): one short-held lock per request, no disk, no per-request logging above `debug`.
//! It must not depend on the gateway's own modules beyond the wire-date helpers, so that it stays
//! an independent reading of the contract.
//!
//! Routes (relative to the base URL the gateway is given):
//!
//! - `POST /auth`, `POST /oauth/token`: the two ways in;
//! - `POST /integration`, `POST /share`: the services;
//! - `POST /Document/SyncDocument`: the legacy LGSP XML route (`legacy.rs`); these three
//!   take injected faults;
//! - `GET /sim/stats`: [`SimStats`] as JSON; `POST /sim/expire-sessions`: end every session now;
//! - the procedure catalog ([`ProcedureCatalog`], also reached by [`Simulator::catalog`]):
//!   `GET /sim/catalog` gives [`CatalogCounts`]; `POST /sim/catalog/change` with
//!   `{"codes": [...]}` or `{"count": N, "seed": S}`, `POST /sim/catalog/withdraw`,
//!   `POST /sim/catalog/restore` with `{"codes": [...]}`, and `POST /sim/catalog/remove` with
//!   `{"codes": [...]}` or `{"count": N}` answer `{"codes": [done], "skipped": [not done]}`.
//!
//! Files: `server.rs` (sockets, routing, transport faults), `dvcqg.rs` (what the portal answers),
//! `faults.rs` (which fault a call gets), `catalog/` (the generated, changeable procedure
//! catalog: `--procedures N`, `--catalog-seed S`),
//! `commune.rs` (the commune catalog subscribers, on a listener of their own: `--communes N`),
//! `vnpost.rs` (the postal service: token, orders, cancels, tracking feed; on a listener of its
//! own: `--vnpost`).

mod catalog;
pub mod commune;
mod dvcqg;
mod faults;
mod legacy;
pub mod local;
mod server;
#[cfg(test)]
mod tests;
pub mod vnpost;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use catalog::{CatalogCounts, ProcedureCatalog};
pub use faults::{Fault, FaultRates, RetryAfter};
pub use legacy::SyncedDocument;
pub use server::serve;

/// How a [`Simulator`] is built. `Default` gives the credentials the demo and tests use.
#[derive(Clone)]
pub struct SimSettings {
    /// Direct-session login name (`POST /auth`).
    pub username: String,
    /// Direct-session password.
    pub password: String,
    /// The `dstcode` header `POST /auth` expects.
    pub dstcode: String,
    /// LGSP OAuth2 client id (`POST /oauth/token`).
    pub client_id: String,
    /// LGSP OAuth2 client secret.
    pub client_secret: String,
    /// How long a session lives after login.
    pub session_ttl: Duration,
    /// How long an LGSP access token lives (`expires_in`).
    pub token_ttl: Duration,
    /// Whether bearer calls must also carry a well-formed `lgspaccesstoken` header.
    pub require_lgsp_header: bool,
    /// Fault rates in force from the start (changeable at runtime).
    pub faults: FaultRates,
    /// Seed of the fault dice, so a run with rates can be repeated.
    pub seed: u64,
    /// Send `error_code`s as strings (`"0"`) instead of numbers, as some portal answers do.
    pub string_codes: bool,
    /// How many request ids (with their first answers) are remembered; the oldest are forgotten
    /// first, so a long benchmark does not grow without bound.
    pub request_id_capacity: usize,
    /// How many procedures the catalog holds (the fixtures' included, and never fewer).
    pub procedures: usize,
    /// Seed of the catalog's generation: the same seed and count give the same objects.
    pub catalog_seed: u64,
    /// A refused dossier's message quotes the item as it came (as some adapters do): for the
    /// tests that check no echoed personal data leaves the gateway unmasked.
    pub echo_items: bool,
}

/// The catalog size `lienthong sim` and [`SimSettings::default`] use: a province lists 1,500 to
/// 2,500 procedures (dvcqg.md).
pub const DEFAULT_PROCEDURES: usize = 2000;
/// The catalog seed `lienthong sim` and [`SimSettings::default`] use.
pub const DEFAULT_CATALOG_SEED: u64 = 0xca7a_1095;

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            username: "lienthong".into(),
            password: "matkhau".into(),
            dstcode: "000.00.01.H56".into(),
            client_id: "lienthong".into(),
            client_secret: "bimat".into(),
            session_ttl: Duration::from_secs(30 * 60),
            token_ttl: Duration::from_secs(3600),
            require_lgsp_header: false,
            faults: FaultRates::default(),
            seed: 0x5eed,
            string_codes: false,
            request_id_capacity: 250_000,
            procedures: DEFAULT_PROCEDURES,
            catalog_seed: DEFAULT_CATALOG_SEED,
            echo_items: false,
        }
    }
}

// Secrets never reach logs (dvcqg.md), so Debug is written out by hand.
impl std::fmt::Debug for SimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSettings")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("dstcode", &self.dstcode)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("session_ttl", &self.session_ttl)
            .field("token_ttl", &self.token_ttl)
            .field("require_lgsp_header", &self.require_lgsp_header)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("string_codes", &self.string_codes)
            .field("request_id_capacity", &self.request_id_capacity)
            .field("procedures", &self.procedures)
            .field("catalog_seed", &self.catalog_seed)
            .field("echo_items", &self.echo_items)
            .finish()
    }
}

/// What one applied message did to a dossier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// `DongBoHoSoMC` with `isUpdating: "False"`.
    Create,
    /// `DongBoHoSoMC` with `isUpdating: "True"`.
    Update,
    /// `CapNhatTienDoHoSoMC`.
    Step,
}

/// One entry of a dossier's history, in the order the simulator applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// The `X-Request-ID` of the request that carried it (none if the request had none).
    pub request_id: Option<String>,
    /// `TrangThaiHoSo` of a header, `TrangThai` of a step.
    pub status: String,
    /// `ThoiDiemXuLy` of a step; `None` for headers.
    pub thoi_diem: Option<String>,
    /// Global apply order across all dossiers, from 1.
    pub seq: u64,
    /// When it was applied, in milliseconds since the Unix epoch (for latency benchmarks).
    #[serde(default)]
    pub at_ms: i64,
}

/// Breaches of the `X-Request-ID` rules (spec README) seen so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violations {
    /// The same id came back with a different body (session excluded).
    pub id_reused_with_different_body: u64,
    /// The same body (session excluded) came under two different ids.
    pub same_body_under_two_ids: u64,
    /// A call to `/integration` or `/share` without `X-Request-ID`.
    pub missing_request_id: u64,
}

/// Counters for tests, the demo and benchmarks; also served as JSON at `GET /sim/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Every HTTP request received, `/sim/*` excluded.
    pub requests: u64,
    /// Requests per service (`auth`, `token`, or the body's `service`).
    pub requests_by_service: BTreeMap<String, u64>,
    /// Items accepted (code 0, first time) per service.
    pub items_applied: BTreeMap<String, u64>,
    /// Items refused, by item `error_code`.
    pub items_rejected: BTreeMap<String, u64>,
    /// Faults injected, by kind (see [`Fault::kind`]).
    pub faults_injected: BTreeMap<String, u64>,
    /// Repeats of an applied request id answered from memory without applying again.
    pub duplicates_absorbed: u64,
    /// Steps received again (same `MaHoSo`, `ThoiDiemXuLy`, `TrangThai`, `NoiDungXuLy`) and
    /// accepted without a second event.
    pub duplicate_steps: u64,
    pub violations: Violations,
    /// Calls answered `-2` (session missing, unknown or expired).
    pub session_errors: u64,
    /// Calls answered HTTP 401 (bearer token unknown or expired).
    pub unauthorized: u64,
    /// Dossiers held.
    pub dossiers: u64,
    /// Steps applied whose `ThoiDiemXuLy` is earlier than a step of the same dossier already
    /// applied.
    pub out_of_order_steps: u64,
}

/// A dossier as the simulated portal holds it.
#[derive(Debug, Clone)]
struct DossierRecord {
    /// The last `HoSo` received, with `TrangThaiHoSo` moved on by later steps (the portal keeps
    /// the last step as the dossier's current state).
    hoso: serde_json::Value,
    events: Vec<Event>,
    steps_seen: HashSet<(String, String, String)>,
    latest_step_at: Option<String>,
    updated_at: String,
}

#[derive(Debug)]
struct RememberedRequest {
    body_hash: [u8; 32],
    /// The first answer, kept only when the request applied something.
    answer: Option<bytes::Bytes>,
}

/// Everything mutable except the fault dice; guarded by one lock taken once per request.
#[derive(Debug, Default)]
struct State {
    sessions: HashMap<String, tokio::time::Instant>,
    tokens: HashMap<String, tokio::time::Instant>,
    dossiers: HashMap<String, DossierRecord>,
    surveys: HashMap<(String, String, String), serde_json::Value>,
    /// Documents accepted on the legacy route, by `DocCode`, in apply order.
    documents: HashMap<String, Vec<SyncedDocument>>,
    requests_by_id: HashMap<String, RememberedRequest>,
    request_id_order: VecDeque<String>,
    first_id_by_body: HashMap<[u8; 32], String>,
    stats: SimStats,
    seq: u64,
}

struct Inner {
    settings: SimSettings,
    state: Mutex<State>,
    faults: Mutex<faults::FaultState>,
    requests: AtomicU64,
    /// Generated on first use: most tests and benchmarks never read the catalog, and a debug
    /// build takes a noticeable moment for 2,000 procedures.
    catalog: OnceLock<ProcedureCatalog>,
}

/// A handle on one simulated portal. Cloning is cheap; all clones share the same state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new(SimSettings::default())
    }
}

impl Simulator {
    pub fn new(settings: SimSettings) -> Self {
        let faults = faults::FaultState::new(settings.faults.clone(), settings.seed);
        Self {
            inner: Arc::new(Inner {
                catalog: OnceLock::new(),
                settings,
                state: Mutex::new(State::default()),
                faults: Mutex::new(faults),
                requests: AtomicU64::new(0),
            }),
        }
    }

    pub fn settings(&self) -> &SimSettings {
        &self.inner.settings
    }

    /// The procedure catalog `/share` answers from (generated on first use); its changes are
    /// seen by the next call.
    pub fn catalog(&self) -> &ProcedureCatalog {
        let settings = &self.inner.settings;
        self.inner
            .catalog
            .get_or_init(|| ProcedureCatalog::generate(settings.procedures, settings.catalog_seed))
    }

    /// Whether dossiers may name `code`. Before the catalog exists nothing can have been
    /// removed, so the fixtures' codes (what tests and the demo send) are known without
    /// generating it.
    fn knows_procedure(&self, code: &str) -> bool {
        match self.inner.catalog.get() {
            Some(catalog) => catalog.knows(code),
            None if ProcedureCatalog::is_fixture(code) => true,
            None => self.catalog().knows(code),
        }
    }

    /// Replaces the fault rates in force; the dice keep their sequence.
    pub fn set_faults(&self, rates: FaultRates) {
        self.faults().rates = rates;
    }

    /// Queues one-shot faults; each is applied to the next call to `/integration` or `/share`,
    /// in order, before any rate is rolled. `/auth`, `/oauth/token` and `/sim/*` never take one,
    /// so a test can log in without spending its script.
    pub fn script(&self, faults: Vec<Fault>) {
        self.faults().script.extend(faults);
    }

    /// Forgets scripted faults not yet used.
    pub fn clear_script(&self) {
        self.faults().script.clear();
    }

    /// Ends every session and every access token now, as a portal restart would.
    pub fn expire_sessions(&self) {
        let mut state = self.state();
        state.sessions.clear();
        state.tokens.clear();
    }

    /// The dossiers a write request's `data` items name (`MaHoSo`), as held now (`None`: not
    /// held), for [`Simulator::restore`].
    fn snapshot_named(&self, body: &[u8]) -> Vec<(String, Option<DossierRecord>)> {
        let codes: Vec<String> = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("data").and_then(|d| d.as_array()).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.get("MaHoSo").and_then(|m| m.as_str()).map(str::to_string))
            .collect();
        let state = self.state();
        codes
            .into_iter()
            .map(|c| {
                let held = state.dossiers.get(&c).cloned();
                (c, held)
            })
            .collect()
    }

    /// Puts the dossiers of a snapshot back as they were (a portal that lost a write).
    fn restore(&self, kept: Vec<(String, Option<DossierRecord>)>) {
        let mut state = self.state();
        for (code, held) in kept {
            match held {
                Some(d) => {
                    state.dossiers.insert(code, d);
                }
                None => {
                    state.dossiers.remove(&code);
                }
            }
        }
        state.stats.dossiers = state.dossiers.len() as u64;
    }

    /// Holds `hoso` as if another system had sent it (for reconciliation's "at the portal, not
    /// sent here").
    pub fn insert_dossier(&self, hoso: serde_json::Value) {
        let code = hoso["MaHoSo"].as_str().unwrap_or_default().to_string();
        let mut state = self.state();
        state.dossiers.insert(
            code,
            DossierRecord {
                hoso,
                events: Vec::new(),
                steps_seen: HashSet::new(),
                latest_step_at: None,
                updated_at: String::new(),
            },
        );
    }

    /// Forgets a dossier, as a portal that lost it would.
    pub fn forget(&self, ma_ho_so: &str) -> bool {
        let mut state = self.state();
        let gone = state.dossiers.remove(ma_ho_so).is_some();
        state.stats.dossiers = state.dossiers.len() as u64;
        gone
    }

    /// The dossier's current `HoSo`, if the simulator holds it.
    pub fn dossier(&self, ma_ho_so: &str) -> Option<serde_json::Value> {
        self.state().dossiers.get(ma_ho_so).map(|d| d.hoso.clone())
    }

    /// What was applied to the dossier, in apply order (empty if unknown).
    pub fn events(&self, ma_ho_so: &str) -> Vec<Event> {
        self.state()
            .dossiers
            .get(ma_ho_so)
            .map(|d| d.events.clone())
            .unwrap_or_default()
    }

    /// How many dossiers the simulator holds.
    pub fn dossier_count(&self) -> usize {
        self.state().dossiers.len()
    }

    /// The codes (`MaHoSo`) of every dossier held, sorted.
    pub fn dossier_codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.state().dossiers.keys().cloned().collect();
        codes.sort_unstable();
        codes
    }

    /// Satisfaction rows accepted by `DongBoDanhGia`, keyed by (`NgayTongHop`, `MaThuTuc`,
    /// `Madonvi`); a later row for the same key replaces the earlier one.
    pub fn surveys(&self) -> Vec<serde_json::Value> {
        self.state().surveys.values().cloned().collect()
    }

    /// What the legacy route accepted for `doc_code`, in apply order (empty if nothing).
    pub fn synced_documents(&self, doc_code: &str) -> Vec<SyncedDocument> {
        self.state()
            .documents
            .get(doc_code)
            .cloned()
            .unwrap_or_default()
    }

    /// How many distinct documents the legacy route holds.
    pub fn synced_document_count(&self) -> usize {
        self.state().documents.len()
    }

    pub fn stats(&self) -> SimStats {
        let mut stats = {
            let state = self.state();
            let mut stats = state.stats.clone();
            stats.dossiers = state.dossiers.len() as u64;
            stats
        };
        stats.requests = self.inner.requests.load(Ordering::Relaxed);
        stats.faults_injected = self.faults().injected.clone();
        stats
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written in a way that
        // matters to a simulator, so a poisoned lock is still used.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, faults::FaultState> {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// `lienthong sim`: run the simulated portal on its own.
#[derive(Clone, clap::Args)]
pub struct SimOptions {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Direct-session user name.
    #[arg(long, default_value = "lienthong")]
    pub username: String,
    /// Direct-session password.
    #[arg(
        long,
        env = "LIENTHONG_SIM_PASSWORD",
        default_value = "matkhau",
        hide_env_values = true
    )]
    pub password: String,
    /// `dstcode` header expected by `/auth`.
    #[arg(long, default_value = "000.00.01.H56")]
    pub dstcode: String,
    /// LGSP client id.
    #[arg(long, default_value = "lienthong")]
    pub client_id: String,
    /// LGSP client secret.
    #[arg(
        long,
        env = "LIENTHONG_SIM_CLIENT_SECRET",
        default_value = "bimat",
        hide_env_values = true
    )]
    pub client_secret: String,
    /// Require the `lgspaccesstoken` header on bearer calls.
    #[arg(long)]
    pub require_lgsp_header: bool,
    /// Session lifetime in seconds.
    #[arg(long, default_value_t = 1800)]
    pub session_ttl_secs: u64,
    /// LGSP access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Share of calls answered HTTP 503 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_503: f64,
    /// Share of calls answered HTTP 429.
    #[arg(long, default_value_t = 0.0)]
    pub fault_429: f64,
    /// Share of calls answered HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub fault_500: f64,
    /// Share of calls answered slowly (see --slow-ms).
    #[arg(long, default_value_t = 0.0)]
    pub fault_slow: f64,
    /// Share of calls whose connection is dropped before anything is applied.
    #[arg(long, default_value_t = 0.0)]
    pub fault_drop_before: f64,
    /// Share of calls whose connection is dropped after the work is applied.
    #[arg(long, default_value_t = 0.0)]
    pub fault_drop_after: f64,
    /// Share of calls answered with envelope `error_code` 9.
    #[arg(long, default_value_t = 0.0)]
    pub fault_temporary: f64,
    /// Share of batches where some items get item code 9.
    #[arg(long, default_value_t = 0.0)]
    pub fault_item_temporary: f64,
    /// Share of calls before which every session expires.
    #[arg(long, default_value_t = 0.0)]
    pub fault_session_expiry: f64,
    /// Delay of a slow answer, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub slow_ms: u64,
    /// `Retry-After` seconds on 429/503.
    #[arg(long, default_value_t = 1)]
    pub retry_after_secs: u64,
    /// Send `Retry-After` as an HTTP date rather than seconds.
    #[arg(long)]
    pub retry_after_date: bool,
    /// Seed of the fault dice.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Send `error_code`s as strings (`"0"`) instead of numbers.
    #[arg(long)]
    pub string_codes: bool,
    /// How many procedures the catalog holds (`LayDanhSachTTHC`).
    #[arg(long, default_value_t = DEFAULT_PROCEDURES)]
    pub procedures: usize,
    /// Seed of the catalog's generation.
    #[arg(long, default_value_t = DEFAULT_CATALOG_SEED)]
    pub catalog_seed: u64,
    /// The commune subscribers (`--communes N`), boxed: they are seldom used and the command
    /// enum stays small.
    #[command(flatten)]
    pub communes: Box<commune::CommuneOptions>,
    /// The simulated VNPost (`--vnpost`), boxed for the same reason.
    #[command(flatten)]
    pub vnpost: Box<vnpost::VnpostOptions>,
}

impl SimOptions {
    pub fn settings(&self) -> SimSettings {
        SimSettings {
            username: self.username.clone(),
            password: self.password.clone(),
            dstcode: self.dstcode.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            require_lgsp_header: self.require_lgsp_header,
            faults: FaultRates {
                http503: self.fault_503,
                http429: self.fault_429,
                http500: self.fault_500,
                slow: self.fault_slow,
                drop_before_apply: self.fault_drop_before,
                drop_after_apply: self.fault_drop_after,
                envelope_temporary: self.fault_temporary,
                item_temporary: self.fault_item_temporary,
                session_expiry: self.fault_session_expiry,
                slow_ms: self.slow_ms,
                retry_after_secs: self.retry_after_secs,
                retry_after_as_date: self.retry_after_date,
            },
            seed: self.seed,
            string_codes: self.string_codes,
            procedures: self.procedures,
            catalog_seed: self.catalog_seed,
            ..SimSettings::default()
        }
    }
}

/// Runs the simulator on `opts.listen` until `shutdown` is cancelled.
pub async fn run_standalone(opts: SimOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let settings = opts.settings();
    settings
        .faults
        .validate()
        .map_err(|reason| anyhow::anyhow!("invalid simulator fault rates: {reason}"))?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let local = listener.local_addr().context("listener has no address")?;
    let communes = if opts.communes.communes > 0 {
        let c = &opts.communes;
        let listener = tokio::net::TcpListener::bind(c.commune_listen)
            .await
            .with_context(|| format!("cannot listen on {}", c.commune_listen))?;
        let address = listener.local_addr().context("listener has no address")?;
        let sim = commune::numbered(c.communes, &c.commune_secret_prefix);
        tracing::info!(%address, subscribers = c.communes,
            "commune simulator listening (subscriber S at /communes/S)");
        Some(tokio::spawn(commune::serve(
            listener,
            sim,
            shutdown.clone(),
        )))
    } else {
        None
    };
    let postal = if opts.vnpost.vnpost {
        let v = &opts.vnpost;
        let listener = tokio::net::TcpListener::bind(v.vnpost_listen)
            .await
            .with_context(|| format!("cannot listen on {}", v.vnpost_listen))?;
        let address = listener.local_addr().context("listener has no address")?;
        tracing::info!(%address, "VNPost simulator listening");
        let postal_sim = vnpost::VnpostSim::new(v.settings());
        v.spawn_background(&postal_sim, &shutdown);
        Some(tokio::spawn(vnpost::serve(
            listener,
            postal_sim,
            shutdown.clone(),
        )))
    } else {
        None
    };
    let sim = Simulator::new(settings);
    tracing::info!(address = %local, procedures = sim.catalog().len(), "DVCQG simulator listening");
    serve(listener, sim, shutdown)
        .await
        .context("simulator server failed")?;
    if let Some(task) = communes {
        task.await
            .context("commune simulator task failed")?
            .context("commune simulator server failed")?;
    }
    if let Some(task) = postal {
        task.await
            .context("VNPost simulator task failed")?
            .context("VNPost simulator server failed")?;
    }
    tracing::info!("DVCQG simulator stopped");
    Ok(())
}
