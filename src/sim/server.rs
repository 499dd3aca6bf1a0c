//! The simulator's HTTP/1.1 server. Connections are served with hyper directly (not through
//! axum's `serve`) because a fault must be able to close a connection without an answer: the
//! handler returns [`ConnectionDropped`] and hyper then closes the socket, which nothing treats as
//! a panic. Routing lives here; what each route means lives in `dvcqg.rs`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dvcqg::{self, Endpoint, Reply};
use super::faults::Fault;
use super::Simulator;

/// Bodies above this are refused with 413; the largest real batch (50 dossiers) is far smaller.
const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// How long open connections get to finish once shutdown is asked.
const DRAIN: Duration = Duration::from_secs(5);

/// The answer to a call that must get none: hyper closes the connection.
#[derive(Debug)]
pub(super) struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for ConnectionDropped {}

/// Serves the simulator on `listener` until `shutdown` is cancelled, then lets open connections
/// finish (bounded) and returns.
pub async fn serve(
    listener: TcpListener,
    sim: Simulator,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_http(
        listener,
        move |req| {
            let sim = sim.clone();
            async move { route(&sim, req).await }
        },
        shutdown,
        "simulator",
    )
    .await
}

/// The accept loop every simulated peer shares: one HTTP/1 connection task per client, each
/// request answered by `handle`, until `shutdown`; then open connections get [`DRAIN`] to finish.
pub(super) async fn serve_http<F, Fut>(
    listener: TcpListener,
    handle: F,
    shutdown: CancellationToken,
    what: &'static str,
) -> std::io::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, ConnectionDropped>>
        + Send
        + 'static,
{
    let connections = TaskTracker::new();
    loop {
        let (stream, _peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Running out of file descriptors under a benchmark must not end the
                    // server; back off a little and accept again.
                    tracing::warn!(error = %e, what, "simulator cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(handle);
            // The timer arms hyper's default header-read timeout, so idle or half-open
            // connections from a crashed client do not pile up during long benchmarks.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, what, "simulator connection ended");
            }
        });
    }
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            what,
            "simulator connections still open after the drain time; leaving them"
        );
    }
    Ok(())
}

async fn route(
    sim: &Simulator,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = req.into_parts();
    let endpoint = match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/sim/stats") => {
            return Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&sim.stats()).unwrap_or_default().into(),
            ));
        }
        (&Method::POST, "/sim/expire-sessions") => {
            sim.expire_sessions();
            return Ok(plain(StatusCode::NO_CONTENT, ""));
        }
        (&Method::GET, "/sim/catalog") => {
            return Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&sim.catalog().counts())
                    .unwrap_or_default()
                    .into(),
            ));
        }
        (&Method::POST, path) if path.starts_with("/sim/catalog/") => {
            let action = &path["/sim/catalog/".len()..];
            let body = match Limited::new(body, BODY_LIMIT).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => return Ok(plain(StatusCode::BAD_REQUEST, "body could not be read")),
            };
            let (status, answer) = sim.catalog().control(action, &body);
            return Ok(json_response(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                serde_json::to_vec(&answer).unwrap_or_default().into(),
            ));
        }
        (&Method::POST, "/auth") => Endpoint::Auth,
        (&Method::POST, "/oauth/token") => Endpoint::Token,
        (&Method::POST, "/integration") => Endpoint::Integration,
        (&Method::POST, "/share") => Endpoint::Share,
        (&Method::POST, "/Document/SyncDocument") => Endpoint::SyncDocument,
        (_, "/auth" | "/oauth/token" | "/integration" | "/share" | "/Document/SyncDocument") => {
            sim.count_request();
            return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
        }
        _ => {
            sim.count_request();
            return Ok(plain(StatusCode::NOT_FOUND, "not found"));
        }
    };
    sim.count_request();

    let fault = match endpoint {
        Endpoint::Integration | Endpoint::Share | Endpoint::SyncDocument => sim.faults().next(),
        Endpoint::Auth | Endpoint::Token => None,
    };
    let mut drop_after = false;
    let mut lose = false;
    let mut late_by = None;
    let mut injected = dvcqg::Injected::default();
    match fault {
        Some(Fault::Http503 { retry_after }) => {
            return Ok(with_retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                &retry_after.header_value(),
            ));
        }
        Some(Fault::Http429 { retry_after }) => {
            return Ok(with_retry_after(
                StatusCode::TOO_MANY_REQUESTS,
                &retry_after.header_value(),
            ));
        }
        Some(Fault::Http500) => {
            return Ok(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ))
        }
        Some(Fault::Slow { delay }) => tokio::time::sleep(delay).await,
        Some(Fault::SlowAfterApply { delay }) => late_by = Some(delay),
        Some(Fault::DropBeforeApply) => return Err(ConnectionDropped),
        Some(Fault::DropAfterApply) => drop_after = true,
        Some(Fault::EnvelopeTemporary) => injected.envelope_temporary = true,
        Some(Fault::ItemTemporary { items }) => injected.item_temporary = Some(items),
        Some(Fault::ExpireSessions) => sim.expire_sessions(),
        Some(Fault::Lose) => lose = true,
        None => {}
    }

    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
            }
            return Ok(plain(StatusCode::BAD_REQUEST, "body could not be read"));
        }
    };

    let kept = lose.then(|| sim.snapshot_named(&body));
    let reply = dvcqg::handle(sim, endpoint, &parts.headers, &body, injected);
    if let Some(kept) = kept {
        sim.restore(kept);
    }
    if drop_after {
        return Err(ConnectionDropped);
    }
    if let Some(delay) = late_by {
        tokio::time::sleep(delay).await;
    }
    let mut resp = match reply {
        Reply::Json(status, body) => json_response(status, body),
        Reply::Unavailable => with_retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            &sim.settings().faults.retry_after_secs.max(1).to_string(),
        ),
        Reply::Xml(status, body) => {
            let mut resp = json_response(status, body);
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/xml; charset=utf-8"),
            );
            resp
        }
    };
    // Echoed so a client's logs can pair an answer with its batch.
    if let Some(id) = parts.headers.get("x-request-id") {
        resp.headers_mut().insert("x-request-id", id.clone());
    }
    Ok(resp)
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn with_retry_after(status: StatusCode, retry_after: &str) -> Response<Full<Bytes>> {
    let mut resp = plain(
        status,
        if status == StatusCode::TOO_MANY_REQUESTS {
            "Too Many Requests"
        } else {
            "Service Unavailable"
        },
    );
    if let Ok(v) = HeaderValue::from_str(retry_after) {
        resp.headers_mut().insert(RETRY_AFTER, v);
    }
    resp
}
