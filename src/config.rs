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

/// The delivery policy every peer starts from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How often an idle lane looks for due messages.
    pub poll_interval_ms: u64,
    /// How long a claimed batch belongs to its instance before another may take it over; also
    /// how long the scheduler's leader lease outlives an instance that stopped renewing it.
    pub lease_seconds: u64,
    /// Back-off: full jitter over `min(cap, initial * 2^attempt)`.
    pub backoff_initial_ms: u64,
    pub backoff_cap_ms: u64,
    /// The longest `Retry-After` obeyed; longer ones are cut to this.
    pub retry_after_cap_seconds: u64,
    /// Failed attempts after which a message is dead-lettered.
    pub max_attempts: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            poll_interval_ms: 200,
            lease_seconds: 60,
            backoff_initial_ms: 1_000,
            backoff_cap_ms: 300_000,
            retry_after_cap_seconds: 3_600,
            max_attempts: 50,
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
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeersConfig {
    pub dvcqg: Option<DvcqgConfig>,
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
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Batches in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
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

fn default_timeout_ms() -> u64 {
    30_000
}
fn default_concurrency() -> usize {
    4
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

    fn default_shape() -> Config {
        Config {
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            delivery: DeliveryConfig::default(),
            peers: PeersConfig::default(),
            sources: Vec::new(),
            schedules: BTreeMap::new(),
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
        let d = &self.delivery;
        if d.backoff_initial_ms == 0 || d.backoff_cap_ms < d.backoff_initial_ms {
            problems.push(format!(
                "delivery: backoff_initial_ms ({}) must be > 0 and not above backoff_cap_ms ({})",
                d.backoff_initial_ms, d.backoff_cap_ms
            ));
        }
        if d.lease_seconds == 0 {
            problems.push("delivery.lease_seconds: must be greater than 0".into());
        }
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
            if p.concurrency == 0 {
                problems.push("peers.dvcqg.concurrency: must be greater than 0".into());
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
    if path.is_empty() {
        format!("{kind}{origin}")
    } else {
        format!("{path}: {kind}{origin}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn token_comparison() {
        let t = SecretString::from("abc".to_string());
        assert!(token_matches(&t, "abc"));
        assert!(!token_matches(&t, "abd"));
        assert!(!token_matches(&t, "ab"));
    }
}
