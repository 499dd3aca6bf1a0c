//! Intake: the one path every way in takes, "records → map → validate → route → one store write →
//! a per-record answer". A way in (HTTP push, SQL polling, file drop) reads records in the
//! source's own shape and hands them here; intake maps each record for every target of its route
//! (`routes`), refuses a record that any target's mapping refuses (naming field, value and rule),
//! orders steps by when they happened, and stores accepted records with their messages, the
//! refused records (quarantine) and the idempotent answer in one transaction. The rest of the
//! batch goes on when one record is refused.
//!
//! What it must not do: know how records arrived (HTTP, files, SQL), or name a peer.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::mapping::{Mapping, Rendered, Vars};
use crate::source::routes::{Route, Target};
use crate::store::{
    now_ms, AcceptedRecord, IdempotencyKey, IngestResult, IngestWrite, NewMessage,
    QuarantinedRecord, RecordKind, SourcePosition, Store, StoreError,
};

/// What intake stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The per-record answer (`{"accepted": [...], "rejected": [...]}`), stored with the records
    /// when the request had an idempotency key.
    pub answer: String,
    pub accepted: usize,
    pub rejected: usize,
    /// Indexes (in the batch given) of the records refused and quarantined.
    pub rejected_indexes: Vec<usize>,
}

/// What a way in stores with a batch besides its records.
#[derive(Debug, Clone, Default)]
pub struct Along {
    /// The request's `Idempotency-Key` (HTTP push).
    pub idempotency: Option<IdempotencyKey>,
    /// Where the way in has read to with this batch (moved in its transaction).
    pub positions: Vec<SourcePosition>,
    /// Where the batch came from (`file <name>`, `sql <stream>`), kept with quarantined records.
    pub origin: Option<String>,
    /// For a retry of quarantined records: the quarantine id of each record, in order.
    pub retry_of: Vec<String>,
    /// Each record as JSON text, in order, when the way in has written it already (SQL polling
    /// hashes it); otherwise intake writes it.
    pub texts: Vec<String>,
}

/// A record mapped for every target of its route.
struct Mapped {
    record: AcceptedRecord,
    /// When it happened and the source's sequence, for ordering steps.
    at: (Option<i64>, Option<i64>),
}

/// Maps, routes and stores `records` of one `kind` from `source` (its `vars`) in one transaction.
pub async fn accept(
    store: &dyn Store,
    route: &Route,
    source: &str,
    vars: &Vars,
    kind: RecordKind,
    records: Vec<Value>,
    idempotency: Option<IdempotencyKey>,
) -> Result<Stored, StoreError> {
    let along = Along {
        idempotency,
        ..Along::default()
    };
    accept_along(store, route, source, vars, kind, records, along).await
}

/// [`accept`], storing `along` in the same transaction.
pub async fn accept_along(
    store: &dyn Store,
    route: &Route,
    source: &str,
    vars: &Vars,
    kind: RecordKind,
    records: Vec<Value>,
    along: Along,
) -> Result<Stored, StoreError> {
    prepare(route, source, vars, kind, records, along)
        .store(store)
        .await
}

/// Records mapped and routed, ready to be stored in one transaction ([`Prepared::store`]).
/// Preparing is pure (no I/O), so a way in may map one batch while the batch before it is
/// being stored.
pub struct Prepared {
    write: IngestWrite,
    /// Per accepted record in send order: its index in the batch, id and warnings.
    order: Vec<(usize, Uuid, Vec<String>)>,
    rejected_answers: Vec<Value>,
    accepted: usize,
    rejected: usize,
    rejected_indexes: Vec<usize>,
}

/// Maps and routes `records` of one `kind` from `source` (its `vars`) for [`Prepared::store`].
pub fn prepare(
    route: &Route,
    source: &str,
    vars: &Vars,
    kind: RecordKind,
    records: Vec<Value>,
    mut along: Along,
) -> Prepared {
    let mut retried = Vec::new();
    let mut good: Vec<(usize, Mapped)> = Vec::with_capacity(records.len());
    let mut rejected = Vec::new();
    let mut rejected_answers = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        match map_record(route, vars, &record) {
            Ok((messages, warnings, key, at)) => {
                if let Some(id) = along.retry_of.get(index) {
                    retried.push(id.clone());
                }
                good.push((
                    index,
                    Mapped {
                        record: AcceptedRecord {
                            record_id: Uuid::now_v7(),
                            record: along
                                .texts
                                .get_mut(index)
                                .map(std::mem::take)
                                .unwrap_or_else(|| {
                                    serde_json::to_string(&record).expect("JSON values serialise")
                                }),
                            mapping_version: route.primary().mapping.version().to_string(),
                            dossier: key,
                            warnings,
                            messages,
                        },
                        at,
                    },
                ))
            }
            Err(reason) => {
                rejected_answers.push(json!({ "index": index, "error": reason }));
                rejected.push(QuarantinedRecord {
                    id: along.retry_of.get(index).cloned(),
                    index,
                    dossier: None,
                    record,
                    error: reason,
                });
            }
        }
    }
    if kind == RecordKind::Step {
        // A dossier's steps go in the order they happened, ties by the source's own sequence.
        good.sort_by(|(ia, a), (ib, b)| {
            (&a.record.dossier, a.at, ia).cmp(&(&b.record.dossier, b.at, ib))
        });
    }
    let order: Vec<(usize, Uuid, Vec<String>)> = good
        .iter()
        .map(|(i, m)| (*i, m.record.record_id, m.record.warnings.clone()))
        .collect();
    let (n_accepted, n_rejected) = (good.len(), rejected.len());
    let rejected_indexes = rejected.iter().map(|q| q.index).collect();
    // What the primary messages say of their dossiers, in send order.
    let facts = good
        .iter()
        .filter_map(|(_, m)| m.record.messages.first())
        .filter_map(|p| crate::peer::registry::facts(&p.peer, &p.operation, &p.item))
        .collect();
    // A file's ledger row counts the records of the file its mappings refused.
    let mut positions = along.positions;
    for p in &mut positions {
        if let SourcePosition::File(f) = p {
            f.rejected = n_rejected as i64;
        }
    }
    let write = IngestWrite {
        source: source.to_string(),
        kind,
        accepted: good.into_iter().map(|(_, m)| m.record).collect(),
        rejected,
        idempotency: along.idempotency,
        facts,
        positions,
        retried,
        origin: along.origin,
        now_ms: now_ms(),
    };
    Prepared {
        write,
        order,
        rejected_answers,
        accepted: n_accepted,
        rejected: n_rejected,
        rejected_indexes,
    }
}

impl Prepared {
    /// Stores the records with their messages, the refused records and what came along, in
    /// one transaction; the per-record answer.
    pub async fn store(self, store: &dyn Store) -> Result<Stored, StoreError> {
        let Prepared {
            write,
            order,
            rejected_answers,
            accepted,
            rejected,
            rejected_indexes,
        } = self;
        let answer = move |result: &IngestResult| {
            let mut acc: Vec<(usize, Value)> = order
                .iter()
                .enumerate()
                .map(|(pos, (index, id, warnings))| {
                    let mut w = warnings.clone();
                    if result.waiting.get(pos).copied().unwrap_or(false) {
                        w.push("waiting for dossier".to_string());
                    }
                    let mut entry = json!({ "index": index, "id": id.to_string() });
                    if !w.is_empty() {
                        entry["warnings"] = json!(w);
                    }
                    (*index, entry)
                })
                .collect();
            acc.sort_by_key(|(i, _)| *i);
            json!({
                "accepted": acc.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "rejected": rejected_answers,
            })
            .to_string()
        };
        let answer = store.ingest(write, &answer).await?;
        Ok(Stored {
            answer,
            accepted,
            rejected,
            rejected_indexes,
        })
    }
}

/// A record's messages (one per target, primary first), its warnings, key and time; or why a
/// target's mapping refuses it.
#[allow(clippy::type_complexity)]
fn map_record(
    route: &Route,
    vars: &Vars,
    record: &Value,
) -> Result<
    (
        Vec<NewMessage>,
        Vec<String>,
        String,
        (Option<i64>, Option<i64>),
    ),
    String,
> {
    let mut messages = Vec::with_capacity(route.targets.len());
    let mut warnings = Vec::new();
    let mut key = String::new();
    let mut at = (None, None);
    for (i, target) in route.targets.iter().enumerate() {
        // A triggered target (a postal order) applies only when the dossier meets its
        // condition; otherwise its mapping is not even asked (a dossier not sent by post is
        // never refused for a postal address).
        let mut cancel = None;
        if let (Some(trigger), Some(primary)) = (target.trigger, messages.first()) {
            let primary: &NewMessage = primary;
            if trigger.cancels(&primary.item) {
                cancel = trigger.cancel;
            } else if !trigger.applies(&primary.item) {
                continue;
            }
        }
        let (item, mapped) = render(&target.mapping, record, vars)
            .map_err(|reason| format!("{}{reason}", target.label))?;
        if let (Some(trigger), Some(rule)) = (target.trigger, cancel) {
            let Some(cancel_item) = (rule.item)(&item) else {
                return Err(format!(
                    "{}the order cannot be cancelled: its mapping gives no CustomerCode, OrderNumber or OrderType",
                    target.label
                ));
            };
            let mut m = message(target, &key, cancel_item, at, Vec::new(), false);
            m.operation = rule.operation.to_string();
            m.once = Some(rule.once.to_string());
            m.requires = Some(trigger.once.to_string());
            messages.push(m);
            continue;
        }
        if i == 0 {
            key = mapped.dossier.clone();
            at = (mapped.at.map(|t| t.timestamp_millis()), mapped.source_seq);
        }
        let these: Vec<String> = mapped
            .warnings
            .iter()
            .map(|w| format!("{}{w}", target.label))
            .collect();
        warnings.extend(these.iter().cloned());
        let mut m = message(target, &key, item, at, these, i == 0);
        m.once = target.trigger.map(|t| t.once.to_string());
        messages.push(m);
    }
    Ok((messages, warnings, key, at))
}

/// The item a mapping renders for the wire (an XML document is queued as a JSON string), and
/// the rest of what it mapped (its `item` left empty for a JSON target).
pub fn render(
    mapping: &Mapping,
    record: &Value,
    vars: &Vars,
) -> Result<(Value, crate::mapping::Mapped), String> {
    let mut mapped = mapping.map(record, vars).map_err(|r| r.to_string())?;
    let item = match mapping.render(&mut mapped).map_err(|r| r.to_string())? {
        Rendered::Json(v) => v,
        Rendered::Xml(xml) => Value::String(xml),
    };
    Ok((item, mapped))
}

fn message(
    target: &Target,
    key: &str,
    item: Value,
    at: (Option<i64>, Option<i64>),
    warnings: Vec<String>,
    primary: bool,
) -> NewMessage {
    NewMessage {
        peer: target.peer.to_string(),
        destination: target.destination.clone(),
        operation: target.operation.to_string(),
        key: key.to_string(),
        item,
        at_ms: at.0,
        source_seq: at.1,
        // The record's own warnings are stored with its primary message; a further route's
        // message keeps none, as before.
        warnings: if primary { warnings } else { Vec::new() },
        record_id: None,
        mapping_version: (!primary).then(|| target.mapping.version().to_string()),
        header: target.header,
        supersedes: false,
        once: None,
        requires: None,
    }
}
