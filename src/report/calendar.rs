//! Deadlines in a procedure's own units: working days (Monday to Friday, minus public holidays,
//! plus the weekend make-up days the government announces) or calendar days, and the
//! processing time a portal procedure states for a channel.
//!
//! Pure: no I/O and no clock. Callers pass the dates (Vietnam-time calendar dates, see
//! [`crate::time`]) and the configured holidays; nothing here reads the current date.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The province's working calendar, as configured. Dates are `"2026-09-02"` strings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Public holidays: no work, even on a weekday. A holiday falling on a weekend gives a day
    /// off in lieu; list that day too, it is not derived.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Saturdays and Sundays that are official working days, worked in exchange for a bridge
    /// day off.
    #[serde(default)]
    pub make_up_days: Vec<NaiveDate>,
}

impl CalendarConfig {
    /// Problems with the lists, each naming the entry (`{at}.holidays[i]`) and its value; empty
    /// when the calendar is usable as it is.
    pub fn check(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, d) in self.holidays.iter().enumerate() {
            if let Some(j) = self.holidays[..i].iter().position(|e| e == d) {
                problems.push(format!(
                    "{at}.holidays[{i}] = {d} is listed twice (also {at}.holidays[{j}])"
                ));
            }
        }
        for (i, d) in self.make_up_days.iter().enumerate() {
            if let Some(j) = self.make_up_days[..i].iter().position(|e| e == d) {
                problems.push(format!(
                    "{at}.make_up_days[{i}] = {d} is listed twice (also {at}.make_up_days[{j}])"
                ));
            }
            if !is_weekend(*d) {
                problems.push(format!(
                    "{at}.make_up_days[{i}] = {d} is a {:?}: a make-up day is a Saturday or Sunday worked in place of a day off",
                    d.weekday()
                ));
            }
            if let Some(j) = self.holidays.iter().position(|h| h == d) {
                problems.push(format!(
                    "{at}.make_up_days[{i}] = {d} is also a holiday ({at}.holidays[{j}]); a day is one or the other"
                ));
            }
        }
        problems
    }
}

/// Working days, ready to count with. Built once from the config; lookups never allocate.
///
/// A day is a working day when it is Monday to Friday and not a holiday, or when it is a
/// make-up day (a make-up day wins over a holiday; [`CalendarConfig::check`] reports the
/// clash). Only the days where that differs from the plain Monday-to-Friday rule are kept.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// Sorted, distinct days whose status differs from the Monday-to-Friday rule.
    exceptions: Vec<NaiveDate>,
    /// `net[i]`: working days gained (make-up weekends) minus lost (weekday holidays) over
    /// `exceptions[..i]`, so a range's correction is two binary searches, not a scan.
    net: Vec<i64>,
}

impl Calendar {
    pub fn new(config: &CalendarConfig) -> Self {
        let is_working = |d: NaiveDate| {
            config.make_up_days.contains(&d) || (!is_weekend(d) && !config.holidays.contains(&d))
        };
        let mut exceptions: Vec<NaiveDate> = config
            .holidays
            .iter()
            .chain(&config.make_up_days)
            .copied()
            .filter(|d| is_working(*d) == is_weekend(*d))
            .collect();
        exceptions.sort_unstable();
        exceptions.dedup();
        let mut net = Vec::with_capacity(exceptions.len() + 1);
        net.push(0);
        let mut sum = 0;
        for d in &exceptions {
            sum += if is_weekend(*d) { 1 } else { -1 };
            net.push(sum);
        }
        Calendar { exceptions, net }
    }

    /// Whether `d` is a working day (see [`Calendar`]).
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        is_weekend(d) == self.exceptions.binary_search(&d).is_ok()
    }

    /// The date `n` units after `start`; `n = 0` is `start`. Working days count only working
    /// days after `start` (Friday + 1 is Monday, or Tuesday when Monday is a holiday); calendar
    /// days simply add. Saturates at [`NaiveDate::MAX`] rather than overflowing.
    pub fn add(&self, start: NaiveDate, n: u32, unit: Unit) -> NaiveDate {
        match unit {
            Unit::CalendarDays => start
                .checked_add_days(Days::new(u64::from(n)))
                .unwrap_or(NaiveDate::MAX),
            Unit::WorkingDays => {
                let mut d = start;
                let mut left = n;
                while left > 0 {
                    let Some(next) = d.succ_opt() else { return d };
                    d = next;
                    if self.is_working_day(d) {
                        left -= 1;
                    }
                }
                d
            }
        }
    }

    /// Working days in `(from, to]`; negative (minus the working days in `(to, from]`) when
    /// `to < from`. So `working_days_between(s, add(s, n, WorkingDays)) == n`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        self.working_days_up_to(to) - self.working_days_up_to(from)
    }

    /// Working days from a fixed origin up to and including `d` (any origin will do: only
    /// differences are used). Closed form, since reports span years of dossiers.
    fn working_days_up_to(&self, d: NaiveDate) -> i64 {
        // 0001-01-01 (day 1 from the common era) is a Monday: weeks are aligned on it.
        let days = i64::from(d.num_days_from_ce());
        let weekdays = 5 * days.div_euclid(7) + days.rem_euclid(7).min(5);
        let seen = self.exceptions.partition_point(|e| *e <= d);
        weekdays + self.net[seen]
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The unit of a procedure's processing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    WorkingDays,
    CalendarDays,
}

impl Unit {
    /// Reads the portal's `DONVITINH`: "Ngày làm việc" is working days, "Ngày" calendar days.
    /// Case, surrounding and repeated spaces, Unicode composition (NFC or NFD) and missing
    /// diacritics ("ngay lam viec") do not matter; anything else is `None`.
    pub fn parse(s: &str) -> Option<Unit> {
        let folded: String = s.to_lowercase().nfc().collect();
        let words = folded.split_whitespace();
        let is = |form: &[&str]| words.clone().eq(form.iter().copied());
        if is(&["ngày", "làm", "việc"]) || is(&["ngay", "lam", "viec"]) {
            Some(Unit::WorkingDays)
        } else if is(&["ngày"]) || is(&["ngay"]) {
            Some(Unit::CalendarDays)
        } else {
            None
        }
    }
}

/// How long a procedure takes, as the portal states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingTime {
    pub amount: u32,
    pub unit: Unit,
}

/// The processing time of a portal procedure (`LayThuTuc` object, upper-case keys) for a
/// channel (`KENH`: "1" in person, "2" online, "3" postal).
///
/// Takes the `CACHTHUCTHUCHIEN` entry of that channel, or the first entry when none matches,
/// then its first `THOIGIAN` whose `THOIGIANGIAIQUYET` is a whole number (string or number;
/// "0,5" and "0.5" are not) and whose `DONVITINH` is a known [`Unit`]. `None` when nothing
/// there is usable.
pub fn processing_time(procedure: &serde_json::Value, channel: &str) -> Option<ProcessingTime> {
    let ways = procedure.get("CACHTHUCTHUCHIEN")?.as_array()?;
    let way = ways
        .iter()
        .find(|w| w.get("KENH").is_some_and(|k| is_channel(k, channel)))
        .or_else(|| ways.first())?;
    way.get("THOIGIAN")?.as_array()?.iter().find_map(|t| {
        Some(ProcessingTime {
            amount: whole_number(t.get("THOIGIANGIAIQUYET")?)?,
            unit: Unit::parse(t.get("DONVITINH")?.as_str()?)?,
        })
    })
}

fn is_channel(kenh: &serde_json::Value, channel: &str) -> bool {
    match kenh {
        serde_json::Value::String(s) => s.trim() == channel.trim(),
        serde_json::Value::Number(n) => n.as_u64().is_some_and(|n| channel.trim() == n.to_string()),
        _ => false,
    }
}

/// The longest processing time taken as a deadline (ten years of days): a larger amount in a
/// catalog entry is a typing error, and counting it day by day would stall every report.
const MAX_AMOUNT: u32 = 3650;

fn whole_number(v: &serde_json::Value) -> Option<u32> {
    let n = match v {
        serde_json::Value::String(s) => {
            let s = s.trim();
            // `u32::from_str` takes a leading '+'; the portal's amounts are bare digits.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }?;
    (n <= MAX_AMOUNT).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn calendar(holidays: &[&str], make_up_days: &[&str]) -> Calendar {
        Calendar::new(&CalendarConfig {
            holidays: holidays.iter().map(|d| day(d)).collect(),
            make_up_days: make_up_days.iter().map(|d| day(d)).collect(),
        })
    }

    /// Counting one day at a time, straight from `is_working_day`.
    fn brute_between(c: &Calendar, from: NaiveDate, to: NaiveDate) -> i64 {
        let (lo, hi, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let n = lo
            .iter_days()
            .skip(1)
            .take_while(|d| *d <= hi)
            .filter(|d| c.is_working_day(*d))
            .count();
        sign * n as i64
    }

    #[test]
    fn friday_plus_one_working_day_is_monday_or_tuesday_after_a_monday_holiday() {
        let friday = day("2026-04-24");
        assert_eq!(friday.weekday(), Weekday::Fri);
        let plain = calendar(&[], &[]);
        assert_eq!(plain.add(friday, 1, Unit::WorkingDays), day("2026-04-27"));
        let monday_off = calendar(&["2026-04-27"], &[]);
        assert_eq!(
            monday_off.add(friday, 1, Unit::WorkingDays),
            day("2026-04-28")
        );
        // Starting on a weekend counts from the next working day too.
        assert_eq!(
            plain.add(day("2026-04-25"), 1, Unit::WorkingDays),
            day("2026-04-27")
        );
    }

    #[test]
    fn reunification_day_bridge_with_a_make_up_saturday() {
        // Thu 30/4 and Fri 1/5 off; Saturday 25/4 is worked in exchange.
        let c = calendar(&["2026-04-30", "2026-05-01"], &["2026-04-25"]);
        let friday = day("2026-04-24");
        // Sat 25 (1, make-up), Mon 27 (2), Tue 28 (3).
        assert_eq!(c.add(friday, 1, Unit::WorkingDays), day("2026-04-25"));
        assert_eq!(c.add(friday, 3, Unit::WorkingDays), day("2026-04-28"));
        // Wed 29 (4); Thu 30 and Fri 1 holidays, Sat 2 and Sun 3 weekend; Mon 4 (5), Tue 5 (6).
        assert_eq!(c.add(friday, 4, Unit::WorkingDays), day("2026-04-29"));
        assert_eq!(c.add(friday, 5, Unit::WorkingDays), day("2026-05-04"));
        assert_eq!(c.add(friday, 6, Unit::WorkingDays), day("2026-05-05"));
        assert!(c.is_working_day(day("2026-04-25")));
        assert!(!c.is_working_day(day("2026-04-26")));
        assert!(!c.is_working_day(day("2026-04-30")));
        assert!(c.is_working_day(day("2026-04-29")));
    }

    #[test]
    fn deadline_across_a_weekend_and_national_day() {
        // Received Thu 27/8/2026, 5 working days, Tue 1/9 and Wed 2/9 off:
        // Fri 28 (1), Sat 29 + Sun 30 weekend, Mon 31 (2), Tue 1 + Wed 2 holidays,
        // Thu 3 (3), Fri 4 (4), Sat 5 + Sun 6 weekend, Mon 7 (5) → due Mon 7/9/2026.
        let c = calendar(&["2026-09-01", "2026-09-02"], &[]);
        let received = day("2026-08-27");
        assert_eq!(received.weekday(), Weekday::Thu);
        let due = c.add(received, 5, Unit::WorkingDays);
        assert_eq!(due, day("2026-09-07"));
        assert_eq!(c.working_days_between(received, due), 5);
        // Without the holidays it would have been Thu 3/9.
        assert_eq!(
            calendar(&[], &[]).add(received, 5, Unit::WorkingDays),
            day("2026-09-03")
        );
    }

    #[test]
    fn calendar_days_simply_add_over_weekends_and_holidays() {
        let c = calendar(&["2026-04-30", "2026-05-01"], &[]);
        assert_eq!(
            c.add(day("2026-04-24"), 3, Unit::CalendarDays),
            day("2026-04-27")
        );
        assert_eq!(
            c.add(day("2026-04-29"), 2, Unit::CalendarDays),
            day("2026-05-01")
        );
        assert_eq!(
            c.add(day("2026-12-30"), 3, Unit::CalendarDays),
            day("2027-01-02")
        );
        assert_eq!(c.add(NaiveDate::MAX, 1, Unit::CalendarDays), NaiveDate::MAX);
    }

    #[test]
    fn zero_units_is_the_start_even_on_a_holiday() {
        let c = calendar(&["2026-09-02"], &[]);
        for unit in [Unit::WorkingDays, Unit::CalendarDays] {
            assert_eq!(c.add(day("2026-09-02"), 0, unit), day("2026-09-02"));
            assert_eq!(c.add(day("2026-09-05"), 0, unit), day("2026-09-05"));
        }
    }

    #[test]
    fn working_days_between_counts_both_directions() {
        let c = calendar(&["2026-09-01", "2026-09-02"], &["2026-08-29"]);
        let (thu, mon) = (day("2026-08-27"), day("2026-09-07"));
        // Fri 28, Sat 29 (make-up), Mon 31, Thu 3, Fri 4, Mon 7.
        assert_eq!(c.working_days_between(thu, mon), 6);
        assert_eq!(c.working_days_between(mon, thu), -6);
        assert_eq!(c.working_days_between(thu, thu), 0);
        // A plain weekend holds no working day; the range excludes `from`, includes `to`.
        assert_eq!(
            c.working_days_between(day("2026-09-04"), day("2026-09-06")),
            0
        );
        assert_eq!(
            c.working_days_between(day("2026-09-03"), day("2026-09-04")),
            1
        );
    }

    #[test]
    fn closed_form_agrees_with_counting_and_with_add() {
        let c = calendar(
            &[
                "2026-04-30",
                "2026-05-01",
                "2026-09-01",
                "2026-09-02",
                "2026-08-30",
            ],
            &["2026-04-25", "2026-08-29"],
        );
        let start = day("2026-04-01");
        for i in 0..200 {
            let from = start + Days::new(i);
            for n in 0..25u32 {
                let due = c.add(from, n, Unit::WorkingDays);
                assert_eq!(
                    c.working_days_between(from, due),
                    i64::from(n),
                    "{from} + {n}"
                );
            }
            for j in [0u64, 1, 6, 7, 40, 180] {
                let to = from + Days::new(j);
                assert_eq!(
                    c.working_days_between(from, to),
                    brute_between(&c, from, to),
                    "{from}..{to}"
                );
                assert_eq!(
                    c.working_days_between(to, from),
                    brute_between(&c, to, from),
                    "{to}..{from}"
                );
            }
        }
    }

    #[test]
    fn unit_parse_ignores_case_spacing_composition_and_diacritics() {
        for s in [
            "Ngày làm việc",
            "ngày làm việc",
            "NGÀY LÀM VIỆC",
            "  Ngày  làm việc ",
            "ngay lam viec",
            "Ngay Lam Viec",
        ] {
            assert_eq!(Unit::parse(s), Some(Unit::WorkingDays), "{s:?}");
        }
        let decomposed: String = "Ngày làm việc".nfd().collect();
        assert_ne!(decomposed, "Ngày làm việc");
        assert_eq!(Unit::parse(&decomposed), Some(Unit::WorkingDays));
        for s in ["Ngày", " ngày ", "NGÀY", "ngay"] {
            assert_eq!(Unit::parse(s), Some(Unit::CalendarDays), "{s:?}");
        }
        for s in ["", "Giờ", "Tháng", "Ngày làm", "ngày làm việc x", "days"] {
            assert_eq!(Unit::parse(s), None, "{s:?}");
        }
    }

    fn procedure(ways: serde_json::Value) -> serde_json::Value {
        json!({ "MATTHC": "1.000001", "CACHTHUCTHUCHIEN": ways })
    }

    fn way(kenh: serde_json::Value, amount: serde_json::Value, unit: &str) -> serde_json::Value {
        json!({ "KENH": kenh, "THOIGIAN": [{ "THOIGIANGIAIQUYET": amount, "DONVITINH": unit, "MOTA": "" }] })
    }

    #[test]
    fn processing_time_reads_the_portal_example() {
        // The shape of `result[0]` in the spec's dvcqg-LayThuTuc-response.json example, trimmed.
        let fees = json!([{ "MAPHILEPHI": "LP.GPXD.01", "SOTIEN": "37500", "DONVI": "Đồng" }]);
        let procedure = json!({ "CACHTHUCTHUCHIEN": [
            { "KENH": "1", "THOIGIAN": [{ "THOIGIANGIAIQUYET": "10", "DONVITINH": "Ngày làm việc",
                "MOTA": "Kể từ ngày nhận đủ hồ sơ hợp lệ", "PHILEPHI": fees }] },
            { "KENH": "2", "THOIGIAN": [{ "THOIGIANGIAIQUYET": "10", "DONVITINH": "Ngày làm việc",
                "MOTA": "Kể từ ngày nhận đủ hồ sơ hợp lệ", "PHILEPHI": fees }] },
        ]});
        assert_eq!(
            processing_time(&procedure, "2"),
            Some(ProcessingTime {
                amount: 10,
                unit: Unit::WorkingDays
            })
        );
    }

    #[test]
    fn processing_time_picks_the_channel_else_the_first_entry() {
        let p = procedure(json!([
            way(json!("1"), json!("15"), "Ngày làm việc"),
            way(json!("2"), json!(" 10 "), "Ngày"),
            way(json!(3), json!(20), "ngay lam viec"),
        ]));
        let time = |amount, unit| Some(ProcessingTime { amount, unit });
        assert_eq!(processing_time(&p, "1"), time(15, Unit::WorkingDays));
        assert_eq!(processing_time(&p, "2"), time(10, Unit::CalendarDays));
        assert_eq!(processing_time(&p, "3"), time(20, Unit::WorkingDays));
        assert_eq!(processing_time(&p, "9"), time(15, Unit::WorkingDays));
    }

    #[test]
    fn processing_time_takes_the_first_usable_thoigian() {
        let p = procedure(json!([{ "KENH": "1", "THOIGIAN": [
            { "THOIGIANGIAIQUYET": "0,5", "DONVITINH": "Ngày" },
            { "THOIGIANGIAIQUYET": "3", "DONVITINH": "Giờ" },
            { "THOIGIANGIAIQUYET": "7", "DONVITINH": "Ngày" },
            { "THOIGIANGIAIQUYET": "9", "DONVITINH": "Ngày làm việc" },
        ]}]));
        assert_eq!(
            processing_time(&p, "1"),
            Some(ProcessingTime {
                amount: 7,
                unit: Unit::CalendarDays
            })
        );
    }

    #[test]
    fn processing_time_rejects_what_is_not_a_whole_number_of_known_units() {
        for amount in [
            json!("abc"),
            json!("0.5"),
            json!("0,5"),
            json!(0.5),
            json!(""),
            json!("-1"),
            json!("+10"),
            json!(-1),
            json!(5_000_000_000u64),
            json!(null),
        ] {
            let p = procedure(json!([way(json!("1"), amount.clone(), "Ngày")]));
            assert_eq!(processing_time(&p, "1"), None, "{amount}");
        }
        let unknown_unit = procedure(json!([way(json!("1"), json!("10"), "Tháng")]));
        assert_eq!(processing_time(&unknown_unit, "1"), None);
        for missing in [
            json!({}),
            json!({ "CACHTHUCTHUCHIEN": [] }),
            json!({ "CACHTHUCTHUCHIEN": "1" }),
            json!({ "CACHTHUCTHUCHIEN": [{ "KENH": "1" }] }),
            json!({ "CACHTHUCTHUCHIEN": [{ "KENH": "1", "THOIGIAN": [{ "DONVITINH": "Ngày" }] }] }),
            json!({ "CACHTHUCTHUCHIEN": [{ "KENH": "1", "THOIGIAN": [{ "THOIGIANGIAIQUYET": "4" }] }] }),
        ] {
            assert_eq!(processing_time(&missing, "1"), None, "{missing}");
        }
    }

    #[test]
    fn config_reads_date_strings_and_refuses_unknown_keys() {
        let c: CalendarConfig =
            toml::from_str("holidays = [\"2026-09-02\"]\nmake_up_days = [\"2026-04-25\"]").unwrap();
        assert_eq!(c.holidays, [day("2026-09-02")]);
        assert_eq!(c.make_up_days, [day("2026-04-25")]);
        let empty: CalendarConfig = toml::from_str("").unwrap();
        assert!(empty.holidays.is_empty() && empty.make_up_days.is_empty());
        assert!(toml::from_str::<CalendarConfig>("holiday = []").is_err());
        let bad = toml::from_str::<CalendarConfig>("holidays = [\"2026-02-30\"]").unwrap_err();
        assert!(bad.to_string().contains("2026-02-30"), "{bad}");
    }

    #[test]
    fn check_names_each_problem_entry_and_value() {
        let ok = CalendarConfig {
            holidays: vec![day("2026-09-02"), day("2026-09-01")],
            make_up_days: vec![day("2026-04-25")],
        };
        assert_eq!(ok.check("calendar"), Vec::<String>::new());

        let bad = CalendarConfig {
            holidays: vec![day("2026-09-02"), day("2026-04-25"), day("2026-09-02")],
            make_up_days: vec![day("2026-04-25"), day("2026-09-03")],
        };
        let problems = bad.check("report.calendar");
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("report.calendar.holidays[2] = 2026-09-02 is listed twice"));
        assert!(problems[0].contains("report.calendar.holidays[0]"));
        assert!(problems[1]
            .starts_with("report.calendar.make_up_days[0] = 2026-04-25 is also a holiday"));
        assert!(problems[1].contains("report.calendar.holidays[1]"));
        assert!(problems[2].starts_with("report.calendar.make_up_days[1] = 2026-09-03 is a Thu"));
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;

    #[test]
    fn an_amount_beyond_ten_years_is_not_a_deadline() {
        let object = |amount: &str| {
            serde_json::json!({"CACHTHUCTHUCHIEN": [{"KENH": "1", "THOIGIAN": [
                {"THOIGIANGIAIQUYET": amount, "DONVITINH": "Ngày làm việc"}]}]})
        };
        assert_eq!(
            processing_time(&object("3650"), "1").map(|t| t.amount),
            Some(3650)
        );
        assert_eq!(processing_time(&object("3651"), "1"), None);
        assert_eq!(processing_time(&object("4000000000"), "1"), None);
    }
}
