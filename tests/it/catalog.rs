//! The procedure catalog end to end, on every backend: pulled from the simulated portal over
//! real sockets, versioned by the RFC 8785 hash, and fanned out through the outbox to
//! simulated commune subscribers that check signatures and version order.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong::catalog::{Catalog, PullOptions, PullOutcome, Quiet};
use lienthong::config::Config;
use lienthong::outbox::{spawn_lane, Lane};
use lienthong::sim::commune::{self as communes, Availability, CommuneSim};
use lienthong::sim::{SimSettings, Simulator};
use lienthong::store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::support::{promtool, stores, TestStore};

/// Procedures the simulated portal lists in these tests.
const PROCEDURES: usize = 60;

/// A simulated portal and commune subscribers, and the gateway's config pointing at them.
struct Rig {
    portal: Simulator,
    communes: CommuneSim,
    config: Config,
    shutdown: CancellationToken,
    ts: TestStore,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `extra` is appended to the config (filters, policy, `[catalog]` keys).
async fn rig(ts: TestStore, subscribers: usize, extra: &str) -> Rig {
    let shutdown = CancellationToken::new();
    let settings = SimSettings {
        procedures: PROCEDURES,
        ..SimSettings::default()
    };
    let portal = Simulator::new(settings.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let portal_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        listener,
        portal.clone(),
        shutdown.clone(),
    ));
    let communes = communes::numbered(subscribers, "secret-");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(communes::serve(
        listener,
        communes.clone(),
        shutdown.clone(),
    ));
    let text = format!(
        r#"
[peers.dvcqg]
base_url = "{portal_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
[catalog]
record_every = 5
rate_per_second = 0
concurrency = 4
read_tries = 2
{subs}
[peers.commune.policy]
concurrency = 8
breaker_failures = 2
breaker_cool_down_seconds = 1
backoff_initial_ms = 20
backoff_cap_ms = 200
timeout_ms = 2000
poll_interval_ms = 50
{extra}
"#,
        dst = settings.dstcode,
        user = settings.username,
        pass = settings.password,
        subs = communes::peers_toml(addr, &communes.names(), "secret-"),
    );
    let config = Config::from_toml(&text).expect("config");
    assert_eq!(config.check(Path::new(".")), Vec::<String>::new());
    Rig {
        portal,
        communes,
        config,
        shutdown,
        ts,
    }
}

impl Rig {
    fn store(&self) -> Arc<dyn Store> {
        self.ts.store.clone()
    }

    fn catalog(&self) -> Catalog {
        Catalog::from_config(
            self.store(),
            &self.config.peers,
            &self.config.catalog,
            |n| self.config.policy_for(n),
        )
        .expect("catalog")
    }

    async fn pull(&self) -> PullOutcome {
        self.catalog()
            .pull(PullOptions::default(), &Quiet)
            .await
            .expect("pull")
    }

    /// Starts the commune family's lane; it stops with the returned token.
    fn lane(&self) -> (Arc<Lane>, CancellationToken, TaskTracker) {
        let built = self
            .config
            .peers
            .build(Path::new("."), |n| self.config.policy_for(n), &self.store())
            .unwrap()
            .into_iter()
            .find(|b| b.family.name == "commune")
            .expect("commune family");
        let lane = Arc::new(
            built
                .lane(
                    self.store(),
                    format!("lane-{}", uuid::Uuid::new_v4().simple()),
                    Arc::new(Notify::new()),
                )
                .unwrap(),
        );
        let stop = self.shutdown.child_token();
        let tracker = TaskTracker::new();
        spawn_lane(lane.clone(), built.policy.concurrency, &tracker, &stop);
        (lane, stop, tracker)
    }
}

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn published(outcome: PullOutcome) -> lienthong::store::CatalogPull {
    match outcome {
        PullOutcome::Published { pull, .. } => pull,
        PullOutcome::Held { pull } => panic!("held: {:?}", pull.note),
    }
}

#[tokio::test]
async fn every_change_is_one_version_and_nothing_else_is() {
    for ts in stores().await {
        let name = ts.name;
        let rig = rig(ts, 1, "").await;
        let codes = rig.portal.catalog().codes();
        let first = published(rig.pull().await);
        assert_eq!(
            (first.added, first.changed, first.withdrawn),
            (PROCEDURES as i64, 0, 0),
            "{name}"
        );
        let catalog = rig.catalog();

        // A fee changes: one new version. A key-order change: none.
        let (fee, reordered, withdrawn, missing) = (&codes[0], &codes[1], &codes[2], &codes[3]);
        assert!(rig.portal.catalog().change(fee));
        assert!(rig.portal.catalog().reorder_keys(reordered));
        let second = published(rig.pull().await);
        assert_eq!(
            (
                second.added,
                second.changed,
                second.withdrawn,
                second.unchanged
            ),
            (0, 1, 0, PROCEDURES as i64 - 1),
            "{name}"
        );
        let history = catalog.history(fee).await.unwrap();
        assert_eq!(
            history.iter().map(|v| v.version).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(catalog.history(reordered).await.unwrap().len(), 1, "{name}");
        // The diff names the field that changed.
        let changes = catalog.diff(second.started_at, 100).await.unwrap();
        assert_eq!(changes.len(), 1, "{name}");
        assert_eq!(&changes[0].version.code, fee);
        assert!(!changes[0].fields.is_empty(), "{name}");
        // Stored as the portal sent it: `show` gives the object the portal answers now.
        let (v, object) = catalog.show(fee, None).await.unwrap();
        assert_eq!(v.version, 2);
        assert_eq!(object, rig.portal.catalog().procedure(fee), "{name}");
        let (_, old) = catalog.show(fee, Some(1)).await.unwrap();
        assert_ne!(old, object, "{name}: version 1 is kept");

        // Withdrawn in the list, and gone from it: the next version each; then one returns.
        assert!(rig.portal.catalog().withdraw(withdrawn));
        assert!(rig.portal.catalog().remove(missing));
        let third = published(rig.pull().await);
        assert_eq!((third.withdrawn, third.changed), (2, 0), "{name}");
        let h = catalog.history(missing).await.unwrap();
        assert_eq!((h[0].version, h[0].in_force), (2, false), "{name}");
        assert_eq!(h[0].reason, "withdrawn: missing from the list");
        assert!(rig.portal.catalog().restore(withdrawn));
        let fourth = published(rig.pull().await);
        assert_eq!((fourth.returned, fourth.withdrawn), (1, 0), "{name}");
        let h = catalog.history(withdrawn).await.unwrap();
        assert_eq!(
            h.iter()
                .map(|v| (v.version, v.in_force))
                .collect::<Vec<_>>(),
            vec![(3, true), (2, false), (1, true)],
            "{name}"
        );
        // Nothing changed: nothing published.
        let fifth = published(rig.pull().await);
        assert_eq!(
            fifth.added + fifth.changed + fifth.withdrawn + fifth.returned,
            0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_pull_cut_half_way_resumes_and_never_publishes_half_a_catalog() {
    for ts in stores().await {
        let name = ts.name;
        let rig = rig(ts, 1, "").await;
        rig.portal.catalog().fail_procedure_calls_after(Some(23));
        let err = rig
            .catalog()
            .pull(PullOptions::default(), &Quiet)
            .await
            .expect_err("cut half-way");
        assert!(err.to_string().contains("resumes"), "{name}: {err}");
        let (counts, pulls) = rig.catalog().overview().await.unwrap();
        assert_eq!(counts.in_force, 0, "{name}: nothing published");
        assert_eq!(pulls[0].state, "running", "{name}");
        assert!(pulls[0].fetched >= 15, "{name}: {}", pulls[0].fetched);
        let fetched_before = pulls[0].fetched as usize;

        rig.portal.catalog().fail_procedure_calls_after(None);
        let calls_before = rig.portal.catalog().procedure_calls();
        let pull = published(rig.pull().await);
        assert_eq!(pull.id, pulls[0].id, "{name}: the same pull, resumed");
        assert_eq!(pull.added, PROCEDURES as i64, "{name}");
        let refetched = rig.portal.catalog().procedure_calls() - calls_before;
        assert_eq!(
            refetched as usize,
            PROCEDURES - fetched_before,
            "{name}: only what was missing"
        );
    }
}

#[tokio::test]
async fn a_list_that_shrinks_too_much_is_held_for_an_operator() {
    for ts in stores().await {
        let name = ts.name;
        let mut rig = rig(ts, 1, "").await;
        rig.config.catalog.max_shrink = 0.2;
        published(rig.pull().await);
        let gone = rig.portal.catalog().remove_many(PROCEDURES / 2);
        assert_eq!(gone.len(), PROCEDURES / 2);
        match rig.pull().await {
            PullOutcome::Held { pull } => {
                assert!(pull.note.unwrap_or_default().contains("30 of 60"), "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
        let (counts, _) = rig.catalog().overview().await.unwrap();
        assert_eq!(
            counts.in_force, PROCEDURES as i64,
            "{name}: nothing withdrawn"
        );
        // Asked again without the operator's word: still held.
        assert!(
            matches!(rig.pull().await, PullOutcome::Held { .. }),
            "{name}"
        );
        let accepted = rig
            .catalog()
            .pull(
                PullOptions {
                    accept_shrink: true,
                },
                &Quiet,
            )
            .await
            .unwrap();
        let pull = published(accepted);
        assert_eq!(pull.withdrawn, (PROCEDURES / 2) as i64, "{name}");
    }
}

#[tokio::test]
async fn a_subscriber_that_was_down_gets_only_the_latest_versions_in_order() {
    for ts in stores().await {
        let name = ts.name;
        let rig = rig(ts, 3, "").await;
        let names = rig.communes.names();
        let down = names[1].clone();
        rig.communes.set_availability(&down, Availability::Refusing);
        let (lane, stop, tracker) = rig.lane();
        published(rig.pull().await);
        let live: Vec<&String> = names.iter().filter(|n| **n != down).collect();
        until(
            &format!("{name}: live ones get v1"),
            Duration::from_secs(30),
            || {
                live.iter()
                    .all(|n| rig.communes.catalog(n).len() == PROCEDURES)
            },
        )
        .await;
        until(
            &format!("{name}: the down one's breaker opens"),
            Duration::from_secs(10),
            || {
                lane.destination_state(&down)
                    .is_some_and(|(s, _)| s != lienthong::outbox::BreakerState::Closed)
            },
        )
        .await;
        // The lane stops, so no try of the down one is in flight while versions are published.
        stop.cancel();
        tracker.close();
        tracker.wait().await;

        let codes = rig.portal.catalog().codes();
        let changed = &codes[5];
        let withdrawn = &codes[6];
        for _ in 0..2 {
            assert!(rig.portal.catalog().change(changed));
            published(rig.pull().await);
        }
        assert!(rig.portal.catalog().withdraw(withdrawn));
        published(rig.pull().await);

        // What operators see meanwhile: the down one is behind by every procedure, failing, and
        // (past catalog.down_after_seconds) down; the others are up to date.
        let mut watching = rig.config.catalog.clone();
        watching.down_after_seconds = 1;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let states = Catalog::from_config(rig.store(), &rig.config.peers, &watching, |n| {
            rig.config.policy_for(n)
        })
        .unwrap()
        .subscriber_states()
        .await
        .unwrap();
        let state = |n: &str| states.iter().find(|s| s.name == n).expect("listed").clone();
        let d = state(&down);
        assert_eq!(d.behind, PROCEDURES as i64, "{name}: {d:?}");
        assert!(
            d.down && d.failing_since_ms.is_some() && d.last_success_ms.is_none(),
            "{name}: {d:?}"
        );
        assert!(
            d.last_error.as_deref().is_some_and(|e| !e.is_empty()),
            "{name}: {d:?}"
        );
        let l = state(live[0]);
        assert!(
            !l.down && l.last_success_ms.is_some() && l.failing_since_ms.is_none(),
            "{name}: {l:?}"
        );
        assert_eq!(
            l.behind, 2,
            "{name}: the two versions published while the lane was stopped"
        );

        rig.communes.set_availability(&down, Availability::Up);
        let (_lane, stop, tracker) = rig.lane();
        until(
            &format!("{name}: everyone has the latest"),
            Duration::from_secs(30),
            || {
                names.iter().all(|n| {
                    let c = rig.communes.catalog(n);
                    c.get(changed).is_some_and(|a| a.version == 3)
                        && c.get(withdrawn).is_some_and(|a| a.withdrawn)
                        && c.len() == PROCEDURES
                })
            },
        )
        .await;
        // The one that was down saw each procedure once: its latest version only.
        let history = rig.communes.history(&down);
        let of = |code: &String| -> Vec<u64> {
            history
                .iter()
                .filter(|h| &h.code == code)
                .map(|h| h.version)
                .collect()
        };
        assert_eq!(of(changed), vec![3], "{name}");
        assert_eq!(of(withdrawn), vec![2], "{name}");
        assert_eq!(
            history.len(),
            PROCEDURES,
            "{name}: one message per procedure"
        );
        // The live ones too got only what was latest when they were sent to (the lane was
        // stopped while versions 2 and 3 were published): in order, ending with the latest.
        let h = rig.communes.history(live[0]);
        assert_eq!(
            h.iter()
                .filter(|e| &e.code == changed)
                .map(|e| e.version)
                .collect::<Vec<_>>(),
            vec![1, 3],
            "{name}"
        );
        let totals = rig.communes.totals();
        assert_eq!(totals.order_violations, 0, "{name}");
        assert_eq!(totals.unauthorized, 0, "{name}");
        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

#[tokio::test]
async fn a_bad_signature_pauses_that_subscriber_only_and_changes_nothing_there() {
    for ts in stores().await {
        let name = ts.name;
        // The second subscriber is configured with a secret it does not share.
        let mut rig = rig(ts, 2, "").await;
        let names = rig.communes.names();
        if let Some(c) = rig.config.peers.commune.as_mut() {
            c.subscribers[1].secret = Some("not-the-secret".to_string().into());
        }
        let (lane, stop, tracker) = rig.lane();
        published(rig.pull().await);
        until(
            &format!("{name}: the good one is served"),
            Duration::from_secs(30),
            || rig.communes.catalog(&names[0]).len() == PROCEDURES,
        )
        .await;
        until(
            &format!("{name}: the bad one is paused"),
            Duration::from_secs(10),
            || {
                lane.destination_state(&names[1])
                    .is_some_and(|(_, paused)| paused)
            },
        )
        .await;
        let bad = rig.communes.record(&names[1]).unwrap();
        assert_eq!(bad.applied, 0, "{name}: a bad signature changes nothing");
        assert!(bad.unauthorized >= 1, "{name}");
        // Paused after the first refusal: not one try per procedure.
        assert!(
            bad.unauthorized <= 8,
            "{name}: {} refusals",
            bad.unauthorized
        );
        assert_eq!(
            lane.destination_state(&names[0]).map(|(_, p)| p),
            Some(false),
            "{name}"
        );
        // The good subscriber's success is recorded when its answer is settled, just after
        // the subscriber applied the last procedure: wait for it (bounded).
        let started = std::time::Instant::now();
        let states = loop {
            let states = rig.catalog().subscriber_states().await.unwrap();
            if states[0].last_success_ms.is_some() || started.elapsed() > Duration::from_secs(10) {
                break states;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(states[1].paused, "{name}: {:?}", states[1]);
        assert!(
            states[1]
                .paused_reason
                .as_deref()
                .is_some_and(|r| !r.contains("not-the-secret")),
            "{name}: the reason names no secret"
        );
        assert!(
            !states[0].paused && states[0].last_success_ms.is_some(),
            "{name}"
        );
        // No try was burnt on the refused ones: their messages still have all their attempts.
        let dead: i64 = rig
            .store()
            .outbox_counts()
            .await
            .unwrap()
            .iter()
            .filter(|c| c.state == "dead")
            .map(|c| c.count)
            .sum();
        assert_eq!(dead, 0, "{name}");
        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

#[tokio::test]
async fn filters_choose_what_each_subscriber_gets_and_resend_sends_it_all_again() {
    for ts in stores().await {
        let name = ts.name;
        let mut rig = rig(ts, 2, "").await;
        let names = rig.communes.names();
        if let Some(c) = rig.config.peers.commune.as_mut() {
            c.subscribers[1].filter.levels = vec!["4".into()];
        }
        let (_lane, stop, tracker) = rig.lane();
        published(rig.pull().await);
        let commune_level: Vec<String> = rig
            .portal
            .catalog()
            .codes()
            .into_iter()
            .filter(|c| {
                rig.portal.catalog().procedure(c).is_some_and(|p| {
                    p["CAPTHUCHIEN"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|e| e["CAPTHUCHIEN"] == "4"))
                })
            })
            .collect();
        assert!(
            !commune_level.is_empty() && commune_level.len() < PROCEDURES,
            "{name}: the generated catalog has procedures of several levels"
        );
        until(
            &format!("{name}: both served"),
            Duration::from_secs(30),
            || {
                rig.communes.catalog(&names[0]).len() == PROCEDURES
                    && rig.communes.catalog(&names[1]).len() == commune_level.len()
            },
        )
        .await;
        let got: Vec<String> = rig.communes.catalog(&names[1]).keys().cloned().collect();
        let mut want = commune_level.clone();
        want.sort();
        assert_eq!(got, want, "{name}: only commune-level procedures");

        // Resend: every procedure the filter takes, queued again; the subscriber already has
        // them, answers 409, and that counts as done.
        let conflicts_before = rig.communes.record(&names[1]).unwrap().conflicts;
        let queued = rig.catalog().resend(&names[1]).await.unwrap();
        assert_eq!(queued, commune_level.len(), "{name}");
        until(
            &format!("{name}: resend answered"),
            Duration::from_secs(30),
            || {
                rig.communes.record(&names[1]).unwrap().conflicts
                    >= conflicts_before + commune_level.len() as u64
            },
        )
        .await;
        assert!(rig.catalog().resend("nobody").await.is_err(), "{name}");
        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

#[tokio::test]
async fn a_subscriber_added_later_is_sent_the_whole_catalog_once() {
    for ts in stores().await {
        let name = ts.name;
        let rig = rig(ts, 2, "").await;
        let names = rig.communes.names();
        // First only the first subscriber is configured.
        let mut only_first = rig.config.clone();
        if let Some(c) = only_first.peers.commune.as_mut() {
            c.subscribers.truncate(1);
        }
        let first =
            Catalog::from_config(rig.store(), &only_first.peers, &only_first.catalog, |n| {
                only_first.policy_for(n)
            })
            .unwrap();
        published(first.pull(PullOptions::default(), &Quiet).await.unwrap());
        // Then both: the new one is sent everything by the next fan-out, the old one nothing.
        let (_lane, stop, tracker) = rig.lane();
        rig.catalog().fan_out_pending().await.unwrap();
        until(
            &format!("{name}: the new one is seeded"),
            Duration::from_secs(30),
            || {
                rig.communes.catalog(&names[1]).len() == PROCEDURES
                    && rig.communes.catalog(&names[0]).len() == PROCEDURES
            },
        )
        .await;
        rig.catalog().fan_out_pending().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let totals = rig.communes.totals();
        assert_eq!(totals.applied as usize, 2 * PROCEDURES, "{name}: once each");
        stop.cancel();
        tracker.close();
        tracker.wait().await;
    }
}

#[tokio::test]
async fn a_pull_killed_half_way_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut stores: Vec<(TestStore, String)> = vec![crate::support::sqlite_in(dir.path()).await];
    if let Some(pg) = crate::support::postgres().await {
        let url = pg.url();
        stores.push((pg, url));
    }
    for (ts, url) in stores {
        let name = ts.name;
        // Slow enough to be killed in the middle: 60 procedures at 20 per second.
        let rig = rig(ts, 1, "").await;
        let portal_base = rig
            .config
            .peers
            .dvcqg
            .as_ref()
            .map(|d| d.base_url.clone())
            .unwrap();
        let settings = SimSettings::default();
        let config = dir.path().join(format!("catalog-{name}.toml"));
        std::fs::write(
            &config,
            format!(
                r#"
[store]
url = "{url}"
[peers.dvcqg]
base_url = "{portal_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
[catalog]
record_every = 5
rate_per_second = 20
concurrency = 2
"#,
                dst = settings.dstcode,
                user = settings.username,
                pass = settings.password,
            ),
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args(["catalog", "pull", "--config"])
            .arg(&config)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start lienthong catalog pull");
        until(
            &format!("{name}: some procedures recorded"),
            Duration::from_secs(30),
            || rig.portal.catalog().procedure_calls() >= 20,
        )
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let (counts, pulls) = rig.catalog().overview().await.unwrap();
        assert_eq!(
            counts.in_force, 0,
            "{name}: nothing published by the killed pull"
        );
        assert_eq!(pulls[0].state, "running", "{name}");
        let recorded = pulls[0].fetched as usize;
        assert!(
            (15..PROCEDURES).contains(&recorded),
            "{name}: {recorded} recorded"
        );
        let calls = rig.portal.catalog().procedure_calls();
        let pull = published(rig.pull().await);
        assert_eq!(pull.id, pulls[0].id, "{name}: the killed pull, resumed");
        assert_eq!(pull.added, PROCEDURES as i64, "{name}");
        assert_eq!(
            (rig.portal.catalog().procedure_calls() - calls) as usize,
            PROCEDURES - recorded,
            "{name}: what was recorded is not fetched again"
        );
    }
}

#[tokio::test]
async fn the_daemon_pulls_on_its_schedule_and_shows_the_catalog_to_operators() {
    for ts in stores().await {
        let name = ts.name;
        let mut rig = rig(ts, 2, "").await;
        rig.config
            .schedules
            .insert("catalog_pull".into(), "*/2 * * * * *".into());
        rig.config.server.admin_token = Some("admin-secret".to_string().into());
        let gateway =
            lienthong::app::Gateway::build_with_store(&rig.config, Path::new("."), rig.store())
                .expect("gateway");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(gateway.run(listener, rig.shutdown.child_token()));
        let names = rig.communes.names();
        until(
            &format!("{name}: the scheduled pull reaches the subscribers"),
            Duration::from_secs(60),
            || {
                names
                    .iter()
                    .all(|n| rig.communes.catalog(n).len() == PROCEDURES)
            },
        )
        .await;

        let client = reqwest::Client::new();
        let get = |path: &str| {
            client
                .get(format!("{base}{path}"))
                .bearer_auth("admin-secret")
                .send()
        };
        let overview: serde_json::Value =
            get("/admin/catalog").await.unwrap().json().await.unwrap();
        assert_eq!(
            overview["procedures"]["in_force"], PROCEDURES as i64,
            "{name}"
        );
        assert_eq!(overview["pulls"][0]["state"], "published", "{name}");
        let subscribers = overview["subscribers"].as_array().expect("subscribers");
        assert_eq!(subscribers.len(), 2, "{name}");
        assert!(subscribers.iter().all(|s| s["down"] == false), "{name}");
        let code = rig.portal.catalog().codes()[0].clone();
        let procedure: serde_json::Value = get(&format!("/admin/catalog/procedures/{code}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(procedure["versions"][0]["version"], 1, "{name}");
        assert_eq!(procedure["procedure"]["MATTHC"], code.as_str(), "{name}");
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains(&format!(
                "lienthong_catalog_procedures{{state=\"in_force\"}} {PROCEDURES}"
            )),
            "{name}: {metrics}"
        );
        assert!(
            metrics.contains("lienthong_catalog_subscriber_behind{subscriber=\""),
            "{name}"
        );
        // Prometheus reads it, and every metric the example alert rules use is served.
        if let Some((ok, said)) = promtool(&["check", "metrics"], Some(&metrics)) {
            assert!(ok, "{name}: promtool check metrics: {said}");
        }
        let rules = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/alerts.yml"),
        )
        .unwrap();
        let used: std::collections::BTreeSet<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("lienthong_"))
            .collect();
        assert!(used.len() >= 5, "{name}: {used:?}");
        // Per-source metrics need a source, which this gateway has not: `quarantine.rs` checks
        // them on one that has; those of a pause need a pause: `pause.rs` checks them; a client
        // certificate's expiry needs one (`tls.rs`).
        for metric in used
            .into_iter()
            .filter(|m| {
                !crate::quarantine::PER_SOURCE.contains(m) && !crate::pause::PER_PAUSE.contains(m)
            })
            .filter(|m| *m != "lienthong_tls_certificate_expiry_seconds")
        {
            assert!(
                metrics.contains(&format!("\n{metric}{{"))
                    || metrics.contains(&format!("\n{metric} ")),
                "{name}: deploy/alerts.yml uses {metric}, which /metrics does not serve"
            );
        }
        // Without the token: nothing.
        let refused = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{name}");
        let resend = client
            .post(format!("{base}/admin/catalog/resend"))
            .bearer_auth("admin-secret")
            .json(&serde_json::json!({"subscriber": names[0]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resend.status(), 200, "{name}");
        let body: serde_json::Value = resend.json().await.unwrap();
        assert_eq!(body["queued"], PROCEDURES as i64, "{name}");
    }
}
