//! The command line. Every command is a thin call into the library, so the admin API can offer
//! the same operations later.

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, EXIT_CONFIG};

#[derive(Parser)]
#[command(
    name = "lienthong",
    version,
    about = "Keeps a province's one-stop-shop systems in sync with the national public-service portal"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway daemon.
    Run {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Run the whole flow in one process: temporary SQLite store, the built-in simulator, the
    /// gateway, and the fixtures' local records pushed through HTTP ingest with faults on.
    Demo(crate::demo::DemoOptions),
    /// Validate the configuration and its mapping files without running (exit 78 when unsound).
    Check {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Map local records with a mapping file and print the result or every error (dry run).
    Map {
        #[arg(long)]
        mapping: PathBuf,
        /// A file of records: JSON (one record or an array), XML (`.xml`, with
        /// `--record-element`) or CSV (`.csv`, first row = column names).
        #[arg(long)]
        input: PathBuf,
        /// For XML input: the local name of the element that holds one record.
        #[arg(long)]
        record_element: Option<String>,
        /// Values for `$vars.NAME` in the mapping, as NAME=VALUE.
        #[arg(long = "var", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Run the golden tests beside every mapping (`<shape>/tests/*.toml`): a pass/fail table,
    /// then one coverage line per mapping; exit 1 when a case fails or none is found.
    TestMappings {
        #[arg(long, default_value = "mappings")]
        dir: PathBuf,
    },
    /// Serve the built-in simulator of the national portal adapter.
    Sim(crate::sim::SimOptions),
    /// Print benchmark figures: mapping throughput (with jq for scale), outbox throughput.
    Bench {
        #[command(subcommand)]
        bench: crate::bench::BenchCommand,
    },
    /// Inspect and repair the outbox.
    Outbox {
        #[command(flatten)]
        config: ConfigPath,
        #[command(subcommand)]
        action: OutboxAction,
    },
}

#[derive(Subcommand)]
pub enum OutboxAction {
    /// Message counts by peer, operation and state; quarantined records.
    Stats,
    /// Messages, oldest first (no payloads: they hold personal data).
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        peer: Option<String>,
        #[arg(long)]
        dossier: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put dead messages back in the queue, at their place in their dossier's order.
    Replay {
        /// Message ids.
        ids: Vec<uuid::Uuid>,
        /// Every dead message of `--peer` instead of a list of ids.
        #[arg(long, requires = "peer", conflicts_with = "ids")]
        dead: bool,
        #[arg(long)]
        peer: Option<String>,
        /// With `--dead`: only those that died at or after this time (RFC 3339).
        #[arg(long, requires = "dead")]
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Give a message up for good, with a reason; it no longer holds back its dossier.
    Skip {
        id: uuid::Uuid,
        #[arg(long)]
        reason: String,
    },
}

/// `--config FILE` (or `LIENTHONG_CONFIG`), shared by every command that reads the config.
#[derive(clap::Args)]
pub struct ConfigPath {
    #[arg(
        long = "config",
        short = 'c',
        env = "LIENTHONG_CONFIG",
        default_value = "lienthong.toml",
        value_name = "FILE"
    )]
    pub path: PathBuf,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("\"{s}\" is not NAME=VALUE"))
}

fn base_dir(config: &Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run { config } => {
            let config = config.path;
            let cfg = Config::load(Some(&config))?;
            let problems = cfg.check(&base_dir(&config));
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{}: {p}", config.display());
                }
                return Ok(EXIT_CONFIG);
            }
            let gateway = crate::app::Gateway::build(&cfg, &base_dir(&config)).await?;
            let listener = tokio::net::TcpListener::bind(cfg.server.listen)
                .await
                .with_context(|| format!("binding {}", cfg.server.listen))?;
            let shutdown = CancellationToken::new();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                crate::app::shutdown_signal().await;
                tracing::info!("shutdown requested");
                signal.cancel();
            });
            gateway.run(listener, shutdown).await?;
            Ok(0)
        }
        Command::Demo(opts) => crate::demo::run(opts).await,
        Command::Bench { bench } => crate::bench::run(bench).await,
        Command::Check { config } => {
            let config = config.path;
            let cfg = match Config::load(Some(&config)) {
                Ok(c) => c,
                Err(e) => {
                    for line in e.to_string().lines() {
                        eprintln!("{}: {line}", config.display());
                    }
                    return Ok(EXIT_CONFIG);
                }
            };
            let problems = cfg.check(&base_dir(&config));
            if problems.is_empty() {
                println!("{}: configuration is sound", config.display());
                Ok(0)
            } else {
                for p in &problems {
                    eprintln!("{}: {p}", config.display());
                }
                Ok(EXIT_CONFIG)
            }
        }
        Command::Migrate { config } => {
            let config = config.path;
            let cfg = Config::load(Some(&config))?;
            let store = crate::store::open(&cfg.store.url, 1).await?;
            println!("migrations applied ({})", store.backend());
            Ok(0)
        }
        Command::Map {
            mapping,
            input,
            record_element,
            vars,
        } => {
            let m = crate::mapping::Mapping::load(&mapping).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut bytes =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let ext = input
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            // XML and CSV exports are read into records first, as ingest does.
            let records = match ext.as_deref() {
                Some("xml") => {
                    let element = record_element
                        .as_deref()
                        .context("an XML input needs --record-element")?;
                    Some(
                        crate::source::xml::parse_records(&bytes, element, &Default::default())
                            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?,
                    )
                }
                Some("csv") => Some(
                    crate::source::csv::parse_records(&bytes, &Default::default())
                        .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?,
                ),
                _ => None,
            };
            if let Some(records) = records {
                bytes = serde_json::to_vec(&records)?;
            }
            let vars = vars.into_iter().collect();
            let report = crate::mapping::dry_run(&m, &bytes, &vars);
            // A reader that stops early (`| head`) is not an error.
            let _ = write!(std::io::stdout().lock(), "{report}");
            Ok(if report.rejected() > 0 { 1 } else { 0 })
        }
        Command::TestMappings { dir } => {
            if !dir.is_dir() {
                anyhow::bail!("{}: not a directory", dir.display());
            }
            let report = crate::mapping::golden::run_dir(&dir);
            if report.cases.is_empty() {
                // A mistyped --dir must not pass a CI run silently.
                eprintln!("{}: no golden tests (tests/*.toml) found", dir.display());
                return Ok(1);
            }
            print!("{report}");
            Ok(if report.failed() > 0 { 1 } else { 0 })
        }
        Command::Sim(opts) => {
            let shutdown = CancellationToken::new();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                crate::app::shutdown_signal().await;
                signal.cancel();
            });
            crate::sim::run_standalone(opts, shutdown).await?;
            Ok(0)
        }
        Command::Outbox { config, action } => {
            let cfg = Config::load(Some(&config.path))?;
            let store = crate::store::open(&cfg.store.url, 1).await?;
            outbox(&*store, action).await
        }
    }
}

async fn outbox(store: &dyn crate::store::Store, action: OutboxAction) -> anyhow::Result<i32> {
    let now = crate::store::now_ms();
    match action {
        OutboxAction::Stats => {
            println!(
                "{:<8} {:<22} {:<10} {:>9} {:>9}",
                "peer", "operation", "state", "messages", "retried"
            );
            for c in store.outbox_counts().await? {
                println!(
                    "{:<8} {:<22} {:<10} {:>9} {:>9}",
                    c.peer, c.operation, c.state, c.count, c.retried
                );
            }
            println!("quarantined records: {}", store.quarantine_count().await?);
        }
        OutboxAction::List {
            state,
            peer,
            dossier,
            limit,
        } => {
            let filter = crate::store::MessageFilter {
                state,
                peer,
                dossier,
                limit,
            };
            for m in store.list_messages(&filter).await? {
                println!(
                    "{} {} {} {} {} attempts={} {}",
                    m.id,
                    m.peer,
                    m.operation,
                    m.dossier,
                    m.state,
                    m.attempts,
                    m.error.unwrap_or_default()
                );
            }
        }
        OutboxAction::Replay {
            ids,
            dead,
            peer,
            since,
        } => {
            let n = if dead {
                let peer = peer.context("--dead needs --peer")?;
                let since = since.map_or(0, |t| t.timestamp_millis());
                store.replay_dead(&peer, since, now).await?
            } else {
                anyhow::ensure!(
                    !ids.is_empty(),
                    "name the messages to replay, or use --dead --peer P"
                );
                store.replay(&ids, now).await?
            };
            println!("{n} dead message(s) queued again");
        }
        OutboxAction::Skip { id, reason } => {
            if store.skip(id, &reason, now).await? {
                println!("{id} skipped");
            } else {
                eprintln!("{id}: no dead, pending or waiting message with this id");
                return Ok(1);
            }
        }
    }
    Ok(0)
}
