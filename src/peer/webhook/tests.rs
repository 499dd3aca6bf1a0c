//! The webhook peer against a local server over a real socket: the body, the signature and the
//! request id it sends, and how it reads the answers.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::*;

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn server(status: u16) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push((headers, body));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn peer(url: &str) -> WebhookPeer {
    let cfg: WebhookConfig =
        toml::from_str(&format!("url = \"{url}\"\nsecret = \"hook-secret\"\n")).unwrap();
    WebhookPeer::new_in(&cfg, Path::new("."), Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn a_call_is_signed_over_timestamp_and_body_and_carries_the_request_id() {
    let (url, seen) = server(200).await;
    let p = peer(&url);
    let items = vec![
        json!({"MaHoSo": "D1", "StatusCode": "6"}),
        json!({"MaHoSo": "D2", "StatusCode": "14"}),
    ];
    let body = p.build_body(OP_POSTAL_EVENT, false, &items);
    let id = Uuid::now_v7();
    let verdict = p.send(id, OP_POSTAL_EVENT, &body).await;
    assert_eq!(
        verdict,
        BatchVerdict::Items(vec![crate::peer::ItemVerdict::Delivered; 2])
    );
    let seen = seen.lock().unwrap();
    let (headers, bytes) = &seen[0];
    assert_eq!(headers["x-request-id"], id.to_string().as_str());
    let ts = headers["x-timestamp"].to_str().unwrap();
    let secret = SecretString::from("hook-secret".to_string());
    assert_eq!(headers["x-signature"], sign(&secret, ts, bytes).as_str());
    let got: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(got, json!({"events": items}));
}

#[tokio::test]
async fn refusals_and_failures_are_read_by_status() {
    for (status, want) in [(401u16, "paused"), (503, "retry"), (400, "reject")] {
        let (url, _) = server(status).await;
        let v = peer(&url)
            .send(Uuid::now_v7(), OP_POSTAL_EVENT, &json!({"events": [{}]}))
            .await;
        let got = match v {
            BatchVerdict::Paused { .. } => "paused",
            BatchVerdict::Retry { .. } => "retry",
            BatchVerdict::Reject { .. } => "reject",
            BatchVerdict::Items(_) => "items",
        };
        assert_eq!(got, want, "HTTP {status}");
    }
    // Nobody listening: temporary.
    let v = peer("http://127.0.0.1:9/hook")
        .send(Uuid::now_v7(), OP_POSTAL_EVENT, &json!({"events": [{}]}))
        .await;
    assert!(matches!(v, BatchVerdict::Retry { .. }), "{v:?}");
}
