//! `lienthong bench backlog`: how the daemon behaves with a large queue. It fills a store with N
//! dossier messages, starts the real daemon (`lienthong run`, a child process) on it against the
//! in-process simulator, and measures: the time until `/health` answers and until the first
//! dossier reaches the portal, the delivery rate over the first `sample` messages, and the
//! daemon's memory (peak RSS from `/proc`). It does the same with a queue of only `sample`
//! messages first, so the two rates can be compared: they should be the same.
//!
//! The fill maps a block of generated dossiers once and queues it again and again under new
//! dossier codes, through [`Store::ingest`] in large transactions, so a million messages take
//! minutes rather than hours and the bench's own memory stays small.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{open_store, per_sec, vars, BenchStore};
use crate::mapping::Mapping;
use crate::peer::dvcqg::{FAMILY as PORTAL, OP_DOSSIERS};
use crate::sim::local::generate;
use crate::sim::{SimSettings, Simulator};
use crate::store::{self, AcceptedRecord, HeaderRule, IngestWrite, NewMessage, RecordKind};

#[derive(Debug, Clone, clap::Args)]
pub struct BacklogOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Messages queued before the daemon starts.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Messages whose delivery is timed (also the size of the small queue compared with).
    #[arg(long, default_value_t = 10_000)]
    pub sample: usize,
    /// Records per `Store::ingest` call while filling.
    #[arg(long, default_value_t = 5_000)]
    pub chunk: usize,
    /// Lane workers in the daemon.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// One daemon run on a filled queue.
#[derive(Debug, Default)]
pub struct BacklogRun {
    queued: usize,
    fill_time: Duration,
    health_after: Option<Duration>,
    first_after: Option<Duration>,
    sample: usize,
    sample_time: Option<Duration>,
    peak_rss: Option<u64>,
}

#[derive(Debug, Default)]
pub struct BacklogReport {
    backend: String,
    concurrency: usize,
    runs: Vec<BacklogRun>,
}

impl BacklogReport {
    pub fn complete(&self) -> bool {
        self.runs.iter().all(|r| r.sample_time.is_some())
    }
}

pub async fn run(opts: &BacklogOptions) -> anyhow::Result<BacklogReport> {
    anyhow::ensure!(opts.sample > 0 && opts.messages >= opts.sample && opts.chunk > 0);
    let mut report = BacklogReport {
        concurrency: opts.concurrency,
        ..BacklogReport::default()
    };
    let block = template(opts.seed, opts.chunk.min(opts.messages))?;
    for queued in [opts.sample, opts.messages] {
        let bench_store = open_store(&opts.store, 4, None).await?;
        report.backend = bench_store.store.backend().to_string();
        let outcome = one_run(&bench_store, opts, &block, queued).await;
        let dropped = bench_store.finish().await;
        report.runs.push(outcome?);
        dropped?;
    }
    Ok(report)
}

/// Generated dossiers, mapped once: (record, dossier code, item).
fn template(seed: u64, n: usize) -> anyhow::Result<Vec<(Value, String, Value)>> {
    let mapping = Mapping::load(&super::checkout_dir().join("mappings/vendor-a/dossier.toml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let vars = vars();
    let mut out = Vec::with_capacity(n);
    for record in generate(seed, n, 0).dossiers {
        let m = mapping
            .map(&record, &vars)
            .map_err(|e| anyhow::anyhow!("generated record refused: {e}"))?;
        out.push((record, m.dossier, Value::Object(m.item)));
    }
    Ok(out)
}

/// The `round`-th copy of a dossier code: `<agency>-<yymmdd>-<round, 4 digits><seq, 6 digits>`,
/// unique across rounds and still in the portal's `MaHoSo` shape.
fn code_for(code: &str, round: usize) -> String {
    match code.rsplit_once('-') {
        Some((head, seq)) => format!("{head}-{round:04}{seq:0>6}"),
        None => format!("{code}-{round:04}"),
    }
}

async fn fill(
    bench_store: &BenchStore,
    block: &[(Value, String, Value)],
    queued: usize,
) -> anyhow::Result<Duration> {
    let version = "bench";
    let started = Instant::now();
    let mut done = 0;
    let mut round = 0;
    while done < queued {
        round += 1;
        let take = (queued - done).min(block.len());
        let mut accepted = Vec::with_capacity(take);
        for (record, code, item) in &block[..take] {
            let new_code = code_for(code, round);
            let (mut record, mut item) = (record.clone(), item.clone());
            record["MaHoSo"] = Value::String(new_code.clone());
            item["MaHoSo"] = Value::String(new_code.clone());
            accepted.push(AcceptedRecord {
                record_id: Uuid::new_v4(),
                record: record.to_string(),
                mapping_version: version.into(),
                messages: vec![
                    NewMessage::new(PORTAL.name, OP_DOSSIERS, new_code.clone(), item)
                        .with_header(HeaderRule::Header),
                ],
                dossier: new_code,
                warnings: Vec::new(),
            });
        }
        bench_store
            .store
            .ingest(
                IngestWrite {
                    source: "bench".into(),
                    kind: RecordKind::Dossier,
                    accepted,
                    rejected: Vec::new(),
                    idempotency: None,
                    facts: Vec::new(),
                    positions: Vec::new(),
                    retried: Vec::new(),
                    origin: None,
                    now_ms: store::now_ms(),
                },
                &|_| String::new(),
            )
            .await
            .context("filling the queue")?;
        done += take;
        if done % 100_000 < take {
            eprintln!("  queued {done} of {queued}");
        }
    }
    Ok(started.elapsed())
}

async fn one_run(
    bench_store: &BenchStore,
    opts: &BacklogOptions,
    block: &[(Value, String, Value)],
    queued: usize,
) -> anyhow::Result<BacklogRun> {
    eprintln!(
        "filling a {} queue with {queued} messages…",
        bench_store.store.backend()
    );
    let fill_time = fill(bench_store, block, queued).await?;
    let mut run = BacklogRun {
        queued,
        fill_time,
        sample: opts.sample,
        ..BacklogRun::default()
    };

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

    let dir = tempfile::tempdir()?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
[store]
url = "{store}"
[delivery]
poll_interval_ms = 200
backoff_initial_ms = 100
backoff_cap_ms = 2000
concurrency = {concurrency}
[peers.dvcqg]
base_url = "{sim_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}
"#,
        store = bench_store.url,
        concurrency = opts.concurrency,
        dst = settings.dstcode,
        user = settings.username,
        pass = settings.password,
    );
    let config_path = dir.path().join("lienthong.toml");
    std::fs::write(&config_path, config)?;
    let exe = std::env::current_exe().context("finding the lienthong binary")?;
    eprintln!("starting `lienthong run` on it…");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .arg("run")
        .arg("--config")
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting lienthong run")?;
    let pid = child.id().unwrap_or(0);
    let health = format!("http://127.0.0.1:{port}/health");
    let client = reqwest::Client::new();
    let deadline = started + Duration::from_secs(600);
    let mut sample_started = None;
    loop {
        if Instant::now() > deadline {
            break;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("lienthong run exited early: {status}");
        }
        if run.health_after.is_none()
            && client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        {
            run.health_after = Some(started.elapsed());
        }
        let applied = sim.dossier_count();
        if applied > 0 && run.first_after.is_none() {
            run.first_after = Some(started.elapsed());
            sample_started = Some(Instant::now());
        }
        if applied >= opts.sample {
            run.sample_time = sample_started.map(|s| s.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.peak_rss = peak_rss_of(pid);
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok(run)
}

/// `VmHWM` (peak resident set) of a running process, in bytes.
fn peak_rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl std::fmt::Display for BacklogReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f)?;
        writeln!(
            f,
            "lienthong bench backlog: `lienthong run` started on a full queue, store {}, {} lane workers",
            self.backend, self.concurrency
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:>10} {:>10} {:>10} {:>12} {:>16} {:>12} {:>12}",
            "queued", "fill s", "health s", "1st sent s", "first N", "msgs/s", "peak RSS MiB"
        )?;
        let secs =
            |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64()));
        for r in &self.runs {
            writeln!(
                f,
                "  {:>10} {:>10.1} {:>10} {:>12} {:>16} {:>12} {:>12}",
                r.queued,
                r.fill_time.as_secs_f64(),
                secs(r.health_after),
                secs(r.first_after),
                format!("{} in {}", r.sample, secs(r.sample_time)),
                r.sample_time
                    .map_or("-".to_string(), |t| format!("{:.0}", per_sec(r.sample, t))),
                r.peak_rss
                    .map_or("-".to_string(), |b| format!("{:.1}", b as f64 / 1048576.0)),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::code_for;

    #[test]
    fn copies_of_a_code_are_unique_and_keep_the_shape() {
        let a = code_for("000.00.56.H56-261105-0001", 1);
        let b = code_for("000.00.56.H56-261105-10001", 1);
        let c = code_for("000.00.56.H56-261105-0001", 2);
        assert_eq!(a, "000.00.56.H56-261105-0001000001");
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
