//! The operator side of the outbox: replay that keeps the X-Request-ID and the dossier's order,
//! remap with a diff, show, housekeeping with audit rows, the admin API and its OpenAPI file.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use lienthong::outbox::{housekeeping, Lane, Outcome};
use lienthong::sim::{EventKind, Fault, SimSettings};
use lienthong::source::routes::Routes;
use lienthong::store::{now_ms, MessageFilter, Store};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{local_records, mappings, spawn_app_with, sqlite, sqlite_in, stores, TestApp};

fn code(v: &Value) -> String {
    v["MaHoSo"].as_str().unwrap().to_string()
}

async fn dead(app: &TestApp) -> Vec<Uuid> {
    app.store
        .list_messages(&MessageFilter {
            state: Some("dead".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect()
}

/// Posts one generated dossier and fails its first delivery; with `max_attempts = 1` it is then
/// the one dead message. Returns the record (in a list), the lane and the message's id.
async fn one_dead_dossier(app: &TestApp, seed: u64) -> (Vec<Value>, Lane, Uuid) {
    let (d, _) = local_records(seed, 1);
    app.post("dossiers", &d[0]).await;
    let lane = app.lane("t", None);
    app.sim.script(vec![Fault::Http500]);
    lane.try_execute().await.unwrap();
    let dead = dead(app).await;
    assert_eq!(dead.len(), 1, "one dead message");
    (d, lane, dead[0])
}

async fn last_batch(store: &dyn Store, id: Uuid) -> String {
    store
        .message(id)
        .await
        .unwrap()
        .unwrap()
        .batch_id
        .expect("sent at least once")
}

#[tokio::test]
async fn replay_of_a_dead_single_message_batch_resends_its_request_id_and_body_in_order() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
        let (d, s) = local_records(31, 1);
        let steps: Vec<_> = s
            .iter()
            .filter(|x| x["MaHoSo"] == d[0]["MaHoSo"])
            .cloned()
            .collect();
        assert!(steps.len() >= 2, "{name}");
        app.post("dossiers", &d[0]).await;
        app.post("steps", &json!(steps)).await;
        let lane = app.lane("t", None);
        app.sim.script(vec![Fault::Http500]);
        lane.try_execute().await.unwrap();
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Idle,
            "{name}: steps wait"
        );
        let header = dead(&app).await;
        assert_eq!(header.len(), 1, "{name}");
        let batch = last_batch(&*app.store, header[0]).await;

        let done = app.store.replay_messages(&header, now_ms()).await.unwrap();
        assert_eq!(done.replayed, 1, "{name}");
        assert_eq!(done.new_batch, 0, "{name}");
        assert_eq!(
            done.reopened
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![batch.clone()],
            "{name}: its own batch is reopened"
        );
        app.drain(&lane).await;

        let events = app.sim.events(&code(&d[0]));
        assert_eq!(events.len(), 1 + steps.len(), "{name}: {events:?}");
        assert!(matches!(events[0].kind, EventKind::Create), "{name}");
        assert_eq!(
            events[0].request_id.as_deref(),
            Some(batch.as_str()),
            "{name}: the replay went under the dead batch's X-Request-ID"
        );
        let stats = app.sim.stats();
        assert_eq!(stats.out_of_order_steps, 0, "{name}: order held");
        assert_eq!(stats.violations.id_reused_with_different_body, 0, "{name}");
        assert_eq!(stats.violations.same_body_under_two_ids, 0, "{name}");
        let shown = app.store.message(header[0]).await.unwrap().unwrap();
        assert_eq!(shown.state, "delivered", "{name}");
        assert_eq!(shown.batches.len(), 1, "{name}: one batch for life");
        assert!(
            shown.batches[0]
                .answer_sha256
                .as_deref()
                .is_some_and(|h| h.len() == 64),
            "{name}: the answer's hash is kept: {:?}",
            shown.batches[0]
        );
    }
}

#[tokio::test]
async fn a_batch_replayed_whole_is_reopened_and_a_part_goes_under_a_new_id() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
        let lane = app.lane("t", None);

        // Two dossiers die together; replayed one by one, the second replay reopens the batch.
        let (d, _) = local_records(32, 5);
        app.post("dossiers", &json!(d[..2])).await;
        app.sim.script(vec![Fault::Http500]);
        lane.try_execute().await.unwrap();
        let both = dead(&app).await;
        assert_eq!(both.len(), 2, "{name}");
        let batch = last_batch(&*app.store, both[0]).await;
        let first = app
            .store
            .replay_messages(&both[..1], now_ms())
            .await
            .unwrap();
        assert_eq!((first.replayed, first.new_batch), (1, 1), "{name}");
        let second = app
            .store
            .replay_messages(&both[1..], now_ms())
            .await
            .unwrap();
        assert_eq!(second.replayed, 1, "{name}");
        assert_eq!(second.reopened.len(), 1, "{name}: {second:?}");
        app.drain(&lane).await;
        for x in &d[..2] {
            assert_eq!(
                app.sim.events(&code(x))[0].request_id.as_deref(),
                Some(batch.as_str()),
                "{name}"
            );
        }

        // Three go together, the middle one dies: it goes again alone, under a new id.
        app.post("dossiers", &json!(d[2..])).await;
        app.sim
            .script(vec![Fault::ItemTemporary { items: vec![1] }]);
        lane.try_execute().await.unwrap();
        let middle = dead(&app).await;
        assert_eq!(middle.len(), 1, "{name}");
        let old = last_batch(&*app.store, middle[0]).await;
        let done = app.store.replay_messages(&middle, now_ms()).await.unwrap();
        assert_eq!((done.replayed, done.new_batch), (1, 1), "{name}");
        assert!(done.reopened.is_empty(), "{name}");
        app.drain(&lane).await;
        let ids: Vec<String> = d[2..]
            .iter()
            .map(|x| app.sim.events(&code(x))[0].request_id.clone().unwrap())
            .collect();
        assert_eq!(ids[0], old, "{name}");
        assert_eq!(ids[2], old, "{name}");
        assert_ne!(ids[1], old, "{name}: a part of a batch never reuses its id");
        let shown = app.store.message(middle[0]).await.unwrap().unwrap();
        assert_eq!(
            shown
                .batches
                .iter()
                .map(|b| b.id.clone())
                .collect::<Vec<_>>(),
            vec![old, ids[1].clone()],
            "{name}: both batches are listed, oldest first"
        );
        let stats = app.sim.stats();
        assert_eq!(stats.violations.id_reused_with_different_body, 0, "{name}");
        assert_eq!(stats.violations.same_body_under_two_ids, 0, "{name}");
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 5, "{name}");
    }
}

#[tokio::test]
async fn bulk_replay_works_in_chunks_and_reports_progress() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
        let lane = app.lane("t", None);
        let (d, _) = local_records(33, 7);
        for x in &d {
            app.post("dossiers", x).await;
            app.sim.script(vec![Fault::Http500]);
            lane.try_execute().await.unwrap();
        }
        assert_eq!(dead(&app).await.len(), 7, "{name}");
        let mut seen = Vec::new();
        let done =
            lienthong::operator::replay_dead(&*app.store, "dvcqg", 0, 3, &mut |done, total| {
                seen.push((done, total))
            })
            .await
            .unwrap();
        assert_eq!(done.replayed, 7, "{name}");
        assert_eq!(
            done.reopened.len(),
            7,
            "{name}: each dead batch of one reopened"
        );
        assert_eq!(seen, vec![(0, 7), (3, 7), (6, 7), (7, 7)], "{name}");
        app.drain(&lane).await;
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 7, "{name}");
        assert_eq!(
            app.sim.stats().violations.same_body_under_two_ids,
            0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn prune_keeps_audit_rows_and_spares_young_undelivered_and_dead_messages() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
        let lane = app.lane("t", None);
        let (d, _) = local_records(34, 5);
        app.post("dossiers", &json!(d[..2])).await;
        app.drain(&lane).await;
        let old: Vec<_> = app
            .store
            .list_messages(&MessageFilter::default())
            .await
            .unwrap();
        let old_detail = app.store.message(old[0].id).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let cutoff = now_ms();
        tokio::time::sleep(Duration::from_millis(5)).await;
        app.post("dossiers", &d[2]).await; // young: delivered after the cut-off
        app.drain(&lane).await;
        app.post("dossiers", &d[3]).await; // dead
        app.sim.script(vec![Fault::Http500]);
        lane.try_execute().await.unwrap();
        app.post("dossiers", &d[4]).await; // pending

        let mut calls = 0;
        let r = housekeeping::prune(&*app.store, cutoff, 1, &mut |_| calls += 1)
            .await
            .unwrap();
        assert_eq!(r.messages, 2, "{name}: {r:?}");
        assert_eq!(r.records, 2, "{name}");
        assert_eq!(r.batches, 1, "{name}: their one batch");
        assert_eq!(
            calls, 3,
            "{name}: one message per chunk, then an empty chunk"
        );

        let left: BTreeSet<String> = app
            .store
            .list_messages(&MessageFilter::default())
            .await
            .unwrap()
            .iter()
            .map(|m| format!("{} {}", m.dossier, m.state))
            .collect();
        let want: BTreeSet<String> = [
            format!("{} delivered", code(&d[2])),
            format!("{} dead", code(&d[3])),
            format!("{} pending", code(&d[4])),
        ]
        .into();
        assert_eq!(left, want, "{name}");

        for m in &old {
            assert!(app.store.message(m.id).await.unwrap().is_none(), "{name}");
            let a = app
                .store
                .audit_entry(m.id)
                .await
                .unwrap()
                .expect("audit row");
            assert_eq!(a.final_state, "delivered", "{name}");
            assert_eq!(a.dossier, m.dossier, "{name}");
            assert_eq!(a.batch_id, old_detail.batch_id, "{name}");
            assert_eq!(a.attempts, 0, "{name}");
            assert!(a.delivered_ms.is_some_and(|t| t < cutoff), "{name}");
            assert_eq!(
                a.response_sha256.as_deref(),
                old_detail.batches[0].answer_sha256.as_deref(),
                "{name}"
            );
            assert!(a.request_sha256.as_deref().is_some_and(|h| h.len() == 64));
        }
        let a0 = app.store.audit_entry(old[0].id).await.unwrap().unwrap();
        let a1 = app.store.audit_entry(old[1].id).await.unwrap().unwrap();
        assert_eq!(a0.request_sha256, a1.request_sha256, "{name}: one request");
        // Pruning again finds nothing; the young one's batch and record are still there.
        let again = housekeeping::prune(&*app.store, cutoff, 10, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(again.messages, 0, "{name}");
        let young = app
            .store
            .list_messages(&MessageFilter {
                dossier: Some(code(&d[2])),
                ..Default::default()
            })
            .await
            .unwrap();
        let young = app.store.message(young[0].id).await.unwrap().unwrap();
        assert!(young.record.is_some(), "{name}");
        assert_eq!(young.batches[0].state.as_deref(), Some("done"), "{name}");
    }
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_masks_personal_data() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.delivery.max_attempts = 1;
        c.server.admin_token = Some("admin-token".to_string().into());
    })
    .await;
    let (d, _lane, id) = one_dead_dossier(&app, 35).await;

    // Every admin route refuses a request without the token or with a wrong one.
    for &(method, path) in lienthong::admin::ROUTES {
        if lienthong::admin::PROBES.contains(&path) {
            continue;
        }
        let url = format!("{}{}", app.base, path.replace("{id}", &id.to_string()));
        for token in [None, Some("nope")] {
            let mut req = match method {
                "GET" => app.client.get(&url),
                _ => app.client.post(&url).json(&json!({})),
            };
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert_eq!(status, 401, "{method} {path} with {token:?}");
        }
    }

    let get = |path: String| {
        let req = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth("admin-token");
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, stats) = get("/admin/outbox/stats".into()).await;
    assert_eq!(status, 200);
    assert_eq!(stats["quarantined"], 0);
    assert!(stats["counts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["state"] == "dead" && c["count"] == 1));
    let (status, list) = get("/admin/outbox/messages?state=dead".into()).await;
    assert_eq!(status, 200);
    assert_eq!(list["messages"][0]["id"], id.to_string());

    let (status, shown) = get(format!("/admin/outbox/messages/{id}")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["state"], "dead");
    assert_eq!(shown["dossier"], code(&d[0]));
    assert_eq!(shown["item_masked"]["MaHoSo"], code(&d[0]));
    let owner = d[0]["NguoiNop"].as_str().unwrap();
    assert!(!shown.to_string().contains(owner), "{shown}");
    assert!(
        shown.get("record").is_none(),
        "the source record is not shown"
    );
    assert_ne!(shown["item_masked"]["ChuHoSo"], Value::Null);
    let hen_tra = shown["item_masked"]["NgayHenTra"].as_str().unwrap();
    assert!(
        hen_tra.len() == 14 && hen_tra.bytes().all(|b| b.is_ascii_digit()),
        "dates stay readable"
    );
    assert!(shown["batches"][0]["request_id"].is_string(), "{shown}");

    let (status, _) = get(format!("/admin/outbox/messages/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404);
    let (status, _) = get("/admin/outbox/messages/not-a-uuid".into()).await;
    assert_eq!(status, 400);

    let pruned: Value = app
        .client
        .post(format!("{}/admin/outbox/prune", app.base))
        .bearer_auth("admin-token")
        .json(&json!({"older_than_days": 30}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pruned["messages"], 0);
}

/// Paths and methods of an OpenAPI document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut out = BTreeSet::new();
    for (p, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&m.as_str()) {
                out.insert((m.to_uppercase(), p.clone()));
            }
        }
    }
    out
}

#[test]
fn the_committed_openapi_file_is_the_generated_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap();
    // Compared as text, so a hand edit of the file fails too; parsed first for a readable diff.
    let generated = lienthong::admin::openapi::json();
    if committed != generated {
        let a: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
        let b: Value = serde_json::from_str(&generated).unwrap();
        let differ: Vec<&String> = b["paths"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|p| a["paths"][p.as_str()] != b["paths"][p.as_str()])
            .collect();
        panic!(
            "docs/openapi.json is not the document the handlers describe (paths that differ: \
             {differ:?}); regenerate it with `cargo run -- openapi --out docs/openapi.json`"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_documents_exactly_the_admin_routes() {
    let doc = serde_json::to_value(lienthong::admin::openapi::document()).unwrap();
    let routed: BTreeSet<(String, String)> = lienthong::admin::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented(&doc),
        routed,
        "the OpenAPI document and admin::ROUTES differ: annotate the handler with \
         #[utoipa::path] and list it in admin/openapi.rs"
    );
    // The admin token on every route but the probes, as the handlers enforce it.
    assert_eq!(
        doc["components"]["securitySchemes"]["admin"],
        json!({"type": "http", "scheme": "bearer"})
    );
    for (method, path) in &routed {
        let op = &doc["paths"][path][method.to_lowercase()];
        let security = op.get("security").cloned().unwrap_or(json!([]));
        if lienthong::admin::PROBES.contains(&path.as_str()) {
            assert_eq!(security, json!([]), "{method} {path} is a probe");
        } else {
            assert_eq!(security, json!([{"admin": []}]), "{method} {path}");
            assert!(op["responses"].get("401").is_some(), "{method} {path}");
        }
    }

    // Every listed route is served by its handler (the fallback would answer 404), so the list
    // is what the router serves.
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.server.admin_token = Some("admin-token".to_string().into());
    })
    .await;
    for &(method, path) in lienthong::admin::ROUTES {
        let url = format!(
            "{}{}",
            app.base,
            path.replace("{id}", &Uuid::nil().to_string())
        );
        let req = match method {
            "GET" => app.client.get(&url),
            _ => app.client.post(&url).body("{}"),
        };
        let status = req.send().await.unwrap().status().as_u16();
        assert!(![404, 405].contains(&status), "{method} {path}: {status}");
    }

    // The daemon serves the same document, to the admin token only; the command writes it.
    let url = format!("{}/admin/openapi.json", app.base);
    let served = app
        .client
        .get(&url)
        .bearer_auth("admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.json::<Value>().await.unwrap(), doc);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("openapi.json");
    let status = lienthong()
        .args(["openapi", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        lienthong::admin::openapi::json()
    );
}

fn lienthong() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lienthong"))
}

#[tokio::test]
async fn cli_show_and_remap_with_a_diff_send_the_new_body_under_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = sqlite_in(dir.path()).await;
    let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
    let (d, lane, id) = one_dead_dossier(&app, 36).await;
    let before = app.store.message(id).await.unwrap().unwrap();
    let old_batch = before.batch_id.clone().unwrap();

    // The operator's config names a copy of the mappings, which is then fixed.
    let maps = crate::support::copied_mappings(dir.path());
    let cfg = dir.path().join("lienthong.toml");
    let text = crate::support::test_config_text(&url, "http://127.0.0.1:9").replace(
        &mappings().display().to_string(),
        &maps.display().to_string(),
    );
    std::fs::write(&cfg, text).unwrap();
    let run = |args: &[&str]| {
        lienthong()
            .arg("outbox")
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };

    let out = run(&["show", &id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        id.to_string(),
        code(&d[0]),
        "dead".to_string(),
        "HTTP 500".to_string(),
        old_batch.clone(),
        before
            .mapping_version
            .clone()
            .expect("rendered by a mapping"),
        d[0]["NguoiNop"].as_str().unwrap().to_string(),
        "source record".to_string(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    let out = run(&["show", "--json", &id.to_string()]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["record"]["MaHoSo"], d[0]["MaHoSo"]);
    assert_eq!(shown["item"]["MaHoSo"], d[0]["MaHoSo"]);
    let out = run(&["show", &Uuid::new_v4().to_string()]);
    assert_eq!(out.status.code(), Some(1));

    let dossier_map = maps.join("vendor-a/dossier.toml");
    let mapping = std::fs::read_to_string(&dossier_map).unwrap();
    let fixed = mapping.replace(
        "[fields.TenTTHC]\n# The source's own procedure name.\nfrom = \"TenThuTuc\"",
        "[fields.TenTTHC]\nvalue = \"Cấp giấy phép (tên đã sửa)\"",
    );
    assert_ne!(fixed, mapping);
    std::fs::write(&dossier_map, fixed).unwrap();

    // Without --yes and without an answer, nothing is queued.
    let out = run(&["replay", "--remap", &id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("~ TenTTHC:"), "{text}");
    assert!(text.contains("Cấp giấy phép (tên đã sửa)"), "{text}");
    assert!(text.contains("left dead"), "{text}");
    assert_eq!(dead(&app).await, vec![id]);

    let out = run(&["replay", "--remap", "--yes", &id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("~ TenTTHC:") && text.contains("new batch"),
        "{text}"
    );
    app.drain(&lane).await;
    let portal = app.sim.dossier(&code(&d[0])).unwrap();
    assert_eq!(portal["TenTTHC"], "Cấp giấy phép (tên đã sửa)");
    let events = app.sim.events(&code(&d[0]));
    assert_ne!(events[0].request_id.as_deref(), Some(old_batch.as_str()));
    let after = app.store.message(id).await.unwrap().unwrap();
    assert_eq!(after.state, "delivered");
    assert_ne!(
        after.mapping_version, before.mapping_version,
        "new mapping version recorded"
    );
    assert_eq!(after.batches.len(), 2);
    assert_eq!(app.sim.stats().violations.id_reused_with_different_body, 0);

    // Pruned from the command line, it is shown from its audit row.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let out = run(&["prune", "--older-than", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("pruned 1 delivered message(s)"), "{text}");
    let out = run(&["show", &id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("audit row only") && text.contains("sha256"),
        "{text}"
    );
    assert!(!text.contains(d[0]["NguoiNop"].as_str().unwrap()), "{text}");
}

#[tokio::test]
async fn housekeeping_prunes_periodically_until_shutdown() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |_| {}).await;
    let (d, _) = local_records(37, 1);
    app.post("dossiers", &d[0]).await;
    let lane = app.lane("t", None);
    app.drain(&lane).await;
    let id = app
        .store
        .list_messages(&MessageFilter::default())
        .await
        .unwrap()[0]
        .id;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let tracker = tokio_util::task::TaskTracker::new();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let cfg = lienthong::outbox::housekeeping::HousekeepingConfig {
        retention_days: 0,
        prune_interval_minutes: 1,
        prune_chunk: 10,
    };
    housekeeping::spawn(app.store.clone(), cfg, &tracker, &shutdown);
    let mut audited = None;
    for _ in 0..200 {
        audited = app.store.audit_entry(id).await.unwrap();
        if audited.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(audited.is_some(), "the first pass runs at start");
    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .expect("housekeeping stops on shutdown");
}

#[tokio::test]
async fn remap_on_every_backend_records_the_new_mapping_version() {
    use lienthong::operator::{apply_remap, plan_remap, Remapped};
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
        let (d, lane, id) = one_dead_dossier(&app, 38).await;

        // The configured mapping renders the same item: nothing differs.
        let dir = tempfile::tempdir().unwrap();
        let plan = plan_remap(
            &*app.store,
            &Routes::from_config(&app.config.sources, &mappings()).unwrap(),
            id,
        )
        .await
        .unwrap();
        assert!(plan.changes.is_empty(), "{name}: {:?}", plan.changes);
        let dossier = std::fs::read_to_string(mappings().join("vendor-a/dossier.toml")).unwrap();
        let mut cfg = app.config.clone();
        let maps = crate::support::copied_mappings(dir.path());
        std::fs::write(
            maps.join("vendor-a/dossier.toml"),
            dossier.replace(
                "[fields.TenTTHC]\n# The source's own procedure name.\nfrom = \"TenThuTuc\"",
                "[fields.TenTTHC]\nvalue = \"Tên đã sửa\"",
            ),
        )
        .unwrap();
        cfg.sources[0].dossier_mapping = "vendor-a/dossier.toml".into();
        let plan = plan_remap(
            &*app.store,
            &Routes::from_config(&cfg.sources, &maps).unwrap(),
            id,
        )
        .await
        .unwrap();
        assert_eq!(plan.changes.len(), 1, "{name}: {:?}", plan.changes);
        assert_eq!(plan.changes[0].path, "TenTTHC", "{name}");
        assert_eq!(
            apply_remap(&*app.store, &plan).await.unwrap(),
            Remapped::NewItem,
            "{name}"
        );
        assert_eq!(
            apply_remap(&*app.store, &plan).await.unwrap(),
            Remapped::NotDead,
            "{name}: only once"
        );
        app.drain(&lane).await;
        assert_eq!(
            app.sim.dossier(&code(&d[0])).unwrap()["TenTTHC"],
            "Tên đã sửa",
            "{name}"
        );
        let shown = app.store.message(id).await.unwrap().unwrap();
        assert_eq!(
            shown.mapping_version.as_deref(),
            Some(plan.remap.mapping_version.as_str()),
            "{name}"
        );
        assert_eq!(shown.item["TenTTHC"], "Tên đã sửa", "{name}");
        assert_ne!(
            app.sim.events(&code(&d[0]))[0].request_id,
            Some(plan.message.batch_id.clone().unwrap()),
            "{name}: a new body goes under a new id"
        );
    }
}

#[tokio::test]
async fn the_admin_api_previews_a_remap_then_queues_it_on_confirmation() {
    // The source's mapping lives in a folder of its own, changed once a message is dead.
    let dir = tempfile::tempdir().unwrap();
    let dossier_toml = crate::support::copied_mappings(dir.path()).join("vendor-a/dossier.toml");
    let path = dossier_toml.clone();
    let app = spawn_app_with(sqlite().await, SimSettings::default(), move |c| {
        c.delivery.max_attempts = 1;
        c.server.admin_token = Some("admin-token".to_string().into());
        c.sources[0].dossier_mapping = path;
    })
    .await;
    let (d, lane, id) = one_dead_dossier(&app, 41).await;
    let text = std::fs::read_to_string(&dossier_toml).unwrap();
    std::fs::write(
        &dossier_toml,
        text.replace(
            "[fields.TenTTHC]\n# The source's own procedure name.\nfrom = \"TenThuTuc\"",
            "[fields.TenTTHC]\nvalue = \"Tên đã sửa\"",
        ),
    )
    .unwrap();

    let url = format!("{}/admin/outbox/remap", app.base);
    let ask = |confirm: bool, token: Option<&str>| {
        let mut r = app
            .client
            .post(&url)
            .json(&json!({ "ids": [id.to_string()], "confirm": confirm }));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(ask(true, None).await.unwrap().status().as_u16(), 401);

    let preview: Value = ask(false, Some("admin-token"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = &preview["results"][0];
    assert_eq!(r["outcome"], "preview", "{preview}");
    assert_eq!(r["fields_changed"], 1, "{preview}");
    assert!(
        r["changes"][0].as_str().unwrap().starts_with("~ TenTTHC"),
        "{preview}"
    );
    assert_eq!(dead(&app).await, vec![id], "a preview changes nothing");

    let done: Value = ask(true, Some("admin-token"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["results"][0]["outcome"], "queued_new_item", "{done}");
    app.drain(&lane).await;
    assert_eq!(
        app.sim.dossier(&code(&d[0])).unwrap()["TenTTHC"],
        "Tên đã sửa"
    );
}

/// Sustained load with pruning: round after round of dossiers is delivered and pruned, and the
/// store's files stop growing (pruned pages are reused; what stays is one audit row a message).
#[tokio::test]
async fn pruning_keeps_the_store_from_growing_under_sustained_load() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, _) = sqlite_in(dir.path()).await;
    let app = spawn_app_with(ts, SimSettings::default(), |_| {}).await;
    let lane = app.lane("t", None);
    let size = || {
        ["lienthong.db", "lienthong.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    let mut sizes = Vec::new();
    let mut delivered = 0;
    for round in 0..8u64 {
        let (d, _) = local_records(600 + round, 300);
        for chunk in d.chunks(50) {
            let (status, answer) = app.post("dossiers", &Value::Array(chunk.to_vec())).await;
            assert_eq!(status, 202, "{answer}");
        }
        app.drain(&lane).await;
        let pruned = housekeeping::prune(&*app.store, now_ms() + 1, 100, &mut |_| {})
            .await
            .unwrap();
        delivered += pruned.messages;
        sizes.push(size());
    }
    assert_eq!(delivered, 2400, "every delivered message was pruned");
    assert_eq!(
        app.count("DongBoHoSoMC", "delivered").await,
        0,
        "nothing delivered is left"
    );
    // The first rounds size the files (the WAL fills up to the size at which it starts over);
    // later rounds reuse the pages pruning freed.
    let (first, last) = (sizes[3], sizes[7]);
    assert!(
        last <= first + first / 4,
        "the store kept growing under load: {sizes:?} bytes after each round"
    );
}

#[tokio::test]
async fn the_probes_answer_without_a_token_and_readyz_names_a_missing_migration() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = sqlite_in(dir.path()).await;
    let app = spawn_app_with(ts, SimSettings::default(), |c| {
        c.server.admin_token = Some("admin-token".to_string().into());
    })
    .await;
    let probe = |path: &'static str| {
        let req = app.client.get(format!("{}{path}", app.base));
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(probe("/healthz").await, (200, json!({"status": "alive"})));
    assert_eq!(
        probe("/readyz").await,
        (200, json!({"status": "ready", "store": "sqlite"}))
    );
    assert_eq!(probe("/health").await.0, 200);

    // The store as an older program left it: its newest migration not applied.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unready");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{newest:04}")) && reason.contains("lienthong migrate"),
        "{reason}"
    );
    // Alive all the same: only readiness depends on the store.
    assert_eq!(probe("/healthz").await.0, 200);
}

#[test]
fn the_example_alert_rules_are_valid_prometheus_rules() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/alerts.yml");
    if let Some((ok, said)) =
        crate::support::promtool(&["check", "rules", rules.to_str().unwrap()], None)
    {
        assert!(ok, "promtool check rules: {said}");
        assert!(said.contains("SUCCESS"), "{said}");
    }
}

#[tokio::test]
async fn the_admin_api_takes_exactly_what_its_document_allows() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.server.admin_token = Some("admin-token".to_string().into());
    })
    .await;
    let get = |q: &str| {
        let req = app
            .client
            .get(format!("{}/admin/outbox/messages{q}", app.base))
            .bearer_auth("admin-token");
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let post = |path: &'static str, body: Value| {
        let req = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth("admin-token")
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    // `limit` is 1..=1000, as documented: outside it is refused by name, not clamped.
    assert_eq!(get("?limit=1000").await.0, 200);
    assert_eq!(get("?limit=1").await.0, 200);
    for bad in ["1001", "0", "-5"] {
        let (status, body) = get(&format!("?limit={bad}")).await;
        assert_eq!(status, 400, "limit={bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("1..=1000"),
            "{body}"
        );
    }
    // An empty list of ids replays nothing; no ids and no dead/peer is refused.
    let (status, body) = post("/admin/outbox/replay", json!({"ids": []})).await;
    assert_eq!(
        (status, body["replayed"].clone()),
        (200, json!(0)),
        "{body}"
    );
    assert_eq!(post("/admin/outbox/replay", json!({})).await.0, 400);
    assert_eq!(
        post(
            "/admin/outbox/replay",
            json!({"ids": [], "dead": true, "peer": "dvcqg"})
        )
        .await
        .0,
        400
    );
    // `older_than_days` up to its documented maximum.
    let (status, body) = post("/admin/outbox/prune", json!({"older_than_days": 36500})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"], 0);
    // A whole number written with a fraction is an integer to JSON Schema, so to the API too.
    let (status, body) = post("/admin/outbox/prune", json!({"older_than_days": 30.0})).await;
    assert_eq!(status, 200, "{body}");
    for bad in [
        json!(36501),
        json!(1_000_000_000_000_000u64),
        json!(-1),
        json!(1.5),
    ] {
        let (status, body) = post("/admin/outbox/prune", json!({ "older_than_days": bad })).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The document says the same.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let body = &doc["paths"]["/admin/outbox/prune"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/PruneRequest");
    let prune = &doc["components"]["schemas"]["PruneRequest"]["properties"]["older_than_days"];
    assert_eq!(
        (prune["minimum"].clone(), prune["maximum"].clone()),
        (json!(0), json!(36500))
    );
}
