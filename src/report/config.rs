//! `[report]`: the working-day calendar deadlines are counted in, and how far ahead the overdue
//! list looks.

use serde::{Deserialize, Serialize};

use super::calendar::CalendarConfig;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Public holidays and make-up working days (`[report.calendar]`).
    pub calendar: CalendarConfig,
    /// The overdue list also shows dossiers due within this many working days.
    pub due_soon_working_days: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            calendar: CalendarConfig::default(),
            due_soon_working_days: 2,
        }
    }
}

impl ReportConfig {
    pub fn check(&self) -> Vec<String> {
        let mut problems = self.calendar.check("report.calendar");
        if self.due_soon_working_days > 60 {
            problems.push(format!(
                "report.due_soon_working_days: {} is more than 60",
                self.due_soon_working_days
            ));
        }
        problems
    }
}
