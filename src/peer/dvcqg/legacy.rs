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
use quick_xml::events::Event;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, Url};
use secrecy::ExposeSecret;
use serde_json::Value;
use uuid::Uuid;

use super::auth::{sensitive_header, Auth, AuthError, Credential};
use super::classify::{parse_retry_after, Classified};
use super::client::{build_http, describe_transport_error, LGSP_ACCESS_TOKEN, X_REQUEST_ID};
use super::{build_auth, parse_http_url, DvcqgError};
use crate::config::{DvcqgAuth, LgspSyncConfig};
use crate::peer::{BatchVerdict, ItemVerdict, Peer};

/// The peer name messages for this route are queued under.
pub const PEER_LGSP_SYNC: &str = "lgsp_sync";
/// The one operation of the route.
pub const OP_SYNC_DOCUMENT: &str = "SyncDocument";

const XML_UTF8: &str = "application/xml; charset=utf-8";

/// The legacy document-sync peer.
pub struct LgspSyncPeer {
    http: Client,
    url: Url,
    auth: Auth,
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
        let http = build_http(timeout)
            .map_err(|e| DvcqgError::Config(format!("cannot build the HTTP client: {e}")))?;
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
        })
    }

    async fn post(
        &self,
        request_id: Uuid,
        xml: &str,
        credential: &Credential,
    ) -> Result<(u16, Option<String>, bytes::Bytes), reqwest::Error> {
        let mut request = self
            .http
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
        let response = request.body(xml.to_string()).send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await?;
        Ok((status, retry_after, body))
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
            let credential = match self.auth.credential(&self.http).await {
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
                Ok((status, retry_after, answer)) => {
                    classify_sync(status, retry_after.as_deref(), &answer, SystemTime::now())
                }
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

/// What an answer of `SyncDocument` means. Pure, so every case is tested without a server.
///
/// - HTTP 200 with `<MResult><Status>1</Status>`: delivered.
/// - HTTP 200 with `Status` 0: refused, with the platform's message (dead letter; an operator
///   fixes the record or the mapping and replays).
/// - HTTP 200 that is not a readable `MResult`: we cannot tell whether it was applied, so the
///   same document goes again (safe: a document sync is a whole-state write).
/// - 401: the token expired (one fresh token, then repeat); 403: credentials refused (pause).
/// - 408, 429, 5xx: later, obeying `Retry-After`; any other 4xx: the request itself is wrong.
pub fn classify_sync(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    now: SystemTime,
) -> Classified {
    let after = retry_after.and_then(|v| parse_retry_after(v, now));
    match status {
        200..=299 => match read_mresult(body) {
            Some((1, _)) => Classified::Items(vec![ItemVerdict::Delivered]),
            Some((code, message)) => Classified::Items(vec![ItemVerdict::Reject {
                reason: format!("SyncDocument Status {code}: {}", message.trim()),
            }]),
            None => Classified::Retry {
                reason: format!(
                    "HTTP {status} without a readable MResult ({} bytes)",
                    body.len()
                ),
                after,
            },
        },
        401 => Classified::Reauth {
            reason: "HTTP 401: token refused".into(),
        },
        403 => Classified::Paused {
            reason: "HTTP 403: the platform refuses this client".into(),
        },
        408 | 429 | 500..=599 => Classified::Retry {
            reason: format!("HTTP {status}"),
            after,
        },
        _ => Classified::Reject {
            reason: format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)]).trim()
            ),
        },
    }
}

/// `(Status, Message)` of an `<MResult>`, or `None` if the body is not one.
fn read_mresult(body: &[u8]) -> Option<(i64, String)> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let (mut status, mut message) = (None, String::new());
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_vec());
                if path.len() == 1 && path[0] != b"MResult" {
                    return None;
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().ok()?;
                match path.last().map(Vec::as_slice) {
                    Some(b"Status") if path.len() == 2 => status = text.trim().parse().ok(),
                    Some(b"Message") if path.len() == 2 => message.push_str(&text),
                    _ => {}
                }
            }
            Event::DocType(_) => return None,
            Event::Eof => break,
            _ => {}
        }
    }
    status.map(|s| (s, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(c: Classified) -> Vec<ItemVerdict> {
        match c {
            Classified::Items(v) => v,
            other => panic!("expected items, got {other:?}"),
        }
    }

    #[test]
    fn status_one_is_delivered() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MResult>\n  <Status>1</Status>\n  <Message>Đồng bộ hồ sơ thành công</Message>\n</MResult>\n";
        let v = items(classify_sync(200, None, body.as_bytes(), SystemTime::now()));
        assert_eq!(v, vec![ItemVerdict::Delivered]);
    }

    #[test]
    fn status_zero_is_refused_with_the_message() {
        let body = "<MResult><Status>0</Status><Message>Mã hồ sơ &amp; trạng thái không hợp lệ</Message></MResult>";
        let v = items(classify_sync(200, None, body.as_bytes(), SystemTime::now()));
        assert_eq!(
            v,
            vec![ItemVerdict::Reject {
                reason: "SyncDocument Status 0: Mã hồ sơ & trạng thái không hợp lệ".into()
            }]
        );
    }

    #[test]
    fn unreadable_success_is_retried_not_dropped() {
        for body in [
            "",
            "<html>proxy</html>",
            "{\"Status\":1}",
            "<MResult><Status>x",
        ] {
            let c = classify_sync(200, None, body.as_bytes(), SystemTime::now());
            assert!(matches!(c, Classified::Retry { .. }), "{body}: {c:?}");
        }
    }

    #[test]
    fn http_statuses() {
        let now = SystemTime::now();
        assert!(matches!(
            classify_sync(401, None, b"", now),
            Classified::Reauth { .. }
        ));
        assert!(matches!(
            classify_sync(403, None, b"", now),
            Classified::Paused { .. }
        ));
        match classify_sync(503, Some("7"), b"", now) {
            Classified::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_sync(429, None, b"", now),
            Classified::Retry { .. }
        ));
        assert!(matches!(
            classify_sync(400, None, b"bad xml", now),
            Classified::Reject { .. }
        ));
    }

    #[test]
    fn session_auth_is_refused_for_the_legacy_route() {
        let cfg = LgspSyncConfig {
            base_url: "http://127.0.0.1:1".into(),
            auth: DvcqgAuth::Session {
                dstcode: "H56".into(),
                username: "u".into(),
                password: Some("p".to_string().into()),
                password_file: None,
            },
            policy: Default::default(),
        };
        let err = LgspSyncPeer::new(&cfg, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("peers.lgsp_sync.auth.mode"), "{err}");
    }
}
