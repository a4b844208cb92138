//! The flow table: every conntrack entry of the last dump with its rates,
//! in memory allocated once (the record itself is flow/).
//!
//! Files: this one holds the table and what a dump or an event does to it;
//! `index.rs` the index that finds a flow by its key, `rates.rs` what
//! `finish` makes of the counters (rates, counter zeroings).
//!
//! Key: conntrack id + start timestamp + the original tuple and zone. The
//! id alone is reused by the kernel; (id, start) is unique when timestamps
//! are on, and the tuple covers the case when they are off (CTA_ID is a
//! 32-bit value the kernel reuses). The hash covers the inline part only
//! (id, start, ports, protocol, zone), so no IPv6 address is read to hash.
//!
//! Full-table policy: when `capacity` flows are tracked (or the spill pool
//! is full), new entries are not tracked; `dropped` counts them per
//! refresh and the header shows it. Nothing is evicted, so rates of
//! tracked flows stay exact.
//!
//! Counters: `observe` keeps the latest counters and the change since the
//! last refresh as a pending delta; `finish(now_mono_ns, now_real_ns)` is
//! given the clock reading taken when the dump completed and turns deltas
//! into rates.

use crate::conntrack::{Conn, Nests, Offload};
use crate::flow::SEEN;
pub use crate::flow::{Flow, Life, RateState, Spills};
use crate::nl::attr::Malformed;
use rates::{credit, SW_NEWLY};

mod index;
#[cfg(test)]
mod predict_tests;
mod rates;
#[cfg(test)]
mod tests;

/// Largest index load, in tenths.
const MAX_LOAD_TENTHS: usize = 7;
/// The smallest index prefix.
const MIN_SLOTS: usize = 1024;
/// The "slot" of an entry appended without a lookup (`lookup`).
const APPENDED: usize = usize::MAX;
/// How long a departed flow waits for its DESTROY event.
pub const DEPART_WAIT_S: u32 = 30;

/// What the flow table counted: in the last refresh, and since start.
/// Health turns them into findings; JSON ticks print some.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Entries of the last dump that did not fit.
    pub dropped: u64,
    /// Flows whose counters went down in the last dump.
    pub resets: u32,
    /// Total resets seen since start.
    pub resets_total: u64,
    /// Entries without counters in the last dump (accounting was off when
    /// they were created).
    pub no_counters: u32,
    /// Entries without a start timestamp in the last dump.
    pub no_timestamp: u32,
    /// Offloaded entries in the last dump (their counters may be frozen).
    pub offloaded: Offloaded,
    /// Departed flows removed without ever getting their DESTROY event.
    pub unexplained: u64,
    /// Connections that ended since start (DESTROY events matched).
    pub closed_total: u64,
    /// Bytes credited from DESTROY events in the last refresh.
    pub credited: u64,
    /// Bytes estimated since start: what counter zeroings by another
    /// program took between two dumps (module doc). The rates and every
    /// total built from them include them.
    pub estimated_total: u64,
    /// Seconds between the last two zeroings (0: fewer than two seen).
    pub zero_period_s: u32,
}

/// Offloaded entries in the last dump, by kind, and how many of them had
/// counters that could not be moving (flows/rates.rs: their rate is
/// unknown).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Offloaded {
    /// In a software flowtable (OFFLOAD without HW_OFFLOAD).
    pub sw: u32,
    /// In hardware (HW_OFFLOAD).
    pub hw: u32,
    pub sw_frozen: u32,
    pub hw_frozen: u32,
    /// Software-offloaded flows (not new) whose counters moved: the
    /// flowtable counts, so those that did not are idle, not frozen
    /// (flows/rates.rs).
    pub sw_moved: u32,
}

impl Offloaded {
    pub fn any(&self) -> u32 {
        self.sw + self.hw
    }

    fn count(&mut self, status: u32) {
        match crate::conntrack::Offload::of(status) {
            crate::conntrack::Offload::Sw => self.sw += 1,
            crate::conntrack::Offload::Hw => self.hw += 1,
            crate::conntrack::Offload::No => {}
        }
    }
}

pub struct FlowTable {
    /// Reserved for the capacity (its `capacity()`), `mask + 1` of them
    /// in use: only those are written (index.rs).
    slots: Vec<u32>,
    mask: usize,
    /// Bits of a slot that hold the dense index + 1; the rest is the tag.
    idx_bits: u32,
    flows: Vec<Flow>,
    spills: Spills,
    cap: usize,
    seed: u64,
    /// Where the next entry of the running dump probably is (see lookup).
    cursor: usize,
    /// The running dump found the table empty: its entries are appended
    /// unindexed until it ends (`lookup`).
    appending: bool,
    last_t: u64,
    /// What the last refresh found, and totals since start.
    pub counts: Counts,
    /// Seconds a departed flow waits for its DESTROY event (at least
    /// DEPART_WAIT_S; the app raises it for long refresh intervals).
    pub depart_wait_s: u32,
    first_real: u64,
    /// Seconds a closed flow stays visible (--linger).
    pub linger_s: u32,
    /// DESTROY events are expected: flows missing from a dump wait for
    /// theirs. Without events they are removed at once.
    pub events: bool,
    /// What an exporter needs beyond the record, in the order of `flows`
    /// (moved by the same swap-removes). Reserved only when asked for
    /// (`keep_exported`, with --ipfix): the 80-byte record has no room.
    exported: Vec<Exported>,
    keep_exported: bool,
    /// Flows zeroed in the running refresh (module doc).
    zeroed: u32,
    /// CLOCK_MONOTONIC ns of the last zeroing, as estimated (0: none yet).
    zeroed_at: u64,
    /// `finish` settles every flow the long way (tests hold the
    /// shortcut for idle flows, `Flow::settle_idle`, to it).
    #[cfg(test)]
    no_shortcut: bool,
}

/// A flow's packet counters and what was last exported of it (ipfix/).
#[derive(Clone, Copy, Default, Debug)]
pub struct Exported {
    /// The kernel's packet counters (original, reply).
    pub packets: [u64; 2],
    /// Bytes (original, reply) and packets (original, reply) when last
    /// exported.
    pub sent: [u64; 4],
    /// Its final record (the connection ended) was sent.
    pub ended: bool,
}

impl FlowTable {
    /// `capacity` flows; the memory is reserved now and never grows. Pages
    /// are touched only as flows arrive, so a large capacity costs address
    /// space, not RSS. The spill pool has a slot per flow and an eighth
    /// more (IPv6 flows take one, two when NATed).
    pub fn new(capacity: usize, seed: u64) -> FlowTable {
        let cap = capacity.max(1);
        let nslots = (cap * 10 / MAX_LOAD_TENTHS + 1)
            .next_power_of_two()
            .max(MIN_SLOTS);
        // Not vec![0; nslots]: the static builds' allocator (zig's libc)
        // writes every byte of a zeroed allocation, where glibc's maps
        // fresh pages: at nf_conntrack_max 1.2M that was 8 MiB of RSS
        // for an index of 100k flows.
        let mut slots = Vec::with_capacity(nslots);
        slots.resize(MIN_SLOTS.min(nslots), 0);
        FlowTable {
            mask: slots.len() - 1,
            slots,
            idx_bits: (u64::BITS - (cap as u64).leading_zeros()).min(32),
            flows: Vec::with_capacity(cap),
            spills: Spills::new(cap + cap / 8 + 2),
            cap,
            seed: seed | 1,
            cursor: 0,
            appending: false,
            last_t: 0,
            counts: Counts::default(),
            linger_s: 5,
            depart_wait_s: DEPART_WAIT_S,
            first_real: 0,
            events: false,
            exported: Vec::new(),
            keep_exported: false,
            zeroed: 0,
            zeroed_at: 0,
            #[cfg(test)]
            no_shortcut: false,
        }
    }

    /// Keeps per-flow packet counters and export state from now on (48
    /// bytes a flow more, reserved for the capacity now).
    pub fn keep_exported(&mut self) {
        self.exported = Vec::with_capacity(self.cap);
        self.exported.resize(self.flows.len(), Exported::default());
        self.keep_exported = true;
    }

    /// The flows with their export state (empty without `keep_exported`),
    /// and the spill pool to read their addresses.
    pub fn export_parts(&mut self) -> (&[Flow], &Spills, &mut [Exported]) {
        (&self.flows, &self.spills, &mut self.exported)
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The addresses the records do not hold (`Spills::conn`).
    pub fn spills(&self) -> &Spills {
        &self.spills
    }

    /// The flows, for the per-refresh facts the router and the view write,
    /// with the spill pool to read their addresses.
    pub fn parts_mut(&mut self) -> (&mut [Flow], &Spills) {
        (&mut self.flows, &self.spills)
    }

    /// The entry of flow `f` as the kernel sent it.
    pub fn conn(&self, f: &Flow) -> Conn {
        self.spills.conn(f)
    }

    /// Starts a new dump: entries observed from now on belong to it.
    pub fn begin(&mut self) {
        self.cursor = 0;
        self.counts.dropped = 0;
        self.counts.no_counters = 0;
        self.counts.no_timestamp = 0;
        self.counts.offloaded = Offloaded::default();
    }

    /// Records one entry of the running dump.
    pub fn observe(&mut self, c: &Conn) {
        self.count(c);
        match self.lookup(c) {
            Ok(i) => self.seen(i, c),
            Err(free) => {
                self.insert(free, c, Life::Live, 0);
                self.cursor = self.flows.len();
            }
        }
    }

    /// `observe` for an entry whose tuples may still be their nests
    /// (`conntrack::decode_lazy`). The reply's is decoded only when the
    /// entry is new, since a known flow keeps its own. The original's is
    /// decoded unless the entry is the flow the dump's order predicts, by
    /// its identity alone (`predicted`): that flow keeps its own tuple
    /// too, and a steady refresh reads neither. Err (the entry is
    /// skipped, nothing counted) when a nest it decodes is malformed.
    pub fn observe_lazy(&mut self, c: &mut Conn, nests: Nests) -> Result<(), Malformed> {
        let predicted = match nests.orig {
            Some(raw) => {
                let p = self.predicted(c);
                if p.is_none() {
                    crate::conntrack::decode_tuple(raw, &mut c.orig)?;
                }
                p
            }
            None => None,
        };
        let at = predicted.map_or_else(|| self.lookup(c), Ok);
        if at.is_err() {
            crate::conntrack::decode_reply(nests.reply, c)?;
        }
        self.count(c);
        match at {
            Ok(i) => self.seen(i, c),
            Err(free) => {
                self.insert(free, c, Life::Live, 0);
                self.cursor = self.flows.len();
            }
        }
        Ok(())
    }

    /// The flow after the last one found (the dump's order: see
    /// `lookup`) when `c` has its conntrack id, start timestamp, zone and
    /// family. With timestamps on (nftop turns them on) that names one
    /// entry in practice: the id is the kernel's 32-bit hash of the
    /// entry's address and tuples, and two entries alive at once would
    /// also need the same start nanosecond and the same place in the
    /// order. Without a start, None: the key needs the tuple (index.rs).
    fn predicted(&self, c: &Conn) -> Option<usize> {
        let f = self.flows.get(self.cursor)?;
        (!self.appending && c.start != 0 && f.same_entry(c)).then_some(self.cursor)
    }

    /// Counts an entry of the dump for the refresh's facts.
    fn count(&mut self, c: &Conn) {
        if !c.has_counters {
            self.counts.no_counters += 1;
        }
        if c.start == 0 {
            self.counts.no_timestamp += 1;
        }
        self.counts.offloaded.count(c.status);
    }

    /// Finds an entry's flow: Ok(dense index), or Err(free slot, tag) as
    /// `find`.
    fn lookup(&mut self, c: &Conn) -> std::result::Result<usize, (usize, u32)> {
        // A new table (empty when the dump's first entry came): every
        // entry is new, so none is looked up; they are appended and
        // indexed together when the dump ends (`index_appended`), which
        // also finds an entry a dump sent twice.
        if self.flows.is_empty() {
            self.appending = true;
        }
        if self.appending {
            return Err((APPENDED, 0));
        }
        // The kernel dumps in hash-bucket order, the same every time, and
        // the dense array is in first-seen order: the entry after the last
        // one found is usually the next one dumped. Checking it first turns
        // a random index lookup (a cache miss per entry at 100k entries)
        // into a sequential walk.
        match self.flows.get(self.cursor) {
            Some(f) if self.same_key(f, c) => Ok(self.cursor),
            _ => self.find(c),
        }
    }

    /// The dump holds flow `i` again, as `c`.
    fn seen(&mut self, i: usize, c: &Conn) {
        let f = &mut self.flows[i];
        let was = f.offloaded();
        credit(f, c.orig_bytes, c.reply_bytes);
        f.update(c);
        if f.life == Life::Live {
            // A live flow's end_s is its last hardware step (rates.rs):
            // none yet when it was not offloaded at the last dump, and a
            // software flow offloaded since then is marked, for its moved
            // counters were the slow path's and say nothing of the
            // flowtable's `counter`.
            match f.offload() {
                Offload::Sw if !was => f.end_s = SW_NEWLY,
                Offload::Hw if was => {}
                _ => f.end_s = 0,
            }
        }
        f.set(SEEN, true);
        self.cursor = i + 1;
        if let Some(e) = self.exported.get_mut(i) {
            e.packets = c.packets;
        }
    }

    /// Adds a flow at the free index slot `slot` with tag `tag` (both from
    /// `find`; `APPENDED`: indexed when the dump ends); counts it as
    /// dropped when the table or the spill pool is full.
    fn insert(&mut self, (slot, tag): (usize, u32), c: &Conn, life: Life, end_s: u32) -> bool {
        if self.flows.len() >= self.cap {
            self.counts.dropped += 1;
            return false;
        }
        let Some(f) = Flow::fresh(c, life, end_s, &mut self.spills) else {
            self.counts.dropped += 1;
            return false;
        };
        self.flows.push(f);
        if self.keep_exported {
            // Entries of the first dump were counted before nftop
            // started (perhaps exported by an earlier run): only what
            // they carry from now on is exported. Later ones are new.
            let sent = if self.last_t == 0 {
                [c.orig_bytes, c.reply_bytes, c.packets[0], c.packets[1]]
            } else {
                [0; 4]
            };
            self.exported.push(Exported {
                packets: c.packets,
                sent,
                ended: false,
            });
        }
        if slot == APPENDED {
            return true;
        }
        self.slots[slot] = tag | self.flows.len() as u32;
        if self.flows.len() * 10 > (self.mask + 1) * MAX_LOAD_TENTHS {
            self.grow();
        }
        true
    }

    /// A DESTROY event: `c` holds the final counters, `stop` the kernel's
    /// stop timestamp (CLOCK_REALTIME ns, 0 if absent); `now`/`real` are
    /// the current clocks. Its bytes not credited yet are credited in the
    /// next `finish`.
    pub fn destroy(&mut self, c: &Conn, stop: u64, now: u64, real: u64) {
        let end = if stop != 0 && stop < real {
            now.saturating_sub(real - stop)
        } else {
            now
        };
        let end_s = (end / 1_000_000_000) as u32;
        let free = match self.find(c) {
            Ok(i) => {
                let f = &mut self.flows[i];
                if !matches!(f.life, Life::Closing | Life::Closed) {
                    // Final counters: what the last dump did not see.
                    credit(f, c.orig_bytes, c.reply_bytes);
                    f.update(c);
                    f.life = Life::Closing;
                    f.end_s = end_s;
                    if let Some(e) = self.exported.get_mut(i) {
                        e.packets = c.packets;
                    }
                }
                return;
            }
            Err(free) => free,
        };
        // Not in the table: never dumped (it lived between two dumps, or
        // expired and was evicted by the last dump itself, which sends
        // its event one refresh late), so all its bytes are new. Unless
        // the kernel timestamp says it is older than nftop's first dump,
        // or older than the time a departed flow waits for its event: then
        // it was dumped, and crediting it all could count bytes twice.
        let wait_ns = self.depart_wait_s as u64 * 1_000_000_000;
        let credit_all =
            c.start == 0 || (c.start > self.first_real && real.saturating_sub(c.start) < wait_ns);
        if self.insert(free, c, Life::Closing, end_s) && !credit_all {
            let f = self.flows.last_mut().expect("just inserted");
            f.orig_bps = 0.0;
            f.reply_bps = 0.0;
            // Nor exported again: only its end is news.
            if let Some(e) = self.exported.last_mut() {
                e.sent = [c.orig_bytes, c.reply_bytes, c.packets[0], c.packets[1]];
            }
        }
    }

    /// The index in `flows()` of the flow with `c`'s key (the screen's
    /// selection follows its connection by key; indices move).
    pub fn index_of(&self, c: &Conn) -> Option<u32> {
        self.find(c).ok().map(|i| i as u32)
    }

    /// Per-refresh derived facts (direction, interfaces) are written by the
    /// view and the router through this.
    pub fn flows_mut(&mut self) -> &mut [Flow] {
        &mut self.flows
    }
}
