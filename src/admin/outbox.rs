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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::openapi::{self, BadRequest, ErrorBody, Forbidden, Unauthorized, Unavailable};
use super::{bad_request, caller, refuse, store_error, AdminState};
use crate::operator::{self, JobAction};
use crate::store::{now_ms, OutboxFilter, OutboxJob, Store};

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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    state: Option<String>,
    peer: Option<String>,
    destination: Option<String>,
    operation: Option<String>,
    dossier: Option<String>,
    /// A part of the last error's text, case ignored.
    error: Option<String>,
    #[param(minimum = 0, maximum = 1000000)]
    min_attempts: Option<i64>,
    #[param(minimum = 0, maximum = 9999999999999_i64)]
    updated_from_ms: Option<i64>,
    #[param(minimum = 0, maximum = 9999999999999_i64)]
    updated_to_ms: Option<i64>,
    /// The previous page's `next` (a queue position).
    before: Option<i64>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
}

/// A message as the browser lists it, without its item.
#[derive(Serialize, ToSchema)]
pub(super) struct MessageSummary {
    #[schema(format = Uuid)]
    id: String,
    peer: String,
    destination: String,
    operation: String,
    dossier: String,
    state: String,
    attempts: i64,
    /// The last batch (X-Request-ID).
    batch_id: Option<String>,
    error: Option<String>,
    updated_ms: i64,
    /// Queue position.
    position: i64,
}

/// A page of messages.
#[derive(Serialize, ToSchema)]
pub(super) struct MessagePage {
    #[schema(max_items = 1000)]
    messages: Vec<MessageSummary>,
    /// `before` for the next page; null at the end of the queue. A page that searched for its
    /// time without filling up carries fewer messages (maybe none) and a `next` to go on from.
    next: Option<i64>,
}

/// Messages matching a filter, newest first, without payloads (the dashboard's outbox browser).
///
/// Keyset pages by queue position (unique, kept by a replay): pass the answer's `next` as
/// `before` for the next page; no row is skipped or repeated across pages while rows change
/// state. Every filter is applied in SQL.
#[utoipa::path(
    get,
    path = "/admin/outbox/messages",
    params(ListQuery),
    responses(
        (status = 200, description = "messages", body = MessagePage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
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
        Ok(page) => {
            let next = page.next;
            Json(MessagePage {
                messages: page
                    .messages
                    .iter()
                    .map(|m| MessageSummary {
                        id: m.id.to_string(),
                        peer: m.peer.clone(),
                        destination: m.destination.clone(),
                        operation: m.operation.clone(),
                        dossier: m.dossier.clone(),
                        state: m.state.clone(),
                        attempts: m.attempts,
                        batch_id: m.batch_id.clone(),
                        error: m.last_error.clone(),
                        updated_ms: m.updated_ms,
                        position: m.position,
                    })
                    .collect(),
                next,
            })
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

/// The body of `POST /admin/outbox/jobs`: `{"action": "replay" | "remap", "filter": {...}}` or
/// `{"action": "skip", "filter": {...}, "reason": "..."}` (documented by hand: one of three
/// objects, which the handler tells apart).
impl utoipa::PartialSchema for JobRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::Ref;
        let variant = |action: &str, reason: bool| {
            let mut b = ObjectBuilder::new()
                .property(
                    "action",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([action])),
                )
                .required("action")
                .property("filter", Ref::from_schema_name("OutboxFilter"))
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            if reason {
                b = b
                    .property(
                        "reason",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(r"\S")),
                    )
                    .required("reason");
            }
            b.build()
        };
        OneOfBuilder::new()
            .item(variant("replay", false))
            .item(variant("remap", false))
            .item(variant("skip", true))
            .into()
    }
}

impl ToSchema for JobRequest {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            OutboxFilter::name().into(),
            <OutboxFilter as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// A bulk job as the API and the dashboard show it.
#[derive(Serialize, ToSchema)]
#[schema(as = OutboxJob)]
pub(crate) struct JobView {
    #[schema(format = Uuid)]
    id: String,
    #[schema(schema_with = openapi::job_action)]
    action: String,
    filter: OutboxFilter,
    who: String,
    #[schema(schema_with = openapi::job_state)]
    state: String,
    /// Messages matching the filter when it began.
    total: i64,
    done: i64,
    /// Of those, how many were replayed, skipped or remapped.
    changed: i64,
    /// A remap: messages left dead because the current mapping refuses them.
    refused: i64,
    /// A remap: the last refusal (message id and reason, masked).
    last_refusal: Option<String>,
    error: Option<String>,
    created_ms: i64,
    finished_ms: Option<i64>,
}

impl JobView {
    pub(crate) fn of(j: &OutboxJob) -> Self {
        JobView {
            id: j.id.clone(),
            action: j.action.clone(),
            filter: serde_json::from_str(&j.filter).unwrap_or_default(),
            who: j.who.clone(),
            state: j.shown_state(now_ms()).to_string(),
            total: j.total,
            done: j.done,
            changed: j.changed,
            refused: j.refused,
            last_refusal: j.last_refusal.clone(),
            error: j.error.clone(),
            created_ms: j.created_ms,
            finished_ms: j.finished_ms,
        }
    }
}

/// One bulk job.
#[derive(Serialize, ToSchema)]
pub(super) struct JobAnswer {
    job: JobView,
}

/// The newest bulk jobs.
#[derive(Serialize, ToSchema)]
pub(super) struct JobList {
    #[schema(max_items = 100)]
    jobs: Vec<JobView>,
}

/// A job as the API and the dashboard show it.
pub(crate) fn job_json(j: &OutboxJob) -> Value {
    serde_json::to_value(JobView::of(j)).unwrap_or_default()
}

/// Runs a stored job in the background, then wakes the lanes (replayed messages are due now).
pub(crate) fn spawn_job(
    store: std::sync::Arc<dyn Store>,
    routes: Option<crate::source::routes::Loader>,
    id: String,
    wake: Option<std::sync::Arc<tokio::sync::Notify>>,
) {
    tokio::spawn(async move {
        match operator::run_job(&*store, routes.as_ref(), &id, JOB_CHUNK).await {
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

/// Replay, remap or skip every message matching a filter, in the background.
///
/// A remap renders each dead message again from its source record with the mappings
/// configured when the job runs (as POST /admin/outbox/remap does one by one, without a
/// preview: preview a few with that route first); records the mapping now refuses stay dead
/// and are counted in `refused`.
///
/// Counts the messages matching the filter now, stores the job and runs it in chunks of 500 in
/// queue order (each chunk one transaction; replay changes only dead messages, skip dead,
/// pending or waiting ones), writing its progress after each chunk. Answers at once with the
/// job; follow it with GET /admin/outbox/jobs/{id}.
#[utoipa::path(
    post,
    path = "/admin/outbox/jobs",
    request_body = JobRequest,
    responses(
        (status = 202, description = "the job, begun", body = JobAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn start_job(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<openapi::JsonObject>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let who = caller(&st, &headers).map(|o| o.name).unwrap_or_default();
    let Some(req) = body.ok().and_then(|Json(o)| o.read::<JobRequest>()) else {
        return bad_request(
            r#"expected {"action": "replay" | "remap" | "skip", "filter": {...}, "reason": "..." (skip)}"#,
        );
    };
    let action = match JobAction::parse(&req.action, req.reason.as_deref()) {
        Ok(a) => a,
        Err(e) => return bad_request(e),
    };
    if action == JobAction::Remap && st.remap.is_none() {
        return bad_request("this server has no source configuration to remap with");
    }
    let filter = req.filter.unwrap_or_default().normalized();
    if let Err(e) = check_filter(&filter) {
        return bad_request(&e);
    }
    match operator::begin_job(&*st.store, &filter, &action, &who).await {
        Ok(job) => {
            spawn_job(
                st.store.clone(),
                st.remap.clone(),
                job.id.clone(),
                st.wake.clone(),
            );
            (
                StatusCode::ACCEPTED,
                Json(JobAnswer {
                    job: JobView::of(&job),
                }),
            )
                .into_response()
        }
        Err(e) => store_error(&e),
    }
}

/// The newest 100 bulk jobs.
#[utoipa::path(
    get,
    path = "/admin/outbox/jobs",
    responses(
        (status = 200, description = "jobs, newest first", body = JobList),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn jobs(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    match st.store.jobs(100).await {
        Ok(list) => Json(JobList {
            jobs: list.iter().map(JobView::of).collect(),
        })
        .into_response(),
        Err(e) => store_error(&e),
    }
}

/// One bulk job's progress.
#[utoipa::path(
    get,
    path = "/admin/outbox/jobs/{id}",
    params(("id" = uuid::Uuid, Path, description = "the job's id")),
    responses(
        (status = 200, description = "the job", body = JobAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "no bulk job with this id", body = ErrorBody),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
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
        Ok(Some(j)) => Json(JobAnswer {
            job: JobView::of(&j),
        })
        .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(ErrorBody::new("no bulk job with this id")),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}
