//! What `FlowTable::finish` makes of a dump: flows that left, rates from
//! counter deltas, and counter zeroings by another program.
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
//!
//! Offloaded flows (a flowtable forwards their packets past conntrack):
//! a software flowtable with the `counter` flag updates the counters per
//! packet, so they are rated as any other; without it they freeze after
//! the first packets. Hardware offload updates them from the driver's
//! statistics about every 3 s per flow, or never (MT7621). So an
//! offloaded flow whose counters did not move in a refresh is "frozen":
//! its rate is unknown (never 0), and `Counts::offloaded` counts it;
//! unless another software-offloaded flow (not new) moved in the same
//! refresh: then the flowtable counts, and the still ones are idle (0). A
//! hardware flow's counters that step are rated over the step (from the
//! last change to this one) and keep that rate between steps (`HELD`)
//! for `HW_HOLD`, not a sawtooth of zeros and spikes. An idle
//! offloaded flow (the flowtable lets it go after 30 s) reads unknown
//! when no other one moved.

use super::{FlowTable, Life, RateState};
use crate::conntrack::Offload;
use crate::flow::{Flow, FRESH, HELD, NEW, PENDING, RESET, SEEN, ZEROED};

/// Below this age a first-seen entry's bytes/age rate is noise.
const MIN_AGE_NS: u64 = 1_000_000;

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

/// How long a hardware-offloaded flow keeps its last step's rate while
/// its counters do not move (its steps come about every 3 s; twice the
/// refresh interval when that is longer), before it reads as frozen: 7 s
/// in ticks of 2^`STEP_SHIFT` ns.
const HW_HOLD: u32 = (7_000_000_000u64 >> STEP_SHIFT) as u32;
const STEP_SHIFT: u32 = 20;

/// What `settle` decided for one flow.
enum Settled {
    Removed,
    Idle,
    Counted,
}

impl FlowTable {
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
        if self.appending {
            self.appending = false;
            self.index_appended();
        }
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
            if dt_ns > 0 && !self.long_way() && self.flows[i].settle_idle() {
                i += 1;
                continue;
            }
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
                    self.rate(i, span, fresh, now);
                }
            }
            let f = &mut self.flows[i];
            f.set(SEEN, false);
            f.set(PENDING, false);
            f.set(HELD, false);
            i += 1;
        }
        if self.zeroed > 0 {
            self.estimate_zeroing(now, dt_ns);
        }
        let o = &mut self.counts.offloaded;
        if o.sw_moved > 0 && o.sw_frozen > 0 {
            // The flowtable counts (module doc): the still ones are idle.
            o.sw_frozen = 0;
            for f in self.flows.iter_mut() {
                if f.offload() == Offload::Sw && f.life == Life::Live && !f.is_new() {
                    f.set_rate(RateState::Known);
                }
            }
        }
        self.last_t = now;
        if self.first_real == 0 {
            self.first_real = real;
        }
    }

    /// Whether a test asked for every flow settled the long way.
    fn long_way(&self) -> bool {
        #[cfg(test)]
        return self.no_shortcut;
        #[cfg(not(test))]
        false
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
                f.end_s = 0; // no hardware step known (`offloaded`)
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
    /// connection that ended are credited. `now`: the dump's end.
    fn rate(&mut self, i: usize, span: u64, fresh: bool, now: u64) {
        let f = &mut self.flows[i];
        if f.has(ZEROED) && span == 0 {
            // No interval to estimate over: what it counted since the
            // zeroing is this refresh's bytes.
            f.set(ZEROED, false);
            f.orig_bps = f.orig_bytes as f32;
            f.reply_bps = f.reply_bytes as f32;
        }
        let (mut d_o, mut d_r) = if f.has(PENDING) && !f.has(HELD) {
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
        let offloaded = !fresh && f.life == Life::Live && f.offloaded();
        if f.has(ZEROED) && offloaded {
            // Frozen or stepping counters say nothing of when the zeroing
            // fell: the offload rules rate it, on what it counted since.
            f.set(ZEROED, false);
            (d_o, d_r) = (f.orig_bytes as f64, f.reply_bytes as f64);
        } else if f.has(ZEROED) {
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
        let span = if offloaded {
            match self.offloaded(i, d_o + d_r > 0.0, span, now) {
                Some(s) => s,
                None => return,
            }
        } else {
            span
        };
        let f = &mut self.flows[i];
        let measurable = if fresh {
            // An offloaded flow's first count may be frozen: bytes over
            // its age would read as a small known rate.
            span >= MIN_AGE_NS && f.has_counters() && !(f.life == Life::Live && f.offloaded())
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

    /// An offloaded flow in this dump (module doc), its counters `moved`
    /// or not since the last one, `dt` ns ago: Some(span) to rate its
    /// deltas over, or None when it is rated here (held or frozen).
    fn offloaded(&mut self, i: usize, moved: bool, dt: u64, now: u64) -> Option<u64> {
        let f = &mut self.flows[i];
        let hw = f.offload() == Offload::Hw;
        // Ticks of 2^20 ns (about 1 ms): shifts, not 64-bit divisions
        // (a call each on the 32-bit routers).
        let tick = ((now >> STEP_SHIFT) as u32).max(1);
        // Since the last hardware step (0: none seen).
        let since = match f.end_s {
            0 => 0,
            t => tick.wrapping_sub(t),
        };
        if !hw {
            let newly = f.end_s == SW_NEWLY;
            f.end_s = 0;
            if moved {
                if !newly {
                    self.counts.offloaded.sw_moved += 1;
                }
                return Some(dt);
            }
        } else if moved {
            f.end_s = tick;
            if since > 0 {
                return Some((since as u64) << STEP_SHIFT);
            }
            // The first step seen: over how long it gathered is not
            // known (not a spike of it over the interval); the next one
            // is. Unknown, as below, but not frozen.
        }
        let hold = HW_HOLD.max((dt >> (STEP_SHIFT - 1)) as u32);
        if f.has(HELD) && since > 0 && since <= hold {
            // Between two steps: the rate fields hold the last step's.
            return None;
        }
        f.orig_bps = 0.0;
        f.reply_bps = 0.0;
        f.set_rate(RateState::Unknown);
        if !moved {
            let o = &mut self.counts.offloaded;
            *(if hw {
                &mut o.hw_frozen
            } else {
                &mut o.sw_frozen
            }) += 1;
        }
        None
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

/// `end_s` of a live software-offloaded flow that was not offloaded at
/// the dump before (flows/mod.rs `seen`): its counters moved on the slow
/// path, which proves nothing about the flowtable's `counter`.
pub(super) const SW_NEWLY: u32 = u32::MAX;

/// Adds the change from the flow's counters to `o`/`r` to its pending
/// deltas. A counter that went down was zeroed by another program
/// (nlbwmon's CTRZERO dump zeroes both directions of every entry): what
/// both hold is all new, and what came between the last dump and the
/// zeroing is missing. The rate fields then keep the last rates
/// (`ZEROED`) for `finish` to estimate it from.
pub(super) fn credit(f: &mut Flow, o: u64, r: u64) {
    let zeroed = o < f.orig_bytes || r < f.reply_bytes;
    let same = o == f.orig_bytes && r == f.reply_bytes;
    if !f.has(PENDING) {
        f.set(PENDING, true);
        f.set(RESET, zeroed);
        f.set(ZEROED, zeroed);
        // Between two hardware steps: the rates stay (`offloaded`).
        let held = same && f.offload() == Offload::Hw;
        f.set(HELD, held);
        if zeroed || held {
            return;
        }
        f.orig_bps = 0.0;
        f.reply_bps = 0.0;
    } else if f.has(HELD) {
        if same {
            return;
        }
        // Moved after all (an event after the dump): deltas again.
        f.set(HELD, false);
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

/// Most of a big table is idle at any time: its rate is 0 without the
/// division (two a flow each refresh).
fn bps(bytes: f64, ns: u64) -> f32 {
    if bytes == 0.0 {
        return 0.0;
    }
    (bytes * 8e9 / ns as f64) as f32
}
