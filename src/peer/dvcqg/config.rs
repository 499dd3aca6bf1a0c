//! The portal peer's settings (`[peers.dvcqg]`) and their checks. The LGSP auth block is shared
//! with the legacy route (`[peers.lgsp_sync]`).

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::outbox::config::PolicyOverride;
use crate::peer::classify::{check_rules, ClassifyRule};
use crate::settings::{check_url, require_secret};

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
    /// TLS to this peer: a CA bundle and a client certificate (`crate::peer::http::TlsConfig`).
    #[serde(default)]
    pub tls: crate::peer::http::TlsConfig,
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

impl DvcqgConfig {
    /// Every problem of `[peers.dvcqg]`, one line each.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        check_url("peers.dvcqg.base_url", &self.base_url, &mut problems);
        if self.madonvi.trim().is_empty() {
            problems.push("peers.dvcqg.madonvi: must not be empty".into());
        }
        if !(1..=50).contains(&self.dossier_batch) {
            problems.push(format!(
                "peers.dvcqg.dossier_batch: {} is outside 1..=50",
                self.dossier_batch
            ));
        }
        if !(1..=10).contains(&self.step_batch) {
            problems.push(format!(
                "peers.dvcqg.step_batch: {} is outside 1..=10",
                self.step_batch
            ));
        }
        problems.extend(self.auth.check("peers.dvcqg.auth"));
        problems.extend(check_rules("peers.dvcqg.classify", &self.classify));
        problems
    }
}

impl DvcqgAuth {
    /// Every problem of an auth block at `prefix` (`peers.dvcqg.auth`): URLs and secrets.
    pub fn check(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        match self {
            DvcqgAuth::Session {
                password,
                password_file,
                ..
            } => {
                if let Err(e) =
                    require_secret(&format!("{prefix}.password"), password, password_file)
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
                check_url(&format!("{prefix}.token_url"), token_url, &mut problems);
                if let Err(e) = require_secret(
                    &format!("{prefix}.client_secret"),
                    client_secret,
                    client_secret_file,
                ) {
                    problems.push(e);
                }
                if let Some(h) = access_token_header {
                    for (name, v, f) in [
                        ("access_key", &h.access_key, &h.access_key_file),
                        ("secret_key", &h.secret_key, &h.secret_key_file),
                    ] {
                        let name = format!("{prefix}.access_token_header.{name}");
                        if let Err(e) = require_secret(&name, v, f) {
                            problems.push(e);
                        }
                    }
                }
            }
        }
        problems
    }
}
