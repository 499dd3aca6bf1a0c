//! Operator HTTP endpoints: `GET /health` (open, for probes); with the bearer token from
//! `server.admin_token`: `GET /admin/outbox` (counts and dead letters), `GET
//! /admin/outbox/stats`, `GET /admin/outbox/messages` (filters as query parameters), `GET
//! /admin/outbox/messages/{id}` (one message), `POST /admin/outbox/replay` (`{"ids": [...]}` or
//! `{"dead": true, "peer": "dvcqg", "since_ms": 0}`), `POST /admin/outbox/skip` (`{"id": "...",
//! "reason": "..."}`) and `POST /admin/outbox/prune` (`{"older_than_days": 30}`): the same library
//! calls as the `lienthong outbox` commands. [`ROUTES`] lists them; `docs/openapi.json` documents
//! exactly those (a test holds the two together). The catalog: `GET /admin/catalog` (counts,
//! the latest pulls, each subscriber's state), `GET /admin/catalog/subscribers`, `GET
//! /admin/catalog/changes?since_ms=&limit=` (field by field), `GET
//! /admin/catalog/procedures/{code}` (its versions), `POST /admin/catalog/resend`
//! (`{"subscriber": "..."}`). The quarantine (list, one record, retry, drop) and every source's
//! health: `admin/sources.rs`; the report, overdue list and reconciliation: `admin/reports.rs`.
//!
//! Personal data: the API shows dossier codes, states, reasons and hashes. One message's item is
//! shown with its personal fields masked as mapping issues mask them (names, identity numbers,
//! phones, e-mails, addresses; free text, which may name people, and fields the target's table
//! does not know are masked too); the
//! source record is never shown (its shape is the vendor's, so nothing says which of its fields
//! are personal). The whole record and item are for `lienthong outbox show` on the server.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::settings::resolve_secret;

use crate::operator;

pub(crate) mod audit;
pub mod openapi;
pub(crate) mod outbox;
mod reports;
pub mod roles;
mod sources;

use crate::outbox::housekeeping;
use crate::store::{MessageDetail, Store};
use openapi::{BadRequest, ErrorBody, Forbidden, Unauthorized, Unavailable};
pub(crate) use reports::csv_attachment;

#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<dyn Store>,
    /// Who may call: `server.admin_token` and `[[server.users]]`.
    pub operators: roles::Operators,
    /// Builds the route table as configured now, which remaps render with.
    pub remap: Option<crate::source::routes::Loader>,
    /// The procedure catalog (its routes answer 404 without it).
    pub catalog: Option<Arc<crate::catalog::Catalog>>,
    /// The recorder `/metrics` renders; its gauges are set from the store at each scrape.
    pub metrics: Arc<Metrics>,
    /// The postal service (its routes answer 404 without it).
    pub postal: Option<Arc<crate::postal::Postal>>,
    /// The service report and overdue list (their routes answer 404 without it).
    pub reports: Option<Arc<crate::report::Reports>>,
    /// Reconciliation with the portal (its routes answer 404 without it).
    pub reconciler: Option<Arc<crate::reconcile::Reconciler>>,
    /// The configured sources and their ways (`/admin/sources`, the per-source metrics).
    pub sources: Arc<Vec<crate::source::status::ConfiguredSource>>,
    /// Wakes the delivery lanes after a retry queued records or a resume.
    pub wake: Option<Arc<tokio::sync::Notify>>,
}

/// The Prometheus recorder of one gateway (not installed globally: several gateways may run in
/// one process, as in tests).
pub struct Metrics {
    recorder: metrics_exporter_prometheus::PrometheusRecorder,
    /// (peer, operation, state) of the message counts shown so far: a count that has gone
    /// (no message in that state any more) is shown as 0, not as its last value.
    shown: std::sync::Mutex<std::collections::BTreeSet<(String, String, String)>>,
    /// Sources whose quarantine count was shown so far: one emptied shows 0.
    quarantine_shown: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// (peer, destination) paused so far: one resumed shows 0.
    paused_shown: std::sync::Mutex<std::collections::BTreeSet<(String, String)>>,
    /// The outbox's message counts as last counted (see [`outbox_counts_for_scrape`]).
    counts: std::sync::Mutex<CountsCache>,
}

/// Counting a million messages by peer, operation and state reads them all (about 1.4 s on
/// SQLite): a scrape shows the last count and, once it is this old, has it counted again in
/// the background.
const COUNTS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Default)]
struct CountsCache {
    last: Option<(
        std::time::Instant,
        std::sync::Arc<Vec<crate::store::StateCount>>,
    )>,
    counting: bool,
}

/// The outbox counts a scrape shows: counted now when never counted before, else the last
/// count (at most [`COUNTS_EVERY`] old, plus the time a count takes), a new one begun in the
/// background when it is due. Only one count runs at a time.
async fn outbox_counts_for_scrape(
    st: &AdminState,
) -> Result<std::sync::Arc<Vec<crate::store::StateCount>>, crate::store::StoreError> {
    let cached = {
        let mut c = st.metrics.counts.lock().unwrap_or_else(|e| e.into_inner());
        match &c.last {
            Some((at, counts)) => {
                let counts = counts.clone();
                if at.elapsed() >= COUNTS_EVERY && !c.counting {
                    c.counting = true;
                    let (store, metrics) = (st.store.clone(), st.metrics.clone());
                    tokio::spawn(async move {
                        let counted = store.outbox_counts().await;
                        let mut c = metrics.counts.lock().unwrap_or_else(|e| e.into_inner());
                        c.counting = false;
                        match counted {
                            Ok(n) => {
                                c.last = Some((std::time::Instant::now(), std::sync::Arc::new(n)))
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "metrics: the outbox could not be counted; the last count stays")
                            }
                        }
                    });
                }
                Some(counts)
            }
            None => None,
        }
    };
    if let Some(c) = cached {
        return Ok(c);
    }
    let counts = std::sync::Arc::new(st.store.outbox_counts().await?);
    let mut c = st.metrics.counts.lock().unwrap_or_else(|e| e.into_inner());
    c.last = Some((std::time::Instant::now(), counts.clone()));
    Ok(counts)
}

impl Default for Metrics {
    fn default() -> Self {
        // Delivery durations run from milliseconds (a request) to days (a message held back by
        // a dead one before it, or a peer down for a week).
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        let recorder = builder
            .set_buckets(&DELIVERY_BUCKETS)
            .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new())
            .build_recorder();
        // The help line of each metric (Prometheus's lint wants one).
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_gauge!(
                "lienthong_outbox_messages",
                "Messages in the outbox by peer, operation and state (pending, inflight, waiting, delivered, dead, skipped), counted at most every 30 s"
            );
            metrics::describe_gauge!(
                "lienthong_quarantined_records",
                "Local records refused by mapping or validation, kept for an operator, per source"
            );
            metrics::describe_gauge!(
                "lienthong_destination_paused",
                "1 while an operator has paused a peer's destination (destination \"*\": the whole peer), 0 once resumed"
            );
            describe_source_metrics();
            describe_delivery_metrics();
            crate::catalog::describe_metrics();
            crate::postal::describe_metrics();
            crate::report::describe_metrics();
            crate::reconcile::describe_metrics();
        });
        Self {
            recorder,
            shown: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            quarantine_shown: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            paused_shown: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            counts: std::sync::Mutex::new(CountsCache::default()),
        }
    }
}

/// Histogram buckets (seconds) of every histogram at `/metrics`.
const DELIVERY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
    86400.0,
];

impl Metrics {
    /// Runs a closure with this gateway's recorder in place: what the delivery lanes record
    /// their figures through.
    pub fn recording(self: &Arc<Self>) -> crate::outbox::Recording {
        let metrics = self.clone();
        Arc::new(move |f: &mut dyn FnMut()| metrics::with_local_recorder(&metrics.recorder, f))
    }
}

fn describe_delivery_metrics() {
    metrics::describe_histogram!(
        crate::outbox::METRIC_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Duration of one delivery request (a batch) to a peer's destination, whatever its answer"
    );
    metrics::describe_histogram!(
        crate::outbox::METRIC_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Time from a message's acceptance (or its last replay) to its delivery, per peer and destination"
    );
    metrics::describe_counter!(
        crate::outbox::METRIC_ATTEMPTS,
        "Delivery requests (batches) sent to a peer's destination, each try counted"
    );
    metrics::describe_gauge!(
        "lienthong_tls_certificate_expiry_seconds",
        metrics::Unit::Seconds,
        "Seconds until a peer's client certificate (peers.<name>.tls.client_cert_file) expires; negative once expired"
    );
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where ingest and admin HTTP listen.
    pub listen: SocketAddr,
    /// Largest ingest body accepted, in bytes (a body of exactly this size is allowed).
    pub body_limit_bytes: usize,
    /// Most records one ingest request may carry.
    pub max_records_per_request: usize,
    /// Bearer token for admin endpoints.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    pub admin_token_file: Option<PathBuf>,
    /// Named people (`[[server.users]]`), operators or viewers; `admin_token` is an operator
    /// named `admin`.
    pub users: Vec<roles::UserConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 8080).into(),
            body_limit_bytes: 10 * 1024 * 1024,
            max_records_per_request: 10_000,
            admin_token: None,
            admin_token_file: None,
            users: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// Every problem of `[server]`, one line each.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.body_limit_bytes == 0 {
            problems.push("server.body_limit_bytes: must be greater than 0".into());
        }
        if self.max_records_per_request == 0 {
            problems.push("server.max_records_per_request: must be greater than 0".into());
        }
        match resolve_secret(
            "server.admin_token",
            &self.admin_token,
            &self.admin_token_file,
        ) {
            Ok(admin) => problems.extend(roles::check(admin, &self.users)),
            Err(e) => problems.push(e),
        }
        problems
    }

    /// Everyone who may log in: the admin token's `admin` and `users`.
    pub fn operators(&self) -> Result<roles::Operators, String> {
        let admin = resolve_secret(
            "server.admin_token",
            &self.admin_token,
            &self.admin_token_file,
        )?;
        roles::Operators::from_config(admin, &self.users)
    }
}

/// Every route the admin router serves, as `(method, path)`; the router is built from this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/admin/outbox"),
    ("GET", "/admin/outbox/stats"),
    ("GET", "/admin/outbox/messages"),
    ("GET", "/admin/outbox/messages/{id}"),
    ("POST", "/admin/outbox/replay"),
    ("POST", "/admin/outbox/skip"),
    ("POST", "/admin/outbox/prune"),
    ("POST", "/admin/outbox/remap"),
    ("GET", "/admin/outbox/pauses"),
    ("POST", "/admin/outbox/pause"),
    ("POST", "/admin/outbox/resume"),
    ("POST", "/admin/outbox/jobs"),
    ("GET", "/admin/outbox/jobs"),
    ("GET", "/admin/outbox/jobs/{id}"),
    ("GET", "/admin/catalog"),
    ("GET", "/admin/catalog/subscribers"),
    ("GET", "/admin/catalog/changes"),
    ("GET", "/admin/catalog/procedures/{code}"),
    ("POST", "/admin/catalog/resend"),
    ("GET", "/admin/postal"),
    ("GET", "/admin/postal/orders"),
    ("GET", "/admin/postal/orders/{dossier}"),
    ("GET", "/admin/postal/unknown"),
    ("POST", "/admin/postal/poll"),
    ("POST", "/admin/postal/cancel"),
    ("GET", "/admin/report"),
    ("GET", "/admin/overdue"),
    ("GET", "/admin/reconcile"),
    ("POST", "/admin/reconcile"),
    ("GET", "/admin/reconcile/runs/{id}"),
    ("GET", "/admin/quarantine"),
    ("GET", "/admin/quarantine/{id}"),
    ("POST", "/admin/quarantine/retry"),
    ("POST", "/admin/quarantine/{id}/drop"),
    ("GET", "/admin/sources"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/openapi.json"),
];

pub fn router(state: AdminState) -> Router {
    let mut router = Router::new();
    for &(method, path) in ROUTES {
        router = router.route(path, handler(method, path));
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::changes,
        ))
        .with_state(state)
}

fn handler(method: &str, path: &str) -> MethodRouter<AdminState> {
    match (method, path) {
        ("GET", "/health") => get(health),
        ("GET", "/healthz") => get(alive),
        ("GET", "/readyz") => get(ready),
        ("GET", "/metrics") => get(metrics_text),
        ("GET", "/admin/outbox") => get(outbox),
        ("GET", "/admin/outbox/stats") => get(stats),
        ("GET", "/admin/outbox/messages") => get(outbox::messages),
        ("GET", "/admin/outbox/messages/{id}") => get(show),
        ("POST", "/admin/outbox/replay") => post(replay),
        ("POST", "/admin/outbox/skip") => post(skip),
        ("POST", "/admin/outbox/prune") => post(prune),
        ("POST", "/admin/outbox/remap") => post(remap),
        ("GET", "/admin/outbox/pauses") => get(pauses),
        ("POST", "/admin/outbox/pause") => post(pause),
        ("POST", "/admin/outbox/resume") => post(resume),
        ("POST", "/admin/outbox/jobs") => post(outbox::start_job),
        ("GET", "/admin/outbox/jobs") => get(outbox::jobs),
        ("GET", "/admin/outbox/jobs/{id}") => get(outbox::job),
        ("GET", "/admin/catalog") => get(catalog_overview),
        ("GET", "/admin/catalog/subscribers") => get(catalog_subscribers),
        ("GET", "/admin/catalog/changes") => get(catalog_changes),
        ("GET", "/admin/catalog/procedures/{code}") => get(catalog_procedure),
        ("POST", "/admin/catalog/resend") => post(catalog_resend),
        ("GET", "/admin/postal") => get(postal_overview),
        ("GET", "/admin/postal/orders") => get(postal_orders),
        ("GET", "/admin/postal/orders/{dossier}") => get(postal_order),
        ("GET", "/admin/postal/unknown") => get(postal_unknown),
        ("POST", "/admin/postal/poll") => post(postal_poll),
        ("POST", "/admin/postal/cancel") => post(postal_cancel),
        ("GET", "/admin/report") => get(reports::report),
        ("GET", "/admin/overdue") => get(reports::overdue),
        ("GET", "/admin/reconcile") => get(reports::reconcile_runs),
        ("POST", "/admin/reconcile") => post(reports::reconcile_start),
        ("GET", "/admin/reconcile/runs/{id}") => get(reports::reconcile_run),
        ("GET", "/admin/quarantine") => get(sources::list),
        ("GET", "/admin/quarantine/{id}") => get(sources::show),
        ("POST", "/admin/quarantine/retry") => post(sources::retry),
        ("POST", "/admin/quarantine/{id}/drop") => post(sources::drop_one),
        ("GET", "/admin/sources") => get(sources::sources),
        ("GET", "/admin/audit") => get(audit::list),
        ("GET", "/admin/openapi.json") => get(openapi::openapi_json),
        // Only the list above is routed; a test checks each entry has its handler.
        _ => any(|| async { StatusCode::NOT_FOUND }),
    }
}

/// Whether the store answers, and which backend it is.
#[derive(Serialize, ToSchema)]
struct Health {
    status: HealthStatus,
    /// `sqlite` or `postgres`.
    store: &'static str,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum HealthStatus {
    Ok,
    Unavailable,
}

/// Liveness and store reachability (no token needed).
#[utoipa::path(
    get,
    path = "/health",
    responses(
        (status = 200, description = "ok", body = Health),
        (status = 503, description = "store unavailable", body = Health),
    )
)]
async fn health(State(st): State<AdminState>) -> Response {
    let store = st.store.backend();
    match st.store.ping().await {
        Ok(()) => Json(Health {
            status: HealthStatus::Ok,
            store,
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: HealthStatus::Unavailable,
                    store,
                }),
            )
                .into_response()
        }
    }
}

/// The routes a load balancer or an orchestrator probes: no token, no personal data.
pub const PROBES: &[&str] = &["/health", "/healthz", "/readyz"];

#[derive(Serialize, ToSchema)]
struct Alive {
    status: AliveStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum AliveStatus {
    Alive,
}

/// Liveness: the process answers (no token needed; touches nothing).
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive", body = Alive)))]
async fn alive() -> Response {
    Json(Alive {
        status: AliveStatus::Alive,
    })
    .into_response()
}

/// Whether this instance should take traffic.
#[derive(Serialize, ToSchema)]
struct Readiness {
    status: ReadyStatus,
    /// `sqlite` or `postgres`.
    store: &'static str,
    /// Why it is not ready (only when unready).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReadyStatus {
    Ready,
    Unready,
}

/// Readiness: the store answers and has every migration applied (no token needed).
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "the store does not answer, or migrations are not applied", body = Readiness),
    )
)]

/// `GET /readyz`: 200 when the store answers and has every migration this program knows
/// applied; 503 saying which is not so otherwise (readiness: take no traffic meanwhile).
async fn ready(State(st): State<AdminState>) -> Response {
    let backend = st.store.backend();
    let unready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: ReadyStatus::Unready,
                store: backend,
                reason: Some(reason),
            }),
        )
            .into_response()
    };
    if let Err(e) = st.store.ping().await {
        tracing::warn!(error = %e, "readyz: store unavailable");
        return unready("the store does not answer".into());
    }
    match st.store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => Json(Readiness {
            status: ReadyStatus::Ready,
            store: backend,
            reason: None,
        })
        .into_response(),
        Ok(pending) => {
            let list: Vec<String> = pending.iter().map(|v| format!("{v:04}")).collect();
            unready(format!(
                "migrations not applied: {} (run lienthong migrate)",
                list.join(", ")
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readyz: migrations cannot be read");
            unready("the store's migrations cannot be read".into())
        }
    }
}

/// `GET /metrics` (admin token): Prometheus text. Set from the store at each scrape: messages
/// by peer, operation and state; quarantined records per source and each polled source's health
/// (as its reader last wrote it, whichever instance reads it); the catalog's procedures, last
/// pull and each subscriber's state. Counts and states only: no personal data.
#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus text: messages by peer, operation and state; quarantined records and each source's health; the catalog's procedures, last pull and each subscriber's state; postal orders; overdue dossiers; the last reconciliation. Counts only, no personal data.",
    responses(
        (status = 200, description = "metrics", body = String, content_type = "text/plain"),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no catalog", body = ErrorBody),
        (status = 409, description = "VNPost is not configured", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn metrics_text(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let counts = match outbox_counts_for_scrape(&st).await {
        Ok(c) => c,
        Err(e) => return store_error(&e),
    };
    let quarantined = match st.store.quarantine_counts().await {
        Ok(c) => c,
        Err(e) => return store_error(&e),
    };
    let health = match st.store.source_statuses().await {
        Ok(h) => h,
        Err(e) => return store_error(&e),
    };
    let catalog = match &st.catalog {
        Some(c) => match c.snapshot().await {
            Ok(s) => Some(s),
            Err(e) => return catalog_error(&e),
        },
        None => None,
    };
    let postal = match &st.postal {
        Some(p) => match p.counts().await {
            Ok(c) => Some(c),
            Err(e) => return postal_error(&e),
        },
        None => None,
    };
    let overdue = match &st.reports {
        Some(r) => match r.overdue_counts(crate::store::now_ms(), None).await {
            Ok(c) => Some(c),
            Err(e) => return store_error(&e),
        },
        None => None,
    };
    let pauses = match st.store.pauses().await {
        Ok(p) => p,
        Err(e) => return store_error(&e),
    };
    let reconciled = match &st.reconciler {
        Some(_) => match st.store.reconcile_runs(1).await {
            Ok(mut runs) => runs.pop(),
            Err(e) => return store_error(&e),
        },
        None => None,
    };
    let mut shown = st.metrics.shown.lock().unwrap_or_else(|e| e.into_inner());
    let now: std::collections::BTreeMap<(String, String, String), i64> = counts
        .iter()
        .map(|c| {
            (
                (c.peer.clone(), c.operation.clone(), c.state.clone()),
                c.count,
            )
        })
        .collect();
    shown.extend(now.keys().cloned());
    metrics::with_local_recorder(&st.metrics.recorder, || {
        for key in shown.iter() {
            let (peer, operation, state) = key.clone();
            metrics::gauge!(
                "lienthong_outbox_messages",
                "peer" => peer,
                "operation" => operation,
                "state" => state
            )
            .set(now.get(key).copied().unwrap_or(0) as f64);
        }
        record_sources(&st, &quarantined, &health);
        record_pauses(&st, &pauses);
        for (peer, file, secs) in crate::peer::http::certificate_expiries() {
            metrics::gauge!(
                "lienthong_tls_certificate_expiry_seconds",
                "peer" => peer,
                "file" => file
            )
            .set(secs);
        }
        if let Some(c) = &catalog {
            c.record();
        }
        if let Some(c) = &postal {
            crate::postal::record(c);
        }
        if let Some(c) = overdue {
            crate::report::record(c);
        }
        if st.reconciler.is_some() {
            crate::reconcile::record(reconciled.as_ref());
        }
    });
    drop(shown);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.recorder.handle().render(),
    )
        .into_response()
}

fn describe_source_metrics() {
    metrics::describe_gauge!(
        "lienthong_source_up",
        "1 when a source's reader (way sql or files) last read it without error, 0 while it is down or failing"
    );
    metrics::describe_gauge!(
        "lienthong_source_lag_seconds",
        "How far a source's reader is behind the local system (its oldest change not yet read), last known"
    );
    metrics::describe_gauge!(
        "lienthong_source_failures",
        "Failed attempts in a row of a source's reader"
    );
    metrics::describe_counter!(
        "lienthong_source_rows_total",
        "Rows or files a source's reader has read since it started"
    );
}

/// The per-source gauges, from the store: quarantined records of every configured source (0
/// when none) and of any other that has some; the health of each configured way a reader
/// writes (a way no longer configured is left out, so its last row raises no alert).
fn record_sources(
    st: &AdminState,
    quarantined: &[crate::store::QuarantineCount],
    health: &[crate::store::SourceStatus],
) {
    let mut shown = st
        .metrics
        .quarantine_shown
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    shown.extend(st.sources.iter().map(|s| s.name.clone()));
    shown.extend(quarantined.iter().map(|c| c.source.clone()));
    for source in shown.iter() {
        let n = quarantined
            .iter()
            .find(|c| &c.source == source)
            .map_or(0, |c| c.records);
        metrics::gauge!("lienthong_quarantined_records", "source" => source.clone()).set(n as f64);
    }
    for h in health {
        let configured = st
            .sources
            .iter()
            .any(|s| s.name == h.source && s.ways.contains(&h.way.as_str()));
        if !configured {
            continue;
        }
        let labels = [("source", h.source.clone()), ("way", h.way.clone())];
        metrics::gauge!("lienthong_source_up", &labels).set(if h.state == "ok" {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("lienthong_source_failures", &labels).set(h.failures as f64);
        if let Some(lag) = h.lag_ms {
            metrics::gauge!("lienthong_source_lag_seconds", &labels).set(lag as f64 / 1000.0);
        }
        metrics::counter!("lienthong_source_rows_total", &labels)
            .absolute(h.rows_read.max(0) as u64);
    }
}

/// `lienthong_destination_paused`: 1 for each pause, 0 for one shown before and resumed since.
fn record_pauses(st: &AdminState, pauses: &[crate::store::Pause]) {
    let mut shown = st
        .metrics
        .paused_shown
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    shown.extend(
        pauses
            .iter()
            .map(|p| (p.peer.clone(), p.destination.clone())),
    );
    for (peer, destination) in shown.iter() {
        let on = pauses
            .iter()
            .any(|p| &p.peer == peer && &p.destination == destination);
        metrics::gauge!(
            "lienthong_destination_paused",
            "peer" => peer.clone(),
            "destination" => destination.clone()
        )
        .set(if on { 1.0 } else { 0.0 });
    }
}

/// Who the request's bearer token belongs to, if anyone.
fn caller(st: &AdminState, headers: &HeaderMap) -> Option<roles::Operator> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    st.operators.find(presented.trim())
}

/// The name of the person whose token the request carries (kept with what they change).
fn who(st: &AdminState, headers: &HeaderMap) -> String {
    caller(st, headers).map_or_else(|| "admin".to_string(), |o| o.name)
}

/// `None` when the request carries a known token (an operator's or a viewer's: changes are
/// refused to viewers before their handler, see `audit::changes`), else the 401 to answer.
fn refuse(st: &AdminState, headers: &HeaderMap) -> Option<Response> {
    let allowed = caller(st, headers).is_some();
    (!allowed).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(ErrorBody::new(
                "admin endpoints need a configured token (server.admin_token or server.users) as a bearer token",
            )),
        )
            .into_response()
    })
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorBody::new(msg))).into_response()
}

fn store_error(e: &crate::store::StoreError) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(ErrorBody::new(e.to_string())),
    )
        .into_response()
}

/// Which dead messages to replay: by id, or every one of a peer.
#[derive(serde::Deserialize, ToSchema)]
#[serde(untagged)]
enum ReplayRequest {
    Ids(ReplayIds),
    Dead(ReplayDead),
}

/// These messages (an empty list replays nothing).
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayIds {
    ids: Vec<uuid::Uuid>,
}

/// Every dead message of `peer` that died at or after `since_ms`.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayDead {
    /// `true` only.
    #[schema(schema_with = openapi::only_true)]
    dead: bool,
    peer: String,
    #[serde(default, deserialize_with = "openapi::integer")]
    #[schema(default = 0, minimum = -9007199254740991i64, maximum = 9007199254740991i64)]
    since_ms: i64,
}

/// What a replay did.
#[derive(Serialize, ToSchema)]
#[schema(as = ReplayResult)]
struct Replayed {
    replayed: u64,
    /// Batches resent under their old X-Request-ID with their stored body.
    reopened_batches: Vec<String>,
    /// Replayed messages that go in a new batch with a new X-Request-ID.
    new_batch: u64,
}

/// Replay dead messages (lienthong outbox replay).
///
/// A replayed message keeps its queue position, so its dossier's order holds. Its last batch is
/// reopened (same X-Request-ID, same body) when every message of that batch goes again together
/// (always so for a batch of one message); otherwise it goes in a new batch with a new
/// X-Request-ID. `dead: true` replays every dead message of `peer` that died at or after
/// `since_ms`, 500 per transaction.
#[utoipa::path(
    post,
    path = "/admin/outbox/replay",
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "what was replayed", body = Replayed),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn replay(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<openapi::JsonObject>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(req) = body.ok().and_then(|Json(o)| o.read::<ReplayRequest>()) else {
        return bad_request(r#"expected {"ids": [...]} or {"dead": true, "peer": "..."}"#);
    };
    // `{"ids": []}` replays nothing (the document allows an empty list).
    let done = match req {
        ReplayRequest::Dead(ReplayDead {
            dead: true,
            peer,
            since_ms,
        }) => {
            operator::replay_dead(
                &*st.store,
                &peer,
                since_ms,
                operator::REPLAY_CHUNK,
                &mut |_, _| {},
            )
            .await
        }
        ReplayRequest::Ids(ReplayIds { ids }) => {
            st.store.replay_messages(&ids, crate::store::now_ms()).await
        }
        ReplayRequest::Dead(_) => {
            return bad_request("give either ids, or dead = true with a peer")
        }
    };
    match done {
        Ok(r) => Json(Replayed {
            replayed: r.replayed,
            reopened_batches: r.reopened.iter().map(ToString::to_string).collect(),
            new_batch: r.new_batch,
        })
        .into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RemapRequest {
    #[schema(min_items = 1)]
    ids: Vec<uuid::Uuid>,
    /// `false` (the default) only shows what would change; `true` queues the new items.
    #[serde(default)]
    #[schema(default = false)]
    confirm: bool,
}

/// What a remap did, or would do, with one message.
#[derive(Serialize, ToSchema)]
struct Remapped {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    dossier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mapping_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mapping_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields_changed: Option<usize>,
    /// The fields that differ, between masked items.
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<String>>,
    outcome: RemapOutcome,
    /// Why the current mapping refuses it (`refused` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum RemapOutcome {
    Preview,
    QueuedNewItem,
    ReplayedUnchanged,
    NotDead,
    Refused,
}

#[derive(Serialize, ToSchema)]
struct RemapResults {
    results: Vec<Remapped>,
}

/// `replay --remap` over HTTP: renders dead messages again from their stored source records with
/// the mappings configured now and shows the field differences; with `"confirm": true` queues
/// them (a changed item goes in a new batch, under a new X-Request-ID). The differences are
/// shown between masked items, like everything else this API shows.
#[utoipa::path(
    post,
    path = "/admin/outbox/remap",
    summary = "Render dead messages again from their stored source records with the mappings configured now (lienthong outbox replay --remap); preview by default, queue with confirm",
    description = "Differences are shown between masked items, as everything else this API shows. A changed item is queued for a new batch (new X-Request-ID); an unchanged one is replayed as it is. A record the current mapping refuses, or puts in another dossier, is reported and left dead.",
    request_body = RemapRequest,
    responses(
        (status = 200, description = "one result per id", body = RemapResults),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn remap(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<RemapRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"ids": [...], "confirm": false}"#);
    };
    if req.ids.is_empty() {
        return bad_request("name the messages to remap");
    }
    let Some(load) = st.remap.clone() else {
        return bad_request("this server has no source configuration to remap with");
    };
    let routes = match load() {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("the configured mappings do not load: {e:#}")),
    };
    let mut results = Vec::with_capacity(req.ids.len());
    for id in req.ids {
        let plan = match operator::plan_remap(&*st.store, &routes, id).await {
            Ok(p) => p,
            Err(operator::RemapError::Store(e)) => return store_error(&e),
            Err(e) => {
                results.push(Remapped {
                    id: id.to_string(),
                    dossier: None,
                    mapping_from: None,
                    mapping_to: None,
                    fields_changed: None,
                    changes: None,
                    outcome: RemapOutcome::Refused,
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        let m = &plan.message;
        let shown = plan.masked_changes();
        let outcome = if !req.confirm {
            RemapOutcome::Preview
        } else {
            match operator::apply_remap(&*st.store, &plan).await {
                Ok(operator::Remapped::NewItem) => RemapOutcome::QueuedNewItem,
                Ok(operator::Remapped::Unchanged(_)) => RemapOutcome::ReplayedUnchanged,
                Ok(operator::Remapped::NotDead) => RemapOutcome::NotDead,
                Err(e) => return store_error(&e),
            }
        };
        results.push(Remapped {
            id: id.to_string(),
            dossier: Some(m.dossier.clone()),
            mapping_from: m.mapping_version.clone(),
            mapping_to: Some(plan.remap.mapping_version.clone()),
            fields_changed: Some(plan.changes.len()),
            changes: Some(shown),
            outcome,
            error: None,
        });
    }
    Json(RemapResults { results }).into_response()
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SkipRequest {
    id: uuid::Uuid,
    /// Why (not blank).
    #[schema(min_length = 1, pattern = r"\S")]
    reason: String,
}

#[derive(Serialize, ToSchema)]
struct Skipped {
    #[schema(format = Uuid)]
    skipped: String,
}

/// Give a dead, pending or waiting message up for good, with a reason (lienthong outbox skip).
#[utoipa::path(
    post,
    path = "/admin/outbox/skip",
    request_body = SkipRequest,
    responses(
        (status = 200, description = "skipped", body = Skipped),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "no dead, pending or waiting message with this id", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

async fn skip(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<SkipRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"id": "...", "reason": "..."}"#);
    };
    if req.reason.trim().is_empty() {
        return bad_request("a skip needs a reason");
    }
    match st
        .store
        .skip(req.id, &req.reason, crate::store::now_ms())
        .await
    {
        Ok(true) => Json(Skipped {
            skipped: req.id.to_string(),
        })
        .into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            Json(ErrorBody::new(
                "no dead, pending or waiting message with this id",
            )),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}

/// Messages of one peer, operation and state.
#[derive(Serialize, ToSchema)]
#[schema(as = Count)]
struct CountView {
    peer: String,
    operation: String,
    /// `waiting`, `pending`, `held`, `inflight`, `delivered`, `dead` or `skipped`.
    state: String,
    count: i64,
    /// Of these, how many needed more than one try.
    retried: i64,
}

impl From<crate::store::StateCount> for CountView {
    fn from(c: crate::store::StateCount) -> Self {
        Self {
            peer: c.peer,
            operation: c.operation,
            state: c.state,
            count: c.count,
            retried: c.retried,
        }
    }
}

/// A dead-lettered message.
#[derive(Serialize, ToSchema)]
struct DeadLetterView {
    #[schema(format = Uuid)]
    id: String,
    peer: String,
    operation: String,
    dossier: String,
    attempts: u32,
    /// The peer's reason.
    error: String,
}

#[derive(Serialize, ToSchema)]
struct OutboxView {
    counts: Vec<CountView>,
    /// Up to 100.
    dead_letters: Vec<DeadLetterView>,
}

/// Counts by peer, operation and state, and up to 100 dead letters.
#[utoipa::path(
    get,
    path = "/admin/outbox",
    responses(
        (status = 200, description = "counts and dead letters", body = OutboxView),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn outbox(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let counts = match st.store.outbox_counts().await {
        Ok(c) => c,
        Err(e) => return store_error(&e),
    };
    let dead = st.store.dead_letters(100).await.unwrap_or_default();
    Json(OutboxView {
        counts: counts.into_iter().map(CountView::from).collect(),
        dead_letters: dead
            .into_iter()
            .map(|d| DeadLetterView {
                id: d.id.to_string(),
                peer: d.peer,
                operation: d.operation,
                dossier: d.dossier,
                attempts: d.attempts,
                error: d.error,
            })
            .collect(),
    })
    .into_response()
}

/// Peers and destinations paused by an operator.
#[derive(Serialize, ToSchema)]
struct PauseList {
    pauses: Vec<crate::store::Pause>,
}

/// Peers and destinations paused by an operator: who, when, why (lienthong outbox paused).
#[utoipa::path(
    get,
    path = "/admin/outbox/pauses",
    responses(
        (status = 200, description = "the pauses", body = PauseList),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn pauses(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    match st.store.pauses().await {
        Ok(pauses) => Json(PauseList { pauses }).into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PauseRequest {
    /// A configured peer (dvcqg, commune, vnpost, ...).
    #[schema(min_length = 1, max_length = 200, example = "dvcqg")]
    peer: String,
    /// One destination; absent: every destination of the peer.
    #[schema(min_length = 1, max_length = 200, pattern = r"^([^*]|[\s\S]{2,})$")]
    destination: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 500,
        example = "portal maintenance until 22:00"
    )]
    reason: String,
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResumeRequest {
    #[schema(min_length = 1, max_length = 200, example = "dvcqg")]
    peer: String,
    /// As paused; absent: the pause of the whole peer.
    #[schema(min_length = 1, max_length = 200, pattern = r"^([^*]|[\s\S]{2,})$")]
    destination: Option<String>,
}

/// A pause or resume done.
#[derive(Serialize, ToSchema)]
struct PauseAnswer {
    peer: String,
    /// Absent: every destination.
    destination: Option<String>,
    /// Whether it is paused now.
    paused: bool,
    /// False when it was paused (or not paused) already.
    changed: bool,
}

fn pause_error(e: &operator::PauseError) -> Response {
    match e {
        operator::PauseError::UnknownPeer(_) => {
            (StatusCode::NOT_FOUND, Json(ErrorBody::new(e.to_string()))).into_response()
        }
        operator::PauseError::Invalid(m) => bad_request(m),
        operator::PauseError::Store(e) => store_error(e),
    }
}

/// Stop sending to a peer, or one of its destinations, on every instance until resumed
/// (lienthong outbox pause).
#[utoipa::path(
    post,
    path = "/admin/outbox/pause",
    request_body = PauseRequest,
    responses(
        (status = 200, description = "paused (changed false: it was paused already)", body = PauseAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "no such peer is configured", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn pause(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<openapi::JsonObject>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(req) = body.ok().and_then(|Json(o)| o.read::<PauseRequest>()) else {
        return bad_request(r#"expected {"peer": "...", "destination": "...", "reason": "..."}"#);
    };
    match operator::pause(
        &*st.store,
        &req.peer,
        req.destination.as_deref(),
        &req.reason,
        &who(&st, &headers),
    )
    .await
    {
        Ok(changed) => Json(PauseAnswer {
            peer: req.peer,
            destination: req.destination,
            paused: true,
            changed,
        })
        .into_response(),
        Err(e) => pause_error(&e),
    }
}

/// Send again to a paused peer or destination, at once (lienthong outbox resume).
#[utoipa::path(
    post,
    path = "/admin/outbox/resume",
    request_body = ResumeRequest,
    responses(
        (status = 200, description = "resumed (changed false: it was not paused)", body = PauseAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn resume(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<openapi::JsonObject>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(req) = body.ok().and_then(|Json(o)| o.read::<ResumeRequest>()) else {
        return bad_request(r#"expected {"peer": "...", "destination": "..."}"#);
    };
    match operator::resume(
        &*st.store,
        &req.peer,
        req.destination.as_deref(),
        &who(&st, &headers),
        st.wake.as_deref(),
    )
    .await
    {
        Ok(changed) => Json(PauseAnswer {
            peer: req.peer,
            destination: req.destination,
            paused: false,
            changed,
        })
        .into_response(),
        Err(e) => pause_error(&e),
    }
}

#[derive(Serialize, ToSchema)]
struct Stats {
    counts: Vec<CountView>,
    /// Quarantined records, all sources.
    quarantined: i64,
}

/// Counts by peer, operation and state; quarantined records (lienthong outbox stats).
#[utoipa::path(
    get,
    path = "/admin/outbox/stats",
    responses(
        (status = 200, description = "counts", body = Stats),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn stats(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let counts = match st.store.outbox_counts().await {
        Ok(c) => c,
        Err(e) => return store_error(&e),
    };
    let quarantined = match st.store.quarantine_count().await {
        Ok(n) => n,
        Err(e) => return store_error(&e),
    };
    Json(Stats {
        counts: counts.into_iter().map(CountView::from).collect(),
        quarantined,
    })
    .into_response()
}

/// One batch a message went in.
#[derive(Serialize, ToSchema)]
#[schema(as = Batch)]
struct BatchView {
    /// The X-Request-ID.
    request_id: String,
    /// `open`, `done`, or null when pruned.
    state: Option<String>,
    attempts: u32,
    items: i64,
    created_ms: Option<i64>,
    closed_ms: Option<i64>,
    last_error: Option<String>,
    /// Hex SHA-256 of the peer's last answer body.
    answer_sha256: Option<String>,
    /// Every try of this batch, oldest first, as it concerned this message.
    tries: Vec<TryView>,
}

/// One try of a batch, as it concerned one message.
#[derive(Serialize, ToSchema)]
#[schema(as = BatchTry)]
struct TryView {
    at_ms: i64,
    /// `delivered`; `retry` or `dead` (this message did not go, others of the batch may have);
    /// `failed` (nothing went, the batch goes again as it is); `held` (a pause or a re-login,
    /// not counted as a try).
    outcome: String,
    /// The peer's answer, personal data masked; null when the message went.
    answer: Option<String>,
    /// Hex SHA-256 of the answer's body.
    answer_sha256: Option<String>,
}

/// One message: everything but the source record, the item masked.
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    #[schema(format = Uuid)]
    id: String,
    peer: String,
    operation: String,
    dossier: String,
    state: String,
    /// Queue position; never changes.
    position: i64,
    is_update: bool,
    attempts: u32,
    created_ms: i64,
    updated_ms: i64,
    next_attempt_ms: i64,
    delivered_ms: Option<i64>,
    last_error: Option<String>,
    mapping_version: Option<String>,
    warnings: Vec<String>,
    record_id: Option<String>,
    source: Option<String>,
    record_kind: Option<String>,
    batch_id: Option<String>,
    batches: Vec<BatchView>,
    /// The item as queued, personal fields masked.
    #[schema(value_type = Option<Object>)]
    item_masked: Value,
}

/// One message as the admin API shows it: everything but the source record, the item masked.
pub fn message_view(m: &MessageDetail) -> MessageView {
    let item = crate::peer::registry::target_of(&m.peer, &m.operation)
        .map(|t| crate::mapping::mask_personal(t, &m.item))
        .unwrap_or(Value::Null);
    MessageView {
        id: m.id.to_string(),
        peer: m.peer.clone(),
        operation: m.operation.clone(),
        dossier: m.dossier.clone(),
        state: m.state.clone(),
        position: m.position,
        is_update: m.is_update,
        attempts: m.attempts,
        created_ms: m.created_ms,
        updated_ms: m.updated_ms,
        next_attempt_ms: m.next_attempt_ms,
        delivered_ms: m.delivered_ms,
        last_error: m.last_error.clone(),
        mapping_version: m.mapping_version.clone(),
        warnings: m.warnings.clone(),
        record_id: m.record_id.clone(),
        source: m.source.clone(),
        record_kind: m.record_kind.clone(),
        batch_id: m.batch_id.clone(),
        batches: m
            .batches
            .iter()
            .map(|b| BatchView {
                request_id: b.id.clone(),
                state: b.state.clone(),
                attempts: b.attempts,
                items: b.items,
                created_ms: b.created_ms,
                closed_ms: b.closed_ms,
                last_error: b.last_error.clone(),
                answer_sha256: b.answer_sha256.clone(),
                tries: b
                    .tries
                    .iter()
                    .map(|t| TryView {
                        at_ms: t.at_ms,
                        outcome: t.outcome.clone(),
                        answer: t.answer.as_deref().map(crate::mapping::mask_text),
                        answer_sha256: t.answer_sha256.clone(),
                    })
                    .collect(),
            })
            .collect(),
        item_masked: item,
    }
}

/// [`message_view`] as JSON (`lienthong outbox show --json` starts from it).
pub fn masked_detail(m: &MessageDetail) -> Value {
    serde_json::to_value(message_view(m)).unwrap_or_default()
}

/// A message housekeeping has pruned: its audit row.
#[derive(Serialize, ToSchema)]
struct PrunedMessage {
    #[schema(format = Uuid)]
    id: String,
    /// Always `true`.
    pruned: bool,
    peer: String,
    operation: String,
    dossier: String,
    state: String,
    attempts: u32,
    created_ms: i64,
    delivered_ms: Option<i64>,
    batch_id: Option<String>,
    /// Hex SHA-256 of the request body it was sent in.
    request_sha256: Option<String>,
    /// Hex SHA-256 of the peer's answer.
    response_sha256: Option<String>,
    mapping_version: String,
    pruned_ms: i64,
}

/// One message, or its audit row when housekeeping has pruned it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum ShownMessage {
    Message(MessageView),
    Pruned(PrunedMessage),
}

/// One message: state, attempts, times, last error, its batches (X-Request-IDs), mapping version, the item with personal fields masked (lienthong outbox show); the audit row when pruned.
#[utoipa::path(
    get,
    path = "/admin/outbox/messages/{id}",
    params(("id" = uuid::Uuid, Path, description = "the message id")),
    responses(
        (status = 200, description = "the message", body = ShownMessage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no message with this id", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

async fn show(
    State(st): State<AdminState>,
    headers: HeaderMap,
    id: Result<Path<uuid::Uuid>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Path(id)) = id else {
        return bad_request("the message id is a UUID");
    };
    match st.store.message(id).await {
        Ok(Some(m)) => return Json(ShownMessage::Message(message_view(&m))).into_response(),
        Ok(None) => {}
        Err(e) => return store_error(&e),
    }
    match st.store.audit_entry(id).await {
        Ok(Some(a)) => Json(ShownMessage::Pruned(PrunedMessage {
            id: a.message_id.to_string(),
            pruned: true,
            peer: a.peer,
            operation: a.operation,
            dossier: a.dossier,
            state: a.final_state,
            attempts: a.attempts,
            created_ms: a.created_ms,
            delivered_ms: a.delivered_ms,
            batch_id: a.batch_id,
            request_sha256: a.request_sha256,
            response_sha256: a.response_sha256,
            mapping_version: a.mapping_version,
            pruned_ms: a.pruned_ms,
        }))
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(ErrorBody::new("no message with this id")),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PruneRequest {
    #[serde(deserialize_with = "openapi::integer")]
    #[schema(minimum = 0, maximum = 36500)]
    older_than_days: u64,
}

/// What a prune removed.
#[derive(Serialize, ToSchema)]
struct Pruned {
    messages: u64,
    batches: u64,
    records: u64,
}

/// The largest `older_than_days` a prune takes (a century: older is everything).
const PRUNE_DAYS_MAX: u64 = 36_500;

/// Prune delivered messages older than N days, keeping an audit row each (lienthong outbox prune).
#[utoipa::path(
    post,
    path = "/admin/outbox/prune",
    request_body = PruneRequest,
    responses(
        (status = 200, description = "what was pruned", body = Pruned),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn prune(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<PruneRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"older_than_days": N}"#);
    };
    if req.older_than_days > PRUNE_DAYS_MAX {
        return bad_request(&format!(
            "older_than_days: {} is over {PRUNE_DAYS_MAX}",
            req.older_than_days
        ));
    }
    let before = housekeeping::cutoff(std::time::Duration::from_secs(req.older_than_days * 86_400));
    match housekeeping::prune(&*st.store, before, 500, &mut |_| {}).await {
        Ok(r) => Json(Pruned {
            messages: r.messages,
            batches: r.batches,
            records: r.records,
        })
        .into_response(),
        Err(e) => store_error(&e),
    }
}

/// The answer of a catalog route on an instance without a catalog.
fn no_catalog() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody::new("this instance has no catalog")),
    )
        .into_response()
}

fn catalog_error(e: &crate::catalog::CatalogError) -> Response {
    use crate::catalog::CatalogError;
    let status = match e {
        CatalogError::NotFound(_) => StatusCode::NOT_FOUND,
        CatalogError::NoPortal => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(ErrorBody::new(e.to_string()))).into_response()
}

#[derive(Serialize, ToSchema)]
struct CatalogOverview {
    procedures: crate::store::CatalogCounts,
    /// The latest pulls, newest first.
    pulls: Vec<crate::store::CatalogPull>,
    subscribers: Vec<crate::catalog::SubscriberState>,
}

/// The catalog's operations view: procedures in force and withdrawn, the latest pulls, each subscriber's state (lienthong catalog status, subscribers).
#[utoipa::path(
    get,
    path = "/admin/catalog",
    responses(
        (status = 200, description = "the catalog", body = CatalogOverview),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no catalog on this instance", body = ErrorBody),
        (status = 409, description = "no portal configured to read the catalog from", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn catalog_overview(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(catalog) = st.catalog.as_ref() else {
        return no_catalog();
    };
    let overview = catalog.overview().await;
    let subscribers = catalog.subscriber_states().await;
    match (overview, subscribers) {
        (Ok((procedures, pulls)), Ok(subscribers)) => Json(CatalogOverview {
            procedures,
            pulls,
            subscribers,
        })
        .into_response(),
        (Err(e), _) | (_, Err(e)) => catalog_error(&e),
    }
}

#[derive(Serialize, ToSchema)]
struct Subscribers {
    subscribers: Vec<crate::catalog::SubscriberState>,
}

/// Each subscriber's state: versions behind, last success, last error, paused, down (lienthong catalog subscribers).
#[utoipa::path(
    get,
    path = "/admin/catalog/subscribers",
    responses(
        (status = 200, description = "subscribers", body = Subscribers),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no catalog on this instance", body = ErrorBody),
        (status = 409, description = "no portal configured to read the catalog from", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn catalog_subscribers(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(catalog) = st.catalog.as_ref() else {
        return no_catalog();
    };
    match catalog.subscriber_states().await {
        Ok(subscribers) => Json(Subscribers { subscribers }).into_response(),
        Err(e) => catalog_error(&e),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// Milliseconds since 1970.
    #[serde(default)]
    #[param(default = 0)]
    since_ms: i64,
    #[serde(default = "default_changes_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: i64,
}

#[derive(Serialize, ToSchema)]
struct Changes {
    changes: Vec<crate::catalog::Change>,
}

fn default_changes_limit() -> i64 {
    100
}

/// Versions published since a time, in publication order, with what changed field by field (lienthong catalog diff).
#[utoipa::path(
    get,
    path = "/admin/catalog/changes",
    params(ChangesQuery),
    responses(
        (status = 200, description = "changes", body = Changes),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no catalog on this instance", body = ErrorBody),
        (status = 409, description = "no portal configured to read the catalog from", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn catalog_changes(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(catalog) = st.catalog.as_ref() else {
        return no_catalog();
    };
    let Ok(Query(q)) = query else {
        return bad_request("expected since_ms (milliseconds since 1970) and limit (1 to 1000)");
    };
    if !(1..=1000).contains(&q.limit) {
        return bad_request("limit: from 1 to 1000");
    }
    match catalog.diff(q.since_ms, q.limit).await {
        Ok(changes) => Json(Changes { changes }).into_response(),
        Err(e) => catalog_error(&e),
    }
}

#[derive(Serialize, ToSchema)]
struct Procedure {
    /// Newest first.
    versions: Vec<crate::catalog::VersionInfo>,
    /// Its latest object as the portal sent it.
    #[schema(value_type = Option<Object>)]
    procedure: Option<Value>,
}

/// One procedure: its versions, newest first, and its latest object as the portal sent it (lienthong catalog history, show).
#[utoipa::path(
    get,
    path = "/admin/catalog/procedures/{code}",
    params(("code" = String, Path, description = "the procedure's code (MATTHC)")),
    responses(
        (status = 200, description = "the procedure", body = Procedure),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no such procedure, or no catalog on this instance", body = ErrorBody),
        (status = 409, description = "no portal configured to read the catalog from", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn catalog_procedure(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(catalog) = st.catalog.as_ref() else {
        return no_catalog();
    };
    let history = match catalog.history(&code).await {
        Ok(h) => h,
        Err(e) => return catalog_error(&e),
    };
    match catalog.show(&code, None).await {
        Ok((_, procedure)) => Json(Procedure {
            versions: history,
            procedure,
        })
        .into_response(),
        Err(e) => catalog_error(&e),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResendRequest {
    subscriber: String,
}

#[derive(Serialize, ToSchema)]
struct Resent {
    subscriber: String,
    /// Messages queued.
    queued: usize,
}

/// Queue the whole current catalog for one subscriber (lienthong catalog resend).
#[utoipa::path(
    post,
    path = "/admin/catalog/resend",
    request_body = ResendRequest,
    responses(
        (status = 200, description = "queued", body = Resent),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "no such subscriber, or no catalog on this instance", body = ErrorBody),
        (status = 409, description = "no portal configured to read the catalog from", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

async fn catalog_resend(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<ResendRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(catalog) = st.catalog.as_ref() else {
        return no_catalog();
    };
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"subscriber": "..."}"#);
    };
    match catalog.resend(&req.subscriber).await {
        Ok(queued) => Json(Resent {
            subscriber: req.subscriber,
            queued,
        })
        .into_response(),
        Err(e) => catalog_error(&e),
    }
}

fn postal_error(e: &crate::postal::PostalError) -> Response {
    use crate::postal::PostalError;
    let status = match e {
        PostalError::NotConfigured | PostalError::Refused(_) => StatusCode::CONFLICT,
        PostalError::Feed(_) => StatusCode::BAD_GATEWAY,
        PostalError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(ErrorBody::new(e.to_string()))).into_response()
}

/// The postal service for a request carrying the admin token, or the answer to give instead
/// (401 without the token, 404 on an instance without a postal service).
fn postal_for<'a>(
    st: &'a AdminState,
    headers: &HeaderMap,
) -> Result<&'a Arc<crate::postal::Postal>, Box<Response>> {
    if let Some(r) = refuse(st, headers) {
        return Err(Box::new(r));
    }
    st.postal.as_ref().ok_or_else(|| {
        Box::new(
            (
                StatusCode::NOT_FOUND,
                Json(ErrorBody::new("this instance has no postal service")),
            )
                .into_response(),
        )
    })
}

#[derive(Serialize, ToSchema)]
struct PostalOverview {
    /// Whether `[peers.vnpost]` is configured.
    configured: bool,
    counts: crate::store::PostalCounts,
    /// Orders with an alert.
    alerts: Vec<crate::postal::OrderView>,
}

/// The postal operations view: counts, orders with an alert (lienthong postal status).
#[utoipa::path(
    get,
    path = "/admin/postal",
    responses(
        (status = 200, description = "overview", body = PostalOverview),
        (status = 401, response = Unauthorized),
        (status = 404, description = "this instance has no postal service", body = ErrorBody),
        (status = 409, description = "VNPost is not configured", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn postal_overview(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let postal = match postal_for(&st, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let counts = match postal.counts().await {
        Ok(c) => c,
        Err(e) => return postal_error(&e),
    };
    let orders = match postal.orders(None, None, 1000).await {
        Ok(o) => o,
        Err(e) => return postal_error(&e),
    };
    let alerts: Vec<_> = orders.into_iter().filter(|o| o.alert.is_some()).collect();
    Json(PostalOverview {
        configured: postal.is_configured(),
        counts,
        alerts,
    })
    .into_response()
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PostalOrdersQuery {
    dossier: Option<String>,
    state: Option<String>,
    #[serde(default = "default_changes_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: i64,
}

#[derive(Serialize, ToSchema)]
struct PostalOrders {
    orders: Vec<crate::postal::OrderView>,
}

/// Postal orders, newest first (lienthong postal orders).
#[utoipa::path(
    get,
    path = "/admin/postal/orders",
    params(PostalOrdersQuery),
    responses(
        (status = 200, description = "orders", body = PostalOrders),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "this instance has no postal service", body = ErrorBody),
        (status = 409, description = "VNPost is not configured", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

async fn postal_orders(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<PostalOrdersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let postal = match postal_for(&st, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(Query(q)) = query else {
        return bad_request("expected dossier, state and limit (1 to 1000)");
    };
    if !(1..=1000).contains(&q.limit) {
        return bad_request("limit: from 1 to 1000");
    }
    match postal
        .orders(q.dossier.as_deref(), q.state.as_deref(), q.limit as usize)
        .await
    {
        Ok(orders) => Json(PostalOrders { orders }).into_response(),
        Err(e) => postal_error(&e),
    }
}

#[derive(Serialize, ToSchema)]
struct DossierOrders {
    dossier: String,
    orders: Vec<crate::postal::OrderDetail>,
}

/// A dossier's postal orders with every tracking event (lienthong postal show).
#[utoipa::path(
    get,
    path = "/admin/postal/orders/{dossier}",
    params(("dossier" = String, Path, description = "the dossier code")),
    responses(
        (status = 200, description = "orders and events", body = DossierOrders),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no postal order for this dossier, or no postal service", body = ErrorBody),
        (status = 409, description = "VNPost is not configured", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn postal_order(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(dossier): Path<String>,
) -> Response {
    let postal = match postal_for(&st, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match postal.show(&dossier, None).await {
        Ok(orders) if orders.is_empty() => (
            StatusCode::NOT_FOUND,
            Json(ErrorBody::new("no postal order for this dossier")),
        )
            .into_response(),
        Ok(orders) => Json(DossierOrders { dossier, orders }).into_response(),
        Err(e) => postal_error(&e),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LimitQuery {
    #[serde(default = "default_changes_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: i64,
}

#[derive(Serialize, ToSchema)]
struct UnknownEvents {
    /// A tracking event as stored (its raw object is not shown: it may name the citizen).
    events: Vec<crate::store::PostalEventRow>,
}

/// Tracking events of orders the gateway did not make, newest first (lienthong postal unknown).
#[utoipa::path(
    get,
    path = "/admin/postal/unknown",
    params(LimitQuery),
    responses(
        (status = 200, description = "events", body = UnknownEvents),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "this instance has no postal service", body = ErrorBody),
        (status = 409, description = "VNPost is not configured", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

async fn postal_unknown(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<LimitQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let postal = match postal_for(&st, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(Query(q)) = query else {
        return bad_request("expected limit (1 to 1000)");
    };
    if !(1..=1000).contains(&q.limit) {
        return bad_request("limit: from 1 to 1000");
    }
    match postal.unknown(q.limit as usize).await {
        Ok(events) => Json(UnknownEvents { events }).into_response(),
        Err(e) => postal_error(&e),
    }
}

/// Read VNPost's tracking feed now, from the stored cursor (lienthong postal poll).
#[utoipa::path(
    post,
    path = "/admin/postal/poll",
    responses(
        (status = 200, description = "what the poll did", body = crate::postal::PollReport),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "this instance has no postal service", body = ErrorBody),
        (status = 409, description = "VNPost is not configured", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
async fn postal_poll(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let postal = match postal_for(&st, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    match postal.poll(&crate::postal::Quiet).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => postal_error(&e),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PostalCancelRequest {
    dossier: String,
    /// `"1"` (collection) or `"2"` (delivery); both when left out.
    #[schema(schema_with = openapi::order_type)]
    order_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Cancelled {
    dossier: String,
    /// The order types whose cancel was queued.
    cancelled: Vec<String>,
}

/// Cancel a dossier's postal orders that can still be cancelled, through the outbox (lienthong postal cancel).
#[utoipa::path(
    post,
    path = "/admin/postal/cancel",
    request_body = PostalCancelRequest,
    responses(
        (status = 200, description = "queued", body = Cancelled),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "this instance has no postal service", body = ErrorBody),
        (status = 409, description = "VNPost is not configured, or nothing can be cancelled", body = ErrorBody),
        (status = 502, description = "VNPost's feed refused or could not be read", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

async fn postal_cancel(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<PostalCancelRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let postal = match postal_for(&st, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"dossier": "...", "order_type": "1" | "2" (optional)}"#);
    };
    if req
        .order_type
        .as_deref()
        .is_some_and(|t| t != "1" && t != "2")
    {
        return bad_request(r#"order_type: "1" (collection) or "2" (delivery)"#);
    }
    match postal.cancel(&req.dossier, req.order_type.as_deref()).await {
        Ok(cancelled) => Json(Cancelled {
            dossier: req.dossier,
            cancelled,
        })
        .into_response(),
        Err(e) => postal_error(&e),
    }
}
