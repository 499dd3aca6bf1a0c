//! Simulated commune subscribers (commune.md): many subscribers behind one listener, each with
//! its own secret and state, for tests, benchmarks and `lienthong sim --communes N`.
//!
//! Routes: `PUT /communes/{name}/procedures/{MATTHC}` (upsert), `DELETE
//! /communes/{name}/procedures/{MATTHC}?version=N` (withdrawal), so subscriber `name`'s base URL
//! is `http://<addr>/communes/{name}` ([`base_url`]); `GET /sim/communes` gives every
//! subscriber's [`SubscriberRecord`] as JSON.
//!
//! Each request is checked as a strict subscriber would: `X-Request-ID` present; a timestamp
//! within the window (5 minutes) of the simulator's clock and a valid HMAC-SHA256 signature
//! (else 401, state unchanged); a well-formed body (else 400); versions per procedure strictly
//! increasing (an equal or lower one is 409, a lower one is also counted as an order
//! violation). It records per subscriber what it applied, in order, and counts requests, 401s,
//! 409s, repeats and reuses of an `X-Request-ID`, and order violations. A subscriber can be
//! marked down (503 with `Retry-After`, or the connection closed unanswered) and up again, or slow.
//!
//! Like the portal simulator it keeps everything in memory, holds one short lock per request
//! (per subscriber, so subscribers do not contend), and does not use the gateway's own peer
//! code, so that it stays an independent reading of the contract.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::server::ConnectionDropped;

/// How far a request's timestamp may be from the simulator's clock (commune.md: 5 minutes).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Bodies above this are refused with 413; a procedure object is a few tens of kilobytes.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Request ids remembered per subscriber, oldest forgotten first, so long runs stay bounded.
const SEEN_IDS: usize = 200_000;

/// The base URL the gateway is given for subscriber `name` of a simulator at `addr`.
pub fn base_url(addr: SocketAddr, name: &str) -> String {
    format!("http://{addr}/communes/{name}")
}

/// The `[peers.commune]` section that points the gateway at every subscriber of `names` on a
/// simulator at `addr`, each with the secret `secret_prefix` + its name (as [`numbered`] makes
/// them). For tests, benchmarks and the demo.
pub fn peers_toml(addr: SocketAddr, names: &[String], secret_prefix: &str) -> String {
    let mut toml = String::from("[peers.commune]\n");
    for name in names {
        toml.push_str(&format!(
            "[[peers.commune.subscribers]]\nname = \"{name}\"\nbase_url = \"{}\"\nsecret = \"{secret_prefix}{name}\"\n",
            base_url(addr, name)
        ));
    }
    toml
}

/// `lienthong sim` options for the commune subscribers (no `Debug`: the secret prefix).
#[derive(Clone, clap::Args)]
pub struct CommuneOptions {
    /// Simulated commune subscribers (`xa-0001`, `xa-0002`, ...) on `--commune-listen`; 0: none.
    #[arg(long, default_value_t = 0)]
    pub communes: usize,
    /// Address of the commune subscribers; subscriber S is at `http://<address>/communes/S`.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub commune_listen: SocketAddr,
    /// Each subscriber's secret is this prefix followed by its name.
    #[arg(
        long,
        env = "LIENTHONG_SIM_COMMUNE_SECRET_PREFIX",
        default_value = "bimat-",
        hide_env_values = true
    )]
    pub commune_secret_prefix: String,
}

/// The name of the `i`th (from 1) of [`numbered`]'s subscribers: `xa-0001`.
pub fn subscriber_name(i: usize) -> String {
    format!("xa-{i:04}")
}

/// `count` subscribers `xa-0001`.. whose secrets are `secret_prefix` followed by their names
/// (for `lienthong sim --communes N` and benchmarks).
pub fn numbered(count: usize, secret_prefix: &str) -> CommuneSim {
    CommuneSim::new((1..=count).map(|i| {
        let name = subscriber_name(i);
        let secret = format!("{secret_prefix}{name}");
        (name, secret)
    }))
}

/// Whether a subscriber answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Availability {
    Up,
    /// Answers every request 503 with this `Retry-After` (seconds), applying nothing.
    Unavailable {
        retry_after_secs: u64,
    },
    /// Closes every connection without an answer, applying nothing.
    Refusing,
}

/// What a subscriber holds for one procedure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub version: u64,
    /// Whether the last applied version was a withdrawal.
    pub withdrawn: bool,
    /// The upsert's `hash` (none for a withdrawal).
    pub hash: Option<String>,
    /// The upsert's `changed_at` (none for a withdrawal).
    pub changed_at: Option<String>,
    /// The `X-Request-ID` that carried it.
    pub request_id: String,
}

/// One applied message, in the order the subscriber applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub code: String,
    pub version: u64,
    pub withdrawn: bool,
    /// Apply order across every subscriber of the simulator, from 1.
    pub seq: u64,
}

/// What the simulator saw at one subscriber.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SubscriberRecord {
    /// Every request routed to this subscriber, whatever became of it.
    pub requests: u64,
    /// Upserts and withdrawals applied.
    pub applied: u64,
    /// Answered 401: signature or timestamp missing, malformed, outside the window or wrong.
    pub unauthorized: u64,
    /// Answered 409: the version was equal to or lower than the one held.
    pub conflicts: u64,
    /// A version lower than one already applied to the procedure (409 too): sent out of order.
    pub order_violations: u64,
    /// A signed request whose `X-Request-ID` was seen before with the same method, path and body.
    pub repeats: u64,
    /// A signed request whose `X-Request-ID` was seen before with another method, path or body:
    /// the gateway must never do this.
    pub id_reuses: u64,
    /// Answered 400: no `X-Request-ID`, or a body or query the contract does not allow.
    pub invalid: u64,
    /// Answered 503 or dropped while marked down.
    pub unavailable: u64,
}

/// The simulated subscribers. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct CommuneSim {
    inner: Arc<Inner>,
}

struct Inner {
    subscribers: HashMap<String, Subscriber>,
    window: Duration,
    seq: AtomicU64,
    /// Requests to no known subscriber (answered 404).
    unrouted: AtomicU64,
}

struct Subscriber {
    secret: Vec<u8>,
    state: Mutex<State>,
}

struct State {
    availability: Availability,
    delay: Option<Duration>,
    procedures: BTreeMap<String, Applied>,
    history: Vec<HistoryEntry>,
    record: SubscriberRecord,
    /// Request id → SHA-256 of (method, path and query, body).
    seen: HashMap<String, [u8; 32]>,
    seen_order: VecDeque<String>,
}

impl std::fmt::Debug for CommuneSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets stay out.
        f.debug_struct("CommuneSim")
            .field("subscribers", &self.inner.subscribers.len())
            .field("window", &self.inner.window)
            .finish_non_exhaustive()
    }
}

impl CommuneSim {
    /// Subscribers from `(name, secret)` pairs, all up, with the 5-minute window.
    pub fn new<N: Into<String>, S: AsRef<[u8]>>(
        subscribers: impl IntoIterator<Item = (N, S)>,
    ) -> Self {
        Self::with_window(subscribers, DEFAULT_WINDOW)
    }

    /// Like [`CommuneSim::new`] with another timestamp window.
    pub fn with_window<N: Into<String>, S: AsRef<[u8]>>(
        subscribers: impl IntoIterator<Item = (N, S)>,
        window: Duration,
    ) -> Self {
        let subscribers = subscribers
            .into_iter()
            .map(|(name, secret)| {
                (
                    name.into(),
                    Subscriber {
                        secret: secret.as_ref().to_vec(),
                        state: Mutex::new(State {
                            availability: Availability::Up,
                            delay: None,
                            procedures: BTreeMap::new(),
                            history: Vec::new(),
                            record: SubscriberRecord::default(),
                            seen: HashMap::new(),
                            seen_order: VecDeque::new(),
                        }),
                    },
                )
            })
            .collect();
        CommuneSim {
            inner: Arc::new(Inner {
                subscribers,
                window,
                seq: AtomicU64::new(0),
                unrouted: AtomicU64::new(0),
            }),
        }
    }

    /// The subscribers' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.subscribers.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Marks `name` down (or up again with [`Availability::Up`]). False if there is no such
    /// subscriber.
    pub fn set_availability(&self, name: &str, availability: Availability) -> bool {
        self.with_state(name, |s| s.availability = availability)
            .is_some()
    }

    /// Delays every answer of `name` (after applying) by `delay`; `None` = no delay.
    pub fn set_delay(&self, name: &str, delay: Option<Duration>) -> bool {
        self.with_state(name, |s| s.delay = delay).is_some()
    }

    /// What `name` saw; `None` if there is no such subscriber.
    pub fn record(&self, name: &str) -> Option<SubscriberRecord> {
        self.with_state(name, |s| s.record.clone())
    }

    /// Every subscriber's record, by name.
    pub fn records(&self) -> BTreeMap<String, SubscriberRecord> {
        self.inner
            .subscribers
            .iter()
            .map(|(name, sub)| (name.clone(), lock(&sub.state).record.clone()))
            .collect()
    }

    /// The sum of every subscriber's record.
    pub fn totals(&self) -> SubscriberRecord {
        self.records()
            .values()
            .fold(SubscriberRecord::default(), |mut t, r| {
                t.requests += r.requests;
                t.applied += r.applied;
                t.unauthorized += r.unauthorized;
                t.conflicts += r.conflicts;
                t.order_violations += r.order_violations;
                t.repeats += r.repeats;
                t.id_reuses += r.id_reuses;
                t.invalid += r.invalid;
                t.unavailable += r.unavailable;
                t
            })
    }

    /// Requests whose path named no known subscriber.
    pub fn unrouted(&self) -> u64 {
        self.inner.unrouted.load(Ordering::Relaxed)
    }

    /// What `name` holds for procedure `code`.
    pub fn applied(&self, name: &str, code: &str) -> Option<Applied> {
        self.with_state(name, |s| s.procedures.get(code).cloned())
            .flatten()
    }

    /// Everything `name` holds, by procedure code (empty if no such subscriber).
    pub fn catalog(&self, name: &str) -> BTreeMap<String, Applied> {
        self.with_state(name, |s| s.procedures.clone())
            .unwrap_or_default()
    }

    /// What `name` applied, in order (empty if no such subscriber).
    pub fn history(&self, name: &str) -> Vec<HistoryEntry> {
        self.with_state(name, |s| s.history.clone())
            .unwrap_or_default()
    }

    fn with_state<T>(&self, name: &str, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        let sub = self.inner.subscribers.get(name)?;
        Some(f(&mut lock(&sub.state)))
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves counters at worst one short; the state is still used.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Serves the subscribers on `listener` until `shutdown` is cancelled, then lets open
/// connections finish (bounded) and returns.
pub async fn serve(
    listener: TcpListener,
    sim: CommuneSim,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    super::server::serve_http(
        listener,
        move |req| {
            let sim = sim.clone();
            async move { route(&sim, req).await }
        },
        shutdown,
        "commune simulator",
    )
    .await
}

async fn route(
    sim: &CommuneSim,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if parts.method == Method::GET && path == "/sim/communes" {
        let records = json!({"subscribers": sim.records(), "unrouted": sim.unrouted()});
        return Ok(json_response(StatusCode::OK, &records));
    }
    let Some((name, code)) = parse_path(path) else {
        sim.inner.unrouted.fetch_add(1, Ordering::Relaxed);
        return Ok(error(StatusCode::NOT_FOUND, "not found"));
    };
    let Some(subscriber) = sim.inner.subscribers.get(&name) else {
        sim.inner.unrouted.fetch_add(1, Ordering::Relaxed);
        return Ok(error(StatusCode::NOT_FOUND, "no such subscriber"));
    };
    let delay = {
        let mut state = lock(&subscriber.state);
        state.record.requests += 1;
        match state.availability {
            Availability::Up => state.delay,
            Availability::Unavailable { retry_after_secs } => {
                state.record.unavailable += 1;
                let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
                resp.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return Ok(resp);
            }
            Availability::Refusing => {
                state.record.unavailable += 1;
                return Err(ConnectionDropped);
            }
        }
    };
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large or broken",
            ))
        }
    };
    let incoming = Received {
        method: &parts.method,
        path_and_query: parts.uri.path_and_query().map_or(path, |pq| pq.as_str()),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let seq = &sim.inner.seq;
    let resp = {
        let mut state = lock(&subscriber.state);
        handle(
            &mut state,
            &subscriber.secret,
            sim.inner.window,
            seq,
            &code,
            &incoming,
        )
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    Ok(resp)
}

/// The parts of a request the subscriber's rules read.
struct Received<'a> {
    method: &'a Method,
    path_and_query: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

/// One request at one subscriber, under its lock: authenticate, check, apply.
fn handle(
    state: &mut State,
    secret: &[u8],
    window: Duration,
    seq: &AtomicU64,
    code: &str,
    req: &Received<'_>,
) -> Response<Full<Bytes>> {
    if let Err(reason) = authenticate(secret, window, req.headers, req.body) {
        state.record.unauthorized += 1;
        return error(StatusCode::UNAUTHORIZED, reason);
    }
    let Some(request_id) = header(req.headers, "x-request-id").filter(|v| !v.is_empty()) else {
        state.record.invalid += 1;
        return error(StatusCode::BAD_REQUEST, "X-Request-ID missing");
    };
    note_request_id(state, request_id, req);

    let parsed = match *req.method {
        Method::PUT => parse_upsert(code, req.headers, req.body),
        Method::DELETE => parse_withdrawal(req.query, req.body),
        _ => {
            state.record.invalid += 1;
            return error(StatusCode::METHOD_NOT_ALLOWED, "PUT or DELETE only");
        }
    };
    let change = match parsed {
        Ok(change) => change,
        Err(reason) => {
            state.record.invalid += 1;
            return error(StatusCode::BAD_REQUEST, &reason);
        }
    };
    if let Some(held) = state.procedures.get(code) {
        if change.version <= held.version {
            state.record.conflicts += 1;
            if change.version < held.version {
                state.record.order_violations += 1;
            }
            let held_version = held.version;
            return json_response(
                StatusCode::CONFLICT,
                &json!({"error": "already at this or a newer version", "version": held_version}),
            );
        }
    }
    let withdrawn = change.hash.is_none();
    let version = change.version;
    state.record.applied += 1;
    state.history.push(HistoryEntry {
        code: code.to_string(),
        version,
        withdrawn,
        seq: seq.fetch_add(1, Ordering::Relaxed) + 1,
    });
    state.procedures.insert(
        code.to_string(),
        Applied {
            version,
            withdrawn,
            hash: change.hash,
            changed_at: change.changed_at,
            request_id: request_id.to_string(),
        },
    );
    if withdrawn {
        empty(StatusCode::NO_CONTENT)
    } else {
        json_response(StatusCode::OK, &json!({"MATTHC": code, "version": version}))
    }
}

/// The timestamp is within `window` of now and the signature is the HMAC of
/// `"<timestamp>.<body>"` under `secret`. The reason goes back to the caller, never the secret.
fn authenticate(
    secret: &[u8],
    window: Duration,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), &'static str> {
    let timestamp = header(headers, "x-lienthong-timestamp").ok_or("timestamp missing")?;
    let at: u64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("timestamp is not unix seconds")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.abs_diff(at) > window.as_secs() {
        return Err("timestamp outside the allowed window");
    }
    let signature = header(headers, "x-lienthong-signature").ok_or("signature missing")?;
    let given = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or("signature is not sha256=<hex>")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "no key")?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&given)
        .map_err(|_| "signature does not match")
}

fn note_request_id(state: &mut State, request_id: &str, req: &Received<'_>) {
    let mut hasher = Sha256::new();
    hasher.update(req.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(req.body);
    let digest: [u8; 32] = hasher.finalize().into();
    match state.seen.get(request_id) {
        Some(earlier) if *earlier == digest => state.record.repeats += 1,
        Some(_) => state.record.id_reuses += 1,
        None => {
            if state.seen_order.len() >= SEEN_IDS {
                if let Some(oldest) = state.seen_order.pop_front() {
                    state.seen.remove(&oldest);
                }
            }
            state.seen.insert(request_id.to_string(), digest);
            state.seen_order.push_back(request_id.to_string());
        }
    }
}

/// A checked upsert or withdrawal; `hash` is `None` for a withdrawal.
struct Change {
    version: u64,
    hash: Option<String>,
    changed_at: Option<String>,
}

fn parse_upsert(code: &str, headers: &HeaderMap, body: &[u8]) -> Result<Change, String> {
    let json_type = header(headers, "content-type").is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    if !json_type {
        return Err("Content-Type must be application/json".into());
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let version = value
        .get("version")
        .and_then(Value::as_u64)
        .ok_or("version must be an unsigned integer")?;
    let hash = value
        .get("hash")
        .and_then(Value::as_str)
        .filter(|h| {
            h.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
        })
        .ok_or("hash must be sha256:<64 lower-case hex>")?;
    let changed_at = value
        .get("changed_at")
        .and_then(Value::as_str)
        .filter(|t| t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok())
        .ok_or("changed_at must be RFC 3339 in UTC (ending in Z)")?;
    let procedure = value
        .get("procedure")
        .and_then(Value::as_object)
        .ok_or("procedure must be an object")?;
    if procedure.get("MATTHC").and_then(Value::as_str) != Some(code) {
        return Err("procedure.MATTHC does not match the path".into());
    }
    Ok(Change {
        version,
        hash: Some(hash.to_string()),
        changed_at: Some(changed_at.to_string()),
    })
}

fn parse_withdrawal(query: Option<&str>, body: &[u8]) -> Result<Change, String> {
    if !body.is_empty() {
        return Err("a withdrawal has an empty body".into());
    }
    let mut version = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "version" {
            if version.is_some() {
                return Err("version given twice".into());
            }
            version = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| "version must be an unsigned integer".to_string())?,
            );
        }
    }
    Ok(Change {
        version: version.ok_or("version missing from the query")?,
        hash: None,
        changed_at: None,
    })
}

/// `/communes/{name}/procedures/{code}` → (name, code), percent-decoded.
fn parse_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/communes/")?;
    let mut parts = rest.split('/');
    let (name, literal, code) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || literal != "procedures" {
        return None;
    }
    let (name, code) = (percent_decode(name)?, percent_decode(code)?);
    (!name.is_empty() && !code.is_empty()).then_some((name, code))
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn error(status: StatusCode, reason: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": reason }))
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "bimat-xa-1";

    struct Harness {
        addr: SocketAddr,
        sim: CommuneSim,
        http: reqwest::Client,
        shutdown: CancellationToken,
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    async fn start(window: Duration) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sim = CommuneSim::with_window([("xa-1", SECRET), ("xa-2", "bimat-xa-2")], window);
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(listener, sim.clone(), shutdown.clone()));
        Harness {
            addr,
            sim,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn upsert_body(code: &str, version: u64) -> Vec<u8> {
        json!({"version": version, "hash": format!("sha256:{}", "ab".repeat(32)),
            "changed_at": "2026-11-06T01:59:58Z",
            "procedure": {"MATTHC": code, "TENTTHC": "Cấp giấy phép xây dựng"}})
        .to_string()
        .into_bytes()
    }

    impl Harness {
        #[allow(clippy::too_many_arguments)]
        async fn call(
            &self,
            method: reqwest::Method,
            name: &str,
            code: &str,
            query: &str,
            body: Vec<u8>,
            secret: &str,
            timestamp: u64,
            id: &str,
        ) -> u16 {
            let url = format!("{}/procedures/{code}{query}", base_url(self.addr, name));
            let signature = sign(secret, timestamp, &body);
            self.http
                .request(method, url)
                .header("x-request-id", id)
                .header("x-lienthong-timestamp", timestamp.to_string())
                .header("x-lienthong-signature", signature)
                .header("content-type", "application/json; charset=utf-8")
                .body(body)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }

        async fn put(&self, name: &str, code: &str, version: u64, secret: &str, id: &str) -> u16 {
            self.call(
                reqwest::Method::PUT,
                name,
                code,
                "",
                upsert_body(code, version),
                secret,
                now_secs(),
                id,
            )
            .await
        }
    }

    #[tokio::test]
    async fn applies_increasing_versions_and_answers_409_to_old_ones() {
        let h = start(DEFAULT_WINDOW).await;
        assert_eq!(h.put("xa-1", "1.005129", 2, SECRET, "id-1").await, 200);
        assert_eq!(h.put("xa-1", "1.005129", 2, SECRET, "id-1").await, 409);
        assert_eq!(h.put("xa-1", "1.005129", 1, SECRET, "id-0").await, 409);
        assert_eq!(h.put("xa-1", "1.005129", 5, SECRET, "id-5").await, 200);
        let status = h
            .call(
                reqwest::Method::DELETE,
                "xa-1",
                "1.005129",
                "?version=6",
                Vec::new(),
                SECRET,
                now_secs(),
                "id-6",
            )
            .await;
        assert_eq!(status, 204);
        let held = h.sim.applied("xa-1", "1.005129").expect("held");
        assert_eq!((held.version, held.withdrawn), (6, true));
        let record = h.sim.record("xa-1").expect("record");
        assert_eq!(record.requests, 5);
        assert_eq!(record.applied, 3);
        assert_eq!(record.conflicts, 2);
        assert_eq!(record.order_violations, 1);
        assert_eq!(record.repeats, 1);
        assert_eq!(record.id_reuses, 0);
        let versions: Vec<u64> = h.sim.history("xa-1").iter().map(|e| e.version).collect();
        assert_eq!(versions, vec![2, 5, 6]);
        // The other subscriber saw nothing.
        assert_eq!(h.sim.record("xa-2"), Some(SubscriberRecord::default()));
    }

    #[tokio::test]
    async fn bad_signature_or_stale_timestamp_is_401_and_changes_nothing() {
        let h = start(DEFAULT_WINDOW).await;
        // Another subscriber's secret.
        assert_eq!(h.put("xa-1", "1.1", 1, "bimat-xa-2", "a").await, 401);
        let stale = now_secs() - 301;
        let status = h
            .call(
                reqwest::Method::PUT,
                "xa-1",
                "1.1",
                "",
                upsert_body("1.1", 1),
                SECRET,
                stale,
                "b",
            )
            .await;
        assert_eq!(status, 401);
        let future = now_secs() + 400;
        let status = h
            .call(
                reqwest::Method::PUT,
                "xa-1",
                "1.1",
                "",
                upsert_body("1.1", 1),
                SECRET,
                future,
                "c",
            )
            .await;
        assert_eq!(status, 401);
        // No signature at all.
        let status = h
            .http
            .put(format!("{}/procedures/1.1", base_url(h.addr, "xa-1")))
            .header("x-request-id", "d")
            .body(upsert_body("1.1", 1))
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status, 401);
        assert!(h.sim.catalog("xa-1").is_empty());
        let record = h.sim.record("xa-1").expect("record");
        assert_eq!(record.unauthorized, 4);
        assert_eq!(record.applied, 0);
        // Unauthorised requests are not remembered: the same id, signed, is a first request.
        assert_eq!(h.put("xa-1", "1.1", 1, SECRET, "a").await, 200);
        assert_eq!(h.sim.record("xa-1").expect("record").repeats, 0);
    }

    #[tokio::test]
    async fn malformed_requests_are_400_and_reused_ids_are_counted() {
        let h = start(DEFAULT_WINDOW).await;
        let mut wrong_code = upsert_body("1.2", 1);
        assert_eq!(
            h.call(
                reqwest::Method::PUT,
                "xa-1",
                "1.1",
                "",
                std::mem::take(&mut wrong_code),
                SECRET,
                now_secs(),
                "x"
            )
            .await,
            400
        );
        assert_eq!(
            h.call(
                reqwest::Method::DELETE,
                "xa-1",
                "1.1",
                "",
                Vec::new(),
                SECRET,
                now_secs(),
                "y"
            )
            .await,
            400
        );
        // Same id as the first request, other content.
        assert_eq!(h.put("xa-1", "1.1", 1, SECRET, "x").await, 200);
        let record = h.sim.record("xa-1").expect("record");
        assert_eq!(record.invalid, 2);
        assert_eq!(record.id_reuses, 1);
        assert_eq!(record.applied, 1);
        // Unknown subscriber and path.
        assert_eq!(h.put("xa-9", "1.1", 1, SECRET, "z").await, 404);
        assert_eq!(h.sim.unrouted(), 1);
    }

    #[tokio::test]
    async fn a_subscriber_marked_down_answers_503_or_nothing_and_comes_back() {
        let h = start(DEFAULT_WINDOW).await;
        assert!(h.sim.set_availability(
            "xa-1",
            Availability::Unavailable {
                retry_after_secs: 7
            }
        ));
        let resp = h
            .http
            .put(format!("{}/procedures/1.1", base_url(h.addr, "xa-1")))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        // The other subscriber is unaffected.
        assert_eq!(h.put("xa-2", "1.1", 1, "bimat-xa-2", "q").await, 200);
        h.sim.set_availability("xa-1", Availability::Refusing);
        let refused = h
            .http
            .put(format!("{}/procedures/1.1", base_url(h.addr, "xa-1")))
            .send()
            .await;
        assert!(refused.is_err(), "{refused:?}");
        h.sim.set_availability("xa-1", Availability::Up);
        assert_eq!(h.put("xa-1", "1.1", 1, SECRET, "r").await, 200);
        let record = h.sim.record("xa-1").expect("record");
        assert_eq!((record.unavailable, record.applied), (2, 1));
        let stats: Value = h
            .http
            .get(format!("http://{}/sim/communes", h.addr))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        assert_eq!(stats["subscribers"]["xa-1"]["applied"], 1);
        assert_eq!(stats["subscribers"]["xa-2"]["applied"], 1);
        assert!(!stats.to_string().contains(SECRET));
    }

    #[tokio::test]
    async fn numbered_subscribers_and_the_sim_command() {
        let sim = numbered(3, "p-");
        assert_eq!(sim.names(), vec!["xa-0001", "xa-0002", "xa-0003"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, sim.clone(), shutdown.clone()));
        let h = Harness {
            addr,
            sim,
            http: reqwest::Client::new(),
            shutdown: shutdown.clone(),
        };
        assert_eq!(h.put("xa-0002", "1.1", 1, "p-xa-0002", "n").await, 200);
        assert_eq!(h.put("xa-0003", "1.1", 1, "p-xa-0002", "m").await, 401);
        shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))));

        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            sim: super::super::SimOptions,
        }
        let opts = Cli::try_parse_from([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--communes",
            "5",
            "--commune-listen",
            "127.0.0.1:0",
        ])
        .expect("options")
        .sim;
        assert_eq!(opts.communes.communes, 5);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(super::super::run_standalone(opts, shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(7), task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[test]
    fn paths_are_split_and_decoded() {
        assert_eq!(
            parse_path("/communes/xa-1/procedures/3.000181.000.00.00.H56"),
            Some(("xa-1".into(), "3.000181.000.00.00.H56".into()))
        );
        assert_eq!(
            parse_path("/communes/xa-1/procedures/a%2Fb"),
            Some(("xa-1".into(), "a/b".into()))
        );
        for bad in [
            "/communes/xa-1/procedures/",
            "/communes/xa-1/procedures/x/y",
            "/communes/xa-1/other/x",
            "/x/xa-1/procedures/x",
            "/communes/xa-1/procedures/%zz",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }
}
