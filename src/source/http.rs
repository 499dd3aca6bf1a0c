//! HTTP push: `POST /ingest/v1/{source}/dossiers`, `/steps` and `/surveys`. This module keeps
//! only HTTP: the source's bearer token, body and record limits, `Idempotency-Key`, the content
//! type (JSON, XML with the source's record element for the path's kind, or CSV, read into
//! records) and the answer; mapping, routing and the store write are
//! [`crate::source::intake`]'s. A 202 is sent only after every accepted record, its queued messages and
//! every rejected record are committed.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::Sources;
use crate::formats::csv::{parse_records as csv_records, CsvError, CsvLimits};
use crate::formats::json::{parse_strict, records as json_records};
use crate::formats::xml::{parse_records, XmlError, XmlLimits};
use crate::source::intake;
use crate::source::routes::Routes;
use crate::store::{IdempotencyKey, Store, StoreError};

/// Limits on one ingest request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes: usize,
    pub records: usize,
}

#[derive(Clone)]
pub struct IngestState {
    pub store: Arc<dyn Store>,
    pub sources: Arc<Sources>,
    pub routes: Arc<Routes>,
    pub limits: Limits,
    /// Woken after each commit so delivery starts at once.
    pub wake: Arc<Notify>,
    /// The postal service, whose events of a dossier its local system may read.
    pub postal: Option<Arc<crate::postal::Postal>>,
}

pub fn router(state: IngestState) -> Router {
    Router::new()
        .route("/ingest/v1/{source}/{kind}", post(ingest))
        .route(
            "/api/v1/dossiers/{dossier}/postal",
            axum::routing::get(dossier_postal),
        )
        .with_state(state)
}

/// `GET /api/v1/dossiers/{MaHoSo}/postal`: the postal events of a dossier, for the local system
/// that registered it (its source's bearer token); 404 for a dossier of another source.
async fn dossier_postal(
    State(st): State<IngestState>,
    axum::extract::Path(dossier): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(source) = token.and_then(|t| st.sources.find_by_token(t)) else {
        let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let Some(postal) = &st.postal else {
        return error(StatusCode::NOT_FOUND, "this instance has no postal service");
    };
    match st.store.dossier_source(&dossier).await {
        Ok(Some(owner)) if owner == source.name => {}
        Ok(_) => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "no dossier {dossier} registered by source \"{}\"",
                    source.name
                ),
            )
        }
        Err(e) => return unavailable(&e),
    }
    match postal.dossier_events(&dossier).await {
        Ok(events) => {
            let events: Vec<serde_json::Value> = events
                .iter()
                .map(|e| {
                    let mut v = crate::postal::rules::event_json(
                        &e.order_number,
                        &e.order_type,
                        e.status_code,
                        &e.event_time,
                        &e.pos_id,
                        e.item_code.as_deref(),
                    );
                    v["ReceivedAt"] = json!(e.received_at);
                    v["Via"] = json!(e.via);
                    v
                })
                .collect();
            axum::Json(json!({ "MaHoSo": dossier, "events": events })).into_response()
        }
        Err(crate::postal::PostalError::Store(e)) => unavailable(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// An error answer; its text is masked, since a parser's message may quote the body.
fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let msg = crate::mapping::mask_text(&msg.into());
    (status, axum::Json(json!({ "error": msg }))).into_response()
}

fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "ingest refused: store unavailable");
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store cannot write now; nothing was stored, try again",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

fn accepted(answer: String, replayed: bool) -> Response {
    let mut r = (StatusCode::ACCEPTED, answer).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    r
}

async fn ingest(
    State(st): State<IngestState>,
    Path((source_name, kind_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(kind) = super::record_kind(&kind_name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown record kind \"{kind_name}\"; expected dossiers, steps or surveys"),
        );
    };
    let Some(source) = st.sources.get(&source_name).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown source \"{source_name}\""),
        );
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !token.is_some_and(|t| source.token_matches(t)) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            format!("missing or wrong bearer token for source \"{source_name}\""),
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let bytes = match axum::body::to_bytes(body, st.limits.body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body larger than the limit of {} bytes",
                    st.limits.body_bytes
                ),
            )
        }
    };

    let idempotency = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.trim().is_empty() && k.len() <= 255 => Some(IdempotencyKey {
            key: k.trim().to_string(),
            body_hash: hex::encode(Sha256::digest(&bytes)),
        }),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        }
    };
    if let Some(key) = &idempotency {
        match replay(&*st.store, &source_name, key).await {
            Ok(Some(r)) => return r,
            Ok(None) => {}
            Err(e) => return unavailable(&e),
        }
    }

    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_xml = mime == "application/xml" || mime == "text/xml";
    let records = if mime == "text/csv" {
        let limits = CsvLimits {
            max_records: st.limits.records,
            ..CsvLimits::default()
        };
        match csv_records(&bytes, &limits) {
            Ok(r) => r,
            Err(e @ CsvError::TooManyRecords { .. }) => {
                return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        }
    } else if is_xml {
        let Some(element) = source.xml_record_element(kind) else {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "source \"{source_name}\" takes {kind_name} as JSON or CSV; set xml_record_elements.{kind_name} (or xml_record_element) in its config to send XML"
                ),
            );
        };
        let limits = XmlLimits {
            max_records: st.limits.records,
            ..XmlLimits::default()
        };
        match parse_records(&bytes, element, &limits) {
            Ok(r) => r,
            Err(e @ XmlError::TooManyRecords { .. }) => {
                return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        }
    } else {
        match parse_strict(&bytes).and_then(json_records) {
            Ok(r) => r,
            Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
        }
    };
    if records.len() > st.limits.records {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} records is more than the limit of {} per request",
                records.len(),
                st.limits.records
            ),
        );
    }

    let Some(route) = st.routes.get(&source_name, kind) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "source \"{source_name}\" has no route for {} records",
                kind.as_str()
            ),
        );
    };
    match intake::accept(
        &*st.store,
        route,
        &source_name,
        &source.vars,
        kind,
        records,
        idempotency.clone(),
    )
    .await
    {
        Ok(stored) => {
            st.wake.notify_waiters();
            tracing::info!(
                source = %source_name,
                kind = kind.as_str(),
                accepted = stored.accepted,
                rejected = stored.rejected,
                "ingested"
            );
            accepted(stored.answer, false)
        }
        Err(StoreError::KeyTaken) => match &idempotency {
            // Another request with the same key won the race: answer as it was answered.
            Some(key) => match replay(&*st.store, &source_name, key).await {
                Ok(Some(r)) => r,
                Ok(None) => unavailable(&StoreError::KeyTaken),
                Err(e) => unavailable(&e),
            },
            None => unavailable(&StoreError::KeyTaken),
        },
        Err(e) => unavailable(&e),
    }
}

/// The first answer to this key, or a 409 when the key came with another body.
async fn replay(
    store: &dyn Store,
    source: &str,
    key: &IdempotencyKey,
) -> Result<Option<Response>, StoreError> {
    Ok(store.find_idempotent(source, &key.key).await?.map(|first| {
        if first.body_hash == key.body_hash {
            accepted(first.answer, true)
        } else {
            error(
                StatusCode::CONFLICT,
                format!(
                    "Idempotency-Key \"{}\" was already used with a different body",
                    key.key
                ),
            )
        }
    }))
}
