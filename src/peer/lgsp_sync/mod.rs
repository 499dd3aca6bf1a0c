//! The legacy XML route as a [`Peer`] (dvcqg.md, "Legacy XML route"): one `MSyncDocument` per
//! `POST <base>/Document/SyncDocument`, `Content-Type: application/xml`, with the LGSP bearer
//! token. The answer is `<MResult><Status>1|0</Status><Message>…</Message></MResult>`.
//!
//! The queued item is the XML document itself (a JSON string, rendered by the source's
//! `sync_document` mapping at ingest), so every retry sends the same bytes under the same
//! `X-Request-ID`. A document sync is a whole-state write keyed by `DocCode`: sending it again
//! after a lost answer leaves the platform as it was.
//!
//! What this module must not do: store anything, retry on its own beyond the single repeat after
//! a fresh token, or let the token reach a log line, an error or a `Debug` string.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use secrecy::ExposeSecret;
use serde_json::Value;
use uuid::Uuid;

use crate::peer::classify::{Classified, ClassifyRule};
use crate::peer::dvcqg::auth::{sensitive_header, Auth, AuthError, Credential};
use crate::peer::dvcqg::client::{describe_transport_error, LGSP_ACCESS_TOKEN, X_REQUEST_ID};
use crate::peer::dvcqg::config::DvcqgAuth;
use crate::peer::dvcqg::{build_auth, parse_http_url, DvcqgError};
use crate::peer::http::{read_answer, Answer};
use crate::peer::registry::{Family, Takes};
use crate::peer::{BatchVerdict, Peer};
use crate::store::HeaderRule;

pub use classify::classify_sync;
pub use config::LgspSyncConfig;

pub mod classify;
pub mod config;
#[cfg(test)]
mod tests;

/// The legacy route in the peer registry: dossiers rendered as `MSyncDocument`.
pub const FAMILY: Family = Family {
    describe: "legacy",
    name: PEER_LGSP_SYNC,
    takes: &[Takes {
        target: crate::mapping::Target::SyncDocument,
        operation: OP_SYNC_DOCUMENT,
        header: HeaderRule::Free,
    }],
    operations: &[OP_SYNC_DOCUMENT],
};

/// The peer name messages for this route are queued under.
pub const PEER_LGSP_SYNC: &str = "lgsp_sync";
/// The one operation of the route.
pub const OP_SYNC_DOCUMENT: &str = "SyncDocument";

const XML_UTF8: &str = "application/xml; charset=utf-8";

/// The legacy document-sync peer.
pub struct LgspSyncPeer {
    http: crate::peer::http::PeerHttp,
    url: Url,
    auth: Auth,
    rules: Vec<ClassifyRule>,
}

impl fmt::Debug for LgspSyncPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LgspSyncPeer")
            .field("url", &self.url.as_str())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl LgspSyncPeer {
    /// Builds the peer from config, resolving its secrets (value or file) now.
    /// `timeout` is the peer's delivery policy's call timeout.
    pub fn new(cfg: &LgspSyncConfig, timeout: Duration) -> Result<Self, DvcqgError> {
        if timeout.is_zero() {
            return Err(DvcqgError::Config(
                "peers.lgsp_sync: the call timeout must be greater than 0".into(),
            ));
        }
        if matches!(cfg.auth, DvcqgAuth::Session { .. }) {
            return Err(DvcqgError::Config(
                "peers.lgsp_sync.auth.mode: the legacy route takes only the LGSP bearer token (mode = \"lgsp\")".into(),
            ));
        }
        let http = crate::peer::http::PeerHttp::new("lgsp_sync", timeout, &cfg.tls)
            .map_err(DvcqgError::Config)?;
        let url = parse_http_url(
            "peers.lgsp_sync.base_url",
            &format!(
                "{}/Document/SyncDocument",
                cfg.base_url.trim_end_matches('/')
            ),
        )?;
        Ok(Self {
            http,
            url,
            auth: build_auth("peers.lgsp_sync", &cfg.base_url, &cfg.auth)?,
            rules: cfg.classify.clone(),
        })
    }

    async fn post(
        &self,
        request_id: Uuid,
        xml: &str,
        credential: &Credential,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .http
            .client()
            .post(self.url.clone())
            .header(X_REQUEST_ID, request_id.to_string())
            .header(CONTENT_TYPE, XML_UTF8);
        if let Credential::Bearer {
            token,
            access_header,
        } = credential
        {
            if let Some(v) = sensitive_header(&format!("Bearer {}", token.expose_secret())) {
                request = request.header(AUTHORIZATION, v);
            }
            if let Some(v) = access_header
                .as_ref()
                .and_then(|h| sensitive_header(h.expose_secret()))
            {
                request = request.header(LGSP_ACCESS_TOKEN, v);
            }
        }
        read_answer(request.body(xml.to_string()).send().await?).await
    }
}

#[async_trait]
impl Peer for LgspSyncPeer {
    fn name(&self) -> &str {
        PEER_LGSP_SYNC
    }

    fn max_batch(&self, _operation: &str) -> usize {
        1
    }

    /// The body is the one document of the batch, as rendered at ingest.
    fn build_body(&self, _operation: &str, _is_update: bool, items: &[Value]) -> Value {
        items.first().cloned().unwrap_or(Value::Null)
    }

    async fn send(&self, request_id: Uuid, operation: &str, body: &Value) -> BatchVerdict {
        let Some(xml) = body.as_str() else {
            return BatchVerdict::Reject {
                reason: "the stored body is not an XML document (expected a string)".into(),
            };
        };
        let mut repeated_after_login = false;
        let verdict = loop {
            let credential = match self.auth.credential(&self.http.client()).await {
                Ok(c) => c,
                Err(AuthError::Refused(reason)) => {
                    break BatchVerdict::Paused {
                        reason: format!("login refused: {reason}"),
                    }
                }
                Err(AuthError::Temporary(reason)) => {
                    break BatchVerdict::Retry {
                        reason: format!("cannot log in: {reason}"),
                        after: None,
                    }
                }
            };
            let classified = match self.post(request_id, xml, &credential).await {
                Ok(answer) => classify_sync(
                    answer.status,
                    answer.retry_after.as_deref(),
                    &answer.body,
                    &self.rules,
                    SystemTime::now(),
                ),
                Err(e) => Classified::Retry {
                    reason: describe_transport_error(&e),
                    after: None,
                },
            };
            match classified {
                Classified::Reauth { .. } if !repeated_after_login => {
                    tracing::info!(%request_id, "lgsp_sync: token refused; fetching a new one and repeating once");
                    self.auth.invalidate(&credential).await;
                    repeated_after_login = true;
                }
                other => break other.map_reasons(|r| credential.mask(r)).into_verdict(),
            }
        };
        match &verdict {
            BatchVerdict::Items(_) => {
                tracing::debug!(%request_id, operation, "lgsp_sync: document answered")
            }
            BatchVerdict::Retry { reason, .. } => {
                tracing::info!(%request_id, operation, %reason, "lgsp_sync: document to retry")
            }
            BatchVerdict::Reject { reason } | BatchVerdict::Paused { reason } => {
                tracing::warn!(%request_id, operation, %reason, "lgsp_sync: document not accepted")
            }
        }
        verdict
    }
}
