//! Getting and keeping the credential every DVCQG call carries: the adapter's own session
//! (`POST /auth`) or an LGSP OAuth2 client-credentials bearer token.
//!
//! One cached credential per peer behind an async mutex: concurrent sends wait for one login
//! instead of each logging in. A caller that found its credential stale hands it back to
//! [`Auth::invalidate`], which drops it only if nobody has replaced it yet, so a burst of
//! "session expired" answers causes one new login, not one per batch.
//!
//! Secrets stay in `SecretString`s; nothing here logs or formats them.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Client, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use uuid::Uuid;

use super::client::{describe_transport_error, X_REQUEST_ID};

/// What one request carries to prove who we are.
#[derive(Clone)]
pub(in crate::peer) enum Credential {
    /// Goes into the body as `"session"`.
    Session(SecretString),
    /// `Authorization: Bearer`, plus the `lgspaccesstoken` header when configured.
    Bearer {
        token: SecretString,
        access_header: Option<SecretString>,
    },
}

impl Credential {
    /// The token itself (session or bearer), for comparison and masking only.
    fn secret(&self) -> &str {
        match self {
            Credential::Session(s) => s.expose_secret(),
            Credential::Bearer { token, .. } => token.expose_secret(),
        }
    }

    /// Replaces the credential's own text in `text` (in case a peer echoes it in a message).
    pub(in crate::peer) fn mask(&self, text: String) -> String {
        let secret = self.secret();
        if secret.len() >= 4 && text.contains(secret) {
            text.replace(secret, "***")
        } else {
            text
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Session(_) => f.write_str("Credential::Session(***)"),
            Credential::Bearer { .. } => f.write_str("Credential::Bearer(***)"),
        }
    }
}

/// Why no credential could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::peer) enum AuthError {
    /// The peer refused our credentials: pause until the config changes.
    Refused(String),
    /// The login could not be done now: try again later.
    Temporary(String),
}

/// How this deployment gets in.
pub(in crate::peer) enum Auth {
    Session(SessionLogin),
    Lgsp(LgspToken),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Session(s) => f
                .debug_struct("Session")
                .field("auth_url", &s.auth_url.as_str())
                .field("dstcode", &s.dstcode)
                .field("username", &s.username)
                .finish_non_exhaustive(),
            Auth::Lgsp(l) => f
                .debug_struct("Lgsp")
                .field("token_url", &l.token_url.as_str())
                .field("client_id", &l.client_id)
                .field("access_header", &l.access_header.is_some())
                .finish_non_exhaustive(),
        }
    }
}

impl Auth {
    /// The current credential, logging in first if there is none (or it is about to expire).
    pub(in crate::peer) async fn credential(&self, http: &Client) -> Result<Credential, AuthError> {
        match self {
            Auth::Session(s) => s.credential(http).await,
            Auth::Lgsp(l) => l.credential(http).await,
        }
    }

    /// Forgets `stale` if it is still the cached credential, so the next
    /// [`Auth::credential`] logs in again.
    pub(in crate::peer) async fn invalidate(&self, stale: &Credential) {
        let stale = stale.secret();
        match self {
            Auth::Session(s) => {
                let mut cached = s.session.lock().await;
                if cached.as_ref().is_some_and(|c| c.expose_secret() == stale) {
                    *cached = None;
                }
            }
            Auth::Lgsp(l) => {
                let mut cached = l.token.lock().await;
                if cached
                    .as_ref()
                    .is_some_and(|c| c.value.expose_secret() == stale)
                {
                    *cached = None;
                }
            }
        }
    }
}

/// The adapter's own `POST /auth` session.
pub(in crate::peer) struct SessionLogin {
    pub(in crate::peer) auth_url: Url,
    pub(in crate::peer) dstcode: String,
    pub(in crate::peer) username: String,
    pub(in crate::peer) password: SecretString,
    pub(in crate::peer) session: Mutex<Option<SecretString>>,
}

#[derive(Deserialize)]
struct LoginAnswer {
    #[serde(default)]
    error_code: Value,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    session: Option<String>,
}

impl SessionLogin {
    async fn credential(&self, http: &Client) -> Result<Credential, AuthError> {
        let mut cached = self.session.lock().await;
        if let Some(session) = cached.as_ref() {
            return Ok(Credential::Session(session.clone()));
        }
        let session = self.login(http).await?;
        *cached = Some(session.clone());
        Ok(Credential::Session(session))
    }

    async fn login(&self, http: &Client) -> Result<SecretString, AuthError> {
        tracing::info!(username = %self.username, "dvcqg: logging in");
        let broken = |e: reqwest::Error| {
            AuthError::Temporary(format!("/auth: {}", describe_transport_error(&e)))
        };
        let body = serde_json::json!({
            "username": self.username,
            "password": self.password.expose_secret(),
        });
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| AuthError::Temporary(format!("cannot encode login: {e}")))?;
        let response = http
            .post(self.auth_url.clone())
            .header(X_REQUEST_ID, Uuid::new_v4().to_string())
            .header(CONTENT_TYPE, super::client::JSON_UTF8)
            .header("dstcode", &self.dstcode)
            .body(bytes)
            .send()
            .await
            .map_err(broken)?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(AuthError::Refused(format!("/auth answered HTTP {status}")));
        }
        if !status.is_success() {
            return Err(AuthError::Temporary(format!(
                "/auth answered HTTP {status}"
            )));
        }
        let bytes = response.bytes().await.map_err(broken)?;
        let answer: LoginAnswer = serde_json::from_slice(&bytes).map_err(|e| {
            AuthError::Temporary(format!(
                "/auth answer unreadable ({} bytes): {e}",
                bytes.len()
            ))
        })?;
        let message = answer.message.unwrap_or_default();
        match code_value(&answer.error_code) {
            Some(0) => match answer.session.filter(|s| !s.is_empty()) {
                Some(session) => {
                    tracing::info!("dvcqg: logged in");
                    Ok(SecretString::from(session))
                }
                None => Err(AuthError::Temporary(
                    "/auth answered success without a session".into(),
                )),
            },
            Some(-1) => Err(AuthError::Refused(format!(
                "/auth error_code -1: {message}"
            ))),
            Some(code) => Err(AuthError::Temporary(format!(
                "/auth error_code {code}: {message}"
            ))),
            None => Err(AuthError::Temporary(format!(
                "/auth answer without a usable error_code: {message}"
            ))),
        }
    }
}

/// OAuth2 client credentials through LGSP.
pub(in crate::peer) struct LgspToken {
    pub(in crate::peer) token_url: Url,
    pub(in crate::peer) client_id: String,
    pub(in crate::peer) client_secret: SecretString,
    /// The ready `lgspaccesstoken` header value (it holds the secret key).
    pub(in crate::peer) access_header: Option<SecretString>,
    pub(in crate::peer) token: Mutex<Option<BearerToken>>,
}

pub(in crate::peer) struct BearerToken {
    value: SecretString,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Value,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Used when the token answer names no lifetime.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// When to fetch a new token: a safety margin before it runs out (a minute, or half the
/// lifetime for short-lived tokens), so a request never leaves with a token about to expire.
pub(in crate::peer) fn refresh_after(lifetime: Duration) -> Duration {
    let margin = Duration::from_secs(60).min(lifetime / 2);
    lifetime.saturating_sub(margin)
}

impl LgspToken {
    async fn credential(&self, http: &Client) -> Result<Credential, AuthError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(self.bearer(&token.value));
        }
        let token = self.fetch(http).await?;
        let credential = self.bearer(&token.value);
        *cached = Some(token);
        Ok(credential)
    }

    fn bearer(&self, token: &SecretString) -> Credential {
        Credential::Bearer {
            token: token.clone(),
            access_header: self.access_header.clone(),
        }
    }

    async fn fetch(&self, http: &Client) -> Result<BearerToken, AuthError> {
        tracing::info!(client_id = %self.client_id, "dvcqg: fetching an LGSP token");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let started = Instant::now();
        let response = http
            .post(self.token_url.clone())
            .header(X_REQUEST_ID, Uuid::new_v4().to_string())
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                AuthError::Temporary(format!("token endpoint: {}", describe_transport_error(&e)))
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            AuthError::Temporary(format!("token endpoint: {}", describe_transport_error(&e)))
        })?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&bytes).ok();
        let oauth_error = answer
            .as_ref()
            .and_then(|a| a.error.clone())
            .unwrap_or_default();
        let describe = |answer: &Option<TokenAnswer>| {
            let detail = answer
                .as_ref()
                .and_then(|a| a.error_description.clone())
                .unwrap_or_default();
            format!("token endpoint answered HTTP {status} {oauth_error} {detail}")
                .trim_end()
                .to_string()
        };
        let refused = matches!(status.as_u16(), 401 | 403)
            || matches!(
                oauth_error.as_str(),
                "invalid_client" | "unauthorized_client" | "invalid_grant" | "access_denied"
            );
        if refused {
            return Err(AuthError::Refused(describe(&answer)));
        }
        if !status.is_success() {
            return Err(AuthError::Temporary(describe(&answer)));
        }
        let Some(answer) = answer else {
            return Err(AuthError::Temporary(format!(
                "token answer unreadable ({} bytes)",
                bytes.len()
            )));
        };
        let Some(value) = answer.access_token.filter(|t| !t.is_empty()) else {
            return Err(AuthError::Temporary(
                "token answer without access_token".into(),
            ));
        };
        let lifetime = code_value(&answer.expires_in)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        tracing::info!(
            expires_in_s = lifetime.as_secs(),
            "dvcqg: got an LGSP token"
        );
        Ok(BearerToken {
            value: SecretString::from(value),
            // Counted from when we asked, not when the answer arrived.
            refresh_at: started + refresh_after(lifetime),
        })
    }
}

/// The `lgspaccesstoken` header value: base64 of a JSON object with these keys, in this order.
pub(in crate::peer) fn lgsp_access_header(
    access_key: &SecretString,
    secret_key: &SecretString,
    app_name: &str,
    partner_code: &str,
    partner_code_cus: &str,
) -> SecretString {
    let json = serde_json::json!({
        "AccessKey": access_key.expose_secret(),
        "SecretKey": secret_key.expose_secret(),
        "AppName": app_name,
        "PartnerCode": partner_code,
        "PartnerCodeCus": partner_code_cus,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    SecretString::from(encoded)
}

/// A header value that HTTP client logging and Debug treat as sensitive.
pub(in crate::peer) fn sensitive_header(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// A number or numeric string as an integer.
fn code_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
