//! The quarantine and sources routes (admin token): `GET /admin/quarantine?source=&after=&limit=`
//! (oldest first, a page after the record `after`), `GET /admin/quarantine/{id}` (one record, its
//! values masked), `POST /admin/quarantine/retry` (`{"ids": [...]}` or `{"all": true, "source":
//! "..."}`: mapped again with the mapping files configured now, loaded for each request, so a
//! fixed file counts without a restart), `POST /admin/quarantine/{id}/drop`, and `GET
//! /admin/sources` (each source's ways, health, watermarks, recent files and quarantined
//! records). The same library calls as `lienthong quarantine ...` and `lienthong sources`.
//!
//! Personal data: a quarantined record is shown with every value masked and its field names
//! kept; reasons are masked (`mapping::mask_text`). The record whole is for `lienthong
//! quarantine show` on the server.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{self, BadRequest, ErrorBody, Forbidden, Unauthorized, Unavailable};
use super::{bad_request, refuse, store_error, AdminState};
use crate::source::quarantine::{self, Listed, PageError};
use crate::source::status;

/// The most ids one retry names, and the most per-record results an answer lists.
const MAX_IDS: usize = 1000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    source: Option<String>,
    /// The id of the last record of the previous page.
    after: Option<uuid::Uuid>,
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: i64,
}

/// A page of quarantined records.
#[derive(Serialize, ToSchema)]
pub(super) struct Page {
    #[schema(max_items = 1000)]
    records: Vec<Listed>,
    /// `after` for the next page; null when this page is not full.
    next: Option<String>,
}

fn default_limit() -> i64 {
    100
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody::new("no quarantined record with this id")),
    )
        .into_response()
}

/// Quarantined records, oldest first, a page at a time (lienthong quarantine list).
///
/// Keyset pages: pass the last record's id (or the answer's `next`) as `after` for the next
/// page. A record retried or dropped since cannot be paged after (404): start again from the
/// first page.
#[utoipa::path(
    get,
    path = "/admin/quarantine",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of quarantined records", body = Page),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no quarantined record with the id `after` names (retried or dropped since)", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn list(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Query(q)) = query else {
        return bad_request("query parameters: source, after (a record id), limit (1..=1000)");
    };
    if !(1..=1000).contains(&q.limit) {
        return bad_request(&format!("limit: {} is outside 1..=1000", q.limit));
    }
    let after = q.after.map(|a| a.to_string());
    match quarantine::page(&*st.store, q.source.as_deref(), after.as_deref(), q.limit).await {
        Ok(page) => {
            let records: Vec<Listed> = page.iter().map(Listed::from).collect();
            let next = (records.len() as i64 == q.limit)
                .then(|| records.last().map(|l| l.id.clone()))
                .flatten();
            Json(Page { records, next }).into_response()
        }
        Err(e @ PageError::UnknownAfter(_)) => {
            (StatusCode::NOT_FOUND, Json(ErrorBody::new(e.to_string()))).into_response()
        }
        Err(PageError::Store(e)) => store_error(&e),
    }
}

/// One quarantined record, its values masked (lienthong quarantine show prints it whole on the server).
#[utoipa::path(
    get,
    path = "/admin/quarantine/{id}",
    params(("id" = uuid::Uuid, Path, description = "the record's id")),
    responses(
        (status = 200, description = "the record", body = quarantine::Masked),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no quarantined record with this id", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn show(
    State(st): State<AdminState>,
    headers: HeaderMap,
    id: Result<Path<uuid::Uuid>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Path(id)) = id else {
        return bad_request("the record id is a UUID");
    };
    match st.store.quarantine_item(&id.to_string()).await {
        Ok(Some(q)) => Json(quarantine::masked(&q)).into_response(),
        Ok(None) => not_found(),
        Err(e) => store_error(&e),
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct Dropped {
    #[schema(format = Uuid)]
    dropped: String,
}

/// Remove a quarantined record for good (lienthong quarantine drop).
#[utoipa::path(
    post,
    path = "/admin/quarantine/{id}/drop",
    params(("id" = uuid::Uuid, Path, description = "the record's id")),
    responses(
        (status = 200, description = "dropped", body = Dropped),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, description = "no quarantined record with this id", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn drop_one(
    State(st): State<AdminState>,
    headers: HeaderMap,
    id: Result<Path<uuid::Uuid>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Path(id)) = id else {
        return bad_request("the record id is a UUID");
    };
    match st.store.quarantine_drop(&id.to_string()).await {
        Ok(true) => Json(Dropped {
            dropped: id.to_string(),
        })
        .into_response(),
        Ok(false) => not_found(),
        Err(e) => store_error(&e),
    }
}

/// A key that, when present, holds a value (`null` is refused, as the document says).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Which quarantined records to retry: by id, or all (of a source).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum RetryRequest {
    Ids(RetryIds),
    All(RetryAll),
}

/// These records.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryIds {
    #[schema(max_items = 1000)]
    ids: Vec<uuid::Uuid>,
}

/// Every quarantined record (of `source`) there when the retry begins.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryAll {
    /// `true` only.
    #[schema(schema_with = openapi::only_true)]
    all: bool,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    source: Option<String>,
}

/// What became of each record.
#[derive(Serialize, ToSchema)]
#[schema(as = RetryResult)]
pub(super) struct Retry {
    /// Mapped and queued; their quarantine rows are gone.
    accepted: u64,
    /// Refused again; each row keeps its id and takes the new reason.
    refused: u64,
    /// No quarantined record with that id (retried or dropped already).
    unknown: u64,
    /// Their source or kind of record is not configured now; left as they were.
    no_route: u64,
    #[schema(max_items = 1000)]
    results: Vec<quarantine::Retried>,
    /// Results left out past the first 1000 (only with `all`).
    results_omitted: usize,
}

/// Map quarantined records again with the mapping files configured now (lienthong quarantine retry).
///
/// The mapping files are loaded for each request, so a fixed file counts without a restart.
/// Accepted, a record is queued and its quarantine row removed in the same transaction; refused
/// again, its row keeps its id and takes the new reason (`retries` + 1). `all: true` goes
/// through every quarantined record (of `source`) that was there when the retry began, 500 per
/// transaction, and lists the first 1000 results.
#[utoipa::path(
    post,
    path = "/admin/quarantine/retry",
    request_body = RetryRequest,
    responses(
        (status = 200, description = "what became of each record", body = Retry),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn retry(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<openapi::JsonObject>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Some(req) = body.ok().and_then(|Json(o)| o.read::<RetryRequest>()) else {
        return bad_request(r#"expected {"ids": [...]} or {"all": true, "source": "..."}"#);
    };
    let (ids, source) = match req {
        RetryRequest::Ids(RetryIds { ids }) if ids.len() <= MAX_IDS => (Some(ids), None),
        RetryRequest::Ids(_) => {
            return bad_request(&format!("ids: at most {MAX_IDS} a request (or use all)"))
        }
        RetryRequest::All(RetryAll { all: true, source }) => (None, source),
        RetryRequest::All(_) => {
            return bad_request("give either ids, or all = true with an optional source")
        }
    };
    let Some(load) = st.remap.clone() else {
        return bad_request("this server has no source configuration to map with");
    };
    let routes = match load() {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("the configured mappings do not load: {e:#}")),
    };
    let done = match ids {
        Some(ids) => {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            quarantine::retry(&*st.store, &routes, &ids).await
        }
        None => quarantine::retry_all(&*st.store, &routes, source.as_deref(), &mut |_, _| {}).await,
    };
    let mut report = match done {
        Ok(r) => r,
        Err(e) => return store_error(&e),
    };
    if report.accepted > 0 {
        if let Some(wake) = &st.wake {
            wake.notify_waiters();
        }
    }
    let omitted = report.results.len().saturating_sub(MAX_IDS);
    report.results.truncate(MAX_IDS);
    Json(Retry {
        accepted: report.accepted,
        refused: report.refused,
        unknown: report.unknown,
        no_route: report.no_route,
        results: report.results,
        results_omitted: omitted,
    })
    .into_response()
}

#[derive(Serialize, ToSchema)]
pub(super) struct Sources {
    sources: Vec<status::SourceView>,
}

/// Every source: its ways in, the health its readers last wrote, watermarks, recent files, quarantined records (lienthong sources).
///
/// Configured sources in config order, then any other source the store still holds something
/// of (`configured: false`).
#[utoipa::path(
    get,
    path = "/admin/sources",
    responses(
        (status = 200, description = "the sources", body = Sources),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn sources(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    match status::overview(&*st.store, &st.sources).await {
        Ok(sources) => Json(Sources { sources }).into_response(),
        Err(e) => store_error(&e),
    }
}
