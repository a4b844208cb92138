//! The kernel's neighbour table (ARP and NDP): which MAC address each
//! local address belongs to, so that a phone's IPv4 address and its IPv6
//! privacy addresses are one device. Re-read when a neighbour event says
//! it changed; fixed capacity, what does not fit is counted.

/// Entries kept; a router's LAN rarely has more than a few hundred.
pub const MAX_NEIGH: usize = 4096;

#[derive(Default)]
pub struct Neighbours {
    /// (address key, MAC), sorted by key for binary search.
    entries: Vec<(u128, [u8; 6])>,
    pub dropped: u32,
}

use super::addrs::addr_key as key;

impl Neighbours {
    pub fn with_capacity() -> Neighbours {
        Neighbours {
            entries: Vec::with_capacity(MAX_NEIGH),
            dropped: 0,
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.dropped = 0;
    }

    pub fn add(&mut self, addr: &[u8], mac: [u8; 6]) {
        if self.entries.len() < MAX_NEIGH {
            self.entries.push((key(addr), mac));
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// After the adds: sorted, one MAC per address (the same address on
    /// two interfaces keeps the first).
    pub fn finish(&mut self) {
        self.entries.sort_unstable_by_key(|e| e.0);
        self.entries.dedup_by_key(|e| e.0);
    }

    pub fn mac(&self, addr: &[u8]) -> Option<[u8; 6]> {
        let k = key(addr);
        let i = self.entries.binary_search_by_key(&k, |e| e.0).ok()?;
        Some(self.entries[i].1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_both_families_find_their_mac() {
        let mut n = Neighbours::with_capacity();
        let mac = [2, 0, 0, 0, 0, 1];
        n.add(&[192, 0, 2, 2], mac);
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 2;
        n.add(&v6, mac);
        n.add(&[192, 0, 2, 3], [2, 0, 0, 0, 0, 2]);
        n.add(&[192, 0, 2, 2], [9; 6]);
        n.finish();
        assert_eq!(n.len(), 3);
        assert_eq!(n.mac(&[192, 0, 2, 2]), Some(mac));
        assert_eq!(n.mac(&v6), Some(mac));
        assert_eq!(n.mac(&[192, 0, 2, 9]), None);
        for i in 0..MAX_NEIGH as u32 {
            n.add(&i.to_be_bytes(), mac);
        }
        assert_eq!(n.dropped, 3);
    }
}
