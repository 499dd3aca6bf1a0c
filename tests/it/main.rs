//! The one integration-test binary: every module below drives the real gateway (store, HTTP,
//! simulator) over real sockets and databases.

mod support;

mod cli;
mod crash;
mod delivery;
mod ingest;
mod leader;
mod mappings;
mod store_story;
