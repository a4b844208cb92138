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

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
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

/// What a socket call on a non-blocking descriptor did: Ok(bytes, or a
/// descriptor), Err(true) when it would block (or was interrupted),
/// Err(false) on any other error.
fn sock(r: isize) -> Result<usize, bool> {
    if r >= 0 {
        return Ok(r as usize);
    }
    // SAFETY: this thread's errno.
    let e = unsafe { *libc::__errno_location() };
    Err(e == libc::EAGAIN || e == libc::EINTR)
}

/// A connection waiting on listening socket `fd`, non-blocking and
/// close-on-exec (accept4(2)). `peer` gets its address as the kernel
/// writes it (a sockaddr_in or sockaddr_in6), the port zeroed: the same
/// bytes for every connection from one host.
pub fn accept(fd: i32, peer: &mut [u8; 28]) -> Result<i32, bool> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    *peer = [0; 28];
    let mut len = 28;
    // SAFETY: peer is valid for len bytes (the kernel copies, no alignment).
    let r = unsafe { libc::accept4(fd, peer.as_mut_ptr().cast(), &mut len, flags) };
    peer[2..4].fill(0);
    sock(r as isize).map(|fd| fd as i32)
}

/// Makes closing socket `fd` a reset (SO_LINGER 0): what it still had to
/// send is dropped at once instead of waiting in an orphan for a peer
/// that does not read.
pub fn reset_on_close(fd: i32) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a linger value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// recv(2) into `b`: Ok(0) at end of stream.
pub fn recv(fd: i32, b: &mut [u8]) -> Result<usize, bool> {
    // SAFETY: b is valid for b.len() bytes.
    sock(unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), 0) })
}

/// send(2) of `b`, without SIGPIPE when the peer is gone.
pub fn send(fd: i32, b: &[u8]) -> Result<usize, bool> {
    // SAFETY: b is valid for b.len() bytes.
    sock(unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) })
}

/// Closes descriptor `fd` (-1: nothing).
pub fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: the caller's descriptor, closed once.
        unsafe { libc::close(fd) };
    }
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

// ---------------------------------------------------------------------------
// Files other programs write (infile.rs holds the policy).

/// An open descriptor, closed on drop.
pub struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Opens `path` for reading without blocking (a FIFO opens at once) or
/// taking a controlling tty; a symbolic link as the last component only
/// when `follow`. Err(errno).
pub fn open_read(path: &std::ffi::CStr, follow: bool) -> Result<Fd, i32> {
    let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: a NUL-terminated path, plain flags.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(errno());
    }
    Ok(Fd(fd))
}

/// The owner of `path` itself (a link, not what it points to).
pub fn lstat_uid(path: &std::ffi::CStr) -> Option<u32> {
    // SAFETY: zeroed is a valid stat; lstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a stat to fill.
    (unsafe { libc::lstat(path.as_ptr(), &mut st) } == 0).then_some(st.st_uid)
}

/// What fstat says of an open file.
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
    pub mtime_ns: i128,
}

pub fn fstat(fd: &Fd) -> Result<Stat, i32> {
    // SAFETY: zeroed is a valid stat; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor and a stat to fill.
    if unsafe { libc::fstat(fd.0, &mut st) } != 0 {
        return Err(errno());
    }
    Ok(Stat {
        mode: st.st_mode as u32,
        uid: st.st_uid,
        size: st.st_size as u64,
        mtime_ns: st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128,
    })
}

/// Appends at most `cap` bytes from `fd` to `buf` (no allocation when
/// `buf` has room for them). Stops at EOF, an error, or EAGAIN.
pub fn read_up_to(fd: &Fd, cap: usize, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.reserve(cap);
    while buf.len() - start < cap {
        let want = cap - (buf.len() - start);
        let spare = buf.spare_capacity_mut();
        let n = want.min(spare.len());
        // SAFETY: reads at most n bytes into the vector's spare capacity.
        let got = unsafe { libc::read(fd.0, spare.as_mut_ptr().cast(), n) };
        if got < 0 && errno() == libc::EINTR {
            continue;
        }
        if got <= 0 {
            break;
        }
        // SAFETY: the kernel wrote `got` initialised bytes.
        unsafe { buf.set_len(buf.len() + got as usize) };
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

const CAP_NET_ADMIN: u32 = 12;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets the calling thread's capability sets to `keep` (a mask of
/// capabilities 0-31) in effective and permitted, none inheritable.
fn capset(keep: u32) -> bool {
    // _LINUX_CAPABILITY_VERSION_3: two data words (capabilities 0-63).
    let hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let new = [
        CapData {
            effective: keep,
            permitted: keep,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset with the structs linux/capability.h (version 3)
    // defines.
    unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, new.as_ptr()) == 0 }
}

/// The calling thread's capability sets 0-31.
fn capget() -> Option<CapData> {
    let mut hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut cur = [CapData::default(); 2];
    // SAFETY: capget with the structs linux/capability.h defines.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            cur.as_mut_ptr(),
        )
    };
    (r == 0).then_some(cur[0])
}

/// Least privilege, once every socket is open, the sysctls set and the
/// metrics port bound, before anything from outside is read:
/// - as root: switch to `uid`/`gid` (`--user`, default nobody) with no
///   supplementary groups, keeping CAP_NET_ADMIN only (conntrack dumps,
///   events and deletes check it at send time; it also lets the
///   exit-time sysctl restore write /proc/sys/net, net_ctl_permissions),
///   with SECBIT_NOROOT and SECBIT_NO_SETUID_FIXUP set and locked, so
///   no later setuid or exec gives anything back. uid 0 keeps owner
///   rights on root's files (/etc/shadow); an unprivileged uid does not.
/// - not root (a setcap'd binary): keep CAP_NET_ADMIN, drop the rest.
///
/// Then the bounding and ambient sets are emptied of the rest and
/// PR_SET_NO_NEW_PRIVS is set. Every call is checked: Err names the step
/// that failed, and start is aborted (nftop never runs half-dropped).
/// Call on the main thread before any other thread exists; threads asked
/// for earlier start now (`spawn_detached`), with no capability at all.
pub fn drop_privileges(uid: u32, gid: u32) -> Result<(), &'static str> {
    // SAFETY: prctl, setgroups, setresgid and setresuid with plain
    // values; every result is checked.
    unsafe {
        let root = is_root();
        if root {
            // Kept across the uid change (then locked below): permitted
            // survives, effective is set again by capset.
            const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
            const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
            const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
            const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
            const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
            let bits = SECBIT_NOROOT
                | SECBIT_NOROOT_LOCKED
                | SECBIT_NO_SETUID_FIXUP
                | SECBIT_NO_SETUID_FIXUP_LOCKED
                | SECBIT_KEEP_CAPS_LOCKED;
            if libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) != 0 {
                return Err("cannot set securebits (prctl PR_SET_SECUREBITS)");
            }
            // Raw system calls, for this thread only: no other thread
            // exists yet (hold_threads), so libc's broadcast to every
            // thread (musl's __synccall, 2 KB of flash) has nothing to do.
            // 32-bit ARM's plain calls take 16-bit ids; the *32 ones are
            // what its libc uses.
            #[cfg(not(target_arch = "arm"))]
            use libc::{
                SYS_setgroups as SETGROUPS, SYS_setresgid as SETRESGID, SYS_setresuid as SETRESUID,
            };
            #[cfg(target_arch = "arm")]
            use libc::{
                SYS_setgroups32 as SETGROUPS, SYS_setresgid32 as SETRESGID,
                SYS_setresuid32 as SETRESUID,
            };
            let null = std::ptr::null::<libc::gid_t>();
            if libc::syscall(SETGROUPS, 0, null) != 0 {
                return Err("cannot drop supplementary groups (setgroups)");
            }
            if libc::syscall(SETRESGID, gid, gid, gid) != 0 {
                return Err("cannot switch group (setresgid)");
            }
            if libc::syscall(SETRESUID, uid, uid, uid) != 0 {
                return Err("cannot switch user (setresuid)");
            }
        }
        for cap in 0..64 {
            if cap != CAP_NET_ADMIN {
                // Fails without CAP_SETPCAP (a setcap'd binary run by a
                // user): the bounding set then stays as it was.
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
        let had = capget().map_or(0, |c| c.permitted);
        if !capset(had & 1 << CAP_NET_ADMIN) {
            return Err("cannot set capabilities (capset)");
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
            return Err("cannot set no_new_privs (prctl)");
        }
        if root && (libc::getuid() != uid || libc::geteuid() != uid || libc::getegid() != gid) {
            return Err("the user switch did not hold");
        }
    }
    release_threads()
}

type Job = (&'static [u8], usize, Box<dyn FnOnce() + Send>);

/// Threads asked for before the drop (`hold_threads` .. `drop_privileges`):
/// started only once nothing they read can run as root.
static HELD: std::sync::Mutex<Option<Vec<Job>>> = std::sync::Mutex::new(None);

/// From now until `drop_privileges`, `spawn_detached` queues its threads.
pub fn hold_threads() {
    if let Ok(mut h) = HELD.lock() {
        *h = Some(Vec::new());
    }
}

fn release_threads() -> Result<(), &'static str> {
    let jobs = HELD.lock().ok().and_then(|mut h| h.take());
    for (name, stack, f) in jobs.into_iter().flatten() {
        if !start_thread(stack, name, f) {
            return Err("cannot start a helper thread");
        }
    }
    Ok(())
}

/// Runs `f` on a new detached thread with a `stack`-byte stack, named
/// `name` (NUL-terminated, <= 16 bytes; `top -H` shows it). Not
/// std::thread: its spawn path links musl's pthread_setname_np, whose
/// snprintf pulls printf, 9 KB of flash for a name. False when the
/// thread could not be created. Between `hold_threads` and
/// `drop_privileges` the thread is queued and started by the latter.
pub fn spawn_detached(stack: usize, name: &'static [u8], f: Box<dyn FnOnce() + Send>) -> bool {
    if let Ok(mut h) = HELD.lock() {
        if let Some(q) = h.as_mut() {
            q.push((name, stack, f));
            return true;
        }
    }
    start_thread(stack, name, f)
}

fn start_thread(stack: usize, name: &'static [u8], f: Box<dyn FnOnce() + Send>) -> bool {
    type Start = (&'static [u8], Box<dyn FnOnce() + Send>);
    extern "C" fn start(p: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `p` is the Box leaked below, handed over exactly once.
        let (name, f) = *unsafe { Box::from_raw(p as *mut Start) };
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of <= 16
        // bytes; the signal mask is this thread's own.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr());
            // Signals for the process go to the main thread, which holds
            // CAP_NET_ADMIN for the exit-time sysctl restore.
            // The kernel's sigset (rt_sigprocmask, not libc's wrapper and
            // its 128-byte sigset_t): 64 signals, 128 on MIPS.
            const SIGSET_BYTES: usize = if cfg!(target_arch = "mips") { 16 } else { 8 };
            let mut set = [0u64; 2];
            for s in [
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGHUP,
                libc::SIGQUIT,
                libc::SIGWINCH,
                libc::SIGTSTP,
                libc::SIGCONT,
                libc::SIGTTIN,
                libc::SIGTTOU,
            ] {
                set[0] |= 1 << (s - 1);
            }
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_BLOCK,
                set.as_ptr(),
                std::ptr::null_mut::<u64>(),
                SIGSET_BYTES,
            );
        }
        // Helper threads parse what comes from the network (DNS answers,
        // HTTP requests): they hold no capability at all. A thread that
        // cannot drop them does not run its job.
        if capset(0) && capget().is_some_and(|c| c.permitted == 0) {
            f();
        }
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
            drop(Box::from_raw(p as *mut Start));
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
