//! `lienthong bench reconcile` and `lienthong bench report`.
//!
//! Reconcile: a store holding 100,000 dossiers delivered to the portal (their headers
//! delivered, their facts written; 1% dead headers with steps behind them, as `bench prefill`
//! lays out a bad day) and the in-process portal simulator holding the same dossiers except one
//! in a thousand (lost); one run with repair over all of them, the simulator's rate limit off:
//! dossiers/s, the lost ones found and queued again, peak memory.
//!
//! Report: a store with 1,000,000 dossiers' facts received over a year (by `bench prefill`'s
//! rules, `store::prefill::FactsFill`); the monthly report of the last full month, three times,
//! and the overdue list.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use super::{mib, open_store, peak_rss_bytes, per_sec};
use crate::mapping::Target;
use crate::peer::registry;
use crate::reconcile::{Params, Quiet, ReconcileConfig, Reconciler};
use crate::report::{Month, ReportConfig, Reports};
use crate::sim::{SimSettings, Simulator};
use crate::store::prefill::{self, FactsFill, Prefill, CODE_MARK};
use crate::store::{now_ms, ReconcileRun};

#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Dossiers delivered (the store also holds 1.25% dead headers and steps behind them).
    #[arg(long, default_value_t = 100_000)]
    pub dossiers: u64,
    /// Lookups in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Lookups per second at most; 0 = no limit.
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
}

#[derive(Debug, Default)]
pub struct ReconcileReport {
    backend: String,
    dossiers: u64,
    lost: u64,
    setup: Duration,
    run: Duration,
    result: Option<ReconcileRun>,
    peak_rss: Option<u64>,
    rss_before: Option<u64>,
}

impl ReconcileReport {
    /// Every dossier checked, every lost one found and queued again, the rest in sync.
    pub fn complete(&self) -> bool {
        self.result.as_ref().is_some_and(|r| {
            r.state == "done"
                && r.checked == r.total
                && r.missing as u64 == self.lost
                && r.repaired as u64 == self.lost
                && r.stale == 0
                && r.errors == 0
                && (r.in_sync + r.missing) as u64 == self.dossiers
        })
    }
}

const PREFIX: &str = "000.00.56.H56-261105-";
const PROCEDURES: u32 = 2000;

fn procedure(n: u64) -> String {
    format!("1.{:06}", n % PROCEDURES as u64)
}

pub async fn reconcile(opts: &ReconcileOptions) -> anyhow::Result<ReconcileReport> {
    let started = Instant::now();
    // The history is written into a template first (the fill needs the store to itself), then
    // the run's store is a copy of it, as with `--template` elsewhere.
    let dir = tempfile::tempdir()?;
    let (template_url, template) = if opts.store == "sqlite" {
        let path = dir.path().join("template.db");
        (
            format!("sqlite://{}?mode=rwc", path.display()),
            path.display().to_string(),
        )
    } else {
        let name = format!("lt_bench_tpl_{}", uuid::Uuid::new_v4().simple());
        let mut url = reqwest::Url::parse(&opts.store)?;
        url.set_path(&format!("/{name}"));
        (url.to_string(), name)
    };
    let lost = fill(&template_url, opts).await;
    let outcome = match lost {
        Ok(lost) => match open_store(&opts.store, 8, Some(&template)).await {
            Ok(bench_store) => {
                let r = measure_reconcile(&bench_store.store, opts, lost, started).await;
                let dropped = bench_store.finish().await;
                r.and_then(|r| dropped.map(|()| r))
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if opts.store != "sqlite" {
        prefill::drop_database(&opts.store, &template).await?;
    }
    outcome
}

/// Writes the history into the store at `url`; returns the simulator's dossiers (every
/// delivered one but one in a thousand) as the count lost.
async fn fill(url: &str, opts: &ReconcileOptions) -> anyhow::Result<Vec<u64>> {
    let (family, header_op) = registry::taking(Target::Dossier)
        .map(|(f, t)| (f.name, t.operation))
        .ok_or_else(|| anyhow::anyhow!("no family takes dossier headers"))?;
    let step_op = registry::taking(Target::Step)
        .map(|(_, t)| t.operation)
        .ok_or_else(|| anyhow::anyhow!("no family takes steps"))?;
    // Delivered headers are 80% of the messages `prefill` writes.
    let messages = opts.dossiers * 100 / 80;
    let header = format!(r#"{{"MaHoSo":"{CODE_MARK}","TrangThaiHoSo":"4"}}"#);
    let step = format!(r#"{{"MaHoSo":"{CODE_MARK}","TrangThai":"4"}}"#);
    prefill::prefill(
        url,
        &Prefill {
            messages,
            peer: family.into(),
            source: "bench".into(),
            header_operation: header_op.into(),
            step_operation: step_op.into(),
            code_prefix: PREFIX.into(),
            header_item: header.clone(),
            header_record: header,
            step_item: step.clone(),
            step_record: step,
            mapping_version: "bench".into(),
            now_ms: now_ms(),
        },
    )
    .await?;
    let delivered = opts.dossiers;
    let dead = messages / 100;
    prefill::prefill_facts(
        url,
        &FactsFill {
            dossiers: delivered + dead,
            code_prefix: PREFIX.into(),
            registered_on: 20261105,
            agencies: 1,
            procedures: PROCEDURES,
            now_ms: now_ms(),
        },
    )
    .await?;
    Ok((1..=delivered).filter(|n| n % 1000 == 0).collect())
}

async fn measure_reconcile(
    store: &std::sync::Arc<dyn crate::store::Store>,
    opts: &ReconcileOptions,
    lost: Vec<u64>,
    started: Instant,
) -> anyhow::Result<ReconcileReport> {
    let delivered = opts.dossiers;
    // The portal holds what the headers said ("4"): reconcile compares with the delivered
    // messages, so the facts' statuses do not matter here, but their procedures must agree.
    let sim = Simulator::new(SimSettings::default());
    for n in 1..=delivered {
        if lost.binary_search(&n).is_ok() {
            continue;
        }
        sim.insert_dossier(serde_json::json!({
            "MaHoSo": format!("{PREFIX}{n:07}"), "MaTTHC": procedure(n), "TrangThaiHoSo": "4",
            "NgayTiepNhan": "", "NgayHenTra": ""
        }));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(crate::sim::serve(listener, sim.clone(), stop.clone()));
    let config = super::bench_config(&base, 1, sim.settings())?;
    let portal = registry::portal_records(&config.peers, |n| config.policy_for(n))
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("the bench config has no portal"))?;
    let reconciler = Reconciler::new(
        store.clone(),
        portal,
        ReconcileConfig {
            concurrency: opts.concurrency,
            rate_per_second: opts.rate,
            page_size: 500,
            ..ReconcileConfig::default()
        },
    );
    let setup = started.elapsed();
    let rss_before = peak_rss_bytes();
    let day = NaiveDate::from_ymd_opt(2026, 11, 5).expect("a date");
    let t = Instant::now();
    let run = reconciler
        .run(
            &Params {
                from: day,
                to: day,
                agency: None,
                repair: true,
                restart: true,
            },
            &Quiet,
        )
        .await?;
    Ok(ReconcileReport {
        backend: store.backend().into(),
        dossiers: delivered,
        lost: lost.len() as u64,
        setup,
        run: t.elapsed(),
        result: Some(run),
        peak_rss: peak_rss_bytes(),
        rss_before,
    })
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lienthong bench reconcile ({})", self.backend)?;
        let Some(r) = &self.result else {
            return writeln!(f, "  no run");
        };
        writeln!(
            f,
            "  {} dossiers delivered, {} of them lost by the portal; {} in the range with the dead ones; set up in {:.1} s",
            self.dossiers,
            self.lost,
            r.total,
            self.setup.as_secs_f64()
        )?;
        writeln!(
            f,
            "  run with repair: {:.2} s = {:.0} dossiers/s ({} in sync, {} missing, {} not delivered yet, {} queued again, {} stale, {} errors)",
            self.run.as_secs_f64(),
            per_sec(r.checked as usize, self.run),
            r.in_sync,
            r.missing,
            r.undelivered,
            r.repaired,
            r.stale,
            r.errors
        )?;
        writeln!(
            f,
            "  peak RSS of the process (gateway and simulator): {} before the run, {} at the end",
            mib(self.rss_before),
            mib(self.peak_rss)
        )?;
        writeln!(
            f,
            "  {}",
            if self.complete() {
                "every dossier checked, every lost one found and queued again"
            } else {
                "INCOMPLETE: dossiers unchecked or drift missed"
            }
        )
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReportOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Dossiers' facts, received over the year before now.
    #[arg(long, default_value_t = 1_000_000)]
    pub dossiers: u64,
    /// Start from a copy of this store (see `bench prefill`): a SQLite file or a PostgreSQL
    /// database name on the `--store` server.
    #[arg(long)]
    pub template: Option<String>,
}

#[derive(Debug, Default)]
pub struct ReportReport {
    backend: String,
    template: Option<String>,
    dossiers: u64,
    fill: Duration,
    month: String,
    runs: Vec<Duration>,
    received: u64,
    resolved: u64,
    lines: usize,
    overdue: Duration,
    overdue_count: i64,
    peak_rss: Option<u64>,
}

impl ReportReport {
    pub fn complete(&self) -> bool {
        self.runs.len() == 3 && self.received > 0 && self.resolved > 0
    }
}

pub async fn report(opts: &ReportOptions) -> anyhow::Result<ReportReport> {
    let bench_store = open_store(&opts.store, 8, opts.template.as_deref()).await?;
    let outcome = measure_report(&bench_store.store, &bench_store.url, opts).await;
    let dropped = bench_store.finish().await;
    let mut report = outcome?;
    dropped?;
    report.template = opts.template.clone();
    Ok(report)
}

async fn measure_report(
    store: &std::sync::Arc<dyn crate::store::Store>,
    url: &str,
    opts: &ReportOptions,
) -> anyhow::Result<ReportReport> {
    let now = now_ms();
    let t = Instant::now();
    prefill::prefill_facts(
        url,
        &FactsFill {
            dossiers: opts.dossiers,
            code_prefix: "RP-".into(),
            registered_on: 20260101,
            agencies: 40,
            procedures: PROCEDURES,
            now_ms: now,
        },
    )
    .await?;
    let fill = t.elapsed();
    let this = Month::of(chrono::DateTime::from_timestamp_millis(now).unwrap_or_default());
    // The last full month: this month's first day minus one day.
    let last = Month::of(
        chrono::DateTime::from_timestamp_millis(this.bounds_ms().0 - 1).unwrap_or_default(),
    );
    let reports = Reports::new(store.clone(), ReportConfig::default());
    let mut out = ReportReport {
        backend: store.backend().into(),
        dossiers: opts.dossiers,
        fill,
        month: last.to_string(),
        ..ReportReport::default()
    };
    for _ in 0..3 {
        let t = Instant::now();
        let r = reports.month(last, None, now).await?;
        out.runs.push(t.elapsed());
        out.received = r.total.received.total;
        out.resolved = r.total.resolved.total;
        out.lines = r.lines.len();
    }
    let t = Instant::now();
    let list = reports.overdue(None, now, 100).await?;
    out.overdue_count = reports.overdue_counts(now, None).await?.0;
    out.overdue = t.elapsed();
    anyhow::ensure!(list.len() <= 100, "the overdue list is bounded");
    out.peak_rss = peak_rss_bytes();
    Ok(out)
}

impl fmt::Display for ReportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lienthong bench report ({})", self.backend)?;
        if let Some(t) = &self.template {
            writeln!(f, "  store copied from {t}")?;
        }
        writeln!(
            f,
            "  {} dossiers' facts over a year, written in {:.1} s",
            self.dossiers,
            self.fill.as_secs_f64()
        )?;
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect();
        writeln!(
            f,
            "  report of {} ({} lines: agency × procedure; {} received, {} resolved): {} (target < 5 s)",
            self.month,
            self.lines,
            self.received,
            self.resolved,
            runs.join(" / ")
        )?;
        writeln!(
            f,
            "  overdue list (100) and counts ({} overdue): {:.2} s",
            self.overdue_count,
            self.overdue.as_secs_f64()
        )?;
        writeln!(f, "  peak RSS of the process: {}", mib(self.peak_rss))
    }
}
