//! `[postal]`: how the postal service's tracking is read and applied. When the feed is polled
//! is `[schedules] postal_poll`; where VNPost is, `[peers.vnpost]`; which dossiers get orders,
//! each source's `[sources.triggers]`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `[postal]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostalConfig {
    /// Events asked for per tracking page (`pagesize`, 1 to 1000).
    pub page_size: u32,
    /// Pages read by one poll at most (the rest is read by the next one).
    pub max_pages: u32,
    /// How often held orders are looked at for release (their dossier's header at the portal).
    pub release_every_ms: u64,
    /// The secret VNPost signs its pushes to `/callbacks/vnpost` with; without it the route
    /// answers 404 (the feed is polled only).
    #[serde(default, skip_serializing)]
    pub callback_secret: Option<SecretString>,
    #[serde(default)]
    pub callback_secret_file: Option<PathBuf>,
    /// Events accepted per push at most.
    pub callback_max_events: usize,
}

impl Default for PostalConfig {
    fn default() -> Self {
        Self {
            page_size: 500,
            max_pages: 10_000,
            release_every_ms: 2_000,
            callback_secret: None,
            callback_secret_file: None,
            callback_max_events: 10_000,
        }
    }
}

impl PostalConfig {
    /// One line per problem, each with its key; a relative secret file is read against
    /// `base_dir` (the config file's folder).
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut p = Vec::new();
        if !(1..=crate::peer::vnpost::MAX_PAGE_SIZE).contains(&self.page_size) {
            p.push(format!(
                "postal.page_size: {} is outside 1..={}",
                self.page_size,
                crate::peer::vnpost::MAX_PAGE_SIZE
            ));
        }
        if self.max_pages == 0 {
            p.push("postal.max_pages: must be at least 1".into());
        }
        if !(100..=3_600_000).contains(&self.release_every_ms) {
            p.push(format!(
                "postal.release_every_ms: {} is outside 100..=3600000",
                self.release_every_ms
            ));
        }
        if !(1..=40_000).contains(&self.callback_max_events) {
            p.push(format!(
                "postal.callback_max_events: {} is outside 1..=40000 (a push body is at most 16 MiB)",
                self.callback_max_events
            ));
        }
        if let Err(e) = self.callback_secret(base_dir) {
            p.push(e);
        }
        p
    }

    /// The push route's secret, if one is set (a relative file against `base_dir`).
    pub fn callback_secret(&self, base_dir: &Path) -> Result<Option<SecretString>, String> {
        crate::settings::resolve_secret(
            "postal.callback_secret",
            &self.callback_secret,
            &self
                .callback_secret_file
                .as_ref()
                .map(|f| crate::settings::resolve_path(base_dir, f)),
        )
    }
}
