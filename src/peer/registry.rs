//! The peer families this build knows, in one table: each family's name, the mapping targets it
//! takes (with the operation, and how its messages relate to their dossier's header), the order
//! its lane claims operations in, and how it is built from its config section. Routes, lanes and
//! `check` read this table; nothing outside `peer/` names a family's operations.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use std::path::Path;

use super::commune::{self, CommuneConfig, CommunePeer};
use super::dvcqg::{self, DvcqgConfig, DvcqgPeer};
use super::lgsp_sync::{self, LgspSyncConfig, LgspSyncPeer};
use super::vnpost::{self, VnpostConfig, VnpostPeer};
use super::webhook::{self, WebhookConfig, WebhookPeer};
use super::Peer;
use crate::mapping::Target;
use crate::outbox::config::{DeliveryConfig, PolicyOverride};
use crate::store::HeaderRule;

/// A mapping target a family takes: records mapped to `target` are queued as `operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Takes {
    pub target: Target,
    pub operation: &'static str,
    pub header: HeaderRule,
}

/// A field of a record's primary item and the values that satisfy a condition on it.
pub type FieldIs = (&'static str, &'static [&'static str]);

/// A further target of a dossier route that applies only when the dossier's primary item
/// (what the portal receives) meets a condition, queued at most once per dossier: a postal
/// order. Declared in its family's folder, set per source under `[sources.triggers]`.
#[derive(Debug, Clone, Copy)]
pub struct Trigger {
    /// Its key under a source's `triggers` (`postal_collection`).
    pub name: &'static str,
    /// The family that delivers it.
    pub family: &'static str,
    /// The target its mapping renders.
    pub target: Target,
    pub operation: &'static str,
    pub header: HeaderRule,
    /// Applies when every one of these fields has one of its values...
    pub when: &'static [FieldIs],
    /// ...and none of these does.
    pub unless: &'static [FieldIs],
    /// Queued once per dossier under this tag.
    pub once: &'static str,
    /// A field and value every item it renders carries (to tell its messages from another
    /// trigger's of the same operation).
    pub marks: (&'static str, &'static str),
    /// What undoes it, if anything.
    pub cancel: Option<CancelRule>,
}

/// When a trigger's message is undone and with what.
#[derive(Debug, Clone, Copy)]
pub struct CancelRule {
    /// Applies when every one of these fields of the primary item has one of its values.
    pub when: &'static [FieldIs],
    pub operation: &'static str,
    /// Queued once per dossier under this tag, and only after the trigger's own tag was used.
    pub once: &'static str,
    /// The cancel's item, from the item the trigger's mapping renders.
    pub item: fn(&serde_json::Value) -> Option<serde_json::Value>,
}

impl Trigger {
    /// Whether `primary` (the dossier's item for the portal) meets the condition.
    pub fn applies(&self, primary: &serde_json::Value) -> bool {
        all_match(self.when, primary) && !self.unless.iter().any(|f| one_matches(f, primary))
    }

    /// Whether `primary` calls for the cancel.
    pub fn cancels(&self, primary: &serde_json::Value) -> bool {
        self.cancel.is_some_and(|c| all_match(c.when, primary))
    }

    /// Whether `item` was rendered by this trigger.
    pub fn marked(&self, item: &serde_json::Value) -> bool {
        item.get(self.marks.0).and_then(serde_json::Value::as_str) == Some(self.marks.1)
    }
}

fn one_matches((field, values): &FieldIs, item: &serde_json::Value) -> bool {
    match item.get(*field) {
        Some(serde_json::Value::String(v)) => values.contains(&v.trim()),
        Some(serde_json::Value::Number(n)) => values.contains(&n.to_string().as_str()),
        _ => false,
    }
}

fn all_match(fields: &[FieldIs], item: &serde_json::Value) -> bool {
    fields.iter().all(|f| one_matches(f, item))
}

/// Every trigger this build knows.
pub const TRIGGERS: &[Trigger] = vnpost::TRIGGERS;

/// The trigger called `name`.
pub fn trigger(name: &str) -> Option<&'static Trigger> {
    TRIGGERS.iter().find(|t| t.name == name)
}

/// One peer family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    /// How errors name its routes (`legacy route (sync_document): ...`).
    pub describe: &'static str,
    /// What it takes from mappings. A target is taken by at most one family.
    pub takes: &'static [Takes],
    /// Operations its lane claims, in this order (e.g. dossier headers before steps).
    pub operations: &'static [&'static str],
}

/// Every family this build knows.
pub const FAMILIES: &[Family] = &[
    dvcqg::FAMILY,
    lgsp_sync::FAMILY,
    commune::FAMILY,
    vnpost::FAMILY,
    webhook::FAMILY,
];

/// The family that takes records mapped to `target`, and how.
pub fn taking(target: Target) -> Option<(&'static Family, &'static Takes)> {
    FAMILIES
        .iter()
        .find_map(|f| f.takes.iter().find(|t| t.target == target).map(|t| (f, t)))
}

/// What mapping target a family's `operation` carries (to mask its items for display).
pub fn target_of(peer: &str, operation: &str) -> Option<Target> {
    family(peer)?
        .takes
        .iter()
        .find(|t| t.operation == operation)
        .map(|t| t.target)
}

/// The family called `name`.
pub fn family(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// `[peers]`: one optional table per family.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeersConfig {
    /// The national portal adapter.
    pub dvcqg: Option<DvcqgConfig>,
    /// The legacy XML route (`POST <base>/Document/SyncDocument`), for provinces still on it.
    pub lgsp_sync: Option<LgspSyncConfig>,
    /// The catalog's subscribers (commune systems), one destination each.
    pub commune: Option<CommuneConfig>,
    /// The postal service: collection and delivery orders, cancels, the tracking feed.
    pub vnpost: Option<VnpostConfig>,
    /// The local system's webhook, told of its dossiers' postal events.
    pub local_webhook: Option<WebhookConfig>,
}

/// The source of the procedure catalog's reads, when one is configured (the portal,
/// `[peers.dvcqg]`), with its own client and login; `policy_for` gives its call timeout.
pub fn catalog_source(
    peers: &PeersConfig,
    policy_for: impl Fn(&str) -> DeliveryConfig,
) -> Result<Option<Arc<dyn crate::peer::reads::CatalogReads>>, String> {
    let Some(cfg) = &peers.dvcqg else {
        return Ok(None);
    };
    let peer = DvcqgPeer::new(cfg, policy_for(dvcqg::FAMILY.name).timeout())
        .map_err(|e| format!("peers.dvcqg: {e}"))?;
    Ok(Some(Arc::new(peer)))
}

/// The portal's dossier records for reconciliation, when the portal is configured, with its
/// own client and login.
pub fn portal_records(
    peers: &PeersConfig,
    policy_for: impl Fn(&str) -> DeliveryConfig,
) -> Result<Option<Arc<dyn crate::peer::reads::PortalRecords>>, String> {
    let Some(cfg) = &peers.dvcqg else {
        return Ok(None);
    };
    let peer = DvcqgPeer::new(cfg, policy_for(dvcqg::FAMILY.name).timeout())
        .map_err(|e| format!("peers.dvcqg: {e}"))?;
    Ok(Some(Arc::new(peer)))
}

/// What a message queued for `peer` as `operation` says of its dossier (or of a month's
/// satisfaction figures), for the report and reconciliation; `None` when nothing.
pub fn facts(
    peer: &str,
    operation: &str,
    item: &serde_json::Value,
) -> Option<crate::store::FactsUpdate> {
    (peer == dvcqg::FAMILY.name)
        .then(|| dvcqg::facts::facts(operation, item))
        .flatten()
}

/// How `peer`'s `operation` relates to its dossier's header (for a message queued again).
pub fn header_rule(peer: &str, operation: &str) -> Option<HeaderRule> {
    family(peer)?
        .takes
        .iter()
        .find(|t| t.operation == operation)
        .map(|t| t.header)
}

/// A configured peer, ready for its lane.
pub struct Built {
    pub peer: Arc<dyn Peer>,
    pub family: &'static Family,
    pub policy: DeliveryConfig,
}

impl Built {
    /// The peer's delivery lane on `store`: its family's operations in claim order, its policy.
    pub fn lane(
        &self,
        store: Arc<dyn crate::store::Store>,
        owner: String,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<crate::outbox::Lane, crate::outbox::PolicyError> {
        crate::outbox::Lane::new(
            store,
            self.peer.clone(),
            self.family
                .operations
                .iter()
                .map(|op| op.to_string())
                .collect(),
            self.policy.clone(),
            owner,
            wake,
        )
    }
}

impl PeersConfig {
    /// Each configured family's name and its changes to the default policy (a family may
    /// bring defaults of its own under what its section sets).
    pub fn overrides(&self) -> Vec<(&'static str, PolicyOverride)> {
        let mut v = Vec::new();
        if let Some(p) = &self.dvcqg {
            v.push((dvcqg::FAMILY.name, p.policy.clone()));
        }
        if let Some(p) = &self.lgsp_sync {
            v.push((lgsp_sync::FAMILY.name, p.policy.clone()));
        }
        if let Some(p) = &self.commune {
            v.push((commune::FAMILY.name, p.effective_policy()));
        }
        if let Some(p) = &self.vnpost {
            v.push((vnpost::FAMILY.name, p.policy.clone()));
        }
        if let Some(p) = &self.local_webhook {
            v.push((webhook::FAMILY.name, p.policy.clone()));
        }
        v
    }

    /// The same sections with every `tls` file named against `base_dir` (the config file's
    /// folder), so that each client built from them, whichever command builds it, reads the
    /// files `check` read.
    pub fn resolved(&self, base_dir: &Path) -> PeersConfig {
        let mut peers = self.clone();
        if let Some(p) = &mut peers.dvcqg {
            p.tls = p.tls.resolved(base_dir);
        }
        if let Some(p) = &mut peers.lgsp_sync {
            p.tls = p.tls.resolved(base_dir);
        }
        if let Some(p) = &mut peers.commune {
            p.tls = p.tls.resolved(base_dir);
        }
        if let Some(p) = &mut peers.vnpost {
            p.tls = p.tls.resolved(base_dir);
        }
        if let Some(p) = &mut peers.local_webhook {
            p.tls = p.tls.resolved(base_dir);
        }
        peers
    }

    /// Whether the family `name` has its config section.
    pub fn is_configured(&self, name: &str) -> bool {
        self.overrides().iter().any(|(n, _)| *n == name)
    }

    /// Every problem of every configured family's section, one line each; relative paths in
    /// them are read against `base_dir`.
    pub fn check(&self, base_dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(p) = &self.dvcqg {
            problems.extend(p.check());
            problems.extend(p.tls.check("peers.dvcqg.tls", base_dir));
        }
        if let Some(p) = &self.lgsp_sync {
            problems.extend(p.check());
            problems.extend(p.tls.check("peers.lgsp_sync.tls", base_dir));
        }
        if let Some(p) = &self.commune {
            problems.extend(p.check(base_dir));
            problems.extend(p.tls.check("peers.commune.tls", base_dir));
        }
        if let Some(p) = &self.vnpost {
            problems.extend(p.check(base_dir));
            problems.extend(p.tls.check("peers.vnpost.tls", base_dir));
        }
        if let Some(p) = &self.local_webhook {
            problems.extend(p.check(base_dir));
            problems.extend(p.tls.check("peers.local_webhook.tls", base_dir));
        }
        problems
    }

    /// Builds every configured peer with its policy (`policy_for(name)`); the commune
    /// subscribers read the catalog's versions from `store`.
    pub fn build(
        &self,
        base_dir: &Path,
        policy_for: impl Fn(&str) -> DeliveryConfig,
        store: &Arc<dyn crate::store::Store>,
    ) -> Result<Vec<Built>, String> {
        let mut built = Vec::new();
        if let Some(p) = &self.dvcqg {
            let policy = policy_for(dvcqg::FAMILY.name);
            let mut p = p.clone();
            p.tls = p.tls.resolved(base_dir);
            let peer =
                DvcqgPeer::new(&p, policy.timeout()).map_err(|e| format!("peers.dvcqg: {e}"))?;
            built.push(Built {
                peer: Arc::new(peer),
                family: &dvcqg::FAMILY,
                policy,
            });
        }
        if let Some(p) = &self.lgsp_sync {
            let policy = policy_for(lgsp_sync::FAMILY.name);
            let mut p = p.clone();
            p.tls = p.tls.resolved(base_dir);
            let peer = LgspSyncPeer::new(&p, policy.timeout())
                .map_err(|e| format!("peers.lgsp_sync: {e}"))?;
            built.push(Built {
                peer: Arc::new(peer),
                family: &lgsp_sync::FAMILY,
                policy,
            });
        }
        if let Some(p) = &self.commune {
            let policy = policy_for(commune::FAMILY.name);
            let peer = CommunePeer::new_in(p, base_dir, policy.timeout())
                .map_err(|e| format!("peers.commune: {e}"))?
                .reading_from(Arc::new(commune::StoredObjects(store.clone())));
            built.push(Built {
                peer: Arc::new(peer),
                family: &commune::FAMILY,
                policy,
            });
        }
        if let Some(p) = &self.vnpost {
            let policy = policy_for(vnpost::FAMILY.name);
            let alerts = store.clone();
            let peer = VnpostPeer::new_in(p, base_dir, policy.timeout())
                .map_err(|e| format!("peers.vnpost: {e}"))?
                // A cancel refused as too late is recorded on its order, for the operations
                // view (the peer has logged the alert already).
                .on_cancel_too_late(move |c| {
                    let (store, c) = (alerts.clone(), c.clone());
                    tokio::spawn(async move {
                        if let Err(e) = store
                            .postal_alert(
                                &c.order_number,
                                &c.order_type,
                                "103: cancel refused as too late; the order stands",
                                crate::store::now_ms(),
                            )
                            .await
                        {
                            tracing::warn!(error = %e, "vnpost: the too-late cancel could not be recorded");
                        }
                    });
                });
            built.push(Built {
                peer: Arc::new(peer),
                family: &vnpost::FAMILY,
                policy,
            });
        }
        if let Some(p) = &self.local_webhook {
            let policy = policy_for(webhook::FAMILY.name);
            let peer = WebhookPeer::new_in(p, base_dir, policy.timeout())?;
            built.push(Built {
                peer: Arc::new(peer),
                family: &webhook::FAMILY,
                policy,
            });
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_a_family_takes_is_taken_once_and_claimed() {
        for f in FAMILIES {
            for t in f.takes {
                assert_eq!(taking(t.target).map(|(g, _)| g.name), Some(f.name));
                assert!(
                    f.operations.contains(&t.operation),
                    "{}: {} is not claimed",
                    f.name,
                    t.operation
                );
            }
        }
    }
}
