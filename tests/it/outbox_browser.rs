//! The outbox browser, its bulk jobs, the two roles and the audit log, without a browser: a
//! viewer reads every page and every GET route but every change answers 403 (written to the
//! audit log as refused) while an operator's changes go through; each action through the admin
//! API, the dashboard and the CLI leaves its row (who, role, way, target without personal
//! data, outcome); the browser's filters are applied in SQL and its keyset pages neither skip
//! nor repeat a row while rows change state, on both backends; a bulk replay of everything
//! matching a filter runs in chunks to the end and a job interrupted half-way is shown so and
//! finishes when run again, replaying nothing twice; every try of a message shows with the
//! peer's answer; a bulk remap counts what the mapping refuses and renders the rest again.

use std::process::Command;

use lienthong::outbox::Lane;
use lienthong::sim::{Fault, SimSettings};
use lienthong::store::{
    now_ms, ActionFilter, ActionRecord, BrowseLimits, OutboxFilter, OutboxJob, Store, JOB_STALE_MS,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{local_records, spawn_app_with, sqlite, sqlite_in, stores, TestApp};

pub(crate) const ROOT: &str = "browser-admin-token";
pub(crate) const LAN: &str = "lan-operator-token";
pub(crate) const MINH: &str = "minh-viewer-token";

pub(crate) fn people(c: &mut lienthong::config::Config) {
    use lienthong::admin::roles::{Role, UserConfig};
    c.server.admin_token = Some(ROOT.to_string().into());
    c.server.users = vec![
        UserConfig {
            name: "lan".into(),
            role: Role::Operator,
            token: Some(LAN.to_string().into()),
            token_file: None,
        },
        UserConfig {
            name: "minh".into(),
            role: Role::Viewer,
            token: Some(MINH.to_string().into()),
            token_file: None,
        },
    ];
    c.delivery.max_attempts = 1;
}

/// Posts `n` generated dossiers and fails their first delivery (one batch each): with
/// `max_attempts = 1` they are dead. Returns the lane and the dead messages' ids.
pub(crate) async fn dead_dossiers(app: &TestApp, seed: u64, n: usize) -> (Lane, Vec<Uuid>) {
    let (d, _) = local_records(seed, n);
    let (status, body) = app.post("dossiers", &json!(d)).await;
    assert_eq!(status, 202, "{body}");
    let lane = app.lane("t", None);
    let before = dead_ids(&*app.store).await.len();
    // One failed request at a time, until every new header is dead.
    for _ in 0..n {
        if dead_ids(&*app.store).await.len() == before + n {
            break;
        }
        app.sim.script(vec![Fault::Http500]);
        lane.try_execute().await.unwrap();
    }
    let dead: Vec<Uuid> = dead_ids(&*app.store).await;
    assert_eq!(dead.len(), before + n, "every dossier's header is dead");
    let dead = dead[..n].to_vec();
    (lane, dead)
}

async fn dead_ids(store: &dyn Store) -> Vec<Uuid> {
    let filter = OutboxFilter {
        state: Some("dead".into()),
        ..Default::default()
    };
    store
        .browse_messages(&filter, None, 1000)
        .await
        .unwrap()
        .messages
        .iter()
        .map(|m| m.id)
        .collect()
}

async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("{}{path}", app.base);
    let req = match method {
        "GET" => app.client.get(url),
        _ => app.client.post(url).json(&body),
    };
    let resp = req.bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn audit(store: &dyn Store, who: Option<&str>) -> Vec<ActionRecord> {
    store
        .audit_page(&ActionFilter {
            who: who.map(str::to_string),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_viewer_reads_everything_and_changes_nothing_and_every_change_is_audited() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), people).await;
    let (_lane, dead) = dead_dossiers(&app, 71, 2).await;

    // Every GET route answers a viewer as it answers an operator.
    for &(method, path) in lienthong::admin::ROUTES {
        if method != "GET" || lienthong::admin::PROBES.contains(&path) {
            continue;
        }
        let path = path
            .replace("{id}", &dead[0].to_string())
            .replace("{code}", "x")
            .replace("{dossier}", "x");
        let (viewer, _) = call(&app, MINH, "GET", &path, Value::Null).await;
        let (operator, _) = call(&app, LAN, "GET", &path, Value::Null).await;
        assert_eq!(viewer, operator, "GET {path}");
        assert_ne!(viewer, 401, "GET {path}");
        assert_ne!(viewer, 403, "GET {path}");
    }
    // Every POST answers a viewer 403, whatever its body, before anything changes.
    for &(method, path) in lienthong::admin::ROUTES {
        if method != "POST" {
            continue;
        }
        let path = path.replace("{id}", &Uuid::new_v4().to_string());
        let (status, body) = call(&app, MINH, "POST", &path, json!({})).await;
        assert_eq!(status, 403, "POST {path}: {body}");
    }
    let phone = "0912345678";
    let (status, _) = call(
        &app,
        MINH,
        "POST",
        "/admin/outbox/skip",
        json!({"id": dead[0], "reason": format!("citizen called from {phone}")}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        MINH,
        "POST",
        "/admin/outbox/replay",
        json!({"ids": [dead[0]]}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(dead_ids(&*app.store).await.len(), 2, "nothing changed");
    // An unknown token is 401, as without one.
    let (status, _) = call(&app, "nobody", "GET", "/admin/outbox", Value::Null).await;
    assert_eq!(status, 401);

    // The operator's changes go through.
    let (status, body) = call(
        &app,
        LAN,
        "POST",
        "/admin/outbox/replay",
        json!({"ids": [dead[0]]}),
    )
    .await;
    assert_eq!(
        (status, body["replayed"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let (status, body) = call(
        &app,
        LAN,
        "POST",
        "/admin/outbox/skip",
        json!({"id": dead[1], "reason": format!("duplicate, said {phone}")}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The audit log: the viewer's refused attempts and the operator's changes, newest first.
    let minh = audit(&*app.store, Some("minh")).await;
    assert!(minh.len() >= 2 + 2, "{minh:?}");
    assert!(minh
        .iter()
        .all(|e| e.role == "viewer" && e.way == "api" && e.outcome.starts_with("refused")));
    let lan = audit(&*app.store, Some("lan")).await;
    let actions: Vec<&str> = lan.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["outbox.skip", "outbox.replay"], "{lan:?}");
    assert!(lan
        .iter()
        .all(|e| e.role == "operator" && e.outcome == "ok"));
    let replay: Value = serde_json::from_str(&lan[1].target).unwrap();
    assert_eq!(replay["ids"], json!([dead[0].to_string()]));
    assert_eq!(replay["result"]["replayed"], 1);
    let skip: Value = serde_json::from_str(&lan[0].target).unwrap();
    assert_eq!(skip["id"], dead[1].to_string());
    let everything = serde_json::to_string(&audit(&*app.store, None).await).unwrap();
    assert!(!everything.contains(phone), "no reason text in the log");
    // The same log over the API, filtered by action, newest first.
    let (status, body) = call(
        &app,
        MINH,
        "GET",
        "/admin/audit?who=lan&action=outbox.replay",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entries"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["entries"][0]["who"], "lan");
    // The old admin token is an operator named admin.
    let (status, _) = call(
        &app,
        ROOT,
        "POST",
        "/admin/outbox/prune",
        json!({"older_than_days": 30}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        audit(&*app.store, Some("admin")).await[0].action,
        "outbox.prune"
    );
}

#[tokio::test]
async fn every_action_of_the_admin_api_leaves_its_row() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), people).await;
    let (_lane, dead) = dead_dossiers(&app, 72, 1).await;
    let id = dead[0].to_string();
    let drop_path = format!("/admin/quarantine/{}/drop", Uuid::nil());
    let actions = [
        (
            "/admin/outbox/replay",
            json!({"ids": [id]}),
            "outbox.replay",
        ),
        (
            "/admin/outbox/skip",
            json!({"id": id, "reason": "x"}),
            "outbox.skip",
        ),
        (
            "/admin/outbox/prune",
            json!({"older_than_days": 1}),
            "outbox.prune",
        ),
        ("/admin/outbox/remap", json!({"ids": [id]}), "outbox.remap"),
        (
            "/admin/outbox/jobs",
            json!({"action": "replay", "filter": {"state": "dead"}}),
            "outbox.bulk_replay",
        ),
        (
            "/admin/catalog/resend",
            json!({"subscriber": "nobody"}),
            "catalog.resend",
        ),
        ("/admin/postal/poll", json!({}), "postal.poll"),
        (
            "/admin/postal/cancel",
            json!({"dossier": "X"}),
            "postal.cancel",
        ),
        (
            "/admin/reconcile",
            json!({"from": "2026-11-01", "to": "2026-11-02"}),
            "reconcile.start",
        ),
        (
            "/admin/quarantine/retry",
            json!({"ids": [Uuid::new_v4()]}),
            "quarantine.retry",
        ),
        (drop_path.as_str(), json!({}), "quarantine.drop"),
    ];
    for (path, body, action) in &actions {
        let (status, answer) = call(&app, LAN, "POST", path, body.clone()).await;
        let log = audit(&*app.store, Some("lan")).await;
        let last = &log[0];
        assert_eq!(last.action, *action, "{path}: {log:?}");
        assert_eq!(last.way, "api");
        if (200..300).contains(&status) {
            assert_eq!(last.outcome, "ok", "{path}");
        } else {
            assert!(
                last.outcome.starts_with(&format!("refused: {status}")),
                "{path}: {status} {answer} -> {}",
                last.outcome
            );
        }
    }
    assert_eq!(audit(&*app.store, Some("lan")).await.len(), actions.len());
    // The drop names its record, from the route.
    let drop: Value =
        serde_json::from_str(&audit(&*app.store, Some("lan")).await[0].target).unwrap();
    assert_eq!(drop["id"], Uuid::nil().to_string());
}

#[tokio::test]
async fn the_cli_s_changing_commands_leave_rows_as_the_os_user() {
    let dir = tempfile::tempdir().unwrap();
    let (ts, url) = sqlite_in(dir.path()).await;
    let app = spawn_app_with(ts, SimSettings::default(), people).await;
    let (_lane, dead) = dead_dossiers(&app, 73, 1).await;
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(
        &cfg,
        crate::support::test_config_text(&url, "http://127.0.0.1:9"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .env("USER", "thu")
            .output()
            .unwrap()
    };
    let out = run(&["outbox", "stats"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        audit(&*app.store, None).await.is_empty(),
        "reading leaves no row"
    );
    let out = run(&["outbox", "replay", &dead[0].to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "outbox",
        "skip",
        &Uuid::new_v4().to_string(),
        "--reason",
        "gone",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let log = audit(&*app.store, Some("cli:thu")).await;
    let rows: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.way.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("outbox.skip", "cli", "exit 1"),
            ("outbox.replay", "cli", "ok")
        ]
    );
    assert!(log[1].target.contains(&dead[0].to_string()));
}

/// `n` messages: dead headers from failed deliveries.
async fn pages_of(store: &dyn Store, filter: &OutboxFilter, limit: i64) -> Vec<Uuid> {
    pages_within(store, filter, limit, BrowseLimits::default())
        .await
        .0
}

/// Every page of `filter`, following `next` to the end: the ids in order, and how many pages
/// came back before they were full (their search time spent).
async fn pages_within(
    store: &dyn Store,
    filter: &OutboxFilter,
    limit: i64,
    limits: BrowseLimits,
) -> (Vec<Uuid>, usize) {
    let mut seen = Vec::new();
    let mut before = None;
    let mut short = 0;
    loop {
        let page = store
            .browse_within(filter, before, limit, limits)
            .await
            .unwrap();
        seen.extend(page.messages.iter().map(|m| m.id));
        match page.next {
            None => return (seen, short),
            Some(next) => {
                if (page.messages.len() as i64) < limit {
                    short += 1;
                }
                assert!(before.is_none_or(|b| next < b), "next moves back");
                before = Some(next);
            }
        }
    }
}

#[tokio::test]
async fn keyset_pages_skip_and_repeat_nothing_while_rows_change_state() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), people).await;
        let (lane, dead) = dead_dossiers(&app, 74, 23).await;
        let everything = OutboxFilter::default();
        let all = pages_of(&*app.store, &everything, 1000).await;
        assert_eq!(all.len(), 23, "{name}");

        // Page through 5 at a time; between pages, replay and deliver some messages already
        // listed and some not listed yet, and skip one not listed yet.
        let mut seen = Vec::new();
        let mut before = None;
        let mut round = 0;
        loop {
            let page = app
                .store
                .browse_messages(&everything, before, 5)
                .await
                .unwrap();
            seen.extend(page.messages.iter().map(|m| m.id));
            let Some(next) = page.next else {
                break;
            };
            assert_eq!(page.messages.len(), 5, "{name}: a full page");
            before = Some(next);
            round += 1;
            let ahead = all[(round * 5 + 2).min(all.len() - 1)];
            let behind = seen[0];
            app.store
                .replay_messages(&[ahead, behind], now_ms())
                .await
                .unwrap();
            app.drain(&lane).await;
            app.store
                .skip(all[all.len() - 1 - round], "test", now_ms())
                .await
                .unwrap();
        }
        assert_eq!(seen, all, "{name}: every row once, in order");

        // Each filter is applied in SQL.
        let code = app.store.message(dead[3]).await.unwrap().unwrap().dossier;
        let by_code = OutboxFilter {
            dossier: Some(code.clone()),
            ..Default::default()
        };
        let found = pages_of(&*app.store, &by_code, 10).await;
        assert_eq!(found, [dead[3]], "{name}");
        let by_error = OutboxFilter {
            error: Some("http 500".into()),
            ..Default::default()
        };
        let failed = app.store.count_matching(&by_error).await.unwrap();
        assert!(
            failed > 0,
            "{name}: dead or replayed-then-failed rows keep their error"
        );
        // Exactly the messages whose error says so, whatever their state.
        let mut every = Vec::new();
        let mut before = None;
        loop {
            let page = app
                .store
                .browse_messages(&OutboxFilter::default(), before, 100)
                .await
                .unwrap();
            before = page.next;
            every.extend(page.messages);
            if before.is_none() {
                break;
            }
        }
        let mut expected: Vec<Uuid> = every
            .iter()
            .filter(|m| {
                m.last_error
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().contains("http 500"))
            })
            .map(|m| m.id)
            .collect();
        let mut found = pages_of(&*app.store, &by_error, 7).await;
        expected.sort();
        found.sort();
        assert_eq!(found, expected, "{name}");
        let many_attempts = OutboxFilter {
            min_attempts: Some(50),
            ..Default::default()
        };
        assert_eq!(app.store.count_matching(&many_attempts).await.unwrap(), 0);
        let later = OutboxFilter {
            updated_from_ms: Some(now_ms() + 60_000),
            ..Default::default()
        };
        assert_eq!(app.store.count_matching(&later).await.unwrap(), 0, "{name}");
        let odd = OutboxFilter {
            error: Some("100%_\\".into()),
            ..Default::default()
        };
        assert_eq!(
            app.store.count_matching(&odd).await.unwrap(),
            0,
            "{name}: LIKE escaped"
        );
    }
}

/// A page reads the queue in windows of positions and answers when its search time is spent,
/// full or not, with a `next` to go on from: following `next` lists exactly what one unhurried
/// walk lists, in the same order, for every kind of filter.
#[tokio::test]
async fn a_page_out_of_search_time_answers_what_it_found_and_goes_on_from_there() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), people).await;
        let (_lane, dead) = dead_dossiers(&app, 77, 13).await;
        let code = app.store.message(dead[5]).await.unwrap().unwrap().dossier;
        // No time at all: one window per page, of one or two positions.
        let hurried = BrowseLimits {
            budget: std::time::Duration::ZERO,
            first_window: 1,
            last_window: 2,
        };
        let filters = [
            OutboxFilter::default(),
            OutboxFilter {
                state: Some("dead".into()),
                ..Default::default()
            },
            OutboxFilter {
                dossier: Some(code),
                ..Default::default()
            },
            OutboxFilter {
                error: Some("http 500".into()),
                ..Default::default()
            },
            OutboxFilter {
                peer: Some("dvcqg".into()),
                operation: Some("DongBoHoSoMC".into()),
                ..Default::default()
            },
            OutboxFilter {
                min_attempts: Some(1),
                ..Default::default()
            },
        ];
        for f in &filters {
            let all = pages_of(&*app.store, f, 1000).await;
            assert!(!all.is_empty(), "{name}: {f:?} matches");
            let (found, short) = pages_within(&*app.store, f, 4, hurried).await;
            assert_eq!(
                found, all,
                "{name}: {f:?}: the same messages in the same order"
            );
            assert!(short > 0, "{name}: {f:?}: some pages ran out of time");
        }
        // Over the API: a short page still carries where to go on from.
        let (status, body) = call(
            &app,
            LAN,
            "GET",
            "/admin/outbox/messages?state=dead&limit=1000",
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["messages"].as_array().unwrap().len(), 13, "{name}");
        assert!(body["next"].is_null(), "{name}: the end of the queue");
    }
}

#[tokio::test]
async fn a_bulk_replay_runs_to_the_end_and_an_interrupted_one_finishes_when_run_again() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), people).await;
        let (lane, dead) = dead_dossiers(&app, 75, 7).await;
        let filter = OutboxFilter {
            state: Some("dead".into()),
            ..Default::default()
        };
        // Over the API: 202 with the job; it runs in the background to the end.
        let (status, body) = call(
            &app,
            LAN,
            "POST",
            "/admin/outbox/jobs",
            json!({"action": "replay", "filter": {"state": "dead", "dossier": ""}}),
        )
        .await;
        assert_eq!(status, 202, "{name}: {body}");
        assert_eq!(body["job"]["total"], 7, "{name}");
        let id = body["job"]["id"].as_str().unwrap().to_string();
        let mut job = Value::Null;
        for _ in 0..600 {
            job = call(
                &app,
                MINH,
                "GET",
                &format!("/admin/outbox/jobs/{id}"),
                Value::Null,
            )
            .await
            .1;
            if job["job"]["state"] == "done" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(job["job"]["state"], "done", "{name}: {job}");
        assert_eq!(
            (job["job"]["done"].as_i64(), job["job"]["changed"].as_i64()),
            (Some(7), Some(7))
        );
        assert!(dead_ids(&*app.store).await.is_empty(), "{name}");
        app.drain(&lane).await;
        for m in &dead {
            assert_eq!(
                app.store.message(*m).await.unwrap().unwrap().state,
                "delivered"
            );
        }

        // A job stopped after its first chunk (its runner gone: no heartbeat since) shows as
        // interrupted; run again, it finishes from where it stopped.
        let (lane, dead) = dead_dossiers(&app, 76, 6).await;
        let job = lienthong::operator::begin_job(
            &*app.store,
            &filter,
            &lienthong::operator::JobAction::Replay,
            "lan",
        )
        .await
        .unwrap();
        assert_eq!(job.total, 6);
        let first = app.store.matching_page(&filter, i64::MIN, 2).await.unwrap();
        let ids: Vec<Uuid> = first.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            app.store
                .replay_messages(&ids, now_ms())
                .await
                .unwrap()
                .replayed,
            2
        );
        let stale = now_ms() - JOB_STALE_MS - 1_000;
        assert!(app.store.resume_job(&job.id, stale).await.unwrap());
        app.store
            .job_progress(
                &job.id,
                &lienthong::store::JobStep {
                    done: 2,
                    changed: 2,
                    after_position: first[1].1,
                    ..Default::default()
                },
                stale,
            )
            .await
            .unwrap();
        let shown: OutboxJob = app.store.job(&job.id).await.unwrap().unwrap();
        assert_eq!(shown.shown_state(now_ms()), "interrupted", "{name}");
        let ended = lienthong::operator::run_job(&*app.store, None, &job.id, 3)
            .await
            .unwrap();
        assert_eq!(
            (ended.state.as_str(), ended.done, ended.changed),
            ("done", 6, 6),
            "{name}: the rest, and nothing twice"
        );
        app.drain(&lane).await;
        for m in &dead {
            assert_eq!(
                app.store.message(*m).await.unwrap().unwrap().state,
                "delivered"
            );
        }
        // A finished job run again changes nothing.
        let again = lienthong::operator::run_job(&*app.store, None, &job.id, 3)
            .await
            .unwrap();
        assert_eq!((again.done, again.changed), (6, 6), "{name}");
    }
}

/// The tries of `id` as the admin API shows them: per batch, each try's outcome and answer.
async fn tries_of(app: &TestApp, id: Uuid) -> Vec<Vec<(String, Option<String>)>> {
    let (status, m) = call(
        app,
        MINH,
        "GET",
        &format!("/admin/outbox/messages/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{m}");
    m["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["tries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["outcome"].as_str().unwrap().to_string(),
                        t["answer"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .collect()
}

/// Logs in on the dashboard with `token`; the session cookie, and a client that does not follow
/// redirects.
async fn session(app: &TestApp, token: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/ui/login", app.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (client, cookie)
}

#[tokio::test]
async fn every_try_of_a_message_shows_with_the_peer_s_answer() {
    for ts in stores().await {
        let name = ts.name;
        let app = spawn_app_with(ts, SimSettings::default(), |c| {
            people(c);
            c.delivery.max_attempts = 50;
        })
        .await;
        let lane = app.lane("t", None);
        let (d, _) = local_records(81, 2);
        let (status, body) = app.post("dossiers", &json!(d)).await;
        assert_eq!(status, 202, "{body}");
        // The first request fails as a whole; sent again, its second item is refused for now
        // (the first goes); that item then goes alone in a new batch.
        app.sim.script(vec![
            Fault::Http500,
            Fault::ItemTemporary { items: vec![1] },
        ]);
        app.drain(&lane).await;
        let filter = OutboxFilter {
            operation: Some("DongBoHoSoMC".into()),
            ..Default::default()
        };
        let mut ids = pages_of(&*app.store, &filter, 10).await;
        ids.reverse();
        assert_eq!(ids.len(), 2, "{name}");
        let first = tries_of(&app, ids[0]).await;
        let second = tries_of(&app, ids[1]).await;
        let outcomes = |t: &Vec<Vec<(String, Option<String>)>>| -> Vec<Vec<String>> {
            t.iter()
                .map(|b| b.iter().map(|(o, _)| o.clone()).collect())
                .collect()
        };
        assert_eq!(
            outcomes(&first),
            vec![vec!["failed", "delivered"]],
            "{name}: {first:?}"
        );
        assert_eq!(
            outcomes(&second),
            vec![vec!["failed", "retry"], vec!["delivered"]],
            "{name}: {second:?}"
        );
        // The failed try carries the peer's answer for both; the partial one the item's own.
        let failed = first[0][0].1.clone().unwrap_or_default();
        assert!(failed.contains("500"), "{name}: {failed}");
        assert_eq!(second[0][0].1.as_deref(), Some(failed.as_str()), "{name}");
        let own = second[0][1].1.clone().unwrap_or_default();
        assert!(!own.is_empty() && own != failed, "{name}: {own}");
        assert_eq!(first[0][1].1, None, "{name}: a delivery has no error");

        // The message page lists the same tries, oldest first.
        let (client, cookie) = session(&app, MINH).await;
        let page = client
            .get(format!("{}/ui/outbox/{}?lang=en", app.base, ids[1]))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let tries = page.split("id=\"tries\"").nth(1).unwrap_or_default();
        let at = |needle: &str| {
            tries
                .find(needle)
                .unwrap_or_else(|| panic!("{name}: {needle} not in {tries}"))
        };
        assert!(
            at("Failed, the batch goes again") < at("To retry"),
            "{name}"
        );
        assert!(at("To retry") < at("Delivered"), "{name}");
        assert!(tries.contains(&own), "{name}: {own} not on the page");
    }
}

#[tokio::test]
async fn a_bulk_remap_renders_every_dead_message_matching_the_filter_again() {
    // The source's mapping lives in a folder of its own, changed once messages are dead.
    let dir = tempfile::tempdir().unwrap();
    let dossier_toml = crate::support::copied_mappings(dir.path()).join("vendor-a/dossier.toml");
    let original = std::fs::read_to_string(&dossier_toml).unwrap();
    let own_name = "[fields.TenTTHC]\n# The source's own procedure name.\nfrom = \"TenThuTuc\"";
    assert!(original.contains(own_name));
    for ts in stores().await {
        let name = ts.name;
        std::fs::write(&dossier_toml, &original).unwrap();
        let path = dossier_toml.clone();
        let app = spawn_app_with(ts, SimSettings::default(), move |c| {
            people(c);
            c.sources[0].dossier_mapping = path;
        })
        .await;
        let (lane, dead) = dead_dossiers(&app, 91, 4).await;
        let filter = json!({"state": "dead", "operation": "DongBoHoSoMC"});
        let job_of = |id: String| {
            let app = &app;
            async move {
                for _ in 0..500 {
                    let (status, j) = call(
                        app,
                        MINH,
                        "GET",
                        &format!("/admin/outbox/jobs/{id}"),
                        Value::Null,
                    )
                    .await;
                    assert_eq!(status, 200, "{j}");
                    if !matches!(j["job"]["state"].as_str(), Some("queued" | "running")) {
                        return j["job"].clone();
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                panic!("job {id} did not end");
            }
        };

        // A mapping that now refuses the records: every one is counted as refused, with the
        // reason, and stays dead.
        std::fs::write(
            &dossier_toml,
            original.replace(own_name, "[fields.TenTTHC]\nfrom = \"CotKhongCo\""),
        )
        .unwrap();
        let (status, begun) = call(
            &app,
            LAN,
            "POST",
            "/admin/outbox/jobs",
            json!({"action": "remap", "filter": filter}),
        )
        .await;
        assert_eq!(status, 202, "{name}: {begun}");
        let job = job_of(begun["job"]["id"].as_str().unwrap().to_string()).await;
        assert_eq!(
            (
                &job["state"],
                &job["total"],
                &job["changed"],
                &job["refused"]
            ),
            (&json!("done"), &json!(4), &json!(0), &json!(4)),
            "{name}: {job}"
        );
        let refusal = job["last_refusal"].as_str().unwrap_or_default();
        assert!(
            refusal.contains("TenTTHC") && dead.iter().any(|id| refusal.contains(&id.to_string())),
            "{name}: the refusal names the message and the field: {refusal}"
        );
        assert_eq!(dead_ids(&*app.store).await.len(), 4, "{name}: left dead");

        // The fixed mapping: the dashboard's confirmation shows what the first messages would
        // change, then the job renders them all again and they go, under new ids.
        std::fs::write(
            &dossier_toml,
            original.replace(own_name, "[fields.TenTTHC]\nvalue = \"Tên đã sửa\""),
        )
        .unwrap();
        let (client, cookie) = session(&app, LAN).await;
        let page = client
            .get(format!("{}/ui/outbox?lang=en", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let form = |confirm: Option<&str>| {
            let mut f = vec![
                ("csrf", csrf.clone()),
                ("action", "remap".to_string()),
                ("state", "dead".to_string()),
                ("operation", "DongBoHoSoMC".to_string()),
                ("reason", String::new()),
            ];
            if let Some(c) = confirm {
                f.push(("expected", "4".to_string()));
                f.push(("confirm", c.to_string()));
            }
            f
        };
        let confirm = client
            .post(format!("{}/ui/outbox/jobs?lang=en", app.base))
            .header("cookie", &cookie)
            .form(&form(None))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            confirm.contains("id=\"bulk-count\">4<"),
            "{name}: {confirm}"
        );
        assert_eq!(
            confirm.matches("class=\"item remap-sample\"").count(),
            3,
            "{name}: three samples"
        );
        assert!(confirm.contains("~ TenTTHC"), "{name}: {confirm}");
        let started = client
            .post(format!("{}/ui/outbox/jobs?lang=en", app.base))
            .header("cookie", &cookie)
            .form(&form(Some("4")))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status().as_u16(), 303, "{name}");
        let at = started.headers()["location"].to_str().unwrap().to_string();
        let id = at
            .trim_start_matches("/ui/outbox/jobs/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let job = job_of(id).await;
        assert_eq!(
            (&job["state"], &job["changed"], &job["refused"]),
            (&json!("done"), &json!(4), &json!(0)),
            "{name}: {job}"
        );
        app.drain(&lane).await;
        for id in &dead {
            let m = app.store.message(*id).await.unwrap().unwrap();
            assert_eq!(m.state, "delivered", "{name}");
            assert_eq!(m.item["TenTTHC"], "Tên đã sửa", "{name}");
            assert_eq!(m.batches.len(), 2, "{name}: a new body, a new batch");
        }
        let actions: Vec<String> = audit(&*app.store, Some("lan"))
            .await
            .iter()
            .map(|r| r.action.clone())
            .collect();
        assert!(
            actions.iter().any(|a| a == "outbox.bulk_remap"),
            "{name}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn metrics_count_the_outbox_once_and_show_that_count_until_it_is_due_again() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), people).await;
    let scrape = || async {
        let r = app
            .client
            .get(format!("{}/metrics", app.base))
            .bearer_auth(MINH)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.unwrap()
    };
    let pending = |text: &str| -> Option<String> {
        text.lines()
            .find(|l| {
                l.starts_with("lienthong_outbox_messages{")
                    && l.contains("operation=\"DongBoHoSoMC\"")
                    && l.contains("state=\"pending\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    let (d, _) = local_records(95, 5);
    let (status, body) = app.post("dossiers", &json!(d[..3])).await;
    assert_eq!(status, 202, "{body}");
    // The first scrape counts.
    assert_eq!(pending(&scrape().await).as_deref(), Some("3"));
    // A scrape within the next 30 s shows that count without reading the outbox again.
    let (status, body) = app.post("dossiers", &json!(d[3..])).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(pending(&scrape().await).as_deref(), Some("3"));
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 5);
}
