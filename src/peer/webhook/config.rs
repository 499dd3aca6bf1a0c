//! `[peers.local_webhook]`: where the local system is told of its dossiers' postal events (a
//! URL of its own), the secret the calls are signed with, and the family's delivery policy.
//! This module must not import `crate::config`, print a secret, or read anything but the
//! secret file.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::outbox::config::PolicyOverride;

/// `[peers.local_webhook]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://...` (or `http://` on a trusted network): every call is a `POST` here.
    pub url: String,
    /// The shared secret the calls are signed with. Give this or `secret_file`.
    #[serde(default, skip_serializing)]
    pub secret: Option<SecretString>,
    /// A file holding the secret (trailing newlines ignored); relative to the config's folder.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Events one call carries at most (each call is one dossier's or several dossiers' events,
    /// in order per dossier).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// The family's changes to the `[delivery]` policy.
    #[serde(default)]
    pub policy: PolicyOverride,
    /// TLS to this peer: a CA bundle and a client certificate (`crate::peer::http::TlsConfig`).
    #[serde(default)]
    pub tls: crate::peer::http::TlsConfig,
}

fn default_max_batch() -> usize {
    50
}

impl WebhookConfig {
    /// One line per problem, each with its key.
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut p = Vec::new();
        crate::settings::check_url("peers.local_webhook.url", &self.url, &mut p);
        if !(1..=1000).contains(&self.max_batch) {
            p.push(format!(
                "peers.local_webhook.max_batch: {} is outside 1..=1000",
                self.max_batch
            ));
        }
        if let Err(e) = self.read_secret(base_dir) {
            p.push(e);
        }
        p
    }

    /// The secret, from the value or the file (relative to `base_dir`).
    pub fn read_secret(&self, base_dir: &Path) -> Result<SecretString, String> {
        crate::settings::require_secret(
            "peers.local_webhook.secret",
            &self.secret,
            &self
                .secret_file
                .as_ref()
                .map(|f| crate::settings::resolve_path(base_dir, f)),
        )
    }
}
