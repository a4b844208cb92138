//! The old path of the attribute walk, now `nl::attr` (the netlink layer):
//! kept so that callers outside the netlink modules need not change.

pub use crate::nl::attr::{error_code, Attrs, Malformed};
