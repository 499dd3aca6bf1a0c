//! Writes that queue work: the caller's write transaction ([`WriteTx`]) with the general
//! [`WriteTx::enqueue`], and ingest (accepted records with their messages, quarantined records
//! and the idempotent answer, all or nothing), which uses the same enqueue; and the lookup of a
//! remembered answer. Must not claim or settle (that is `delivery.rs`).
//!
//! Heads: a queued message is its key's head (`is_head`, the only message of its (peer,
//! destination, key) a claim may take) when no pending, inflight or dead message of that key
//! is queued before it; a `waiting` message never is, until it is moved behind its header.
//! PostgreSQL: every transaction that changes a key's head (enqueue here; settlements and skips)
//! first takes that key's advisory lock, all of them in one statement in hash order, so an
//! enqueue never sees a head that a settlement is about to retire without promoting the new row.
//!
//! Statements are multi-row (one per kind of write, not one per message) so that an ingest of a
//! hundred records costs a handful of round trips.

use uuid::Uuid;

use super::{AnswerFn, IdempotentAnswer, IngestWrite, NewMessage, StoreError};

/// One message queued by [`WriteTx::enqueue`], in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub id: Uuid,
    /// It waits (blocking nothing) for its key's header.
    pub waiting: bool,
    /// It was queued: false for a message whose `once` tag was already used or whose
    /// `requires` tag was not (its `id` is then nil).
    pub queued: bool,
}

/// A write transaction of the caller's: every way in (ingest, the catalog fan-out, postal
/// orders, repairs) queues its messages here together with its own writes, all or nothing.
/// Dropped without [`WriteTx::commit`], it rolls back. On SQLite it holds the process's write
/// turn until then: keep it short.
#[async_trait::async_trait]
pub trait WriteTx: Send {
    /// Queues `messages` in this order (per key, queue order is send order). A message with a
    /// [`HeaderRule::Header`](super::HeaderRule::Header) registers its key; one with
    /// `AfterHeader` waits until its key is registered. Header messages of one key and one
    /// source record share one registration (the first is a create, a later record's an update).
    async fn enqueue(
        &mut self,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<Vec<Queued>, StoreError>;
    /// Commits, signalling other instances that work was queued.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Records in, answers remembered.
#[async_trait::async_trait]
pub trait IngestStore: Send + Sync {
    /// Begins a write transaction of the caller's (see [`WriteTx`]).
    async fn begin_write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError>;
    /// The first answer given to `key` from `source`, if any.
    async fn find_idempotent(
        &self,
        source: &str,
        key: &str,
    ) -> Result<Option<IdempotentAnswer>, StoreError>;
    /// Stores accepted records with their messages, quarantined records and the idempotent
    /// answer (made by `answer`, status 202), all or nothing. Returns the answer.
    async fn ingest(&self, write: IngestWrite, answer: AnswerFn<'_>) -> Result<String, StoreError>;
}

/// `($1, $2, ...), (...)`: `rows` groups of `cols` placeholders numbered from `first`.
pub(crate) fn placeholders(rows: usize, cols: usize, first: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(first + r * cols + c).to_string());
        }
        s.push(')');
    }
    s
}

/// A statement's parameters when they are all rows of values: `(?, ?), (?, ?)` where the
/// backend takes anonymous parameters (SQLite), else `($1, $2), ($3, $4)`. Anonymous ones bind
/// in linear time: SQLite finds a numbered parameter by a linear search, so binding `n` of them
/// costs `n²`. A statement with any other parameter uses [`placeholders`] (the two kinds cannot
/// be mixed).
pub(crate) fn row_params(anonymous: bool, rows: usize, cols: usize) -> String {
    if !anonymous {
        return placeholders(rows, cols, 1);
    }
    let mut group = String::with_capacity(cols * 3 + 2);
    group.push('(');
    for c in 0..cols {
        if c > 0 {
            group.push_str(", ");
        }
        group.push('?');
    }
    group.push(')');
    let mut s = String::with_capacity(rows * (group.len() + 2));
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push_str(&group);
    }
    s
}

/// `?, ?, ?` or `$1, $2, $3`: a statement's only parameters, as one list (see [`row_params`]).
pub(crate) fn param_list(anonymous: bool, n: usize) -> String {
    let mut s = String::with_capacity(n * 4);
    for i in 1..=n {
        if i > 1 {
            s.push_str(", ");
        }
        if anonymous {
            s.push('?');
        } else {
            s.push('$');
            s.push_str(&i.to_string());
        }
    }
    s
}

/// The string a key's advisory lock is taken on.
pub(crate) fn lock_key(peer: &str, destination: &str, key: &str) -> String {
    format!("{peer}\u{1f}{destination}\u{1f}{key}")
}

/// Why a message was given up for a newer one of its key (`NewMessage::supersedes`).
pub(crate) const SUPERSEDED: &str = "superseded: a newer message of its key was queued";

/// What enqueue decided for one message.
pub(crate) struct Planned {
    pub id: Uuid,
    pub state: &'static str,
    pub is_update: bool,
    pub is_head: bool,
}

/// Decides state, create/update and head for each message, and where the waiting messages of
/// keys registered now go: returns the plan and, per message index, the waiting rows to move
/// right after it (the end of the first registering record's messages).
///
/// `registered_now`: header keys this call registered first; `known`: keys registered before
/// this call; `active`: keys that have a head now (pending, inflight or dead message queued).
pub(crate) fn plan_enqueue(
    messages: &[NewMessage],
    registered_now: &std::collections::HashSet<String>,
    known: &std::collections::HashSet<String>,
    active: &mut std::collections::HashSet<(String, String, String)>,
) -> (Vec<Planned>, std::collections::HashMap<String, usize>) {
    use super::HeaderRule;
    use std::collections::HashMap;
    // Per key registered now: the record of its first header, and the index after which its
    // waiting messages go (the end of that record's run of messages).
    let mut first: HashMap<&str, (Option<Uuid>, usize)> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        if m.header == HeaderRule::Header && registered_now.contains(&m.key) {
            first.entry(m.key.as_str()).or_insert((m.record_id, i));
        }
    }
    let mut move_after: HashMap<String, usize> = HashMap::new();
    for (k, (rec, start)) in &first {
        let mut end = *start;
        while end + 1 < messages.len() && messages[end + 1].record_id == *rec {
            end += 1;
        }
        move_after.insert((*k).to_string(), end);
    }
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let (state, is_update) = match m.header {
            HeaderRule::Free => ("pending", false),
            HeaderRule::Header => match first.get(m.key.as_str()) {
                // Registered by this call: the registering record's headers are creates.
                Some((rec, _)) => ("pending", *rec != m.record_id),
                None => ("pending", true),
            },
            HeaderRule::AfterHeader => {
                let registered = known.contains(&m.key)
                    || first.get(m.key.as_str()).is_some_and(|(rec, at)| {
                        *at <= i || (rec.is_some() && *rec == m.record_id)
                    });
                if registered {
                    ("pending", false)
                } else {
                    ("waiting", false)
                }
            }
            HeaderRule::Held => ("held", false),
        };
        let is_head = (state == "pending" || state == "held")
            && active.insert((m.peer.clone(), m.destination.clone(), m.key.clone()));
        out.push(Planned {
            // Time-ordered: new rows go to the end of the primary key's index, so a large
            // store's inserts touch few pages (a random id touches one page per row).
            id: Uuid::now_v7(),
            state,
            is_update,
            is_head,
        });
    }
    (out, move_after)
}

macro_rules! impl_ingest {
    (
        store = $Store:ident,
        db = $Db:ty,
        begin_write = $begin:literal $(,)?
    ) => {
        /// The caller's write transaction on this backend.
        pub struct StoreWriteTx<'a> {
            tx: sqlx::Transaction<'static, $Db>,
            /// SQLite: this process's write turn, held until commit or drop.
            _turn: Box<dyn Send + 'a>,
            /// Peers that have new pending work (signalled to other instances on commit).
            peers: Vec<String>,
        }

        #[async_trait::async_trait]
        impl $crate::store::WriteTx for StoreWriteTx<'_> {
            async fn enqueue(
                &mut self,
                messages: &[$crate::store::NewMessage],
                now_ms: i64,
            ) -> Result<Vec<$crate::store::Queued>, $crate::store::StoreError> {
                enqueue_in(&mut self.tx, messages, None, "", now_ms, &mut self.peers).await
            }

            async fn commit(self: Box<Self>) -> Result<(), $crate::store::StoreError> {
                let this = *self;
                commit_signalled(this.tx, &this.peers).await
            }
        }

        /// Queues `messages` (see [`WriteTx::enqueue`](crate::store::WriteTx::enqueue)); a
        /// message without a source record or mapping version takes `record`'s, if given.
        /// `source` is noted on the keys it registers.
        async fn enqueue_in(
            tx: &mut sqlx::Transaction<'static, $Db>,
            messages: &[$crate::store::NewMessage],
            record: Option<(uuid::Uuid, &str)>,
            source: &str,
            now_ms: i64,
            peers: &mut Vec<String>,
        ) -> Result<Vec<$crate::store::Queued>, $crate::store::StoreError> {
            if messages.iter().all(|m| m.once.is_none() && m.requires.is_none()) {
                return enqueue_kept(tx, messages, record, source, now_ms, peers).await;
            }
            // Tagged messages (rare: postal orders and cancels) are decided one by one, in
            // order, before anything else, so those not queued take no part in heads.
            let mut kept = Vec::with_capacity(messages.len());
            let mut keep = Vec::with_capacity(messages.len());
            for m in messages {
                let mut ok = true;
                if let Some(tag) = &m.requires {
                    let found: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(1 AS BIGINT) FROM message_once WHERE peer = $1 AND destination = $2 AND dossier = $3 AND tag = $4",
                    )
                    .bind(&m.peer)
                    .bind(&m.destination)
                    .bind(&m.key)
                    .bind(tag)
                    .fetch_optional(&mut **tx)
                    .await?;
                    ok = found.is_some();
                }
                if let (true, Some(tag)) = (ok, &m.once) {
                    let inserted: Option<String> = sqlx::query_scalar(
                        "INSERT INTO message_once (peer, destination, dossier, tag, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING tag",
                    )
                    .bind(&m.peer)
                    .bind(&m.destination)
                    .bind(&m.key)
                    .bind(tag)
                    .bind(now_ms)
                    .fetch_optional(&mut **tx)
                    .await?;
                    ok = inserted.is_some();
                }
                keep.push(ok);
                if ok {
                    kept.push(m.clone());
                }
            }
            let mut queued = enqueue_kept(tx, &kept, record, source, now_ms, peers)
                .await?
                .into_iter();
            Ok(keep
                .into_iter()
                .map(|ok| {
                    if ok {
                        queued.next().unwrap_or($crate::store::Queued {
                            id: uuid::Uuid::nil(),
                            waiting: false,
                            queued: false,
                        })
                    } else {
                        $crate::store::Queued {
                            id: uuid::Uuid::nil(),
                            waiting: false,
                            queued: false,
                        }
                    }
                })
                .collect())
        }

        /// [`enqueue_in`] of messages already decided to be queued.
        async fn enqueue_kept(
            tx: &mut sqlx::Transaction<'static, $Db>,
            messages: &[$crate::store::NewMessage],
            record: Option<(uuid::Uuid, &str)>,
            source: &str,
            now_ms: i64,
            peers: &mut Vec<String>,
        ) -> Result<Vec<$crate::store::Queued>, $crate::store::StoreError> {
            use std::collections::{BTreeSet, HashSet};
            use $crate::store::ingest::{lock_key, param_list, placeholders, row_params};
            use $crate::store::HeaderRule;
            if messages.is_empty() {
                return Ok(Vec::new());
            }
            let record_of = |m: &$crate::store::NewMessage| m.record_id.or(record.map(|r| r.0));

            // Serialise with settlements of the same keys (PostgreSQL).
            let mut locked: BTreeSet<String> = messages
                .iter()
                .map(|m| lock_key(&m.peer, &m.destination, &m.key))
                .collect();
            lock_keys(&mut **tx, &locked).await?;

            // Superseding messages first give up the undelivered messages of their keys that
            // are not being sent now (their heads included, so the new message becomes head).
            let superseding: BTreeSet<(&str, &str, &str)> = messages
                .iter()
                .filter(|m| m.supersedes)
                .map(|m| (m.peer.as_str(), m.destination.as_str(), m.key.as_str()))
                .collect();
            let superseding: Vec<_> = superseding.into_iter().collect();
            for part in superseding.chunks(<$Store>::ROWS_PER_STATEMENT) {
                let keys = placeholders(part.len(), 3, 3);
                // A message alone in an open batch nobody holds (a retry waiting for its
                // time): the batch is closed unsent.
                let sql = format!(
                    "UPDATE batches SET state = 'done', closed_at = $1, lease_until = NULL, owner = NULL, \
                     last_error = $2 WHERE state = 'open' AND items = 1 \
                     AND (lease_until IS NULL OR lease_until < $1) AND id IN (\
                     SELECT o.batch_id FROM (VALUES {keys}) AS k JOIN outbox o ON o.peer = k.column1 \
                     AND o.destination = k.column2 AND o.dossier = k.column3 WHERE o.state = 'inflight')"
                );
                let mut q = sqlx::query(&sql)
                    .bind(now_ms)
                    .bind($crate::store::ingest::SUPERSEDED);
                for (p, d, k) in part {
                    q = q.bind(*p).bind(*d).bind(*k);
                }
                q.execute(&mut **tx).await?;
                let sql = format!(
                    "UPDATE outbox SET state = 'skipped', is_head = FALSE, last_error = $2, updated_at = $1 \
                     WHERE id IN (SELECT o.id FROM (VALUES {keys}) AS k JOIN outbox o ON o.peer = k.column1 \
                     AND o.destination = k.column2 AND o.dossier = k.column3 \
                     WHERE o.state IN ('pending', 'dead') OR (o.state = 'inflight' AND EXISTS (\
                     SELECT 1 FROM batches b WHERE b.id = o.batch_id AND b.state = 'done')))"
                );
                let mut q = sqlx::query(&sql)
                    .bind(now_ms)
                    .bind($crate::store::ingest::SUPERSEDED);
                for (p, d, k) in part {
                    q = q.bind(*p).bind(*d).bind(*k);
                }
                q.execute(&mut **tx).await?;
            }

            // Register header keys; those inserted now are registered first by this call.
            let header_keys: BTreeSet<&str> = messages
                .iter()
                .filter(|m| m.header == HeaderRule::Header)
                .map(|m| m.key.as_str())
                .collect();
            let mut registered_now: HashSet<String> = HashSet::new();
            if !header_keys.is_empty() {
                let keys: Vec<&str> = header_keys.iter().copied().collect();
                // Each key's first header message's record.
                let mut first_of: std::collections::HashMap<&str, Option<uuid::Uuid>> =
                    std::collections::HashMap::with_capacity(keys.len());
                for m in messages.iter().filter(|m| m.header == HeaderRule::Header) {
                    first_of.entry(m.key.as_str()).or_insert_with(|| record_of(m));
                }
                for part in keys.chunks(<$Store>::PARAMS_PER_STATEMENT / 4) {
                    let sql = format!(
                        "INSERT INTO dossiers (dossier, source, first_record, created_at) VALUES {} \
                         ON CONFLICT (dossier) DO NOTHING RETURNING dossier",
                        row_params(<$Store>::ANONYMOUS_PARAMS, part.len(), 4)
                    );
                    let mut q = sqlx::query_scalar::<_, String>(&sql);
                    for k in part {
                        let first = first_of
                            .get(k)
                            .copied()
                            .flatten()
                            .map(|r| r.to_string())
                            .unwrap_or_default();
                        q = q.bind(*k).bind(source).bind(first).bind(now_ms);
                    }
                    registered_now.extend(q.fetch_all(&mut **tx).await?);
                }
            }
            // Keys registered before this call, for messages that wait for their header.
            let after_keys: BTreeSet<&str> = messages
                .iter()
                .filter(|m| m.header == HeaderRule::AfterHeader)
                .map(|m| m.key.as_str())
                .collect();
            let mut known: HashSet<String> = header_keys
                .iter()
                .filter(|k| !registered_now.contains(**k))
                .map(|k| k.to_string())
                .collect();
            if !after_keys.is_empty() {
                let keys: Vec<&str> = after_keys.iter().copied().collect();
                for part in keys.chunks(<$Store>::PARAMS_PER_STATEMENT) {
                    let sql = format!(
                        "SELECT dossier FROM dossiers WHERE dossier IN ({})",
                        param_list(<$Store>::ANONYMOUS_PARAMS, part.len())
                    );
                    let mut q = sqlx::query_scalar::<_, String>(&sql);
                    for k in part {
                        q = q.bind(*k);
                    }
                    known.extend(q.fetch_all(&mut **tx).await?);
                }
                // Registered by this call: known only from the registering message on.
                known.retain(|k| !registered_now.contains(k));
            }
            // Messages that arrived before their key's header, which go now, right behind the
            // record that registered it, in the order they were queued.
            let mut waiting_rows: Vec<(String, String, String, String)> = Vec::new();
            if !registered_now.is_empty() {
                let keys: Vec<&String> = registered_now.iter().collect();
                for part in keys.chunks(<$Store>::PARAMS_PER_STATEMENT) {
                    let sql = format!(
                        "SELECT id, peer, destination, dossier FROM outbox \
                         WHERE dossier IN ({}) AND state = 'waiting' ORDER BY position",
                        param_list(<$Store>::ANONYMOUS_PARAMS, part.len())
                    );
                    let mut q = sqlx::query_as::<_, (String, String, String, String)>(&sql);
                    for k in part {
                        q = q.bind(k.as_str());
                    }
                    waiting_rows.extend(q.fetch_all(&mut **tx).await?);
                }
                let more: BTreeSet<String> = waiting_rows
                    .iter()
                    .map(|(_, p, d, k)| lock_key(p, d, k))
                    .filter(|k| !locked.contains(k))
                    .collect();
                lock_keys(&mut **tx, &more).await?;
                locked.extend(more);
            }
            // Keys that have a head already.
            let mut keys: BTreeSet<(&str, &str, &str)> = messages
                .iter()
                .map(|m| (m.peer.as_str(), m.destination.as_str(), m.key.as_str()))
                .collect();
            keys.extend(
                waiting_rows
                    .iter()
                    .map(|(_, p, d, k)| (p.as_str(), d.as_str(), k.as_str())),
            );
            let mut active: HashSet<(String, String, String)> = HashSet::new();
            let keys: Vec<(&str, &str, &str)> = keys.into_iter().collect();
            for part in keys.chunks(<$Store>::PARAMS_PER_STATEMENT / 3) {
                // A join, not a row-value IN: SQLite would scan every head for the latter.
                let sql = format!(
                    "SELECT o.peer, o.destination, o.dossier FROM (VALUES {}) AS k \
                     JOIN outbox o ON o.peer = k.column1 AND o.destination = k.column2 \
                     AND o.dossier = k.column3 AND o.is_head",
                    row_params(<$Store>::ANONYMOUS_PARAMS, part.len(), 3)
                );
                let mut q = sqlx::query_as::<_, (String, String, String)>(&sql);
                for (p, d, k) in part {
                    q = q.bind(*p).bind(*d).bind(*k);
                }
                active.extend(q.fetch_all(&mut **tx).await?);
            }

            let (plan, move_after) =
                $crate::store::ingest::plan_enqueue(messages, &registered_now, &known, &mut active);
            // Queue positions for the new messages and the moved ones, in send order.
            let n = (messages.len() + waiting_rows.len()) as i64;
            let positions = <$Store>::next_positions(&mut **tx, n).await?;
            if positions.len() as i64 != n {
                return Err($crate::store::StoreError::Unavailable(
                    "the queue handed out too few positions".into(),
                ));
            }
            let mut next = positions.into_iter();
            let mut msg_pos = Vec::with_capacity(messages.len());
            // (id, position, is_head) of each moved row.
            let mut moved: Vec<(&str, i64, bool)> = Vec::new();
            let mut after: std::collections::HashMap<usize, Vec<&String>> =
                std::collections::HashMap::new();
            for (k, at) in &move_after {
                after.entry(*at).or_default().push(k);
            }
            for i in 0..messages.len() {
                msg_pos.push(next.next().unwrap_or_default());
                for k in after.get(&i).into_iter().flatten() {
                    for (id, p, d, key) in waiting_rows.iter().filter(|w| &w.3 == *k) {
                        let head = active.insert((p.clone(), d.clone(), key.clone()));
                        moved.push((id.as_str(), next.next().unwrap_or_default(), head));
                    }
                }
            }

            // 17 parameters a row; `is_head` is written into the text.
            let per_statement = <$Store>::PARAMS_PER_STATEMENT / 17;
            for (chunk, (msgs, plans)) in messages
                .chunks(per_statement)
                .zip(plan.chunks(per_statement))
                .enumerate()
            {
                let mut rows = String::new();
                for j in 0..msgs.len() {
                    if j > 0 {
                        rows.push_str(", ");
                    }
                    let head = if plans[j].is_head { "TRUE" } else { "FALSE" };
                    if <$Store>::ANONYMOUS_PARAMS {
                        rows.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ");
                    } else {
                        let b = j * 17;
                        rows.push('(');
                        for c in 1..=17 {
                            rows.push('$');
                            rows.push_str(&(b + c).to_string());
                            rows.push_str(if c == 13 { ", 0, " } else { ", " });
                        }
                    }
                    rows.push_str(head);
                    rows.push(')');
                }
                let sql = format!(
                    "INSERT INTO outbox (id, peer, operation, dossier, position, at, source_seq, is_update, \
                     item, record_id, mapping_version, warnings, state, attempts, next_attempt_at, \
                     created_at, updated_at, destination, is_head) VALUES {rows}"
                );
                let mut q = sqlx::query(&sql);
                for (j, (m, p)) in msgs.iter().zip(plans).enumerate() {
                    q = q
                        .bind(p.id.to_string())
                        .bind(&m.peer)
                        .bind(&m.operation)
                        .bind(&m.key)
                        .bind(msg_pos[chunk * per_statement + j])
                        .bind(m.at_ms)
                        .bind(m.source_seq)
                        .bind(p.is_update as i64)
                        .bind(serde_json::to_string(&m.item).expect("JSON values serialise"))
                        .bind(record_of(m).map(|r| r.to_string()))
                        .bind(
                            m.mapping_version
                                .as_deref()
                                .or(record.map(|r| r.1))
                                .map(str::to_string),
                        )
                        .bind(serde_json::to_string(&m.warnings).unwrap_or_else(|_| "[]".into()))
                        .bind(p.state)
                        .bind(now_ms)
                        .bind(now_ms)
                        .bind(now_ms)
                        .bind(&m.destination);
                }
                q.execute(&mut **tx).await?;
            }
            for (id, position, head) in &moved {
                sqlx::query(if *head {
                    "UPDATE outbox SET state = 'pending', updated_at = $2, position = $3, is_head = TRUE WHERE id = $1"
                } else {
                    "UPDATE outbox SET state = 'pending', updated_at = $2, position = $3 WHERE id = $1"
                })
                .bind(*id)
                .bind(now_ms)
                .bind(*position)
                .execute(&mut **tx)
                .await?;
            }
            for (m, p) in messages.iter().zip(&plan) {
                if p.state == "pending" && !peers.contains(&m.peer) {
                    peers.push(m.peer.clone());
                }
            }
            for (_, p, _, _) in &waiting_rows {
                if !peers.contains(p) {
                    peers.push(p.clone());
                }
            }
            Ok(plan
                .iter()
                .map(|p| $crate::store::Queued {
                    id: p.id,
                    waiting: p.state == "waiting",
                    queued: true,
                })
                .collect())
        }

        /// Commits `tx`, first signalling other instances that `peers` have new work
        /// (PostgreSQL: `pg_notify`, delivered to every listening instance when, and only if,
        /// this commits; nothing on SQLite, whose process wakes its own lanes).
        async fn commit_signalled(
            mut tx: sqlx::Transaction<'static, $Db>,
            peers: &[String],
        ) -> Result<(), $crate::store::StoreError> {
            if let Some(notify) = <$Store>::NOTIFY_WORK {
                for peer in peers {
                    sqlx::query(notify).bind(peer).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        }

        /// Takes the advisory locks of `keys` (PostgreSQL; nothing on SQLite, whose writers
        /// take turns), in hash order so that two transactions never wait on each other.
        async fn lock_keys(
            conn: &mut <$Db as sqlx::Database>::Connection,
            keys: &std::collections::BTreeSet<String>,
        ) -> Result<(), $crate::store::StoreError> {
            let Some(template) = <$Store>::LOCK_KEYS else {
                return Ok(());
            };
            let keys: Vec<&String> = keys.iter().collect();
            if keys.is_empty() {
                return Ok(());
            }
            let sql = template.replace(
                "{keys}",
                &$crate::store::ingest::placeholders(keys.len(), 1, 1),
            );
            let mut q = sqlx::query(&sql);
            for k in keys {
                q = q.bind(k.as_str());
            }
            q.execute(&mut *conn).await?;
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::IngestStore for $Store {
            async fn begin_write(
                &self,
            ) -> Result<Box<dyn $crate::store::WriteTx + '_>, $crate::store::StoreError> {
                let turn = self.write_turn().await;
                let tx = self.pool.begin_with($begin).await?;
                Ok(Box::new(StoreWriteTx {
                    tx,
                    _turn: Box::new(turn),
                    peers: Vec::new(),
                }))
            }

            async fn find_idempotent(
                &self,
                source: &str,
                key: &str,
            ) -> Result<Option<$crate::store::IdempotentAnswer>, $crate::store::StoreError> {
                let row: Option<$crate::store::rows::IdempotencyRow> = sqlx::query_as(
                    "SELECT body_hash, status, answer FROM idempotency WHERE source = $1 AND key = $2",
                )
                .bind(source)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.into_answer(key)))
            }

            async fn ingest(
                &self,
                w: $crate::store::IngestWrite,
                answer: $crate::store::AnswerFn<'_>,
            ) -> Result<String, $crate::store::StoreError> {
                use $crate::store::ingest::row_params;
                let _turn = self.write_turn().await;
                let mut tx = self.pool.begin_with($begin).await?;
                for part in w.accepted.chunks(<$Store>::PARAMS_PER_STATEMENT / 7) {
                    let sql = format!(
                        "INSERT INTO records (id, source, kind, dossier, body, mapping_version, received_at) \
                         VALUES {}",
                        row_params(<$Store>::ANONYMOUS_PARAMS, part.len(), 7)
                    );
                    let mut q = sqlx::query(&sql);
                    for r in part {
                        q = q
                            .bind(r.record_id.to_string())
                            .bind(&w.source)
                            .bind(w.kind.as_str())
                            .bind(&r.dossier)
                            .bind(&r.record)
                            .bind(&r.mapping_version)
                            .bind(w.now_ms);
                    }
                    q.execute(&mut *tx).await?;
                }
                // Every record's messages in one enqueue, each message carrying its record (so
                // registration and waiting moves are per record, as if queued one by one).
                let mut messages = Vec::new();
                let mut owner = Vec::new();
                let n_accepted = w.accepted.len();
                for (i, r) in w.accepted.into_iter().enumerate() {
                    for mut m in r.messages {
                        m.record_id.get_or_insert(r.record_id);
                        if m.mapping_version.is_none() {
                            m.mapping_version = Some(r.mapping_version.clone());
                        }
                        messages.push(m);
                        owner.push(i);
                    }
                }
                let mut peers = Vec::new();
                let queued =
                    enqueue_in(&mut tx, &messages, None, &w.source, w.now_ms, &mut peers).await?;
                let mut result = $crate::store::IngestResult {
                    waiting: vec![false; n_accepted],
                };
                for (q, i) in queued.iter().zip(owner) {
                    result.waiting[i] |= q.waiting;
                }
                for q in &w.rejected {
                    if let Some(id) = &q.id {
                        // A retry refused again: its row takes the new reason.
                        sqlx::query(
                            "UPDATE quarantine SET error = $1, retries = retries + 1, retried_at = $2 \
                             WHERE id = $3",
                        )
                        .bind(&q.error)
                        .bind(w.now_ms)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO quarantine (id, source, kind, dossier, record_index, body, error, origin, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(&w.source)
                    .bind(w.kind.as_str())
                    .bind(&q.dossier)
                    .bind(q.index as i64)
                    .bind(q.record.to_string())
                    .bind(&q.error)
                    .bind(&w.origin)
                    .bind(w.now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                for id in &w.retried {
                    // A row already gone was retried or dropped by someone else meanwhile:
                    // queuing its record again would send it twice (or send a dropped one).
                    let removed = sqlx::query("DELETE FROM quarantine WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if removed == 0 {
                        return Err($crate::store::StoreError::Conflict(format!(
                            "quarantined record {id} was retried or dropped meanwhile"
                        )));
                    }
                }
                write_positions(&mut tx, &w.source, &w.positions, w.now_ms).await?;
                write_facts(&mut tx, &w.source, &w.facts, w.now_ms).await?;
                let answer = answer(&result);
                if let Some(idem) = &w.idempotency {
                    sqlx::query(
                        "INSERT INTO idempotency (source, key, body_hash, status, answer, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&w.source)
                    .bind(&idem.key)
                    .bind(&idem.body_hash)
                    .bind(202i64)
                    .bind(&answer)
                    .bind(w.now_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                commit_signalled(tx, &peers).await?;
                Ok(answer)
            }
        }
    };
}

pub(crate) use impl_ingest;
