//! The operator's side of the quarantine, shared by `lienthong quarantine ...`,
//! `/admin/quarantine...` and the dashboard: pages of quarantined records, one record, and retry.
//!
//! A retry sends quarantined records through [`intake`] again with the routes the caller loaded
//! now (after a mapping file was fixed), grouped by source and kind, [`RETRY_BATCH`] records a
//! transaction: accepted, a record's quarantine row is removed in the transaction that queues its
//! messages; refused again, its row keeps its id and takes the new reason (`retries` + 1). A row
//! retried or dropped by someone else meanwhile is never queued twice: the store refuses the
//! write, and the batch is retried without it.
//!
//! What it must not do: run SQL, or show a record's content where it lists records (their reasons
//! are masked with [`crate::mapping::mask_text`]; one record's values with
//! [`crate::mapping::mask_record`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::source::intake::{self, Along};
use crate::source::routes::Routes;
use crate::store::{now_ms, QuarantineItem, RecordKind, Store, StoreError};

/// Records retried per transaction.
pub const RETRY_BATCH: i64 = 500;

/// What became of one retried record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Mapped and queued; its quarantine row is gone.
    Accepted,
    /// Refused again; its row took the new reason.
    Refused,
    /// No quarantined record with this id (retried or dropped already, or never there).
    Unknown,
    /// Its source, or its kind of record, is not configured now; its row is left as it was.
    NoRoute,
}

/// One retried record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Retried {
    pub id: String,
    pub outcome: Outcome,
    /// Why it was refused again (masked) or has no route.
    pub error: Option<String>,
}

/// What a retry did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RetryReport {
    pub accepted: u64,
    pub refused: u64,
    pub unknown: u64,
    pub no_route: u64,
    /// One entry per id, in the order asked (for `retry_all`: the order retried).
    pub results: Vec<Retried>,
}

impl RetryReport {
    fn push(&mut self, r: Retried) {
        match r.outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Unknown => self.unknown += 1,
            Outcome::NoRoute => self.no_route += 1,
        }
        self.results.push(r);
    }

    /// Records looked at.
    pub fn total(&self) -> u64 {
        self.accepted + self.refused + self.unknown + self.no_route
    }

    /// Whether every record asked for was accepted.
    pub fn all_accepted(&self) -> bool {
        self.total() == self.accepted
    }
}

/// A local record the mappings refused, kept for an operator, as lists show it: no content,
/// its reason masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = QuarantinedRecord)]
pub struct Listed {
    #[schema(format = Uuid)]
    pub id: String,
    pub source: String,
    /// `dossier`, `step` or `survey`.
    pub kind: String,
    pub dossier: Option<String>,
    /// Why it was refused (the latest reason after a retry), with identity numbers, phones and
    /// e-mails masked.
    pub error: String,
    /// Where it came from when not an HTTP push: `file <name>`, `sql <stream>`.
    pub origin: Option<String>,
    /// Retries refused again.
    pub retries: i64,
    pub retried_at: Option<i64>,
    pub created_at: i64,
}

impl From<&QuarantineItem> for Listed {
    fn from(q: &QuarantineItem) -> Self {
        Listed {
            id: q.id.clone(),
            source: q.source.clone(),
            kind: q.kind.clone(),
            dossier: q.dossier.clone(),
            error: crate::mapping::mask_text(&q.error),
            origin: q.origin.clone(),
            retries: q.retries,
            retried_at: q.retried_at,
            created_at: q.created_at,
        }
    }
}

/// A quarantined record with the record's field names and every value masked (`Ng***`,
/// `0912***678`, `***`); `lienthong quarantine show` on the server shows it whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = QuarantinedRecordMasked)]
pub struct Masked {
    #[serde(flatten)]
    pub record: Listed,
    /// The record as received, each value masked (flags and nulls kept); null if the stored
    /// record is unreadable.
    #[schema(value_type = Option<Object>)]
    pub body_masked: Value,
}

/// One quarantined record as the admin API shows it: [`Listed`] and the record's field names
/// with every value masked.
pub fn masked(q: &QuarantineItem) -> Masked {
    let body_masked = serde_json::from_str::<Value>(&q.body)
        .map(|b| crate::mapping::mask_record(&b))
        .unwrap_or(Value::Null);
    Masked {
        record: Listed::from(q),
        body_masked,
    }
}

/// Why a page cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// `after` names no quarantined record (retried or dropped since the last page was read).
    #[error(
        "after: no quarantined record {0} (retried or dropped since): start from the first page"
    )]
    UnknownAfter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Quarantined records, oldest first, of one source or all, after the record `after` (the last
/// of the previous page).
pub async fn page(
    store: &dyn Store,
    source: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<QuarantineItem>, PageError> {
    let from = match after {
        Some(id) => {
            let last = store
                .quarantine_item(id)
                .await?
                .ok_or_else(|| PageError::UnknownAfter(id.to_string()))?;
            Some((last.created_at, last.id))
        }
        None => None,
    };
    Ok(store
        .quarantine_page(
            source,
            from.as_ref().map(|(t, id)| (*t, id.as_str())),
            limit,
        )
        .await?)
}

/// Retries the quarantined records `ids` (duplicates once) with `routes`.
pub async fn retry(
    store: &dyn Store,
    routes: &Routes,
    ids: &[String],
) -> Result<RetryReport, StoreError> {
    let mut items = Vec::new();
    let mut unknown = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        match store.quarantine_item(id).await? {
            Some(q) => items.push(q),
            None => {
                unknown.insert(id.clone());
            }
        }
    }
    let mut done: BTreeMap<String, Retried> = retry_items(store, routes, items)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut report = RetryReport::default();
    let mut given = BTreeSet::new();
    for id in ids {
        if !given.insert(id.as_str()) {
            continue;
        }
        let r = done.remove(id).unwrap_or_else(|| Retried {
            id: id.clone(),
            outcome: Outcome::Unknown,
            error: None,
        });
        report.push(r);
    }
    Ok(report)
}

/// Retries every quarantined record (of `source`, or all) that was there when it began, oldest
/// first, [`RETRY_BATCH`] at a time; `progress(report so far, records to look at)` after each.
pub async fn retry_all(
    store: &dyn Store,
    routes: &Routes,
    source: Option<&str>,
    progress: &mut (dyn FnMut(&RetryReport, u64) + Send),
) -> Result<RetryReport, StoreError> {
    let started = now_ms();
    let total: i64 = store
        .quarantine_counts()
        .await?
        .iter()
        .filter(|c| source.is_none_or(|s| s == c.source))
        .map(|c| c.records)
        .sum();
    let mut report = RetryReport::default();
    progress(&report, total.max(0) as u64);
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = store
            .quarantine_page(
                source,
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                RETRY_BATCH,
            )
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.created_at, last.id.clone()));
        // Records refused after the retry began were refused by these very mappings.
        let items: Vec<QuarantineItem> = page
            .into_iter()
            .filter(|q| q.created_at <= started)
            .collect();
        if items.is_empty() {
            break;
        }
        for r in retry_items(store, routes, items).await? {
            report.push(r);
        }
        progress(&report, (total.max(0) as u64).max(report.total()));
    }
    Ok(report)
}

/// Retries `items`, grouped by source and kind (in their order within each group), a batch a
/// transaction. Outcomes come back in no particular order.
async fn retry_items(
    store: &dyn Store,
    routes: &Routes,
    items: Vec<QuarantineItem>,
) -> Result<Vec<Retried>, StoreError> {
    let mut out = Vec::with_capacity(items.len());
    let mut groups: BTreeMap<(String, String), Vec<QuarantineItem>> = BTreeMap::new();
    for q in items {
        groups
            .entry((q.source.clone(), q.kind.clone()))
            .or_default()
            .push(q);
    }
    for ((source, kind), group) in groups {
        let route = RecordKind::parse(&kind).and_then(|k| Some((k, routes.get(&source, k)?)));
        let Some((kind, route)) = route else {
            let why = format!("source \"{source}\" has no route for {kind} records now");
            out.extend(group.into_iter().map(|q| Retried {
                id: q.id,
                outcome: Outcome::NoRoute,
                error: Some(why.clone()),
            }));
            continue;
        };
        let vars = routes.vars(&source).cloned().unwrap_or_default();
        for batch in group.chunks(RETRY_BATCH as usize) {
            let mut batch = batch.to_vec();
            // Rows someone else retried or dropped meanwhile leave the batch, which is tried
            // again without them (the store refused it whole, so nothing was written).
            for _ in 0..3 {
                match retry_batch(store, route, &source, &vars, kind, &batch).await {
                    Ok(done) => {
                        out.extend(done);
                        batch.clear();
                        break;
                    }
                    Err(StoreError::Conflict(_)) => {
                        let mut left = Vec::with_capacity(batch.len());
                        for q in batch {
                            if store.quarantine_item(&q.id).await?.is_some() {
                                left.push(q);
                            } else {
                                out.push(Retried {
                                    id: q.id,
                                    outcome: Outcome::Unknown,
                                    error: None,
                                });
                            }
                        }
                        batch = left;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !batch.is_empty() {
                return Err(StoreError::Conflict(
                    "quarantined records keep changing under the retry: try again".into(),
                ));
            }
        }
    }
    Ok(out)
}

async fn retry_batch(
    store: &dyn Store,
    route: &crate::source::routes::Route,
    source: &str,
    vars: &crate::mapping::Vars,
    kind: RecordKind,
    batch: &[QuarantineItem],
) -> Result<Vec<Retried>, StoreError> {
    let records = batch
        .iter()
        .map(|q| {
            serde_json::from_str::<Value>(&q.body).map_err(|e| {
                StoreError::Corrupt(format!("quarantined record {}: stored body: {e}", q.id))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let along = Along {
        retry_of: batch.iter().map(|q| q.id.clone()).collect(),
        ..Along::default()
    };
    let stored = intake::accept_along(store, route, source, vars, kind, records, along).await?;
    // The answer names each refused record by its index in the batch, with the reason.
    let answer: Value = serde_json::from_str(&stored.answer).unwrap_or_default();
    let mut refused: BTreeMap<usize, String> = BTreeMap::new();
    for r in answer["rejected"].as_array().into_iter().flatten() {
        if let Some(i) = r["index"].as_u64() {
            refused.insert(
                i as usize,
                r["error"].as_str().unwrap_or_default().to_string(),
            );
        }
    }
    Ok(batch
        .iter()
        .enumerate()
        .map(|(i, q)| match refused.remove(&i) {
            Some(error) => Retried {
                id: q.id.clone(),
                outcome: Outcome::Refused,
                error: Some(crate::mapping::mask_text(&error)),
            },
            None => Retried {
                id: q.id.clone(),
                outcome: Outcome::Accepted,
                error: None,
            },
        })
        .collect())
}
