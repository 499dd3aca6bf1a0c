//! A local database's values as the poller handles them: one typed [`SqlValue`] whatever the
//! driver, read from a row by trying the types each driver can decode, turned into the JSON a
//! mapping reads, stored as a watermark, and bound back into a query.
//!
//! Times: a naive timestamp column (PostgreSQL `timestamp`, MySQL `DATETIME`, SQLite text) is
//! local time of the zone the source's config names; it reaches the mapping as written
//! (`2026-11-05 08:31:12.123`). A zoned one (`timestamptz`, MySQL `TIMESTAMP`) reaches it as the
//! same local time of that zone, so one mapping reads both.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Column, Row, TypeInfo};

/// One value of a local row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlValue {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    /// A naive timestamp: local time of the source's zone.
    Local(NaiveDateTime),
    /// A zoned timestamp.
    Utc(DateTime<Utc>),
    Date(NaiveDate),
}

/// Naive timestamps as text: what a mapping reads and what SQLite compares.
pub const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

impl SqlValue {
    /// The JSON a mapping reads.
    pub fn to_json(&self, zone: Tz) -> Value {
        match self {
            SqlValue::Null => Value::Null,
            SqlValue::Int(i) => Value::from(*i),
            SqlValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            SqlValue::Bool(b) => Value::String(if *b { "1" } else { "0" }.to_string()),
            SqlValue::Text(s) => Value::String(s.clone()),
            SqlValue::Local(t) => Value::String(t.format(LOCAL_FORMAT).to_string()),
            SqlValue::Utc(t) => Value::String(
                t.with_timezone(&zone)
                    .naive_local()
                    .format(LOCAL_FORMAT)
                    .to_string(),
            ),
            SqlValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
        }
    }

    /// [`Self::to_json`], the text moved rather than copied.
    pub fn into_json(self, zone: Tz) -> Value {
        match self {
            SqlValue::Text(s) => Value::String(s),
            other => other.to_json(zone),
        }
    }

    /// The instant, for a timestamp (a naive one read in `zone`; SQLite's text parsed).
    pub fn instant(&self, zone: Tz) -> Option<DateTime<Utc>> {
        match self {
            SqlValue::Utc(t) => Some(*t),
            SqlValue::Local(t) => local_instant(*t, zone),
            SqlValue::Text(s) => parse_local(s).and_then(|t| local_instant(t, zone)),
            _ => None,
        }
    }

    /// The same kind of value for `at` (for bounds on a timestamp column): a naive timestamp
    /// in `zone`, a zoned one, or text in [`LOCAL_FORMAT`] for a text column holding times.
    pub fn same_kind_at(&self, at: DateTime<Utc>, zone: Tz) -> Option<SqlValue> {
        let local = at.with_timezone(&zone).naive_local();
        match self {
            SqlValue::Utc(_) => Some(SqlValue::Utc(at)),
            SqlValue::Local(_) => Some(SqlValue::Local(local)),
            SqlValue::Text(s) if parse_local(s).is_some() => {
                let text = if s.contains('T') {
                    local.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
                } else {
                    local.format(LOCAL_FORMAT).to_string()
                };
                Some(SqlValue::Text(text))
            }
            _ => None,
        }
    }

    /// For content hashes and keys: the value as text.
    pub fn key_text(&self) -> String {
        match self {
            SqlValue::Null => String::new(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Float(f) => f.to_string(),
            SqlValue::Bool(b) => (if *b { "1" } else { "0" }).to_string(),
            SqlValue::Text(s) => s.clone(),
            SqlValue::Local(t) => t.format(LOCAL_FORMAT).to_string(),
            SqlValue::Utc(t) => t.to_rfc3339(),
            SqlValue::Date(d) => d.to_string(),
        }
    }
}

fn local_instant(t: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    zone.from_local_datetime(&t)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A text timestamp (`2026-11-05 08:31:12[.123]`, `T` or space).
pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s.trim(), f).ok())
}

/// Why a column could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "column {column} (type {type_name}): no readable value; cast it in the query (e.g. to text)"
)]
pub struct Unreadable {
    pub column: String,
    pub type_name: String,
}

/// Reads the value of every column of `row` (each driver's row type): by the value's type name
/// when `$fast` knows it (one decode), else trying the types the driver can decode.
macro_rules! read_row {
    ($row:expr, $fast:expr, $($ty:ty => $wrap:expr),+ $(,)?) => {{
        let row = $row;
        let mut out = Vec::with_capacity(row.columns().len());
        for (i, col) in row.columns().iter().enumerate() {
            let mut value = None;
            if let Ok(raw) = row.try_get_raw(i) {
                if sqlx::ValueRef::is_null(&raw) {
                    value = Some(SqlValue::Null);
                } else {
                    let info = sqlx::ValueRef::type_info(&raw);
                    value = $fast(row, i, info.name());
                }
            }
            $(
                if value.is_none() {
                    if let Ok(v) = row.try_get::<Option<$ty>, _>(i) {
                        value = Some(match v {
                            None => SqlValue::Null,
                            Some(v) => $wrap(v),
                        });
                    }
                }
            )+
            match value {
                Some(v) => out.push(v),
                None => {
                    return Err(Unreadable {
                        column: col.name().to_string(),
                        type_name: col.type_info().name().to_string(),
                    })
                }
            }
        }
        Ok(out)
    }};
}

pub fn read_pg(row: &sqlx::postgres::PgRow) -> Result<Vec<SqlValue>, Unreadable> {
    fn fast(row: &sqlx::postgres::PgRow, i: usize, name: &str) -> Option<SqlValue> {
        match name {
            "INT8" => row.try_get::<i64, _>(i).ok().map(SqlValue::Int),
            "INT4" => row
                .try_get::<i32, _>(i)
                .ok()
                .map(|v| SqlValue::Int(v.into())),
            "INT2" => row
                .try_get::<i16, _>(i)
                .ok()
                .map(|v| SqlValue::Int(v.into())),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                row.try_get::<String, _>(i).ok().map(SqlValue::Text)
            }
            "TIMESTAMP" => row.try_get::<NaiveDateTime, _>(i).ok().map(SqlValue::Local),
            "TIMESTAMPTZ" => row.try_get::<DateTime<Utc>, _>(i).ok().map(SqlValue::Utc),
            _ => None,
        }
    }
    read_row!(row, fast,
        i64 => SqlValue::Int,
        i32 => |v: i32| SqlValue::Int(v.into()),
        i16 => |v: i16| SqlValue::Int(v.into()),
        f64 => SqlValue::Float,
        f32 => |v: f32| SqlValue::Float(v.into()),
        bool => SqlValue::Bool,
        String => SqlValue::Text,
        NaiveDateTime => SqlValue::Local,
        DateTime<Utc> => SqlValue::Utc,
        NaiveDate => SqlValue::Date,
        uuid::Uuid => |v: uuid::Uuid| SqlValue::Text(v.to_string()),
    )
}

pub fn read_mysql(row: &sqlx::mysql::MySqlRow) -> Result<Vec<SqlValue>, Unreadable> {
    fn fast(row: &sqlx::mysql::MySqlRow, i: usize, name: &str) -> Option<SqlValue> {
        match name {
            "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => {
                row.try_get::<i64, _>(i).ok().map(SqlValue::Int)
            }
            "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" => {
                row.try_get::<String, _>(i).ok().map(SqlValue::Text)
            }
            "DATETIME" => row.try_get::<NaiveDateTime, _>(i).ok().map(SqlValue::Local),
            "TIMESTAMP" => row.try_get::<DateTime<Utc>, _>(i).ok().map(SqlValue::Utc),
            _ => None,
        }
    }
    read_row!(row, fast,
        i64 => SqlValue::Int,
        u64 => |v: u64| i64::try_from(v).map(SqlValue::Int).unwrap_or(SqlValue::Text(v.to_string())),
        f64 => SqlValue::Float,
        f32 => |v: f32| SqlValue::Float(v.into()),
        String => SqlValue::Text,
        NaiveDateTime => SqlValue::Local,
        DateTime<Utc> => SqlValue::Utc,
        NaiveDate => SqlValue::Date,
        bool => SqlValue::Bool,
        Vec<u8> => |v: Vec<u8>| String::from_utf8(v).map(SqlValue::Text).unwrap_or(SqlValue::Null),
    )
}

pub fn read_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<Vec<SqlValue>, Unreadable> {
    fn fast(row: &sqlx::sqlite::SqliteRow, i: usize, name: &str) -> Option<SqlValue> {
        match name {
            "INTEGER" => row.try_get::<i64, _>(i).ok().map(SqlValue::Int),
            "REAL" => row.try_get::<f64, _>(i).ok().map(SqlValue::Float),
            "TEXT" => row.try_get::<String, _>(i).ok().map(SqlValue::Text),
            _ => None,
        }
    }
    read_row!(row, fast,
        i64 => SqlValue::Int,
        f64 => SqlValue::Float,
        String => SqlValue::Text,
        Vec<u8> => |v: Vec<u8>| String::from_utf8(v).map(SqlValue::Text).unwrap_or(SqlValue::Null),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_naive_time_is_local_time_of_the_zone() {
        let zone: Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        let t = parse_local("2026-11-05 08:31:12.123").unwrap();
        let v = SqlValue::Local(t);
        assert_eq!(
            v.instant(zone).unwrap().to_rfc3339(),
            "2026-11-05T01:31:12.123+00:00"
        );
        assert_eq!(v.to_json(zone), Value::from("2026-11-05 08:31:12.123"));
        // A zoned value reaches the mapping as the same local time.
        let z = SqlValue::Utc(v.instant(zone).unwrap());
        assert_eq!(z.to_json(zone), Value::from("2026-11-05 08:31:12.123"));
    }

    #[test]
    fn a_bound_has_the_kind_of_the_column() {
        let zone: Tz = "Asia/Ho_Chi_Minh".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 5, 1, 0, 0).unwrap();
        let text = SqlValue::Text("2026-11-05 07:00:00".into());
        assert_eq!(
            text.same_kind_at(at, zone),
            Some(SqlValue::Text("2026-11-05 08:00:00".into()))
        );
        assert_eq!(SqlValue::Int(5).same_kind_at(at, zone), None);
        assert_eq!(
            SqlValue::Text("TTHC".into()).same_kind_at(at, zone),
            None,
            "text that is not a time has no time bound"
        );
    }

    #[test]
    fn watermarks_round_trip_as_json() {
        let w = vec![
            SqlValue::Local(parse_local("2026-11-05 08:31:12.5").unwrap()),
            SqlValue::Text("000.00.56.H56-261105-0007".into()),
            SqlValue::Int(7),
        ];
        let s = serde_json::to_string(&w).unwrap();
        let back: Vec<SqlValue> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, w);
    }
}
