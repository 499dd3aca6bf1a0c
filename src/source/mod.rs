//! Ways local records come in. Each way reads records in the source's own shape, maps them with
//! the source's mapping files, and hands accepted and rejected records to the store in one
//! transaction. Today: HTTP push ([`http`]).

pub mod csv;
pub mod http;
pub mod json;
pub mod xml;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;

use crate::config::{require_secret, resolve_path, SourceConfig};
use crate::mapping::{Mapping, Target, Vars};

/// One configured local system, its mappings compiled.
pub struct Source {
    pub name: String,
    token: SecretString,
    pub dossier: Arc<Mapping>,
    pub step: Arc<Mapping>,
    pub vars: Vars,
    pub xml_record_element: Option<String>,
    /// The legacy route's `MSyncDocument` mapping, when this source's dossiers also go there.
    pub sync_document: Option<Arc<Mapping>>,
}

impl Source {
    pub fn token_matches(&self, presented: &str) -> bool {
        crate::config::token_matches(&self.token, presented)
    }
}

/// All configured sources by name.
#[derive(Default)]
pub struct Sources {
    by_name: HashMap<String, Arc<Source>>,
}

impl Sources {
    /// Loads every source's secrets and mappings; relative paths are resolved against `base_dir`.
    pub fn from_config(cfg: &[SourceConfig], base_dir: &Path) -> anyhow::Result<Self> {
        let mut by_name = HashMap::new();
        for s in cfg {
            let token = require_secret(
                &format!("sources.{}.token", s.name),
                &s.token,
                &s.token_file,
            )
            .map_err(anyhow::Error::msg)?;
            let load = |p: &Path| -> anyhow::Result<Arc<Mapping>> {
                let full = resolve_path(base_dir, p);
                Mapping::load(&full)
                    .map(Arc::new)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("source {}: mapping {}", s.name, full.display()))
            };
            let source = Source {
                name: s.name.clone(),
                token,
                dossier: load(&s.dossier_mapping)?,
                step: load(&s.step_mapping)?,
                vars: s.vars.clone(),
                xml_record_element: s.xml_record_element.clone(),
                sync_document: match &s.sync_document_mapping {
                    None => None,
                    Some(p) => {
                        let m = load(p)?;
                        if m.target() != Target::SyncDocument {
                            anyhow::bail!(
                                "source {}: sync_document_mapping {}: its target is not \"sync_document\"",
                                s.name,
                                p.display()
                            );
                        }
                        Some(m)
                    }
                },
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

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
