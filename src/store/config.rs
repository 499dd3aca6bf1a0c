//! The store's settings (`[store]`).

use serde::{Deserialize, Serialize};

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

impl StoreConfig {
    /// Every problem of `[store]`, one line each.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("sqlite:")
            || self.url.starts_with("postgres://")
            || self.url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "store.url: \"{}\" is neither sqlite:<path> nor postgres://...",
                crate::settings::redact_url(&self.url)
            ));
        }
        problems
    }
}
