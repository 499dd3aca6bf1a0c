//! The dashboard in a real browser (Chromium, driven through ChromeDriver's WebDriver protocol
//! over HTTP): login refused with a wrong token and taken with the right one, the service
//! report with the figures the store holds, the language switch, the overdue list with its
//! alert, reconciliation's page; the sources page with a polled source down, its watermark and
//! a file, and the quarantine page with masked reasons, a retry of all of a source refused
//! until its name is typed, and a record dropped; the overview with its verdict, a dead letter
//! counted, a destination paused from its form and resumed with a click, in both languages;
//! screenshots under `target/dashboard/`. And without a browser:
//! a form without the session's CSRF token is refused, pages without a session send to login.
//!
//! Under `CI=true` a missing browser fails the test; elsewhere the browser part is skipped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::report::dossier;
use crate::support;

const ADMIN: &str = "dashboard-admin-token";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session on a ChromeDriver of its own.
struct Browser {
    http: reqwest::Client,
    url: String,
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the session first, so ChromeDriver closes Chromium (killed with it, Chromium
        // would live on). Drop cannot await, and may run while panicking: a plain HTTP request.
        if let Some((addr, path)) = self
            .url
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
        {
            use std::io::{Read, Write};
            if let Ok(mut conn) = std::net::TcpStream::connect(addr) {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    conn,
                    "DELETE /{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    async fn start() -> Option<Browser> {
        let driver = std::env::var("LIENTHONG_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium =
            std::env::var("LIENTHONG_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = match Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but {driver} cannot run ({e}): install Debian's chromium and chromium-driver"
                );
                eprintln!("skipping the browser part: {driver}: {e}");
                return None;
            }
        };
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not answer on port {port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"
            ]}
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        Some(Browser {
            http,
            url: format!("{base}/session/{session}"),
            child,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().map(str::to_string)
    }

    async fn text(&self, css: &str) -> String {
        let el = self
            .find(css)
            .await
            .unwrap_or_else(|| panic!("no element {css}"));
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let Some(el) = self.find(css).await else {
            let source = self.call(reqwest::Method::GET, "/source", None).await;
            panic!("no input {css} in {source}");
        };
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self
            .find(css)
            .await
            .unwrap_or_else(|| panic!("no element {css}"));
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits (up to 15 s: the machine may be busy) until the element `css` holds `text`.
    async fn wait_text(&self, css: &str, text: &str) {
        for _ in 0..300 {
            if let Some(el) = self.find(css).await {
                let got = self
                    .call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
                    .await;
                if got.as_str().is_some_and(|t| t.contains(text)) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never showed {text:?}");
    }

    /// Accepts the open `confirm()` prompt.
    async fn accept_prompt(&self) {
        for _ in 0..100 {
            let r = self
                .call(reqwest::Method::POST, "/alert/accept", Some(json!({})))
                .await;
            if r.is_null() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no prompt to accept");
    }

    /// The value of the cookie `name` the browser holds for the current page.
    async fn cookie(&self, name: &str) -> String {
        self.call(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no cookie {name}"))
            .to_string()
    }

    /// The `value` of the input `css`.
    async fn value(&self, css: &str) -> String {
        let el = self
            .find(css)
            .await
            .unwrap_or_else(|| panic!("no element {css}"));
        self.call(
            reqwest::Method::GET,
            &format!("/element/{el}/property/value"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

async fn app() -> support::TestApp {
    let app = support::spawn_app_with(support::sqlite().await, Default::default(), |c| {
        c.server.admin_token = Some(ADMIN.to_string().into());
    })
    .await;
    let records = json!([
        dossier(
            "0001",
            "TRUC_TIEP",
            "XONG",
            "2026-11-05 08:31:00",
            Some("2026-11-12 17:00:00"),
            Some("2026-11-11 15:00:00"),
            None,
            1
        ),
        dossier(
            "0002",
            "TRUC_TUYEN",
            "DANG_XU_LY",
            "2026-11-06 10:00:00",
            Some("2026-11-16 17:00:00"),
            None,
            None,
            1
        ),
        dossier(
            "0003",
            "BUU_CHINH",
            "DA_NHAN",
            "2026-11-09 08:00:00",
            Some("2026-11-20 17:00:00"),
            None,
            None,
            0
        ),
    ]);
    let (status, body) = app.post("dossiers", &records).await;
    assert_eq!(
        (status, body["rejected"].clone()),
        (202, json!([])),
        "{body}"
    );
    app
}

#[tokio::test]
async fn the_dashboard_in_a_browser() {
    let app = app().await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let base = &app.base;
    // No session: the login page, in Vietnamese.
    b.goto(&format!("{base}/ui/report?month=2026-11")).await;
    assert!(b.title().await.contains("Đăng nhập"), "{}", b.title().await);
    b.type_into("#token", "not-the-token").await;
    b.click("#login").await;
    // A wrong token is refused (the page may still be loading: wait for it).
    b.wait_text("#error", "Mã truy cập không đúng").await;
    b.type_into("#token", ADMIN).await;
    b.click("#login").await;
    // Logged in: the overview.
    b.wait_text("#title", "Tổng quan").await;
    b.goto(&format!("{base}/ui/report?month=2026-11&lang=vi"))
        .await;
    b.wait_text("#title", "2026-11").await;
    assert_eq!(b.text("#received").await, "3");
    assert_eq!(b.text("#resolved").await, "1");
    assert!(b.text("#lines").await.contains("1.009994"));
    b.screenshot("report-vi.png").await;
    b.click("#lang").await;
    b.wait_text("#title", "Service report").await;
    assert!(
        b.text("#title")
            .await
            .contains("Service report for 2026-11"),
        "{}",
        b.text("#title").await
    );
    assert_eq!(b.text("#received").await, "3", "the month is kept");
    b.screenshot("report-en.png").await;

    // The overdue list: what the admin API says, with its alert.
    let api: Value = app
        .client
        .get(format!("{base}/admin/overdue"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b.goto(&format!("{base}/ui/overdue?lang=en")).await;
    assert_eq!(b.text("#overdue").await, api["overdue"].to_string());
    assert_eq!(
        b.text("#without-apology").await,
        api["overdue_without_apology"].to_string()
    );
    assert!(api["overdue"].as_i64().unwrap() >= 2, "{api}");
    assert!(b.find("#alert").await.is_some(), "overdue without apology");
    assert!(b
        .text("#dossiers")
        .await
        .contains("000.00.56.H56-261106-0002"));
    b.screenshot("overdue-en.png").await;

    b.goto(&format!("{base}/ui/reconcile?lang=vi")).await;
    assert!(b.text("main").await.contains("Chưa cấu hình Cổng DVCQG"));
    b.screenshot("reconcile-vi.png").await;

    b.click("#logout").await;
    b.wait_text("h1", "lienthong").await;
    b.goto(&format!("{base}/ui/overdue")).await;
    assert!(b.title().await.contains("Đăng nhập"), "logged out");
}

#[tokio::test]
async fn forms_need_the_session_s_csrf_token_and_pages_need_a_session() {
    let app = app().await;
    let base = &app.base;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{base}/ui/report"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/login?lang=vi");
    let r = client
        .post(format!("{base}/ui/login"))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let page = client
        .get(format!("{base}/ui/reconcile"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let r = client
        .post(format!("{base}/ui/reconcile"))
        .header("cookie", &session)
        .form(&[
            ("csrf", "forged"),
            ("from", "2026-11-01"),
            ("to", "2026-11-30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a form without the session's token is refused"
    );
    let r = client
        .post(format!("{base}/ui/quarantine"))
        .header("cookie", &session)
        .form(&[("csrf", "forged"), ("action", "drop"), ("id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "nor is a quarantine form");
    for page in ["/ui/sources", "/ui/quarantine"] {
        let r = client.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{page} needs a session");
        let r = client
            .get(format!("{base}{page}"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{page}");
    }
    let csv = client
        .get(format!("{base}/ui/report.csv?month=2026-11"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "CSV for Excel");
    let r = client
        .post(format!("{base}/ui/login"))
        .form(&[("token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn the_sources_and_quarantine_pages_in_a_browser() {
    use crate::quarantine::{config_text, refused, sohoa, sohoa_positions};
    let dir = tempfile::tempdir().unwrap();
    let cfg = lienthong::config::Config::from_toml(&config_text(
        "sqlite://unused",
        &support::mappings(),
        &sohoa(dir.path()),
    ))
    .unwrap();
    let sources = cfg.sources.clone();
    let app = support::spawn_app_with(support::sqlite().await, Default::default(), |c| {
        c.server.admin_token = Some(ADMIN.to_string().into());
        c.sources = sources;
    })
    .await;
    let (status, body) = app
        .post(
            "dossiers",
            &json!([refused("0601", false), refused("0602", true)]),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["rejected"].as_array().unwrap().len(), 2, "{body}");
    sohoa_positions(&*app.store, &cfg).await;
    // The poller of `sohoa` finds its database missing.
    for _ in 0..300 {
        if !app.store.source_statuses().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let quarantined = || async { app.store.quarantine_page(None, None, 100).await.unwrap() };
    let first = quarantined().await[0].id.clone();
    assert_eq!(quarantined().await.len(), 3);

    let Some(b) = Browser::start().await else {
        return;
    };
    let base = &app.base;
    b.goto(&format!("{base}/ui/login?lang=en")).await;
    b.type_into("#token", ADMIN).await;
    b.click("#login").await;
    b.wait_text("#title", "Overview").await;

    b.click("#nav-sources").await;
    b.wait_text("#title", "Sources").await;
    let sohoa_row = b.text("#way-sohoa-sql").await;
    assert!(
        sohoa_row.contains("SQL polling")
            && (sohoa_row.contains("Down") || sohoa_row.contains("Failing")),
        "{sohoa_row}"
    );
    assert!(b.text("#way-tinh-http").await.contains("Takes pushes"));
    assert!(b
        .text("#watermarks")
        .await
        .contains("2026-11-09T08:00:00|000.00.56.H56-261109-0401"));
    assert!(b.text("#files").await.contains("hoso-2026-11-09.json"));
    b.screenshot("sources-en.png").await;
    b.click("#lang").await;
    b.wait_text("#title", "Nguồn dữ liệu").await;
    assert!(b.text("#way-sohoa-sql").await.contains("Đọc cơ sở dữ liệu"));
    b.screenshot("sources-vi.png").await;

    b.click("#nav-quarantine").await;
    b.wait_text("#title", "Bản ghi bị từ chối").await;
    let table = b.text("#quarantine").await;
    assert!(
        table.contains("QUA_ZALO") && table.contains("sohoa"),
        "{table}"
    );
    for personal in ["Nguyễn", "038186001234", "0912345678"] {
        assert!(!b.text("main").await.contains(personal), "{personal} shown");
    }
    b.screenshot("quarantine-vi.png").await;
    b.click("#lang").await;
    b.wait_text("#title", "Quarantine").await;

    // Retry all of a source needs its name typed.
    b.type_into("#retry-all-confirm", "not-the-source").await;
    b.click("#retry-all-go").await;
    b.wait_text("#message", "does not match").await;
    assert!(quarantined().await.iter().all(|q| q.retries == 0));
    b.type_into("#retry-all-confirm", "tinh").await;
    b.click("#retry-all-go").await;
    b.wait_text("#message", "0 accepted and queued, 2 refused again")
        .await;
    let after = quarantined().await;
    assert!(
        after
            .iter()
            .filter(|q| q.source == "tinh")
            .all(|q| q.retries == 1),
        "{after:?}"
    );
    b.screenshot("quarantine-en.png").await;

    // Drop one record, confirming the prompt.
    b.goto(&format!("{base}/ui/quarantine?lang=en")).await;
    b.click(&format!("#q-{first} button.drop")).await;
    b.accept_prompt().await;
    b.wait_text("#message", &format!("Dropped record {first}"))
        .await;
    assert!(b.find(&format!("#q-{first}")).await.is_none());
    assert_eq!(quarantined().await.len(), 2);
    assert!(quarantined().await.iter().all(|q| q.id != first));
}

#[tokio::test]
async fn the_overview_in_a_browser() {
    let app = support::spawn_app_with(support::sqlite().await, Default::default(), |c| {
        c.server.admin_token = Some(ADMIN.to_string().into());
        c.delivery.max_attempts = 1;
    })
    .await;
    // One dossier the portal fails for good: a dead letter.
    let (status, _) = app
        .post("dossiers", &json!(support::local_records(11, 1).0))
        .await;
    assert_eq!(status, 202);
    let lane = app.lane("one", None);
    app.sim.script(vec![lienthong::sim::Fault::Http500]);
    lane.try_execute().await.unwrap();
    assert_eq!(app.count("DongBoHoSoMC", "dead").await, 1);

    let Some(b) = Browser::start().await else {
        return;
    };
    let base = &app.base;
    b.goto(&format!("{base}/ui")).await;
    b.type_into("#token", ADMIN).await;
    b.click("#login").await;
    b.wait_text("#title", "Tổng quan").await;
    b.wait_text("#verdict", "Chưa đồng bộ").await;
    assert!(b
        .text("#reasons")
        .await
        .contains("Thông điệp lỗi vĩnh viễn"));
    assert_eq!(b.text("#card-dead").await, "1");
    assert!(b.text("#dest-dvcqg-").await.contains("dvcqg"));
    assert!(b.find("#chart-svg").await.is_some(), "the chart is drawn");

    // Pause the portal from its row, with a reason.
    b.type_into("#dest-dvcqg- input[name=reason]", "bảo trì cổng")
        .await;
    b.click("#dest-dvcqg- form.pause button").await;
    b.wait_text("#message", "Đã tạm dừng dvcqg").await;
    let pauses = app.store.pauses().await.unwrap();
    assert_eq!(pauses.len(), 1);
    assert_eq!(
        (pauses[0].peer.as_str(), pauses[0].paused_by.as_str()),
        ("dvcqg", "admin"),
        "the pause names the person logged in"
    );
    // And the audit log has it under that name.
    let audit = app
        .store
        .audit_page(&lienthong::store::ActionFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit.iter().any(|a| a.action == "outbox.pause"
            && a.who == "admin"
            && a.way == "ui"
            && a.outcome == "ok"),
        "the pause is audited, its outcome in the log's own words: {audit:?}"
    );
    assert!(b.text("#pauses").await.contains("bảo trì cổng"));
    assert!(b.text("#reasons").await.contains("Đang tạm dừng gửi"));
    assert!(b.text("#dest-dvcqg-").await.contains("Tạm dừng"));
    b.screenshot("overview-vi.png").await;

    b.click("#lang").await;
    b.wait_text("#title", "Overview").await;
    b.wait_text("#verdict", "Not in sync").await;
    assert!(b.text("#reasons").await.contains("Sending paused"));
    b.screenshot("overview-en.png").await;
    b.click("#pause-dvcqg-\\* button.resume").await;
    b.wait_text("#message", "Resumed dvcqg").await;
    assert!(app.store.pauses().await.unwrap().is_empty(), "resumed");
    assert!(b.find("#pauses").await.is_none());
    assert!(b.text("#reasons").await.contains("Dead letters"));
}

#[tokio::test]
async fn the_catalog_and_postal_pages_in_a_browser() {
    use lienthong::catalog::{Catalog, PullOptions, Quiet};
    use lienthong::sim::vnpost::{self as vsim, VnpostSim, VnpostSimSettings};
    use std::sync::Arc;

    let app = support::spawn_app_with(support::sqlite().await, Default::default(), |c| {
        c.server.admin_token = Some(ADMIN.to_string().into());
    })
    .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let communes = lienthong::sim::commune::numbered(2, "secret-");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let commune_addr = listener.local_addr().unwrap();
    tokio::spawn(lienthong::sim::commune::serve(
        listener,
        communes.clone(),
        stop.clone(),
    ));
    let vnpost = VnpostSim::new(VnpostSimSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnpost_addr = listener.local_addr().unwrap();
    tokio::spawn(vsim::serve(listener, vnpost.clone(), stop.clone()));
    let portal = app.config.peers.dvcqg.as_ref().unwrap();
    let sim = app.sim.settings();
    let cfg = lienthong::config::Config::from_toml(&format!(
        r#"
[peers.dvcqg]
base_url = "{base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
[catalog]
rate_per_second = 0
{communes}
{vnpost}
"#,
        base = portal.base_url,
        dst = sim.dstcode,
        user = sim.username,
        pass = sim.password,
        communes = lienthong::sim::commune::peers_toml(commune_addr, &communes.names(), "secret-"),
        vnpost = vsim::peers_toml(vnpost_addr, vnpost.settings()),
    ))
    .unwrap();
    let catalog = Arc::new(
        Catalog::from_config(app.store.clone(), &cfg.peers, &cfg.catalog, |n| {
            cfg.policy_for(n)
        })
        .unwrap(),
    );
    catalog.pull(PullOptions::default(), &Quiet).await.unwrap();
    let changed = app.sim.catalog().codes()[3].clone();
    assert!(app.sim.catalog().change(&changed));
    catalog.pull(PullOptions::default(), &Quiet).await.unwrap();
    catalog.fan_out_pending().await.unwrap();
    let postal = Arc::new(
        lienthong::postal::Postal::from_config(
            app.store.clone(),
            &cfg.peers,
            &cfg.postal,
            &support::mappings(),
            |n| cfg.policy_for(n),
        )
        .unwrap(),
    );
    // An order the gateway did not make: its events are kept and shown, never applied.
    let order = json!({
        "CustomerCode": "C00330117", "OrderNumber": "000.00.56.H56-261101-0099", "OrderType": "2",
        "CODAmount": "0", "SenderName": "Bưu cục", "SenderAddress": "Thanh Hóa",
        "SenderTel": "02373912468", "SenderProvince": "40", "SenderDistrict": "4016",
        "ReceiverName": "Lê Văn Tâm", "ReceiverAddress": "Thôn Bắc", "ReceiverTel": "0912345679",
        "ReceiverProvince": "40", "ReceiverDistrict": "4016"
    });
    assert_eq!(vnpost.place(order), "100");
    let reports = Arc::new(lienthong::report::Reports::new(
        app.store.clone(),
        cfg.report.clone(),
    ));
    let state = lienthong::dashboard::DashboardState::new(
        app.store.clone(),
        lienthong::admin::roles::Operators::admin_only(Some(ADMIN.to_string().into())),
        reports,
        None,
    )
    .with_operations(Arc::default(), Vec::new(), Some(catalog), Some(postal));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, lienthong::dashboard::router(state)).await });

    let Some(b) = Browser::start().await else {
        return;
    };
    b.goto(&format!("{base}/ui/login?lang=vi")).await;
    b.type_into("#token", ADMIN).await;
    b.click("#login").await;
    b.wait_text("#title", "Tổng quan").await;

    b.click("#nav-catalog").await;
    b.wait_text("#title", "Danh mục TTHC").await;
    let in_force: usize = b.text("#in-force").await.parse().unwrap();
    assert_eq!(in_force, app.sim.catalog().len());
    let subscribers = b.text("#subscribers").await;
    for name in communes.names() {
        assert!(subscribers.contains(&name), "{subscribers}");
    }
    assert!(subscribers.contains("Chưa cập nhật"), "{subscribers}");
    assert!(b.text("#changes").await.contains(&changed));
    b.screenshot("catalog-vi.png").await;
    // The changed procedure: its two versions and what changed between them.
    b.type_into("#code", &changed).await;
    b.click("#show-code").await;
    b.wait_text("#diff-title", &format!("{changed}: 1 → 2"))
        .await;
    assert!(b.text("#versions").await.contains("2"));
    assert!(
        b.text("#diff").await.lines().count() >= 2,
        "{}",
        b.text("#diff").await
    );
    b.click("#lang").await;
    b.wait_text("#title", "Catalog").await;
    b.wait_text("#diff-title", "Diff").await;
    b.screenshot("catalog-diff-en.png").await;
    // Resend the whole catalog to a subscriber, confirming the prompt.
    let first = communes.names()[0].clone();
    b.goto(&format!("{base}/ui/catalog?lang=en")).await;
    b.click(&format!("#sub-{first} button.resend")).await;
    b.accept_prompt().await;
    b.wait_text(
        "#message",
        &format!("Whole catalog queued again for {first}"),
    )
    .await;

    b.click("#nav-postal").await;
    b.wait_text("#title", "Postal").await;
    b.click("#poll").await;
    b.wait_text("#message", "Tracking read").await;
    assert!(b
        .text("#unknown")
        .await
        .contains("000.00.56.H56-261101-0099"));
    let page = b.text("main").await;
    for personal in ["Lê Văn Tâm", "0912345679", "Thôn Bắc"] {
        assert!(!page.contains(personal), "{personal} shown");
    }
    b.screenshot("postal-en.png").await;
    b.click("#lang").await;
    b.wait_text("#title", "Bưu chính").await;
    assert!(b
        .text("#unknown")
        .await
        .contains("000.00.56.H56-261101-0099"));
    b.screenshot("postal-vi.png").await;
}

#[tokio::test]
async fn the_outbox_browser_a_bulk_replay_a_viewer_and_the_audit_page_in_a_browser() {
    use crate::outbox_browser::{dead_dossiers, people, LAN, MINH};
    let app = support::spawn_app_with(support::sqlite().await, Default::default(), people).await;
    let (lane, dead) = dead_dossiers(&app, 81, 4).await;
    let Some(b) = Browser::start().await else {
        return;
    };
    let base = &app.base;
    let first = app.store.message(dead[0]).await.unwrap().unwrap();
    let code = first.dossier.clone();
    let request_id = first.batch_id.clone().expect("sent once");

    // The operator finds the dead letter by its dossier code.
    b.goto(&format!("{base}/ui/login")).await;
    b.type_into("#token", LAN).await;
    b.click("#login").await;
    b.wait_text("#who", "lan").await;
    b.goto(&format!("{base}/ui/outbox?lang=vi")).await;
    b.type_into("#f-dossier", &code).await;
    b.click("#f-go").await;
    b.wait_text(&format!("#m-{} .state", dead[0]), "dead").await;
    assert_eq!(
        b.text("#messages").await.matches("dead").count(),
        1,
        "only that dossier's message"
    );
    b.screenshot("outbox-vi.png").await;
    // Its detail: the batch it went in, under its X-Request-ID, with the peer's answer.
    b.goto(&format!("{base}/ui/outbox/{}?lang=en", dead[0]))
        .await;
    b.wait_text("#d-state", "dead").await;
    assert!(b.text("#batches").await.contains(&request_id));
    assert!(b.text("#detail").await.contains("HTTP 500"));
    assert!(b.find("#replay-one").await.is_some());
    b.screenshot("message-en.png").await;

    // Everything dead, replayed once the count is typed: a wrong count starts nothing.
    b.goto(&format!("{base}/ui/outbox?state=dead&lang=en"))
        .await;
    b.click("#bulk-go").await;
    b.wait_text("#bulk-count", "4").await;
    b.type_into("#bulk-typed", "3").await;
    b.click("#bulk-start").await;
    b.wait_text("#message", "does not match").await;
    assert_eq!(app.store.jobs(10).await.unwrap().len(), 0, "nothing began");
    b.type_into("#bulk-typed", "4").await;
    b.screenshot("bulk-confirm-en.png").await;
    b.click("#bulk-start").await;
    // The progress page refreshes itself until the job is done.
    b.wait_text("#job-state", "Done").await;
    assert_eq!(b.text("#job-done").await, "4");
    assert_eq!(b.text("#job-changed").await, "4");
    b.screenshot("job-en.png").await;
    // The simulator accepts them now: delivered.
    app.drain(&lane).await;
    b.goto(&format!("{base}/ui/outbox?dossier={code}&lang=en"))
        .await;
    b.wait_text(&format!("#m-{} .state", dead[0]), "delivered")
        .await;
    for id in &dead {
        assert_eq!(
            app.store.message(*id).await.unwrap().unwrap().state,
            "delivered"
        );
    }

    // A viewer sees no action, and a direct POST with their session is refused.
    b.click("#logout").await;
    b.wait_text("h1", "lienthong").await;
    b.goto(&format!("{base}/ui/login?lang=en")).await;
    b.type_into("#token", MINH).await;
    b.click("#login").await;
    b.wait_text("#who", "minh").await;
    b.goto(&format!("{base}/ui/outbox?lang=en")).await;
    b.wait_text("#title", "Outbox").await;
    assert!(b.find("#bulk").await.is_none(), "no bulk form for a viewer");
    b.goto(&format!("{base}/ui/outbox/{}?lang=en", dead[1]))
        .await;
    b.wait_text("#d-state", "delivered").await;
    // Its tries: the one that failed with the portal's answer, then the delivery.
    let tries = b.text("#tries").await;
    let (dead_at, delivered_at) = (tries.find("Dead"), tries.rfind("Delivered"));
    assert!(
        dead_at.is_some() && dead_at < delivered_at && tries.contains("HTTP 500"),
        "{tries}"
    );
    for form in ["#replay-one", "#skip-one", "#remap-one"] {
        assert!(b.find(form).await.is_none(), "{form} shown to a viewer");
    }
    b.screenshot("message-viewer-en.png").await;
    let session = b.cookie("lienthong_session").await;
    let csrf = b.value("input[name=csrf]").await;
    assert!(!csrf.is_empty());
    let refused = app
        .client
        .post(format!("{base}/ui/outbox/jobs"))
        .header("cookie", format!("lienthong_session={session}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "replay"),
            ("expected", "0"),
            ("confirm", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let refused = app
        .client
        .post(format!("{base}/admin/outbox/replay"))
        .bearer_auth(MINH)
        .json(&json!({"ids": [dead[2]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);

    // The audit page shows the operator's actions and the viewer's refused attempts.
    b.goto(&format!("{base}/ui/audit?lang=en")).await;
    b.wait_text("#title", "Audit log").await;
    let log = b.text("#audit").await;
    for needle in [
        "lan",
        "outbox.bulk_replay",
        "minh",
        "refused",
        "\"total\":4",
    ] {
        assert!(
            log.contains(needle),
            "{needle:?} not in the audit page:\n{log}"
        );
    }
    b.screenshot("audit-en.png").await;
    b.goto(&format!("{base}/ui/audit?lang=vi&who=lan")).await;
    b.wait_text("#title", "Nhật ký thao tác").await;
    assert!(!b.text("#audit").await.contains("minh"));
    b.screenshot("audit-vi.png").await;
}
