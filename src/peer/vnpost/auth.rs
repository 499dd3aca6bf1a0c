//! The bearer token every VNPost call carries (vnpost.md, "Authentication"): OAuth2 client
//! credentials, `POST /token` with `Authorization: Basic base64(key:secret)` and the form
//! `grant_type=client_credentials`.
//!
//! One cached token per peer behind an async mutex: concurrent callers wait for one token
//! request instead of each asking. A token is renewed before it runs out ([`renew_after`]), so a
//! call never leaves with one about to expire. A caller whose token was refused (HTTP 401)
//! hands it back to [`TokenCache::invalidate`], which drops it only if nobody has replaced it
//! yet, so a burst of 401s causes one new token, not one per call.
//!
//! Secrets stay in `SecretString`s; nothing here logs or formats them.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Client, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use super::client::X_REQUEST_ID;
use crate::peer::classify::parse_retry_after;
use crate::peer::http::describe_transport_error;

/// Used when the token answer names no lifetime.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The most a token is renewed ahead of its end.
const MAX_MARGIN: Duration = Duration::from_secs(60);

/// When to ask for a new token: when less than a minute or a tenth of its life remains,
/// whichever is shorter (a 1-hour token is renewed after 59 minutes, a 10-second one after 9).
pub(super) fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(MAX_MARGIN.min(lifetime / 10))
}

/// A token and when to stop using it.
#[derive(Clone)]
pub(super) struct Token {
    value: SecretString,
    renew_at: Instant,
}

impl Token {
    /// The `Authorization` header value, marked sensitive for the HTTP client's own logging.
    pub(super) fn header(&self) -> Option<HeaderValue> {
        let mut v =
            HeaderValue::from_str(&format!("Bearer {}", self.value.expose_secret())).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Replaces the token's text in `text`, in case VNPost echoes it in a message.
    pub(super) fn mask(&self, text: String) -> String {
        let secret = self.value.expose_secret();
        if secret.len() >= 4 && text.contains(secret) {
            text.replace(secret, "***")
        } else {
            text
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AuthError {
    /// VNPost refused our consumer key or secret: nothing works until the config changes.
    Refused(String),
    /// Not now (transport, 5xx, an unreadable answer): try again later.
    Temporary {
        reason: String,
        after: Option<Duration>,
    },
}

/// The consumer's credentials and the cached token.
pub(super) struct TokenCache {
    token_url: Url,
    consumer_key: String,
    consumer_secret: SecretString,
    token: Mutex<Option<Token>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("token_url", &self.token_url.as_str())
            .field("consumer_key", &self.consumer_key)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Value,
    #[serde(default)]
    error: Option<String>,
}

impl TokenCache {
    pub(super) fn new(token_url: Url, consumer_key: String, consumer_secret: SecretString) -> Self {
        TokenCache {
            token_url,
            consumer_key,
            consumer_secret,
            token: Mutex::new(None),
        }
    }

    /// The current token, asking for one first if there is none or it is due for renewal.
    /// Concurrent callers wait on the lock, so one request serves them all.
    pub(super) async fn token(&self, http: &Client) -> Result<Token, AuthError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        let token = self.fetch(http).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets `stale` if it is still the cached token, so the next [`TokenCache::token`] asks
    /// for a new one.
    pub(super) async fn invalidate(&self, stale: &Token) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == stale.value.expose_secret())
        {
            *cached = None;
        }
    }

    fn basic(&self) -> Option<HeaderValue> {
        let pair = format!(
            "{}:{}",
            self.consumer_key,
            self.consumer_secret.expose_secret()
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        let mut v = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    async fn fetch(&self, http: &Client) -> Result<Token, AuthError> {
        tracing::info!(consumer_key = %self.consumer_key, "vnpost: asking for a token");
        let temporary = |reason: String| AuthError::Temporary {
            reason,
            after: None,
        };
        let basic = self.basic().ok_or_else(|| {
            AuthError::Refused("the consumer key or secret cannot be sent in a header".into())
        })?;
        let started = Instant::now();
        let response = http
            .post(self.token_url.clone())
            .header(X_REQUEST_ID, Uuid::new_v4().to_string())
            .header(AUTHORIZATION, basic)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| temporary(format!("/token: {}", describe_transport_error(&e))))?;
        let status = response.status().as_u16();
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = response
            .bytes()
            .await
            .map_err(|e| temporary(format!("/token: {}", describe_transport_error(&e))))?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&bytes).ok();
        let oauth_error = answer
            .as_ref()
            .and_then(|a| a.error.clone())
            .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_default();
        let describe = || {
            format!("/token answered HTTP {status} {oauth_error}")
                .trim_end()
                .to_string()
        };
        let refused = matches!(status, 401 | 403)
            || matches!(
                oauth_error.as_str(),
                "invalid_client" | "unauthorized_client" | "invalid_grant" | "access_denied"
            );
        if refused {
            return Err(AuthError::Refused(describe()));
        }
        if !(200..300).contains(&status) {
            return Err(AuthError::Temporary {
                reason: describe(),
                after,
            });
        }
        let Some(answer) = answer else {
            return Err(temporary(format!(
                "/token answer unreadable ({} bytes)",
                bytes.len()
            )));
        };
        if let Some(kind) = answer.token_type.as_deref() {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(temporary(format!(
                    "/token answered token_type \"{}\", not Bearer",
                    kind.escape_default()
                )));
            }
        }
        let Some(value) = answer.access_token.filter(|t| !t.is_empty()) else {
            return Err(temporary("/token answer without access_token".into()));
        };
        let lifetime = match &answer.expires_in {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME);
        tracing::info!(expires_in_s = lifetime.as_secs(), "vnpost: got a token");
        Ok(Token {
            value: SecretString::from(value),
            // Counted from when we asked, not from when the answer arrived.
            renew_at: started + renew_after(lifetime),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_a_minute_or_a_tenth_of_their_life_early() {
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(
            renew_after(Duration::from_secs(300)),
            Duration::from_secs(270)
        );
        assert_eq!(renew_after(Duration::from_secs(10)), Duration::from_secs(9));
        assert_eq!(
            renew_after(Duration::from_secs(1)),
            Duration::from_millis(900)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn nothing_secret_in_debug() {
        let cache = TokenCache::new(
            Url::parse("https://api.vnpost.example/token").expect("url"),
            "key-1".into(),
            SecretString::from("consumer-Secret-42"),
        );
        let token = Token {
            value: SecretString::from("tok-Very-Secret"),
            renew_at: Instant::now(),
        };
        let printed = format!("{cache:?} {token:?}");
        assert!(!printed.contains("consumer-Secret-42"), "{printed}");
        assert!(!printed.contains("tok-Very-Secret"), "{printed}");
        assert_eq!(
            token.mask("bad token tok-Very-Secret".into()),
            "bad token ***"
        );
        let basic = cache.basic().expect("header");
        assert!(basic.is_sensitive());
        assert_eq!(
            basic.to_str().expect("ascii"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("key-1:consumer-Secret-42")
            )
        );
    }
}
