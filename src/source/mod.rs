//! Ways local records come in. Each way reads records in the source's own shape and hands them to
//! [`crate::source::intake`], which maps, routes and stores them. Today: HTTP push ([`http`]) and
//! SQL polling ([`sql`]). The operator's side: the quarantine ([`quarantine`]: list, show,
//! retry with the mappings configured now) and each source's health ([`status`]). This module
//! holds what identifies a source (its token, variables, record element); its mappings are in
//! the route table (`crate::source::routes`).

pub mod config;
pub mod http;
pub mod intake;
pub mod quarantine;
pub mod routes;
pub mod sql;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use crate::mapping::Vars;
use crate::settings::require_secret;
use config::SourceConfig;

/// One configured local system, its mappings compiled.
pub struct Source {
    pub name: String,
    /// `None` for a source only read by polling or from a folder: HTTP push refuses it.
    token: Option<SecretString>,
    pub vars: Vars,
    pub xml_record_element: Option<String>,
}

impl Source {
    pub fn token_matches(&self, presented: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| crate::settings::token_matches(t, presented))
    }
}

/// All configured sources by name.
#[derive(Default)]
pub struct Sources {
    by_name: HashMap<String, Arc<Source>>,
}

impl Sources {
    /// Loads every source's secrets.
    pub fn from_config(cfg: &[SourceConfig]) -> anyhow::Result<Self> {
        let mut by_name = HashMap::new();
        for s in cfg {
            let token = if s.pushes() {
                Some(
                    require_secret(
                        &format!("sources.{}.token", s.name),
                        &s.token,
                        &s.token_file,
                    )
                    .map_err(anyhow::Error::msg)?,
                )
            } else {
                None
            };
            let source = Source {
                name: s.name.clone(),
                token,
                vars: s.vars.clone(),
                xml_record_element: s.xml_record_element.clone(),
            };
            if by_name.insert(s.name.clone(), Arc::new(source)).is_some() {
                anyhow::bail!("duplicate source name \"{}\"", s.name);
            }
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Source>> {
        self.by_name.get(name)
    }

    /// The source whose token `presented` is (each compared in constant time).
    pub fn find_by_token(&self, presented: &str) -> Option<&Arc<Source>> {
        let mut found = None;
        for s in self.by_name.values() {
            // Every token is compared, so the time taken does not tell which matched.
            if s.token_matches(presented) && found.is_none() {
                found = Some(s);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
