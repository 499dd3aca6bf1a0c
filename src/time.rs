//! Time, in one place. Wire dates: `yyyyMMddHHmmss` in Vietnam time (UTC+7, no DST). Inside the
//! gateway every date is a UTC instant; conversion happens only at the edges.
//!
//! **One rule for every cron expression** (`[schedules]` jobs and peers' maintenance windows):
//! it has seconds (`sec min hour day month weekday [year]`) and is read in Vietnam time, whatever
//! the server's time zone, because that is the province's clock and how the portal announces its
//! maintenance. `0 0 2 * * *` is 02:00 in Vietnam (19:00 UTC the day before) on every server.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset as _, TimeZone, Utc};

/// Vietnam time, UTC+7 all year.
pub fn vietnam() -> FixedOffset {
    // 7 hours is within ±24 h, so this always exists; `UTC` is the fallback the type demands.
    FixedOffset::east_opt(7 * 3_600).unwrap_or_else(|| Utc.fix())
}

/// A cron expression under the rule above.
#[derive(Debug, Clone)]
pub struct Cron(cron::Schedule);

impl Cron {
    /// Parses `expr`; the error says what the expression must look like.
    pub fn parse(expr: &str) -> Result<Self, String> {
        expr.parse::<cron::Schedule>().map(Cron).map_err(|e| {
            format!("\"{expr}\" is not a cron expression (sec min hour day month weekday [year], Vietnam time): {e}")
        })
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0
            .after(&t.with_timezone(&vietnam()))
            .next()
            .map(|x| x.with_timezone(&Utc))
    }

    /// The latest tick at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Ticks are whole seconds: the last one before `t + 1 ms` is at or before `t`.
        self.0
            .after(&(t.with_timezone(&vietnam()) + chrono::Duration::milliseconds(1)))
            .next_back()
            .map(|x| x.with_timezone(&Utc))
    }
}

/// Formats an instant as the DVCQG/VNPost wire date, seconds precision (sub-seconds dropped).
pub fn to_wire(t: DateTime<Utc>) -> String {
    t.with_timezone(&vietnam())
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// Parses a wire date (`yyyyMMddHHmmss`, Vietnam time). `None` when it is not one.
pub fn from_wire(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    vietnam()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_is_vietnam_time() {
        let t = from_wire("20261105083100").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-05T01:31:00+00:00");
        assert_eq!(to_wire(t), "20261105083100");
    }

    #[test]
    fn cron_is_read_in_vietnam_time_for_schedules_and_windows_alike() {
        let at2 = Cron::parse("0 0 2 * * *").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        // 02:00 in Vietnam on the 22nd is 19:00 UTC on the 21st.
        let next = at2.next_after(now).unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 21, 19, 0, 0).unwrap());
        assert_eq!(at2.latest_at_or_before(next), Some(next));
        assert_eq!(
            at2.latest_at_or_before(next - chrono::Duration::seconds(1)),
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 19, 0, 0).unwrap())
        );
        let err = Cron::parse("every night").unwrap_err();
        assert!(err.contains("Vietnam time"), "{err}");
    }

    #[test]
    fn wire_rejects_other_shapes() {
        for bad in [
            "2026110508310",
            "2026-11-05 08:31",
            "20261305083100",
            "2026110508310a",
        ] {
            assert!(from_wire(bad).is_none(), "{bad}");
        }
    }
}
