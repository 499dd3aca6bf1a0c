//! Scheduled jobs: `[schedules]` names a job and gives it a cron expression (with seconds, read
//! in Vietnam time like every cron expression: see [`crate::time`]). When several instances share one store, only the leader runs them: the
//! instance holding the store's [`LEADER_LEASE`]. It renews the lease every third of its time to
//! live and checks it still holds it before starting a job; an instance that dies stops renewing,
//! and another takes the lease over once it has expired. A tick missed meanwhile is not caught up
//! (the next leader starts from the next tick), and no tick runs on two instances.
//!
//! A job is a [`Job`] registered under its name ([`builtin_job`]); this module knows nothing of
//! what jobs do and runs no SQL (leases are store calls).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};
use crate::time::Cron;

/// The name of the lease whose holder runs the scheduled jobs.
pub const LEADER_LEASE: &str = "scheduler";

/// The jobs this version can run, by the name `[schedules]` gives them. Jobs of features
/// above the scheduler (the catalog pull) are registered by `app`, under these names.
pub const JOB_NAMES: &[&str] = &[OUTBOX_STATS, CATALOG_PULL, POSTAL_POLL, RECONCILE];

/// Reconciliation with the portal's record (`reconcile::ReconcileJob`).
pub const RECONCILE: &str = "reconcile";

/// The catalog's pull and fan-out (`catalog::PullJob`).
pub const CATALOG_PULL: &str = "catalog_pull";

/// The postal service's tracking poll (`postal::PollJob`).
pub const POSTAL_POLL: &str = "postal_poll";

const OUTBOX_STATS: &str = "outbox_stats";

/// Something the scheduler runs at the ticks of its cron expression.
#[async_trait::async_trait]
pub trait Job: Send + Sync {
    /// Runs once for the tick `tick`. May be cut short (the future dropped) when this instance
    /// loses the leader lease or shuts down.
    async fn run(&self, tick: DateTime<Utc>) -> anyhow::Result<()>;
}

/// The built-in job called `name`, if this version has one (see [`JOB_NAMES`]).
pub fn builtin_job(name: &str, store: Arc<dyn Store>) -> Option<Arc<dyn Job>> {
    match name {
        OUTBOX_STATS => Some(Arc::new(OutboxStats { store })),
        _ => None,
    }
}

/// `outbox_stats`: logs how many messages each peer has in each state, and the quarantine and
/// dead-letter totals (counts only, no personal data).
pub struct OutboxStats {
    store: Arc<dyn Store>,
}

#[async_trait::async_trait]
impl Job for OutboxStats {
    async fn run(&self, _tick: DateTime<Utc>) -> anyhow::Result<()> {
        let counts = self.store.outbox_counts().await?;
        let mut dead = 0;
        for c in &counts {
            if c.state == "dead" {
                dead += c.count;
            }
            tracing::info!(peer = %c.peer, operation = %c.operation, state = %c.state, count = c.count, retried = c.retried, "outbox");
        }
        let quarantined = self.store.quarantine_count().await?;
        tracing::info!(dead, quarantined, "outbox totals");
        Ok(())
    }
}

struct Entry {
    name: String,
    schedule: Cron,
    job: Arc<dyn Job>,
    /// The next tick to run, while leader.
    next: Option<DateTime<Utc>>,
    running: Option<JoinHandle<()>>,
}

/// Runs the jobs of `[schedules]` while this instance holds the leader lease.
pub struct Scheduler {
    store: Arc<dyn Store>,
    holder: String,
    ttl: Duration,
    entries: Vec<Entry>,
    leader: bool,
}

impl Scheduler {
    /// `schedules` maps job names to cron expressions; `jobs` finds the job of a name. Every
    /// unknown name and unreadable expression is reported, one line each.
    pub fn new(
        store: Arc<dyn Store>,
        holder: String,
        ttl: Duration,
        schedules: &BTreeMap<String, String>,
        jobs: impl Fn(&str) -> Option<Arc<dyn Job>>,
    ) -> Result<Self, Vec<String>> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (name, expr) in schedules {
            let schedule = match Cron::parse(expr) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("schedules.{name}: {e}"));
                    continue;
                }
            };
            match jobs(name) {
                Some(job) => entries.push(Entry {
                    name: name.clone(),
                    schedule,
                    job,
                    next: None,
                    running: None,
                }),
                None => problems.push(unknown_job(name)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            store,
            holder,
            ttl: ttl.max(Duration::from_millis(3)),
            entries,
            leader: false,
        })
    }

    /// Whether this instance held the leader lease at its last turn.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// One turn at `now`: renew the leader lease (or try to take it), then, as leader, start
    /// every job whose tick has come. Returns the names of the jobs started. Tests drive this
    /// with their own clock; [`Scheduler::run`] drives it with the real one.
    pub async fn turn(&mut self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let now_ms = now.timestamp_millis();
        if self.leader {
            let renewed = self
                .store
                .renew_lease(LEADER_LEASE, &self.holder, self.ttl, now_ms)
                .await;
            match renewed {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        "lost the scheduler lease to another instance; scheduled jobs stop here"
                    );
                    self.step_down();
                }
                Err(e) => {
                    // Unable to prove the lease is still ours: stop until it is.
                    self.step_down();
                    return Err(e);
                }
            }
        }
        if !self.leader {
            if !self
                .store
                .try_acquire_lease(LEADER_LEASE, &self.holder, self.ttl, now_ms)
                .await?
            {
                return Ok(Vec::new());
            }
            tracing::info!(
                jobs = self.entries.len(),
                "this instance now runs the scheduled jobs"
            );
            self.leader = true;
            for e in &mut self.entries {
                e.next = e.schedule.next_after(now);
            }
        }
        let mut started = Vec::new();
        for e in &mut self.entries {
            let Some(tick) = e.next.filter(|t| *t <= now) else {
                continue;
            };
            e.next = e.schedule.next_after(now);
            if e.running.as_ref().is_some_and(|h| !h.is_finished()) {
                tracing::warn!(job = %e.name, %tick, "job still running from its last tick; this tick is skipped");
                continue;
            }
            let job = e.job.clone();
            let name = e.name.clone();
            e.running = Some(tokio::spawn(async move {
                tracing::debug!(job = %name, %tick, "scheduled job starts");
                if let Err(error) = job.run(tick).await {
                    tracing::warn!(job = %name, %tick, error = %format!("{error:#}"), "scheduled job failed");
                }
            }));
            started.push(e.name.clone());
        }
        Ok(started)
    }

    /// When the next turn is due: a third of the lease's time to live (to renew it, or to look
    /// for it free), or the next tick if sooner.
    fn next_turn(&self, now: DateTime<Utc>) -> Duration {
        let renew = self.ttl / 3;
        self.entries
            .iter()
            .filter_map(|e| e.next)
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .fold(renew, Duration::min)
            .max(Duration::from_millis(1))
    }

    fn step_down(&mut self) {
        self.leader = false;
        for e in &mut self.entries {
            e.next = None;
            if let Some(h) = e.running.take() {
                h.abort();
            }
        }
    }

    /// Takes turns with the real clock until `shutdown`, then stops its jobs and gives the
    /// lease up so another instance takes over at once.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if self.entries.is_empty() {
            return;
        }
        while !shutdown.is_cancelled() {
            let now = Utc::now();
            if let Err(e) = self.turn(now).await {
                tracing::warn!(error = %e, "scheduler: store unavailable; scheduled jobs wait");
            }
            let wait = self.next_turn(Utc::now());
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let was_leader = self.leader;
        self.step_down();
        if was_leader {
            if let Err(e) = self.store.release_lease(LEADER_LEASE, &self.holder).await {
                tracing::warn!(error = %e, "scheduler: could not give the lease up; it expires by itself");
            }
        }
    }
}

/// `[schedules]`: a cron expression per job name.
pub type Schedules = BTreeMap<String, String>;

/// Every problem of `[schedules]`: expressions that do not parse, names of no job.
pub fn check(schedules: &Schedules) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, expr) in schedules {
        if let Err(e) = Cron::parse(expr) {
            problems.push(format!("schedules.{name}: {e}"));
        }
        if !JOB_NAMES.contains(&name.as_str()) {
            problems.push(unknown_job(name));
        }
    }
    problems
}

/// The line reported for a job name this version does not have.
pub fn unknown_job(name: &str) -> String {
    format!(
        "schedules.{name}: no job of that name in this version (known: {})",
        JOB_NAMES.join(", ")
    )
}
