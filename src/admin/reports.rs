//! The report, overdue and reconciliation routes (admin token): `GET /admin/report?month=
//! &agency=&format=json|csv&lang=vi|en`, `GET /admin/overdue?agency=&limit=`, `GET
//! /admin/reconcile` (the latest runs), `POST /admin/reconcile` (`{"from", "to", "agency",
//! "repair"}`: begins or resumes a run in the background; answers 202 with it), `GET
//! /admin/reconcile/runs/{id}` (a run with its findings). No personal data: dossier codes,
//! agencies, procedures, statuses, dates and counts.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{self, BadRequest, ErrorBody, Forbidden, Unauthorized, Unavailable};
use super::{bad_request, refuse, store_error, AdminState};
use crate::reconcile::{Params, ReconcileError, Reconciler};
use crate::report::render::{self, Lang};
use crate::report::{Month, Reports};

/// A month's report as a CSV download (`bao-cao-YYYY-MM.csv`); the dashboard's too.
pub(crate) fn csv_attachment(month: Month, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"bao-cao-{month}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn not_here(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody::new(format!("this instance has no {what}"))),
    )
        .into_response()
}

fn reports_for<'a>(
    st: &'a AdminState,
    headers: &HeaderMap,
) -> Result<&'a Arc<Reports>, Box<Response>> {
    if let Some(r) = refuse(st, headers) {
        return Err(Box::new(r));
    }
    st.reports
        .as_ref()
        .ok_or_else(|| Box::new(not_here("service report")))
}

fn reconciler_for<'a>(
    st: &'a AdminState,
    headers: &HeaderMap,
) -> Result<&'a Arc<Reconciler>, Box<Response>> {
    if let Some(r) = refuse(st, headers) {
        return Err(Box::new(r));
    }
    st.reconciler
        .as_ref()
        .ok_or_else(|| Box::new(not_here("reconciliation (no [peers.dvcqg])")))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportQuery {
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11")]
    month: String,
    agency: Option<String>,
    #[param(schema_with = openapi::report_format)]
    format: Option<String>,
    #[param(schema_with = openapi::report_lang)]
    lang: Option<String>,
}

/// The province's monthly service report (lienthong report): received by channel, resolved early / on time / late, in progress, overdue, digitised shares, postal orders, satisfaction.
#[utoipa::path(
    get,
    path = "/admin/report",
    params(ReportQuery),
    responses(
        (status = 200, description = "the month's figures per agency and procedure, and their total (JSON), or the same as CSV for Excel (UTF-8 with a byte-order mark)", content(
            (crate::report::Report = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "this instance has no service report", body = ErrorBody),
        (status = 500, description = "the CSV could not be written", body = String, content_type = "text/plain"),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

pub(super) async fn report(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let reports = match reports_for(&st, &headers) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let Ok(Query(q)) = query else {
        return bad_request(
            "expected month=YYYY-MM, and optionally agency, format (json, csv), lang (vi, en)",
        );
    };
    let month = match Month::parse(&q.month) {
        Ok(m) => m,
        Err(e) => return bad_request(&e),
    };
    let Some(lang) = Lang::parse(q.lang.as_deref().unwrap_or("vi")) else {
        return bad_request("lang: vi or en");
    };
    let agency = q.agency.as_deref().filter(|a| !a.trim().is_empty());
    let report = match reports.month(month, agency, crate::store::now_ms()).await {
        Ok(r) => r,
        Err(e) => return store_error(&e),
    };
    match q.format.as_deref().unwrap_or("json") {
        "json" => Json(report).into_response(),
        "csv" => match render::csv(&report, lang) {
            Ok(bytes) => csv_attachment(month, bytes),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        _ => bad_request("format: json or csv"),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct OverdueQuery {
    agency: Option<String>,
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: i64,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Overdue {
    /// Open dossiers past the due date that counts.
    overdue: i64,
    /// Of which without an apology round.
    overdue_without_apology: i64,
    dossiers: Vec<crate::report::OverdueDossier>,
}

fn default_limit() -> i64 {
    100
}

/// Open dossiers past the due date that counts, and those due within report.due_soon_working_days, each with its apology rounds (lienthong overdue).
#[utoipa::path(
    get,
    path = "/admin/overdue",
    params(OverdueQuery),
    responses(
        (status = 200, description = "open dossiers past their due date, and those due soon", body = Overdue),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "this instance has no service report", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn overdue(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<OverdueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let reports = match reports_for(&st, &headers) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let Ok(Query(q)) = query else {
        return bad_request("expected agency and limit (1 to 1000)");
    };
    if !(1..=1000).contains(&q.limit) {
        return bad_request("limit: from 1 to 1000");
    }
    let now = crate::store::now_ms();
    let agency = q.agency.as_deref().filter(|a| !a.trim().is_empty());
    let (list, counts) = match (
        reports.overdue(agency, now, q.limit).await,
        reports.overdue_counts(now, agency).await,
    ) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) | (_, Err(e)) => return store_error(&e),
    };
    Json(Overdue {
        overdue: counts.0,
        overdue_without_apology: counts.1,
        dossiers: list,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub(super) struct Runs {
    /// Newest first.
    runs: Vec<crate::store::ReconcileRun>,
}

/// The latest reconciliation runs with their counts.
#[utoipa::path(
    get,
    path = "/admin/reconcile",
    responses(
        (status = 200, description = "the latest runs, newest first", body = Runs),
        (status = 401, response = Unauthorized),
        (status = 404, description = "this instance has no reconciliation (no [peers.dvcqg])", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn reconcile_runs(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Err(r) = reconciler_for(&st, &headers) {
        return *r;
    }
    match st.store.reconcile_runs(20).await {
        Ok(runs) => Json(Runs { runs }).into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct RunFindings {
    run: crate::store::ReconcileRun,
    /// Up to 1000.
    findings: Vec<crate::store::ReconcileFinding>,
}

/// One reconciliation run with its findings.
#[utoipa::path(
    get,
    path = "/admin/reconcile/runs/{id}",
    params(("id" = String, Path, description = "the run's id")),
    responses(
        (status = 200, description = "the run and its findings", body = RunFindings),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no such run, or this instance has no reconciliation", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn reconcile_run(
    State(st): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = reconciler_for(&st, &headers) {
        return *r;
    }
    let run = match st.store.reconcile_run(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_here(&format!("reconcile run {id}")),
        Err(e) => return store_error(&e),
    };
    match st.store.reconcile_findings(&id, 1000).await {
        Ok(findings) => Json(RunFindings { run, findings }).into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReconcileRequest {
    /// The first day of registration to check.
    from: chrono::NaiveDate,
    /// The last day of registration to check.
    to: chrono::NaiveDate,
    agency: Option<String>,
    /// Queue the corrections.
    #[serde(default)]
    #[schema(default = false)]
    repair: bool,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Started {
    run: crate::store::ReconcileRun,
}

/// Begin (or resume) a reconciliation of the dossiers registered from `from` to `to` (lienthong reconcile).
#[utoipa::path(
    post,
    path = "/admin/reconcile",
    request_body = ReconcileRequest,
    responses(
        (status = 202, description = "the run begun (or the unfinished one over the same range, resumed); it goes on in the background", body = Started),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "this instance has no reconciliation (no [peers.dvcqg])", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]

pub(super) async fn reconcile_start(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<ReconcileRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let reconciler = match reconciler_for(&st, &headers) {
        Ok(r) => r.clone(),
        Err(r) => return *r,
    };
    let Ok(Json(req)) = body else {
        return bad_request(
            r#"expected {"from": "2026-11-01", "to": "2026-11-30", "agency": "..." (optional), "repair": false}"#,
        );
    };
    let params = Params {
        from: req.from,
        to: req.to,
        agency: req.agency,
        repair: req.repair,
        restart: false,
    };
    let run = match reconciler.begin(&params).await {
        Ok(run) => run,
        Err(ReconcileError::Invalid(e)) => return bad_request(&e),
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ErrorBody::new(e.to_string())),
            )
                .into_response()
        }
    };
    let started = run.clone();
    tokio::spawn(async move {
        if let Err(e) = reconciler.go(run, &crate::reconcile::Quiet).await {
            tracing::warn!(error = %e, "reconcile: run stopped");
        }
    });
    (StatusCode::ACCEPTED, Json(Started { run: started })).into_response()
}
