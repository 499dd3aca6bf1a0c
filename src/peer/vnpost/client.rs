//! The HTTP side of the postal peer: the endpoints under the base URL and one call with the
//! bearer token added at send time. No decision about what an answer means is made here (that
//! is `classify`), and nothing here encodes a stored body: the caller encodes it once and every
//! try sends the same bytes.

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Method, Url};
use uuid::Uuid;

use super::auth::Token;
use crate::peer::http::{read_answer, Answer};

pub(super) const X_REQUEST_ID: &str = "x-request-id";
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The endpoints of one VNPost environment.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    pub(super) token: Url,
    pub(super) order_post: Url,
    pub(super) order_cancel: Url,
    pub(super) tracking: Url,
}

impl Endpoints {
    /// `<base>/token`, `<base>/order/post`, ... whether or not the base ends with a slash.
    pub(super) fn under(base: &Url) -> Result<Self, String> {
        let at = |segments: &[&str]| -> Result<Url, String> {
            let mut url = base.clone();
            url.path_segments_mut()
                .map_err(|()| "the base URL cannot take a path".to_string())?
                .pop_if_empty()
                .extend(segments);
            Ok(url)
        };
        Ok(Endpoints {
            token: at(&["token"])?,
            order_post: at(&["order", "post"])?,
            order_cancel: at(&["order", "cancel"])?,
            tracking: at(&["order", "tracking"])?,
        })
    }
}

/// One call: where, how, under which id, and the exact bytes (`None` for a `GET`).
pub(super) struct Call {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) request_id: Uuid,
    pub(super) body: Option<Bytes>,
}

/// Sends `call` with `token`.
pub(super) async fn send(
    http: &Client,
    call: &Call,
    token: &Token,
) -> Result<Answer, reqwest::Error> {
    let mut request = http
        .request(call.method.clone(), call.url.clone())
        .header(X_REQUEST_ID, call.request_id.to_string());
    if let Some(v) = token.header() {
        request = request.header(AUTHORIZATION, v);
    }
    if let Some(body) = &call.body {
        request = request.header(CONTENT_TYPE, JSON_UTF8).body(body.clone());
    }
    read_answer(request.send().await?).await
}
