//! The month's figures from the stored facts, pure: per agency and procedure, dossiers received
//! by channel, resolved early / on time / late (`codes.md`: the finish day against the due date
//! that counts, which is the appointment before the first apology round), refused, withdrawn,
//! stopped, in progress at the month's end, overdue now, digitised shares, postal orders and
//! satisfaction. A dossier with no due date of its own is given the procedure's (reception plus
//! the processing time in its units, from the catalog).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use super::calendar::{Calendar, ProcessingTime};
use crate::store::facts::{ENDED, TERMINAL};
use crate::store::{DossierFacts, PostalOutcome, SurveyFacts};

/// A calendar month (Vietnam time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Month, String> {
        let bad = || format!("month \"{s}\": expected YYYY-MM, e.g. 2026-11");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (year, month): (i32, u32) =
            (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if y.len() != 4 || m.len() != 2 || !digits(y) || !digits(m) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// The month `t` falls in, in Vietnam time.
    pub fn of(t: DateTime<Utc>) -> Month {
        let local = t.with_timezone(&crate::time::vietnam());
        Month {
            year: local.year(),
            month: local.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month")
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its start and the next month's, in milliseconds (Vietnam midnight).
    pub fn bounds_ms(self) -> (i64, i64) {
        (
            day_start_ms(self.first_day()),
            day_start_ms(self.next().first_day()),
        )
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Midnight of `d` in Vietnam time, in milliseconds.
pub fn day_start_ms(d: NaiveDate) -> i64 {
    crate::time::vietnam()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("UTC+7 has no gaps")
        .timestamp_millis()
}

/// The Vietnam date of an instant in milliseconds.
pub fn day_of(ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&crate::time::vietnam())
        .date_naive()
}

/// Per-channel counts (`KenhThucHien`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Channels {
    pub in_person: u64,
    pub online: u64,
    pub postal: u64,
    /// A channel code other than 1, 2, 3.
    pub other: u64,
    pub total: u64,
}

/// Dossiers resolved (status 9 or 10) in the month, by timeliness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Resolved {
    pub early: u64,
    pub on_time: u64,
    pub late: u64,
    /// Resolved with no due date at all (none sent, and the procedure's time unknown).
    pub undated: u64,
    pub total: u64,
}

/// Postal orders of the dossiers received in the month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Postal {
    pub collection_orders: u64,
    pub collected: u64,
    pub delivery_orders: u64,
    pub delivered: u64,
    /// Orders with a failure or cancel reported.
    pub alerts: u64,
}

/// The month's satisfaction figures as sent to the portal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Satisfaction {
    pub respondents: i64,
    pub very_satisfied: String,
    pub satisfied: String,
    pub unsatisfied: String,
}

/// One line of the report: an agency and procedure, or the total (empty names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub agency: String,
    pub procedure: String,
    pub received: Channels,
    pub resolved: Resolved,
    /// (early + on time) / resolved with a due date, in percent with two decimals.
    pub on_time_pct: Option<f64>,
    pub refused: u64,
    pub withdrawn: u64,
    pub stopped: u64,
    /// Received before the month's end and not ended by then.
    pub in_progress: u64,
    /// Not terminal (`codes.md`: `3`, `7`, `8`, `10`) and past the appointment (`NgayHenTra`),
    /// now.
    pub overdue_now: u64,
    /// Of those, how many have an apology round recorded.
    pub overdue_with_apology: u64,
    /// Received in the month with an appointment later than the procedure's time allows.
    pub beyond_statutory: u64,
    pub digitised_inputs: u64,
    /// Of the dossiers received in the month.
    pub digitised_inputs_pct: Option<f64>,
    pub digitised_results: u64,
    /// Of the dossiers resolved in the month.
    pub digitised_results_pct: Option<f64>,
    pub postal: Postal,
    pub satisfaction: Option<Satisfaction>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub month: String,
    pub agency: Option<String>,
    /// When "now" was (overdue counts), wire format.
    pub as_of: String,
    pub lines: Vec<Line>,
    pub total: Line,
}

/// Percent with two decimals; `None` for an empty base.
fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64) * 10_000.0 / (whole as f64)).round() / 100.0)
}

/// What the report needs besides the facts.
pub struct Inputs<'a> {
    pub month: Month,
    pub agency: Option<&'a str>,
    pub now_ms: i64,
    pub calendar: &'a Calendar,
    /// The processing time of a procedure for a channel, from the catalog.
    pub processing_time: &'a dyn Fn(&str, &str) -> Option<ProcessingTime>,
}

/// The procedure's due day for a dossier received at `received_ms`.
pub fn statutory_due(
    calendar: &Calendar,
    received_ms: i64,
    time: Option<ProcessingTime>,
) -> Option<NaiveDate> {
    let t = time?;
    Some(calendar.add(day_of(received_ms), t.amount, t.unit))
}

/// Early, on time or late (`codes.md`): finished before the due day, on it, after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeliness {
    Early,
    OnTime,
    Late,
}

pub fn timeliness(finished_ms: i64, due: NaiveDate) -> Timeliness {
    match day_of(finished_ms).cmp(&due) {
        std::cmp::Ordering::Less => Timeliness::Early,
        std::cmp::Ordering::Equal => Timeliness::OnTime,
        std::cmp::Ordering::Greater => Timeliness::Late,
    }
}

/// Builds the report.
pub fn build(
    inputs: &Inputs<'_>,
    facts: &[DossierFacts],
    postal: &[PostalOutcome],
    surveys: &[SurveyFacts],
) -> Report {
    let (from, to) = inputs.month.bounds_ms();
    let within = |t: Option<i64>| t.is_some_and(|t| t >= from && t < to);
    let mut lines: BTreeMap<(String, String), Line> = BTreeMap::new();
    for f in facts {
        let line = lines
            .entry((f.agency.clone(), f.procedure_code.clone()))
            .or_default();
        let status = f.status.as_str();
        let statutory = || {
            f.received_at.and_then(|r| {
                statutory_due(
                    inputs.calendar,
                    r,
                    (inputs.processing_time)(&f.procedure_code, &f.channel),
                )
            })
        };
        let due_day = f.due_at.map(day_of).or_else(statutory);
        if within(f.received_at) {
            let c = &mut line.received;
            match f.channel.as_str() {
                "1" => c.in_person += 1,
                "2" => c.online += 1,
                "3" => c.postal += 1,
                _ => c.other += 1,
            }
            c.total += 1;
            if f.digitised_inputs {
                line.digitised_inputs += 1;
            }
            if let (Some(own), Some(law)) = (f.due_at.map(day_of), statutory()) {
                if own > law {
                    line.beyond_statutory += 1;
                }
            }
        }
        if within(f.finished_at) {
            match status {
                "9" | "10" => {
                    let r = &mut line.resolved;
                    r.total += 1;
                    match due_day.map(|d| timeliness(f.finished_at.unwrap_or_default(), d)) {
                        Some(Timeliness::Early) => r.early += 1,
                        Some(Timeliness::OnTime) => r.on_time += 1,
                        Some(Timeliness::Late) => r.late += 1,
                        None => r.undated += 1,
                    }
                    if f.digitised_results {
                        line.digitised_results += 1;
                    }
                }
                "3" => line.refused += 1,
                "7" => line.withdrawn += 1,
                "8" => line.stopped += 1,
                _ => {}
            }
        }
        let received_by_end = f.received_at.is_some_and(|r| r < to);
        let ended_by_end = ENDED.contains(&status) && f.finished_at.is_none_or(|e| e < to);
        if received_by_end && !ended_by_end {
            line.in_progress += 1;
        }
        if received_by_end
            && !TERMINAL.contains(&status)
            && f.appointment_at.is_some_and(|d| d < inputs.now_ms)
        {
            line.overdue_now += 1;
            if f.apologies > 0 {
                line.overdue_with_apology += 1;
            }
        }
    }
    for p in postal {
        let line = lines
            .entry((p.agency.clone(), p.procedure_code.clone()))
            .or_default();
        let (orders, done, alerts) = (p.orders as u64, p.done as u64, p.alerts as u64);
        if p.order_type == "1" {
            line.postal.collection_orders += orders;
            line.postal.collected += done;
        } else {
            line.postal.delivery_orders += orders;
            line.postal.delivered += done;
        }
        line.postal.alerts += alerts;
    }
    for s in surveys {
        let line = lines
            .entry((s.agency.clone(), s.procedure_code.clone()))
            .or_default();
        line.satisfaction = Some(Satisfaction {
            respondents: s.respondents,
            very_satisfied: s.very_satisfied.clone(),
            satisfied: s.satisfied.clone(),
            unsatisfied: s.unsatisfied.clone(),
        });
    }
    let mut total = Line::default();
    let mut out = Vec::with_capacity(lines.len());
    for ((agency, procedure), mut line) in lines {
        line.agency = agency;
        line.procedure = procedure;
        add(&mut total, &line);
        finish(&mut line);
        out.push(line);
    }
    finish(&mut total);
    Report {
        month: inputs.month.to_string(),
        agency: inputs.agency.map(str::to_string),
        as_of: DateTime::<Utc>::from_timestamp_millis(inputs.now_ms)
            .map(crate::time::to_wire)
            .unwrap_or_default(),
        lines: out,
        total,
    }
}

fn add(total: &mut Line, l: &Line) {
    let (t, r) = (&mut total.received, &l.received);
    t.in_person += r.in_person;
    t.online += r.online;
    t.postal += r.postal;
    t.other += r.other;
    t.total += r.total;
    let (t, r) = (&mut total.resolved, &l.resolved);
    t.early += r.early;
    t.on_time += r.on_time;
    t.late += r.late;
    t.undated += r.undated;
    t.total += r.total;
    total.refused += l.refused;
    total.withdrawn += l.withdrawn;
    total.stopped += l.stopped;
    total.in_progress += l.in_progress;
    total.overdue_now += l.overdue_now;
    total.overdue_with_apology += l.overdue_with_apology;
    total.beyond_statutory += l.beyond_statutory;
    total.digitised_inputs += l.digitised_inputs;
    total.digitised_results += l.digitised_results;
    let (t, p) = (&mut total.postal, &l.postal);
    t.collection_orders += p.collection_orders;
    t.collected += p.collected;
    t.delivery_orders += p.delivery_orders;
    t.delivered += p.delivered;
    t.alerts += p.alerts;
    if let Some(s) = &l.satisfaction {
        let t = total.satisfaction.get_or_insert_with(Satisfaction::default);
        t.respondents += s.respondents;
    }
}

fn finish(l: &mut Line) {
    let dated = l.resolved.total - l.resolved.undated;
    l.on_time_pct = pct(l.resolved.early + l.resolved.on_time, dated);
    l.digitised_inputs_pct = pct(l.digitised_inputs, l.received.total);
    l.digitised_results_pct = pct(l.digitised_results, l.resolved.total);
}
