//! Leases and the scheduler's leader election, on both backends. Two schedulers share one store
//! and are driven turn by turn with a clock of the test's own, so the counts are exact: one
//! instance runs each tick, and the other takes over once the holder's lease has expired.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use lienthong::scheduler::{self, Job, Scheduler, LEADER_LEASE};
use lienthong::store::Store;
use tokio_util::sync::CancellationToken;

use crate::support::stores;

/// Which instance ran which tick.
type Runs = Arc<Mutex<Vec<(&'static str, DateTime<Utc>)>>>;

/// Records which instance ran which tick.
struct Recorder {
    who: &'static str,
    runs: Runs,
}

#[async_trait::async_trait]
impl Job for Recorder {
    async fn run(&self, tick: DateTime<Utc>) -> anyhow::Result<()> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.who, tick));
        Ok(())
    }
}

fn scheduler(store: Arc<dyn Store>, who: &'static str, ttl: Duration, runs: &Runs) -> Scheduler {
    let schedules: BTreeMap<String, String> =
        [("tick".to_string(), "* * * * * *".to_string())].into();
    let runs = runs.clone();
    Scheduler::new(store, who.to_string(), ttl, &schedules, move |name| {
        (name == "tick").then(|| {
            Arc::new(Recorder {
                who,
                runs: runs.clone(),
            }) as Arc<dyn Job>
        })
    })
    .expect("scheduler builds")
}

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + second, 0).unwrap()
}

/// Lets the jobs a turn spawned finish (a job still running at its next tick skips it).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn lease_statements_compare_and_set() {
    for ts in stores().await {
        let s = &ts.store;
        let ttl = Duration::from_secs(10);
        let t0 = 1_000_000;
        assert!(s.try_acquire_lease("x", "a", ttl, t0).await.unwrap());
        assert!(
            !s.try_acquire_lease("x", "b", ttl, t0 + 1).await.unwrap(),
            "{}: held by a",
            ts.name
        );
        assert!(!s.renew_lease("x", "b", ttl, t0 + 1).await.unwrap());
        assert!(s.renew_lease("x", "a", ttl, t0 + 5_000).await.unwrap());
        // a renewed at +5 s: still held at +14.999 s, free at +15 s.
        assert!(!s
            .try_acquire_lease("x", "b", ttl, t0 + 14_999)
            .await
            .unwrap());
        assert!(s
            .try_acquire_lease("x", "b", ttl, t0 + 15_000)
            .await
            .unwrap());
        assert!(
            !s.renew_lease("x", "a", ttl, t0 + 15_001).await.unwrap(),
            "{}: a lost it",
            ts.name
        );
        let lease = s.lease("x").await.unwrap().unwrap();
        assert_eq!((lease.holder.as_str(), lease.until_ms), ("b", t0 + 25_000));
        assert!(!s.release_lease("x", "a").await.unwrap());
        assert!(s.release_lease("x", "b").await.unwrap());
        assert!(s.lease("x").await.unwrap().is_none());
        assert!(s
            .try_acquire_lease("x", "a", ttl, t0 + 15_002)
            .await
            .unwrap());
        // An expired lease cannot be renewed, only taken again.
        assert!(!s.renew_lease("x", "a", ttl, t0 + 25_002).await.unwrap());
        assert!(s
            .try_acquire_lease("x", "a", ttl, t0 + 25_002)
            .await
            .unwrap());
    }
}

#[tokio::test]
async fn one_leader_runs_each_tick_and_another_takes_over_after_expiry() {
    for ts in stores().await {
        let runs: Runs = Arc::default();
        let ttl = Duration::from_secs(3);
        let mut a = scheduler(ts.store.clone(), "a", ttl, &runs);
        let mut b = scheduler(ts.store.clone(), "b", ttl, &runs);

        // Both take a turn every second; a came first and holds the lease.
        for s in 0..10 {
            let ran_a = a.turn(at(s)).await.unwrap();
            let ran_b = b.turn(at(s)).await.unwrap();
            settle().await;
            assert!(ran_b.is_empty(), "{}: b ran at {s}", ts.name);
            assert_eq!(ran_a.len(), usize::from(s > 0), "{}: a at {s}", ts.name);
            assert!(a.is_leader() && !b.is_leader());
        }
        // a dies: it stops taking turns. Its lease (renewed at 9 s) runs until 12 s.
        let mut took_over = None;
        for s in 10..20 {
            let ran = b.turn(at(s)).await.unwrap();
            settle().await;
            if b.is_leader() && took_over.is_none() {
                took_over = Some(s);
                assert!(
                    ran.is_empty(),
                    "the first tick is the one after taking over"
                );
            }
        }
        assert_eq!(
            took_over,
            Some(12),
            "{}: b took over when a's lease expired",
            ts.name
        );
        settle().await;

        let runs = runs.lock().unwrap().clone();
        let ticks: Vec<i64> = runs
            .iter()
            .map(|(_, t)| t.timestamp() - at(0).timestamp())
            .collect();
        let unique: BTreeSet<i64> = ticks.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ticks.len(),
            "{}: a tick ran twice: {runs:?}",
            ts.name
        );
        let by = |who| runs.iter().filter(|(w, _)| *w == who).count();
        assert_eq!(by("a"), 9, "{}: a ran ticks 1..=9", ts.name);
        assert_eq!(by("b"), 7, "{}: b ran ticks 13..=19", ts.name);
        assert_eq!(
            unique,
            (1..=9).chain(13..=19).collect(),
            "{}: ticks 10..=12 fell while nobody held the lease",
            ts.name
        );

        // b gives the lease up (graceful shutdown): a takes it at its next turn.
        assert!(ts.store.release_lease(LEADER_LEASE, "b").await.unwrap());
        a.turn(at(20)).await.unwrap();
        assert!(a.is_leader());
        b.turn(at(20)).await.unwrap();
        assert!(!b.is_leader(), "{}: b sees a holds it", ts.name);
    }
}

/// The same with the real clock and `Scheduler::run`: a leader that is killed (its task
/// aborted, the lease not given up) is replaced once its lease expires.
#[tokio::test]
async fn the_run_loop_hands_over_when_the_leader_dies() {
    for ts in stores().await {
        let runs: Runs = Arc::default();
        let ttl = Duration::from_millis(900);
        let a = scheduler(ts.store.clone(), "a", ttl, &runs);
        let stop = CancellationToken::new();
        let a_task = tokio::spawn(a.run(stop.clone()));
        // a runs at least one tick before b starts.
        wait_for(&runs, "a's first tick", |r| {
            r.iter().any(|(w, _)| *w == "a")
        })
        .await;
        let b = scheduler(ts.store.clone(), "b", ttl, &runs);
        let b_task = tokio::spawn(b.run(stop.clone()));
        a_task.abort();
        let _ = a_task.await;
        wait_for(&runs, "b to take over", |r| {
            r.iter().any(|(w, _)| *w == "b")
        })
        .await;
        stop.cancel();
        let _ = b_task.await;
        let runs = runs.lock().unwrap().clone();
        let ticks: BTreeSet<DateTime<Utc>> = runs.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            ticks.len(),
            runs.len(),
            "{}: a tick ran twice: {runs:?}",
            ts.name
        );
        // b stopped gracefully and gave the lease up.
        assert!(ts.store.lease(LEADER_LEASE).await.unwrap().is_none());
    }
}

async fn wait_for(
    runs: &Runs,
    what: &str,
    done: impl Fn(&[(&'static str, DateTime<Utc>)]) -> bool,
) {
    for _ in 0..500 {
        if done(&runs.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn unknown_jobs_are_reported() {
    let ts = crate::support::sqlite().await;
    let schedules: BTreeMap<String, String> = [
        ("tracking_poll".to_string(), "0 30 1 * * *".to_string()),
        ("outbox_stats".to_string(), "0 */5 * * * *".to_string()),
    ]
    .into();
    let store = ts.store.clone();
    let problems = Scheduler::new(
        ts.store.clone(),
        "a".into(),
        Duration::from_secs(60),
        &schedules,
        |n| scheduler::builtin_job(n, store.clone()),
    )
    .err()
    .expect("tracking_poll is not a job yet");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("schedules.tracking_poll: no job of that name"));
    for name in scheduler::JOB_NAMES {
        // The catalog's, the postal service's and reconciliation's jobs are registered by the
        // application, which
        // builds them.
        if *name == scheduler::CATALOG_PULL
            || *name == scheduler::POSTAL_POLL
            || *name == scheduler::RECONCILE
        {
            continue;
        }
        assert!(
            scheduler::builtin_job(name, ts.store.clone()).is_some(),
            "{name} is listed but not built"
        );
    }
}
