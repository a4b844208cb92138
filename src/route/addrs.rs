//! The router's own addresses, which interface holds each, and the
//! networks its interfaces connect to directly: the facts that decide,
//! before any route lookup, that a connection starts or ends on the router,
//! which uplink a masqueraded connection left through, and on which link a
//! neighbour sits.
//!
//! Capacity: `MAX_ADDRS` addresses (a stated bound, far above what routers
//! carry). The table is sized from the first dump and grows on later
//! dumps (only after a change event, never in a steady refresh); past the
//! bound addresses are dropped and counted (`dropped`), and the header
//! says so.

use super::wire::AddrMsg;

/// Hard bound on addresses kept (every address of every interface).
pub const MAX_ADDRS: usize = 16384;

/// Interface index meaning "several interfaces hold this".
const AMBIGUOUS: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Net {
    alen: u8,
    prefix: u8,
    addr: [u8; 16],
    ifindex: u32,
}

#[derive(Default)]
pub struct LocalAddrs {
    /// ((address length, address as an integer), ifindex or AMBIGUOUS),
    /// sorted. Integer keys: this is searched several times per new flow.
    addrs: Vec<((u8, u128), u32)>,
    /// Directly connected networks (not link-local, not a lone /32).
    nets: Vec<Net>,
    /// Addresses left out because `MAX_ADDRS` was reached, last dump.
    pub dropped: u32,
}

fn key(a: &[u8]) -> (u8, u128) {
    let mut k = [0u8; 16];
    let n = a.len().min(16);
    k[..n].copy_from_slice(&a[..n]);
    (n as u8, u128::from_be_bytes(k))
}

/// The loopback ranges: 127.0.0.0/8, ::1.
fn loopback(a: &[u8]) -> bool {
    (a.len() == 4 && a[0] == 127)
        || (a.len() == 16 && a[..15].iter().all(|&b| b == 0) && a[15] == 1)
}

/// Whether `a` lies in `net`/`prefix` (both `alen` bytes).
fn within(a: &[u8], net: &[u8], prefix: u8) -> bool {
    let full = (prefix / 8) as usize;
    let bits = prefix % 8;
    if a.len() != net.len() || full > a.len() || a[..full] != net[..full] {
        return false;
    }
    bits == 0 || {
        let m = 0xffu8 << (8 - bits);
        (a[full] & m) == (net[full] & m)
    }
}

impl LocalAddrs {
    pub fn with_capacity() -> LocalAddrs {
        LocalAddrs {
            addrs: Vec::with_capacity(64),
            nets: Vec::with_capacity(64),
            dropped: 0,
        }
    }

    pub fn clear(&mut self) {
        self.addrs.clear();
        self.nets.clear();
        self.dropped = 0;
    }

    /// Adds an address of interface `ifindex` (no network).
    pub fn insert(&mut self, a: &[u8], ifindex: u32) {
        if a.len() != 4 && a.len() != 16 {
            return;
        }
        let k = key(a);
        match self.addrs.binary_search_by(|e| e.0.cmp(&k)) {
            Ok(i) => {
                if self.addrs[i].1 != ifindex {
                    self.addrs[i].1 = AMBIGUOUS;
                }
            }
            Err(i) if self.addrs.len() < MAX_ADDRS => self.addrs.insert(i, (k, ifindex)),
            Err(_) => self.dropped += 1,
        }
    }

    /// Adds one address message: the address and its connected network.
    pub fn add(&mut self, m: &AddrMsg) {
        let n = m.alen as usize;
        self.insert(&m.local[..n], m.index);
        let link_local = n == 16 && m.network[0] == 0xfe && m.network[1] & 0xc0 == 0x80;
        // A lone host address connects to nothing, unless it names the peer
        // of a point-to-point link.
        let host = m.prefix_len as usize == n * 8 && m.network == m.local;
        if link_local || host || m.prefix_len == 0 {
            return;
        }
        if self.nets.len() >= MAX_ADDRS {
            self.dropped += 1;
            return;
        }
        self.nets.push(Net {
            alen: m.alen,
            prefix: m.prefix_len,
            addr: m.network,
            ifindex: m.index,
        });
    }

    /// True for the router's addresses and for the loopback ranges
    /// (127.0.0.0/8, ::1), which are local even when `lo` has no address.
    pub fn contains(&self, a: &[u8]) -> bool {
        loopback(a) || self.search(a).is_some()
    }

    /// The interface holding address `a` (`AMBIGUOUS` when several do).
    /// One search shared by every question about an address (flash).
    #[inline(never)]
    fn search(&self, a: &[u8]) -> Option<u32> {
        let k = key(a);
        let i = self.addrs.binary_search_by(|e| e.0.cmp(&k)).ok()?;
        Some(self.addrs[i].1)
    }

    /// `contains`, `owner` and `connected` of `a`, with one search.
    pub fn facts(&self, a: &[u8]) -> Facts {
        let found = self.search(a);
        Facts {
            local: loopback(a) || found.is_some(),
            owner: found.filter(|&ifi| ifi != AMBIGUOUS),
            connected: self.connected(a),
        }
    }

    /// The interface that holds address `a`, when exactly one does.
    pub fn owner(&self, a: &[u8]) -> Option<u32> {
        self.search(a).filter(|&ifi| ifi != AMBIGUOUS)
    }

    /// The interface whose directly connected network holds `a` (longest
    /// prefix); None when none does, or when two interfaces connect to
    /// the same longest prefix (then only a route lookup can tell).
    pub fn connected(&self, a: &[u8]) -> Option<u32> {
        let mut best: Option<(u8, u32)> = None;
        let mut tie = false;
        for n in &self.nets {
            let l = n.alen as usize;
            if l != a.len() || !within(a, &n.addr[..l], n.prefix) {
                continue;
            }
            match best {
                Some((p, ifi)) if p == n.prefix => tie |= ifi != n.ifindex,
                Some((p, _)) if p > n.prefix => {}
                _ => {
                    best = Some((n.prefix, n.ifindex));
                    tie = false;
                }
            }
        }
        best.filter(|_| !tie).map(|b| b.1)
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

/// What attribution asks of one address: the router's own (and on which
/// interface), and on which directly connected network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub local: bool,
    pub owner: Option<u32>,
    pub connected: Option<u32>,
}

/// Slots of the facts memo.
const MEMO_SLOTS: usize = 4096;

/// Facts per address, remembered (direct-mapped, a colliding address
/// replaces the last): flows share their LAN host and their NAT address,
/// and at a million flows three searches per address per flow are a third
/// of attribution. Cleared whenever the addresses are read again.
///
/// A slot is 32 bytes (the address as an integer, IPv4 as IPv4-mapped;
/// the facts packed in two words, 0 = none: no interface has index 0), so
/// the memo stays within the caches it is read through a million times.
pub struct Memo {
    slots: Vec<(u128, u32, u32)>,
}

/// Bit of the third word: the address is the router's.
const LOCAL_BIT: u32 = 1 << 31;

/// An address (4 or 16 bytes) as one integer, IPv4 as IPv4-mapped IPv6
/// (::ffff:a.b.c.d): one key space for both families (the memo, the
/// neighbour table, the per-device view).
pub fn addr_key(a: &[u8]) -> u128 {
    let mut k = [0u8; 16];
    if a.len() == 4 {
        k[10] = 0xff;
        k[11] = 0xff;
        k[12..].copy_from_slice(a);
    } else if a.len() == 16 {
        k.copy_from_slice(a);
    }
    u128::from_be_bytes(k)
}

impl Memo {
    pub fn new() -> Memo {
        Memo {
            slots: vec![(0, 0, 0); MEMO_SLOTS],
        }
    }

    pub fn clear(&mut self) {
        self.slots.fill((0, 0, 0));
    }

    /// The facts of address `a` (4 or 16 bytes).
    pub fn get(&mut self, local: &LocalAddrs, a: &[u8]) -> Facts {
        let k = addr_key(a);
        let h = (k as u64 ^ (k >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = &mut self.slots[(h >> 52) as usize % MEMO_SLOTS];
        // Key 0 (the unspecified address) marks an empty slot: never kept.
        if slot.0 != k || k == 0 {
            let f = local.facts(a);
            let c = f.connected.unwrap_or(0) & !LOCAL_BIT;
            *slot = (
                k,
                f.owner.unwrap_or(0),
                c | if f.local { LOCAL_BIT } else { 0 },
            );
            return f;
        }
        let c = slot.2 & !LOCAL_BIT;
        Facts {
            local: slot.2 & LOCAL_BIT != 0,
            owner: (slot.1 != 0).then_some(slot.1),
            connected: (c != 0).then_some(c),
        }
    }
}

impl Default for Memo {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ifi: u32, local: &[u8], network: &[u8], prefix: u8) -> AddrMsg {
        let mut m = AddrMsg {
            index: ifi,
            alen: local.len() as u8,
            prefix_len: prefix,
            local: [0; 16],
            network: [0; 16],
        };
        m.local[..local.len()].copy_from_slice(local);
        m.network[..network.len()].copy_from_slice(network);
        m
    }

    /// The packed memo answers what a search answers, for both families,
    /// on a hit and on a miss, and after a colliding address replaced it.
    #[test]
    fn the_memo_answers_as_the_search() {
        let mut a = LocalAddrs::with_capacity();
        a.add(&msg(2, &[192, 0, 2, 1], &[192, 0, 2, 1], 24));
        a.add(&msg(3, &[198, 51, 100, 1], &[198, 51, 100, 1], 24));
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 1;
        a.add(&msg(4, &v6, &v6, 64));
        a.insert(&[198, 51, 100, 1], 5); // no single owner now
        let mut m = Memo::new();
        let mut probe: Vec<Vec<u8>> = vec![
            vec![192, 0, 2, 1],
            vec![192, 0, 2, 77],
            vec![198, 51, 100, 1],
            vec![203, 0, 113, 9],
            vec![127, 0, 0, 1],
            v6.to_vec(),
            vec![0; 16],
        ];
        let mut far = v6;
        far[7] = 9;
        probe.push(far.to_vec());
        for i in 0..5000u32 {
            probe.push([10, (i >> 16) as u8, (i >> 8) as u8, i as u8].to_vec());
        }
        for _ in 0..2 {
            for p in &probe {
                assert_eq!(m.get(&a, p), a.facts(p), "{p:?}");
            }
        }
    }

    #[test]
    fn owners_connected_networks_and_ties() {
        let mut a = LocalAddrs::with_capacity();
        a.add(&msg(2, &[192, 0, 2, 1], &[192, 0, 2, 1], 24));
        a.add(&msg(3, &[198, 51, 100, 1], &[198, 51, 100, 1], 24));
        a.add(&msg(4, &[198, 51, 100, 129], &[198, 51, 100, 129], 25));
        // A point-to-point tunnel: its peer is connected.
        a.add(&msg(5, &[203, 0, 113, 129], &[203, 0, 113, 130], 32));
        let mut fe80 = [0u8; 16];
        fe80[..2].copy_from_slice(&[0xfe, 0x80]);
        a.add(&msg(6, &fe80, &fe80, 64));
        assert_eq!(a.owner(&[198, 51, 100, 1]), Some(3));
        assert_eq!(a.connected(&[192, 0, 2, 77]), Some(2));
        assert_eq!(a.connected(&[198, 51, 100, 200]), Some(4), "longest prefix");
        assert_eq!(a.connected(&[198, 51, 100, 2]), Some(3));
        assert_eq!(a.connected(&[203, 0, 113, 130]), Some(5));
        assert_eq!(a.connected(&[203, 0, 113, 131]), None);
        let mut x = fe80;
        x[15] = 9;
        assert_eq!(a.connected(&x), None, "link-local is on every link");
        // The same network on two links: only a lookup can tell.
        a.add(&msg(7, &[192, 0, 2, 254], &[192, 0, 2, 254], 24));
        assert_eq!(a.connected(&[192, 0, 2, 77]), None);
        // The same address on two links has no single owner.
        a.insert(&[198, 51, 100, 1], 9);
        assert_eq!(a.owner(&[198, 51, 100, 1]), None);
        assert!(a.contains(&[198, 51, 100, 1]) && a.contains(&[127, 0, 0, 9]));
    }
}
