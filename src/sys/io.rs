//! Descriptors and sockets: poll, read, write, accept, close, and the
//! socket options nftop sets.
#![allow(unsafe_code)]

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

/// A receive timeout on a socket: a request's answer is waited for at
/// most `secs` (then EAGAIN).
pub fn set_rcvtimeo(fd: i32, secs: i64) {
    // `as _`, not `as libc::time_t`: naming the alias is deprecated on
    // musl targets (its width changes with musl 1.2); the cast is to the
    // field's type all the same.
    let tv = libc::timeval {
        tv_sec: secs as _,
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
