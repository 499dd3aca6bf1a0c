//! `[reconcile]`: how hard reconciliation may ask the portal, and what the scheduled run checks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Lookups (`TraCuuHoSo`) in flight at once.
    pub concurrency: usize,
    /// Lookups per second at most (the portal's rate limit for this account); 0 = no limit.
    pub rate_per_second: u32,
    /// Dossiers per page: each page's findings, repairs and cursor are one transaction.
    pub page_size: i64,
    /// Tries of one lookup while the portal answers "busy" (429, 503, timeouts).
    pub lookup_tries: u32,
    /// Codes missing from an agency's daily sequence (between two dossiers it sent) that a run
    /// looks up, to find dossiers the portal holds that no local system sent here; 0 = none.
    pub probe_gaps: usize,
    /// The scheduled run (`[schedules] reconcile`) checks dossiers registered in the last this
    /// many days.
    pub window_days: u32,
    /// Whether the scheduled run repairs what it finds (the CLI asks with `--repair`).
    pub repair_on_schedule: bool,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            rate_per_second: 20,
            page_size: 200,
            lookup_tries: 5,
            probe_gaps: 200,
            window_days: 30,
            repair_on_schedule: false,
        }
    }
}

impl ReconcileConfig {
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.concurrency == 0 || self.concurrency > 256 {
            problems.push(format!(
                "reconcile.concurrency: {} must be 1 to 256",
                self.concurrency
            ));
        }
        if !(1..=5000).contains(&self.page_size) {
            problems.push(format!(
                "reconcile.page_size: {} must be 1 to 5000",
                self.page_size
            ));
        }
        if self.lookup_tries == 0 {
            problems.push("reconcile.lookup_tries: must be at least 1".into());
        }
        if !(1..=3650).contains(&self.window_days) {
            problems.push(format!(
                "reconcile.window_days: {} must be 1 to 3650",
                self.window_days
            ));
        }
        problems
    }
}
