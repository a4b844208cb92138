//! The flow table's index: finds a flow by its key.
//!
//! Layout: a dense `Vec<Flow>` (capacity fixed at start, never grown), a
//! spill pool for addresses that do not fit a record (flow/spills.rs), and an
//! open-addressing index of `u32` slots (linear probing, backward-shift
//! deletion, no tombstones). A slot holds the flow's dense index + 1 in its
//! low `idx_bits` and spare hash bits (a tag) above, so a probe that meets
//! another flow's slot rejects it without reading that flow: at a million
//! flows each such read is a cache miss, and a new entry makes several. The
//! index is reserved for the full capacity but only a power-of-two prefix
//! of it is used (and written), at a load of at most 0.7, doubled in place
//! (rehashing from the dense array) as the table grows: untouched pages
//! cost no RSS, so memory follows the flows, not `nf_conntrack_max`. A
//! refresh costs O(entries) and allocates nothing.
//!
//! Key: conntrack id + start timestamp + the original tuple and zone. The
//! id alone is reused by the kernel; (id, start) is unique when timestamps
//! are on, and the tuple covers the case when they are off (CTA_ID is a
//! 32-bit value the kernel reuses). The hash covers the inline part only
//! (id, start, ports, protocol, zone), so no IPv6 address is read to hash.

use super::{FlowTable, MAX_LOAD_TENTHS};
use crate::conntrack::Conn;
use crate::flow::Flow;

impl FlowTable {
    /// Indexes the flows a dump appended to an empty table (`lookup`),
    /// the prefix in use sized once for all of them, not doubled as they
    /// came.
    pub(super) fn index_appended(&mut self) {
        let mut n = self.mask + 1;
        while self.flows.len() * 10 > n * MAX_LOAD_TENTHS && n * 2 <= self.slots.capacity() {
            n *= 2;
        }
        self.rehash(n);
    }

    /// Doubles the index prefix in use, if there is more of it.
    pub(super) fn grow(&mut self) {
        let n = (self.mask + 1) * 2;
        if n <= self.slots.capacity() {
            self.rehash(n);
        }
    }

    /// Puts every flow into an index prefix of `n` slots, the last first.
    /// A flow whose key a later one holds (only a dump appended to an
    /// empty table can hold an entry twice: the kernel sends one again
    /// when its table changes during the dump) goes, so the latest
    /// sighting stays; removing it moves the last flow, already indexed.
    fn rehash(&mut self, n: usize) {
        // Within the reserved capacity: no allocation.
        self.slots.clear();
        self.slots.resize(n, 0);
        self.mask = n - 1;
        for i in (0..self.flows.len()).rev() {
            let h = self.flow_hash(&self.flows[i]);
            let mut s = h as usize & self.mask;
            let mut twice = false;
            while self.slots[s] != 0 {
                let v = self.slots[s];
                twice |= v & !self.idx_mask() == self.tag(h)
                    && self.same_key(
                        &self.flows[self.index(v)],
                        &self.spills.conn(&self.flows[i]),
                    );
                s = (s + 1) & self.mask;
            }
            self.slots[s] = self.tag(h) | (i as u32 + 1);
            if twice {
                self.remove(i);
            }
        }
    }

    /// The flow with `c`'s key: Ok(dense index), or Err(the free slot
    /// where it would go, and its tag).
    pub(super) fn find(&self, c: &Conn) -> std::result::Result<usize, (usize, u32)> {
        let h = self.hash(c);
        let tag = self.tag(h);
        let mut slot = h as usize & self.mask;
        loop {
            match self.slots[slot] {
                0 => return Err((slot, tag)),
                v if v & !self.idx_mask() == tag
                    && self.same_key(&self.flows[self.index(v)], c) =>
                {
                    return Ok(self.index(v))
                }
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }

    pub(super) fn idx_mask(&self) -> u32 {
        u32::MAX.checked_shr(32 - self.idx_bits).unwrap_or(0)
    }

    /// The dense index a used slot points to.
    pub(super) fn index(&self, v: u32) -> usize {
        (v & self.idx_mask()) as usize - 1
    }

    /// The tag bits of a slot for hash `h`: its top bits (the home slot
    /// takes the bottom ones).
    pub(super) fn tag(&self, h: u64) -> u32 {
        ((h >> 32) as u32) & !self.idx_mask()
    }

    pub(super) fn same_key(&self, f: &Flow, c: &Conn) -> bool {
        f.same_inline_key(c) && self.spills.same_addrs(f, c)
    }

    pub(super) fn hash(&self, c: &Conn) -> u64 {
        key_hash(
            self.seed,
            c.id,
            c.start,
            c.orig.sport,
            c.orig.dport,
            c.orig.proto,
            c.zone,
        )
    }

    pub(super) fn home(&self, f: &Flow) -> usize {
        self.flow_hash(f) as usize & self.mask
    }

    pub(super) fn flow_hash(&self, f: &Flow) -> u64 {
        key_hash(
            self.seed,
            f.id,
            f.kernel_start(),
            f.sport(),
            f.dport(),
            f.proto,
            f.zone,
        )
    }

    /// Removes the flow at dense index `i`, keeping the index consistent.
    pub(super) fn remove(&mut self, i: usize) {
        let slot = self.slot_of(i);
        self.clear_slot(slot);
        let last = self.flows.len() - 1;
        if i != last {
            let moved = self.slot_of(last);
            self.slots[moved] = self.slots[moved] & !self.idx_mask() | (i as u32 + 1);
        }
        self.spills.release(&self.flows[i]);
        self.flows.swap_remove(i);
        if self.keep_exported {
            self.exported.swap_remove(i);
        }
    }

    pub(super) fn slot_of(&self, i: usize) -> usize {
        let want = i as u32 + 1;
        let mut s = self.home(&self.flows[i]);
        // Terminates: the flow is in the index, and the index has free slots.
        while self.slots[s] & self.idx_mask() != want {
            s = (s + 1) & self.mask;
        }
        s
    }

    /// Backward-shift deletion (Knuth 6.4 algorithm R): later members of the
    /// probe run move into the hole when their home allows it.
    pub(super) fn clear_slot(&mut self, mut hole: usize) {
        self.slots[hole] = 0;
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            let v = self.slots[j];
            if v == 0 {
                return;
            }
            let home = self.home(&self.flows[self.index(v)]);
            // Distance from home to j versus from hole to j, cyclically.
            let d_home = j.wrapping_sub(home) & self.mask;
            let d_hole = j.wrapping_sub(hole) & self.mask;
            if d_home >= d_hole {
                self.slots[hole] = v;
                self.slots[j] = 0;
                hole = j;
            }
        }
    }

    #[cfg(test)]
    pub(super) fn check_index(&self) {
        let used = self.slots[..=self.mask].iter().filter(|&&v| v != 0).count();
        assert_eq!(used, self.flows.len());
        assert_eq!(self.slots.len(), self.mask + 1);
        for i in 0..self.flows.len() {
            let _ = self.slot_of(i);
        }
    }
}

/// Hash of the inline key (module doc).
fn key_hash(seed: u64, id: u32, start: u64, sport: u16, dport: u16, proto: u8, zone: u16) -> u64 {
    let h = mix(seed ^ (id as u64) ^ start.rotate_left(23));
    mix(h
        ^ ((sport as u64) << 32 | (dport as u64) << 16 | (proto as u64) << 8)
        ^ (zone as u64) << 56)
}

/// splitmix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
