//! Simulated VNPost (vnpost.md), for tests, the demo and `lienthong sim --vnpost`: the token
//! endpoint, orders, cancels and the tracking feed over real sockets.
//!
//! Routes: `POST /token` (client credentials, Basic auth; tokens live
//! [`VnpostSimSettings::token_ttl`]); `POST /order/post`, `GET /order/cancel` and
//! `GET /order/tracking` (each needs a live bearer token, else 401); `GET /sim/vnpost` gives
//! [`VnpostSimStats`] as JSON; `POST /sim/vnpost/expire-tokens` ends every token now; `POST
//! /sim/vnpost/advance` with `{"OrderNumber", "OrderType"}` moves an order one step on.
//!
//! Orders are keyed by (`OrderNumber`, `OrderType`): a repeat is answered `"101"`, an order
//! missing a mandatory field or with a malformed one `"102"` naming the field (and, as a real
//! service may, echoing the value it refused). A cancel is answered `"100"`, or `"103"` once the
//! order was collected (code 6) or went further. Every change of an order is an event of the
//! tracking feed: append-only, ids of 24 hex digits that increase, paged by `lastId` and
//! `pagesize` as the contract says. [`VnpostSim::advance`] moves an order along a realistic path
//! (collection `1 → 2 → 4 → 6`; delivery `1 → 6 → 10 → 12 → 14`, or `15` by
//! [`VnpostSim::fail`]); the settings can repeat every Nth event and publish every Nth one late
//! (after the next). Faults (503 or 429 with `Retry-After`, HTTP 500, `Status "500"`, slow
//! answers, dropped connections, expired tokens) are scripted for the next calls to `/order/*`.
//!
//! Like the other simulators it keeps everything in memory behind one short-held lock and does
//! not use the gateway's peer code, so that it stays an independent reading of the contract.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::server::ConnectionDropped;

/// Bodies above this are refused with 413; an order is a few kilobytes.
const BODY_LIMIT: usize = 1024 * 1024;

/// Calls remembered for [`VnpostSim::calls`], oldest forgotten first.
const CALLS_KEPT: usize = 10_000;

/// The largest `pagesize` the feed serves.
const MAX_PAGE_SIZE: usize = 1000;

/// The mandatory `MOrder` fields, in the contract's order.
const MANDATORY: [&str; 14] = [
    "CustomerCode",
    "OrderNumber",
    "OrderType",
    "CODAmount",
    "SenderName",
    "SenderAddress",
    "SenderTel",
    "SenderProvince",
    "SenderDistrict",
    "ReceiverName",
    "ReceiverAddress",
    "ReceiverTel",
    "ReceiverProvince",
    "ReceiverDistrict",
];

/// How a [`VnpostSim`] is built. `Default` gives the credentials tests and the demo use.
#[derive(Clone)]
pub struct VnpostSimSettings {
    pub consumer_key: String,
    pub consumer_secret: String,
    /// The one customer code orders and cancels must carry.
    pub customer_code: String,
    /// How long a token lives (`expires_in`, whole seconds).
    pub token_ttl: Duration,
    /// Every Nth event is published twice (0: never).
    pub repeat_every: u32,
    /// Every Nth event is held back and published after the next one (0: never).
    pub late_every: u32,
}

impl Default for VnpostSimSettings {
    fn default() -> Self {
        VnpostSimSettings {
            consumer_key: "lienthong".into(),
            consumer_secret: "bimat-vnpost".into(),
            customer_code: "C00330117".into(),
            token_ttl: Duration::from_secs(3600),
            repeat_every: 0,
            late_every: 0,
        }
    }
}

impl std::fmt::Debug for VnpostSimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VnpostSimSettings")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"[redacted]")
            .field("customer_code", &self.customer_code)
            .field("token_ttl", &self.token_ttl)
            .field("repeat_every", &self.repeat_every)
            .field("late_every", &self.late_every)
            .finish()
    }
}

/// The base URL the gateway is given for a simulator at `addr`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// The `[peers.vnpost]` section that points the gateway at a simulator at `addr` built with
/// `settings` (test environment).
pub fn peers_toml(addr: SocketAddr, settings: &VnpostSimSettings) -> String {
    format!(
        "[peers.vnpost]\nenvironment = \"test\"\nbase_urls = {{ test = \"{}\" }}\ncustomer_code = \"{}\"\nconsumer_key = \"{}\"\nconsumer_secret = \"{}\"\n",
        base_url(addr),
        settings.customer_code,
        settings.consumer_key,
        settings.consumer_secret
    )
}

/// A fault for one call to `/order/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VnpostFault {
    /// HTTP 503 with `Retry-After` (seconds); nothing applied.
    Unavailable { retry_after_secs: u64 },
    /// HTTP 429 with `Retry-After` (seconds); nothing applied.
    TooManyRequests { retry_after_secs: u64 },
    /// HTTP 500 without a body; nothing applied.
    Http500,
    /// HTTP 200 with `{"Status": "500"}`; nothing applied.
    Status500,
    /// Applied at once, answered after `delay` (a client that times out has had its work done).
    Slow { delay: Duration },
    /// The connection is closed without an answer; nothing applied.
    Drop,
    /// Every token ends before the call is looked at (so it is answered 401).
    ExpireTokens,
}

/// Counters for tests, the demo and benchmarks; also served at `GET /sim/vnpost`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VnpostSimStats {
    /// Every request but `/sim/*`.
    pub requests: u64,
    /// Calls to `POST /token`.
    pub token_requests: u64,
    pub tokens_issued: u64,
    /// `/token` calls refused (wrong credentials or grant).
    pub token_refusals: u64,
    /// Calls answered 401: token missing, unknown or expired.
    pub unauthorized: u64,
    pub orders_created: u64,
    /// Orders answered `"101"`: the same number and type again.
    pub order_repeats: u64,
    /// Orders answered `"102"`.
    pub orders_invalid: u64,
    /// Cancels answered `"100"`.
    pub cancels: u64,
    /// Cancels answered `"103"`.
    pub cancels_too_late: u64,
    /// Cancels answered `"102"`.
    pub cancels_invalid: u64,
    pub tracking_reads: u64,
    /// Events in the feed.
    pub events: u64,
    /// Faults carried out.
    pub faults_injected: u64,
    /// Calls to `/order/*` without `X-Request-ID`.
    pub missing_request_id: u64,
}

/// One call as the simulator answered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimCall {
    /// `token`, `order`, `cancel` or `tracking`.
    pub endpoint: &'static str,
    pub request_id: Option<String>,
    pub http_status: u16,
    /// The answer's `Status`, when it had one.
    pub status: Option<String>,
}

/// An order as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimOrder {
    /// The `MOrder` as received.
    pub order: Value,
    pub item_code: String,
    /// The last status code published.
    pub status: u8,
    pub cancelled: bool,
    /// The `X-Request-ID` that created it.
    pub request_id: Option<String>,
}

/// Why a handle method could not do what it was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimVnpostError {
    #[error("no order {0} of type {1}")]
    NoSuchOrder(String, String),
    #[error("order {0} of type {1} cannot move on from status {2}")]
    Stuck(String, String, u8),
}

/// The simulated service. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct VnpostSim {
    inner: Arc<Inner>,
}

struct Inner {
    settings: VnpostSimSettings,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Instant>,
    orders: HashMap<(String, String), SimOrder>,
    feed: Vec<Value>,
    /// An event held back to be published late, after the next one.
    held: Option<Value>,
    /// Events published so far (repeats and held ones excluded), for `repeat_every` and
    /// `late_every`.
    published: u64,
    next_id: u64,
    last_time: Option<DateTime<Utc>>,
    script: VecDeque<VnpostFault>,
    stats: VnpostSimStats,
    calls: VecDeque<SimCall>,
}

impl std::fmt::Debug for VnpostSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VnpostSim")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Default for VnpostSim {
    fn default() -> Self {
        Self::new(VnpostSimSettings::default())
    }
}

impl VnpostSim {
    pub fn new(settings: VnpostSimSettings) -> Self {
        VnpostSim {
            inner: Arc::new(Inner {
                settings,
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub fn settings(&self) -> &VnpostSimSettings {
        &self.inner.settings
    }

    /// The counters so far.
    pub fn stats(&self) -> VnpostSimStats {
        let state = self.state();
        let mut stats = state.stats.clone();
        stats.events = state.feed.len() as u64;
        stats
    }

    /// The last calls answered (up to 10,000), oldest first.
    pub fn calls(&self) -> Vec<SimCall> {
        self.state().calls.iter().cloned().collect()
    }

    /// The order (`order_number`, `order_type`), if held.
    pub fn order(&self, order_number: &str, order_type: &str) -> Option<SimOrder> {
        self.state()
            .orders
            .get(&(order_number.to_string(), order_type.to_string()))
            .cloned()
    }

    /// How many orders are held.
    pub fn order_count(&self) -> usize {
        self.state().orders.len()
    }

    /// The whole feed, oldest first.
    pub fn feed(&self) -> Vec<Value> {
        self.state().feed.clone()
    }

    /// Queues faults for the next calls to `/order/*`, in order.
    pub fn script(&self, faults: impl IntoIterator<Item = VnpostFault>) {
        self.state().script.extend(faults);
    }

    /// Queues `fault` for each of the next `n` calls to `/order/*`.
    pub fn fail_next(&self, n: usize, fault: VnpostFault) {
        self.script(std::iter::repeat_n(fault, n));
    }

    /// Ends every token now (the next call with one is answered 401).
    pub fn expire_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Moves the order one step along its path (collection `1 → 2 → 4 → 6`, delivery
    /// `1 → 6 → 10 → 12 → 14`; after a failure, back on the path), publishing the event.
    /// Returns the new status.
    pub fn advance(&self, order_number: &str, order_type: &str) -> Result<u8, SimVnpostError> {
        let mut state = self.state();
        let key = (order_number.to_string(), order_type.to_string());
        let order = state
            .orders
            .get(&key)
            .ok_or_else(|| SimVnpostError::NoSuchOrder(key.0.clone(), key.1.clone()))?;
        let next = if order.cancelled {
            None
        } else {
            next_status(order_type, order.status)
        };
        let next =
            next.ok_or_else(|| SimVnpostError::Stuck(key.0.clone(), key.1.clone(), order.status))?;
        publish(&mut state, &self.inner.settings, &key, next);
        Ok(next)
    }

    /// Moves the order on until its path ends (collected, or delivered); returns the codes
    /// published.
    pub fn advance_to_end(
        &self,
        order_number: &str,
        order_type: &str,
    ) -> Result<Vec<u8>, SimVnpostError> {
        let mut codes = Vec::new();
        loop {
            match self.advance(order_number, order_type) {
                Ok(code) => codes.push(code),
                Err(SimVnpostError::Stuck(..)) if !codes.is_empty() => return Ok(codes),
                Err(e) => return Err(e),
            }
        }
    }

    /// The attempt failed: collection failed (`5`) or delivery failed (`15`).
    pub fn fail(&self, order_number: &str, order_type: &str) -> Result<u8, SimVnpostError> {
        let code = if order_type == "1" { 5 } else { 15 };
        self.publish_code(order_number, order_type, code)
    }

    /// Publishes any status code (0..=22) for the order, as VNPost's own systems might.
    pub fn publish_code(
        &self,
        order_number: &str,
        order_type: &str,
        code: u8,
    ) -> Result<u8, SimVnpostError> {
        let mut state = self.state();
        let key = (order_number.to_string(), order_type.to_string());
        if !state.orders.contains_key(&key) {
            return Err(SimVnpostError::NoSuchOrder(key.0, key.1));
        }
        publish(&mut state, &self.inner.settings, &key, code);
        Ok(code)
    }

    /// Publishes the order's last event again (same content and time, a new id).
    pub fn repeat_last(&self, order_number: &str, order_type: &str) -> Result<(), SimVnpostError> {
        let mut state = self.state();
        let last = state
            .feed
            .iter()
            .rev()
            .find(|e| {
                e.get("OrderNumber").and_then(Value::as_str) == Some(order_number)
                    && e.get("OrderType").and_then(Value::as_str) == Some(order_type)
            })
            .cloned()
            .ok_or_else(|| {
                SimVnpostError::NoSuchOrder(order_number.to_string(), order_type.to_string())
            })?;
        append(&mut state, last);
        Ok(())
    }

    /// Takes `order` as though it had been posted (`"100"`, or `"101"`/`"102"` as the route
    /// answers), without a call: for benchmarks that need many orders fast.
    pub fn place(&self, order: Value) -> &'static str {
        let body = order.to_string();
        let mut state = self.state();
        order_post(&mut state, &self.inner.settings, body.as_bytes(), &None).0
    }

    /// Orders not at the end of their path and not cancelled: (number, type).
    pub fn open_orders(&self) -> Vec<(String, String)> {
        let state = self.state();
        let mut v: Vec<(String, String)> = state
            .orders
            .iter()
            .filter(|(k, o)| !o.cancelled && next_status(&k.1, o.status).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// The feed's events from position `from` (0: the first), oldest first.
    pub fn feed_from(&self, from: usize) -> Vec<Value> {
        self.state().feed.iter().skip(from).cloned().collect()
    }

    /// Pushes `events` to the gateway's `url` (`/callbacks/vnpost`) as VNPost does: a JSON
    /// array, `X-Timestamp` now and `X-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">`
    /// with `secret`. `timestamp` overrides the time (to push a stale call). Returns the
    /// status and body of the answer.
    pub async fn push(
        &self,
        url: &str,
        secret: &str,
        events: &[Value],
        timestamp: Option<i64>,
    ) -> Result<(u16, String), String> {
        use hmac::{Hmac, Mac};
        let body = serde_json::to_vec(events).map_err(|e| e.to_string())?;
        let ts = timestamp
            .unwrap_or_else(|| Utc::now().timestamp())
            .to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| "no key".to_string())?;
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let answer = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("X-Timestamp", ts)
            .header("X-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        Ok((status, answer.text().await.unwrap_or_default()))
    }

    /// Publishes the event held back to be late, if any, now.
    pub fn release_late(&self) -> bool {
        let mut state = self.state();
        let held = state.held.take();
        match held {
            Some(event) => {
                append(&mut state, event);
                true
            }
            None => false,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters at worst one short; still used.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The next code on an order's path, `None` at its end.
fn next_status(order_type: &str, status: u8) -> Option<u8> {
    match (order_type, status) {
        ("1", 1) => Some(2),
        ("1", 2) => Some(4),
        ("1", 4) | ("1", 5) => Some(6),
        ("2", 1) => Some(6),
        ("2", 6) => Some(10),
        ("2", 10) => Some(12),
        ("2", 12) | ("2", 15) => Some(14),
        _ => None,
    }
}

/// What each code says, as VNPost words it.
fn status_message(code: u8) -> &'static str {
    match code {
        0 => "Đơn nháp",
        1 => "Tạo đơn hàng thành công",
        2 => "Đã giao cho bưu tá",
        3 => "Đang xử lý",
        4 => "Đang thu gom",
        5 => "Thu gom không thành công",
        6 => "Thu gom thành công",
        7 => "Đã đến bưu cục",
        8 => "Lấy hàng không thành công",
        9 => "Hủy thu gom",
        10 => "Đang vận chuyển",
        11 => "Đến bưu cục phát",
        12 => "Đang phát",
        13 => "Chuyển tiếp",
        14 => "Phát thành công",
        15 => "Phát không thành công",
        16 => "Chờ chuyển hoàn",
        17 => "Đã duyệt",
        18 => "Bắt đầu chuyển hoàn",
        19 => "Hoàn tất",
        20 => "Phát một phần",
        21 => "Đã trả tiền thu hộ",
        22 => "Hủy phát",
        _ => "",
    }
}

/// Builds the order's event for `code` (time: now, or just after the last event) and moves the
/// order to it; publishes it, holding it back or repeating it as the settings say.
fn publish(state: &mut State, settings: &VnpostSimSettings, key: &(String, String), code: u8) {
    // Whole seconds, as the wire carries them, so every event's time is its own.
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now);
    let at = match state.last_time {
        Some(last) if last >= now => last + chrono::Duration::seconds(1),
        _ => now,
    };
    state.last_time = Some(at);
    let Some(order) = state.orders.get_mut(key) else {
        return;
    };
    order.status = code;
    let district = order
        .order
        .get(if key.1 == "1" {
            "SenderDistrict"
        } else {
            "ReceiverDistrict"
        })
        .and_then(Value::as_str)
        .unwrap_or("40");
    let notes = match code {
        14 => format!(
            "Người nhận: {}",
            order
                .order
                .get("ReceiverName")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        15 => "Không liên lạc được người nhận".to_string(),
        _ => String::new(),
    };
    let mut event = Map::new();
    event.insert(
        "CustomerCode".into(),
        Value::String(settings.customer_code.clone()),
    );
    event.insert("OrderNumber".into(), Value::String(key.0.clone()));
    event.insert("OrderType".into(), Value::String(key.1.clone()));
    event.insert("ItemCode".into(), Value::String(order.item_code.clone()));
    event.insert("EventTime".into(), Value::String(crate::time::to_wire(at)));
    event.insert("POSID".into(), Value::String(format!("{district:0<4.4}60")));
    event.insert("StatusCode".into(), Value::String(code.to_string()));
    event.insert(
        "StatusMessage".into(),
        Value::String(status_message(code).into()),
    );
    event.insert("Notes".into(), Value::String(notes));
    let event = Value::Object(event);

    state.published += 1;
    let n = state.published;
    if settings.late_every > 0 && n % u64::from(settings.late_every) == 0 && state.held.is_none() {
        state.held = Some(event);
        return;
    }
    append(state, event.clone());
    if let Some(late) = state.held.take() {
        append(state, late);
    }
    if settings.repeat_every > 0 && n % u64::from(settings.repeat_every) == 0 {
        append(state, event);
    }
}

/// Appends `event` to the feed under the next id (`_id` first, as the feed shows it).
fn append(state: &mut State, event: Value) {
    state.next_id += 1;
    let mut with_id = Map::new();
    with_id.insert("_id".into(), json!({ "$oid": feed_id(state.next_id) }));
    if let Value::Object(fields) = event {
        for (k, v) in fields {
            if k != "_id" {
                with_id.insert(k, v);
            }
        }
    }
    state.feed.push(Value::Object(with_id));
}

/// The `n`th id: 24 hex digits, increasing with `n`, shaped like the service's ids.
fn feed_id(n: u64) -> String {
    format!("6af6{:010x}a3b5{:06x}", n >> 24, n & 0xff_ffff)
}

/// A waybill number in the S10 form (`EB123456785VN`), its check digit computed.
fn item_code(n: u64) -> String {
    let digits = format!("{:08}", n % 100_000_000);
    let weights = [8, 6, 4, 2, 3, 5, 9, 7];
    let sum: u32 = digits
        .bytes()
        .zip(weights)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    };
    format!("EB{digits}{check}VN")
}

/// Serves the simulator on `listener` until `shutdown` is cancelled, then lets open connections
/// finish (bounded) and returns.
pub async fn serve(
    listener: TcpListener,
    sim: VnpostSim,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    super::server::serve_http(
        listener,
        move |req| {
            let sim = sim.clone();
            async move { route(&sim, req).await }
        },
        shutdown,
        "vnpost simulator",
    )
    .await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Token,
    Order,
    Cancel,
    Tracking,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Order => "order",
            Endpoint::Cancel => "cancel",
            Endpoint::Tracking => "tracking",
        }
    }
}

async fn route(
    sim: &VnpostSim,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = req.into_parts();
    let endpoint = match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/sim/vnpost") => {
            let stats = serde_json::to_value(sim.stats()).unwrap_or(Value::Null);
            return Ok(json_response(StatusCode::OK, &stats));
        }
        (&Method::POST, "/sim/vnpost/expire-tokens") => {
            sim.expire_tokens();
            return Ok(json_response(StatusCode::OK, &json!({"expired": true})));
        }
        (&Method::POST, "/sim/vnpost/advance") => {
            let body = read_body(body).await.unwrap_or_default();
            let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let field = |k: &str| asked.get(k).and_then(Value::as_str).unwrap_or_default();
            return Ok(
                match sim.advance(field("OrderNumber"), field("OrderType")) {
                    Ok(code) => json_response(StatusCode::OK, &json!({"StatusCode": code})),
                    Err(e @ SimVnpostError::NoSuchOrder(..)) => {
                        json_response(StatusCode::NOT_FOUND, &json!({"error": e.to_string()}))
                    }
                    Err(e) => json_response(StatusCode::CONFLICT, &json!({"error": e.to_string()})),
                },
            );
        }
        (&Method::POST, "/token") => Endpoint::Token,
        (&Method::POST, "/order/post") => Endpoint::Order,
        (&Method::GET, "/order/cancel") => Endpoint::Cancel,
        (&Method::GET, "/order/tracking") => Endpoint::Tracking,
        (_, "/token" | "/order/post" | "/order/cancel" | "/order/tracking") => {
            sim.state().stats.requests += 1;
            return Ok(json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": "method not allowed"}),
            ));
        }
        _ => {
            return Ok(json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "not found"}),
            ))
        }
    };
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(status) => return Ok(json_response(status, &json!({"error": "body too large"}))),
    };
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string);

    let (response, late_by) = {
        let mut state = sim.state();
        state.stats.requests += 1;
        let mut late_by = None;
        if endpoint != Endpoint::Token {
            if request_id.is_none() {
                state.stats.missing_request_id += 1;
            }
            if let Some(fault) = state.script.pop_front() {
                state.stats.faults_injected += 1;
                let early = match fault {
                    VnpostFault::Unavailable { retry_after_secs } => Some(with_retry_after(
                        StatusCode::SERVICE_UNAVAILABLE,
                        retry_after_secs,
                    )),
                    VnpostFault::TooManyRequests { retry_after_secs } => Some(with_retry_after(
                        StatusCode::TOO_MANY_REQUESTS,
                        retry_after_secs,
                    )),
                    VnpostFault::Http500 => Some(empty(StatusCode::INTERNAL_SERVER_ERROR)),
                    VnpostFault::Status500 => Some(envelope("500", "Lỗi hệ thống, thử lại sau")),
                    VnpostFault::Drop => return Err(ConnectionDropped),
                    VnpostFault::Slow { delay } => {
                        late_by = Some(delay);
                        None
                    }
                    VnpostFault::ExpireTokens => {
                        state.tokens.clear();
                        None
                    }
                };
                if let Some(resp) = early {
                    note_call(&mut state, endpoint, &request_id, &resp, None);
                    return Ok(resp);
                }
            }
        }
        let settings = &sim.inner.settings;
        let (resp, status) = match endpoint {
            Endpoint::Token => (token(&mut state, settings, &parts.headers, &body), None),
            _ if !authorised(&mut state, &parts.headers) => {
                state.stats.unauthorized += 1;
                (
                    json_response(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_token"})),
                    None,
                )
            }
            Endpoint::Order => {
                let (status, message) = order_post(&mut state, settings, &body, &request_id);
                (envelope(status, &message), Some(status))
            }
            Endpoint::Cancel => {
                let (status, message) = cancel(&mut state, settings, parts.uri.query());
                (envelope(status, &message), Some(status))
            }
            Endpoint::Tracking => {
                state.stats.tracking_reads += 1;
                (tracking(&state, parts.uri.query()), None)
            }
        };
        note_call(&mut state, endpoint, &request_id, &resp, status);
        (resp, late_by)
    };
    if let Some(delay) = late_by {
        tokio::time::sleep(delay).await;
    }
    Ok(response)
}

async fn read_body(body: Incoming) -> Result<Bytes, StatusCode> {
    match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(StatusCode::PAYLOAD_TOO_LARGE),
    }
}

fn note_call(
    state: &mut State,
    endpoint: Endpoint,
    request_id: &Option<String>,
    resp: &Response<Full<Bytes>>,
    status: Option<&str>,
) {
    if state.calls.len() >= CALLS_KEPT {
        state.calls.pop_front();
    }
    state.calls.push_back(SimCall {
        endpoint: endpoint.name(),
        request_id: request_id.clone(),
        http_status: resp.status().as_u16(),
        status: status.map(str::to_string),
    });
}

/// `POST /token`: Basic `key:secret` and `grant_type=client_credentials`.
fn token(
    state: &mut State,
    settings: &VnpostSimSettings,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Full<Bytes>> {
    state.stats.token_requests += 1;
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let expected = format!("{}:{}", settings.consumer_key, settings.consumer_secret);
    if presented.as_deref() != Some(expected.as_str()) {
        state.stats.token_refusals += 1;
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client"}),
        );
    }
    let grant = form_urlencoded::parse(body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    if grant.as_deref() != Some("client_credentials") {
        state.stats.token_refusals += 1;
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type"}),
        );
    }
    let now = Instant::now();
    state.tokens.retain(|_, until| *until > now);
    let value = uuid::Uuid::new_v4().to_string();
    state.tokens.insert(value.clone(), now + settings.token_ttl);
    state.stats.tokens_issued += 1;
    json_response(
        StatusCode::OK,
        &json!({"access_token": value, "token_type": "Bearer",
            "expires_in": settings.token_ttl.as_secs()}),
    )
}

/// Whether the call carries a live bearer token.
fn authorised(state: &mut State, headers: &HeaderMap) -> bool {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let now = Instant::now();
    match token.and_then(|t| state.tokens.get(t).copied()) {
        Some(until) if until > now => true,
        Some(_) => {
            if let Some(t) = token {
                state.tokens.remove(t);
            }
            false
        }
        None => false,
    }
}

/// `POST /order/post`: (Status, Message).
fn order_post(
    state: &mut State,
    settings: &VnpostSimSettings,
    body: &[u8],
    request_id: &Option<String>,
) -> (&'static str, String) {
    let order = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(order)) => order,
        _ => {
            state.stats.orders_invalid += 1;
            return ("102", "Dữ liệu đơn hàng không phải JSON".into());
        }
    };
    if let Err(message) = validate(&order, settings) {
        state.stats.orders_invalid += 1;
        return ("102", message);
    }
    let text = |k: &str| {
        order
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let key = (text("OrderNumber"), text("OrderType"));
    if state.orders.contains_key(&key) {
        state.stats.order_repeats += 1;
        return ("101", "Đơn hàng đã tồn tại".into());
    }
    state.stats.orders_created += 1;
    let given = text("ItemCode");
    let item_code = if given.is_empty() {
        item_code(state.stats.orders_created + 30_412_675)
    } else {
        given
    };
    state.orders.insert(
        key.clone(),
        SimOrder {
            order: Value::Object(order),
            item_code,
            status: 0,
            cancelled: false,
            request_id: request_id.clone(),
        },
    );
    publish(state, settings, &key, 1);
    ("100", "Tạo đơn hàng thành công".into())
}

/// The first problem of an order, worded as the service words it (naming the field and, for a
/// malformed value, echoing it).
fn validate(order: &Map<String, Value>, settings: &VnpostSimSettings) -> Result<(), String> {
    for field in MANDATORY {
        let blank = match order.get(field) {
            Some(Value::String(s)) => s.trim().is_empty(),
            _ => true,
        };
        if blank {
            return Err(format!("Thiếu thông tin bắt buộc: {field}"));
        }
    }
    let text = |k: &str| {
        order
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
    };
    let bad = |field: &str| Err(format!("{field} không hợp lệ: {}", text(field)));
    if text("CustomerCode") != settings.customer_code {
        return bad("CustomerCode");
    }
    if !matches!(text("OrderType"), "1" | "2") {
        return bad("OrderType");
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(text("CODAmount")) {
        return bad("CODAmount");
    }
    for field in [
        "SenderProvince",
        "SenderDistrict",
        "ReceiverProvince",
        "ReceiverDistrict",
    ] {
        if !digits(text(field)) {
            return bad(field);
        }
    }
    for field in ["SenderTel", "ReceiverTel"] {
        let tel: String = text(field).chars().filter(|c| *c != ' ').collect();
        let tel = tel.strip_prefix('+').unwrap_or(&tel);
        if !(9..=12).contains(&tel.len()) || !digits(tel) {
            return bad(field);
        }
    }
    for field in ["SenderEmail", "ReceiverEmail"] {
        match order.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.trim().is_empty() || s.contains('@') => {}
            Some(_) => return bad(field),
        }
    }
    Ok(())
}

/// `GET /order/cancel?CustomerCode=&OrderNumber=&OrderType=`: (Status, Message).
fn cancel(
    state: &mut State,
    settings: &VnpostSimSettings,
    query: Option<&str>,
) -> (&'static str, String) {
    let params: HashMap<String, String> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for name in ["CustomerCode", "OrderNumber", "OrderType"] {
        if params.get(name).is_none_or(|v| v.trim().is_empty()) {
            state.stats.cancels_invalid += 1;
            return ("102", format!("Thiếu tham số: {name}"));
        }
    }
    let param = |k: &str| params.get(k).cloned().unwrap_or_default();
    if param("CustomerCode") != settings.customer_code {
        state.stats.cancels_invalid += 1;
        return ("102", "CustomerCode không đúng".into());
    }
    let key = (param("OrderNumber"), param("OrderType"));
    let Some(order) = state.orders.get_mut(&key) else {
        state.stats.cancels_invalid += 1;
        return ("102", "Không tìm thấy đơn hàng theo OrderNumber".into());
    };
    if order.cancelled {
        state.stats.cancels += 1;
        return ("100", "Đơn hàng đã được hủy".into());
    }
    if order.status >= 6 && order.status != 9 && order.status != 22 {
        state.stats.cancels_too_late += 1;
        return (
            "103",
            "Không thể hủy: bưu tá đã thu gom hoặc đã phát".into(),
        );
    }
    order.cancelled = true;
    state.stats.cancels += 1;
    let code = if key.1 == "1" { 9 } else { 22 };
    publish(state, settings, &key, code);
    ("100", "Hủy đơn hàng thành công".into())
}

/// `GET /order/tracking?pagesize=N&lastId=<24 hex>`: the events after `lastId`, oldest first.
fn tracking(state: &State, query: Option<&str>) -> Response<Full<Bytes>> {
    let mut page_size = None;
    let mut last_id = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "pagesize" => page_size = v.parse::<usize>().ok(),
            "lastId" => last_id = Some(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    let Some(page_size) = page_size.filter(|n| (1..=MAX_PAGE_SIZE).contains(n)) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("pagesize must be 1 to {MAX_PAGE_SIZE}")}),
        );
    };
    let Some(last_id) =
        last_id.filter(|id| id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "lastId must be 24 hexadecimal digits"}),
        );
    };
    let docs: Vec<Value> = state
        .feed
        .iter()
        .filter(|e| {
            e.get("_id")
                .and_then(|id| id.get("$oid"))
                .and_then(Value::as_str)
                .is_some_and(|id| id > last_id.as_str())
        })
        .take(page_size)
        .cloned()
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"_size": state.feed.len(), "_returned": docs.len(),
            "_embedded": {"rh:doc": docs}}),
    )
}

fn envelope(status: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::OK,
        &json!({"Status": status, "Message": message}),
    )
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

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

fn with_retry_after(status: StatusCode, seconds: u64) -> Response<Full<Bytes>> {
    let mut resp = json_response(status, &json!({"error": "try again later"}));
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    resp
}

/// `lienthong sim` options for the simulated VNPost (no `Debug`: the consumer secret).
#[derive(Clone, clap::Args)]
pub struct VnpostOptions {
    /// Also serve a simulated VNPost, on `--vnpost-listen`.
    #[arg(long)]
    pub vnpost: bool,
    /// Address of the simulated VNPost; its base URL is `http://<address>`.
    #[arg(long, default_value = "127.0.0.1:9200")]
    pub vnpost_listen: SocketAddr,
    /// The OAuth2 consumer key it accepts.
    #[arg(long, default_value = "lienthong")]
    pub vnpost_consumer_key: String,
    /// The OAuth2 consumer secret it accepts.
    #[arg(
        long,
        env = "LIENTHONG_SIM_VNPOST_CONSUMER_SECRET",
        default_value = "bimat-vnpost",
        hide_env_values = true
    )]
    pub vnpost_consumer_secret: String,
    /// The customer code orders must carry.
    #[arg(long, default_value = "C00330117")]
    pub vnpost_customer_code: String,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub vnpost_token_ttl_secs: u64,
    /// Every Nth event is published twice (0: never), as carriers repeat events.
    #[arg(long, default_value_t = 0)]
    pub vnpost_repeat_every: u32,
    /// Every Nth event is published late, after the next one (0: never).
    #[arg(long, default_value_t = 0)]
    pub vnpost_late_every: u32,
    /// Move every open order one step along its path this often, in milliseconds (0: only on
    /// request, `POST /sim/vnpost/advance`).
    #[arg(long, default_value_t = 0)]
    pub vnpost_advance_every_ms: u64,
    /// With `--vnpost-advance-every-ms`: every Nth order's attempt fails (collection `5`,
    /// delivery `15`) before it goes on (0: none).
    #[arg(long, default_value_t = 0)]
    pub vnpost_fail_every: u32,
    /// Push new feed events to this URL (the gateway's `/callbacks/vnpost`), signed with
    /// `--vnpost-push-secret`, once a second; a call not answered 2xx is repeated with the same
    /// events.
    #[arg(long)]
    pub vnpost_push_to: Option<String>,
    /// The shared secret pushes are signed with.
    #[arg(
        long,
        env = "LIENTHONG_SIM_VNPOST_PUSH_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub vnpost_push_secret: String,
}

impl VnpostOptions {
    pub fn settings(&self) -> VnpostSimSettings {
        VnpostSimSettings {
            consumer_key: self.vnpost_consumer_key.clone(),
            consumer_secret: self.vnpost_consumer_secret.clone(),
            customer_code: self.vnpost_customer_code.clone(),
            token_ttl: Duration::from_secs(self.vnpost_token_ttl_secs),
            repeat_every: self.vnpost_repeat_every,
            late_every: self.vnpost_late_every,
        }
    }

    /// Starts what the options ask for besides the routes: orders moved along on a clock,
    /// pushes of new events. Each stops with `shutdown`.
    pub fn spawn_background(&self, sim: &VnpostSim, shutdown: &CancellationToken) {
        if self.vnpost_advance_every_ms > 0 {
            let (sim, stop) = (sim.clone(), shutdown.clone());
            let every = Duration::from_millis(self.vnpost_advance_every_ms);
            let fail_every = self.vnpost_fail_every;
            tokio::spawn(async move {
                let mut n: u64 = 0;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                    for (number, kind) in sim.open_orders() {
                        n += 1;
                        let failing = fail_every > 0 && n % u64::from(fail_every) == 0;
                        let at = sim.order(&number, &kind).map_or(0, |o| o.status);
                        // A failed attempt happens where the postman meets the citizen.
                        if failing && ((kind == "1" && at == 4) || (kind == "2" && at == 12)) {
                            let _ = sim.fail(&number, &kind);
                        } else {
                            let _ = sim.advance(&number, &kind);
                        }
                    }
                }
            });
        }
        if let Some(url) = self.vnpost_push_to.clone() {
            let (sim, stop) = (sim.clone(), shutdown.clone());
            let secret = self.vnpost_push_secret.clone();
            tokio::spawn(async move {
                let mut pushed = 0usize;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    let events = sim.feed_from(pushed);
                    if events.is_empty() {
                        continue;
                    }
                    match sim.push(&url, &secret, &events, None).await {
                        Ok((status, _)) if (200..300).contains(&status) => pushed += events.len(),
                        Ok((status, body)) => {
                            tracing::warn!(status, %body, "VNPost simulator: push not taken; repeating it")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "VNPost simulator: push failed; repeating it")
                        }
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Harness {
        base: String,
        sim: VnpostSim,
        http: reqwest::Client,
        shutdown: CancellationToken,
    }

    impl Drop for Harness {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    async fn start(settings: VnpostSimSettings) -> Harness {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sim = VnpostSim::new(settings);
        let shutdown = CancellationToken::new();
        tokio::spawn(serve(listener, sim.clone(), shutdown.clone()));
        Harness {
            base: base_url(addr),
            sim,
            http: reqwest::Client::new(),
            shutdown,
        }
    }

    fn order(number: &str, kind: &str) -> Value {
        json!({"CustomerCode": "C00330117", "OrderNumber": number, "OrderType": kind,
            "CODAmount": "0", "SenderName": "Trung tâm", "SenderAddress": "Thôn Trung",
            "SenderTel": "02373912468", "SenderProvince": "40", "SenderDistrict": "4016",
            "ReceiverName": "Nguyễn Thị Hoa", "ReceiverAddress": "Thôn Đông",
            "ReceiverTel": "0912 345 678", "ReceiverEmail": "", "ReceiverProvince": "40",
            "ReceiverDistrict": "4016"})
    }

    impl Harness {
        async fn token(&self, key: &str, secret: &str) -> (u16, Value) {
            let resp = self
                .http
                .post(format!("{}/token", self.base))
                .basic_auth(key, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }

        async fn bearer(&self) -> String {
            let (_, answer) = self.token("lienthong", "bimat-vnpost").await;
            answer["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }

        async fn post(&self, token: &str, body: &Value) -> (u16, Value) {
            let resp = self
                .http
                .post(format!("{}/order/post", self.base))
                .bearer_auth(token)
                .header("x-request-id", "r-1")
                .json(body)
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }

        async fn get(&self, token: &str, path_and_query: &str) -> (u16, Value) {
            let resp = self
                .http
                .get(format!("{}{path_and_query}", self.base))
                .bearer_auth(token)
                .header("x-request-id", "r-2")
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or(Value::Null))
        }
    }

    #[tokio::test]
    async fn tokens_are_issued_to_the_consumer_only_and_expire() {
        let h = start(VnpostSimSettings {
            token_ttl: Duration::from_millis(300),
            ..VnpostSimSettings::default()
        })
        .await;
        let (status, answer) = h.token("lienthong", "wrong").await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let (status, answer) = h.token("lienthong", "bimat-vnpost").await;
        assert_eq!(status, 200);
        assert_eq!(answer["token_type"], "Bearer");
        assert_eq!(answer["expires_in"], 0);
        let token = answer["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(h.post(&token, &order("A", "1")).await.1["Status"], "100");
        assert_eq!(h.post("unknown", &order("B", "1")).await.0, 401);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(h.post(&token, &order("B", "1")).await.0, 401);
        let stats = h.sim.stats();
        assert_eq!(
            (
                stats.token_requests,
                stats.tokens_issued,
                stats.token_refusals
            ),
            (2, 1, 1)
        );
        assert_eq!((stats.unauthorized, stats.orders_created), (2, 1));
        assert!(!format!("{:?}", h.sim).contains("bimat-vnpost"));
    }

    #[tokio::test]
    async fn orders_are_created_once_and_checked_field_by_field() {
        let h = start(VnpostSimSettings::default()).await;
        let token = h.bearer().await;
        assert_eq!(h.post(&token, &order("A", "1")).await.1["Status"], "100");
        assert_eq!(h.post(&token, &order("A", "1")).await.1["Status"], "101");
        assert_eq!(h.post(&token, &order("A", "2")).await.1["Status"], "100");
        for (field, value, named) in [
            (
                "SenderName",
                Value::Null,
                "Thiếu thông tin bắt buộc: SenderName",
            ),
            ("OrderType", json!("3"), "OrderType không hợp lệ: 3"),
            (
                "CODAmount",
                json!("1.000đ"),
                "CODAmount không hợp lệ: 1.000đ",
            ),
            ("ReceiverTel", json!("09x"), "ReceiverTel không hợp lệ: 09x"),
            ("SenderEmail", json!("hoa"), "SenderEmail không hợp lệ: hoa"),
            ("CustomerCode", json!("C1"), "CustomerCode không hợp lệ: C1"),
        ] {
            let mut body = order("Z", "1");
            body[field] = value;
            let (status, answer) = h.post(&token, &body).await;
            assert_eq!(status, 200);
            assert_eq!(answer["Status"], "102", "{field}");
            assert_eq!(answer["Message"], named);
        }
        let held = h.sim.order("A", "1").expect("held");
        assert_eq!(held.status, 1);
        assert_eq!(held.request_id.as_deref(), Some("r-1"));
        assert!(held.item_code.starts_with("EB") && held.item_code.ends_with("VN"));
        let stats = h.sim.stats();
        assert_eq!(
            (
                stats.orders_created,
                stats.order_repeats,
                stats.orders_invalid
            ),
            (2, 1, 6)
        );
    }

    #[tokio::test]
    async fn cancels_answer_100_until_the_order_is_collected_then_103() {
        let h = start(VnpostSimSettings::default()).await;
        let token = h.bearer().await;
        for (n, t) in [("A", "1"), ("B", "1"), ("C", "2")] {
            h.post(&token, &order(n, t)).await;
        }
        let cancel = |n: &str, t: &str| {
            format!("/order/cancel?CustomerCode=C00330117&OrderNumber={n}&OrderType={t}")
        };
        assert_eq!(h.get(&token, &cancel("A", "1")).await.1["Status"], "100");
        assert_eq!(h.get(&token, &cancel("A", "1")).await.1["Status"], "100");
        assert_eq!(
            h.sim.advance("A", "1"),
            Err(SimVnpostError::Stuck("A".into(), "1".into(), 9))
        );
        assert_eq!(h.sim.advance_to_end("B", "1"), Ok(vec![2, 4, 6]));
        assert_eq!(h.get(&token, &cancel("B", "1")).await.1["Status"], "103");
        assert_eq!(h.sim.advance("C", "2"), Ok(6));
        assert_eq!(h.get(&token, &cancel("C", "2")).await.1["Status"], "103");
        assert_eq!(h.get(&token, &cancel("D", "2")).await.1["Status"], "102");
        let (_, answer) = h
            .get(&token, "/order/cancel?CustomerCode=C00330117&OrderType=2")
            .await;
        assert_eq!(answer["Message"], "Thiếu tham số: OrderNumber");
        assert_eq!(h.sim.fail("C", "2"), Ok(15));
        assert_eq!(h.sim.advance("C", "2"), Ok(14));
        assert_eq!(
            h.sim.advance("X", "2"),
            Err(SimVnpostError::NoSuchOrder("X".into(), "2".into()))
        );
        let stats = h.sim.stats();
        assert_eq!(
            (stats.cancels, stats.cancels_too_late, stats.cancels_invalid),
            (2, 2, 2)
        );
    }

    #[tokio::test]
    async fn the_feed_pages_by_last_id_with_increasing_ids() {
        let h = start(VnpostSimSettings::default()).await;
        let token = h.bearer().await;
        for i in 0..3 {
            h.post(&token, &order(&format!("O-{i}"), "2")).await;
            h.sim
                .advance_to_end(&format!("O-{i}"), "2")
                .expect("advance");
        }
        let feed = h.sim.feed();
        assert_eq!(feed.len(), 15);
        let ids: Vec<String> = feed
            .iter()
            .map(|e| e["_id"]["$oid"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(ids
            .iter()
            .all(|id| id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let (status, page) = h
            .get(
                &token,
                "/order/tracking?pagesize=10&lastId=000000000000000000000000",
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            (page["_size"].as_u64(), page["_returned"].as_u64()),
            (Some(15), Some(10))
        );
        let (_, page) = h
            .get(
                &token,
                &format!("/order/tracking?pagesize=10&lastId={}", ids[9]),
            )
            .await;
        assert_eq!(page["_returned"], 5);
        assert_eq!(page["_embedded"]["rh:doc"][0], feed[10]);
        let times: Vec<&str> = feed
            .iter()
            .filter_map(|e| e["EventTime"].as_str())
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        let last = &feed[14];
        assert_eq!(last["StatusCode"], "14");
        assert_eq!(last["Notes"], "Người nhận: Nguyễn Thị Hoa");
        for query in [
            "pagesize=0&lastId=000000000000000000000000",
            "pagesize=5&lastId=xyz",
        ] {
            let (status, _) = h.get(&token, &format!("/order/tracking?{query}")).await;
            assert_eq!(status, 400, "{query}");
        }
        assert_eq!(h.sim.stats().tracking_reads, 4);
    }

    #[tokio::test]
    async fn scripted_faults_hit_the_next_order_calls_only() {
        let h = start(VnpostSimSettings::default()).await;
        h.sim.fail_next(
            2,
            VnpostFault::Unavailable {
                retry_after_secs: 4,
            },
        );
        let token = h.bearer().await;
        let resp = h
            .http
            .post(format!("{}/order/post", h.base))
            .bearer_auth(&token)
            .json(&order("A", "1"))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 503);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("4")
        );
        assert_eq!(h.post(&token, &order("A", "1")).await.0, 503);
        assert_eq!(h.post(&token, &order("A", "1")).await.1["Status"], "100");
        h.sim.script([VnpostFault::Drop, VnpostFault::Status500]);
        assert!(h
            .http
            .post(format!("{}/order/post", h.base))
            .bearer_auth(&token)
            .json(&order("B", "1"))
            .send()
            .await
            .is_err());
        assert_eq!(h.post(&token, &order("B", "1")).await.1["Status"], "500");
        let stats = h.sim.stats();
        assert_eq!((stats.faults_injected, stats.orders_created), (4, 1));
        // The two calls made without an X-Request-ID.
        assert_eq!(stats.missing_request_id, 2);
        let served: Value = h
            .http
            .get(format!("{}/sim/vnpost", h.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        assert_eq!(served["orders_created"], 1);
    }

    #[test]
    fn waybill_numbers_carry_the_s10_check_digit() {
        assert_eq!(item_code(12_345_678), "EB123456785VN");
        assert_eq!(feed_id(1), "6af60000000000a3b5000001");
        assert!(feed_id(0x100_0000) > feed_id(0xff_ffff));
        assert_eq!(feed_id(0x100_0000).len(), 24);
    }

    #[tokio::test]
    async fn the_sim_command_serves_vnpost_on_request() {
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
            "--vnpost",
            "--vnpost-listen",
            "127.0.0.1:0",
            "--vnpost-token-ttl-secs",
            "60",
        ])
        .expect("options")
        .sim;
        assert!(opts.vnpost.vnpost);
        assert_eq!(opts.vnpost.settings().token_ttl, Duration::from_secs(60));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(super::super::run_standalone(opts, shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(7), task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[tokio::test]
    async fn on_its_own_clock_it_moves_orders_along_and_pushes_signed_events() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            v: VnpostOptions,
        }
        // A receiver that keeps what it is pushed, checking each signature.
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/callbacks/vnpost",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let g = g.clone();
                    async move {
                        let ts = headers["x-timestamp"].to_str().unwrap().to_string();
                        let secret = secrecy::SecretString::from("push-secret".to_string());
                        let want = crate::settings::timestamped_signature(&secret, &ts, &body);
                        if headers["x-signature"].to_str().unwrap() != want {
                            return axum::http::StatusCode::UNAUTHORIZED;
                        }
                        let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
                        g.lock().unwrap().extend(events);
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callbacks/vnpost", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cli = Cli::parse_from([
            "sim",
            "--vnpost",
            "--vnpost-advance-every-ms",
            "20",
            "--vnpost-push-to",
            &url,
            "--vnpost-push-secret",
            "push-secret",
        ]);
        let sim = VnpostSim::new(cli.v.settings());
        let shutdown = CancellationToken::new();
        cli.v.spawn_background(&sim, &shutdown);
        assert_eq!(sim.place(order("000.00.56.H56-261120-0001", "1")), "100");
        let started = std::time::Instant::now();
        loop {
            let codes: Vec<String> = got
                .lock()
                .unwrap()
                .iter()
                .map(|e| e["StatusCode"].as_str().unwrap().to_string())
                .collect();
            if codes == ["1", "2", "4", "6"] {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{codes:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(sim.open_orders().is_empty());
        shutdown.cancel();
    }
}
