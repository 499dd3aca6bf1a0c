//! Reconciliation: for each local dossier registered in a range, the portal's record
//! (`TraCuuHoSo`, through [`PortalRecords`]) against what this gateway last delivered;
//! dossiers missing at the portal, stale statuses and missing steps are kept as findings and,
//! with `repair`, queued again through the outbox (in order, under the same rules as any
//! message); codes missing from an agency's daily sequence are looked up to find dossiers the
//! portal holds that no local system sent here. Lookups run at most `concurrency` at once under
//! `rate_per_second`; a run goes page by page, each page's findings, repairs and cursor in one
//! transaction, so a run killed half-way resumes after its last page. The `reconcile` job runs
//! it on a schedule (one instance: the scheduler's leader).

pub mod config;
pub mod decide;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use futures::StreamExt;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

pub use config::ReconcileConfig;
use decide::{Sent, Verdict};

use crate::peer::reads::{PortalRecord, PortalRecords, ReadError};
use crate::store::prelude::*;
use crate::store::{
    now_ms, DossierMessage, NewMessage, ReconcileCounts, ReconcileFinding, ReconcilePage,
    ReconcileRun, StoreError,
};

/// What can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The portal refused our requests for good (credentials): the run stops, resumable.
    #[error("the portal refused the lookups: {0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(String),
}

/// What a run checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub agency: Option<String>,
    pub repair: bool,
    /// Begin a new run even when an unfinished one over the same range exists.
    pub restart: bool,
}

/// Shown while a run goes.
pub trait Progress: Send + Sync {
    fn start(&self, _run: &ReconcileRun) {}
    fn page(&self, _run: &ReconcileRun) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}

fn day_number(d: NaiveDate) -> i64 {
    d.format("%Y%m%d")
        .to_string()
        .parse()
        .expect("eight digits")
}

/// The reconciler: shared by the CLI, the admin API and the scheduled job.
pub struct Reconciler {
    store: Arc<dyn Store>,
    portal: Arc<dyn PortalRecords>,
    config: ReconcileConfig,
}

/// One dossier's outcome within a page.
struct Checked {
    findings: Vec<(String, String, bool)>,
    repairs: Vec<NewMessage>,
    verdict: Option<Verdict>,
    error: bool,
}

impl Reconciler {
    pub fn new(
        store: Arc<dyn Store>,
        portal: Arc<dyn PortalRecords>,
        config: ReconcileConfig,
    ) -> Self {
        Self {
            store,
            portal,
            config,
        }
    }

    pub fn config(&self) -> &ReconcileConfig {
        &self.config
    }

    /// Runs (or resumes) a reconciliation over `params` to its end.
    pub async fn run(
        &self,
        params: &Params,
        progress: &dyn Progress,
    ) -> Result<ReconcileRun, ReconcileError> {
        let run = self.begin(params).await?;
        self.go(run, progress).await
    }

    /// The run over `params`: the unfinished one over the same range (unless `restart`), or a
    /// new one, recorded.
    pub async fn begin(&self, params: &Params) -> Result<ReconcileRun, ReconcileError> {
        if params.to < params.from {
            return Err(ReconcileError::Invalid(format!(
                "--to {} is before --from {}",
                params.to, params.from
            )));
        }
        let (from_day, to_day) = (day_number(params.from), day_number(params.to));
        // A blank agency is every agency.
        let agency_filter = params
            .agency
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let agency = agency_filter.unwrap_or_default().to_string();
        let existing = if params.restart {
            None
        } else {
            self.store
                .reconcile_unfinished(from_day, to_day, &agency, params.repair)
                .await?
        };
        let run = match existing {
            Some(run) => {
                tracing::info!(run = %run.id, checked = run.checked, "reconcile: resuming an unfinished run");
                run
            }
            None => {
                let now = now_ms();
                let run = ReconcileRun {
                    id: Uuid::now_v7().to_string(),
                    from_day,
                    to_day,
                    agency: agency.clone(),
                    repair: params.repair,
                    state: "running".into(),
                    cursor_day: None,
                    cursor_dossier: None,
                    total: self
                        .store
                        .reconcile_total(from_day, to_day, agency_filter)
                        .await?,
                    checked: 0,
                    in_sync: 0,
                    missing: 0,
                    stale: 0,
                    missing_steps: 0,
                    unknown: 0,
                    undelivered: 0,
                    repaired: 0,
                    errors: 0,
                    last_error: None,
                    started_at: now,
                    updated_at: now,
                    finished_at: None,
                };
                self.store.reconcile_begin(&run).await?;
                run
            }
        };
        Ok(run)
    }

    /// Goes through `run` from its cursor to its end.
    pub async fn go(
        &self,
        mut run: ReconcileRun,
        progress: &dyn Progress,
    ) -> Result<ReconcileRun, ReconcileError> {
        let (from_day, to_day) = (run.from_day, run.to_day);
        let agency_filter = (!run.agency.is_empty()).then(|| run.agency.clone());
        let agency_filter = agency_filter.as_deref();
        progress.start(&run);
        let limiter = NonZeroU32::new(self.config.rate_per_second)
            .map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        let limiter = limiter.as_ref();
        let mut probes_left = self.config.probe_gaps;
        loop {
            let after = run.cursor_day.zip(run.cursor_dossier.as_deref());
            let page = self
                .store
                .reconcile_dossiers(
                    from_day,
                    to_day,
                    agency_filter,
                    after,
                    self.config.page_size,
                )
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            let cursor = (last.registered_on, last.dossier.clone());
            let codes: Vec<String> = page.iter().map(|f| f.dossier.clone()).collect();
            let messages = self
                .store
                .dossier_messages(self.portal.family(), &codes)
                .await?;
            // Gaps in each agency's daily sequence, including the one between the previous
            // page's last code and this page's first.
            let mut sequence: Vec<&str> = Vec::with_capacity(codes.len() + 1);
            if let Some(prev) = run.cursor_dossier.as_deref() {
                sequence.push(prev);
            }
            sequence.extend(codes.iter().map(String::as_str));
            let probes = decide::gaps(&sequence, probes_left);
            probes_left -= probes.len();

            let lookups: Vec<String> = codes.iter().chain(probes.iter()).cloned().collect();
            let tries = self.config.lookup_tries;
            let answers: Vec<(String, Result<Option<PortalRecord>, ReadError>)> =
                futures::stream::iter(lookups)
                    .map(|code| {
                        let portal = self.portal.clone();
                        async move {
                            let answer =
                                with_retries(tries, limiter, || portal.lookup(&code)).await;
                            (code, answer)
                        }
                    })
                    .buffer_unordered(self.config.concurrency.max(1))
                    .collect()
                    .await;
            let mut answers: std::collections::HashMap<
                String,
                Result<Option<PortalRecord>, ReadError>,
            > = answers.into_iter().collect();
            if let Some((code, Err(ReadError::Refused(reason)))) = answers
                .iter()
                .find(|(_, a)| matches!(a, Err(ReadError::Refused(_))))
                .map(|(c, a)| (c.clone(), a.clone()))
            {
                // Our credentials are refused: stop here, nothing of this page recorded; the run
                // stays unfinished and the next start over the same range resumes it. Any other
                // failed lookup is one dossier's `error` finding.
                return Err(ReconcileError::Refused(format!("{code}: {reason}")));
            }

            let now = now_ms();
            let mut counts = ReconcileCounts::default();
            let mut findings = Vec::new();
            let mut repairs = Vec::new();
            let mut seen = Vec::new();
            for f in &page {
                let mine: Vec<&DossierMessage> =
                    messages.iter().filter(|m| m.dossier == f.dossier).collect();
                let answer = answers
                    .remove(&f.dossier)
                    .unwrap_or(Err(ReadError::Failed("no answer".into())));
                let checked = self.check(&run.id, run.repair, f, &mine, answer);
                counts.checked += 1;
                match &checked.verdict {
                    Some(Verdict::InSync) | Some(Verdict::NotSent) => counts.in_sync += 1,
                    Some(Verdict::Undelivered) => counts.undelivered += 1,
                    Some(Verdict::Missing) => counts.missing += 1,
                    Some(Verdict::Stale(_)) => counts.stale += 1,
                    Some(Verdict::MissingStep(_)) => counts.missing_steps += 1,
                    None => {}
                }
                if checked.error {
                    counts.errors += 1;
                }
                if !checked.repairs.is_empty() {
                    counts.repaired += 1;
                    let newest = mine.iter().map(|m| m.position).max().unwrap_or(0);
                    seen.push((f.dossier.clone(), newest));
                }
                for (kind, detail, repaired) in checked.findings {
                    findings.push(ReconcileFinding {
                        run_id: run.id.clone(),
                        dossier: f.dossier.clone(),
                        kind,
                        detail,
                        repaired,
                        at: now,
                    });
                }
                repairs.extend(checked.repairs);
            }
            for code in &probes {
                match answers.remove(code) {
                    Some(Ok(Some(record))) => {
                        counts.unknown += 1;
                        findings.push(ReconcileFinding {
                            run_id: run.id.clone(),
                            dossier: code.clone(),
                            kind: "unknown_at_source".into(),
                            detail: format!(
                                "the portal holds it (procedure {}, status {}) but no local system sent it through this gateway",
                                record.procedure, record.status
                            ),
                            repaired: false,
                            at: now,
                        });
                    }
                    Some(Err(e)) => {
                        counts.errors += 1;
                        findings.push(ReconcileFinding {
                            run_id: run.id.clone(),
                            dossier: code.clone(),
                            kind: "error".into(),
                            detail: format!("lookup of a gap in the sequence failed: {e}"),
                            repaired: false,
                            at: now,
                        });
                    }
                    _ => {}
                }
            }
            // Recorded only if the cursor is still where this page was read from: a second runner
            // of the same run (another instance, a second start) stops here, queuing nothing.
            self.store
                .reconcile_page(ReconcilePage {
                    run_id: &run.id,
                    findings,
                    repairs,
                    seen,
                    from: after,
                    cursor: (cursor.0, &cursor.1),
                    counts,
                    now_ms: now,
                })
                .await?;
            run.cursor_day = Some(cursor.0);
            run.cursor_dossier = Some(cursor.1);
            add(&mut run, counts);
            progress.page(&run);
        }
        self.store
            .reconcile_end(&run.id, "done", None, now_ms())
            .await?;
        Ok(self.store.reconcile_run(&run.id).await?.unwrap_or(run))
    }

    /// One dossier against the portal's answer.
    fn check(
        &self,
        run_id: &str,
        repair: bool,
        f: &crate::store::DossierFacts,
        mine: &[&DossierMessage],
        answer: Result<Option<PortalRecord>, ReadError>,
    ) -> Checked {
        let portal = match answer {
            Ok(p) => p,
            Err(e) => {
                return Checked {
                    findings: vec![("error".into(), format!("lookup failed: {e}"), false)],
                    repairs: Vec::new(),
                    verdict: None,
                    error: true,
                }
            }
        };
        let sent: Vec<Sent<'_>> = mine
            .iter()
            .filter_map(|m| {
                let item = decide::item(m)?;
                Some(Sent {
                    message: m,
                    expected: self.portal.expects(&m.operation, &item)?,
                })
            })
            .collect();
        let appointment = f
            .appointment_at
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(crate::time::to_wire)
            .unwrap_or_default();
        let verdict = decide::verdict(
            &sent,
            mine,
            portal.as_ref(),
            &f.procedure_code,
            &appointment,
        );
        let (kind, detail) = match &verdict {
            Verdict::Missing => (
                "missing",
                "the portal does not know this dossier".to_string(),
            ),
            Verdict::Stale(d) => ("stale_status", d.clone()),
            Verdict::MissingStep(d) => ("missing_step", d.clone()),
            _ => {
                return Checked {
                    findings: Vec::new(),
                    repairs: Vec::new(),
                    verdict: Some(verdict),
                    error: false,
                }
            }
        };
        let mut findings = Vec::new();
        let mut repairs = Vec::new();
        if repair {
            let again = decide::repairs(&verdict, &sent);
            if again.is_empty() {
                findings.push((
                    "unrepairable".to_string(),
                    "its delivered messages are no longer stored (pruned after housekeeping.retention_days): send the dossier again from the local system".to_string(),
                    false,
                ));
            }
            for m in again {
                let Some(item) = decide::item(m) else {
                    continue;
                };
                repairs.push(NewMessage {
                    peer: self.portal.family().to_string(),
                    destination: m.destination.clone(),
                    operation: m.operation.clone(),
                    key: f.dossier.clone(),
                    item,
                    at_ms: None,
                    source_seq: None,
                    warnings: vec![format!(
                        "queued again by reconciliation run {run_id}: {kind}"
                    )],
                    record_id: None,
                    mapping_version: Some(format!("reconcile:{run_id}")),
                    header: crate::peer::registry::header_rule(self.portal.family(), &m.operation)
                        .unwrap_or_default(),
                    supersedes: false,
                    once: None,
                    requires: None,
                });
            }
        }
        findings.insert(0, (kind.to_string(), detail, !repairs.is_empty()));
        Checked {
            findings,
            repairs,
            verdict: Some(verdict),
            error: false,
        }
    }
}

fn add(run: &mut ReconcileRun, c: ReconcileCounts) {
    run.checked += c.checked;
    run.in_sync += c.in_sync;
    run.missing += c.missing;
    run.stale += c.stale;
    run.missing_steps += c.missing_steps;
    run.unknown += c.unknown;
    run.undelivered += c.undelivered;
    run.repaired += c.repaired;
    run.errors += c.errors;
}

/// A lookup, tried again while the portal is busy (its `Retry-After` honoured, at most a
/// minute), each try under the rate limit.
async fn with_retries<F, Fut>(
    tries: u32,
    limiter: Option<&governor::DefaultDirectRateLimiter>,
    mut lookup: F,
) -> Result<Option<PortalRecord>, ReadError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<PortalRecord>, ReadError>>,
{
    let mut wait = Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        match lookup().await {
            Err(ReadError::Busy { reason, after }) if attempt < tries => {
                let pause = after.unwrap_or(wait).min(Duration::from_secs(60));
                tracing::info!(attempt, %reason, wait_ms = pause.as_millis() as u64, "reconcile: portal busy; trying again");
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            other => return other,
        }
    }
}

/// `reconcile`: the scheduled run over the dossiers registered in the last
/// `reconcile.window_days` days (Vietnam time), repairing when `repair_on_schedule`.
pub struct ReconcileJob {
    pub reconciler: Arc<Reconciler>,
}

#[async_trait::async_trait]
impl crate::scheduler::Job for ReconcileJob {
    async fn run(&self, tick: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        let to = tick.with_timezone(&crate::time::vietnam()).date_naive();
        let days = self.reconciler.config.window_days.saturating_sub(1);
        let from = to
            .checked_sub_days(chrono::Days::new(days.into()))
            .ok_or_else(|| anyhow::anyhow!("reconcile.window_days reaches before the calendar"))?;
        let params = Params {
            from,
            to,
            agency: None,
            repair: self.reconciler.config.repair_on_schedule,
            restart: false,
        };
        let run = self.reconciler.run(&params, &Quiet).await?;
        tracing::info!(
            run = %run.id,
            checked = run.checked,
            missing = run.missing,
            stale = run.stale,
            missing_steps = run.missing_steps,
            unknown = run.unknown,
            repaired = run.repaired,
            errors = run.errors,
            "reconcile: run finished"
        );
        Ok(())
    }
}

/// Reconciliation's gauges, described once per recorder.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "lienthong_reconcile_last_run_timestamp_seconds",
        "When the latest reconciliation run was last updated (unix seconds; 0: never)"
    );
    metrics::describe_gauge!(
        "lienthong_reconcile_last_run_dossiers",
        "Dossiers of the latest reconciliation run by outcome (checked, in_sync, missing, stale, missing_steps, unknown, undelivered, repaired, errors)"
    );
    metrics::describe_gauge!(
        "lienthong_reconcile_running",
        "1 while the latest reconciliation run is unfinished"
    );
}

/// Sets reconciliation's gauges from the latest run (inside the scrape's recorder).
pub fn record(run: Option<&ReconcileRun>) {
    let Some(r) = run else {
        metrics::gauge!("lienthong_reconcile_last_run_timestamp_seconds").set(0.0);
        return;
    };
    metrics::gauge!("lienthong_reconcile_last_run_timestamp_seconds")
        .set((r.updated_at / 1000) as f64);
    metrics::gauge!("lienthong_reconcile_running").set(if r.state == "running" {
        1.0
    } else {
        0.0
    });
    for (what, n) in [
        ("checked", r.checked),
        ("in_sync", r.in_sync),
        ("missing", r.missing),
        ("stale", r.stale),
        ("missing_steps", r.missing_steps),
        ("unknown", r.unknown),
        ("undelivered", r.undelivered),
        ("repaired", r.repaired),
        ("errors", r.errors),
    ] {
        metrics::gauge!("lienthong_reconcile_last_run_dossiers", "outcome" => what).set(n as f64);
    }
}
