//! Every change through the admin API is a person's and leaves an audit row: `changes` runs
//! before each `POST` handler, answers 403 to a viewer (written as refused) and, for an
//! operator, writes who, the action (from the route: `outbox.replay`, `quarantine.drop`, ...),
//! the target (the route's id, the body's ids, filters and flags, and the counts of the answer;
//! never a reason's text or an item) and the outcome. `GET /admin/audit` pages the log, newest
//! first.

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{BadRequest, Unauthorized, Unavailable};

use super::{bad_request, caller, refuse, store_error, AdminState};
use crate::store::{ActionFilter, ActionRecord};

/// The largest body a change may carry (the API's are small JSON objects).
const BODY_LIMIT: usize = 1024 * 1024;

/// Body keys copied into the audit row's target: ids, filters, flags and numbers. Free text (a
/// skip's reason, a filter's error text) is masked.
const KEPT: &[&str] = &[
    "ids",
    "id",
    "dead",
    "peer",
    "since_ms",
    "subscriber",
    "dossier",
    "order_type",
    "older_than_days",
    "confirm",
    "from",
    "to",
    "agency",
    "repair",
    "restart",
    "all",
    "source",
    "action",
    "filter",
    "job",
];

/// `outbox.replay` for `/admin/outbox/replay`, `quarantine.drop` for
/// `/admin/quarantine/{id}/drop`, `reconcile.start` for `POST /admin/reconcile`; a bulk job
/// (`/admin/outbox/jobs`) is named by its action, `outbox.bulk_replay`, as the dashboard names it.
pub(super) fn action_of(path: &str, body: &Value) -> String {
    if path == "/admin/outbox/jobs" {
        if let Some(a @ ("replay" | "skip" | "remap")) = body["action"].as_str() {
            return format!("outbox.bulk_{a}");
        }
    }
    let parts: Vec<&str> = path
        .trim_start_matches("/admin/")
        .split('/')
        .filter(|p| !p.is_empty() && !p.starts_with('{'))
        .collect();
    match parts.as_slice() {
        [one] => format!("{one}.start"),
        _ => parts.join("."),
    }
}

/// What a change acted on, without personal data.
pub(super) fn target_of(path_id: Option<&str>, body: &Value, answer: &Value) -> Value {
    let mut t = Map::new();
    if let Some(id) = path_id {
        t.insert("id".into(), json!(id));
    }
    if let Value::Object(b) = body {
        for k in KEPT {
            if let Some(v) = b.get(*k) {
                t.insert((*k).into(), masked(v));
            }
        }
    }
    // The answer's counts (replayed, queued, skipped, ...).
    if let Value::Object(a) = answer {
        let counts: Map<String, Value> = a
            .iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !counts.is_empty() {
            t.insert("result".into(), Value::Object(counts));
        }
    }
    Value::Object(t)
}

/// Strings masked as refusal reasons are (identity numbers, phones, e-mails).
fn masked(v: &Value) -> Value {
    match v {
        Value::String(s) => json!(crate::mapping::mask_text(s)),
        Value::Array(a) => Value::Array(a.iter().map(masked).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), masked(v))).collect()),
        v => v.clone(),
    }
}

/// Before every routed request: a change (`POST`) by a viewer answers 403; a change by an
/// operator runs and is audited. Requests without a known token go on to their handler,
/// which answers 401.
pub(super) async fn changes(State(st): State<AdminState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(who) = caller(&st, req.headers()) else {
        return next.run(req).await;
    };
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let path_id = path_id(&path, req.uri().path());
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return bad_request("the body is too large");
    };
    let body_json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let action = action_of(&path, &body_json);
    if !who.role.may_change() {
        let record = ActionRecord::new(
            &who.name,
            who.role.as_str(),
            "api",
            &action,
            target_of(path_id.as_deref(), &body_json, &Value::Null),
            "refused: a viewer may not change anything",
        );
        if let Err(e) = st.store.record_audit(&record).await {
            return store_error(&e);
        }
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "a viewer may read but not change anything" })),
        )
            .into_response();
    }
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = resp.into_parts();
    let Ok(answer) = to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let answer_json: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    let outcome = if parts.status.is_success() {
        "ok".to_string()
    } else {
        let said = answer_json["error"].as_str().unwrap_or_default();
        format!(
            "refused: {} {}",
            parts.status.as_u16(),
            crate::mapping::mask_text(said)
        )
    };
    let record = ActionRecord::new(
        &who.name,
        who.role.as_str(),
        "api",
        &action,
        target_of(path_id.as_deref(), &body_json, &answer_json),
        outcome.trim(),
    );
    if let Err(e) = st.store.record_audit(&record).await {
        tracing::error!(error = %e, action = %action, "admin: an action's audit row was not written");
    }
    Response::from_parts(parts, Body::from(answer))
}

/// The value of the route's `{...}` segment in the request's path.
fn path_id(route: &str, path: &str) -> Option<String> {
    route
        .split('/')
        .zip(path.split('/'))
        .find(|(r, _)| r.starts_with('{'))
        .map(|(_, p)| p.to_string())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    who: Option<String>,
    action: Option<String>,
    /// The previous page's `next`.
    #[param(
        pattern = "^[0-9]{1,13}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    before: Option<String>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
}

/// A page of the audit log.
#[derive(Serialize, ToSchema)]
pub(super) struct AuditPage {
    #[schema(max_items = 1000)]
    entries: Vec<ActionRecord>,
    /// `before` for the next page; null when this page is not full.
    next: Option<String>,
}

/// A page's cursor: `<at_ms>_<id>` of its last entry.
pub(crate) fn cursor(at_ms: i64, id: &str) -> String {
    format!("{at_ms}_{id}")
}

/// A cursor as [`cursor`] writes it: 1 to 13 digits, `_`, a hyphenated UUID (nothing else).
pub(crate) fn parse_cursor(text: &str) -> Option<(i64, String)> {
    let (at, id) = text.split_once('_')?;
    if at.is_empty() || at.len() > 13 || !at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let at: i64 = at.parse().ok()?;
    if id.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(id).ok()?;
    Some((at, id.to_string()))
}

/// The audit log: every action by the dashboard, the admin API and the CLI, newest first.
///
/// Keyset pages: pass the answer's `next` as `before`. Targets hold ids, filters and counts,
/// never personal data.
#[utoipa::path(
    get,
    path = "/admin/audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "a page of entries", body = AuditPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = Unavailable),
    ),
    security(("admin" = []))
)]
pub(super) async fn list(
    State(st): State<AdminState>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Query(q)) = query else {
        return bad_request(
            "query parameters: who, action, before (a page's next), limit (1..=1000)",
        );
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return bad_request(&format!("limit: {limit} is outside 1..=1000"));
    }
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => match parse_cursor(b) {
            Some(c) => Some(c),
            None => return bad_request("before: a page's next, <milliseconds>_<id>"),
        },
    };
    let filter = ActionFilter {
        who: q.who.filter(|w| !w.is_empty()),
        action: q.action.filter(|a| !a.is_empty()),
        before,
        limit,
    };
    match st.store.audit_page(&filter).await {
        Ok(entries) => {
            let next = (entries.len() as i64 == limit)
                .then(|| entries.last().map(|e| cursor(e.at_ms, &e.id)))
                .flatten();
            Json(AuditPage { entries, next }).into_response()
        }
        Err(e) => store_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_by_their_route() {
        let none = Value::Null;
        assert_eq!(action_of("/admin/outbox/replay", &none), "outbox.replay");
        assert_eq!(
            action_of("/admin/quarantine/{id}/drop", &none),
            "quarantine.drop"
        );
        assert_eq!(action_of("/admin/reconcile", &none), "reconcile.start");
        // A bulk job by its action, as the dashboard names it; an unknown action by its route.
        let remap = json!({"action": "remap", "filter": {}});
        assert_eq!(action_of("/admin/outbox/jobs", &remap), "outbox.bulk_remap");
        let odd = json!({"action": "explode"});
        assert_eq!(action_of("/admin/outbox/jobs", &odd), "outbox.jobs");
        assert_eq!(
            path_id("/admin/quarantine/{id}/drop", "/admin/quarantine/abc/drop").as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn the_target_keeps_ids_and_counts_and_masks_free_text() {
        let t = target_of(
            None,
            &json!({"id": "m1", "reason": "Nguyễn Văn A 0912345678", "filter": {"error": "0912345678"}}),
            &json!({"replayed": 3, "reopened_batches": ["b"]}),
        );
        assert_eq!(t["id"], "m1");
        assert!(t.get("reason").is_none());
        assert_eq!(t["result"]["replayed"], 3);
        assert!(!t.to_string().contains("0912345678"), "{t}");
    }
}
