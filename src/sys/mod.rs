//! The only module with `unsafe`: each function wraps one libc call (or
//! a few) and returns plain Rust values. One file per job: clocks, the
//! terminal, signals, descriptors and sockets, files, privileges, helper
//! threads, the sysctls --enable-acct sets.
#![allow(unsafe_code)]

mod caps;
mod clock;
mod files;
mod io;
mod privs;
mod signals;
mod sysctl;
mod threads;
mod tty;

pub use clock::*;
pub use files::*;
pub use io::*;
pub use privs::*;
pub use signals::*;
pub use sysctl::*;
pub use threads::*;
pub use tty::*;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
