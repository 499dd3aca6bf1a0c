//! The report and the overdue list from the store: reads the facts, the procedures' processing
//! times from the catalog, and hands them to [`super::figures`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::calendar::{processing_time, Calendar, ProcessingTime, Unit};
use super::config::ReportConfig;
use super::figures::{self, day_of, day_start_ms, Month, Report};
use crate::store::prelude::*;
use crate::store::{DossierFacts, StoreError};

/// One dossier of the overdue list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverdueDossier {
    pub dossier: String,
    pub agency: String,
    pub procedure: String,
    pub status: String,
    /// The due date that counts for lateness (before any apology), wire format.
    pub due: String,
    /// The appointment now (`NgayHenTra`), wire format: overdue once it has passed.
    pub appointment: String,
    /// `overdue` or `due_soon`.
    pub state: &'static str,
    /// Working days past the appointment (0 on it or before).
    pub working_days_late: i64,
    pub apologies: i64,
}

/// Reports over one store.
pub struct Reports {
    store: Arc<dyn Store>,
    config: ReportConfig,
    calendar: Calendar,
}

fn wire(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(crate::time::to_wire)
        .unwrap_or_default()
}

impl Reports {
    pub fn new(store: Arc<dyn Store>, config: ReportConfig) -> Self {
        let calendar = Calendar::new(&config.calendar);
        Self {
            store,
            config,
            calendar,
        }
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The processing times of these procedures per channel, from the catalog's latest
    /// versions (procedures the catalog does not hold have none).
    async fn processing_times(
        &self,
        codes: BTreeSet<&str>,
    ) -> Result<HashMap<(String, String), ProcessingTime>, StoreError> {
        let current = self.store.catalog_current().await?;
        let mut out = HashMap::new();
        for p in current.iter().filter(|p| codes.contains(p.code.as_str())) {
            let Some(object) = self.store.catalog_object(&p.code, p.version).await? else {
                continue;
            };
            let Ok(object) = serde_json::from_str::<serde_json::Value>(&object) else {
                continue;
            };
            for channel in ["1", "2", "3"] {
                if let Some(t) = processing_time(&object, channel) {
                    out.insert((p.code.clone(), channel.to_string()), t);
                }
            }
        }
        Ok(out)
    }

    /// The report of `month` (of `agency`), with overdue counts as of `now_ms`.
    pub async fn month(
        &self,
        month: Month,
        agency: Option<&str>,
        now_ms: i64,
    ) -> Result<Report, StoreError> {
        let (from, to) = month.bounds_ms();
        let facts = self.store.report_facts(from, to, agency).await?;
        let postal = self.store.postal_outcomes(from, to, agency).await?;
        let surveys = self.store.survey_facts(&month.to_string(), agency).await?;
        let codes: BTreeSet<&str> = facts.iter().map(|f| f.procedure_code.as_str()).collect();
        let times = self.processing_times(codes).await?;
        let lookup = |code: &str, channel: &str| {
            times.get(&(code.to_string(), channel.to_string())).copied()
        };
        let inputs = figures::Inputs {
            month,
            agency,
            now_ms,
            calendar: &self.calendar,
            processing_time: &lookup,
        };
        Ok(figures::build(&inputs, &facts, &postal, &surveys))
    }

    /// Dossiers overdue at `now_ms` (`codes.md`: not terminal, appointment `NgayHenTra`
    /// passed), and those whose appointment falls within `report.due_soon_working_days` working
    /// days, the earliest first.
    pub async fn overdue(
        &self,
        agency: Option<&str>,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<OverdueDossier>, StoreError> {
        let today = day_of(now_ms);
        let horizon =
            self.calendar
                .add(today, self.config.due_soon_working_days, Unit::WorkingDays);
        let until = day_start_ms(horizon.succ_opt().unwrap_or(horizon));
        let rows = self.store.due_facts(until, agency, limit).await?;
        Ok(rows.iter().map(|f| self.entry(f, now_ms)).collect())
    }

    fn entry(&self, f: &DossierFacts, now_ms: i64) -> OverdueDossier {
        let due = f.appointment_at.unwrap_or(i64::MAX);
        let overdue = due < now_ms;
        OverdueDossier {
            dossier: f.dossier.clone(),
            agency: f.agency.clone(),
            procedure: f.procedure_code.clone(),
            status: f.status.clone(),
            due: wire(f.due_at),
            appointment: wire(f.appointment_at),
            state: if overdue { "overdue" } else { "due_soon" },
            working_days_late: if overdue {
                self.calendar
                    .working_days_between(day_of(due), day_of(now_ms))
                    .max(0)
            } else {
                0
            },
            apologies: f.apologies,
        }
    }

    /// Dossiers overdue now (of `agency`), and how many of them have no apology recorded.
    pub async fn overdue_counts(
        &self,
        now_ms: i64,
        agency: Option<&str>,
    ) -> Result<(i64, i64), StoreError> {
        self.store.overdue_counts(now_ms, agency).await
    }
}
