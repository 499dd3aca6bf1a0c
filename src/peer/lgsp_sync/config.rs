//! The legacy route's settings (`[peers.lgsp_sync]`) and their checks.

use serde::{Deserialize, Serialize};

use crate::outbox::config::PolicyOverride;
use crate::peer::classify::{check_rules, ClassifyRule};
use crate::peer::dvcqg::config::DvcqgAuth;
use crate::settings::check_url;

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
    /// Classification rules, tried before the route's built-in reading of `MResult`.
    #[serde(default)]
    pub classify: Vec<ClassifyRule>,
    /// TLS to this peer: a CA bundle and a client certificate (`crate::peer::http::TlsConfig`).
    #[serde(default)]
    pub tls: crate::peer::http::TlsConfig,
}

impl LgspSyncConfig {
    /// Every problem of `[peers.lgsp_sync]`: a URL, the LGSP token (never a session), the rules.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        check_url("peers.lgsp_sync.base_url", &self.base_url, &mut problems);
        match &self.auth {
            DvcqgAuth::Session { .. } => problems.push(
                "peers.lgsp_sync.auth.mode: the legacy route takes only the LGSP bearer token (mode = \"lgsp\")"
                    .into(),
            ),
            auth => problems.extend(auth.check("peers.lgsp_sync.auth")),
        }
        problems.extend(check_rules("peers.lgsp_sync.classify", &self.classify));
        problems
    }
}
