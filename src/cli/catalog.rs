//! `lienthong catalog ...`: the procedure catalog from the command line (thin calls into
//! [`crate::catalog::Catalog`]).

use std::sync::Arc;

use anyhow::Context;
use chrono::{NaiveDate, TimeZone, Utc};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::{canonical, Catalog, Progress, PullOptions, PullOutcome};
use crate::config::Config;

#[derive(Subcommand)]
pub enum CatalogAction {
    /// Pull the catalog from the portal now (resuming a pull cut short), publish the changes
    /// and fan them out to the subscribers.
    #[command(
        after_help = "Examples:\n  lienthong catalog pull\n  lienthong catalog pull --accept-shrink\n\nExit status: 1 when the pull is held by the shrink guard (catalog.max_shrink)."
    )]
    Pull {
        /// Publish a pull held because its list shrank past `catalog.max_shrink`.
        #[arg(long)]
        accept_shrink: bool,
    },
    /// What changed, field by field (default: in the last published pull).
    #[command(
        after_help = "Examples:\n  lienthong catalog diff\n  lienthong catalog diff --since 2026-11-06\n  lienthong catalog diff --since 36h --json"
    )]
    Diff {
        /// From when: a date (`2026-11-06`, Vietnam time), an RFC 3339 instant, or an age
        /// (`36h`, `7d`).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 500)]
        limit: i64,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One procedure as the portal sent it (the latest version, or `--version N`).
    #[command(
        after_help = "Examples:\n  lienthong catalog show 1.001234\n  lienthong catalog show 1.001234 --version 3"
    )]
    Show {
        code: String,
        #[arg(long)]
        version: Option<i64>,
    },
    /// Every version of one procedure, newest first.
    #[command(after_help = "Example:\n  lienthong catalog history 1.001234")]
    History { code: String },
    /// Queue the whole current catalog for one subscriber (a new or rebuilt commune system).
    #[command(after_help = "Example:\n  lienthong catalog resend --subscriber xa-quang-phu")]
    Resend {
        #[arg(long)]
        subscriber: String,
    },
    /// Each subscriber's state: versions behind, last success, last error, paused, down.
    #[command(
        after_help = "Examples:\n  lienthong catalog subscribers\n  lienthong catalog subscribers --json"
    )]
    Subscribers {
        #[arg(long)]
        json: bool,
    },
    /// Procedures in force and withdrawn, and the latest pulls.
    #[command(after_help = "Example:\n  lienthong catalog status")]
    Status,
    /// Give up the pull that is running or held (the next pull starts afresh).
    #[command(
        after_help = "Example:\n  lienthong catalog abandon\n\nExit status: 1 when no pull is running or held."
    )]
    Abandon,
}

/// A progress bar on the terminal.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total: u64, done: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn message(&self, what: &str) {
        self.0.set_message(what.to_string());
    }
}

pub async fn run(cfg: &Config, action: CatalogAction) -> anyhow::Result<i32> {
    let store = crate::store::open(&cfg.store.url, 4).await?;
    let catalog = Arc::new(Catalog::from_config(
        store.clone(),
        &cfg.peers,
        &cfg.catalog,
        |name| cfg.policy_for(name),
    )?);
    match action {
        CatalogAction::Pull { accept_shrink } => {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:<12} [{bar:40}] {pos}/{len} procedures ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message("LayThuTuc");
            let bar = Bar(bar);
            let outcome = catalog.pull(PullOptions { accept_shrink }, &bar).await;
            bar.0.finish_and_clear();
            match outcome? {
                PullOutcome::Published {
                    pull, fanned_out, ..
                } => {
                    println!(
                        "pull {} published: {} listed ({} in force), {} added, {} changed, {} withdrawn, {} returned, {} unchanged; {} versions fanned out to {} subscribers",
                        pull.id, pull.listed, pull.in_force, pull.added, pull.changed,
                        pull.withdrawn, pull.returned, pull.unchanged, fanned_out,
                        catalog.subscribers().len()
                    );
                    Ok(0)
                }
                PullOutcome::Held { pull } => {
                    eprintln!(
                        "pull {} held: {} (publish it with --accept-shrink, or abandon it)",
                        pull.id,
                        pull.note.unwrap_or_default()
                    );
                    Ok(super::EXIT_FAILED)
                }
            }
        }
        CatalogAction::Diff { since, limit, json } => {
            let since_ms = match since {
                Some(s) => parse_since(&s)?,
                None => catalog
                    .overview()
                    .await?
                    .1
                    .iter()
                    .find(|p| p.state == "published")
                    .map_or(0, |p| p.started_at),
            };
            let changes = catalog.diff(since_ms, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&changes)?);
                return Ok(0);
            }
            if changes.is_empty() {
                println!("no change since {}", show_time(since_ms));
            }
            for c in &changes {
                let v = &c.version;
                println!(
                    "{} v{} {} ({}, {})",
                    v.code,
                    v.version,
                    if v.in_force { "in force" } else { "withdrawn" },
                    v.reason,
                    show_time(v.changed_at)
                );
                for f in &c.fields {
                    println!(
                        "    {}: {} → {}",
                        f.path,
                        canonical::show(f.before.as_ref()),
                        canonical::show(f.after.as_ref())
                    );
                }
            }
            Ok(0)
        }
        CatalogAction::Show { code, version } => {
            let (v, object) = catalog.show(&code, version).await?;
            eprintln!(
                "{} v{} {} ({}, {}) {}",
                v.code,
                v.version,
                if v.in_force { "in force" } else { "withdrawn" },
                v.reason,
                show_time(v.changed_at),
                v.hash.unwrap_or_default()
            );
            if let Some(o) = object {
                println!("{}", serde_json::to_string_pretty(&o)?);
            }
            Ok(0)
        }
        CatalogAction::History { code } => {
            println!(
                "{:>7}  {:<9}  {:<20}  {:<10}  reason",
                "version", "state", "changed", "fanned out"
            );
            for v in catalog.history(&code).await? {
                println!(
                    "{:>7}  {:<9}  {:<20}  {:<10}  {}",
                    v.version,
                    if v.in_force { "in force" } else { "withdrawn" },
                    show_time(v.changed_at),
                    if v.fanned_out { "yes" } else { "not yet" },
                    v.reason
                );
            }
            Ok(0)
        }
        CatalogAction::Resend { subscriber } => {
            let n = catalog.resend(&subscriber).await?;
            println!("{n} procedures queued for {subscriber}");
            Ok(0)
        }
        CatalogAction::Subscribers { json } => {
            let states = catalog.subscriber_states().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&states)?);
                return Ok(0);
            }
            println!(
                "{:<24} {:>7} {:>5} {:<20} {:<6} {:<6} last error",
                "subscriber", "behind", "dead", "last success", "paused", "down"
            );
            for s in &states {
                println!(
                    "{:<24} {:>7} {:>5} {:<20} {:<6} {:<6} {}",
                    s.name,
                    s.behind,
                    s.dead,
                    s.last_success_ms.map_or("never".into(), show_time),
                    if s.paused { "yes" } else { "no" },
                    if s.down { "DOWN" } else { "no" },
                    s.last_error.as_deref().unwrap_or("")
                );
            }
            Ok(0)
        }
        CatalogAction::Status => {
            let (counts, pulls) = catalog.overview().await?;
            println!(
                "procedures: {} in force, {} withdrawn; versions not fanned out yet: {}",
                counts.in_force, counts.withdrawn, counts.unfanned
            );
            println!(
                "{:<36}  {:<9}  {:<20}  {:>6}  {:>7}  {:>5} {:>7} {:>9} {:>8}  note",
                "pull",
                "state",
                "started",
                "listed",
                "fetched",
                "added",
                "changed",
                "withdrawn",
                "returned"
            );
            for p in pulls {
                println!(
                    "{:<36}  {:<9}  {:<20}  {:>6}  {:>7}  {:>5} {:>7} {:>9} {:>8}  {}",
                    p.id,
                    p.state,
                    show_time(p.started_at),
                    p.listed,
                    p.fetched,
                    p.added,
                    p.changed,
                    p.withdrawn,
                    p.returned,
                    p.note.unwrap_or_default()
                );
            }
            Ok(0)
        }
        CatalogAction::Abandon => match catalog.abandon().await? {
            Some(id) => {
                println!("pull {id} abandoned");
                Ok(0)
            }
            None => {
                println!("no pull is running or held");
                Ok(1)
            }
        },
    }
}

/// `2026-11-06` (midnight, Vietnam time), an RFC 3339 instant, or an age (`36h`, `7d`, `90m`).
fn parse_since(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let local = crate::time::vietnam()
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).context("midnight")?)
            .single()
            .context("a Vietnam midnight")?;
        return Ok(local.timestamp_millis());
    }
    if let Ok(i) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(i.timestamp_millis());
    }
    let (n, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = n.parse().with_context(|| {
        format!("--since {text}: not a date, an RFC 3339 instant or an age like 36h")
    })?;
    let ms = match unit {
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => anyhow::bail!("--since {text}: an age ends in m, h or d"),
    };
    Ok(Utc::now().timestamp_millis() - ms)
}

/// An instant in Vietnam time, to the second.
fn show_time(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| {
            t.with_timezone(&crate::time::vietnam())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_dates_instants_and_ages() {
        // Midnight in Vietnam is 17:00 UTC the day before.
        assert_eq!(
            parse_since("2026-11-06").expect("date"),
            Utc.with_ymd_and_hms(2026, 11, 5, 17, 0, 0)
                .single()
                .expect("instant")
                .timestamp_millis()
        );
        assert_eq!(
            parse_since("2026-11-06T02:00:04Z").expect("instant"),
            1_793_930_404_000
        );
        let age = Utc::now().timestamp_millis() - parse_since("2h").expect("age");
        assert!((7_190_000..7_300_000).contains(&age), "{age}");
        assert!(parse_since("2 weeks").is_err());
    }
}
