//! The flow table: every conntrack entry of the last dump with its rates,
//! in memory allocated once (the record itself is flow.rs).
//!
//! Layout: a dense `Vec<Flow>` (capacity fixed at start, never grown), a
//! spill pool for addresses that do not fit a record (flow.rs), and an
//! open-addressing index of `u32` slots (linear probing, backward-shift
//! deletion, no tombstones). A slot holds the flow's dense index + 1 in its
//! low `idx_bits` and spare hash bits (a tag) above, so a probe that meets
//! another flow's slot rejects it without reading that flow: at a million
//! flows each such read is a cache miss, and a new entry makes several. The
//! index is reserved for the full capacity
//! but only a power-of-two prefix of it is used, at a load of at most
//! 0.7, doubled in place (rehashing from the dense array) as the table
//! grows: untouched pages cost no RSS, so memory follows the flows, not
//! `nf_conntrack_max`. A refresh costs O(entries) and allocates nothing.
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
//!
//! Counter zeroings (nlbwmon's `IPCTNL_MSG_CT_GET_CTRZERO` dump, every 30 s
//! on OpenWrt): a counter that went down was zeroed, and the bytes between
//! the last dump and the zeroing are gone from it. The zeroing takes the
//! whole table within one dump walk, so its moment is estimated from every
//! flow zeroed in the same refresh: each flow's new count over what its
//! last rate promised for the interval is the fraction of the interval
//! since the zeroing; their median (a histogram of `ZERO_BINS` bins: fixed
//! memory whatever the number of flows) is robust on a busy table. Each
//! zeroed flow is credited its last rate over the rest of the interval,
//! counted as estimated (`Counts::estimated_total`); with fewer than
//! `MIN_ZERO_SAMPLES` usable flows, each holds its own last rate.

use crate::conntrack::Conn;
pub use crate::flow::{Flow, Life, RateState, Spills};
use crate::flow::{FRESH, NEW, PENDING, RESET, SEEN, ZEROED};
use crate::nla::Malformed;

/// Largest index load, in tenths.
const MAX_LOAD_TENTHS: usize = 7;
/// The smallest index prefix.
const MIN_SLOTS: usize = 1024;
/// Below this age a first-seen entry's bytes/age rate is noise.
const MIN_AGE_NS: u64 = 1_000_000;

/// How long a departed flow waits for its DESTROY event.
pub const DEPART_WAIT_S: u32 = 30;

/// Bins over [0, 1] of the fractions of the interval since a zeroing
/// (module doc): every zeroed flow of a refresh counts, in 256 bytes of
/// stack; the median is interpolated within its bin.
const ZERO_BINS: usize = 64;
/// Fewer zeroed flows with a usable last rate than this: no table-wide
/// estimate, each flow holds its own last rate.
const MIN_ZERO_SAMPLES: u32 = 3;
/// A zeroed flow is a sample only when its last rate promised this many
/// bytes over the interval (a few full packets; fewer is noise).
const MIN_ZERO_BYTES: f64 = 4096.0;

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
    pub offloaded: u32,
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

/// What `settle` decided for one flow.
enum Settled {
    Removed,
    Idle,
    Counted,
}

/// Over how long a flow seen for the first time gathered its bytes.
/// Everything it carries was never credited, so it all belongs to this
/// interval, unless it is older than nftop's first dump (then bytes/age is
/// the best estimate): the first dump, or an entry the full table could
/// not hold then. A flow that some dump missed (the kernel can skip entries
/// while the table changes during a dump) is credited whole too.
fn first_span(f: &Flow, real: u64, dt_ns: u64, first_dump: bool, first_real: u64) -> u64 {
    let age = if f.kernel_start() != 0 && real > f.kernel_start() {
        real - f.kernel_start()
    } else {
        0
    };
    let predates_us = f.kernel_start() != 0 && f.kernel_start() <= first_real;
    if first_dump || (predates_us && age > dt_ns && dt_ns > 0) {
        age
    } else {
        dt_ns
    }
}

pub struct FlowTable {
    /// Reserved for the capacity; `mask + 1` of them in use.
    slots: Vec<u32>,
    mask: usize,
    /// Bits of a slot that hold the dense index + 1; the rest is the tag.
    idx_bits: u32,
    flows: Vec<Flow>,
    spills: Spills,
    cap: usize,
    seed: u64,
    /// Where the next entry of the running dump probably is (see observe).
    cursor: usize,
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
}

/// A flow's packet counters and what was last exported of it (ipfix.rs).
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
        FlowTable {
            slots: vec![0; nslots],
            mask: MIN_SLOTS.min(nslots) - 1,
            idx_bits: (u64::BITS - (cap as u64).leading_zeros()).min(32),
            flows: Vec::with_capacity(cap),
            spills: Spills::new(cap + cap / 8 + 2),
            cap,
            seed: seed | 1,
            cursor: 0,
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
        self.counts.offloaded = 0;
    }

    /// Records one entry of the running dump.
    pub fn observe(&mut self, c: &Conn) {
        match self.locate(c) {
            Ok(i) => self.seen(i, c),
            Err(free) => {
                self.insert(free, c, Life::Live, 0);
                self.cursor = self.flows.len();
            }
        }
    }

    /// `observe` for an entry whose reply tuple is still the undecoded
    /// nest `reply` (`conntrack::decode_lazy`): it is decoded only when
    /// the entry is new, since a known flow keeps its own. Err (the entry
    /// is skipped) when that nest is malformed.
    pub fn observe_lazy(&mut self, c: &mut Conn, reply: &[u8]) -> Result<(), Malformed> {
        match self.locate(c) {
            Ok(i) => self.seen(i, c),
            Err(free) => {
                crate::conntrack::decode_reply(reply, c)?;
                self.insert(free, c, Life::Live, 0);
                self.cursor = self.flows.len();
            }
        }
        Ok(())
    }

    /// Counts an entry of the dump and finds its flow: Ok(dense index),
    /// or Err(free slot, tag) as `find`.
    fn locate(&mut self, c: &Conn) -> std::result::Result<usize, (usize, u32)> {
        if !c.has_counters {
            self.counts.no_counters += 1;
        }
        if c.start == 0 {
            self.counts.no_timestamp += 1;
        }
        if c.status & (crate::conntrack::IPS_OFFLOAD | crate::conntrack::IPS_HW_OFFLOAD) != 0 {
            self.counts.offloaded += 1;
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
        credit(f, c.orig_bytes, c.reply_bytes);
        f.update(c);
        f.set(SEEN, true);
        self.cursor = i + 1;
        if let Some(e) = self.exported.get_mut(i) {
            e.packets = c.packets;
        }
    }

    /// Adds a flow at the free index slot `slot` with tag `tag` (both from
    /// `find`); counts it as dropped when the table or the spill pool is
    /// full.
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
        self.slots[slot] = tag | self.flows.len() as u32;
        if self.flows.len() * 10 > (self.mask + 1) * MAX_LOAD_TENTHS {
            self.grow();
        }
        true
    }

    /// Doubles the index prefix in use, if there is more of it, and
    /// rehashes every flow into it.
    fn grow(&mut self) {
        let n = (self.mask + 1) * 2;
        if n > self.slots.len() {
            return;
        }
        self.slots[..n].fill(0);
        self.mask = n - 1;
        for i in 0..self.flows.len() {
            let h = self.flow_hash(&self.flows[i]);
            let mut s = h as usize & self.mask;
            while self.slots[s] != 0 {
                s = (s + 1) & self.mask;
            }
            self.slots[s] = self.tag(h) | (i as u32 + 1);
        }
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

    /// The flow with `c`'s key: Ok(dense index), or Err(the free slot
    /// where it would go, and its tag).
    fn find(&self, c: &Conn) -> std::result::Result<usize, (usize, u32)> {
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

    fn idx_mask(&self) -> u32 {
        u32::MAX.checked_shr(32 - self.idx_bits).unwrap_or(0)
    }

    /// The dense index a used slot points to.
    fn index(&self, v: u32) -> usize {
        (v & self.idx_mask()) as usize - 1
    }

    /// The tag bits of a slot for hash `h`: its top bits (the home slot
    /// takes the bottom ones).
    fn tag(&self, h: u64) -> u32 {
        ((h >> 32) as u32) & !self.idx_mask()
    }

    fn same_key(&self, f: &Flow, c: &Conn) -> bool {
        f.same_inline_key(c) && self.spills.same_addrs(f, c)
    }

    fn hash(&self, c: &Conn) -> u64 {
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

    fn home(&self, f: &Flow) -> usize {
        self.flow_hash(f) as usize & self.mask
    }

    fn flow_hash(&self, f: &Flow) -> u64 {
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

    /// Per-refresh derived facts (direction, interfaces) are written by the
    /// view and the router through this.
    pub fn flows_mut(&mut self) -> &mut [Flow] {
        &mut self.flows
    }

    /// Ends the dump at `now` (CLOCK_MONOTONIC ns; `real` is CLOCK_REALTIME
    /// ns for kernel timestamps): drops entries that left the table and
    /// computes rates.
    ///
    /// Rates: Δbytes·8/Δt over the time between the two dump completions.
    /// A counter that went down was zeroed by another program: the new
    /// value is what was counted since, and what came before the zeroing
    /// is estimated (module doc, `estimate_zeroing`): never negative, never
    /// a spike, never the dip of the lost bytes. A flow first
    /// seen after the first dump was born within Δt (or missed, when the
    /// table was full): its bytes are credited over Δt, or over its age when
    /// the kernel timestamp says it is older. A flow in the very first dump
    /// is rated bytes/age when it has a timestamp, else it is `Unknown`
    /// until the next refresh.
    pub fn finish(&mut self, now: u64, real: u64) {
        let dt_ns = if self.last_t != 0 && now > self.last_t {
            now - self.last_t
        } else {
            0
        };
        let now_s = (now / 1_000_000_000) as u32;
        let first_dump = self.last_t == 0;
        self.counts.resets = 0;
        self.counts.credited = 0;
        self.zeroed = 0;
        let mut i = 0;
        while i < self.flows.len() {
            match self.settle(i, now_s) {
                Settled::Removed => continue,
                Settled::Idle => {}
                Settled::Counted => {
                    let f = &mut self.flows[i];
                    let fresh = f.has(FRESH);
                    let span = if fresh {
                        f.set(FRESH, false);
                        f.set_mono_start(now);
                        first_span(f, real, dt_ns, first_dump, self.first_real)
                    } else {
                        dt_ns
                    };
                    self.rate(i, span, fresh);
                }
            }
            let f = &mut self.flows[i];
            f.set(SEEN, false);
            f.set(PENDING, false);
            i += 1;
        }
        if self.zeroed > 0 {
            self.estimate_zeroing(now, dt_ns);
        }
        self.last_t = now;
        if self.first_real == 0 {
            self.first_real = real;
        }
    }

    /// A flow's life after this dump: removed (ended and shown long
    /// enough, or gone without an event to wait for), idle (ended, or
    /// missing and waiting for its DESTROY event: no rate this refresh),
    /// or counted (in this dump, or ended with its final counters now).
    fn settle(&mut self, i: usize, now_s: u32) -> Settled {
        let f = &mut self.flows[i];
        let seen = f.has(SEEN);
        match f.life {
            Life::Closed => {
                f.orig_bps = 0.0;
                f.reply_bps = 0.0;
                f.set(NEW, false);
                if now_s.saturating_sub(f.end_s) >= self.linger_s {
                    self.remove(i);
                    return Settled::Removed;
                }
                Settled::Idle
            }
            Life::Live | Life::Departed if !seen => {
                let waited = now_s.saturating_sub(f.end_s) >= self.depart_wait_s;
                if !self.events || (f.life == Life::Departed && waited) {
                    if f.life == Life::Departed {
                        self.counts.unexplained += 1;
                    }
                    self.remove(i);
                    return Settled::Removed;
                }
                if f.life == Life::Live {
                    f.life = Life::Departed;
                    f.end_s = now_s;
                }
                f.orig_bps = 0.0;
                f.reply_bps = 0.0;
                f.set(NEW, false);
                Settled::Idle
            }
            Life::Departed => {
                f.life = Life::Live; // back in the dump
                Settled::Counted
            }
            Life::Closing => {
                f.life = Life::Closed;
                self.counts.closed_total += 1;
                Settled::Counted
            }
            Life::Live => Settled::Counted,
        }
    }

    /// Rates from the pending deltas over `span` ns; the bytes of a
    /// connection that ended are credited.
    fn rate(&mut self, i: usize, span: u64, fresh: bool) {
        let f = &mut self.flows[i];
        if f.has(ZEROED) && span == 0 {
            // No interval to estimate over: what it counted since the
            // zeroing is this refresh's bytes.
            f.set(ZEROED, false);
            f.orig_bps = f.orig_bytes as f32;
            f.reply_bps = f.reply_bytes as f32;
        }
        let (d_o, d_r) = if f.has(PENDING) {
            (f.orig_bps as f64, f.reply_bps as f64)
        } else {
            (0.0, 0.0)
        };
        if !fresh {
            f.set(NEW, false);
            if f.reset() {
                self.counts.resets += 1;
                self.counts.resets_total += 1;
            }
        }
        if f.has(ZEROED) {
            // Rated by estimate_zeroing, from every zeroed flow.
            self.zeroed += 1;
            return;
        }
        if f.life == Life::Closed {
            // Saturating: counters are the kernel's 64-bit values, and a
            // corrupt event can carry anything (fuzzing found the sum of
            // two near u64::MAX overflowing).
            self.counts.credited = self.counts.credited.saturating_add((d_o + d_r) as u64);
        }
        let measurable = if fresh {
            span >= MIN_AGE_NS && f.has_counters()
        } else {
            span > 0
        };
        if measurable {
            f.orig_bps = bps(d_o, span);
            f.reply_bps = bps(d_r, span);
            f.set_rate(RateState::Known);
        } else if fresh {
            f.orig_bps = 0.0;
            f.reply_bps = 0.0;
            f.set_rate(RateState::Unknown);
        } else {
            // No interval to rate over (the clock did not move): no rate
            // this time; an ended connection counts as rated.
            f.orig_bps = 0.0;
            f.reply_bps = 0.0;
            if f.life == Life::Closed {
                f.set_rate(RateState::Known);
            }
        }
    }

    /// Rates the flows zeroed in this refresh (module doc), `dt` ns after
    /// the last dump: the median fraction `q` of the interval since the
    /// zeroing, from the histogram; each zeroed flow is credited its last
    /// rate over the rest, `(1 - q)·dt`, or, without a table-wide `q`, the
    /// bytes its last rate promised beyond its new count (it holds its
    /// rate). The rate is then (new + estimated)/dt, the same average over
    /// the interval as any other sample, so totals built from rates
    /// include the estimate; an error in `q` moves it by at most that
    /// fraction of the last rate (new/(q·dt) would divide it by `q`).
    /// Floating point is a call per operation on the soft-float MIPS
    /// routers: few of them, and in a helper that is not inlined.
    fn estimate_zeroing(&mut self, now: u64, dt: u64) {
        let dtf = dt as f64;
        let mut z = Zeroing {
            secs: dtf / 8e9,
            keep: -1.0,
            dt,
        };
        // The samples: the fraction of the interval each flow's new count
        // stands for at its last rate, by bin.
        let mut hist = [0u32; ZERO_BINS];
        let mut n = 0;
        for f in self.flows.iter().filter(|f| f.has(ZEROED)) {
            let p = (f.orig_bps + f.reply_bps) as f64 * z.secs;
            if p >= MIN_ZERO_BYTES {
                let new = f.orig_bytes.wrapping_add(f.reply_bytes) as f64;
                let bin = whole(new * ZERO_BINS as f64 / p) as usize;
                hist[bin.min(ZERO_BINS - 1)] += 1;
                n += 1;
            }
        }
        // The median: its bin b, and its place within the bin, for a
        // fraction of (2·b·k + n − 2·below) / (2·ZERO_BINS·k) (in u32: at
        // most 2^24 flows, --capacity, so below 2^31).
        let mut q = 0.5;
        let mut below = 0;
        for (b, &k) in hist.iter().enumerate() {
            if k > 0 && 2 * (below + k) >= n {
                q = (2 * b as u32 * k + n - 2 * below) as f64 / (2 * ZERO_BINS as u32 * k) as f64;
                break;
            }
            below += k;
        }
        // The moment of the zeroing, for the period the header shows. A
        // zeroing walk that crossed nftop's dump shows in two refreshes
        // in a row: one zeroing.
        let at = now.saturating_sub(whole(q * dtf));
        if self.zeroed_at == 0 || at > self.zeroed_at + 2 * dt {
            if self.zeroed_at != 0 {
                self.counts.zero_period_s =
                    ((at - self.zeroed_at + 500_000_000) / 1_000_000_000) as u32;
            }
            self.zeroed_at = at;
        }
        if n >= MIN_ZERO_SAMPLES {
            z.keep = 1.0 - q;
        }
        let mut est = 0.0;
        for f in self.flows.iter_mut().filter(|f| f.has(ZEROED)) {
            f.set(ZEROED, false);
            f.set_rate(RateState::Known);
            let lost = across(&mut f.orig_bps, f.orig_bytes, &z)
                + across(&mut f.reply_bps, f.reply_bytes, &z);
            est += lost;
            if f.life == Life::Closed {
                let all = f
                    .orig_bytes
                    .wrapping_add(f.reply_bytes)
                    .wrapping_add(whole(lost));
                self.counts.credited = self.counts.credited.wrapping_add(all);
            }
        }
        self.counts.estimated_total = self.counts.estimated_total.wrapping_add(whole(est));
    }

    /// Removes the flow at dense index `i`, keeping the index consistent.
    fn remove(&mut self, i: usize) {
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

    fn slot_of(&self, i: usize) -> usize {
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
    fn clear_slot(&mut self, mut hole: usize) {
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
    fn check_index(&self) {
        let used = self.slots[..=self.mask].iter().filter(|&&v| v != 0).count();
        assert_eq!(used, self.flows.len());
        assert!(self.slots[self.mask + 1..].iter().all(|&v| v == 0));
        for i in 0..self.flows.len() {
            let _ = self.slot_of(i);
        }
    }
}

/// Adds the change from the flow's counters to `o`/`r` to its pending
/// deltas. A counter that went down was zeroed by another program
/// (nlbwmon's CTRZERO dump zeroes both directions of every entry): what
/// both hold is all new, and what came between the last dump and the
/// zeroing is missing. The rate fields then keep the last rates
/// (`ZEROED`) for `finish` to estimate it from.
fn credit(f: &mut Flow, o: u64, r: u64) {
    let zeroed = o < f.orig_bytes || r < f.reply_bytes;
    if !f.has(PENDING) {
        f.set(PENDING, true);
        f.set(RESET, zeroed);
        f.set(ZEROED, zeroed);
        if zeroed {
            return;
        }
        f.orig_bps = 0.0;
        f.reply_bps = 0.0;
    } else if f.has(ZEROED) {
        // Again in this refresh, after the zeroing: finish reads the
        // counters.
        return;
    }
    // Twice in one refresh (an event and a dump), zeroed in between: the
    // pending deltas are bytes, so no estimate; a lower bound as before.
    let (d_o, d_r) = if zeroed {
        f.set(RESET, true);
        (o, r)
    } else {
        (o - f.orig_bytes, r - f.reply_bytes)
    };
    f.orig_bps += d_o as f32;
    f.reply_bps += d_r as f32;
}

/// How `estimate_zeroing` credits the zeroed flows of a refresh: `secs`
/// is the interval `dt` (ns) in seconds / 8 (bit/s to bytes), `keep` the
/// part of it before the zeroing (< 0: each flow holds its rate).
struct Zeroing {
    secs: f64,
    keep: f64,
    dt: u64,
}

/// One direction of a zeroed flow, with its last rate in `rate` and `new`
/// bytes since the zeroing: `rate` becomes its rate over the interval;
/// returns the bytes the zeroing took.
#[inline(never)]
fn across(rate: &mut f32, new: u64, z: &Zeroing) -> f64 {
    let promised = *rate as f64 * z.secs;
    let new = new as f64;
    let lost = if z.keep < 0.0 {
        promised - new
    } else {
        promised * z.keep
    };
    // A held flow that sped up lost nothing.
    let lost = if lost > 0.0 { lost } else { 0.0 };
    *rate = bps(new + lost, z.dt);
    lost
}

/// `x as u64`, saturating, in one place: each use of the cast costs the
/// MIPS routers two soft-float comparisons.
#[inline(never)]
fn whole(x: f64) -> u64 {
    x as u64
}

fn bps(bytes: f64, ns: u64) -> f32 {
    (bytes * 8e9 / ns as f64) as f32
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::Tuple;

    const S: u64 = 1_000_000_000;

    fn conn(id: u32, start: u64, port: u16, o: u64, r: u64) -> Conn {
        let mut c = Conn {
            family: 4,
            id,
            start,
            has_counters: true,
            orig_bytes: o,
            reply_bytes: r,
            ..Conn::default()
        };
        c.orig = Tuple {
            src: [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            dst: [198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            sport: port,
            dport: 80,
            proto: 6,
        };
        c
    }

    fn tick(t: &mut FlowTable, now: u64, real: u64, conns: &[Conn]) {
        t.begin();
        for c in conns {
            t.observe(c);
        }
        t.finish(now, real);
        t.check_index();
    }

    fn get(t: &FlowTable, id: u32) -> Flow {
        *t.flows().iter().find(|f| f.id == id).unwrap()
    }

    #[test]
    fn rate_is_delta_over_exact_dt() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, 10 * S, 0, &[conn(1, 0, 1000, 5000, 0)]);
        assert_eq!(
            get(&t, 1).rate(),
            RateState::Unknown,
            "no timestamp: no first rate"
        );
        // 1.25 s later, 125_000 more bytes out, 250 back.
        tick(
            &mut t,
            10 * S + 1_250_000_000,
            0,
            &[conn(1, 0, 1000, 130_000, 250)],
        );
        let f = get(&t, 1);
        assert_eq!(f.rate(), RateState::Known);
        assert!((f.orig_bps - 800_000.0).abs() < 1e-6, "{}", f.orig_bps);
        assert!((f.reply_bps - 1600.0).abs() < 1e-6);
    }

    #[test]
    fn first_sight_with_timestamp_rates_over_age() {
        let mut t = FlowTable::new(64, 7);
        let real = 1_700_000_000 * S;
        // Started 4 s ago, 1 MB out: 2 Mbit/s average.
        tick(
            &mut t,
            5 * S,
            real,
            &[conn(9, real - 4 * S, 1, 1_000_000, 0)],
        );
        let f = get(&t, 9);
        assert_eq!(f.rate(), RateState::Known);
        assert!((f.orig_bps - 2_000_000.0).abs() < 1e-6);
    }

    #[test]
    fn flow_born_between_dumps_is_credited_over_dt() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, 10 * S, 0, &[]);
        tick(&mut t, 12 * S, 0, &[conn(3, 0, 5, 250_000, 0)]);
        let f = get(&t, 3);
        assert!(f.is_new());
        assert_eq!(f.rate(), RateState::Known);
        assert!((f.orig_bps - 1_000_000.0).abs() < 1e-6);
        tick(&mut t, 13 * S, 0, &[conn(3, 0, 5, 250_000, 0)]);
        assert!(!get(&t, 3).is_new());
        assert_eq!(get(&t, 3).orig_bps, 0.0);
    }

    /// Issue 23 part 1, the fallback: one zeroed flow is no table-wide
    /// estimate; it holds its last rate (never the dip of the lost bytes,
    /// never negative, never a spike) and what its last rate promised
    /// beyond its new count is estimated. Before, it read 80 kbit/s here.
    #[test]
    fn a_lone_zeroed_flow_holds_its_last_rate() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, S, 0, &[conn(1, 0, 1, 1_000_000, 900_000)]);
        tick(&mut t, 2 * S, 0, &[conn(1, 0, 1, 1_100_000, 950_000)]);
        // nlbwmon zeroed the counters; 10 kB came after the zeroing.
        tick(&mut t, 3 * S, 0, &[conn(1, 0, 1, 10_000, 0)]);
        let f = get(&t, 1);
        assert!(f.reset());
        assert_eq!(t.counts.resets, 1);
        assert!((f.orig_bps - 800_000.0).abs() < 1e-3, "{}", f.orig_bps);
        assert!((f.reply_bps - 400_000.0).abs() < 1e-3, "{}", f.reply_bps);
        assert_eq!(t.counts.estimated_total, 90_000 + 50_000);
        tick(&mut t, 4 * S, 0, &[conn(1, 0, 1, 20_000, 0)]);
        let f = get(&t, 1);
        assert!(!f.reset());
        assert!((f.orig_bps - 80_000.0).abs() < 1e-3);
        assert_eq!(t.counts.resets_total, 1);
        assert_eq!(t.counts.estimated_total, 140_000, "once");
    }

    /// Issue 23 part 1: a table of steady flows (2 to 100 kB/s, replies a
    /// quarter of that), refreshes 1.25 s apart; another program zeroes
    /// every counter 0.46 s after a dump, each flow within ±0.025 s of that
    /// (a zeroing walk takes time), and among them flows that prove
    /// nothing (idle ones, one that doubled after the zeroing). Every
    /// steady flow's rate stays within 5 % of the truth, the estimated
    /// bytes within 2 % of what the zeroing took; the next zeroing, 30 s
    /// on, gives the header's period.
    #[test]
    fn a_table_wide_zeroing_is_estimated_from_the_median() {
        let mut t = FlowTable::new(256, 7);
        const DT: u64 = 1_250_000_000;
        let n = 40u32;
        // Bytes per second, original direction; the reply is a quarter.
        let rate = |i: u32| match i {
            0..=2 => 0.0,
            _ => 2_000.0 + 2_500.0 * i as f64,
        };
        // Seconds after the dump at which flow i was zeroed.
        let at = |i: u32| 0.46 + ((i * 7) % 11) as f64 * 0.005 - 0.025;
        let mut total = vec![[50_000u64, 10_000]; n as usize];
        let dump = |total: &[[u64; 2]]| -> Vec<Conn> {
            (0..n)
                .map(|i| {
                    let [o, r] = total[i as usize];
                    let mut c = conn(i, 0, i as u16, o, r);
                    c.packets = [o / 1000, r / 1000];
                    c
                })
                .collect()
        };
        // Ten steady refreshes.
        let dt_s = DT as f64 / 1e9;
        let mut now = S;
        for _ in 0..10 {
            for i in 0..n {
                let b = (rate(i) * dt_s) as u64;
                let tl = &mut total[i as usize];
                *tl = [tl[0] + b, tl[1] + b / 4];
            }
            tick(&mut t, now, 0, &dump(&total));
            now += DT;
        }
        // The zeroing refresh: what flow i carried before its zeroing is
        // lost to its counters, and flow 3 doubled after it.
        let mut lost = 0.0;
        for i in 0..n {
            let after = if i == 3 { 2.0 } else { 1.0 } * rate(i) * (dt_s - at(i));
            lost += rate(i) * at(i) * 1.25;
            total[i as usize] = [after as u64, (after / 4.0) as u64];
        }
        tick(&mut t, now, 0, &dump(&total));
        assert_eq!(t.counts.resets, n);
        for i in 4..n {
            let f = get(&t, i);
            assert!(f.reset());
            let truth = rate(i) * 8.0;
            let err = (f.orig_bps as f64 - truth).abs() / truth;
            assert!(err < 0.05, "flow {i}: {} vs {truth}", f.orig_bps);
            let err = (f.reply_bps as f64 * 4.0 - truth).abs() / truth;
            assert!(err < 0.05, "flow {i} reply: {} vs {truth}", f.reply_bps);
        }
        assert_eq!(get(&t, 0).orig_bps, 0.0, "idle stays idle");
        let est = t.counts.estimated_total as f64;
        assert!(
            (est - lost).abs() < 0.02 * lost,
            "estimated {est}, lost {lost}"
        );
        // Counting on: no estimate without a zeroing, and the next one
        // 30 s after the first gives the period.
        assert_eq!(t.counts.zero_period_s, 0);
        for k in 1..=24u32 {
            now += DT;
            let zero = k == 24;
            for i in 0..n {
                let b = (rate(i) * dt_s) as u64;
                let tl = &mut total[i as usize];
                *tl = if zero {
                    [b / 2, b / 8]
                } else {
                    [tl[0] + b, tl[1] + b / 4]
                };
            }
            tick(&mut t, now, 0, &dump(&total));
            if !zero {
                assert_eq!(t.counts.estimated_total as f64, est);
            }
        }
        assert_eq!(t.counts.zero_period_s, 30);
    }

    /// Zeroed flows too few for a table-wide estimate leave the others
    /// alone, and a zeroing split over two refreshes (its walk crossed
    /// nftop's dump) is one zeroing for the period.
    #[test]
    fn a_zeroing_across_two_dumps_is_one() {
        let mut t = FlowTable::new(64, 7);
        let c = |id, o| conn(id, 0, id as u16, o, 0);
        tick(&mut t, S, 0, &[c(1, 0), c(2, 0)]);
        tick(&mut t, 2 * S, 0, &[c(1, 100_000), c(2, 100_000)]);
        tick(&mut t, 3 * S, 0, &[c(1, 50_000), c(2, 200_000)]);
        assert!(get(&t, 1).reset() && !get(&t, 2).reset());
        assert!((get(&t, 2).orig_bps - 800_000.0).abs() < 1e-3);
        tick(&mut t, 4 * S, 0, &[c(1, 150_000), c(2, 30_000)]);
        assert_eq!(t.counts.zero_period_s, 0, "the same zeroing");
        assert!((get(&t, 2).orig_bps - 800_000.0).abs() < 1e-3, "held");
    }

    #[test]
    fn id_reuse_with_other_tuple_or_start_is_a_new_flow() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, S, 0, &[conn(1, 0, 1000, 9_000_000, 0)]);
        // Same id, other tuple: the old flow is gone, the new one must not
        // get a negative or reset rate from the old counters.
        tick(&mut t, 2 * S, 0, &[conn(1, 0, 2000, 100, 0)]);
        assert_eq!(t.len(), 1);
        let f = get(&t, 1);
        assert!(f.is_new() && !f.reset());
        assert!((f.orig_bps - 800.0).abs() < 1e-6);
        // Same id and tuple, other start timestamp: also new.
        let real = 100 * S;
        tick(&mut t, 3 * S, real, &[conn(1, real - S / 2, 2000, 50, 0)]);
        assert!(get(&t, 1).is_new());
    }

    #[test]
    fn entries_leave_and_the_index_stays_consistent() {
        let mut t = FlowTable::new(1000, 3);
        let all: Vec<Conn> = (0..1000).map(|i| conn(i, 0, i as u16, 0, 0)).collect();
        tick(&mut t, S, 0, &all);
        assert_eq!(t.len(), 1000);
        // Keep every third.
        let some: Vec<Conn> = all.iter().filter(|c| c.id % 3 == 0).copied().collect();
        tick(&mut t, 2 * S, 0, &some);
        assert_eq!(t.len(), some.len());
        for c in &some {
            assert!(!get(&t, c.id).is_new(), "id {} was re-found", c.id);
        }
        tick(&mut t, 3 * S, 0, &[]);
        assert!(t.is_empty());
        assert!(t.slots.iter().all(|&v| v == 0));
    }

    #[test]
    fn full_table_counts_what_it_drops() {
        let mut t = FlowTable::new(16, 3);
        let all: Vec<Conn> = (0..40).map(|i| conn(i, 0, i as u16, 0, 0)).collect();
        tick(&mut t, S, 0, &all);
        assert_eq!(t.len(), 16);
        assert_eq!(t.counts.dropped, 24);
        // The tracked ones keep exact rates; the dropped count is per dump.
        tick(&mut t, 2 * S, 0, &all[..16]);
        assert_eq!(t.counts.dropped, 0);
    }

    #[test]
    fn capacity_is_never_exceeded_and_memory_never_grows() {
        let mut t = FlowTable::new(100, 3);
        let cap_before = t.flows.capacity();
        for round in 0..20u32 {
            let batch: Vec<Conn> = (0..150)
                .map(|i| conn(round * 1000 + i, 0, i as u16, 0, 0))
                .collect();
            tick(&mut t, (round as u64 + 1) * S, 0, &batch);
            assert!(t.len() <= 100);
        }
        assert_eq!(t.flows.capacity(), cap_before);
    }

    #[test]
    fn a_reply_nest_is_decoded_only_for_a_new_entry() {
        let mut t = FlowTable::new(8, 9);
        let bad = [9u8, 0, 1];
        let mut c = conn(1, 0, 1000, 100, 0);
        t.begin();
        assert!(
            t.observe_lazy(&mut c, &bad).is_err(),
            "new: decoded, refused"
        );
        assert!(t.is_empty());
        // A well-formed nest: CTA_TUPLE_PROTO { CTA_PROTO_NUM 6 }.
        let mut good = Vec::new();
        for h in [12u16, 2 | 0x8000, 5, 1] {
            good.extend_from_slice(&h.to_ne_bytes());
        }
        good.extend_from_slice(&[6, 0, 0, 0]);
        assert!(t.observe_lazy(&mut c, &good).is_ok());
        t.finish(S, 0);
        assert_eq!(t.conn(&t.flows()[0]).reply.proto, 6);
        // Known: the nest is not read again, the counters are.
        let mut c2 = conn(1, 0, 1000, 900, 0);
        t.begin();
        assert!(t.observe_lazy(&mut c2, &bad).is_ok());
        t.finish(2 * S, 0);
        assert_eq!((t.len(), t.flows()[0].orig_bytes), (1, 900));
    }

    #[test]
    fn a_full_spill_pool_drops_and_counts_and_slots_come_back() {
        // 8 flows, 8 + 1 + 2 spill slots; an IPv6 flow whose reply no NAT
        // shape explains takes two.
        let mut t = FlowTable::new(8, 5);
        let six = |id: u32| {
            let mut c = conn(id, 0, id as u16, 10, 10);
            c.family = 6;
            c.orig.src = [
                0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, id as u8,
            ];
            c.reply.proto = 6;
            c
        };
        for round in 0..3u32 {
            let batch: Vec<Conn> = (0..8).map(|i| six(round * 100 + i)).collect();
            tick(&mut t, (2 * round as u64 + 1) * S, 0, &batch);
            assert_eq!(t.len(), 5, "round {round}");
            assert_eq!(t.counts.dropped, 3, "counted, never silent");
            for f in t.flows() {
                let c = batch.iter().find(|c| c.id == f.id).unwrap();
                assert_eq!(t.conn(f), *c);
            }
            // All gone (no events): their slots serve the next round.
            tick(&mut t, (2 * round as u64 + 2) * S, 0, &[]);
            assert!(t.is_empty());
        }
    }

    fn tick_ev(t: &mut FlowTable, now: u64, real: u64, dump: &[Conn], ended: &[(Conn, u64)]) {
        t.begin();
        for (c, stop) in ended {
            t.destroy(c, *stop, now, real);
        }
        for c in dump {
            t.observe(c);
        }
        t.finish(now, real);
        t.check_index();
    }

    fn events_table() -> FlowTable {
        let mut t = FlowTable::new(64, 7);
        t.events = true;
        t.linger_s = 5;
        t
    }

    const R: u64 = 1_700_000_000 * S;

    #[test]
    fn destroy_credits_only_bytes_not_yet_credited_then_lingers() {
        let mut t = events_table();
        let c = conn(1, R - 10 * S, 7, 1000, 100);
        tick_ev(&mut t, 10 * S, R, &[c], &[]);
        tick_ev(
            &mut t,
            11 * S,
            R + S,
            &[conn(1, R - 10 * S, 7, 2000, 200)],
            &[],
        );
        // It ends with 2500/250: 500 + 50 bytes were not credited yet.
        let fin = conn(1, R - 10 * S, 7, 2500, 250);
        tick_ev(&mut t, 12 * S, R + 2 * S, &[], &[(fin, R + 2 * S - S / 2)]);
        let f = get(&t, 1);
        assert_eq!(f.life, Life::Closed);
        assert_eq!(t.counts.credited, 550);
        assert!((f.orig_bps - 4000.0).abs() < 1e-3, "{}", f.orig_bps);
        assert_eq!(t.counts.closed_total, 1);
        // Next refreshes: no rate, still visible until linger passes
        // (measured from the stop timestamp, 11.5 s, in whole seconds).
        tick_ev(&mut t, 13 * S, R + 3 * S, &[], &[]);
        assert_eq!(get(&t, 1).orig_bps, 0.0);
        tick_ev(&mut t, 15 * S, R + 5 * S, &[], &[]);
        assert_eq!(t.len(), 1);
        tick_ev(&mut t, 17 * S, R + 7 * S, &[], &[]);
        assert!(t.is_empty(), "gone after linger");
    }

    #[test]
    fn a_connection_shorter_than_a_refresh_is_credited_whole() {
        let mut t = events_table();
        tick_ev(&mut t, 10 * S, R, &[], &[]);
        // Started after the last dump, ended before this one: 30 kB.
        let short = conn(5, R + S / 2, 9, 30_000, 1_000);
        tick_ev(
            &mut t,
            12 * S,
            R + 2 * S,
            &[],
            &[(short, R + S / 2 + S / 5)],
        );
        let f = get(&t, 5);
        assert_eq!(f.life, Life::Closed);
        assert!(f.is_new());
        assert_eq!(t.counts.credited, 31_000);
        assert!((f.orig_bps - 30_000.0 * 8.0 / 2.0).abs() < 1e-3);
    }

    #[test]
    fn a_connection_evicted_by_the_last_dump_is_credited_whole() {
        let mut t = events_table();
        tick_ev(&mut t, 10 * S, R, &[], &[]);
        // Lived and expired between dumps 2 and 3; dump 3 evicted it, so
        // its event arrives at refresh 4, after a dump it "could" have
        // been in.
        tick_ev(&mut t, 12 * S, R + 2 * S, &[], &[]);
        tick_ev(&mut t, 14 * S, R + 4 * S, &[], &[]);
        let c = conn(8, R + 2 * S + S / 2, 9, 40_000, 0);
        tick_ev(&mut t, 16 * S, R + 6 * S, &[], &[(c, R + 4 * S)]);
        assert_eq!(t.counts.credited, 40_000);
    }

    #[test]
    fn a_late_event_after_departure_never_double_counts() {
        let mut t = events_table();
        let c = conn(2, R - 100 * S, 3, 5_000, 500);
        tick_ev(&mut t, 10 * S, R, &[c], &[]);
        tick_ev(&mut t, 11 * S, R + S, &[c], &[]);
        // It times out: gone from the dump, no event yet.
        tick_ev(&mut t, 12 * S, R + 2 * S, &[], &[]);
        assert_eq!(get(&t, 2).life, Life::Departed);
        // The garbage collector reaps it 10 s later: same counters.
        tick_ev(&mut t, 22 * S, R + 12 * S, &[], &[(c, R + 2 * S)]);
        assert_eq!(get(&t, 2).life, Life::Closed);
        assert_eq!(
            t.counts.credited, 0,
            "its bytes were credited while it was dumped"
        );
        // An event for an old connection nftop no longer holds: not
        // credited, its start shows it could have been dumped.
        let old = conn(3, R - 500 * S, 4, 9_999, 0);
        tick_ev(&mut t, 23 * S, R + 13 * S, &[], &[(old, R + 13 * S)]);
        assert_eq!(t.counts.credited, 0);
    }

    /// Fuzzing (ct_events): DESTROY events with counters near u64::MAX
    /// overflowed the credited sum (a panic in debug builds, a wrapped
    /// total in release).
    #[test]
    fn credited_bytes_of_huge_counters_saturate() {
        let mut t = events_table();
        let s = 1_000_000_000;
        t.begin();
        t.finish(s, s);
        for id in [1, 2] {
            let mut c = conn(id, 0, 100 + id as u16, u64::MAX, u64::MAX);
            c.start = 0;
            t.destroy(&c, 0, 2 * s, 2 * s);
        }
        t.begin();
        t.finish(3 * s, 3 * s);
        assert_eq!(t.counts.credited, u64::MAX);
        assert_eq!(t.counts.closed_total, 2);
    }

    #[test]
    fn departed_flows_without_events_expire_and_are_counted() {
        let mut t = events_table();
        let c = conn(4, 0, 3, 5_000, 500);
        tick_ev(&mut t, 10 * S, R, &[c], &[]);
        tick_ev(&mut t, 11 * S, R + S, &[], &[]);
        assert_eq!(t.len(), 1);
        tick_ev(&mut t, (11 + DEPART_WAIT_S as u64) * S, R, &[], &[]);
        assert!(t.is_empty());
        assert_eq!(t.counts.unexplained, 1);
        // Back in a dump before expiry: live again, not double counted.
        let mut t = events_table();
        tick_ev(&mut t, 10 * S, R, &[c], &[]);
        tick_ev(&mut t, 11 * S, R + S, &[], &[]);
        tick_ev(&mut t, 12 * S, R + 2 * S, &[conn(4, 0, 3, 6_000, 500)], &[]);
        let f = get(&t, 4);
        assert_eq!(f.life, Life::Live);
        assert!((f.orig_bps - 8_000.0).abs() < 1e-3, "{}", f.orig_bps);
    }
}
