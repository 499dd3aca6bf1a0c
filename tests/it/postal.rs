//! The postal service end to end, on both stores, against the portal and VNPost simulators
//! over real sockets: orders made by the routes' triggers and held until the dossier's header
//! is at the portal; tracking read by poll and by signed push, each event applied once;
//! forward-only status; steps at the portal (a delivery as status "10" after "9"); cancels; the
//! local system's read route; unplaceable addresses refused precisely.

use std::sync::Arc;

use lienthong::outbox::Lane;
use lienthong::peer::vnpost::{OP_CANCEL, OP_ORDER};
use lienthong::postal::{Postal, Quiet};
use lienthong::sim::vnpost::{self as vsim, VnpostSim, VnpostSimSettings};
use lienthong::sim::EventKind;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::{self, TestApp, TestStore};

const SECRET: &str = "vnpost-push-secret";

const HOOK_SECRET: &str = "local-webhook-secret";

/// What the local system's webhook received: (headers, body) of each call.
type Hooked = Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;

async fn local_webhook() -> (String, Hooked) {
    let seen: Hooked = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/postal-events",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    s.lock().unwrap().push((headers, body));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/postal-events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

struct PostalApp {
    app: TestApp,
    vnpost: VnpostSim,
    postal: Postal,
    hooked: Hooked,
    _stop: tokio_util::sync::DropGuard,
}

impl PostalApp {
    async fn new(ts: TestStore) -> Self {
        let stop = CancellationToken::new();
        let vnpost = VnpostSim::new(VnpostSimSettings::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(vsim::serve(listener, vnpost.clone(), stop.clone()));
        let peers: lienthong::peer::registry::PeersConfig = toml::from_str(
            &vsim::peers_toml(addr, vnpost.settings()).replace("[peers.vnpost]", "[vnpost]"),
        )
        .expect("peers toml");
        let maps = support::mappings();
        let (hook_url, hooked) = local_webhook().await;
        let app = support::spawn_app_with(ts, Default::default(), |c| {
            c.peers.vnpost = peers.vnpost.clone();
            c.peers.local_webhook = Some(
                toml::from_str(&format!(
                    "url = \"{hook_url}\"\nsecret = \"{HOOK_SECRET}\"\n"
                ))
                .unwrap(),
            );
            c.postal.callback_secret = Some(SECRET.to_string().into());
            let s = &mut c.sources[0];
            for (k, v) in [
                ("CustomerCode", "C00330117"),
                (
                    "DonViXuLy",
                    "Trung tâm Phục vụ hành chính công xã Quảng Phú",
                ),
                (
                    "DiaChiDonVi",
                    "Trụ sở Ủy ban nhân dân xã Quảng Phú, thôn Trung",
                ),
                ("DienThoaiDonVi", "02373912468"),
                ("MaTinhBuuChinh", "40"),
                ("MaHuyenBuuChinh", "4016"),
            ] {
                s.vars.insert(k.into(), v.into());
            }
            s.triggers.insert(
                "postal_collection".into(),
                maps.join("vendor-a/postal_collection.toml"),
            );
            s.triggers.insert(
                "postal_delivery".into(),
                maps.join("vendor-a/postal_delivery.toml"),
            );
        })
        .await;
        let postal = Postal::from_config(
            app.store.clone(),
            &app.config.peers,
            &app.config.postal,
            &maps,
            |n| app.config.policy_for(n),
        )
        .expect("postal builds");
        PostalApp {
            app,
            vnpost,
            postal,
            hooked,
            _stop: stop.drop_guard(),
        }
    }

    /// The lane of `family` as the application builds it (the VNPost peer with its hook for
    /// cancels refused as too late).
    fn family_lane(&self, family: &str) -> Lane {
        let config = &self.app.config;
        let built = config
            .peers
            .build(
                &support::mappings(),
                |n| config.policy_for(n),
                &self.app.store,
            )
            .unwrap();
        let b = built.into_iter().find(|b| b.family.name == family).unwrap();
        b.lane(
            self.app.store.clone(),
            "test".into(),
            Arc::new(Notify::new()),
        )
        .unwrap()
    }

    fn vnpost_lane(&self) -> Lane {
        self.family_lane("vnpost")
    }

    fn webhook_lane(&self) -> Lane {
        self.family_lane("local_webhook")
    }

    /// Delivers everything due to the portal, releases held orders, delivers them to VNPost,
    /// and tells the local webhook.
    async fn settle(&self) {
        self.app.drain(&self.app.lane("test", None)).await;
        self.postal.release().await.expect("release");
        self.app.drain(&self.vnpost_lane()).await;
        self.app.drain(&self.app.lane("test", None)).await;
        self.app.drain(&self.webhook_lane()).await;
    }

    /// Every event the local webhook was told of, checking each call's signature.
    fn hooked_events(&self) -> Vec<Value> {
        let secret = secrecy::SecretString::from(HOOK_SECRET.to_string());
        let mut events = Vec::new();
        for (headers, body) in self.hooked.lock().unwrap().iter() {
            let ts = headers["x-timestamp"].to_str().unwrap();
            assert_eq!(
                headers["x-signature"],
                lienthong::peer::webhook::sign(&secret, ts, body).as_str()
            );
            assert!(headers.contains_key("x-request-id"));
            let v: Value = serde_json::from_slice(body).unwrap();
            events.extend(v["events"].as_array().unwrap().iter().cloned());
        }
        events
    }

    async fn count(&self, operation: &str, state: &str) -> i64 {
        self.app.count(operation, state).await
    }
}

fn dossier(code: &str, channel: &str, status: &str, by_post: u8, commune: &str) -> Value {
    json!({
        "MaHoSo": code,
        "MaThuTucLocal": "TTHC-TH-0412",
        "TenThuTuc": "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ",
        "TrichYeu": "Xin cấp phép xây dựng nhà ở riêng lẻ",
        "NguoiNop": "Nguyễn Thị Hoa",
        "SoGiayTo": "038186001234",
        "DienThoai": "0912345678",
        "Email": "hoa.nt@example.com",
        "DiaChi": "Thôn Đông, xã Quảng Phú",
        "MaTinh": "38",
        "MaXa": commune,
        "LoaiNguoiNop": "CD",
        "KenhNop": channel,
        "NgayNop": "2026-11-05 08:20:00",
        "NgayNhan": "2026-11-05 08:31:00",
        "HanTra": "2026-11-19 17:00:00",
        "NgayXong": if status == "XONG" { json!("2026-11-12 16:20:00") } else { Value::Null },
        "TinhTrang": status,
        "NhanKetQuaQuaBuuDien": by_post,
        "CoSoHoa": 0,
        "PhongXuLy": "Phòng Kinh tế",
        "CapNhatLuc": "2026-11-12 16:20:07.481",
        "BoSung": [],
        "LePhi": []
    })
}

#[tokio::test]
async fn a_collection_order_waits_for_the_header_and_collection_becomes_a_step_once() {
    for ts in support::stores().await {
        let name = ts.name;
        let p = PostalApp::new(ts).await;
        let code = "000.00.56.H56-261113-0021";
        let (status, body) = p
            .app
            .post(
                "dossiers",
                &json!([dossier(code, "BUU_CHINH", "DA_NHAN", 0, "16012")]),
            )
            .await;
        assert_eq!(status, 202, "{name}: {body}");
        assert_eq!(body["rejected"], json!([]), "{name}");
        assert_eq!(
            p.count(OP_ORDER, "held").await,
            1,
            "{name}: the order is held"
        );

        // The header is not at the portal yet: the order stays held.
        let r = p.postal.release().await.unwrap();
        assert_eq!((r.released, r.held), (0, 1), "{name}");
        assert_eq!(p.vnpost.order_count(), 0, "{name}");

        p.settle().await;
        assert!(
            p.vnpost.order(code, "1").is_some(),
            "{name}: ordered after the header"
        );
        let order_calls: Vec<_> = p
            .vnpost
            .calls()
            .into_iter()
            .filter(|c| c.endpoint == "order")
            .collect();
        assert_eq!(order_calls.len(), 1, "{name}");

        // The local system sends the dossier again (an update): no second order.
        let (status, _) = p
            .app
            .post(
                "dossiers",
                &json!([dossier(code, "BUU_CHINH", "DANG_XU_LY", 0, "16012")]),
            )
            .await;
        assert_eq!(status, 202);
        p.settle().await;
        assert_eq!(
            p.count(OP_ORDER, "delivered").await + p.count(OP_ORDER, "held").await,
            1,
            "{name}: one order per dossier"
        );

        // The postman collects: one step at the portal, however often the event comes.
        let codes = p.vnpost.advance_to_end(code, "1").unwrap();
        assert_eq!(codes, vec![2, 4, 6], "{name}");
        p.vnpost.repeat_last(code, "1").unwrap();
        let report = p.postal.poll(&Quiet).await.unwrap();
        assert_eq!(
            report.applied.new, 4,
            "{name}: created, 2, 4, 6: {report:?}"
        );
        assert_eq!(report.applied.duplicate, 1, "{name}: the repeat");
        assert_eq!(
            report.applied.queued,
            1 + 4,
            "{name}: one step, and the local webhook told of the four events"
        );
        p.settle().await;
        let steps: Vec<_> = p
            .app
            .sim
            .events(code)
            .into_iter()
            .filter(|e| e.kind == EventKind::Step)
            .collect();
        assert_eq!(steps.len(), 1, "{name}: {steps:?}");
        assert_eq!(steps[0].status, "4", "{name}: the dossier's current status");

        // The same events pushed (signed) and polled again: applied once.
        let feed = p.vnpost.feed();
        let (status, answer) = p
            .vnpost
            .push(
                &format!("{}/callbacks/vnpost", p.app.base),
                SECRET,
                &feed,
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{name}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["received"], 5, "{name}");
        assert_eq!(answer["new"], 0, "{name}");
        let again = p.postal.poll(&Quiet).await.unwrap();
        assert_eq!(again.applied.new, 0, "{name}");
        assert_eq!(
            p.count("CapNhatTienDoHoSoMC", "delivered").await,
            1,
            "{name}"
        );

        let views = p.postal.orders(Some(code), None, 10).await.unwrap();
        assert_eq!(views.len(), 1, "{name}");
        assert_eq!(views[0].state, "collected", "{name}: {views:?}");
        assert_eq!(views[0].events, 4, "{name}");
    }
}

#[tokio::test]
async fn a_delivery_reaches_the_portal_as_status_10_after_9_and_later_events_change_nothing() {
    for ts in support::stores().await {
        let name = ts.name;
        let p = PostalApp::new(ts).await;
        let code = "000.00.56.H56-261105-0007";
        // Received (no order yet: the result is not ready), then finished: the delivery order.
        p.app
            .post(
                "dossiers",
                &json!([dossier(code, "TRUC_TIEP", "DA_NHAN", 1, "16012")]),
            )
            .await;
        p.settle().await;
        assert_eq!(p.vnpost.order_count(), 0, "{name}: nothing to deliver yet");
        p.app
            .post(
                "dossiers",
                &json!([dossier(code, "TRUC_TIEP", "XONG", 1, "16012")]),
            )
            .await;
        p.settle().await;
        let order = p.vnpost.order(code, "2").expect("delivery order");
        assert_eq!(order.order["ReceiverName"], "Nguyễn Thị Hoa", "{name}");
        assert_eq!(order.order["SenderDistrict"], "4016", "{name}");

        assert_eq!(
            p.vnpost.advance_to_end(code, "2").unwrap(),
            vec![6, 10, 12, 14]
        );
        let report = p.postal.poll(&Quiet).await.unwrap();
        assert_eq!(
            report.applied.queued,
            2 + 5,
            "{name}: taken for delivery, delivered; the webhook told of 1, 6, 10, 12 and 14"
        );
        p.settle().await;
        let events = p.app.sim.events(code);
        let statuses: Vec<(EventKind, String)> =
            events.iter().map(|e| (e.kind, e.status.clone())).collect();
        assert_eq!(
            statuses,
            vec![
                (EventKind::Create, "2".into()),
                (EventKind::Update, "9".into()),
                (EventKind::Step, "9".into()),
                (EventKind::Step, "10".into()),
            ],
            "{name}"
        );
        let delivered = p.app.sim.dossier(code).unwrap();
        assert_eq!(delivered["TrangThaiHoSo"], "10", "{name}: {delivered}");

        // A repeat, a late lower code and a failure after the delivery change nothing.
        p.vnpost.repeat_last(code, "2").unwrap();
        p.vnpost.publish_code(code, "2", 12).unwrap();
        p.vnpost.publish_code(code, "2", 15).unwrap();
        let report = p.postal.poll(&Quiet).await.unwrap();
        assert_eq!(report.applied.duplicate, 1, "{name}");
        assert_eq!(report.applied.new, 2, "{name}: kept, as raw events");
        assert_eq!(report.applied.changed, 0, "{name}");
        assert_eq!(
            report.applied.queued, 2,
            "{name}: no step, the two new events told"
        );
        let view = &p.postal.orders(Some(code), None, 10).await.unwrap()[0];
        assert_eq!(view.state, "delivered", "{name}: {view:?}");
        assert!(view.alert.is_none(), "{name}");
        assert_eq!(view.waybill.as_deref(), Some(order.item_code.as_str()));

        // The local system was told of each event once, by its signed webhook.
        p.settle().await;
        let told: Vec<String> = p
            .hooked_events()
            .iter()
            .filter(|e| e["MaHoSo"] == code)
            .map(|e| e["StatusCode"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(told.len(), 7, "{name}: {told:?}");
        for c in ["1", "6", "10", "14", "15"] {
            assert_eq!(
                told.iter().filter(|t| *t == c).count(),
                1,
                "{name}: {c} in {told:?}"
            );
        }

        // The local system reads its dossier's postal events with its token.
        let url = format!("{}/api/v1/dossiers/{code}/postal", p.app.base);
        let r = p
            .app
            .client
            .get(&url)
            .bearer_auth(support::TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let body: Value = r.json().await.unwrap();
        let codes: Vec<&str> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["StatusCode"].as_str().unwrap())
            .collect();
        let mut codes = codes;
        codes.sort_unstable();
        // Every distinct event once (the repeated 14 is the same event), in text order.
        assert_eq!(
            codes,
            vec!["1", "10", "12", "12", "14", "15", "6"],
            "{name}"
        );
        let r = p.app.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{name}: no token");
        let r = p
            .app
            .client
            .get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{name}");
    }
}

#[tokio::test]
async fn unsigned_wrongly_signed_and_stale_pushes_are_refused_and_store_nothing() {
    for ts in support::stores().await {
        let name = ts.name;
        let p = PostalApp::new(ts).await;
        let code = "000.00.56.H56-261113-0031";
        p.app
            .post(
                "dossiers",
                &json!([dossier(code, "BUU_CHINH", "DA_NHAN", 0, "16012")]),
            )
            .await;
        p.settle().await;
        p.vnpost.advance_to_end(code, "1").unwrap();
        let feed = p.vnpost.feed();
        let url = format!("{}/callbacks/vnpost", p.app.base);

        let (status, _) = p
            .vnpost
            .push(&url, "not-the-secret", &feed, None)
            .await
            .unwrap();
        assert_eq!(status, 401, "{name}: wrong secret");
        let stale = chrono::Utc::now().timestamp() - 301;
        let (status, _) = p
            .vnpost
            .push(&url, SECRET, &feed, Some(stale))
            .await
            .unwrap();
        assert_eq!(status, 401, "{name}: stale");
        let ahead = chrono::Utc::now().timestamp() + 301;
        let (status, _) = p
            .vnpost
            .push(&url, SECRET, &feed, Some(ahead))
            .await
            .unwrap();
        assert_eq!(status, 401, "{name}: from the future");
        let r = p
            .app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&feed).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{name}: unsigned");
        let counts = p.postal.counts().await.unwrap();
        assert_eq!(counts.events, 0, "{name}: nothing stored");
        assert_eq!(p.count("CapNhatTienDoHoSoMC", "pending").await, 0, "{name}");

        // Signed and on time: stored before the answer; the step follows.
        let (status, answer) = p.vnpost.push(&url, SECRET, &feed, None).await.unwrap();
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(
            p.postal.counts().await.unwrap().events,
            feed.len() as i64,
            "{name}"
        );
        p.settle().await;
        assert_eq!(
            p.count("CapNhatTienDoHoSoMC", "delivered").await,
            1,
            "{name}"
        );

        // A large push (above the HTTP server's usual 2 MiB) is taken whole.
        let template = feed[0].clone();
        let many: Vec<Value> = (0..6_000u64)
            .map(|i| {
                let mut e = template.clone();
                e["_id"] = json!({ "$oid": format!("{:024x}", 0xfff0_0000_u64 + i) });
                e["OrderNumber"] = json!(format!("000.00.56.H56-261101-{i:05}"));
                e["Notes"] = json!("Bưu tá đã liên hệ người nhận qua điện thoại trước khi phát");
                e
            })
            .collect();
        assert!(serde_json::to_vec(&many).unwrap().len() > 2 * 1024 * 1024);
        let (status, answer) = p.vnpost.push(&url, SECRET, &many, None).await.unwrap();
        assert_eq!(status, 200, "{name}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["new"], 6_000, "{name}");
    }
}

#[tokio::test]
async fn an_address_the_postal_table_cannot_place_is_refused_by_name_only_when_sent_by_post() {
    let p = PostalApp::new(support::sqlite().await).await;
    let (status, body) = p
        .app
        .post(
            "dossiers",
            &json!([
                dossier(
                    "000.00.56.H56-261113-0041",
                    "BUU_CHINH",
                    "DA_NHAN",
                    0,
                    "99999"
                ),
                dossier(
                    "000.00.56.H56-261113-0042",
                    "TRUC_TIEP",
                    "DA_NHAN",
                    0,
                    "99999"
                ),
            ]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(rejected[0]["index"], 0);
    let reason = rejected[0]["error"].as_str().unwrap();
    assert!(
        reason.starts_with("postal_collection route: ")
            && reason.contains("SenderProvince")
            && reason.contains("99999"),
        "{reason}"
    );
    // The dossier not sent by post is not asked about its postal area.
    assert_eq!(body["accepted"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(p.app.store.quarantine_count().await.unwrap(), 1);
    assert_eq!(p.count(OP_ORDER, "held").await, 0);
}

#[tokio::test]
async fn a_withdrawal_before_pickup_cancels_and_after_pickup_sends_no_cancel() {
    for ts in support::stores().await {
        let name = ts.name;
        let p = PostalApp::new(ts).await;
        let (early, late) = ("000.00.56.H56-261113-0051", "000.00.56.H56-261113-0052");
        p.app
            .post(
                "dossiers",
                &json!([
                    dossier(early, "BUU_CHINH", "DA_NHAN", 0, "16012"),
                    dossier(late, "BUU_CHINH", "DA_NHAN", 0, "14758"),
                ]),
            )
            .await;
        p.settle().await;
        assert_eq!(p.vnpost.order_count(), 2, "{name}");
        // The late one is collected (tracking read), then both are withdrawn.
        p.vnpost.advance_to_end(late, "1").unwrap();
        p.postal.poll(&Quiet).await.unwrap();
        let (status, body) = p
            .app
            .post(
                "dossiers",
                &json!([
                    dossier(early, "BUU_CHINH", "RUT", 0, "16012"),
                    dossier(late, "BUU_CHINH", "RUT", 0, "14758"),
                ]),
            )
            .await;
        assert_eq!(
            (status, &body["rejected"]),
            (202, &json!([])),
            "{name}: {body}"
        );
        p.settle().await;
        assert!(
            p.vnpost.order(early, "1").unwrap().cancelled,
            "{name}: cancelled"
        );
        assert!(!p.vnpost.order(late, "1").unwrap().cancelled, "{name}");
        let cancels: Vec<_> = p
            .vnpost
            .calls()
            .into_iter()
            .filter(|c| c.endpoint == "cancel")
            .collect();
        assert_eq!(
            cancels.len(),
            1,
            "{name}: no cancel for the collected order"
        );
        assert_eq!(p.count(OP_CANCEL, "skipped").await, 1, "{name}");
        let view = &p.postal.orders(Some(early), None, 10).await.unwrap()[0];
        assert_eq!(
            view.cancel_state.as_deref(),
            Some("delivered"),
            "{name}: {view:?}"
        );
        // Withdrawn again: no second cancel.
        p.app
            .post(
                "dossiers",
                &json!([dossier(early, "BUU_CHINH", "RUT", 0, "16012")]),
            )
            .await;
        p.settle().await;
        assert_eq!(
            p.count(OP_CANCEL, "delivered").await + p.count(OP_CANCEL, "skipped").await,
            2,
            "{name}"
        );
    }
}

#[tokio::test]
async fn events_of_orders_the_gateway_did_not_make_are_kept_and_reported() {
    let p = PostalApp::new(support::sqlite().await).await;
    let mut order = json!({
        "CustomerCode": "C00330117", "OrderNumber": "000.00.56.H56-261101-0099", "OrderType": "2",
        "CODAmount": "0", "SenderName": "Bưu cục", "SenderAddress": "Thanh Hóa",
        "SenderTel": "02373912468", "SenderProvince": "40", "SenderDistrict": "4016",
        "ReceiverName": "Lê Văn Tâm", "ReceiverAddress": "Thôn Bắc", "ReceiverTel": "0912345679",
        "ReceiverProvince": "40", "ReceiverDistrict": "4016"
    });
    assert_eq!(p.vnpost.place(order.clone()), "100");
    order["OrderType"] = json!("1");
    assert_eq!(p.vnpost.place(order), "100");
    let report = p.postal.poll(&Quiet).await.unwrap();
    assert_eq!((report.applied.new, report.applied.unknown), (2, 2));
    assert_eq!(
        report.applied.queued, 0,
        "no step for a dossier we do not know"
    );
    let unknown = p.postal.unknown(10).await.unwrap();
    assert_eq!(unknown.len(), 2);
    assert!(unknown
        .iter()
        .all(|e| e.effect == "unknown_order" && e.known == 0));
    let r = p
        .app
        .client
        .get(format!("{}/admin/postal/unknown", p.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "admin routes need the token");
}

/// The daemon polls the tracking feed in small pages every second and is killed (SIGKILL) again
/// and again while it does; at the end every event of the feed is stored once and every
/// collection is one step at the portal.
async fn tracking_survives_kills(store_url: &str, backend: &str) {
    use crate::daemons::Daemon;
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let portal = lienthong::sim::Simulator::new(Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let portal_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        listener,
        portal.clone(),
        stop.clone(),
    ));
    let vnpost = VnpostSim::new(VnpostSimSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnpost_addr = listener.local_addr().unwrap();
    tokio::spawn(vsim::serve(listener, vnpost.clone(), stop.clone()));
    let maps = support::mappings();
    let text = {
        support::test_config_text(store_url, &portal_base)
            .replace("[delivery]\n", "[delivery]\nlease_seconds = 2\n")
            .replace(
            "vars = { DonViXuLy = \"Trung tâm Phục vụ hành chính công tỉnh\" }",
            "vars = { DonViXuLy = \"Trung tâm Phục vụ hành chính công tỉnh\", CustomerCode = \"C00330117\", \
             DiaChiDonVi = \"Thôn Trung\", DienThoaiDonVi = \"02373912468\", MaTinhBuuChinh = \"40\", \
             MaHuyenBuuChinh = \"4016\" }",
        ) + &format!(
            "[sources.triggers]\npostal_collection = \"{}\"\n{}\n[postal]\npage_size = 3\nrelease_every_ms = 100\n\
             [schedules]\npostal_poll = \"* * * * * *\"\n",
            maps.join("vendor-a/postal_collection.toml").display(),
            vsim::peers_toml(vnpost_addr, vnpost.settings()),
        )
    };
    let client = reqwest::Client::new();
    let mut daemon = Daemon::start_text(dir.path(), "postal", &text);
    daemon.healthy(&client).await;

    let n = 80;
    let codes: Vec<String> = (0..n)
        .map(|i| format!("000.00.56.H56-261113-{:04}", 100 + i))
        .collect();
    let records: Vec<Value> = codes
        .iter()
        .map(|c| dossier(c, "BUU_CHINH", "DA_NHAN", 0, "16012"))
        .collect();
    let r = client
        .post(format!("{}/ingest/v1/tinh/dossiers", daemon.base))
        .bearer_auth(support::TOKEN)
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{backend}");
    let started = std::time::Instant::now();
    while vnpost.order_count() < n {
        assert!(
            started.elapsed().as_secs() < 60,
            "{backend}: orders not all made"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Events keep coming while it is killed, again and again, at moments that fall inside
    // and between its polls (page_size 3: each poll is many pages).
    for (i, part) in codes.chunks(n / 8).enumerate() {
        for c in part {
            vnpost.advance_to_end(c, "1").unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(900 + 170 * i as u64)).await;
        daemon.kill();
        daemon.restart();
        daemon.healthy(&client).await;
    }
    let feed = vnpost.feed().len();
    assert_eq!(feed, n * 4, "{backend}");
    let store = lienthong::store::open(store_url, 2).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let counts = store.postal_counts("vnpost").await.unwrap();
        let steps = codes
            .iter()
            .map(|c| {
                portal
                    .events(c)
                    .iter()
                    .filter(|e| e.kind == EventKind::Step)
                    .count()
            })
            .sum::<usize>();
        if counts.events as usize == feed && steps == n {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 90,
            "{backend}: {} of {feed} events stored, {steps} of {n} steps at the portal",
            counts.events
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    daemon.kill();
    for c in &codes {
        let steps: Vec<_> = portal
            .events(c)
            .into_iter()
            .filter(|e| e.kind == EventKind::Step)
            .collect();
        assert_eq!(
            steps.len(),
            1,
            "{backend}: {c}: one collection step, {steps:?}"
        );
        let events = store.postal_events(c, Some("1")).await.unwrap();
        let codes: Vec<i64> = events.iter().map(|e| e.status_code).collect();
        assert_eq!(codes, vec![1, 2, 4, 6], "{backend}: {c}");
    }
    let cursor = store
        .postal_cursor("vnpost_tracking")
        .await
        .unwrap()
        .unwrap();
    let last = vnpost.feed().last().unwrap()["_id"]["$oid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cursor, last, "{backend}");
}

#[tokio::test]
async fn the_tracking_cursor_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lienthong.db").display());
    tracking_survives_kills(&url, "sqlite").await;
}

#[tokio::test]
async fn the_tracking_cursor_survives_sigkill_on_postgres() {
    let Some(pg) = support::postgres().await else {
        return;
    };
    tracking_survives_kills(&pg.url(), "postgres").await;
}

#[tokio::test]
async fn a_dead_lettered_dossier_holds_its_order_until_it_is_replayed_and_delivered() {
    for ts in support::stores().await {
        let name = ts.name;
        let p = PostalApp::new(ts).await;
        let code = "000.00.56.H56-261113-0061";
        p.app
            .post(
                "dossiers",
                &json!([dossier(code, "BUU_CHINH", "DA_NHAN", 0, "16012")]),
            )
            .await;
        // The portal fails the header and the policy allows one attempt: dead-lettered.
        p.app.sim.script(vec![lienthong::sim::Fault::Http500]);
        let mut policy = p.app.config.policy_for("dvcqg");
        policy.max_attempts = 1;
        p.app.drain(&p.app.lane("once", Some(policy))).await;
        assert_eq!(p.count("DongBoHoSoMC", "dead").await, 1, "{name}");
        let r = p.postal.release().await.unwrap();
        assert_eq!(
            (r.released, r.held),
            (0, 1),
            "{name}: held with its dossier"
        );
        p.app.drain(&p.vnpost_lane()).await;
        assert_eq!(p.vnpost.order_count(), 0, "{name}");
        let view = &p.postal.orders(Some(code), None, 10).await.unwrap()[0];
        assert_eq!(view.state, "waiting_header", "{name}");

        // Replayed and delivered: the order follows.
        p.app
            .store
            .replay_dead("dvcqg", 0, lienthong::store::now_ms())
            .await
            .unwrap();
        p.settle().await;
        assert!(p.vnpost.order(code, "1").is_some(), "{name}");
    }
}

#[tokio::test]
async fn an_operator_cancel_answered_too_late_is_recorded_as_an_alert() {
    let p = PostalApp::new(support::sqlite().await).await;
    let code = "000.00.56.H56-261113-0071";
    p.app
        .post(
            "dossiers",
            &json!([dossier(code, "BUU_CHINH", "DA_NHAN", 0, "16012")]),
        )
        .await;
    p.settle().await;
    p.vnpost.advance_to_end(code, "1").unwrap();
    // Tracking not read yet: the gateway still believes the order can be cancelled.
    assert_eq!(
        p.postal.cancel(code, None).await.unwrap(),
        vec!["1".to_string()]
    );
    assert!(
        p.postal.cancel(code, None).await.is_err(),
        "a second cancel is refused: one is queued"
    );
    p.settle().await;
    assert!(!p.vnpost.order(code, "1").unwrap().cancelled);
    let started = std::time::Instant::now();
    loop {
        let view = &p.postal.orders(Some(code), None, 10).await.unwrap()[0];
        if let Some(alert) = &view.alert {
            assert!(alert.starts_with("103"), "{alert}");
            assert_eq!(view.cancel_state.as_deref(), Some("delivered"));
            break;
        }
        assert!(
            started.elapsed().as_secs() < 10,
            "no alert recorded: {view:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_events_applied_at_once_by_two_writers_are_decided_once() {
    use lienthong::store::{
        HeaderAt, NewMessage, PostalBatch, PostalDecision, PostalEvent, PostalEventContext,
    };
    for ts in support::stores().await {
        let name = ts.name;
        let store = ts.store.clone();
        let events: Vec<PostalEvent> = (0..10)
            .map(|i| PostalEvent {
                id: format!("{:024x}", i + 1),
                order_number: format!("D-{i}"),
                order_type: "1".into(),
                status_code: 6,
                event_time: "20261113150500".into(),
                pos_id: "401160".into(),
                item_code: None,
                raw: "{}".into(),
            })
            .collect();
        // Each writer decides slowly, so that without serialisation both would decide the
        // same new events before either stores them.
        let apply = |store: Arc<dyn lienthong::store::Store>, events: Vec<PostalEvent>| async move {
            let decide = |ctx: &PostalEventContext<'_>| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                PostalDecision {
                    after: None,
                    changed: false,
                    effect: "unchanged",
                    messages: vec![NewMessage::new(
                        "test_peer",
                        "test_op",
                        ctx.event.order_number.clone(),
                        json!({}),
                    )],
                }
            };
            store
                .apply_postal_events(
                    PostalBatch {
                        events: &events,
                        via: "push",
                        cursor: None,
                        header: HeaderAt {
                            peer: "none",
                            operations: &["none"],
                        },
                        order_tag: &|t| format!("tag_{t}"),
                        now_ms: 0,
                    },
                    &decide,
                )
                .await
                .unwrap()
        };
        let (a, b) = tokio::join!(
            tokio::spawn(apply(store.clone(), events.clone())),
            tokio::spawn(apply(store.clone(), events.clone()))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.new + b.new, 10, "{name}: {a:?} {b:?}");
        assert_eq!(a.duplicate + b.duplicate, 10, "{name}");
        assert_eq!(
            a.queued + b.queued,
            10,
            "{name}: each event's message queued once"
        );
        let queued: i64 = store
            .outbox_counts()
            .await
            .unwrap()
            .iter()
            .filter(|c| c.peer == "test_peer")
            .map(|c| c.count)
            .sum();
        assert_eq!(queued, 10, "{name}");
    }
}

#[tokio::test]
async fn the_same_events_pushed_and_polled_at_once_are_applied_once() {
    for ts in support::stores().await {
        let name = ts.name;
        let p = PostalApp::new(ts).await;
        let codes: Vec<String> = (0..20)
            .map(|i| format!("000.00.56.H56-261113-{:04}", 500 + i))
            .collect();
        let records: Vec<Value> = codes
            .iter()
            .map(|c| dossier(c, "BUU_CHINH", "DA_NHAN", 0, "16012"))
            .collect();
        p.app.post("dossiers", &json!(records)).await;
        p.settle().await;
        for c in &codes {
            p.vnpost.advance_to_end(c, "1").unwrap();
        }
        let feed = p.vnpost.feed();
        let url = format!("{}/callbacks/vnpost", p.app.base);
        for _ in 0..3 {
            let (pushed, polled) = tokio::join!(
                p.vnpost.push(&url, SECRET, &feed, None),
                p.postal.poll(&Quiet)
            );
            assert_eq!(pushed.unwrap().0, 200, "{name}");
            polled.unwrap();
        }
        p.settle().await;
        assert_eq!(
            p.postal.counts().await.unwrap().events,
            feed.len() as i64,
            "{name}"
        );
        for c in &codes {
            let steps = p
                .app
                .sim
                .events(c)
                .into_iter()
                .filter(|e| e.kind == EventKind::Step)
                .count();
            assert_eq!(steps, 1, "{name}: {c}");
        }
    }
}
