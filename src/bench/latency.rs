//! `lienthong bench latency`: the time from a local system's ingest request to the portal
//! applying the dossier, at a steady offered rate.
//!
//! The whole gateway runs as `lienthong run` does (HTTP ingest, store, lanes woken by each
//! commit), in this process, against the in-process simulator. A producer sends `rate` new
//! dossiers per second over HTTP in small requests every `tick` milliseconds, each request on its
//! own task so a slow answer never lowers the offered rate. Latency of a dossier is the
//! simulator's apply time minus the time its request was sent (both wall clock, one machine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{checkout_dir, counts_by_state, open_store, per_sec, start_line};
use crate::app::Gateway;
use crate::config::Config;
use crate::sim::local::generate;
use crate::sim::{SimSettings, Simulator};

#[derive(Debug, Clone, clap::Args)]
pub struct LatencyOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Dossiers offered per second.
    #[arg(long, default_value_t = 1_000)]
    pub rate: usize,
    /// How long to offer them.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// One ingest request every this many milliseconds (rate × tick / 1000 records each).
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// Lane workers.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Start from a copy of this store instead of an empty one: a SQLite file (with `--store
    /// sqlite`) or a PostgreSQL database name on the `--store` server (see `bench prefill`).
    #[arg(long)]
    pub template: Option<String>,
}

const TOKEN: &str = "bench-latency-token";

fn config(store_url: &str, sim_base: &str, concurrency: usize, sim: &SimSettings) -> String {
    let maps = checkout_dir().join("mappings");
    format!(
        r#"
[store]
url = "{store_url}"
[server]
max_records_per_request = 10000
[delivery]
poll_interval_ms = 200
backoff_initial_ms = 100
backoff_cap_ms = 2000
concurrency = {concurrency}
[peers.dvcqg]
base_url = "{sim_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
[[sources]]
name = "bench"
token = "{TOKEN}"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Trung tâm Phục vụ hành chính công tỉnh" }}
"#,
        maps = maps.display(),
        dst = sim.dstcode,
        user = sim.username,
        pass = sim.password,
    )
}

/// What `bench latency` measured.
#[derive(Debug, Default)]
pub struct LatencyReport {
    backend: String,
    offered_rate: usize,
    per_request: usize,
    sent: usize,
    accepted: usize,
    applied: usize,
    send_time: Duration,
    /// Ingest request → 202, per request (ms).
    ingest_ms: Vec<f64>,
    /// Ingest request sent → applied by the simulator, per dossier (ms).
    end_to_end_ms: Vec<f64>,
    /// Requests that did not get 202, by HTTP status or transport error.
    failed: std::collections::BTreeMap<String, usize>,
    timed_out: bool,
    /// The template the store was copied from, and how many messages it held at the start.
    template: Option<String>,
    start_messages: i64,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub async fn run(opts: &LatencyOptions) -> anyhow::Result<LatencyReport> {
    anyhow::ensure!(opts.rate > 0 && opts.seconds > 0 && opts.tick_ms > 0);
    let per_request = (opts.rate as u64 * opts.tick_ms / 1000).max(1) as usize;
    let total = opts.rate * opts.seconds as usize;
    eprintln!("generating {total} vendor-a dossiers…");
    let dossiers = generate(opts.seed, total, 0).dossiers;
    let bench_store = open_store(
        &opts.store,
        opts.concurrency as u32 + 4,
        opts.template.as_deref(),
    )
    .await?;
    let mut report = LatencyReport {
        backend: bench_store.store.backend().to_string(),
        offered_rate: opts.rate,
        per_request,
        template: opts.template.clone(),
        ..LatencyReport::default()
    };
    let outcome = measure(&bench_store, opts, dossiers, &mut report).await;
    let dropped = bench_store.finish().await;
    outcome?;
    dropped?;
    Ok(report)
}

async fn measure(
    bench_store: &super::BenchStore,
    opts: &LatencyOptions,
    dossiers: Vec<Value>,
    report: &mut LatencyReport,
) -> anyhow::Result<()> {
    report.start_messages = counts_by_state(&*bench_store.store).await?.values().sum();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let settings = SimSettings::default();
    let sim = Simulator::new(settings.clone());
    let sim_listener = TcpListener::bind("127.0.0.1:0").await?;
    let sim_base = format!("http://{}", sim_listener.local_addr()?);
    tokio::spawn(crate::sim::serve(
        sim_listener,
        sim.clone(),
        shutdown.clone(),
    ));

    let cfg = Config::from_toml(&config(
        &bench_store.url,
        &sim_base,
        opts.concurrency,
        &settings,
    ))
    .map_err(|e| anyhow::anyhow!("bench config: {e}"))?;
    let gateway = Gateway::build_with_store(&cfg, &checkout_dir(), bench_store.store.clone())?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/ingest/v1/bench/dossiers", listener.local_addr()?);
    tokio::spawn(gateway.run(listener, shutdown.clone()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let sent_at: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let ingest_ms: Arc<Mutex<Vec<f64>>> = Arc::default();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failed: Arc<Mutex<std::collections::BTreeMap<String, usize>>> = Arc::default();
    eprintln!(
        "offering {} dossiers/s for {} s, {} per request every {} ms…",
        opts.rate, opts.seconds, report.per_request, opts.tick_ms
    );
    let mut tick = tokio::time::interval(Duration::from_millis(opts.tick_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut requests = Vec::new();
    for chunk in dossiers.chunks(report.per_request) {
        tick.tick().await;
        let body = serde_json::to_vec(chunk)?;
        let codes: Vec<String> = chunk
            .iter()
            .filter_map(|d| d["MaHoSo"].as_str().map(str::to_string))
            .collect();
        let (client, url) = (client.clone(), url.clone());
        let (sent_at, ingest_ms, accepted, failed) = (
            sent_at.clone(),
            ingest_ms.clone(),
            accepted.clone(),
            failed.clone(),
        );
        requests.push(tokio::spawn(async move {
            let at = wall_ms();
            let t = Instant::now();
            let answer = client
                .post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = matches!(&answer, Ok(r) if r.status().as_u16() == 202);
            if !ok {
                let why = match &answer {
                    Ok(r) => format!("HTTP {}", r.status().as_u16()),
                    Err(e) if e.is_timeout() => "timeout".to_string(),
                    Err(e) if e.is_connect() => "connect".to_string(),
                    Err(_) => "transport".to_string(),
                };
                *failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(why)
                    .or_default() += 1;
            }
            let took = t.elapsed().as_secs_f64() * 1000.0;
            if ok {
                ingest_ms
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(took);
                let mut sent = sent_at.lock().unwrap_or_else(|e| e.into_inner());
                for c in codes.iter() {
                    sent.insert(c.clone(), at);
                }
                accepted.fetch_add(codes.len(), std::sync::atomic::Ordering::Relaxed);
            }
        }));
        report.sent += chunk.len();
    }
    for r in requests {
        r.await.context("an ingest request task failed")?;
    }
    report.send_time = started.elapsed();
    report.accepted = accepted.load(std::sync::atomic::Ordering::Relaxed);

    // Wait for the portal to hold every accepted dossier.
    let deadline = Instant::now() + Duration::from_secs(120);
    while sim.dossier_count() < report.accepted {
        if Instant::now() > deadline {
            report.timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = std::mem::take(&mut *sent_at.lock().unwrap_or_else(|e| e.into_inner()));
    for (code, at) in &sent {
        if let Some(first) = sim.events(code).first() {
            report.end_to_end_ms.push((first.at_ms - at) as f64);
        }
    }
    report.applied = report.end_to_end_ms.len();
    report.ingest_ms = std::mem::take(&mut *ingest_ms.lock().unwrap_or_else(|e| e.into_inner()));
    report.failed = std::mem::take(&mut *failed.lock().unwrap_or_else(|e| e.into_inner()));
    shutdown.cancel();
    Ok(())
}

/// The `q` quantile (0..=1) of `v`, nearest rank.
pub(super) fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

impl LatencyReport {
    pub fn complete(&self) -> bool {
        !self.timed_out && self.accepted == self.sent && self.applied == self.accepted
    }
}

impl std::fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f)?;
        writeln!(
            f,
            "lienthong bench latency: {} dossiers/s offered over HTTP ({} per request), store {}, simulator without faults",
            self.offered_rate, self.per_request, self.backend
        )?;
        writeln!(
            f,
            "  {}",
            start_line(self.template.as_deref(), self.start_messages)
        )?;
        writeln!(
            f,
            "  sent {} in {:.2} s ({:.0}/s achieved); accepted {}; applied by the portal {}{}",
            self.sent,
            self.send_time.as_secs_f64(),
            per_sec(self.sent, self.send_time),
            self.accepted,
            self.applied,
            if self.timed_out { " (timed out)" } else { "" }
        )?;
        if !self.failed.is_empty() {
            writeln!(f, "  requests refused or failed: {:?}", self.failed)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  {:<44} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "milliseconds", "p50", "p90", "p99", "p99.9", "max"
        )?;
        for (label, v) in [
            ("ingest request → 202 (per request)", &self.ingest_ms),
            (
                "ingest request → applied at the portal",
                &self.end_to_end_ms,
            ),
        ] {
            let mut v = v.clone();
            writeln!(
                f,
                "  {:<44} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                label,
                quantile(&mut v, 0.50),
                quantile(&mut v, 0.90),
                quantile(&mut v, 0.99),
                quantile(&mut v, 0.999),
                quantile(&mut v, 1.0)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_quantiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 50.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut v, 1.0), 100.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }
}
