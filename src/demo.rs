//! `lienthong demo`: the whole flow in one process. A temporary SQLite store, the built-in
//! simulator of the national portal with faults switched on, the gateway, and the fixtures'
//! local records (generated reproducibly by [`crate::sim::local`]) pushed through HTTP ingest.
//! At the end it checks, from the simulator's own record, that every valid dossier and step
//! arrived in order, and prints a summary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::Gateway;
use crate::config::Config;
use crate::sim::commune as communes;

mod catalog;
mod postal;
mod reconcile;
use crate::sim::local::{generate, LocalDataset};
use crate::sim::{EventKind, FaultRates, SimSettings, Simulator};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// How many local dossiers to generate (with their steps).
    #[arg(long, default_value_t = 240)]
    pub dossiers: usize,
    /// How many of them are deliberately broken.
    #[arg(long, default_value_t = 12)]
    pub invalid: usize,
    /// Seed of the generated records and of the simulator's faults.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Switch the simulator's faults off.
    #[arg(long)]
    pub no_faults: bool,
    /// Give up waiting for delivery after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            dossiers: 240,
            invalid: 12,
            seed: 2026,
            no_faults: false,
            timeout_secs: 300,
        }
    }
}

/// The faults the demo switches on: every kind the portal is known for, a few percent each.
pub fn demo_faults() -> FaultRates {
    FaultRates {
        http503: 0.03,
        http429: 0.02,
        http500: 0.02,
        slow: 0.03,
        drop_before_apply: 0.02,
        drop_after_apply: 0.02,
        envelope_temporary: 0.02,
        item_temporary: 0.05,
        session_expiry: 0.02,
        slow_ms: 300,
        retry_after_secs: 1,
        retry_after_as_date: false,
    }
}

/// What the demo saw.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub dossiers_sent: usize,
    pub steps_sent: usize,
    pub dossiers_accepted: usize,
    pub steps_accepted: usize,
    pub steps_waiting: usize,
    /// `(kind, MaHoSo or index, reason)` of every record rejected at ingest.
    pub rejected: Vec<(&'static str, String, String)>,
    /// Broken dossiers the generator made that ingest did not reject.
    pub missed_invalid: Vec<String>,
    /// Rejected dossiers that were not meant to be broken.
    pub wrongly_rejected: Vec<String>,
    /// By operation and state.
    pub outbox: BTreeMap<(String, String), (i64, i64)>,
    pub dead: Vec<String>,
    pub dossiers_at_portal: usize,
    pub steps_at_portal: usize,
    pub order_violations: Vec<String>,
    pub missing_at_portal: Vec<String>,
    pub sim: Option<crate::sim::SimStats>,
    pub ingest_time: Duration,
    pub delivery_time: Duration,
    pub timed_out: bool,
    /// The catalog part: pull, fan-out to the simulated communes.
    pub catalog: Option<catalog::CatalogReport>,
    /// The postal part: orders, tracking by push and poll, steps at the portal.
    pub postal: Option<postal::PostalReport>,
    /// Reconciliation with repair, and the month's service report.
    pub reconcile: Option<reconcile::ReconcileReport>,
}

impl DemoReport {
    fn count(&self, op: &str, state: &str) -> i64 {
        self.outbox
            .get(&(op.to_string(), state.to_string()))
            .map_or(0, |c| c.0)
    }
    fn retried(&self, op: &str) -> i64 {
        self.outbox
            .iter()
            .filter(|((o, _), _)| o == op)
            .map(|(_, c)| c.1)
            .sum()
    }

    /// Every valid record reached the portal, in order, exactly as the contract says.
    pub fn ok(&self) -> bool {
        let violations = self.sim.as_ref().map_or(1, |s| {
            s.violations.id_reused_with_different_body
                + s.violations.same_body_under_two_ids
                + s.violations.missing_request_id
                + s.out_of_order_steps
        });
        !self.timed_out
            && self
                .catalog
                .as_ref()
                .is_some_and(catalog::CatalogReport::ok)
            && self.postal.as_ref().is_some_and(postal::PostalReport::ok)
            && self
                .reconcile
                .as_ref()
                .is_some_and(reconcile::ReconcileReport::ok)
            && self.missed_invalid.is_empty()
            && self.wrongly_rejected.is_empty()
            && self.dead.is_empty()
            && self.order_violations.is_empty()
            && self.missing_at_portal.is_empty()
            && violations == 0
            && self.count("DongBoHoSoMC", "delivered") == self.dossiers_accepted as i64
            && self.count("CapNhatTienDoHoSoMC", "delivered")
                == (self.steps_accepted - self.steps_waiting) as i64
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = "DongBoHoSoMC";
        let s = "CapNhatTienDoHoSoMC";
        writeln!(f)?;
        writeln!(
            f,
            "lienthong demo: local system → gateway → portal simulator"
        )?;
        writeln!(f)?;
        writeln!(f, "  {:<34} {:>10} {:>10}", "", "dossiers", "steps")?;
        let row = |f: &mut fmt::Formatter<'_>, label: &str, a: String, b: String| {
            writeln!(f, "  {label:<34} {a:>10} {b:>10}")
        };
        row(
            f,
            "sent by the local system",
            self.dossiers_sent.to_string(),
            self.steps_sent.to_string(),
        )?;
        row(
            f,
            "accepted at ingest",
            self.dossiers_accepted.to_string(),
            self.steps_accepted.to_string(),
        )?;
        let rej = |k: &str| {
            self.rejected
                .iter()
                .filter(|r| r.0 == k)
                .count()
                .to_string()
        };
        row(
            f,
            "rejected at ingest (quarantined)",
            rej("dossier"),
            rej("step"),
        )?;
        row(
            f,
            "waiting for their dossier",
            "-".into(),
            self.steps_waiting.to_string(),
        )?;
        row(
            f,
            "delivered to dvcqg",
            self.count(d, "delivered").to_string(),
            self.count(s, "delivered").to_string(),
        )?;
        row(
            f,
            "needed more than one try",
            self.retried(d).to_string(),
            self.retried(s).to_string(),
        )?;
        row(
            f,
            "dead-lettered",
            self.count(d, "dead").to_string(),
            self.count(s, "dead").to_string(),
        )?;
        row(
            f,
            "still queued",
            (self.count(d, "pending") + self.count(d, "inflight")).to_string(),
            (self.count(s, "pending") + self.count(s, "inflight")).to_string(),
        )?;
        row(
            f,
            "present at the portal simulator",
            self.dossiers_at_portal.to_string(),
            self.steps_at_portal.to_string(),
        )?;
        writeln!(f)?;
        if let Some(st) = &self.sim {
            let faults: Vec<String> = st
                .faults_injected
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect();
            writeln!(
                f,
                "  peer dvcqg: {} requests; faults injected: {}",
                st.requests,
                if faults.is_empty() {
                    "none".into()
                } else {
                    faults.join(", ")
                }
            )?;
            writeln!(
                f,
                "  repeats absorbed by X-Request-ID: {}; session errors answered by re-login: {}",
                st.duplicates_absorbed, st.session_errors
            )?;
            writeln!(
                f,
                "  contract breaches seen by the portal: same id with another body {}, same body under two ids {}, no id {}, steps out of order {}",
                st.violations.id_reused_with_different_body,
                st.violations.same_body_under_two_ids,
                st.violations.missing_request_id,
                st.out_of_order_steps
            )?;
        }
        let secs = |d: Duration| d.as_secs_f64().max(1e-3);
        let records = (self.dossiers_sent + self.steps_sent) as f64;
        let delivered = (self.count(d, "delivered") + self.count(s, "delivered")) as f64;
        writeln!(
            f,
            "  ingest: {:.2} s ({:.0} records/s); delivery finished {:.2} s after ingest began ({:.0} messages/s, faults included)",
            secs(self.ingest_time),
            records / secs(self.ingest_time),
            secs(self.delivery_time),
            delivered / secs(self.delivery_time)
        )?;
        writeln!(f)?;
        if !self.rejected.is_empty() {
            writeln!(f, "  rejected records and why:")?;
            for (kind, who, why) in &self.rejected {
                writeln!(f, "    {kind} {who}: {why}")?;
            }
            writeln!(f)?;
        }
        for (label, list) in [
            (
                "broken dossiers that were NOT rejected",
                &self.missed_invalid,
            ),
            ("valid dossiers that were rejected", &self.wrongly_rejected),
            ("dead letters", &self.dead),
            ("order violations", &self.order_violations),
            ("missing at the portal", &self.missing_at_portal),
        ] {
            if !list.is_empty() {
                writeln!(f, "  {label}:")?;
                for item in list.iter().take(20) {
                    writeln!(f, "    {item}")?;
                }
            }
        }
        if self.timed_out {
            writeln!(f, "  delivery did not finish before the timeout")?;
        }
        if let Some(c) = &self.catalog {
            writeln!(f)?;
            write!(f, "{c}")?;
            writeln!(f)?;
        }
        if let Some(p) = &self.postal {
            write!(f, "{p}")?;
            writeln!(f)?;
        }
        if let Some(r) = &self.reconcile {
            write!(f, "{r}")?;
            writeln!(f)?;
        }
        writeln!(
            f,
            "  result: {}",
            if self.ok() {
                "every valid dossier and step reached the portal, in order; every invalid one was rejected with a reason; every commune holds the latest catalog; every postal order was made once and tracked into the dossier; the portal's drift was found and repaired"
            } else {
                "FAILED (see above)"
            }
        )
    }
}

/// Runs the demo, prints its summary, and returns the exit code (0 when [`DemoReport::ok`]).
pub async fn run(opts: DemoOptions) -> anyhow::Result<i32> {
    let report = run_demo(&opts, true).await?;
    println!("{report}");
    Ok(if report.ok() { 0 } else { 1 })
}

/// The folder holding the shipped mapping files: `./mappings` when run from a checkout,
/// else the one this binary was built from.
fn mappings_dir() -> PathBuf {
    let here = PathBuf::from("mappings");
    if here.join("vendor-a/dossier.toml").exists() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mappings")
    }
}

const TOKEN: &str = "demo-source-token";

/// Procedures in the demo's portal catalog (the simulator's default is a province's 2,000).
const DEMO_PROCEDURES: usize = 400;
/// Simulated commune subscribers in the demo.
const DEMO_COMMUNES: usize = 4;
const COMMUNE_SECRET: &str = "demo-commune-secret-";

fn demo_config(
    store_url: &str,
    sim_base: &str,
    sim: &SimSettings,
    communes: &str,
    vnpost: &str,
) -> anyhow::Result<Config> {
    let maps = mappings_dir()
        .canonicalize()
        .context("finding the shipped mappings/ folder")?;
    let text = format!(
        r#"
[store]
url = "{store_url}"

[delivery]
poll_interval_ms = 50
lease_seconds = 10
backoff_initial_ms = 100
backoff_cap_ms = 2000
retry_after_cap_seconds = 2
max_attempts = 1000
timeout_ms = 5000
concurrency = 4
# The demo's faults may fail a few batches in a row: a short cool-down keeps it brisk.
breaker_cool_down_seconds = 1

[peers.dvcqg]
base_url = "{sim_base}"
madonvi = "000.00.01.H56"
auth = {{ mode = "session", dstcode = "{dst}", username = "{user}", password = "{pass}" }}

[[sources]]
name = "tinh"
token = "{TOKEN}"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Trung tâm Phục vụ hành chính công tỉnh" }}

# A commune's system whose dossiers may go by post: its dossier route also makes VNPost
# collection and delivery orders.
[[sources]]
name = "{postal_source}"
token = "{postal_token}"
dossier_mapping = "{maps}/vendor-a/dossier.toml"
step_mapping = "{maps}/vendor-a/step.toml"
vars = {{ DonViXuLy = "Trung tâm Phục vụ hành chính công xã Quảng Phú", CustomerCode = "C00330117", DiaChiDonVi = "Trụ sở Ủy ban nhân dân xã Quảng Phú, thôn Trung, xã Quảng Phú", DienThoaiDonVi = "02373912468", EmailDonVi = "motcua.quangphu@example.com", MaTinhBuuChinh = "40", MaHuyenBuuChinh = "4016" }}
[sources.triggers]
postal_collection = "{maps}/vendor-a/postal_collection.toml"
postal_delivery = "{maps}/vendor-a/postal_delivery.toml"

[postal]
release_every_ms = 200
callback_secret = "{push_secret}"

{vnpost}
[catalog]
rate_per_second = 0
concurrency = 8

{communes}
[peers.commune.policy]
concurrency = 16
breaker_failures = 3
backoff_initial_ms = 100
backoff_cap_ms = 1000
"#,
        maps = maps.display(),
        postal_source = postal::SOURCE,
        postal_token = postal::TOKEN,
        push_secret = postal::PUSH_SECRET,
        dst = sim.dstcode,
        user = sim.username,
        pass = sim.password,
    );
    let mut cfg = Config::from_toml(&text).map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    // The second commune system shows only commune-level procedures.
    if let Some(s) = cfg
        .peers
        .commune
        .as_mut()
        .and_then(|c| c.subscribers.get_mut(1))
    {
        s.filter.levels = vec!["4".into()];
    }
    Ok(cfg)
}

/// Runs the whole flow; `progress` draws bars on the terminal.
pub async fn run_demo(opts: &DemoOptions, progress: bool) -> anyhow::Result<DemoReport> {
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let store_url = format!("sqlite://{}", dir.path().join("lienthong.db").display());
    let shutdown = CancellationToken::new();

    let settings = SimSettings {
        faults: if opts.no_faults {
            FaultRates::default()
        } else {
            demo_faults()
        },
        seed: opts.seed,
        procedures: DEMO_PROCEDURES,
        ..SimSettings::default()
    };
    let sim = Simulator::new(settings.clone());
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_base = format!("http://{}", sim_listener.local_addr()?);
    tokio::spawn(crate::sim::serve(
        sim_listener,
        sim.clone(),
        shutdown.clone(),
    ));

    let communes = communes::numbered(DEMO_COMMUNES, COMMUNE_SECRET);
    let commune_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let commune_addr = commune_listener.local_addr()?;
    tokio::spawn(communes::serve(
        commune_listener,
        communes.clone(),
        shutdown.clone(),
    ));
    let vnpost = crate::sim::vnpost::VnpostSim::default();
    let vnpost_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let vnpost_addr = vnpost_listener.local_addr()?;
    tokio::spawn(crate::sim::vnpost::serve(
        vnpost_listener,
        vnpost.clone(),
        shutdown.clone(),
    ));
    let cfg = demo_config(
        &store_url,
        &sim_base,
        &settings,
        &communes::peers_toml(commune_addr, &communes.names(), COMMUNE_SECRET),
        &crate::sim::vnpost::peers_toml(vnpost_addr, vnpost.settings()),
    )?;
    let gateway = Gateway::build(&cfg, dir.path()).await?;
    let store = gateway.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let gw = tokio::spawn(gateway.run(listener, shutdown.clone()));

    let data = generate(opts.seed, opts.dossiers, opts.invalid);
    let mut report = DemoReport {
        dossiers_sent: data.dossiers.len(),
        steps_sent: data.steps.len(),
        ..DemoReport::default()
    };
    let started = Instant::now();
    let bar = |len: usize, msg: &'static str| {
        let b = if progress {
            ProgressBar::new(len as u64)
        } else {
            ProgressBar::hidden()
        };
        b.set_style(
            ProgressStyle::with_template("  {msg:<24} [{bar:40}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message(msg);
        b
    };

    let client = reqwest::Client::new();
    let ingest_bar = bar(data.dossiers.len() + data.steps.len(), "ingest (HTTP push)");
    let accepted_dossiers = push(
        &client,
        &base,
        "dossiers",
        &data.dossiers,
        25,
        &mut report,
        &ingest_bar,
    )
    .await?;
    push(
        &client,
        &base,
        "steps",
        &data.steps,
        50,
        &mut report,
        &ingest_bar,
    )
    .await?;
    ingest_bar.finish();
    report.ingest_time = started.elapsed();
    check_rejections(&data, &mut report);

    let to_deliver = report.dossiers_accepted + report.steps_accepted - report.steps_waiting;
    let deliver_bar = bar(to_deliver, "delivery to the portal");
    let deadline = started + Duration::from_secs(opts.timeout_secs);
    loop {
        let counts = store.outbox_counts().await?;
        let delivered: i64 = counts
            .iter()
            .filter(|c| c.state == "delivered")
            .map(|c| c.count)
            .sum();
        let open: i64 = counts
            .iter()
            .filter(|c| c.state == "pending" || c.state == "inflight")
            .map(|c| c.count)
            .sum();
        deliver_bar.set_position(delivered as u64);
        if open == 0 {
            break;
        }
        if Instant::now() > deadline {
            report.timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    deliver_bar.finish();
    report.delivery_time = started.elapsed();
    for c in store.outbox_counts().await? {
        report
            .outbox
            .insert((c.operation, c.state), (c.count, c.retried));
    }
    report.dead = store
        .dead_letters(100)
        .await?
        .into_iter()
        .map(|d| format!("{} {}: {}", d.operation, d.dossier, d.error))
        .collect();

    verify_at_portal(&sim, &data, &accepted_dossiers, &mut report);
    report.sim = Some(sim.stats());

    let catalog_service = std::sync::Arc::new(crate::catalog::Catalog::from_config(
        store.clone(),
        &cfg.peers,
        &cfg.catalog,
        |name| cfg.policy_for(name),
    )?);
    report.catalog = Some(
        catalog::run(
            catalog_service,
            &sim,
            &communes,
            Duration::from_secs(opts.timeout_secs),
        )
        .await?,
    );
    let postal_service = crate::postal::Postal::from_config(
        store.clone(),
        &cfg.peers,
        &cfg.postal,
        dir.path(),
        |name| cfg.policy_for(name),
    )?;
    report.postal = Some(
        postal::run(
            &base,
            &postal_service,
            &sim,
            &vnpost,
            opts.seed,
            Duration::from_secs(opts.timeout_secs),
        )
        .await?,
    );
    let reconciler = crate::reconcile::Reconciler::new(
        store.clone(),
        crate::peer::registry::portal_records(&cfg.peers, |name| cfg.policy_for(name))
            .map_err(anyhow::Error::msg)?
            .context("the demo's portal")?,
        cfg.reconcile.clone(),
    );
    report.reconcile = Some(
        reconcile::run(
            store.clone(),
            reconciler,
            crate::report::Reports::new(store.clone(), cfg.report.clone()),
            &sim,
            &{
                let mut codes: Vec<String> = accepted_dossiers.iter().cloned().collect();
                codes.sort();
                codes
            },
            Duration::from_secs(opts.timeout_secs),
        )
        .await?,
    );
    shutdown.cancel();
    let _ = gw.await;
    Ok(report)
}

/// Pushes records in chunks; returns the `MaHoSo` of every accepted record.
async fn push(
    client: &reqwest::Client,
    base: &str,
    kind: &str,
    records: &[Value],
    chunk: usize,
    report: &mut DemoReport,
    bar: &ProgressBar,
) -> anyhow::Result<HashSet<String>> {
    let mut accepted = HashSet::new();
    for part in records.chunks(chunk) {
        let resp = client
            .post(format!("{base}/ingest/v1/tinh/{kind}"))
            .bearer_auth(TOKEN)
            .json(part)
            .send()
            .await
            .with_context(|| format!("pushing {kind}"))?;
        let status = resp.status();
        let answer: Value = resp.json().await.context("reading the ingest answer")?;
        anyhow::ensure!(status.as_u16() == 202, "ingest answered {status}: {answer}");
        for a in answer["accepted"].as_array().into_iter().flatten() {
            let i = a["index"].as_u64().unwrap_or(0) as usize;
            let code = part.get(i).and_then(|r| r["MaHoSo"].as_str()).unwrap_or("");
            accepted.insert(code.to_string());
            let waiting = a["warnings"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w == "waiting for dossier"));
            match kind {
                "dossiers" => report.dossiers_accepted += 1,
                _ => {
                    report.steps_accepted += 1;
                    if waiting {
                        report.steps_waiting += 1;
                    }
                }
            }
        }
        for r in answer["rejected"].as_array().into_iter().flatten() {
            let i = r["index"].as_u64().unwrap_or(0) as usize;
            let code = part
                .get(i)
                .and_then(|r| r["MaHoSo"].as_str())
                .unwrap_or("?")
                .to_string();
            let why = r["error"].as_str().unwrap_or("").to_string();
            report.rejected.push((
                if kind == "dossiers" {
                    "dossier"
                } else {
                    "step"
                },
                code,
                why,
            ));
        }
        bar.inc(part.len() as u64);
    }
    Ok(accepted)
}

fn check_rejections(data: &LocalDataset, report: &mut DemoReport) {
    let meant: HashSet<&str> = data.invalid.iter().map(|i| i.ma_ho_so.as_str()).collect();
    let rejected: HashSet<&str> = report
        .rejected
        .iter()
        .filter(|r| r.0 == "dossier")
        .map(|r| r.1.as_str())
        .collect();
    report.missed_invalid = data
        .invalid
        .iter()
        .filter(|i| !rejected.contains(i.ma_ho_so.as_str()))
        .map(|i| format!("{} ({}: {})", i.ma_ho_so, i.field, i.why))
        .collect();
    report.wrongly_rejected = report
        .rejected
        .iter()
        .filter(|r| !meant.contains(r.1.as_str()))
        .map(|r| format!("{} {}: {}", r.0, r.1, r.2))
        .collect();
}

/// Checks the portal's record: each accepted dossier exists, was created before any step, and
/// got every accepted step, in time order.
fn verify_at_portal(
    sim: &Simulator,
    data: &LocalDataset,
    accepted_dossiers: &HashSet<String>,
    report: &mut DemoReport,
) {
    let mut expected_steps: HashMap<&str, usize> = HashMap::new();
    for s in &data.steps {
        if let Some(code) = s["MaHoSo"].as_str() {
            if accepted_dossiers.contains(code) {
                *expected_steps.entry(code).or_default() += 1;
            }
        }
    }
    for code in accepted_dossiers {
        let events = sim.events(code);
        if sim.dossier(code).is_none() {
            report.missing_at_portal.push(code.clone());
            continue;
        }
        report.dossiers_at_portal += 1;
        if !matches!(events.first().map(|e| &e.kind), Some(EventKind::Create)) {
            report.order_violations.push(format!(
                "{code}: first event at the portal is not the dossier's creation"
            ));
        }
        let steps: Vec<&str> = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Step))
            .filter_map(|e| e.thoi_diem.as_deref())
            .collect();
        report.steps_at_portal += steps.len();
        if steps.windows(2).any(|w| w[0] > w[1]) {
            report
                .order_violations
                .push(format!("{code}: steps arrived out of time order"));
        }
        let want = expected_steps.get(code.as_str()).copied().unwrap_or(0);
        if steps.len() != want {
            report.missing_at_portal.push(format!(
                "{code}: {} of {want} steps at the portal",
                steps.len()
            ));
        }
    }
}
