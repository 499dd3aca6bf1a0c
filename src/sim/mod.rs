//! (being built)
pub mod local;
