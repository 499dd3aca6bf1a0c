//! Operator HTTP endpoints: `GET /health` (open, for probes); with the bearer token from
//! `server.admin_token`: `GET /admin/outbox` (counts and dead letters), `POST
//! /admin/outbox/replay` (`{"ids": [...]}` or `{"dead": true, "peer": "dvcqg", "since_ms": 0}`)
//! and `POST /admin/outbox/skip` (`{"id": "...", "reason": "..."}`), the same store calls as the
//! `lienthong outbox` commands. Shows counts and reasons only, never personal data.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::json;

use crate::store::Store;

#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<dyn Store>,
    pub token: Option<SecretString>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/replay", post(replay))
        .route("/admin/outbox/skip", post(skip))
        .with_state(state)
}

async fn health(State(st): State<AdminState>) -> Response {
    match st.store.ping().await {
        Ok(()) => Json(json!({ "status": "ok", "store": st.store.backend() })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "store": st.store.backend() })),
            )
                .into_response()
        }
    }
}

/// `None` when the request carries the admin token, else the 401 to answer.
fn refuse(st: &AdminState, headers: &HeaderMap) -> Option<Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&st.token, presented) {
        (Some(t), Some(p)) => crate::config::token_matches(t, p.trim()),
        _ => false,
    };
    (!allowed).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "admin endpoints need server.admin_token as a bearer token" })),
        )
            .into_response()
    })
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

fn store_error(e: &crate::store::StoreError) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": e.to_string() })),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    ids: Vec<uuid::Uuid>,
    #[serde(default)]
    dead: bool,
    peer: Option<String>,
    #[serde(default)]
    since_ms: i64,
}

async fn replay(
    State(st): State<AdminState>,
    headers: HeaderMap,
    body: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let Ok(Json(req)) = body else {
        return bad_request(r#"expected {"ids": [...]} or {"dead": true, "peer": "..."}"#);
    };
    let now = crate::store::now_ms();
    let done = match (req.dead, req.peer, req.ids.is_empty()) {
        (true, Some(peer), true) => st.store.replay_dead(&peer, req.since_ms, now).await,
        (false, None, false) => st.store.replay(&req.ids, now).await,
        _ => return bad_request("give either ids, or dead = true with a peer"),
    };
    match done {
        Ok(n) => Json(json!({ "replayed": n })).into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipRequest {
    id: uuid::Uuid,
    reason: String,
}

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
        Ok(true) => Json(json!({ "skipped": req.id.to_string() })).into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no dead, pending or waiting message with this id" })),
        )
            .into_response(),
        Err(e) => store_error(&e),
    }
}

async fn outbox(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(r) = refuse(&st, &headers) {
        return r;
    }
    let counts = match st.store.outbox_counts().await {
        Ok(c) => c,
        Err(e) => return store_error(&e),
    };
    let dead = st.store.dead_letters(100).await.unwrap_or_default();
    Json(json!({
        "counts": counts.iter().map(|c| json!({
            "peer": c.peer, "operation": c.operation, "state": c.state,
            "count": c.count, "retried": c.retried,
        })).collect::<Vec<_>>(),
        "dead_letters": dead.iter().map(|d| json!({
            "id": d.id.to_string(), "peer": d.peer, "operation": d.operation,
            "dossier": d.dossier, "attempts": d.attempts, "error": d.error,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}
