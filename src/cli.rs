//! The command line. Every command is a thin call into the library, so the admin API can offer
//! the same operations later.

use std::path::{Path, PathBuf};

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, EXIT_CONFIG};

mod audit;
/// Every command ends with one of these (documented in `--help`, the manual page and
/// `docs/operator-guide.md`).
pub const EXIT_OK: i32 = 0;
/// The command failed, or did not do all it was asked, or found something an operator must act
/// on (a record refused again, an unknown id, differences left, a source down, a held pull);
/// standard error says which.
pub const EXIT_FAILED: i32 = 1;
/// The command line was not understood (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// The command does not apply to the configured store (`backup` on PostgreSQL: use `pg_dump`).
pub const EXIT_NOT_FOR_STORE: i32 = 3;

/// The exit status section of `lienthong --help` and `man lienthong` (a macro, for `concat!`).
macro_rules! exit_status {
    () => {
        "Exit status (every command):
  0   done; nothing needs attention
  1   failed, or found something an operator must act on (standard error says what): a record
      refused again, an unknown id, differences left, a source down, a catalog pull held
  2   the command line was not understood (see --help)
  3   the command does not apply to the configured store (backup on PostgreSQL: use pg_dump)
  78  the configuration cannot be read or is unsound (one line per problem)"
    };
}

mod catalog;
mod postal;
mod report;
mod sources;

#[derive(Parser)]
#[command(
    name = "lienthong",
    version,
    about = "Keeps a province's one-stop-shop systems in sync with the national public-service portal",
    after_help = concat!(
        "Examples:\n  lienthong check --config /etc/lienthong/lienthong.toml\n  \
         lienthong run --config /etc/lienthong/lienthong.toml\n  \
         lienthong outbox --config /etc/lienthong/lienthong.toml stats\n\n",
        exit_status!(),
        "\n\nThe operator guide: docs/operator-guide.md"
    )
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway daemon: ingest and admin HTTP, delivery, the scheduled jobs. Applies
    /// pending migrations first; stops on SIGTERM or Ctrl-C after draining.
    #[command(
        after_help = "Example:\n  lienthong run --config /etc/lienthong/lienthong.toml\n\n\
                            Exit status: 0 after a clean stop; 78 when the configuration is unsound."
    )]
    Run {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Run the whole flow in one process: temporary SQLite store, the built-in simulator, the
    /// gateway, and the fixtures' local records pushed through HTTP ingest with faults on.
    #[command(
        after_help = "Examples:\n  lienthong demo\n  lienthong demo --dossiers 1000\n\n\
                            Exit status: 0 when every valid record arrived at the simulator in order."
    )]
    Demo(crate::demo::DemoOptions),
    /// Validate the configuration and its mapping files without running (exit 78 when unsound).
    #[command(
        after_help = "Examples:\n  lienthong check --config /etc/lienthong/lienthong.toml\n  \
                            LIENTHONG_STORE__URL=sqlite:///var/lib/lienthong/lienthong.db lienthong check\n\n\
                            Exit status: 0 when sound; 78 with one line per problem."
    )]
    Check {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  lienthong completions bash > /etc/bash_completion.d/lienthong\n  \
                            lienthong completions zsh > \"${fpath[1]}/_lienthong\""
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (roff): `lienthong.1` and one per command (`lienthong-outbox.1`,
    /// ...) into `--out` (e.g. /usr/local/share/man/man1), or print `lienthong.1`.
    #[command(
        after_help = "Examples:\n  lienthong man --out /usr/local/share/man/man1\n  lienthong man | man -l -"
    )]
    Man {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the admin API's OpenAPI document, generated from the handlers, into `--out`, or
    /// print it. `docs/openapi.json` is this output (a test holds the two equal).
    #[command(
        after_help = "Examples:\n  lienthong openapi --out docs/openapi.json\n  lienthong openapi | jq '.paths | keys'"
    )]
    Openapi {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Apply database migrations and exit (`run` also applies them at start).
    #[command(after_help = "Example:\n  lienthong migrate --config /etc/lienthong/lienthong.toml")]
    Migrate {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Map local records with a mapping file and print the result or every error (dry run).
    #[command(
        after_help = "Examples:\n  lienthong map --mapping mappings/vendor-a/dossier.toml --input hoso.json\n  \
                            lienthong map --mapping mappings/vendor-c/dossier.toml --input export.xml --record-element HoSo \\\n      \
                            --var DonViXuLy=\"UBND xã Quảng Phú\"\n\n\
                            Exit status: 1 when a record is refused."
    )]
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
    #[command(after_help = "Example:\n  lienthong test-mappings --dir /etc/lienthong/mappings")]
    TestMappings {
        #[arg(long, default_value = "mappings")]
        dir: PathBuf,
    },
    /// Serve the built-in simulator of the national portal adapter.
    #[command(after_help = "Examples:\n  lienthong sim --listen 127.0.0.1:9000\n  \
                            lienthong sim --listen 127.0.0.1:9000 --fault-503 0.1 --communes 3 --vnpost")]
    Sim(crate::sim::SimOptions),
    /// Print benchmark figures: mapping throughput (with jq for scale), outbox throughput.
    #[command(
        after_help = "Examples:\n  lienthong bench mapping\n  lienthong bench outbox --messages 20000"
    )]
    Bench {
        #[command(subcommand)]
        bench: crate::bench::BenchCommand,
    },
    /// The procedure catalog: pull, diff, show, history, resend, subscribers.
    #[command(
        after_help = "Examples:\n  lienthong catalog --config /etc/lienthong/lienthong.toml pull\n  \
                            lienthong catalog subscribers"
    )]
    Catalog {
        #[command(flatten)]
        config: ConfigPath,
        #[command(subcommand)]
        action: catalog::CatalogAction,
    },
    /// Postal orders and tracking: orders, show, poll, cancel, unknown, status.
    #[command(
        after_help = "Examples:\n  lienthong postal orders --state failed\n  lienthong postal status"
    )]
    Postal {
        #[command(flatten)]
        config: ConfigPath,
        #[command(subcommand)]
        action: postal::PostalAction,
    },
    /// The province's monthly service figures per agency and procedure: received by channel,
    /// resolved early / on time / late, in progress, overdue, digitised shares, postal orders,
    /// satisfaction.
    #[command(after_help = "Examples:\n  lienthong report --month 2026-11\n  \
                            lienthong report --month 2026-11 --format csv > bao-cao.csv\n  \
                            lienthong report --month 2026-11 --agency 000.00.01.H56 --lang en")]
    Report {
        #[command(flatten)]
        config: ConfigPath,
        #[command(flatten)]
        args: report::ReportArgs,
    },
    /// Open dossiers past their due date (and those due within report.due_soon_working_days),
    /// each marked when an apology round is recorded.
    #[command(
        after_help = "Examples:\n  lienthong overdue\n  lienthong overdue --agency 000.00.01.H56 --json"
    )]
    Overdue {
        #[command(flatten)]
        config: ConfigPath,
        #[command(flatten)]
        args: report::OverdueArgs,
    },
    /// Check the portal's record of each local dossier registered in a range against what was
    /// delivered; with --repair, queue the corrections. Resumes an unfinished run.
    #[command(
        after_help = "Examples:\n  lienthong reconcile --from 2026-11-01 --to 2026-11-30\n  \
                            lienthong reconcile --from 2026-11-01 --to 2026-11-30 --repair\n\n\
                            Exit status: 0 when the portal matches or every difference was queued again; \
                            1 when differences remain."
    )]
    Reconcile {
        #[command(flatten)]
        config: ConfigPath,
        #[command(flatten)]
        args: report::ReconcileArgs,
    },
    /// Records the mappings refused, kept for an operator: list, show, retry with the mapping
    /// files configured now, drop. Exit 1 when a retried record is refused again or an id is
    /// unknown.
    #[command(
        after_help = "Examples:\n  lienthong quarantine list --source tinh\n  lienthong quarantine show ID\n  \
                      lienthong quarantine retry --all --source tinh\n  lienthong quarantine drop ID"
    )]
    Quarantine {
        #[command(flatten)]
        config: ConfigPath,
        #[command(subcommand)]
        action: sources::QuarantineAction,
    },
    /// Every source: its ways in (HTTP push, SQL polling), the health its readers last wrote
    /// (state, failures, last error, next try, lag, rows read), each polled stream's watermark,
    /// recent files and quarantined records. Exit 1 when a source is down or failing.
    #[command(
        after_help = "Examples:\n  lienthong sources\n  lienthong sources --json | jq '.sources[] | select(.quarantined > 0)'"
    )]
    Sources {
        #[command(flatten)]
        config: ConfigPath,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of the SQLite store, taken while the daemon runs, to a new file.
    ///
    /// The file is never overwritten; the copy is checked with `PRAGMA integrity_check` before
    /// it is reported done. To restore: stop the daemon, move the store file and its `-wal` and `-shm` files aside,
    /// copy the backup in their place, start. A PostgreSQL store is backed up with `pg_dump`.
    #[command(
        after_help = "Example:\n  lienthong backup --config /etc/lienthong/lienthong.toml \
                            --out /var/backups/lienthong/lienthong-2026-11-07.db\n\n\
                            Exit status: 0 when the copy is written and checked; 1 when the file \
                            exists or the copy failed; 3 on a PostgreSQL store (use pg_dump)."
    )]
    Backup {
        #[command(flatten)]
        config: ConfigPath,
        /// The new file (its folder must exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Inspect and repair the outbox: counts, messages, dead letters, replay, skip, prune.
    #[command(
        after_help = "Examples:\n  lienthong outbox --config /etc/lienthong/lienthong.toml stats\n  \
                            lienthong outbox list --state dead --peer dvcqg"
    )]
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
    #[command(after_help = "Example:\n  lienthong outbox stats")]
    Stats,
    /// Messages, oldest first (no payloads: they hold personal data).
    #[command(
        after_help = "Examples:\n  lienthong outbox list --state dead --peer dvcqg\n  \
                            lienthong outbox list --dossier 000.00.01.H56-261107-0001"
    )]
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
    /// Everything about one message: peer, operation, dossier, state, attempts, times, last
    /// error, its batches (X-Request-IDs), mapping version, the source record and the item.
    /// Shows personal data: for authorised operators on the server.
    #[command(
        after_help = "Examples:\n  lienthong outbox show 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10\n  \
                            lienthong outbox show 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10 --json\n\n\
                            Exit status: 1 when there is no such message."
    )]
    Show {
        id: uuid::Uuid,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put dead messages back in the queue, at their place in their dossier's order.
    ///
    /// A replayed message keeps its queue position, so its dossier's order holds: the dead
    /// message held back the later messages of its dossier, and they follow it once it is
    /// delivered. Its last batch is reopened, same X-Request-ID and same body, when that batch
    /// carried only this message or when every message of the batch is replayed together;
    /// otherwise it goes in a new batch with a new X-Request-ID (the old body carries items that
    /// must not be sent again, and one X-Request-ID always carries one body). With --remap the
    /// body changes, so it always goes in a new batch with a new X-Request-ID.
    #[command(
        after_help = "Examples:\n  lienthong outbox replay 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10\n  \
                            lienthong outbox replay --dead --peer dvcqg --since 2026-11-06T00:00:00+07:00\n  \
                            lienthong outbox replay --remap 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10\n\n\
                            Exit status: 1 when a message could not be remapped or is no longer dead."
    )]
    Replay {
        /// Message ids.
        ids: Vec<uuid::Uuid>,
        /// Every dead message of `--peer` instead of a list of ids (in chunks, with progress).
        #[arg(long, requires = "peer", conflicts_with = "ids")]
        dead: bool,
        #[arg(long)]
        peer: Option<String>,
        /// With `--dead`: only those that died at or after this time (RFC 3339).
        #[arg(long, requires = "dead")]
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// Render each message again from its stored source record with the mapping its source
        /// is configured with now, show the field differences, and queue the new item (in a new
        /// batch) after confirmation. The message records the new mapping version.
        #[arg(long, conflicts_with = "dead")]
        remap: bool,
        /// With `--remap`: do not ask for confirmation.
        #[arg(long, requires = "remap")]
        yes: bool,
    },
    /// Prune delivered messages older than the retention (audit rows are kept: ids, times,
    /// attempts, SHA-256 of the request and of the answer).
    #[command(
        after_help = "Examples:\n  lienthong outbox prune\n  lienthong outbox prune --older-than 30"
    )]
    Prune {
        /// Days to keep; default `housekeeping.retention_days`.
        #[arg(long = "older-than", value_name = "DAYS")]
        older_than: Option<u32>,
    },
    /// Give a message up for good, with a reason; it no longer holds back its dossier.
    #[command(
        after_help = "Example:\n  lienthong outbox skip 0193f6a2-7c1e-7d55-9a5e-2f1c0b7e4d10 \
                            --reason \"withdrawn by the agency\"\n\n\
                            Exit status: 1 when no dead, pending or waiting message has this id."
    )]
    Skip {
        id: uuid::Uuid,
        #[arg(long)]
        reason: String,
    },
    /// Stop sending to a peer (every destination) or one of its destinations until resumed.
    ///
    /// Every instance honours it from the moment it is stored: nothing of it is claimed (a
    /// batch being sent finishes); messages keep queueing. Example:
    /// `lienthong outbox pause --peer commune --destination xa-an-binh --reason "server moved"`
    #[command(
        after_help = "Examples:\n  lienthong outbox pause --peer commune --destination xa-an-binh --reason \"server moved\"\n  \
                      lienthong outbox pause --peer dvcqg --reason \"portal maintenance\""
    )]
    Pause {
        #[arg(long)]
        peer: String,
        /// One destination (a commune subscriber); without it, the whole peer.
        #[arg(long)]
        destination: Option<String>,
        /// Why, kept with the pause (shown on the dashboard and by `outbox paused`).
        #[arg(long)]
        reason: String,
    },
    /// Send again to what `outbox pause` paused (the same --peer and --destination).
    #[command(
        after_help = "Examples:\n  lienthong outbox resume --peer commune --destination xa-an-binh\n  \
                      lienthong outbox resume --peer dvcqg"
    )]
    Resume {
        #[arg(long)]
        peer: String,
        #[arg(long)]
        destination: Option<String>,
    },
    /// Peers and destinations paused by an operator: who, when and why.
    #[command(after_help = "Example:\n  lienthong outbox paused")]
    Paused,
}

/// `--config FILE` (or `LIENTHONG_CONFIG`), shared by every command that reads the config.
#[derive(clap::Args)]
pub struct ConfigPath {
    #[arg(
        long = "config",
        short = 'c',
        env = "LIENTHONG_CONFIG",
        default_value = "lienthong.toml",
        value_name = "FILE",
        global = true
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

/// The config at `path`, or [`EXIT_CONFIG`] after one line per problem on standard error.
fn load(path: &Path) -> Result<Config, i32> {
    Config::load(Some(path)).map_err(|e| {
        for line in e.to_string().lines() {
            eprintln!("{}: {line}", path.display());
        }
        EXIT_CONFIG
    })
}

/// Loads the config or returns its exit code from the calling function.
macro_rules! load_or_exit {
    ($path:expr) => {
        match load($path) {
            Ok(c) => c,
            Err(code) => return Ok(code),
        }
    };
}

/// Runs a parsed command; returns the process exit code (see [`EXIT_OK`] and what follows). A
/// command that changes something leaves an audit row (`cli/audit.rs`).
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let audited = audit::described(&cli.command);
    let result = run_command(cli.command).await;
    if let Some(a) = audited {
        audit::record(a, &result).await;
    }
    result
}

async fn run_command(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Run { config } => {
            let config = config.path;
            let cfg = load_or_exit!(&config);
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
            let cfg = load_or_exit!(&config);
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
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "lienthong", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { out } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match out {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    clap_mangen::generate_to(cmd, &dir).with_context(|| {
                        format!("writing the manual pages into {}", dir.display())
                    })?;
                    println!("manual pages written to {}", dir.display());
                }
                None => clap_mangen::Man::new(cmd)
                    .render(&mut std::io::stdout())
                    .context("writing the manual page")?,
            }
            Ok(0)
        }
        Command::Openapi { out } => {
            let text = crate::admin::openapi::json();
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("OpenAPI document written to {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(0)
        }
        Command::Migrate { config } => {
            let cfg = load_or_exit!(&config.path);
            let store = crate::store::open(&cfg.store.url, 1).await?;
            println!("migrations applied ({})", store.backend());
            Ok(0)
        }
        Command::Backup { config, out } => {
            let cfg = load_or_exit!(&config.path);
            backup(&cfg, &out).await
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
                        crate::formats::xml::parse_records(&bytes, element, &Default::default())
                            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?,
                    )
                }
                Some("csv") => Some(
                    crate::formats::csv::parse_records(&bytes, &Default::default())
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
        Command::Catalog { config, action } => {
            let cfg = load_or_exit!(&config.path);
            catalog::run(&cfg, action).await
        }
        Command::Postal { config, action } => {
            let cfg = load_or_exit!(&config.path);
            postal::run(&cfg, &base_dir(&config.path), action).await
        }
        Command::Report { config, args } => {
            report::report(&load_or_exit!(&config.path), args).await
        }
        Command::Overdue { config, args } => {
            report::overdue(&load_or_exit!(&config.path), args).await
        }
        Command::Reconcile { config, args } => {
            report::reconcile(&load_or_exit!(&config.path), args).await
        }
        Command::Quarantine { config, action } => {
            let cfg = load_or_exit!(&config.path);
            sources::quarantine(&cfg, &base_dir(&config.path), action).await
        }
        Command::Sources { config, json } => {
            sources::sources(&load_or_exit!(&config.path), json).await
        }
        Command::Outbox { config, action } => {
            let cfg = load_or_exit!(&config.path);
            let store = crate::store::open(&cfg.store.url, 1).await?;
            outbox(&*store, &cfg, &base_dir(&config.path), action).await
        }
    }
}

/// `lienthong backup`: the store copies itself; the store is opened without migrating it, so a
/// newer binary can back up an older store before the upgrade.
async fn backup(cfg: &Config, out: &Path) -> anyhow::Result<i32> {
    use crate::store::backup::BackupError;
    let store = crate::store::connect(&cfg.store.url, 1).await?;
    // A large store takes a while to copy and check: show that it is working.
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("copying the store to {}", out.display()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let done = store.backup_to(out).await;
    spinner.finish_and_clear();
    match done {
        Ok(done) => {
            println!(
                "backup written and checked (integrity ok): {} ({} bytes, {} outbox messages)",
                done.path.display(),
                done.bytes,
                done.messages
            );
            Ok(EXIT_OK)
        }
        Err(e @ BackupError::NotForBackend(_)) => {
            eprintln!("{e}");
            Ok(EXIT_NOT_FOR_STORE)
        }
        Err(e) => {
            eprintln!("backup failed: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

async fn outbox(
    store: &dyn crate::store::Store,
    cfg: &Config,
    base: &Path,
    action: OutboxAction,
) -> anyhow::Result<i32> {
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
        OutboxAction::Show { id, json } => return show(store, id, json).await,
        OutboxAction::Replay {
            ids,
            dead,
            peer,
            since,
            remap,
            yes,
        } => {
            if remap {
                anyhow::ensure!(!ids.is_empty(), "name the messages to remap");
                return remap_messages(store, cfg, base, &ids, yes).await;
            }
            let done = if dead {
                let peer = peer.context("--dead needs --peer")?;
                let since = since.map_or(0, |t| t.timestamp_millis());
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "replaying {pos}/{len} dead messages {wide_bar} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                let done = crate::operator::replay_dead(
                    store,
                    &peer,
                    since,
                    crate::operator::REPLAY_CHUNK,
                    &mut |done, total| {
                        bar.set_length(total);
                        bar.set_position(done);
                    },
                )
                .await;
                bar.finish_and_clear();
                done?
            } else {
                anyhow::ensure!(
                    !ids.is_empty(),
                    "name the messages to replay, or use --dead --peer P"
                );
                store.replay_messages(&ids, now).await?
            };
            println!(
                "{} dead message(s) queued again: {} batch(es) reopened under their X-Request-ID, {} to go in a new batch",
                done.replayed,
                done.reopened.len(),
                done.new_batch
            );
            for b in &done.reopened {
                println!("reopened {b}");
            }
        }
        OutboxAction::Prune { older_than } => {
            let days = older_than.unwrap_or(cfg.housekeeping.retention_days);
            let before = crate::outbox::housekeeping::cutoff(std::time::Duration::from_secs(
                u64::from(days) * 86_400,
            ));
            let mut report = |r: &crate::store::PruneReport| {
                eprint!("\rpruned {} message(s)", r.messages);
            };
            let r = crate::outbox::housekeeping::prune(
                store,
                before,
                cfg.housekeeping.prune_chunk,
                &mut report,
            )
            .await?;
            eprintln!();
            println!(
                "pruned {} delivered message(s) older than {days} day(s), {} batch(es), {} record(s); audit rows kept",
                r.messages, r.batches, r.records
            );
        }
        OutboxAction::Skip { id, reason } => {
            if store.skip(id, &reason, now).await? {
                println!("{id} skipped");
            } else {
                eprintln!("{id}: no dead, pending or waiting message with this id");
                return Ok(1);
            }
        }
        OutboxAction::Pause {
            peer,
            destination,
            reason,
        } => {
            let what = paused_what(&peer, destination.as_deref());
            match crate::operator::pause(store, &peer, destination.as_deref(), &reason, "cli").await
            {
                Ok(true) => println!("{what} paused: nothing of it is sent until resumed"),
                Ok(false) => println!("{what} was paused already"),
                Err(crate::operator::PauseError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(2);
                }
            }
        }
        OutboxAction::Resume { peer, destination } => {
            let what = paused_what(&peer, destination.as_deref());
            // A running daemon on SQLite looks again within its poll; on PostgreSQL the
            // store signals every instance.
            match crate::operator::resume(store, &peer, destination.as_deref(), "cli", None).await {
                Ok(true) => println!("{what} resumed"),
                Ok(false) => {
                    eprintln!("{what} is not paused");
                    return Ok(1);
                }
                Err(crate::operator::PauseError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(2);
                }
            }
        }
        OutboxAction::Paused => {
            let pauses = store.pauses().await?;
            if pauses.is_empty() {
                println!("nothing is paused");
            }
            for p in pauses {
                println!(
                    "{:<14} {:<24} {}  by {:<9} {}",
                    p.peer,
                    if p.destination == crate::store::ALL_DESTINATIONS {
                        "(every destination)"
                    } else {
                        &p.destination
                    },
                    when(Some(p.paused_at_ms)),
                    p.paused_by,
                    p.reason
                );
            }
        }
    }
    Ok(0)
}

/// "peer P" or "destination D of peer P".
fn paused_what(peer: &str, destination: Option<&str>) -> String {
    match destination {
        Some(d) => format!("destination {d} of peer {peer}"),
        None => format!("peer {peer}"),
    }
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".to_string(), |t| t.to_rfc3339())
}

async fn show(
    store: &dyn crate::store::Store,
    id: uuid::Uuid,
    as_json: bool,
) -> anyhow::Result<i32> {
    let Some(m) = store.message(id).await? else {
        if let Some(a) = store.audit_entry(id).await? {
            println!(
                "message    {} (pruned {}; audit row only)",
                a.message_id,
                when(Some(a.pruned_ms))
            );
            println!("peer       {} {}", a.peer, a.operation);
            println!("dossier    {}", a.dossier);
            println!("state      {} attempts={}", a.final_state, a.attempts);
            println!("created    {}", when(Some(a.created_ms)));
            println!("delivered  {}", when(a.delivered_ms));
            println!("batch      {}", a.batch_id.as_deref().unwrap_or("-"));
            println!(
                "request    sha256 {}",
                a.request_sha256.as_deref().unwrap_or("-")
            );
            println!(
                "answer     sha256 {}",
                a.response_sha256.as_deref().unwrap_or("-")
            );
            println!("mapping    {}", a.mapping_version);
            return Ok(0);
        }
        eprintln!("{id}: no message with this id");
        return Ok(1);
    };
    if as_json {
        let mut v = crate::admin::masked_detail(&m);
        if let serde_json::Value::Object(o) = &mut v {
            o.remove("item_masked");
            o.insert("item".into(), m.item.clone());
            o.insert("record".into(), m.record.clone().unwrap_or_default());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let mut out = String::new();
    use std::fmt::Write as _;
    let kind = if m.is_update { "update" } else { "create" };
    let _ = writeln!(out, "message    {}", m.id);
    let _ = writeln!(out, "peer       {} {} ({kind})", m.peer, m.operation);
    let _ = writeln!(out, "dossier    {}", m.dossier);
    let _ = writeln!(
        out,
        "state      {} attempts={} position={}",
        m.state, m.attempts, m.position
    );
    let _ = writeln!(out, "created    {}", when(Some(m.created_ms)));
    let _ = writeln!(out, "updated    {}", when(Some(m.updated_ms)));
    let _ = writeln!(out, "next try   {}", when(Some(m.next_attempt_ms)));
    let _ = writeln!(out, "delivered  {}", when(m.delivered_ms));
    let _ = writeln!(out, "last error {}", m.last_error.as_deref().unwrap_or("-"));
    let _ = writeln!(
        out,
        "mapping    {}",
        m.mapping_version.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "record     {} ({} record from source {})",
        m.record_id.as_deref().unwrap_or("-"),
        m.record_kind.as_deref().unwrap_or("?"),
        m.source.as_deref().unwrap_or("?")
    );
    let _ = writeln!(out, "batches (X-Request-ID), oldest first:");
    if m.batches.is_empty() {
        let _ = writeln!(out, "  none yet");
    }
    for b in &m.batches {
        let _ = writeln!(
            out,
            "  {} {} attempts={} items={} created={} closed={} answer-sha256={}{}",
            b.id,
            b.state.as_deref().unwrap_or("pruned"),
            b.attempts,
            b.items,
            when(b.created_ms),
            when(b.closed_ms),
            b.answer_sha256.as_deref().unwrap_or("-"),
            b.last_error
                .as_deref()
                .map(|e| format!(" error={e}"))
                .unwrap_or_default(),
        );
        for t in &b.tries {
            let _ = writeln!(
                out,
                "    try {} {}{}",
                when(Some(t.at_ms)),
                t.outcome,
                t.answer
                    .as_deref()
                    .map(|a| format!(": {}", crate::mapping::mask_text(a)))
                    .unwrap_or_default(),
            );
        }
    }
    for w in &m.warnings {
        let _ = writeln!(out, "warning    {w}");
    }
    let _ = writeln!(out, "item (as queued):");
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(&m.item)?);
    let _ = writeln!(out, "source record:");
    match &m.record {
        Some(r) => {
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(r)?);
        }
        None => {
            let _ = writeln!(out, "  (no longer stored)");
        }
    }
    // A reader that stops early (`| head`) is not an error.
    let _ = write!(std::io::stdout().lock(), "{out}");
    Ok(0)
}

async fn remap_messages(
    store: &dyn crate::store::Store,
    cfg: &Config,
    base: &Path,
    ids: &[uuid::Uuid],
    yes: bool,
) -> anyhow::Result<i32> {
    use crate::operator::{apply_remap, plan_remap, Remapped};
    let routes = crate::source::routes::Routes::from_config(&cfg.sources, base)?;
    let mut failed = 0;
    for &id in ids {
        let plan = match plan_remap(store, &routes, id).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{id}: {e}");
                failed += 1;
                continue;
            }
        };
        let m = &plan.message;
        if plan.changes.is_empty() {
            println!(
                "{id} ({}): the current mapping ({}) renders the same item; replaying it as it is",
                m.dossier, plan.remap.mapping_version
            );
        } else {
            println!(
                "{id} ({}): {} field(s) differ, mapping {} -> {}:",
                m.dossier,
                plan.changes.len(),
                m.mapping_version.as_deref().unwrap_or("-"),
                plan.remap.mapping_version
            );
            for c in &plan.changes {
                println!("  {c}");
            }
            if !yes
                && !confirm(&format!(
                    "queue the new item for {id} in a new batch (new X-Request-ID)? [y/N] "
                ))?
            {
                println!("{id}: left dead");
                continue;
            }
        }
        match apply_remap(store, &plan).await? {
            Remapped::NewItem => println!("{id}: queued with the new item, for a new batch"),
            Remapped::Unchanged(r) if !r.reopened.is_empty() => {
                println!("{id}: queued again in its batch {}", r.reopened[0])
            }
            Remapped::Unchanged(_) => println!("{id}: queued again, for a new batch"),
            Remapped::NotDead => {
                eprintln!("{id}: no longer dead (replayed or skipped meanwhile)");
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Asks on the terminal; anything but y/yes (or end of input) is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
