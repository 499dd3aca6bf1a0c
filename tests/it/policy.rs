//! Each peer's delivery policy applied by the real lane against the simulator over real
//! sockets: circuit breaker, maintenance windows, max age, rate limit, and lanes that do not
//! hold each other back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Timelike as _;
use lienthong::outbox::config::MaintenanceWindowConfig;
use lienthong::outbox::{spawn_lane, BreakerState, Hold, Lane, Outcome};
use lienthong::peer::dvcqg::DvcqgPeer;
use lienthong::peer::{BatchVerdict, Peer};
use lienthong::sim::{Fault, RetryAfter, SimSettings};
use lienthong::store::{
    now_ms, AcceptedRecord, HeaderRule, IngestWrite, MessageFilter, NewMessage, RecordKind,
};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::support::{local_records, mappings, spawn_app_with, sqlite, stores, TestApp};

/// Calls to the portal's services the simulator received (logins excluded; a call answered
/// with an injected fault counts too).
fn dossier_calls(app: &TestApp) -> u64 {
    let stats = app.sim.stats();
    let logins: u64 = ["auth", "token"]
        .iter()
        .filter_map(|s| stats.requests_by_service.get(*s))
        .sum();
    stats.requests - logins
}

/// Attempts used so far by every message.
async fn attempts(app: &TestApp) -> Vec<u32> {
    app.store
        .list_messages(&MessageFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|m| m.attempts)
        .collect()
}

/// Local dossier records mapped to portal items, as ingest would store them.
fn accepted(app: &TestApp, peer: &str, records: &[Value]) -> Vec<AcceptedRecord> {
    let mapping =
        lienthong::mapping::Mapping::load(&mappings().join("vendor-a/dossier.toml")).unwrap();
    let vars = app.config.sources[0].vars.clone();
    records
        .iter()
        .map(|r| {
            let m = mapping.map(r, &vars).unwrap();
            let mut message = NewMessage::new(
                peer,
                "DongBoHoSoMC",
                m.dossier.clone(),
                Value::Object(m.item),
            )
            .with_header(HeaderRule::Header);
            message.at_ms = m.at.map(|t| t.timestamp_millis());
            message.source_seq = m.source_seq;
            AcceptedRecord {
                record_id: Uuid::new_v4(),
                record: r.to_string(),
                mapping_version: mapping.version().to_string(),
                dossier: m.dossier,
                warnings: Vec::new(),
                messages: vec![message],
            }
        })
        .collect()
}

/// Queues `records` for `peer` as if they had been accepted at `at_ms`.
async fn enqueue(app: &TestApp, peer: &str, records: &[Value], at_ms: i64) {
    let write = IngestWrite {
        source: "tinh".into(),
        kind: RecordKind::Dossier,
        accepted: accepted(app, peer, records),
        rejected: Vec::new(),
        idempotency: None,
        facts: Vec::new(),
        positions: Vec::new(),
        retried: Vec::new(),
        origin: None,
        now_ms: at_ms,
    };
    app.store.ingest(write, &|_| String::new()).await.unwrap();
}

fn held(outcome: &Outcome) -> Option<Hold> {
    match outcome {
        Outcome::Held { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[tokio::test]
async fn the_breaker_opens_after_failed_batches_stops_sending_and_a_probe_closes_it() {
    for ts in stores().await {
        let app = spawn_app_with(ts, SimSettings::default(), |c| {
            let p = &mut c.peers.dvcqg.as_mut().unwrap().policy;
            p.breaker_failures = Some(3);
            p.breaker_cool_down_seconds = Some(1);
        })
        .await;
        let (d, _) = local_records(31, 4);
        assert_eq!(app.post("dossiers", &json!(d)).await.0, 202);
        let lane = app.lane("t", None);
        let busy = || Fault::Http503 {
            retry_after: RetryAfter::Seconds(0),
        };
        app.sim.script(vec![busy(), busy(), busy()]);
        for _ in 0..3 {
            assert_eq!(
                lane.try_execute().await.unwrap(),
                Outcome::Sent {
                    items: 4,
                    delivered: 0
                }
            );
        }
        assert_eq!(lane.breaker_state(), BreakerState::Open);
        let calls = dossier_calls(&app);
        assert_eq!(calls, 3);
        for _ in 0..5 {
            let outcome = lane.try_execute().await.unwrap();
            assert_eq!(held(&outcome), Some(Hold::BreakerOpen), "{outcome:?}");
            if let Outcome::Held { retry_in, .. } = outcome {
                assert!(retry_in <= Duration::from_secs(1));
            }
        }
        assert_eq!(dossier_calls(&app), calls, "nothing sent while open");
        assert_eq!(
            attempts(&app).await,
            vec![3; 4],
            "no attempt burned while open"
        );

        // After the cool-down one probe goes; it fails, so the breaker opens again.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        app.sim.script(vec![busy()]);
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Sent {
                items: 4,
                delivered: 0
            }
        );
        assert_eq!(lane.breaker_state(), BreakerState::Open);
        assert_eq!(
            held(&lane.try_execute().await.unwrap()),
            Some(Hold::BreakerOpen)
        );
        assert_eq!(dossier_calls(&app), calls + 1);

        // The next probe goes through: the breaker closes and everything is delivered.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Sent {
                items: 4,
                delivered: 4
            }
        );
        assert_eq!(lane.breaker_state(), BreakerState::Closed);
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 4);
    }
}

#[tokio::test]
async fn a_partly_applied_batch_does_not_open_the_breaker() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.delivery.breaker_failures = 1;
    })
    .await;
    let (d, _) = local_records(32, 2);
    app.post("dossiers", &json!(d)).await;
    // Half the items fail for now, half are applied: the portal is answering.
    app.sim
        .script(vec![Fault::ItemTemporary { items: vec![1] }]);
    let lane = app.lane("t", None);
    app.drain(&lane).await;
    assert_eq!(lane.breaker_state(), BreakerState::Closed);
    assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 2);
}

#[tokio::test]
async fn a_maintenance_window_now_sends_nothing_and_uses_no_attempt() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        // A window starting every second: always on.
        c.peers.dvcqg.as_mut().unwrap().policy.maintenance = Some(vec![MaintenanceWindowConfig {
            cron: "* * * * * *".into(),
            duration_minutes: 60,
        }]);
    })
    .await;
    let (d, _) = local_records(33, 3);
    app.post("dossiers", &json!(d)).await;
    let lane = app.lane("t", None);
    for _ in 0..3 {
        let outcome = lane.try_execute().await.unwrap();
        assert_eq!(held(&outcome), Some(Hold::Maintenance), "{outcome:?}");
        if let Outcome::Held { retry_in, .. } = outcome {
            // Windows that overlap are one pause: this one never ends.
            assert!(retry_in > Duration::from_secs(59 * 60), "{retry_in:?}");
        }
    }
    assert_eq!(dossier_calls(&app), 0);
    assert_eq!(attempts(&app).await, vec![0; 3]);
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 3);

    // Another peer's policy, or this one without the window, is not held.
    let mut open = app.config.policy_for("dvcqg");
    open.maintenance.clear();
    let lane = app.lane("t", Some(open));
    app.drain(&lane).await;
    assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 3);
}

#[tokio::test]
async fn a_running_lane_resumes_by_itself_when_the_window_ends() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |_| {}).await;
    let (d, _) = local_records(34, 2);
    app.post("dossiers", &json!(d)).await;
    // A one-hour window that began 3596 s ago (in Vietnam time): it ends in about 4 s.
    let vn = lienthong::time::vietnam();
    let start = (chrono::Utc::now().with_timezone(&vn) - chrono::Duration::seconds(3_596))
        .with_nanosecond(0)
        .unwrap();
    let end_ms = (start + chrono::Duration::minutes(60)).timestamp_millis();
    let mut policy = app.config.policy_for("dvcqg");
    policy.maintenance = vec![MaintenanceWindowConfig {
        cron: format!(
            "{} {} {} * * *",
            start.second(),
            start.minute(),
            start.hour()
        ),
        duration_minutes: 60,
    }];
    let lane = Arc::new(app.lane("t", Some(policy)));
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    spawn_lane(lane.clone(), 1, &tracker, &shutdown);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let calls = dossier_calls(&app);
        if now_ms() < end_ms {
            assert_eq!(calls, 0, "nothing sent during the window");
        }
        if app.count("DongBoHoSoMC", "delivered").await == 2 {
            assert!(now_ms() >= end_ms, "delivered only after the window");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lane did not resume after the window"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    assert_eq!(
        attempts(&app).await,
        vec![0, 0],
        "the window used no attempt"
    );
}

#[tokio::test]
async fn messages_past_max_age_are_dead_lettered_unsent_and_replay_sends_them() {
    for ts in stores().await {
        let app = spawn_app_with(ts, SimSettings::default(), |c| {
            c.peers.dvcqg.as_mut().unwrap().policy.max_age_hours = Some(72);
        })
        .await;
        let (d, _) = local_records(35, 2);
        let (old, young) = (&d[0], &d[1]);
        let hour = 3_600_000;
        enqueue(
            &app,
            "dvcqg",
            std::slice::from_ref(old),
            now_ms() - 100 * hour,
        )
        .await;
        app.post("dossiers", young).await;
        let lane = app.lane("t", None);
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Expired {
                items: 2,
                expired: 1
            }
        );
        assert_eq!(dossier_calls(&app), 0, "the batch was not sent");
        app.drain(&lane).await;
        let code = |v: &Value| v["MaHoSo"].as_str().unwrap().to_string();
        assert!(app.sim.events(&code(old)).is_empty(), "too old: never sent");
        assert_eq!(app.sim.events(&code(young)).len(), 1);
        let dead = app.store.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0].error.contains("max_age (72.0 h)") && dead[0].error.contains("100.0 h ago"),
            "{}",
            dead[0].error
        );
        assert_eq!(dead[0].dossier, code(old));

        // An operator's replay counts as accepting it again.
        assert_eq!(app.store.replay(&[dead[0].id], now_ms()).await.unwrap(), 1);
        app.drain(&lane).await;
        assert_eq!(app.sim.events(&code(old)).len(), 1);
        assert_eq!(app.count("DongBoHoSoMC", "delivered").await, 2);
    }
}

#[tokio::test]
async fn the_rate_limit_spreads_a_burst_of_batches() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        let dvcqg = c.peers.dvcqg.as_mut().unwrap();
        dvcqg.dossier_batch = 1;
        // Two at once, then one every 100 s.
        dvcqg.policy.rate_per_second = Some(0.01);
        dvcqg.policy.rate_burst = Some(2);
    })
    .await;
    let (d, _) = local_records(36, 5);
    app.post("dossiers", &json!(d)).await;
    let lane = app.lane("t", None);
    for _ in 0..2 {
        assert_eq!(
            lane.try_execute().await.unwrap(),
            Outcome::Sent {
                items: 1,
                delivered: 1
            }
        );
    }
    for _ in 0..3 {
        match lane.try_execute().await.unwrap() {
            Outcome::Held {
                reason: Hold::RateLimited,
                retry_in,
            } => assert!(retry_in > Duration::from_secs(50), "{retry_in:?}"),
            other => panic!("expected the rate limit, got {other:?}"),
        }
    }
    assert_eq!(dossier_calls(&app), 2);
    assert_eq!(app.count("DongBoHoSoMC", "pending").await, 3);
    assert_eq!(attempts(&app).await.iter().sum::<u32>(), 0);
    // The limit is the lane's: a lane with its own policy is not held by this one's bucket.
    let unlimited = lienthong::outbox::config::DeliveryConfig {
        rate_per_second: 0.0,
        ..lane.policy().clone()
    };
    let other = app.lane("u", Some(unlimited));
    app.drain(&other).await;
    assert_eq!(dossier_calls(&app), 5);
}

/// The portal adapter under another peer name, standing for a second peer (a commune
/// subscriber) with its own queue and lane.
struct Renamed {
    name: &'static str,
    inner: DvcqgPeer,
}

#[async_trait]
impl Peer for Renamed {
    fn name(&self) -> &str {
        self.name
    }
    fn max_batch(&self, operation: &str) -> usize {
        self.inner.max_batch(operation)
    }
    fn build_body(&self, operation: &str, is_update: bool, items: &[Value]) -> Value {
        self.inner.build_body(operation, is_update, items)
    }
    async fn send(&self, request_id: Uuid, operation: &str, body: &Value) -> BatchVerdict {
        self.inner.send(request_id, operation, body).await
    }
}

#[tokio::test]
async fn a_dead_peer_holds_back_only_its_own_lane() {
    let app = spawn_app_with(sqlite().await, SimSettings::default(), |c| {
        c.delivery.breaker_failures = 3;
        c.delivery.breaker_cool_down_seconds = 600;
    })
    .await;
    let (d, _) = local_records(37, 6);
    // The dead peer: nothing listens at its address.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let policy = app.config.policy_for("dvcqg");
    let mut dead_cfg = app.config.peers.dvcqg.clone().unwrap();
    dead_cfg.base_url = dead_base;
    let live_cfg = app.config.peers.dvcqg.clone().unwrap();
    let lane = |name: &'static str, cfg: &lienthong::peer::dvcqg::DvcqgConfig| {
        let peer = Renamed {
            name,
            inner: DvcqgPeer::new(cfg, policy.timeout()).unwrap(),
        };
        Arc::new(
            Lane::new(
                app.store.clone(),
                Arc::new(peer),
                vec!["DongBoHoSoMC".into()],
                policy.clone(),
                "t".into(),
                Arc::new(Notify::new()),
            )
            .unwrap(),
        )
    };
    let dead = lane("commune:xa-a", &dead_cfg);
    let live = lane("commune:xa-b", &live_cfg);
    enqueue(&app, "commune:xa-a", &d[..3], now_ms()).await;
    enqueue(&app, "commune:xa-b", &d[3..], now_ms()).await;

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    spawn_lane(dead.clone(), 2, &tracker, &shutdown);
    spawn_lane(live.clone(), 2, &tracker, &shutdown);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.count("DongBoHoSoMC", "delivered").await < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the live peer's lane was held back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the dead lane time to burn attempts, if its breaker did not stop it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;

    assert_eq!(dead.breaker_state(), BreakerState::Open);
    assert_eq!(live.breaker_state(), BreakerState::Closed);
    for _ in 0..3 {
        let outcome = dead.try_execute().await.unwrap();
        assert_eq!(held(&outcome), Some(Hold::BreakerOpen), "{outcome:?}");
    }
    let dead_msgs = app
        .store
        .list_messages(&MessageFilter {
            peer: Some("commune:xa-a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dead_msgs.len(), 3);
    assert!(
        dead_msgs
            .iter()
            .all(|m| m.state != "delivered" && m.state != "dead"),
        "{dead_msgs:?}"
    );
    // The three messages went as one batch; its three failures opened the breaker (a second
    // worker let in just before may have sent it once more), and nothing was sent after that.
    let burned = dead_msgs[0].attempts;
    assert!(
        (3..=4).contains(&burned) && dead_msgs.iter().all(|m| m.attempts == burned),
        "attempts burned: {dead_msgs:?}"
    );
    let code = |v: &Value| v["MaHoSo"].as_str().unwrap().to_string();
    for x in &d[3..] {
        assert_eq!(app.sim.events(&code(x)).len(), 1);
    }
}
