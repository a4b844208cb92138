//! The router's view of itself and of its routes, from rtnetlink: its
//! addresses, its links (names, loopback flag, byte counters), which links
//! are uplinks, and per-connection in/out interfaces by route lookups.
//!
//! Sockets: one for dumps and lookups (replies are read in place with
//! `NlasIterator` into fixed tables; requests are laid out by hand), one
//! non-blocking socket subscribed to link, address, route and rule
//! changes. netlink-packet-route's message builders were used for the four
//! dump requests at first; they pulled every rtnetlink message and
//! attribute type's emitter into the binary (about 130 KB of 580 on
//! mipsel) to write four 24-32 byte requests. It stays a dev-dependency:
//! a test checks the hand-built bytes against it.
//!
//! Attribution asks what the kernel would decide (`ip route get` over
//! netlink): the ingress is where the original source is reached from
//! (a reverse lookup, with the connection's mark, so policy rules count);
//! the egress is a forwarding lookup for the real destination (the reply
//! tuple's source: a port forward goes to the inside host) from the
//! original source, with `RTA_IIF` = ingress and `RTA_MARK` = the
//! conntrack mark. Connections that end on the router get `local` as out,
//! those it starts `local` as in. No route: out 0 and `no_route`.
//!
//! Cost: each flow is attributed once, and again only after a routing
//! change (a change event bumps `gen`). Lookups go through a fixed cache
//! (`CACHE_SLOTS`, cleared whole on any change and when full) and are
//! sent in batches of `BATCH` requests per system call.

use crate::cli::IfMatch;
use crate::conntrack::Conn;
use crate::error::{Error, Result};
use crate::flows::Flow;
use crate::netlink::messages;
use netlink_packet_core::{NlasIterator, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

pub const MAX_ADDRS: usize = 256;
pub const MAX_LINKS: usize = 256;
pub const IFNAMSIZ: usize = 16;
/// Pseudo interface index for "the router itself" (traffic that starts or
/// ends on the router): shown as `local`.
pub const LOCAL_IF: u32 = u32::MAX;
/// Route lookup answers kept; on overflow the cache is cleared (a routing
/// table that varied so much would be re-asked anyway).
pub const CACHE_SLOTS: usize = 4096;
/// Lookups per system call.
pub const BATCH: usize = 64;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWRULE: u16 = 32;
const RTM_GETRULE: u16 = 34;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
const IFF_LOOPBACK: u32 = 0x8;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_IIF: u16 = 3;
const RTA_OIF: u16 = 4;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_MARK: u16 = 16;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RT_TABLE_LOCAL: u32 = 255;
/// rtnetlink multicast groups (linux/rtnetlink.h enum rtnetlink_groups).
const GROUPS: [u32; 7] = [1, 5, 7, 8, 9, 11, 19];

/// The router's own addresses, as a small sorted set.
#[derive(Default)]
pub struct LocalAddrs {
    addrs: Vec<[u8; 17]>,
}

impl LocalAddrs {
    pub fn with_capacity() -> LocalAddrs {
        LocalAddrs {
            addrs: Vec::with_capacity(MAX_ADDRS),
        }
    }

    fn key(a: &[u8]) -> [u8; 17] {
        let mut k = [0u8; 17];
        let n = a.len().min(16);
        k[0] = n as u8;
        k[1..1 + n].copy_from_slice(&a[..n]);
        k
    }

    pub fn insert(&mut self, a: &[u8]) {
        let k = Self::key(a);
        if let Err(i) = self.addrs.binary_search(&k) {
            if self.addrs.len() < MAX_ADDRS {
                self.addrs.insert(i, k);
            }
        }
    }

    /// True for the router's addresses and for the loopback ranges
    /// (127.0.0.0/8, ::1), which are local even when `lo` has no address.
    pub fn contains(&self, a: &[u8]) -> bool {
        if a.len() == 4 && a[0] == 127 {
            return true;
        }
        if a.len() == 16 && a[..15].iter().all(|&b| b == 0) && a[15] == 1 {
            return true;
        }
        self.addrs.binary_search(&Self::key(a)).is_ok()
    }

    pub fn clear(&mut self) {
        self.addrs.clear();
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

/// One network interface as rtnetlink reports it, with nftop's rates of
/// its own counters.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub index: u32,
    pub name: [u8; IFNAMSIZ],
    pub name_len: u8,
    pub loopback: bool,
    /// Holds a default route (in any table), or matches --wan.
    pub uplink: bool,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Rates of the link's own counters since the previous refresh, in
    /// bits/s; None on the first sight of this ifindex.
    pub rx_bps: Option<f64>,
    pub tx_bps: Option<f64>,
}

impl Link {
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("?")
    }
}

/// Interface indexes below this are found with one array read (the view
/// asks several times per connection per refresh); others by search.
const DIRECT: usize = 4096;

/// The link table, replaced wholesale on each dump (a few dozen entries).
#[derive(Default)]
pub struct Links {
    links: Vec<Link>,
    /// ifindex -> position + 1 in `links`, for ifindex < DIRECT.
    direct: Vec<u16>,
}

impl Links {
    pub fn with_capacity() -> Links {
        Links {
            links: Vec::with_capacity(MAX_LINKS),
            direct: vec![0; DIRECT],
        }
    }

    fn reindex(&mut self) {
        self.links.sort_unstable_by_key(|l| l.index);
        self.direct.fill(0);
        for (k, l) in self.links.iter().enumerate() {
            if let Some(d) = self.direct.get_mut(l.index as usize) {
                *d = k as u16 + 1;
            }
        }
    }

    pub fn get(&self, index: u32) -> Option<&Link> {
        self.position(index).map(|i| &self.links[i])
    }

    /// Interface name for display and filters; `local` for the router.
    pub fn name(&self, index: u32) -> Option<&str> {
        if index == LOCAL_IF {
            return Some("local");
        }
        self.get(index).map(|l| l.name())
    }

    /// Position of `index` in `all()`.
    pub fn position(&self, index: u32) -> Option<usize> {
        match self.direct.get(index as usize) {
            Some(0) => None,
            Some(&k) => Some(k as usize - 1),
            None => self.links.binary_search_by_key(&index, |l| l.index).ok(),
        }
    }

    pub fn all(&self) -> &[Link] {
        &self.links
    }

    pub fn is_uplink(&self, index: u32) -> bool {
        self.get(index).is_some_and(|l| l.uplink)
    }

    pub fn is_loopback(&self, index: u32) -> bool {
        self.get(index).is_some_and(|l| l.loopback)
    }
}

/// What the router knows about itself, refreshed from rtnetlink.
#[derive(Default)]
pub struct Net {
    pub local: LocalAddrs,
    pub links: Links,
}

impl Net {
    pub fn new() -> Net {
        Net {
            local: LocalAddrs::with_capacity(),
            links: Links::with_capacity(),
        }
    }
}

// ---------------------------------------------------------------------------
// Route lookups.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Output lookup (no RTA_IIF), as for a packet the router sends.
    Output,
    /// Forwarding lookup with RTA_IIF.
    Forward,
}

/// One `ip route get` question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    kind: Kind,
    family: u8,
    dst: [u8; 16],
    /// Zero when not part of the question.
    src: [u8; 16],
    has_src: bool,
    iif: u32,
    mark: u32,
}

/// The kernel's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Leaves through this interface.
    Via(u32),
    /// Delivered to the router itself (through this loopback interface).
    Local(u32),
    /// No route, unreachable, prohibited, or an error.
    None,
}

#[derive(Clone, Copy)]
struct Slot {
    q: Query,
    a: Answer,
    used: bool,
}

/// Fixed open-addressing cache of lookups.
pub struct RouteCache {
    slots: Vec<Slot>,
    len: usize,
    pub hits: u64,
    pub misses: u64,
    pub clears: u64,
}

fn qhash(q: &Query) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        h = (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    };
    let w = |b: &[u8; 16], i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_ne_bytes(x)
    };
    eat(w(&q.dst, 0));
    eat(w(&q.dst, 8));
    eat(w(&q.src, 0));
    eat(w(&q.src, 8));
    eat((q.iif as u64) << 32 | q.mark as u64);
    eat((q.family as u64) << 8 | q.kind as u64);
    h as usize
}

impl RouteCache {
    pub fn new() -> RouteCache {
        RouteCache {
            slots: vec![
                Slot {
                    q: Query {
                        kind: Kind::Output,
                        family: 0,
                        dst: [0; 16],
                        src: [0; 16],
                        has_src: false,
                        iif: 0,
                        mark: 0,
                    },
                    a: Answer::None,
                    used: false,
                };
                CACHE_SLOTS
            ],
            len: 0,
            hits: 0,
            misses: 0,
            clears: 0,
        }
    }

    pub fn clear(&mut self) {
        for s in &mut self.slots {
            s.used = false;
        }
        self.len = 0;
        self.clears += 1;
    }

    fn get(&mut self, q: &Query) -> Option<Answer> {
        let mask = CACHE_SLOTS - 1;
        let mut i = qhash(q) & mask;
        loop {
            let s = &self.slots[i];
            if !s.used {
                self.misses += 1;
                return None;
            }
            if s.q == *q {
                self.hits += 1;
                return Some(s.a);
            }
            i = (i + 1) & mask;
        }
    }

    fn put(&mut self, q: Query, a: Answer) {
        // Keep the load at or below 1/2 so probes stay short.
        if self.len >= CACHE_SLOTS / 2 {
            self.clear();
        }
        let mask = CACHE_SLOTS - 1;
        let mut i = qhash(&q) & mask;
        while self.slots[i].used {
            if self.slots[i].q == q {
                self.slots[i].a = a;
                return;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { q, a, used: true };
        self.len += 1;
    }
}

impl Default for RouteCache {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// The rtnetlink sockets.

pub struct RtSocket {
    sock: Socket,
    port: u32,
    seq: u32,
    req_addr: Vec<u8>,
    req_link: Vec<u8>,
    req_route: Vec<u8>,
    req_rule: Vec<u8>,
    buf: Vec<u8>,
    batch: Vec<u8>,
}

/// A dump request: `nlmsghdr` and a zeroed family header of `family_len`
/// bytes (AF_UNSPEC: every family, no filter). The sequence number is
/// patched in before each send.
fn dump_request(msg_type: u16, family_len: usize) -> Vec<u8> {
    let len = 16 + family_len;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&msg_type.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.resize(len, 0);
    b
}

/// The four dumps: struct ifaddrmsg is 8 bytes, ifinfomsg 16, rtmsg and
/// fib_rule_hdr 12 (linux/if_addr.h, rtnetlink.h, fib_rules.h).
fn dump_requests() -> [Vec<u8>; 4] {
    [
        dump_request(RTM_GETADDR, 8),
        dump_request(RTM_GETLINK, 16),
        dump_request(RTM_GETROUTE, 12),
        dump_request(RTM_GETRULE, 12),
    ]
}

fn sys_err(what: &str, e: std::io::Error) -> Error {
    Error::system(format!("{what}: {e}"))
}

#[derive(Clone, Copy)]
enum Dump {
    Addr,
    Link,
    Route,
    Rule,
}

impl RtSocket {
    pub fn open() -> Result<RtSocket> {
        let mut sock = Socket::new(NETLINK_ROUTE)
            .map_err(|e| sys_err("cannot open a route netlink socket", e))?;
        let addr = sock
            .bind_auto()
            .map_err(|e| sys_err("cannot bind route netlink socket", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| sys_err("cannot connect route netlink socket", e))?;
        // Lookup answers of a whole batch must fit in the socket buffer.
        crate::sys::set_rcvbuf(std::os::fd::AsRawFd::as_raw_fd(&sock), 1 << 20);
        let [req_addr, req_link, req_route, req_rule] = dump_requests();
        Ok(RtSocket {
            sock,
            port: addr.port_number(),
            seq: 1,
            req_addr,
            req_link,
            req_route,
            req_rule,
            buf: vec![0; crate::netlink::RECV_BUF],
            batch: Vec::with_capacity(BATCH * 96),
        })
    }

    /// Refills `out` with every address of every interface.
    pub fn dump_addrs(&mut self, out: &mut LocalAddrs) -> Result<()> {
        out.clear();
        self.dump(Dump::Addr, |kind, payload| {
            if kind != RTM_NEWADDR || payload.len() < 8 {
                return;
            }
            for nla in NlasIterator::new(&payload[8..]).flatten() {
                if matches!(nla.kind(), IFA_ADDRESS | IFA_LOCAL) {
                    let v = nla.value();
                    if v.len() == 4 || v.len() == 16 {
                        out.insert(v);
                    }
                }
            }
        })
    }

    /// Refills `out` with every link: index, name, loopback flag, counters.
    /// Rates and the uplink flag are filled by the caller.
    pub fn dump_links(&mut self, out: &mut Links) -> Result<()> {
        out.links.clear();
        self.dump(Dump::Link, |kind, payload| {
            // struct ifinfomsg: family, pad, type u16, index i32, flags u32, change u32
            if kind != RTM_NEWLINK || payload.len() < 16 || out.links.len() >= MAX_LINKS {
                return;
            }
            let index = u32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]]);
            let flags = u32::from_ne_bytes([payload[8], payload[9], payload[10], payload[11]]);
            let mut l = Link {
                index,
                name: [0; IFNAMSIZ],
                name_len: 0,
                loopback: flags & IFF_LOOPBACK != 0,
                uplink: false,
                rx_bytes: 0,
                tx_bytes: 0,
                rx_bps: None,
                tx_bps: None,
            };
            for nla in NlasIterator::new(&payload[16..]).flatten() {
                let v = nla.value();
                match nla.kind() {
                    IFLA_IFNAME => {
                        let n = v
                            .iter()
                            .position(|&b| b == 0)
                            .unwrap_or(v.len())
                            .min(IFNAMSIZ - 1);
                        l.name[..n].copy_from_slice(&v[..n]);
                        l.name_len = n as u8;
                    }
                    // struct rtnl_link_stats64: rx_packets, tx_packets,
                    // rx_bytes, tx_bytes, ... (u64, host order)
                    IFLA_STATS64 if v.len() >= 32 => {
                        let u = |o: usize| {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&v[o..o + 8]);
                            u64::from_ne_bytes(b)
                        };
                        l.rx_bytes = u(16);
                        l.tx_bytes = u(24);
                    }
                    _ => {}
                }
            }
            out.links.push(l);
        })?;
        out.reindex();
        Ok(())
    }

    /// Interfaces that hold a default route in any table (uplinks), into
    /// `out` (a fixed list of ifindexes).
    fn dump_default_routes(&mut self, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        self.dump(Dump::Route, |kind, p| {
            // struct rtmsg: family, dst_len, src_len, tos, table, protocol,
            // scope, type, flags u32
            if kind != RTM_NEWROUTE || p.len() < 12 || p[1] != 0 || p[7] != RTN_UNICAST {
                return;
            }
            let mut table = p[4] as u32;
            let mut oif = 0;
            for nla in NlasIterator::new(&p[12..]).flatten() {
                let v = nla.value();
                match nla.kind() {
                    RTA_TABLE if v.len() == 4 => {
                        table = u32::from_ne_bytes([v[0], v[1], v[2], v[3]])
                    }
                    RTA_OIF if v.len() == 4 => oif = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
                    RTA_MULTIPATH => {
                        // struct rtnexthop: len u16, flags u8, hops u8, ifindex i32, then attrs
                        let mut o = 0;
                        while o + 8 <= v.len() {
                            let len = u16::from_ne_bytes([v[o], v[o + 1]]) as usize;
                            let ifi = u32::from_ne_bytes([v[o + 4], v[o + 5], v[o + 6], v[o + 7]]);
                            if ifi != 0 && out.len() < MAX_LINKS && !out.contains(&ifi) {
                                out.push(ifi);
                            }
                            if len < 8 {
                                break;
                            }
                            o += (len + 3) & !3;
                        }
                    }
                    _ => {}
                }
            }
            if table != RT_TABLE_LOCAL && oif != 0 && out.len() < MAX_LINKS && !out.contains(&oif) {
                out.push(oif);
            }
        })
    }

    /// Whether any policy rule selects on the source address (then the
    /// source is part of every lookup's cache key).
    fn dump_rules_use_src(&mut self) -> Result<bool> {
        let mut any = false;
        self.dump(Dump::Rule, |kind, p| {
            // struct fib_rule_hdr: family, dst_len, src_len, ...
            if kind == RTM_NEWRULE && p.len() >= 12 && p[2] != 0 {
                any = true;
            }
        })?;
        Ok(any)
    }

    fn send_all(&self, buf: &[u8]) -> Result<()> {
        loop {
            match self.sock.send(buf, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(sys_err("cannot send rtnetlink request", e)),
            }
        }
    }

    fn recv(&mut self) -> Result<usize> {
        loop {
            match self.sock.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => return Ok(n.min(self.buf.len())),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(sys_err("rtnetlink receive failed", e)),
            }
        }
    }

    fn dump(&mut self, what: Dump, mut on_msg: impl FnMut(u16, &[u8])) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let req = match what {
            Dump::Addr => &mut self.req_addr,
            Dump::Link => &mut self.req_link,
            Dump::Route => &mut self.req_route,
            Dump::Rule => &mut self.req_rule,
        };
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        let req: &[u8] = match what {
            Dump::Addr => &self.req_addr,
            Dump::Link => &self.req_link,
            Dump::Route => &self.req_route,
            Dump::Rule => &self.req_rule,
        };
        self.send_all(req)?;
        loop {
            let n = self.recv()?;
            for (h, msg) in messages(&self.buf[..n]) {
                if h.seq != seq || h.port != self.port {
                    continue;
                }
                match h.kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let e = msg
                            .get(..4)
                            .map(|b| -i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(0);
                        if e != 0 {
                            return Err(Error::system(format!(
                                "rtnetlink dump failed: {}",
                                std::io::Error::from_raw_os_error(e)
                            )));
                        }
                    }
                    k => on_msg(k, msg),
                }
            }
        }
    }

    /// Asks the kernel every query in `qs` (at most BATCH) with one send,
    /// writing the answers into `out` in the same order.
    fn lookup_batch(&mut self, qs: &[Query], out: &mut [Answer]) -> Result<()> {
        let base = self.seq.wrapping_add(1);
        self.seq = self.seq.wrapping_add(qs.len() as u32 + 1);
        self.batch.clear();
        for (i, q) in qs.iter().enumerate() {
            encode_query(&mut self.batch, q, base.wrapping_add(i as u32));
            out[i] = Answer::None;
        }
        let batch = std::mem::take(&mut self.batch);
        let sent = self.send_all(&batch);
        self.batch = batch;
        sent?;
        let mut left = qs.len();
        while left > 0 {
            let n = self.recv()?;
            for (h, msg) in messages(&self.buf[..n]) {
                let i = h.seq.wrapping_sub(base) as usize;
                if h.port != self.port || i >= qs.len() {
                    continue;
                }
                match h.kind {
                    NLMSG_ERROR => {
                        // An error answer (ENETUNREACH, EHOSTUNREACH, EINVAL
                        // for a martian, ...): no route. Error 0 is an ACK,
                        // which we did not ask for; ignore it.
                        let e = msg
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(0);
                        if e != 0 {
                            out[i] = Answer::None;
                            left -= 1;
                        }
                    }
                    RTM_NEWROUTE => {
                        out[i] = decode_answer(msg);
                        left -= 1;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn decode_answer(p: &[u8]) -> Answer {
    if p.len() < 12 {
        return Answer::None;
    }
    let ty = p[7];
    let mut oif = 0;
    for nla in NlasIterator::new(&p[12..]).flatten() {
        let v = nla.value();
        if nla.kind() == RTA_OIF && v.len() == 4 {
            oif = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
        }
    }
    match ty {
        RTN_UNICAST if oif != 0 => Answer::Via(oif),
        RTN_LOCAL => Answer::Local(oif),
        _ => Answer::None,
    }
}

fn put_attr(b: &mut Vec<u8>, kind: u16, v: &[u8]) {
    b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(v);
    while b.len() % 4 != 0 {
        b.push(0);
    }
}

/// RTM_GETROUTE for one query, as `ip route get` sends it.
fn encode_query(b: &mut Vec<u8>, q: &Query, seq: u32) {
    let start = b.len();
    let alen = if q.family == 6 { 16 } else { 4 };
    b.extend_from_slice(&[0; 16]);
    // struct rtmsg
    let family = if q.family == 6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    let src_len = if q.has_src { alen as u8 * 8 } else { 0 };
    b.extend_from_slice(&[family, alen as u8 * 8, src_len, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    put_attr(b, RTA_DST, &q.dst[..alen]);
    if q.has_src {
        put_attr(b, RTA_SRC, &q.src[..alen]);
    }
    if q.kind == Kind::Forward {
        put_attr(b, RTA_IIF, &q.iif.to_ne_bytes());
    }
    if q.mark != 0 {
        put_attr(b, RTA_MARK, &q.mark.to_ne_bytes());
    }
    let len = (b.len() - start) as u32;
    b[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    b[start + 4..start + 6].copy_from_slice(&RTM_GETROUTE.to_ne_bytes());
    b[start + 6..start + 8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    b[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
}

/// The change-event socket: drained without blocking once per refresh.
struct Events {
    sock: Socket,
    buf: Vec<u8>,
}

impl Events {
    fn open() -> Result<Events> {
        let mut sock = Socket::new(NETLINK_ROUTE)
            .map_err(|e| sys_err("cannot open a route event socket", e))?;
        sock.bind_auto()
            .map_err(|e| sys_err("cannot bind route event socket", e))?;
        for g in GROUPS {
            sock.add_membership(g)
                .map_err(|e| sys_err("cannot subscribe to route events", e))?;
        }
        sock.set_non_blocking(true)
            .map_err(|e| sys_err("route event socket", e))?;
        Ok(Events {
            sock,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Reads every pending event; true when anything changed (or events
    /// were lost, which means the same).
    fn drain(&mut self) -> (bool, u64) {
        let mut changed = false;
        let mut n = 0;
        loop {
            match self.sock.recv(&mut &mut self.buf[..], 0) {
                Ok(_) => {
                    changed = true;
                    n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    changed = true;
                    n += 1;
                }
                Err(_) => return (changed, n),
            }
        }
    }
}

/// Where a flow's lookups stand during attribution.
#[derive(Clone, Copy)]
struct Plan {
    flow: u32,
    step: Step,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// in is known (or local); out needs `q`.
    Egress(Query),
    /// in needs `q`; then egress `next` (with RTA_IIF filled in).
    Ingress(Query, Option<Query>),
}

/// The interface view: link table, uplinks, addresses, attribution.
pub struct Router {
    rt: RtSocket,
    events: Events,
    pub net: Net,
    wan: Option<IfMatch>,
    /// Bumped on every routing change: flows attributed under an older
    /// generation are attributed again.
    pub gen: u32,
    cache: RouteCache,
    rules_use_src: bool,
    default_ifs: Vec<u32>,
    prev: Vec<(u32, u64, u64)>,
    last_t: u64,
    plans: Vec<Plan>,
    qs: Vec<Query>,
    answers: Vec<Answer>,
    pub events_seen: u64,
    pub lookups: u64,
}

impl Router {
    pub fn open(wan: Option<IfMatch>) -> Result<Router> {
        Ok(Router {
            rt: RtSocket::open()?,
            events: Events::open()?,
            net: Net::new(),
            wan,
            gen: 0,
            cache: RouteCache::new(),
            rules_use_src: false,
            default_ifs: Vec::with_capacity(MAX_LINKS),
            prev: Vec::with_capacity(MAX_LINKS),
            last_t: 0,
            plans: Vec::with_capacity(BATCH),
            qs: Vec::with_capacity(BATCH),
            answers: vec![Answer::None; BATCH],
            events_seen: 0,
            lookups: 0,
        })
    }

    pub fn cache(&self) -> &RouteCache {
        &self.cache
    }

    /// Once per refresh: reads change events (re-reading addresses, routes
    /// and rules when anything changed), and the link table with its
    /// counters every time. `now` is CLOCK_MONOTONIC ns.
    pub fn refresh(&mut self, now: u64) -> Result<()> {
        let (changed, n) = self.events.drain();
        self.events_seen += n;
        if changed || self.gen == 0 {
            self.gen = self.gen.wrapping_add(1).max(1);
            self.cache.clear();
            self.rt.dump_addrs(&mut self.net.local)?;
            self.rt.dump_default_routes(&mut self.default_ifs)?;
            self.rules_use_src = self.rt.dump_rules_use_src()?;
        }
        self.rt.dump_links(&mut self.net.links)?;
        let dt = if self.last_t != 0 && now > self.last_t {
            (now - self.last_t) as f64 / 1e9
        } else {
            0.0
        };
        for l in &mut self.net.links.links {
            l.uplink = match &self.wan {
                Some(w) => w.matches(l.name()),
                None => self.default_ifs.contains(&l.index),
            };
            if let Some(&(_, rx, tx)) = self.prev.iter().find(|p| p.0 == l.index) {
                if dt > 0.0 && l.rx_bytes >= rx && l.tx_bytes >= tx {
                    l.rx_bps = Some((l.rx_bytes - rx) as f64 * 8.0 / dt);
                    l.tx_bps = Some((l.tx_bytes - tx) as f64 * 8.0 / dt);
                }
            }
        }
        self.prev.clear();
        for l in &self.net.links.links {
            self.prev.push((l.index, l.rx_bytes, l.tx_bytes));
        }
        self.last_t = now;
        Ok(())
    }

    fn query(
        &self,
        kind: Kind,
        family: u8,
        dst: &[u8],
        src: Option<&[u8]>,
        iif: u32,
        mark: u32,
    ) -> Query {
        let mut q = Query {
            kind,
            family,
            dst: [0; 16],
            src: [0; 16],
            has_src: false,
            iif,
            mark,
        };
        q.dst[..dst.len()].copy_from_slice(dst);
        // The source is part of the question only where it can change the
        // answer: policy rules that select on it, or a forwarding lookup
        // (the kernel checks the source against the ingress).
        if let Some(s) = src {
            if self.rules_use_src || kind == Kind::Forward {
                q.src[..s.len()].copy_from_slice(s);
                q.has_src = true;
            }
        }
        q
    }

    /// The first step for a connection (see the module doc).
    fn plan(&self, c: &Conn) -> Step {
        let n = c.addr_len();
        let src = &c.orig.src[..n];
        // The real destination: after destination NAT, the inside host.
        let dst = &c.reply.src[..n];
        let local = &self.net.local;
        let (src_local, dst_local) = (local.contains(src), local.contains(dst));
        if src_local {
            Step::Egress(self.query(Kind::Output, c.family, dst, Some(src), LOCAL_IF, c.mark))
        } else {
            let rev_src = if dst_local { Some(dst) } else { None };
            let rev = self.query(Kind::Output, c.family, src, rev_src, 0, c.mark);
            let next = (!dst_local)
                .then(|| self.query(Kind::Forward, c.family, dst, Some(src), 0, c.mark));
            Step::Ingress(rev, next)
        }
    }

    /// Gives every flow not yet attributed under the current generation its
    /// in/out interfaces. Lookups are cached and batched.
    pub fn attribute(&mut self, flows: &mut [Flow]) -> Result<()> {
        let gen = self.gen;
        let mut i = 0;
        while i < flows.len() {
            // Collect up to BATCH flows that need a lookup.
            self.plans.clear();
            while i < flows.len() && self.plans.len() < BATCH {
                let f = &mut flows[i];
                if f.route_gen != gen {
                    let step = self.plan(&f.conn);
                    self.plans.push(Plan {
                        flow: i as u32,
                        step,
                    });
                }
                i += 1;
            }
            // Ingress lookups first, then egress ones (they need RTA_IIF).
            for phase in 0..2 {
                self.qs.clear();
                for p in &self.plans {
                    let q = match (phase, p.step) {
                        (0, Step::Ingress(q, _)) => q,
                        (1, Step::Egress(q)) => q,
                        _ => continue,
                    };
                    if self.cache.get(&q).is_none() && !self.qs.contains(&q) {
                        self.qs.push(q);
                    }
                }
                if !self.qs.is_empty() {
                    let (qs, mut ans) = (
                        std::mem::take(&mut self.qs),
                        std::mem::take(&mut self.answers),
                    );
                    let r = self.rt.lookup_batch(&qs, &mut ans[..qs.len()]);
                    for (q, a) in qs.iter().zip(ans.iter()) {
                        self.cache.put(*q, *a);
                    }
                    self.lookups += qs.len() as u64;
                    self.qs = qs;
                    self.answers = ans;
                    r?;
                }
                // Resolve this phase.
                for k in 0..self.plans.len() {
                    let p = self.plans[k];
                    let f = &mut flows[p.flow as usize];
                    match (phase, p.step) {
                        (0, Step::Ingress(q, next)) => {
                            let a = self.cache.get(&q).unwrap_or(Answer::None);
                            f.in_if = match a {
                                Answer::Via(ifi) => ifi,
                                Answer::Local(_) => LOCAL_IF,
                                Answer::None => 0,
                            };
                            match next {
                                None => {
                                    f.out_if = LOCAL_IF;
                                    f.no_route = false;
                                    f.route_gen = gen;
                                }
                                Some(mut nq) => {
                                    nq.iif = f.in_if;
                                    if f.in_if == 0 || f.in_if == LOCAL_IF {
                                        // Unknown ingress: ask as an output lookup.
                                        nq.kind = Kind::Output;
                                        nq.iif = 0;
                                        nq.has_src = false;
                                        nq.src = [0; 16];
                                    }
                                    self.plans[k].step = Step::Egress(nq);
                                }
                            }
                        }
                        (1, Step::Egress(q)) => {
                            if q.kind == Kind::Output && q.iif == LOCAL_IF {
                                f.in_if = LOCAL_IF;
                            }
                            let a = self.cache.get(&q).unwrap_or(Answer::None);
                            (f.out_if, f.no_route) = match a {
                                Answer::Via(ifi) => (ifi, false),
                                Answer::Local(ifi) if f.in_if == LOCAL_IF => (ifi, false),
                                Answer::Local(_) => (LOCAL_IF, false),
                                Answer::None => (0, true),
                            };
                            f.route_gen = gen;
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::MsgHeader;

    /// The hand-built dump requests are what netlink-packet-route lays out
    /// for the same messages (default message: AF_UNSPEC, no attributes).
    #[test]
    fn dump_requests_match_netlink_packet_route() {
        use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
        use netlink_packet_route::{
            address::AddressMessage, link::LinkMessage, route::RouteMessage, rule::RuleMessage,
            RouteNetlinkMessage as M,
        };
        let theirs = [
            M::GetAddress(AddressMessage::default()),
            M::GetLink(LinkMessage::default()),
            M::GetRoute(RouteMessage::default()),
            M::GetRule(RuleMessage::default()),
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

    fn q(d: u8) -> Query {
        let mut dst = [0; 16];
        dst[..4].copy_from_slice(&[203, 0, 113, d]);
        Query {
            kind: Kind::Output,
            family: 4,
            dst,
            src: [0; 16],
            has_src: false,
            iif: 0,
            mark: 0,
        }
    }

    #[test]
    fn cache_hits_misses_and_clears_when_half_full() {
        let mut c = RouteCache::new();
        assert_eq!(c.get(&q(1)), None);
        c.put(q(1), Answer::Via(3));
        assert_eq!(c.get(&q(1)), Some(Answer::Via(3)));
        let mut other = q(1);
        other.mark = 2;
        assert_eq!(c.get(&other), None, "the mark is part of the key");
        for i in 0..CACHE_SLOTS {
            let mut k = q(0);
            k.dst[4..8].copy_from_slice(&(i as u32).to_ne_bytes());
            c.put(k, Answer::None);
        }
        assert!(c.len <= CACHE_SLOTS / 2);
        assert!(c.clears >= 1);
    }

    #[test]
    fn query_encoding_is_what_ip_route_get_sends() {
        let mut b = Vec::new();
        let mut query = q(9);
        query.kind = Kind::Forward;
        query.iif = 7;
        query.mark = 2;
        query.has_src = true;
        query.src[..4].copy_from_slice(&[192, 0, 2, 2]);
        encode_query(&mut b, &query, 42);
        let h = MsgHeader::parse(&b).unwrap();
        assert_eq!((h.len, h.kind, h.seq), (b.len(), RTM_GETROUTE, 42));
        assert_eq!(&b[16..20], &[libc::AF_INET as u8, 32, 32, 0]);
        let kinds: Vec<(u16, Vec<u8>)> = NlasIterator::new(&b[28..])
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
            ]
        );
    }
}
