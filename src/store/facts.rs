//! What the portal should hold of each dossier, as this gateway last queued it
//! (`dossier_facts`), and the monthly satisfaction figures (`survey_facts`): written by ingest in
//! the transaction that queues the messages they come from, read by the service report, the
//! overdue list and reconciliation. A header replaces its dossier's row; a step moves its status
//! (and when it finished or was returned), as the portal keeps the last step it received as the
//! dossier's state. What the fields mean is the caller's (the portal family's `facts.rs`, through `peer::registry::facts`); this module
//! stores and selects.

use serde::Serialize;

use super::StoreError;

/// One dossier as last queued for the portal. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DossierFacts {
    pub dossier: String,
    /// The source that sent it (filled in by ingest).
    pub source: String,
    /// The agency identifier that registered it (the first part of its code).
    pub agency: String,
    /// The day it was registered, `yyyymmdd` (from its code).
    pub registered_on: i64,
    pub procedure_code: String,
    /// `KenhThucHien`: `1` in person, `2` online, `3` postal.
    pub channel: String,
    /// The portal status it should have now (`1`..`10`).
    pub status: String,
    pub received_at: Option<i64>,
    /// The appointment now (`NgayHenTra`).
    pub appointment_at: Option<i64>,
    /// The due date that counts for lateness: the appointment before the first apology round.
    pub due_at: Option<i64>,
    /// Apology rounds recorded (supplement rounds that apologise with a new appointment).
    pub apologies: i64,
    /// When it ended: processing finished (`9`, `10`), refused (`3`), withdrawn (`7`) or stopped
    /// (`8`); `None` while it is open.
    pub finished_at: Option<i64>,
    /// When the result was handed over (`10`).
    pub returned_at: Option<i64>,
    /// The result goes by post.
    pub by_post: bool,
    pub digitised_inputs: bool,
    /// At least one result document was issued as a file.
    pub digitised_results: bool,
    pub updated_at: i64,
}

/// One month's satisfaction figures for a procedure at an agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SurveyFacts {
    /// `YYYY-MM`.
    pub month: String,
    pub procedure_code: String,
    pub agency: String,
    pub respondents: i64,
    pub very_satisfied: String,
    pub satisfied: String,
    pub unsatisfied: String,
}

/// What one queued message says about its dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactsUpdate {
    /// A header: the dossier's whole row (its `source` and `updated_at` are set by ingest).
    Header(DossierFacts),
    /// A step: the dossier's status from then on, and when it happened.
    Step {
        dossier: String,
        status: String,
        at_ms: Option<i64>,
    },
    Survey(SurveyFacts),
}

/// Terminal statuses (`codes.md`): a dossier in one of them is never overdue.
pub const TERMINAL: [&str; 4] = ["3", "7", "8", "10"];
/// Statuses that end processing (finished, returned, refused, withdrawn, stopped).
pub const ENDED: [&str; 5] = ["3", "7", "8", "9", "10"];

/// The steps of one dossier in one write, folded into one update of its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StepFold {
    pub dossier: String,
    pub status: String,
    /// Whether the stored ending times are kept when set (no reopening step in this write).
    pub keep_ended: bool,
    pub finished_at: Option<i64>,
    pub keep_returned: bool,
    pub returned_at: Option<i64>,
}

/// Folds steps (in send order) per dossier: the last status wins; the end time is the time of
/// the first ending step after the last step that reopened the dossier (or the stored one when
/// none reopened it); likewise the return time for `10`.
pub(crate) fn fold_steps(updates: &[FactsUpdate]) -> Vec<StepFold> {
    let mut out: Vec<StepFold> = Vec::new();
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for u in updates {
        let FactsUpdate::Step {
            dossier,
            status,
            at_ms,
        } = u
        else {
            continue;
        };
        let i = *at.entry(dossier.as_str()).or_insert_with(|| {
            out.push(StepFold {
                dossier: dossier.clone(),
                status: String::new(),
                keep_ended: true,
                finished_at: None,
                keep_returned: true,
                returned_at: None,
            });
            out.len() - 1
        });
        let f = &mut out[i];
        f.status = status.clone();
        if ENDED.contains(&status.as_str()) {
            if f.finished_at.is_none() {
                f.finished_at = *at_ms;
            }
        } else {
            f.keep_ended = false;
            f.finished_at = None;
        }
        if status == "10" {
            if f.returned_at.is_none() {
                f.returned_at = *at_ms;
            }
        } else {
            f.keep_returned = false;
            f.returned_at = None;
        }
    }
    out
}

/// A postal order of a dossier in the report's range, with its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PostalOutcome {
    pub agency: String,
    pub procedure_code: String,
    pub order_type: String,
    pub orders: i64,
    /// Collected (a collection order) or delivered (a delivery order).
    pub done: i64,
    /// Orders with a failure or cancel alert.
    pub alerts: i64,
}

/// Reads of the facts.
#[async_trait::async_trait]
pub trait FactsStore: Send + Sync {
    /// Dossiers that matter to a report of `[from_ms, to_ms)`: received or ended in it, or
    /// received before its end and still open at its end (or now); of `agency` when given.
    async fn report_facts(
        &self,
        from_ms: i64,
        to_ms: i64,
        agency: Option<&str>,
    ) -> Result<Vec<DossierFacts>, StoreError>;
    /// Postal orders of dossiers received in `[from_ms, to_ms)`, per agency, procedure and type.
    async fn postal_outcomes(
        &self,
        from_ms: i64,
        to_ms: i64,
        agency: Option<&str>,
    ) -> Result<Vec<PostalOutcome>, StoreError>;
    /// The satisfaction figures of `month` (`YYYY-MM`).
    async fn survey_facts(
        &self,
        month: &str,
        agency: Option<&str>,
    ) -> Result<Vec<SurveyFacts>, StoreError>;
    /// Dossiers not terminal (`codes.md`) whose appointment (`NgayHenTra`) is before
    /// `due_before_ms`, earliest first.
    async fn due_facts(
        &self,
        due_before_ms: i64,
        agency: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DossierFacts>, StoreError>;
    /// Dossiers overdue at `now_ms` (not terminal, appointment passed), and how many of them have
    /// no apology round; of `agency` when given.
    async fn overdue_counts(
        &self,
        now_ms: i64,
        agency: Option<&str>,
    ) -> Result<(i64, i64), StoreError>;
    /// One dossier's facts.
    async fn dossier_facts(&self, dossier: &str) -> Result<Option<DossierFacts>, StoreError>;
}

/// The columns of `dossier_facts`, in the order [`DossierFacts`] binds them.
macro_rules! facts_columns {
    () => {
        "dossier, source, agency, registered_on, procedure_code, channel, status, received_at, \
         appointment_at, due_at, apologies, finished_at, returned_at, by_post, digitised_inputs, \
         digitised_results, updated_at"
    };
}
pub(crate) use facts_columns;

macro_rules! impl_facts {
    (
        store = $Store:ident,
        db = $Db:ty $(,)?
    ) => {
        /// Writes what ingest's messages say of their dossiers, in ingest's transaction: headers
        /// (the last of a dossier in this write wins) replace rows, steps move them, surveys
        /// replace theirs.
        async fn write_facts(
            tx: &mut sqlx::Transaction<'static, $Db>,
            source: &str,
            updates: &[$crate::store::FactsUpdate],
            now_ms: i64,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::store::ingest::row_params;
            use $crate::store::FactsUpdate;
            if updates.is_empty() {
                return Ok(());
            }
            let mut headers: Vec<&$crate::store::DossierFacts> = Vec::new();
            let mut index: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::new();
            for u in updates {
                if let FactsUpdate::Header(f) = u {
                    match index.get(f.dossier.as_str()) {
                        Some(&i) => headers[i] = f,
                        None => {
                            index.insert(f.dossier.as_str(), headers.len());
                            headers.push(f);
                        }
                    }
                }
            }
            for part in headers.chunks(<$Store>::PARAMS_PER_STATEMENT / 17) {
                let sql = format!(
                    "INSERT INTO dossier_facts ({}) VALUES {} ON CONFLICT (dossier) DO UPDATE SET \
                     source = excluded.source, agency = excluded.agency, \
                     registered_on = excluded.registered_on, \
                     procedure_code = excluded.procedure_code, channel = excluded.channel, \
                     status = excluded.status, received_at = excluded.received_at, \
                     appointment_at = excluded.appointment_at, due_at = excluded.due_at, \
                     apologies = excluded.apologies, finished_at = excluded.finished_at, \
                     returned_at = excluded.returned_at, by_post = excluded.by_post, \
                     digitised_inputs = excluded.digitised_inputs, \
                     digitised_results = excluded.digitised_results, \
                     updated_at = excluded.updated_at",
                    $crate::store::facts::facts_columns!(),
                    row_params(<$Store>::ANONYMOUS_PARAMS, part.len(), 17)
                );
                let mut q = sqlx::query(&sql);
                for f in part {
                    q = q
                        .bind(&f.dossier)
                        .bind(source)
                        .bind(&f.agency)
                        .bind(f.registered_on)
                        .bind(&f.procedure_code)
                        .bind(&f.channel)
                        .bind(&f.status)
                        .bind(f.received_at)
                        .bind(f.appointment_at)
                        .bind(f.due_at)
                        .bind(f.apologies)
                        .bind(f.finished_at)
                        .bind(f.returned_at)
                        .bind(f.by_post)
                        .bind(f.digitised_inputs)
                        .bind(f.digitised_results)
                        .bind(now_ms);
                }
                q.execute(&mut **tx).await?;
            }
            for s in $crate::store::facts::fold_steps(updates) {
                sqlx::query(
                    "UPDATE dossier_facts SET status = $2, \
                     finished_at = CASE WHEN $3 THEN COALESCE(finished_at, $4) ELSE $4 END, \
                     returned_at = CASE WHEN $5 THEN COALESCE(returned_at, $6) ELSE $6 END, \
                     updated_at = $7 WHERE dossier = $1",
                )
                .bind(&s.dossier)
                .bind(&s.status)
                .bind(s.keep_ended)
                .bind(s.finished_at)
                .bind(s.keep_returned)
                .bind(s.returned_at)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
            }
            for u in updates {
                if let FactsUpdate::Survey(s) = u {
                    sqlx::query(
                        "INSERT INTO survey_facts (month, procedure_code, agency, respondents, \
                         very_satisfied, satisfied, unsatisfied, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (month, procedure_code, agency) DO UPDATE SET \
                         respondents = excluded.respondents, \
                         very_satisfied = excluded.very_satisfied, \
                         satisfied = excluded.satisfied, unsatisfied = excluded.unsatisfied, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(&s.month)
                    .bind(&s.procedure_code)
                    .bind(&s.agency)
                    .bind(s.respondents)
                    .bind(&s.very_satisfied)
                    .bind(&s.satisfied)
                    .bind(&s.unsatisfied)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::store::FactsStore for $Store {
            async fn report_facts(
                &self,
                from_ms: i64,
                to_ms: i64,
                agency: Option<&str>,
            ) -> Result<Vec<$crate::store::DossierFacts>, $crate::store::StoreError> {
                // Three disjoint, index-friendly parts instead of one OR the planner would
                // scan for: received in the range; ended in it but received outside it; received
                // before it and not ended by its end.
                let sql = format!(
                    "SELECT {c} FROM dossier_facts WHERE received_at >= $1 AND received_at < $2 \
                     AND ($3 IS NULL OR agency = $3) \
                     UNION ALL SELECT {c} FROM dossier_facts WHERE finished_at >= $1 \
                     AND finished_at < $2 AND (received_at IS NULL OR received_at < $1 \
                     OR received_at >= $2) AND ($3 IS NULL OR agency = $3) \
                     UNION ALL SELECT {c} FROM dossier_facts WHERE received_at < $1 \
                     AND (finished_at IS NULL OR finished_at >= $2) \
                     AND ($3 IS NULL OR agency = $3)",
                    c = $crate::store::facts::facts_columns!()
                );
                Ok(sqlx::query_as(&sql)
                    .bind(from_ms)
                    .bind(to_ms)
                    .bind(agency)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn postal_outcomes(
                &self,
                from_ms: i64,
                to_ms: i64,
                agency: Option<&str>,
            ) -> Result<Vec<$crate::store::PostalOutcome>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT f.agency, f.procedure_code, o.order_type, COUNT(*) AS orders, \
                     SUM(CASE WHEN (o.order_type = '1' AND o.collected_at IS NOT NULL) \
                     OR (o.order_type <> '1' AND o.delivered_at IS NOT NULL) \
                     THEN 1 ELSE 0 END) AS done, \
                     SUM(CASE WHEN o.alert IS NOT NULL THEN 1 ELSE 0 END) AS alerts \
                     FROM postal_orders o JOIN dossier_facts f ON f.dossier = o.order_number \
                     WHERE f.received_at >= $1 AND f.received_at < $2 \
                     AND ($3 IS NULL OR f.agency = $3) \
                     GROUP BY f.agency, f.procedure_code, o.order_type \
                     ORDER BY f.agency, f.procedure_code, o.order_type",
                )
                .bind(from_ms)
                .bind(to_ms)
                .bind(agency)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn survey_facts(
                &self,
                month: &str,
                agency: Option<&str>,
            ) -> Result<Vec<$crate::store::SurveyFacts>, $crate::store::StoreError> {
                Ok(sqlx::query_as(
                    "SELECT month, procedure_code, agency, respondents, very_satisfied, \
                     satisfied, unsatisfied FROM survey_facts WHERE month = $1 \
                     AND ($2 IS NULL OR agency = $2) ORDER BY agency, procedure_code",
                )
                .bind(month)
                .bind(agency)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn due_facts(
                &self,
                due_before_ms: i64,
                agency: Option<&str>,
                limit: i64,
            ) -> Result<Vec<$crate::store::DossierFacts>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {} FROM dossier_facts WHERE status NOT IN ('3', '7', '8', '10') \
                     AND appointment_at < $1 AND ($2 IS NULL OR agency = $2) \
                     ORDER BY appointment_at, dossier LIMIT $3",
                    $crate::store::facts::facts_columns!()
                );
                Ok(sqlx::query_as(&sql)
                    .bind(due_before_ms)
                    .bind(agency)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn overdue_counts(
                &self,
                now_ms: i64,
                agency: Option<&str>,
            ) -> Result<(i64, i64), $crate::store::StoreError> {
                let (all, without): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT COUNT(*), SUM(CASE WHEN apologies = 0 THEN 1 ELSE 0 END) \
                     FROM dossier_facts WHERE status NOT IN ('3', '7', '8', '10') \
                     AND appointment_at < $1 AND ($2 IS NULL OR agency = $2)",
                )
                .bind(now_ms)
                .bind(agency)
                .fetch_one(&self.pool)
                .await?;
                Ok((all, without.unwrap_or(0)))
            }

            async fn dossier_facts(
                &self,
                dossier: &str,
            ) -> Result<Option<$crate::store::DossierFacts>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {} FROM dossier_facts WHERE dossier = $1",
                    $crate::store::facts::facts_columns!()
                );
                Ok(sqlx::query_as(&sql)
                    .bind(dossier)
                    .fetch_optional(&self.pool)
                    .await?)
            }
        }
    };
}

pub(crate) use impl_facts;

#[cfg(test)]
mod tests {
    use super::*;

    fn step(d: &str, s: &str, at: i64) -> FactsUpdate {
        FactsUpdate::Step {
            dossier: d.into(),
            status: s.into(),
            at_ms: Some(at),
        }
    }

    #[test]
    fn steps_fold_per_dossier_last_status_first_end_after_reopening() {
        let folds = fold_steps(&[
            step("A", "4", 1),
            step("B", "9", 2),
            step("A", "9", 3),
            step("B", "10", 4),
            step("A", "10", 5),
        ]);
        assert_eq!(folds.len(), 2);
        let a = &folds[0];
        assert_eq!((a.dossier.as_str(), a.status.as_str()), ("A", "10"));
        // A was reopened (4) in this write: its end is this write's first ending step.
        assert!(!a.keep_ended);
        assert_eq!(a.finished_at, Some(3));
        assert!(!a.keep_returned);
        assert_eq!(a.returned_at, Some(5));
        let b = &folds[1];
        // B only moved on: an end stored earlier is kept.
        assert!(b.keep_ended);
        assert_eq!(b.finished_at, Some(2));
        assert!(!b.keep_returned, "9 before 10 resets the return");
        assert_eq!(b.returned_at, Some(4));
    }

    #[test]
    fn a_reopening_step_clears_the_end() {
        let f = &fold_steps(&[step("A", "9", 1), step("A", "4", 2)])[0];
        assert_eq!(f.status, "4");
        assert!(!f.keep_ended);
        assert_eq!(f.finished_at, None);
    }
}
