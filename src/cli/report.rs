//! `lienthong report`, `lienthong overdue` and `lienthong reconcile`: the monthly service
//! figures, the overdue list and reconciliation with the portal (thin calls into
//! [`crate::report::Reports`] and [`crate::reconcile::Reconciler`]).

use std::io::Write;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::reconcile::{Params, Progress, Reconciler};
use crate::report::render::{self, Lang};
use crate::report::{Month, Reports};
use crate::store::ReconcileRun;

#[derive(Args)]
pub struct ReportArgs {
    /// The month, `YYYY-MM` (Vietnam time).
    #[arg(long)]
    pub month: String,
    /// Only this agency (its identifier, e.g. 000.00.56.H56).
    #[arg(long)]
    pub agency: Option<String>,
    /// `table`, `csv` (UTF-8 with a byte-order mark, for Excel) or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Column names: `vi` or `en`.
    #[arg(long, default_value = "vi")]
    pub lang: String,
}

#[derive(Args)]
pub struct OverdueArgs {
    #[arg(long)]
    pub agency: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ReconcileArgs {
    /// First registration day checked, `YYYY-MM-DD`.
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// Last registration day checked (inclusive).
    #[arg(long)]
    pub to: chrono::NaiveDate,
    #[arg(long)]
    pub agency: Option<String>,
    /// Queue the corrections through the outbox.
    #[arg(long)]
    pub repair: bool,
    /// Begin a new run even when an unfinished one over the same range exists (by default it
    /// is resumed).
    #[arg(long)]
    pub restart: bool,
    /// Print the run's findings (at most this many) after its summary.
    #[arg(long, default_value_t = 50)]
    pub findings: i64,
}

async fn reports(cfg: &Config) -> anyhow::Result<Reports> {
    let store = crate::store::open(&cfg.store.url, 2).await?;
    Ok(Reports::new(store, cfg.report.clone()))
}

pub async fn report(cfg: &Config, args: ReportArgs) -> anyhow::Result<i32> {
    let month = Month::parse(&args.month).map_err(anyhow::Error::msg)?;
    let lang = Lang::parse(&args.lang).context("--lang: vi or en")?;
    let report = reports(cfg)
        .await?
        .month(month, args.agency.as_deref(), crate::store::now_ms())
        .await?;
    let mut out = std::io::stdout().lock();
    match args.format.as_str() {
        "table" => out.write_all(render::table(&report, lang).as_bytes())?,
        "csv" => out.write_all(&render::csv(&report, lang)?)?,
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        other => anyhow::bail!("--format {other}: table, csv or json"),
    }
    Ok(0)
}

pub async fn overdue(cfg: &Config, args: OverdueArgs) -> anyhow::Result<i32> {
    let reports = reports(cfg).await?;
    let now = crate::store::now_ms();
    let list = reports
        .overdue(args.agency.as_deref(), now, args.limit)
        .await?;
    let (overdue, without) = reports.overdue_counts(now, args.agency.as_deref()).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"overdue": overdue, "overdue_without_apology": without, "dossiers": list})
        );
        return Ok(0);
    }
    println!("{overdue} overdue now, {without} of them without an apology");
    println!(
        "{:<28} {:<10} {:<16} {:<6} {:<15} {:<15} {:>5} apology",
        "dossier", "state", "procedure", "status", "due", "appointment", "late"
    );
    for d in list {
        println!(
            "{:<28} {:<10} {:<16} {:<6} {:<15} {:<15} {:>5} {}",
            d.dossier,
            d.state,
            d.procedure,
            d.status,
            d.due,
            d.appointment,
            d.working_days_late,
            if d.apologies > 0 { "yes" } else { "NO" }
        );
    }
    Ok(0)
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, run: &ReconcileRun) {
        self.0.set_length(run.total.max(0) as u64);
        self.0.set_position(run.checked.max(0) as u64);
        if run.checked > 0 {
            self.0.println(format!(
                "resuming run {} after {} dossiers",
                run.id, run.checked
            ));
        }
    }
    fn page(&self, run: &ReconcileRun) {
        self.0.set_position(run.checked.max(0) as u64);
        self.0.set_message(format!(
            "missing {} · stale {} · missing steps {} · repaired {}",
            run.missing, run.stale, run.missing_steps, run.repaired
        ));
    }
}

/// Exit 0 when the portal matches (or every difference was queued again), 1 when differences
/// remain.
pub async fn reconcile(cfg: &Config, args: ReconcileArgs) -> anyhow::Result<i32> {
    let store = crate::store::open(&cfg.store.url, 4).await?;
    let portal = crate::peer::registry::portal_records(&cfg.peers, |name| cfg.policy_for(name))
        .map_err(anyhow::Error::msg)?
        .context("reconciliation looks dossiers up at the portal: configure [peers.dvcqg]")?;
    let reconciler = Reconciler::new(store.clone(), portal, cfg.reconcile.clone());
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} dossiers {per_sec} {msg}")
            .expect("a valid template"),
    );
    let params = Params {
        from: args.from,
        to: args.to,
        agency: args.agency,
        repair: args.repair,
        restart: args.restart,
    };
    let run = reconciler.run(&params, &Bar(bar.clone())).await;
    bar.finish_and_clear();
    let run = run?;
    print_run(&run);
    for f in store.reconcile_findings(&run.id, args.findings).await? {
        println!(
            "  {:<28} {:<18} {}{}",
            f.dossier,
            f.kind,
            f.detail,
            if f.repaired { " (queued again)" } else { "" }
        );
    }
    let drift = run.missing + run.stale + run.missing_steps + run.unknown + run.errors;
    Ok(if drift > run.repaired { 1 } else { 0 })
}

fn print_run(r: &ReconcileRun) {
    println!(
        "run {}: {} of {} dossiers checked ({}): {} in sync, {} missing at the portal, {} stale, {} missing steps, {} not delivered yet, {} at the portal but not sent here, {} errors; {} repaired",
        r.id,
        r.checked,
        r.total,
        r.state,
        r.in_sync,
        r.missing,
        r.stale,
        r.missing_steps,
        r.undelivered,
        r.unknown,
        r.errors,
        r.repaired
    );
}
