//! The metrics responder's thread: the listener and up to `CLIENTS`
//! connections in one poll, all non-blocking, each with a deadline for
//! its request head and one for its answer, served from the page the
//! refresh published (`Shared`), by reference, never a copy.

use super::http::{answer_head, host_text, status};
use super::{Page, Shared};
use crate::render::Line;
use std::net::{IpAddr, TcpListener};
use std::os::fd::AsRawFd;

/// A request head (request line and headers) must fit here.
const REQ_CAP: usize = 4096;
/// Connections served at once. Full policy: a new connection takes the
/// place of the one whose last progress is oldest among those still
/// sending their request and those being answered that took nothing for
/// `EVICT_MS`; while all are being answered and taking bytes, new ones
/// wait in the kernel's backlog. A host's third connection takes the
/// place of its own oldest (`PER_HOST`), so no host holds them all.
const CLIENTS: usize = 8;
/// Connections of one peer address at once.
const PER_HOST: usize = 2;
/// The whole request head must arrive within this of the accept.
const HEAD_NS: u64 = 2_000_000_000;
/// The whole answer must be taken within this of the request.
const ANSWER_NS: u64 = 5_000_000_000;
/// A client being answered that takes no byte for this long is reset:
/// one that never reads frees its slot at once, not after `ANSWER_NS`.
const STALL_NS: u64 = 1_000_000_000;
/// ... and gives its slot to a new connection after this.
const EVICT_MS: u64 = 250;
/// Each connection's send buffer (the kernel doubles it): a reset or
/// finished client leaves at most this much of the page in the kernel.
const SNDBUF: usize = 16 * 1024;

/// One connection of the responder; `FREE` is an empty slot.
struct Client {
    fd: i32,
    /// Bytes of its request head read; once answering, the length of the
    /// answer's head, written over the request in its buffer.
    n: usize,
    answering: bool,
    /// The page of a 200 to `GET` (None: the head is all).
    page: Option<Page>,
    /// Bytes of the answer sent.
    sent: usize,
    /// When it was accepted, its request read, or its answer last taken
    /// bytes (0: free, so a free slot is taken first).
    moved: u64,
    deadline: u64,
    /// Its address (`sys::accept`).
    peer: [u8; 28],
}

const FREE: Client = Client {
    fd: -1,
    n: 0,
    answering: false,
    page: None,
    sent: 0,
    moved: 0,
    deadline: 0,
    peer: [0; 28],
};

/// Closes a client; `reset` for one that did not take its whole answer,
/// so the kernel drops the rest at once (no orphan holds it).
fn close(c: &mut Client, reset: bool) {
    if reset {
        crate::sys::reset_on_close(c.fd);
    }
    crate::sys::close(c.fd);
    *c = FREE;
}

/// The slot for a new connection at `now` (`CLIENTS`): the free one or
/// the one whose last progress is oldest among those reading their
/// request and those answered that took nothing for `EVICT_MS`; None
/// while all are being answered and taking bytes. A connection accepted
/// at `now` is never taken: each slot changes hands once per round.
fn next(cs: &[Client], now: u64) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in cs.iter().enumerate() {
        if c.moved < now
            && (!c.answering || c.moved + EVICT_MS * 1_000_000 <= now)
            && best.is_none_or(|b| c.moved < cs[b].moved)
        {
            best = Some(i);
        }
    }
    best
}

/// The responder: the listener and up to `CLIENTS` connections in one
/// poll, each served as far as it goes without blocking.
pub(super) fn serve(l: TcpListener, ip: IpAddr, s: &Shared) {
    let mut bound = Line::new();
    host_text(&mut bound, ip);
    let bound = bound.as_bytes();
    let lfd = l.as_raw_fd();
    let _ = l.set_nonblocking(true);
    // Accepted connections inherit it.
    crate::sys::set_sndbuf(lfd, SNDBUF);
    let mut cs = [FREE; CLIENTS];
    let mut bufs = vec![0u8; REQ_CAP * CLIENTS];
    let mut fds = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; CLIENTS + 1];
    loop {
        let now = crate::sys::mono_ns();
        let mut wait = 60_000;
        for (c, p) in cs.iter_mut().zip(&mut fds[1..]) {
            let end = if c.answering {
                c.deadline.min(c.moved + STALL_NS)
            } else {
                c.deadline
            };
            if c.fd >= 0 && now >= end {
                close(c, true);
            }
            p.fd = c.fd;
            p.events = if c.answering {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            if c.fd >= 0 {
                wait = wait.min(((end - now) / 1_000_000) as i32 + 1);
            }
        }
        // While all are being answered, the listener waits; look again
        // when one may have stalled for `EVICT_MS`.
        fds[0].fd = lfd;
        if next(&cs, now).is_none() {
            fds[0].fd = -1;
            wait = wait.min(EVICT_MS as i32);
        }
        crate::sys::poll(&mut fds, wait);
        let now = crate::sys::mono_ns();
        // Those the kernel woke first, then the new ones: a request that
        // has come is read (and its client answering) before a newcomer
        // of the same host may take the place of one still reading (a
        // scraper behind the same address as clients that reconnect all
        // the time lost its page). Only those woken: a send the kernel
        // did not ask for takes the few bytes an ACK freed, and would
        // count as progress for a client that reads nothing.
        let it = cs.iter_mut().zip(bufs.chunks_exact_mut(REQ_CAP));
        for ((c, buf), p) in it.zip(&fds[1..]) {
            if p.revents != 0 && !step(c, buf, s, bound, now) {
                close(c, false);
            }
        }
        if fds[0].revents != 0 {
            accept(lfd, &mut cs, now);
        }
        let it = cs.iter_mut().zip(bufs.chunks_exact_mut(REQ_CAP));
        for (c, buf) in it.filter(|(c, _)| c.fd >= 0 && c.moved == now) {
            if !c.answering && !step(c, buf, s, bound, now) {
                close(c, false);
            }
        }
    }
}

/// Takes every waiting connection while a slot is free, stalled or
/// still reading from before this round (`next`); a host's third takes
/// the place of its own oldest from before this round, one still sending
/// its request first (`PER_HOST`).
fn accept(lfd: i32, cs: &mut [Client], now: u64) {
    let mut peer = [0; 28];
    while let Some(i) = next(cs, now) {
        let fd = match crate::sys::accept(lfd, &mut peer) {
            Ok(fd) => fd,
            Err(again) => {
                if !again {
                    // EMFILE and the like: do not spin (poll of nothing
                    // sleeps; std's sleep is more flash).
                    crate::sys::poll(&mut [], 100);
                }
                break;
            }
        };
        // The host's own to give way: not one accepted in this round
        // (its request is not read yet), and one still sending its
        // request before one taking its answer (a scraper behind the
        // same address as idle clients would lose its page).
        let (mut own, mut j) = (0, None);
        for (k, c) in cs.iter().enumerate() {
            if c.fd >= 0 && c.peer == peer {
                own += 1;
                let rank = |c: &Client| (c.answering, c.moved);
                if c.moved < now && j.is_none_or(|b: usize| rank(c) < rank(&cs[b])) {
                    j = Some(k);
                }
            }
        }
        let i = match j {
            Some(j) if own >= PER_HOST => j,
            _ => i,
        };
        close(&mut cs[i], true);
        cs[i] = Client {
            fd,
            moved: now,
            deadline: now + HEAD_NS,
            peer,
            ..FREE
        };
    }
}

/// Serves one connection as far as it goes without blocking. False when
/// it is done (answered, gone, or broken): then it is closed.
fn step(c: &mut Client, buf: &mut [u8], s: &Shared, bound: &[u8], now: u64) -> bool {
    if c.fd < 0 {
        return true;
    }
    if !c.answering {
        let n = c.n;
        let code = match crate::sys::recv(c.fd, &mut buf[n..]) {
            // Gone before a word, or half-closed in the middle (a 400).
            Ok(0) if n == 0 => return false,
            Ok(0) => 400,
            Ok(k) => {
                c.n += k;
                let from = n.saturating_sub(3);
                let end = buf[from..c.n].windows(4).position(|w| w == b"\r\n\r\n");
                if let Some(e) = end {
                    // The head alone: what follows is not its.
                    status(&buf[..from + e + 4], bound)
                } else if c.n == buf.len() {
                    400
                } else {
                    return true;
                }
            }
            Err(again) => return again,
        };
        let mut len = 0;
        if code == 200 {
            if let Ok(p) = s.page.lock() {
                len = p.0.len();
                if !buf.starts_with(b"HEAD") {
                    c.page = Some(p.0.clone());
                }
            }
        }
        // The answer's head, over the request.
        c.n = answer_head(buf, code, len);
        c.answering = true;
        c.deadline = now + ANSWER_NS;
        c.moved = now;
    }
    loop {
        let body = c.page.as_deref().map_or(&[][..], |p| &p[..]);
        let rest = match c.sent.checked_sub(c.n) {
            None => &buf[c.sent..c.n],
            Some(k) => &body[k..],
        };
        if rest.is_empty() {
            return false;
        }
        match crate::sys::send(c.fd, rest) {
            Ok(k) => {
                c.sent += k;
                c.moved = now;
            }
            Err(again) => return again,
        }
    }
}
