//! ctnetlink message bytes to a fixed `Conn`.
//!
//! Decoding is in place: `Attrs` walks the attributes as checked slices of
//! the receive buffer, and each value is copied into plain fields on the
//! one pass. Nothing allocates (netlink-packet-netfilter 0.4 builds a
//! `Vec` per attribute and lacks counters, id, zone and timestamps, so it
//! is used only to build requests; netlink-packet-core's `NlasIterator`
//! did the walking before, at three times the cost per attribute, which
//! at a million entries is most of nftop's own share of a refresh).
//!
//! Contract, in the style of libmnl's validate-or-ignore tables: unknown
//! attribute types are skipped (newer kernels add some); a known attribute
//! with a wrong length makes the whole entry `Malformed`, which the caller
//! counts and skips. No input can make this module panic.
//!
//! The dump's reader (`decode_lazy`) leaves the reply tuple as its nest's
//! bytes and decodes them only for an entry it has not seen: a flow keeps
//! the reply it was first seen with (NAT is decided before an entry is
//! confirmed, so the kernel never changes it), and that is a quarter of
//! the decoding saved on every steady refresh.
//!
//! Byte order: attribute headers (`nla_len`, `nla_type`) are host order;
//! every ctnetlink payload integer is big-endian whatever the CPU
//! (`linux/netfilter/nfnetlink_conntrack.h`).
//!
//! The encoder of the one request that names an entry (`encode_entry`:
//! get or delete by tuple, zone and id) sits beside the decoder and
//! writes the same attributes, so the two cannot drift apart.

// Message types: NFNL_SUBSYS_CTNETLINK << 8 | enum cntl_msg_types
// (linux/netfilter/nfnetlink_conntrack.h).
const NFNL_SUBSYS_CTNETLINK: u16 = 1 << 8;
pub const CT_NEW: u16 = NFNL_SUBSYS_CTNETLINK;
pub const CT_GET: u16 = NFNL_SUBSYS_CTNETLINK | 1;
pub const CT_DELETE: u16 = NFNL_SUBSYS_CTNETLINK | 2;
/// nlbwmon's "dump and zero the counters" request (used by tests to
/// reproduce OpenWrt's counter resets).
pub const CT_GET_CTRZERO: u16 = NFNL_SUBSYS_CTNETLINK | 3;
/// NFNLGRP_CONNTRACK_DESTROY (linux/netfilter/nfnetlink.h).
pub const GROUP_DESTROY: u32 = 3;

// Top-level attributes (enum ctattr_type): one vocabulary for the
// decoder and the encoder.
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_TIMEOUT: u16 = 7;
const CTA_MARK: u16 = 8;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_USE: u16 = 11;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_TIMESTAMP: u16 = 20;
// enum ctattr_tuple / ctattr_ip / ctattr_l4proto.
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;
// enum ctattr_counters / ctattr_tstamp / ctattr_protoinfo.
const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;
const CTA_COUNTERS32_PACKETS: u16 = 3;
const CTA_COUNTERS32_BYTES: u16 = 4;
const CTA_TIMESTAMP_START: u16 = 1;
const CTA_TIMESTAMP_STOP: u16 = 2;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_DCCP: u16 = 2;
const CTA_PROTOINFO_SCTP: u16 = 3;
/// The state is the first attribute of each protoinfo nest (TCP, DCCP, SCTP).
const CTA_PROTOINFO_STATE: u16 = 1;

pub const NFGENMSG_LEN: usize = 4;

/// struct nfgenmsg for `family`: version NFNETLINK_V0, res_id 0.
pub fn nfgenmsg(family: i32) -> [u8; NFGENMSG_LEN] {
    [family as u8, 0, 0, 0]
}

use crate::nl::attr::{self, Attrs, Malformed};

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// Status bits (enum ip_conntrack_status, `linux/netfilter/nf_conntrack_common.h`).
pub const IPS_SRC_NAT: u32 = 1 << 4;
pub const IPS_DST_NAT: u32 = 1 << 5;
pub const IPS_OFFLOAD: u32 = 1 << 14;
pub const IPS_HW_OFFLOAD: u32 = 1 << 15;

/// Where an entry's packets are forwarded: by the usual path, or past it
/// by a flowtable (nf_flow_table_core.c sets OFFLOAD), in hardware when the
/// driver took the flow (HW_OFFLOAD as well).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    No,
    Sw,
    Hw,
}

impl Offload {
    pub fn of(status: u32) -> Offload {
        if status & IPS_HW_OFFLOAD != 0 {
            Offload::Hw
        } else if status & IPS_OFFLOAD != 0 {
            Offload::Sw
        } else {
            Offload::No
        }
    }

    /// As `-M` and JSON write it ("-": not offloaded).
    pub fn name(self) -> &'static str {
        match self {
            Offload::No => "-",
            Offload::Sw => "sw",
            Offload::Hw => "hw",
        }
    }
}

pub const STATUS_NAMES: [&str; 16] = [
    "EXPECTED",
    "SEEN_REPLY",
    "ASSURED",
    "CONFIRMED",
    "SRC_NAT",
    "DST_NAT",
    "SEQ_ADJUST",
    "SRC_NAT_DONE",
    "DST_NAT_DONE",
    "DYING",
    "FIXED_TIMEOUT",
    "TEMPLATE",
    "NAT_CLASH",
    "HELPER",
    "OFFLOAD",
    "HW_OFFLOAD",
];

/// One direction of a connection. Addresses are 16 bytes; IPv4 uses the
/// first 4. For ICMP, `sport` holds the echo id and `dport` type<<8|code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tuple {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// A decoded conntrack entry: plain data, no references into the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conn {
    /// 4 or 6.
    pub family: u8,
    /// Protocol state (TCP, SCTP, DCCP), `NO_STATE` otherwise.
    pub state: u8,
    pub has_counters: bool,
    pub zone: u16,
    pub orig: Tuple,
    pub reply: Tuple,
    pub status: u32,
    pub mark: u32,
    pub id: u32,
    pub orig_bytes: u64,
    pub reply_bytes: u64,
    /// Packets (original, reply): under GRO/GSO a merged super-packet
    /// counts once. Kept only for IPFIX's packetDeltaCount.
    pub packets: [u64; 2],
    /// CTA_TIMESTAMP_START, ns of CLOCK_REALTIME; 0 when timestamps are off.
    pub start: u64,
}

pub const NO_STATE: u8 = 0xff;

impl Conn {
    pub fn addr_len(&self) -> usize {
        if self.family == 6 {
            16
        } else {
            4
        }
    }

    /// The source address the far side sees, when source NAT changed it:
    /// the reply tuple's destination (with its port, never a mix).
    pub fn nat_src(&self) -> Option<(&[u8], u16)> {
        let n = self.addr_len();
        if self.status & IPS_SRC_NAT != 0
            && (self.reply.dst[..n] != self.orig.src[..n] || self.reply.dport != self.orig.sport)
        {
            Some((&self.reply.dst[..n], self.reply.dport))
        } else {
            None
        }
    }

    /// The host a destination NAT (port forward) sends to: the reply
    /// tuple's source, with its own port.
    pub fn nat_dst(&self) -> Option<(&[u8], u16)> {
        let n = self.addr_len();
        if self.status & IPS_DST_NAT != 0
            && (self.reply.src[..n] != self.orig.dst[..n] || self.reply.sport != self.orig.dport)
        {
            Some((&self.reply.src[..n], self.reply.sport))
        } else {
            None
        }
    }

    pub fn has_ports(&self) -> bool {
        has_ports(self.orig.proto)
    }
}

/// Protocols whose tuples carry 16-bit ports.
/// ICMP and ICMPv6: conntrack keeps the echo id in the source port and
/// type<<8|code in the destination port.
pub fn is_icmp(proto: u8) -> bool {
    matches!(proto, 1 | 58)
}

pub fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 33 | 132 | 136)
}

/// The attributes of ICMP's id, type and code (ICMP or ICMPv6: the
/// decoder reads them into `sport` and `dport`), None for every other
/// protocol. Those carry CTA_PROTO_SRC_PORT and _DST_PORT where the
/// kernel's tracker has ports (`nf_ct_port_tuple_to_nlattr`: TCP, UDP,
/// UDPLite, SCTP, DCCP, and GRE, whose keys are PPTP call ids that
/// `has_ports` does not show), none otherwise.
pub fn icmp_attrs(proto: u8) -> Option<[u16; 3]> {
    match proto {
        IPPROTO_ICMP => Some([CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE]),
        IPPROTO_ICMPV6 => Some([
            CTA_PROTO_ICMPV6_ID,
            CTA_PROTO_ICMPV6_TYPE,
            CTA_PROTO_ICMPV6_CODE,
        ]),
        _ => None,
    }
}

/// The request `kind` (CT_GET, CT_DELETE; CT_NEW in tests) for `c`, with
/// `flags`: nfgenmsg with the entry's family, the original tuple, the
/// zone when not 0, and the id (so a delete never hits a newer entry
/// that reused the tuple: the kernel answers ENOENT instead).
pub fn encode_entry(buf: &mut Vec<u8>, kind: u16, flags: u16, c: &Conn, seq: u32) {
    buf.clear();
    let family = if c.family == 6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    let at = crate::nl::begin(buf, kind, flags, seq, &nfgenmsg(family));
    encode_tuple(buf, &c.orig, c.addr_len());
    if c.zone != 0 {
        attr::put(buf, CTA_ZONE, &c.zone.to_be_bytes());
    }
    attr::put(buf, CTA_ID, &c.id.to_be_bytes());
    crate::nl::finish(buf, at);
}

/// CTA_TUPLE_ORIG { CTA_TUPLE_IP { src, dst }, CTA_TUPLE_PROTO { .. } }:
/// what `decode_tuple` reads, attribute for attribute. The kernel's
/// tracker needs every field of its tuple (a missing one is EINVAL: GRE's
/// keys were, once) and its generic tracker ignores the ports, so the
/// ports go with every protocol but ICMP and ICMPv6.
fn encode_tuple(b: &mut Vec<u8>, t: &Tuple, n: usize) {
    let orig = attr::open(b);
    let ip = attr::open(b);
    let (s, d) = if n == 16 {
        (CTA_IP_V6_SRC, CTA_IP_V6_DST)
    } else {
        (CTA_IP_V4_SRC, CTA_IP_V4_DST)
    };
    attr::put(b, s, &t.src[..n]);
    attr::put(b, d, &t.dst[..n]);
    attr::close(b, ip, CTA_TUPLE_IP);
    let proto = attr::open(b);
    attr::put(b, CTA_PROTO_NUM, &[t.proto]);
    // ICMP: `sport` is the id, `dport` type<<8|code.
    match icmp_attrs(t.proto) {
        Some([id, kind, code]) => {
            attr::put(b, id, &t.sport.to_be_bytes());
            attr::put(b, kind, &[(t.dport >> 8) as u8]);
            attr::put(b, code, &[t.dport as u8]);
        }
        None => {
            attr::put(b, CTA_PROTO_SRC_PORT, &t.sport.to_be_bytes());
            attr::put(b, CTA_PROTO_DST_PORT, &t.dport.to_be_bytes());
        }
    }
    attr::close(b, proto, CTA_TUPLE_PROTO);
    attr::close(b, orig, CTA_TUPLE_ORIG);
}

/// Decodes one conntrack message payload (nfgenmsg + attributes) into
/// `out`. `out` is overwritten completely.
pub fn decode(payload: &[u8], out: &mut Conn) -> Result<(), Malformed> {
    decode_stop(payload, out).map(|_| ())
}

/// Like `decode`, also returning CTA_TIMESTAMP_STOP (DESTROY events carry
/// it; 0 when absent). Kept out of `Conn` because a dumped entry never has
/// one and every flow would carry the 8 bytes.
pub fn decode_stop(payload: &[u8], out: &mut Conn) -> Result<u64, Malformed> {
    let (stop, reply) = decode_top(payload, out)?;
    decode_reply(reply, out)?;
    Ok(stop)
}

/// Like `decode`, except the reply tuple: returned as the bytes of its
/// nest (empty when absent), for `decode_reply`. A dump's reader needs it
/// only for entries it has not seen yet; it is a quarter of the decoding.
pub fn decode_lazy<'a>(payload: &'a [u8], out: &mut Conn) -> Result<&'a [u8], Malformed> {
    decode_top(payload, out).map(|(_, reply)| reply)
}

/// Completes `decode_lazy` with the reply tuple's nest `raw`.
pub fn decode_reply(raw: &[u8], out: &mut Conn) -> Result<(), Malformed> {
    decode_tuple(raw, &mut out.reply)?;
    if out.reply.proto == 0 {
        // No reply tuple (should not happen in a dump): mirror the original
        // so NAT detection sees "unchanged".
        out.reply = Tuple {
            src: out.orig.dst,
            dst: out.orig.src,
            sport: out.orig.dport,
            dport: out.orig.sport,
            proto: out.orig.proto,
        };
    }
    Ok(())
}

/// What only the detail pane shows, read again from the one entry it
/// asked for (a dumped flow does not carry it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extra {
    /// Packets, original and reply direction.
    pub packets: [u64; 2],
    /// Seconds until the entry expires without traffic.
    pub timeout: u32,
}

/// The `Extra` of a message that `decode` accepted.
pub fn decode_extra(payload: &[u8]) -> Extra {
    let mut x = Extra::default();
    for (kind, v) in Attrs(payload.get(NFGENMSG_LEN..).unwrap_or(&[])).flatten() {
        match kind {
            CTA_TIMEOUT => x.timeout = be32(v).unwrap_or(0),
            CTA_COUNTERS_ORIG | CTA_COUNTERS_REPLY => {
                for (k, c) in Attrs(v).flatten() {
                    let n = match k {
                        CTA_COUNTERS_PACKETS => be64(c),
                        CTA_COUNTERS32_PACKETS => be32(c).map(u64::from),
                        _ => continue,
                    };
                    x.packets[usize::from(kind == CTA_COUNTERS_REPLY)] = n.unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    x
}

/// Every attribute but the reply tuple's contents, which are returned as
/// the nest's bytes, with CTA_TIMESTAMP_STOP.
fn decode_top<'a>(payload: &'a [u8], out: &mut Conn) -> Result<(u64, &'a [u8]), Malformed> {
    let mut stop = 0;
    let mut reply: &[u8] = &[];
    if payload.len() < NFGENMSG_LEN {
        return Err(Malformed);
    }
    *out = Conn {
        state: NO_STATE,
        family: match payload[0] as i32 {
            libc::AF_INET => 4,
            libc::AF_INET6 => 6,
            _ => return Err(Malformed),
        },
        ..Conn::default()
    };
    let mut seen_orig = false;
    for nla in Attrs(&payload[NFGENMSG_LEN..]) {
        let (kind, v) = nla?;
        match kind {
            CTA_TUPLE_ORIG => {
                decode_tuple(v, &mut out.orig)?;
                seen_orig = true;
            }
            CTA_TUPLE_REPLY => reply = v,
            CTA_STATUS => out.status = be32(v)?,
            CTA_PROTOINFO => out.state = decode_protoinfo(v)?,
            // Checked, not kept (nothing shows them).
            CTA_TIMEOUT | CTA_USE => {
                be32(v)?;
            }
            CTA_MARK => out.mark = be32(v)?,
            CTA_COUNTERS_ORIG => {
                (out.orig_bytes, out.packets[0]) = decode_counters(v)?;
                out.has_counters = true;
            }
            CTA_COUNTERS_REPLY => {
                (out.reply_bytes, out.packets[1]) = decode_counters(v)?;
                out.has_counters = true;
            }
            CTA_ID => out.id = be32(v)?,
            CTA_ZONE => out.zone = be16(v)?,
            CTA_TIMESTAMP => (out.start, stop) = decode_timestamp(v)?,
            _ => {}
        }
    }
    if !seen_orig {
        return Err(Malformed);
    }
    Ok((stop, reply))
}

fn decode_tuple(buf: &[u8], t: &mut Tuple) -> Result<(), Malformed> {
    if tuple_as_usual(buf, t) {
        return Ok(());
    }
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        match kind {
            CTA_TUPLE_IP => {
                for ip in Attrs(v) {
                    let (kind, a) = ip?;
                    match kind {
                        CTA_IP_V4_SRC => t.src[..4].copy_from_slice(exact(a, 4)?),
                        CTA_IP_V4_DST => t.dst[..4].copy_from_slice(exact(a, 4)?),
                        CTA_IP_V6_SRC => t.src.copy_from_slice(exact(a, 16)?),
                        CTA_IP_V6_DST => t.dst.copy_from_slice(exact(a, 16)?),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                let (mut icmp_type, mut icmp_code) = (0u16, 0u16);
                for p in Attrs(v) {
                    let (kind, a) = p?;
                    match kind {
                        CTA_PROTO_NUM => t.proto = *exact(a, 1)?.first().ok_or(Malformed)?,
                        CTA_PROTO_SRC_PORT | CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => {
                            t.sport = be16(a)?
                        }
                        CTA_PROTO_DST_PORT => t.dport = be16(a)?,
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                            icmp_type = *exact(a, 1)?.first().ok_or(Malformed)? as u16
                        }
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                            icmp_code = *exact(a, 1)?.first().ok_or(Malformed)? as u16
                        }
                        _ => {}
                    }
                }
                if t.proto == IPPROTO_ICMP || t.proto == IPPROTO_ICMPV6 {
                    t.dport = icmp_type << 8 | icmp_code;
                }
            }
            _ => {}
        }
    }
    if t.proto == 0 && !buf.is_empty() {
        // A tuple without CTA_PROTO_NUM cannot be shown or keyed.
        return Err(Malformed);
    }
    Ok(())
}

/// Length and type (flags masked) of the attribute header at `off`.
fn head(buf: &[u8], off: usize) -> (usize, u16) {
    match buf.get(off..off + 4) {
        Some(&[l0, l1, t0, t1]) => (
            usize::from(u16::from_ne_bytes([l0, l1])),
            u16::from_ne_bytes([t0, t1]) & 0x3fff,
        ),
        _ => (0, 0),
    }
}

/// A steady refresh decodes two tuples per entry: the kernel's usual one
/// (the IP nest with both addresses, then the proto nest with number,
/// source and destination port, nothing else) is read at its fixed
/// offsets, without a branch per attribute. False for any other layout
/// (ICMP, a zone, another order): the loop reads it, as it would this.
fn tuple_as_usual(buf: &[u8], t: &mut Tuple) -> bool {
    let (n, src) = match buf.len() {
        48 => (4, CTA_IP_V4_SRC),
        72 => (16, CTA_IP_V6_SRC),
        _ => return false,
    };
    let ip = 4 + 2 * (4 + n);
    let usual = head(buf, 0) == (ip, CTA_TUPLE_IP)
        && head(buf, 4) == (4 + n, src)
        && head(buf, 8 + n) == (4 + n, src + 1)
        && head(buf, ip) == (28, CTA_TUPLE_PROTO)
        && head(buf, ip + 4) == (5, CTA_PROTO_NUM)
        && head(buf, ip + 12) == (6, CTA_PROTO_SRC_PORT)
        && head(buf, ip + 20) == (6, CTA_PROTO_DST_PORT);
    let proto = buf[ip + 8];
    if !usual || proto == 0 || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 {
        return false;
    }
    // Constant lengths: moves, not calls to memmove.
    if n == 16 {
        t.src.copy_from_slice(&buf[8..24]);
        t.dst.copy_from_slice(&buf[28..44]);
    } else {
        t.src[..4].copy_from_slice(&buf[8..12]);
        t.dst[..4].copy_from_slice(&buf[16..20]);
    }
    t.proto = proto;
    t.sport = u16::from_be_bytes([buf[ip + 16], buf[ip + 17]]);
    t.dport = u16::from_be_bytes([buf[ip + 24], buf[ip + 25]]);
    true
}

fn decode_protoinfo(buf: &[u8]) -> Result<u8, Malformed> {
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        if matches!(
            kind,
            CTA_PROTOINFO_TCP | CTA_PROTOINFO_DCCP | CTA_PROTOINFO_SCTP
        ) {
            for s in Attrs(v) {
                let (kind, v) = s?;
                if kind == CTA_PROTOINFO_STATE {
                    return exact(v, 1)?.first().copied().ok_or(Malformed);
                }
            }
        }
    }
    Ok(NO_STATE)
}

/// The byte and packet counters of a counters nest.
fn decode_counters(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    // The kernel's usual nest, packets then bytes, 64-bit, unpadded, at
    // its fixed offsets (the loop reads the same from it).
    if buf.len() == 24
        && head(buf, 0) == (12, CTA_COUNTERS_PACKETS)
        && head(buf, 12) == (12, CTA_COUNTERS_BYTES)
    {
        return Ok((be64(&buf[16..])?, be64(&buf[4..12])?));
    }
    let (mut bytes, mut packets) = (0, 0);
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        match kind {
            CTA_COUNTERS_PACKETS => packets = be64(v)?,
            CTA_COUNTERS_BYTES => bytes = be64(v)?,
            // Very old kernels sent 32-bit counters.
            CTA_COUNTERS32_PACKETS => packets = be32(v)? as u64,
            CTA_COUNTERS32_BYTES => bytes = be32(v)? as u64,
            _ => {}
        }
    }
    Ok((bytes, packets))
}

fn decode_timestamp(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    let (mut start, mut stop) = (0, 0);
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        match kind {
            CTA_TIMESTAMP_START => start = be64(v)?,
            CTA_TIMESTAMP_STOP => stop = be64(v)?,
            _ => {}
        }
    }
    Ok((start, stop))
}

fn exact(v: &[u8], n: usize) -> Result<&[u8], Malformed> {
    if v.len() == n {
        Ok(v)
    } else {
        Err(Malformed)
    }
}

fn be16(v: &[u8]) -> Result<u16, Malformed> {
    let a: [u8; 2] = v.try_into().map_err(|_| Malformed)?;
    Ok(u16::from_be_bytes(a))
}

fn be32(v: &[u8]) -> Result<u32, Malformed> {
    let a: [u8; 4] = v.try_into().map_err(|_| Malformed)?;
    Ok(u32::from_be_bytes(a))
}

fn be64(v: &[u8]) -> Result<u64, Malformed> {
    let a: [u8; 8] = v.try_into().map_err(|_| Malformed)?;
    Ok(u64::from_be_bytes(a))
}

/// Lower-case protocol name for display and JSON; None for numbers we
/// print as digits.
pub fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        2 => "igmp",
        4 => "ipip",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

/// State name for the protocol (TCP states from `nf_conntrack_tcp.h`,
/// SCTP from `nf_conntrack_sctp.h`, DCCP from `nf_conntrack_dccp.h`).
pub fn state_name(proto: u8, s: u8) -> &'static str {
    const TCP: [&str; 10] = [
        "NONE",
        "SYN_SENT",
        "SYN_RECV",
        "ESTABLISHED",
        "FIN_WAIT",
        "CLOSE_WAIT",
        "LAST_ACK",
        "TIME_WAIT",
        "CLOSE",
        "SYN_SENT2",
    ];
    const SCTP: [&str; 10] = [
        "NONE",
        "CLOSED",
        "COOKIE_WAIT",
        "COOKIE_ECHOED",
        "ESTABLISHED",
        "SHUTDOWN_SENT",
        "SHUTDOWN_RECD",
        "SHUTDOWN_ACK_SENT",
        "HEARTBEAT_SENT",
        "HEARTBEAT_ACKED",
    ];
    const DCCP: [&str; 10] = [
        "NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT",
        "IGNORE", "INVALID",
    ];
    if s == NO_STATE {
        return "-";
    }
    let table = match proto {
        6 => &TCP,
        132 => &SCTP,
        33 => &DCCP,
        _ => return "-",
    };
    table.get(s as usize).copied().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-offset reads give what the loops give, on the layout
    /// the kernel (and `encode_tuple`) writes.
    #[test]
    fn usual_layouts_read_as_the_loops() {
        for (n, proto) in [(4, 6), (16, 17), (4, 132)] {
            let t = Tuple {
                src: [7; 16],
                dst: [9; 16],
                sport: 4242,
                dport: 443,
                proto,
            };
            let mut b = Vec::new();
            encode_tuple(&mut b, &t, n);
            let (mut fast, mut slow) = (Tuple::default(), Tuple::default());
            assert!(tuple_as_usual(&b[4..], &mut fast));
            // An attribute nothing reads: the loop's turn.
            let mut more = b[4..].to_vec();
            attr::put(&mut more, 9, &[0; 4]);
            assert!(!tuple_as_usual(&more, &mut Tuple::default()));
            decode_tuple(&more, &mut slow).unwrap();
            assert_eq!(fast, slow);
        }
        let mut c = Vec::new();
        attr::put(&mut c, CTA_COUNTERS_PACKETS, &5u64.to_be_bytes());
        attr::put(&mut c, CTA_COUNTERS_BYTES, &700u64.to_be_bytes());
        assert_eq!(decode_counters(&c).ok(), Some((700, 5)));
        attr::put(&mut c, 9, &[0; 4]);
        assert_eq!(decode_counters(&c).ok(), Some((700, 5)));
    }
}
