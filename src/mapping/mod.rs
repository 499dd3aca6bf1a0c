//! Declarative mappings: local records in each vendor's shape → the portal's messages.
//! Pure: no I/O after loading, no clock. Loading reads the mapping file (and the CSV code
//! tables beside it) once and compiles it into a plan; evaluating a plan never panics on input.
//!
//! The public API below is the contract the rest of the gateway uses.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Which portal message a mapping produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A `HoSo` item of `DongBoHoSoMC`.
    Dossier,
    /// A `TienDo` item of `CapNhatTienDoHoSoMC`.
    Step,
}

/// Values a source's config lends its mappings (`$vars.<name>`).
pub type Vars = BTreeMap<String, String>;

/// One problem with one field of one record. Personal data in `value` is already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// The target field (`NgayHenTra`, `DanhSachLePhi[1].Gia`).
    pub field: String,
    /// The offending source value, masked when personal, `None` when missing.
    pub value: Option<String>,
    /// The rule broken, in words an operator understands.
    pub rule: String,
}

/// A record mapped into a portal item.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The portal item (`HoSo` or `TienDo`), keys in the spec's order, empty optionals left out.
    pub item: Map<String, Value>,
    /// `MaHoSo`: the dossier the item belongs to (the ordering key).
    pub dossier: String,
    /// When it happened: a step's `ThoiDiemXuLy`; a dossier's `NgayNopHoSo`, else `NgayTiepNhan`,
    /// else `None` (the caller then uses the time of receipt).
    pub at: Option<DateTime<Utc>>,
    /// The source's own sequence number for steps (ties in `at`), when it has one.
    pub source_seq: Option<i64>,
    /// Optional fields left out, values cut to length, characters removed.
    pub warnings: Vec<FieldIssue>,
}

/// A record that cannot be sent: every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub issues: Vec<FieldIssue>,
}

/// A compiled mapping file. (Placeholder until the engine lands.)
#[derive(Debug)]
pub struct Mapping;

impl Mapping {
    pub fn load(_path: &Path) -> Result<Mapping, String> {
        Err("mapping engine not built yet".into())
    }
}
