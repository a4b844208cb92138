//! Clocks (monotonic for rates, realtime for kernel timestamps, the
//! process's CPU time), local calendar time, and the kernel's random pool.
#![allow(unsafe_code)]

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
