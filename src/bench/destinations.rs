//! `lienthong bench destinations`: one peer family of many destinations on one lane, one of
//! them dead: the commune subscribers, 300 by default, 50 procedures each (15,000 messages),
//! through the real lane, store and signed HTTP to the in-process subscriber simulator. Reports
//! how long the live destinations took to receive everything, the lane's rate, what the dead one
//! cost, and peak memory.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{mib, open_store, peak_rss_bytes, per_sec};
use crate::config::Config;
use crate::outbox::{spawn_lane, BreakerState};
use crate::peer::commune::{self, upsert_item_inline};
use crate::sim::commune::{self as sim, Availability};
use crate::store::{now_ms, NewMessage};

#[derive(Debug, Clone, clap::Args)]
pub struct DestinationsOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Destinations (commune subscribers).
    #[arg(long, default_value_t = 300)]
    pub destinations: usize,
    /// Procedures queued for each destination.
    #[arg(long, default_value_t = 50)]
    pub procedures: usize,
    /// How many of the destinations are dead (refuse every connection).
    #[arg(long, default_value_t = 1)]
    pub dead: usize,
    /// Lane workers.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// What `bench destinations` measured.
#[derive(Debug, Default)]
pub struct DestinationsReport {
    backend: String,
    destinations: usize,
    dead: usize,
    queued: usize,
    enqueue_time: Duration,
    /// Until every live destination held every procedure.
    live_time: Duration,
    live_messages: usize,
    dead_attempts: u64,
    dead_breaker: Option<BreakerState>,
    order_violations: u64,
    id_reuses: u64,
    peak_rss: Option<u64>,
    timed_out: bool,
}

impl DestinationsReport {
    pub fn complete(&self) -> bool {
        !self.timed_out && self.order_violations == 0 && self.id_reuses == 0
    }
}

pub async fn run(opts: &DestinationsOptions) -> anyhow::Result<DestinationsReport> {
    anyhow::ensure!(
        opts.destinations > opts.dead && opts.procedures > 0,
        "need at least one live destination and one procedure"
    );
    let bench_store = open_store(&opts.store, opts.concurrency as u32 + 4, None).await?;
    let outcome = measure(&bench_store, opts).await;
    let dropped = bench_store.finish().await;
    let report = outcome?;
    dropped?;
    Ok(report)
}

async fn measure(
    bench_store: &super::BenchStore,
    opts: &DestinationsOptions,
) -> anyhow::Result<DestinationsReport> {
    let store = bench_store.store.clone();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let communes = sim::numbered(opts.destinations, "bench-secret-");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(sim::serve(listener, communes.clone(), shutdown.clone()));
    let names = communes.names();
    let dead: Vec<String> = names.iter().rev().take(opts.dead).cloned().collect();
    for d in &dead {
        communes.set_availability(d, Availability::Refusing);
    }
    let cfg = Config::from_toml(&format!(
        "{}\n[peers.commune.policy]\nconcurrency = {}\ndestination_concurrency = 1\n\
         breaker_failures = 3\nbreaker_cool_down_seconds = 30\nbackoff_initial_ms = 200\n\
         backoff_cap_ms = 5000\ntimeout_ms = 5000\npoll_interval_ms = 50\n",
        sim::peers_toml(addr, &names, "bench-secret-"),
        opts.concurrency
    ))
    .map_err(|e| anyhow::anyhow!("bench config: {e}"))?;
    let built = cfg
        .peers
        .build(std::path::Path::new("."), |n| cfg.policy_for(n), &store)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .next()
        .context("no commune peer built")?;
    let mut report = DestinationsReport {
        backend: store.backend().to_string(),
        destinations: opts.destinations,
        dead: opts.dead,
        ..DestinationsReport::default()
    };

    // Queue: every procedure for every destination, a destination's procedures together, in
    // transactions of at most 2,000 messages.
    eprintln!(
        "queueing {} procedures for {} destinations…",
        opts.procedures, opts.destinations
    );
    let hash = format!("sha256:{}", "0".repeat(64));
    let mut messages = Vec::with_capacity(opts.destinations * opts.procedures);
    for name in &names {
        for p in 0..opts.procedures {
            let code = format!("1.{p:06}");
            let procedure = json!({
                "MATTHC": code,
                "TENTTHC": format!("Thủ tục hành chính số {p}"),
                "CAPTHUCHIEN": "3",
                "MALINHVUC": "G10",
            });
            let item = upsert_item_inline(procedure, 1, &hash, Utc::now())?;
            let mut m = NewMessage::new(commune::PEER_COMMUNE, commune::OP_UPSERT, code, item);
            m.destination = name.clone();
            messages.push(m);
        }
    }
    let started = Instant::now();
    for chunk in messages.chunks(2_000) {
        let mut tx = store.begin_write().await?;
        tx.enqueue(chunk, now_ms()).await?;
        tx.commit().await?;
    }
    report.enqueue_time = started.elapsed();
    report.queued = messages.len();
    drop(messages);

    let lane = Arc::new(built.lane(
        store.clone(),
        format!("bench-{}", std::process::id()),
        Arc::new(Notify::new()),
    )?);
    let tracker = TaskTracker::new();
    let live: Vec<String> = names
        .iter()
        .filter(|n| !dead.contains(n))
        .cloned()
        .collect();
    report.live_messages = live.len() * opts.procedures;
    eprintln!(
        "delivering: {} workers, {} live and {} dead destinations…",
        opts.concurrency,
        live.len(),
        dead.len()
    );
    let started = Instant::now();
    spawn_lane(lane.clone(), opts.concurrency, &tracker, &shutdown);
    let deadline = started + Duration::from_secs(opts.timeout_secs);
    loop {
        let applied: u64 = live
            .iter()
            .filter_map(|n| communes.record(n))
            .map(|r| r.applied)
            .sum();
        if applied as usize >= report.live_messages {
            break;
        }
        if Instant::now() > deadline {
            report.timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report.live_time = started.elapsed();
    report.dead_attempts = dead
        .iter()
        .filter_map(|n| communes.record(n))
        .map(|r| r.requests)
        .sum();
    report.dead_breaker = dead
        .first()
        .and_then(|d| lane.destination_state(d))
        .map(|(s, _)| s);
    let totals = communes.totals();
    report.order_violations = totals.order_violations;
    report.id_reuses = totals.id_reuses;
    report.peak_rss = peak_rss_bytes();
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(report)
}

impl fmt::Display for DestinationsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench destinations: {} store, {} destinations of one peer family ({} dead), one lane",
            self.backend, self.destinations, self.dead
        )?;
        writeln!(f, "| figure | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| messages queued | {} ({:.0} messages/s into the store) |",
            self.queued,
            per_sec(self.queued, self.enqueue_time)
        )?;
        writeln!(
            f,
            "| time until every live destination had everything | {:.2} s for {} messages{} |",
            self.live_time.as_secs_f64(),
            self.live_messages,
            if self.timed_out { " (TIMED OUT)" } else { "" }
        )?;
        writeln!(
            f,
            "| delivery rate to the live destinations | {:.0} messages/s |",
            per_sec(self.live_messages, self.live_time)
        )?;
        writeln!(
            f,
            "| requests the dead destination(s) cost meanwhile | {} (breaker: {}) |",
            self.dead_attempts,
            self.dead_breaker
                .map_or_else(|| "never tried".to_string(), |s| format!("{s:?}"))
        )?;
        writeln!(
            f,
            "| order violations / X-Request-ID reuses seen by the subscribers | {} / {} |",
            self.order_violations, self.id_reuses
        )?;
        writeln!(f, "| peak RSS | {} |", mib(self.peak_rss))
    }
}
