//! One conntrack entry addressed by its original tuple, zone and id: the
//! detail pane asks for it (`conntrack -G`), the kill key deletes it
//! (`conntrack -D ... -i ID`). The only place nftop writes to the table.
//!
//! The request carries the id (CTA_ID), so a delete never hits a newer
//! connection that reused the tuple: the kernel answers ENOENT instead
//! (`ctnetlink_del_conntrack`). Each request waits at most a second for
//! its answer, so a kernel that says nothing cannot freeze the screen.

use crate::conntrack::{self, Conn, Extra};
pub use crate::conntrack::{CT_DELETE, CT_GET};
use crate::error::{Error, Result};
use crate::nl::{read_replies, NlSocket, Ours, Reply, NLM_F_ACK, NLM_F_REQUEST};
use netlink_sys::protocols::NETLINK_NETFILTER;

/// A request is at most 120 bytes (two IPv6 addresses, ICMPv6's three
/// fields, zone, id and the nests).
const REQ_CAP: usize = 128;

/// The request for `c` (`CT_GET` or `CT_DELETE`), with an ACK asked for
/// (`conntrack::encode_entry`).
pub fn build(buf: &mut Vec<u8>, kind: u16, c: &Conn, seq: u32) {
    conntrack::encode_entry(buf, kind, NLM_F_REQUEST | NLM_F_ACK, c, seq);
}

/// What the kernel said to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Not yet complete: read another datagram.
    Pending,
    /// The ACK (errno 0) or the error's errno.
    Done(i32),
}

/// Reads one datagram of answers to request `seq` on `port`: an entry
/// (a GET's answer) is decoded into `out`, an NLMSG_ERROR (the ACK
/// included) ends the answer.
pub fn parse_answer(data: &[u8], seq: u32, port: u32, out: &mut Option<(Conn, Extra)>) -> Answer {
    let mut answer = Answer::Pending;
    read_replies(data, data.len(), Ours::one(seq, port), |r| match r {
        Reply::Error(_, errno) => {
            answer = Answer::Done(errno);
            true
        }
        Reply::Msg(_, conntrack::CT_NEW, payload) => {
            let mut c = Conn::default();
            if conntrack::decode(payload, &mut c).is_ok() {
                *out = Some((c, conntrack::decode_extra(payload)));
            }
            false
        }
        _ => false,
    });
    answer
}

/// A socket of its own, opened at the first use: the dump's socket keeps
/// its sequence of dump answers.
pub struct EntrySocket {
    nl: NlSocket,
    req: Vec<u8>,
}

impl EntrySocket {
    pub fn open() -> Result<EntrySocket> {
        let nl = NlSocket::open(NETLINK_NETFILTER, &[], 16 * 1024)
            .map_err(|e| Error::system(format!("cannot open a conntrack socket: {e}")))?;
        crate::sys::set_rcvtimeo(nl.fd(), 1);
        Ok(EntrySocket {
            nl,
            req: Vec::with_capacity(REQ_CAP),
        })
    }

    /// Sends `kind` for `c`; the errno of the answer (0: done), and for a
    /// GET the entry as the kernel has it now.
    pub fn ask(&mut self, kind: u16, c: &Conn) -> (i32, Option<(Conn, Extra)>) {
        let seq = self.nl.next_seq(1);
        build(&mut self.req, kind, c, seq);
        let mut out = None;
        let mut errno = 0;
        let port = self.nl.port;
        // EAGAIN after the timeout: no answer.
        let r = self.nl.send(&self.req).and_then(|()| {
            self.nl.answer(
                |e| e,
                |data, _| match parse_answer(data, seq, port, &mut out) {
                    Answer::Done(e) => {
                        errno = e;
                        Ok(true)
                    }
                    Answer::Pending => Ok(false),
                },
            )
        });
        match r {
            Ok(()) => (errno, out),
            Err(e) => (e.raw_os_error().unwrap_or(libc::EIO), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(family: u8, proto: u8) -> Conn {
        let mut c = Conn {
            family,
            zone: 7,
            id: 0xdead_beef,
            ..Conn::default()
        };
        c.orig.proto = proto;
        let n = c.addr_len();
        c.orig.src[..n].fill(0x20);
        c.orig.dst[..n].fill(0xcb);
        c.orig.sport = 40000;
        c.orig.dport = if conntrack::is_icmp(proto) {
            8 << 8
        } else {
            443
        };
        c
    }

    /// The request's attributes are the dump's format: decoding them gives
    /// back the tuple, zone and id, for every address family and every
    /// protocol the decoder knows: ports (TCP, UDP, UDPLite, SCTP, DCCP),
    /// GRE's keys in the port fields, ICMP's id/type/code, and a protocol
    /// of the generic tracker (ESP).
    #[test]
    fn a_request_decodes_back_to_its_entry() {
        let mut buf = Vec::new();
        for fam in [4, 6] {
            for proto in [6, 17, 136, 132, 33, 47, 1, 58, 50] {
                let want = conn(fam, proto);
                build(&mut buf, CT_DELETE, &want, 42);
                assert!(buf.len() <= REQ_CAP);
                let h = crate::nl::MsgHeader::parse(&buf).unwrap();
                assert_eq!((h.len, h.kind, h.seq), (buf.len(), CT_DELETE, 42));
                let mut got = Conn::default();
                conntrack::decode(&buf[16..], &mut got).unwrap();
                assert_eq!(
                    (got.family, got.orig, got.zone, got.id),
                    (fam, want.orig, 7, 0xdead_beef),
                    "{fam} {proto}"
                );
            }
        }
    }

    /// An entry then the ACK: the entry is kept; an error ends with its
    /// errno; answers to other requests are not ours.
    #[test]
    fn answers_end_at_the_ack_or_the_error() {
        let mut entry = Vec::new();
        build(&mut entry, conntrack::CT_NEW, &conn(4, 6), 9);
        let ack = |seq: u32, err: i32| {
            let mut m = vec![];
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&crate::nl::NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&[0; 2]);
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&[0; 4]);
            m.extend_from_slice(&(-err).to_ne_bytes());
            m.extend_from_slice(&[0; 16]);
            m
        };
        let mut out = None;
        assert_eq!(parse_answer(&entry, 9, 0, &mut out), Answer::Pending);
        assert_eq!(out.unwrap().0.id, 0xdead_beef);
        let both = [ack(8, 0), ack(9, libc::ENOENT)].concat();
        assert_eq!(
            parse_answer(&both, 9, 0, &mut None),
            Answer::Done(libc::ENOENT)
        );
        assert_eq!(parse_answer(&ack(8, 0), 9, 0, &mut None), Answer::Pending);
        assert_eq!(parse_answer(&ack(9, 0), 9, 0, &mut None), Answer::Done(0));
        for cut in 0..entry.len() {
            parse_answer(&entry[..cut], 9, 0, &mut None);
        }
    }
}
