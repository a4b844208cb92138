//! The terminal: raw mode and the saved state that the signal handlers
//! and the panic hook restore (`panic = "abort"` runs no destructor),
//! and the window size.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn isatty(fd: i32) -> bool {
    // SAFETY: plain query on a descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// Rows and columns of the terminal on `fd`, or None when the ioctl fails
/// or reports 0x0 (serial consoles often do).
pub fn winsize(fd: i32) -> Option<(u16, u16)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize struct.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    if r != 0 || ws.ws_row == 0 || ws.ws_col == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// Bytes written to tty `fd` that it has not sent yet (TIOCOUTQ; 0 where
/// it cannot say, as on a pseudo-terminal, whose writes reach the other
/// side at once).
pub fn tty_unsent(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    if r == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

// Terminal state shared with the signal handlers.

pub(super) struct Saved(pub(super) UnsafeCell<libc::termios>);
// SAFETY: written once before TERM_ACTIVE is set, then only read.
unsafe impl Sync for Saved {}

static SAVED: Saved = Saved(UnsafeCell::new(unsafe { std::mem::zeroed() }));
/// The raw mode we set, to set again after a job-control stop.
pub(super) static RAW: Saved = Saved(UnsafeCell::new(unsafe { std::mem::zeroed() }));
pub(super) static TERM_ACTIVE: AtomicBool = AtomicBool::new(false);
/// The terminal was given back for a job-control stop (Ctrl-Z) and is
/// taken again on SIGCONT.
pub(super) static SUSPENDED: AtomicBool = AtomicBool::new(false);
/// Leave the alternate screen, show the cursor, reset attributes.
pub const RESTORE_SEQ: &[u8] = b"\x1b[0m\x1b[?25h\x1b[?1049l";
/// Enter the alternate screen, hide the cursor, clear it.
pub const ENTER_SEQ: &[u8] = b"\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";

/// Puts the tty on `fd` in raw mode (no echo, no line buffering; signals
/// from Ctrl-C stay on so SIGINT reaches our handler). Returns false when
/// `fd` is not a tty.
pub fn enter_raw(fd: i32) -> bool {
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid out pointer.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return false;
    }
    let mut raw = t;
    raw.c_lflag &= !(libc::ICANON | libc::ECHO);
    raw.c_cc[libc::VMIN] = 1;
    raw.c_cc[libc::VTIME] = 0;
    // SAFETY: only this thread writes SAVED and RAW, before TERM_ACTIVE is
    // set (the handlers read them only while it is).
    unsafe {
        *SAVED.0.get() = t;
        *RAW.0.get() = raw;
    }
    // SAFETY: valid termios.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
        return false;
    }
    TERM_ACTIVE.store(true, Ordering::SeqCst);
    true
}

/// Restores the saved terminal: cooked mode and the normal screen. Safe to
/// call more than once and from a signal handler (only tcsetattr and write,
/// both async-signal-safe).
pub fn restore_terminal() {
    if TERM_ACTIVE.swap(false, Ordering::SeqCst) {
        // SAFETY: SAVED was written before TERM_ACTIVE was set.
        unsafe {
            libc::write(1, RESTORE_SEQ.as_ptr().cast(), RESTORE_SEQ.len());
            libc::tcsetattr(0, libc::TCSANOW, SAVED.0.get());
        }
    }
}
