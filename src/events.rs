//! Conntrack DESTROY events: the final counters of connections that end
//! between two dumps.
//!
//! A second NETLINK_NETFILTER socket joins `NFNLGRP_CONNTRACK_DESTROY` with
//! a large receive buffer (`SO_RCVBUFFORCE`, falling back to what
//! `rmem_max` allows): each event takes about 1.3 KB of socket buffer, and
//! the default buffer overflows in any burst. It is drained without
//! blocking once per refresh. Overflow (ENOBUFS) is counted and reported;
//! the next dump resynchronises, nothing depends on events alone.

use crate::conntrack::{self, Conn, CT_DELETE, GROUP_DESTROY};
use crate::error::{Error, Result};
use crate::nl::{read_replies, NlSocket, Ours, Reply};
use netlink_sys::protocols::NETLINK_NETFILTER;

/// 16 MiB held nothing back at 38k events/s on our machines.
pub const DEFAULT_BUFFER: usize = 16 << 20;

pub struct Events {
    nl: NlSocket,
    /// DESTROY events decoded since start.
    pub received: u64,
    /// ENOBUFS reports and datagrams cut short (each means one or more
    /// events were lost).
    pub lost: u64,
    /// Events that did not decode in the last drain (reported with the
    /// dump's malformed entries).
    pub malformed: u32,
}

impl Events {
    /// Subscribes to DESTROY events with a receive buffer of `buffer`
    /// bytes.
    pub fn open(buffer: usize) -> Result<Events> {
        let nl = NlSocket::open(NETLINK_NETFILTER, &[GROUP_DESTROY], crate::nl::RECV_BUF).map_err(
            |e| match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => Error::permission(format!(
                    "cannot subscribe to conntrack events: {e} (run as root or with CAP_NET_ADMIN)"
                )),
                _ => Error::system(format!("cannot open a conntrack event socket: {e}")),
            },
        )?;
        crate::sys::set_rcvbuf(nl.fd(), buffer);
        Ok(Events {
            nl,
            received: 0,
            lost: 0,
            malformed: 0,
        })
    }

    /// Reads every pending event, calling `on_destroy(conn, stop_ns)` for
    /// each ended connection. Returns the number of events read.
    pub fn drain(&mut self, mut on_destroy: impl FnMut(&Conn, u64)) -> u64 {
        let mut n = 0;
        self.malformed = 0;
        let mut scratch = Conn::default();
        self.nl.drain(|data| {
            let Some(data) = data else {
                self.lost += 1;
                return;
            };
            let (ok, bad) = read_destroys(data, &mut scratch, &mut on_destroy);
            self.received += ok;
            n += ok;
            self.malformed = self.malformed.saturating_add(bad as u32);
        });
        n
    }
}

/// The DESTROY events of one datagram, each to `on_destroy(conn,
/// stop_ns)` (`scratch` holds the decoded entry): (decoded, malformed).
pub fn read_destroys(
    data: &[u8],
    scratch: &mut Conn,
    mut on_destroy: impl FnMut(&Conn, u64),
) -> (u64, u64) {
    let (mut ok, mut bad) = (0, 0);
    read_replies(data, data.len(), Ours::ANY, |r| {
        if let Reply::Msg(_, CT_DELETE, msg) = r {
            match conntrack::decode_stop(msg, scratch) {
                Ok(stop) => {
                    ok += 1;
                    on_destroy(scratch, stop);
                }
                Err(_) => bad += 1,
            }
        }
        false
    });
    (ok, bad)
}
