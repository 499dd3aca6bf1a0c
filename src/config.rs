//! Typed configuration: defaults, then `lienthong.toml`, then environment variables
//! `LIENTHONG_<SECTION>__<KEY>` (double underscore between levels). Unknown keys are errors.
//!
//! This module only composes: each section's types and checks live beside the module that uses
//! them (`[server]` in `admin`, `[store]` in `store::config`, `[delivery]` in `outbox::config`,
//! `[peers]` in `peer::registry` and each peer's folder, `[[sources]]` in `source::config`,
//! `[schedules]` in `scheduler`, `[housekeeping]` in `outbox::housekeeping`). Nothing below the
//! application (`app`, `cli`, `demo`, `bench`) imports this module. Secrets are `SecretString`s
//! given as a value or a file (`crate::settings`).
//!
//! [`Config::check`] validates everything that can be checked without running and reports one
//! precise line per problem.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::admin::ServerConfig;
use crate::catalog::config::CatalogConfig;
use crate::outbox::config::{check_policies, DeliveryConfig, PolicyOverride};
use crate::outbox::housekeeping::HousekeepingConfig;
use crate::peer::registry::PeersConfig;
use crate::postal::config::PostalConfig;
use crate::reconcile::ReconcileConfig;
use crate::report::ReportConfig;
use crate::scheduler::Schedules;
use crate::source::config::SourceConfig;
use crate::store::config::StoreConfig;
use crate::telemetry::LogConfig;

/// Exit code of `lienthong check` when the configuration is not sound (EX_CONFIG).
pub const EXIT_CONFIG: i32 = 78;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub peers: PeersConfig,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Scheduled jobs by name (see `scheduler::JOB_NAMES`): a cron expression each. Run by one
    /// instance, the holder of the leader lease (`delivery.lease_seconds`).
    #[serde(default)]
    pub schedules: Schedules,
    /// Pruning of delivered messages.
    #[serde(default)]
    pub housekeeping: HousekeepingConfig,
    /// The procedure catalog: its pull from the portal and fan-out to `[peers.commune]`.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// The postal service: tracking poll and push, release of held orders.
    #[serde(default)]
    pub postal: PostalConfig,
    /// The service report and overdue list: the working-day calendar.
    #[serde(default)]
    pub report: ReportConfig,
    /// Reconciliation with the portal's record.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// Logging: format (`human` or `json`) and level.
    #[serde(default)]
    pub log: LogConfig,
}

/// The configuration could not be read at all (syntax, types, unknown keys).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(String);

impl Config {
    /// Defaults, then the file (if any), then `LIENTHONG_SECTION__KEY` variables.
    pub fn load(path: Option<&Path>) -> Result<Config, LoadError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default_shape()));
        if let Some(path) = path {
            if !path.exists() {
                return Err(LoadError(format!(
                    "config file {}: does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(
            Env::prefixed("LIENTHONG_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let mut cfg = fig.extract::<Config>().map_err(|e| {
            let msgs: Vec<String> = e.into_iter().map(|e| describe_figment_error(&e)).collect();
            LoadError(msgs.join("\n"))
        })?;
        if let Some(path) = path {
            // The peers' TLS files are named against the config file's folder, for every
            // command that builds a peer's client (`catalog pull`, `reconcile`, ...).
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            cfg.peers = cfg.peers.resolved(dir);
        }
        Ok(cfg)
    }

    /// Parses a configuration from TOML text alone (no environment): for tests and tools.
    pub fn from_toml(text: &str) -> Result<Config, LoadError> {
        Figment::from(Serialized::defaults(Config::default_shape()))
            .merge(Toml::string(text))
            .extract::<Config>()
            .map_err(|e| {
                let msgs: Vec<String> = e.into_iter().map(|e| describe_figment_error(&e)).collect();
                LoadError(msgs.join("\n"))
            })
    }

    /// The delivery policy of `peer`: `[delivery]` with the peer's `policy` keys over it.
    pub fn policy_for(&self, peer: &str) -> DeliveryConfig {
        match self
            .peers
            .overrides()
            .into_iter()
            .find(|(name, _)| *name == peer)
        {
            Some((_, o)) => self.delivery.with(&o),
            None => self.delivery.clone(),
        }
    }

    fn default_shape() -> Config {
        Config {
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            delivery: DeliveryConfig::default(),
            peers: PeersConfig::default(),
            sources: Vec::new(),
            schedules: Schedules::new(),
            housekeeping: HousekeepingConfig::default(),
            catalog: CatalogConfig::default(),
            postal: PostalConfig::default(),
            report: ReportConfig::default(),
            reconcile: ReconcileConfig::default(),
            log: LogConfig::default(),
        }
    }

    /// Every problem that can be found without running, one precise line each: each section's own
    /// checks, then what concerns several (routes: mappings and the peers they go to).
    /// Relative mapping paths are resolved against `base_dir` (the config file's folder).
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut problems = self.store.check();
        problems.extend(self.server.check());
        let overrides = self.peers.overrides();
        let overrides: Vec<(&str, &PolicyOverride)> =
            overrides.iter().map(|(n, o)| (*n, o)).collect();
        problems.extend(check_policies(&self.delivery, &overrides));
        problems.extend(self.housekeeping.check());
        problems.extend(self.peers.check(base_dir));
        problems.extend(crate::source::config::check_all(&self.sources));
        problems.extend(crate::source::routes::check(
            &self.sources,
            &self.peers,
            base_dir,
        ));
        problems.extend(crate::scheduler::check(&self.schedules));
        problems.extend(self.catalog.check());
        problems.extend(self.postal.check(base_dir));
        problems.extend(self.report.check());
        problems.extend(self.reconcile.check());
        problems.extend(self.log.check());
        if self.schedules.contains_key(crate::scheduler::RECONCILE) && self.peers.dvcqg.is_none() {
            problems.push(format!(
                "schedules.{}: dossiers are looked up at the portal, but [peers.dvcqg] is not configured",
                crate::scheduler::RECONCILE
            ));
        }
        if self.schedules.contains_key(crate::postal::JOB_POLL) && self.peers.vnpost.is_none() {
            problems.push(format!(
                "schedules.{}: tracking is read from VNPost, but [peers.vnpost] is not configured",
                crate::postal::JOB_POLL
            ));
        }
        if self.schedules.contains_key(crate::catalog::JOB_PULL) && self.peers.dvcqg.is_none() {
            problems.push(format!(
                "schedules.{}: the catalog is pulled from the portal, but [peers.dvcqg] is not configured",
                crate::catalog::JOB_PULL
            ));
        }
        problems
    }
}

fn describe_figment_error(e: &figment::Error) -> String {
    let path = e.path.join(".");
    let kind = e.kind.to_string();
    let origin = e
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    // Keys that moved into the delivery policy: say where they went.
    let moved = match &e.kind {
        figment::error::Kind::UnknownField(field, _)
            if e.path.first().is_some_and(|p| p == "peers")
                && (field == "timeout_ms" || field == "concurrency") =>
        {
            let peer = e
                .path
                .get(..e.path.len().saturating_sub(1))
                .unwrap_or_default();
            format!(
                "; {field} is now a delivery policy key: set it in [delivery] or in [{}.policy]",
                peer.join(".")
            )
        }
        _ => String::new(),
    };
    if path.is_empty() {
        format!("{kind}{moved}{origin}")
    } else {
        format!("{path}: {kind}{moved}{origin}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn housekeeping_defaults_and_checks() {
        let cfg = Config::from_toml("").unwrap();
        assert_eq!(cfg.housekeeping.retention_days, 30);
        assert_eq!(
            cfg.housekeeping.retention(),
            Duration::from_secs(30 * 86_400)
        );
        let cfg =
            Config::from_toml("[housekeeping]\nretention_days = 0\nprune_chunk = 0\n").unwrap();
        let problems = cfg.check(Path::new("."));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("housekeeping.retention_days"))
                && problems
                    .iter()
                    .any(|p| p.starts_with("housekeeping.prune_chunk")),
            "{problems:?}"
        );
        assert!(Config::from_toml("[housekeeping]\nretention = 3\n").is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nlistn = 3\n").unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
    }

    #[test]
    fn secret_never_debug_printed() {
        let cfg = Config::from_toml(
            "[[sources]]\nname = \"a\"\ntoken = \"super-secret-token\"\ndossier_mapping = \"d.toml\"\nstep_mapping = \"s.toml\"\n",
        )
        .unwrap();
        let printed = format!("{cfg:?}");
        assert!(!printed.contains("super-secret-token"), "{printed}");
    }

    const PEER: &str = r#"
[peers.dvcqg]
base_url = "http://127.0.0.1:9"
madonvi = "000.00.01.H56"
auth = { mode = "session", dstcode = "H56", username = "u", password = "p" }
"#;

    #[test]
    fn a_peer_policy_overrides_single_keys_of_delivery() {
        let cfg = Config::from_toml(&format!(
            r#"
[delivery]
timeout_ms = 10000
max_attempts = 7
rate_per_second = 5.0
rate_burst = 10
maintenance = [{{ cron = "0 0 23 * * Sat", duration_minutes = 120 }}]
{PEER}
[peers.dvcqg.policy]
timeout_ms = 2000
breaker_failures = 3
max_age_hours = 72
maintenance = []
"#
        ))
        .unwrap();
        let p = cfg.policy_for("dvcqg");
        assert_eq!(p.timeout(), Duration::from_secs(2));
        assert_eq!(p.breaker_failures, 3);
        assert_eq!(p.max_age(), Some(Duration::from_secs(72 * 3_600)));
        assert!(
            p.maintenance.is_empty(),
            "a peer's list replaces the default"
        );
        assert_eq!(
            (p.max_attempts, p.rate_per_second, p.rate_burst),
            (7, 5.0, 10)
        );
        assert_eq!(cfg.delivery.maintenance.len(), 1);
        // A peer without a policy table, or an unknown one, gets [delivery] as it is.
        assert_eq!(cfg.policy_for("vnpost"), cfg.delivery);
        assert!(
            cfg.check(Path::new(".")).is_empty(),
            "{:?}",
            cfg.check(Path::new("."))
        );
    }

    #[test]
    fn the_example_configuration_documents_the_policy_truthfully() {
        let cfg = Config::from_toml(include_str!("../deploy/lienthong.toml")).unwrap();
        // [delivery] in the example spells out the defaults, so it must equal them.
        assert_eq!(cfg.delivery, DeliveryConfig::default());
        let p = cfg.policy_for("dvcqg");
        assert_eq!((p.rate_per_second, p.rate_burst), (5.0, 10));
        assert_eq!(p.max_age(), Some(Duration::from_secs(720 * 3_600)));
        assert_eq!(p.maintenance.len(), 1);
        assert!(p.problems().is_empty(), "{:?}", p.problems());
    }

    #[test]
    fn a_key_that_moved_into_the_policy_says_where() {
        let err = Config::from_toml(&format!("{PEER}timeout_ms = 5000\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("timeout_ms is now a delivery policy key: set it in [delivery] or in [peers.dvcqg.policy]"),
            "{err}"
        );
    }

    #[test]
    fn policy_problems_name_their_key_once() {
        let cfg = Config::from_toml(&format!(
            r#"
[delivery]
lease_seconds = 0
backoff_jitter = 1.5
maintenance = [{{ cron = "every saturday", duration_minutes = 60 }}]
{PEER}
[peers.dvcqg.policy]
rate_per_second = 2.0
rate_burst = 0
breaker_cool_down_seconds = 0
"#
        ))
        .unwrap();
        let problems = cfg.check(Path::new("."));
        let has = |s: &str| problems.iter().filter(|p| p.starts_with(s)).count();
        assert_eq!(has("delivery.lease_seconds:"), 1, "{problems:?}");
        assert_eq!(has("delivery.backoff_jitter:"), 1, "{problems:?}");
        assert_eq!(has("delivery.maintenance: [0]"), 1, "{problems:?}");
        assert_eq!(has("peers.dvcqg.policy.rate_burst:"), 1, "{problems:?}");
        assert_eq!(
            has("peers.dvcqg.policy.breaker_cool_down_seconds:"),
            1,
            "{problems:?}"
        );
        assert_eq!(
            has("peers.dvcqg.policy.lease_seconds"),
            0,
            "inherited: said once"
        );
        let err =
            Config::from_toml(&format!("{PEER}\n[peers.dvcqg.policy]\nrate = 3\n")).unwrap_err();
        assert!(err.to_string().contains("rate"), "{err}");
    }

    #[test]
    fn the_legacy_route_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let maps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/vendor-a");
        let text = |peer: &str, legacy: &str| {
            format!(
                "[[sources]]\nname = \"a\"\ntoken = \"t\"\ndossier_mapping = \"{m}/dossier.toml\"\n\
                 step_mapping = \"{m}/step.toml\"\nsync_document_mapping = \"{m}/{legacy}\"\n{peer}",
                m = maps.display()
            )
        };
        // A legacy mapping with nowhere to deliver to.
        let cfg = Config::from_toml(&text("", "sync_document.toml")).unwrap();
        let problems = cfg.check(dir.path());
        assert!(
            problems.iter().any(|p| p.contains("no [peers.lgsp_sync]")),
            "{problems:?}"
        );
        // A mapping of the wrong target, and a session login on a route that takes a token.
        let peer = "[peers.lgsp_sync]\nbase_url = \"https://lgsp.example.vn/api\"\n\
                    auth = { mode = \"session\", dstcode = \"H56\", username = \"u\", password = \"p\" }\n";
        let cfg = Config::from_toml(&text(peer, "dossier.toml")).unwrap();
        let problems = cfg.check(dir.path());
        assert!(
            problems
                .iter()
                .any(|p| p.contains("is not \"sync_document\"")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("peers.lgsp_sync.auth.mode")),
            "{problems:?}"
        );
        // Sound.
        let peer = "[peers.lgsp_sync]\nbase_url = \"https://lgsp.example.vn/api\"\n\
                    auth = { mode = \"lgsp\", token_url = \"https://lgsp.example.vn/token\", client_id = \"c\", client_secret = \"s\" }\n";
        let cfg = Config::from_toml(&text(peer, "sync_document.toml")).unwrap();
        assert_eq!(cfg.check(dir.path()), Vec::<String>::new());
    }
}
