//! The HTTP side of the commune peer: the reqwest client, the signature, and one signed `PUT`
//! or `DELETE` of already-encoded bytes. No decision about what an answer means is made here
//! (that is `classify`), and nothing here encodes a body: the caller encodes the stored body once
//! and every retry sends the same bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::peer::http::{read_answer, Answer};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, Method, Url};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

pub(super) const X_REQUEST_ID: &str = "x-request-id";
pub(super) const X_TIMESTAMP: &str = "x-lienthong-timestamp";
pub(super) const X_SIGNATURE: &str = "x-lienthong-signature";
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// One call: where, how, and the exact bytes.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) request_id: Uuid,
    /// Empty for `DELETE`.
    pub(super) body: Bytes,
    pub(super) secret: &'a SecretString,
}

/// `sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">` with `secret` as the key (commune.md).
pub(super) fn signature(secret: &SecretString, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails; the fallback keeps it panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends `call`, stamped and signed now.
pub(super) async fn send(http: &Client, call: Call<'_>) -> Result<Answer, reqwest::Error> {
    // A clock before 1970 would sign timestamp 0, which the subscriber refuses with a 401.
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut request = http
        .request(call.method.clone(), call.url)
        .header(X_REQUEST_ID, call.request_id.to_string())
        .header(X_TIMESTAMP, timestamp.to_string())
        .header(X_SIGNATURE, signature(call.secret, timestamp, &call.body));
    if call.method == Method::PUT {
        request = request.header(CONTENT_TYPE, JSON_UTF8);
    }
    read_answer(request.body(call.body).send().await?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's examples (`spec/examples/commune-*-headers.txt`), secret `example-secret`.
    #[test]
    fn signatures_match_the_spec_examples() {
        let secret = SecretString::from("example-secret");
        assert_eq!(
            signature(&secret, 1_793_930_405, b""),
            "sha256=43b823b48a8758598f303522f68d56daf9d37f15b7c82f6b0da443362617d0c0"
        );
        let upsert = include_bytes!("../../../fixtures/commune/upsert-request.json");
        assert_eq!(upsert.len(), 9690);
        assert_eq!(
            signature(&secret, 1_793_930_404, upsert),
            "sha256=1cf14ef343f9f19221ee1b138d52f73b659586ae88bd5d048e7b72072967433a"
        );
    }
}
