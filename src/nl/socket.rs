//! The one netlink socket opener and receive loop: a socket bound to a
//! port of its own, either connected to the kernel for requests or
//! subscribed to multicast groups (then non-blocking, drained once per
//! refresh), with one receive buffer allocated at open and reused.
//!
//! Errors are the caller's to word: they know which table the socket
//! reads and what the operator can do about it.

use netlink_sys::{Socket, SocketAddr};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

pub struct NlSocket {
    sock: Socket,
    /// Our port id: the kernel's answers are addressed to it.
    pub port: u32,
    seq: u32,
    buf: Vec<u8>,
}

impl NlSocket {
    /// Opens a socket of `protocol` (NETLINK_NETFILTER, NETLINK_ROUTE)
    /// with a receive buffer of `buf_len` bytes: for requests when
    /// `groups` is empty, else subscribed to them and non-blocking.
    pub fn open(protocol: isize, groups: &[u32], buf_len: usize) -> io::Result<NlSocket> {
        let mut sock = Socket::new(protocol)?;
        let port = sock.bind_auto()?.port_number();
        if groups.is_empty() {
            sock.connect(&SocketAddr::new(0, 0))?;
        } else {
            for &g in groups {
                sock.add_membership(g)?;
            }
            sock.set_non_blocking(true)?;
        }
        Ok(NlSocket {
            sock,
            port,
            // Not 0: answers to a socket of an earlier run that had our
            // port are unlikely to carry our numbers.
            seq: crate::sys::real_ns() as u32,
            buf: vec![0; buf_len],
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Reserves `n` sequence numbers for the next requests; the first.
    pub fn next_seq(&mut self, n: u32) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let first = self.seq;
        self.seq = self.seq.wrapping_add(n.saturating_sub(1));
        first
    }

    /// Sends one datagram of requests, retried on EINTR.
    pub fn send(&self, req: &[u8]) -> io::Result<()> {
        loop {
            match self.sock.send(req, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives one datagram (retried on EINTR) and returns it with the
    /// size the kernel had for it (MSG_TRUNC: larger than the buffer when
    /// it did not fit). The other errors are the caller's: ENOBUFS
    /// (events were lost), EAGAIN (nothing pending, or the timeout).
    pub fn recv(&mut self) -> io::Result<(&[u8], usize)> {
        let n = loop {
            match self.sock.recv(&mut &mut self.buf[..], libc::MSG_TRUNC) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        Ok((&self.buf[..n.min(self.buf.len())], n))
    }

    /// The receive loop of every subscription: reads each datagram
    /// pending on the non-blocking socket into `f`, and `f(None)` for each
    /// overflow of its buffer (ENOBUFS: the kernel dropped messages) and
    /// each datagram larger than the receive buffer (MSG_TRUNC: its
    /// messages are lost as well; the kernel sends an event a datagram,
    /// so none is read from a cut one).
    /// Returns when nothing is pending (EAGAIN) or at another error.
    pub fn drain(&mut self, mut f: impl FnMut(Option<&[u8]>)) {
        loop {
            match self.recv() {
                Ok((data, n)) if n > data.len() => f(None),
                Ok((data, _)) => f(Some(data)),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => f(None),
                Err(_) => return,
            }
        }
    }

    /// The receive loop of every request: hands each datagram (its
    /// bytes and the size the kernel had for it) to `f`, which reads it
    /// with `read_replies`, until `f` says the answer is complete. A
    /// receive error goes through `on_err`.
    pub fn answer<E>(
        &mut self,
        on_err: impl Fn(io::Error) -> E,
        mut f: impl FnMut(&[u8], usize) -> Result<bool, E>,
    ) -> Result<(), E> {
        loop {
            let (data, n) = self.recv().map_err(&on_err)?;
            if f(data, n)? {
                return Ok(());
            }
        }
    }
}
