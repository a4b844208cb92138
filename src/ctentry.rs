//! One conntrack entry addressed by its original tuple, zone and id: the
//! detail pane asks for it (`conntrack -G`), the kill key deletes it
//! (`conntrack -D ... -i ID`). The only place nftop writes to the table.
//!
//! The request carries the id (CTA_ID), so a delete never hits a newer
//! connection that reused the tuple: the kernel answers ENOENT instead
//! (`ctnetlink_del_conntrack`). Each request waits at most a second for
//! its answer, so a kernel that says nothing cannot freeze the screen.

use crate::conntrack::{
    self, Conn, Extra, Tuple, CTA_ID, CTA_IP_V4_DST, CTA_IP_V4_SRC, CTA_IP_V6_DST, CTA_IP_V6_SRC,
    CTA_PROTO_DST_PORT, CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_TUPLE_IP, CTA_TUPLE_ORIG,
    CTA_TUPLE_PROTO, CTA_ZONE,
};
use crate::error::{Error, Result};
use crate::netlink::{self, messages};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;
const CT_NEW: u16 = 1 << 8;
pub const CT_GET: u16 = 1 << 8 | 1;
pub const CT_DELETE: u16 = 1 << 8 | 2;
/// A request is at most 120 bytes (two IPv6 addresses, ICMPv6's three
/// fields, zone, id and the nests).
const REQ_CAP: usize = 128;

/// Appends one attribute, padded to 4 bytes.
fn attr(buf: &mut Vec<u8>, kind: u16, v: &[u8]) {
    buf.extend_from_slice(&(4 + v.len() as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(v);
    buf.resize((buf.len() + 3) & !3, 0);
}

/// Starts a nest: its header, completed by `close` (not a closure taking
/// the contents: one copy of the code, not one per nest).
fn open(buf: &mut Vec<u8>) -> usize {
    buf.extend_from_slice(&[0; 4]);
    buf.len() - 4
}

fn close(buf: &mut [u8], at: usize, kind: u16) {
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    buf[at + 2..at + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}

/// CTA_TUPLE_ORIG { CTA_TUPLE_IP { src, dst }, CTA_TUPLE_PROTO { .. } }:
/// what the decoder read from the dump, attribute for attribute. The
/// kernel's tracker needs every field of its tuple (a missing one is
/// EINVAL: GRE's keys were, once) and its generic tracker ignores the
/// ports, so the ports go with every protocol but ICMP and ICMPv6.
fn tuple(b: &mut Vec<u8>, t: &Tuple, n: usize) {
    let orig = open(b);
    let ip = open(b);
    let (s, d) = if n == 16 {
        (CTA_IP_V6_SRC, CTA_IP_V6_DST)
    } else {
        (CTA_IP_V4_SRC, CTA_IP_V4_DST)
    };
    attr(b, s, &t.src[..n]);
    attr(b, d, &t.dst[..n]);
    close(b, ip, CTA_TUPLE_IP);
    let proto = open(b);
    attr(b, CTA_PROTO_NUM, &[t.proto]);
    // ICMP: `sport` is the id, `dport` type<<8|code.
    match conntrack::icmp_attrs(t.proto) {
        Some([id, kind, code]) => {
            attr(b, id, &t.sport.to_be_bytes());
            attr(b, kind, &[(t.dport >> 8) as u8]);
            attr(b, code, &[t.dport as u8]);
        }
        None => {
            attr(b, CTA_PROTO_SRC_PORT, &t.sport.to_be_bytes());
            attr(b, CTA_PROTO_DST_PORT, &t.dport.to_be_bytes());
        }
    }
    close(b, proto, CTA_TUPLE_PROTO);
    close(b, orig, CTA_TUPLE_ORIG);
}

/// The request for `c` (`CT_GET` or `CT_DELETE`), with an ACK asked for:
/// nlmsghdr, nfgenmsg with the entry's family, the original tuple, the
/// zone when not 0, and the id.
pub fn build(buf: &mut Vec<u8>, kind: u16, c: &Conn, seq: u32) {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&[0; 4]);
    let family = if c.family == 6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    buf.extend_from_slice(&[family as u8, 0, 0, 0]);
    tuple(buf, &c.orig, c.addr_len());
    if c.zone != 0 {
        attr(buf, CTA_ZONE, &c.zone.to_be_bytes());
    }
    attr(buf, CTA_ID, &c.id.to_be_bytes());
    let len = buf.len() as u32;
    buf[..4].copy_from_slice(&len.to_ne_bytes());
}

/// What the kernel said to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Not yet complete: read another datagram.
    Pending,
    /// The ACK (errno 0) or the error's errno.
    Done(i32),
}

/// Reads one datagram of answers to request `seq`: an entry (a GET's
/// answer) is decoded into `out`, an NLMSG_ERROR ends the answer.
pub fn parse_answer(data: &[u8], seq: u32, out: &mut Option<(Conn, Extra)>) -> Answer {
    for (h, payload) in messages(data) {
        if h.seq != seq {
            continue;
        }
        match h.kind {
            NLMSG_ERROR => return Answer::Done(crate::nla::error_code(payload)),
            CT_NEW => {
                let mut c = Conn::default();
                if conntrack::decode(payload, &mut c).is_ok() {
                    *out = Some((c, conntrack::decode_extra(payload)));
                }
            }
            _ => {}
        }
    }
    Answer::Pending
}

/// A socket of its own, opened at the first use: the dump's socket keeps
/// its sequence of dump answers.
pub struct EntrySocket {
    sock: Socket,
    seq: u32,
    req: Vec<u8>,
    buf: Vec<u8>,
}

impl EntrySocket {
    pub fn open() -> Result<EntrySocket> {
        let fail =
            |e: std::io::Error| Error::system(format!("cannot open a conntrack socket: {e}"));
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(fail)?;
        sock.bind_auto().map_err(fail)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
        crate::sys::set_rcvtimeo(std::os::fd::AsRawFd::as_raw_fd(&sock), 1);
        Ok(EntrySocket {
            sock,
            seq: crate::sys::real_ns() as u32,
            req: Vec::with_capacity(REQ_CAP),
            buf: vec![0; 16 * 1024],
        })
    }

    /// Sends `kind` for `c`; the errno of the answer (0: done), and for a
    /// GET the entry as the kernel has it now.
    pub fn ask(&mut self, kind: u16, c: &Conn) -> (i32, Option<(Conn, Extra)>) {
        self.seq = self.seq.wrapping_add(1);
        build(&mut self.req, kind, c, self.seq);
        let mut out = None;
        if let Err(e) = netlink::send(&self.sock, &self.req) {
            return (e.raw_os_error().unwrap_or(libc::EIO), None);
        }
        loop {
            let n = match netlink::recv(&self.sock, &mut self.buf, 0) {
                Ok(n) => n.min(self.buf.len()),
                // EAGAIN after the timeout: no answer.
                Err(e) => return (e.raw_os_error().unwrap_or(libc::EIO), None),
            };
            if let Answer::Done(errno) = parse_answer(&self.buf[..n], self.seq, &mut out) {
                return (errno, out);
            }
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
                let h = netlink::MsgHeader::parse(&buf).unwrap();
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
        build(&mut entry, CT_NEW, &conn(4, 6), 9);
        let ack = |seq: u32, err: i32| {
            let mut m = vec![];
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&[0; 2]);
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&[0; 4]);
            m.extend_from_slice(&(-err).to_ne_bytes());
            m.extend_from_slice(&[0; 16]);
            m
        };
        let mut out = None;
        assert_eq!(parse_answer(&entry, 9, &mut out), Answer::Pending);
        assert_eq!(out.unwrap().0.id, 0xdead_beef);
        let both = [ack(8, 0), ack(9, libc::ENOENT)].concat();
        assert_eq!(
            parse_answer(&both, 9, &mut None),
            Answer::Done(libc::ENOENT)
        );
        assert_eq!(parse_answer(&ack(8, 0), 9, &mut None), Answer::Pending);
        assert_eq!(parse_answer(&ack(9, 0), 9, &mut None), Answer::Done(0));
        for cut in 0..entry.len() {
            parse_answer(&entry[..cut], 9, &mut None);
        }
    }
}
