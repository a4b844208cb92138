//! The only module with `unsafe`: clocks, termios, window size, poll,
//! signals.
//!
//! Each function wraps one libc call and returns plain Rust values. The
//! terminal state saved here is what the signal handlers and the panic hook
//! restore, because `panic = "abort"` runs no destructor.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Nanoseconds of CLOCK_MONOTONIC: the time base of every rate.
pub fn mono_ns() -> u64 {
    clock(libc::CLOCK_MONOTONIC)
}

/// CPU nanoseconds this process used (all threads, user and system: the
/// kernel's work for our dumps included).
pub fn process_cpu_ns() -> u64 {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// Nanoseconds of CLOCK_REALTIME: the base of kernel conntrack timestamps
/// (`CTA_TIMESTAMP_START` is realtime) and of `"t"` in machine output.
pub fn real_ns() -> u64 {
    clock(libc::CLOCK_REALTIME)
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Fills `buf` from the kernel's random pool (getrandom(2)); false when it
/// cannot: GRND_NONBLOCK, so early in a boot, before the pool is ready,
/// the caller does without rather than wait.
pub fn random(buf: &mut [u8]) -> bool {
    // SAFETY: the kernel writes at most buf.len() bytes into buf. The
    // raw syscall, not musl's wrapper: 112 bytes less on mipsel.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getrandom,
            buf.as_mut_ptr(),
            buf.len(),
            libc::GRND_NONBLOCK,
        )
    };
    n == buf.len() as libc::c_long
}

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

/// Waits until `fd` is readable or `timeout_ms` passes. Returns true when
/// readable; false on timeout or when a signal interrupted the wait (the
/// caller then looks at the signal flags).
pub fn poll_readable(fd: i32, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    r > 0 && (p.revents & (libc::POLLIN | libc::POLLHUP)) != 0
}

/// Waits until one of `fds` is ready or `timeout_ms` passes (-1: no
/// limit); entries with a negative fd are skipped (poll(2)).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) {
    // SAFETY: fds.len() valid pollfds.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
}

/// Waits until `fd` takes more output or `timeout_ms` passes.
pub fn poll_writable(fd: i32, timeout_ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) };
}

/// One write(2) of `b` to `fd`, EINTR retried (EAGAIN is an error of kind
/// WouldBlock).
pub fn write_some(fd: i32, b: &[u8]) -> std::io::Result<usize> {
    loop {
        // SAFETY: b is valid for b.len() bytes.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A new, non-blocking open file description of what fd 1 is (the tty),
/// so that O_NONBLOCK never reaches the shell's own descriptor.
pub fn reopen_stdout_nonblocking() -> Option<i32> {
    // SAFETY: a NUL-terminated path; the flags are plain ints.
    let fd = unsafe {
        libc::open(
            c"/proc/self/fd/1".as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    (fd >= 0).then_some(fd)
}

/// Whether stdout was closed when nftop started. Rust's runtime puts
/// /dev/null, opened read-write, on a closed standard descriptor before
/// main (so no socket nftop opens takes the number 1); a shell's
/// `> /dev/null` opens it write-only.
pub fn stdout_closed_at_start() -> bool {
    // SAFETY: F_GETFL on a plain int.
    let fl = unsafe { libc::fcntl(1, libc::F_GETFL) };
    if fl == -1 {
        return true;
    }
    let mut link = [0u8; 16];
    // SAFETY: a NUL-terminated path and a buffer of link.len() bytes.
    let n = unsafe {
        libc::readlink(
            c"/proc/self/fd/1".as_ptr(),
            link.as_mut_ptr().cast(),
            link.len(),
        )
    };
    fl & libc::O_ACCMODE == libc::O_RDWR && n == 9 && &link[..9] == b"/dev/null"
}

/// Writes all of `b` to `fd` (blocking; EINTR retried). False on error.
pub fn write_all(fd: i32, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        match write_some(fd, b) {
            Ok(n) if n > 0 => b = &b[n..],
            _ => return false,
        }
    }
    true
}

/// Reads what is available on `fd` into `buf` without blocking forever
/// (the caller polled first). Returns 0 at end of file or on error.
pub fn read_fd(fd: i32, buf: &mut [u8]) -> usize {
    // SAFETY: buf is valid for buf.len() bytes.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r > 0 {
        r as usize
    } else {
        0
    }
}

// ---------------------------------------------------------------------------
// Terminal state shared with the signal handlers.

struct Saved(UnsafeCell<libc::termios>);
// SAFETY: written once before TERM_ACTIVE is set, then only read.
unsafe impl Sync for Saved {}

static SAVED: Saved = Saved(UnsafeCell::new(unsafe { std::mem::zeroed() }));
/// The raw mode we set, to set again after a job-control stop.
static RAW: Saved = Saved(UnsafeCell::new(unsafe { std::mem::zeroed() }));
static TERM_ACTIVE: AtomicBool = AtomicBool::new(false);
/// The terminal was given back for a job-control stop (Ctrl-Z) and is
/// taken again on SIGCONT.
static SUSPENDED: AtomicBool = AtomicBool::new(false);
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

// ---------------------------------------------------------------------------
// Signals. Handlers only set flags (and, for fatal ones, restore the
// terminal and re-raise).

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

/// Raises the socket receive buffer beyond `rmem_max` when we may
/// (SO_RCVBUFFORCE needs CAP_NET_ADMIN), else asks for what is allowed.
pub fn set_rcvbuf(fd: i32, bytes: usize) -> usize {
    set_buf(fd, bytes, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF)
}

/// The same for the send buffer (SO_SNDBUFFORCE).
pub fn set_sndbuf(fd: i32, bytes: usize) -> usize {
    set_buf(fd, bytes, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)
}

fn set_buf(fd: i32, bytes: usize, force: libc::c_int, opt: libc::c_int) -> usize {
    let v = bytes as libc::c_int;
    // SAFETY: setsockopt with an int value.
    unsafe {
        let p = &v as *const libc::c_int as *const libc::c_void;
        let l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, force, p, l) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, opt, p, l);
        }
        let mut got: libc::c_int = 0;
        let mut gl = l;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &mut got as *mut libc::c_int as *mut libc::c_void,
            &mut gl,
        );
        got.max(0) as usize
    }
}

/// Least privilege for the calling thread (capabilities are per
/// thread; threads started later inherit): every capability dropped but
/// CAP_NET_ADMIN, which conntrack dumps, events and deletes need at send
/// time and which also lets the exit-time sysctl restore write
/// /proc/sys/net (net_ctl_permissions); the bounding and ambient sets
/// emptied of the rest, and PR_SET_NO_NEW_PRIVS. Nothing here can fail in
/// a way that matters: without CAP_SETPCAP (a setcap'd binary run by a
/// user) the bounding set stays, and a capability never held is not kept.
pub fn drop_privileges() {
    const CAP_NET_ADMIN: u32 = 12;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    // _LINUX_CAPABILITY_VERSION_3: two Data words (capabilities 0-63).
    let mut hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut cur = [Data::default(); 2];
    // SAFETY: prctl and capget/capset with the structs the kernel's
    // capability ABI (linux/capability.h, version 3) defines.
    unsafe {
        for cap in 0..64 {
            if cap != CAP_NET_ADMIN {
                libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
            }
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::syscall(libc::SYS_capget, &mut hdr as *mut Header, cur.as_mut_ptr());
        let keep = cur[0].permitted & 1 << CAP_NET_ADMIN;
        let new = [
            Data {
                effective: keep,
                permitted: keep,
                inheritable: 0,
            },
            Data::default(),
        ];
        libc::syscall(libc::SYS_capset, &hdr as *const Header, new.as_ptr());
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Runs `f` on a new detached thread with a `stack`-byte stack, named
/// `name` (NUL-terminated, <= 16 bytes; `top -H` shows it). Not
/// std::thread: its spawn path links musl's pthread_setname_np, whose
/// snprintf pulls printf, 9 KB of flash for a name. False when the
/// thread could not be created.
pub fn spawn_detached(stack: usize, name: &'static [u8], f: Box<dyn FnOnce() + Send>) -> bool {
    type Job = (&'static [u8], Box<dyn FnOnce() + Send>);
    extern "C" fn start(p: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `p` is the Box leaked below, handed over exactly once.
        let (name, f) = *unsafe { Box::from_raw(p as *mut Job) };
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of <= 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        // A helper thread holds no more than the main thread will.
        drop_privileges();
        f();
        std::ptr::null_mut()
    }
    let p = Box::into_raw(Box::new((name, f))) as *mut libc::c_void;
    // SAFETY: attr is initialised before use and destroyed after; on
    // failure the job is reclaimed (the thread never saw it).
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, stack);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut t: libc::pthread_t = std::mem::zeroed();
        let r = libc::pthread_create(&mut t, &attr, start, p);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            drop(Box::from_raw(p as *mut Job));
            return false;
        }
    }
    true
}

/// A receive timeout on a socket: a request's answer is waited for at
/// most `secs` (then EAGAIN).
pub fn set_rcvtimeo(fd: i32, secs: i64) {
    let tv = libc::timeval {
        tv_sec: secs as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: setsockopt with a timeval of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
}

/// Local calendar time of `secs` since the epoch: (year, month, day,
/// hour, minute, second).
pub fn localtime(secs: u64) -> (i32, u32, u32, u32, u32, u32) {
    // time_t's width differs between musl versions: let the signature of
    // localtime_r choose it.
    let t = secs as _;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: valid in/out pointers; localtime_r is reentrant.
    unsafe { libc::localtime_r(&t, &mut tm) };
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
    )
}

// ---------------------------------------------------------------------------
// sysctls that --enable-acct changed, restored on every exit path.

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
