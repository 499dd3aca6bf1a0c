//! The province's service report, overdue dossiers and apologies: `calendar.rs` (working days
//! with the configured holidays and make-up days; a procedure's processing time read from its
//! catalog object); `figures.rs` (pure: the month's figures per agency and procedure from the
//! stored facts, early / on time / late as `codes.md` says); `service.rs` (`Reports`: reads the
//! store and the catalog, the overdue list); `render.rs` (table, CSV with a byte-order mark,
//! JSON; Vietnamese or English column names); `config.rs` (`[report]`). The facts themselves are
//! written by ingest (`store::facts`), from what the portal items say (the portal family's `facts.rs`, through `peer::registry::facts`).

pub mod calendar;
pub mod config;
pub mod figures;
pub mod render;
pub mod service;

pub use config::ReportConfig;
pub use figures::{Month, Report};
pub use service::{OverdueDossier, Reports};

/// The report's gauges, described once per recorder.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "lienthong_dossiers_overdue",
        "Open dossiers past the due date that counts, by whether an apology round is recorded (apology=yes|no)"
    );
}

/// Sets the overdue gauges (inside the scrape's recorder): `(overdue, without an apology)`.
pub fn record((overdue, without): (i64, i64)) {
    metrics::gauge!("lienthong_dossiers_overdue", "apology" => "no").set(without as f64);
    metrics::gauge!("lienthong_dossiers_overdue", "apology" => "yes")
        .set((overdue - without) as f64);
}
