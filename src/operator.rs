//! What an operator does to the outbox, shared by `lienthong outbox ...` and `/admin/outbox/...`:
//! bulk replay in chunks with progress, remap of a dead message with the current mapping (with
//! a field-level diff), the field diff itself, and pausing and resuming a peer or one of its
//! destinations. SQL stays in the store.
//!
//! Replay rule (one batch = one id = one body): a replayed dead message keeps its queue
//! position, so its dossier's order holds. Its last batch is reopened (same `X-Request-ID`, same
//! stored body) when every message of that batch goes again together (always so for a batch of
//! one message); otherwise it goes in a new batch with a new id. A remapped message always goes
//! in a new batch: its body changed.

use std::fmt;

use serde_json::Value;
use uuid::Uuid;

use crate::mapping::Target;
use crate::source::routes::Routes;
use crate::store::{
    now_ms, MessageDetail, OutboxFilter, OutboxJob, RecordKind, Remap, ReplayOutcome, Store,
    StoreError,
};

/// Dead messages replayed per transaction by [`replay_dead`].
pub const REPLAY_CHUNK: i64 = 500;

/// Replays every dead message of `peer` that died at or after `since_ms`, `chunk` per
/// transaction, in queue order; `progress(done, total)` is called after each chunk.
pub async fn replay_dead(
    store: &dyn Store,
    peer: &str,
    since_ms: i64,
    chunk: i64,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<ReplayOutcome, StoreError> {
    let total = store.count_dead(peer, since_ms).await?.max(0) as u64;
    let mut out = ReplayOutcome::default();
    let mut after = i64::MIN;
    let mut seen = 0u64;
    progress(0, total);
    loop {
        let page = store.dead_page(peer, since_ms, after, chunk.max(1)).await?;
        let Some(&(_, last)) = page.last() else {
            return Ok(out);
        };
        after = last;
        let ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        let done = store.replay_messages(&ids, now_ms()).await?;
        out.replayed += done.replayed;
        out.new_batch += done.new_batch;
        out.reopened.extend(done.reopened);
        seen += ids.len() as u64;
        progress(seen, total.max(seen));
    }
}

/// What a bulk job does to each message matching its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAction {
    /// Dead messages go again (others are left alone), as `replay` does.
    Replay,
    /// Dead, pending or waiting messages are given up, with the reason.
    Skip(String),
    /// Dead messages are rendered again from their source records with the mapping configured
    /// when the job runs, as [`plan_remap`] and [`apply_remap`] do one by one; a record the
    /// mapping now refuses is counted as refused and left dead.
    Remap,
}

impl JobAction {
    pub fn name(&self) -> &'static str {
        match self {
            JobAction::Replay => "replay",
            JobAction::Skip(_) => "skip",
            JobAction::Remap => "remap",
        }
    }

    /// The action a form or a request names (`reason` for a skip).
    pub fn parse(action: &str, reason: Option<&str>) -> Result<JobAction, &'static str> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        match (action, reason) {
            ("replay", None) => Ok(JobAction::Replay),
            ("remap", None) => Ok(JobAction::Remap),
            ("skip", Some(r)) => Ok(JobAction::Skip(r.to_string())),
            ("skip", None) => Err("a skip needs a reason"),
            ("replay" | "remap", Some(_)) => Err("only a skip takes a reason"),
            _ => Err("action: replay, skip or remap"),
        }
    }
}

/// Stores a new bulk job over every message matching `filter` now (`total` counted now); run
/// it with [`run_job`].
pub async fn begin_job(
    store: &dyn Store,
    filter: &OutboxFilter,
    action: &JobAction,
    who: &str,
) -> Result<OutboxJob, StoreError> {
    let now = now_ms();
    // Only dead messages are remapped: the job pages through those alone.
    let narrowed;
    let filter = if *action == JobAction::Remap && filter.state.is_none() {
        narrowed = OutboxFilter {
            state: Some("dead".into()),
            ..filter.clone()
        };
        &narrowed
    } else {
        filter
    };
    let job = OutboxJob {
        id: Uuid::now_v7().to_string(),
        action: action.name().into(),
        filter: serde_json::to_string(filter).expect("a filter serializes"),
        reason: match action {
            JobAction::Skip(r) => Some(r.clone()),
            JobAction::Replay | JobAction::Remap => None,
        },
        who: who.into(),
        state: "queued".into(),
        total: store.count_matching(filter).await?,
        done: 0,
        changed: 0,
        after_position: None,
        error: None,
        created_ms: now,
        heartbeat_ms: now,
        finished_ms: None,
        refused: 0,
        last_refusal: None,
    };
    store.create_job(&job).await?;
    Ok(job)
}

/// Runs a stored job from where it stopped, `chunk` messages per transaction in queue order,
/// writing its progress after each chunk; returns it as it ended. A job another runner is
/// running now is left alone (returned as it is). Running a job again is safe: replay, skip and
/// remap change only messages still dead (or pending), so a message done before an
/// interruption is not done twice. A remap job loads the routes with `routes` when it starts;
/// without them (or when the mappings do not load) it fails, naming why.
pub async fn run_job(
    store: &dyn Store,
    routes: Option<&crate::source::routes::Loader>,
    id: &str,
    chunk: i64,
) -> Result<OutboxJob, StoreError> {
    let Some(job) = store.job(id).await? else {
        return Err(StoreError::Conflict(format!("no bulk job {id}")));
    };
    if !store.resume_job(id, now_ms()).await? {
        return Ok(job);
    }
    let ran = match (job.action.as_str(), routes) {
        ("remap", None) => Err(StoreError::Conflict(
            "this server has no source configuration to remap with".into(),
        )),
        ("remap", Some(load)) => match load() {
            Ok(r) => run_chunks(store, Some(&r), &job, chunk.max(1)).await,
            Err(e) => Err(StoreError::Conflict(format!(
                "the configured mappings do not load: {}",
                crate::mapping::mask_text(&format!("{e:#}"))
            ))),
        },
        _ => run_chunks(store, None, &job, chunk.max(1)).await,
    };
    match ran {
        Ok(()) => store.finish_job(id, "done", None, now_ms()).await?,
        Err(e) => {
            store
                .finish_job(id, "failed", Some(&e.to_string()), now_ms())
                .await?
        }
    }
    Ok(store.job(id).await?.unwrap_or(job))
}

async fn run_chunks(
    store: &dyn Store,
    routes: Option<&Routes>,
    job: &OutboxJob,
    chunk: i64,
) -> Result<(), StoreError> {
    let filter: OutboxFilter = serde_json::from_str(&job.filter)
        .map_err(|e| StoreError::Conflict(format!("job {}: its filter: {e}", job.id)))?;
    let action = match (job.action.as_str(), &job.reason) {
        ("replay", _) => JobAction::Replay,
        ("remap", _) => JobAction::Remap,
        ("skip", Some(r)) => JobAction::Skip(r.clone()),
        (other, _) => {
            return Err(StoreError::Conflict(format!(
                "job {}: unknown action {other}",
                job.id
            )))
        }
    };
    let mut step = crate::store::JobStep {
        done: job.done,
        changed: job.changed,
        refused: job.refused,
        last_refusal: None,
        after_position: job.after_position.unwrap_or(i64::MIN),
    };
    loop {
        let page = store
            .matching_page(&filter, step.after_position, chunk)
            .await?;
        let Some(&(_, last)) = page.last() else {
            return Ok(());
        };
        let ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
        let now = now_ms();
        step.last_refusal = None;
        step.changed += match (&action, routes) {
            (JobAction::Replay, _) => store.replay_messages(&ids, now).await?.replayed as i64,
            (JobAction::Skip(reason), _) => {
                let mut n = 0;
                for id in &ids {
                    n += i64::from(store.skip(*id, reason, now).await?);
                }
                n
            }
            (JobAction::Remap, Some(routes)) => remap_chunk(store, routes, &ids, &mut step).await?,
            (JobAction::Remap, None) => {
                return Err(StoreError::Conflict("a remap needs the routes".into()))
            }
        };
        step.done += ids.len() as i64;
        step.after_position = last;
        store.job_progress(&job.id, &step, now_ms()).await?;
    }
}

/// Remaps the dead ones of `ids`; returns how many went again (with a new item, or replayed as
/// they were when the mapping renders the same item). Messages no longer dead are passed over;
/// a refusal is counted in `step` with its reason (masked, prefixed with the message id).
async fn remap_chunk(
    store: &dyn Store,
    routes: &Routes,
    ids: &[Uuid],
    step: &mut crate::store::JobStep,
) -> Result<i64, StoreError> {
    let mut changed = 0;
    for id in ids {
        match plan_remap(store, routes, *id).await {
            Ok(plan) => {
                if !matches!(apply_remap(store, &plan).await?, Remapped::NotDead) {
                    changed += 1;
                }
            }
            Err(RemapError::Store(e)) => return Err(e),
            Err(RemapError::NotDead(_) | RemapError::NotFound) => {}
            Err(e) => {
                step.refused += 1;
                step.last_refusal = Some(crate::mapping::mask_text(&format!("{id}: {e}")));
            }
        }
    }
    Ok(changed)
}

/// One field that differs between two JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `TenTTHC`, `TaiLieuNop[1].TepDinhKem`.
    pub path: String,
    /// `None` when the field is new.
    pub old: Option<Value>,
    /// `None` when the field is gone.
    pub new: Option<Value>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => write!(f, "~ {}: {o} -> {n}", self.path),
            (None, Some(n)) => write!(f, "+ {}: {n}", self.path),
            (Some(o), None) => write!(f, "- {}: {o}", self.path),
            (None, None) => write!(f, "  {}", self.path),
        }
    }
}

/// Field-level differences from `old` to `new`: objects key by key (in `old`'s order, then new
/// keys), arrays index by index, anything else as a whole.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_at("", old, new, &mut out);
    out
}

fn diff_at(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => diff_at(&join(k), va, vb, out),
                    None => out.push(Change {
                        path: join(k),
                        old: Some(va.clone()),
                        new: None,
                    }),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(Change {
                        path: join(k),
                        old: None,
                        new: Some(vb.clone()),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(va), Some(vb)) => diff_at(&p, va, vb, out),
                    (va, vb) => out.push(Change {
                        path: p,
                        old: va.cloned(),
                        new: vb.cloned(),
                    }),
                }
            }
        }
        (a, b) if a != b => out.push(Change {
            path: if path.is_empty() {
                "(item)".into()
            } else {
                path.to_string()
            },
            old: Some(a.clone()),
            new: Some(b.clone()),
        }),
        _ => {}
    }
}

/// Why a message cannot be remapped.
#[derive(Debug, thiserror::Error)]
pub enum RemapError {
    #[error("no message with this id")]
    NotFound,
    #[error("the message is {0}; only dead messages are remapped")]
    NotDead(String),
    #[error("its source record is no longer stored")]
    NoRecord,
    #[error("source \"{0}\" is not in the configuration")]
    NoSource(String),
    #[error("{0}")]
    Mapping(String),
    #[error("the current mapping rejects the record: {0}")]
    Rejected(String),
    #[error("the current mapping puts the record in dossier {new}, not {old}; replay or skip it instead")]
    DossierChanged { old: String, new: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A remap worked out and not stored yet: the operator confirms it first.
#[derive(Debug, Clone)]
pub struct RemapPlan {
    pub message: MessageDetail,
    /// What the mapping renders (to mask the items for display).
    pub target: Target,
    pub remap: Remap,
    /// Empty when the current mapping renders the same item.
    pub changes: Vec<Change>,
}

impl RemapPlan {
    /// [`RemapPlan::changes`] between the items with their personal fields masked, as lines
    /// (`~ TenTTHC: "…" -> "…"`), for every place that shows a remap to a person.
    pub fn masked_changes(&self) -> Vec<String> {
        diff(
            &crate::mapping::mask_personal(self.target, &self.message.item),
            &crate::mapping::mask_personal(self.target, &self.remap.item),
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    }
}

/// Renders a dead message again from its stored source record with the mapping its route uses
/// now (`routes`, built from the configuration as it is now).
pub async fn plan_remap(
    store: &dyn Store,
    routes: &Routes,
    id: Uuid,
) -> Result<RemapPlan, RemapError> {
    let message = store.message(id).await?.ok_or(RemapError::NotFound)?;
    if message.state != "dead" {
        return Err(RemapError::NotDead(message.state));
    }
    let (Some(record), Some(source), Some(kind)) = (
        message.record.as_ref(),
        message.source.as_deref(),
        message.record_kind.as_deref(),
    ) else {
        return Err(RemapError::NoRecord);
    };
    let Some(kind) = RecordKind::parse(kind) else {
        return Err(RemapError::Mapping(format!(
            "no mapping for records of kind \"{kind}\""
        )));
    };
    if routes.get(source, kind).is_none() {
        return Err(RemapError::NoSource(source.to_string()));
    }
    let target = routes
        .find(
            source,
            kind,
            &message.peer,
            &message.operation,
            &message.item,
        )
        .ok_or_else(|| {
            RemapError::Mapping(format!(
                "source \"{source}\" no longer routes {} records to {} {}",
                kind.as_str(),
                message.peer,
                message.operation
            ))
        })?;
    let vars = routes.vars(source).cloned().unwrap_or_default();
    let (item, mapped) = crate::source::intake::render(&target.mapping, record, &vars)
        .map_err(RemapError::Rejected)?;
    if mapped.dossier != message.dossier {
        return Err(RemapError::DossierChanged {
            old: message.dossier.clone(),
            new: mapped.dossier,
        });
    }
    let changes = diff(&message.item, &item);
    Ok(RemapPlan {
        target: target.mapping.target(),
        remap: Remap {
            item,
            mapping_version: target.mapping.version().to_string(),
            warnings: mapped.warnings.iter().map(ToString::to_string).collect(),
        },
        message,
        changes,
    })
}

/// What [`apply_remap`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remapped {
    /// The item changed: queued with the new item, for a new batch.
    NewItem,
    /// The mapping renders the same item: replayed as it is (its batch rule applies).
    Unchanged(ReplayOutcome),
    /// The message was no longer dead (replayed or skipped meanwhile).
    NotDead,
}

/// Stores a confirmed remap.
pub async fn apply_remap(store: &dyn Store, plan: &RemapPlan) -> Result<Remapped, StoreError> {
    let id = plan.message.id;
    if plan.changes.is_empty() {
        let done = store.replay_messages(&[id], now_ms()).await?;
        return Ok(if done.replayed == 0 {
            Remapped::NotDead
        } else {
            Remapped::Unchanged(done)
        });
    }
    Ok(if store.remap(id, &plan.remap, now_ms()).await? {
        Remapped::NewItem
    } else {
        Remapped::NotDead
    })
}

/// The longest reason a pause keeps, in characters.
pub const PAUSE_REASON_MAX: usize = 500;
/// The longest peer or destination name a pause takes, in characters.
pub const PAUSE_NAME_MAX: usize = 200;

/// Why a pause or resume was refused.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    /// No peer family has that name (`peer::registry::FAMILIES`).
    #[error("no peer is named {0}")]
    UnknownPeer(String),
    /// A name or the reason is empty or too long.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The destination a pause is stored under: the one named, or all of the peer's.
fn pause_destination(destination: Option<&str>) -> Result<&str, PauseError> {
    match destination {
        None => Ok(crate::store::ALL_DESTINATIONS),
        Some(d) if d.is_empty() || d.chars().count() > PAUSE_NAME_MAX => Err(PauseError::Invalid(
            format!("destination: 1 to {PAUSE_NAME_MAX} characters"),
        )),
        Some(d) if d == crate::store::ALL_DESTINATIONS => Err(PauseError::Invalid(
            "destination: leave it out to pause every destination".into(),
        )),
        Some(d) => Ok(d),
    }
}

fn check_peer(peer: &str) -> Result<(), PauseError> {
    if peer.is_empty() || peer.chars().count() > PAUSE_NAME_MAX {
        return Err(PauseError::Invalid(format!(
            "peer: 1 to {PAUSE_NAME_MAX} characters"
        )));
    }
    Ok(())
}

/// Pauses `peer` (every destination) or one of its `destination`s: from the commit on, no
/// instance claims anything of it (batches in flight finish). `by` says who asked (`cli`,
/// `admin`, `dashboard`). The reason is kept with identity numbers, phones and e-mails
/// masked. Returns false when it was paused already.
pub async fn pause(
    store: &dyn Store,
    peer: &str,
    destination: Option<&str>,
    reason: &str,
    by: &str,
) -> Result<bool, PauseError> {
    check_peer(peer)?;
    let destination = pause_destination(destination)?;
    if reason.is_empty() || reason.chars().count() > PAUSE_REASON_MAX {
        return Err(PauseError::Invalid(format!(
            "reason: 1 to {PAUSE_REASON_MAX} characters"
        )));
    }
    if !crate::peer::registry::FAMILIES
        .iter()
        .any(|f| f.name == peer)
    {
        return Err(PauseError::UnknownPeer(peer.to_string()));
    }
    let reason = crate::mapping::mask_text(reason);
    let paused = store
        .pause(peer, destination, &reason, by, now_ms())
        .await?;
    if paused {
        tracing::warn!(%peer, %destination, %by, %reason, "outbox: paused by an operator");
    }
    Ok(paused)
}

/// Resumes what [`pause`] paused (the same peer and destination), and wakes this instance's
/// lanes (the store signals the others on PostgreSQL). Returns whether it was paused.
pub async fn resume(
    store: &dyn Store,
    peer: &str,
    destination: Option<&str>,
    by: &str,
    wake: Option<&tokio::sync::Notify>,
) -> Result<bool, PauseError> {
    check_peer(peer)?;
    let destination = pause_destination(destination)?;
    let resumed = store.resume(peer, destination).await?;
    if resumed {
        tracing::info!(%peer, %destination, %by, "outbox: resumed by an operator");
        if let Some(wake) = wake {
            wake.notify_waiters();
        }
    }
    Ok(resumed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_each_changed_field() {
        let old = json!({"A": "1", "B": {"C": 2, "D": [1, 2]}, "E": true});
        let new = json!({"A": "1", "B": {"C": 3, "D": [1]}, "F": null});
        let shown: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec!["~ B.C: 2 -> 3", "- B.D[1]: 2", "- E: true", "+ F: null"]
        );
        assert!(diff(&old, &old).is_empty());
    }
}
