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
        v
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
        }
        if let Some(p) = &self.lgsp_sync {
            problems.extend(p.check());
        }
        if let Some(p) = &self.commune {
            problems.extend(p.check(base_dir));
        }
        if let Some(p) = &self.vnpost {
            problems.extend(p.check(base_dir));
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
            let peer =
                DvcqgPeer::new(p, policy.timeout()).map_err(|e| format!("peers.dvcqg: {e}"))?;
            built.push(Built {
                peer: Arc::new(peer),
                family: &dvcqg::FAMILY,
                policy,
            });
        }
        if let Some(p) = &self.lgsp_sync {
            let policy = policy_for(lgsp_sync::FAMILY.name);
            let peer = LgspSyncPeer::new(p, policy.timeout())
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
            let peer = VnpostPeer::new_in(p, base_dir, policy.timeout())
                .map_err(|e| format!("peers.vnpost: {e}"))?;
            built.push(Built {
                peer: Arc::new(peer),
                family: &vnpost::FAMILY,
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
