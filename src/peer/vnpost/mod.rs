//! The public-interest postal service (VNPost, vnpost.md) as a [`Peer`]: one order
//! (`postal_order`, `POST /order/post` with the stored `MOrder`) or one cancel (`postal_cancel`,
//! `GET /order/cancel?CustomerCode=&OrderNumber=&OrderType=`) per request, under the batch's
//! `X-Request-ID`, with an OAuth2 bearer token added at send time; and the tracking feed's
//! pages ([`VnpostPeer::tracking_page`]) for the poll that turns postal events into steps.
//!
//! - `config`: `[peers.vnpost]` and its `check`.
//! - `auth`: the client-credentials token, cached, renewed before it runs out, shared by
//!   concurrent callers.
//! - `client`: the endpoints and one call.
//! - `classify`: the pure function that turns an answer into a verdict; [`cancel_outcome`].
//! - `tracking`: one feed page read into typed events, bad events reported precisely.
//!
//! A 401 is answered inside one delivery: a new token, then the same call repeated once (same
//! id, same bytes); no outbox attempt is spent on it. Refused again, the destination is paused
//! (the consumer key or secret is wrong).
//!
//! **A cancel that comes too late** (`"103"`: the postman already collected or delivered) is
//! final: repeating it cannot help, and dead-lettering it would be wrong, since nothing failed on
//! our side. The peer returns `Delivered`, so the outbox settles it, and tells it apart: it logs
//! an alert (level error, `alert = "vnpost_cancel_too_late"`, with the request id and the order
//! number and type, which is the dossier code, not personal data), and calls the hook set with
//! [`VnpostPeer::on_cancel_too_late`], where the postal module records it. [`cancel_outcome`]
//! reads the same from an answer.
//!
//! The family takes no mapping target yet: orders are queued by the postal module's triggers
//! (a dossier collected by post, a result delivered by post), not by a source's route.
//!
//! What this module must not do: store anything, retry on its own beyond the single repeat
//! after a fresh token (back-off belongs to the outbox), change a stored body, or let a secret
//! or a citizen's data reach a log line, an error or a `Debug` string (reasons never quote
//! VNPost's `Message`).

mod auth;
mod classify;
mod client;
mod config;
#[cfg(test)]
mod tests;
mod tracking;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::peer::classify::{Classified, ClassifyRule};
use crate::peer::http::Answer;
use crate::peer::reads::ReadError;
use crate::peer::registry::{CancelRule, Family, Trigger};
use crate::peer::{BatchVerdict, ItemVerdict, Peer};
use crate::store::HeaderRule;

use auth::{AuthError, TokenCache};
use client::{Call, Endpoints};

pub use classify::{
    cancel_outcome, classify, classify_read, fields_named, CancelOutcome, Envelope,
};
pub use config::{VnpostBaseUrls, VnpostConfig, VnpostEnvironment};
pub use tracking::{
    is_feed_id, parse_page, parse_pushed, status_name, BadEvent, FieldProblem, TrackingEvent,
    TrackingPage, FEED_START,
};

/// The name postal messages are queued under (one destination: `""`).
pub const PEER_VNPOST: &str = "vnpost";
/// Register one order: `POST /order/post` with the item (an `MOrder`) as the body.
pub const OP_ORDER: &str = "postal_order";
/// Cancel one order: `GET /order/cancel` with the item's three keys as the query.
pub const OP_CANCEL: &str = "postal_cancel";

/// The largest `pagesize` a tracking read asks for.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// VNPost in the peer registry: orders are claimed before cancels (a dossier's cancel is queued
/// behind its order under the same key in any case).
pub const FAMILY: Family = Family {
    name: PEER_VNPOST,
    describe: "postal",
    takes: &[],
    operations: &[OP_ORDER, OP_CANCEL],
};

/// The order tag of `order_type` (`"1"` collection, `"2"` delivery): a dossier's order of a
/// type is queued once under it.
pub fn order_tag(order_type: &str) -> String {
    format!("postal_order_{order_type}")
}

/// Dossier statuses that end a dossier before its result (refused at reception, withdrawn,
/// processing stopped, codes.md): no collection order is made for them, and one already made
/// is cancelled.
const ENDED_EARLY: &[&str] = &["3", "7", "8"];

/// When orders are made (vnpost.md): a collection order (`OrderType "1"`) for a dossier
/// submitted by post (`KenhThucHien "3"`), cancelled when the dossier is refused, withdrawn or
/// stopped before the postman collects it; a delivery order (`OrderType "2"`) for a dossier whose
/// result goes by post (`HinhThuc "1"`) when it reaches status `"9"`. Both wait (`held`) until
/// the dossier's header is at the portal.
pub const TRIGGERS: &[Trigger] = &[
    Trigger {
        name: "postal_collection",
        family: PEER_VNPOST,
        target: crate::mapping::Target::PostalOrder,
        operation: OP_ORDER,
        header: HeaderRule::Held,
        when: &[("KenhThucHien", &["3"])],
        unless: &[("TrangThaiHoSo", ENDED_EARLY)],
        once: "postal_order_1",
        marks: ("OrderType", "1"),
        cancel: Some(CancelRule {
            when: &[("KenhThucHien", &["3"]), ("TrangThaiHoSo", ENDED_EARLY)],
            operation: OP_CANCEL,
            once: "postal_cancel_1",
            item: cancel_of,
        }),
    },
    Trigger {
        name: "postal_delivery",
        family: PEER_VNPOST,
        target: crate::mapping::Target::PostalOrder,
        operation: OP_ORDER,
        header: HeaderRule::Held,
        when: &[("HinhThuc", &["1"]), ("TrangThaiHoSo", &["9"])],
        unless: &[],
        once: "postal_order_2",
        marks: ("OrderType", "2"),
        cancel: None,
    },
];

/// The cancel item of a rendered order.
fn cancel_of(order: &Value) -> Option<Value> {
    let customer = order.get("CustomerCode")?.as_str()?;
    let (number, kind) = order_key(order)?;
    cancel_item(customer, number, kind).ok()
}

/// What can go wrong outside [`Peer::send`] (which answers with verdicts instead).
#[derive(Debug, thiserror::Error)]
pub enum VnpostError {
    /// The configuration cannot make a working peer (one problem per line).
    #[error("vnpost config: {0}")]
    Config(String),
    /// A queued item could not be built from what the caller gave.
    #[error("vnpost item: {0}")]
    Item(String),
}

/// The cancel item of order (`order_number`, `order_type`) of customer `customer_code`: the
/// query of `GET /order/cancel`.
pub fn cancel_item(
    customer_code: &str,
    order_number: &str,
    order_type: &str,
) -> Result<Value, VnpostError> {
    for (name, value) in [
        ("CustomerCode", customer_code),
        ("OrderNumber", order_number),
    ] {
        if value.trim().is_empty() {
            return Err(VnpostError::Item(format!("cancel without {name}")));
        }
    }
    if order_type != "1" && order_type != "2" {
        return Err(VnpostError::Item(
            "cancel with an OrderType other than \"1\" (collection) or \"2\" (delivery)".into(),
        ));
    }
    let mut item = Map::new();
    item.insert("CustomerCode".into(), Value::String(customer_code.into()));
    item.insert("OrderNumber".into(), Value::String(order_number.into()));
    item.insert("OrderType".into(), Value::String(order_type.into()));
    Ok(Value::Object(item))
}

/// The order an item of either operation is about: (`OrderNumber`, `OrderType`), which
/// identify an order at VNPost. `OrderNumber` is the dossier code: the ordering key.
pub fn order_key(item: &Value) -> Option<(&str, &str)> {
    let field = |k: &str| {
        item.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    Some((field("OrderNumber")?, field("OrderType")?))
}

/// A cancel VNPost answered `"103"`: too late, the order stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLateCancel {
    /// The `X-Request-ID` of the cancel.
    pub request_id: Uuid,
    pub order_number: String,
    pub order_type: String,
}

type TooLateHook = Arc<dyn Fn(&TooLateCancel) + Send + Sync>;

/// The VNPost peer. Cheap to share behind an `Arc`; concurrent calls share one token.
pub struct VnpostPeer {
    http: crate::peer::http::PeerHttp,
    endpoints: Endpoints,
    environment: VnpostEnvironment,
    customer_code: String,
    rules: Vec<ClassifyRule>,
    tokens: TokenCache,
    too_late: Option<TooLateHook>,
}

impl fmt::Debug for VnpostPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VnpostPeer")
            .field("environment", &self.environment)
            .field("order_post", &self.endpoints.order_post.as_str())
            .field("customer_code", &self.customer_code)
            .field("tokens", &self.tokens)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl VnpostPeer {
    /// Builds the peer from config, reading the secret now (a relative `consumer_secret_file`
    /// from the working directory). `timeout` is the time allowed for one call, from the
    /// family's delivery policy.
    pub fn new(cfg: &VnpostConfig, timeout: Duration) -> Result<Self, VnpostError> {
        Self::new_in(cfg, Path::new("."), timeout)
    }

    /// Like [`VnpostPeer::new`], with a relative `consumer_secret_file` resolved against
    /// `base_dir` (the config file's folder), as [`VnpostConfig::check`] does.
    pub fn new_in(
        cfg: &VnpostConfig,
        base_dir: &Path,
        timeout: Duration,
    ) -> Result<Self, VnpostError> {
        if timeout.is_zero() {
            return Err(VnpostError::Config(
                "peers.vnpost.policy.timeout_ms: must be greater than 0".into(),
            ));
        }
        let problems = cfg.check(base_dir);
        if !problems.is_empty() {
            return Err(VnpostError::Config(problems.join("\n")));
        }
        let at = format!("peers.vnpost.base_urls.{}", cfg.environment.as_str());
        let base_text = cfg
            .base_url()
            .ok_or_else(|| VnpostError::Config(format!("{at}: missing")))?;
        let base = config::parse_base_url(base_text, cfg.environment)
            .map_err(|e| VnpostError::Config(format!("{at}: {e}")))?;
        let endpoints =
            Endpoints::under(&base).map_err(|e| VnpostError::Config(format!("{at}: {e}")))?;
        let secret = cfg
            .read_secret(base_dir)
            .map_err(|e| VnpostError::Config(format!("peers.vnpost.{e}")))?;
        let http = crate::peer::http::PeerHttp::new("vnpost", timeout, &cfg.tls.resolved(base_dir))
            .map_err(VnpostError::Config)?;
        Ok(VnpostPeer {
            http,
            tokens: TokenCache::new(endpoints.token.clone(), cfg.consumer_key.clone(), secret),
            endpoints,
            environment: cfg.environment,
            customer_code: cfg.customer_code.clone(),
            rules: cfg.classify.clone(),
            too_late: None,
        })
    }

    /// Calls `hook` for every cancel VNPost answers `"103"` (too late), after the alert is
    /// logged; the postal module records it there.
    pub fn on_cancel_too_late(
        mut self,
        hook: impl Fn(&TooLateCancel) + Send + Sync + 'static,
    ) -> Self {
        self.too_late = Some(Arc::new(hook));
        self
    }

    /// The environment the peer talks to.
    pub fn environment(&self) -> VnpostEnvironment {
        self.environment
    }

    /// The cancel item of one of this agency's orders (see [`cancel_item`]).
    pub fn cancel_item(&self, order_number: &str, order_type: &str) -> Result<Value, VnpostError> {
        cancel_item(&self.customer_code, order_number, order_type)
    }

    /// One page of the tracking feed: up to `page_size` events after `last_id` (start with
    /// [`FEED_START`]). A read has nothing to deduplicate, so each has its own `X-Request-ID`.
    /// A 401 gets a new token and the read is repeated once. `ReadError::Busy` for what is worth
    /// another try (transport, 429, 5xx, a page that cannot be read as a whole); `Failed` for a
    /// refusal (credentials, another 4xx, a bad `last_id` or `page_size`).
    pub async fn tracking_page(
        &self,
        last_id: &str,
        page_size: u32,
    ) -> Result<TrackingPage, ReadError> {
        if !is_feed_id(last_id) {
            return Err(ReadError::Failed(
                "tracking: lastId must be 24 hexadecimal digits".into(),
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ReadError::Failed(format!(
                "tracking: pagesize {page_size} is outside 1..={MAX_PAGE_SIZE}"
            )));
        }
        let mut url = self.endpoints.tracking.clone();
        url.query_pairs_mut()
            .append_pair("pagesize", &page_size.to_string())
            .append_pair("lastId", last_id);
        let call = Call {
            method: Method::GET,
            url,
            request_id: Uuid::new_v4(),
            body: None,
        };
        let request_id = call.request_id;
        let outcome = self
            .exchange(&call, OP_TRACKING, |answer| {
                classify_read(
                    answer.status,
                    answer.retry_after.as_deref(),
                    SystemTime::now(),
                )?;
                parse_page(&answer.body, last_id, page_size).map_err(|reason| Classified::Retry {
                    reason,
                    after: None,
                })
            })
            .await;
        match outcome {
            Ok(page) => {
                tracing::debug!(%request_id, returned = page.returned, bad = page.bad.len(),
                    "vnpost: tracking page read");
                for bad in &page.bad {
                    tracing::warn!(%request_id, event = %bad, "vnpost: tracking event unreadable");
                }
                Ok(page)
            }
            Err(Classified::Retry { reason, after }) => {
                tracing::info!(%request_id, %reason, "vnpost: tracking read to retry");
                Err(ReadError::Busy { reason, after })
            }
            Err(Classified::Paused { reason }) => {
                tracing::error!(%request_id, %reason, "vnpost: tracking read refused our credentials");
                Err(ReadError::Failed(format!(
                    "tracking: credentials refused: {reason}"
                )))
            }
            Err(Classified::Reject { reason }) | Err(Classified::Reauth { reason }) => {
                tracing::warn!(%request_id, %reason, "vnpost: tracking read refused");
                Err(ReadError::Failed(format!("tracking: {reason}")))
            }
            Err(Classified::Items(_)) => Err(ReadError::Failed(
                "tracking: an answer read as item verdicts".into(),
            )),
        }
    }

    /// One call with the current token. When `decide` says the token was refused
    /// ([`Classified::Reauth`]), gets a new token and repeats the same call (same id, same
    /// bytes) once; refused again, the destination is paused. Reasons are masked of the token.
    async fn exchange<T>(
        &self,
        call: &Call,
        operation: &str,
        decide: impl Fn(&Answer) -> Result<T, Classified>,
    ) -> Result<T, Classified> {
        let request_id = call.request_id;
        let mut repeated = false;
        loop {
            let token = self
                .tokens
                .token(&self.http.client())
                .await
                .map_err(|e| match e {
                    AuthError::Refused(reason) => Classified::Paused {
                        reason: format!("token refused: {reason}"),
                    },
                    AuthError::Temporary { reason, after } => Classified::Retry {
                        reason: format!("cannot get a token: {reason}"),
                        after,
                    },
                })?;
            let outcome = match client::send(&self.http.client(), call, &token).await {
                Ok(answer) => {
                    tracing::debug!(%request_id, operation, status = answer.status, "vnpost: answered");
                    decide(&answer)
                }
                Err(e) => Err(Classified::Retry {
                    reason: crate::peer::http::describe_transport_error(&e),
                    after: None,
                }),
            };
            match outcome {
                Err(Classified::Reauth { reason }) if !repeated => {
                    tracing::info!(%request_id, operation, reason = %token.mask(reason),
                        "vnpost: token refused; asking for a new one and repeating once");
                    self.tokens.invalidate(&token).await;
                    repeated = true;
                }
                Err(Classified::Reauth { reason }) => {
                    return Err(Classified::Paused {
                        reason: token.mask(format!(
                            "{reason}, again with a new token: check peers.vnpost.consumer_key and consumer_secret"
                        )),
                    });
                }
                other => return other.map_err(|c| c.map_reasons(|r| token.mask(r))),
            }
        }
    }

    /// The call a stored body makes, or why it cannot be made (permanent: the stored body will
    /// not change).
    fn prepare(&self, request_id: Uuid, operation: &str, body: &Value) -> Result<Call, String> {
        match operation {
            OP_ORDER => {
                if !body.is_object() {
                    return Err("order: the stored body is not a JSON object".into());
                }
                if order_key(body).is_none() {
                    return Err("order without OrderNumber or OrderType".into());
                }
                // Encoding a `Value` is deterministic (its keys are strings, their order
                // kept), so every try of a stored body sends the same bytes.
                let bytes = serde_json::to_vec(body)
                    .map_err(|e| format!("order cannot be encoded: {e}"))?;
                Ok(Call {
                    method: Method::POST,
                    url: self.endpoints.order_post.clone(),
                    request_id,
                    body: Some(Bytes::from(bytes)),
                })
            }
            OP_CANCEL => {
                let field = |k: &str| {
                    body.get(k)
                        .and_then(Value::as_str)
                        .filter(|v| !v.trim().is_empty())
                        .ok_or_else(|| format!("cancel without {k}"))
                };
                let (customer, number, kind) = (
                    field("CustomerCode")?,
                    field("OrderNumber")?,
                    field("OrderType")?,
                );
                let mut url = self.endpoints.order_cancel.clone();
                url.query_pairs_mut()
                    .append_pair("CustomerCode", customer)
                    .append_pair("OrderNumber", number)
                    .append_pair("OrderType", kind);
                Ok(Call {
                    method: Method::GET,
                    url,
                    request_id,
                    body: None,
                })
            }
            other => Err(format!(
                "unknown vnpost operation \"{}\"",
                other.escape_default()
            )),
        }
    }

    /// The alert and the hook for a cancel that came too late.
    fn too_late(&self, request_id: Uuid, body: &Value) {
        let (order_number, order_type) = order_key(body).unwrap_or_default();
        tracing::error!(
            alert = "vnpost_cancel_too_late",
            %request_id,
            order_number,
            order_type,
            "vnpost: CANCEL TOO LATE: the postman already collected or delivered; the order stands"
        );
        if let Some(hook) = &self.too_late {
            hook(&TooLateCancel {
                request_id,
                order_number: order_number.to_string(),
                order_type: order_type.to_string(),
            });
        }
    }
}

/// How a tracking read is named in logs.
const OP_TRACKING: &str = "tracking";

/// What one delivery's final answer said, besides the verdict.
struct Settled {
    classified: Classified,
    answer_sha256: String,
    cancel: Option<CancelOutcome>,
    existed: bool,
}

#[async_trait]
impl Peer for VnpostPeer {
    fn name(&self) -> &str {
        PEER_VNPOST
    }

    /// One order or cancel per request.
    fn max_batch(&self, _operation: &str) -> usize {
        1
    }

    /// The item itself: an order item is the `MOrder` body; a cancel item gives the query.
    /// With one item per batch, further items (never given) would be ignored.
    fn build_body(&self, _operation: &str, _is_update: bool, items: &[Value]) -> Value {
        items.first().cloned().unwrap_or(Value::Null)
    }

    async fn send(&self, request_id: Uuid, operation: &str, body: &Value) -> BatchVerdict {
        self.send_recorded(request_id, operation, body).await.0
    }

    async fn send_recorded(
        &self,
        request_id: Uuid,
        operation: &str,
        body: &Value,
    ) -> (BatchVerdict, Option<String>) {
        let call = match self.prepare(request_id, operation, body) {
            Ok(call) => call,
            Err(reason) => {
                let verdict = BatchVerdict::Reject { reason };
                log_verdict(request_id, operation, &verdict);
                return (verdict, None);
            }
        };
        tracing::debug!(%request_id, operation, "vnpost: sending");
        let outcome = self
            .exchange(&call, operation, |answer| {
                let classified = classify(
                    operation,
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &self.rules,
                    SystemTime::now(),
                );
                if let Classified::Reauth { .. } = classified {
                    return Err(classified);
                }
                let envelope = Envelope::read(&answer.body);
                Ok(Settled {
                    existed: (200..300).contains(&answer.status)
                        && envelope.as_ref().is_some_and(|e| e.status == "101"),
                    cancel: (operation == OP_CANCEL)
                        .then(|| cancel_outcome(answer.status, &answer.body)),
                    answer_sha256: hex::encode(Sha256::digest(&answer.body)),
                    classified,
                })
            })
            .await;
        let (classified, answered) = match outcome {
            Ok(settled) => {
                if settled.cancel == Some(CancelOutcome::TooLate) {
                    self.too_late(request_id, body);
                }
                if settled.existed && operation == OP_ORDER {
                    tracing::info!(%request_id, "vnpost: the order already existed (101); the earlier one stands");
                }
                (settled.classified, Some(settled.answer_sha256))
            }
            Err(classified) => (classified, None),
        };
        let verdict = classified.into_verdict();
        log_verdict(request_id, operation, &verdict);
        (verdict, answered)
    }
}

fn log_verdict(request_id: Uuid, operation: &str, verdict: &BatchVerdict) {
    match verdict {
        BatchVerdict::Items(items) => {
            let delivered = items
                .iter()
                .filter(|v| matches!(v, ItemVerdict::Delivered))
                .count();
            tracing::debug!(%request_id, operation, delivered, "vnpost: answered");
        }
        BatchVerdict::Retry { reason, after } => {
            let after_s = after.map(|d| d.as_secs());
            tracing::info!(%request_id, operation, %reason, after_s, "vnpost: to retry");
        }
        BatchVerdict::Reject { reason } => {
            tracing::warn!(%request_id, operation, %reason, "vnpost: rejected");
        }
        BatchVerdict::Paused { reason } => {
            tracing::error!(
                %request_id, operation, %reason,
                "vnpost: credentials refused; paused until the config changes"
            );
        }
    }
}
