//! The HTTP side of the DVCQG peer: the reqwest client, one POST of a stored body with the
//! credential added at send time, and the wording of transport failures. No decisions about
//! what an answer means are made here (that is `classify`).

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Url};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use uuid::Uuid;

pub(in crate::peer) use crate::peer::http::{describe_transport_error, read_answer, Answer};

use super::auth::{sensitive_header, Credential};

pub(in crate::peer) const X_REQUEST_ID: &str = "x-request-id";
pub(in crate::peer) const JSON_UTF8: &str = "application/json; charset=utf-8";
pub(in crate::peer) const LGSP_ACCESS_TOKEN: &str = "lgspaccesstoken";

/// POSTs `body` (plus the credential) to `url` under `request_id`.
pub(in crate::peer) async fn post(
    http: &Client,
    url: &Url,
    request_id: Uuid,
    body: &Value,
    credential: &Credential,
) -> Result<Answer, reqwest::Error> {
    let mut request = http
        .post(url.clone())
        .header(X_REQUEST_ID, request_id.to_string())
        .header(CONTENT_TYPE, JSON_UTF8);
    let bytes = match credential {
        Credential::Session(session) => encode(&with_session(body, session.expose_secret())),
        Credential::Bearer {
            token,
            access_header,
        } => {
            if let Some(v) = sensitive_header(&format!("Bearer {}", token.expose_secret())) {
                request = request.header(AUTHORIZATION, v);
            }
            if let Some(v) = access_header
                .as_ref()
                .and_then(|h| sensitive_header(h.expose_secret()))
            {
                request = request.header(LGSP_ACCESS_TOKEN, v);
            }
            encode(body)
        }
    };
    read_answer(request.body(bytes).send().await?).await
}

/// A copy of the stored body with `"session"` first (the stored body never holds it).
pub(in crate::peer) fn with_session(body: &Value, session: &str) -> Value {
    match body {
        Value::Object(fields) => {
            let mut out = Map::with_capacity(fields.len() + 1);
            out.insert("session".into(), Value::String(session.to_string()));
            for (k, v) in fields {
                if k != "session" {
                    out.insert(k.clone(), v.clone());
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn encode(body: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail (its keys are strings).
    serde_json::to_vec(body).unwrap_or_default()
}
