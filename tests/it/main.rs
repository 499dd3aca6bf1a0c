//! The one integration-test binary: every module below drives the real gateway (store, HTTP,
//! simulator) over real sockets and databases.

mod support;

mod architecture;
mod backup;
mod catalog;
mod cli;
mod crash;
mod crash_loop;
mod daemons;
mod dashboard;
mod delivery;
mod destinations;
mod disk_full;
mod files;
mod guide;
mod heads;
mod ingest;
mod leader;
mod legacy;
mod mappings;
mod masking;
mod migration;
mod multi;
mod operator;
mod outbox_browser;
mod pause;
mod policy;
mod postal;
mod prefill;
mod quarantine;
mod reconcile;
mod report;
mod sql_source;
mod store_story;
mod tls;
