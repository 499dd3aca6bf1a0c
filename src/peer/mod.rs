//! Remote systems the outbox delivers to. Each peer family has its own folder with the same
//! split (`config.rs`, client, `classify.rs`, `tests.rs`) and implements [`Peer`], the port the
//! outbox defines (`outbox::peer`) and the only thing it knows about a peer. The outbox is
//! peer-agnostic: it hands a peer a batch body it built once and stored, and gets back one
//! verdict for the batch or one per item.
//!
//! [`registry`] lists the families this build knows: adding one is its folder, one entry there
//! and its config section in [`registry::PeersConfig`].

pub mod classify;
pub mod commune;
pub mod dvcqg;
pub mod http;
pub mod lgsp_sync;
pub mod reads;
pub mod registry;
pub mod vnpost;
pub mod webhook;

pub use crate::outbox::peer::{BatchVerdict, ItemVerdict, Peer, Request};
