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
use serde::Deserialize;
use serde_json::json;

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
        Json(json!({ "error": format!("this instance has no {what}") })),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportQuery {
    month: String,
    agency: Option<String>,
    format: Option<String>,
    lang: Option<String>,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OverdueQuery {
    agency: Option<String>,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

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
    Json(json!({
        "overdue": counts.0,
        "overdue_without_apology": counts.1,
        "dossiers": list,
    }))
    .into_response()
}

pub(super) async fn reconcile_runs(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Err(r) = reconciler_for(&st, &headers) {
        return *r;
    }
    match st.store.reconcile_runs(20).await {
        Ok(runs) => Json(json!({ "runs": runs })).into_response(),
        Err(e) => store_error(&e),
    }
}

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
        Ok(findings) => Json(json!({ "run": run, "findings": findings })).into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReconcileRequest {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    agency: Option<String>,
    #[serde(default)]
    repair: bool,
}

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
                Json(json!({ "error": e.to_string() })),
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
    (StatusCode::ACCEPTED, Json(json!({ "run": started }))).into_response()
}
