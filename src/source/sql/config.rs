//! A source read by SQL polling (`[sources.poll]`): where the local database is, how often and
//! how far to read, and for each record kind its query, watermark, key, children, deletes and
//! write-back.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How to read a local database.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// `postgres://…`, `mysql://…` (MySQL and MariaDB) or `sqlite:…`; the scheme picks the
    /// driver. Or `url_file`, a file holding it (it carries the password).
    #[serde(default, skip_serializing)]
    pub url: Option<SecretString>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Seconds between two reads when the last found nothing more.
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// Rows per page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Rows stamped later than the database's clock minus this are left for the next read
    /// (a transaction still open may yet commit a row stamped before them).
    #[serde(default = "default_lag")]
    pub lag_seconds: u64,
    /// Each read starts this far before the watermark, so a row committed late with an earlier
    /// stamp is still read; rows re-read unchanged (same key and content) are skipped.
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
    /// The zone of naive timestamp columns (IANA name).
    #[serde(default = "default_zone")]
    pub timezone: String,
    /// The longest wait between two attempts while the database is unreachable.
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: u64,
    /// Connections to the local database.
    #[serde(default = "default_connections")]
    pub max_connections: u32,
    #[serde(default)]
    pub dossiers: Option<PollQuery>,
    #[serde(default)]
    pub steps: Option<PollQuery>,
}

/// One record kind's query.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    /// A `SELECT` giving one row per record; the poller reads it as a derived table
    /// (`SELECT * FROM (<query>) q WHERE … ORDER BY <watermark>`).
    pub query: String,
    /// The change columns, in order (e.g. `["CapNhatLuc", "MaHoSo"]`): the first is a
    /// timestamp or an increasing number; the rest break ties.
    pub watermark: Vec<String>,
    /// The columns naming one record (e.g. `["MaHoSo"]`; a step `["MaHoSo", "Buoc"]`).
    pub key: Vec<String>,
    /// A soft-delete column or a withdrawal status.
    #[serde(default)]
    pub deleted: Option<Deleted>,
    /// A statement run with the row's key columns as parameters (in the database's own
    /// placeholder syntax) once its record is committed, e.g.
    /// `UPDATE HoSo SET DaDongBo = 1 WHERE MaHoSo = ?`.
    #[serde(default)]
    pub write_back: Option<String>,
    /// Columns left out of the record, and so of its content hash: the column the write-back
    /// sets (otherwise the row reads as changed once after it), bookkeeping columns.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Child rows joined on the record's key, each list under its field.
    #[serde(default)]
    pub children: Vec<ChildQuery>,
}

/// Rows of a child table (fees, documents, supplements) of each record.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChildQuery {
    /// The record's field that holds the list (e.g. `LePhi`).
    pub field: String,
    pub query: String,
    /// The child's column holding its parent's key (e.g. `MaHoSo`).
    pub parent_key: String,
    /// Its change columns: a changed child row makes its parent changed.
    pub watermark: Vec<String>,
    /// The order of the list (defaults to the watermark).
    #[serde(default)]
    pub order_by: Vec<String>,
}

/// What a deleted row means.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deleted {
    pub column: String,
    /// The column's value (as text) for a deleted row.
    #[serde(default = "default_deleted_value")]
    pub equals: String,
    /// Fields given to the record of a deleted row (e.g. `{ TinhTrang = "RUT" }`, a withdrawal
    /// the mapping sends as such); without them a deleted row is not sent.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

fn default_interval() -> u64 {
    10
}
fn default_page_size() -> u32 {
    500
}
fn default_lag() -> u64 {
    5
}
fn default_overlap() -> u64 {
    300
}
fn default_zone() -> String {
    "Asia/Ho_Chi_Minh".to_string()
}
fn default_retry_max() -> u64 {
    300
}
fn default_connections() -> u32 {
    2
}
fn default_deleted_value() -> String {
    "1".to_string()
}

/// A column or field name the poller writes into SQL: ASCII letters, digits, `_`.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl PollConfig {
    /// Every problem of this block, each naming its setting under `at`.
    pub fn check(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) =
            crate::settings::require_secret(&format!("{at}.url"), &self.url, &self.url_file)
        {
            problems.push(e);
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push(format!(
                "{at}.timezone: \"{}\" is not a time zone name (e.g. Asia/Ho_Chi_Minh)",
                self.timezone
            ));
        }
        if self.page_size == 0 || self.page_size > 50_000 {
            problems.push(format!("{at}.page_size: must be 1..=50000"));
        }
        if self.interval_seconds == 0 {
            problems.push(format!("{at}.interval_seconds: must be at least 1"));
        }
        if self.dossiers.is_none() && self.steps.is_none() {
            problems.push(format!("{at}: names neither dossiers nor steps"));
        }
        for (kind, q) in [("dossiers", &self.dossiers), ("steps", &self.steps)] {
            let Some(q) = q else { continue };
            let at = format!("{at}.{kind}");
            let mut names: Vec<(&str, &str)> = Vec::new();
            if q.watermark.is_empty() {
                problems.push(format!("{at}.watermark: names no column"));
            }
            if q.key.is_empty() {
                problems.push(format!("{at}.key: names no column"));
            }
            names.extend(q.watermark.iter().map(|c| ("watermark", c.as_str())));
            names.extend(q.key.iter().map(|c| ("key", c.as_str())));
            names.extend(q.ignore.iter().map(|c| ("ignore", c.as_str())));
            if let Some(d) = &q.deleted {
                names.push(("deleted.column", d.column.as_str()));
                names.extend(d.set.keys().map(|c| ("deleted.set", c.as_str())));
            }
            for c in &q.children {
                if q.key.len() != 1 {
                    problems.push(format!(
                        "{at}.children: a record with children has a key of one column"
                    ));
                }
                names.push(("children.field", c.field.as_str()));
                names.push(("children.parent_key", c.parent_key.as_str()));
                names.extend(
                    c.watermark
                        .iter()
                        .map(|w| ("children.watermark", w.as_str())),
                );
                names.extend(c.order_by.iter().map(|w| ("children.order_by", w.as_str())));
                if c.watermark.is_empty() {
                    problems.push(format!(
                        "{at}.children ({}): watermark names no column",
                        c.field
                    ));
                }
            }
            for (setting, name) in names {
                if !is_identifier(name) {
                    problems.push(format!(
                        "{at}.{setting}: \"{name}\" must be ASCII letters, digits and '_'"
                    ));
                }
            }
        }
        problems
    }
}
