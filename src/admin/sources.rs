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
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::{bad_request, refuse, store_error, AdminState};
use crate::source::quarantine::{self, Listed, PageError};
use crate::source::status;

/// The most ids one retry names, and the most per-record results an answer lists.
const MAX_IDS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    source: Option<String>,
    after: Option<uuid::Uuid>,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "no quarantined record with this id" })),
    )
        .into_response()
}

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
            Json(json!({ "records": records, "next": next })).into_response()
        }
        Err(e @ PageError::UnknownAfter(_)) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
        Err(PageError::Store(e)) => store_error(&e),
    }
}

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
        Ok(true) => Json(json!({ "dropped": id.to_string() })).into_response(),
        Ok(false) => not_found(),
        Err(e) => store_error(&e),
    }
}

/// A key that, when present, holds a value (`null` is refused, as the document says).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetryRequest {
    /// `None` when the body has no `ids` at all (not the same as an empty list).
    #[serde(default, deserialize_with = "present")]
    ids: Option<Vec<uuid::Uuid>>,
    /// `true` only (the document allows no `false`).
    #[serde(default, deserialize_with = "present")]
    all: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    source: Option<String>,
}

pub(super) async fn retry(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<RetryRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"ids": [...]} or {"all": true, "source": "..."}"#);
    };
    let ids = match (req.ids, req.all, &req.source) {
        (Some(ids), None, None) if ids.len() <= MAX_IDS => Some(ids),
        (Some(_), None, None) => {
            return bad_request(&format!("ids: at most {MAX_IDS} a request (or use all)"))
        }
        (None, Some(true), _) => None,
        _ => return bad_request("give either ids, or all = true with an optional source"),
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
        None => {
            quarantine::retry_all(&*st.store, &routes, req.source.as_deref(), &mut |_, _| {}).await
        }
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
    Json(json!({
        "accepted": report.accepted,
        "refused": report.refused,
        "unknown": report.unknown,
        "no_route": report.no_route,
        "results": report.results,
        "results_omitted": omitted,
    }))
    .into_response()
}

pub(super) async fn sources(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    match status::overview(&*st.store, &st.sources).await {
        Ok(views) => Json(json!({ "sources": views })).into_response(),
        Err(e) => store_error(&e),
    }
}
