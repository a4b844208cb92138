//! Signals. Handlers only set flags (and, for fatal ones, restore the
//! terminal and re-raise); the loop reads the flags.
#![allow(unsafe_code)]

use super::tty::{restore_terminal, ENTER_SEQ, RAW, SUSPENDED, TERM_ACTIVE};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by SIGINT, SIGTERM, SIGHUP: the main loop exits cleanly.
pub static QUIT: AtomicUsize = AtomicUsize::new(0);
/// Set by SIGWINCH: re-read the window size.
pub static WINCH: AtomicBool = AtomicBool::new(false);
/// Set when the terminal was taken back after a job-control stop: the
/// whole screen must be painted again.
pub static REPAINT: AtomicBool = AtomicBool::new(false);

/// The hook that must run on any exit (restoring sysctls): one plain
/// function pointer in an atomic, so that a signal handler can call it.
static EXIT_HOOK: AtomicUsize = AtomicUsize::new(0);

pub fn set_exit_hook(f: fn()) {
    EXIT_HOOK.store(f as usize, Ordering::SeqCst);
}

pub fn run_exit_hook() {
    let p = EXIT_HOOK.swap(0, Ordering::SeqCst);
    if p != 0 {
        // SAFETY: p was stored from a `fn()` in set_exit_hook.
        let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(p) };
        f();
    }
}

extern "C" fn on_quit(sig: libc::c_int) {
    QUIT.store(sig as usize, Ordering::SeqCst);
}

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::SeqCst);
}

/// Ctrl-Z: give the shell a sane terminal (cooked mode, cursor shown,
/// normal screen), then stop as the default action would.
extern "C" fn on_tstp(_: libc::c_int) {
    if TERM_ACTIVE.load(Ordering::SeqCst) {
        restore_terminal();
        SUSPENDED.store(true, Ordering::SeqCst);
    }
    // SAFETY: default disposition, then re-raise: SIGTSTP is blocked while
    // this handler runs, so the stop happens when it returns.
    unsafe {
        libc::signal(libc::SIGTSTP, libc::SIG_DFL);
        libc::raise(libc::SIGTSTP);
    }
}

/// `fg`: take the terminal again and ask for a full repaint.
extern "C" fn on_cont(_: libc::c_int) {
    handle(libc::SIGTSTP, on_tstp);
    if SUSPENDED.swap(false, Ordering::SeqCst) {
        // SAFETY: RAW was written before the terminal was first entered;
        // tcsetattr and write are async-signal-safe.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, RAW.0.get());
            libc::write(1, ENTER_SEQ.as_ptr().cast(), ENTER_SEQ.len());
        }
        TERM_ACTIVE.store(true, Ordering::SeqCst);
        REPAINT.store(true, Ordering::SeqCst);
    }
}

extern "C" fn on_fatal(sig: libc::c_int) {
    // SAFETY: getpid, gettid, tgkill and pause are async-signal-safe.
    unsafe {
        let pid = libc::getpid();
        if libc::syscall(libc::SYS_gettid) as libc::pid_t != pid {
            // A helper thread crashed: it holds no capability, so the
            // sysctl restore would fail here. The main thread, which
            // holds CAP_NET_ADMIN, restores and ends the process.
            libc::syscall(libc::SYS_tgkill, pid, pid, sig);
            loop {
                libc::pause();
            }
        }
    }
    restore_terminal();
    run_exit_hook();
    // SAFETY: reset to default and re-raise so the exit status is right.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn handle(sig: libc::c_int, f: extern "C" fn(libc::c_int)) {
    // SAFETY: installing a handler that only touches atomics (or does
    // async-signal-safe restores). No SA_RESTART: a blocking poll or recv
    // returns EINTR so the loop sees the flag at once.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = f as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

pub fn install_signal_handlers() {
    handle(libc::SIGINT, on_quit);
    handle(libc::SIGTERM, on_quit);
    handle(libc::SIGHUP, on_quit);
    handle(libc::SIGWINCH, on_winch);
    handle(libc::SIGTSTP, on_tstp);
    handle(libc::SIGCONT, on_cont);
    for s in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGABRT,
        libc::SIGTRAP,
        libc::SIGFPE,
    ] {
        handle(s, on_fatal);
    }
    // A closed pipe must show up as EPIPE on write (exit 0 quietly), not
    // kill us.
    // SAFETY: setting a disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}
