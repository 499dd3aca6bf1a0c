//! The local system's webhook as a [`Peer`]: the gateway tells a local system of its dossiers'
//! postal events (`postal_event`) by `POST <url>` with `{"events": [...]}`, signed as VNPost
//! signs its pushes to us: `X-Timestamp: <unix seconds>` and `X-Signature: sha256=<hex
//! HMAC-SHA256 over "<timestamp>.<body>">` with the shared secret, and `X-Request-ID` (the same on
//! every try of a batch; the body too). Through the outbox like any message: in order per
//! dossier, retried with back-off, dead-lettered with the reason.
//!
//! - `config`: `[peers.local_webhook]` and its `check`.
//! - `classify`: the answer's HTTP status as a verdict.
//!
//! What it must not do: store anything, or put the secret or the body in a log line.

mod classify;
mod config;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::peer::registry::Family;
use crate::peer::{BatchVerdict, Peer};

pub use classify::classify;
pub use config::WebhookConfig;

/// The name webhook messages are queued under (one destination: `""`).
pub const PEER_WEBHOOK: &str = "local_webhook";
/// One or more postal events of the local system's dossiers.
pub const OP_POSTAL_EVENT: &str = "postal_event";

/// The webhook in the peer registry: its messages are queued by the postal service.
pub const FAMILY: Family = Family {
    name: PEER_WEBHOOK,
    describe: "local webhook",
    takes: &[],
    operations: &[OP_POSTAL_EVENT],
};

/// The signature of `body` sent at `timestamp` (`sha256=<hex>`).
pub fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    crate::settings::timestamped_signature(secret, timestamp, body)
}

/// The webhook peer.
pub struct WebhookPeer {
    http: crate::peer::http::PeerHttp,
    url: reqwest::Url,
    secret: SecretString,
    max_batch: usize,
}

impl std::fmt::Debug for WebhookPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookPeer")
            .field("url", &crate::settings::redact_url(self.url.as_str()))
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl WebhookPeer {
    /// Builds the peer, reading the secret now (a relative `secret_file` from `base_dir`).
    pub fn new_in(cfg: &WebhookConfig, base_dir: &Path, timeout: Duration) -> Result<Self, String> {
        if timeout.is_zero() {
            return Err("peers.local_webhook.policy.timeout_ms: must be greater than 0".into());
        }
        let problems = cfg.check(base_dir);
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        let url =
            reqwest::Url::parse(&cfg.url).map_err(|e| format!("peers.local_webhook.url: {e}"))?;
        Ok(Self {
            http: crate::peer::http::PeerHttp::new(
                "local_webhook",
                timeout,
                &cfg.tls.resolved(base_dir),
            )?,
            url,
            secret: cfg.read_secret(base_dir)?,
            max_batch: cfg.max_batch,
        })
    }
}

#[async_trait]
impl Peer for WebhookPeer {
    fn name(&self) -> &str {
        PEER_WEBHOOK
    }

    fn max_batch(&self, _operation: &str) -> usize {
        self.max_batch
    }

    fn build_body(&self, _operation: &str, _is_update: bool, items: &[Value]) -> Value {
        json!({ "events": items })
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
        if operation != OP_POSTAL_EVENT {
            return (
                BatchVerdict::Reject {
                    reason: format!(
                        "unknown webhook operation \"{}\"",
                        operation.escape_default()
                    ),
                },
                None,
            );
        }
        // Encoding a `Value` is deterministic: every try sends the same bytes.
        let bytes = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => {
                return (
                    BatchVerdict::Reject {
                        reason: format!("the stored body cannot be encoded: {e}"),
                    },
                    None,
                )
            }
        };
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign(&self.secret, &timestamp, &bytes);
        let sent = self
            .http
            .client()
            .post(self.url.clone())
            .header("content-type", "application/json; charset=utf-8")
            .header("x-request-id", request_id.to_string())
            .header("x-timestamp", timestamp)
            .header("x-signature", signature)
            .body(bytes)
            .send()
            .await;
        let answer = match sent {
            Ok(r) => crate::peer::http::read_answer(r).await,
            Err(e) => Err(e),
        };
        let verdict = match answer {
            Ok(a) => {
                let hash = {
                    use sha2::Digest;
                    hex::encode(Sha256::digest(&a.body))
                };
                let items = body
                    .get("events")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let v = classify(a.status, a.retry_after.as_deref(), items, SystemTime::now());
                tracing::debug!(%request_id, status = a.status, "local webhook: answered");
                return (v, Some(hash));
            }
            Err(e) => BatchVerdict::Retry {
                reason: crate::peer::http::describe_transport_error(&e),
                after: None,
            },
        };
        tracing::info!(%request_id, ?verdict, "local webhook: not reached");
        (verdict, None)
    }
}
