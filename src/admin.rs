//! Operator HTTP endpoints: `GET /health` (open, for probes) and `GET /admin/outbox` (bearer
//! token from `server.admin_token`). Shows counts and reasons only, never personal data.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

async fn outbox(State(st): State<AdminState>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&st.token, presented) {
        (Some(t), Some(p)) => crate::config::token_matches(t, p.trim()),
        _ => false,
    };
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "admin endpoints need server.admin_token as a bearer token" })),
        )
            .into_response();
    }
    let counts = match st.store.outbox_counts().await {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response()
        }
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
