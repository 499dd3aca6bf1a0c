//! `POST /callbacks/vnpost`: VNPost's signed push of tracking events (vnpost.md, "Optional
//! push"). `X-Timestamp` (unix seconds) within 5 minutes of our clock and `X-Signature:
//! sha256=<hex HMAC-SHA256 over "<timestamp>.<raw body>">` with the shared secret, compared in
//! constant time; anything else is 401 and changes nothing. A good call is answered
//! `200 {"received": n}` only after its events are stored; the same events by push and by poll
//! are applied once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::Sha256;

use super::Postal;

/// How far a push's timestamp may be from our clock.
pub const WINDOW_SECONDS: i64 = 300;

/// Why a push is refused (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Timestamp is missing or not unix seconds")]
    Timestamp,
    #[error("X-Timestamp is more than 5 minutes away from the gateway's clock")]
    Stale,
    #[error("X-Signature is missing or not sha256=<64 hex digits>")]
    Format,
    #[error("X-Signature does not match the body")]
    Mismatch,
}

/// The signature VNPost puts on `body` sent at `timestamp` (`sha256=<hex>`).
pub fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    crate::settings::timestamped_signature(secret, timestamp, body)
}

/// Checks a push's headers against `body` at `now_s` (unix seconds).
pub fn verify(
    secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    let ts = timestamp.map(str::trim).ok_or(SignatureError::Timestamp)?;
    let at: i64 = ts.parse().map_err(|_| SignatureError::Timestamp)?;
    if (now_s - at).abs() > WINDOW_SECONDS {
        return Err(SignatureError::Stale);
    }
    let presented = signature
        .map(str::trim)
        .and_then(|s| s.strip_prefix("sha256="))
        .filter(|h| h.len() == 64)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Format)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&presented)
        .map_err(|_| SignatureError::Mismatch)
}

/// The largest push body taken (`postal.callback_max_events` events of about 400 bytes fit).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The push route (answers 404 while `postal.callback_secret` is not set).
pub fn router(postal: Arc<Postal>) -> Router {
    Router::new()
        .route("/callbacks/vnpost", post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(postal)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn receive(State(postal): State<Arc<Postal>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = postal.callback_secret() else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "pushes are not taken here: postal.callback_secret is not set"}),
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now_s = chrono::Utc::now().timestamp();
    if let Err(e) = verify(
        secret,
        header("x-timestamp"),
        header("x-signature"),
        &body,
        now_s,
    ) {
        tracing::warn!(reason = %e, "postal: push refused");
        return answer(StatusCode::UNAUTHORIZED, json!({"error": e.to_string()}));
    }
    let (events, bad) = match crate::peer::vnpost::parse_pushed(&body) {
        Ok(v) => v,
        Err(e) => {
            return answer(StatusCode::BAD_REQUEST, json!({"error": e}));
        }
    };
    if events.len() + bad.len() > postal.callback_max_events() {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("more than {} events in one push", postal.callback_max_events())}),
        );
    }
    for b in &bad {
        tracing::warn!(event = %b, "postal: pushed event unreadable; skipped");
    }
    match postal.apply(&events, "push", None).await {
        Ok(applied) => {
            let rejected: Vec<String> = bad.iter().map(|b| b.to_string()).collect();
            answer(
                StatusCode::OK,
                json!({"received": events.len(), "new": applied.new, "rejected": rejected}),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "postal: push not stored; VNPost will repeat it");
            let mut r = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "the events could not be stored now; nothing was stored"}),
            );
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Known answer computed independently (Python's hmac module).
        let secret = SecretString::from("province-secret".to_string());
        let body = br#"[{"a":1}]"#;
        let sig = "sha256=362ce515d10d0461490b3a3adee44d65391ee5e7301dec63c5ae8574c857fdc1";
        assert_eq!(sign(&secret, "1800000000", body), sig);
        assert_eq!(
            verify(&secret, Some("1800000000"), Some(sig), body, 1_800_000_060),
            Ok(())
        );
        assert_eq!(
            verify(
                &secret,
                Some("1800000000"),
                Some(sig),
                br#"[{"a":2}]"#,
                1_800_000_000
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_unsigned_and_malformed_pushes_are_refused() {
        let secret = SecretString::from("s3cret".to_string());
        let body = br#"[]"#;
        let now = 1_800_000_000;
        let ts = now.to_string();
        let good = sign(&secret, &ts, body);
        assert_eq!(verify(&secret, Some(&ts), Some(&good), body, now), Ok(()));
        assert_eq!(
            verify(&secret, Some(&ts), Some(&good), body, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secret, Some(&ts), Some(&good), body, now - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secret, None, Some(&good), body, now),
            Err(SignatureError::Timestamp)
        );
        assert_eq!(
            verify(&secret, Some(&ts), None, body, now),
            Err(SignatureError::Format)
        );
        assert_eq!(
            verify(&secret, Some(&ts), Some("sha256=zz"), body, now),
            Err(SignatureError::Format)
        );
        let other = sign(&SecretString::from("other".to_string()), &ts, body);
        assert_eq!(
            verify(&secret, Some(&ts), Some(&other), body, now),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let later = (now + 10).to_string();
        assert_eq!(
            verify(&secret, Some(&later), Some(&good), body, now),
            Err(SignatureError::Mismatch)
        );
    }
}
