//! The procedure catalog: pulled from the portal on a schedule, versioned, and fanned out to
//! every subscribed commune system (dvcqg.md "Catalog reads", commune.md).
//!
//! - `config.rs`: `[catalog]`.
//! - `canonical.rs`: the RFC 8785 hash that says whether a procedure changed; field diffs.
//! - `plan.rs`: the pure decisions: what a pull publishes, the shrink guard, who gets what.
//! - `pull.rs`: one pull (list, fetch with bounded concurrency and rate, publish), resumable.
//! - this file: [`Catalog`] (fan-out, resend, what operators look at) and the scheduled job.
//!
//! Versions: each procedure has its own sequence; every change of content (hash of its
//! canonical JSON), withdrawal (missing from the list, or `TRANGTHAI` not `"1"`) and return
//! takes the next number. Fan-out: each new version becomes one message per subscriber whose
//! filter takes it, queued in the outbox (peer `commune`, destination = the subscriber,
//! ordering key = `MATTHC`) with the versions marked fanned out in the same transaction. Each
//! message replaces the subscriber's undelivered messages of the same procedure, so a
//! subscriber that was away receives only the latest version of each procedure it missed, in
//! version order, while the others' messages never wait for it (destinations are isolated by
//! the outbox). A configured subscriber that has never been sent the catalog is sent all of it
//! once.
//!
//! What this module must not do: run SQL (the store does), know the wire (the portal peer reads
//! the catalog, the commune peer sends it), publish a pull that has not fetched everything.

pub mod canonical;
pub mod config;
pub mod plan;
pub mod pull;
mod status;

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::peer::reads::{CatalogReads, ReadError};
use crate::store::{
    now_ms, CatalogCounts, CatalogPull, CatalogVersion, ListedProcedure, Store, StoreError,
};
use config::CatalogConfig;
pub use plan::Subscriber;
pub use pull::{PullOptions, PullOutcome, PullTimings};
pub use status::{describe_metrics, CatalogSnapshot, SubscriberState};

/// The scheduled job that pulls and fans out the catalog (`[schedules] catalog_pull`).
pub const JOB_PULL: &str = crate::scheduler::CATALOG_PULL;

/// What can stop a catalog operation.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The portal could not answer a catalog read, for good (refused, rejected).
    #[error("portal: {0}")]
    Portal(String),
    /// The portal could not answer now (timeout, 5xx, 429): worth another try, after `after`
    /// when it said so.
    #[error("portal temporarily unavailable: {reason}")]
    PortalBusy {
        reason: String,
        after: Option<std::time::Duration>,
    },
    /// A pull stopped half-way; it resumes on the next run.
    #[error("{0}")]
    Stopped(String),
    /// No portal is configured to pull from (`[peers.dvcqg]`).
    #[error("no portal to pull the catalog from: configure [peers.dvcqg]")]
    NoPortal,
    /// Something changed under the operation (another instance).
    #[error("{0}")]
    Conflict(String),
    /// What the operator asked for does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl From<ReadError> for CatalogError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Busy { reason, after } => CatalogError::PortalBusy { reason, after },
            ReadError::Failed(reason) | ReadError::Refused(reason) => CatalogError::Portal(reason),
        }
    }
}

/// Where the catalog is read from (the portal's `LayDanhSachTTHC` and `LayThuTuc`), in the
/// store's terms.
#[async_trait::async_trait]
pub trait PortalCatalog: Send + Sync {
    /// The whole list.
    async fn list(&self) -> Result<Vec<ListedProcedure>, CatalogError>;
    /// One procedure's object as the portal sent it; `None` when it does not know the code.
    async fn procedure(&self, code: &str) -> Result<Option<Value>, CatalogError>;
}

/// A [`CatalogReads`] as the catalog uses it.
struct Reads(Arc<dyn CatalogReads>);

#[async_trait::async_trait]
impl PortalCatalog for Reads {
    async fn list(&self) -> Result<Vec<ListedProcedure>, CatalogError> {
        Ok(self
            .0
            .list()
            .await?
            .into_iter()
            .map(|p| ListedProcedure {
                code: p.code,
                name: p.name,
                state: p.state,
            })
            .collect())
    }

    async fn procedure(&self, code: &str) -> Result<Option<Value>, CatalogError> {
        Ok(self.0.procedure(code).await?)
    }
}

/// Progress of a long operation, for a progress bar (`catalog pull`) or nothing.
pub trait Progress: Send + Sync {
    /// `total` steps, `done` of them already (a resumed pull).
    fn start(&self, _total: u64, _done: u64) {}
    fn inc(&self, _n: u64) {}
    fn message(&self, _what: &str) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}

/// The catalog service: shared by the scheduled job, the CLI and the admin API.
pub struct Catalog {
    store: Arc<dyn Store>,
    portal: Option<Arc<dyn PortalCatalog>>,
    subscribers: Vec<Subscriber>,
    config: CatalogConfig,
}

/// A version as operators see it (no object).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub code: String,
    pub version: i64,
    pub in_force: bool,
    pub hash: Option<String>,
    pub reason: String,
    pub changed_at: i64,
    pub fanned_out: bool,
}

impl From<&CatalogVersion> for VersionInfo {
    fn from(v: &CatalogVersion) -> Self {
        Self {
            code: v.code.clone(),
            version: v.version,
            in_force: v.in_force == 1,
            hash: v.hash.clone(),
            reason: v.reason.clone(),
            changed_at: v.changed_at,
            fanned_out: v.fanned_out == 1,
        }
    }
}

/// One change with what changed in it, field by field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    #[serde(flatten)]
    pub version: VersionInfo,
    pub fields: Vec<canonical::FieldChange>,
}

impl Catalog {
    /// The catalog of a configuration: the portal (when `[peers.dvcqg]` is configured; its
    /// own client and login, with the portal's call timeout from `policy_for`) and the
    /// subscribers of `[peers.commune]`.
    pub fn from_config(
        store: Arc<dyn Store>,
        peers: &crate::peer::registry::PeersConfig,
        config: &CatalogConfig,
        policy_for: impl Fn(&str) -> crate::outbox::config::DeliveryConfig,
    ) -> Result<Self, CatalogError> {
        let portal = crate::peer::registry::catalog_source(peers, policy_for)
            .map_err(CatalogError::Portal)?
            .map(|reads| Arc::new(Reads(reads)) as Arc<dyn PortalCatalog>);
        let subscribers = peers
            .commune
            .iter()
            .flat_map(|c| c.subscribers.iter())
            .map(|s| Subscriber {
                name: s.name.clone(),
                filter: s.filter.clone(),
            })
            .collect();
        Ok(Self::new(store, portal, subscribers, config.clone()))
    }

    pub fn new(
        store: Arc<dyn Store>,
        portal: Option<Arc<dyn PortalCatalog>>,
        subscribers: Vec<Subscriber>,
        config: CatalogConfig,
    ) -> Self {
        Self {
            store,
            portal,
            subscribers,
            config,
        }
    }

    /// The subscribers, as configured.
    pub fn subscribers(&self) -> &[Subscriber] {
        &self.subscribers
    }

    pub fn config(&self) -> &CatalogConfig {
        &self.config
    }

    /// Sends the whole catalog once to every configured subscriber that has never had it, then
    /// fans out every version not fanned out yet, a few at a time (each step one transaction:
    /// messages queued and versions marked together). Returns the versions fanned out.
    pub async fn fan_out_pending(&self) -> Result<usize, CatalogError> {
        let seeded: HashSet<String> = self
            .store
            .catalog_seeded_subscribers()
            .await?
            .into_iter()
            .collect();
        for s in self
            .subscribers
            .iter()
            .filter(|s| !seeded.contains(&s.name))
        {
            let one = std::slice::from_ref(s);
            let make = |versions: &[CatalogVersion]| plan::whole(versions, one);
            let n = self
                .store
                .catalog_send_whole(std::slice::from_ref(&s.name), &make, now_ms())
                .await?;
            if n > 0 {
                tracing::info!(subscriber = %s.name, messages = n, "catalog: a new subscriber is sent the whole catalog");
            }
        }
        let per_version = self.subscribers.len().max(1);
        let limit = (self.config.fan_out_messages / per_version).max(1) as i64;
        let subscribers = &self.subscribers;
        let make = |versions: &[CatalogVersion]| plan::fan_out(versions, subscribers);
        let mut total = 0;
        loop {
            let n = self.store.catalog_fan_out(limit, &make).await?;
            if n == 0 {
                break;
            }
            total += n;
        }
        Ok(total)
    }

    /// Queues the whole current catalog (every in-force procedure its filter takes) for one
    /// subscriber: a new or rebuilt commune system. Returns the messages queued.
    pub async fn resend(&self, subscriber: &str) -> Result<usize, CatalogError> {
        let s = self
            .subscribers
            .iter()
            .find(|s| s.name == subscriber)
            .ok_or_else(|| {
                CatalogError::NotFound(format!(
                    "no subscriber named \"{}\" in [peers.commune]",
                    subscriber.escape_default()
                ))
            })?;
        let one = std::slice::from_ref(s);
        let make = |versions: &[CatalogVersion]| plan::whole(versions, one);
        let n = self
            .store
            .catalog_send_whole(std::slice::from_ref(&s.name), &make, now_ms())
            .await?;
        tracing::info!(subscriber = %s.name, messages = n, "catalog: whole catalog queued again");
        Ok(n)
    }

    /// A procedure's versions, newest first.
    pub async fn history(&self, code: &str) -> Result<Vec<VersionInfo>, CatalogError> {
        let versions = self.store.catalog_history(code).await?;
        if versions.is_empty() {
            return Err(CatalogError::NotFound(format!(
                "no procedure {code} in the catalog"
            )));
        }
        Ok(versions.iter().map(VersionInfo::from).collect())
    }

    /// One version (the latest when `version` is `None`) with its object as the portal sent it.
    pub async fn show(
        &self,
        code: &str,
        version: Option<i64>,
    ) -> Result<(VersionInfo, Option<Value>), CatalogError> {
        let v = self
            .store
            .catalog_version(code, version)
            .await?
            .ok_or_else(|| {
                CatalogError::NotFound(match version {
                    Some(n) => format!("no version {n} of procedure {code}"),
                    None => format!("no procedure {code} in the catalog"),
                })
            })?;
        let object = v
            .object
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok());
        Ok((VersionInfo::from(&v), object))
    }

    /// Changes published since `since_ms`, in publication order, with what changed field by
    /// field (against the previous in-force version; a withdrawal lists no fields).
    pub async fn diff(&self, since_ms: i64, limit: i64) -> Result<Vec<Change>, CatalogError> {
        let versions = self.store.catalog_changes(since_ms, limit).await?;
        Ok(versions
            .iter()
            .map(|v| {
                let parse = |t: &Option<String>| {
                    t.as_deref()
                        .and_then(|o| serde_json::from_str::<Value>(o).ok())
                };
                let fields = match (parse(&v.previous_object), parse(&v.object)) {
                    (Some(before), Some(after)) => canonical::diff(&before, &after),
                    (None, Some(_)) | (_, None) => Vec::new(),
                };
                Change {
                    version: VersionInfo::from(v),
                    fields,
                }
            })
            .collect())
    }

    /// The catalog's counts, the latest pulls (newest first).
    pub async fn overview(&self) -> Result<(CatalogCounts, Vec<CatalogPull>), CatalogError> {
        Ok((
            self.store.catalog_counts().await?,
            self.store.catalog_pulls(10).await?,
        ))
    }

    /// Gives up the pull that is running or held, if any; returns its id.
    pub async fn abandon(&self) -> Result<Option<String>, CatalogError> {
        let Some(p) = self.store.catalog_open_pull().await? else {
            return Ok(None);
        };
        self.store
            .catalog_set_pull(
                &p.id,
                "abandoned",
                Some("abandoned by an operator"),
                now_ms(),
            )
            .await?;
        Ok(Some(p.id))
    }
}

/// `catalog_pull`: a pull (resuming one cut short), its publication and fan-out.
pub struct PullJob {
    pub catalog: Arc<Catalog>,
}

#[async_trait::async_trait]
impl crate::scheduler::Job for PullJob {
    async fn run(&self, _tick: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        match self.catalog.pull(PullOptions::default(), &Quiet).await? {
            PullOutcome::Published {
                pull, fanned_out, ..
            } => tracing::info!(
                pull = %pull.id, added = pull.added, changed = pull.changed,
                withdrawn = pull.withdrawn, returned = pull.returned, fanned_out,
                "catalog pull done"
            ),
            PullOutcome::Held { pull } => {
                tracing::error!(pull = %pull.id, note = ?pull.note, "catalog pull held for an operator")
            }
        }
        Ok(())
    }
}
