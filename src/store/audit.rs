//! The operators' audit log: one row per action (a dashboard form, an admin API change, a
//! changing CLI command), newest first by `(at_ms, id)`. Must not hold personal data: callers
//! write ids, filters and counts as the target, never a record's or an item's content. (Prune's
//! per-message `outbox_audit` is `housekeeping.rs`'s.)

use serde::Serialize;

use super::StoreError;

/// One action as written and as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct ActionRecord {
    #[schema(format = Uuid)]
    pub id: String,
    pub at_ms: i64,
    /// The operator's configured name (`admin` for `server.admin_token`), or `cli:<OS user>`.
    pub who: String,
    /// `operator` or `viewer` (a viewer's refused attempt is written too).
    #[schema(schema_with = role_schema)]
    pub role: String,
    /// `ui`, `api` or `cli`.
    #[schema(schema_with = way_schema)]
    pub way: String,
    /// What was done, e.g. `outbox.replay`, `quarantine.drop`.
    pub action: String,
    /// On what: ids, the filter, counts (JSON text).
    pub target: String,
    /// `ok`, or what went wrong (`refused: ...`, `failed: ...`).
    pub outcome: String,
}

/// `operator` or `viewer`, as the admin API's document says.
fn role_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["operator", "viewer"]))
        .build()
}

/// `ui`, `api` or `cli`, as the admin API's document says.
fn way_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["ui", "api", "cli"]))
        .build()
}

impl ActionRecord {
    /// A new entry now, with a fresh id. The id is a version 7 UUID, ordered by creation within
    /// the process, so two actions in the same millisecond list newest first as they happened.
    pub fn new(
        who: &str,
        role: &str,
        way: &str,
        action: &str,
        target: serde_json::Value,
        outcome: &str,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at_ms: super::now_ms(),
            who: who.to_string(),
            role: role.to_string(),
            way: way.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
        }
    }
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub who: Option<String>,
    pub action: Option<String>,
    /// Entries older than this `(at_ms, id)` (the last one of the previous page).
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

#[async_trait::async_trait]
pub trait AuditStore {
    async fn record_audit(&self, entry: &ActionRecord) -> Result<(), StoreError>;
    /// Newest first, after the filter's cursor.
    async fn audit_page(&self, filter: &ActionFilter) -> Result<Vec<ActionRecord>, StoreError>;
}

macro_rules! impl_audit {
    (store = $Store:ident $(,)?) => {
        #[async_trait::async_trait]
        impl $crate::store::AuditStore for $Store {
            async fn record_audit(
                &self,
                e: &$crate::store::ActionRecord,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO audit_log (id, at_ms, who, role, way, action, target, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&e.id)
                .bind(e.at_ms)
                .bind(&e.who)
                .bind(&e.role)
                .bind(&e.way)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.outcome)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn audit_page(
                &self,
                f: &$crate::store::ActionFilter,
            ) -> Result<Vec<$crate::store::ActionRecord>, $crate::store::StoreError> {
                let (at, id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
                // Without a cursor every entry is older than (MAX, ""), whatever its id.
                let first = f.before.is_none();
                Ok(sqlx::query_as(
                    "SELECT id, at_ms, who, role, way, action, target, outcome FROM audit_log \
                     WHERE ($1 IS NULL OR who = $1) AND ($2 IS NULL OR action = $2) \
                     AND ($3 OR (at_ms, id) < ($4, $5)) \
                     ORDER BY at_ms DESC, id DESC LIMIT $6",
                )
                .bind(f.who.as_deref())
                .bind(f.action.as_deref())
                .bind(first)
                .bind(at)
                .bind(id)
                .bind(f.limit.clamp(1, 1000))
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}
pub(crate) use impl_audit;
