//! Helper threads: started without std::thread, without capabilities,
//! and held back until root is dropped.
#![allow(unsafe_code)]

use super::caps::{capget, capset};

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

pub(super) fn release_threads() -> Result<(), &'static str> {
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
