//! Files other programs write, opened and read without following
//! links or blocking (infile.rs holds the policy).
#![allow(unsafe_code)]

use super::errno;

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
