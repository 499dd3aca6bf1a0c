//! Personal data never leaves the daemon unmasked: a real `lienthong run` with JSON logs at debug
//! level and the simulated portal (which quotes refused items in its answers) is sent a
//! citizen's identity number, phone, name, address and e-mail through every path that can carry
//! them (accepted dossiers, mapping refusals, unreadable JSON and XML, a portal refusal echoing
//! the item, the dead letter and the quarantine it leaves, the admin API, the dashboard,
//! `/metrics`), and every byte it wrote is searched for them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lienthong::sim::{SimSettings, Simulator};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use unicode_normalization::UnicodeNormalization;

use crate::support::TOKEN;

const ADMIN: &str = "masking-admin-token";

const CITIZEN_ID: &str = "001203004567";
const PHONE: &str = "0912345678";
const NAME: &str = "Nguyễn Thị Thu Hương";
const ADDRESS: &str = "Số 18 ngõ 42 phố Trần Quốc Hoàn, phường Dịch Vọng Hậu, quận Cầu Giấy";
const EMAIL: &str = "thuhuong.nguyen@example.vn";

/// A vendor-a dossier row of the fixtures' shape carrying the citizen's data.
fn dossier(code: &str) -> Value {
    json!({
        "MaHoSo": code,
        "MaThuTucLocal": "TTHC-TH-0601",
        "TenThuTuc": "Hỗ trợ kinh phí mua thẻ bảo hiểm y tế cho người cao tuổi",
        "TrichYeu": format!("Đề nghị hỗ trợ kinh phí cho {NAME}, {ADDRESS}"),
        "NguoiNop": NAME,
        "SoGiayTo": CITIZEN_ID,
        "DienThoai": PHONE,
        "Email": EMAIL,
        "DiaChi": ADDRESS,
        "MaTinh": "38",
        "MaXa": "15715",
        "LoaiNguoiNop": "CD",
        "KenhNop": "TRUC_TUYEN",
        "NgayNop": "2026-11-02 07:58:00",
        "NgayNhan": "2026-11-02 09:35:00",
        "HanTra": "2026-11-11 17:00:00",
        "NgayXong": null,
        "NgayTra": null,
        "TinhTrang": "DANG_XU_LY",
        "NhanKetQuaQuaBuuDien": 0,
        "CoSoHoa": 1,
        "PhongXuLy": "Phòng Văn hóa - Xã hội",
        "CapNhatLuc": "2026-11-03 08:25:47.694",
        "BoSung": [],
        "LePhi": []
    })
}

/// Every form a value could be written in: as sent, decomposed (NFD), JSON-escaped, and with
/// everything outside ASCII escaped as `\uXXXX`.
fn forms(value: &str) -> Vec<(String, &'static str)> {
    let escaped = serde_json::to_string(value).unwrap();
    let escaped = escaped.trim_matches('"').to_string();
    let mut ascii = String::new();
    for unit in value.encode_utf16() {
        match char::from_u32(u32::from(unit)) {
            Some(c) if c.is_ascii() => ascii.push(c),
            _ => ascii.push_str(&format!("\\u{unit:04x}")),
        }
    }
    let mut out = vec![
        (value.to_string(), "as sent"),
        (value.nfd().collect(), "NFD"),
        (escaped, "JSON-escaped"),
        (ascii.clone(), "\\u-escaped"),
        (
            ascii.to_uppercase().replace("\\U", "\\u"),
            "\\u-escaped (upper hex)",
        ),
    ];
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Where each personal value (in each of its forms) occurs in `outputs`, one line each.
fn leaks(outputs: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, value) in [
        ("citizen id", CITIZEN_ID),
        ("phone", PHONE),
        ("name", NAME),
        ("address", ADDRESS),
        ("e-mail", EMAIL),
    ] {
        for (form, how) in forms(value) {
            for (place, text) in outputs {
                if let Some(at) = text.find(&form) {
                    let from = text[..at]
                        .char_indices()
                        .rev()
                        .nth(80)
                        .map_or(0, |(i, _)| i);
                    let to = (at + form.len() + 80).min(text.len());
                    let to = (to..=text.len())
                        .find(|i| text.is_char_boundary(*i))
                        .unwrap_or(text.len());
                    found.push(format!("{what} ({how}) in {place}: …{}…", &text[from..to]));
                }
            }
        }
    }
    found
}

struct Daemon {
    child: Child,
    base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, sim_base: &str) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = format!("sqlite://{}", dir.join("store.db").display());
    let text = crate::support::test_config_text(&store, sim_base)
        .replace(
            "[server]\n",
            &format!("[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_token = \"{ADMIN}\"\n"),
        )
        .replace("max_attempts = 50", "max_attempts = 3")
        .replace(
            "[[sources]]\nname = \"tinh\"\n",
            "[[sources]]\nname = \"tinh\"\nxml_record_element = \"HoSo\"\n",
        )
        + "[log]\nformat = \"json\"\nlevel = \"debug\"\n";
    let config = dir.join("lienthong.toml");
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("stdout")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr")).unwrap(),
        ))
        .spawn()
        .expect("start lienthong run");
    Daemon {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Every file under `dir` (the daemon's own directory), but the store's.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("store.db"))
            {
                out.push(path);
            }
        }
    }
    out
}

struct Recorder {
    client: reqwest::Client,
    base: String,
    outputs: Vec<(String, String)>,
}

impl Recorder {
    async fn send(&mut self, what: &str, request: reqwest::RequestBuilder) -> (u16, String) {
        let resp = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        self.outputs
            .push((format!("the answer to {what}"), body.clone()));
        (status, body)
    }

    async fn ingest(&mut self, what: &str, content_type: &str, body: String) -> (u16, String) {
        let request = self
            .client
            .post(format!("{}/ingest/v1/tinh/dossiers", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body);
        self.send(what, request).await
    }

    async fn admin(&mut self, path: &str) -> (u16, String) {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        self.send(&format!("GET {path}"), request).await
    }
}

#[tokio::test]
async fn no_personal_data_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    // Every dossier is answered "try later" with the item quoted, until its attempts are
    // used up and it is dead-lettered with that reason.
    let mut settings = SimSettings {
        echo_items: true,
        ..SimSettings::default()
    };
    settings.faults.item_temporary = 1.0;
    let sim = Simulator::new(settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        listener,
        sim.clone(),
        shutdown.clone(),
    ));

    let daemon = start(dir.path(), &sim_base);
    let client = reqwest::Client::new();
    let started = Instant::now();
    while !client
        .get(format!("{}/healthz", daemon.base))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "daemon never started: {}",
            std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rec = Recorder {
        client: client.clone(),
        base: daemon.base.clone(),
        outputs: Vec::new(),
    };

    // Accepted, then refused by the portal (which quotes it) until dead-lettered.
    let first = "000.00.56.H56-261102-0101";
    // Refused by the mapping: due before reception, beside the personal fields.
    let mut due_first = dossier("000.00.56.H56-261102-0102");
    due_first["HanTra"] = json!("2026-11-01 08:00:00");
    // Refused by the mapping: a bad date beside the personal fields. Accepted with warnings: bad
    // values in personal fields themselves (two phones in one, an e-mail with a stray `@`).
    let mut bad_date = dossier("000.00.56.H56-261102-0103");
    bad_date["NgayNhan"] = json!("31/02/2026 25:61");
    let mut bad_personal = dossier("000.00.56.H56-261102-0104");
    bad_personal["DienThoai"] = json!(format!("{PHONE} / {PHONE}"));
    bad_personal["Email"] = json!(format!("{EMAIL}@"));
    let records = json!([dossier(first), due_first, bad_date, bad_personal]);
    let (status, answer) = rec
        .ingest("the dossiers", "application/json", records.to_string())
        .await;
    assert_eq!(status, 202, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["accepted"].as_array().map(Vec::len),
        Some(2),
        "{answer}"
    );
    assert_eq!(
        answer["rejected"].as_array().map(Vec::len),
        Some(2),
        "{answer}"
    );

    // Unreadable bodies that carry the data.
    let text = records.to_string();
    let (status, _) = rec
        .ingest(
            "a cut JSON body",
            "application/json",
            text[..text.len() - 40].to_string(),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = rec
        .ingest(
            "a JSON body with a bad escape",
            "application/json",
            format!("[{{\"NguoiNop\": \"{NAME}\", \"SoGiayTo\": \"{CITIZEN_ID}\\q\"}}]"),
        )
        .await;
    assert_eq!(status, 400);
    let xml = format!(
        "<?xml version=\"1.0\"?><DanhSach><HoSo><NguoiNop>{NAME}</NguoiNop>\
         <DiaChi>{ADDRESS}</DiaChi><SoGiayTo>{CITIZEN_ID}</SoGiayTo><DienThoai>{PHONE}\
         </DienThoai><Email>{EMAIL}</Email></HoSo><{NAME}>{EMAIL}</DanhSach>"
    );
    let (status, _) = rec.ingest("malformed XML", "application/xml", xml).await;
    assert_eq!(status, 400);
    let xml = format!(
        "<?xml version=\"1.0\"?><DanhSach><HoSo NguoiNop=\"{NAME}\" SoGiayTo={CITIZEN_ID}>\
         {PHONE} &{EMAIL};</HoSo></DanhSach>"
    );
    let (status, _) = rec
        .ingest("XML with a bad attribute", "application/xml", xml)
        .await;
    assert_eq!(status, 400);

    // The delivered one and the dead letter, seen through the admin API.
    let started = Instant::now();
    let dead = loop {
        let (status, body) = rec.admin("/admin/outbox/messages?state=dead").await;
        assert_eq!(status, 200, "{body}");
        let list: Value = serde_json::from_str(&body).unwrap();
        let rows = list["messages"].as_array().cloned().unwrap_or_default();
        if let Some(row) = rows.first() {
            break row.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the portal's refusal never dead-lettered the dossier: {list}\n{}",
            std::fs::read_to_string(dir.path().join("stderr"))
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.contains("sqlx::query"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let refused = dead["dossier"].as_str().unwrap().to_string();
    assert!(
        [first, "000.00.56.H56-261102-0104"].contains(&refused.as_str()),
        "an accepted dossier is dead-lettered: {dead}"
    );
    assert!(
        dead["error"]
            .as_str()
            .is_some_and(|e| e.contains("error_code 9")),
        "the portal's reason is kept, masked: {dead}"
    );
    assert!(
        sim.stats().items_rejected.values().sum::<u64>() >= 1,
        "the portal refused (and quoted) the item"
    );
    let (_, body) = rec.admin("/admin/outbox/messages").await;
    let all: Value = serde_json::from_str(&body).unwrap();
    for m in all["messages"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let (status, body) = rec.admin(&format!("/admin/outbox/messages/{id}")).await;
        assert_eq!(status, 200, "{body}");
    }
    for path in ["/admin/outbox", "/admin/outbox/stats", "/admin/sources"] {
        let (status, body) = rec.admin(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // `/metrics` has the delivery figures of the refused messages' tries,
    // tries, as Prometheus histograms that promtool accepts.
    let (status, metrics) = rec.admin("/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    for series in [
        "lienthong_delivery_request_seconds_bucket{peer=\"dvcqg\",destination=\"\",le=\"+Inf\"}",
        "lienthong_delivery_attempts_total{peer=\"dvcqg\",destination=\"\"} ",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    if let Some((ok, said)) = crate::support::promtool(&["check", "metrics"], Some(&metrics)) {
        assert!(ok, "promtool check metrics: {said}");
    }
    let (_, body) = rec.admin("/admin/quarantine").await;
    let quarantine: Value = serde_json::from_str(&body).unwrap();
    let held = quarantine["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        held.len(),
        2,
        "both refused records are quarantined: {quarantine}"
    );
    for q in &held {
        let id = q["id"]
            .as_str()
            .map_or_else(|| q["id"].to_string(), str::to_string);
        let (status, body) = rec.admin(&format!("/admin/quarantine/{id}")).await;
        assert_eq!(status, 200, "{body}");
    }

    // The dashboard's pages, logged in.
    let login = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/login", daemon.base))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("the dashboard lets the admin in")
        .to_string();
    for page in [
        "/ui/report",
        "/ui/overdue",
        "/ui/reconcile",
        "/ui/sources",
        "/ui/quarantine",
        "/ui/quarantine?lang=en",
    ] {
        let request = client
            .get(format!("{}{page}", daemon.base))
            .header("cookie", &cookie);
        let (status, body) = rec.send(&format!("GET {page}"), request).await;
        assert_eq!(status, 200, "{page}: {body}");
    }

    drop(daemon);
    shutdown.cancel();
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    let mut outputs = rec.outputs;
    for path in files_under(dir.path()) {
        let bytes = std::fs::read(&path).unwrap();
        outputs.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }

    // The log is there to be searched: JSON lines, at debug level, each message's line with its
    // id, peer and dossier code.
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "debug lines are written"
    );
    let dead_line = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "message dead-lettered"
                && l["fields"]["message_id"] == dead["id"]
        })
        .unwrap_or_else(|| panic!("no dead-letter line in {stderr}"));
    assert_eq!(
        dead_line["fields"]["dossier"],
        refused.as_str(),
        "{dead_line}"
    );
    assert_eq!(dead_line["fields"]["peer"], "dvcqg", "{dead_line}");
    assert_eq!(dead_line["fields"]["message_id"], dead["id"], "{dead_line}");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "message will be retried"
                && l["fields"]["dossier"] == refused.as_str()
                && l["fields"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("error_code 9"))),
        "each try is logged with its dossier and the portal's (masked) reason"
    );

    let found = leaks(&outputs);
    assert!(
        found.is_empty(),
        "personal data found:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_search_finds_each_form() {
    // The search itself: a value in any of its forms is found and named.
    for (form, how) in forms(NAME) {
        let found = leaks(&[("a page".into(), format!("<p>{form}</p>"))]);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("name ({how}) in a page"))),
            "{how}: {found:?}"
        );
    }
    assert!(leaks(&[("a page".into(), "Ng*** 0912***678".into())]).is_empty());
}
