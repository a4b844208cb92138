//! The two rtnetlink sockets: one for dumps and route lookups (answers
//! read in place through the readers of wire.rs), one non-blocking socket
//! subscribed to link, address, route and rule changes.
//!
//! Requests are laid out by hand: netlink-packet-route's builders pulled
//! every rtnetlink message and attribute emitter into the binary (about
//! 170 KB of 580 on mipsel) to write four 24-32 byte requests. It stays a
//! dev-dependency: a test checks the hand-built bytes against it.

use super::classes::Classes;
use super::wire::{self, Query, RouteMsg, Selectors};
use crate::error::{Error, Result};
use crate::nl::{read_replies, NlSocket, Ours, Reply};
use netlink_sys::protocols::NETLINK_ROUTE;

/// Lookups per system call.
pub const BATCH: usize = 64;
/// rtnetlink multicast groups (linux/rtnetlink.h enum rtnetlink_groups):
/// link, neighbour, IPv4 address, IPv4 route, IPv4 rule, IPv6 address,
/// IPv6 route, IPv6 rule.
const GROUPS: [u32; 8] = [1, 3, 5, 7, 8, 9, 11, 19];

fn sys_err(what: &str, e: std::io::Error) -> Error {
    Error::system(format!("{what}: {e}"))
}

#[derive(Clone, Copy)]
pub enum Dump {
    Addr = 0,
    Link = 1,
    Route = 2,
    Rule = 3,
    Neigh = 4,
}

pub struct RtSocket {
    nl: NlSocket,
    reqs: [Vec<u8>; 5],
    batch: Vec<u8>,
    answered: [bool; BATCH],
}

impl RtSocket {
    pub fn open() -> Result<RtSocket> {
        let nl = NlSocket::open(NETLINK_ROUTE, &[], crate::nl::RECV_BUF)
            .map_err(|e| sys_err("cannot open a route netlink socket", e))?;
        // Lookup answers of a whole batch must fit in the socket buffer.
        crate::sys::set_rcvbuf(nl.fd(), 1 << 20);
        Ok(RtSocket {
            nl,
            reqs: wire::dump_requests(),
            batch: Vec::with_capacity(BATCH * 128),
            answered: [false; BATCH],
        })
    }

    fn send_all(&self, buf: &[u8]) -> Result<()> {
        self.nl
            .send(buf)
            .map_err(|e| sys_err("cannot send rtnetlink request", e))
    }

    /// Runs one dump, handing each message (type, payload) to `on_msg`.
    pub fn dump(&mut self, what: Dump, mut on_msg: impl FnMut(u16, &[u8])) -> Result<()> {
        let seq = self.nl.next_seq(1);
        crate::nl::set_seq(&mut self.reqs[what as usize], seq);
        self.send_all(&self.reqs[what as usize])?;
        let port = self.nl.port;
        self.nl.answer(
            |e| sys_err("rtnetlink receive failed", e),
            |data, n| read_dump(data, n, seq, port, &mut on_msg),
        )
    }

    /// Every interface holding a default route (in any table but local),
    /// nexthops of multipath defaults included, into `out`; every route's
    /// prefix into `classes`.
    pub fn routes(&mut self, out: &mut Vec<u32>, classes: &mut Classes) -> Result<()> {
        out.clear();
        self.dump(Dump::Route, |kind, p| {
            let Some(r) = (kind == wire::RTM_NEWROUTE)
                .then(|| wire::parse_route(p))
                .flatten()
            else {
                return;
            };
            let family = match r.family as i32 {
                libc::AF_INET => 4,
                libc::AF_INET6 => 6,
                _ => 0,
            };
            classes.add(family, &r.dst, r.dst_len);
            if r.dst_len != 0 || r.kind != wire::RTN_UNICAST || r.table == wire::RT_TABLE_LOCAL {
                return;
            }
            for &ifi in r.nexthops().iter().chain([r.oif].iter()) {
                if ifi != 0 && !out.contains(&ifi) {
                    out.push(ifi);
                }
            }
        })
    }

    /// What the policy rules in use select on; their prefixes into
    /// `classes`.
    pub fn rules(&mut self, classes: &mut Classes) -> Result<Selectors> {
        let mut s = Selectors::default();
        self.dump(Dump::Rule, |kind, p| {
            if kind == wire::RTM_NEWRULE {
                if let Some(r) = wire::parse_rule(p) {
                    s.add(r.sel);
                    for (a, len) in [r.dst, r.src] {
                        if len > 0 {
                            classes.add(r.family, &a, len);
                        }
                    }
                }
            }
        })?;
        Ok(s)
    }

    /// Asks the kernel every query in `qs` (at most BATCH) with one send;
    /// `out[i]` is the matched route or the errno. Answers are tracked per
    /// slot: a repeated or stray answer can neither be counted twice nor
    /// make the wait end early or never.
    pub fn lookup_batch(
        &mut self,
        qs: &[Query],
        out: &mut [std::result::Result<RouteMsg, i32>],
    ) -> Result<()> {
        let n = qs.len().min(BATCH).min(out.len());
        let base = self.nl.next_seq(n as u32);
        self.batch.clear();
        for (i, q) in qs[..n].iter().enumerate() {
            wire::encode_query(&mut self.batch, q, base.wrapping_add(i as u32));
            out[i] = Err(libc::ENETUNREACH);
            self.answered[i] = false;
        }
        self.send_all(&self.batch)?;
        let mut left = n;
        if left == 0 {
            return Ok(());
        }
        let port = self.nl.port;
        let answered = &mut self.answered[..n];
        self.nl.answer(
            |e| sys_err("rtnetlink receive failed", e),
            |data, len| {
                if len > data.len() {
                    // Its answers are lost: waiting for them would block.
                    return Err(cut_short(data, len));
                }
                left -= read_answers(data, port, base, answered, &mut out[..n]);
                Ok(left == 0)
            },
        )
    }
}

/// The error of an answer's datagram cut short (`len`: the size the
/// kernel had for it): in practice none is, each answer's message being
/// far smaller than the 64 KiB buffer and a dump's datagrams at most
/// 32 KiB.
fn cut_short(data: &[u8], len: usize) -> Error {
    Error::system(format!(
        "rtnetlink answer cut short: a datagram of {len} bytes, {} of them read",
        data.len()
    ))
}

/// Reads one datagram of a dump answer (`len`: the size the kernel had
/// for it): each of our messages (`seq`, `port`) to `on_msg(type,
/// payload)`. True at NLMSG_DONE; the kernel's error answer is an Err,
/// and so is a datagram cut short (larger than the buffer, or a message
/// left incomplete), whose lost messages would leave the tables read
/// short. An interrupted dump (NLM_F_DUMP_INTR) needs
/// nothing here: the change that interrupted it reaches the `Watcher`
/// too, and the tables are dumped again at the next refresh.
pub fn read_dump(
    data: &[u8],
    len: usize,
    seq: u32,
    port: u32,
    mut on_msg: impl FnMut(u16, &[u8]),
) -> Result<bool> {
    let mut errno = 0;
    let w = read_replies(data, len, Ours::one(seq, port), |r| match r {
        Reply::Done => true,
        Reply::Error(_, e) => {
            errno = e;
            e != 0
        }
        Reply::Msg(_, k, msg) => {
            on_msg(k, msg);
            false
        }
    });
    if w.truncated {
        return Err(cut_short(data, len));
    }
    match (w.ended, errno) {
        (true, e) if e != 0 => Err(Error::system(format!(
            "rtnetlink dump failed: {}",
            std::io::Error::from_raw_os_error(e)
        ))),
        (ended, _) => Ok(ended),
    }
}

/// What one datagram of route/neighbour events says changed: (routing,
/// neighbours).
pub fn read_events(data: &[u8]) -> (bool, bool) {
    let (mut route, mut neigh) = (false, false);
    read_replies(data, data.len(), Ours::ANY, |r| {
        match r {
            Reply::Msg(_, wire::RTM_NEWNEIGH | wire::RTM_DELNEIGH, _) => neigh = true,
            _ => route = true,
        }
        false
    });
    (route, neigh)
}

/// Reads lookup answers from one datagram into the slots they answer
/// (sequence number - `base`); returns how many slots got their first
/// answer. An ACK (error 0) answers nothing.
pub fn read_answers(
    data: &[u8],
    port: u32,
    base: u32,
    answered: &mut [bool],
    out: &mut [std::result::Result<RouteMsg, i32>],
) -> usize {
    let mut new = 0;
    let Some(last) = answered.len().min(out.len()).checked_sub(1) else {
        return 0;
    };
    let ours = Ours {
        seq: base,
        last: last as u32,
        port,
    };
    read_replies(data, data.len(), ours, |r| {
        let (i, a) = match r {
            Reply::Error(_, 0) | Reply::Done => return false,
            Reply::Error(i, e) => (i as usize, Err(e)),
            Reply::Msg(i, wire::RTM_NEWROUTE, msg) => {
                (i as usize, wire::parse_route(msg).ok_or(libc::EBADMSG))
            }
            Reply::Msg(..) => return false,
        };
        if !answered[i] {
            out[i] = a;
            answered[i] = true;
            new += 1;
        }
        false
    });
    new
}

/// The change-event socket: drained without blocking once per refresh.
pub struct Watcher {
    nl: NlSocket,
}

impl Watcher {
    pub fn open() -> Result<Watcher> {
        let nl = NlSocket::open(NETLINK_ROUTE, &GROUPS, 16 * 1024)
            .map_err(|e| sys_err("cannot subscribe to route events", e))?;
        Ok(Watcher { nl })
    }

    /// Reads every pending event: (routing changed, neighbours changed).
    /// Lost events (ENOBUFS, a datagram cut short) mean both. Neighbour
    /// entries change state all the time on a busy LAN: that must not
    /// drop the route cache.
    pub fn changed(&mut self) -> (bool, bool) {
        let (mut route, mut neigh) = (false, false);
        self.nl.drain(|data| {
            let (r, n) = data.map_or((true, true), read_events);
            route |= r;
            neigh |= n;
        });
        (route, neigh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, seq: u32, port: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&port.to_ne_bytes());
        b.extend_from_slice(payload);
        b
    }

    /// A dump's datagram cut short (larger than the buffer, or ending
    /// inside a message) is an error, not a table read short.
    #[test]
    fn a_dump_datagram_cut_short_is_an_error() {
        let mut d = msg(wire::RTM_NEWROUTE, 10, 7, &[0; 12]);
        d.extend(msg(wire::RTM_NEWROUTE, 10, 7, &[0; 12]));
        let mut seen = 0;
        assert!(!read_dump(&d, d.len(), 10, 7, |_, _| seen += 1).unwrap());
        assert_eq!(seen, 2);
        let e = read_dump(&d, d.len() + 100, 10, 7, |_, _| {}).unwrap_err();
        assert!(
            e.to_string()
                .contains("cut short: a datagram of 156 bytes, 56 of them read"),
            "{e}"
        );
        let cut = &d[..d.len() - 4];
        assert!(read_dump(cut, cut.len(), 10, 7, |_, _| {}).is_err());
    }

    /// Fuzzing found that a second answer with the same sequence number
    /// counted twice: the wait wrapped below zero and blocked forever.
    #[test]
    fn duplicate_and_stray_answers_count_once() {
        let mut answered = [false; 2];
        let mut out = [Err(0), Err(0)];
        let mut d = msg(wire::RTM_NEWROUTE, 10, 7, &[0; 12]);
        d.extend(msg(wire::RTM_NEWROUTE, 10, 7, &[0; 12]));
        d.extend(msg(crate::nl::NLMSG_ERROR, 10, 7, &(-1i32).to_ne_bytes()));
        d.extend(msg(crate::nl::NLMSG_ERROR, 11, 7, &0i32.to_ne_bytes())); // an ACK
        d.extend(msg(crate::nl::NLMSG_ERROR, 11, 8, &(-1i32).to_ne_bytes())); // not ours
        d.extend(msg(crate::nl::NLMSG_ERROR, 99, 7, &(-1i32).to_ne_bytes())); // no such slot
        assert_eq!(read_answers(&d, 7, 10, &mut answered, &mut out), 1);
        assert!(out[0].is_ok() && answered == [true, false]);
        let e = msg(crate::nl::NLMSG_ERROR, 11, 7, &i32::MIN.to_ne_bytes());
        assert_eq!(read_answers(&e, 7, 10, &mut answered, &mut out), 1);
        assert_eq!(out[1], Err(i32::MIN));
        assert_eq!(read_answers(&e, 7, 10, &mut answered, &mut out), 0);
    }
}
