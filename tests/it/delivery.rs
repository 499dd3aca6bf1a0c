//! Delivery to the portal simulator over real sockets: order, retries, Retry-After, re-login,
//! create/update switches, partial batches, and a crash between send and commit.

use std::collections::HashSet;
use std::time::Duration;

use lienthong::outbox::config::DeliveryConfig;
use lienthong::outbox::Outcome;
use lienthong::sim::{EventKind, Fault, FaultRates, RetryAfter, SimSettings};
use lienthong::store::{now_ms, Claim};
use serde_json::json;

use crate::support::{local_records, spawn_app, spawn_app_with, sqlite, stores};

fn code(v: &serde_json::Value) -> String {
    v["MaHoSo"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_dossier_arrives_in_order_under_faults() {
    for ts in stores().await {
        let settings = SimSettings {
            faults: FaultRates {
                http503: 0.05,
                http500: 0.05,
                drop_before_apply: 0.05,
                drop_after_apply: 0.05,
                envelope_temporary: 0.05,
                item_temporary: 0.1,
                session_expiry: 0.05,
                retry_after_secs: 0,
                ..FaultRates::default()
            },
            seed: 11,
            ..SimSettings::default()
        };
        let app = spawn_app_with(ts, settings, |c| {
            c.server.body_limit_bytes = 10 << 20;
            c.server.max_records_per_request = 10_000;
        })
        .await;
        let (d, s) = local_records(5, 30);
        assert_eq!(app.post("dossiers", &json!(d)).await.0, 202);
        assert_eq!(app.post("steps", &json!(s)).await.0, 202);
        let lane = app.lane("t", None);
        app.drain(&lane).await;
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 30);
        assert_eq!(
            app.count("CapNhatTienDoHoSoMC", "delivered").await,
            s.len() as i64
        );
        let stats = app.sim.stats();
        assert!(
            stats.faults_injected.len() >= 3,
            "several kinds of fault happened: {stats:?}"
        );
        assert_eq!(stats.out_of_order_steps, 0);
        assert_eq!(stats.violations.id_reused_with_different_body, 0);
        assert_eq!(stats.violations.same_body_under_two_ids, 0);
        for dossier in &d {
            let events = app.sim.events(&code(dossier));
            assert!(matches!(events[0].kind, EventKind::Create), "{events:?}");
            let steps = s
                .iter()
                .filter(|x| x["MaHoSo"] == dossier["MaHoSo"])
                .count();
            assert_eq!(events.len(), 1 + steps);
        }
    }
}

#[tokio::test]
async fn retry_after_is_obeyed() {
    let app = spawn_app(sqlite().await).await;
    let (d, _) = local_records(6, 1);
    app.post("dossiers", &d[0]).await;
    app.sim.script(vec![Fault::Http503 {
        retry_after: RetryAfter::Seconds(30),
    }]);
    let lane = app.lane("t", None);
    let before = now_ms();
    assert_eq!(
        lane.try_execute().await.unwrap(),
        Outcome::Sent {
            items: 1,
            delivered: 0
        }
    );
    let due = app.store.next_due("dvcqg").await.unwrap().unwrap();
    assert!(
        due >= before + 30_000,
        "next try {} ms after the 503",
        due - before
    );
    assert_eq!(
        lane.try_execute().await.unwrap(),
        Outcome::Idle,
        "not before Retry-After"
    );

    // An HTTP date works as well, and a huge value is cut to the configured cap.
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.delivery.retry_after_cap_seconds = 60;
    })
    .await;
    app.post("dossiers", &d[0]).await;
    app.sim.script(vec![Fault::Http429 {
        retry_after: RetryAfter::HttpDate(
            std::time::SystemTime::now() + Duration::from_secs(86_400),
        ),
    }]);
    let lane = app.lane("t", None);
    let before = now_ms();
    lane.try_execute().await.unwrap();
    let due = app.store.next_due("dvcqg").await.unwrap().unwrap();
    assert!(
        (before + 55_000..=now_ms() + 60_000).contains(&due),
        "capped at 60 s: {}",
        due - before
    );
}

#[tokio::test]
async fn an_expired_session_is_renewed_without_using_a_retry() {
    let app = spawn_app(sqlite().await).await;
    let (d, _) = local_records(7, 1);
    app.post("dossiers", &d[0]).await;
    let lane = app.lane("t", None);
    // Log in once, then let the portal forget the session.
    app.post("dossiers", &d[0]).await;
    app.sim.script(vec![Fault::ExpireSessions]);
    assert_eq!(
        lane.try_execute().await.unwrap(),
        Outcome::Sent {
            items: 1,
            delivered: 1
        }
    );
    let counts = app.counts().await;
    let delivered = counts.iter().find(|c| c.state == "delivered").unwrap();
    assert_eq!(delivered.retried, 0, "re-login is not a failed attempt");
    assert!(app.sim.stats().session_errors >= 1);
}

#[tokio::test]
async fn already_exists_turns_the_create_into_an_update() {
    let app = spawn_app(sqlite().await).await;
    let (d, _) = local_records(8, 1);
    // The portal already has this dossier (sent earlier by another system).
    let peer = lienthong::peer::dvcqg::DvcqgPeer::new(
        app.config.peers.dvcqg.as_ref().unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let mapping = lienthong::mapping::Mapping::load(
        &crate::support::mappings().join("vendor-a/dossier.toml"),
    )
    .unwrap();
    let vars = app.config.sources[0].vars.clone();
    let item = serde_json::Value::Object(mapping.map(&d[0], &vars).unwrap().item);
    use lienthong::peer::Peer;
    let body = peer.build_body("DongBoHoSoMC", false, &[item]);
    peer.send(uuid::Uuid::new_v4(), "DongBoHoSoMC", &body).await;

    app.post("dossiers", &d[0]).await;
    let lane = app.lane("t", None);
    app.drain(&lane).await;
    let kinds: Vec<_> = app
        .sim
        .events(&code(&d[0]))
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        matches!(kinds[..], [EventKind::Create, EventKind::Update]),
        "{kinds:?}"
    );
    assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 1);
}

#[tokio::test]
async fn a_partly_applied_batch_resends_only_the_failed_items_under_a_new_id() {
    for ts in stores().await {
        let app = spawn_app(ts).await;
        let (d, _) = local_records(9, 3);
        app.post("dossiers", &json!(d)).await;
        app.sim
            .script(vec![Fault::ItemTemporary { items: vec![1] }]);
        let lane = app.lane("t", None);
        app.drain(&lane).await;
        let ids: Vec<String> = d
            .iter()
            .map(|x| app.sim.events(&code(x))[0].request_id.clone().unwrap())
            .collect();
        assert_eq!(ids[0], ids[2], "the applied items went together");
        assert_ne!(ids[0], ids[1], "the failed item went again in a new batch");
        let stats = app.sim.stats();
        assert_eq!(stats.violations.same_body_under_two_ids, 0);
        assert_eq!(
            stats.items_applied.values().sum::<u64>(),
            3,
            "nothing applied twice"
        );
    }
}

#[tokio::test]
async fn a_failing_dossier_holds_back_only_itself() {
    let app = spawn_app(sqlite().await).await;
    let (d, s) = local_records(10, 2);
    let (a, b) = (&d[0], &d[1]);
    app.post("dossiers", a).await;
    app.post(
        "steps",
        &json!(s
            .iter()
            .filter(|x| x["MaHoSo"] == a["MaHoSo"])
            .collect::<Vec<_>>()),
    )
    .await;
    // A's header fails and is not due again for a long time.
    app.sim.script(vec![Fault::Http500]);
    let slow = DeliveryConfig {
        backoff_initial_ms: 3_600_000,
        backoff_cap_ms: 3_600_000,
        ..app.config.delivery.clone()
    };
    let lane = app.lane("t", Some(slow));
    assert_eq!(
        lane.try_execute().await.unwrap(),
        Outcome::Sent {
            items: 1,
            delivered: 0
        }
    );
    // B and its steps arrive later and go through.
    app.post("dossiers", b).await;
    let b_steps: Vec<_> = s.iter().filter(|x| x["MaHoSo"] == b["MaHoSo"]).collect();
    app.post("steps", &json!(b_steps)).await;
    while lane.try_execute().await.unwrap() != Outcome::Idle {}
    assert_eq!(app.sim.events(&code(b)).len(), 1 + b_steps.len());
    assert!(
        app.sim.events(&code(a)).is_empty(),
        "A waits for its retry; its steps wait behind it"
    );
    assert_eq!(
        app.count("CapNhatTienDoHoSoMC", "delivered").await,
        b_steps.len() as i64
    );
}

#[tokio::test]
async fn a_crash_between_send_and_commit_loses_nothing_and_resends_the_same_id() {
    for ts in stores().await {
        let app = spawn_app(ts).await;
        let (d, _) = local_records(12, 2);
        app.post("dossiers", &json!(d)).await;
        // Instance one claims a batch and sends it; the portal applies it; instance one dies
        // before it records the answer (its lease runs out at once).
        let peer = lienthong::peer::dvcqg::DvcqgPeer::new(
            app.config.peers.dvcqg.as_ref().unwrap(),
            Duration::from_secs(5),
        )
        .unwrap();
        use lienthong::peer::Peer;
        let now = now_ms();
        let claim = Claim {
            peer: "dvcqg",
            skip_destinations: &[],
            operation: "DongBoHoSoMC",
            limit: 50,
            now_ms: now,
            lease_until_ms: now,
            owner: "one",
        };
        let build =
            |u: bool, items: &[serde_json::Value]| peer.build_body("DongBoHoSoMC", u, items);
        let batch = app
            .store
            .claim_new_batch(&claim, &build)
            .await
            .unwrap()
            .unwrap();
        peer.send(batch.id, &batch.operation, &batch.body).await;
        drop(batch);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Instance two takes the batch over and sends it again: same id, same body.
        let lane = app.lane("two", None);
        app.drain(&lane).await;
        let stats = app.sim.stats();
        assert_eq!(stats.duplicates_absorbed, 1, "{stats:?}");
        assert_eq!(stats.violations.id_reused_with_different_body, 0);
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 2);
        let ids: HashSet<_> = d.iter().map(|x| app.sim.events(&code(x)).len()).collect();
        assert_eq!(ids, HashSet::from([1]), "each dossier created exactly once");
    }
}

#[tokio::test]
async fn lgsp_auth_mode_delivers_with_a_bearer_token() {
    let settings = SimSettings {
        require_lgsp_header: true,
        ..SimSettings::default()
    };
    let app = spawn_app_with(sqlite().await, settings.clone(), |_| {}).await;
    // Same simulator, now reached through the LGSP route.
    let mut dvcqg = app.config.peers.dvcqg.clone().unwrap();
    let toml = format!(
        r#"mode = "lgsp"
token_url = "{base}/oauth/token"
client_id = "{id}"
client_secret = "{secret}"
access_token_header = {{ access_key = "ak", secret_key = "sk", app_name = "lienthong", partner_code = "000.00.01.H56", partner_code_cus = "000.00.01.H56" }}"#,
        base = dvcqg.base_url,
        id = settings.client_id,
        secret = settings.client_secret,
    );
    dvcqg.auth = toml::from_str(&toml).unwrap();
    let peer = lienthong::peer::dvcqg::DvcqgPeer::new(&dvcqg, Duration::from_secs(5)).unwrap();
    let lane = lienthong::outbox::Lane::new(
        app.store.clone(),
        std::sync::Arc::new(peer),
        vec!["DongBoHoSoMC".into(), "CapNhatTienDoHoSoMC".into()],
        app.config.policy_for("dvcqg"),
        "lgsp".into(),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    )
    .unwrap();
    let (d, s) = local_records(13, 2);
    app.post("dossiers", &json!(d)).await;
    app.post("steps", &json!(s)).await;
    app.sim.script(vec![Fault::ExpireSessions]);
    app.drain(&lane).await;
    assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 2);
    assert_eq!(
        app.count("CapNhatTienDoHoSoMC", "delivered").await,
        s.len() as i64
    );
    assert_eq!(app.sim.stats().session_errors, 0, "no session in LGSP mode");
}

#[tokio::test]
async fn refused_credentials_pause_the_destination() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        let auth = r#"mode = "session"
dstcode = "000.00.01.H56"
username = "lienthong"
password = "sai-mat-khau""#;
        c.peers.dvcqg.as_mut().unwrap().auth = toml::from_str(auth).unwrap();
    })
    .await;
    let (d, _) = local_records(17, 2);
    app.post("dossiers", &d[0]).await;
    let lane = app.lane("t", None);
    assert_eq!(
        lane.try_execute().await.unwrap(),
        Outcome::Sent {
            items: 1,
            delivered: 0
        }
    );
    assert!(lane.is_paused());
    app.post("dossiers", &d[1]).await;
    assert_eq!(
        lane.try_execute().await.unwrap(),
        Outcome::Idle,
        "paused: nothing claimed"
    );
    let counts = app.counts().await;
    assert_eq!(
        counts.iter().filter(|c| c.state == "dead").count(),
        0,
        "{counts:?}"
    );
    let retried: i64 = counts.iter().map(|c| c.retried).sum();
    assert_eq!(retried, 0, "a pause uses up no attempt: {counts:?}");
    assert_eq!(
        app.sim.stats().requests_by_service.get("DongBoHoSoMC"),
        None
    );
}

#[tokio::test]
async fn dead_letters_hold_back_their_dossier_until_replayed_or_skipped() {
    use lienthong::store::MessageFilter;
    for ts in stores().await {
        let app = spawn_app_with(ts, SimSettings::default(), |c| c.delivery.max_attempts = 1).await;
        let (d, s) = local_records(19, 1);
        let steps: Vec<_> = s
            .iter()
            .filter(|x| x["MaHoSo"] == d[0]["MaHoSo"])
            .cloned()
            .collect();
        assert!(steps.len() >= 2);
        app.post("dossiers", &d[0]).await;
        app.post("steps", &json!(steps)).await;
        let lane = app.lane("t", None);

        // The header dies; its steps wait behind it.
        app.sim.script(vec![Fault::Http500]);
        lane.try_execute().await.unwrap();
        assert_eq!(lane.try_execute().await.unwrap(), Outcome::Idle);
        let dead = app
            .store
            .list_messages(&MessageFilter {
                state: Some("dead".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0].error.as_deref().unwrap().contains("HTTP 500"),
            "{dead:?}"
        );

        // Replayed, it goes at its old place: header first, then the steps.
        assert_eq!(app.store.replay(&[dead[0].id], now_ms()).await.unwrap(), 1);
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Sent {
                items: 1,
                delivered: 1
            },
            "the header"
        );
        app.sim.script(vec![Fault::Http500]); // ...and the first step dies this time.
        lane.try_execute().await.unwrap();
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Idle,
            "later steps wait"
        );
        let dead_step = app
            .store
            .list_messages(&MessageFilter {
                state: Some("dead".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(dead_step[0].operation, "CapNhatTienDoHoSoMC");

        // Skipped, it stops holding the dossier back; the rest goes in order.
        assert!(app
            .store
            .skip(dead_step[0].id, "sent by hand", now_ms())
            .await
            .unwrap());
        app.drain(&lane).await;
        let events = app.sim.events(&code(&d[0]));
        assert_eq!(
            events.len(),
            steps.len(),
            "header + all steps but the skipped one"
        );
        assert_eq!(app.count("CapNhatTienDoHoSoMC", "skipped").await, 1);
    }
}

#[tokio::test]
async fn the_admin_api_replays_and_skips_with_its_token() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.delivery.max_attempts = 1;
        c.server.admin_token = Some("admin-token".to_string().into());
    })
    .await;
    let (d, _) = local_records(20, 1);
    app.post("dossiers", &d[0]).await;
    let lane = app.lane("t", None);
    app.sim.script(vec![Fault::Http500]);
    lane.try_execute().await.unwrap();

    let url = |path: &str| format!("{}/admin/outbox{path}", app.base);
    let refused = app.client.get(url("")).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let wrong = app
        .client
        .post(url("/replay"))
        .bearer_auth("nope")
        .json(&json!({"ids": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    let listed: serde_json::Value = app
        .client
        .get(url(""))
        .bearer_auth("admin-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = listed["dead_letters"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        listed["dead_letters"][0]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{listed}"
    );
    // The listing carries no payload and no personal data.
    assert!(!listed
        .to_string()
        .contains(d[0]["NguoiNop"].as_str().unwrap()));

    let bad = app
        .client
        .post(url("/replay"))
        .bearer_auth("admin-token")
        .json(&json!({"dead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let replayed: serde_json::Value = app
        .client
        .post(url("/replay"))
        .bearer_auth("admin-token")
        .json(&json!({"ids": [id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["replayed"], 1);
    assert_eq!(replayed["reopened_batches"].as_array().unwrap().len(), 1);
    app.drain(&lane).await;
    assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 1);

    let missing = app
        .client
        .post(url("/skip"))
        .bearer_auth("admin-token")
        .json(&json!({"id": uuid::Uuid::new_v4(), "reason": "sent by hand"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

/// The database goes away under a running lane: delivery pauses (nothing is lost, nothing
/// panics) and picks up by itself when the database is back.
#[tokio::test]
async fn delivery_pauses_while_the_store_is_down_and_resumes_by_itself() {
    let Some(ts) = crate::support::postgres().await else {
        return;
    };
    let db = ts.pg_database.clone().unwrap();
    let base = std::env::var("LIENTHONG_TEST_DATABASE_URL").unwrap();
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    let app = spawn_app(ts).await;
    let (d, _) = local_records(31, 5);
    let (status, answer) = app.post("dossiers", &serde_json::Value::Array(d)).await;
    assert_eq!(status, 202, "{answer}");

    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db)
        .execute(&admin)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let lane = std::sync::Arc::new(app.lane("outage", None));
    let running = tokio::spawn(lane.run(shutdown.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        app.sim.dossier_count(),
        0,
        "nothing can be claimed while the store is down"
    );
    assert!(
        !running.is_finished(),
        "the lane keeps running through the outage"
    );

    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.sim.dossier_count() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "delivery did not resume: {:?}",
            app.counts().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 5);
    assert_eq!(app.sim.stats().violations, Default::default());
}
