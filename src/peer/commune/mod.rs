//! The commune subscribers (commune.md) as one [`Peer`] family with a destination per
//! subscriber: each queued message names its subscriber in `destination`, and
//! [`Peer::deliver`] routes it there as a signed `PUT` (upsert) or `DELETE` (withdrawal) of one
//! procedure.
//!
//! - `config`: `[peers.commune]`, its subscribers and filters, and their `check`.
//! - `client`: the HTTP client, the HMAC signature, one signed call.
//! - `classify`: the one pure function that turns an answer into a verdict.
//!
//! The queued items are defined here ([`upsert_item`], [`withdraw_item`]) so the catalog can
//! queue them without knowing the wire: an upsert item is the exact JSON body of the `PUT`; a
//! withdrawal item is `{"MATTHC": <code>, "version": <n>}`, sent as `DELETE ...?version=<n>`
//! with an empty body. Order per procedure is the outbox's (ordering key = `MATTHC`, see
//! [`procedure_code`]); which versions to queue is the catalog's.
//!
//! What this module must not do: store anything, retry on its own (back-off belongs to the
//! outbox), change a stored body (every try sends the bytes the stored body encodes to; only the
//! timestamp and signature headers are made at send time), or let a secret reach a log line, an
//! error or a `Debug` string.

mod classify;
mod client;
mod config;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Client, Method, Url};
use secrecy::SecretString;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::peer::classify::ClassifyRule;
use crate::peer::registry::Family;
use crate::peer::{BatchVerdict, Peer, Request};

pub use classify::{classify, masked_excerpt};
pub use config::{CommuneConfig, SubscriberConfig, SubscriberFilter};

/// The name commune messages are queued under; the subscriber is the destination.
pub const PEER_COMMUNE: &str = "commune";
/// `PUT {base}/procedures/{MATTHC}` with the item as the JSON body.
pub const OP_UPSERT: &str = "procedure_upsert";
/// `DELETE {base}/procedures/{MATTHC}?version=N` with an empty body.
pub const OP_WITHDRAW: &str = "procedure_withdraw";

/// The commune subscribers in the peer registry. They take no mapping target: the catalog
/// fan-out queues their messages itself, one destination per subscriber.
pub const FAMILY: Family = Family {
    name: PEER_COMMUNE,
    describe: "commune",
    takes: &[],
    operations: &[OP_UPSERT, OP_WITHDRAW],
};

/// What can go wrong outside [`Peer::deliver`] (which answers with verdicts instead).
#[derive(Debug, thiserror::Error)]
pub enum CommuneError {
    /// The configuration cannot make a working peer (one problem per line).
    #[error("commune config: {0}")]
    Config(String),
    /// A queued item could not be built from what the caller gave.
    #[error("commune item: {0}")]
    Item(String),
}

/// The upsert item for `procedure` (the portal's `LayThuTuc` object, kept verbatim) at
/// `version`: exactly the `PUT` body of commune.md. `hash` is `sha256:<64 hex>` of the
/// procedure's RFC 8785 canonical JSON (computed by the caller); `changed_at` is sent in UTC to
/// the second (`2026-11-06T01:59:58Z`).
pub fn upsert_item(
    procedure: Value,
    version: u64,
    hash: &str,
    changed_at: DateTime<Utc>,
) -> Result<Value, CommuneError> {
    let code = procedure
        .get("MATTHC")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if code.trim().is_empty() {
        return Err(CommuneError::Item(
            "the procedure has no MATTHC (a non-empty string)".into(),
        ));
    }
    let well_formed = hash.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !well_formed {
        return Err(CommuneError::Item(format!(
            "hash of {code}: expected sha256:<64 lower-case hex digits>"
        )));
    }
    let mut body = Map::new();
    body.insert("version".into(), Value::from(version));
    body.insert("hash".into(), Value::String(hash.to_string()));
    body.insert(
        "changed_at".into(),
        Value::String(changed_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    body.insert("procedure".into(), procedure);
    Ok(Value::Object(body))
}

/// The withdrawal item of procedure `code` at `version` (the next number of the procedure's
/// version sequence).
pub fn withdraw_item(code: &str, version: u64) -> Result<Value, CommuneError> {
    if code.trim().is_empty() {
        return Err(CommuneError::Item("withdrawal without a MATTHC".into()));
    }
    let mut item = Map::new();
    item.insert("MATTHC".into(), Value::String(code.to_string()));
    item.insert("version".into(), Value::from(version));
    Ok(Value::Object(item))
}

/// The procedure code (`MATTHC`) an item of either operation is about: the ordering key to
/// queue it under, so one subscriber gets one procedure's versions in order.
pub fn procedure_code(item: &Value) -> Option<&str> {
    item.get("MATTHC")
        .or_else(|| item.get("procedure").and_then(|p| p.get("MATTHC")))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
}

/// The version an item of either operation carries.
pub fn item_version(item: &Value) -> Option<u64> {
    item.get("version").and_then(Value::as_u64)
}

/// One subscriber as the peer uses it.
struct Subscriber {
    base_url: Url,
    secret: SecretString,
}

/// The commune family. Cheap to share behind an `Arc`; one HTTP client (and connection pool)
/// serves every subscriber.
pub struct CommunePeer {
    http: Client,
    subscribers: HashMap<String, Subscriber>,
    rules: Vec<ClassifyRule>,
}

impl fmt::Debug for CommunePeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommunePeer")
            .field("subscribers", &self.subscribers.len())
            .finish_non_exhaustive()
    }
}

impl CommunePeer {
    /// Builds the peer from config, reading the secrets now (relative `secret_file` paths from
    /// the working directory). `timeout` is the time allowed for one call, from the family's
    /// delivery policy.
    pub fn new(cfg: &CommuneConfig, timeout: Duration) -> Result<Self, CommuneError> {
        Self::new_in(cfg, Path::new("."), timeout)
    }

    /// Like [`CommunePeer::new`], with relative `secret_file` paths resolved against
    /// `base_dir` (the config file's folder), as [`CommuneConfig::check`] does.
    pub fn new_in(
        cfg: &CommuneConfig,
        base_dir: &Path,
        timeout: Duration,
    ) -> Result<Self, CommuneError> {
        if timeout.is_zero() {
            return Err(CommuneError::Config(
                "peers.commune.policy.timeout_ms: must be greater than 0".into(),
            ));
        }
        let problems = cfg.check(base_dir);
        if !problems.is_empty() {
            return Err(CommuneError::Config(problems.join("\n")));
        }
        let mut subscribers = HashMap::with_capacity(cfg.subscribers.len());
        for (i, s) in cfg.subscribers.iter().enumerate() {
            let at = format!("peers.commune.subscribers[{i}]");
            let base_url = config::parse_base_url(&s.base_url)
                .map_err(|e| CommuneError::Config(format!("{at}.base_url: {e}")))?;
            let secret = s
                .read_secret(base_dir)
                .map_err(|e| CommuneError::Config(format!("{at}.{e}")))?;
            subscribers.insert(s.name.clone(), Subscriber { base_url, secret });
        }
        let http = crate::peer::http::build_http(timeout)
            .map_err(|e| CommuneError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(CommunePeer {
            http,
            subscribers,
            rules: cfg.classify.clone(),
        })
    }

    /// The subscribers' names (the destinations), sorted.
    pub fn subscriber_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.subscribers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// The call a stored body makes to `base_url`, or why it cannot be made (permanent: the
/// stored body will not change).
fn prepare(base_url: &Url, operation: &str, body: &Value) -> Result<(Method, Url, Bytes), String> {
    let code = procedure_code(body).ok_or_else(|| format!("{operation} item without a MATTHC"))?;
    let mut url = base_url.clone();
    url.path_segments_mut()
        .map_err(|()| "the base URL cannot take a path".to_string())?
        .pop_if_empty()
        .push("procedures")
        .push(code);
    match operation {
        OP_UPSERT => {
            if item_version(body).is_none() {
                return Err(format!("upsert of {code} without a version"));
            }
            // Encoding a `Value` is deterministic (its keys are strings, their order kept), so
            // every try of a stored body sends the same bytes.
            let bytes = serde_json::to_vec(body)
                .map_err(|e| format!("upsert of {code} cannot be encoded: {e}"))?;
            Ok((Method::PUT, url, Bytes::from(bytes)))
        }
        OP_WITHDRAW => {
            let version = item_version(body)
                .ok_or_else(|| format!("withdrawal of {code} without a version"))?;
            url.query_pairs_mut()
                .append_pair("version", &version.to_string());
            Ok((Method::DELETE, url, Bytes::new()))
        }
        other => Err(format!("unknown commune operation \"{other}\"")),
    }
}

#[async_trait]
impl Peer for CommunePeer {
    fn name(&self) -> &str {
        PEER_COMMUNE
    }

    /// One procedure per request.
    fn max_batch(&self, _operation: &str) -> usize {
        1
    }

    /// The item itself: an upsert item is the `PUT` body; a withdrawal item gives the URL.
    /// With one item per batch, further items (never given) would be ignored.
    fn build_body(&self, _operation: &str, _is_update: bool, items: &[Value]) -> Value {
        items.first().cloned().unwrap_or(Value::Null)
    }

    /// Without a destination there is no subscriber to send to: the batch is paused, not lost.
    async fn send(&self, request_id: Uuid, operation: &str, body: &Value) -> BatchVerdict {
        self.send_recorded(request_id, operation, body).await.0
    }

    async fn send_recorded(
        &self,
        request_id: Uuid,
        operation: &str,
        body: &Value,
    ) -> (BatchVerdict, Option<String>) {
        self.deliver(Request {
            id: request_id,
            destination: "",
            operation,
            body,
        })
        .await
    }

    async fn deliver(&self, request: Request<'_>) -> (BatchVerdict, Option<String>) {
        let destination = request.destination;
        let request_id = request.id;
        let operation = request.operation;
        let Some(subscriber) = self.subscribers.get(destination) else {
            let verdict = BatchVerdict::Paused {
                reason: format!(
                    "no subscriber named \"{}\" in peers.commune",
                    destination.escape_default()
                ),
            };
            log_verdict(destination, request_id, operation, &verdict);
            return (verdict, None);
        };
        let (method, url, body) = match prepare(&subscriber.base_url, operation, request.body) {
            Ok(call) => call,
            Err(reason) => {
                let verdict = BatchVerdict::Reject { reason };
                log_verdict(destination, request_id, operation, &verdict);
                return (verdict, None);
            }
        };
        tracing::debug!(%destination, %request_id, operation, "commune: sending");
        let call = client::Call {
            method,
            url,
            request_id,
            body,
            secret: &subscriber.secret,
        };
        let (verdict, answered) = match client::send(&self.http, call).await {
            Ok(answer) => (
                classify(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &self.rules,
                    SystemTime::now(),
                ),
                Some(hex::encode(Sha256::digest(&answer.body))),
            ),
            Err(e) => (
                BatchVerdict::Retry {
                    reason: crate::peer::http::describe_transport_error(&e),
                    after: None,
                },
                None,
            ),
        };
        log_verdict(destination, request_id, operation, &verdict);
        (verdict, answered)
    }
}

fn log_verdict(destination: &str, request_id: Uuid, operation: &str, verdict: &BatchVerdict) {
    match verdict {
        BatchVerdict::Items(_) => {
            tracing::debug!(%destination, %request_id, operation, "commune: delivered");
        }
        BatchVerdict::Retry { reason, after } => {
            let after_s = after.map(|d| d.as_secs());
            tracing::info!(%destination, %request_id, operation, %reason, after_s, "commune: to retry");
        }
        BatchVerdict::Reject { reason } => {
            tracing::warn!(%destination, %request_id, operation, %reason, "commune: rejected");
        }
        BatchVerdict::Paused { reason } => {
            tracing::error!(
                %destination, %request_id, operation, %reason,
                "commune: subscriber paused until its config changes"
            );
        }
    }
}
