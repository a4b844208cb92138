//! Where the output goes: one buffer in front of stdout (or, in tests, any
//! writer), written with plain write(2).
//!
//! Two behaviours, by mode (issue "hardening", slow readers):
//! - Lines (`-c`, `-M`, `--json`): a reader that stops reading blocks
//!   nftop; no line is ever dropped. When it resumes, the rates are still
//!   exact (they are deltas over measured clocks) and lost events are
//!   reported by the events counter, not hidden.
//! - The screen: a frame that cannot be written completes later and the
//!   frames in between are skipped, never queued (the latest frame wins),
//!   so a stalled ssh session or a 115200-baud console never stalls the
//!   refreshes behind it. The screen writes through its own open file
//!   description of the tty, opened non-blocking (`/proc/self/fd/1`), so
//!   the shell's descriptor never turns non-blocking, even if nftop is
//!   killed. A skipped frame costs nothing to catch up: the screen diffs
//!   against what was last written in full.
//!
//! std's `Stdout` is not used: its line writer and lock cost ~4 KB of
//! router flash for nothing a full-frame writer needs.

use std::io::{self, Write};

enum Sink {
    Fd(i32),
    Writer(Box<dyn Write>),
}

pub struct Out {
    sink: Sink,
    buf: Vec<u8>,
    /// Bytes of `buf` already written (non-blocking mode leaves a tail).
    done: usize,
    /// The locale is not UTF-8: non-ASCII text goes out as `?` per cell
    /// (`text::to_ascii`), so that a name in UTF-8 neither garbles an
    /// 8-bit terminal (whose C1 range holds CSI) nor moves its columns.
    pub ascii: bool,
    /// The screen's non-blocking descriptor, when opened.
    nonblocking: bool,
    /// Frames skipped because the previous one was still being written.
    pub skipped: u64,
    /// The last frame was skipped: one is owed once the tty is free.
    pub owed: bool,
    /// The tty's non-blocking descriptor, opened before the privilege
    /// drop (`reserve_screen_fd`) and used by `screen_mode`.
    reserved: Option<i32>,
}

/// Lines are written when this much is buffered, and at every flush.
const LINE_CHUNK: usize = 64 * 1024;

impl Out {
    pub fn stdout() -> Out {
        Out::new(Sink::Fd(1))
    }

    pub fn writer(w: Box<dyn Write>) -> Out {
        Out::new(Sink::Writer(w))
    }

    fn new(sink: Sink) -> Out {
        Out {
            sink,
            buf: Vec::with_capacity(LINE_CHUNK),
            done: 0,
            ascii: false,
            nonblocking: false,
            skipped: 0,
            owed: false,
            reserved: None,
        }
    }

    /// For the screen: from now on write the tty through a non-blocking
    /// descriptor of its own. Stays blocking (the old behaviour) where the
    /// tty cannot be opened again.
    pub fn screen_mode(&mut self) {
        if let Sink::Fd(1) = self.sink {
            let fd = self
                .reserved
                .take()
                .or_else(crate::sys::reopen_stdout_nonblocking);
            if let Some(fd) = fd {
                self.sink = Sink::Fd(fd);
                self.nonblocking = true;
            }
        }
    }

    /// Opens the screen's descriptor now, while /proc/self/fd/1 can still
    /// be opened (root before the drop to `--user`); `screen_mode` takes
    /// it.
    pub fn reserve_screen_fd(&mut self) {
        if let Sink::Fd(1) = self.sink {
            self.reserved = crate::sys::reopen_stdout_nonblocking();
        }
    }

    /// Whether the last frame is still being written. Writes what the tty
    /// takes now; a caller that gets true skips its frame.
    pub fn busy(&mut self) -> bool {
        if self.done < self.buf.len() && self.push().is_err() {
            // The tty is gone (EIO after a hang-up): nothing to wait for;
            // the next frame's flush reports it.
            self.buf.clear();
            self.done = 0;
        }
        self.done < self.buf.len()
    }

    /// Writes what the sink takes without blocking (or all of it, for a
    /// blocking sink).
    fn push(&mut self) -> io::Result<()> {
        while self.done < self.buf.len() {
            let rest = &self.buf[self.done..];
            let n = match &mut self.sink {
                Sink::Fd(fd) => match crate::sys::write_some(*fd, rest) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                },
                Sink::Writer(w) => w.write(rest)?,
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.done += n;
        }
        self.buf.clear();
        self.done = 0;
        Ok(())
    }

    /// Drops what is still pending (the screen is about to be repainted
    /// whole).
    pub fn discard(&mut self) {
        self.buf.clear();
        self.done = 0;
    }

    /// Writes what is pending, waiting for the tty `ms` at most; true
    /// when all of it went (a query to the terminal may follow without
    /// landing inside a frame's escape sequence).
    pub fn drain_within(&mut self, ms: u64) -> bool {
        let end = crate::sys::mono_ns() + ms * 1_000_000;
        while self.busy() {
            let now = crate::sys::mono_ns();
            if now >= end {
                return false;
            }
            if let Sink::Fd(fd) = self.sink {
                crate::sys::poll_writable(fd, ((end - now) / 1_000_000 + 1) as i32);
            }
        }
        true
    }

    /// Writes everything still pending, waiting for the tty as long as it
    /// takes (at exit: the terminal must not be left mid-sequence before
    /// it is restored).
    pub fn drain(&mut self) {
        while self.busy() {
            if let Sink::Fd(fd) = self.sink {
                crate::sys::poll_writable(fd, 100);
            }
        }
    }
}

impl Write for Out {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        // A line writer bigger than the chunk goes out in pieces; the
        // screen's frame is kept whole so that it completes later.
        if !self.nonblocking && self.buf.len() + b.len() > LINE_CHUNK && !self.buf.is_empty() {
            self.push()?;
        }
        if self.ascii && !b.is_ascii() {
            crate::text::to_ascii(&mut self.buf, b);
        } else {
            self.buf.extend_from_slice(b);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()?;
        if let Sink::Writer(w) = &mut self.sink {
            w.flush()?;
        }
        Ok(())
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A frame larger than what the tty (here a socket) takes: the wait
    /// for it ends at its limit while nobody reads, and as soon as all
    /// of it went once somebody does.
    #[test]
    fn drain_within_waits_for_the_frame_and_no_longer() {
        const FRAME: usize = 8 << 20;
        let (mut r, w) = std::os::unix::net::UnixStream::pair().unwrap();
        w.set_nonblocking(true).unwrap();
        let mut out = Out::new(Sink::Fd(w.as_raw_fd()));
        out.nonblocking = true;
        out.write_all(&vec![b'x'; FRAME]).unwrap();
        out.flush().unwrap();
        assert!(out.busy(), "the socket holds far less: the rest is pending");
        assert!(!out.drain_within(30), "nobody reads");
        let reader = std::thread::spawn(move || {
            let mut got = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            while got < FRAME {
                got += std::io::Read::read(&mut r, &mut buf).unwrap();
            }
            got
        });
        assert!(out.drain_within(60_000), "the reader took it all");
        assert_eq!(reader.join().unwrap(), FRAME);
        drop(out);
        drop(w);
    }
}
