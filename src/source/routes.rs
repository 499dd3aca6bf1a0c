//! Routes: where each kind of record of each source goes. One table built from config maps
//! (source, record kind) to its targets: the peer family, destination and operation, the mapping
//! that renders the record for it, and how the message relates to its dossier's header. Which
//! family takes which mapping target, and as which operation, is the peer registry's answer
//! (`peer::registry`); this module never names a peer's operations. Every way in (HTTP push, SQL
//! polling, file drop) and remap ask this table.
//!
//! The first target of a route is the record's primary one: its mapping decides the record's key
//! (the dossier code), time and sequence. A record that any target's mapping refuses is refused as
//! a whole, so the routes never disagree about which records exist.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::mapping::{Mapping, Target as MappingTarget, Vars};
use crate::peer::registry::{self, PeersConfig};
use crate::settings::resolve_path;
use crate::source::config::SourceConfig;
use crate::store::{HeaderRule, RecordKind};

/// One place a record goes.
#[derive(Clone)]
pub struct Target {
    /// The peer family.
    pub peer: &'static str,
    /// The destination within the family (`""` for a family of one).
    pub destination: String,
    pub operation: &'static str,
    pub header: HeaderRule,
    pub mapping: Arc<Mapping>,
    /// Put before this target's rejections and warnings (empty for the primary target), e.g.
    /// `legacy route (sync_document): `.
    pub label: String,
    /// The condition under which it applies, and its cancel (a postal order); `None`: always.
    pub trigger: Option<&'static registry::Trigger>,
}

/// Where one kind of record of one source goes: its targets, the primary first.
#[derive(Clone)]
pub struct Route {
    pub targets: Vec<Target>,
}

impl Route {
    /// The primary target (a route always has one).
    pub fn primary(&self) -> &Target {
        &self.targets[0]
    }
}

/// The route table.
#[derive(Clone, Default)]
pub struct Routes {
    table: HashMap<(String, RecordKind), Route>,
    /// Each source's `vars`, which its mappings read.
    vars: HashMap<String, Vars>,
}

/// Builds the route table as configured now (for remap: "the mapping configured now").
pub type Loader = Arc<dyn Fn() -> anyhow::Result<Routes> + Send + Sync>;

/// Each mapping key of a source, the record kind it serves and the target it must render.
fn mapping_fields(s: &SourceConfig) -> Vec<(&'static str, RecordKind, MappingTarget, &Path)> {
    let mut v = vec![
        (
            "dossier_mapping",
            RecordKind::Dossier,
            MappingTarget::Dossier,
            s.dossier_mapping.as_path(),
        ),
        (
            "step_mapping",
            RecordKind::Step,
            MappingTarget::Step,
            s.step_mapping.as_path(),
        ),
    ];
    if let Some(p) = &s.survey_mapping {
        v.push((
            "survey_mapping",
            RecordKind::Survey,
            MappingTarget::Survey,
            p.as_path(),
        ));
    }
    if let Some(p) = &s.sync_document_mapping {
        v.push((
            "sync_document_mapping",
            RecordKind::Dossier,
            MappingTarget::SyncDocument,
            p.as_path(),
        ));
    }
    v
}

impl Routes {
    /// Loads every source's mappings and routes them; relative paths against `base_dir`.
    pub fn from_config(sources: &[SourceConfig], base_dir: &Path) -> anyhow::Result<Self> {
        let mut table: HashMap<(String, RecordKind), Route> = HashMap::new();
        let mut vars = HashMap::new();
        for s in sources {
            vars.insert(s.name.clone(), s.vars.clone());
            for (field, kind, expected, path) in mapping_fields(s) {
                let full = resolve_path(base_dir, path);
                let mapping = Mapping::load(&full).map_err(|e| {
                    anyhow::anyhow!("source {}: {field} {}: {e}", s.name, full.display())
                })?;
                if mapping.target() != expected {
                    anyhow::bail!(
                        "source {}: {field} {}: its target is not \"{}\"",
                        s.name,
                        full.display(),
                        expected.as_str()
                    );
                }
                let (family, takes) = registry::taking(expected).ok_or_else(|| {
                    anyhow::anyhow!(
                        "source {}: {field}: no peer takes \"{}\"",
                        s.name,
                        expected.as_str()
                    )
                })?;
                let route = table
                    .entry((s.name.clone(), kind))
                    .or_insert_with(|| Route {
                        targets: Vec::new(),
                    });
                let label = if route.targets.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{} route ({}): ",
                        family.describe,
                        field.trim_end_matches("_mapping")
                    )
                };
                route.targets.push(Target {
                    peer: family.name,
                    destination: String::new(),
                    operation: takes.operation,
                    header: takes.header,
                    mapping: Arc::new(mapping),
                    label,
                    trigger: None,
                });
            }
            for (name, path) in &s.triggers {
                let trigger = registry::trigger(name).ok_or_else(|| {
                    anyhow::anyhow!("source {}: triggers.{name}: no such trigger", s.name)
                })?;
                let full = resolve_path(base_dir, path);
                let mapping = Mapping::load(&full).map_err(|e| {
                    anyhow::anyhow!("source {}: triggers.{name} {}: {e}", s.name, full.display())
                })?;
                if mapping.target() != trigger.target {
                    anyhow::bail!(
                        "source {}: triggers.{name} {}: its target is not \"{}\"",
                        s.name,
                        full.display(),
                        trigger.target.as_str()
                    );
                }
                let route = table
                    .entry((s.name.clone(), RecordKind::Dossier))
                    .or_insert_with(|| Route {
                        targets: Vec::new(),
                    });
                route.targets.push(Target {
                    peer: trigger.family,
                    destination: String::new(),
                    operation: trigger.operation,
                    header: trigger.header,
                    mapping: Arc::new(mapping),
                    label: format!("{name} route: "),
                    trigger: Some(trigger),
                });
            }
        }
        Ok(Self { table, vars })
    }

    /// The route of `kind` records of `source`.
    pub fn get(&self, source: &str, kind: RecordKind) -> Option<&Route> {
        self.table.get(&(source.to_string(), kind))
    }

    /// The `vars` of `source`.
    pub fn vars(&self, source: &str) -> Option<&Vars> {
        self.vars.get(source)
    }

    /// The target a queued message (its `item`) went to, for rendering it again.
    pub fn find(
        &self,
        source: &str,
        kind: RecordKind,
        peer: &str,
        operation: &str,
        item: &serde_json::Value,
    ) -> Option<&Target> {
        self.get(source, kind)?.targets.iter().find(|t| {
            t.peer == peer
                && t.operation == operation
                && t.trigger.is_none_or(|trigger| trigger.marked(item))
        })
    }
}

/// Every problem of the routes: mapping files that do not load or render the wrong target, and
/// further targets whose peer has no config section to deliver with.
pub fn check(sources: &[SourceConfig], peers: &PeersConfig, base_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let at = format!("sources[{i}] (\"{}\")", s.name);
        let mut primary: Vec<RecordKind> = Vec::new();
        for (field, kind, expected, path) in mapping_fields(s) {
            let full = resolve_path(base_dir, path);
            match Mapping::load(&full) {
                Err(e) => problems.push(format!("{at}.{field}: {}: {e}", full.display())),
                Ok(m) if m.target() != expected => problems.push(format!(
                    "{at}.{field}: {}: its target is not \"{}\"",
                    full.display(),
                    expected.as_str()
                )),
                Ok(_) => {}
            }
            let first = !primary.contains(&kind);
            primary.push(kind);
            match registry::taking(expected) {
                None => problems.push(format!(
                    "{at}.{field}: no peer takes \"{}\"",
                    expected.as_str()
                )),
                // The primary target queues even before its peer is configured (a province
                // may collect first and connect later); a further route must have its peer.
                Some((family, _)) if !first && !peers.is_configured(family.name) => {
                    problems.push(format!(
                        "{at}.{field}: set, but there is no [peers.{}] to deliver to",
                        family.name
                    ))
                }
                Some(_) => {}
            }
        }
        for (name, path) in &s.triggers {
            let Some(trigger) = registry::trigger(name) else {
                let known: Vec<&str> = registry::TRIGGERS.iter().map(|t| t.name).collect();
                problems.push(format!(
                    "{at}.triggers.{name}: no such trigger (known: {})",
                    known.join(", ")
                ));
                continue;
            };
            let full = resolve_path(base_dir, path);
            match Mapping::load(&full) {
                Err(e) => problems.push(format!("{at}.triggers.{name}: {}: {e}", full.display())),
                Ok(m) if m.target() != trigger.target => problems.push(format!(
                    "{at}.triggers.{name}: {}: its target is not \"{}\"",
                    full.display(),
                    trigger.target.as_str()
                )),
                Ok(_) => {}
            }
            if !peers.is_configured(trigger.family) {
                problems.push(format!(
                    "{at}.triggers.{name}: set, but there is no [peers.{}] to deliver to",
                    trigger.family
                ));
            }
        }
    }
    problems
}
