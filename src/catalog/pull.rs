//! One pull: the portal's list, staged; each in-force procedure fetched with bounded
//! concurrency under the portal's rate limit, written to the store every few procedures (so a
//! pull cut half-way, or killed, resumes where it stopped); then, once everything is fetched,
//! the new versions published in one transaction. Nothing is published from a half-fetched
//! pull, and a list that would withdraw too much is held for an operator.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use governor::{Quota, RateLimiter};
use serde_json::Value;

use super::plan::{self, IN_FORCE, NOTE_MISSING, NOTE_WITHDRAWN};
use super::{canonical, Catalog, CatalogError, Progress};
use crate::store::{now_ms, CatalogPull, FetchedProcedure};

/// What a pull ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullOutcome {
    /// Published (possibly with no change); how many versions were fanned out after it.
    Published {
        pull: CatalogPull,
        fanned_out: usize,
        timings: PullTimings,
    },
    /// Held: the list would withdraw too much. Nothing was published.
    Held { pull: CatalogPull },
}

/// Where a pull's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullTimings {
    /// Fetching the procedures (this run's share of it, for a resumed pull).
    pub fetch: Duration,
    /// Comparing the fetched catalog with the published one and writing the new versions.
    pub publish: Duration,
    /// Queueing the new versions' messages for the subscribers.
    pub fan_out: Duration,
}

/// How to pull.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions {
    /// Publish a held pull (an operator looked at the shrunk list and accepts it).
    pub accept_shrink: bool,
}

impl Catalog {
    /// Pulls the catalog (resuming a pull cut half-way), publishes it and fans it out.
    pub async fn pull(
        &self,
        options: PullOptions,
        progress: &dyn Progress,
    ) -> Result<PullOutcome, CatalogError> {
        let portal = self.portal.clone().ok_or(CatalogError::NoPortal)?;
        // Versions a crash left unsent first, so order across pulls holds.
        self.fan_out_pending().await?;
        let pull = match self.store.catalog_open_pull().await? {
            Some(p) if p.state == "held" && options.accept_shrink => {
                tracing::warn!(pull = %p.id, note = ?p.note, "catalog: a held pull is published by an operator's decision");
                self.store
                    .catalog_set_pull(&p.id, "running", p.note.as_deref(), now_ms())
                    .await?;
                p
            }
            Some(p) if p.state == "running" => {
                tracing::info!(pull = %p.id, fetched = p.fetched, listed = p.listed, "catalog: resuming a pull cut short");
                p
            }
            other => {
                if let Some(held) = other {
                    // Look at the list again: the portal may have fixed it since.
                    self.store
                        .catalog_set_pull(
                            &held.id,
                            "abandoned",
                            Some("superseded by a new pull"),
                            now_ms(),
                        )
                        .await?;
                }
                progress.message("LayDanhSachTTHC");
                let list = with_retries(self.config.read_tries, || portal.list()).await?;
                let current = self.store.catalog_current().await?;
                let (lost, in_force, held) = plan::shrink(&list, &current, self.config.max_shrink);
                let note = held.then(|| {
                    format!(
                        "held: the list would withdraw {lost} of {in_force} procedures in force, more than catalog.max_shrink = {}; check the portal, then `lienthong catalog pull --accept-shrink` to publish it",
                        self.config.max_shrink
                    )
                });
                let id = uuid::Uuid::new_v4().to_string();
                let pull = self
                    .store
                    .catalog_start_pull(&id, &list, note.as_deref(), now_ms())
                    .await?;
                if let Some(note) = note {
                    tracing::error!(pull = %id, lost, in_force, "catalog: {note}");
                    return Ok(PullOutcome::Held { pull });
                }
                pull
            }
        };
        let started = Instant::now();
        self.fetch_all(&pull, portal, progress).await?;
        let fetched = Instant::now();
        progress.message("publishing");
        let staged = self.store.catalog_staged(&pull.id).await?;
        let current = self.store.catalog_current().await?;
        let plan = plan::publish_plan(&staged, &current);
        if !self
            .store
            .catalog_publish(&pull.id, &plan, now_ms())
            .await?
        {
            return Err(CatalogError::Conflict(format!(
                "pull {} was no longer running when it was to be published (another instance?)",
                pull.id
            )));
        }
        tracing::info!(
            pull = %pull.id, added = plan.added, changed = plan.changed,
            withdrawn = plan.withdrawn, returned = plan.returned, unchanged = plan.unchanged,
            "catalog: pull published"
        );
        let published = Instant::now();
        progress.message("fanning out");
        let fanned_out = self.fan_out_pending().await?;
        let timings = PullTimings {
            fetch: fetched - started,
            publish: published - fetched,
            fan_out: published.elapsed(),
        };
        let pull = self
            .store
            .catalog_pulls(5)
            .await?
            .into_iter()
            .find(|p| p.id == pull.id)
            .ok_or_else(|| CatalogError::Conflict(format!("pull {} vanished", pull.id)))?;
        Ok(PullOutcome::Published {
            pull,
            fanned_out,
            timings,
        })
    }

    /// Fetches every staged in-force procedure not fetched yet. Stops at the first failure
    /// (what was fetched stays recorded) and says how far it got.
    async fn fetch_all(
        &self,
        pull: &CatalogPull,
        portal: Arc<dyn super::PortalCatalog>,
        progress: &dyn Progress,
    ) -> Result<(), CatalogError> {
        let staged = self.store.catalog_staged(&pull.id).await?;
        let todo: Vec<String> = staged
            .iter()
            .filter(|s| s.listed_state == IN_FORCE && s.done == 0)
            .map(|s| s.code.clone())
            .collect();
        let total = staged.iter().filter(|s| s.listed_state == IN_FORCE).count();
        progress.start(total as u64, (total - todo.len()) as u64);
        let limiter = NonZeroU32::new(self.config.rate_per_second.ceil() as u32).map(|rate| {
            // Whole calls per second, no burst beyond one second's worth.
            RateLimiter::direct(Quota::per_second(rate))
        });
        let limiter = limiter.as_ref();
        let tries = self.config.read_tries;
        let mut results = futures::stream::iter(todo.iter().cloned())
            .map(|code| {
                let portal = portal.clone();
                async move {
                    if let Some(l) = limiter {
                        l.until_ready().await;
                    }
                    let answer = with_retries(tries, || portal.procedure(&code)).await;
                    (code, answer)
                }
            })
            .buffer_unordered(self.config.concurrency.max(1));
        let mut batch = Vec::new();
        let mut done = total - todo.len();
        while let Some((code, answer)) = results.next().await {
            match answer {
                Ok(object) => {
                    batch.push(fetched(&code, object));
                    done += 1;
                    progress.inc(1);
                }
                Err(e) => {
                    drop(results);
                    self.store
                        .catalog_record_fetched(&pull.id, &batch, now_ms())
                        .await?;
                    let note = format!(
                        "stopped after {done} of {total} procedures: {code}: {e}; the next pull resumes here"
                    );
                    self.store
                        .catalog_set_pull(&pull.id, "running", Some(&note), now_ms())
                        .await?;
                    return Err(CatalogError::Stopped(note));
                }
            }
            if batch.len() >= self.config.record_every {
                self.store
                    .catalog_record_fetched(&pull.id, &batch, now_ms())
                    .await?;
                batch.clear();
            }
        }
        self.store
            .catalog_record_fetched(&pull.id, &batch, now_ms())
            .await?;
        Ok(())
    }
}

/// Runs `read` until it answers, a failure is not temporary, or `tries` are used; waits
/// between tries as the portal asked (`Retry-After`, at most a minute), else 0.5 s doubling.
async fn with_retries<T, F, Fut>(tries: u32, mut read: F) -> Result<T, CatalogError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CatalogError>>,
{
    let mut wait = Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match read().await {
            Err(CatalogError::PortalBusy { reason, after }) if attempt < tries => {
                let pause = after.unwrap_or(wait).min(Duration::from_secs(60));
                tracing::info!(attempt, %reason, wait_ms = pause.as_millis() as u64, "catalog: portal busy; trying again");
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            other => return other,
        }
    }
}

/// What one `LayThuTuc` answer stages: the object and its hash; or why there is none.
fn fetched(code: &str, object: Option<Value>) -> FetchedProcedure {
    let Some(object) = object else {
        return FetchedProcedure {
            code: code.to_string(),
            object: None,
            hash: None,
            note: Some(NOTE_MISSING.into()),
        };
    };
    let state = object.get("TRANGTHAI").and_then(Value::as_str);
    if state.is_some_and(|s| s != IN_FORCE) {
        return FetchedProcedure {
            code: code.to_string(),
            object: None,
            hash: None,
            note: Some(NOTE_WITHDRAWN.into()),
        };
    }
    match canonical::hash(&object) {
        Ok(hash) => FetchedProcedure {
            code: code.to_string(),
            object: Some(object.to_string()),
            hash: Some(hash),
            note: None,
        },
        Err(e) => FetchedProcedure {
            code: code.to_string(),
            object: None,
            hash: None,
            note: Some(format!("missing: {e}")),
        },
    }
}
