//! `lienthong postal ...`: postal orders and tracking from the command line (thin calls into
//! [`crate::postal::Postal`]).

use std::path::Path;
use std::sync::Arc;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::postal::{OrderView, PollProgress, PollReport, Postal};

#[derive(Subcommand)]
pub enum PostalAction {
    /// Orders, newest first: state (waiting_header, queued, dead, skipped, ordered, collected,
    /// in_transit, delivered, failed, cancelled, returned), VNPost status, waybill, alert.
    #[command(
        after_help = "Examples:\n  lienthong postal orders --state failed\n  lienthong postal orders --dossier 000.00.01.H56-261107-0001 --json"
    )]
    Orders {
        #[arg(long)]
        dossier: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One dossier's orders with every tracking event (ORDER is the dossier code, the order's
    /// `OrderNumber`).
    #[command(
        after_help = "Examples:\n  lienthong postal show 000.00.01.H56-261107-0001\n  lienthong postal show 000.00.01.H56-261107-0001 --type 2\n\nExit status: 1 when the dossier has no postal order."
    )]
    Show {
        order: String,
        /// `1` collection, `2` delivery (default: both).
        #[arg(long = "type")]
        order_type: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Read the tracking feed now, from the stored cursor to its end (with progress).
    #[command(after_help = "Example:\n  lienthong postal poll")]
    Poll,
    /// Cancel a dossier's orders that can still be cancelled (queued through the outbox).
    #[command(
        after_help = "Examples:\n  lienthong postal cancel 000.00.01.H56-261107-0001\n  lienthong postal cancel 000.00.01.H56-261107-0001 --type 1"
    )]
    Cancel {
        dossier: String,
        /// `1` collection, `2` delivery (default: every open order).
        #[arg(long = "type")]
        order_type: Option<String>,
    },
    /// Events for orders the gateway did not make, newest first.
    #[command(after_help = "Example:\n  lienthong postal unknown --limit 20")]
    Unknown {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Counts: orders tracked, collected, delivered, alerts, held, events.
    #[command(after_help = "Example:\n  lienthong postal status")]
    Status,
}

struct Bar(ProgressBar);

impl PollProgress for Bar {
    fn page(&self, report: &PollReport, feed_size: Option<u64>) {
        if let Some(size) = feed_size {
            self.0.set_length(size);
        }
        self.0.set_position(report.events);
        self.0.set_message(format!(
            "{} pages, {} new, {} repeated",
            report.pages, report.applied.new, report.applied.duplicate
        ));
    }
}

fn line(o: &OrderView) -> String {
    format!(
        "{}  {:<10} {:<14} {:<22} {:<15} {}{}",
        o.dossier,
        o.kind,
        o.state,
        o.status
            .as_deref()
            .map(|s| format!("{} {s}", o.status_code.unwrap_or_default()))
            .unwrap_or_else(|| "-".into()),
        o.waybill.as_deref().unwrap_or("-"),
        o.alert
            .as_deref()
            .map(|a| format!("ALERT {a}"))
            .unwrap_or_default(),
        o.last_error
            .as_deref()
            .map(|e| format!(" last error: {e}"))
            .unwrap_or_default(),
    )
}

pub async fn run(cfg: &Config, base_dir: &Path, action: PostalAction) -> anyhow::Result<i32> {
    let store = crate::store::open(&cfg.store.url, 4).await?;
    let postal = Arc::new(Postal::from_config(
        store,
        &cfg.peers,
        &cfg.postal,
        base_dir,
        |name| cfg.policy_for(name),
    )?);
    match action {
        PostalAction::Orders {
            dossier,
            state,
            limit,
            json,
        } => {
            let orders = postal
                .orders(dossier.as_deref(), state.as_deref(), limit)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orders)?);
            } else if orders.is_empty() {
                println!("no postal order");
            } else {
                for o in &orders {
                    println!("{}", line(o));
                }
            }
            Ok(0)
        }
        PostalAction::Show {
            order,
            order_type,
            json,
        } => {
            let detail = postal.show(&order, order_type.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
                return Ok(if detail.is_empty() { 1 } else { 0 });
            }
            if detail.is_empty() {
                eprintln!("no postal order for dossier {order}");
                return Ok(1);
            }
            for d in &detail {
                println!("{}", line(&d.order));
                if let Some(c) = &d.order.cancel_state {
                    println!("  cancel: {c}");
                }
                for e in &d.events {
                    println!(
                        "  {}  {:>2} {:<22} post office {:<8} {} ({}){}",
                        e.event_time,
                        e.status_code,
                        crate::postal::rules::status_text(e.status_code),
                        e.pos_id,
                        e.effect,
                        e.via,
                        e.item_code
                            .as_deref()
                            .map(|w| format!(" waybill {w}"))
                            .unwrap_or_default(),
                    );
                }
            }
            Ok(0)
        }
        PostalAction::Poll => {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("tracking [{bar:40}] {pos}/{len} events {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            let bar = Bar(bar);
            let report = postal.poll(&bar).await;
            bar.0.finish_and_clear();
            let r = report?;
            println!(
                "{} pages, {} events read ({} unreadable): {} new, {} already stored, {} of unknown orders, {} changed an order, {} steps queued; cursor {}{}",
                r.pages, r.events, r.unreadable, r.applied.new, r.applied.duplicate,
                r.applied.unknown, r.applied.changed, r.applied.queued, r.last_id,
                if r.at_end { " (end of feed)" } else { " (more to read)" }
            );
            Ok(0)
        }
        PostalAction::Cancel {
            dossier,
            order_type,
        } => {
            let types = postal.cancel(&dossier, order_type.as_deref()).await?;
            if types.is_empty() {
                println!("dossier {dossier}: a cancel was queued before; nothing new");
            } else {
                println!(
                    "dossier {dossier}: cancel queued for order type {}",
                    types.join(", ")
                );
            }
            Ok(0)
        }
        PostalAction::Unknown { limit } => {
            let events = postal.unknown(limit).await?;
            if events.is_empty() {
                println!("no event of an unknown order");
            }
            for e in &events {
                println!(
                    "{} type {} {:>2} {} at {} post office {} ({})",
                    e.order_number,
                    e.order_type,
                    e.status_code,
                    crate::postal::rules::status_text(e.status_code),
                    e.event_time,
                    e.pos_id,
                    e.via
                );
            }
            Ok(0)
        }
        PostalAction::Status => {
            let c = postal.counts().await?;
            println!(
                "orders tracked {}, collected {}, delivered {}, with an alert {}; held for their header {}; events {} ({} of unknown orders)",
                c.orders_tracked, c.collected, c.delivered, c.alerts, c.held, c.events, c.unknown_events
            );
            Ok(0)
        }
    }
}
