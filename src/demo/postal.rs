//! The postal part of the demo: a commune's dossiers submitted by post and results delivered
//! by post, through the simulated VNPost. Orders are made by the source's triggers and held
//! until each dossier's header is at the portal; VNPost's postmen then collect and deliver (one
//! collection fails, one delivery fails, one is cancelled); tracking comes back half by signed
//! push and all of it by poll (the pushed events are applied once), and becomes steps at the
//! portal: a delivery is status "10" after the dossier's "9".

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::postal::{OrderView, Postal, Quiet};
use crate::sim::vnpost::VnpostSim;
use crate::sim::{EventKind, Simulator};

/// The source the postal part posts to (its dossier route carries the postal triggers).
pub const SOURCE: &str = "xa";
pub const TOKEN: &str = "demo-commune-source-token";
pub const PUSH_SECRET: &str = "demo-vnpost-push-secret";

/// How many dossiers of each kind the postal part sends.
const EACH: usize = 6;

/// What the postal part saw.
#[derive(Debug, Default)]
pub struct PostalReport {
    pub dossiers: usize,
    pub collection_orders: usize,
    pub delivery_orders: usize,
    pub collected: usize,
    pub delivered: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub pushed: u64,
    pub pushed_new: u64,
    pub polled_new: u64,
    pub polled_repeats: u64,
    pub steps_at_portal: usize,
    /// Delivered dossiers whose last portal event is not a status "10" step after a "9".
    pub wrong_order: Vec<String>,
    pub alerts: Vec<String>,
    pub orders: Vec<OrderView>,
    pub time: Duration,
    pub timed_out: bool,
}

impl PostalReport {
    pub fn ok(&self) -> bool {
        !self.timed_out
            && self.collection_orders == EACH
            && self.delivery_orders == EACH
            && self.delivered == EACH - 2
            && self.collected == EACH - 1
            && self.wrong_order.is_empty()
            && self.alerts.len() == 3
            && self.pushed_new > 0
    }
}

impl fmt::Display for PostalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lienthong demo: dossiers by post → gateway → VNPost → portal"
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  {} dossiers from source \"{SOURCE}\": {} collection orders, {} delivery orders (each held until its dossier was at the portal)",
            self.dossiers, self.collection_orders, self.delivery_orders
        )?;
        writeln!(
            f,
            "  tracking: {} events pushed (signed; {} new), then polled: {} new, {} already stored",
            self.pushed, self.pushed_new, self.polled_new, self.polled_repeats
        )?;
        writeln!(
            f,
            "  outcome: {} collected, {} delivered, {} failed, {} cancelled; {} postal steps at the portal",
            self.collected, self.delivered, self.failed, self.cancelled, self.steps_at_portal
        )?;
        for o in &self.orders {
            writeln!(
                f,
                "    {} {:<10} {:<10} {}{}",
                o.dossier,
                o.kind,
                o.state,
                o.waybill.as_deref().unwrap_or("-"),
                o.alert
                    .as_deref()
                    .map(|a| format!("  ALERT {a}"))
                    .unwrap_or_default()
            )?;
        }
        if !self.wrong_order.is_empty() {
            writeln!(
                f,
                "  NOT status 10 after 9: {}",
                self.wrong_order.join(", ")
            )?;
        }
        writeln!(
            f,
            "  {} alerts; {:.1} s",
            self.alerts.len(),
            self.time.as_secs_f64()
        )?;
        if self.timed_out {
            writeln!(f, "  the postal part did not finish before the timeout")?;
        }
        Ok(())
    }
}

/// The dossiers the postal part sends: `EACH` submitted by post (received) and `EACH` finished
/// with the result to go by post, from the local generator, under codes of their own.
fn records(seed: u64) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let data = crate::sim::local::generate(seed, 400, 0);
    let mut collect = Vec::new();
    let mut deliver = Vec::new();
    for mut d in data.dossiers {
        let finished = d["TinhTrang"] == "XONG" && d["NgayXong"].is_string();
        if collect.len() < EACH && !finished && d["KenhNop"] == "BUU_CHINH" {
            d["TinhTrang"] = Value::from("DA_NHAN");
            d["NhanKetQuaQuaBuuDien"] = Value::from(0);
            d["MaHoSo"] = Value::from(format!("000.00.56.H56-261120-{:04}", 9100 + collect.len()));
            collect.push(d);
        } else if deliver.len() < EACH && finished && d["KenhNop"] != "BUU_CHINH" {
            d["NhanKetQuaQuaBuuDien"] = Value::from(1);
            d["MaHoSo"] = Value::from(format!("000.00.56.H56-261120-{:04}", 9200 + deliver.len()));
            deliver.push(d);
        }
    }
    let code = |d: &Value| d["MaHoSo"].as_str().unwrap_or_default().to_string();
    let (c, v) = (
        collect.iter().map(code).collect(),
        deliver.iter().map(code).collect(),
    );
    let mut all = collect;
    all.extend(deliver);
    (all, c, v)
}

async fn wait(
    deadline: Instant,
    report: &mut PostalReport,
    mut done: impl FnMut() -> bool,
) -> bool {
    while !done() {
        if Instant::now() > deadline {
            report.timed_out = true;
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Runs the postal part against a running gateway at `base`.
pub async fn run(
    base: &str,
    postal: &Postal,
    portal: &Simulator,
    vnpost: &VnpostSim,
    seed: u64,
    timeout: Duration,
) -> anyhow::Result<PostalReport> {
    let started = Instant::now();
    let deadline = started + timeout;
    let (records, collect, deliver) = records(seed);
    let mut report = PostalReport {
        dossiers: records.len(),
        ..PostalReport::default()
    };
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/ingest/v1/{SOURCE}/dossiers"))
        .bearer_auth(TOKEN)
        .json(&records)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 202, "postal dossiers refused: {}", r.status());
    let answer: Value = r.json().await?;
    anyhow::ensure!(
        answer["rejected"].as_array().is_some_and(Vec::is_empty),
        "postal dossiers rejected: {answer}"
    );

    // Orders reach VNPost once each dossier's header is at the portal.
    let all: Vec<(String, &str)> = collect
        .iter()
        .map(|c| (c.clone(), "1"))
        .chain(deliver.iter().map(|c| (c.clone(), "2")))
        .collect();
    if !wait(deadline, &mut report, || {
        all.iter().all(|(c, t)| vnpost.order(c, t).is_some())
    })
    .await
    {
        return Ok(report);
    }
    report.collection_orders = collect.len();
    report.delivery_orders = deliver.len();

    // The postmen: one collection fails; one delivery fails, one is cancelled.
    for (i, c) in collect.iter().enumerate() {
        if i == 0 {
            vnpost.advance(c, "1")?;
            vnpost.fail(c, "1")?;
        } else {
            vnpost.advance_to_end(c, "1")?;
        }
    }
    for (i, c) in deliver.iter().enumerate() {
        match i {
            0 => {
                vnpost.advance(c, "2")?;
                vnpost.advance(c, "2")?;
                vnpost.advance(c, "2")?;
                vnpost.fail(c, "2")?;
            }
            1 => {
                vnpost.advance(c, "2")?;
                vnpost.publish_code(c, "2", 22)?;
            }
            _ => {
                vnpost.advance_to_end(c, "2")?;
            }
        }
    }
    // Half the feed pushed (signed), then everything polled: the pushed events count once.
    let feed = vnpost.feed();
    let half = &feed[..feed.len() / 2];
    let (status, body) = vnpost
        .push(&format!("{base}/callbacks/vnpost"), PUSH_SECRET, half, None)
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(status == 200, "push refused: {status} {body}");
    let body: Value = serde_json::from_str(&body)?;
    report.pushed = half.len() as u64;
    report.pushed_new = body["new"].as_u64().unwrap_or(0);
    let polled = postal.poll(&Quiet).await?;
    report.polled_new = polled.applied.new;
    report.polled_repeats = polled.applied.duplicate;

    // The steps reach the portal.
    let postal_steps = |c: &String| {
        portal
            .events(c)
            .iter()
            .filter(|e| e.kind == EventKind::Step)
            .count()
    };
    let expected_steps = (collect.len() - 1) + 1 // collected, one failed collection
        + (deliver.len() - 2) * 2 + 2 + 2; // taken + delivered; taken + failed; taken + cancelled
    if !wait(deadline, &mut report, || {
        all.iter().map(|(c, _)| postal_steps(c)).sum::<usize>() >= expected_steps
    })
    .await
    {
        return Ok(report);
    }
    report.steps_at_portal = all.iter().map(|(c, _)| postal_steps(c)).sum();
    for c in deliver.iter().skip(2) {
        let events = portal.events(c);
        let nine = events
            .iter()
            .position(|e| e.kind != EventKind::Step && e.status == "9");
        let last = events.last();
        let ok =
            nine.is_some() && last.is_some_and(|e| e.kind == EventKind::Step && e.status == "10");
        if !ok {
            report.wrong_order.push(c.clone());
        }
    }
    report.orders = postal.orders(None, None, 100).await?;
    report
        .orders
        .retain(|o| all.iter().any(|(c, _)| *c == o.dossier));
    report
        .orders
        .sort_by(|a, b| (&a.dossier, &a.order_type).cmp(&(&b.dossier, &b.order_type)));
    for o in &report.orders {
        match o.state.as_str() {
            "collected" => report.collected += 1,
            "delivered" => report.delivered += 1,
            "failed" => report.failed += 1,
            "cancelled" => report.cancelled += 1,
            _ => {}
        }
        if let Some(a) = &o.alert {
            report.alerts.push(format!("{} {}: {a}", o.dossier, o.kind));
        }
    }
    report.time = started.elapsed();
    Ok(report)
}
