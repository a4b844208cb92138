//! The flow table: every conntrack entry of the last dump with its previous
//! counters and its rates, in memory allocated once.
//!
//! Layout: a dense `Vec<Flow>` (capacity fixed at start, never grown) and an
//! open-addressing index of `u32` slots (linear probing, backward-shift
//! deletion, no tombstones) at a load factor of at most 1/2. A refresh
//! costs O(entries), not O(capacity), and allocates nothing.
//!
//! Key: conntrack id + start timestamp + a fingerprint of the original
//! tuple and zone. The id alone is reused by the kernel; (id, start) is
//! unique when timestamps are on, and the tuple covers the case when they
//! are off (CTA_ID is a 32-bit value the kernel reuses).
//!
//! Full-table policy: when `capacity` flows are tracked, new entries are
//! not tracked; `dropped` counts them per refresh and the header shows it.
//! Nothing is evicted, so rates of tracked flows stay exact.
//!
//! Time is a parameter: `finish(now_mono_ns, now_real_ns)` is given the
//! clock reading taken when the dump completed.

use crate::conntrack::Conn;

/// The index has at least this many slots per tracked flow.
const SLOTS_PER_FLOW: usize = 2;
/// Below this age a first-seen entry's bytes/age rate is noise.
const MIN_AGE_NS: u64 = 1_000_000;

/// Where a flow is in its life, as far as nftop knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// In the last dump.
    Live,
    /// Missing from the last dump, no DESTROY event yet: kept (hidden, not
    /// counted) up to `DEPART_WAIT_S` so that a late event (the kernel
    /// reaps timed-out entries up to ~15 s late) finds its previous
    /// counters and credits only what was not credited yet.
    Departed,
    /// A DESTROY event arrived since the last refresh: its final bytes are
    /// rated in this refresh.
    Closing,
    /// Ended and credited; shown as closed until `linger` passes.
    Closed,
}

/// How long a departed flow waits for its DESTROY event.
pub const DEPART_WAIT_S: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateState {
    /// First seen in the very first dump without a kernel timestamp: no
    /// rate until the next refresh.
    Unknown,
    /// Rated from counter deltas (or, when first seen, as below).
    Known,
}

/// One tracked connection: the last dump's entry, its rates, and the
/// per-refresh facts the view derives (direction, interfaces). Kept small:
/// at 100k connections every byte here is 100 kB of router RAM.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub conn: Conn,
    prev_orig: u64,
    prev_reply: u64,
    /// Bits per second in the original and reply directions (f32: 24 bits
    /// of mantissa are far below the 3 % anyone can see).
    pub orig_bps: f32,
    pub reply_bps: f32,
    /// Seconds of CLOCK_MONOTONIC when first seen (for ages without kernel
    /// timestamps).
    pub first_seen_s: u32,
    gen: u32,
    /// Ingress and egress interface index (0 unknown, route::LOCAL_IF the
    /// router itself, route::is_multi a multipath set); set by the router
    /// (route/mod.rs) when the flow is new and after routing changes.
    pub in_if: u32,
    pub out_if: u32,
    /// Routing generation the interfaces were found under (route.rs).
    pub route_gen: u32,
    pub rate: RateState,
    /// First seen in the last dump.
    pub new: bool,
    /// Counters went down since the previous dump (nlbwmon's CTRZERO).
    pub reset: bool,
    /// tx is the original direction (see view.rs); set by the view.
    pub tx_is_orig: bool,
    /// Both ends are the router itself; set by the view.
    pub loopback: bool,
    /// Inserted by the running dump; finish() gives it its first rate.
    fresh: bool,
    /// The egress lookup found no route (the uplink is gone).
    pub no_route: bool,
    pub life: Life,
    /// Monotonic second when it departed or ended (the DESTROY event's
    /// stop timestamp, not the event's arrival).
    pub end_s: u32,
}

impl Flow {
    /// A flow entering the table: fresh (finish() gives it its first rate).
    fn fresh(conn: Conn, gen: u32, life: Life, end_s: u32) -> Flow {
        Flow {
            conn,
            prev_orig: 0,
            prev_reply: 0,
            orig_bps: 0.0,
            reply_bps: 0.0,
            first_seen_s: end_s,
            gen,
            in_if: 0,
            out_if: 0,
            route_gen: 0,
            rate: RateState::Unknown,
            new: true,
            reset: false,
            tx_is_orig: true,
            loopback: false,
            fresh: true,
            no_route: false,
            life,
            end_s,
        }
    }

    pub fn tx_bps(&self) -> f64 {
        (if self.tx_is_orig {
            self.orig_bps
        } else {
            self.reply_bps
        }) as f64
    }
    pub fn rx_bps(&self) -> f64 {
        (if self.tx_is_orig {
            self.reply_bps
        } else {
            self.orig_bps
        }) as f64
    }
    pub fn sum_bps(&self) -> f64 {
        self.orig_bps as f64 + self.reply_bps as f64
    }
    pub fn tx_bytes(&self) -> u64 {
        if self.tx_is_orig {
            self.conn.orig_bytes
        } else {
            self.conn.reply_bytes
        }
    }
    pub fn rx_bytes(&self) -> u64 {
        if self.tx_is_orig {
            self.conn.reply_bytes
        } else {
            self.conn.orig_bytes
        }
    }
}

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
    let age = if f.conn.start != 0 && real > f.conn.start {
        real - f.conn.start
    } else {
        0
    };
    let predates_us = f.conn.start != 0 && f.conn.start <= first_real;
    if first_dump || (predates_us && age > dt_ns && dt_ns > 0) {
        age
    } else {
        dt_ns
    }
}

pub struct FlowTable {
    slots: Vec<u32>,
    mask: usize,
    flows: Vec<Flow>,
    cap: usize,
    gen: u32,
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
}

impl FlowTable {
    /// `capacity` flows; the memory is reserved now and never grows. Pages
    /// are touched only as flows arrive, so a large capacity costs address
    /// space, not RSS.
    pub fn new(capacity: usize, seed: u64) -> FlowTable {
        let cap = capacity.max(1);
        let nslots = (cap * SLOTS_PER_FLOW).next_power_of_two().max(16);
        FlowTable {
            slots: vec![0; nslots],
            mask: nslots - 1,
            flows: Vec::with_capacity(cap),
            cap,
            gen: 1,
            seed: seed | 1,
            cursor: 0,
            last_t: 0,
            counts: Counts::default(),
            linger_s: 5,
            depart_wait_s: DEPART_WAIT_S,
            first_real: 0,
            events: false,
        }
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

    /// Starts a new dump: entries observed from now on belong to it.
    pub fn begin(&mut self) {
        self.cursor = 0;
        self.gen = self.gen.wrapping_add(1).max(1);
        self.counts.dropped = 0;
        self.counts.no_counters = 0;
        self.counts.no_timestamp = 0;
        self.counts.offloaded = 0;
    }

    /// Records one entry of the running dump.
    pub fn observe(&mut self, c: &Conn) {
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
        if let Some(f) = self.flows.get_mut(self.cursor) {
            if same_key(&f.conn, c) {
                f.conn = *c;
                f.gen = self.gen;
                self.cursor += 1;
                return;
            }
        }
        let slot = match self.find(c) {
            Ok(i) => {
                // Seen twice in one dump (NLM_F_DUMP_INTR): the newer
                // counters win; rates are computed once, in finish().
                let f = &mut self.flows[i];
                f.conn = *c;
                f.gen = self.gen;
                self.cursor = i + 1;
                return;
            }
            Err(slot) => slot,
        };
        if self.flows.len() >= self.cap {
            self.counts.dropped += 1;
            return;
        }
        self.flows.push(Flow::fresh(*c, self.gen, Life::Live, 0));
        self.slots[slot] = self.flows.len() as u32;
        self.cursor = self.flows.len();
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
        let slot = match self.find(c) {
            Ok(i) => {
                let f = &mut self.flows[i];
                if !matches!(f.life, Life::Closing | Life::Closed) {
                    // Final counters; prev_* still hold what was credited.
                    f.conn = *c;
                    f.life = Life::Closing;
                    f.end_s = end_s;
                }
                return;
            }
            Err(slot) => slot,
        };
        if self.flows.len() >= self.cap {
            self.counts.dropped += 1;
            return;
        }
        // Not in the table: never dumped (it lived between two dumps, or
        // expired and was evicted by the last dump itself, which sends
        // its event one refresh late), so all its bytes are new. Unless
        // the kernel timestamp says it is older than nftop's first dump,
        // or older than the time a departed flow waits for its event: then
        // it was dumped, and crediting it all could count bytes twice.
        let wait_ns = self.depart_wait_s as u64 * 1_000_000_000;
        let credit_all =
            c.start == 0 || (c.start > self.first_real && real.saturating_sub(c.start) < wait_ns);
        let (po, pr) = if credit_all {
            (0, 0)
        } else {
            (c.orig_bytes, c.reply_bytes)
        };
        let mut f = Flow::fresh(*c, self.gen, Life::Closing, end_s);
        (f.prev_orig, f.prev_reply) = (po, pr);
        self.flows.push(f);
        self.slots[slot] = self.flows.len() as u32;
    }

    /// The flow with `c`'s key: Ok(dense index), or Err(the free slot
    /// where it would go).
    fn find(&self, c: &Conn) -> std::result::Result<usize, usize> {
        let mut slot = key_hash(self.seed, c) as usize & self.mask;
        loop {
            match self.slots[slot] {
                0 => return Err(slot),
                v if same_key(&self.flows[v as usize - 1].conn, c) => return Ok(v as usize - 1),
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }

    /// Per-refresh derived facts (direction, interfaces) are written by the
    /// view through this.
    pub fn flows_mut(&mut self) -> &mut [Flow] {
        &mut self.flows
    }

    /// Ends the dump at `now` (CLOCK_MONOTONIC ns; `real` is CLOCK_REALTIME
    /// ns for kernel timestamps): drops entries that left the table and
    /// computes rates.
    ///
    /// Rates: Δbytes·8/Δt over the time between the two dump completions.
    /// A counter that went down is a reset: the new value is what was
    /// counted since the reset, so it is rated over Δt (a lower bound, never
    /// negative, never a spike) and becomes the new baseline. A flow first
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
        let mut i = 0;
        while i < self.flows.len() {
            match self.settle(i, now_s) {
                Settled::Removed => continue,
                Settled::Idle => {}
                Settled::Counted => {
                    let f = &mut self.flows[i];
                    let fresh = f.fresh;
                    let span = if fresh {
                        f.fresh = false;
                        f.first_seen_s = now_s;
                        first_span(f, real, dt_ns, first_dump, self.first_real)
                    } else {
                        dt_ns
                    };
                    self.rate(i, span, fresh);
                }
            }
            i += 1;
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
        let seen = self.flows[i].gen == self.gen;
        let f = &mut self.flows[i];
        match f.life {
            Life::Closed => {
                f.orig_bps = 0.0;
                f.reply_bps = 0.0;
                f.new = false;
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
                f.new = false;
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

    /// Rates from the counters' change over `span` ns; the bytes of a
    /// connection that ended are credited. A counter that went down was
    /// reset (nlbwmon): what it holds is all new. A fresh flow's previous
    /// counters are 0, except for an ended connection whose bytes must not
    /// be credited (see destroy()).
    fn rate(&mut self, i: usize, span: u64, fresh: bool) {
        let f = &mut self.flows[i];
        let (o, r) = (f.conn.orig_bytes, f.conn.reply_bytes);
        f.reset = false;
        let (d_o, d_r) = if fresh {
            (
                o.saturating_sub(f.prev_orig),
                r.saturating_sub(f.prev_reply),
            )
        } else {
            f.new = false;
            if o < f.prev_orig || r < f.prev_reply {
                f.reset = true;
                self.counts.resets += 1;
                self.counts.resets_total += 1;
            }
            let since = |now: u64, prev: u64| if now < prev { now } else { now - prev };
            (since(o, f.prev_orig), since(r, f.prev_reply))
        };
        if f.life == Life::Closed {
            self.counts.credited += d_o + d_r;
        }
        let measurable = if fresh {
            span >= MIN_AGE_NS && f.conn.has_counters
        } else {
            span > 0
        };
        if measurable {
            f.orig_bps = bps(d_o, span);
            f.reply_bps = bps(d_r, span);
            f.rate = RateState::Known;
        } else if fresh {
            f.orig_bps = 0.0;
            f.reply_bps = 0.0;
            f.rate = RateState::Unknown;
        } else if f.life == Life::Closed {
            f.rate = RateState::Known;
        }
        f.prev_orig = o;
        f.prev_reply = r;
    }

    /// Removes the flow at dense index `i`, keeping the index consistent.
    fn remove(&mut self, i: usize) {
        let slot = self.slot_of(i);
        self.clear_slot(slot);
        let last = self.flows.len() - 1;
        if i != last {
            let moved = self.slot_of(last);
            self.slots[moved] = i as u32 + 1;
        }
        self.flows.swap_remove(i);
    }

    fn slot_of(&self, i: usize) -> usize {
        let want = i as u32 + 1;
        let mut s = key_hash(self.seed, &self.flows[i].conn) as usize & self.mask;
        // Terminates: the flow is in the index, and the index has free slots.
        while self.slots[s] != want {
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
            let home = key_hash(self.seed, &self.flows[v as usize - 1].conn) as usize & self.mask;
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
        let used = self.slots.iter().filter(|&&v| v != 0).count();
        assert_eq!(used, self.flows.len());
        for i in 0..self.flows.len() {
            let _ = self.slot_of(i);
        }
    }
}

fn bps(bytes: u64, ns: u64) -> f32 {
    (bytes as f64 * 8e9 / ns as f64) as f32
}

/// The flow key: id, start timestamp, original tuple, zone (see the module
/// doc for why the id alone is not enough).
fn same_key(a: &Conn, b: &Conn) -> bool {
    a.id == b.id
        && a.start == b.start
        && a.orig == b.orig
        && a.zone == b.zone
        && a.family == b.family
}

/// Hash of the key, over 64-bit words (no per-byte loop: this runs once
/// per entry per refresh).
fn key_hash(seed: u64, c: &Conn) -> u32 {
    let w = |b: &[u8; 16], i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_ne_bytes(x)
    };
    let t = &c.orig;
    let mut h = seed ^ (c.id as u64) ^ c.start.rotate_left(23);
    for x in [
        w(&t.src, 0),
        w(&t.src, 8),
        w(&t.dst, 0),
        w(&t.dst, 8),
        (t.sport as u64) << 32 | (t.dport as u64) << 16 | (t.proto as u64) << 8 | c.zone as u64,
    ] {
        h = mix(h ^ x);
    }
    h as u32
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
        *t.flows().iter().find(|f| f.conn.id == id).unwrap()
    }

    #[test]
    fn rate_is_delta_over_exact_dt() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, 10 * S, 0, &[conn(1, 0, 1000, 5000, 0)]);
        assert_eq!(
            get(&t, 1).rate,
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
        assert_eq!(f.rate, RateState::Known);
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
        assert_eq!(f.rate, RateState::Known);
        assert!((f.orig_bps - 2_000_000.0).abs() < 1e-6);
    }

    #[test]
    fn flow_born_between_dumps_is_credited_over_dt() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, 10 * S, 0, &[]);
        tick(&mut t, 12 * S, 0, &[conn(3, 0, 5, 250_000, 0)]);
        let f = get(&t, 3);
        assert!(f.new);
        assert_eq!(f.rate, RateState::Known);
        assert!((f.orig_bps - 1_000_000.0).abs() < 1e-6);
        tick(&mut t, 13 * S, 0, &[conn(3, 0, 5, 250_000, 0)]);
        assert!(!get(&t, 3).new);
        assert_eq!(get(&t, 3).orig_bps, 0.0);
    }

    #[test]
    fn counter_reset_is_not_negative_nor_a_spike() {
        let mut t = FlowTable::new(64, 7);
        tick(&mut t, S, 0, &[conn(1, 0, 1, 1_000_000, 900_000)]);
        tick(&mut t, 2 * S, 0, &[conn(1, 0, 1, 1_100_000, 950_000)]);
        // nlbwmon zeroed the counters; 10 kB came after the zeroing.
        tick(&mut t, 3 * S, 0, &[conn(1, 0, 1, 10_000, 0)]);
        let f = get(&t, 1);
        assert!(f.reset);
        assert_eq!(t.counts.resets, 1);
        assert!((f.orig_bps - 80_000.0).abs() < 1e-6);
        assert_eq!(f.reply_bps, 0.0);
        tick(&mut t, 4 * S, 0, &[conn(1, 0, 1, 20_000, 0)]);
        let f = get(&t, 1);
        assert!(!f.reset);
        assert!((f.orig_bps - 80_000.0).abs() < 1e-6);
        assert_eq!(t.counts.resets_total, 1);
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
        assert!(f.new && !f.reset);
        assert!((f.orig_bps - 800.0).abs() < 1e-6);
        // Same id and tuple, other start timestamp: also new.
        let real = 100 * S;
        tick(&mut t, 3 * S, real, &[conn(1, real - S / 2, 2000, 50, 0)]);
        assert!(get(&t, 1).new);
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
            assert!(!get(&t, c.id).new, "id {} was re-found", c.id);
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
        assert!(f.new);
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
