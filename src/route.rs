//! The router's own view of itself from rtnetlink: its addresses (which
//! side of a connection is local) and its links (names, loopback flag,
//! byte counters).
//!
//! One persistent NETLINK_ROUTE socket with a reused receive buffer.
//! Requests are laid out by netlink-packet-route once; replies are read in
//! place with `NlasIterator` into fixed tables. Sizes are bounded
//! (`MAX_ADDRS`, `MAX_LINKS`); beyond them entries are ignored and counted.

use crate::error::{Error, Result};
use crate::netlink::MsgHeader;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

pub const MAX_ADDRS: usize = 256;
pub const MAX_LINKS: usize = 256;
pub const IFNAMSIZ: usize = 16;
/// Pseudo interface index for "the router itself" (traffic that starts or
/// ends on the router): shown as `local`.
pub const LOCAL_IF: u32 = u32::MAX;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
const IFF_LOOPBACK: u32 = 0x8;

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
        k[0] = a.len() as u8;
        k[1..1 + a.len().min(16)].copy_from_slice(&a[..a.len().min(16)]);
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

/// One network interface as rtnetlink reports it.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub index: u32,
    pub name: [u8; IFNAMSIZ],
    pub name_len: u8,
    pub loopback: bool,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

impl Link {
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("?")
    }
}

/// The link table, replaced wholesale on each dump (a few dozen entries).
#[derive(Default)]
pub struct Links {
    links: Vec<Link>,
}

impl Links {
    pub fn with_capacity() -> Links {
        Links {
            links: Vec::with_capacity(MAX_LINKS),
        }
    }

    pub fn get(&self, index: u32) -> Option<&Link> {
        self.links
            .binary_search_by_key(&index, |l| l.index)
            .ok()
            .map(|i| &self.links[i])
    }

    /// Interface name for display and filters; `local` for the router.
    pub fn name(&self, index: u32) -> Option<&str> {
        if index == LOCAL_IF {
            return Some("local");
        }
        self.get(index).map(|l| l.name())
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name() == name)
    }

    pub fn all(&self) -> &[Link] {
        &self.links
    }
}

pub struct RtSocket {
    sock: Socket,
    port: u32,
    seq: u32,
    req_addr: Vec<u8>,
    req_link: Vec<u8>,
    buf: Vec<u8>,
}

fn request(msg: RouteNetlinkMessage) -> Vec<u8> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    buf
}

impl RtSocket {
    pub fn open() -> Result<RtSocket> {
        let mut sock = Socket::new(NETLINK_ROUTE)
            .map_err(|e| Error::system(format!("cannot open a route netlink socket: {e}")))?;
        let addr = sock
            .bind_auto()
            .map_err(|e| Error::system(format!("cannot bind route netlink socket: {e}")))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::system(format!("cannot connect route netlink socket: {e}")))?;
        Ok(RtSocket {
            sock,
            port: addr.port_number(),
            seq: 1,
            req_addr: request(RouteNetlinkMessage::GetAddress(AddressMessage::default())),
            req_link: request(RouteNetlinkMessage::GetLink(LinkMessage::default())),
            buf: vec![0; crate::netlink::RECV_BUF],
        })
    }

    /// Refills `out` with every address of every interface.
    pub fn dump_addrs(&mut self, out: &mut LocalAddrs) -> Result<()> {
        out.clear();
        self.dump(true, |kind, payload| {
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
    pub fn dump_links(&mut self, out: &mut Links) -> Result<()> {
        out.links.clear();
        self.dump(false, |kind, payload| {
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
                rx_bytes: 0,
                tx_bytes: 0,
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
        out.links.sort_unstable_by_key(|l| l.index);
        Ok(())
    }

    fn dump(&mut self, addrs: bool, mut on_msg: impl FnMut(u16, &[u8])) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let req = if addrs {
            &mut self.req_addr
        } else {
            &mut self.req_link
        };
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        loop {
            match self.sock.send(req, 0) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::system(format!("cannot send rtnetlink request: {e}"))),
            }
        }
        loop {
            let n = match self.sock.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => n.min(self.buf.len()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::system(format!("rtnetlink dump failed: {e}"))),
            };
            let mut off = 0;
            while off < n {
                let Some(h) = MsgHeader::parse(&self.buf[off..n]) else {
                    break;
                };
                let msg = &self.buf[off + 16..off + h.len];
                off += (h.len + 3) & !3;
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
}
