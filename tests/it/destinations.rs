//! Many destinations of one peer family on one lane: the commune subscribers. A dead
//! destination delays no other (its breaker, back-off and pause are its own), and catches up in
//! order by itself when it answers again; on every backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lienthong::config::Config;
use lienthong::outbox::{spawn_lane, BreakerState, Lane};
use lienthong::peer::commune::{self, upsert_item_inline};
use lienthong::sim::commune::{self as sim, Availability};
use lienthong::store::{now_ms, NewMessage, Store};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::support::stores;

const SUBSCRIBERS: usize = 5;
const PROCEDURES: usize = 12;
const DEAD: &str = "xa-0003";

/// Queues version `version` of every procedure for every subscriber, in one transaction.
async fn queue(store: &dyn Store, names: &[String], version: u64) {
    let mut messages = Vec::new();
    for name in names {
        for p in 0..PROCEDURES {
            let code = format!("1.{p:06}");
            let procedure =
                json!({ "MATTHC": code, "TENTTHC": format!("Thủ tục {p}"), "v": version });
            let item = upsert_item_inline(
                procedure,
                version,
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

async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_dead_destination_delays_no_other_and_catches_up_in_order() {
    for ts in stores().await {
        let name = ts.name;
        let shutdown = CancellationToken::new();
        let _stop = shutdown.clone().drop_guard();
        let communes = sim::numbered(SUBSCRIBERS, "secret-");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(sim::serve(listener, communes.clone(), shutdown.clone()));
        let names = communes.names();
        let cfg = Config::from_toml(&format!(
            "{}\n[peers.commune.policy]\nconcurrency = 4\ndestination_concurrency = 1\n\
             breaker_failures = 2\nbreaker_cool_down_seconds = 1\nbackoff_initial_ms = 50\n\
             backoff_cap_ms = 400\ntimeout_ms = 2000\npoll_interval_ms = 50\n",
            sim::peers_toml(addr, &names, "secret-")
        ))
        .unwrap();
        assert_eq!(cfg.check(std::path::Path::new(".")), Vec::<String>::new());
        let built = cfg
            .peers
            .build(std::path::Path::new("."), |n| cfg.policy_for(n), &ts.store)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        communes.set_availability(DEAD, Availability::Refusing);
        queue(&*ts.store, &names, 1).await;

        let wake = Arc::new(Notify::new());
        let lane = Arc::new(
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
                "one".into(),
                wake,
            )
            .unwrap(),
        );
        let tracker = TaskTracker::new();
        spawn_lane(lane.clone(), built.policy.concurrency, &tracker, &shutdown);

        // Every live subscriber gets every procedure while the dead one refuses.
        let live: Vec<String> = names.iter().filter(|n| *n != DEAD).cloned().collect();
        until(
            &format!("{name}: live subscribers served"),
            Duration::from_secs(30),
            || live.iter().all(|n| communes.catalog(n).len() == PROCEDURES),
        )
        .await;
        // Its batches fail (all its procedures in one claim, back-off between tries) until its
        // breaker opens after `breaker_failures` of them.
        until(
            &format!("{name}: the dead one's breaker opens"),
            Duration::from_secs(30),
            || {
                lane.destination_state(DEAD)
                    .is_some_and(|(s, _)| s != BreakerState::Closed)
            },
        )
        .await;
        let dead = communes.record(DEAD).unwrap();
        assert_eq!(dead.applied, 0, "{name}");
        assert!(dead.unavailable >= 2, "{name}: the dead one was tried");
        let (state, paused) = lane.destination_state(DEAD).expect("tried");
        assert_ne!(state, BreakerState::Closed, "{name}: its breaker opened");
        assert!(!paused, "{name}");
        for n in &live {
            assert_eq!(
                lane.destination_state(n).map(|(s, _)| s),
                Some(BreakerState::Closed),
                "{name}: {n}'s breaker is its own"
            );
        }

        // A second version while the dead one is still down, then it comes back: it gets the
        // first and second versions in order, the others the second.
        queue(&*ts.store, &names, 2).await;
        until(
            &format!("{name}: live subscribers get v2"),
            Duration::from_secs(30),
            || {
                live.iter()
                    .all(|n| communes.catalog(n).values().all(|a| a.version == 2))
            },
        )
        .await;
        communes.set_availability(DEAD, Availability::Up);
        until(
            &format!("{name}: the dead one catches up"),
            Duration::from_secs(30),
            || {
                let c = communes.catalog(DEAD);
                c.len() == PROCEDURES && c.values().all(|a| a.version == 2)
            },
        )
        .await;
        let totals = communes.totals();
        assert_eq!(totals.order_violations, 0, "{name}");
        assert_eq!(totals.id_reuses, 0, "{name}");
        assert_eq!(totals.unauthorized, 0, "{name}");
        assert_eq!(
            totals.applied as usize,
            SUBSCRIBERS * PROCEDURES * 2,
            "{name}"
        );
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
    }
}
