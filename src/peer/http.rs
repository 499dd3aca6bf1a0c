//! What every peer's HTTP client shares: one way to build it (rustls, the policy's timeout, no
//! redirects, our user agent) and one way to say what went wrong on the wire.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::RETRY_AFTER;
use reqwest::{Client, Response};

/// An HTTP answer, whatever its status: what a peer's `classify` reads.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The `Retry-After` header as sent, if any.
    pub retry_after: Option<String>,
    pub body: Bytes,
}

/// Reads `response` whole into an [`Answer`].
pub async fn read_answer(response: Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// The HTTP client of a peer: rustls with the system's roots (verification always on),
/// `timeout` for a whole call, redirects never followed.
pub fn build_http(timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A transport failure in words, without the URL (which could carry credentials).
pub fn describe_transport_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "answer broken off"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}
