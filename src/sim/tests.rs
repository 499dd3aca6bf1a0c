//! Tests of the simulator over real sockets: each starts its own server on port 0 and talks to
//! it with reqwest, as the gateway would.

use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::*;

struct Harness {
    base: String,
    sim: Simulator,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(settings: SimSettings) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sim = Simulator::new(settings);
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(listener, sim.clone(), shutdown.clone()));
    Harness {
        base: format!("http://{addr}"),
        sim,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        shutdown,
    }
}

async fn start_default() -> Harness {
    start(SimSettings::default()).await
}

impl Harness {
    async fn login(&self) -> String {
        let v: Value = self
            .client
            .post(format!("{}/auth", self.base))
            .header("dstcode", "000.00.01.H56")
            .json(&json!({"username": "lienthong", "password": "matkhau"}))
            .send()
            .await
            .expect("auth")
            .json()
            .await
            .expect("auth json");
        assert!(v["error_code"] == 0 || v["error_code"] == "0", "{v}");
        v["session"].as_str().expect("session").to_string()
    }

    async fn send(
        &self,
        path: &str,
        request_id: Option<&str>,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(id) = request_id {
            req = req.header("X-Request-ID", id);
        }
        req.send().await
    }

    async fn call(&self, path: &str, request_id: Option<&str>, body: &Value) -> Value {
        let resp = self.send(path, request_id, body).await.expect("send");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("json")
    }

    async fn integration(&self, request_id: &str, body: &Value) -> Value {
        self.call("/integration", Some(request_id), body).await
    }
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

const MA: &str = "000.00.56.H56-261105-0007";
const MA2: &str = "000.00.56.H56-261028-0004";

fn hoso(ma: &str) -> Value {
    json!({
        "MaHoSo": ma,
        "MaTTHC": "1.005129",
        "TenTTHC": "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
        "MaLinhVuc": "G12-TN01",
        "TenLinhVuc": "Đất đai",
        "KenhThucHien": "1",
        "ChuHoSo": "Nguyễn Thị Hoa",
        "LoaiDoiTuong": "1",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "038186001234"}],
        "SoDienThoai": "0912345678",
        "Email": "hoa.nt@example.com",
        "TrichYeuHoSo": "Xin cấp giấy chứng nhận",
        "NgayNopHoSo": "20261105082000",
        "NgayTiepNhan": "20261105083100",
        "NgayHenTra": "20261119170000",
        "TrangThaiHoSo": "2",
        "HinhThuc": "1",
        "DonViXuLy": "Ủy ban nhân dân xã Quảng Phú",
        "HoSoCoThanhPhanSoHoa": "0",
        "DuocThanhToanTrucTuyen": "3",
        "DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "LP.01", "HinhThucThu": "1", "Gia": "75000", "LoaiPhiLePhi": "2"}]
    })
}

fn step(ma: &str, at: &str, status: &str, content: &str) -> Value {
    json!({
        "MaHoSo": ma,
        "NguoiXuLy": "Hoàng Thị Mai",
        "ChucDanh": "Công chức",
        "ThoiDiemXuLy": at,
        "PhongBanXuLy": "Bộ phận Một cửa",
        "NoiDungXuLy": content,
        "TrangThai": status
    })
}

fn dossiers(session: &str, updating: bool, items: Vec<Value>) -> Value {
    json!({
        "session": session,
        "madonvi": "000.00.01.H56",
        "service": "DongBoHoSoMC",
        "isUpdating": if updating { "True" } else { "False" },
        "data": items,
    })
}

fn steps(session: &str, items: Vec<Value>) -> Value {
    json!({"session": session, "madonvi": "000.00.01.H56", "service": "CapNhatTienDoHoSoMC", "data": items})
}

fn share(session: &str, service: &str) -> Value {
    json!({"session": session, "madonvi": "000.00.01.H56", "service": service})
}

fn codes(answer: &Value) -> Vec<i64> {
    answer["result"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["error_code"].as_i64().unwrap_or(-99))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn session_login_checks_credentials_and_dstcode() {
    let h = start_default().await;
    let url = format!("{}/auth", h.base);
    let wrong_password: Value = h
        .client
        .post(&url)
        .header("dstcode", "000.00.01.H56")
        .json(&json!({"username": "lienthong", "password": "sai"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_password["error_code"], -1);
    assert_eq!(wrong_password["message"], "Sai tên đăng nhập hoặc mật khẩu");
    let wrong_dst: Value = h
        .client
        .post(&url)
        .header("dstcode", "000.00.02.H56")
        .json(&json!({"username": "lienthong", "password": "matkhau"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_dst["error_code"], -1);

    let session = h.login().await;
    let list = h
        .call("/share", Some(&id()), &share(&session, "LayDanhSachTTHC"))
        .await;
    assert_eq!(list["error_code"], 0);
    assert_eq!(
        list["result"].as_array().map(Vec::len),
        Some(DEFAULT_PROCEDURES)
    );

    let bad = h
        .call("/share", Some(&id()), &share("khong-co", "LayDanhSachTTHC"))
        .await;
    assert_eq!(bad["error_code"], -2);
    assert_eq!(h.sim.stats().session_errors, 1);
    assert_eq!(
        bad["message"],
        "Phiên làm việc không hợp lệ hoặc đã hết hạn"
    );
}

#[tokio::test]
async fn lgsp_token_mode_with_bearer_and_header() {
    let h = start(SimSettings {
        require_lgsp_header: true,
        ..SimSettings::default()
    })
    .await;
    let url = format!("{}/oauth/token", h.base);
    let refused = h
        .client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "lienthong"),
            ("client_secret", "sai"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let wrong_grant = h
        .client
        .post(&url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", "lienthong"),
            ("client_secret", "bimat"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_grant.status(), 400);
    let token: Value = h
        .client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "lienthong"),
            ("client_secret", "bimat"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let access = token["access_token"].as_str().unwrap().to_string();

    let lgsp = base64::engine::general_purpose::STANDARD.encode(
        json!({"AccessKey": "a", "SecretKey": "s", "AppName": "lienthong", "PartnerCode": "000.00.01.H56", "PartnerCodeCus": "000.00.01.H56"})
            .to_string(),
    );
    let body = json!({"madonvi": "000.00.01.H56", "service": "DongBoHoSoMC", "isUpdating": "False", "data": [hoso(MA)]});
    let post = |bearer: &str, header: Option<&str>| {
        let mut req = h
            .client
            .post(format!("{}/integration", h.base))
            .header("X-Request-ID", id())
            .bearer_auth(bearer)
            .json(&body);
        if let Some(v) = header {
            req = req.header("lgspaccesstoken", v.to_string());
        }
        req.send()
    };
    assert_eq!(post(&access, None).await.unwrap().status(), 403);
    assert_eq!(post("khong-co", Some(&lgsp)).await.unwrap().status(), 401);
    let ok = post(&access, Some(&lgsp)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(codes(&ok), vec![0]);

    h.sim.expire_sessions();
    assert_eq!(post(&access, Some(&lgsp)).await.unwrap().status(), 401);
}

#[tokio::test]
async fn session_expires_after_ttl_then_login_again_works() {
    let h = start(SimSettings {
        session_ttl: Duration::from_millis(300),
        ..SimSettings::default()
    })
    .await;
    let session = h.login().await;
    let rid = id();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = h
        .integration(&rid, &dossiers(&session, false, vec![hoso(MA)]))
        .await;
    assert_eq!(expired["error_code"], -2);
    assert!(h.sim.dossier(MA).is_none());
    // The gateway logs in again and repeats under the same id: processed afresh.
    let session = h.login().await;
    let ok = h
        .integration(&rid, &dossiers(&session, false, vec![hoso(MA)]))
        .await;
    assert_eq!(codes(&ok), vec![0]);
    assert_eq!(h.sim.events(MA).len(), 1);
    assert_eq!(h.sim.stats().duplicates_absorbed, 0);
}

#[tokio::test]
async fn scripted_session_expiry_answers_minus_two() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim.script(vec![Fault::ExpireSessions]);
    let rid = id();
    let body = dossiers(&session, false, vec![hoso(MA)]);
    assert_eq!(h.integration(&rid, &body).await["error_code"], -2);
    let session = h.login().await;
    let ok = h
        .integration(&rid, &dossiers(&session, false, vec![hoso(MA)]))
        .await;
    assert_eq!(codes(&ok), vec![0]);
    assert_eq!(
        h.sim.stats().faults_injected.get("session_expiry"),
        Some(&1)
    );
}

#[tokio::test]
async fn each_validation_rule_answers_item_code_two_naming_the_field() {
    let h = start_default().await;
    let session = h.login().await;
    let long = "a".repeat(1001);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("ChuHoSo", Value::Null, "Trường ChuHoSo không được để trống"),
        (
            "ChuHoSo",
            json!("   "),
            "Trường ChuHoSo không được để trống",
        ),
        ("MaTTHC", json!(""), "Trường MaTTHC không được để trống"),
        (
            "NgayHenTra",
            json!("20261131170000"),
            "Trường NgayHenTra không đúng định dạng",
        ),
        (
            "NgayHenTra",
            json!("2026-11-19 17:00"),
            "Trường NgayHenTra không đúng định dạng",
        ),
        (
            "NgayTiepNhan",
            json!(""),
            "Trường NgayTiepNhan không được để trống",
        ),
        (
            "NgayHenTra",
            json!("20261101170000"),
            "Trường NgayHenTra không được trước NgayTiepNhan",
        ),
        (
            "KenhThucHien",
            json!("01"),
            "Trường KenhThucHien không hợp lệ",
        ),
        (
            "KenhThucHien",
            json!(1),
            "Trường KenhThucHien không đúng kiểu dữ liệu",
        ),
        (
            "LoaiDoiTuong",
            json!("5"),
            "Trường LoaiDoiTuong không hợp lệ",
        ),
        (
            "TrangThaiHoSo",
            json!("11"),
            "Trường TrangThaiHoSo không hợp lệ",
        ),
        ("HinhThuc", json!("2"), "Trường HinhThuc không hợp lệ"),
        (
            "HoSoCoThanhPhanSoHoa",
            json!("2"),
            "Trường HoSoCoThanhPhanSoHoa không hợp lệ",
        ),
        (
            "MaHoSo",
            json!("000.00.56.H56-261305-0007"),
            "Trường MaHoSo không đúng định dạng",
        ),
        (
            "MaHoSo",
            json!("HS-0007"),
            "Trường MaHoSo không đúng định dạng",
        ),
        (
            "MaHoSo",
            json!("000.00.56.H56-261105-٠٠٧"),
            "Trường MaHoSo không đúng định dạng",
        ),
        (
            "MaHoSo",
            json!(format!("000.00.56.H56-261105-{}", "1".repeat(40))),
            "Trường MaHoSo vượt quá 50 ký tự",
        ),
        (
            "TrichYeuHoSo",
            json!(long),
            "Trường TrichYeuHoSo vượt quá 1000 ký tự",
        ),
        (
            "SoDienThoai",
            json!("091234"),
            "Trường SoDienThoai không đúng định dạng",
        ),
        (
            "Email",
            json!("khong-phai-email"),
            "Trường Email không đúng định dạng",
        ),
        (
            "DanhSachLePhi",
            json!([{"Gia": "50.000đ"}]),
            "Trường Gia không đúng định dạng",
        ),
    ];
    for (field, value, message) in cases {
        let mut item = hoso(MA);
        item[field] = value;
        let answer = h
            .integration(&id(), &dossiers(&session, false, vec![item]))
            .await;
        assert_eq!(answer["error_code"], 0, "{field}: {answer}");
        assert_eq!(codes(&answer), vec![2], "{field}: {answer}");
        assert_eq!(answer["result"][0]["message"], message, "{field}");
    }
    assert!(h.sim.dossier(MA).is_none());

    // Summary of exactly 1000 characters (Vietnamese letters count once each) is fine.
    let mut item = hoso(MA);
    item["TrichYeuHoSo"] = json!("ệ".repeat(1000));
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![item]))
        .await;
    assert_eq!(codes(&answer), vec![0], "{answer}");

    // A refused dossier needs its refusal date and has no end of processing.
    let mut refused = hoso(MA);
    refused["TrangThaiHoSo"] = json!("3");
    refused["NgayHenTra"] = json!("");
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![refused.clone()]))
        .await;
    assert_eq!(
        answer["result"][0]["message"],
        "Trường NgayTuChoi không được để trống"
    );
    refused["NgayTuChoi"] = json!("20261105090000");
    refused["NgayKetThucXuLy"] = json!("20261105090000");
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![refused]))
        .await;
    assert_eq!(
        answer["result"][0]["message"],
        "Trường NgayKetThucXuLy không hợp lệ"
    );

    // A new online dossier may leave reception and due dates empty.
    let mut item = hoso(MA2);
    item["TrangThaiHoSo"] = json!("1");
    item["NgayTiepNhan"] = json!("");
    item["NgayHenTra"] = json!("");
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![item]))
        .await;
    assert_eq!(codes(&answer), vec![0], "{answer}");

    let mut long_name = step(MA, "20261105083100", "2", "Tiếp nhận");
    long_name["NguoiXuLy"] = json!("x".repeat(51));
    let mut bad_status = step(MA, "20261105083100", "2", "Tiếp nhận");
    bad_status["TrangThai"] = json!("02");
    let answer = h
        .integration(
            &id(),
            &steps(
                &session,
                vec![
                    long_name,
                    bad_status,
                    step(MA, "20261105250000", "2", "Giờ sai"),
                ],
            ),
        )
        .await;
    assert_eq!(codes(&answer), vec![2, 2, 2]);
    assert_eq!(
        answer["result"][0]["message"],
        "Trường NguoiXuLy vượt quá 50 ký tự"
    );
    assert_eq!(
        answer["result"][1]["message"],
        "Trường TrangThai không hợp lệ"
    );
    assert_eq!(
        answer["result"][2]["message"],
        "Trường ThoiDiemXuLy không đúng định dạng"
    );
}

#[tokio::test]
async fn envelope_level_errors_answer_code_two() {
    let h = start_default().await;
    let session = h.login().await;
    let mut body = dossiers(&session, false, vec![hoso(MA)]);
    body["isUpdating"] = json!("false");
    assert_eq!(h.integration(&id(), &body).await["error_code"], 2);
    let too_many = dossiers(
        &session,
        false,
        (0..51)
            .map(|i| hoso(&format!("000.00.56.H56-261105-{i}")))
            .collect(),
    );
    assert_eq!(h.integration(&id(), &too_many).await["error_code"], 2);
    let eleven = steps(
        &session,
        (0..11)
            .map(|_| step(MA, "20261105083100", "2", "x"))
            .collect(),
    );
    assert_eq!(h.integration(&id(), &eleven).await["error_code"], 2);
    let wrong_route = h
        .call(
            "/share",
            Some(&id()),
            &dossiers(&session, false, vec![hoso(MA)]),
        )
        .await;
    assert_eq!(wrong_route["error_code"], 2);
    let mut no_caller = dossiers(&session, false, vec![hoso(MA)]);
    no_caller["madonvi"] = json!("");
    assert_eq!(h.integration(&id(), &no_caller).await["error_code"], 2);
    assert_eq!(h.sim.dossier_count(), 0);
}

#[tokio::test]
async fn unknown_procedure_exists_and_missing_codes() {
    let h = start_default().await;
    let session = h.login().await;
    let mut unknown = hoso(MA2);
    unknown["MaTTHC"] = json!("9.999999");
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![hoso(MA), unknown]))
        .await;
    assert_eq!(codes(&answer), vec![0, 5]);
    assert_eq!(answer["result"][1]["MaHoSo"], MA2);
    assert_eq!(
        answer["message"],
        "Đồng bộ hoàn tất: 1 hồ sơ thành công, 1 hồ sơ lỗi"
    );

    let again = h
        .integration(&id(), &dossiers(&session, false, vec![hoso(MA)]))
        .await;
    assert_eq!(codes(&again), vec![3]);
    assert_eq!(again["result"][0]["message"], "Hồ sơ đã tồn tại");

    let update_unknown = h
        .integration(&id(), &dossiers(&session, true, vec![hoso(MA2)]))
        .await;
    assert_eq!(codes(&update_unknown), vec![4]);

    let mut changed = hoso(MA);
    changed["TrangThaiHoSo"] = json!("4");
    let update = h
        .integration(&id(), &dossiers(&session, true, vec![changed]))
        .await;
    assert_eq!(codes(&update), vec![0]);
    assert_eq!(h.sim.dossier(MA).unwrap()["TrangThaiHoSo"], "4");
    let kinds: Vec<EventKind> = h.sim.events(MA).iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::Create, EventKind::Update]);

    let found = h
        .integration(&id(), &json!({"session": session, "madonvi": "000.00.01.H56", "service": "TraCuuHoSo", "mahoso": MA}))
        .await;
    assert_eq!(found["result"][0]["TrangThaiHoSo"], "4");
    assert_eq!(found["result"][0]["MaTTHC"], "1.005129");
    let missing = h
        .integration(&id(), &json!({"session": session, "madonvi": "000.00.01.H56", "service": "TraCuuHoSo", "mahoso": MA2}))
        .await;
    assert_eq!(missing["result"], json!([]));

    let stats = h.sim.stats();
    assert_eq!(stats.items_applied.get("DongBoHoSoMC"), Some(&2));
    assert_eq!(stats.items_rejected.get("3"), Some(&1));
    assert_eq!(stats.items_rejected.get("4"), Some(&1));
    assert_eq!(stats.items_rejected.get("5"), Some(&1));
}

#[tokio::test]
async fn steps_wait_for_their_dossier_are_idempotent_and_order_is_checked() {
    let h = start_default().await;
    let session = h.login().await;
    let waiting = id();
    let first_step = steps(&session, vec![step(MA, "20261105083100", "2", "Tiếp nhận")]);
    assert_eq!(codes(&h.integration(&waiting, &first_step).await), vec![4]);
    assert_eq!(
        h.integration(&id(), &dossiers(&session, false, vec![hoso(MA)]))
            .await["error_code"],
        0
    );
    // Nothing was applied the first time, so the same id goes again and is processed afresh.
    assert_eq!(codes(&h.integration(&waiting, &first_step).await), vec![0]);

    let batch = steps(
        &session,
        vec![
            step(MA, "20261105083100", "2", "Tiếp nhận"),
            step(MA, "20261105101500", "4", "Phân công thụ lý"),
        ],
    );
    assert_eq!(codes(&h.integration(&id(), &batch).await), vec![0, 0]);
    // The same steps again inside a different batch: accepted, not applied twice.
    let again = steps(
        &session,
        vec![
            step(MA, "20261105101500", "4", "Phân công thụ lý"),
            step(MA, "20261105090000", "4", "Bước đến muộn"),
        ],
    );
    assert_eq!(codes(&h.integration(&id(), &again).await), vec![0, 0]);

    let events = h.sim.events(MA);
    let statuses: Vec<(EventKind, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind, e.thoi_diem.as_deref()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (EventKind::Create, None),
            (EventKind::Step, Some("20261105083100")),
            (EventKind::Step, Some("20261105101500")),
            (EventKind::Step, Some("20261105090000")),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    let stats = h.sim.stats();
    assert_eq!(stats.out_of_order_steps, 1);
    assert_eq!(stats.duplicate_steps, 2);
    assert_eq!(stats.duplicates_absorbed, 0);
    assert_eq!(stats.violations, Violations::default());
    assert_eq!(stats.items_applied.get("CapNhatTienDoHoSoMC"), Some(&3));
}

#[tokio::test]
async fn drop_after_apply_then_replay_returns_the_first_answer_once() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim.script(vec![Fault::DropAfterApply]);
    let rid = id();
    let body = dossiers(&session, false, vec![hoso(MA), hoso(MA2)]);
    assert!(h.send("/integration", Some(&rid), &body).await.is_err());
    assert!(h.sim.dossier(MA).is_some(), "work was applied");

    // A retry after a re-login: new session, same id, same items.
    let session = h.login().await;
    let retry = dossiers(&session, false, vec![hoso(MA), hoso(MA2)]);
    let answer = h.integration(&rid, &retry).await;
    assert_eq!(codes(&answer), vec![0, 0], "first answer, not 3");
    assert_eq!(h.sim.events(MA).len(), 1);
    let stats = h.sim.stats();
    assert_eq!(stats.duplicates_absorbed, 1);
    assert_eq!(stats.faults_injected.get("drop_after_apply"), Some(&1));
    assert_eq!(stats.violations, Violations::default());
}

#[tokio::test]
async fn request_id_violations_are_counted() {
    let h = start_default().await;
    let session = h.login().await;
    let body = dossiers(&session, false, vec![hoso(MA)]);
    h.integration("id-1", &body).await;
    // Same body under a second id: applied again as a create, so 3, and counted.
    assert_eq!(codes(&h.integration("id-2", &body).await), vec![3]);
    // Same id, different body.
    h.integration("id-1", &dossiers(&session, false, vec![hoso(MA2)]))
        .await;
    // No id at all.
    h.call("/share", None, &share(&session, "LayDanhSachTTHC"))
        .await;
    let v = h.sim.stats().violations;
    assert_eq!(v.same_body_under_two_ids, 1);
    assert_eq!(v.id_reused_with_different_body, 1);
    assert_eq!(v.missing_request_id, 1);

    let served: SimStats = h
        .client
        .get(format!("{}/sim/stats", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served.violations, v);
    assert!(served.requests >= 5);
}

#[tokio::test]
async fn http_faults_carry_retry_after_and_apply_nothing() {
    let h = start_default().await;
    let session = h.login().await;
    let date = SystemTime::now() + Duration::from_secs(120);
    h.sim.script(vec![
        Fault::Http503 {
            retry_after: RetryAfter::Seconds(7),
        },
        Fault::Http429 {
            retry_after: RetryAfter::HttpDate(date),
        },
        Fault::Http500,
    ]);
    let rid = id();
    let body = dossiers(&session, false, vec![hoso(MA)]);
    let r = h.send("/integration", Some(&rid), &body).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    let r = h.send("/integration", Some(&rid), &body).await.unwrap();
    assert_eq!(r.status(), 429);
    let when = r.headers()["retry-after"].to_str().unwrap();
    assert_eq!(when, httpdate::fmt_http_date(date));
    let r = h.send("/integration", Some(&rid), &body).await.unwrap();
    assert_eq!(r.status(), 500);
    assert!(h.sim.dossier(MA).is_none());
    // The same id is then processed afresh.
    assert_eq!(codes(&h.integration(&rid, &body).await), vec![0]);
    assert_eq!(h.sim.stats().duplicates_absorbed, 0);
    let injected = h.sim.stats().faults_injected;
    assert_eq!(injected.get("http_503"), Some(&1));
    assert_eq!(injected.get("http_429"), Some(&1));
    assert_eq!(injected.get("http_500"), Some(&1));
}

#[tokio::test]
async fn drop_before_apply_and_envelope_temporary_apply_nothing() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim
        .script(vec![Fault::DropBeforeApply, Fault::EnvelopeTemporary]);
    let rid = id();
    let body = dossiers(&session, false, vec![hoso(MA)]);
    assert!(h.send("/integration", Some(&rid), &body).await.is_err());
    assert!(h.sim.dossier(MA).is_none());
    let temp = h.integration(&rid, &body).await;
    assert_eq!(temp["error_code"], 9);
    assert!(temp.get("result").is_none());
    assert!(h.sim.dossier(MA).is_none());
    assert_eq!(codes(&h.integration(&rid, &body).await), vec![0]);
    assert_eq!(h.sim.events(MA).len(), 1);
}

#[tokio::test]
async fn item_temporary_fails_some_items_and_applies_the_others() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim.script(vec![Fault::ItemTemporary { items: vec![1] }]);
    let third = "000.00.56.H56-261105-0009";
    let body = dossiers(&session, false, vec![hoso(MA), hoso(MA2), hoso(third)]);
    let answer = h.integration(&id(), &body).await;
    assert_eq!(codes(&answer), vec![0, 9, 0]);
    assert!(h.sim.dossier(MA2).is_none());
    assert!(h.sim.dossier(third).is_some());
}

#[tokio::test]
async fn slow_answers_are_late_but_right() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim.script(vec![Fault::Slow {
        delay: Duration::from_millis(300),
    }]);
    let started = Instant::now();
    let answer = h
        .call("/share", Some(&id()), &share(&session, "LayDanhSachTTHC"))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer["error_code"], 0);
}

#[tokio::test]
async fn fault_rates_are_applied_and_can_be_changed_at_runtime() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim.set_faults(FaultRates {
        http500: 1.0,
        ..FaultRates::default()
    });
    let body = share(&session, "LayDanhSachTTHC");
    let r = h.send("/share", Some(&id()), &body).await.unwrap();
    assert_eq!(r.status(), 500);
    h.sim.set_faults(FaultRates {
        http503: 1.0,
        retry_after_secs: 30,
        retry_after_as_date: true,
        ..FaultRates::default()
    });
    let r = h.send("/share", Some(&id()), &body).await.unwrap();
    assert_eq!(r.status(), 503);
    let when = r.headers()["retry-after"].to_str().unwrap();
    let when = httpdate::parse_http_date(when).expect("an HTTP date");
    assert!(when > SystemTime::now());
    h.sim.set_faults(FaultRates::default());
    let r = h.send("/share", Some(&id()), &body).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(FaultRates {
        http503: 0.7,
        http429: 0.7,
        ..FaultRates::default()
    }
    .validate()
    .is_err());
}

#[tokio::test]
async fn catalog_reads_and_surveys() {
    let h = start_default().await;
    let session = h.login().await;
    let mut body = share(&session, "LayThuTuc");
    body["maTTHC"] = json!("1.005129");
    let one = h.call("/share", Some(&id()), &body).await;
    assert_eq!(one["result"][0]["MATTHC"], "1.005129");
    assert!(one["result"][0]["CACHTHUCTHUCHIEN"].is_array());
    body["maTTHC"] = json!("9.999999");
    assert_eq!(
        h.call("/share", Some(&id()), &body).await["result"],
        json!([])
    );
    let fields = h
        .call("/share", Some(&id()), &share(&session, "LayDanhMucLinhVuc"))
        .await;
    assert!(!fields["result"].as_array().unwrap().is_empty());

    let surveys = json!({"session": session, "madonvi": "000.00.01.H56", "service": "DongBoDanhGia", "data": [
        {"NgayTongHop": "11-2026", "MaThuTuc": "1.005129", "Madonvi": "000.00.56.H56", "TenDonVi": "UBND xã",
         "TongSoNguoiDanhGia": 40, "PhanTramDanhGiaRatHaiLong": "65%", "PhanTramDanhGiaHaiLong": "30%", "PhanTramDanhGiaChuaHaiLong": "5%"},
        {"NgayTongHop": "13-2026", "MaThuTuc": "1.005129", "Madonvi": "000.00.56.H56", "TongSoNguoiDanhGia": 1},
        {"NgayTongHop": "11-2026", "MaThuTuc": "2.000889", "Madonvi": "000.00.56.H56", "TongSoNguoiDanhGia": 3, "PhanTramDanhGiaHaiLong": "130%"}
    ]});
    let answer = h.integration(&id(), &surveys).await;
    assert_eq!(codes(&answer), vec![0, 2, 2]);
    assert_eq!(
        answer["result"][1]["message"],
        "Trường NgayTongHop không đúng định dạng"
    );
    assert_eq!(h.sim.surveys().len(), 1);
}

#[tokio::test]
async fn garbage_never_panics_the_server() {
    let h = start_default().await;
    let session = h.login().await;
    let raw: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"[1,2,3]".to_vec(),
        b"null".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        "[".repeat(10_000).into_bytes(),
        format!(r#"{{"session":"{session}","madonvi":"x","service":"DongBoHoSoMC","isUpdating":"False","data":[1,"a",null,[],{{"MaHoSo":5}}]}}"#).into_bytes(),
        format!(r#"{{"session":"{session}","madonvi":"x","service":"CapNhatTienDoHoSoMC","data":[{{"MaHoSo":{{}}}},true]}}"#).into_bytes(),
        format!(r#"{{"session":"{session}","madonvi":"x","service":"DongBoDanhGia","data":[{{"TongSoNguoiDanhGia":-1}},{{"NgayTongHop":[]}}]}}"#).into_bytes(),
        format!(r#"{{"session":"{session}","madonvi":7,"service":7}}"#).into_bytes(),
        format!(r#"{{"session":"{session}","madonvi":"x","service":"TraCuuHoSo","mahoso":{{}}}}"#).into_bytes(),
    ];
    for path in [
        "/auth",
        "/oauth/token",
        "/integration",
        "/share",
        "/nowhere",
    ] {
        for body in &raw {
            let r = h
                .client
                .post(format!("{}{path}", h.base))
                .header("X-Request-ID", id())
                .header("Authorization", "Bearer")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("server answers");
            assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
        }
    }
    let r = h
        .client
        .get(format!("{}/integration", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // Still alive and serving.
    assert_eq!(
        h.call("/share", Some(&id()), &share(&session, "LayDanhSachTTHC"))
            .await["error_code"],
        0
    );
}

#[tokio::test]
async fn shutdown_ends_serve() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(listener, Simulator::default(), shutdown.clone()));
    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))));
}

#[tokio::test]
async fn options_parse_with_defaults_and_run_standalone() {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimOptions,
    }
    let defaults = Cli::try_parse_from(["sim"]).unwrap().sim;
    assert_eq!(defaults.listen.to_string(), "127.0.0.1:9000");
    let s = defaults.settings();
    assert_eq!(s.username, "lienthong");
    assert_eq!(s.password, "matkhau");
    assert_eq!(s.session_ttl, Duration::from_secs(1800));
    assert!(!format!("{s:?}").contains("matkhau"));

    let opts = Cli::try_parse_from([
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--fault-503",
        "0.1",
        "--seed",
        "7",
    ])
    .unwrap()
    .sim;
    assert_eq!(opts.settings().faults.http503, 0.1);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_standalone(opts, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))));

    let bad = Cli::try_parse_from(["sim", "--listen", "127.0.0.1:0", "--fault-503", "2"])
        .unwrap()
        .sim;
    assert!(run_standalone(bad, CancellationToken::new()).await.is_err());
}

#[tokio::test]
async fn string_codes_setting_sends_codes_as_strings() {
    let h = start(SimSettings {
        string_codes: true,
        ..SimSettings::default()
    })
    .await;
    let session = h.login().await;
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![hoso(MA)]))
        .await;
    assert_eq!(answer["error_code"], "0");
    assert_eq!(answer["result"][0]["error_code"], "0");
    let expired = h
        .call("/share", Some(&id()), &share("khong-co", "LayDanhSachTTHC"))
        .await;
    assert_eq!(expired["error_code"], "-2");
}

#[tokio::test]
async fn concurrent_deliveries_of_one_id_apply_once() {
    let h = start_default().await;
    let session = h.login().await;
    let rid = id();
    let body = dossiers(&session, false, vec![hoso(MA)]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = h.client.clone();
        let url = format!("{}/integration", h.base);
        let rid = rid.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let v: Value = client
                .post(url)
                .header("X-Request-ID", rid)
                .json(&body)
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            v
        }));
    }
    for t in tasks {
        let answer = t.await.expect("task");
        assert_eq!(
            codes(&answer),
            vec![0],
            "every delivery gets the first answer"
        );
    }
    assert_eq!(h.sim.events(MA).len(), 1);
    assert_eq!(h.sim.stats().duplicates_absorbed, 7);

    // Many distinct batches in parallel: each applied exactly once.
    let mut tasks = Vec::new();
    for n in 0..50 {
        let client = h.client.clone();
        let url = format!("{}/integration", h.base);
        let body = dossiers(
            &session,
            false,
            vec![hoso(&format!("000.00.56.H56-261106-{n}"))],
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("X-Request-ID", id())
                .json(&body)
                .send()
                .await
                .expect("send")
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 200);
    }
    assert_eq!(h.sim.dossier_count(), 51);
    assert_eq!(h.sim.stats().dossiers, 51);
}

#[tokio::test]
async fn expire_endpoint_and_request_id_echo() {
    let h = start_default().await;
    let session = h.login().await;
    let r = h
        .send(
            "/share",
            Some("abc-123"),
            &share(&session, "LayDanhMucCoQuan"),
        )
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = h
        .client
        .post(format!("{}/sim/expire-sessions", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let answer = h
        .call("/share", Some(&id()), &share(&session, "LayDanhMucCoQuan"))
        .await;
    assert_eq!(answer["error_code"], -2);
    assert!(h.sim.dossier_codes().is_empty());
}

#[tokio::test]
async fn slow_after_apply_times_the_client_out_with_the_work_done() {
    let h = start_default().await;
    let session = h.login().await;
    h.sim.script(vec![Fault::SlowAfterApply {
        delay: Duration::from_secs(5),
    }]);
    let rid = id();
    let body = dossiers(&session, false, vec![hoso(MA)]);
    let timed_out = h
        .client
        .post(format!("{}/integration", h.base))
        .header("X-Request-ID", &rid)
        .timeout(Duration::from_millis(200))
        .json(&body)
        .send()
        .await;
    assert!(timed_out.is_err());
    assert!(h.sim.dossier(MA).is_some());
    let answer = h.integration(&rid, &body).await;
    assert_eq!(codes(&answer), vec![0]);
    assert_eq!(h.sim.events(MA).len(), 1);
    assert_eq!(h.sim.stats().duplicates_absorbed, 1);
}

// ---------------------------------------------------------------------------------------------
// The procedure catalog, seen through `/share` and `/sim/catalog/*`.

async fn small_catalog() -> Harness {
    start(SimSettings {
        procedures: 60,
        ..SimSettings::default()
    })
    .await
}

impl Harness {
    async fn list(&self, session: &str) -> Vec<Value> {
        let answer = self
            .call("/share", Some(&id()), &share(session, "LayDanhSachTTHC"))
            .await;
        assert_eq!(answer["error_code"], 0, "{answer}");
        answer["result"].as_array().expect("list").clone()
    }

    async fn thu_tuc_raw(&self, session: &str, code: &str) -> reqwest::Response {
        let mut body = share(session, "LayThuTuc");
        body["maTTHC"] = json!(code);
        self.send("/share", Some(&id()), &body).await.expect("send")
    }

    async fn thu_tuc(&self, session: &str, code: &str) -> Value {
        let resp = self.thu_tuc_raw(session, code).await;
        assert_eq!(resp.status(), 200);
        let answer: Value = resp.json().await.expect("json");
        assert_eq!(answer["error_code"], 0, "{answer}");
        answer["result"].clone()
    }

    async fn control(&self, action: &str, body: Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/sim/catalog/{action}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("control json"))
    }
}

fn row<'a>(list: &'a [Value], code: &str) -> Option<&'a Value> {
    list.iter().find(|r| r["MATTHC"] == code)
}

#[tokio::test]
async fn the_list_and_objects_come_from_the_generated_catalog() {
    let h = start_default().await;
    let session = h.login().await;
    let list = h.list(&session).await;
    assert_eq!(list.len(), DEFAULT_PROCEDURES);
    let codes: Vec<&str> = list.iter().map(|r| r["MATTHC"].as_str().unwrap()).collect();
    assert_eq!(codes, h.sim.catalog().codes());
    assert!(list.iter().all(|r| r["TRANGTHAI"] == "1"));
    for code in ProcedureCatalog::fixture_codes() {
        assert_eq!(row(&list, &code).expect("fixture listed")["TRANGTHAI"], "1");
    }
    let code = codes[1234];
    let result = h.thu_tuc(&session, code).await;
    assert_eq!(result, json!([h.sim.catalog().procedure(code).unwrap()]));
    assert_eq!(h.sim.catalog().list_calls(), 1);
    assert_eq!(h.sim.catalog().procedure_calls(), 1);

    // Same settings, another simulator: the same catalog.
    let other = Simulator::new(SimSettings::default());
    assert_eq!(
        other.catalog().procedure(code),
        h.sim.catalog().procedure(code)
    );
}

#[tokio::test]
async fn withdraw_remove_and_restore_are_seen_by_share() {
    let h = small_catalog().await;
    let session = h.login().await;
    let listed = h.sim.catalog().codes();
    let (a, b) = (listed[5].clone(), listed[6].clone());
    let original = h.thu_tuc(&session, &a).await;

    assert!(h.sim.catalog().withdraw(&a));
    let list = h.list(&session).await;
    assert_eq!(row(&list, &a).unwrap()["TRANGTHAI"], "0");
    assert_eq!(h.thu_tuc(&session, &a).await[0]["TRANGTHAI"], "0");

    assert!(h.sim.catalog().remove(&b));
    let list = h.list(&session).await;
    assert!(row(&list, &b).is_none());
    assert_eq!(list.len(), 59);
    assert_eq!(h.thu_tuc(&session, &b).await, json!([]));

    // A dossier for a removed procedure names an unknown code now.
    let mut dossier = hoso(MA);
    dossier["MaTTHC"] = json!(b);
    let answer = h
        .integration(&id(), &dossiers(&session, false, vec![dossier]))
        .await;
    assert_eq!(codes(&answer), vec![5]);

    assert!(h.sim.catalog().restore(&a));
    assert!(h.sim.catalog().restore(&b));
    let list = h.list(&session).await;
    assert_eq!(list.len(), 60);
    assert_eq!(row(&list, &a).unwrap()["TRANGTHAI"], "1");
    assert_eq!(row(&list, &b).unwrap()["TRANGTHAI"], "1");
    assert_eq!(h.thu_tuc(&session, &a).await, original);
    assert_eq!(h.sim.catalog().list_calls(), 3);
}

#[tokio::test]
async fn a_change_and_a_key_reorder_over_the_wire() {
    let h = small_catalog().await;
    let session = h.login().await;
    let code = h.sim.catalog().codes()[10].clone();
    let raw = |resp: reqwest::Response| async move { resp.bytes().await.expect("bytes") };

    let before_bytes = raw(h.thu_tuc_raw(&session, &code).await).await;
    let before: Value = serde_json::from_slice(&before_bytes).unwrap();
    assert!(h.sim.catalog().reorder_keys(&code));
    let reordered_bytes = raw(h.thu_tuc_raw(&session, &code).await).await;
    let reordered: Value = serde_json::from_slice(&reordered_bytes).unwrap();
    assert_eq!(reordered, before, "same content");
    assert_ne!(reordered_bytes, before_bytes, "other bytes");

    assert!(h.sim.catalog().change(&code));
    let changed = h.thu_tuc(&session, &code).await;
    assert_ne!(changed, before["result"]);
    assert_eq!(changed[0]["MATTHC"], code.as_str());
}

#[tokio::test]
async fn procedure_calls_cut_half_way_answer_503_until_cleared() {
    let h = small_catalog().await;
    let session = h.login().await;
    let codes = h.sim.catalog().codes();
    h.sim.catalog().fail_procedure_calls_after(Some(3));
    for code in &codes[..3] {
        assert_eq!(h.thu_tuc(&session, code).await[0]["MATTHC"], code.as_str());
    }
    for code in &codes[3..5] {
        let resp = h.thu_tuc_raw(&session, code).await;
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("retry-after"));
    }
    // The list is not cut.
    assert_eq!(h.list(&session).await.len(), 60);
    assert_eq!(h.sim.catalog().procedure_calls(), 3);
    h.sim.catalog().fail_procedure_calls_after(None);
    for code in &codes[3..] {
        h.thu_tuc(&session, code).await;
    }
    assert_eq!(h.sim.catalog().procedure_calls(), 60);
}

#[tokio::test]
async fn catalog_control_routes() {
    let h = small_catalog().await;
    let session = h.login().await;
    let counts: CatalogCounts = h
        .client
        .get(format!("{}/sim/catalog", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts,
        CatalogCounts {
            listed: 60,
            in_force: 60,
            withdrawn: 0,
            removed: 0
        }
    );
    let codes = h.sim.catalog().codes();
    let before = h.thu_tuc(&session, &codes[0]).await;

    let (status, answer) = h
        .control("change", json!({"codes": [codes[0], "9.999999"]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"codes": [codes[0]], "skipped": ["9.999999"]})
    );
    assert_ne!(h.thu_tuc(&session, &codes[0]).await, before);

    let (status, answer) = h.control("change", json!({"count": 4, "seed": 3})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["codes"].as_array().unwrap().len(), 4);

    let (status, _) = h
        .control("withdraw", json!({"codes": [codes[1], codes[2]]}))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = h.control("remove", json!({"codes": [codes[3]]})).await;
    assert_eq!((status, answer["codes"].clone()), (200, json!([codes[3]])));
    let (status, answer) = h.control("remove", json!({"count": 2})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["codes"].as_array().unwrap().len(), 2);
    let list = h.list(&session).await;
    assert_eq!(list.len(), 57);
    assert_eq!(row(&list, &codes[1]).unwrap()["TRANGTHAI"], "0");

    let (status, _) = h
        .control("restore", json!({"codes": [codes[1], codes[3]]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        h.sim.catalog().counts(),
        CatalogCounts {
            listed: 58,
            in_force: 57,
            withdrawn: 1,
            removed: 2
        }
    );
    let (status, _) = h.control("withdraw", json!({"count": 1})).await;
    assert_eq!(status, 400);
    let (status, _) = h.control("nothing", json!({"codes": []})).await;
    assert_eq!(status, 404);
}
