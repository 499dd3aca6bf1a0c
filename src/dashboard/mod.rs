//! The operators' dashboard, in Vietnamese and English (`?lang=vi|en`): the overview (is the
//! province in sync, backlogs, pauses with pause and resume, the throughput chart, refreshed
//! live: `overview.rs`); the catalog (`catalog.rs`) and postal (`postal.rs`) pages; the monthly service
//! report (with its CSV for Excel), the overdue list with apologies, reconciliation runs and
//! their findings, and starting a run; the sources' health and the quarantine, with retry and
//! drop (`sources.rs`). Pages are rendered on the server from `templates/`
//! (minijinja, HTML auto-escaping). Logging in takes the admin token (`server.admin_token`) and
//! gives an HTTP-only, same-site session cookie for `/ui` (8 hours); every form that changes
//! something carries the session's CSRF token. Shows no personal data: dossier codes, agencies,
//! procedures, statuses, dates and counts only; a quarantined record's
//! reason masked, never its content.

mod audit;
mod catalog;
mod i18n;
mod outbox;
pub mod overview;
mod postal;
mod sources;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::Environment;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::roles::{Operator, Operators};
use crate::reconcile::{Params, Reconciler};
use crate::report::render;
use crate::report::{Month, Reports};
use crate::store::Store;
use i18n::Lang;

/// How long a login lasts.
const SESSION: Duration = Duration::from_secs(8 * 3600);
const COOKIE: &str = "lienthong_session";

struct Session {
    csrf: String,
    /// Who logged in, and what they may do.
    who: Operator,
    until: Instant,
}

/// A live session's person and CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub csrf: String,
    pub who: Operator,
}

/// What the dashboard serves from.
#[derive(Clone)]
pub struct DashboardState {
    pub store: Arc<dyn Store>,
    /// Who may log in; with nobody configured the pages answer 404.
    pub operators: Operators,
    pub reports: Arc<Reports>,
    pub reconciler: Option<Arc<Reconciler>>,
    /// The configured sources and their ways.
    pub sources: Arc<Vec<crate::source::status::ConfiguredSource>>,
    /// Builds the route table as configured now, which a retry maps with.
    pub routes: Option<crate::source::routes::Loader>,
    /// Wakes the delivery lanes after a retry queued records or a resume.
    pub wake: Option<Arc<tokio::sync::Notify>>,
    /// The configured peers' names, in config order.
    pub peers: Arc<Vec<String>>,
    /// This instance's lanes (their breakers, for the overview).
    pub lanes: Vec<Arc<crate::outbox::Lane>>,
    pub catalog: Option<Arc<crate::catalog::Catalog>>,
    pub postal: Option<Arc<crate::postal::Postal>>,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    templates: Arc<Environment<'static>>,
}

impl DashboardState {
    pub fn new(
        store: Arc<dyn Store>,
        operators: Operators,
        reports: Arc<Reports>,
        reconciler: Option<Arc<Reconciler>>,
    ) -> Self {
        let mut env = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("report.html", include_str!("templates/report.html")),
            ("overdue.html", include_str!("templates/overdue.html")),
            ("reconcile.html", include_str!("templates/reconcile.html")),
            ("sources.html", include_str!("templates/sources.html")),
            ("quarantine.html", include_str!("templates/quarantine.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("catalog.html", include_str!("templates/catalog.html")),
            ("postal.html", include_str!("templates/postal.html")),
            (
                "overview_live.html",
                include_str!("templates/overview_live.html"),
            ),
            ("outbox.html", include_str!("templates/outbox.html")),
            (
                "outbox_confirm.html",
                include_str!("templates/outbox_confirm.html"),
            ),
            ("outbox_job.html", include_str!("templates/outbox_job.html")),
            ("message.html", include_str!("templates/message.html")),
            ("audit.html", include_str!("templates/audit.html")),
        ] {
            env.add_template(name, text)
                .expect("the dashboard's templates compile");
        }
        env.add_function("pct", |p: Option<f64>| {
            p.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "–".into())
        });
        // A time in milliseconds, in Vietnam time.
        env.add_function("when", |ms: Option<i64>| {
            ms.and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| {
                    t.with_timezone(&crate::time::vietnam())
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|| "–".into())
        });
        // A query parameter's value (minijinja's own filter needs a feature not built here).
        env.add_filter("urlencode", |v: String| {
            form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        });
        // Milliseconds as seconds.
        env.add_function("secs", |ms: Option<i64>| {
            ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                .unwrap_or_else(|| "–".into())
        });
        Self {
            store,
            operators,
            reports,
            reconciler,
            sources: Arc::default(),
            routes: None,
            wake: None,
            peers: Arc::default(),
            lanes: Vec::new(),
            catalog: None,
            postal: None,
            sessions: Arc::default(),
            templates: Arc::new(env),
        }
    }

    /// With the configured sources, the route table's loader for retries and the lanes' wake-up.
    pub fn with_sources(
        mut self,
        sources: Arc<Vec<crate::source::status::ConfiguredSource>>,
        routes: crate::source::routes::Loader,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        self.sources = sources;
        self.routes = Some(routes);
        self.wake = Some(wake);
        self
    }

    /// With the configured peers, this instance's lanes, the catalog and the postal service.
    pub fn with_operations(
        mut self,
        peers: Arc<Vec<String>>,
        lanes: Vec<Arc<crate::outbox::Lane>>,
        catalog: Option<Arc<crate::catalog::Catalog>>,
        postal: Option<Arc<crate::postal::Postal>>,
    ) -> Self {
        self.peers = peers;
        self.lanes = lanes;
        self.catalog = catalog;
        self.postal = postal;
        self
    }

    /// The session of a request's cookie, if it is live: its CSRF token.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        self.login(headers).map(|l| l.csrf)
    }

    /// The session of a request's cookie, if it is live.
    pub(crate) fn login(&self, headers: &HeaderMap) -> Option<Login> {
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.until > now);
        sessions.get(&id).map(|s| Login {
            csrf: s.csrf.clone(),
            who: s.who.clone(),
        })
    }

    /// Writes an action's audit row (way `ui`); a failure to write it is logged.
    pub(crate) async fn audit(&self, who: &Operator, action: &str, target: Value, outcome: &str) {
        let record = crate::store::ActionRecord::new(
            &who.name,
            who.role.as_str(),
            "ui",
            action,
            target,
            outcome,
        );
        if let Err(e) = self.store.record_audit(&record).await {
            tracing::error!(error = %e, action, "dashboard: an action's audit row was not written");
        }
    }

    /// A template rendered, or the answer to give when it does not render. Who is logged in
    /// (found by the page's CSRF token) is added: their name, and whether the page shows its
    /// action buttons.
    fn render_string(&self, name: &str, mut ctx: Value) -> Result<String, Box<Response>> {
        if let Some(csrf) = ctx.get("csrf").and_then(Value::as_str).map(str::to_string) {
            let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = sessions.values().find(|s| s.csrf == csrf) {
                ctx["user"] = json!(s.who.name);
                ctx["role"] = json!(s.who.role.as_str());
                ctx["can_act"] = json!(s.who.role.may_change());
            }
        }
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| {
                tracing::error!(error = %e, template = name, "dashboard: a page did not render");
                Box::new(
                    (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render").into_response(),
                )
            })
    }

    fn render(&self, name: &str, ctx: Value) -> Response {
        match self.render_string(name, ctx) {
            Ok(html) => {
                let mut r = Html(html).into_response();
                // Pages are not cached nor framed.
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r.headers_mut()
                    .insert("x-frame-options", HeaderValue::from_static("DENY"));
                r
            }
            Err(r) => *r,
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/overview") }))
        .route(
            "/ui/overview",
            get(overview::overview).post(overview::action),
        )
        .route("/ui/overview.json", get(overview::overview_json))
        .route("/ui/overview.js", get(overview::script))
        .route(
            "/ui/catalog",
            get(catalog::catalog_page).post(catalog::resend),
        )
        .route("/ui/postal", get(postal::postal_page).post(postal::action))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/report", get(report))
        .route("/ui/report.csv", get(report_csv))
        .route("/ui/overdue", get(overdue))
        .route("/ui/reconcile", get(reconcile).post(reconcile_start))
        .route("/ui/reconcile/{id}", get(reconcile_run))
        .route("/ui/sources", get(sources::sources))
        .route(
            "/ui/quarantine",
            get(sources::quarantine_page).post(sources::quarantine_action),
        )
        .route("/ui/outbox", get(outbox::list))
        .route("/ui/outbox/jobs", post(outbox::start_job))
        .route(
            "/ui/outbox/jobs/{id}",
            get(outbox::job).post(outbox::rerun_job),
        )
        .route("/ui/outbox/{id}", get(outbox::show).post(outbox::act))
        .route("/ui/audit", get(audit::page))
        .with_state(state)
}

#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

/// What every page's frame needs.
fn frame(lang: Lang, page: &str, csrf: &str, query: &str) -> serde_json::Map<String, Value> {
    let mut other: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        .map(str::to_string)
        .collect();
    other.push(format!("lang={}", lang.other().code()));
    let mut m = serde_json::Map::new();
    m.insert("lang".into(), json!(lang.code()));
    m.insert("t".into(), json!(lang.words()));
    m.insert("page".into(), json!(page));
    m.insert("csrf".into(), json!(csrf));
    m.insert("other_lang_query".into(), json!(other.join("&")));
    m
}

/// The page for a logged-in person (operator or viewer), or the way to the login page.
fn guard(st: &DashboardState, headers: &HeaderMap, lang: Lang) -> Result<String, Box<Response>> {
    logged_in(st, headers, lang).map(|l| l.csrf)
}

/// The logged-in person, or the answer to give (404 with nobody configured, else the login
/// page).
pub(crate) fn logged_in(
    st: &DashboardState,
    headers: &HeaderMap,
    lang: Lang,
) -> Result<Login, Box<Response>> {
    if st.operators.is_empty() {
        return Err(Box::new(
            (
                StatusCode::NOT_FOUND,
                "the dashboard needs server.admin_token or server.users",
            )
                .into_response(),
        ));
    }
    st.login(headers).ok_or_else(|| {
        Box::new(Redirect::to(&format!("/ui/login?lang={}", lang.code())).into_response())
    })
}

/// An audit row's outcome for an action refused with `why` (masked, like every text shown).
pub(super) fn refused(why: &impl std::fmt::Display) -> String {
    format!("refused: {}", crate::mapping::mask_text(&why.to_string()))
}

/// The person of a form that changes something: logged in, the form carrying the session's
/// CSRF token, and an operator (a viewer's attempt answers 403 and is audited as refused).
pub(crate) async fn acting(
    st: &DashboardState,
    headers: &HeaderMap,
    lang: Lang,
    presented: &str,
    action: &str,
) -> Result<Login, Box<Response>> {
    let login = logged_in(st, headers, lang)?;
    if !same(&login.csrf, presented) {
        tracing::warn!("dashboard: a form without the session's CSRF token refused");
        return Err(Box::new(
            (StatusCode::FORBIDDEN, "the form is stale: reload the page").into_response(),
        ));
    }
    if !login.who.role.may_change() {
        st.audit(
            &login.who,
            action,
            json!({}),
            "refused: a viewer may not change anything",
        )
        .await;
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                "a viewer may read but not change anything",
            )
                .into_response(),
        ));
    }
    Ok(login)
}

async fn login_page(State(st): State<DashboardState>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    st.render(
        "login.html",
        json!({"lang": lang.code(), "other_lang": lang.other().code(), "t": lang.words(), "error": false}),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(st): State<DashboardState>,
    Query(q): Query<LangQuery>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let who = match &form {
        Ok(Form(f)) => st.operators.find(f.token.trim()),
        Err(_) => None,
    };
    let Some(who) = who else {
        tracing::warn!("dashboard: a login with a wrong token");
        let mut r = st.render(
            "login.html",
            json!({"lang": lang.code(), "other_lang": lang.other().code(), "t": lang.words(), "error": true}),
        );
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let csrf = uuid::Uuid::new_v4().simple().to_string();
    st.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id.clone(),
            Session {
                csrf,
                who: who.clone(),
                until: Instant::now() + SESSION,
            },
        );
    tracing::info!(who = %who.name, role = who.role.as_str(), "dashboard: a person logged in");
    let mut r = Redirect::to(&format!("/ui/overview?lang={}", lang.code())).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
            SESSION.as_secs()
        ))
        .expect("an ASCII cookie"),
    );
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let (Some(id), Some(csrf), Ok(Form(f))) =
        (cookie(&headers, COOKIE), st.session(&headers), form)
    {
        if same(&csrf, &f.csrf) {
            st.sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
    }
    let mut r = Redirect::to("/ui/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "lienthong_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

#[derive(Deserialize, Default)]
struct ReportQuery {
    month: Option<String>,
    agency: Option<String>,
    lang: Option<String>,
}

/// The month asked for, or the current one (Vietnam time).
fn month_of(q: &ReportQuery) -> Result<Month, String> {
    match q.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Month::parse(m),
        None => Ok(Month::of(chrono::Utc::now())),
    }
}

async fn report(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
    uri: axum::http::Uri,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let csrf = match guard(&st, &headers, lang) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let month = match month_of(&q) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let agency = q.agency.as_deref().filter(|a| !a.is_empty());
    let report = match st
        .reports
        .month(month, agency, crate::store::now_ms())
        .await
    {
        Ok(r) => r,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let total = if lang == Lang::Vi {
        "Tổng cộng"
    } else {
        "Total"
    };
    let rows: Vec<Vec<String>> = report
        .lines
        .iter()
        .chain(std::iter::once(&report.total))
        .map(|l| render::cells(l, total))
        .collect();
    let columns: Vec<&str> = render::COLUMNS
        .iter()
        .map(|(vi, en)| if lang == Lang::Vi { *vi } else { *en })
        .collect();
    let mut ctx = frame(lang, "report", &csrf, uri.query().unwrap_or(""));
    ctx.insert("title".into(), json!(lang.words()["report"]));
    ctx.insert("report".into(), json!(report));
    ctx.insert("rows".into(), json!(rows));
    ctx.insert("columns".into(), json!(columns));
    st.render("report.html", Value::Object(ctx))
}

async fn report_csv(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    if let Err(r) = guard(&st, &headers, lang) {
        return *r;
    }
    let month = match month_of(&q) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let agency = q.agency.as_deref().filter(|a| !a.is_empty());
    match st
        .reports
        .month(month, agency, crate::store::now_ms())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| render::csv(&r, lang.report_lang()).map_err(|e| e.to_string()))
    {
        Ok(bytes) => crate::admin::csv_attachment(month, bytes),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

async fn overdue(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
    uri: axum::http::Uri,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let csrf = match guard(&st, &headers, lang) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = crate::store::now_ms();
    let agency = q.agency.as_deref().filter(|a| !a.is_empty());
    let (list, (all, without)) = match (
        st.reports.overdue(agency, now, 500).await,
        st.reports.overdue_counts(now, agency).await,
    ) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) | (_, Err(e)) => {
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    };
    let mut ctx = frame(lang, "overdue", &csrf, uri.query().unwrap_or(""));
    ctx.insert("title".into(), json!(lang.words()["overdue"]));
    ctx.insert("dossiers".into(), json!(list));
    ctx.insert("overdue".into(), json!(all));
    ctx.insert("without".into(), json!(without));
    st.render("overdue.html", Value::Object(ctx))
}

async fn reconcile_page(
    st: &DashboardState,
    lang: Lang,
    csrf: &str,
    query: &str,
    run: Option<&str>,
    message: Option<String>,
) -> Response {
    let runs = match st.store.reconcile_runs(20).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    };
    let findings = match run {
        Some(id) => match st.store.reconcile_findings(id, 1000).await {
            Ok(f) => f,
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        },
        None => Vec::new(),
    };
    let mut ctx = frame(lang, "reconcile", csrf, query);
    ctx.insert("title".into(), json!(lang.words()["reconcile"]));
    ctx.insert("configured".into(), json!(st.reconciler.is_some()));
    ctx.insert("runs".into(), json!(runs));
    ctx.insert("findings".into(), json!(findings));
    ctx.insert("message".into(), json!(message));
    st.render("reconcile.html", Value::Object(ctx))
}

async fn reconcile(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
    uri: axum::http::Uri,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    match guard(&st, &headers, lang) {
        Ok(csrf) => reconcile_page(&st, lang, &csrf, uri.query().unwrap_or(""), None, None).await,
        Err(r) => *r,
    }
}

async fn reconcile_run(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    uri: axum::http::Uri,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    match guard(&st, &headers, lang) {
        Ok(csrf) => {
            reconcile_page(&st, lang, &csrf, uri.query().unwrap_or(""), Some(&id), None).await
        }
        Err(r) => *r,
    }
}

#[derive(Deserialize)]
struct StartForm {
    csrf: String,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    #[serde(default)]
    agency: String,
    repair: Option<String>,
}

async fn reconcile_start(
    State(st): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
    form: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = Lang::parse(q.lang.as_deref());
    let Ok(Form(f)) = form else {
        if let Err(r) = guard(&st, &headers, lang) {
            return *r;
        }
        return (StatusCode::BAD_REQUEST, "expected from, to, agency, repair").into_response();
    };
    let login = match acting(&st, &headers, lang, &f.csrf, "reconcile.start").await {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let csrf = login.csrf.clone();
    let Some(reconciler) = st.reconciler.clone() else {
        return (StatusCode::NOT_FOUND, "the portal is not configured").into_response();
    };
    let params = Params {
        from: f.from,
        to: f.to,
        agency: Some(f.agency.trim().to_string()).filter(|a| !a.is_empty()),
        repair: f.repair.is_some(),
        restart: false,
    };
    let target = json!({
        "from": params.from.to_string(), "to": params.to.to_string(),
        "agency": params.agency, "repair": params.repair,
    });
    let message = match reconciler.begin(&params).await {
        Ok(run) => {
            let id = run.id.clone();
            let mut target = target.clone();
            target["run"] = json!(id);
            st.audit(&login.who, "reconcile.start", target, "ok").await;
            tokio::spawn(async move {
                if let Err(e) = reconciler.go(run, &crate::reconcile::Quiet).await {
                    tracing::warn!(error = %e, "reconcile: run stopped");
                }
            });
            format!("{} {id}", lang.words()["started"])
        }
        Err(e) => {
            st.audit(
                &login.who,
                "reconcile.start",
                target,
                &format!("failed: {}", crate::mapping::mask_text(&e.to_string())),
            )
            .await;
            e.to_string()
        }
    };
    reconcile_page(
        &st,
        lang,
        &csrf,
        &format!("lang={}", lang.code()),
        None,
        Some(message),
    )
    .await
}
