//! An operator's pause of a peer or one destination: stored, honoured by every lane's claims
//! (two lanes of two "instances" on one store), resumed at once; through the library, the admin
//! API (with its metric) and the CLI; on every backend. And the overview's JSON endpoint.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lienthong::config::Config;
use lienthong::outbox::{Lane, Outcome};
use lienthong::peer::commune::{self, upsert_item_inline};
use lienthong::sim::commune as sim;
use lienthong::store::{now_ms, NewMessage, Store, ALL_DESTINATIONS};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::support::{self, stores};

const PROCEDURES: usize = 6;

/// The metrics served only once something was paused that `deploy/alerts.yml` uses; checked
/// here on a gateway with a pause.
pub const PER_PAUSE: &[&str] = &["lienthong_destination_paused"];
const ADMIN: &str = "pause-admin-token";

/// Queues every procedure for every subscriber.
async fn queue(store: &dyn Store, names: &[String]) {
    let mut messages = Vec::new();
    for name in names {
        for p in 0..PROCEDURES {
            let code = format!("1.{p:06}");
            let item = upsert_item_inline(
                json!({ "MATTHC": code, "TENTTHC": format!("Thủ tục {p}") }),
                1,
                &format!("sha256:{}", "ab".repeat(32)),
                Utc::now(),
            )
            .unwrap();
            let mut m = NewMessage::new(commune::PEER_COMMUNE, commune::OP_UPSERT, code, item);
            m.destination = name.clone();
            messages.push(m);
        }
    }
    let mut tx = store.begin_write().await.unwrap();
    tx.enqueue(&messages, now_ms()).await.unwrap();
    tx.commit().await.unwrap();
}

/// Runs the lanes in turn until none finds anything to claim.
async fn run_until_idle(lanes: &[&Lane]) {
    for _ in 0..2_000 {
        let mut busy = false;
        for lane in lanes {
            match lane.try_execute().await.expect("store works") {
                Outcome::Idle => {}
                Outcome::Held { .. } => {
                    busy = true;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                _ => busy = true,
            }
        }
        if !busy {
            return;
        }
    }
    panic!("the lanes never went idle");
}

async fn pending_of(store: &dyn Store, destination: &str) -> i64 {
    store
        .destination_backlog(commune::PEER_COMMUNE)
        .await
        .unwrap()
        .iter()
        .find(|b| b.destination == destination)
        .map_or(0, |b| b.pending)
}

#[tokio::test]
async fn a_paused_destination_waits_while_the_others_go_on_and_a_resume_delivers_it() {
    for ts in stores().await {
        let name = ts.name;
        let shutdown = CancellationToken::new();
        let _stop = shutdown.clone().drop_guard();
        let communes = sim::numbered(3, "secret-");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(sim::serve(listener, communes.clone(), shutdown.clone()));
        let names = communes.names();
        let cfg = Config::from_toml(&sim::peers_toml(addr, &names, "secret-")).unwrap();
        let lane = |owner: &str| {
            let built = cfg
                .peers
                .build(std::path::Path::new("."), |n| cfg.policy_for(n), &ts.store)
                .unwrap()
                .into_iter()
                .next()
                .unwrap();
            Lane::new(
                ts.store.clone(),
                built.peer,
                built
                    .family
                    .operations
                    .iter()
                    .map(|o| o.to_string())
                    .collect(),
                built.policy.clone(),
                owner.into(),
                Arc::new(Notify::new()),
            )
            .unwrap()
        };
        // Two instances' lanes on one store.
        let (one, two) = (lane("one"), lane("two"));
        let paused = names[1].clone();
        assert!(lienthong::operator::pause(
            &*ts.store,
            commune::PEER_COMMUNE,
            Some(&paused),
            "server moving, call 0912345678 first",
            "test",
        )
        .await
        .unwrap());
        // Paused twice: nothing changes.
        assert!(!lienthong::operator::pause(
            &*ts.store,
            commune::PEER_COMMUNE,
            Some(&paused),
            "again",
            "test",
        )
        .await
        .unwrap());
        let pauses = ts.store.pauses().await.unwrap();
        assert_eq!(pauses.len(), 1, "{name}");
        assert_eq!(
            (pauses[0].destination.as_str(), pauses[0].paused_by.as_str()),
            (paused.as_str(), "test")
        );
        assert!(
            !pauses[0].reason.contains("0912345678"),
            "{name}: the reason is kept masked: {}",
            pauses[0].reason
        );
        queue(&*ts.store, &names).await;

        run_until_idle(&[&one, &two]).await;
        for n in &names {
            let got = communes.catalog(n).len();
            if *n == paused {
                assert_eq!(got, 0, "{name}: {n} is paused yet received");
            } else {
                assert_eq!(got, PROCEDURES, "{name}: {n} should go on");
            }
        }
        assert_eq!(
            pending_of(&*ts.store, &paused).await,
            PROCEDURES as i64,
            "{name}"
        );

        // Resumed: delivered at the next claim of either instance.
        assert!(lienthong::operator::resume(
            &*ts.store,
            commune::PEER_COMMUNE,
            Some(&paused),
            "test",
            None
        )
        .await
        .unwrap());
        assert!(!lienthong::operator::resume(
            &*ts.store,
            commune::PEER_COMMUNE,
            Some(&paused),
            "test",
            None
        )
        .await
        .unwrap());
        run_until_idle(&[&two, &one]).await;
        assert_eq!(communes.catalog(&paused).len(), PROCEDURES, "{name}");
        assert_eq!(pending_of(&*ts.store, &paused).await, 0, "{name}");

        // The whole peer paused: nothing is claimed nor due, whichever destination.
        lienthong::operator::pause(
            &*ts.store,
            commune::PEER_COMMUNE,
            None,
            "portal maintenance",
            "test",
        )
        .await
        .unwrap();
        assert_eq!(
            ts.store.pauses().await.unwrap()[0].destination,
            ALL_DESTINATIONS
        );
        let before: Vec<usize> = names.iter().map(|n| communes.catalog(n).len()).collect();
        let mut changed = Vec::new();
        for n in &names {
            let code = "2.000001".to_string();
            let item = upsert_item_inline(
                json!({ "MATTHC": code, "TENTTHC": "Thủ tục mới" }),
                1,
                &format!("sha256:{}", "cd".repeat(32)),
                Utc::now(),
            )
            .unwrap();
            let mut m = NewMessage::new(commune::PEER_COMMUNE, commune::OP_UPSERT, code, item);
            m.destination = n.clone();
            changed.push(m);
        }
        let mut tx = ts.store.begin_write().await.unwrap();
        tx.enqueue(&changed, now_ms()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(one.try_execute().await.unwrap(), Outcome::Idle, "{name}");
        assert_eq!(two.try_execute().await.unwrap(), Outcome::Idle, "{name}");
        assert_eq!(
            ts.store.next_due(commune::PEER_COMMUNE).await.unwrap(),
            None,
            "{name}: a paused peer has nothing due"
        );
        let after: Vec<usize> = names.iter().map(|n| communes.catalog(n).len()).collect();
        assert_eq!(before, after, "{name}");
        lienthong::operator::resume(&*ts.store, commune::PEER_COMMUNE, None, "test", None)
            .await
            .unwrap();
        run_until_idle(&[&one]).await;
        for n in &names {
            assert_eq!(communes.catalog(n).len(), PROCEDURES + 1, "{name}: {n}");
        }

        // What was delivered shows in this minute's count (the overview's chart).
        let minutes = ts
            .store
            .delivery_minutes(now_ms() - 3_600_000)
            .await
            .unwrap();
        let delivered: i64 = minutes
            .iter()
            .filter(|m| m.peer == commune::PEER_COMMUNE)
            .map(|m| m.delivered)
            .sum();
        assert_eq!(delivered, (names.len() * (PROCEDURES + 1)) as i64, "{name}");
    }
}

async fn admin(app: &support::TestApp, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", app.base);
    let req = match body {
        Some(b) => app.client.post(url).json(&b),
        None => app.client.get(url),
    };
    let r = req.bearer_auth(ADMIN).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn metrics(app: &support::TestApp) -> String {
    admin(app, "/metrics", None)
        .await
        .1
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_admin_api_pauses_and_resumes_the_portal_with_its_metric() {
    for ts in stores().await {
        let name = ts.name;
        let app = support::spawn_app_with(ts, Default::default(), |c| {
            c.server.admin_token = Some(ADMIN.to_string().into());
        })
        .await;
        let (status, body) = app
            .post("dossiers", &json!(support::local_records(7, 2).0))
            .await;
        assert_eq!(status, 202, "{name}: {body}");
        // Without the token: refused, nothing paused.
        let r = app
            .client
            .post(format!("{}/admin/outbox/pause", app.base))
            .json(&json!({"peer": "dvcqg", "reason": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        for (bad, want) in [
            (json!({"peer": "nobody", "reason": "x"}), 404),
            (json!({"peer": "dvcqg", "reason": ""}), 400),
            (json!({"peer": "dvcqg", "reason": "x".repeat(501)}), 400),
            (
                json!({"peer": "dvcqg", "destination": "*", "reason": "x"}),
                400,
            ),
            (
                json!({"peer": "dvcqg", "destination": "", "reason": "x"}),
                400,
            ),
            (json!({"peer": "dvcqg"}), 400),
        ] {
            let (status, body) = admin(&app, "/admin/outbox/pause", Some(bad.clone())).await;
            assert_eq!(status, want, "{name}: {bad} → {body}");
        }
        assert!(app.store.pauses().await.unwrap().is_empty(), "{name}");

        let (status, body) = admin(
            &app,
            "/admin/outbox/pause",
            Some(json!({"peer": "dvcqg", "reason": "x".repeat(500)})),
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["changed"], true);
        let (_, body) = admin(
            &app,
            "/admin/outbox/pause",
            Some(json!({"peer": "dvcqg", "reason": "again"})),
        )
        .await;
        assert_eq!(body["changed"], false, "{name}");
        let (status, list) = admin(&app, "/admin/outbox/pauses", None).await;
        assert_eq!(status, 200);
        assert_eq!(list["pauses"][0]["peer"], "dvcqg", "{list}");
        assert_eq!(list["pauses"][0]["destination"], "*");
        assert_eq!(list["pauses"][0]["paused_by"], "admin");
        let served = metrics(&app).await;
        assert!(
            served.contains(r#"lienthong_destination_paused{peer="dvcqg",destination="*"} 1"#),
            "{name}: {served}"
        );
        if let Some((ok, said)) = support::promtool(&["check", "metrics"], Some(&served)) {
            assert!(ok, "{name}: promtool check metrics: {said}");
        }
        // Every pause metric the example alert rules use is served.
        let rules = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/alerts.yml"),
        )
        .unwrap();
        let used: std::collections::BTreeSet<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("lienthong_destination_paused"))
            .collect();
        assert!(!used.is_empty(), "the alert rules watch pauses");
        for metric in used {
            assert!(PER_PAUSE.contains(&metric), "add {metric} to PER_PAUSE");
            assert!(
                served.contains(&format!("\n{metric}{{")),
                "deploy/alerts.yml uses {metric}, which /metrics does not serve"
            );
        }

        let lane = app.lane("one", None);
        assert_eq!(lane.try_execute().await.unwrap(), Outcome::Idle, "{name}");
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 0);
        assert_eq!(app.sim.dossier_count(), 0, "{name}: nothing sent");

        let (status, body) =
            admin(&app, "/admin/outbox/resume", Some(json!({"peer": "dvcqg"}))).await;
        assert_eq!(
            (status, body["changed"].clone()),
            (200, json!(true)),
            "{name}"
        );
        app.drain(&lane).await;
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 2, "{name}");
        assert!(
            metrics(&app)
                .await
                .contains(r#"lienthong_destination_paused{peer="dvcqg",destination="*"} 0"#),
            "{name}: a resumed pause shows 0"
        );
        let (_, body) = admin(&app, "/admin/outbox/resume", Some(json!({"peer": "dvcqg"}))).await;
        assert_eq!(body["changed"], false, "{name}");
    }
}

#[tokio::test]
async fn the_overview_json_needs_a_session_and_tells_the_verdict() {
    let app = support::spawn_app_with(support::sqlite().await, Default::default(), |c| {
        c.server.admin_token = Some(ADMIN.to_string().into());
        c.delivery.max_attempts = 1;
    })
    .await;
    let base = &app.base;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{base}/ui/overview.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no session, no figures");
    let r = client.get(format!("{base}/ui")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/ui/overview");
    let r = client
        .post(format!("{base}/ui/login"))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/ui/overview?lang=vi");
    let session = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let overview = || async {
        let r = client
            .get(format!("{base}/ui/overview.json?lang=en"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let empty = overview().await;
    assert_eq!(empty["overview"]["in_sync"], true, "{empty}");
    assert!(empty["html"].as_str().unwrap().contains("in sync"));

    // A dossier the portal refuses for good: one dead letter, and the verdict says so.
    let (status, _) = app
        .post("dossiers", &json!(support::local_records(8, 1).0))
        .await;
    assert_eq!(status, 202);
    let lane = app.lane("one", None);
    app.sim.script(vec![lienthong::sim::Fault::Http500]);
    lane.try_execute().await.unwrap();
    let o = overview().await;
    assert_eq!(o["overview"]["in_sync"], false, "{o}");
    assert_eq!(o["overview"]["dead"], 1, "{o}");
    assert_eq!(o["overview"]["reasons"][0]["key"], "why_dead", "{o}");
    let dvcqg = o["overview"]["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["peer"] == "dvcqg")
        .unwrap_or_else(|| panic!("{o}"))
        .clone();
    assert_eq!(dvcqg["dead"], 1);
    let failed: i64 = o["overview"]["chart"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["failed"].as_i64().unwrap())
        .sum();
    assert_eq!(failed, 1, "the dead letter's try counts as failed: {o}");
    let html = o["html"].as_str().unwrap();
    assert!(
        html.contains("Dead letters") && html.contains("dvcqg"),
        "{html}"
    );
    // The page script is served from the binary.
    let js = client
        .get(format!("{base}/ui/overview.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.text().await.unwrap().contains("/ui/overview.json"));
}

#[test]
fn outbox_pause_resume_and_paused_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n",
            dir.path().join("l.db").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .arg("outbox")
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
    let (code, out, err) = run(&[
        "pause",
        "--peer",
        "commune",
        "--destination",
        "xa-an-binh",
        "--reason",
        "server moved",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("destination xa-an-binh of peer commune paused"),
        "{out}"
    );
    let (code, out, _) = run(&["paused"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("commune")
            && out.contains("xa-an-binh")
            && out.contains("server moved")
            && out.contains("cli"),
        "{out}"
    );
    let (code, _, err) = run(&["pause", "--peer", "nobody", "--reason", "x"]);
    assert_eq!(code, Some(2), "an unknown peer is refused");
    assert!(err.contains("no peer is named nobody"), "{err}");
    let (code, out, _) = run(&["resume", "--peer", "commune", "--destination", "xa-an-binh"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("resumed"), "{out}");
    let (code, _, err) = run(&["resume", "--peer", "commune", "--destination", "xa-an-binh"]);
    assert_eq!(code, Some(1), "not paused any more");
    assert!(err.contains("is not paused"), "{err}");
    let (_, out, _) = run(&["paused"]);
    assert!(out.contains("nothing is paused"), "{out}");
}
