//! The link table: every interface as rtnetlink reports it (name, flags,
//! byte counters and nftop's rates of them), the links that vanished but
//! that connections still name, and the nexthop sets of multipath routes
//! (an egress that conntrack cannot pin down is shown as its candidates).
//!
//! Capacity: `MAX_LINKS` present links (a stated bound: routers with many
//! VLANs, tunnels or containers pass the old 256). The table is sized from
//! the first dump and grows with later dumps; past the bound links are
//! dropped and counted (`dropped`), and the header says so. `GONE_KEEP`
//! vanished links are remembered (oldest forgotten first) so that a
//! connection that came in through an uplink that was deleted keeps its
//! name while the uplink is away.

use super::wire::{LinkMsg, IFF_LOOPBACK, IFF_RUNNING, IFF_UP, IFNAMSIZ, MAX_NEXTHOPS};

/// Hard bound on present links.
pub const MAX_LINKS: usize = 16384;
/// Vanished links remembered by name.
pub const GONE_KEEP: usize = 64;
/// Multipath nexthop sets kept per routing generation.
pub const MAX_MULTI: usize = 64;
/// Pseudo interface index for "the router itself" (traffic that starts or
/// ends on the router): shown as `local`.
pub const LOCAL_IF: u32 = u32::MAX;
/// Pseudo interface indexes `MULTI_IF | k` name multipath set k.
pub const MULTI_IF: u32 = 0xfffe_0000;
const MULTI_MASK: u32 = 0xffff_0000;

pub fn is_multi(index: u32) -> bool {
    index & MULTI_MASK == MULTI_IF
}

/// An interface filter: an exact name, or a prefix when written `name+`
/// (iptables style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch {
    pub name: String,
    pub prefix: bool,
}

impl IfMatch {
    pub fn matches(&self, ifname: &str) -> bool {
        if self.prefix {
            ifname.starts_with(&self.name)
        } else {
            ifname == self.name
        }
    }
}

/// One network interface, with nftop's rates of its own counters.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub index: u32,
    pub name: [u8; IFNAMSIZ],
    pub name_len: u8,
    pub loopback: bool,
    /// Administratively up and running (carrier): it can carry packets.
    pub up: bool,
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

    fn from_msg(m: &LinkMsg) -> Link {
        Link {
            index: m.index,
            name: m.name,
            name_len: m.name_len,
            loopback: m.flags & IFF_LOOPBACK != 0,
            up: m.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING,
            uplink: false,
            rx_bytes: m.rx_bytes,
            tx_bytes: m.tx_bytes,
            rx_bps: None,
            tx_bps: None,
        }
    }
}

/// Interface indexes below this are found with one array read (the view
/// asks several times per connection per refresh); others by search.
const DIRECT: usize = 4096;

struct Multi {
    nexthops: [u32; MAX_NEXTHOPS],
    n: u8,
    label: [u8; 48],
    label_len: u8,
}

#[derive(Default)]
pub struct Links {
    links: Vec<Link>,
    next: Vec<Link>,
    /// ifindex -> position + 1 in `links`, for ifindex < DIRECT.
    direct: Vec<u16>,
    gone: Vec<Link>,
    multi: Vec<Multi>,
    last_t: u64,
    /// Links left out because `MAX_LINKS` was reached, last dump.
    pub dropped: u32,
    /// Multipath sets that did not fit (shown as `multipath`).
    pub multi_dropped: u32,
}

impl Links {
    pub fn with_capacity() -> Links {
        Links {
            links: Vec::with_capacity(64),
            next: Vec::with_capacity(64),
            direct: vec![0; DIRECT],
            gone: Vec::with_capacity(GONE_KEEP),
            multi: Vec::with_capacity(MAX_MULTI),
            ..Links::default()
        }
    }

    /// Starts reading a link dump.
    pub fn begin(&mut self) {
        self.next.clear();
        self.dropped = 0;
    }

    pub fn push(&mut self, m: &LinkMsg) {
        if self.next.len() < MAX_LINKS {
            self.next.push(Link::from_msg(m));
        } else {
            self.dropped += 1;
        }
    }

    /// Ends a link dump at `now` (CLOCK_MONOTONIC ns): rates from the
    /// previous counters of the same ifindex, vanished links remembered.
    /// `uplink` decides each link's uplink flag.
    pub fn finish(&mut self, now: u64, uplink: impl Fn(&Link) -> bool) {
        self.next.sort_unstable_by_key(|l| l.index);
        let dt = if self.last_t != 0 && now > self.last_t {
            (now - self.last_t) as f64 / 1e9
        } else {
            0.0
        };
        for l in self.next.iter_mut() {
            l.uplink = uplink(l);
            let old = self
                .links
                .binary_search_by_key(&l.index, |o| o.index)
                .ok()
                .map(|i| self.links[i]);
            if let Some(o) = old {
                if dt > 0.0 && l.rx_bytes >= o.rx_bytes && l.tx_bytes >= o.tx_bytes {
                    l.rx_bps = Some((l.rx_bytes - o.rx_bytes) as f64 * 8.0 / dt);
                    l.tx_bps = Some((l.tx_bytes - o.tx_bytes) as f64 * 8.0 / dt);
                }
            }
        }
        // Links that vanished are remembered; indexes back in use are not.
        for o in &self.links {
            if self
                .next
                .binary_search_by_key(&o.index, |l| l.index)
                .is_err()
            {
                if self.gone.len() >= GONE_KEEP {
                    self.gone.remove(0);
                }
                let mut g = *o;
                g.up = false;
                g.rx_bps = None;
                g.tx_bps = None;
                self.gone.push(g);
            }
        }
        let next = &self.next;
        self.gone
            .retain(|g| next.binary_search_by_key(&g.index, |l| l.index).is_err());
        std::mem::swap(&mut self.links, &mut self.next);
        self.last_t = now;
        self.direct.fill(0);
        for (k, l) in self.links.iter().enumerate() {
            if let Some(d) = self.direct.get_mut(l.index as usize) {
                *d = k as u16 + 1;
            }
        }
    }

    /// A present link, or a vanished one that is still remembered.
    pub fn get(&self, index: u32) -> Option<&Link> {
        match self.position(index) {
            Some(i) => Some(&self.links[i]),
            None => self.gone.iter().rev().find(|g| g.index == index),
        }
    }

    /// Interface name for display and filters: `local` for the router,
    /// `a|b` for a multipath set.
    pub fn name(&self, index: u32) -> Option<&str> {
        if index == LOCAL_IF {
            return Some("local");
        }
        if is_multi(index) {
            return Some(match self.multi.get((index & !MULTI_MASK) as usize) {
                Some(m) => std::str::from_utf8(&m.label[..m.label_len as usize]).unwrap_or("?"),
                None => "multipath",
            });
        }
        self.get(index).map(|l| l.name())
    }

    /// Position of a present link in `all()`.
    pub fn position(&self, index: u32) -> Option<usize> {
        match self.direct.get(index as usize) {
            Some(0) => None,
            Some(&k) => Some(k as usize - 1),
            None => self.links.binary_search_by_key(&index, |l| l.index).ok(),
        }
    }

    /// The present links, by ifindex.
    pub fn all(&self) -> &[Link] {
        &self.links
    }

    /// A multipath set is an uplink when all its nexthops are.
    pub fn is_uplink(&self, index: u32) -> bool {
        if is_multi(index) {
            return self
                .multi
                .get((index & !MULTI_MASK) as usize)
                .is_some_and(|m| {
                    m.nexthops[..m.n as usize]
                        .iter()
                        .all(|&i| self.get(i).is_some_and(|l| l.uplink))
                });
        }
        self.get(index).is_some_and(|l| l.uplink)
    }

    pub fn is_loopback(&self, index: u32) -> bool {
        self.get(index).is_some_and(|l| l.loopback)
    }

    /// Present, up and running.
    pub fn is_up(&self, index: u32) -> bool {
        self.position(index).is_some_and(|i| self.links[i].up)
    }

    /// Forgets the multipath sets (on a routing change: every flow is
    /// attributed again right after).
    pub fn clear_multi(&mut self) {
        self.multi.clear();
        self.multi_dropped = 0;
    }

    /// The pseudo index naming this set of nexthop interfaces: a set, so
    /// taken in ifindex order (kernels differ in the order they list a
    /// multipath route's nexthops: 6.18 lists the last added first).
    pub fn multi(&mut self, nexthops: &[u32]) -> u32 {
        let n = nexthops.len().min(MAX_NEXTHOPS);
        let mut sorted = [0u32; MAX_NEXTHOPS];
        sorted[..n].copy_from_slice(&nexthops[..n]);
        // Insertion sort: a few entries, and no generic sort in the binary.
        for i in 1..n {
            let mut j = i;
            while j > 0 && sorted[j - 1] > sorted[j] {
                sorted.swap(j - 1, j);
                j -= 1;
            }
        }
        let nexthops = &sorted[..n];
        if let Some(k) = self
            .multi
            .iter()
            .position(|m| m.nexthops[..m.n as usize] == nexthops[..n])
        {
            return MULTI_IF | k as u32;
        }
        if self.multi.len() >= MAX_MULTI {
            self.multi_dropped += 1;
            return MULTI_IF | 0xffff;
        }
        let mut m = Multi {
            nexthops: [0; MAX_NEXTHOPS],
            n: n as u8,
            label: [0; 48],
            label_len: 0,
        };
        m.nexthops[..n].copy_from_slice(&nexthops[..n]);
        let mut len = 0;
        for (i, &ifi) in nexthops[..n].iter().enumerate() {
            let name = self.get(ifi).map(|l| l.name()).unwrap_or("?");
            let sep = usize::from(i > 0);
            if len + sep + name.len() > m.label.len() {
                break;
            }
            if sep == 1 {
                m.label[len] = b'|';
            }
            m.label[len + sep..len + sep + name.len()].copy_from_slice(name.as_bytes());
            len += sep + name.len();
        }
        m.label_len = len as u8;
        self.multi.push(m);
        MULTI_IF | (self.multi.len() as u32 - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(index: u32, name: &str, rx: u64) -> LinkMsg {
        let mut m = LinkMsg {
            index,
            flags: IFF_UP | IFF_RUNNING,
            name: [0; IFNAMSIZ],
            name_len: name.len() as u8,
            rx_bytes: rx,
            tx_bytes: 0,
        };
        m.name[..name.len()].copy_from_slice(name.as_bytes());
        m
    }

    fn dump(l: &mut Links, now: u64, ms: &[LinkMsg]) {
        l.begin();
        for m in ms {
            l.push(m);
        }
        l.finish(now, |l| l.name().starts_with("wan"));
    }

    #[test]
    fn rates_vanished_links_and_multipath_names() {
        let mut l = Links::with_capacity();
        dump(
            &mut l,
            1_000_000_000,
            &[msg(2, "lan0", 0), msg(5000, "wan0", 0)],
        );
        dump(
            &mut l,
            2_000_000_000,
            &[msg(2, "lan0", 1000), msg(5000, "wan0", 0)],
        );
        assert_eq!(l.get(2).unwrap().rx_bps, Some(8000.0));
        assert!(l.is_uplink(5000) && l.is_up(5000));
        // wan0 vanishes: still named, still an uplink, not up.
        dump(&mut l, 3_000_000_000, &[msg(2, "lan0", 1000)]);
        assert_eq!(l.name(5000), Some("wan0"));
        assert!(l.is_uplink(5000) && !l.is_up(5000));
        assert_eq!(l.position(5000), None);
        // It returns with a new index; the old one is still remembered.
        dump(
            &mut l,
            4_000_000_000,
            &[msg(2, "lan0", 1000), msg(6000, "wan0", 0)],
        );
        assert_eq!((l.name(5000), l.name(6000)), (Some("wan0"), Some("wan0")));
        assert_eq!(l.get(6000).unwrap().rx_bps, None, "first sight");
        // A set: in ifindex order, whatever order the kernel lists.
        let m = l.multi(&[6000, 2]);
        assert_eq!(l.name(m), Some("lan0|wan0"));
        assert_eq!(l.multi(&[6000, 2]), m);
        assert_eq!(l.multi(&[2, 6000]), m);
        assert!(is_multi(m) && !is_multi(LOCAL_IF));
        assert_eq!(l.name(LOCAL_IF), Some("local"));
    }

    #[test]
    fn many_links_and_the_bound() {
        let mut l = Links::with_capacity();
        let ms: Vec<LinkMsg> = (1..=700).map(|i| msg(i * 10, "veth", 0)).collect();
        dump(&mut l, 1, &ms);
        assert_eq!((l.all().len(), l.dropped), (700, 0));
        assert_eq!(l.position(6990), Some(698));
        let ms: Vec<LinkMsg> = (1..=MAX_LINKS as u32 + 3).map(|i| msg(i, "v", 0)).collect();
        dump(&mut l, 2, &ms);
        assert_eq!((l.all().len(), l.dropped), (MAX_LINKS, 3));
    }
}
