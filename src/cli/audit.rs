//! The CLI's changing commands leave an audit row like the dashboard's and the admin API's:
//! who is `cli:<OS user>` (role `operator`: whoever runs them on the server may change
//! anything), way `cli`, the action, its target (ids, filters; never a reason's text) and the
//! outcome (the exit status, or the error masked). Reading commands leave none.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{catalog::CatalogAction, postal::PostalAction, sources::QuarantineAction};
use super::{Command, OutboxAction};
use crate::config::Config;
use crate::store::ActionRecord;

/// A changing command about to run: its config, action and target.
pub(super) struct Audited {
    config: PathBuf,
    action: &'static str,
    target: Value,
}

/// What `cmd` changes, or `None` for a command that only reads (or is not about a store).
pub(super) fn described(cmd: &Command) -> Option<Audited> {
    let (config, action, target) = match cmd {
        Command::Outbox { config, action } => match action {
            OutboxAction::Replay {
                ids,
                dead,
                peer,
                since,
                remap,
                ..
            } => (
                config,
                if *remap {
                    "outbox.remap"
                } else {
                    "outbox.replay"
                },
                json!({
                    "ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "dead": dead, "peer": peer, "since": since.map(|s| s.to_rfc3339()),
                }),
            ),
            OutboxAction::Prune { older_than } => (
                config,
                "outbox.prune",
                json!({ "older_than_days": older_than }),
            ),
            OutboxAction::Skip { id, .. } => {
                (config, "outbox.skip", json!({ "id": id.to_string() }))
            }
            _ => return None,
        },
        Command::Catalog {
            config,
            action: CatalogAction::Resend { subscriber },
        } => (
            config,
            "catalog.resend",
            json!({ "subscriber": subscriber }),
        ),
        Command::Postal { config, action } => match action {
            PostalAction::Poll => (config, "postal.poll", json!({})),
            PostalAction::Cancel {
                dossier,
                order_type,
            } => (
                config,
                "postal.cancel",
                json!({ "dossier": dossier, "order_type": order_type }),
            ),
            _ => return None,
        },
        Command::Quarantine { config, action } => match action {
            QuarantineAction::Retry { ids, all, source } => (
                config,
                "quarantine.retry",
                json!({ "ids": ids, "all": all, "source": source }),
            ),
            QuarantineAction::Drop { id } => (config, "quarantine.drop", json!({ "id": id })),
            _ => return None,
        },
        Command::Reconcile { config, args } => (
            config,
            "reconcile.start",
            json!({
                "from": args.from.to_string(), "to": args.to.to_string(),
                "agency": args.agency, "repair": args.repair, "restart": args.restart,
            }),
        ),
        _ => return None,
    };
    Some(Audited {
        config: config.path.clone(),
        action,
        target,
    })
}

/// The person running the CLI: `cli:` and the OS user.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Writes the row of a command that ran (or failed). A row that cannot be written is reported
/// on stderr; the command's own outcome stands.
pub(super) async fn record(a: Audited, result: &anyhow::Result<i32>) {
    let outcome = match result {
        Ok(0) => "ok".to_string(),
        Ok(code) => format!("exit {code}"),
        Err(e) => format!("failed: {}", crate::mapping::mask_text(&format!("{e:#}"))),
    };
    let written = async {
        let cfg = Config::load(Some(&a.config))?;
        let store = crate::store::open(&cfg.store.url, 1).await?;
        let row = ActionRecord::new(&who(), "operator", "cli", a.action, a.target, &outcome);
        store.record_audit(&row).await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = written {
        eprintln!("the audit row of {} was not written: {e:#}", a.action);
    }
}
