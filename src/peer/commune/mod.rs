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
//! queue them without knowing the wire: an upsert item names a stored catalog version
//! (`{"MATTHC", "version", "hash", "changed_at"}`) whose procedure the peer reads through
//! [`ProcedureObjects`] when it sends (or, [`upsert_item_inline`], carries the procedure
//! itself); a withdrawal item is `{"MATTHC": <code>, "version": <n>}`, sent as
//! `DELETE ...?version=<n>` with an empty body. Order per procedure is the outbox's (ordering
//! key = `MATTHC`, see [`procedure_code`]); which versions to queue is the catalog's.
//!
//! A batch holds up to `max_batch` items of one subscriber; each goes as its own request under
//! its message's id as `X-Request-ID` ([`Peer::regroups`]), so an item sent again, in any
//! batch, carries the id it carried before.
//!
//! What this module must not do: write to the store (it only reads versions' objects), retry on its own (back-off belongs to the
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, Url};
use secrecy::SecretString;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::peer::classify::ClassifyRule;
use crate::peer::registry::Family;
use crate::peer::{BatchVerdict, ItemVerdict, Peer, Request};

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

/// The upsert item of version `version` of procedure `code`, as the catalog queues it: a
/// reference to the stored version (`{"MATTHC", "version", "hash", "changed_at"}`), not the
/// procedure itself, so a change fanned out to hundreds of subscribers is stored once. The
/// peer reads the version's object through its [`ProcedureObjects`] when it sends, and the `PUT`
/// body is then exactly commune.md's. `hash` is `sha256:<64 hex>` of the procedure's RFC 8785
/// canonical JSON (computed by the caller); `changed_at` is sent in UTC to the second
/// (`2026-11-06T01:59:58Z`).
pub fn upsert_item(
    code: &str,
    version: u64,
    hash: &str,
    changed_at: DateTime<Utc>,
) -> Result<Value, CommuneError> {
    if code.trim().is_empty() {
        return Err(CommuneError::Item("upsert without a MATTHC".into()));
    }
    check_hash(code, hash)?;
    let mut item = Map::new();
    item.insert("MATTHC".into(), Value::String(code.to_string()));
    item.insert("version".into(), Value::from(version));
    item.insert("hash".into(), Value::String(hash.to_string()));
    item.insert(
        "changed_at".into(),
        Value::String(changed_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    Ok(Value::Object(item))
}

/// An upsert item that carries `procedure` itself (the portal's `LayThuTuc` object, kept
/// verbatim): exactly the `PUT` body of commune.md, needing no stored version. For messages
/// queued without the catalog's store (and those queued by earlier releases).
pub fn upsert_item_inline(
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
    check_hash(code, hash)?;
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

fn check_hash(code: &str, hash: &str) -> Result<(), CommuneError> {
    let well_formed = hash.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if well_formed {
        Ok(())
    } else {
        Err(CommuneError::Item(format!(
            "hash of {code}: expected sha256:<64 lower-case hex digits>"
        )))
    }
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

/// Where the peer reads the procedure an upsert item refers to (see [`upsert_item`]). A
/// version's object never changes once stored, so every try of a stored batch sends the same
/// bytes.
#[async_trait]
pub trait ProcedureObjects: Send + Sync {
    /// The object of `version` of procedure `code` as stored (JSON text); `Ok(None)` when there
    /// is no such version; `Err` when it cannot be read now.
    async fn object(&self, code: &str, version: u64) -> Result<Option<String>, String>;
}

/// The catalog's stored versions as [`ProcedureObjects`].
pub struct StoredObjects(pub Arc<dyn crate::store::Store>);

#[async_trait]
impl ProcedureObjects for StoredObjects {
    async fn object(&self, code: &str, version: u64) -> Result<Option<String>, String> {
        let version = i64::try_from(version)
            .map_err(|_| format!("version {version} of {code} is out of range"))?;
        self.0
            .catalog_object(code, version)
            .await
            .map_err(|e| format!("the catalog store cannot be read: {e}"))
    }
}

/// Objects kept in memory: a change goes to every subscriber, so each is read once per change.
const CACHED_OBJECTS: usize = 4_096;

/// One subscriber as the peer uses it.
struct Subscriber {
    base_url: Url,
    secret: SecretString,
}

/// The commune family. Cheap to share behind an `Arc`; one HTTP client (and connection pool)
/// serves every subscriber.
pub struct CommunePeer {
    http: crate::peer::http::PeerHttp,
    subscribers: HashMap<String, Subscriber>,
    rules: Vec<ClassifyRule>,
    max_batch: usize,
    objects: Option<Arc<dyn ProcedureObjects>>,
    cache: Mutex<HashMap<(String, u64), Arc<str>>>,
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
        let http =
            crate::peer::http::PeerHttp::new("commune", timeout, &cfg.tls.resolved(base_dir))
                .map_err(CommuneError::Config)?;
        Ok(CommunePeer {
            http,
            subscribers,
            rules: cfg.classify.clone(),
            max_batch: cfg.max_batch.unwrap_or(config::DEFAULT_MAX_BATCH),
            objects: None,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the procedures that upsert items refer to from `objects` (without it, such an
    /// item waits: only items that carry their procedure can be sent).
    pub fn reading_from(mut self, objects: Arc<dyn ProcedureObjects>) -> Self {
        self.objects = Some(objects);
        self
    }

    /// The subscribers' names (the destinations), sorted.
    pub fn subscriber_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.subscribers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The stored object of `version` of `code`, from memory when read before.
    async fn object(&self, code: &str, version: u64) -> Result<Arc<str>, Unsendable> {
        let key = (code.to_string(), version);
        if let Some(hit) = self.lock_cache().get(&key) {
            return Ok(hit.clone());
        }
        let Some(objects) = &self.objects else {
            return Err(Unsendable::Later(format!(
                "upsert of {code} version {version}: no catalog store to read the procedure from"
            )));
        };
        let text: Arc<str> = match objects.object(code, version).await {
            Ok(Some(text)) => text.into(),
            Ok(None) => {
                return Err(Unsendable::Never(format!(
                    "upsert of {code} version {version}: the catalog has no such version with a procedure"
                )))
            }
            Err(e) => return Err(Unsendable::Later(e)),
        };
        let mut cache = self.lock_cache();
        if cache.len() >= CACHED_OBJECTS {
            cache.clear();
        }
        cache.insert(key, text.clone());
        Ok(text)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u64), Arc<str>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The call a stored item makes to `base_url`.
    async fn prepare(
        &self,
        base_url: &Url,
        operation: &str,
        item: &Value,
    ) -> Result<(Method, Url, Bytes), Unsendable> {
        let code = procedure_code(item)
            .ok_or_else(|| Unsendable::Never(format!("{operation} item without a MATTHC")))?;
        let mut url = base_url.clone();
        url.path_segments_mut()
            .map_err(|()| Unsendable::Never("the base URL cannot take a path".to_string()))?
            .pop_if_empty()
            .push("procedures")
            .push(code);
        let version = item_version(item)
            .ok_or_else(|| Unsendable::Never(format!("{operation} of {code} without a version")))?;
        match operation {
            OP_UPSERT if item.get("procedure").is_some() => {
                // Encoding a `Value` is deterministic (its keys are strings, their order kept),
                // so every try of a stored body sends the same bytes.
                let bytes = serde_json::to_vec(item).map_err(|e| {
                    Unsendable::Never(format!("upsert of {code} cannot be encoded: {e}"))
                })?;
                Ok((Method::PUT, url, Bytes::from(bytes)))
            }
            OP_UPSERT => {
                let procedure = self.object(code, version).await?;
                Ok((
                    Method::PUT,
                    url,
                    Bytes::from(put_body(item, version, &procedure)),
                ))
            }
            OP_WITHDRAW => {
                url.query_pairs_mut()
                    .append_pair("version", &version.to_string());
                Ok((Method::DELETE, url, Bytes::new()))
            }
            other => Err(Unsendable::Never(format!(
                "unknown commune operation \"{other}\""
            ))),
        }
    }

    /// Sends one item and classifies the answer, with the answer's body when one came.
    async fn send_item(
        &self,
        subscriber: &Subscriber,
        destination: &str,
        request_id: Uuid,
        operation: &str,
        item: &Value,
    ) -> Result<(BatchVerdict, Option<Vec<u8>>), String> {
        let (method, url, body) = match self.prepare(&subscriber.base_url, operation, item).await {
            Ok(call) => call,
            Err(Unsendable::Never(reason)) => return Ok((BatchVerdict::Reject { reason }, None)),
            // Not the subscriber's doing: nothing was sent.
            Err(Unsendable::Later(reason)) => return Err(reason),
        };
        tracing::debug!(%destination, %request_id, operation, "commune: sending");
        let call = client::Call {
            method,
            url,
            request_id,
            body,
            secret: &subscriber.secret,
        };
        Ok(match client::send(&self.http.client(), call).await {
            Ok(answer) => (
                classify(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &self.rules,
                    SystemTime::now(),
                ),
                Some(answer.body.to_vec()),
            ),
            Err(e) => (
                BatchVerdict::Retry {
                    reason: crate::peer::http::describe_transport_error(&e),
                    after: None,
                },
                None,
            ),
        })
    }
}

/// Why a stored item cannot be sent: never (the stored body will not change), or not now.
enum Unsendable {
    Never(String),
    Later(String),
}

/// commune.md's `PUT` body for a reference item: its version, hash and time around the stored
/// procedure (JSON text written by this program, inserted as it is).
fn put_body(item: &Value, version: u64, procedure: &str) -> Vec<u8> {
    let text = |key: &str| {
        serde_json::to_string(item.get(key).and_then(Value::as_str).unwrap_or_default())
            .unwrap_or_else(|_| "\"\"".into())
    };
    let (hash, changed_at) = (text("hash"), text("changed_at"));
    let mut out = Vec::with_capacity(procedure.len() + 160);
    out.extend_from_slice(b"{\"version\":");
    out.extend_from_slice(version.to_string().as_bytes());
    out.extend_from_slice(b",\"hash\":");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b",\"changed_at\":");
    out.extend_from_slice(changed_at.as_bytes());
    out.extend_from_slice(b",\"procedure\":");
    out.extend_from_slice(procedure.as_bytes());
    out.push(b'}');
    out
}

#[async_trait]
impl Peer for CommunePeer {
    fn name(&self) -> &str {
        PEER_COMMUNE
    }

    /// Procedures one claim takes for one subscriber (`max_batch`); each is its own request.
    fn max_batch(&self, _operation: &str) -> usize {
        self.max_batch
    }

    /// The items in queue order; [`Peer::deliver`] sends each as its own request.
    fn build_body(&self, _operation: &str, _is_update: bool, items: &[Value]) -> Value {
        Value::Array(items.to_vec())
    }

    /// Each request carries its message's id: an item may travel again in another batch.
    fn regroups(&self) -> bool {
        true
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
            item_ids: &[],
            start_by: None,
        })
        .await
    }

    /// Sends the batch's items one after the other, each under its message's id (a body of
    /// one item stored by an earlier release: under the batch's id), and answers per item. The
    /// first item told to wait (429, 5xx, a timeout: `Later`, with the `Retry-After`) or
    /// refused for our signature (`Paused`) stops the batch: the items after it are not sent
    /// and use no attempt. No request starts after `start_by` (the lease).
    async fn deliver(&self, request: Request<'_>) -> (BatchVerdict, Option<String>) {
        let destination = request.destination;
        let operation = request.operation;
        let Some(subscriber) = self.subscribers.get(destination) else {
            let verdict = BatchVerdict::Paused {
                reason: format!(
                    "no subscriber named \"{}\" in peers.commune",
                    destination.escape_default()
                ),
            };
            log_verdict(destination, request.id, operation, &verdict);
            return (verdict, None);
        };
        let (items, ids): (Vec<&Value>, Vec<Uuid>) = match request.body {
            Value::Array(items) => (
                items.iter().collect(),
                items
                    .iter()
                    .enumerate()
                    .map(|(i, _)| request.item_ids.get(i).copied().unwrap_or(request.id))
                    .collect(),
            ),
            one => (vec![one], vec![request.id]),
        };
        // The audit hash: SHA-256 over each answer's own SHA-256, in order.
        let mut answers = Sha256::new();
        let mut answered = false;
        let mut verdicts: Vec<ItemVerdict> = Vec::with_capacity(items.len());
        for (i, (item, id)) in items.iter().zip(&ids).enumerate() {
            if i > 0 && request.start_by.is_some_and(|t| Instant::now() >= t) {
                verdicts.resize(
                    items.len(),
                    ItemVerdict::Later {
                        reason: "not sent: the batch's lease would run out first".into(),
                        after: Some(Duration::ZERO),
                        tried: false,
                    },
                );
                break;
            }
            let (verdict, answer) = match self
                .send_item(subscriber, destination, *id, operation, item)
                .await
            {
                Ok(sent) => sent,
                Err(reason) => {
                    tracing::warn!(%destination, request_id = %id, operation, %reason, "commune: not sent");
                    verdicts.resize(
                        items.len(),
                        ItemVerdict::Later {
                            reason: format!("not sent: {reason}"),
                            after: Some(NOT_SENT_WAIT),
                            tried: false,
                        },
                    );
                    break;
                }
            };
            if let Some(answer) = answer {
                answers.update(Sha256::digest(&answer));
                answered = true;
            }
            log_verdict(destination, *id, operation, &verdict);
            // The first item told to wait, or refused for our signature, stops the batch: the
            // items after it are not sent and use no attempt.
            let (this, rest) = match verdict {
                BatchVerdict::Items(mut v) => {
                    verdicts.push(v.pop().unwrap_or(ItemVerdict::Delivered));
                    continue;
                }
                BatchVerdict::Reject { reason } => {
                    verdicts.push(ItemVerdict::Reject { reason });
                    continue;
                }
                BatchVerdict::Retry { reason, after } => {
                    let unsent = format!("not sent: an earlier request of its batch got: {reason}");
                    (
                        ItemVerdict::Later {
                            reason,
                            after,
                            tried: true,
                        },
                        ItemVerdict::Later {
                            reason: unsent,
                            after,
                            tried: false,
                        },
                    )
                }
                BatchVerdict::Paused { reason } => (
                    ItemVerdict::Paused {
                        reason: reason.clone(),
                    },
                    ItemVerdict::Paused { reason },
                ),
            };
            verdicts.push(this);
            verdicts.resize(items.len(), rest);
            break;
        }
        let sha = answered.then(|| hex::encode(answers.finalize()));
        (BatchVerdict::Items(verdicts), sha)
    }
}

/// How long items wait when this program could not prepare them (its catalog store did not
/// answer); no attempt is used and the subscriber's health is not touched.
const NOT_SENT_WAIT: Duration = Duration::from_secs(5);

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
