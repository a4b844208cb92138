//! The sysctls that --enable-acct changed, restored on every exit path.
#![allow(unsafe_code)]

use std::sync::atomic::Ordering;

const UNCHANGED: u8 = 0xff;
static RESTORE_ACCT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(UNCHANGED);
static RESTORE_TSTAMP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(UNCHANGED);
const ACCT: &std::ffi::CStr = c"/proc/sys/net/netfilter/nf_conntrack_acct";
const TSTAMP: &std::ffi::CStr = c"/proc/sys/net/netfilter/nf_conntrack_timestamp";

/// Writes a small value to a /proc file with raw syscalls (usable from a
/// signal handler). Returns false on any failure.
fn write_proc(path: &std::ffi::CStr, v: &[u8]) -> bool {
    // SAFETY: open/write/close with a NUL-terminated path and a valid
    // buffer; all three are async-signal-safe.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let ok = libc::write(fd, v.as_ptr().cast(), v.len()) == v.len() as isize;
        libc::close(fd);
        ok
    }
}

/// Turns nf_conntrack_acct (and nf_conntrack_timestamp when `tstamp`) on,
/// remembering the old values for `restore_sysctls`. Returns an error
/// message naming the sysctl that could not be set.
pub fn enable_acct(acct_was: u64, tstamp: Option<u64>) -> Result<(), &'static str> {
    if acct_was == 0 {
        if !write_proc(ACCT, b"1\n") {
            return Err("cannot set net.netfilter.nf_conntrack_acct=1 (needs root; in a container, the host must allow it)");
        }
        RESTORE_ACCT.store(0, Ordering::SeqCst);
    }
    if tstamp == Some(0) {
        if !write_proc(TSTAMP, b"1\n") {
            return Err("cannot set net.netfilter.nf_conntrack_timestamp=1 (needs root)");
        }
        RESTORE_TSTAMP.store(0, Ordering::SeqCst);
    }
    Ok(())
}

/// Puts back what `enable_acct` changed; safe to call twice and from a
/// signal handler.
pub fn restore_sysctls() {
    for (path, old) in [(ACCT, &RESTORE_ACCT), (TSTAMP, &RESTORE_TSTAMP)] {
        let v = old.swap(UNCHANGED, Ordering::SeqCst);
        if v != UNCHANGED {
            write_proc(path, if v == 0 { b"0\n" } else { b"1\n" });
        }
    }
}
