//! The quarantine and the sources as an operator works them: pages, one record (masked over the
//! admin API, whole with `lienthong quarantine show`), drop; a retry after a mapping fix is
//! accepted (its row gone, its message queued and delivered) while one refused again keeps its
//! id with the new reason and `retries = 1`; two retries (or a retry and a drop) of one record at
//! once queue it at most once, on both backends; `lienthong quarantine retry --all --source`; every
//! route answers 401 without the token; `lienthong sources` and `/admin/sources` with health
//! rows, watermarks and files; a polled source that is down in `/metrics`, which promtool reads
//! and which serves every per-source metric `deploy/alerts.yml` uses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lienthong::config::Config;
use lienthong::sim::SimSettings;
use lienthong::source::intake::{self, Along};
use lienthong::source::routes::Routes;
use lienthong::store::{
    RecordKind, SourcePosition, SourceStatus, StreamPosition, TakenFile, WatermarkMove,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::report::dossier;
use crate::support::{self, copied_mappings, mappings, spawn_app_with, sqlite, sqlite_in, TestApp};

const ADMIN: &str = "quarantine-admin-token";

/// The metrics served per source (so only by a gateway with sources) that `deploy/alerts.yml`
/// uses; checked here on a gateway that has sources.
pub const PER_SOURCE: &[&str] = &["lienthong_quarantined_records", "lienthong_source_up"];

/// A second pushing source, `huyen`, with the same mappings.
const HUYEN: &str = "huyen-token";

/// A source read by SQL polling from a database that is not there (its poller finds it down).
pub(crate) fn sohoa(dir: &Path) -> String {
    format!(
        r#"
[[sources]]
name = "sohoa"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Sở Tài nguyên và Môi trường" }}
[sources.poll]
url = "sqlite://{db}"
interval_seconds = 1
retry_max_seconds = 1
[sources.poll.dossiers]
query = "SELECT * FROM HoSo"
watermark = ["CapNhatLuc", "MaHoSo"]
key = ["MaHoSo"]
"#,
        maps = mappings().display(),
        db = dir.join("not-here/hoso.db").display(),
    )
}

fn huyen(maps: &Path) -> String {
    format!(
        r#"
[[sources]]
name = "huyen"
token = "{HUYEN}"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "UBND huyện" }}
"#,
        maps = maps.display()
    )
}

/// The fix: the copied dossier mapping learns the channel code `QUA_ZALO`.
fn fix_channels(maps: &Path) {
    let file = maps.join("vendor-a/dossier.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let old = r#"rows = { TRUC_TIEP = "1", TRUC_TUYEN = "2", BUU_CHINH = "3" }"#;
    assert!(
        text.contains(old),
        "the KenhNop table changed: update this test"
    );
    std::fs::write(
        &file,
        text.replace(
            old,
            r#"rows = { TRUC_TIEP = "1", TRUC_TUYEN = "2", BUU_CHINH = "3", QUA_ZALO = "2" }"#,
        ),
    )
    .unwrap();
}

/// A dossier the shipped mapping refuses for its channel `QUA_ZALO` (and, with `bad_kind`, also
/// for its applicant kind `XX`, which no fix here teaches it).
pub(crate) fn refused(seq: &str, bad_kind: bool) -> Value {
    let mut d = dossier(
        seq,
        "QUA_ZALO",
        "DA_NHAN",
        "2026-11-09 08:00:00",
        Some("2026-11-20 17:00:00"),
        None,
        None,
        0,
    );
    if bad_kind {
        d["LoaiNguoiNop"] = json!("XX");
    }
    d
}

fn code(d: &Value) -> String {
    d["MaHoSo"].as_str().unwrap().to_string()
}

/// The config text the app below runs with, for the binary (its store at `url`).
pub(crate) fn config_text(url: &str, maps: &Path, extra: &str) -> String {
    support::test_config_text(url, "http://127.0.0.1:9").replace(
        &mappings().display().to_string(),
        &maps.display().to_string(),
    ) + extra
}

/// A gateway with the admin token whose sources are `config_text`'s (`maps` for `tinh` and
/// `huyen`, plus `extra`).
async fn app_with(ts: support::TestStore, maps: &Path, extra: &str) -> TestApp {
    let sources = Config::from_toml(&config_text("sqlite://unused", maps, extra))
        .expect("config")
        .sources;
    spawn_app_with(ts, SimSettings::default(), move |c| {
        c.server.admin_token = Some(ADMIN.to_string().into());
        c.sources = sources;
    })
    .await
}

async fn post(app: &TestApp, source: &str, token: &str, records: Value) -> Value {
    let r = app
        .client
        .post(format!("{}/ingest/v1/{source}/dossiers", app.base))
        .bearer_auth(token)
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn post_admin(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The quarantined records' ids, oldest first.
async fn quarantined(app: &TestApp, source: Option<&str>) -> Vec<lienthong::store::QuarantineItem> {
    app.store.quarantine_page(source, None, 1000).await.unwrap()
}

fn lienthong() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
}

#[tokio::test]
async fn the_admin_api_pages_shows_masked_and_drops_quarantined_records() {
    let dir = tempfile::tempdir().unwrap();
    let maps = copied_mappings(dir.path());
    let app = app_with(sqlite().await, &maps, "").await;
    let records: Vec<Value> = (1..=3)
        .map(|i| refused(&format!("010{i}"), false))
        .collect();
    let answer = post(&app, "tinh", support::TOKEN, json!(records)).await;
    assert_eq!(answer["rejected"].as_array().unwrap().len(), 3, "{answer}");
    let ids: Vec<String> = quarantined(&app, None)
        .await
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(ids.len(), 3);

    // Keyset pages: two, then the rest after the last one.
    let (status, first) = get(&app, "/admin/quarantine?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let listed: Vec<&str> = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids[..2]);
    assert_eq!(first["next"], ids[1].as_str());
    let (_, rest) = get(&app, &format!("/admin/quarantine?limit=2&after={}", ids[1])).await;
    assert_eq!(rest["records"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["records"][0]["id"], ids[2].as_str());
    assert_eq!(rest["next"], Value::Null);
    let r = &first["records"][0];
    assert_eq!(
        (r["source"].clone(), r["kind"].clone()),
        (json!("tinh"), json!("dossier"))
    );
    assert!(
        r["error"].as_str().unwrap().contains("QUA_ZALO"),
        "the reason names the value: {r}"
    );
    let (_, other) = get(&app, "/admin/quarantine?source=huyen").await;
    assert_eq!(other["records"], json!([]));
    // Bounds are refused by name; a cursor that is gone is not found.
    for bad in ["limit=0", "limit=1001", "after=not-a-uuid", "colour=red"] {
        let (status, body) = get(&app, &format!("/admin/quarantine?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = get(&app, &format!("/admin/quarantine?after={}", Uuid::now_v7())).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("after"), "{body}");

    // One record: its field names, every value masked; nothing personal anywhere in the API.
    let (status, one) = get(&app, &format!("/admin/quarantine/{}", ids[0])).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["body_masked"]["NguoiNop"], "Ng***");
    assert_eq!(one["body_masked"]["SoGiayTo"], "0381***234");
    assert_eq!(one["body_masked"]["DienThoai"], "0912***678");
    assert_eq!(one["retries"], 0);
    for shown in [first.to_string(), rest.to_string(), one.to_string()] {
        for personal in ["Nguyễn Thị Hoa", "038186001234", "0912345678", "Thôn Đông"] {
            assert!(!shown.contains(personal), "{personal} shown: {shown}");
        }
    }
    assert_eq!(
        get(&app, &format!("/admin/quarantine/{}", Uuid::now_v7()))
            .await
            .0,
        404
    );
    assert_eq!(get(&app, "/admin/quarantine/not-a-uuid").await.0, 400);

    // Drop: gone, and a second drop finds nothing.
    let (status, body) = post_admin(
        &app,
        &format!("/admin/quarantine/{}/drop", ids[0]),
        json!({}),
    )
    .await;
    assert_eq!((status, body["dropped"].clone()), (200, json!(ids[0])));
    let (status, _) = post_admin(
        &app,
        &format!("/admin/quarantine/{}/drop", ids[0]),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        get(&app, &format!("/admin/quarantine/{}", ids[0])).await.0,
        404
    );
    assert_eq!(quarantined(&app, None).await.len(), 2);

    // Without the token: 401 on every route, and nothing changes.
    let any = Uuid::now_v7();
    for (method, path) in [
        ("GET", "/admin/quarantine".to_string()),
        ("GET", format!("/admin/quarantine/{}", ids[1])),
        ("POST", "/admin/quarantine/retry".to_string()),
        ("POST", format!("/admin/quarantine/{}/drop", ids[1])),
        ("POST", format!("/admin/quarantine/{any}/drop")),
        ("GET", "/admin/sources".to_string()),
    ] {
        let url = format!("{}{path}", app.base);
        let req = match method {
            "GET" => app.client.get(&url),
            _ => app.client.post(&url).json(&json!({"all": true})),
        };
        let wrong = req
            .try_clone()
            .unwrap()
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong token");
        assert_eq!(req.send().await.unwrap().status(), 401, "{method} {path}");
    }
    assert_eq!(quarantined(&app, None).await.len(), 2);
}

#[tokio::test]
async fn a_retry_after_a_mapping_fix_is_queued_and_one_refused_again_keeps_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let maps = copied_mappings(dir.path());
    let app = app_with(sqlite().await, &maps, "").await;
    let (a, b) = (refused("0201", false), refused("0202", true));
    post(&app, "tinh", support::TOKEN, json!([a, b])).await;
    let before = quarantined(&app, None).await;
    let (id_a, id_b) = (before[0].id.clone(), before[1].id.clone());
    assert!(
        before[1].error.contains("KenhThucHien"),
        "{}",
        before[1].error
    );

    // Before the fix, a retry changes nothing but the count of tries.
    let (status, r) = post_admin(&app, "/admin/quarantine/retry", json!({"ids": [id_a]})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["accepted"].clone(), r["refused"].clone()),
        (json!(0), json!(1)),
        "{r}"
    );

    // The running gateway reads the fixed file at the next retry: no restart.
    fix_channels(&maps);
    let (status, r) = post_admin(
        &app,
        "/admin/quarantine/retry",
        json!({"ids": [id_a, id_b]}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            r["accepted"].clone(),
            r["refused"].clone(),
            r["unknown"].clone()
        ),
        (json!(1), json!(1), json!(0)),
        "{r}"
    );
    assert_eq!(
        r["results"][0],
        json!({"id": id_a, "outcome": "accepted", "error": null})
    );
    assert_eq!(r["results"][1]["id"], id_b.as_str());
    assert_eq!(r["results"][1]["outcome"], "refused");
    let reason = r["results"][1]["error"].as_str().unwrap();
    assert!(
        reason.contains("LoaiDoiTuong") && !reason.contains("KenhThucHien"),
        "the new reason: {reason}"
    );

    // A's row is gone and its message queued; B keeps its id with the new reason, tried once.
    let after = quarantined(&app, None).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, id_b);
    assert_eq!(after[0].retries, 1);
    assert!(after[0].retried_at.is_some());
    assert_eq!(after[0].error, reason);
    assert_eq!(
        after[0].created_at, before[1].created_at,
        "its place is kept"
    );
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 1);
    let lane = app.lane("t", None);
    app.drain(&lane).await;
    let sent = app
        .sim
        .dossier(&code(&a))
        .expect("the retried dossier reached the portal");
    assert_eq!(sent["KenhThucHien"], "2");
    assert!(app.sim.dossier(&code(&b)).is_none());

    // Retried again: A is no longer there; B is refused again (twice now).
    let (_, r) = post_admin(&app, "/admin/quarantine/retry", json!({"ids": [id_a]})).await;
    assert_eq!(
        r["results"],
        json!([{"id": id_a, "outcome": "unknown", "error": null}])
    );
    let (_, r) = post_admin(
        &app,
        "/admin/quarantine/retry",
        json!({"all": true, "source": "tinh"}),
    )
    .await;
    assert_eq!(
        (r["refused"].clone(), r["results_omitted"].clone()),
        (json!(1), json!(0)),
        "{r}"
    );
    assert_eq!(quarantined(&app, None).await[0].retries, 2);
    assert_eq!(
        app.count("DongBoHoSoMC", "delivered").await,
        1,
        "nothing queued twice"
    );

    // What the document allows, and nothing else.
    let (status, r) = post_admin(&app, "/admin/quarantine/retry", json!({"ids": []})).await;
    assert_eq!((status, r["accepted"].clone()), (200, json!(0)));
    for bad in [
        json!({}),
        json!({"all": false}),
        json!({"ids": [id_b], "all": true}),
        json!({"ids": [id_b], "source": "tinh"}),
        json!({"ids": [id_b], "all": null}),
        json!({"all": true, "source": null}),
        json!({"ids": null}),
        json!({"ids": ["not-a-uuid"]}),
        json!({"ids": vec![Uuid::nil(); 1001]}),
    ] {
        let (status, body) = post_admin(&app, "/admin/quarantine/retry", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn cli_lists_retries_all_of_one_source_shows_and_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = sqlite_in(dir.path()).await;
    let maps = copied_mappings(dir.path());
    let extra = huyen(&maps);
    let app = app_with(ts, &maps, &extra).await;
    post(
        &app,
        "tinh",
        support::TOKEN,
        json!([
            refused("0301", false),
            refused("0302", false),
            refused("0303", true)
        ]),
    )
    .await;
    post(&app, "huyen", HUYEN, json!([refused("0304", false)])).await;
    let all = quarantined(&app, None).await;
    assert_eq!(all.len(), 4);
    let huyen_id = all.iter().find(|q| q.source == "huyen").unwrap().id.clone();
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(&cfg, config_text(&url, &maps, &extra)).unwrap();
    let run = |args: &[&str]| {
        let out = lienthong()
            .arg("quarantine")
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    let (code_, text, err) = run(&["list"]);
    assert_eq!(code_, Some(0), "{err}");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains("QUA_ZALO") && !text.contains("Nguyễn"),
        "{text}"
    );
    let (_, text, _) = run(&["list", "--limit", "2"]);
    let more = text.lines().last().unwrap();
    assert_eq!(
        more,
        format!("more: lienthong quarantine list --after {}", all[1].id)
    );
    let (_, text, _) = run(&["list", "--after", &all[1].id]);
    assert!(text.starts_with(&all[2].id), "{text}");
    let (_, text, _) = run(&["list", "--source", "huyen", "--json"]);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["records"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["records"][0]["id"], huyen_id.as_str());
    assert_eq!(run(&["list", "--limit", "0"]).0, Some(2), "clap refuses it");

    fix_channels(&maps);
    let (code_, text, err) = run(&["retry", "--all", "--source", "tinh"]);
    assert_eq!(code_, Some(1), "one is refused again: {text}{err}");
    assert!(
        text.contains("2 accepted, 1 refused again, 0 unknown, 0 without a route"),
        "{text}"
    );
    assert!(
        text.contains("refused again:") && text.contains("LoaiDoiTuong"),
        "{text}"
    );
    let left = quarantined(&app, None).await;
    assert_eq!(left.len(), 2, "the refused one and huyen's");
    let tinh = left.iter().find(|q| q.source == "tinh").unwrap();
    assert_eq!(tinh.retries, 1);
    let huyen = left.iter().find(|q| q.source == "huyen").unwrap();
    assert_eq!(huyen.retries, 0, "another source's record is not touched");
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 2);

    // `show` on the server prints the record whole.
    let (code_, text, _) = run(&["show", &tinh.id]);
    assert_eq!(code_, Some(0));
    assert!(
        text.contains("Nguyễn Thị Hoa") && text.contains("LoaiDoiTuong"),
        "{text}"
    );
    let (_, text, _) = run(&["show", "--json", &tinh.id]);
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(shown["body"]["MaHoSo"], "000.00.56.H56-261109-0303");

    let (code_, text, _) = run(&["retry", &huyen_id]);
    assert_eq!(code_, Some(0), "{text}");
    assert!(text.contains("accepted and queued"), "{text}");
    assert_eq!(run(&["retry", &Uuid::now_v7().to_string()]).0, Some(1));
    assert_eq!(run(&["retry", &tinh.id]).0, Some(1), "refused again");
    assert_eq!(run(&["drop", &tinh.id]).0, Some(0));
    assert_eq!(run(&["drop", &tinh.id]).0, Some(1), "no longer there");
    assert_eq!(run(&["show", &tinh.id]).0, Some(1));
    let (_, text, _) = run(&["list"]);
    assert_eq!(text, "");
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 3);
}

/// Writes, through intake as a poller does, `sohoa`'s stream watermark, a dropped file's
/// ledger row and one quarantined record.
pub(crate) async fn sohoa_positions(store: &dyn lienthong::store::Store, cfg: &Config) {
    let routes = Routes::from_config(&cfg.sources, Path::new(".")).unwrap();
    let route = routes.get("sohoa", RecordKind::Dossier).unwrap();
    let along = Along {
        positions: vec![
            SourcePosition::Stream(StreamPosition {
                stream: "dossiers".into(),
                watermark: Some(WatermarkMove {
                    from: None,
                    to: "2026-11-09T08:00:00|000.00.56.H56-261109-0401".into(),
                }),
                seen: Vec::new(),
            }),
            SourcePosition::File(TakenFile {
                source: "sohoa".into(),
                name: "hoso-2026-11-09.json".into(),
                size: 2048,
                modified_ms: 0,
                sha256: "00".repeat(32),
                outcome: "done".into(),
                records: 1,
                rejected: 1,
                error: None,
                taken_at: 0,
            }),
        ],
        origin: Some("sql dossiers".into()),
        ..Along::default()
    };
    let vars = routes.vars("sohoa").cloned().unwrap_or_default();
    let stored = intake::accept_along(
        store,
        route,
        "sohoa",
        &vars,
        RecordKind::Dossier,
        vec![refused("0401", false)],
        along,
    )
    .await
    .unwrap();
    assert_eq!(stored.rejected, 1);
}

fn health(state: &str, failures: i64, error: Option<&str>) -> SourceStatus {
    let now = lienthong::store::now_ms();
    SourceStatus {
        source: "sohoa".into(),
        way: "sql".into(),
        state: state.into(),
        failures,
        last_error: error.map(str::to_string),
        last_ok_at: Some(now - 60_000),
        next_try_at: (state != "ok").then_some(now + 8_000),
        lag_ms: Some(4_500),
        rows_read: 120,
        updated_at: now,
    }
}

#[tokio::test]
async fn lienthong_sources_prints_health_watermarks_files_and_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = sqlite_in(dir.path()).await;
    let text = config_text(&url, &mappings(), &sohoa(dir.path()));
    let cfg = Config::from_toml(&text).unwrap();
    let file = dir.path().join("lienthong.toml");
    std::fs::write(&file, &text).unwrap();
    let store = ts.store.clone();
    sohoa_positions(&*store, &cfg).await;
    store
        .set_source_status(&health(
            "down",
            3,
            Some("local database unreachable: refused for 0912345678"),
        ))
        .await
        .unwrap();
    let run = |args: &[&str]| {
        let out = lienthong()
            .arg("sources")
            .arg("--config")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (status, text) = run(&[]);
    assert_eq!(status, Some(1), "a source is down: {text}");
    for needle in [
        "tinh  quarantined=0",
        "http   push",
        "sohoa  quarantined=1",
        "sql    down     failures=3 lag=4.5s rows_read=120",
        "last error: local database unreachable: refused for 0912***678",
        "stream dossiers",
        "watermark 2026-11-09T08:00:00|000.00.56.H56-261109-0401",
        "file   hoso-2026-11-09.json",
        "records=1 refused=1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("0912345678"), "{text}");
    let (_, json_text) = run(&["--json"]);
    let doc: Value = serde_json::from_str(&json_text).unwrap();
    let s = &doc["sources"][1];
    assert_eq!(s["source"], "sohoa");
    assert_eq!(s["ways"][0]["way"], "sql");
    assert_eq!(s["ways"][0]["state"], "down");
    assert_eq!(s["ways"][0]["lag_ms"], 4500);
    assert_eq!(s["streams"][0]["stream"], "dossiers");
    assert_eq!(s["quarantined"], 1);
    assert_eq!(
        doc["sources"][0]["ways"][0]["state"],
        Value::Null,
        "HTTP push has no reader"
    );

    store
        .set_source_status(&health("ok", 0, None))
        .await
        .unwrap();
    let (status, text) = run(&[]);
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains("sql    ok"), "{text}");

    // A reader's health of a way no longer configured is shown, but does not fail the command.
    let mut gone = health("failing", 9, Some("no such table"));
    gone.source = "cu".into();
    store.set_source_status(&gone).await.unwrap();
    let (status, text) = run(&[]);
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains("cu (no longer configured)"), "{text}");
}

#[tokio::test]
async fn a_polled_source_down_shows_in_admin_sources_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(sqlite().await, &mappings(), &sohoa(dir.path())).await;
    post(
        &app,
        "tinh",
        support::TOKEN,
        json!([refused("0501", false)]),
    )
    .await;
    // The poller finds its database missing and says so.
    let mut view = Value::Null;
    for _ in 0..300 {
        let (_, body) = get(&app, "/admin/sources").await;
        if body["sources"][1]["ways"][0]["state"].is_string() {
            view = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sohoa = &view["sources"][1];
    assert_eq!(sohoa["source"], "sohoa", "{view}");
    assert_eq!(sohoa["configured"], true);
    let way = &sohoa["ways"][0];
    assert_eq!(way["way"], "sql");
    assert!(way["state"] == "down" || way["state"] == "failing", "{way}");
    assert!(way["failures"].as_i64().unwrap() >= 1, "{way}");
    assert!(way["last_error"].as_str().is_some(), "{way}");
    assert!(way["next_try_at"].as_i64().is_some(), "{way}");
    let tinh = &view["sources"][0];
    assert_eq!(tinh["source"], "tinh");
    assert_eq!(
        tinh["ways"],
        json!([{
            "way": "http", "configured": true, "state": null, "failures": 0, "last_error": null,
            "last_ok_at": null, "next_try_at": null, "lag_ms": null, "rows_read": 0, "updated_at": null
        }])
    );
    assert_eq!(tinh["quarantined"], 1);

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "lienthong_quarantined_records{source=\"tinh\"} 1",
        "lienthong_quarantined_records{source=\"sohoa\"} 0",
        "lienthong_source_up{source=\"sohoa\",way=\"sql\"} 0",
        "lienthong_source_rows_total{source=\"sohoa\",way=\"sql\"} 0",
    ] {
        assert!(metrics.contains(line), "missing {line} in:\n{metrics}");
    }
    assert!(metrics.contains("lienthong_source_failures{source=\"sohoa\",way=\"sql\"}"));
    if let Some((ok, said)) = support::promtool(&["check", "metrics"], Some(&metrics)) {
        assert!(ok, "promtool check metrics: {said}");
    }
    // Every per-source metric the alert rules use is served here (the catalog's test checks
    // the others).
    let rules =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/alerts.yml"))
            .unwrap();
    let used: std::collections::BTreeSet<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("lienthong_source") || w.starts_with("lienthong_quarantined"))
        .collect();
    assert!(used.len() >= 2, "{used:?}");
    for metric in used {
        assert!(PER_SOURCE.contains(&metric), "add {metric} to PER_SOURCE");
        assert!(
            metrics.contains(&format!("\n{metric}{{")),
            "deploy/alerts.yml uses {metric}, which /metrics does not serve"
        );
    }
}

#[tokio::test]
async fn two_retries_of_one_record_at_once_queue_it_once_on_every_backend() {
    for ts in support::stores().await {
        let name = ts.name;
        let dir = tempfile::tempdir().unwrap();
        let maps = copied_mappings(dir.path());
        let app = app_with(ts, &maps, "").await;
        post(
            &app,
            "tinh",
            support::TOKEN,
            json!([refused("0701", false)]),
        )
        .await;
        let id = quarantined(&app, None).await[0].id.clone();
        fix_channels(&maps);
        let routes = Routes::from_config(&app.config.sources, Path::new(".")).unwrap();
        let ids = vec![id.clone()];
        let (one, two) = tokio::join!(
            lienthong::source::quarantine::retry(&*app.store, &routes, &ids),
            lienthong::source::quarantine::retry(&*app.store, &routes, &ids),
        );
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.accepted + two.accepted, 1, "{name}: {one:?} {two:?}");
        assert_eq!(one.unknown + two.unknown, 1, "{name}: {one:?} {two:?}");
        assert_eq!(
            app.count("DongBoHoSoMC", "pending").await,
            1,
            "{name}: queued once"
        );
        assert!(quarantined(&app, None).await.is_empty(), "{name}");
        // A record dropped while its retry maps is not queued either.
        post(
            &app,
            "tinh",
            support::TOKEN,
            json!([refused("0702", false)]),
        )
        .await;
        let id = quarantined(&app, None).await[0].id.clone();
        let ids = vec![id.clone()];
        let (dropped, retried) = tokio::join!(
            app.store.quarantine_drop(&id),
            lienthong::source::quarantine::retry(&*app.store, &routes, &ids),
        );
        let (dropped, retried) = (dropped.unwrap(), retried.unwrap());
        // Whichever came first wins: dropped and not queued, or queued and nothing to drop.
        assert_ne!(dropped, retried.accepted == 1, "{name}: {retried:?}");
        assert_eq!(
            app.count("DongBoHoSoMC", "pending").await as u64,
            1 + retried.accepted,
            "{name}: {retried:?}"
        );
    }
}
