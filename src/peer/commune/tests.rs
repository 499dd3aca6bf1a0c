//! The commune peer over real sockets: against the built-in commune simulator (which checks
//! signatures and versions as a subscriber would) and against a wiremock double that records the
//! exact bytes of every try.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::TimeZone;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::peer::ItemVerdict;
use crate::sim::commune::{self as sim, Availability, CommuneSim};

const TIMEOUT: Duration = Duration::from_secs(5);
const HASH: &str = "sha256:8fcd7ae9a3c22a295037fb0f4a43652c1adbcf9b1d44b653ad728bde90670c67";

fn delivered() -> BatchVerdict {
    BatchVerdict::Items(vec![ItemVerdict::Delivered])
}

/// The one item of `v` told to wait after it was sent: its reason and `Retry-After`.
fn waits(v: &BatchVerdict) -> Option<(&str, Option<Duration>)> {
    match v {
        BatchVerdict::Items(items) => match &items[..] {
            [ItemVerdict::Later {
                reason,
                after,
                tried: true,
            }] => Some((reason.as_str(), *after)),
            _ => None,
        },
        _ => None,
    }
}

/// The one item of `v` refused for our signature: its reason.
fn paused(v: &BatchVerdict) -> Option<&str> {
    match v {
        BatchVerdict::Items(items) => match &items[..] {
            [ItemVerdict::Paused { reason }] => Some(reason.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn subscriber(name: &str, base_url: String, secret: &str) -> SubscriberConfig {
    SubscriberConfig {
        name: name.into(),
        base_url,
        secret: Some(SecretString::from(secret)),
        secret_file: None,
        filter: SubscriberFilter::default(),
    }
}

fn procedure(code: &str, fee: &str) -> Value {
    json!({"ID": "148305", "MATTHC": code, "TENTTHC": "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ",
        "CAPTHUCHIEN": [{"CAPTHUCHIEN": "4", "TENCAP": "Cấp Xã"}],
        "CACHTHUCTHUCHIEN": [{"KENH": "1", "THOIGIAN": [{"THOIGIANGIAIQUYET": "15", "DONVITINH": "Ngày làm việc",
            "PHILEPHI": [{"MAPHILEPHI": "LP", "SOTIEN": fee, "DONVI": "VNĐ"}]}]}],
        "TTHCLIENQUAN": "unlisted keys travel verbatim"})
}

fn changed_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 6, 1, 59, 58)
        .single()
        .unwrap_or_default()
}

fn upsert(code: &str, version: u64) -> Value {
    upsert_item_inline(procedure(code, "75000"), version, HASH, changed_at()).expect("item")
}

/// The simulator with subscribers `xa-1` and `xa-2`, and a peer that knows them plus `xa-3`,
/// whose secret the peer has wrong.
struct Harness {
    addr: SocketAddr,
    sim: CommuneSim,
    peer: CommunePeer,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start() -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sim = CommuneSim::new([
        ("xa-1", "bimat-xa-1"),
        ("xa-2", "bimat-xa-2"),
        ("xa-3", "bimat-xa-3"),
    ]);
    let shutdown = CancellationToken::new();
    tokio::spawn(sim::serve(listener, sim.clone(), shutdown.clone()));
    let cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: None,
        subscribers: vec![
            subscriber("xa-1", sim::base_url(addr, "xa-1"), "bimat-xa-1"),
            subscriber("xa-2", sim::base_url(addr, "xa-2"), "bimat-xa-2"),
            subscriber("xa-3", sim::base_url(addr, "xa-3"), "not-the-secret"),
        ],
    };
    let peer = CommunePeer::new(&cfg, TIMEOUT).expect("peer");
    Harness {
        addr,
        sim,
        peer,
        shutdown,
    }
}

/// Builds the stored body the way the outbox does, then delivers it once.
async fn deliver(
    peer: &CommunePeer,
    id: Uuid,
    destination: &str,
    operation: &str,
    item: &Value,
) -> (BatchVerdict, Option<String>) {
    let body = peer.build_body(operation, false, std::slice::from_ref(item));
    peer.deliver(Request {
        id,
        destination,
        operation,
        body: &body,
        item_ids: &[],
        start_by: None,
    })
    .await
}

#[test]
fn identity_batch_size_and_items() {
    let peer = CommunePeer::new(&CommuneConfig::default(), TIMEOUT).expect("peer");
    assert_eq!(peer.name(), "commune");
    assert_eq!(peer.max_batch(OP_UPSERT), 50);
    assert_eq!(peer.max_batch(OP_WITHDRAW), 50);
    assert!(peer.regroups());

    let item = upsert("1.005129", 4);
    // Exactly the spec's body, in the spec's key order.
    assert_eq!(
        item.to_string(),
        json!({"version": 4, "hash": HASH, "changed_at": "2026-11-06T01:59:58Z",
            "procedure": procedure("1.005129", "75000")})
        .to_string()
    );
    assert_eq!(
        peer.build_body(OP_UPSERT, false, std::slice::from_ref(&item)),
        json!([item])
    );
    // What the catalog queues: a reference to the stored version.
    let reference = upsert_item("1.005129", 4, HASH, changed_at()).expect("item");
    assert_eq!(
        reference,
        json!({"MATTHC": "1.005129", "version": 4, "hash": HASH, "changed_at": "2026-11-06T01:59:58Z"})
    );
    assert_eq!(procedure_code(&reference), Some("1.005129"));
    assert!(upsert_item(" ", 1, HASH, changed_at()).is_err());
    assert!(upsert_item("1.1", 1, "sha256:0", changed_at()).is_err());
    assert_eq!(procedure_code(&item), Some("1.005129"));
    assert_eq!(item_version(&item), Some(4));

    let withdrawal = withdraw_item("1.004871", 6).expect("item");
    assert_eq!(withdrawal, json!({"MATTHC": "1.004871", "version": 6}));
    assert_eq!(procedure_code(&withdrawal), Some("1.004871"));

    assert!(matches!(
        upsert_item_inline(json!({"TENTTHC": "x"}), 1, HASH, changed_at()),
        Err(CommuneError::Item(_))
    ));
    for bad in [
        "8fcd7ae9",
        "sha256:XYZ",
        "sha256:8FCD7AE9A3C22A295037FB0F4A43652C1ADBCF9B1D44B653AD728BDE90670C67",
    ] {
        assert!(
            upsert_item_inline(procedure("1", "0"), 1, bad, changed_at()).is_err(),
            "{bad}"
        );
    }
    assert!(withdraw_item(" ", 1).is_err());
}

#[test]
fn config_problems_and_secrets() {
    let cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: None,
        subscribers: vec![
            subscriber(
                "xa-1",
                "http://127.0.0.1:9/communes/xa-1".into(),
                "pw-Very-Secret",
            ),
            subscriber("xa-1", "gopher://x".into(), "other-Secret"),
        ],
    };
    let err = CommunePeer::new(&cfg, TIMEOUT).expect_err("duplicate");
    let text = err.to_string();
    assert!(text.contains("peers.commune.subscribers[1].name"), "{text}");
    assert!(
        text.contains("peers.commune.subscribers[1].base_url"),
        "{text}"
    );
    assert!(!text.contains("Secret"), "{text}");

    let mut cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: Some(0),
        subscribers: vec![cfg.subscribers[0].clone()],
    };
    let text = CommunePeer::new(&cfg, TIMEOUT)
        .expect_err("max_batch 0")
        .to_string();
    assert!(text.contains("peers.commune.max_batch: 0"), "{text}");
    cfg.max_batch = None;
    assert!(CommunePeer::new(&cfg, Duration::ZERO).is_err());
    let peer = CommunePeer::new(&cfg, TIMEOUT).expect("peer");
    assert_eq!(peer.subscriber_names(), vec!["xa-1"]);
    let printed = format!("{peer:?} {cfg:?}");
    assert!(!printed.contains("pw-Very-Secret"), "{printed}");
}

#[tokio::test]
async fn signed_upsert_and_withdrawal_are_applied() {
    let h = start().await;
    let (verdict, answer) = deliver(
        &h.peer,
        Uuid::new_v4(),
        "xa-1",
        OP_UPSERT,
        &upsert("1.005129", 4),
    )
    .await;
    assert_eq!(verdict, delivered());
    assert_eq!(answer.map(|a| a.len()), Some(64));
    let held = h.sim.applied("xa-1", "1.005129").expect("applied");
    assert_eq!(held.version, 4);
    assert!(!held.withdrawn);
    assert_eq!(held.hash.as_deref(), Some(HASH));
    assert_eq!(held.changed_at.as_deref(), Some("2026-11-06T01:59:58Z"));

    // A code that needs escaping in a path arrives whole.
    let odd = "3.000181.000.00.00.H56/x y";
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), "xa-1", OP_UPSERT, &upsert(odd, 1)).await;
    assert_eq!(verdict, delivered());
    assert_eq!(h.sim.applied("xa-1", odd).map(|a| a.version), Some(1));

    let withdrawal = withdraw_item("1.005129", 5).expect("item");
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), "xa-1", OP_WITHDRAW, &withdrawal).await;
    assert_eq!(verdict, delivered());
    let held = h.sim.applied("xa-1", "1.005129").expect("applied");
    assert_eq!((held.version, held.withdrawn), (5, true));

    // An older version is answered 409, which means done.
    let (verdict, _) = deliver(
        &h.peer,
        Uuid::new_v4(),
        "xa-1",
        OP_UPSERT,
        &upsert("1.005129", 3),
    )
    .await;
    assert_eq!(verdict, delivered());
    let record = h.sim.record("xa-1").expect("record");
    assert_eq!(record.applied, 3);
    assert_eq!(record.conflicts, 1);
    assert_eq!(record.unauthorized, 0);
    assert_eq!(record.invalid, 0);
    // Nothing reached the other subscribers.
    assert_eq!(h.sim.record("xa-2").map(|r| r.requests), Some(0));
}

#[tokio::test]
async fn a_wrong_secret_gets_401_pauses_and_changes_nothing() {
    let h = start().await;
    let item = upsert("1.005129", 1);
    let (verdict, answer) = deliver(&h.peer, Uuid::new_v4(), "xa-3", OP_UPSERT, &item).await;
    let Some(reason) = paused(&verdict) else {
        panic!("{verdict:?}")
    };
    assert!(reason.starts_with("HTTP 401"), "{reason}");
    assert!(
        !reason.contains("not-the-secret") && !reason.contains("bimat"),
        "{reason}"
    );
    assert!(answer.is_some());
    let withdrawal = withdraw_item("1.005129", 2).expect("item");
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), "xa-3", OP_WITHDRAW, &withdrawal).await;
    assert!(paused(&verdict).is_some(), "{verdict:?}");
    assert!(h.sim.catalog("xa-3").is_empty());
    assert!(h.sim.history("xa-3").is_empty());
    let record = h.sim.record("xa-3").expect("record");
    assert_eq!(
        (record.requests, record.unauthorized, record.applied),
        (2, 2, 0)
    );
    // The other subscribers are not affected.
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), "xa-2", OP_UPSERT, &item).await;
    assert_eq!(verdict, delivered());
}

#[tokio::test]
async fn a_retry_sends_the_same_bytes_under_the_same_id() {
    let h = start().await;
    let id = Uuid::new_v4();
    let item = upsert("1.005129", 7);
    h.sim.set_availability(
        "xa-1",
        Availability::Unavailable {
            retry_after_secs: 7,
        },
    );
    let (verdict, _) = deliver(&h.peer, id, "xa-1", OP_UPSERT, &item).await;
    assert_eq!(
        waits(&verdict),
        Some(("HTTP 503 Service Unavailable", Some(Duration::from_secs(7))))
    );
    h.sim.set_availability("xa-1", Availability::Refusing);
    let (verdict, answer) = deliver(&h.peer, id, "xa-1", OP_UPSERT, &item).await;
    assert!(matches!(waits(&verdict), Some((_, None))), "{verdict:?}");
    assert_eq!(answer, None);
    h.sim.set_availability("xa-1", Availability::Up);
    // Applied, but the answer "was lost": the outbox sends the same batch again.
    for _ in 0..2 {
        let (verdict, _) = deliver(&h.peer, id, "xa-1", OP_UPSERT, &item).await;
        assert_eq!(verdict, delivered());
    }
    let record = h.sim.record("xa-1").expect("record");
    assert_eq!(record.applied, 1);
    assert_eq!(record.repeats, 1, "{record:?}");
    assert_eq!(record.id_reuses, 0, "{record:?}");
    assert_eq!(record.unavailable, 2);
    assert_eq!(
        h.sim.applied("xa-1", "1.005129").map(|a| a.request_id),
        Some(id.to_string())
    );
}

#[tokio::test]
async fn a_timeout_is_retried_and_an_applied_repeat_counts_as_done() {
    let h = start().await;
    let cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: None,
        subscribers: vec![subscriber(
            "xa-1",
            sim::base_url(h.addr, "xa-1"),
            "bimat-xa-1",
        )],
    };
    let impatient = CommunePeer::new(&cfg, Duration::from_millis(300)).expect("peer");
    // The subscriber applies, then answers too late.
    h.sim.set_delay("xa-1", Some(Duration::from_secs(2)));
    let id = Uuid::new_v4();
    let item = upsert("1.005129", 2);
    let started = std::time::Instant::now();
    let (verdict, answer) = deliver(&impatient, id, "xa-1", OP_UPSERT, &item).await;
    assert!(
        matches!(waits(&verdict), Some((reason, None)) if reason.starts_with("timed out")),
        "{verdict:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(answer, None);
    // A slow subscriber delays no other.
    let started = std::time::Instant::now();
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), "xa-2", OP_UPSERT, &item).await;
    assert_eq!(verdict, delivered());
    assert!(started.elapsed() < Duration::from_secs(1));
    h.sim.set_delay("xa-1", None);
    let (verdict, _) = deliver(&impatient, id, "xa-1", OP_UPSERT, &item).await;
    assert_eq!(verdict, delivered());
    let record = h.sim.record("xa-1").expect("record");
    assert_eq!(
        (record.applied, record.conflicts, record.repeats),
        (1, 1, 1)
    );
}

fn header(r: &wiremock::Request, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The signature a subscriber computes from what it received.
fn expected_signature(secret: &str, r: &wiremock::Request) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(header(r, "x-lienthong-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn every_try_carries_identical_bytes_id_and_a_fresh_valid_signature() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/lienthong/procedures/1.005129"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/lienthong/procedures/1.005129"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/lienthong/procedures/1.004871"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: None,
        subscribers: vec![subscriber(
            "quang-phu",
            format!("{}/api/lienthong/", server.uri()),
            "example-secret",
        )],
    };
    let peer = CommunePeer::new(&cfg, TIMEOUT).expect("peer");
    let id = Uuid::new_v4();
    let item = upsert("1.005129", 4);
    // The stored body makes a round trip through the store's JSON text between tries.
    let stored: Value = serde_json::from_str(&item.to_string()).expect("json");
    let (first, _) = deliver(&peer, id, "quang-phu", OP_UPSERT, &item).await;
    assert_eq!(
        waits(&first).map(|(_, after)| after),
        Some(Some(Duration::from_secs(1))),
        "{first:?}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (second, _) = deliver(&peer, id, "quang-phu", OP_UPSERT, &stored).await;
    assert_eq!(second, delivered());
    let withdraw_id = Uuid::new_v4();
    let withdrawal = withdraw_item("1.004871", 6).expect("item");
    let (third, _) = deliver(&peer, withdraw_id, "quang-phu", OP_WITHDRAW, &withdrawal).await;
    assert_eq!(third, delivered());

    let got = server.received_requests().await.unwrap_or_default();
    assert_eq!(got.len(), 3);
    let (a, b, c) = (&got[0], &got[1], &got[2]);
    assert_eq!(a.body, b.body);
    assert_eq!(a.body, serde_json::to_vec(&item).expect("bytes"));
    assert_eq!(header(a, "x-request-id"), id.to_string());
    assert_eq!(header(b, "x-request-id"), id.to_string());
    assert_eq!(header(a, "content-type"), "application/json; charset=utf-8");
    // Each try is stamped when sent, and signed over its own stamp.
    assert_ne!(
        header(a, "x-lienthong-timestamp"),
        header(b, "x-lienthong-timestamp")
    );
    for r in [a, b, c] {
        assert_eq!(
            header(r, "x-lienthong-signature"),
            expected_signature("example-secret", r)
        );
    }
    assert_eq!(c.url.path(), "/api/lienthong/procedures/1.004871");
    assert_eq!(c.url.query(), Some("version=6"));
    assert!(c.body.is_empty());
    assert!(header(c, "content-type").is_empty());
    assert!(matches!(header(c, "content-length").as_str(), "" | "0"));
    assert_eq!(header(c, "x-request-id"), withdraw_id.to_string());
}

#[tokio::test]
async fn unroutable_or_malformed_batches_never_reach_a_subscriber() {
    let h = start().await;
    let item = upsert("1.005129", 1);
    let (verdict, answer) = deliver(&h.peer, Uuid::new_v4(), "xa-9", OP_UPSERT, &item).await;
    assert!(
        matches!(&verdict, BatchVerdict::Paused { reason } if reason.contains("xa-9")),
        "{verdict:?}"
    );
    assert_eq!(answer, None);
    // `send` has no destination: paused, not lost.
    let body = h
        .peer
        .build_body(OP_UPSERT, false, std::slice::from_ref(&item));
    assert!(matches!(
        h.peer.send(Uuid::new_v4(), OP_UPSERT, &body).await,
        BatchVerdict::Paused { .. }
    ));
    for (op, body) in [
        ("procedure_rename", item.clone()),
        (OP_UPSERT, json!({"version": 1})),
        (OP_WITHDRAW, json!({"MATTHC": "1.1"})),
        (
            OP_UPSERT,
            json!({"hash": HASH, "procedure": {"MATTHC": "1.1"}}),
        ),
    ] {
        let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), "xa-1", op, &body).await;
        assert!(
            matches!(&verdict, BatchVerdict::Items(v) if matches!(v[..], [ItemVerdict::Reject { .. }])),
            "{op} {body}: {verdict:?}"
        );
    }
    assert_eq!(h.sim.totals().requests, 0);
    assert_eq!(h.sim.unrouted(), 0);
    let _ = h.addr;
}

/// Versions' objects held in memory, counting the reads.
struct MemoryObjects {
    objects: HashMap<(String, u64), String>,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl ProcedureObjects for MemoryObjects {
    async fn object(&self, code: &str, version: u64) -> Result<Option<String>, String> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self.objects.get(&(code.to_string(), version)).cloned())
    }
}

#[tokio::test]
async fn a_batch_goes_item_by_item_under_each_message_id_and_stops_at_the_first_told_to_wait() {
    let server = MockServer::start().await;
    for code in ["1.1", "1.2"] {
        Mock::given(method("PUT"))
            .and(path(format!("/xa/procedures/{code}")))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
    }
    Mock::given(method("PUT"))
        .and(path("/xa/procedures/1.3"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "3"))
        .mount(&server)
        .await;
    let cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: Some(4),
        subscribers: vec![subscriber(
            "xa",
            format!("{}/xa", server.uri()),
            "example-secret",
        )],
    };
    // The stored text is sent as it is, spacing included.
    let stored =
        |code: &str| format!("{{\"MATTHC\": \"{code}\", \"TENTTHC\": \"Cấp phép {code}\"}}");
    let objects = Arc::new(MemoryObjects {
        objects: ["1.1", "1.2", "1.3", "1.4"]
            .into_iter()
            .map(|c| ((c.to_string(), 2), stored(c)))
            .collect(),
        reads: Default::default(),
    });
    let peer = CommunePeer::new(&cfg, TIMEOUT)
        .expect("peer")
        .reading_from(objects.clone());
    assert_eq!(peer.max_batch(OP_UPSERT), 4);
    let items: Vec<Value> = ["1.1", "1.2", "1.3", "1.4"]
        .into_iter()
        .map(|c| upsert_item(c, 2, HASH, changed_at()).expect("item"))
        .collect();
    let body = peer.build_body(OP_UPSERT, false, &items);
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let batch_id = Uuid::new_v4();
    let (verdict, answer) = peer
        .deliver(Request {
            id: batch_id,
            destination: "xa",
            operation: OP_UPSERT,
            body: &body,
            item_ids: &ids,
            start_by: None,
        })
        .await;
    let BatchVerdict::Items(v) = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(v.len(), 4);
    assert_eq!(v[..2], [ItemVerdict::Delivered, ItemVerdict::Delivered]);
    assert!(
        matches!(&v[2], ItemVerdict::Later { reason, after: Some(d), tried: true }
            if reason.contains("503") && *d == Duration::from_secs(3)),
        "{v:?}"
    );
    assert!(
        matches!(&v[3], ItemVerdict::Later { reason, after: Some(_), tried: false }
            if reason.starts_with("not sent")),
        "{v:?}"
    );
    assert!(answer.is_some());

    // Three requests, none for the fourth item; each under its message's id, each body exactly
    // commune.md's around the stored procedure.
    let got = server.received_requests().await.unwrap_or_default();
    assert_eq!(got.len(), 3);
    for (i, r) in got.iter().enumerate() {
        let code = ["1.1", "1.2", "1.3"][i];
        assert_eq!(header(r, "x-request-id"), ids[i].to_string());
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            format!(
                "{{\"version\":2,\"hash\":\"{HASH}\",\"changed_at\":\"2026-11-06T01:59:58Z\",\"procedure\":{}}}",
                stored(code)
            )
        );
        let parsed: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(parsed["procedure"]["MATTHC"], code);
        assert_eq!(
            header(r, "x-lienthong-signature"),
            expected_signature("example-secret", r)
        );
    }
    assert_eq!(objects.reads.load(std::sync::atomic::Ordering::Relaxed), 3);

    // Sent again (another subscriber, the same versions): read from memory, not the store.
    let (verdict, _) = peer
        .deliver(Request {
            id: batch_id,
            destination: "xa",
            operation: OP_UPSERT,
            body: &json!([items[0].clone()]),
            item_ids: &ids[..1],
            start_by: None,
        })
        .await;
    assert_eq!(verdict, delivered());
    assert_eq!(objects.reads.load(std::sync::atomic::Ordering::Relaxed), 3);

    // The first item told to wait: none after it is sent, all wait the subscriber's Retry-After.
    let (verdict, _) = peer
        .deliver(Request {
            id: batch_id,
            destination: "xa",
            operation: OP_UPSERT,
            body: &json!([items[2].clone(), items[3].clone()]),
            item_ids: &ids[2..],
            start_by: None,
        })
        .await;
    let three = Some(Duration::from_secs(3));
    assert!(
        matches!(&verdict, BatchVerdict::Items(v) if matches!(&v[..], [
            ItemVerdict::Later { tried: true, after: a, .. },
            ItemVerdict::Later { tried: false, after: b, .. },
        ] if *a == three && *b == three)),
        "{verdict:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        5
    );

    // No request starts once the lease is nearly out, except the first.
    let (verdict, _) = peer
        .deliver(Request {
            id: batch_id,
            destination: "xa",
            operation: OP_UPSERT,
            body: &json!([items[0].clone(), items[1].clone()]),
            item_ids: &ids[..2],
            start_by: Some(std::time::Instant::now()),
        })
        .await;
    assert!(
        matches!(&verdict, BatchVerdict::Items(v) if matches!(&v[..], [
            ItemVerdict::Delivered,
            ItemVerdict::Later { tried: false, .. },
        ])),
        "{verdict:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        6
    );
}

#[tokio::test]
async fn a_reference_the_store_cannot_resolve_is_never_sent() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let cfg = CommuneConfig {
        tls: Default::default(),
        policy: Default::default(),
        classify: Vec::new(),
        max_batch: None,
        subscribers: vec![subscriber("xa", server.uri(), "example-secret")],
    };
    let item = upsert_item("1.9", 3, HASH, changed_at()).expect("item");
    // No catalog store: the item waits.
    let bare = CommunePeer::new(&cfg, TIMEOUT).expect("peer");
    let (verdict, _) = deliver(&bare, Uuid::new_v4(), "xa", OP_UPSERT, &item).await;
    assert!(
        matches!(&verdict, BatchVerdict::Items(v) if matches!(&v[..],
            [ItemVerdict::Later { reason, tried: false, .. }] if reason.contains("no catalog store"))),
        "{verdict:?}"
    );
    // A version the store does not have: rejected, naming it.
    let empty = Arc::new(MemoryObjects {
        objects: HashMap::new(),
        reads: Default::default(),
    });
    let peer = CommunePeer::new(&cfg, TIMEOUT)
        .expect("peer")
        .reading_from(empty);
    let (verdict, _) = deliver(&peer, Uuid::new_v4(), "xa", OP_UPSERT, &item).await;
    assert!(
        matches!(&verdict, BatchVerdict::Items(v)
            if matches!(&v[..], [ItemVerdict::Reject { reason }] if reason.contains("1.9 version 3"))),
        "{verdict:?}"
    );
    assert!(server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}
