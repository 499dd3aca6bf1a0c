//! HTTP push: `POST /ingest/v1/{source}/dossiers` and `/steps`. A 202 is sent only after every
//! accepted record, its queued message and every rejected record are committed; a record that
//! fails its mapping is rejected with field, value and rule, and the rest of the batch goes on.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use uuid::Uuid;

use super::csv::{parse_records as csv_records, CsvError, CsvLimits};
use super::json::parse_strict;
use super::xml::{parse_records, XmlError, XmlLimits};
use super::{Source, Sources};
use crate::mapping::{render_xml, Mapping};
use crate::peer::dvcqg::{OP_SYNC_DOCUMENT, PEER_LGSP_SYNC};
use crate::store::{
    now_ms, AcceptedRecord, HeaderRule, IdempotencyKey, IngestResult, IngestWrite, NewMessage,
    QuarantinedRecord, RecordKind, Store, StoreError,
};

/// Where each kind of record is queued. One peer today; later peers add routes here.
pub const DOSSIER_ROUTE: (&str, &str) = ("dvcqg", "DongBoHoSoMC");
pub const STEP_ROUTE: (&str, &str) = ("dvcqg", "CapNhatTienDoHoSoMC");

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
    pub limits: Limits,
    /// Woken after each commit so delivery starts at once.
    pub wake: Arc<Notify>,
}

pub fn router(state: IngestState) -> Router {
    Router::new()
        .route("/ingest/v1/{source}/{kind}", post(ingest))
        .with_state(state)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
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
    Path((source_name, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let kind = match kind.as_str() {
        "dossiers" => RecordKind::Dossier,
        "steps" => RecordKind::Step,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown record kind \"{other}\"; expected dossiers or steps"),
            )
        }
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
        let Some(element) = source.xml_record_element.as_deref() else {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "source \"{source_name}\" takes JSON or CSV; set xml_record_element in its config to send XML"
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
        match parse_strict(&bytes).and_then(into_records) {
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

    let mapping: &Mapping = match kind {
        RecordKind::Dossier => &source.dossier,
        RecordKind::Step => &source.step,
    };
    let (peer, operation) = match kind {
        RecordKind::Dossier => DOSSIER_ROUTE,
        RecordKind::Step => STEP_ROUTE,
    };
    let mut good: Vec<(usize, AcceptedRecord)> = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    let mut rejected_answers = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        let mapped = mapping
            .map(&record, &source.vars)
            .map_err(|r| r.to_string());
        let also = match (&mapped, kind, &source.sync_document) {
            (Ok(_), RecordKind::Dossier, Some(legacy)) => sync_document(legacy, &record, &source),
            _ => Ok((Vec::new(), Vec::new())),
        };
        match mapped.and_then(|m| also.map(|a| (m, a))) {
            Ok((m, (also, also_warnings))) => {
                let at_ms = m.at.map(|t| t.timestamp_millis());
                let mut messages = vec![NewMessage {
                    peer: peer.to_string(),
                    destination: String::new(),
                    operation: operation.to_string(),
                    key: m.dossier.clone(),
                    item: Value::Object(m.item),
                    at_ms,
                    source_seq: m.source_seq,
                    warnings: m.warnings.iter().map(ToString::to_string).collect(),
                    record_id: None,
                    mapping_version: None,
                    header: match kind {
                        RecordKind::Dossier => HeaderRule::Header,
                        RecordKind::Step => HeaderRule::AfterHeader,
                    },
                }];
                for mut a in also {
                    a.key = m.dossier.clone();
                    a.at_ms = at_ms;
                    a.source_seq = m.source_seq;
                    messages.push(a);
                }
                good.push((
                    index,
                    AcceptedRecord {
                        record_id: Uuid::new_v4(),
                        mapping_version: mapping.version().to_string(),
                        dossier: m.dossier,
                        warnings: m
                            .warnings
                            .iter()
                            .map(ToString::to_string)
                            .chain(also_warnings)
                            .collect(),
                        record,
                        messages,
                    },
                ))
            }
            Err(reason) => {
                rejected_answers.push(json!({ "index": index, "error": reason }));
                rejected.push(QuarantinedRecord {
                    index,
                    dossier: None,
                    record,
                    error: reason,
                });
            }
        }
    }
    if kind == RecordKind::Step {
        // A dossier's steps go in the order they happened, ties by the source's own sequence.
        good.sort_by(|(ia, a), (ib, b)| {
            let at = |r: &AcceptedRecord| r.messages.first().map(|m| (m.at_ms, m.source_seq));
            (&a.dossier, at(a), ia).cmp(&(&b.dossier, at(b), ib))
        });
    }
    let order: Vec<(usize, Uuid, Vec<String>)> = good
        .iter()
        .map(|(i, r)| (*i, r.record_id, r.warnings.clone()))
        .collect();
    let n_accepted = good.len();
    let n_rejected = rejected.len();
    let write = IngestWrite {
        source: source_name.clone(),
        kind,
        accepted: good.into_iter().map(|(_, r)| r).collect(),
        rejected,
        idempotency: idempotency.clone(),
        now_ms: now_ms(),
    };
    let answer = move |result: &IngestResult| {
        let mut acc: Vec<(usize, Value)> = order
            .iter()
            .enumerate()
            .map(|(pos, (index, id, warnings))| {
                let mut w = warnings.clone();
                if result.waiting.get(pos).copied().unwrap_or(false) {
                    w.push("waiting for dossier".to_string());
                }
                let mut entry = json!({ "index": index, "id": id.to_string() });
                if !w.is_empty() {
                    entry["warnings"] = json!(w);
                }
                (*index, entry)
            })
            .collect();
        acc.sort_by_key(|(i, _)| *i);
        json!({
            "accepted": acc.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "rejected": rejected_answers,
        })
        .to_string()
    };
    match st.store.ingest(write, &answer).await {
        Ok(answer) => {
            st.wake.notify_waiters();
            tracing::info!(
                source = %source_name,
                kind = kind.as_str(),
                accepted = n_accepted,
                rejected = n_rejected,
                "ingested"
            );
            accepted(answer, false)
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

/// The legacy route's `MSyncDocument` for a dossier record, rendered as XML now so that every
/// send carries the same bytes. A record this mapping refuses is refused as a whole: the two
/// routes never disagree about which dossiers exist.
fn sync_document(
    legacy: &Mapping,
    record: &Value,
    source: &Source,
) -> Result<(Vec<NewMessage>, Vec<String>), String> {
    let mapped = legacy
        .map(record, &source.vars)
        .map_err(|r| format!("legacy route (sync_document): {r}"))?;
    let xml = render_xml(&mapped).map_err(|r| format!("legacy route (sync_document): {r}"))?;
    let warnings = mapped
        .warnings
        .iter()
        .map(|w| format!("legacy route (sync_document): {w}"))
        .collect();
    Ok((
        vec![NewMessage {
            peer: PEER_LGSP_SYNC.to_string(),
            destination: String::new(),
            operation: OP_SYNC_DOCUMENT.to_string(),
            key: String::new(),
            item: Value::String(xml),
            at_ms: None,
            source_seq: None,
            warnings: Vec::new(),
            record_id: None,
            mapping_version: Some(legacy.version().to_string()),
            header: HeaderRule::Free,
        }],
        warnings,
    ))
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

/// A body is one record (an object) or an array of records (objects).
fn into_records(v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Object(_) => Ok(vec![v]),
        Value::Array(items) => {
            if let Some(pos) = items.iter().position(|i| !i.is_object()) {
                return Err(format!(
                    "body must be a JSON object or an array of objects; element {pos} is not an object"
                ));
            }
            Ok(items)
        }
        _ => Err("body must be a JSON object or an array of objects".to_string()),
    }
}
