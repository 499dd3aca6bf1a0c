//! Wire dates: `yyyyMMddHHmmss` in Vietnam time (UTC+7, no DST). Inside the gateway every date is
//! a UTC instant; conversion happens only at the edges.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// Vietnam time, UTC+7 all year.
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
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
