//! What the simulated DVCQG adapter answers (spec `dvcqg.md`): login, tokens, the envelope, strict
//! validation with per-item codes, the dossier state, and replay by `X-Request-ID`.
//!
//! Parsing and validation run before the state lock (they read only the catalog, `catalog/`,
//! which has its own short lock, and answers catalog reads); the state lock is then taken once
//! to check credentials, look the request id up, apply and remember the answer, so that two
//! concurrent deliveries of one id cannot both apply. Nothing here does I/O.

use std::sync::OnceLock;

use base64::Engine as _;
use bytes::Bytes;
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;
use regex::Regex;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::faults::temporary_positions;
use super::{DossierRecord, Event, EventKind, RememberedRequest, Simulator, State};

/// Which route a call came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Auth,
    Token,
    Integration,
    Share,
    /// The legacy LGSP route (`legacy.rs`).
    SyncDocument,
}

/// An answer with a body.
pub(super) enum Reply {
    Json(StatusCode, Bytes),
    /// The legacy route's `MResult`.
    Xml(StatusCode, Bytes),
    /// HTTP 503 with `Retry-After`: `LayThuTuc` while the catalog's procedure calls are cut.
    Unavailable,
}

/// Faults that change the answer rather than the transport.
#[derive(Debug, Default)]
pub(super) struct Injected {
    pub(super) envelope_temporary: bool,
    pub(super) item_temporary: Option<Vec<usize>>,
}

const MSG_OK: &str = "Thành công";
const MSG_BAD_LOGIN: &str = "Sai tên đăng nhập hoặc mật khẩu";
const MSG_SESSION: &str = "Phiên làm việc không hợp lệ hoặc đã hết hạn";
const MSG_TEMPORARY: &str = "Hệ thống đang bận, vui lòng thử lại sau";
const MSG_EXISTS: &str = "Hồ sơ đã tồn tại";
const MSG_MISSING: &str = "Hồ sơ không tồn tại";
const MSG_UNKNOWN_PROCEDURE: &str = "Mã thủ tục hành chính không tồn tại";

const SERVICES: &[&str] = &[
    "DongBoHoSoMC",
    "CapNhatTienDoHoSoMC",
    "DongBoDanhGia",
    "TraCuuHoSo",
    "LayDanhSachTTHC",
    "LayThuTuc",
    "LayDanhMucCoQuan",
    "LayDanhMucLinhVuc",
];

const STATUSES: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];

pub(super) fn handle(
    sim: &Simulator,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &[u8],
    injected: Injected,
) -> Reply {
    match endpoint {
        Endpoint::Auth => login(sim, headers, body),
        Endpoint::Token => token(sim, body),
        Endpoint::Integration | Endpoint::Share => call(sim, endpoint, headers, body, injected),
        Endpoint::SyncDocument => super::legacy::sync_document(
            sim,
            headers,
            body,
            injected.envelope_temporary || injected.item_temporary.is_some(),
        ),
    }
}

fn envelope(sim: &Simulator, code: i64, message: &str) -> Reply {
    json_reply(
        sim,
        StatusCode::OK,
        json!({"error_code": code, "message": message}),
    )
}

fn json_reply(sim: &Simulator, status: StatusCode, value: Value) -> Reply {
    Reply::Json(status, encode(sim, value))
}

/// Serialises an answer; with `string_codes` the envelope's and items' `error_code`s go out as
/// strings, which the portal also does (dvcqg.md) and the gateway must read.
fn encode(sim: &Simulator, mut value: Value) -> Bytes {
    if sim.settings().string_codes {
        stringify_code(&mut value);
        if let Some(items) = value.get_mut("result").and_then(Value::as_array_mut) {
            items.iter_mut().for_each(stringify_code);
        }
    }
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

fn stringify_code(value: &mut Value) {
    if let Some(code) = value.get_mut("error_code") {
        if let Value::Number(n) = code {
            *code = Value::String(n.to_string());
        }
    }
}

fn new_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn count_service(state: &mut State, service: &str) {
    // Avoids allocating a key on the hot path once the service has been seen.
    match state.stats.requests_by_service.get_mut(service) {
        Some(n) => *n += 1,
        None => {
            state
                .stats
                .requests_by_service
                .insert(service.to_string(), 1);
        }
    }
}

fn bump(map: &mut std::collections::BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// Drops expired entries once a map has grown, so long runs with many logins stay small.
fn prune(map: &mut std::collections::HashMap<String, tokio::time::Instant>) {
    if map.len() > 10_000 {
        let now = tokio::time::Instant::now();
        map.retain(|_, until| *until > now);
    }
}

fn still_valid(
    map: &mut std::collections::HashMap<String, tokio::time::Instant>,
    key: &str,
) -> bool {
    match map.get(key) {
        Some(until) if *until > tokio::time::Instant::now() => true,
        Some(_) => {
            map.remove(key);
            false
        }
        None => false,
    }
}

fn login(sim: &Simulator, headers: &HeaderMap, body: &[u8]) -> Reply {
    let settings = sim.settings();
    let credentials = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let user = v.get("username")?.as_str()?.to_string();
        let pass = v.get("password")?.as_str()?.to_string();
        Some((user, pass))
    });
    let dstcode = headers.get("dstcode").and_then(|v| v.to_str().ok());
    let mut state = sim.state();
    count_service(&mut state, "auth");
    let Some((user, pass)) = credentials else {
        return envelope(sim, 2, "Yêu cầu không hợp lệ: thiếu username hoặc password");
    };
    if dstcode != Some(settings.dstcode.as_str())
        || user != settings.username
        || pass != settings.password
    {
        return envelope(sim, -1, MSG_BAD_LOGIN);
    }
    let session = new_secret();
    prune(&mut state.sessions);
    state.sessions.insert(
        session.clone(),
        tokio::time::Instant::now() + settings.session_ttl,
    );
    json_reply(
        sim,
        StatusCode::OK,
        json!({"error_code": 0, "message": MSG_OK, "session": session}),
    )
}

fn token(sim: &Simulator, body: &[u8]) -> Reply {
    let settings = sim.settings();
    let mut grant = None;
    let mut id = None;
    let mut secret = None;
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "grant_type" => grant = Some(v.into_owned()),
            "client_id" => id = Some(v.into_owned()),
            "client_secret" => secret = Some(v.into_owned()),
            _ => {}
        }
    }
    let mut state = sim.state();
    count_service(&mut state, "token");
    if grant.as_deref() != Some("client_credentials") {
        return json_reply(
            sim,
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    if id.as_deref() != Some(settings.client_id.as_str())
        || secret.as_deref() != Some(settings.client_secret.as_str())
    {
        return json_reply(
            sim,
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client"}),
        );
    }
    let access = new_secret();
    prune(&mut state.tokens);
    state.tokens.insert(
        access.clone(),
        tokio::time::Instant::now() + settings.token_ttl,
    );
    json_reply(
        sim,
        StatusCode::OK,
        json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": settings.token_ttl.as_secs(),
        }),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The `lgspaccesstoken` header: base64 of a JSON object with the five platform keys.
fn lgsp_header_ok(headers: &HeaderMap) -> bool {
    let Some(raw) = headers.get("lgspaccesstoken").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let raw = raw.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw));
    let Ok(decoded) = decoded else {
        return false;
    };
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&decoded) else {
        return false;
    };
    [
        "AccessKey",
        "SecretKey",
        "AppName",
        "PartnerCode",
        "PartnerCodeCus",
    ]
    .iter()
    .all(|k| {
        obj.get(*k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    })
}

/// One item of a batch after validation.
enum Checked<T> {
    Valid(T),
    Rejected(i64, String),
    Temporary,
}

struct DossierIn {
    ma_ho_so: String,
    status: String,
    hoso: Value,
}

struct StepIn {
    ma_ho_so: String,
    thoi_diem: String,
    status: String,
    content: String,
}

struct SurveyIn {
    key: (String, String, String),
    row: Value,
}

/// A call after parsing and validation, before anything is applied.
enum Prepared {
    Invalid(String),
    Dossiers {
        updating: bool,
        items: Vec<(Value, Checked<DossierIn>)>,
    },
    Steps(Vec<(Value, Checked<StepIn>)>),
    Surveys(Vec<Checked<SurveyIn>>),
    Lookup(String),
    ListProcedures,
    Procedure(String),
    Agencies,
    Fields,
}

impl Prepared {
    fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Dossiers { .. } | Self::Steps(_) | Self::Surveys(_)
        )
    }
}

fn call(
    sim: &Simulator,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &[u8],
    injected: Injected,
) -> Reply {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let bearer = bearer(headers);
    let lgsp_ok =
        bearer.is_none() || !sim.settings().require_lgsp_header || lgsp_header_ok(headers);

    let request = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let service = request
        .as_ref()
        .and_then(|m| m.get("service"))
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let prepared = request.as_ref().map(|m| {
        prepare(
            sim,
            endpoint,
            service,
            m,
            injected.item_temporary.as_deref(),
        )
    });
    let body_hash = match (&request, &prepared) {
        (Some(map), Some(p)) if p.is_write() => Some(hash_without_session(map)),
        _ => None,
    };

    let mut state = sim.state();
    // Only known names become keys, so garbage service names cannot grow the stats map.
    let counted = SERVICES
        .iter()
        .find(|s| **s == service)
        .unwrap_or(&"unknown");
    count_service(&mut state, counted);
    if request_id.is_none() {
        state.stats.violations.missing_request_id += 1;
    }
    let (Some(request), Some(prepared)) = (request, prepared) else {
        return envelope(
            sim,
            2,
            "Yêu cầu không hợp lệ: nội dung không phải đối tượng JSON",
        );
    };

    if let Some(token) = bearer {
        if !still_valid(&mut state.tokens, token) {
            state.stats.unauthorized += 1;
            return json_reply(
                sim,
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_token", "message": "Access token không hợp lệ hoặc đã hết hạn"}),
            );
        }
        if !lgsp_ok {
            return json_reply(
                sim,
                StatusCode::FORBIDDEN,
                json!({"error": "invalid_lgspaccesstoken", "message": "Header lgspaccesstoken không hợp lệ"}),
            );
        }
    } else {
        let session = request.get("session").and_then(Value::as_str).unwrap_or("");
        if !still_valid(&mut state.sessions, session) {
            state.stats.session_errors += 1;
            return envelope(sim, -2, MSG_SESSION);
        }
    }
    if injected.envelope_temporary {
        return envelope(sim, 9, MSG_TEMPORARY);
    }
    // Catalog reads need nothing more from the state: the catalog has its own short lock.
    if matches!(
        prepared,
        Prepared::ListProcedures | Prepared::Procedure(_) | Prepared::Agencies | Prepared::Fields
    ) {
        drop(state);
        return catalog_read(sim, prepared);
    }

    let state = &mut *state;
    if let (Some(id), Some(hash)) = (&request_id, &body_hash) {
        if let Some(seen) = state.requests_by_id.get(id) {
            if seen.body_hash != *hash {
                state.stats.violations.id_reused_with_different_body += 1;
            } else if let Some(answer) = &seen.answer {
                state.stats.duplicates_absorbed += 1;
                return Reply::Json(StatusCode::OK, answer.clone());
            }
        }
        if state
            .first_id_by_body
            .get(hash)
            .is_some_and(|first| first != id)
        {
            state.stats.violations.same_body_under_two_ids += 1;
        }
    }

    let answer = match prepared {
        Prepared::Invalid(message) => return envelope(sim, 2, &message),
        Prepared::Dossiers { updating, items } => {
            apply_dossiers(state, request_id.as_deref(), updating, items)
        }
        Prepared::Steps(items) => apply_steps(state, request_id.as_deref(), items),
        Prepared::Surveys(items) => apply_surveys(state, items),
        Prepared::Lookup(ma_ho_so) => lookup(state, &ma_ho_so),
        Prepared::ListProcedures
        | Prepared::Procedure(_)
        | Prepared::Agencies
        | Prepared::Fields => return catalog_read(sim, prepared),
    };
    // A batch in which no item was accepted changed nothing (all refused, all temporary, steps
    // still waiting for their dossier): a repeat of its id is processed afresh, so a step that
    // got 4 can go again under the same id once its dossier is in.
    let applied = answer["result"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["error_code"] == 0));
    let answer = encode(sim, answer);
    if let (Some(id), Some(hash)) = (request_id, body_hash) {
        let remembered = RememberedRequest {
            body_hash: hash,
            answer: applied.then(|| answer.clone()),
        };
        remember(state, sim.settings().request_id_capacity, id, remembered);
    }
    Reply::Json(StatusCode::OK, answer)
}

/// Answers a catalog read. The list and the procedure object are written into the envelope as
/// they are held (the list's JSON cached, the object in its own key order), not rebuilt.
fn catalog_read(sim: &Simulator, prepared: Prepared) -> Reply {
    let catalog = sim.catalog();
    let result = match prepared {
        Prepared::ListProcedures => catalog.list_json(),
        Prepared::Procedure(code) => match catalog.answer_procedure(&code) {
            Err(_cut) => return Reply::Unavailable,
            Ok(None) => Bytes::from_static(b"[]"),
            Ok(Some(object)) => {
                let mut out = b"[".to_vec();
                if serde_json::to_writer(&mut out, &*object).is_err() {
                    return envelope(sim, 9, MSG_TEMPORARY);
                }
                out.push(b']');
                Bytes::from(out)
            }
        },
        Prepared::Agencies => {
            return json_reply(
                sim,
                StatusCode::OK,
                json!({"error_code": 0, "message": MSG_OK, "result": catalog.agencies()}),
            )
        }
        Prepared::Fields => {
            return json_reply(
                sim,
                StatusCode::OK,
                json!({"error_code": 0, "message": MSG_OK, "result": catalog.fields()}),
            )
        }
        _ => return envelope(sim, 2, "Yêu cầu không hợp lệ"),
    };
    // The same bytes `encode` gives for `{"error_code", "message", "result"}`.
    let code = if sim.settings().string_codes {
        "\"0\""
    } else {
        "0"
    };
    let mut out = Vec::with_capacity(result.len() + 64);
    out.extend_from_slice(b"{\"error_code\":");
    out.extend_from_slice(code.as_bytes());
    out.extend_from_slice(b",\"message\":");
    out.extend_from_slice(serde_json::to_string(MSG_OK).unwrap_or_default().as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(&result);
    out.push(b'}');
    Reply::Json(StatusCode::OK, Bytes::from(out))
}

pub(super) fn remember(state: &mut State, capacity: usize, id: String, request: RememberedRequest) {
    state
        .first_id_by_body
        .entry(request.body_hash)
        .or_insert_with(|| id.clone());
    let previous = state.requests_by_id.insert(id.clone(), request);
    if previous.is_none() {
        state.request_id_order.push_back(id);
    }
    while state.request_id_order.len() > capacity.max(1) {
        let Some(old) = state.request_id_order.pop_front() else {
            break;
        };
        if let Some(gone) = state.requests_by_id.remove(&old) {
            if state.first_id_by_body.get(&gone.body_hash) == Some(&old) {
                state.first_id_by_body.remove(&gone.body_hash);
            }
        }
    }
}

/// SHA-256 of the body without `session`, keys sorted at every level, so that the same batch
/// re-sent with a fresh session (or re-serialised in another key order) hashes the same.
fn hash_without_session(map: &Map<String, Value>) -> [u8; 32] {
    let mut out = Vec::with_capacity(4096);
    canonical_object(map.iter().filter(|(k, _)| *k != "session"), &mut out);
    Sha256::digest(&out).into()
}

fn canonical_object<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = entries.collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        canonical(v, out);
    }
    out.push(b'}');
}

fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => canonical_object(map.iter(), out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => {
            // Scalars serialise the same way every time; only key order needed fixing.
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn now_wire() -> String {
    crate::time::to_wire(chrono::Utc::now())
}

fn batch_message(kind: &str, done: &str, ok: usize, failed: usize, noun: &str) -> String {
    if failed == 0 {
        format!("{kind} thành công")
    } else {
        format!("{done}: {ok} {noun} thành công, {failed} {noun} lỗi")
    }
}

fn item_result(ma_ho_so: &Value, code: i64, message: &str) -> Value {
    json!({"MaHoSo": ma_ho_so, "error_code": code, "message": message})
}

fn next_event(
    state: &mut State,
    kind: EventKind,
    request_id: Option<&str>,
    status: &str,
    thoi_diem: Option<&str>,
) -> Event {
    state.seq += 1;
    Event {
        kind,
        request_id: request_id.map(str::to_string),
        status: status.to_string(),
        thoi_diem: thoi_diem.map(str::to_string),
        seq: state.seq,
        at_ms: wall_clock_ms(),
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn reject(state: &mut State, code: i64) {
    let key = code.to_string();
    bump(&mut state.stats.items_rejected, &key);
}

fn apply_dossiers(
    state: &mut State,
    request_id: Option<&str>,
    updating: bool,
    items: Vec<(Value, Checked<DossierIn>)>,
) -> Value {
    let now = now_wire();
    let mut results = Vec::with_capacity(items.len());
    let mut failed = 0;
    for (echo, item) in items {
        let (code, message) = match item {
            Checked::Temporary => (9, MSG_TEMPORARY.to_string()),
            Checked::Rejected(code, message) => (code, message),
            Checked::Valid(d) => {
                let exists = state.dossiers.contains_key(&d.ma_ho_so);
                if !updating && exists {
                    (3, MSG_EXISTS.to_string())
                } else if updating && !exists {
                    (4, MSG_MISSING.to_string())
                } else {
                    let kind = if updating {
                        EventKind::Update
                    } else {
                        EventKind::Create
                    };
                    let event = next_event(state, kind, request_id, &d.status, None);
                    match state.dossiers.get_mut(&d.ma_ho_so) {
                        Some(record) => {
                            record.hoso = d.hoso;
                            record.events.push(event);
                            record.updated_at.clone_from(&now);
                        }
                        None => {
                            state.dossiers.insert(
                                d.ma_ho_so,
                                DossierRecord {
                                    hoso: d.hoso,
                                    events: vec![event],
                                    steps_seen: Default::default(),
                                    latest_step_at: None,
                                    updated_at: now.clone(),
                                },
                            );
                        }
                    }
                    bump(&mut state.stats.items_applied, "DongBoHoSoMC");
                    (0, MSG_OK.to_string())
                }
            }
        };
        if code != 0 {
            failed += 1;
            reject(state, code);
        }
        results.push(item_result(&echo, code, &message));
    }
    let ok = results.len() - failed;
    json!({
        "error_code": 0,
        "message": batch_message("Đồng bộ", "Đồng bộ hoàn tất", ok, failed, "hồ sơ"),
        "result": results,
    })
}

fn apply_steps(
    state: &mut State,
    request_id: Option<&str>,
    items: Vec<(Value, Checked<StepIn>)>,
) -> Value {
    let now = now_wire();
    let mut results = Vec::with_capacity(items.len());
    let mut failed = 0;
    for (echo, item) in items {
        let (code, message) = match item {
            Checked::Temporary => (9, MSG_TEMPORARY.to_string()),
            Checked::Rejected(code, message) => (code, message),
            Checked::Valid(step) => {
                let (code, message) = apply_step(state, request_id, step, &now);
                (code, message.to_string())
            }
        };
        if code != 0 {
            failed += 1;
            reject(state, code);
        }
        results.push(item_result(&echo, code, &message));
    }
    let ok = results.len() - failed;
    json!({
        "error_code": 0,
        "message": batch_message("Cập nhật tiến độ", "Cập nhật tiến độ hoàn tất", ok, failed, "bước"),
        "result": results,
    })
}

fn apply_step(
    state: &mut State,
    request_id: Option<&str>,
    step: StepIn,
    now: &str,
) -> (i64, &'static str) {
    let Some(record) = state.dossiers.get_mut(&step.ma_ho_so) else {
        return (4, MSG_MISSING);
    };
    let key = (step.thoi_diem.clone(), step.status.clone(), step.content);
    if record.steps_seen.contains(&key) {
        // Idempotent by (MaHoSo, ThoiDiemXuLy, TrangThai, NoiDungXuLy): accepted, not re-applied.
        state.stats.duplicate_steps += 1;
        return (0, MSG_OK);
    }
    let out_of_order = record
        .latest_step_at
        .as_ref()
        .is_some_and(|latest| step.thoi_diem < *latest);
    if out_of_order {
        state.stats.out_of_order_steps += 1;
    } else {
        record.latest_step_at = Some(step.thoi_diem.clone());
    }
    record.steps_seen.insert(key);
    state.seq += 1;
    record.events.push(Event {
        kind: EventKind::Step,
        request_id: request_id.map(str::to_string),
        status: step.status.clone(),
        thoi_diem: Some(step.thoi_diem),
        seq: state.seq,
        at_ms: wall_clock_ms(),
    });
    // The portal keeps the last step received as the dossier's current state (dvcqg.md).
    if let Some(hoso) = record.hoso.as_object_mut() {
        hoso.insert("TrangThaiHoSo".into(), Value::String(step.status));
    }
    record.updated_at = now.to_string();
    bump(&mut state.stats.items_applied, "CapNhatTienDoHoSoMC");
    (0, MSG_OK)
}

fn apply_surveys(state: &mut State, items: Vec<Checked<SurveyIn>>) -> Value {
    let mut results = Vec::with_capacity(items.len());
    let mut failed = 0;
    for item in items {
        let (code, message) = match item {
            Checked::Temporary => (9, MSG_TEMPORARY.to_string()),
            Checked::Rejected(code, message) => (code, message),
            Checked::Valid(s) => {
                state.surveys.insert(s.key, s.row);
                bump(&mut state.stats.items_applied, "DongBoDanhGia");
                (0, MSG_OK.to_string())
            }
        };
        if code != 0 {
            failed += 1;
            reject(state, code);
        }
        results.push(json!({"error_code": code, "message": message}));
    }
    let ok = results.len() - failed;
    json!({
        "error_code": 0,
        "message": batch_message("Đồng bộ đánh giá", "Đồng bộ đánh giá hoàn tất", ok, failed, "dòng"),
        "result": results,
    })
}

fn lookup(state: &State, ma_ho_so: &str) -> Value {
    let result: Vec<Value> = state
        .dossiers
        .get(ma_ho_so)
        .map(|d| {
            let field = |k: &str| {
                d.hoso
                    .get(k)
                    .cloned()
                    .unwrap_or(Value::String(String::new()))
            };
            json!({
                "MaHoSo": ma_ho_so,
                "MaTTHC": field("MaTTHC"),
                "TrangThaiHoSo": field("TrangThaiHoSo"),
                "NgayTiepNhan": field("NgayTiepNhan"),
                "NgayHenTra": field("NgayHenTra"),
                "NgayCapNhat": d.updated_at,
            })
        })
        .into_iter()
        .collect();
    json!({"error_code": 0, "message": MSG_OK, "result": result})
}

// ---------------------------------------------------------------------------------------------
// Validation: before the state lock; only procedure codes are looked up (in the catalog).

fn prepare(
    sim: &Simulator,
    endpoint: Endpoint,
    service: &str,
    request: &Map<String, Value>,
    item_temporary: Option<&[usize]>,
) -> Prepared {
    let on_integration = endpoint == Endpoint::Integration;
    let known = match service {
        "DongBoHoSoMC" | "CapNhatTienDoHoSoMC" | "DongBoDanhGia" | "TraCuuHoSo" => on_integration,
        "LayDanhSachTTHC" | "LayThuTuc" | "LayDanhMucCoQuan" | "LayDanhMucLinhVuc" => {
            !on_integration
        }
        _ => false,
    };
    if !known {
        return Prepared::Invalid(format!(
            "Dịch vụ {service} không được hỗ trợ trên đường dẫn này"
        ));
    }
    if let Err(message) = required(request, "madonvi") {
        return Prepared::Invalid(message);
    }
    match service {
        "DongBoHoSoMC" => {
            let updating = match request.get("isUpdating").and_then(Value::as_str) {
                Some("True") => true,
                Some("False") => false,
                _ => return Prepared::Invalid("Trường isUpdating không hợp lệ".into()),
            };
            let data = match batch(request, 50, "hồ sơ") {
                Ok(d) => d,
                Err(m) => return Prepared::Invalid(m),
            };
            let temporary = temporary_mask(item_temporary, data.len());
            let items = data
                .iter()
                .zip(temporary)
                .map(|(item, temp)| {
                    let echo = item.get("MaHoSo").cloned().unwrap_or(Value::Null);
                    let checked = if temp && sim.settings().echo_items {
                        Checked::Rejected(9, echoed(sim, MSG_TEMPORARY, item))
                    } else if temp {
                        Checked::Temporary
                    } else {
                        match item.as_object() {
                            None => Checked::Rejected(2, "Hồ sơ không đúng định dạng".into()),
                            Some(obj) => match check_dossier(obj) {
                                Ok(_)
                                    if !sim.knows_procedure(
                                        obj.get("MaTTHC").and_then(Value::as_str).unwrap_or(""),
                                    ) =>
                                {
                                    Checked::Rejected(5, echoed(sim, MSG_UNKNOWN_PROCEDURE, item))
                                }
                                Ok(d) => Checked::Valid(d),
                                Err(m) => Checked::Rejected(2, echoed(sim, &m, item)),
                            },
                        }
                    };
                    (echo, checked)
                })
                .collect();
            Prepared::Dossiers { updating, items }
        }
        "CapNhatTienDoHoSoMC" => {
            let data = match batch(request, 10, "bước") {
                Ok(d) => d,
                Err(m) => return Prepared::Invalid(m),
            };
            let temporary = temporary_mask(item_temporary, data.len());
            Prepared::Steps(
                data.iter()
                    .zip(temporary)
                    .map(|(item, temp)| {
                        let echo = item.get("MaHoSo").cloned().unwrap_or(Value::Null);
                        let checked = if temp {
                            Checked::Temporary
                        } else {
                            match item.as_object() {
                                None => {
                                    Checked::Rejected(2, "Bước xử lý không đúng định dạng".into())
                                }
                                Some(obj) => match check_step(obj) {
                                    Ok(s) => Checked::Valid(s),
                                    Err(m) => Checked::Rejected(2, m),
                                },
                            }
                        };
                        (echo, checked)
                    })
                    .collect(),
            )
        }
        "DongBoDanhGia" => {
            let data = match batch(request, 1000, "dòng") {
                Ok(d) => d,
                Err(m) => return Prepared::Invalid(m),
            };
            let temporary = temporary_mask(item_temporary, data.len());
            Prepared::Surveys(
                data.iter()
                    .zip(temporary)
                    .map(|(item, temp)| {
                        if temp {
                            return Checked::Temporary;
                        }
                        match item.as_object().map(check_survey) {
                            None => {
                                Checked::Rejected(2, "Dòng đánh giá không đúng định dạng".into())
                            }
                            Some(Ok(s)) => Checked::Valid(s),
                            Some(Err(m)) => Checked::Rejected(2, m),
                        }
                    })
                    .collect(),
            )
        }
        "TraCuuHoSo" => match required(request, "mahoso") {
            Ok(m) => Prepared::Lookup(m.to_string()),
            Err(m) => Prepared::Invalid(m),
        },
        "LayDanhSachTTHC" => Prepared::ListProcedures,
        "LayThuTuc" => match required(request, "maTTHC") {
            Ok(m) => Prepared::Procedure(m.to_string()),
            Err(m) => Prepared::Invalid(m),
        },
        "LayDanhMucCoQuan" => Prepared::Agencies,
        _ => Prepared::Fields,
    }
}

/// `message`, followed by the refused item itself when the simulator echoes items.
fn echoed(sim: &Simulator, message: &str, item: &Value) -> String {
    if sim.settings().echo_items {
        format!("{message}: {item}")
    } else {
        message.to_string()
    }
}

fn temporary_mask(items: Option<&[usize]>, n: usize) -> Vec<bool> {
    match items {
        Some(items) => temporary_positions(items, n),
        None => vec![false; n],
    }
}

fn batch<'a>(
    request: &'a Map<String, Value>,
    max: usize,
    noun: &str,
) -> Result<&'a Vec<Value>, String> {
    match request.get("data") {
        Some(Value::Array(items)) if (1..=max).contains(&items.len()) => Ok(items),
        Some(Value::Array(_)) => Err(format!("Trường data phải có từ 1 đến {max} {noun}")),
        _ => Err("Trường data không được để trống".into()),
    }
}

fn wrong_type(field: &str) -> String {
    format!("Trường {field} không đúng kiểu dữ liệu")
}

fn empty(field: &str) -> String {
    format!("Trường {field} không được để trống")
}

fn bad_format(field: &str) -> String {
    format!("Trường {field} không đúng định dạng")
}

fn not_allowed(field: &str) -> String {
    format!("Trường {field} không hợp lệ")
}

/// An optional string field: absent, `null` and blank all mean no value.
fn text<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(field)),
    }
}

fn required<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    text(obj, field)?.ok_or_else(|| empty(field))
}

/// A code field: a string from `allowed`, compared exactly (`"01"` is not `"1"`).
fn code<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    allowed: &[&str],
    mandatory: bool,
) -> Result<Option<&'a str>, String> {
    match text(obj, field)? {
        None if mandatory => Err(empty(field)),
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v)),
        Some(_) => Err(not_allowed(field)),
    }
}

/// A `0`/`1` flag, as a string or a number (codes.md: flags may arrive as either).
fn flag(obj: &Map<String, Value>, field: &str, mandatory: bool) -> Result<(), String> {
    match obj.get(field) {
        None | Some(Value::Null) if !mandatory => Ok(()),
        None | Some(Value::Null) => Err(empty(field)),
        Some(Value::String(s)) if s == "0" || s == "1" => Ok(()),
        Some(Value::String(s)) if s.trim().is_empty() && !mandatory => Ok(()),
        Some(Value::String(s)) if s.trim().is_empty() => Err(empty(field)),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 1) => Ok(()),
        Some(_) => Err(not_allowed(field)),
    }
}

/// A wire date (`yyyyMMddHHmmss`) that exists on the calendar.
fn date<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
    mandatory: bool,
) -> Result<Option<&'a str>, String> {
    match text(obj, field)? {
        None if mandatory => Err(empty(field)),
        None => Ok(None),
        Some(v) if crate::time::from_wire(v).is_some() => Ok(Some(v)),
        Some(_) => Err(bad_format(field)),
    }
}

fn max_chars(value: &str, field: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        Err(format!("Trường {field} vượt quá {max} ký tự"))
    } else {
        Ok(())
    }
}

// Patterns are constants; `Option` rather than a panic keeps a typo from killing a server task
// (every value would then be refused, which the tests catch).
fn regex(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn ma_ho_so(obj: &Map<String, Value>) -> Result<String, String> {
    static PATTERN: OnceLock<Option<Regex>> = OnceLock::new();
    let value = required(obj, "MaHoSo")?;
    max_chars(value, "MaHoSo", 50)?;
    let re = regex(
        &PATTERN,
        r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-([0-9]{6})-[0-9]+$",
    );
    let day = re
        .and_then(|re| re.captures(value))
        .and_then(|c| c.get(1))
        .map(|m| m.as_str());
    let real_day =
        day.is_some_and(|d| chrono::NaiveDate::parse_from_str(&format!("20{d}"), "%Y%m%d").is_ok());
    if real_day {
        Ok(value.to_string())
    } else {
        Err(bad_format("MaHoSo"))
    }
}

/// An optional array of objects; `null` and `[]` mean no value.
fn objects<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
) -> Result<Vec<&'a Map<String, Value>>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_object().ok_or_else(|| wrong_type(field)))
            .collect(),
        Some(_) => Err(wrong_type(field)),
    }
}

fn check_dossier(obj: &Map<String, Value>) -> Result<DossierIn, String> {
    static TAX: OnceLock<Option<Regex>> = OnceLock::new();
    static MONEY: OnceLock<Option<Regex>> = OnceLock::new();

    let ma_ho_so = ma_ho_so(obj)?;
    required(obj, "MaTTHC")?;
    required(obj, "TenTTHC")?;
    required(obj, "MaLinhVuc")?;
    text(obj, "TenLinhVuc")?;
    code(obj, "KenhThucHien", &["1", "2", "3"], true)?;
    required(obj, "ChuHoSo")?;
    code(obj, "LoaiDoiTuong", &["1", "2", "3", "4"], true)?;
    text(obj, "MaDoiTuong")?;
    for id in objects(obj, "DinhDanhCHS")? {
        let kind = code(id, "LoaiDinhDanh", &["1", "2", "3"], true)?;
        let number = required(id, "SoDinhDanh")?;
        let digits = |n: usize| number.len() == n && number.bytes().all(|b| b.is_ascii_digit());
        let ok = match kind {
            Some("1") => digits(12),
            Some("2") => digits(9),
            _ => regex(&TAX, r"^[0-9]{10}(-[0-9]{3})?$").is_some_and(|re| re.is_match(number)),
        };
        if !ok {
            return Err(not_allowed("SoDinhDanh"));
        }
    }
    if let Some(phone) = text(obj, "SoDienThoai")? {
        let ok = phone.bytes().all(|b| b.is_ascii_digit())
            && phone.starts_with('0')
            && (phone.len() == 10 || (phone.len() == 11 && phone.starts_with("02")));
        if !ok {
            return Err(bad_format("SoDienThoai"));
        }
    }
    if let Some(email) = text(obj, "Email")? {
        let ok = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
        if !ok {
            return Err(bad_format("Email"));
        }
    }
    let summary = required(obj, "TrichYeuHoSo")?;
    max_chars(summary, "TrichYeuHoSo", 1000)?;
    date(obj, "NgayNopHoSo", false)?;
    let status = code(obj, "TrangThaiHoSo", STATUSES, true)?.unwrap_or_default();
    let received = date(obj, "NgayTiepNhan", !matches!(status, "1" | "7"))?;
    let due = date(obj, "NgayHenTra", !matches!(status, "1" | "3" | "7"))?;
    if let (Some(received), Some(due)) = (received, due) {
        // Same-width digit strings in one zone compare like the instants they name.
        if due < received {
            return Err("Trường NgayHenTra không được trước NgayTiepNhan".into());
        }
    }
    date(obj, "NgayTra", false)?;
    // codes.md: a refused dossier carries NgayTuChoi and no NgayKetThucXuLy.
    let refused = status == "3";
    let finished = date(obj, "NgayKetThucXuLy", false)?;
    if refused && finished.is_some() {
        return Err(not_allowed("NgayKetThucXuLy"));
    }
    date(obj, "NgayTuChoi", refused)?;
    code(obj, "HinhThuc", &["0", "1"], true)?;
    required(obj, "DonViXuLy")?;
    flag(obj, "HoSoCoThanhPhanSoHoa", true)?;
    code(obj, "DuocThanhToanTrucTuyen", &["1", "3"], false)?;
    for doc in objects(obj, "TaiLieuNop")? {
        text(doc, "DuongDanTaiTepTin")?;
        flag(doc, "DuocSoHoa", false)?;
        code(doc, "DuocTaiSuDung", &["0", "1", "2"], false)?;
    }
    for fee in objects(obj, "DanhSachLePhi")? {
        if let Some(price) = text(fee, "Gia")? {
            if !regex(&MONEY, r"^[0-9]+(\.[0-9]+)?$").is_some_and(|re| re.is_match(price)) {
                return Err(bad_format("Gia"));
            }
        }
        code(fee, "LoaiPhiLePhi", &["1", "2", "3"], false)?;
        code(fee, "HinhThucThu", &["1", "2", "4"], false)?;
    }
    for round in objects(obj, "DanhSachHoSoBoSung")? {
        date(round, "NgayBoSung", false)?;
        date(round, "NgayHenTraTruoc", false)?;
        date(round, "NgayHenTraMoi", false)?;
    }
    objects(obj, "DanhSachGiayToKetQua")?;
    Ok(DossierIn {
        ma_ho_so,
        status: status.to_string(),
        hoso: Value::Object(obj.clone()),
    })
}

fn check_step(obj: &Map<String, Value>) -> Result<StepIn, String> {
    let ma_ho_so = ma_ho_so(obj)?;
    let person = required(obj, "NguoiXuLy")?;
    max_chars(person, "NguoiXuLy", 50)?;
    text(obj, "ChucDanh")?;
    let thoi_diem = date(obj, "ThoiDiemXuLy", true)?.unwrap_or_default();
    required(obj, "PhongBanXuLy")?;
    let content = required(obj, "NoiDungXuLy")?;
    let status = code(obj, "TrangThai", STATUSES, true)?.unwrap_or_default();
    date(obj, "NgayBatDau", false)?;
    date(obj, "NgayKetThucTheoQuyDinh", false)?;
    Ok(StepIn {
        ma_ho_so,
        thoi_diem: thoi_diem.to_string(),
        status: status.to_string(),
        content: content.to_string(),
    })
}

fn check_survey(obj: &Map<String, Value>) -> Result<SurveyIn, String> {
    static MONTH: OnceLock<Option<Regex>> = OnceLock::new();
    static PERCENT: OnceLock<Option<Regex>> = OnceLock::new();
    let month = required(obj, "NgayTongHop")?;
    if !regex(&MONTH, r"^(0?[1-9]|1[0-2])-[0-9]{4}$").is_some_and(|re| re.is_match(month)) {
        return Err(bad_format("NgayTongHop"));
    }
    let procedure = required(obj, "MaThuTuc")?;
    let agency = required(obj, "Madonvi")?;
    text(obj, "TenDonVi")?;
    match obj.get("TongSoNguoiDanhGia") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        None | Some(Value::Null) => return Err(empty("TongSoNguoiDanhGia")),
        Some(_) => return Err(not_allowed("TongSoNguoiDanhGia")),
    }
    for field in [
        "PhanTramDanhGiaRatHaiLong",
        "PhanTramDanhGiaHaiLong",
        "PhanTramDanhGiaChuaHaiLong",
    ] {
        if let Some(p) = text(obj, field)? {
            let in_range = regex(&PERCENT, r"^[0-9]{1,3}%$").is_some_and(|re| re.is_match(p))
                && p.trim_end_matches('%')
                    .parse::<u32>()
                    .is_ok_and(|n| n <= 100);
            if !in_range {
                return Err(bad_format(field));
            }
        }
    }
    Ok(SurveyIn {
        key: (month.to_string(), procedure.to_string(), agency.to_string()),
        row: Value::Object(obj.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn body_hash_ignores_session_and_key_order() {
        let a = object(json!({"session": "a", "service": "X", "data": [{"b": 1, "a": "ệ"}]}));
        let b = object(json!({"data": [{"a": "ệ", "b": 1}], "service": "X", "session": "b"}));
        let c = object(json!({"data": [{"a": "e", "b": 1}], "service": "X"}));
        assert_eq!(hash_without_session(&a), hash_without_session(&b));
        assert_ne!(hash_without_session(&a), hash_without_session(&c));
    }

    #[test]
    fn item_temporary_positions_default_to_every_other_item() {
        assert_eq!(temporary_positions(&[], 1), vec![true]);
        assert_eq!(temporary_positions(&[], 4), vec![false, true, false, true]);
        assert_eq!(temporary_positions(&[0, 7], 2), vec![true, false]);
    }
}
