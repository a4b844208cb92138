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
//! counts and skips (inside a tuple nest only once it is decoded: the
//! dump's reader leaves them, below). No input can make this module panic.
//!
//! The dump's reader (`decode_lazy`) leaves the reply tuple as its nest's
//! bytes and decodes them only for an entry it has not seen: a flow keeps
//! the reply it was first seen with (NAT is decided before an entry is
//! confirmed, so the kernel never changes it), and that is a quarter of
//! the decoding saved on every steady refresh. A message read through a
//! layout leaves the original tuple's nest too: the flow table reads it
//! only for an entry the dump's order does not predict (flows/mod.rs),
//! 10 % of a steady refresh's instructions (callgrind, 100k entries). It also keeps the
//! top-level layouts the dump has met (`Layouts`): a message whose header
//! words are those of one of them, at the same offsets, is read where
//! that layout has each attribute, without walking it (layout.rs).
//!
//! The decoder is `decode.rs` and `layout.rs` (re-exported here); this
//! file has the names, `Conn` and the encoder.
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

mod decode;
#[cfg(test)]
mod fastpath_tests;
mod layout;
pub use decode::*;
pub use layout::Layouts;

use crate::nl::attr;

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
