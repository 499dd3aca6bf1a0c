//! Reading records out of bytes in the shapes local systems send and export: strict JSON,
//! bounded and safe XML, CSV. Pure (no I/O beyond the bytes given), shared by every way in and by
//! the mapping golden tests; nothing here knows what a record means.

pub mod csv;
pub mod json;
pub mod xml;
