//! The command line. Every command is a thin call into the library, so the admin API can offer
//! the same operations later.

use std::path::{Path, PathBuf};

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
        #[arg(
            long,
            short,
            env = "LIENTHONG_CONFIG",
            default_value = "lienthong.toml"
        )]
        config: PathBuf,
    },
    /// Run the whole flow in one process: temporary SQLite store, the built-in simulator, the
    /// gateway, and the fixtures' local records pushed through HTTP ingest with faults on.
    Demo(crate::demo::DemoOptions),
    /// Validate the configuration and its mapping files without running (exit 78 when unsound).
    Check {
        #[arg(
            long,
            short,
            env = "LIENTHONG_CONFIG",
            default_value = "lienthong.toml"
        )]
        config: PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(
            long,
            short,
            env = "LIENTHONG_CONFIG",
            default_value = "lienthong.toml"
        )]
        config: PathBuf,
    },
    /// Map local records with a mapping file and print the result or every error (dry run).
    Map {
        #[arg(long)]
        mapping: PathBuf,
        /// A JSON file holding one record or an array of records.
        #[arg(long)]
        input: PathBuf,
        /// Values for `$vars.NAME` in the mapping, as NAME=VALUE.
        #[arg(long = "var", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Serve the built-in simulator of the national portal adapter.
    Sim(crate::sim::SimOptions),
    /// Print benchmark figures: mapping throughput (with jq for scale), outbox throughput.
    Bench {
        #[command(subcommand)]
        bench: crate::bench::BenchCommand,
    },
    /// Inspect the outbox.
    Outbox {
        #[arg(
            long,
            short,
            env = "LIENTHONG_CONFIG",
            default_value = "lienthong.toml"
        )]
        config: PathBuf,
    },
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
            let cfg = Config::load(Some(&config))?;
            let store = crate::store::open(&cfg.store.url, 1).await?;
            println!("migrations applied ({})", store.backend());
            Ok(0)
        }
        Command::Map {
            mapping,
            input,
            vars,
        } => {
            let m = crate::mapping::Mapping::load(&mapping).map_err(|e| anyhow::anyhow!("{e}"))?;
            let bytes =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let vars = vars.into_iter().collect();
            let report = crate::mapping::dry_run(&m, &bytes, &vars);
            print!("{report}");
            Ok(if report.rejected() > 0 { 1 } else { 0 })
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
        Command::Outbox { config } => {
            let cfg = Config::load(Some(&config))?;
            let store = crate::store::open(&cfg.store.url, 1).await?;
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
            for d in store.dead_letters(50).await? {
                println!("dead {} {} {}: {}", d.id, d.operation, d.dossier, d.error);
            }
            Ok(0)
        }
    }
}
