//! The `lienthong` binary: parse the command line, set up logging, call into the library.

use std::path::Path;

use clap::Parser;
use lienthong::cli::Command;

/// mimalloc instead of the system allocator: ingest and mapping build many small JSON values per
/// record, and it makes that markedly cheaper (see `benches/README.md`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = lienthong::cli::Cli::parse();
    // `[log]` of the command's config, when it has one that reads; a config that does not read
    // is reported by the command itself.
    let log = config_path(&cli.command)
        .and_then(|p| lienthong::config::Config::load(Some(p)).ok())
        .map(|c| c.log)
        .unwrap_or_default();
    // The demo draws a progress bar; keep its log to warnings unless asked otherwise.
    let fallback = match cli.command {
        Command::Demo(_) => Some("warn"),
        _ => None,
    };
    lienthong::telemetry::init(&log, fallback);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(lienthong::cli::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // Error text may quote what was being read: masked like every log line.
            eprintln!(
                "error: {}",
                lienthong::mapping::mask_text(&format!("{e:#}"))
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// The config file of a command that reads one.
fn config_path(command: &Command) -> Option<&Path> {
    let config = match command {
        Command::Run { config }
        | Command::Check { config }
        | Command::Migrate { config }
        | Command::Catalog { config, .. }
        | Command::Postal { config, .. }
        | Command::Report { config, .. }
        | Command::Overdue { config, .. }
        | Command::Reconcile { config, .. }
        | Command::Quarantine { config, .. }
        | Command::Sources { config, .. }
        | Command::Outbox { config, .. } => config,
        _ => return None,
    };
    Some(&config.path)
}
