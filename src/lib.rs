//! lienthong: keeps a province's one-stop-shop systems in sync with the national public-service
//! portal (DVCQG), the postal service (VNPost) and commune systems.
//!
//! # Layout
//!
//! - [`config`]: typed configuration (defaults → file → environment), `check`.
//! - [`time`]: wire dates (`yyyyMMddHHmmss`, Vietnam time) ↔ UTC instants.
//! - [`store`]: the one storage trait, with SQLite and PostgreSQL backends; all SQL lives here.
//! - [`outbox`]: the durable delivery queue: batches, order per dossier, retries, dead letters.
//! - [`mapping`]: pure, declarative mapping of local records to portal messages.
//! - [`source`]: ways records come in (HTTP push).
//! - [`peer`]: remote systems (DVCQG), each behind the [`peer::Peer`] trait.
//! - [`sim`]: the built-in simulator of the peers and of a local system, for demo, tests, benches.
//! - [`admin`]: health endpoint.
//! - [`scheduler`]: the `[schedules]` jobs, run by the one instance holding the leader lease.
//! - [`app`]: builds everything from config and runs it until shutdown.
//! - [`demo`]: the whole flow in one process.
//! - [`bench`]: benchmarks of mapping and delivery, printed as tables.
//! - [`cli`]: the command line.

pub mod admin;
pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod mapping;
pub mod outbox;
pub mod peer;
pub mod scheduler;
pub mod sim;
pub mod source;
pub mod store;
pub mod time;
