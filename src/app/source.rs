//! Where a refresh's connections come from: the kernel's conntrack table
//! through `CtSocket`, or, in test tools, another source behind the same
//! small trait (bandwhich's `OsInputOutput` idea), so that they drive the
//! real loop.

use crate::conntrack::{Conn, Nests};
use crate::error::Result;
use crate::netlink::{CtSocket, DumpStats};
use crate::nl::attr::Malformed;

pub trait CtSource {
    /// One dump: every entry goes to `on_entry` with its tuples' nests
    /// not yet decoded (`CtSocket::dump_entries`).
    fn dump(
        &mut self,
        on_entry: impl FnMut(&mut Conn, Nests) -> std::result::Result<(), Malformed>,
    ) -> Result<DumpStats>;
}

impl CtSource for CtSocket {
    fn dump(
        &mut self,
        on_entry: impl FnMut(&mut Conn, Nests) -> std::result::Result<(), Malformed>,
    ) -> Result<DumpStats> {
        self.dump_entries(|_| {}, on_entry)
    }
}
