//! The rtnetlink wire format nftop reads and writes: field positions of
//! the fixed headers (smoltcp style: one named range per field), checked
//! readers that turn one message's payload into a small value, and the
//! request encoders. Every reader is a function of bytes: it checks the
//! header length once, skips attributes it does not know or whose length
//! is wrong, and never panics, so it can be fuzzed without a socket.
//!
//! Integers in rtnetlink headers and attributes are in host byte order,
//! except ports (`RTA_SPORT`/`RTA_DPORT`), which are big-endian.

use crate::nl::attr::{self, Attrs};
use crate::nl::{NLM_F_DUMP, NLM_F_REQUEST};
use std::ops::Range;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWRULE: u16 = 32;
pub const RTM_GETRULE: u16 = 34;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_DELNEIGH: u16 = 29;
const RTM_GETNEIGH: u16 = 30;

pub const IFNAMSIZ: usize = 16;
/// Nexthops of one multipath route that nftop keeps; more are counted.
pub const MAX_NEXTHOPS: usize = 8;

/// struct ifinfomsg (linux/rtnetlink.h).
mod ifinfomsg {
    use super::Range;
    pub const INDEX: Range<usize> = 4..8;
    pub const FLAGS: Range<usize> = 8..12;
    pub const LEN: usize = 16;
}

/// struct ifaddrmsg (linux/if_addr.h).
mod ifaddrmsg {
    use super::Range;
    pub const FAMILY: usize = 0;
    pub const PREFIXLEN: usize = 1;
    pub const INDEX: Range<usize> = 4..8;
    pub const LEN: usize = 8;
}

/// struct ndmsg (linux/neighbour.h): family, 3 pad bytes, ifindex, state
/// (u16), flags, type.
mod ndmsg {
    use super::Range;
    pub const FAMILY: usize = 0;
    pub const STATE: Range<usize> = 8..10;
    pub const LEN: usize = 12;
}

/// struct rtmsg (linux/rtnetlink.h).
mod rtmsg {
    pub const FAMILY: usize = 0;
    pub const DST_LEN: usize = 1;
    pub const TABLE: usize = 4;
    pub const TYPE: usize = 7;
    pub const LEN: usize = 12;
}

/// struct fib_rule_hdr (linux/fib_rules.h).
mod fib_rule_hdr {
    pub const FAMILY: usize = 0;
    pub const DST_LEN: usize = 1;
    pub const SRC_LEN: usize = 2;
    pub const LEN: usize = 12;
}

/// struct rtnexthop: len u16, flags u8, hops u8, ifindex i32, attributes.
/// A nexthop flagged dead (its link is down) is no candidate.
mod rtnexthop {
    use super::Range;
    pub const FLAGS: usize = 2;
    pub const IFINDEX: Range<usize> = 4..8;
    pub const HDR: usize = 8;
}

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
pub const IFF_UP: u32 = 0x1;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_RUNNING: u32 = 0x40;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_IIF: u16 = 3;
const RTA_OIF: u16 = 4;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_MARK: u16 = 16;
const RTA_IP_PROTO: u16 = 27;
const RTA_SPORT: u16 = 28;
const RTA_DPORT: u16 = 29;
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_FWMARK: u16 = 10;
const FRA_FWMASK: u16 = 16;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;
const RTNH_F_DEAD: u8 = 1;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RT_TABLE_LOCAL: u32 = 255;
/// Ask for the FIB entry that matched, not a host route clone
/// (linux/rtnetlink.h): its prefix length and every nexthop.
const RTM_F_FIB_MATCH: u32 = 0x2000;

fn u32_at(b: &[u8], r: Range<usize>) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(r)?.try_into().ok()?))
}

fn u32_of(v: &[u8]) -> Option<u32> {
    (v.len() == 4).then(|| u32::from_ne_bytes([v[0], v[1], v[2], v[3]]))
}

/// One RTM_NEWLINK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkMsg {
    pub index: u32,
    pub flags: u32,
    pub name: [u8; IFNAMSIZ],
    pub name_len: u8,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

pub fn parse_link(p: &[u8]) -> Option<LinkMsg> {
    if p.len() < ifinfomsg::LEN {
        return None;
    }
    let mut l = LinkMsg {
        index: u32_at(p, ifinfomsg::INDEX)?,
        flags: u32_at(p, ifinfomsg::FLAGS)?,
        name: [0; IFNAMSIZ],
        name_len: 0,
        rx_bytes: 0,
        tx_bytes: 0,
    };
    for (kind, v) in Attrs(&p[ifinfomsg::LEN..]).flatten() {
        match kind {
            IFLA_IFNAME => {
                let n = v
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(v.len())
                    .min(IFNAMSIZ - 1);
                l.name[..n].copy_from_slice(&v[..n]);
                // The kernel takes any byte in a name but NUL, '/', ':'
                // and whitespace (dev_valid_name), ESC and BEL too: the
                // name is cleaned here, once, for every output.
                l.name_len = crate::text::clean_label(&mut l.name[..n]) as u8;
            }
            // struct rtnl_link_stats64: rx_packets, tx_packets, rx_bytes,
            // tx_bytes, ... (u64, host order)
            IFLA_STATS64 if v.len() >= 32 => {
                let u = |o: usize| u64::from_ne_bytes(v[o..o + 8].try_into().unwrap_or([0; 8]));
                l.rx_bytes = u(16);
                l.tx_bytes = u(24);
            }
            _ => {}
        }
    }
    Some(l)
}

/// One RTM_NEWADDR: the router's own address (`IFA_LOCAL`, else
/// `IFA_ADDRESS`) and the network it connects to (`IFA_ADDRESS`: the peer
/// on point-to-point links) with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrMsg {
    pub index: u32,
    /// 4 or 16.
    pub alen: u8,
    pub prefix_len: u8,
    pub local: [u8; 16],
    pub network: [u8; 16],
}

pub fn parse_addr(p: &[u8]) -> Option<AddrMsg> {
    if p.len() < ifaddrmsg::LEN {
        return None;
    }
    let alen = match p[ifaddrmsg::FAMILY] as i32 {
        libc::AF_INET => 4,
        libc::AF_INET6 => 16,
        _ => return None,
    };
    let mut a = AddrMsg {
        index: u32_at(p, ifaddrmsg::INDEX)?,
        alen: alen as u8,
        prefix_len: p[ifaddrmsg::PREFIXLEN].min(alen as u8 * 8),
        local: [0; 16],
        network: [0; 16],
    };
    let (mut has_local, mut has_addr) = (false, false);
    for (kind, v) in Attrs(&p[ifaddrmsg::LEN..]).flatten() {
        if v.len() != alen {
            continue;
        }
        match kind {
            IFA_LOCAL => {
                a.local[..alen].copy_from_slice(v);
                has_local = true;
            }
            IFA_ADDRESS => {
                a.network[..alen].copy_from_slice(v);
                has_addr = true;
            }
            _ => {}
        }
    }
    match (has_local, has_addr) {
        (false, false) => None,
        (true, false) => {
            a.network = a.local;
            Some(a)
        }
        (false, true) => {
            a.local = a.network;
            Some(a)
        }
        (true, true) => Some(a),
    }
}

/// One RTM_NEWROUTE, from a dump or as a lookup answer (RTM_F_FIB_MATCH:
/// the matched entry with its prefix length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteMsg {
    pub family: u8,
    pub dst_len: u8,
    /// `RTA_DST` (zeros for a default route).
    pub dst: [u8; 16],
    pub table: u32,
    pub kind: u8,
    pub oif: u32,
    /// Nexthop interfaces of a multipath route (`RTA_MULTIPATH`).
    pub nexthops: [u32; MAX_NEXTHOPS],
    pub n_nexthops: u8,
}

pub fn parse_route(p: &[u8]) -> Option<RouteMsg> {
    if p.len() < rtmsg::LEN {
        return None;
    }
    let mut r = RouteMsg {
        family: p[rtmsg::FAMILY],
        dst_len: p[rtmsg::DST_LEN],
        dst: [0; 16],
        table: p[rtmsg::TABLE] as u32,
        kind: p[rtmsg::TYPE],
        oif: 0,
        nexthops: [0; MAX_NEXTHOPS],
        n_nexthops: 0,
    };
    for (kind, v) in Attrs(&p[rtmsg::LEN..]).flatten() {
        match kind {
            RTA_DST if v.len() == 4 || v.len() == 16 => r.dst[..v.len()].copy_from_slice(v),
            RTA_TABLE => r.table = u32_of(v).unwrap_or(r.table),
            RTA_OIF => r.oif = u32_of(v).unwrap_or(0),
            RTA_MULTIPATH => {
                let mut o = 0;
                while let Some(nh) = v.get(o..o + rtnexthop::HDR) {
                    let len = u16::from_ne_bytes([nh[0], nh[1]]) as usize;
                    let ifi = u32_at(nh, rtnexthop::IFINDEX).unwrap_or(0);
                    let dead = nh[rtnexthop::FLAGS] & RTNH_F_DEAD != 0;
                    let k = r.n_nexthops as usize;
                    if ifi != 0 && !dead && k < MAX_NEXTHOPS && !r.nexthops[..k].contains(&ifi) {
                        r.nexthops[k] = ifi;
                        r.n_nexthops += 1;
                    }
                    if len < rtnexthop::HDR {
                        break;
                    }
                    o += (len + 3) & !3;
                }
            }
            _ => {}
        }
    }
    Some(r)
}

impl RouteMsg {
    pub fn nexthops(&self) -> &[u32] {
        &self.nexthops[..self.n_nexthops as usize]
    }
}

/// What a policy rule selects on, as far as a route lookup must carry it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    pub src: bool,
    pub mark: bool,
    /// Protocol or port ranges (`ipproto`, `sport`, `dport`).
    pub l4: bool,
}

impl Selectors {
    pub fn add(&mut self, o: Selectors) {
        self.src |= o.src;
        self.mark |= o.mark;
        self.l4 |= o.l4;
    }
}

/// One RTM_NEWRULE: which packet fields it looks at, and the prefixes it
/// selects (`to`, `from`) with their lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleMsg {
    /// 4 or 6 (0 for another family).
    pub family: u8,
    pub sel: Selectors,
    pub dst: ([u8; 16], u8),
    pub src: ([u8; 16], u8),
}

pub fn parse_rule(p: &[u8]) -> Option<RuleMsg> {
    if p.len() < fib_rule_hdr::LEN {
        return None;
    }
    let mut r = RuleMsg {
        family: match p[fib_rule_hdr::FAMILY] as i32 {
            libc::AF_INET => 4,
            libc::AF_INET6 => 6,
            _ => 0,
        },
        sel: Selectors {
            src: p[fib_rule_hdr::SRC_LEN] != 0,
            ..Selectors::default()
        },
        dst: ([0; 16], p[fib_rule_hdr::DST_LEN]),
        src: ([0; 16], p[fib_rule_hdr::SRC_LEN]),
    };
    for (kind, v) in Attrs(&p[fib_rule_hdr::LEN..]).flatten() {
        match kind {
            FRA_FWMARK | FRA_FWMASK => r.sel.mark |= u32_of(v).is_some_and(|m| m != 0),
            FRA_IP_PROTO | FRA_SPORT_RANGE | FRA_DPORT_RANGE => r.sel.l4 = true,
            FRA_DST if v.len() == 4 || v.len() == 16 => r.dst.0[..v.len()].copy_from_slice(v),
            FRA_SRC if v.len() == 4 || v.len() == 16 => r.src.0[..v.len()].copy_from_slice(v),
            _ => {}
        }
    }
    Some(r)
}

/// A dump request: `nlmsghdr` and a zeroed family header of `family_len`
/// bytes (AF_UNSPEC: every family, no filter). The sequence number is
/// patched in before each send.
fn dump_request(msg_type: u16, family_len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(crate::nl::NLMSG_HDRLEN + family_len);
    let family = [0; ifinfomsg::LEN]; // the largest of the five
    let at = crate::nl::begin(
        &mut b,
        msg_type,
        NLM_F_REQUEST | NLM_F_DUMP,
        0,
        &family[..family_len],
    );
    crate::nl::finish(&mut b, at);
    b
}

/// The five dumps: addresses, links, routes, rules, neighbours.
pub fn dump_requests() -> [Vec<u8>; 5] {
    [
        dump_request(RTM_GETADDR, ifaddrmsg::LEN),
        dump_request(RTM_GETLINK, ifinfomsg::LEN),
        dump_request(RTM_GETROUTE, rtmsg::LEN),
        dump_request(RTM_GETRULE, fib_rule_hdr::LEN),
        dump_request(RTM_GETNEIGH, ndmsg::LEN),
    ]
}

/// A neighbour entry with a link-layer address: (address, 4 or 16
/// bytes, and the 6-byte MAC). Entries still resolving or failed
/// (NUD_INCOMPLETE, NUD_FAILED) and NOARP ones (multicast, point to
/// point) name no machine; neither do non-Ethernet addresses.
pub fn parse_neigh(p: &[u8]) -> Option<([u8; 16], usize, [u8; 6])> {
    const NDA_DST: u16 = 1;
    const NDA_LLADDR: u16 = 2;
    const SKIP: u16 = 0x01 | 0x20 | 0x40; // INCOMPLETE, FAILED, NOARP
    let alen = match *p.get(ndmsg::FAMILY)? as i32 {
        libc::AF_INET => 4,
        libc::AF_INET6 => 16,
        _ => return None,
    };
    let state = u16::from_ne_bytes(p.get(ndmsg::STATE)?.try_into().ok()?);
    if state & SKIP != 0 {
        return None;
    }
    let (mut addr, mut mac) = (None, None);
    for (kind, v) in Attrs(p.get(ndmsg::LEN..)?).flatten() {
        match kind {
            NDA_DST if v.len() == alen => {
                let mut a = [0; 16];
                a[..alen].copy_from_slice(v);
                addr = Some(a);
            }
            NDA_LLADDR => mac = v.try_into().ok(),
            _ => {}
        }
    }
    Some((addr?, alen, mac?))
}

/// One `ip route get` question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Query {
    /// A forwarding lookup (with `iif`), else an output lookup.
    pub forward: bool,
    /// 4 or 6.
    pub family: u8,
    pub dst: [u8; 16],
    /// Zero when not part of the question.
    pub src: [u8; 16],
    pub has_src: bool,
    pub iif: u32,
    pub mark: u32,
    /// Protocol and ports (host order); proto 0 = not part of the question.
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// Only in cache keys: the class prefix lengths of `dst` and `src`
    /// (classes.rs), 255 for an exact address.
    pub dst_len: u8,
    pub src_len: u8,
}

impl Query {
    pub const EMPTY: Query = Query {
        forward: false,
        family: 0,
        dst: [0; 16],
        src: [0; 16],
        has_src: false,
        iif: 0,
        mark: 0,
        proto: 0,
        sport: 0,
        dport: 0,
        dst_len: 255,
        src_len: 255,
    };
}

/// RTM_GETROUTE for one query, as `ip route get fibmatch` sends it,
/// appended to `b` (a batch holds several).
pub fn encode_query(b: &mut Vec<u8>, q: &Query, seq: u32) {
    let alen = if q.family == 6 { 16 } else { 4 };
    let family = if q.family == 6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    let src_len = if q.has_src { alen as u8 * 8 } else { 0 };
    let f = RTM_F_FIB_MATCH.to_ne_bytes();
    let hdr = [
        family,
        alen as u8 * 8,
        src_len,
        0,
        0,
        0,
        0,
        0,
        f[0],
        f[1],
        f[2],
        f[3],
    ];
    let at = crate::nl::begin(b, RTM_GETROUTE, NLM_F_REQUEST, seq, &hdr);
    attr::put(b, RTA_DST, &q.dst[..alen]);
    if q.has_src {
        attr::put(b, RTA_SRC, &q.src[..alen]);
    }
    if q.forward {
        attr::put(b, RTA_IIF, &q.iif.to_ne_bytes());
    }
    if q.mark != 0 {
        attr::put(b, RTA_MARK, &q.mark.to_ne_bytes());
    }
    if q.proto != 0 {
        attr::put(b, RTA_IP_PROTO, &[q.proto]);
        if matches!(q.proto, 6 | 17 | 33 | 132 | 136) {
            attr::put(b, RTA_SPORT, &q.sport.to_be_bytes());
            attr::put(b, RTA_DPORT, &q.dport.to_be_bytes());
        }
    }
    crate::nl::finish(b, at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::{error_code, MsgHeader};

    /// The hand-built dump requests are what netlink-packet-route lays out
    /// for the same messages (default message: AF_UNSPEC, no attributes).
    #[test]
    fn dump_requests_match_netlink_packet_route() {
        use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
        use netlink_packet_route::{
            address::AddressMessage, link::LinkMessage, neighbour::NeighbourMessage,
            route::RouteMessage, rule::RuleMessage, RouteNetlinkMessage as M,
        };
        let theirs = [
            M::GetAddress(AddressMessage::default()),
            M::GetLink(LinkMessage::default()),
            M::GetRoute(RouteMessage::default()),
            M::GetRule(RuleMessage::default()),
            M::GetNeighbour(NeighbourMessage::default()),
        ]
        .map(|m| {
            let mut hdr = NetlinkHeader::default();
            hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let mut p = NetlinkMessage::new(hdr, NetlinkPayload::from(m));
            p.finalize();
            let mut b = vec![0; p.buffer_len()];
            p.serialize(&mut b);
            b
        });
        assert_eq!(dump_requests(), theirs);
    }

    #[test]
    fn query_encoding_is_what_ip_route_get_sends() {
        let mut b = Vec::new();
        let mut q = Query::EMPTY;
        q.family = 4;
        q.dst[..4].copy_from_slice(&[203, 0, 113, 9]);
        q.forward = true;
        q.iif = 7;
        q.mark = 2;
        q.has_src = true;
        q.src[..4].copy_from_slice(&[192, 0, 2, 2]);
        q.proto = 17;
        q.sport = 40000;
        q.dport = 5202;
        encode_query(&mut b, &q, 42);
        let h = MsgHeader::parse(&b).unwrap();
        assert_eq!((h.len, h.kind, h.seq), (b.len(), RTM_GETROUTE, 42));
        assert_eq!(&b[16..20], &[libc::AF_INET as u8, 32, 32, 0]);
        assert_eq!(&b[24..28], &RTM_F_FIB_MATCH.to_ne_bytes());
        let kinds: Vec<(u16, Vec<u8>)> = netlink_packet_core::NlasIterator::new(&b[28..])
            .flatten()
            .map(|n| (n.kind(), n.value().to_vec()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (RTA_DST, vec![203, 0, 113, 9]),
                (RTA_SRC, vec![192, 0, 2, 2]),
                (RTA_IIF, 7u32.to_ne_bytes().to_vec()),
                (RTA_MARK, 2u32.to_ne_bytes().to_vec()),
                (RTA_IP_PROTO, vec![17]),
                (RTA_SPORT, 40000u16.to_be_bytes().to_vec()),
                (RTA_DPORT, 5202u16.to_be_bytes().to_vec()),
            ]
        );
    }

    fn attr(kind: u16, v: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        attr::put(&mut b, kind, v);
        b
    }

    #[test]
    fn link_names_are_cleaned_where_they_enter() {
        // Issue 26 item 5: `ip link set wan0 name "$(printf 'w\e]0;pwn\a')"`.
        let mut link = vec![0u8; 16];
        link.extend(attr(IFLA_IFNAME, b"w\x1b]0;pwn\x07\0"));
        let l = parse_link(&link).unwrap();
        assert_eq!(&l.name[..l.name_len as usize], b"w?]0;pwn?");
        // 15 bytes cut inside a character: the tail byte becomes '?'.
        let mut link = vec![0u8; 16];
        link.extend(attr(IFLA_IFNAME, "abcdefghijklmné".as_bytes()));
        let l = parse_link(&link).unwrap();
        assert_eq!(&l.name[..l.name_len as usize], b"abcdefghijklmn?");
    }

    #[test]
    fn readers_take_any_bytes() {
        // Every truncation of valid messages, and junk, without a panic.
        let mut link = vec![0u8; 16];
        link[4..8].copy_from_slice(&3u32.to_ne_bytes());
        link.extend(attr(IFLA_IFNAME, b"wan0\0"));
        link.extend(attr(IFLA_STATS64, &[1; 40]));
        let l = parse_link(&link).unwrap();
        assert_eq!((l.index, &l.name[..l.name_len as usize]), (3, &b"wan0"[..]));
        let mut route = vec![
            libc::AF_INET as u8,
            0,
            0,
            0,
            254,
            0,
            0,
            RTN_UNICAST,
            0,
            0,
            0,
            0,
        ];
        let mut mp = Vec::new();
        for ifi in [4u32, 5] {
            mp.extend_from_slice(&8u16.to_ne_bytes());
            mp.extend_from_slice(&[0, 0]);
            mp.extend_from_slice(&ifi.to_ne_bytes());
        }
        route.extend(attr(RTA_MULTIPATH, &mp));
        assert_eq!(parse_route(&route).unwrap().nexthops(), &[4, 5]);
        let mut rule = vec![2u8, 0, 24, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        rule.extend(attr(FRA_FWMARK, &2u32.to_ne_bytes()));
        rule.extend(attr(FRA_DPORT_RANGE, &[0, 0, 0, 0]));
        rule.extend(attr(FRA_SRC, &[192, 0, 2, 0]));
        let r = parse_rule(&rule).unwrap();
        assert_eq!(
            r.sel,
            Selectors {
                src: true,
                mark: true,
                l4: true
            }
        );
        assert_eq!(
            (r.family, &r.src.0[..4], r.src.1),
            (4, &[192, 0, 2, 0][..], 24)
        );
        let mut addr = vec![libc::AF_INET as u8, 24, 0, 0, 9, 0, 0, 0];
        addr[4..8].copy_from_slice(&9u32.to_ne_bytes());
        addr.extend(attr(IFA_ADDRESS, &[192, 0, 2, 1]));
        let a = parse_addr(&addr).unwrap();
        assert_eq!(
            (a.index, a.prefix_len, a.local[..4].to_vec()),
            (9, 24, vec![192, 0, 2, 1])
        );
        for m in [&link, &route, &rule, &addr] {
            for n in 0..m.len() {
                let _ = (parse_link(&m[..n]), parse_route(&m[..n]));
                let _ = (parse_rule(&m[..n]), parse_addr(&m[..n]));
            }
        }
        // A multipath attribute whose nexthop claims length 0 ends the walk.
        let mut bad = route[..12].to_vec();
        bad.extend(attr(RTA_MULTIPATH, &[0; 8]));
        assert_eq!(parse_route(&bad).unwrap().n_nexthops, 0);
        assert_eq!(error_code(&i32::MIN.to_ne_bytes()), i32::MIN);
        assert_eq!(error_code(&(-22i32).to_ne_bytes()), 22);
    }
}
