//! Rows as the store's statements return them, decoded by `sqlx::FromRow` (the same structs
//! for both backends: every integer column is read as `i64`, ids as text), and turned into the
//! store's public types here. Must not hold SQL or decide anything.

use uuid::Uuid;

use super::{
    parse_json, parse_uuid, AuditEntry, BatchInfo, BatchMessage, BatchTry, DeadLetter,
    IdempotentAnswer, Lease, MessageSummary, QuarantineEntry, StateCount, StoreError,
};

#[derive(sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    pub body_hash: String,
    pub status: i64,
    pub answer: String,
}

impl IdempotencyRow {
    pub fn into_answer(self, key: &str) -> IdempotentAnswer {
        IdempotentAnswer {
            key: key.to_string(),
            body_hash: self.body_hash,
            status: self.status as u16,
            answer: self.answer,
        }
    }
}

/// An open batch due again (retry or lost lease).
#[derive(sqlx::FromRow)]
pub(crate) struct OpenBatchRow {
    pub id: String,
    pub destination: String,
    pub operation: String,
    pub is_update: i64,
    pub body: String,
    pub attempts: i64,
}

/// A message of a batch, in body order.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchMessageRow {
    pub id: String,
    pub dossier: String,
    pub attempts: i64,
    pub accepted_at: i64,
}

impl BatchMessageRow {
    pub fn into_message(self) -> Result<BatchMessage, StoreError> {
        Ok(BatchMessage {
            id: parse_uuid(&self.id)?,
            dossier: self.dossier,
            attempts: self.attempts as u32,
            accepted_ms: self.accepted_at,
        })
    }
}

/// A due head a new batch may take.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimRow {
    pub id: String,
    pub destination: String,
    pub dossier: String,
    pub is_update: i64,
    pub item: String,
    pub attempts: i64,
    pub accepted_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct StateCountRow {
    pub peer: String,
    pub operation: String,
    pub state: String,
    pub n: i64,
    pub retried: Option<i64>,
}

impl From<StateCountRow> for StateCount {
    fn from(r: StateCountRow) -> Self {
        StateCount {
            peer: r.peer,
            operation: r.operation,
            state: r.state,
            count: r.n,
            retried: r.retried.unwrap_or(0),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeadLetterRow {
    pub id: String,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl DeadLetterRow {
    pub fn into_dead_letter(self) -> Result<DeadLetter, StoreError> {
        Ok(DeadLetter {
            id: parse_uuid(&self.id)?,
            peer: self.peer,
            operation: self.operation,
            dossier: self.dossier,
            attempts: self.attempts as u32,
            error: self.last_error.unwrap_or_default(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct QuarantineRow {
    pub source: String,
    pub kind: String,
    pub dossier: Option<String>,
    pub error: String,
}

impl From<QuarantineRow> for QuarantineEntry {
    fn from(r: QuarantineRow) -> Self {
        QuarantineEntry {
            source: r.source,
            kind: r.kind,
            dossier: r.dossier,
            error: r.error,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageSummaryRow {
    pub id: String,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub state: String,
    pub attempts: i64,
    pub batch_id: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

impl MessageSummaryRow {
    pub fn into_summary(self) -> Result<MessageSummary, StoreError> {
        Ok(MessageSummary {
            id: parse_uuid(&self.id)?,
            peer: self.peer,
            operation: self.operation,
            dossier: self.dossier,
            state: self.state,
            attempts: self.attempts as u32,
            batch_id: self.batch_id,
            error: self.last_error,
            updated_ms: self.updated_at,
        })
    }
}

/// A message id and its queue position.
#[derive(sqlx::FromRow)]
pub(crate) struct PositionRow {
    pub id: String,
    pub position: i64,
}

impl PositionRow {
    pub fn into_pair(self) -> Result<(Uuid, i64), StoreError> {
        Ok((parse_uuid(&self.id)?, self.position))
    }
}

/// A message with its source record, for `outbox show`.
#[derive(sqlx::FromRow)]
pub(crate) struct MessageDetailRow {
    pub id: String,
    pub peer: String,
    pub destination: String,
    pub operation: String,
    pub dossier: String,
    pub state: String,
    pub position: i64,
    pub is_update: i64,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
    pub mapping_version: Option<String>,
    pub warnings: String,
    pub item: String,
    pub record_id: Option<String>,
    pub batch_id: Option<String>,
    pub batch_history: Option<String>,
    pub source: Option<String>,
    pub kind: Option<String>,
    pub record_body: Option<String>,
}

impl MessageDetailRow {
    /// Every batch id the message went in, oldest first; the last one is `batch_id`.
    pub fn batch_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .batch_history
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        // Messages claimed before the history was kept know only their last batch.
        if let Some(b) = &self.batch_id {
            if ids.last() != Some(b) {
                ids.retain(|x| x != b);
                ids.push(b.clone());
            }
        }
        ids
    }

    pub fn into_detail(self, batches: Vec<BatchInfo>) -> Result<super::MessageDetail, StoreError> {
        Ok(super::MessageDetail {
            id: parse_uuid(&self.id)?,
            peer: self.peer,
            destination: self.destination,
            operation: self.operation,
            dossier: self.dossier,
            state: self.state,
            position: self.position,
            is_update: self.is_update != 0,
            attempts: self.attempts as u32,
            created_ms: self.created_at,
            updated_ms: self.updated_at,
            next_attempt_ms: self.next_attempt_at,
            delivered_ms: self.delivered_at,
            last_error: self.last_error,
            mapping_version: self.mapping_version,
            warnings: serde_json::from_str(&self.warnings).unwrap_or_default(),
            item: parse_json(&self.item)?,
            record_id: self.record_id,
            source: self.source,
            record_kind: self.kind,
            record: self.record_body.as_deref().map(parse_json).transpose()?,
            batch_id: self.batch_id,
            batches,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BatchInfoRow {
    pub state: String,
    pub attempts: i64,
    pub items: i64,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub last_error: Option<String>,
    pub answer_sha256: Option<String>,
}

impl BatchInfoRow {
    /// `row` is `None` when housekeeping has pruned the batch.
    pub fn info(id: String, row: Option<BatchInfoRow>) -> BatchInfo {
        match row {
            Some(x) => BatchInfo {
                id,
                state: Some(x.state),
                attempts: x.attempts as u32,
                items: x.items,
                created_ms: Some(x.created_at),
                closed_ms: x.closed_at,
                last_error: x.last_error,
                answer_sha256: x.answer_sha256,
                tries: Vec::new(),
            },
            None => BatchInfo {
                id,
                state: None,
                attempts: 0,
                items: 0,
                created_ms: None,
                closed_ms: None,
                last_error: None,
                answer_sha256: None,
                tries: Vec::new(),
            },
        }
    }
}

/// One row of `batch_attempts`.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchTryRow {
    pub at_ms: i64,
    pub outcome: String,
    pub answer: Option<String>,
    pub answer_sha256: Option<String>,
    pub failures: Option<String>,
}

impl BatchTryRow {
    /// The try as it concerned `message`: in a partial try, its own fate and answer.
    pub fn for_message(self, message: &str) -> BatchTry {
        let own = (self.outcome == "partial")
            .then(|| {
                let all: serde_json::Value =
                    serde_json::from_str(self.failures.as_deref().unwrap_or("{}")).ok()?;
                let mine = all.get(message)?;
                Some((
                    mine["fate"].as_str().unwrap_or("retry").to_string(),
                    mine["error"].as_str().map(str::to_string),
                ))
            })
            .flatten();
        let (outcome, answer) = match (self.outcome.as_str(), own) {
            (_, Some((fate, error))) => (fate, error),
            ("partial", None) => ("delivered".to_string(), None),
            _ => (self.outcome, self.answer),
        };
        BatchTry {
            at_ms: self.at_ms,
            outcome,
            answer,
            answer_sha256: self.answer_sha256,
        }
    }
}

/// A delivered message housekeeping prunes, with its last batch's body and answer hash.
#[derive(sqlx::FromRow)]
pub(crate) struct PruneRow {
    pub id: String,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub attempts: i64,
    pub state: String,
    pub batch_id: Option<String>,
    pub batch_history: Option<String>,
    pub record_id: Option<String>,
    pub mapping_version: Option<String>,
    pub batch_body: Option<String>,
    pub answer_sha256: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub message_id: String,
    pub peer: String,
    pub operation: String,
    pub dossier: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub attempts: i64,
    pub final_state: String,
    pub batch_id: Option<String>,
    pub request_sha256: Option<String>,
    pub response_sha256: Option<String>,
    pub mapping_version: String,
    pub pruned_at: i64,
}

impl AuditRow {
    pub fn into_entry(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            message_id: parse_uuid(&self.message_id)?,
            peer: self.peer,
            operation: self.operation,
            dossier: self.dossier,
            created_ms: self.created_at,
            delivered_ms: self.delivered_at,
            attempts: self.attempts as u32,
            final_state: self.final_state,
            batch_id: self.batch_id,
            request_sha256: self.request_sha256,
            response_sha256: self.response_sha256,
            mapping_version: self.mapping_version,
            pruned_ms: self.pruned_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LeaseRow {
    pub holder: String,
    pub until_ms: i64,
}

impl LeaseRow {
    pub fn into_lease(self, name: &str) -> Lease {
        Lease {
            name: name.to_string(),
            holder: self.holder,
            until_ms: self.until_ms,
        }
    }
}

/// A batch's size and state, for the replay rule.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchStateRow {
    pub items: i64,
    pub state: String,
}

/// A message's id and state.
#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub id: String,
    pub state: String,
}
