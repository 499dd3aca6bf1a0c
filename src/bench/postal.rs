//! `lienthong bench postal`: VNPost's tracking feed polled and applied against the in-process
//! simulator, over real sockets. 10,000 delivery orders the gateway made (each with its dossier
//! header queued), each moved `1 → 6 → 10 → 12 → 14`, and every event repeated once as carriers
//! do: a feed of 100,000 events, half of them repeats. One `postal poll` from the start of the
//! feed: events/s, the steps it queued (taken for delivery and delivered: two per order) and
//! peak memory.

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{mib, open_store, peak_rss_bytes, per_sec};
use crate::mapping::Target;
use crate::peer::registry;
use crate::peer::vnpost::{self, PEER_VNPOST};
use crate::postal::{Postal, PostalConfig, Quiet};
use crate::sim::vnpost::{self as vsim, VnpostSim, VnpostSimSettings};
use crate::store::{now_ms, HeaderRule, NewMessage};

#[derive(Debug, Clone, clap::Args)]
pub struct PostalOptions {
    /// `sqlite` (a temporary file) or a `postgres://` URL (a fresh database on that server).
    #[arg(long, default_value = "sqlite")]
    pub store: String,
    /// Delivery orders in the feed (five events each, each repeated once).
    #[arg(long, default_value_t = 10_000)]
    pub orders: usize,
    /// Events per tracking page.
    #[arg(long, default_value_t = 1000)]
    pub page_size: u32,
    /// Start from a copy of this store instead of an empty one: a SQLite file (with `--store
    /// sqlite`) or a PostgreSQL database name on the `--store` server (see `bench prefill`).
    #[arg(long)]
    pub template: Option<String>,
}

/// What `bench postal` measured.
#[derive(Debug, Default)]
pub struct PostalReport {
    backend: String,
    template: Option<String>,
    start_messages: i64,
    orders: usize,
    feed: usize,
    pages: u64,
    new: u64,
    duplicate: u64,
    steps: u64,
    setup: Duration,
    poll: Duration,
    /// Peak RSS once the simulator holds the feed (before the poll), and at the end.
    rss_before_poll: Option<u64>,
    peak_rss: Option<u64>,
}

impl PostalReport {
    /// Every event stored once and two steps per order.
    pub fn complete(&self) -> bool {
        self.new as usize == self.orders * 5
            && self.duplicate as usize == self.feed - self.orders * 5
            && self.steps as usize == self.orders * 2
    }
}

pub async fn run(opts: &PostalOptions) -> anyhow::Result<PostalReport> {
    let bench_store = open_store(&opts.store, 8, opts.template.as_deref()).await?;
    let start_messages: i64 = super::counts_by_state(&*bench_store.store)
        .await?
        .values()
        .sum();
    let outcome = measure(&bench_store.store, opts).await.map(|mut r| {
        r.template = opts.template.clone();
        r.start_messages = start_messages;
        r.backend = bench_store.store.backend().to_string();
        r
    });
    let dropped = bench_store.finish().await;
    let report = outcome?;
    dropped?;
    Ok(report)
}

async fn measure(
    store: &std::sync::Arc<dyn crate::store::Store>,
    opts: &PostalOptions,
) -> anyhow::Result<PostalReport> {
    let started = Instant::now();
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let sim = VnpostSim::new(VnpostSimSettings {
        repeat_every: 1,
        ..VnpostSimSettings::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(vsim::serve(listener, sim.clone(), stop.clone()));
    let peers: registry::PeersConfig = toml::from_str(
        &vsim::peers_toml(addr, sim.settings()).replace("[peers.vnpost]", "[vnpost]"),
    )?;
    let postal = Postal::from_config(
        store.clone(),
        &peers,
        &PostalConfig {
            page_size: opts.page_size,
            max_pages: u32::MAX,
            ..PostalConfig::default()
        },
        std::path::Path::new("."),
        |_| crate::outbox::config::DeliveryConfig::default(),
    )?;

    // The gateway's side: every order made, its dossier's header queued.
    let (header_peer, header_op) = registry::taking(Target::Dossier)
        .map(|(f, t)| (f.name, t.operation))
        .ok_or_else(|| anyhow::anyhow!("no family takes dossier headers"))?;
    let customer = sim.settings().customer_code.clone();
    let codes: Vec<String> = (0..opts.orders)
        .map(|i| format!("000.00.56.H56-261120-{:06}", i))
        .collect();
    for part in codes.chunks(500) {
        let mut messages = Vec::with_capacity(part.len() * 2);
        for code in part {
            messages.push(
                NewMessage::new(
                    header_peer,
                    header_op,
                    code.clone(),
                    json!({"MaHoSo": code, "TrangThaiHoSo": "9"}),
                )
                .with_header(HeaderRule::Header),
            );
            let order = order(&customer, code);
            let mut m = NewMessage::new(PEER_VNPOST, vnpost::OP_ORDER, code.clone(), order);
            m.once = Some(vnpost::order_tag("2"));
            messages.push(m);
        }
        let mut tx = store.begin_write().await?;
        tx.enqueue(&messages, now_ms()).await?;
        tx.commit().await?;
    }
    // VNPost's side: the orders placed and moved to delivered.
    for code in &codes {
        anyhow::ensure!(sim.place(order(&customer, code)) == "100", "order refused");
        sim.advance_to_end(code, "2")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let feed = sim.stats().events as usize;
    let setup = started.elapsed();
    let rss_before_poll = peak_rss_bytes();

    let t = Instant::now();
    let r = postal.poll(&Quiet).await?;
    let poll = t.elapsed();
    Ok(PostalReport {
        orders: opts.orders,
        feed,
        pages: r.pages,
        new: r.applied.new,
        duplicate: r.applied.duplicate,
        steps: r.applied.queued,
        setup,
        poll,
        rss_before_poll,
        peak_rss: peak_rss_bytes(),
        ..PostalReport::default()
    })
}

fn order(customer: &str, code: &str) -> serde_json::Value {
    json!({
        "CustomerCode": customer, "OrderNumber": code, "OrderType": "2", "CODAmount": "0",
        "SenderName": "Trung tâm Phục vụ hành chính công", "SenderAddress": "Thôn Trung",
        "SenderTel": "02373912468", "SenderProvince": "40", "SenderDistrict": "4016",
        "ReceiverName": "Người nhận", "ReceiverAddress": "Thôn Đông",
        "ReceiverTel": "0912345678", "ReceiverProvince": "40", "ReceiverDistrict": "4016"
    })
}

impl fmt::Display for PostalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "lienthong bench postal ({})", self.backend)?;
        if let Some(t) = &self.template {
            writeln!(
                f,
                "  store copied from {t}: {} messages at the start",
                self.start_messages
            )?;
        }
        writeln!(
            f,
            "  feed: {} events ({} orders, 1 → 6 → 10 → 12 → 14, each event repeated once); set up in {:.1} s",
            self.feed,
            self.orders,
            self.setup.as_secs_f64()
        )?;
        writeln!(
            f,
            "  poll: {} pages in {:.2} s = {:.0} events/s ({} stored, {} repeats recognised, {} steps queued)",
            self.pages,
            self.poll.as_secs_f64(),
            per_sec(self.feed, self.poll),
            self.new,
            self.duplicate,
            self.steps
        )?;
        writeln!(
            f,
            "  peak RSS of the process (gateway and simulator): {} before the poll (the simulator holding the feed), {} at the end",
            mib(self.rss_before_poll),
            mib(self.peak_rss)
        )?;
        writeln!(
            f,
            "  {}",
            if self.complete() {
                "every event stored once, two steps per order"
            } else {
                "INCOMPLETE: events or steps missing"
            }
        )
    }
}
