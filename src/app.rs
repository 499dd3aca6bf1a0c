//! Builds the gateway from config and runs it until shutdown: HTTP (ingest + admin) on a
//! listener the caller binds, one delivery lane per peer, and housekeeping (pruning of delivered
//! messages). One cancellation token tells every task to stop; one task tracker waits for them,
//! bounded by [`DRAIN`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::catalog::{Catalog, PullJob};
use crate::config::Config;
use crate::outbox::{spawn_lane, Lane};
use crate::postal::{PollJob, Postal};
use crate::scheduler::{self, Scheduler};
use crate::source::http::{self as ingest, IngestState, Limits};
use crate::source::routes::Routes;
use crate::source::Sources;
use crate::store::{self, Store};

/// How long shutdown waits for in-flight deliveries to settle. A batch cut off here is not
/// lost: its lease runs out and it is sent again, under the same id, at the next start.
pub const DRAIN: Duration = Duration::from_secs(20);

/// A built gateway, ready to run.
pub struct Gateway {
    pub store: Arc<dyn Store>,
    pub wake: Arc<Notify>,
    router: axum::Router,
    lanes: Vec<(Arc<Lane>, usize)>,
    housekeeping: crate::outbox::housekeeping::HousekeepingConfig,
    /// Wakes the lanes when another instance queues work (PostgreSQL); started by `run`.
    work_listener: Option<futures::future::BoxFuture<'static, ()>>,
    work_listener_stop: CancellationToken,
    scheduler: Option<Scheduler>,
    catalog: Arc<Catalog>,
    postal: Arc<Postal>,
    /// Sources read by SQL polling, and their poller.
    polled: Vec<Arc<crate::source::sql::SqlSource>>,
    poller: Arc<crate::source::sql::Poller>,
    /// One reader per source with a drop folder (`[sources.files]`).
    drop_folders: Vec<Arc<crate::source::files::DropFolder>>,
}

impl Gateway {
    /// Opens the store (applying migrations), loads sources and mappings, builds peers.
    /// Relative paths in `cfg` are resolved against `base_dir`.
    pub async fn build(cfg: &Config, base_dir: &Path) -> anyhow::Result<Self> {
        let store = store::open(&cfg.store.url, cfg.store.max_connections)
            .await
            .with_context(|| {
                format!(
                    "opening store {}",
                    crate::settings::redact_url(&cfg.store.url)
                )
            })?;
        Self::build_with_store(cfg, base_dir, store)
    }

    /// Like [`Gateway::build`] with a store the caller opened.
    pub fn build_with_store(
        cfg: &Config,
        base_dir: &Path,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        let sources = Arc::new(Sources::from_config(&cfg.sources)?);
        let routes = Arc::new(Routes::from_config(&cfg.sources, base_dir)?);
        let mut polled = Vec::new();
        for s in &cfg.sources {
            if let Some(poll) = &s.poll {
                polled.push(Arc::new(crate::source::sql::SqlSource::new(&s.name, poll)?));
            }
        }
        let wake = Arc::new(Notify::new());
        let operators = cfg.server.operators().map_err(anyhow::Error::msg)?;
        let configured = Arc::new(crate::source::status::ConfiguredSource::from_config(
            &cfg.sources,
        ));
        let remap: crate::source::routes::Loader = {
            let (sources, base_dir) = (cfg.sources.clone(), base_dir.to_path_buf());
            Arc::new(move || Routes::from_config(&sources, &base_dir))
        };
        // Every client of a peer (the lanes', the catalog's reads, reconciliation's lookups)
        // reads its TLS files named against the config file's folder.
        let peers = cfg.peers.resolved(base_dir);
        let catalog = Arc::new(
            Catalog::from_config(store.clone(), &peers, &cfg.catalog, |name| {
                cfg.policy_for(name)
            })
            .context("building the catalog")?,
        );
        let postal = Arc::new(
            Postal::from_config(store.clone(), &peers, &cfg.postal, base_dir, |name| {
                cfg.policy_for(name)
            })
            .context("building the postal service")?,
        );
        let reports = Arc::new(crate::report::Reports::new(
            store.clone(),
            cfg.report.clone(),
        ));
        let reconciler = crate::peer::registry::portal_records(&peers, |name| cfg.policy_for(name))
            .map_err(anyhow::Error::msg)?
            .map(|portal| {
                Arc::new(crate::reconcile::Reconciler::new(
                    store.clone(),
                    portal,
                    cfg.reconcile.clone(),
                ))
            });
        // One recorder for `/metrics` and the lanes' delivery figures.
        let metrics = Arc::new(admin::Metrics::default());
        let owner = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "lienthong".into()),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let work_listener_stop = CancellationToken::new();
        let work_listener = store.work_listener(wake.clone(), work_listener_stop.clone());
        // One lane per configured peer, built from the registry, each with its own policy: a
        // slow or failing peer holds back only its own lane.
        let mut lanes = Vec::new();
        for built in peers
            .build(base_dir, |name| cfg.policy_for(name), &store)
            .map_err(anyhow::Error::msg)?
        {
            let concurrency = built.policy.concurrency;
            let lane = built
                .lane(store.clone(), owner.clone(), wake.clone())?
                .with_recording(metrics.recording());
            let lane = if work_listener.is_some() {
                lane.with_shared_wakeups()
            } else {
                lane
            };
            lanes.push((Arc::new(lane), concurrency));
        }
        let peer_names: Arc<Vec<String>> = Arc::new(
            cfg.peers
                .overrides()
                .iter()
                .map(|(n, _)| n.to_string())
                .collect(),
        );
        let router = ingest::router(IngestState {
            store: store.clone(),
            sources,
            routes: routes.clone(),
            postal: Some(postal.clone()),
            limits: Limits {
                body_bytes: cfg.server.body_limit_bytes,
                records: cfg.server.max_records_per_request,
            },
            wake: wake.clone(),
        })
        .merge(admin::router(AdminState {
            store: store.clone(),
            operators: operators.clone(),
            remap: Some(remap.clone()),
            catalog: Some(catalog.clone()),
            metrics: metrics.clone(),
            postal: Some(postal.clone()),
            reports: Some(reports.clone()),
            reconciler: reconciler.clone(),
            sources: configured.clone(),
            wake: Some(wake.clone()),
        }))
        .merge(crate::dashboard::router(
            crate::dashboard::DashboardState::new(
                store.clone(),
                operators,
                reports,
                reconciler.clone(),
            )
            .with_sources(configured, remap, wake.clone())
            .with_operations(
                peer_names.clone(),
                lanes.iter().map(|(l, _)| l.clone()).collect(),
                Some(catalog.clone()),
                Some(postal.clone()),
            ),
        ))
        .merge(crate::postal::callback::router(postal.clone()));
        let drop_folders = cfg
            .sources
            .iter()
            .filter(|s| s.files.is_some())
            .map(|s| {
                crate::source::files::DropFolder::new(
                    s,
                    base_dir,
                    store.clone(),
                    routes.clone(),
                    owner.clone(),
                    wake.clone(),
                )
                .map(Arc::new)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let scheduler = if cfg.schedules.is_empty() {
            None
        } else {
            let scheduler = Scheduler::new(
                store.clone(),
                owner.clone(),
                cfg.delivery.lease(),
                &cfg.schedules,
                |name| match name {
                    crate::catalog::JOB_PULL => Some(Arc::new(PullJob {
                        catalog: catalog.clone(),
                    })
                        as Arc<dyn scheduler::Job>),
                    crate::postal::JOB_POLL => Some(Arc::new(PollJob {
                        postal: postal.clone(),
                    })
                        as Arc<dyn scheduler::Job>),
                    scheduler::RECONCILE => reconciler.clone().map(|reconciler| {
                        Arc::new(crate::reconcile::ReconcileJob { reconciler })
                            as Arc<dyn scheduler::Job>
                    }),
                    _ => scheduler::builtin_job(name, store.clone()),
                },
            )
            .map_err(|problems| anyhow::anyhow!(problems.join("\n")))?;
            Some(scheduler)
        };
        let poller = Arc::new(crate::source::sql::Poller::new(
            store.clone(),
            routes.clone(),
            owner.clone(),
            wake.clone(),
        ));
        Ok(Self {
            polled,
            poller,
            store,
            wake,
            router,
            lanes,
            housekeeping: cfg.housekeeping.clone(),
            work_listener,
            work_listener_stop,
            scheduler,
            catalog,
            postal,
            drop_folders,
        })
    }

    /// Serves HTTP on `listener` and delivers until `shutdown` is cancelled.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let tracker = TaskTracker::new();
        for (lane, concurrency) in &self.lanes {
            spawn_lane(lane.clone(), *concurrency, &tracker, &shutdown);
        }
        crate::outbox::housekeeping::spawn(
            self.store.clone(),
            self.housekeeping.clone(),
            &tracker,
            &shutdown,
        );
        // The listener outlives `shutdown` only until the lanes have drained.
        if let Some(listener) = self.work_listener {
            tokio::spawn(listener);
        }
        let _stop_listener = self.work_listener_stop.drop_guard();
        if let Some(scheduler) = self.scheduler {
            tracker.spawn(scheduler.run(shutdown.clone()));
        }
        if !self.catalog.subscribers().is_empty() {
            let (catalog, stop) = (self.catalog.clone(), shutdown.clone());
            tracker.spawn(async move { catalog.watch(stop).await });
        }
        for source in &self.polled {
            let (poller, source, stop) = (self.poller.clone(), source.clone(), shutdown.clone());
            tracker.spawn(async move { poller.run(source, stop).await });
        }
        if self.postal.is_configured() {
            let (postal, wake, stop) = (self.postal.clone(), self.wake.clone(), shutdown.clone());
            tracker.spawn(async move { postal.run_release(wake, stop).await });
        }
        for folder in &self.drop_folders {
            tracker.spawn(folder.clone().run(shutdown.clone()));
        }
        tracing::info!(addr = %listener.local_addr()?, store = self.store.backend(), "gateway running");
        let served = axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await;
        shutdown.cancel();
        tracker.close();
        if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
            tracing::warn!(
                "shutdown: deliveries still running after {DRAIN:?}; they resume at next start"
            );
        }
        served.context("HTTP server failed")
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
