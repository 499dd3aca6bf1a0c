//! lienthong: keeps a province's one-stop-shop systems in sync with the national public-service
//! portal (DVCQG), the postal service (VNPost) and commune systems.
//!
//! # Layout
//!
//! - [`config`]: typed configuration (defaults → file → environment), `check`; composes the
//!   sections that live beside their owners.
//! - [`settings`]: secrets as value or file, constant-time token compare, URL checks.
//! - [`time`]: wire dates (`yyyyMMddHHmmss`, Vietnam time) ↔ UTC instants; the one cron rule.
//! - [`store`]: the one storage trait, with SQLite and PostgreSQL backends; all SQL lives here.
//! - [`outbox`]: the durable delivery queue: batches, order per dossier, retries, dead letters.
//! - [`mapping`]: pure, declarative mapping of local records to portal messages.
//! - [`formats`]: records out of bytes (strict JSON, bounded XML, CSV).
//! - [`source`]: ways records come in (HTTP push, SQL polling); `source::routes`, (source,
//!   record kind) → targets (peer, operation, mapping); `source::intake`, the one path from
//!   records to stored messages that every way in shares; `source::quarantine` (list, retry with
//!   the mappings configured now) and `source::status` (each source's health).
//! - [`operator`]: what an operator does to the outbox (bulk replay, remap with a diff).
//! - [`peer`]: remote systems, one folder per family behind the [`peer::Peer`] trait; the
//!   registry of families.
//! - [`sim`]: the built-in simulator of the peers and of a local system, for demo, tests, benches.
//! - [`admin`]: probes, metrics and the admin API.
//! - [`dashboard`]: the operators' pages (Vietnamese and English): report, overdue,
//!   reconciliation, sources, quarantine.
//! - [`catalog`]: the procedure catalog: pulled from the portal, versioned (RFC 8785 hashes),
//!   fanned out to the commune subscribers.
//! - [`reconcile`]: the portal's record of each dossier against what was delivered; repairs
//!   through the outbox.
//! - [`report`]: the province's monthly service figures, the working-day calendar, overdue
//!   dossiers and apologies.
//! - [`scheduler`]: the `[schedules]` jobs, run by the one instance holding the leader lease.
//! - [`app`]: builds everything from config and runs it until shutdown.
//! - [`demo`]: the whole flow in one process.
//! - [`bench`]: benchmarks of mapping and delivery, printed as tables.
//! - [`cli`]: the command line.
//! - [`telemetry`]: `[log]` and the subscriber: human or JSON lines, every line masked of
//!   personal data.

pub mod admin;
pub mod app;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod formats;
pub mod mapping;
pub mod operator;
pub mod outbox;
pub mod peer;
pub mod postal;
pub mod reconcile;
pub mod report;
pub mod scheduler;
pub mod settings;
pub mod sim;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod time;
