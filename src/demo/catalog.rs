//! The catalog part of the demo: the simulated portal's catalog pulled and fanned out to a few
//! simulated commune subscribers (one taking only commune-level procedures), one of them down
//! meanwhile; then a few procedures change and one is withdrawn, the down one comes back, and
//! everyone must hold the latest version of what its filter takes, received in order.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::catalog::{Catalog, PullOptions, PullOutcome, Quiet, Subscriber};
use crate::sim::commune::{Availability, CommuneSim};
use crate::sim::Simulator;
use crate::store::CatalogPull;

/// What the catalog part saw.
#[derive(Debug, Default)]
pub struct CatalogReport {
    pub first: Option<CatalogPull>,
    pub second: Option<CatalogPull>,
    pub subscribers: usize,
    /// The subscriber that was down during the first pull and the change.
    pub down: String,
    /// Messages it received once back, and how many procedures they covered.
    pub down_messages: usize,
    pub down_procedures: usize,
    /// Subscribers whose final catalog differs from what their filter takes (with why).
    pub wrong: Vec<String>,
    pub order_violations: u64,
    pub unauthorized: u64,
    pub id_reuses: u64,
    pub time: Duration,
    pub timed_out: bool,
}

impl CatalogReport {
    pub fn ok(&self) -> bool {
        self.first.is_some()
            && self.second.is_some()
            && self.wrong.is_empty()
            && self.order_violations == 0
            && self.unauthorized == 0
            && self.id_reuses == 0
            && !self.timed_out
    }
}

impl fmt::Display for CatalogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lienthong demo: portal catalog → gateway → commune systems"
        )?;
        writeln!(f)?;
        if let Some(p) = &self.first {
            writeln!(
                f,
                "  first pull: {} procedures listed, {} added",
                p.listed, p.added
            )?;
        }
        if let Some(p) = &self.second {
            writeln!(
                f,
                "  second pull: {} changed, {} withdrawn, {} unchanged",
                p.changed, p.withdrawn, p.unchanged
            )?;
        }
        writeln!(
            f,
            "  {} subscribers; {} was down through both pulls: back, it received {} messages for {} procedures (only the latest version of each)",
            self.subscribers, self.down, self.down_messages, self.down_procedures
        )?;
        writeln!(
            f,
            "  contract breaches seen by the subscribers: versions out of order {}, bad signatures {}, one id for two requests {}",
            self.order_violations, self.unauthorized, self.id_reuses
        )?;
        for w in &self.wrong {
            writeln!(f, "    {w}")?;
        }
        if self.timed_out {
            writeln!(f, "  the fan-out did not finish before the timeout")?;
        }
        writeln!(f, "  catalog done in {:.2} s", self.time.as_secs_f64())?;
        writeln!(
            f,
            "  result: {}",
            if self.ok() {
                "every subscriber holds the latest version of every procedure its filter takes"
            } else {
                "FAILED (see above)"
            }
        )
    }
}

/// What `subscriber` should hold now: (code, in force, the gateway's latest version) of every
/// procedure of the portal's catalog its filter takes.
async fn expected(
    catalog: &Catalog,
    portal: &Simulator,
    subscriber: &Subscriber,
) -> anyhow::Result<Vec<(String, bool, i64)>> {
    let mut out = Vec::new();
    for code in portal.catalog().codes() {
        if let Some(p) = portal.catalog().procedure(&code) {
            if subscriber.filter.takes(&p) {
                let (latest, _) = catalog.show(&code, None).await?;
                out.push((code, p["TRANGTHAI"] == "1", latest.version));
            }
        }
    }
    Ok(out)
}

/// Runs the catalog part against a running gateway (whose commune lane delivers).
pub async fn run(
    catalog: Arc<Catalog>,
    portal: &Simulator,
    communes: &CommuneSim,
    timeout: Duration,
) -> anyhow::Result<CatalogReport> {
    let started = Instant::now();
    let deadline = started + timeout;
    let names = communes.names();
    let down = names.last().cloned().unwrap_or_default();
    let mut report = CatalogReport {
        subscribers: names.len(),
        down: down.clone(),
        ..CatalogReport::default()
    };
    communes.set_availability(
        &down,
        Availability::Unavailable {
            retry_after_secs: 1,
        },
    );
    report.first = match catalog.pull(PullOptions::default(), &Quiet).await? {
        PullOutcome::Published { pull, .. } => Some(pull),
        PullOutcome::Held { .. } => None,
    };
    let live: Vec<&Subscriber> = catalog
        .subscribers()
        .iter()
        .filter(|s| s.name != down)
        .collect();
    // The live ones get everything while the down one answers 503.
    for s in &live {
        let want = expected(&catalog, portal, s).await?.len();
        while communes.catalog(&s.name).len() < want {
            if Instant::now() > deadline {
                report.timed_out = true;
                return Ok(report);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Some procedures change, one is withdrawn; pulled again while the down one is still down.
    let changed = portal.catalog().change_some(5, 7);
    if let Some(code) = portal
        .catalog()
        .codes()
        .into_iter()
        .find(|c| !changed.contains(c))
    {
        portal.catalog().withdraw(&code);
    }
    report.second = match catalog.pull(PullOptions::default(), &Quiet).await? {
        PullOutcome::Published { pull, .. } => Some(pull),
        PullOutcome::Held { .. } => None,
    };
    let before = communes.history(&down).len();
    communes.set_availability(&down, Availability::Up);
    // Everyone ends with the latest of what its filter takes.
    for s in catalog.subscribers() {
        let want = expected(&catalog, portal, s).await?;
        loop {
            let has = communes.catalog(&s.name);
            let done = want.iter().all(|(code, in_force, latest)| {
                has.get(code)
                    .is_some_and(|a| a.withdrawn != *in_force && a.version as i64 == *latest)
            });
            if done {
                break;
            }
            if Instant::now() > deadline {
                report.timed_out = true;
                report.wrong.push(format!("{}: not caught up", s.name));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let history = communes.history(&down);
    report.down_messages = history.len() - before;
    let mut codes: Vec<&str> = history[before..].iter().map(|h| h.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    report.down_procedures = codes.len();
    let totals = communes.totals();
    report.order_violations = totals.order_violations;
    report.unauthorized = totals.unauthorized;
    report.id_reuses = totals.id_reuses;
    report.time = started.elapsed();
    Ok(report)
}
