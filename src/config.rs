//! Typed configuration: defaults, then `lienthong.toml`, then environment variables
//! `LIENTHONG_<SECTION>__<KEY>` (double underscore between levels). Unknown keys are errors.
//! Secrets are `SecretString`s (never Debug-printed) and may be given as a value or as a path
//! to a file holding it (`password` or `password_file`).
//!
//! [`Config::check`] validates everything that can be checked without running (URLs, cron
//! expressions, mapping files, duplicate names) and reports one precise line per problem.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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
    pub schedules: BTreeMap<String, String>,
    /// Pruning of delivered messages.
    #[serde(default)]
    pub housekeeping: HousekeepingConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where ingest and admin HTTP listen.
    pub listen: SocketAddr,
    /// Largest ingest body accepted, in bytes (a body of exactly this size is allowed).
    pub body_limit_bytes: usize,
    /// Most records one ingest request may carry.
    pub max_records_per_request: usize,
    /// Bearer token for admin endpoints.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    pub admin_token_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 8080).into(),
            body_limit_bytes: 10 * 1024 * 1024,
            max_records_per_request: 10_000,
            admin_token: None,
            admin_token_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://lienthong.db".into(),
            max_connections: 8,
        }
    }
}

/// A delivery policy: how one peer's lane sends, retries, slows down and stops. `[delivery]` is
/// the policy every peer starts from; a peer's `policy` table (e.g. `[peers.dvcqg.policy]`)
/// overrides single keys of it ([`PolicyOverride`]); [`Config::policy_for`] gives the result.
/// Which answers are retryable, permanent or already done is the peer's own `classify` rules.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How often an idle lane looks for due messages.
    pub poll_interval_ms: u64,
    /// How long a claimed batch belongs to its instance before another may take it over; also
    /// how long the scheduler's leader lease outlives an instance that stopped renewing it.
    pub lease_seconds: u64,
    /// Batches in flight at once (workers of the lane).
    pub concurrency: usize,
    /// Time allowed for one call to the peer (connect, send, answer).
    pub timeout_ms: u64,
    /// Back-off: a delay of at most `min(cap, initial * 2^attempt)`.
    pub backoff_initial_ms: u64,
    pub backoff_cap_ms: u64,
    /// Which part of that delay is random: 1.0 = anywhere in `[0, ceiling]` (full jitter),
    /// 0.0 = exactly the ceiling, 0.25 = in `[0.75 * ceiling, ceiling]`.
    pub backoff_jitter: f64,
    /// The longest `Retry-After` obeyed; longer ones are cut to this.
    pub retry_after_cap_seconds: u64,
    /// Failed attempts after which a message is dead-lettered.
    pub max_attempts: u32,
    /// A message not delivered this many hours after it was accepted (or replayed) is
    /// dead-lettered instead of sent. 0: no limit.
    pub max_age_hours: u64,
    /// Token bucket: batches per second, on average, per instance. 0: no limit.
    pub rate_per_second: f64,
    /// Token bucket: batches that may go at once after a quiet spell.
    pub rate_burst: u32,
    /// Circuit breaker: consecutive failed batches (transport error, 5xx, "try later") after
    /// which the lane stops claiming. 0: never opens.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe batch is let through.
    pub breaker_cool_down_seconds: u64,
    /// When the peer is known to be down: the lane sends nothing in these windows.
    pub maintenance: Vec<MaintenanceWindowConfig>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 200,
            lease_seconds: 60,
            concurrency: 4,
            timeout_ms: 30_000,
            backoff_initial_ms: 1_000,
            backoff_cap_ms: 300_000,
            backoff_jitter: 1.0,
            retry_after_cap_seconds: 3_600,
            max_attempts: 50,
            max_age_hours: 0,
            rate_per_second: 0.0,
            rate_burst: 1,
            breaker_failures: 5,
            breaker_cool_down_seconds: 30,
            maintenance: Vec::new(),
        }
    }
}

impl DeliveryConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn breaker_cool_down(&self) -> Duration {
        Duration::from_secs(self.breaker_cool_down_seconds)
    }
    /// `None` when messages may wait forever.
    pub fn max_age(&self) -> Option<Duration> {
        (self.max_age_hours > 0).then(|| Duration::from_secs(self.max_age_hours * 3_600))
    }

    /// This policy with the keys `o` sets replaced.
    pub fn with(&self, o: &PolicyOverride) -> DeliveryConfig {
        let d = self.clone();
        DeliveryConfig {
            poll_interval_ms: o.poll_interval_ms.unwrap_or(d.poll_interval_ms),
            lease_seconds: o.lease_seconds.unwrap_or(d.lease_seconds),
            concurrency: o.concurrency.unwrap_or(d.concurrency),
            timeout_ms: o.timeout_ms.unwrap_or(d.timeout_ms),
            backoff_initial_ms: o.backoff_initial_ms.unwrap_or(d.backoff_initial_ms),
            backoff_cap_ms: o.backoff_cap_ms.unwrap_or(d.backoff_cap_ms),
            backoff_jitter: o.backoff_jitter.unwrap_or(d.backoff_jitter),
            retry_after_cap_seconds: o
                .retry_after_cap_seconds
                .unwrap_or(d.retry_after_cap_seconds),
            max_attempts: o.max_attempts.unwrap_or(d.max_attempts),
            max_age_hours: o.max_age_hours.unwrap_or(d.max_age_hours),
            rate_per_second: o.rate_per_second.unwrap_or(d.rate_per_second),
            rate_burst: o.rate_burst.unwrap_or(d.rate_burst),
            breaker_failures: o.breaker_failures.unwrap_or(d.breaker_failures),
            breaker_cool_down_seconds: o
                .breaker_cool_down_seconds
                .unwrap_or(d.breaker_cool_down_seconds),
            maintenance: o.maintenance.clone().unwrap_or(d.maintenance),
        }
    }

    /// Every problem of this policy, as `(key, message)`.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.poll_interval_ms == 0 {
            p.push(("poll_interval_ms", "must be greater than 0".to_string()));
        }
        if self.lease_seconds == 0 {
            p.push(("lease_seconds", "must be greater than 0".to_string()));
        }
        if self.concurrency == 0 {
            p.push(("concurrency", "must be greater than 0".to_string()));
        }
        if self.timeout_ms == 0 {
            p.push(("timeout_ms", "must be greater than 0".to_string()));
        }
        if self.backoff_initial_ms == 0 || self.backoff_cap_ms < self.backoff_initial_ms {
            p.push((
                "backoff_initial_ms",
                format!(
                    "({}) must be > 0 and not above backoff_cap_ms ({})",
                    self.backoff_initial_ms, self.backoff_cap_ms
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.backoff_jitter) {
            p.push((
                "backoff_jitter",
                format!("{} is outside 0.0..=1.0", self.backoff_jitter),
            ));
        }
        if self.max_attempts == 0 {
            p.push(("max_attempts", "must be greater than 0".to_string()));
        }
        if !self.rate_per_second.is_finite() || !(0.0..=1e6).contains(&self.rate_per_second) {
            p.push((
                "rate_per_second",
                format!(
                    "{} is not between 0 (no limit) and 1000000",
                    self.rate_per_second
                ),
            ));
        } else if self.rate_per_second > 0.0 && self.rate_burst == 0 {
            p.push((
                "rate_burst",
                "must be greater than 0 when rate_per_second is set".to_string(),
            ));
        }
        if self.breaker_failures > 0 && self.breaker_cool_down_seconds == 0 {
            p.push((
                "breaker_cool_down_seconds",
                "must be greater than 0 when breaker_failures is set".to_string(),
            ));
        }
        for (i, w) in self.maintenance.iter().enumerate() {
            if let Err(e) = crate::outbox::window::MaintenanceWindow::parse(w) {
                p.push((
                    "maintenance",
                    format!("[{i}]: {e} (cron has seconds: sec min hour day month weekday [year])"),
                ));
            }
        }
        p
    }
}

/// A recurring maintenance window of a peer: it starts at each time `cron` names, read in
/// Vietnam time (UTC+7, whatever the server's time zone), and lasts `duration_minutes`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindowConfig {
    /// With seconds: `sec min hour day month weekday [year]`, e.g. `0 0 23 * * Sat`.
    pub cron: String,
    pub duration_minutes: u64,
}

/// A peer's changes to the `[delivery]` policy: every key of [`DeliveryConfig`], each optional.
/// `maintenance`, when given, replaces the default list.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    pub poll_interval_ms: Option<u64>,
    pub lease_seconds: Option<u64>,
    pub concurrency: Option<usize>,
    pub timeout_ms: Option<u64>,
    pub backoff_initial_ms: Option<u64>,
    pub backoff_cap_ms: Option<u64>,
    pub backoff_jitter: Option<f64>,
    pub retry_after_cap_seconds: Option<u64>,
    pub max_attempts: Option<u32>,
    pub max_age_hours: Option<u64>,
    pub rate_per_second: Option<f64>,
    pub rate_burst: Option<u32>,
    pub breaker_failures: Option<u32>,
    pub breaker_cool_down_seconds: Option<u64>,
    pub maintenance: Option<Vec<MaintenanceWindowConfig>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeersConfig {
    pub dvcqg: Option<DvcqgConfig>,
    /// The legacy XML route (`POST <base>/Document/SyncDocument`), for provinces still on it.
    pub lgsp_sync: Option<LgspSyncConfig>,
}

/// The legacy LGSP document-sync route (dvcqg.md, "Legacy XML route"): one `MSyncDocument` per
/// request, authenticated by the LGSP bearer token. Dossiers go this way only from sources that
/// name a `sync_document_mapping`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LgspSyncConfig {
    /// The platform's base URL; documents go to `<base_url>/Document/SyncDocument`.
    pub base_url: String,
    /// Must be `mode = "lgsp"`: the route takes only the LGSP bearer token.
    pub auth: DvcqgAuth,
    /// This peer's changes to the `[delivery]` policy.
    #[serde(default)]
    pub policy: PolicyOverride,
}

impl PeersConfig {
    /// Each configured peer's name and its changes to the default policy.
    pub fn overrides(&self) -> Vec<(&'static str, &PolicyOverride)> {
        let mut v = Vec::new();
        if let Some(p) = &self.dvcqg {
            v.push(("dvcqg", &p.policy));
        }
        if let Some(p) = &self.lgsp_sync {
            v.push(("lgsp_sync", &p.policy));
        }
        v
    }
}

/// The national portal adapter (DVCQG), reached directly or through LGSP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DvcqgConfig {
    /// Base URL; `/auth`, `/integration` and `/share` are relative to it.
    pub base_url: String,
    /// The calling agency identifier sent as `madonvi`.
    pub madonvi: String,
    pub auth: DvcqgAuth,
    /// This peer's changes to the `[delivery]` policy (timeout, concurrency, rate, breaker,
    /// maintenance windows, ...).
    #[serde(default)]
    pub policy: PolicyOverride,
    /// Items per `DongBoHoSoMC` call (1..=50).
    #[serde(default = "default_dossier_batch")]
    pub dossier_batch: usize,
    /// Items per `CapNhatTienDoHoSoMC` call (1..=10).
    #[serde(default = "default_step_batch")]
    pub step_batch: usize,
    /// Extra classification rules, tried before the built-in ones (the spec's codes).
    #[serde(default)]
    pub classify: Vec<ClassifyRule>,
}

fn default_dossier_batch() -> usize {
    50
}
fn default_step_batch() -> usize {
    10
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum DvcqgAuth {
    /// The adapter's own `POST /auth` session.
    Session {
        dstcode: String,
        username: String,
        #[serde(default, skip_serializing)]
        password: Option<SecretString>,
        #[serde(default)]
        password_file: Option<PathBuf>,
    },
    /// OAuth2 client credentials through the provincial integration platform.
    Lgsp {
        token_url: String,
        client_id: String,
        #[serde(default, skip_serializing)]
        client_secret: Option<SecretString>,
        #[serde(default)]
        client_secret_file: Option<PathBuf>,
        /// When set, every call also carries the `lgspaccesstoken` header.
        #[serde(default)]
        access_token_header: Option<LgspAccessHeader>,
    },
}

/// The parts of the `lgspaccesstoken` header (base64 of a JSON object of these).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LgspAccessHeader {
    #[serde(default, skip_serializing)]
    pub access_key: Option<SecretString>,
    #[serde(default)]
    pub access_key_file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    pub secret_key: Option<SecretString>,
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    pub app_name: String,
    pub partner_code: String,
    #[serde(default)]
    pub partner_code_cus: String,
}

/// One rule of a peer's answer classification. Every condition given must hold.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRule {
    /// `envelope` (the whole answer) or `item` (one result item).
    #[serde(default = "default_scope")]
    pub scope: ClassifyScope,
    /// Matches the answer's `error_code` compared as an integer (`"00"` = `0`).
    pub error_code: Option<i64>,
    /// Matches the HTTP status.
    pub http_status: Option<u16>,
    /// Matches when the message contains this text (case-insensitive).
    pub message_contains: Option<String>,
    pub outcome: ClassifyOutcome,
}

fn default_scope() -> ClassifyScope {
    ClassifyScope::Item
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClassifyScope {
    Envelope,
    Item,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClassifyOutcome {
    Delivered,
    AlreadyExists,
    NotFound,
    Retry,
    Reject,
    /// Session expired: log in again once and repeat (envelope scope only).
    Reauth,
    /// Credentials refused: pause the destination (envelope scope only).
    Pause,
}

/// One local system that pushes records over HTTP.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Appears in the ingest path `/ingest/v1/{name}/...`.
    pub name: String,
    #[serde(default, skip_serializing)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Mapping file for dossier records.
    pub dossier_mapping: PathBuf,
    /// Mapping file for step records.
    pub step_mapping: PathBuf,
    /// Values the mappings may read as `$vars.<name>` (e.g. the processing agency's name).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// For XML bodies: the local name of the element that holds one record.
    #[serde(default)]
    pub xml_record_element: Option<String>,
    /// When set, each accepted dossier is also rendered with this mapping (target
    /// `sync_document`) and queued for the legacy XML route (`peers.lgsp_sync`).
    #[serde(default)]
    pub sync_document_mapping: Option<PathBuf>,
}

/// Pruning of delivered messages: each leaves an audit row (ids, times, attempts, hashes of the
/// request and the answer); its payload, its batches and its source record go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingConfig {
    /// Delivered messages older than this many days are pruned.
    pub retention_days: u32,
    /// How often `lienthong run` prunes, in minutes; 0 = never (prune with
    /// `lienthong outbox prune` instead).
    pub prune_interval_minutes: u64,
    /// Messages pruned per transaction, so the store is never locked for long.
    pub prune_chunk: u32,
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            prune_interval_minutes: 60,
            prune_chunk: 500,
        }
    }
}

impl HousekeepingConfig {
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 86_400)
    }
    fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.retention_days == 0 {
            problems.push("housekeeping.retention_days: must be at least 1".into());
        }
        if !(1..=10_000).contains(&self.prune_chunk) {
            problems.push(format!(
                "housekeeping.prune_chunk: {} is outside 1..=10000",
                self.prune_chunk
            ));
        }
        problems
    }
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
        fig.extract::<Config>().map_err(|e| {
            let msgs: Vec<String> = e.into_iter().map(|e| describe_figment_error(&e)).collect();
            LoadError(msgs.join("\n"))
        })
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
            Some((_, o)) => self.delivery.with(o),
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
            schedules: BTreeMap::new(),
            housekeeping: HousekeepingConfig::default(),
        }
    }

    /// Every problem that can be found without running, one precise line each.
    /// Relative mapping paths are resolved against `base_dir` (the config file's folder).
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.store.url.starts_with("sqlite:")
            || self.store.url.starts_with("postgres://")
            || self.store.url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "store.url: \"{}\" is neither sqlite:<path> nor postgres://...",
                redact_url(&self.store.url)
            ));
        }
        if self.server.body_limit_bytes == 0 {
            problems.push("server.body_limit_bytes: must be greater than 0".into());
        }
        if self.server.max_records_per_request == 0 {
            problems.push("server.max_records_per_request: must be greater than 0".into());
        }
        if let Err(e) = resolve_secret(
            "server.admin_token",
            &self.server.admin_token,
            &self.server.admin_token_file,
        ) {
            problems.push(e);
        }
        let defaults = self.delivery.problems();
        for (key, msg) in &defaults {
            problems.push(format!("delivery.{key}: {msg}"));
        }
        for (peer, o) in self.peers.overrides() {
            // Problems inherited unchanged from [delivery] are reported once, above.
            for (key, msg) in self.delivery.with(o).problems() {
                if !defaults.iter().any(|(k, m)| *k == key && *m == msg) {
                    problems.push(format!("peers.{peer}.policy.{key}: {msg}"));
                }
            }
        }
        problems.extend(self.housekeeping.check());
        if let Some(p) = &self.peers.dvcqg {
            check_url("peers.dvcqg.base_url", &p.base_url, &mut problems);
            if p.madonvi.trim().is_empty() {
                problems.push("peers.dvcqg.madonvi: must not be empty".into());
            }
            if !(1..=50).contains(&p.dossier_batch) {
                problems.push(format!(
                    "peers.dvcqg.dossier_batch: {} is outside 1..=50",
                    p.dossier_batch
                ));
            }
            if !(1..=10).contains(&p.step_batch) {
                problems.push(format!(
                    "peers.dvcqg.step_batch: {} is outside 1..=10",
                    p.step_batch
                ));
            }
            match &p.auth {
                DvcqgAuth::Session {
                    password,
                    password_file,
                    ..
                } => {
                    if let Err(e) =
                        require_secret("peers.dvcqg.auth.password", password, password_file)
                    {
                        problems.push(e);
                    }
                }
                DvcqgAuth::Lgsp {
                    token_url,
                    client_secret,
                    client_secret_file,
                    access_token_header,
                    ..
                } => {
                    check_url("peers.dvcqg.auth.token_url", token_url, &mut problems);
                    if let Err(e) = require_secret(
                        "peers.dvcqg.auth.client_secret",
                        client_secret,
                        client_secret_file,
                    ) {
                        problems.push(e);
                    }
                    if let Some(h) = access_token_header {
                        for (name, v, f) in [
                            (
                                "peers.dvcqg.auth.access_token_header.access_key",
                                &h.access_key,
                                &h.access_key_file,
                            ),
                            (
                                "peers.dvcqg.auth.access_token_header.secret_key",
                                &h.secret_key,
                                &h.secret_key_file,
                            ),
                        ] {
                            if let Err(e) = require_secret(name, v, f) {
                                problems.push(e);
                            }
                        }
                    }
                }
            }
            for (i, rule) in p.classify.iter().enumerate() {
                if rule.error_code.is_none()
                    && rule.http_status.is_none()
                    && rule.message_contains.is_none()
                {
                    problems.push(format!(
                        "peers.dvcqg.classify[{i}]: names no condition (error_code, http_status or message_contains)"
                    ));
                }
                if rule.scope == ClassifyScope::Item
                    && matches!(
                        rule.outcome,
                        ClassifyOutcome::Reauth | ClassifyOutcome::Pause
                    )
                {
                    problems.push(format!(
                        "peers.dvcqg.classify[{i}]: outcome {:?} applies to scope \"envelope\" only",
                        rule.outcome
                    ));
                }
            }
        }
        if let Some(p) = &self.peers.lgsp_sync {
            check_lgsp_sync(p, &mut problems);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let at = format!("sources[{i}] (\"{}\")", s.name);
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "{at}.name: must be non-empty ASCII letters, digits, '-' or '_'"
                ));
            }
            if !seen.insert(s.name.clone()) {
                problems.push(format!("{at}.name: duplicate source name \"{}\"", s.name));
            }
            if let Err(e) = require_secret(&format!("{at}.token"), &s.token, &s.token_file) {
                problems.push(e);
            }
            for (field, path) in [
                ("dossier_mapping", &s.dossier_mapping),
                ("step_mapping", &s.step_mapping),
            ] {
                let full = resolve_path(base_dir, path);
                if let Err(e) = crate::mapping::Mapping::load(&full) {
                    problems.push(format!("{at}.{field}: {}: {e}", full.display()));
                }
            }
            if let Some(path) = &s.sync_document_mapping {
                let full = resolve_path(base_dir, path);
                match crate::mapping::Mapping::load(&full) {
                    Err(e) => problems.push(format!(
                        "{at}.sync_document_mapping: {}: {e}",
                        full.display()
                    )),
                    Ok(m) if m.target() != crate::mapping::Target::SyncDocument => {
                        problems.push(format!(
                            "{at}.sync_document_mapping: {}: its target is not \"sync_document\"",
                            full.display()
                        ))
                    }
                    Ok(_) => {}
                }
                if self.peers.lgsp_sync.is_none() {
                    problems.push(format!(
                        "{at}.sync_document_mapping: set, but there is no [peers.lgsp_sync] to deliver the documents to"
                    ));
                }
            }
        }
        for (name, expr) in &self.schedules {
            if let Err(e) = expr.parse::<cron::Schedule>() {
                problems.push(format!(
                    "schedules.{name}: \"{expr}\" is not a cron expression (sec min hour day month weekday [year]): {e}"
                ));
            }
            if !crate::scheduler::JOB_NAMES.contains(&name.as_str()) {
                problems.push(crate::scheduler::unknown_job(name));
            }
        }
        problems
    }
}

/// The legacy route's own checks: a URL, the LGSP token (never a session), limits.
fn check_lgsp_sync(p: &LgspSyncConfig, problems: &mut Vec<String>) {
    check_url("peers.lgsp_sync.base_url", &p.base_url, problems);
    match &p.auth {
        DvcqgAuth::Session { .. } => problems.push(
            "peers.lgsp_sync.auth.mode: the legacy route takes only the LGSP bearer token (mode = \"lgsp\")"
                .into(),
        ),
        DvcqgAuth::Lgsp {
            token_url,
            client_secret,
            client_secret_file,
            ..
        } => {
            check_url("peers.lgsp_sync.auth.token_url", token_url, problems);
            if let Err(e) = require_secret(
                "peers.lgsp_sync.auth.client_secret",
                client_secret,
                client_secret_file,
            ) {
                problems.push(e);
            }
        }
    }
}

/// Resolves a path from the config against the config file's folder.
pub fn resolve_path(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

fn check_url(field: &str, url: &str, problems: &mut Vec<String>) {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
        Ok(u) => problems.push(format!(
            "{field}: \"{url}\" has scheme \"{}\"; expected http or https",
            u.scheme()
        )),
        Err(e) => problems.push(format!("{field}: \"{url}\" is not a URL: {e}")),
    }
}

/// Reads a secret given as a value or as a file path; `Ok(None)` when neither is given.
pub fn resolve_secret(
    name: &str,
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
) -> Result<Option<SecretString>, String> {
    match (value, file) {
        (Some(_), Some(_)) => Err(format!(
            "{name}: give either the value or {name}_file, not both"
        )),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => {
                let trimmed = text.trim_end_matches(['\n', '\r']);
                if trimmed.is_empty() {
                    Err(format!("{name}_file: {} is empty", path.display()))
                } else {
                    Ok(Some(SecretString::from(trimmed.to_string())))
                }
            }
            Err(e) => Err(format!("{name}_file: cannot read {}: {e}", path.display())),
        },
        (None, None) => Ok(None),
    }
}

/// Like [`resolve_secret`], but the secret must be present.
pub fn require_secret(
    name: &str,
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
) -> Result<SecretString, String> {
    resolve_secret(name, value, file)?
        .ok_or_else(|| format!("{name}: missing (give {name} or {name}_file)"))
}

/// Compares a presented token with the expected one without leaking timing of the prefix.
pub fn token_matches(expected: &SecretString, presented: &str) -> bool {
    let a = expected.expose_secret().as_bytes();
    let b = presented.as_bytes();
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
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

    #[test]
    fn secret_from_file_is_trimmed_of_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "abc\n").unwrap();
        let s = require_secret("t", &None, &Some(path)).unwrap();
        assert_eq!(s.expose_secret(), "abc");
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

    #[test]
    fn token_comparison() {
        let t = SecretString::from("abc".to_string());
        assert!(token_matches(&t, "abc"));
        assert!(!token_matches(&t, "abd"));
        assert!(!token_matches(&t, "ab"));
    }
}
