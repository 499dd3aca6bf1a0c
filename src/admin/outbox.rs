//! The outbox browser's routes: `GET /admin/outbox/messages` (every filter of the dashboard's
//! browser, newest first, keyset pages by queue position: `before`), and bulk jobs over everything
//! matching a filter: `POST /admin/outbox/jobs` (`{"action": "replay" | "skip", "filter":
//! {...}, "reason": "..."}`, run in the background in chunks), `GET /admin/outbox/jobs` and
//! `GET /admin/outbox/jobs/{id}` (progress). The same library calls as the dashboard's outbox
//! pages (`operator::begin_job`, `operator::run_job`).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad_request, caller, refuse, store_error, AdminState};
use crate::operator::{self, JobAction};
use crate::store::{now_ms, BrowsedMessage, OutboxFilter, OutboxJob, Store};

/// The largest `min_attempts` and time (ms) a filter takes, as documented.
pub(crate) const MAX_ATTEMPTS: i64 = 1_000_000;
pub(crate) const MAX_MS: i64 = 9_999_999_999_999;

/// Messages per transaction of a bulk job.
pub(crate) const JOB_CHUNK: i64 = operator::REPLAY_CHUNK;

/// Whether a filter's numbers are inside their documented bounds; the problem otherwise.
pub(crate) fn check_filter(f: &OutboxFilter) -> Result<(), String> {
    if let Some(n) = f.min_attempts {
        if !(0..=MAX_ATTEMPTS).contains(&n) {
            return Err(format!("min_attempts: {n} is outside 0..={MAX_ATTEMPTS}"));
        }
    }
    for (name, v) in [
        ("updated_from_ms", f.updated_from_ms),
        ("updated_to_ms", f.updated_to_ms),
    ] {
        if let Some(t) = v {
            if !(0..=MAX_MS).contains(&t) {
                return Err(format!("{name}: {t} is outside 0..={MAX_MS}"));
            }
        }
    }
    Ok(())
}

/// A page's cursor: the queue position of its last message.
pub(crate) fn cursor(m: &BrowsedMessage) -> i64 {
    m.position
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    peer: Option<String>,
    destination: Option<String>,
    operation: Option<String>,
    dossier: Option<String>,
    error: Option<String>,
    min_attempts: Option<i64>,
    updated_from_ms: Option<i64>,
    updated_to_ms: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

/// `GET /admin/outbox/messages`: messages matching the filter, newest first (by queue
/// position), without items; `next` is the `before` of the next page (null on the last).
pub(super) async fn messages(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Query(q)) = query else {
        return bad_request(
            "query parameters: state, peer, destination, operation, dossier, error, \
             min_attempts, updated_from_ms, updated_to_ms, before, limit (1..=1000)",
        );
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return bad_request(&format!("limit: {limit} is outside 1..=1000"));
    }
    let filter = OutboxFilter {
        state: q.state,
        peer: q.peer,
        destination: q.destination,
        operation: q.operation,
        dossier: q.dossier,
        error: q.error,
        min_attempts: q.min_attempts,
        updated_from_ms: q.updated_from_ms,
        updated_to_ms: q.updated_to_ms,
    }
    .normalized();
    if let Err(e) = check_filter(&filter) {
        return bad_request(&e);
    }
    match st.store.browse_messages(&filter, q.before, limit).await {
        Ok(list) => {
            let next = (list.len() as i64 == limit)
                .then(|| list.last().map(cursor))
                .flatten();
            Json(json!({
                "messages": list.iter().map(|m| json!({
                    "id": m.id.to_string(), "peer": m.peer, "destination": m.destination,
                    "operation": m.operation, "dossier": m.dossier, "state": m.state,
                    "attempts": m.attempts, "batch_id": m.batch_id, "error": m.last_error,
                    "updated_ms": m.updated_ms, "position": m.position,
                })).collect::<Vec<_>>(),
                "next": next,
            }))
            .into_response()
        }
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JobRequest {
    action: String,
    #[serde(default, deserialize_with = "filter_object")]
    filter: Option<OutboxFilter>,
    reason: Option<String>,
}

/// A filter given as a JSON object only (serde would also take a list of its fields in order).
fn filter_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OutboxFilter>, D::Error> {
    match Value::deserialize(d)? {
        v @ Value::Object(_) => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("filter: an object")),
    }
}

/// A job as the API and the dashboard show it.
pub(crate) fn job_json(j: &OutboxJob) -> Value {
    let filter: Value = serde_json::from_str(&j.filter).unwrap_or(Value::Null);
    json!({
        "id": j.id,
        "action": j.action,
        "filter": filter,
        "who": j.who,
        "state": j.shown_state(now_ms()),
        "total": j.total,
        "done": j.done,
        "changed": j.changed,
        "error": j.error,
        "created_ms": j.created_ms,
        "finished_ms": j.finished_ms,
    })
}

/// Runs a stored job in the background, then wakes the lanes (replayed messages are due now).
pub(crate) fn spawn_job(
    store: std::sync::Arc<dyn Store>,
    id: String,
    wake: Option<std::sync::Arc<tokio::sync::Notify>>,
) {
    tokio::spawn(async move {
        match operator::run_job(&*store, &id, JOB_CHUNK).await {
            Ok(job) => {
                tracing::info!(job = %id, action = %job.action, done = job.done, changed = job.changed, state = %job.state, "outbox: a bulk job ended")
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "outbox: a bulk job stopped"),
        }
        if let Some(wake) = wake {
            wake.notify_waiters();
        }
    });
}

/// `POST /admin/outbox/jobs`: stores a bulk job over every message matching the filter now,
/// starts it, answers 202 with it.
pub(super) async fn start_job(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<JobRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let who = caller(&st, &headers).map(|o| o.name).unwrap_or_default();
    let Ok(Json(req)) = body else {
        return bad_request(
            r#"expected {"action": "replay" | "skip", "filter": {...}, "reason": "..." (skip)}"#,
        );
    };
    let action = match (req.action.as_str(), req.reason) {
        ("replay", None) => JobAction::Replay,
        ("skip", Some(r)) if !r.trim().is_empty() => JobAction::Skip(r.trim().to_string()),
        ("skip", _) => return bad_request("a skip needs a reason"),
        ("replay", Some(_)) => return bad_request("a replay takes no reason"),
        _ => return bad_request("action: replay or skip"),
    };
    let filter = req.filter.unwrap_or_default().normalized();
    if let Err(e) = check_filter(&filter) {
        return bad_request(&e);
    }
    match operator::begin_job(&*st.store, &filter, &action, &who).await {
        Ok(job) => {
            spawn_job(st.store.clone(), job.id.clone(), st.wake.clone());
            (StatusCode::ACCEPTED, Json(json!({ "job": job_json(&job) }))).into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// `GET /admin/outbox/jobs`: the newest 100 jobs.
pub(super) async fn jobs(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    match st.store.jobs(100).await {
        Ok(list) => {
            Json(json!({ "jobs": list.iter().map(job_json).collect::<Vec<_>>() })).into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// `GET /admin/outbox/jobs/{id}`: one job's progress.
pub(super) async fn job(
    State(st): State<AdminState>,
    headers: HeaderMap,
    id: Result<Path<uuid::Uuid>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Path(id)) = id else {
        return bad_request("the job id is a UUID");
    };
    match st.store.job(&id.to_string()).await {
        Ok(Some(j)) => Json(json!({ "job": job_json(&j) })).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no bulk job with this id" })),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}
