//! The reconciliation and report part of the demo: the portal simulator loses one delivered
//! dossier and goes back on another's status; a reconciliation finds both, a second one with
//! repair queues them again through the outbox, and a third finds the portal in step. Then the
//! province's service report of the demo's month and the overdue count.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::reconcile::{Params, Quiet, Reconciler};
use crate::report::render::{self, Lang};
use crate::report::{Month, Reports};
use crate::sim::Simulator;
use crate::store::prelude::*;
use crate::store::ReconcileRun;

/// What the reconciliation part saw.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    pub lost: String,
    pub set_back: String,
    pub first: Option<ReconcileRun>,
    pub repaired: Option<ReconcileRun>,
    pub after: Option<ReconcileRun>,
    pub report_month: String,
    pub report_table: String,
    pub overdue: (i64, i64),
    pub timed_out: bool,
}

fn drift(r: &ReconcileRun) -> i64 {
    r.missing + r.stale + r.missing_steps
}

impl ReconcileReport {
    pub fn ok(&self) -> bool {
        !self.timed_out
            && self.first.as_ref().is_some_and(|r| drift(r) == 2)
            && self.repaired.as_ref().is_some_and(|r| r.repaired == 2)
            && self.after.as_ref().is_some_and(|r| drift(r) == 0)
            && !self.report_table.is_empty()
    }
}

fn day(code: &str) -> Option<NaiveDate> {
    let (_, day, _) = crate::peer::dvcqg::facts::code_parts(code)?;
    NaiveDate::parse_from_str(&day.to_string(), "%Y%m%d").ok()
}

pub async fn run(
    store: Arc<dyn Store>,
    reconciler: Reconciler,
    reports: Reports,
    sim: &Simulator,
    delivered: &[String],
    timeout: Duration,
) -> anyhow::Result<ReconcileReport> {
    let mut out = ReconcileReport::default();
    let mut at_portal = delivered
        .iter()
        .filter(|c| sim.dossier(c).is_some())
        .cloned();
    let (Some(lost), Some(set_back)) = (at_portal.next(), at_portal.next()) else {
        anyhow::bail!("the demo needs two dossiers at the portal");
    };
    // The portal loses one and goes back on the other's status.
    sim.forget(&lost);
    let mut held = sim.dossier(&set_back).unwrap_or_default();
    let older = if held["TrangThaiHoSo"] == "1" {
        "2"
    } else {
        "1"
    };
    held["TrangThaiHoSo"] = serde_json::json!(older);
    sim.insert_dossier(held);
    out.lost = lost;
    out.set_back = set_back;

    let days: Vec<NaiveDate> = delivered.iter().filter_map(|c| day(c)).collect();
    let (Some(from), Some(to)) = (days.iter().min().copied(), days.iter().max().copied()) else {
        anyhow::bail!("no dossier codes to reconcile");
    };
    let params = |repair: bool| Params {
        from,
        to,
        agency: None,
        repair,
        restart: false,
    };
    out.first = Some(reconciler.run(&params(false), &Quiet).await?);
    out.repaired = Some(reconciler.run(&params(true), &Quiet).await?);
    let deadline = Instant::now() + timeout;
    loop {
        let open: i64 = store
            .outbox_counts()
            .await?
            .iter()
            .filter(|c| c.state == "pending" || c.state == "inflight")
            .map(|c| c.count)
            .sum();
        if open == 0 {
            break;
        }
        if Instant::now() > deadline {
            out.timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out.after = Some(reconciler.run(&params(false), &Quiet).await?);

    let now = crate::store::now_ms();
    let month = Month::of(
        chrono::DateTime::from_timestamp_millis(crate::report::figures::day_start_ms(to))
            .unwrap_or_default(),
    );
    let report = reports.month(month, None, now).await?;
    out.report_month = month.to_string();
    let mut total = report.clone();
    total.lines.clear();
    out.report_table = render::table(&total, Lang::En);
    out.overdue = reports.overdue_counts(now, None).await?;
    Ok(out)
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lienthong demo: the portal's record reconciled; the province's service report"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  the portal simulator lost {} and went back on the status of {}",
            self.lost, self.set_back
        )?;
        for (label, run) in [
            ("check", &self.first),
            ("check with repair", &self.repaired),
            ("check after the repairs were delivered", &self.after),
        ] {
            if let Some(r) = run {
                writeln!(
                    f,
                    "  {label}: {} dossiers, {} in sync, {} missing, {} stale, {} missing steps, {} not delivered yet, {} at the portal but not sent here, {} queued again",
                    r.checked,
                    r.in_sync,
                    r.missing,
                    r.stale,
                    r.missing_steps,
                    r.undelivered,
                    r.unknown,
                    r.repaired
                )?;
            }
        }
        writeln!(
            f,
            "  overdue now: {} dossiers not terminal and past their appointment, {} of them without an apology",
            self.overdue.0, self.overdue.1
        )?;
        writeln!(f)?;
        for line in self.report_table.lines() {
            writeln!(f, "  {line}")?;
        }
        if self.timed_out {
            writeln!(f, "  the repairs were not delivered before the timeout")?;
        }
        Ok(())
    }
}
