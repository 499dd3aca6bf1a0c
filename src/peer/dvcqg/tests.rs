//! The DVCQG peer over real sockets, against wiremock doubles of the adapter and of LGSP.

use std::time::Duration;

use base64::Engine as _;
use secrecy::SecretString;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{bearer_token, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::peer::classify::{ClassifyOutcome, ClassifyScope};
use crate::peer::dvcqg::config::LgspAccessHeader;

const TIMEOUT: Duration = Duration::from_secs(5);
const PASSWORD: &str = "pw-Very-Secret-123";
const CLIENT_SECRET: &str = "client-Secret-456";
const SECRET_KEY: &str = "secret-Key-789";

fn session_cfg(base: &str) -> DvcqgConfig {
    DvcqgConfig {
        tls: Default::default(),
        base_url: base.to_string(),
        madonvi: "000.00.01.H56".into(),
        auth: DvcqgAuth::Session {
            dstcode: "H56".into(),
            username: "lienthong.h56".into(),
            password: Some(SecretString::from(PASSWORD)),
            password_file: None,
        },
        policy: Default::default(),
        dossier_batch: 50,
        step_batch: 10,
        classify: Vec::new(),
    }
}

fn lgsp_cfg(base: &str, with_header: bool) -> DvcqgConfig {
    let access_token_header = with_header.then(|| LgspAccessHeader {
        access_key: Some(SecretString::from("access-Key-000")),
        access_key_file: None,
        secret_key: Some(SecretString::from(SECRET_KEY)),
        secret_key_file: None,
        app_name: "lienthong".into(),
        partner_code: "000.00.01.H56".into(),
        partner_code_cus: "H56".into(),
    });
    DvcqgConfig {
        tls: Default::default(),
        auth: DvcqgAuth::Lgsp {
            token_url: format!("{base}/token"),
            client_id: "lienthong".into(),
            client_secret: Some(SecretString::from(CLIENT_SECRET)),
            client_secret_file: None,
            access_token_header,
        },
        ..session_cfg(base)
    }
}

fn dossiers(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"MaHoSo": format!("000.00.56.H56-261105-{i:04}"), "ChuHoSo": "Nguyễn Thị Hoa"}))
        .collect()
}

fn success(n: usize) -> Value {
    let result: Vec<Value> = (0..n)
        .map(|_| json!({"error_code": 0, "message": "Thành công"}))
        .collect();
    json!({"error_code": 0, "message": "Đồng bộ thành công", "result": result})
}

fn login_ok(session: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"error_code": 0, "message": "Thành công", "session": session}))
}

fn token_ok(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

fn request_id_of(r: &Request) -> String {
    r.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn body_of(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn without_session(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("session");
    }
    v
}

/// Every request that reached the double carried a valid `X-Request-ID`.
async fn assert_all_have_request_id(server: &MockServer) {
    let all = server.received_requests().await.unwrap_or_default();
    assert!(!all.is_empty());
    for r in all {
        let id = request_id_of(&r);
        assert!(
            Uuid::parse_str(&id).is_ok(),
            "{} without X-Request-ID",
            r.url.path()
        );
    }
}

async fn mount_login(server: &MockServer, session: &str) {
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(login_ok(session))
        .mount(server)
        .await;
}

#[test]
fn identity_batch_sizes_and_body_shape() {
    let peer = DvcqgPeer::new(&session_cfg("http://127.0.0.1:9"), TIMEOUT).unwrap();
    assert_eq!(peer.name(), "dvcqg");
    assert_eq!(peer.max_batch(OP_DOSSIERS), 50);
    assert_eq!(peer.max_batch(OP_STEPS), 10);
    assert_eq!(peer.max_batch(OP_SURVEYS), 50);

    let items = dossiers(2);
    let body = peer.build_body(OP_DOSSIERS, false, &items);
    assert_eq!(
        body.to_string(),
        json!({"madonvi": "000.00.01.H56", "service": "DongBoHoSoMC", "isUpdating": "False", "data": items})
            .to_string()
    );
    assert_eq!(
        body.to_string(),
        peer.build_body(OP_DOSSIERS, false, &items).to_string()
    );
    assert_eq!(
        peer.build_body(OP_DOSSIERS, true, &items)["isUpdating"],
        "True"
    );
    let steps = peer.build_body(OP_STEPS, false, &items);
    assert!(steps.get("isUpdating").is_none());
    assert!(steps.get("session").is_none());
    assert_eq!(steps["service"], "CapNhatTienDoHoSoMC");
}

#[test]
fn secrets_stay_out_of_debug_and_config_errors() {
    let peer = DvcqgPeer::new(&lgsp_cfg("http://127.0.0.1:9", true), TIMEOUT).unwrap();
    let printed = format!("{peer:?}");
    for secret in [CLIENT_SECRET, SECRET_KEY, "access-Key-000"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    let peer = DvcqgPeer::new(&session_cfg("http://127.0.0.1:9"), TIMEOUT).unwrap();
    assert!(!format!("{peer:?}").contains(PASSWORD));

    let mut cfg = session_cfg("http://127.0.0.1:9");
    cfg.auth = DvcqgAuth::Session {
        dstcode: "H56".into(),
        username: "u".into(),
        password: None,
        password_file: None,
    };
    let err = DvcqgPeer::new(&cfg, TIMEOUT).unwrap_err();
    assert!(
        matches!(&err, DvcqgError::Config(m) if m.contains("peers.dvcqg.auth.password")),
        "{err}"
    );
    assert!(matches!(
        DvcqgPeer::new(&session_cfg("ftp://x"), TIMEOUT),
        Err(DvcqgError::Config(_))
    ));
}

#[tokio::test]
async fn session_login_then_send_with_session_request_id_and_content_type() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .and(header("dstcode", "H56"))
        .and(body_partial_json(
            json!({"username": "lienthong.h56", "password": PASSWORD}),
        ))
        .respond_with(login_ok("s-one"))
        .expect(1)
        .mount(&server)
        .await;
    let id = Uuid::new_v4();
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(header("x-request-id", id.to_string().as_str()))
        .and(header("content-type", "application/json; charset=utf-8"))
        .and(body_partial_json(
            json!({"session": "s-one", "madonvi": "000.00.01.H56", "service": "DongBoHoSoMC"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(2)))
        .expect(2)
        .mount(&server)
        .await;

    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(2));
    for _ in 0..2 {
        let verdict = peer.send(id, OP_DOSSIERS, &body).await;
        assert_eq!(
            verdict,
            BatchVerdict::Items(vec![ItemVerdict::Delivered; 2])
        );
    }
    // The stored body is never changed by sending.
    assert!(body.get("session").is_none());
    // Diacritics arrive byte for byte.
    let sent = requests_to(&server, "/integration").await;
    assert_eq!(without_session(body_of(&sent[0])), body);
    assert_all_have_request_id(&server).await;
}

#[tokio::test]
async fn expired_session_logs_in_once_and_repeats_same_id_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(login_ok("s-old"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_login(&server, "s-new").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"session": "s-old"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"error_code": -2, "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"session": "s-new"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(3)))
        .mount(&server)
        .await;

    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let id = Uuid::new_v4();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(3));
    let verdict = peer.send(id, OP_DOSSIERS, &body).await;
    assert_eq!(
        verdict,
        BatchVerdict::Items(vec![ItemVerdict::Delivered; 3])
    );

    assert_eq!(requests_to(&server, "/auth").await.len(), 2);
    let sent = requests_to(&server, "/integration").await;
    assert_eq!(sent.len(), 2, "exactly one repeat");
    assert_eq!(request_id_of(&sent[0]), id.to_string());
    assert_eq!(request_id_of(&sent[1]), id.to_string());
    assert_eq!(body_of(&sent[0])["session"], "s-old");
    assert_eq!(body_of(&sent[1])["session"], "s-new");
    assert_eq!(without_session(body_of(&sent[0])), body);
    assert_eq!(without_session(body_of(&sent[1])), body);
    assert_all_have_request_id(&server).await;
}

#[tokio::test]
async fn session_expired_again_after_fresh_login_is_retry() {
    let server = MockServer::start().await;
    mount_login(&server, "s-any").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error_code": "-2", "message": "hết hạn"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let verdict = peer
        .send(
            Uuid::new_v4(),
            OP_STEPS,
            &peer.build_body(OP_STEPS, false, &dossiers(1)),
        )
        .await;
    assert!(
        matches!(&verdict, BatchVerdict::Retry { reason, .. } if reason.contains("-2")),
        "{verdict:?}"
    );
    assert_eq!(requests_to(&server, "/auth").await.len(), 2);
}

#[tokio::test]
async fn auth_failure_pauses() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"error_code": -1, "message": "Sai tên đăng nhập hoặc mật khẩu"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(
        matches!(&verdict, BatchVerdict::Paused { reason } if reason.contains("Sai tên")),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn refused_login_pauses_without_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"error_code": -1, "message": "Sai tên đăng nhập hoặc mật khẩu"}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .expect(0)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    let BatchVerdict::Paused { reason } = verdict else {
        panic!("{verdict:?}")
    };
    assert!(!reason.contains(PASSWORD));
}

#[tokio::test]
async fn login_outage_is_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(
        matches!(&verdict, BatchVerdict::Retry { reason, .. } if reason.contains("502")),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn concurrent_sends_share_one_login() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(login_ok("s-shared").set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"session": "s-shared"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .expect(6)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let sends = (0..6).map(|_| peer.send(Uuid::new_v4(), OP_DOSSIERS, &body));
    for verdict in futures::future::join_all(sends).await {
        assert_eq!(verdict, BatchVerdict::Items(vec![ItemVerdict::Delivered]));
    }
}

#[tokio::test]
async fn concurrent_expiries_cause_one_new_login() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(login_ok("s-old"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth"))
        .respond_with(login_ok("s-new").set_delay(Duration::from_millis(100)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"session": "s-old"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error_code": -2, "message": "hết hạn"}))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"session": "s-new"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    // Log in first, so every send below starts with the same (soon expired) session.
    let _ = peer.lookup("warm-up").await;
    let sends = (0..4).map(|_| peer.send(Uuid::new_v4(), OP_DOSSIERS, &body));
    for verdict in futures::future::join_all(sends).await {
        assert_eq!(verdict, BatchVerdict::Items(vec![ItemVerdict::Delivered]));
    }
    assert_eq!(requests_to(&server, "/auth").await.len(), 2);
}

#[tokio::test]
async fn lgsp_token_is_fetched_once_for_several_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(token_ok("tok-1", 3600))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(bearer_token("tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(2)))
        .expect(3)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), false), TIMEOUT).unwrap();
    let body = peer.build_body(OP_STEPS, false, &dossiers(2));
    for _ in 0..3 {
        let verdict = peer.send(Uuid::new_v4(), OP_STEPS, &body).await;
        assert_eq!(
            verdict,
            BatchVerdict::Items(vec![ItemVerdict::Delivered; 2])
        );
    }
    let token_requests = requests_to(&server, "/token").await;
    let form = String::from_utf8_lossy(&token_requests[0].body).to_string();
    assert!(form.contains("grant_type=client_credentials"), "{form}");
    assert!(form.contains("client_id=lienthong"), "{form}");
    assert!(
        form.contains(&format!("client_secret={CLIENT_SECRET}")),
        "{form}"
    );
    for r in requests_to(&server, "/integration").await {
        let sent = body_of(&r);
        assert!(
            sent.get("session").is_none(),
            "LGSP bodies carry no session"
        );
        assert_eq!(sent, body);
        assert!(r.headers.get("lgspaccesstoken").is_none());
    }
    assert_all_have_request_id(&server).await;
}

#[tokio::test]
async fn lgsp_401_fetches_a_new_token_and_repeats_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok("tok-old", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok("tok-new", 3600))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(bearer_token("tok-old"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(bearer_token("tok-new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .expect(1)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), false), TIMEOUT).unwrap();
    let id = Uuid::new_v4();
    let body = peer.build_body(OP_DOSSIERS, true, &dossiers(1));
    let verdict = peer.send(id, OP_DOSSIERS, &body).await;
    assert_eq!(verdict, BatchVerdict::Items(vec![ItemVerdict::Delivered]));
    let sent = requests_to(&server, "/integration").await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|r| request_id_of(r) == id.to_string()));
    assert!(sent.iter().all(|r| body_of(r) == body));
    assert_eq!(requests_to(&server, "/token").await.len(), 2);
}

#[tokio::test]
async fn lgsp_401_twice_is_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok("tok", 3600))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), false), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(matches!(verdict, BatchVerdict::Retry { .. }), "{verdict:?}");
}

#[tokio::test]
async fn lgsp_refused_client_pauses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_client", "error_description": "bad secret"}),
            ),
        )
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), false), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    let BatchVerdict::Paused { reason } = verdict else {
        panic!("{verdict:?}")
    };
    assert!(reason.contains("invalid_client"), "{reason}");
    assert!(!reason.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn lgsp_token_is_refreshed_before_it_expires() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok("tok-short", 1))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), false), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert_eq!(requests_to(&server, "/token").await.len(), 1);
    // A 1 s token is renewed after half its life.
    tokio::time::sleep(Duration::from_millis(600)).await;
    peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
}

#[test]
fn refresh_margin() {
    assert_eq!(
        auth::refresh_after(Duration::from_secs(3600)),
        Duration::from_secs(3540)
    );
    assert_eq!(
        auth::refresh_after(Duration::from_secs(10)),
        Duration::from_secs(5)
    );
    assert_eq!(auth::refresh_after(Duration::ZERO), Duration::ZERO);
}

#[tokio::test]
async fn lgsp_access_token_header_is_base64_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok("tok", 3600))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .expect(1)
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), true), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    let sent = requests_to(&server, "/integration").await;
    let value = sent[0]
        .headers
        .get("lgspaccesstoken")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    let text = String::from_utf8(decoded).unwrap();
    assert_eq!(
        text,
        json!({"AccessKey": "access-Key-000", "SecretKey": SECRET_KEY, "AppName": "lienthong",
               "PartnerCode": "000.00.01.H56", "PartnerCodeCus": "H56"})
        .to_string()
    );
    let auth_header = sent[0].headers.get("authorization").unwrap();
    assert_eq!(auth_header.to_str().unwrap(), "Bearer tok");
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_http_date() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let in_two_minutes = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(
            ResponseTemplate::new(503).insert_header("retry-after", in_two_minutes.as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let id = Uuid::new_v4();

    let verdict = peer.send(id, OP_DOSSIERS, &body).await;
    assert_eq!(
        verdict,
        BatchVerdict::Retry {
            reason: "HTTP 429 Too Many Requests".into(),
            after: Some(Duration::from_secs(30))
        }
    );
    let verdict = peer.send(id, OP_DOSSIERS, &body).await;
    let BatchVerdict::Retry {
        after: Some(after), ..
    } = verdict
    else {
        panic!("{verdict:?}")
    };
    assert!(
        after > Duration::from_secs(100) && after <= Duration::from_secs(120),
        "{after:?}"
    );
    let verdict = peer.send(id, OP_DOSSIERS, &body).await;
    assert!(
        matches!(verdict, BatchVerdict::Retry { after: None, .. }),
        "{verdict:?}"
    );
    let sent = requests_to(&server, "/integration").await;
    assert!(sent.iter().all(|r| request_id_of(r) == id.to_string()));
}

#[tokio::test]
async fn timeout_is_retry() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(success(1))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let cfg = session_cfg(&server.uri());
    let peer = DvcqgPeer::new(&cfg, Duration::from_millis(300)).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(
        matches!(&verdict, BatchVerdict::Retry { reason, after: None } if reason.contains("timed out")),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn refused_connection_is_retry() {
    // A port nobody listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let peer = DvcqgPeer::new(&lgsp_cfg(&format!("http://{addr}"), false), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(matches!(verdict, BatchVerdict::Retry { .. }), "{verdict:?}");
}

#[tokio::test]
async fn unreadable_success_body_is_retry() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>Gateway</html>"))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(
        matches!(&verdict, BatchVerdict::Retry { reason, .. } if reason.contains("unreadable")),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn partial_answer_gives_item_verdicts_and_count_mismatch_retries() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"service": "DongBoHoSoMC"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error_code": 0, "message": "Đồng bộ hoàn tất: 1 hồ sơ thành công, 1 hồ sơ lỗi",
            "result": [{"MaHoSo": "a", "error_code": 0, "message": "Thành công"},
                       {"MaHoSo": "b", "error_code": 3, "message": "Hồ sơ đã tồn tại"}]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"service": "CapNhatTienDoHoSoMC"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(success(1)))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(2));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert_eq!(
        verdict,
        BatchVerdict::Items(vec![
            ItemVerdict::Delivered,
            ItemVerdict::AlreadyExists {
                reason: "error_code 3: Hồ sơ đã tồn tại".into()
            }
        ])
    );
    let steps = peer.build_body(OP_STEPS, false, &dossiers(3));
    let verdict = peer.send(Uuid::new_v4(), OP_STEPS, &steps).await;
    assert!(
        matches!(&verdict, BatchVerdict::Retry { reason, .. } if reason.contains("1 result items for 3 sent")),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn configured_message_rule_overrides_the_default() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error_code": 0, "message": "Hoàn tất",
            "result": [{"error_code": 2, "message": "Hệ thống đang BẢO TRÌ, vui lòng thử lại"}]})))
        .mount(&server)
        .await;
    let mut cfg = session_cfg(&server.uri());
    let default_peer = DvcqgPeer::new(&cfg, TIMEOUT).unwrap();
    cfg.classify = vec![ClassifyRule {
        scope: ClassifyScope::Item,
        error_code: None,
        http_status: None,
        message_contains: Some("đang bảo trì".into()),
        outcome: ClassifyOutcome::Retry,
    }];
    let peer = DvcqgPeer::new(&cfg, TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = default_peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(
        matches!(&verdict, BatchVerdict::Items(v) if matches!(v[0], ItemVerdict::Reject { .. })),
        "{verdict:?}"
    );
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    assert!(
        matches!(&verdict, BatchVerdict::Items(v) if matches!(v[0], ItemVerdict::Retry { .. })),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn a_session_echoed_by_the_peer_is_masked_in_reasons() {
    let server = MockServer::start().await;
    mount_login(&server, "s-echoed-token").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"error_code": 2, "message": "Yêu cầu không hợp lệ: session=s-echoed-token"}),
        ))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    let verdict = peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    let BatchVerdict::Reject { reason } = verdict else {
        panic!("{verdict:?}")
    };
    assert!(!reason.contains("s-echoed-token"), "{reason}");
    assert!(reason.contains("error_code 2"), "{reason}");
}

#[tokio::test]
async fn lookup_known_unknown_and_failing() {
    let server = MockServer::start().await;
    mount_login(&server, "s").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"service": "TraCuuHoSo", "mahoso": "known", "session": "s", "madonvi": "000.00.01.H56"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error_code": 0, "message": "Thành công",
            "result": [{"MaHoSo": "known", "MaTTHC": "1.005129", "TrangThaiHoSo": "9"}]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"mahoso": "unknown"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error_code": 0, "message": "Thành công", "result": []})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .and(body_partial_json(json!({"mahoso": "down"})))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "9"))
        .mount(&server)
        .await;
    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let known = peer.lookup("known").await.unwrap();
    assert_eq!(
        known,
        Some(json!({"MaHoSo": "known", "MaTTHC": "1.005129", "TrangThaiHoSo": "9"}))
    );
    assert_eq!(peer.lookup("unknown").await.unwrap(), None);
    let err = peer.lookup("down").await.unwrap_err();
    assert!(
        matches!(err, DvcqgError::Temporary { after: Some(d), .. } if d == Duration::from_secs(9)),
        "{err:?}"
    );
    assert_all_have_request_id(&server).await;
}

/// Collects everything logged on this thread (tokio tests run on one thread).
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

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
async fn nothing_secret_is_logged_even_at_trace() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    mount_login(&server, "s-logged-never").await;
    Mock::given(method("POST"))
        .and(path("/integration"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"error_code": -2, "message": "hết hạn"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_ok("tok-logged-never", 3600))
        .mount(&server)
        .await;

    let peer = DvcqgPeer::new(&session_cfg(&server.uri()), TIMEOUT).unwrap();
    let body = peer.build_body(OP_DOSSIERS, false, &dossiers(1));
    peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;
    let peer = DvcqgPeer::new(&lgsp_cfg(&server.uri(), true), TIMEOUT).unwrap();
    peer.send(Uuid::new_v4(), OP_DOSSIERS, &body).await;

    let text = logs.text();
    assert!(text.contains("dvcqg"), "the test captured nothing: {text}");
    for secret in [
        PASSWORD,
        CLIENT_SECRET,
        SECRET_KEY,
        "access-Key-000",
        "s-logged-never",
        "tok-logged-never",
    ] {
        assert!(!text.contains(secret), "{secret} logged:\n{text}");
    }
}
