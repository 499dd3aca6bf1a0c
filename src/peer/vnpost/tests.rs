//! The postal peer over real sockets: against the built-in VNPost simulator (tokens that expire,
//! orders, cancels, the tracking feed, faults) and against wiremock doubles where the exact
//! bytes of a request matter.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wiremock::matchers::{bearer_token, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::sim::vnpost::{self as sim, VnpostFault, VnpostSim, VnpostSimSettings};

const TIMEOUT: Duration = Duration::from_secs(5);
const CUSTOMER: &str = "C00330117";
const KEY: &str = "lienthong";
const SECRET: &str = "consumer-Secret-42";

fn delivered() -> BatchVerdict {
    BatchVerdict::Items(vec![ItemVerdict::Delivered])
}

fn cfg(base_url: &str, secret: &str) -> VnpostConfig {
    VnpostConfig {
        tls: Default::default(),
        environment: VnpostEnvironment::Test,
        base_urls: VnpostBaseUrls {
            test: Some(base_url.to_string()),
            production: None,
        },
        customer_code: CUSTOMER.into(),
        consumer_key: KEY.into(),
        consumer_secret: Some(SecretString::from(secret)),
        consumer_secret_file: None,
        policy: Default::default(),
        classify: Vec::new(),
    }
}

/// A delivery order of the spec's shape (the citizen's data included, as orders carry it).
fn order(number: &str, order_type: &str) -> Value {
    json!({
        "CustomerCode": CUSTOMER,
        "OrderNumber": number,
        "OrderType": order_type,
        "CODAmount": "0",
        "SenderName": "Trung tâm Phục vụ hành chính công xã Quảng Phú",
        "SenderAddress": "Trụ sở Ủy ban nhân dân xã Quảng Phú, thôn Trung, xã Quảng Phú",
        "SenderTel": "02373912468",
        "SenderEmail": "motcua.quangphu@example.com",
        "SenderProvince": "40",
        "SenderDistrict": "4016",
        "SenderDesc": "Giấy phép xây dựng số 245/GPXD",
        "ReceiverName": "Nguyễn Thị Hoa",
        "ReceiverAddress": "Thôn Đông, xã Quảng Phú",
        "ReceiverTel": "0912345678",
        "ReceiverEmail": "hoa.nt@example.com",
        "ReceiverProvince": "40",
        "ReceiverDistrict": "4016",
        "Description": "Phát kết quả tận tay chủ hồ sơ"
    })
}

/// The simulator and a peer pointed at it.
struct Harness {
    addr: SocketAddr,
    sim: VnpostSim,
    peer: VnpostPeer,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn sim_settings() -> VnpostSimSettings {
    VnpostSimSettings {
        consumer_key: KEY.into(),
        consumer_secret: SECRET.into(),
        customer_code: CUSTOMER.into(),
        ..VnpostSimSettings::default()
    }
}

async fn start_with(settings: VnpostSimSettings) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sim = VnpostSim::new(settings);
    let shutdown = CancellationToken::new();
    tokio::spawn(sim::serve(listener, sim.clone(), shutdown.clone()));
    let peer = VnpostPeer::new(&cfg(&sim::base_url(addr), SECRET), TIMEOUT).expect("peer");
    Harness {
        addr,
        sim,
        peer,
        shutdown,
    }
}

async fn start() -> Harness {
    start_with(sim_settings()).await
}

/// Builds the stored body the way the outbox does, then sends it once, as the outbox's one
/// call per attempt does (the peer has one destination, so `Peer::deliver` is this call).
async fn deliver(
    peer: &VnpostPeer,
    id: Uuid,
    operation: &str,
    item: &Value,
) -> (BatchVerdict, Option<String>) {
    let body = peer.build_body(operation, false, std::slice::from_ref(item));
    peer.send_recorded(id, operation, &body).await
}

/// The simulator's calls to `endpoint`, as (request id, HTTP status, Status).
fn calls_to(sim: &VnpostSim, endpoint: &str) -> Vec<(Option<String>, u16, Option<String>)> {
    sim.calls()
        .into_iter()
        .filter(|c| c.endpoint == endpoint)
        .map(|c| (c.request_id, c.http_status, c.status))
        .collect()
}

#[test]
fn identity_batch_size_and_items() {
    let peer = VnpostPeer::new(&cfg("http://127.0.0.1:9", SECRET), TIMEOUT).expect("peer");
    assert_eq!(peer.name(), "vnpost");
    assert_eq!(peer.max_batch(OP_ORDER), 1);
    assert_eq!(peer.max_batch(OP_CANCEL), 1);
    assert_eq!(peer.environment(), VnpostEnvironment::Test);
    let item = order("000.00.56.H56-261105-0007", "2");
    assert_eq!(
        peer.build_body(OP_ORDER, false, std::slice::from_ref(&item)),
        item
    );
    assert_eq!(peer.build_body(OP_ORDER, false, &[]), Value::Null);
    assert_eq!(order_key(&item), Some(("000.00.56.H56-261105-0007", "2")));
    let cancel = peer
        .cancel_item("000.00.56.H56-261105-0007", "1")
        .expect("item");
    assert_eq!(
        cancel.to_string(),
        json!({"CustomerCode": CUSTOMER, "OrderNumber": "000.00.56.H56-261105-0007", "OrderType": "1"})
            .to_string()
    );
    assert_eq!(order_key(&cancel), Some(("000.00.56.H56-261105-0007", "1")));
    assert!(cancel_item(CUSTOMER, " ", "1").is_err());
    assert!(cancel_item("", "x", "1").is_err());
    assert!(cancel_item(CUSTOMER, "x", "3").is_err());
    assert_eq!(order_key(&json!({"OrderNumber": "x"})), None);
    assert_eq!(FAMILY.name, PEER_VNPOST);
    assert_eq!(FAMILY.operations, &[OP_ORDER, OP_CANCEL]);
    assert!(FAMILY.takes.is_empty());
}

#[tokio::test]
async fn malformed_batches_are_rejected_without_a_request() {
    let h = start().await;
    for (operation, body) in [
        ("postal_rename", order("a", "1")),
        (OP_ORDER, json!(["not", "an", "order"])),
        (OP_ORDER, json!({"OrderNumber": "a"})),
        (
            OP_CANCEL,
            json!({"CustomerCode": CUSTOMER, "OrderNumber": "a"}),
        ),
        (OP_CANCEL, json!({"OrderNumber": "a", "OrderType": "1"})),
    ] {
        let (verdict, answer) = deliver(&h.peer, Uuid::new_v4(), operation, &body).await;
        assert!(
            matches!(verdict, BatchVerdict::Reject { .. }),
            "{operation} {body}: {verdict:?}"
        );
        assert_eq!(answer, None);
    }
    assert_eq!(h.sim.stats().requests, 0);
}

#[tokio::test]
async fn the_token_is_fetched_once_and_reused_even_by_concurrent_calls() {
    let h = start().await;
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let orders: Vec<Value> = (0..6)
        .map(|i| order(&format!("000.00.56.H56-261105-{i:04}"), "1"))
        .collect();
    let sends = ids
        .iter()
        .zip(&orders)
        .map(|(id, item)| deliver(&h.peer, *id, OP_ORDER, item));
    for (verdict, answer) in futures::future::join_all(sends).await {
        assert_eq!(verdict, delivered());
        assert_eq!(answer.map(|a| a.len()), Some(64));
    }
    let (verdict, _) = deliver(
        &h.peer,
        Uuid::new_v4(),
        OP_ORDER,
        &order("000.00.56.H56-261105-0100", "2"),
    )
    .await;
    assert_eq!(verdict, delivered());
    let stats = h.sim.stats();
    assert_eq!(stats.token_requests, 1, "{stats:?}");
    assert_eq!(stats.orders_created, 7);
    assert_eq!(stats.unauthorized, 0);
    assert_eq!(stats.missing_request_id, 0);
    // Each order went under its batch's id.
    for (id, item) in ids.iter().zip(&orders) {
        let number = item["OrderNumber"].as_str().unwrap_or_default();
        let held = h.sim.order(number, "1").expect("held");
        assert_eq!(held.request_id, Some(id.to_string()));
        assert_eq!(held.order, *item);
        assert_eq!(held.status, 1);
    }
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let h = start_with(VnpostSimSettings {
        token_ttl: Duration::from_secs(1),
        ..sim_settings()
    })
    .await;
    for i in 0..2 {
        let item = order(&format!("A-{i}"), "1");
        assert_eq!(
            deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &item).await.0,
            delivered()
        );
    }
    assert_eq!(h.sim.stats().token_requests, 1);
    // A 1 s token is renewed once a tenth of its life remains: after 0.9 s.
    tokio::time::sleep(Duration::from_millis(950)).await;
    let item = order("A-2", "1");
    assert_eq!(
        deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &item).await.0,
        delivered()
    );
    let stats = h.sim.stats();
    assert_eq!(stats.token_requests, 2, "{stats:?}");
    // Renewed before the simulator would have refused it.
    assert_eq!(stats.unauthorized, 0, "{stats:?}");
}

#[tokio::test]
async fn a_401_mid_life_gets_one_new_token_and_one_repeat_within_one_delivery() {
    let h = start().await;
    let first = order("B-1", "2");
    assert_eq!(
        deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &first).await.0,
        delivered()
    );
    // The service forgets its tokens (a restart): the cached one is refused.
    h.sim.expire_tokens();
    let id = Uuid::new_v4();
    let second = order("B-2", "2");
    // One delivery, so one outbox attempt, whatever happened inside it.
    let (verdict, answer) = deliver(&h.peer, id, OP_ORDER, &second).await;
    assert_eq!(verdict, delivered());
    assert!(answer.is_some());
    let stats = h.sim.stats();
    assert_eq!(
        (
            stats.token_requests,
            stats.unauthorized,
            stats.orders_created
        ),
        (2, 1, 2),
        "{stats:?}"
    );
    let tries: Vec<_> = calls_to(&h.sim, "order")
        .into_iter()
        .filter(|(rid, _, _)| rid.as_deref() == Some(id.to_string().as_str()))
        .collect();
    assert_eq!(
        tries,
        vec![
            (Some(id.to_string()), 401, None),
            (Some(id.to_string()), 200, Some("100".into()))
        ]
    );
    // The same thing through a scripted expiry: still one delivery, one new token.
    h.sim.script([VnpostFault::ExpireTokens]);
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &order("B-3", "2")).await;
    assert_eq!(verdict, delivered());
    assert_eq!(h.sim.stats().token_requests, 3);
}

#[tokio::test]
async fn a_401_again_with_a_new_token_pauses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "tok-refused", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/order/post"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("token tok-refused is not valid here"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let peer = VnpostPeer::new(&cfg(&server.uri(), SECRET), TIMEOUT).expect("peer");
    let (verdict, _) = deliver(&peer, Uuid::new_v4(), OP_ORDER, &order("C-1", "1")).await;
    let BatchVerdict::Paused { reason } = &verdict else {
        panic!("{verdict:?}")
    };
    assert!(reason.starts_with("HTTP 401"), "{reason}");
    assert!(reason.contains("consumer_key"), "{reason}");
    assert!(
        !reason.contains("tok-refused") && !reason.contains(SECRET),
        "{reason}"
    );
}

#[tokio::test]
async fn refused_credentials_pause_without_sending_the_order() {
    let h = start().await;
    let wrong =
        VnpostPeer::new(&cfg(&sim::base_url(h.addr), "not-the-Secret"), TIMEOUT).expect("peer");
    let (verdict, answer) = deliver(&wrong, Uuid::new_v4(), OP_ORDER, &order("D-1", "1")).await;
    let BatchVerdict::Paused { reason } = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(
        reason,
        "token refused: /token answered HTTP 401 invalid_client"
    );
    assert_eq!(answer, None);
    let stats = h.sim.stats();
    assert_eq!((stats.token_refusals, stats.orders_created), (1, 0));
    assert!(calls_to(&h.sim, "order").is_empty());
}

#[tokio::test]
async fn a_repeated_order_is_delivered_and_the_earlier_one_stands() {
    let h = start().await;
    let item = order("E-1", "2");
    let (first, _) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &item).await;
    assert_eq!(first, delivered());
    // The same order again, in a new batch (e.g. replayed): "101".
    let mut changed = item.clone();
    changed["Description"] = json!("khác");
    let (again, answer) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &changed).await;
    assert_eq!(again, delivered());
    assert!(answer.is_some());
    let stats = h.sim.stats();
    assert_eq!((stats.orders_created, stats.order_repeats), (1, 1));
    assert_eq!(h.sim.order("E-1", "2").map(|o| o.order), Some(item));
    // The same number as a collection order is another order.
    let (other, _) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &order("E-1", "1")).await;
    assert_eq!(other, delivered());
    assert_eq!(h.sim.order_count(), 2);
}

#[tokio::test]
async fn an_invalid_order_is_rejected_naming_the_field_and_no_personal_data() {
    let h = start().await;
    let mut bad_phone = order("F-1", "2");
    bad_phone["ReceiverTel"] = json!("09123 Nguyễn Thị Hoa");
    let (verdict, answer) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &bad_phone).await;
    assert_eq!(
        verdict,
        BatchVerdict::Reject {
            reason: "VNPost Status 102 (invalid order): field ReceiverTel".into()
        }
    );
    assert!(answer.is_some());
    let mut missing = order("F-2", "2");
    if let Some(o) = missing.as_object_mut() {
        o.remove("ReceiverAddress");
    }
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &missing).await;
    assert_eq!(
        verdict,
        BatchVerdict::Reject {
            reason: "VNPost Status 102 (invalid order): field ReceiverAddress".into()
        }
    );
    let mut foreign = order("F-3", "1");
    foreign["CustomerCode"] = json!("C99999999");
    let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &foreign).await;
    let BatchVerdict::Reject { reason } = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(
        reason,
        "VNPost Status 102 (invalid order): field CustomerCode"
    );
    // The simulator echoed the values; nothing of them reached a reason.
    for call in calls_to(&h.sim, "order") {
        assert_eq!(call.2.as_deref(), Some("102"));
    }
    assert_eq!(h.sim.stats().orders_invalid, 3);
    assert_eq!(h.sim.order_count(), 0);
}

#[tokio::test]
async fn temporary_answers_retry_with_retry_after_and_a_lost_answer_ends_in_101() {
    let h = start().await;
    let id = Uuid::new_v4();
    let item = order("G-1", "2");
    h.sim.script([
        VnpostFault::Status500,
        VnpostFault::Unavailable {
            retry_after_secs: 7,
        },
        VnpostFault::TooManyRequests {
            retry_after_secs: 3,
        },
        VnpostFault::Http500,
        VnpostFault::Drop,
    ]);
    let expected = [
        BatchVerdict::Retry {
            reason: "VNPost Status 500 (temporary error)".into(),
            after: None,
        },
        BatchVerdict::Retry {
            reason: "HTTP 503 Service Unavailable".into(),
            after: Some(Duration::from_secs(7)),
        },
        BatchVerdict::Retry {
            reason: "HTTP 429 Too Many Requests".into(),
            after: Some(Duration::from_secs(3)),
        },
        BatchVerdict::Retry {
            reason: "HTTP 500 Internal Server Error".into(),
            after: None,
        },
    ];
    for want in expected {
        let (verdict, _) = deliver(&h.peer, id, OP_ORDER, &item).await;
        assert_eq!(verdict, want);
    }
    let (verdict, answer) = deliver(&h.peer, id, OP_ORDER, &item).await;
    assert!(
        matches!(verdict, BatchVerdict::Retry { after: None, .. }),
        "{verdict:?}"
    );
    assert_eq!(answer, None);
    assert_eq!(h.sim.order_count(), 0);

    // Applied, then answered too late for the caller: a retry of the same batch is "101".
    let impatient = VnpostPeer::new(
        &cfg(&sim::base_url(h.addr), SECRET),
        Duration::from_millis(300),
    )
    .expect("peer");
    h.sim.script([VnpostFault::Slow {
        delay: Duration::from_secs(2),
    }]);
    let (verdict, _) = deliver(&impatient, id, OP_ORDER, &item).await;
    assert!(
        matches!(&verdict, BatchVerdict::Retry { reason, after: None } if reason.starts_with("timed out")),
        "{verdict:?}"
    );
    let (verdict, _) = deliver(&impatient, id, OP_ORDER, &item).await;
    assert_eq!(verdict, delivered());
    let stats = h.sim.stats();
    assert_eq!(
        (
            stats.orders_created,
            stats.order_repeats,
            stats.faults_injected
        ),
        (1, 1, 6),
        "{stats:?}"
    );
    // Every try carried the batch's id.
    assert!(calls_to(&h.sim, "order")
        .iter()
        .all(|(rid, _, _)| rid.as_deref() == Some(id.to_string().as_str())));
}

#[tokio::test]
async fn a_cancel_is_done_or_too_late_and_too_late_is_reported_apart() {
    let seen: Arc<Mutex<Vec<TooLateCancel>>> = Arc::default();
    let h = start().await;
    let recorder = seen.clone();
    let peer = VnpostPeer::new(&cfg(&sim::base_url(h.addr), SECRET), TIMEOUT)
        .expect("peer")
        .on_cancel_too_late(move |c| {
            if let Ok(mut v) = recorder.lock() {
                v.push(c.clone());
            }
        });
    for (number, kind) in [("H-1", "1"), ("H-2", "2")] {
        let (verdict, _) = deliver(&peer, Uuid::new_v4(), OP_ORDER, &order(number, kind)).await;
        assert_eq!(verdict, delivered());
    }
    // Not yet collected: cancelled.
    let cancel = peer.cancel_item("H-1", "1").expect("item");
    let (verdict, _) = deliver(&peer, Uuid::new_v4(), OP_CANCEL, &cancel).await;
    assert_eq!(verdict, delivered());
    assert!(h.sim.order("H-1", "1").is_some_and(|o| o.cancelled));
    // The postman already took the result: too late, final, and reported.
    assert_eq!(h.sim.advance("H-2", "2"), Ok(6));
    let id = Uuid::new_v4();
    let cancel = peer.cancel_item("H-2", "2").expect("item");
    let (verdict, answer) = deliver(&peer, id, OP_CANCEL, &cancel).await;
    assert_eq!(verdict, delivered());
    assert!(answer.is_some());
    assert!(h.sim.order("H-2", "2").is_some_and(|o| !o.cancelled));
    let reported = seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        reported,
        vec![TooLateCancel {
            request_id: id,
            order_number: "H-2".into(),
            order_type: "2".into()
        }]
    );
    // A cancel of an order VNPost does not know is rejected, naming the field.
    let unknown = peer.cancel_item("H-9", "1").expect("item");
    let (verdict, _) = deliver(&peer, Uuid::new_v4(), OP_CANCEL, &unknown).await;
    assert_eq!(
        verdict,
        BatchVerdict::Reject {
            reason: "VNPost Status 102 (invalid cancel): field OrderNumber".into()
        }
    );
    let stats = h.sim.stats();
    assert_eq!(
        (stats.cancels, stats.cancels_too_late, stats.cancels_invalid),
        (1, 1, 1)
    );
    // The cancel shows in the feed as "collection cancelled".
    let codes: Vec<String> = h
        .sim
        .feed()
        .iter()
        .filter(|e| e["OrderNumber"] == "H-1")
        .map(|e| e["StatusCode"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codes, vec!["1", "9"]);
}

#[tokio::test]
async fn tracking_pages_follow_last_id_and_end_when_a_page_is_short() {
    let h = start_with(VnpostSimSettings {
        repeat_every: 4,
        late_every: 5,
        ..sim_settings()
    })
    .await;
    for (number, kind) in [("T-1", "1"), ("T-2", "2"), ("T-3", "2")] {
        let (verdict, _) = deliver(&h.peer, Uuid::new_v4(), OP_ORDER, &order(number, kind)).await;
        assert_eq!(verdict, delivered());
    }
    assert_eq!(h.sim.advance_to_end("T-1", "1"), Ok(vec![2, 4, 6]));
    assert_eq!(h.sim.advance_to_end("T-2", "2"), Ok(vec![6, 10, 12, 14]));
    assert_eq!(h.sim.advance("T-3", "2"), Ok(6));
    assert_eq!(h.sim.fail("T-3", "2"), Ok(15));
    h.sim.repeat_last("T-3", "2").expect("repeat");
    h.sim.release_late();
    let feed = h.sim.feed();
    assert!(feed.len() > 14, "{}", feed.len());

    let mut cursor = FEED_START.to_string();
    let mut read: Vec<TrackingEvent> = Vec::new();
    let mut pages = 0;
    loop {
        let page = h.peer.tracking_page(&cursor, 4).await.expect("page");
        pages += 1;
        assert!(page.bad.is_empty(), "{:?}", page.bad);
        assert_eq!(page.size, Some(feed.len() as u64));
        read.extend(page.events.iter().cloned());
        cursor = page.next_last_id.clone();
        if page.is_end() {
            assert!(page.returned < 4);
            break;
        }
        assert_eq!(page.returned, 4);
        assert!(pages < 20, "the feed does not end");
    }
    assert_eq!(pages, feed.len() / 4 + 1);
    let raw: Vec<Value> = read.iter().map(|e| e.raw.clone()).collect();
    assert_eq!(raw, feed);
    assert!(read.windows(2).all(|w| w[0].id < w[1].id));
    // Repeats (same content, a new id) and late events (an earlier time after a later one)
    // come through as the feed has them; applying them once is the caller's concern.
    let content = |e: &TrackingEvent| {
        (
            e.order_number.clone(),
            e.status_code,
            e.event_time_text.clone(),
        )
    };
    let repeats = read
        .windows(2)
        .filter(|w| content(&w[0]) == content(&w[1]))
        .count();
    assert!(repeats >= 2, "{read:?}");
    assert!(
        read.windows(2).any(|w| w[1].event_time < w[0].event_time),
        "{read:?}"
    );
    let delivered_event = read
        .iter()
        .find(|e| e.order_number == "T-2" && e.status_code == 14)
        .expect("delivery event");
    assert_eq!(delivered_event.order_type, "2");
    assert_eq!(delivered_event.pos_id, "401660");
    assert!(delivered_event
        .item_code
        .as_deref()
        .is_some_and(|c| c.ends_with("VN")));
    // Nothing new: an empty last page from the final cursor.
    let page = h.peer.tracking_page(&cursor, 4).await.expect("page");
    assert!(page.is_end() && page.events.is_empty());
    assert_eq!(page.next_last_id, cursor);
    // A read whose token was dropped is repeated with a new one.
    h.sim.expire_tokens();
    let page = h.peer.tracking_page(FEED_START, 2).await.expect("page");
    assert_eq!(page.returned, 2);
    assert_eq!(h.sim.stats().token_requests, 2);
}

#[tokio::test]
async fn tracking_reads_refuse_bad_cursors_and_report_unreadable_pages_and_events() {
    let h = start().await;
    for (last_id, size) in [("0", 10), ("zz0000000000000000000000", 10), (FEED_START, 0)] {
        let err = h
            .peer
            .tracking_page(last_id, size)
            .await
            .expect_err("refused");
        assert!(matches!(err, ReadError::Failed(_)), "{err:?}");
    }
    assert!(h
        .peer
        .tracking_page(FEED_START, MAX_PAGE_SIZE + 1)
        .await
        .is_err());
    assert_eq!(h.sim.stats().requests, 0);
    h.sim.fail_next(
        1,
        VnpostFault::Unavailable {
            retry_after_secs: 9,
        },
    );
    let err = h
        .peer
        .tracking_page(FEED_START, 10)
        .await
        .expect_err("busy");
    assert_eq!(
        err,
        ReadError::Busy {
            reason: "HTTP 503 Service Unavailable".into(),
            after: Some(Duration::from_secs(9))
        }
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": "3600"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/order/tracking"))
        .and(query_param("lastId", FEED_START))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "_size": 2, "_returned": 2, "_embedded": {"rh:doc": [
            {"_id": {"$oid": "6af67760a3b5d1e2f34b5c61"}, "CustomerCode": CUSTOMER,
             "OrderNumber": "000.00.56.H56-261105-0007", "OrderType": "2",
             "ItemCode": "EB123456785VN", "EventTime": "20261113093500", "POSID": "401160",
             "StatusCode": "6", "StatusMessage": "Thu gom thành công", "Notes": ""},
            {"_id": {"$oid": "6af6b7e7a3b5d1e2f34b5c62"}, "CustomerCode": CUSTOMER,
             "OrderType": "1", "EventTime": "2026-11-13", "POSID": "401160",
             "StatusCode": "4", "Notes": "Nguyễn Thị Hoa"}
        ]}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/order/tracking"))
        .and(query_param("lastId", "6af6b7e7a3b5d1e2f34b5c62"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"_returned\": 3}"))
        .mount(&server)
        .await;
    let peer = VnpostPeer::new(&cfg(&server.uri(), SECRET), TIMEOUT).expect("peer");
    let page = peer.tracking_page(FEED_START, 50).await.expect("page");
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].status_code, 6);
    assert_eq!(page.bad.len(), 1);
    assert_eq!(
        page.bad[0].to_string(),
        "event 1 (6af6b7e7a3b5d1e2f34b5c62): OrderNumber: missing; EventTime: not a date as yyyyMMddHHmmss"
    );
    assert_eq!(page.next_last_id, "6af6b7e7a3b5d1e2f34b5c62");
    assert!(page.is_end());
    let err = peer
        .tracking_page(&page.next_last_id, 50)
        .await
        .expect_err("unreadable");
    assert!(
        matches!(&err, ReadError::Busy { reason, .. } if reason.contains("_returned is 3 but")),
        "{err:?}"
    );
}

fn header_of(r: &wiremock::Request, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn requests_carry_the_exact_bytes_ids_and_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bcci/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "a91c5e2f-7b04-4d6e-8f3a-0c2b7e9d1f58", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bcci/order/post"))
        .and(bearer_token("a91c5e2f-7b04-4d6e-8f3a-0c2b7e9d1f58"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/bcci/order/post"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Status": "100", "Message": "Tạo đơn hàng thành công"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bcci/order/cancel"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Status": "103", "Message": "Đã phát"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bcci/order/tracking"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"_size": 0, "_returned": 0, "_embedded": {"rh:doc": []}})),
        )
        .mount(&server)
        .await;
    let peer =
        VnpostPeer::new(&cfg(&format!("{}/bcci/", server.uri()), SECRET), TIMEOUT).expect("peer");
    let id = Uuid::new_v4();
    let item = order("000.00.56.H56-261105-0007", "2");
    // The stored body makes a round trip through the store's JSON text between tries.
    let stored: Value = serde_json::from_str(&item.to_string()).expect("json");
    let (first, _) = deliver(&peer, id, OP_ORDER, &item).await;
    assert!(
        matches!(first, BatchVerdict::Retry { after: Some(d), .. } if d == Duration::from_secs(1)),
        "{first:?}"
    );
    let (second, _) = deliver(&peer, id, OP_ORDER, &stored).await;
    assert_eq!(second, delivered());
    let cancel_id = Uuid::new_v4();
    let cancel = peer
        .cancel_item("000.00.56.H56-261105-0007", "2")
        .expect("item");
    let (third, _) = deliver(&peer, cancel_id, OP_CANCEL, &cancel).await;
    assert_eq!(third, delivered());
    peer.tracking_page("6af584ffa3b5d1e2f34b5c60", 50)
        .await
        .expect("page");

    let got = server.received_requests().await.unwrap_or_default();
    assert_eq!(got.len(), 5);
    let (token, a, b, c, d) = (&got[0], &got[1], &got[2], &got[3], &got[4]);
    assert_eq!(token.body, b"grant_type=client_credentials");
    assert_eq!(
        header_of(token, "authorization"),
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{KEY}:{SECRET}")
            )
        )
    );
    assert_eq!(a.body, b.body);
    assert_eq!(a.body, serde_json::to_vec(&item).expect("bytes"));
    for r in [a, b] {
        assert_eq!(header_of(r, "x-request-id"), id.to_string());
        assert_eq!(
            header_of(r, "content-type"),
            "application/json; charset=utf-8"
        );
    }
    assert_eq!(c.url.path(), "/bcci/order/cancel");
    assert_eq!(
        c.url.query(),
        Some("CustomerCode=C00330117&OrderNumber=000.00.56.H56-261105-0007&OrderType=2")
    );
    assert!(c.body.is_empty());
    assert_eq!(header_of(c, "x-request-id"), cancel_id.to_string());
    assert_eq!(
        d.url.query(),
        Some("pagesize=50&lastId=6af584ffa3b5d1e2f34b5c60")
    );
    for r in [a, b, c, d] {
        assert_eq!(
            header_of(r, "authorization"),
            "Bearer a91c5e2f-7b04-4d6e-8f3a-0c2b7e9d1f58"
        );
    }
    assert!(Uuid::parse_str(&header_of(d, "x-request-id")).is_ok());
    assert!(Uuid::parse_str(&header_of(token, "x-request-id")).is_ok());
}

/// Collects everything logged on this thread (tokio tests run on one thread).
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn secrets_and_citizens_data_stay_out_of_debug_errors_and_logs() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "tok-logged-never", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/order/post"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Status": "102",
            "Message": "ReceiverTel 0912345678 của Nguyễn Thị Hoa không hợp lệ (tok-logged-never)"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/order/cancel"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Status": "103"})))
        .mount(&server)
        .await;
    let config = cfg(&server.uri(), SECRET);
    let peer = VnpostPeer::new(&config, TIMEOUT).expect("peer");
    let (verdict, _) = deliver(&peer, Uuid::new_v4(), OP_ORDER, &order("S-1", "2")).await;
    let cancel = peer.cancel_item("S-1", "2").expect("item");
    deliver(&peer, Uuid::new_v4(), OP_CANCEL, &cancel).await;
    let mut unreachable = cfg("http://127.0.0.1:9", SECRET);
    unreachable.base_urls.production = Some("http://u:pw-Hidden@api.example".into());
    let config_error = VnpostPeer::new(&unreachable, TIMEOUT).expect_err("plain http");
    let mut no_url = cfg("http://127.0.0.1:9", SECRET);
    no_url.environment = VnpostEnvironment::Production;

    let text = logs.text();
    assert!(text.contains("vnpost"), "the test captured nothing: {text}");
    assert!(text.contains("vnpost_cancel_too_late"), "{text}");
    let shown = format!(
        "{text}\n{verdict:?}\n{peer:?}\n{config:?}\n{config_error}\n{}\n{:?}",
        VnpostPeer::new(&no_url, TIMEOUT).expect_err("missing url"),
        toml::to_string(&config)
    );
    for secret in [
        SECRET,
        "tok-logged-never",
        "pw-Hidden",
        "0912345678",
        "Nguyễn",
        "Quảng Phú",
    ] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
}

#[tokio::test]
async fn the_registry_builds_and_checks_the_family() {
    use crate::peer::registry::{self, PeersConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::store::open(
        &format!("sqlite://{}", dir.path().join("lienthong.db").display()),
        1,
    )
    .await
    .expect("store");
    let peers: PeersConfig = toml::from_str(
        r#"
        [vnpost]
        environment = "test"
        base_urls = { test = "http://127.0.0.1:9200" }
        customer_code = "C00330117"
        consumer_key = "lienthong"
        consumer_secret = "bimat-vnpost"
        [vnpost.policy]
        max_attempts = 12
        "#,
    )
    .expect("parses");
    assert!(peers.is_configured("vnpost"));
    assert_eq!(registry::family("vnpost").map(|f| f.name), Some("vnpost"));
    assert_eq!(peers.check(std::path::Path::new(".")), Vec::<String>::new());
    let overrides = peers.overrides();
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].1.max_attempts, Some(12));
    let built = peers
        .build(std::path::Path::new("."), |_| Default::default(), &store)
        .expect("built");
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].peer.name(), "vnpost");
    assert_eq!(built[0].family.operations, &[OP_ORDER, OP_CANCEL]);
    // The simulator's section for the gateway is one the registry accepts.
    let addr: SocketAddr = "127.0.0.1:9200".parse().expect("addr");
    let section = sim::peers_toml(addr, &sim_settings());
    let wrapped: toml::Value = toml::from_str(&section).expect("toml");
    let peers: PeersConfig = wrapped
        .get("peers")
        .cloned()
        .expect("peers")
        .try_into()
        .expect("peers config");
    assert_eq!(peers.check(std::path::Path::new(".")), Vec::<String>::new());

    let broken: PeersConfig = toml::from_str(
        "[vnpost]\nenvironment = \"production\"\nbase_urls = {}\ncustomer_code = \"\"\nconsumer_key = \"k\"\n",
    )
    .expect("parses");
    let problems = broken.check(std::path::Path::new("."));
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems.iter().all(|p| p.starts_with("peers.vnpost.")));
    assert!(broken
        .build(std::path::Path::new("."), |_| Default::default(), &store)
        .is_err());
}
