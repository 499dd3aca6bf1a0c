//! `lienthong quarantine ...` and `lienthong sources`: the records the mappings refused, and every
//! source's health (thin calls into [`crate::source::quarantine`] and
//! [`crate::source::status`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use clap::Subcommand;

use crate::config::Config;
use crate::source::quarantine::{self, Listed, Outcome, RetryReport};
use crate::source::routes::Routes;
use crate::source::status::{self, ConfiguredSource, SourceView};
use crate::store::Store;

#[derive(Subcommand)]
pub enum QuarantineAction {
    /// Quarantined records, oldest first: id, source, kind, dossier, retries, when, and the
    /// reason (masked; no content: records hold personal data).
    #[command(
        after_help = "Examples:\n  lienthong quarantine list --source tinh --limit 50\n  \
                            lienthong quarantine list --after 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10\n  \
                            (--after: the last id of the previous page)\n\n\
                            Exit status: 1 when --after names no quarantined record (retried or dropped since)."
    )]
    List {
        #[arg(long)]
        source: Option<String>,
        /// Records shown (1 to 1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Start after this record (the last id of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One quarantined record: where it came from, the reason, its retries and the record as
    /// received. Shows personal data: for authorised operators on the server.
    #[command(
        after_help = "Example:\n  lienthong quarantine show 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10"
    )]
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Map quarantined records again with the mapping files configured now (after fixing one):
    /// accepted, a record is queued and leaves the quarantine; refused again, it stays with the
    /// new reason. `--all` goes through every record (of `--source`) in batches of 500.
    #[command(
        after_help = "Examples:\n  lienthong quarantine retry 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10\n  \
                            lienthong quarantine retry --all --source tinh\n\n\
                            Exit status: 0 when every record was accepted; 1 when one was refused again, \
                            is unknown or its source has no route now."
    )]
    Retry {
        /// Quarantined record ids.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Every quarantined record instead of a list of ids.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// With `--all`: only this source's records.
        #[arg(long, requires = "all")]
        source: Option<String>,
    },
    /// Remove a quarantined record for good (the source system will send it again, or it is
    /// not wanted).
    #[command(
        after_help = "Example:\n  lienthong quarantine drop 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10\n\n\
                            Exit status: 1 when there is no such record."
    )]
    Drop { id: String },
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".to_string(), |t| t.to_rfc3339())
}

/// Prints `text` to standard output; a reader that stops early (`| head`) is not an error.
fn print(text: &str) {
    let _ = write!(std::io::stdout().lock(), "{text}");
}

pub async fn quarantine(
    cfg: &Config,
    base: &Path,
    action: QuarantineAction,
) -> anyhow::Result<i32> {
    let store = crate::store::open(&cfg.store.url, 1).await?;
    let store: &dyn Store = &*store;
    match action {
        QuarantineAction::List {
            source,
            limit,
            after,
            json,
        } => {
            let page =
                match quarantine::page(store, source.as_deref(), after.as_deref(), limit).await {
                    Ok(p) => p,
                    Err(quarantine::PageError::UnknownAfter(id)) => {
                        eprintln!(
                            "--after {id}: no such quarantined record (retried or dropped since)"
                        );
                        return Ok(1);
                    }
                    Err(quarantine::PageError::Store(e)) => return Err(e.into()),
                };
            let listed: Vec<Listed> = page.iter().map(Listed::from).collect();
            if json {
                let next = (listed.len() as i64 == limit)
                    .then(|| listed.last().map(|l| l.id.clone()))
                    .flatten();
                let doc = serde_json::json!({ "records": listed, "next": next });
                print(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
                return Ok(0);
            }
            let mut out = String::new();
            for l in &listed {
                let _ = writeln!(
                    out,
                    "{}  {:<10} {:<7} {:<26} retries={} {}  {}",
                    l.id,
                    l.source,
                    l.kind,
                    l.dossier.as_deref().unwrap_or("-"),
                    l.retries,
                    when(Some(l.created_at)),
                    l.error
                );
            }
            if listed.len() as i64 == limit {
                if let Some(last) = listed.last() {
                    let _ = writeln!(out, "more: lienthong quarantine list --after {}", last.id);
                }
            }
            print(&out);
        }
        QuarantineAction::Show { id, json } => {
            let Some(q) = store.quarantine_item(&id).await? else {
                eprintln!("{id}: no quarantined record with this id");
                return Ok(1);
            };
            let body: serde_json::Value =
                serde_json::from_str(&q.body).unwrap_or(serde_json::Value::String(q.body.clone()));
            if json {
                let mut v = serde_json::to_value(&q)?;
                v["body"] = body;
                print(&format!("{}\n", serde_json::to_string_pretty(&v)?));
                return Ok(0);
            }
            let mut out = String::new();
            let _ = writeln!(out, "record     {}", q.id);
            let _ = writeln!(out, "source     {} ({} record)", q.source, q.kind);
            let _ = writeln!(out, "dossier    {}", q.dossier.as_deref().unwrap_or("-"));
            let _ = writeln!(
                out,
                "from       {}",
                q.origin.as_deref().unwrap_or("HTTP push")
            );
            let _ = writeln!(out, "refused    {}", when(Some(q.created_at)));
            let _ = writeln!(
                out,
                "retries    {} (last {})",
                q.retries,
                when(q.retried_at)
            );
            let _ = writeln!(out, "reason     {}", q.error);
            let _ = writeln!(out, "record as received:");
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&body)?);
            print(&out);
        }
        QuarantineAction::Retry { ids, all, source } => {
            let routes = Routes::from_config(&cfg.sources, base)?;
            let report = if all {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "retrying {pos}/{len} quarantined records {wide_bar} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                let done = quarantine::retry_all(
                    store,
                    &routes,
                    source.as_deref(),
                    &mut |r: &RetryReport, total| {
                        bar.set_length(total);
                        bar.set_position(r.total());
                        bar.set_message(format!(
                            "{} accepted, {} refused again",
                            r.accepted, r.refused
                        ));
                    },
                )
                .await;
                bar.finish_and_clear();
                done?
            } else {
                quarantine::retry(store, &routes, &ids).await?
            };
            let mut out = String::new();
            for r in &report.results {
                match r.outcome {
                    Outcome::Accepted if !all => {
                        let _ = writeln!(out, "{}: accepted and queued", r.id);
                    }
                    Outcome::Accepted => {}
                    Outcome::Refused => {
                        let _ = writeln!(
                            out,
                            "{}: refused again: {}",
                            r.id,
                            r.error.as_deref().unwrap_or_default()
                        );
                    }
                    Outcome::Unknown => {
                        let _ = writeln!(out, "{}: no quarantined record with this id", r.id);
                    }
                    Outcome::NoRoute => {
                        let _ = writeln!(
                            out,
                            "{}: {}",
                            r.id,
                            r.error.as_deref().unwrap_or("no route")
                        );
                    }
                }
            }
            let _ = writeln!(
                out,
                "{} accepted, {} refused again, {} unknown, {} without a route",
                report.accepted, report.refused, report.unknown, report.no_route
            );
            print(&out);
            return Ok(if report.all_accepted() { 0 } else { 1 });
        }
        QuarantineAction::Drop { id } => {
            if store.quarantine_drop(&id).await? {
                println!("{id} dropped");
            } else {
                eprintln!("{id}: no quarantined record with this id");
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// `lienthong sources`: every source's ways, health, watermarks, recent files and quarantined
/// records; exit 1 when a configured way is down or failing.
pub async fn sources(cfg: &Config, json: bool) -> anyhow::Result<i32> {
    let store = crate::store::open(&cfg.store.url, 1).await?;
    let views = status::overview(&*store, &ConfiguredSource::from_config(&cfg.sources)).await?;
    let unhealthy = views.iter().any(SourceView::unhealthy);
    if json {
        let doc = serde_json::json!({ "sources": views });
        print(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    } else {
        print(&render(&views));
    }
    Ok(if unhealthy { 1 } else { 0 })
}

/// The sources as text, one block each.
fn render(views: &[SourceView]) -> String {
    let mut out = String::new();
    if views.is_empty() {
        let _ = writeln!(out, "no sources configured");
    }
    for v in views {
        let _ = writeln!(
            out,
            "{}{}  quarantined={}",
            v.source,
            if v.configured {
                ""
            } else {
                " (no longer configured)"
            },
            v.quarantined
        );
        for w in &v.ways {
            let _ = write!(
                out,
                "  {:<6} {:<8}",
                w.way,
                w.state.as_deref().unwrap_or(if w.way == "http" {
                    "push"
                } else {
                    "not read yet"
                })
            );
            if w.state.is_some() {
                let _ = write!(
                    out,
                    " failures={} lag={} rows_read={} last_ok={} next_try={}",
                    w.failures,
                    w.lag_ms
                        .map_or_else(|| "-".to_string(), |l| format!("{:.1}s", l as f64 / 1000.0)),
                    w.rows_read,
                    when(w.last_ok_at),
                    when(w.next_try_at)
                );
            }
            if !w.configured {
                let _ = write!(out, " (way no longer configured)");
            }
            let _ = writeln!(out);
            if let Some(e) = &w.last_error {
                let _ = writeln!(out, "         last error: {e}");
            }
        }
        for s in &v.streams {
            let _ = writeln!(
                out,
                "  stream {:<24} watermark {} (moved {})",
                s.stream,
                s.watermark,
                when(Some(s.updated_at))
            );
        }
        for f in &v.files {
            let _ = writeln!(
                out,
                "  file   {:<24} {} records={} refused={} taken {}{}",
                f.name,
                f.outcome,
                f.records,
                f.rejected,
                when(Some(f.taken_at)),
                f.error
                    .as_deref()
                    .map(|e| format!(" error: {}", crate::mapping::mask_text(e)))
                    .unwrap_or_default()
            );
        }
    }
    out
}
