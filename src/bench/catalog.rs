//! `lienthong bench catalog`: the procedure catalog against the in-process simulators, over
//! real sockets: a full pull of the portal's catalog (2,000 procedures), the diff of an
//! unchanged catalog (the comparison and write of a pull in which nothing changed), and the
//! fan-out of a change of 50 procedures to 300 subscribers (15,000 messages) with one of them
//! down, through the real commune lane. Peak memory at the end.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{mib, open_store, peak_rss_bytes, per_sec};
use crate::catalog::{Catalog, PullOptions, PullOutcome, PullTimings, Quiet};
use crate::config::Config;
use crate::outbox::spawn_lane;
use crate::sim::commune::{self as communes, Availability};
use crate::sim::{SimSettings, Simulator};
use crate::store::CatalogVersion;

#[derive(Debug, Clone, clap::Args)]
pub struct CatalogOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Procedures in the portal's catalog.
    #[arg(long, default_value_t = 2_000)]
    pub procedures: usize,
    /// Commune subscribers.
    #[arg(long, default_value_t = 300)]
    pub subscribers: usize,
    /// Procedures changed before the fan-out.
    #[arg(long, default_value_t = 50)]
    pub change: usize,
    /// Subscribers down during the fan-out.
    #[arg(long, default_value_t = 1)]
    pub down: usize,
    /// `LayThuTuc` calls in flight during the pull.
    #[arg(long, default_value_t = 8)]
    pub pull_concurrency: usize,
    /// Commune lane workers.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Start from a copy of this store instead of an empty one: a SQLite file (with `--store
    /// sqlite`) or a PostgreSQL database name on the `--store` server (see `bench prefill`).
    #[arg(long)]
    pub template: Option<String>,
}

/// What `bench catalog` measured.
#[derive(Debug, Default)]
pub struct CatalogReport {
    backend: String,
    /// The template the store was copied from, and how many messages it held at the start.
    template: Option<String>,
    start_messages: i64,
    procedures: usize,
    full_pull: Duration,
    full_timings: PullTimings,
    unchanged_pull: Duration,
    unchanged_timings: PullTimings,
    unchanged_versions: i64,
    change_pull: Duration,
    change_timings: PullTimings,
    changed: i64,
    subscribers: usize,
    down: usize,
    fan_out_messages: usize,
    /// From the start of the change's publication until every live subscriber held it.
    live_time: Duration,
    order_violations: u64,
    id_reuses: u64,
    peak_rss: Option<u64>,
    timed_out: bool,
}

impl CatalogReport {
    pub fn complete(&self) -> bool {
        !self.timed_out
            && self.order_violations == 0
            && self.id_reuses == 0
            && self.unchanged_versions == 0
            && self.changed as usize == self.fan_out_messages / self.subscribers.max(1)
    }
}

pub async fn run(opts: &CatalogOptions) -> anyhow::Result<CatalogReport> {
    anyhow::ensure!(
        opts.subscribers > opts.down && opts.change <= opts.procedures,
        "need a live subscriber, and no more changes than procedures"
    );
    let bench_store = open_store(
        &opts.store,
        opts.concurrency as u32 + 8,
        opts.template.as_deref(),
    )
    .await?;
    let start_messages: i64 = super::counts_by_state(&*bench_store.store)
        .await?
        .values()
        .sum();
    let outcome = measure(&bench_store, opts).await.map(|mut r| {
        r.template = opts.template.clone();
        r.start_messages = start_messages;
        r
    });
    let dropped = bench_store.finish().await;
    let report = outcome?;
    dropped?;
    Ok(report)
}

fn published(outcome: PullOutcome) -> anyhow::Result<(crate::store::CatalogPull, PullTimings)> {
    match outcome {
        PullOutcome::Published { pull, timings, .. } => Ok((pull, timings)),
        PullOutcome::Held { pull } => anyhow::bail!("pull held: {:?}", pull.note),
    }
}

async fn measure(
    bench_store: &super::BenchStore,
    opts: &CatalogOptions,
) -> anyhow::Result<CatalogReport> {
    let store = bench_store.store.clone();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let settings = SimSettings {
        procedures: opts.procedures,
        ..SimSettings::default()
    };
    let portal = Simulator::new(settings.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let portal_base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(crate::sim::serve(
        listener,
        portal.clone(),
        shutdown.clone(),
    ));
    let subs = communes::numbered(opts.subscribers, "bench-secret-");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(communes::serve(listener, subs.clone(), shutdown.clone()));
    let names = subs.names();
    let cfg = Config::from_toml(&format!(
        r#"
[peers.dvcqg]
base_url = "{portal_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
[catalog]
rate_per_second = 0
concurrency = {pull}
{subscribers}
[peers.commune.policy]
concurrency = {lane}
destination_concurrency = 1
breaker_failures = 3
breaker_cool_down_seconds = 30
backoff_initial_ms = 200
backoff_cap_ms = 5000
timeout_ms = 5000
poll_interval_ms = 50
"#,
        dst = settings.dstcode,
        user = settings.username,
        pass = settings.password,
        pull = opts.pull_concurrency,
        lane = opts.concurrency,
        subscribers = communes::peers_toml(addr, &names, "bench-secret-"),
    ))
    .map_err(|e| anyhow::anyhow!("bench config: {e}"))?;
    let mut report = CatalogReport {
        backend: store.backend().to_string(),
        procedures: opts.procedures,
        subscribers: opts.subscribers,
        down: opts.down,
        ..CatalogReport::default()
    };

    // 1. The full pull, nobody subscribed yet (a first start): list, 2,000 LayThuTuc, publish.
    eprintln!("pulling {} procedures…", opts.procedures);
    let mut alone = cfg.peers.clone();
    alone.commune = None;
    let catalog = Catalog::from_config(store.clone(), &alone, &cfg.catalog, |n| cfg.policy_for(n))?;
    let started = Instant::now();
    let (_, timings) = published(catalog.pull(PullOptions::default(), &Quiet).await?)?;
    report.full_pull = started.elapsed();
    report.full_timings = timings;

    // 2. The same catalog again: every procedure fetched, compared, nothing published.
    eprintln!("pulling the unchanged catalog…");
    let started = Instant::now();
    let (pull, timings) = published(catalog.pull(PullOptions::default(), &Quiet).await?)?;
    report.unchanged_pull = started.elapsed();
    report.unchanged_timings = timings;
    report.unchanged_versions = pull.added + pull.changed + pull.withdrawn + pull.returned;

    // 3. The subscribers, already holding the catalog (noted as sent it), one of them down; a
    //    change of `change` procedures pulled and fanned out through the commune lane.
    let catalog = Arc::new(Catalog::from_config(
        store.clone(),
        &cfg.peers,
        &cfg.catalog,
        |n| cfg.policy_for(n),
    )?);
    let none = |_: &[CatalogVersion]| Vec::new();
    store
        .catalog_send_whole(&names, &none, crate::store::now_ms())
        .await?;
    let down: Vec<String> = names.iter().rev().take(opts.down).cloned().collect();
    for d in &down {
        subs.set_availability(d, Availability::Refusing);
    }
    let changed = portal.catalog().change_some(opts.change, 2026);
    let built = cfg
        .peers
        .build(std::path::Path::new("."), |n| cfg.policy_for(n), &store)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .find(|b| b.family.name == crate::peer::commune::PEER_COMMUNE)
        .ok_or_else(|| anyhow::anyhow!("no commune peer built"))?;
    let lane = Arc::new(built.lane(
        store.clone(),
        format!("bench-{}", std::process::id()),
        Arc::new(Notify::new()),
    )?);
    let tracker = TaskTracker::new();
    spawn_lane(lane, opts.concurrency, &tracker, &shutdown);
    let live: Vec<String> = names
        .iter()
        .filter(|n| !down.contains(n))
        .cloned()
        .collect();
    eprintln!(
        "pulling a change of {} procedures and fanning it out to {} subscribers ({} down)…",
        changed.len(),
        names.len(),
        down.len()
    );
    let started = Instant::now();
    let (pull, timings) = published(catalog.pull(PullOptions::default(), &Quiet).await?)?;
    report.change_pull = started.elapsed();
    report.change_timings = timings;
    report.changed = pull.changed;
    report.fan_out_messages = changed.len() * names.len();
    // Delivery starts with the publication (the lane is running): count from there.
    let from = started + timings.fetch;
    let want = live.len() * changed.len();
    let deadline = Instant::now() + Duration::from_secs(opts.timeout_secs);
    loop {
        let applied: u64 = live
            .iter()
            .filter_map(|n| subs.record(n))
            .map(|r| r.applied)
            .sum();
        if applied as usize >= want {
            break;
        }
        if Instant::now() > deadline {
            report.timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report.live_time = from.elapsed();
    let totals = subs.totals();
    report.order_violations = totals.order_violations;
    report.id_reuses = totals.id_reuses;
    report.peak_rss = peak_rss_bytes();
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(report)
}

impl fmt::Display for CatalogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |d: Duration| d.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        writeln!(
            f,
            "bench catalog: {} store, {} procedures, {} subscribers ({} down)",
            self.backend, self.procedures, self.subscribers, self.down
        )?;
        writeln!(
            f,
            "{}",
            super::start_line(self.template.as_deref(), self.start_messages)
        )?;
        writeln!(f, "| figure | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| full pull (list + {} LayThuTuc + publish) | {:.2} s ({:.0} procedures/s; publish {:.0} ms) |",
            self.procedures,
            s(self.full_pull),
            per_sec(self.procedures, self.full_pull),
            ms(self.full_timings.publish)
        )?;
        writeln!(
            f,
            "| diff of the unchanged catalog (compare + write, nothing published) | {:.0} ms (whole pull {:.2} s; {} versions) |",
            ms(self.unchanged_timings.publish),
            s(self.unchanged_pull),
            self.unchanged_versions
        )?;
        writeln!(
            f,
            "| change of {} procedures: pull, publish, fan-out queued | {:.2} s (publish {:.0} ms, {} messages queued in {:.0} ms) |",
            self.changed,
            s(self.change_pull),
            ms(self.change_timings.publish),
            self.fan_out_messages,
            ms(self.change_timings.fan_out)
        )?;
        writeln!(
            f,
            "| from publication until the {} live subscribers held the change | {:.2} s{} |",
            self.subscribers - self.down,
            s(self.live_time),
            if self.timed_out { " (TIMED OUT)" } else { "" }
        )?;
        writeln!(
            f,
            "| order violations / X-Request-ID reuses seen by the subscribers | {} / {} |",
            self.order_violations, self.id_reuses
        )?;
        writeln!(f, "| peak RSS | {} |", mib(self.peak_rss))
    }
}
