//! The daemon killed with SIGKILL at random moments, many times over, while records come in and
//! the portal misbehaves (errors, slow answers, dropped connections, expired sessions): on
//! SQLite one instance restarted after each kill; on PostgreSQL two instances, one of them
//! killed and restarted each time while the other goes on. At the end every accepted record is
//! at the portal, once, in order per dossier, and every repeat on the wire carried the
//! X-Request-ID it was first sent with.
//!
//! The short form runs in `cargo test`; `LIENTHONG_CRASH_KILLS=200` runs a long one (records
//! grow with the kills). `LIENTHONG_CRASH_SEED` picks other kill moments and faults.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong::sim::{FaultRates, SimSettings, Simulator};
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::daemons::{check_portal, chunks, post, until_applied, Chunk, Daemon};
use crate::support::{local_records, postgres};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every kind of fault the portal is known for, a few percent each.
fn faults() -> FaultRates {
    FaultRates {
        http503: 0.03,
        http429: 0.02,
        http500: 0.03,
        slow: 0.05,
        drop_before_apply: 0.03,
        drop_after_apply: 0.03,
        envelope_temporary: 0.02,
        item_temporary: 0.05,
        session_expiry: 0.03,
        slow_ms: 300,
        retry_after_secs: 1,
        retry_after_as_date: false,
    }
}

/// Posts every chunk, in order, to whichever instance answers; a request cut by a kill is sent
/// again under the same `Idempotency-Key` until it is accepted.
async fn feed(bases: Vec<String>, chunks: Vec<Chunk>, pace: Duration) {
    let client = reqwest::Client::new();
    let mut i = 0;
    for chunk in &chunks {
        let started = Instant::now();
        while !post(&client, &bases[i % bases.len()], chunk).await {
            i += 1;
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no instance accepted a chunk for two minutes"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        tokio::time::sleep(pace).await;
    }
}

async fn crash_loop(store_url: &str, backend: &str, instances: usize) {
    let kills = env_number("LIENTHONG_CRASH_KILLS", 20) as usize;
    let seed = env_number("LIENTHONG_CRASH_SEED", 2026);
    let dossiers = (kills * 5).max(60);
    let started = Instant::now();

    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let sim = Simulator::new(SimSettings {
        faults: faults(),
        seed,
        ..SimSettings::default()
    });
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_base = format!("http://{}", sim_listener.local_addr().unwrap());
    tokio::spawn(lienthong::sim::serve(
        sim_listener,
        sim.clone(),
        shutdown.clone(),
    ));

    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut daemons = Vec::new();
    for n in 0..instances {
        let d = Daemon::start(
            dir.path(),
            &format!("i{n}"),
            store_url,
            &sim_base,
            "lease_seconds = 1\nretry_after_cap_seconds = 1\nconcurrency = 2",
            "",
        );
        d.healthy(&client).await;
        daemons.push(d);
    }
    let daemons = Arc::new(Mutex::new(daemons));

    let (d, s) = local_records(seed, dossiers);
    let work = chunks(&d, &s, 3);
    // Spread the records over the kills (about 0.7 s each), so ingest is cut too.
    let pace = Duration::from_millis((kills as u64 * 700 / work.len() as u64).clamp(10, 200));
    let bases: Vec<String> = daemons
        .lock()
        .await
        .iter()
        .map(|d| d.base.clone())
        .collect();
    let feeder = tokio::spawn(feed(bases, work, pace));

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..900))).await;
        let mut daemons = daemons.lock().await;
        let victim = rng.gen_range(0..instances);
        daemons[victim].restart();
        daemons[victim].healthy(&client).await;
    }
    feeder.await.expect("every chunk accepted");
    let total = (d.len() + s.len()) as u64;
    until_applied(&sim, total, Duration::from_secs(180)).await;
    let stats = check_portal(&sim, &d, &s);
    drop(daemons);

    let faults: u64 = stats.faults_injected.values().sum();
    eprintln!(
        "crash loop, {backend}, {instances} instance(s): {kills} SIGKILLs (seed {seed}); {total} messages \
         ({} dossiers, {} steps) all at the portal once, in order; {} repeats absorbed by X-Request-ID; \
         {} portal requests, {faults} faults injected {:?}; {:.1} s",
        d.len(),
        s.len(),
        stats.duplicates_absorbed,
        stats.requests,
        stats.faults_injected,
        started.elapsed().as_secs_f64(),
    );
}

#[tokio::test]
async fn sigkill_loop_with_faults_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lienthong.db").display());
    crash_loop(&url, "sqlite", 1).await;
}

#[tokio::test]
async fn sigkill_loop_with_faults_two_instances_on_postgres() {
    let Some(pg) = postgres().await else {
        return;
    };
    crash_loop(&pg.url(), "postgres", 2).await;
}
