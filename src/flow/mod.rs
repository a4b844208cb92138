//! One tracked connection in 80 bytes: what a row shows and what rates
//! need, nothing else (issue "scale": at a million entries every byte here
//! is a megabyte of router RAM).
//!
//! Addresses: see `spills.rs` (IPv4 inline, what does not fit in a pool).
//!
//! Counters: only the latest value per direction is kept. The dump's
//! `observe` turns the change into a pending delta held in the rate fields
//! until `finish` divides it by the interval (flows/rates.rs); after a counter
//! zeroing the rate fields keep the last rates instead (`ZEROED`).

use crate::conntrack::{self, Conn};
pub use spills::Spills;

mod spills;
#[cfg(test)]
mod tests;

/// Where a flow is in its life, as far as nftop knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateState {
    /// First seen in the very first dump without a kernel timestamp: no
    /// rate until the next refresh.
    Unknown,
    /// Rated from counter deltas (or, when first seen, as below).
    Known,
}

// Flag bits.
pub(crate) const NEW: u16 = 1;
pub(crate) const RESET: u16 = 1 << 1;
const TX_ORIG: u16 = 1 << 2;
const LOOPBACK: u16 = 1 << 3;
/// Inserted by the running dump; finish() gives it its first rate.
pub(crate) const FRESH: u16 = 1 << 4;
const NO_ROUTE: u16 = 1 << 5;
/// `start` is CLOCK_MONOTONIC ns when first seen, not a kernel timestamp.
pub(crate) const MONO_START: u16 = 1 << 6;
const RATE_KNOWN: u16 = 1 << 7;
/// In the running dump (cleared by finish).
pub(crate) const SEEN: u16 = 1 << 8;
const COUNTERS: u16 = 1 << 9;
/// The rate fields hold this refresh's byte deltas, not rates.
pub(crate) const PENDING: u16 = 1 << 10;
const V6: u16 = 1 << 11;
/// Two bits: how the reply tuple is stored (`Nat`).
const NAT_SHIFT: u16 = 12;
/// Another program zeroed its counters since the last dump: the rate
/// fields still hold the last rates and the counters what came after the
/// zeroing, until finish() estimates what the zeroing took (flows/rates.rs).
pub(crate) const ZEROED: u16 = 1 << 14;
/// Offloaded to hardware, counters unchanged in this dump: the rate fields
/// still hold the last step's rates (flows/rates.rs).
pub(crate) const HELD: u16 = 1 << 15;

/// How the reply tuple is kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Nat {
    /// The inverse of the original.
    None = 0,
    /// Source NAT: the reply goes to the NAT address and port.
    Src = 1,
    /// Destination NAT: the reply comes from the NAT address and port.
    Dst = 2,
    /// Anything else: the whole reply tuple is in a spill slot.
    Full = 3,
}

/// One tracked connection: the last dump's entry, its rates, and the
/// per-refresh facts the view and the router derive (direction,
/// interfaces). 80 bytes (a test holds it there).
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    /// CTA_TIMESTAMP_START (CLOCK_REALTIME ns), or with `MONO_START` the
    /// CLOCK_MONOTONIC ns when nftop first saw it.
    start: u64,
    pub orig_bytes: u64,
    pub reply_bytes: u64,
    pub id: u32,
    pub mark: u32,
    /// Bits per second in the original and reply directions (f32: 24 bits
    /// of mantissa are far below the 3 % anyone can see). During a dump:
    /// the pending byte deltas (`PENDING`).
    pub orig_bps: f32,
    pub reply_bps: f32,
    /// IPv4: original source, original destination, NAT address (network
    /// order bytes); `Full` keeps the spill index of the reply in [2].
    /// IPv6: spill index of the address pair in [0], of the NAT address or
    /// reply tuple in [1].
    addr: [u32; 3],
    /// Ingress and egress interface index (0 unknown, route::LOCAL_IF the
    /// router itself, route::is_multi a multipath set); set by the router
    /// (route/mod.rs) when the flow is new and after routing changes.
    pub in_if: u32,
    pub out_if: u32,
    /// Monotonic second when it departed or ended (the DESTROY event's
    /// stop timestamp, not the event's arrival). While live and offloaded
    /// to hardware: the monotonic time in 2^20 ns ticks (wrapping, 0 none)
    /// of the last counter step (flows/rates.rs), so the record stays 80
    /// bytes.
    pub end_s: u32,
    /// Original source and destination port (ICMP: echo id and
    /// type<<8|code), then the NAT port (ICMP: the reply's id).
    ports: [u16; 3],
    /// enum ip_conntrack_status (its bits all fit 16).
    pub status: u16,
    pub zone: u16,
    pub proto: u8,
    /// Protocol state (TCP, SCTP, DCCP), `NO_STATE` otherwise.
    pub state: u8,
    flags: u16,
    pub life: Life,
    /// Routing generation the interfaces were found under (route/mod.rs):
    /// 0 never, else 1..=255 cycling.
    pub route_gen: u8,
}

const _: () = assert!(std::mem::size_of::<Flow>() == 80);

impl Flow {
    /// A flow entering the table (finish() gives it its first rate); None
    /// when the spill pool is full.
    pub(crate) fn fresh(c: &Conn, life: Life, end_s: u32, spills: &mut Spills) -> Option<Flow> {
        let (addr, ports, kind) = spills.pack(c)?;
        // Everything it carries is new: the pending deltas are its counters.
        let mut flags = NEW | FRESH | TX_ORIG | SEEN | PENDING | (kind as u16) << NAT_SHIFT;
        if c.family == 6 {
            flags |= V6;
        }
        if c.has_counters {
            flags |= COUNTERS;
        }
        if c.start == 0 {
            flags |= MONO_START;
        }
        Some(Flow {
            start: c.start,
            orig_bytes: c.orig_bytes,
            reply_bytes: c.reply_bytes,
            id: c.id,
            mark: c.mark,
            orig_bps: c.orig_bytes as f32,
            reply_bps: c.reply_bytes as f32,
            addr,
            in_if: 0,
            out_if: 0,
            end_s,
            ports,
            status: c.status as u16,
            zone: c.zone,
            proto: c.orig.proto,
            state: c.state,
            flags,
            life,
            route_gen: 0,
        })
    }

    fn nat(&self) -> Nat {
        match self.flags >> NAT_SHIFT & 3 {
            0 => Nat::None,
            1 => Nat::Src,
            2 => Nat::Dst,
            _ => Nat::Full,
        }
    }

    pub(crate) fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }

    pub(crate) fn set(&mut self, bit: u16, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    /// The key fields kept inline, compared before the addresses: id,
    /// kernel start timestamp, zone, family, protocol, ports.
    pub(crate) fn same_inline_key(&self, c: &Conn) -> bool {
        self.id == c.id
            && self.kernel_start() == c.start
            && self.zone == c.zone
            && self.proto == c.orig.proto
            && self.ports[0] == c.orig.sport
            && self.ports[1] == c.orig.dport
            && self.is_v6() == (c.family == 6)
    }

    /// What `FlowTable::finish` makes of a live flow of this dump whose
    /// counters did not move, with nothing else to settle (not new, reset,
    /// zeroed, held or offloaded): a known rate of 0, in one test (most of
    /// a big table). False, the flow untouched, for any other.
    pub(crate) fn settle_idle(&mut self) -> bool {
        const ALL: u16 = SEEN | PENDING | NEW | RESET | FRESH | ZEROED | HELD;
        let idle = self.life == Life::Live
            && self.flags & ALL == SEEN | PENDING
            && self.orig_bps == 0.0
            && self.reply_bps == 0.0
            && !self.offloaded();
        if idle {
            self.flags = (self.flags | RATE_KNOWN) & !(SEEN | PENDING);
        }
        idle
    }

    /// Whether `c` is this flow's entry by conntrack id, start timestamp,
    /// zone and family (not the tuple: `FlowTable::predicted` says when
    /// that is enough).
    pub(crate) fn same_entry(&self, c: &Conn) -> bool {
        self.id == c.id
            && self.kernel_start() == c.start
            && self.zone == c.zone
            && self.is_v6() == (c.family == 6)
    }

    /// The latest counters and status of the same entry.
    pub(crate) fn update(&mut self, c: &Conn) {
        self.orig_bytes = c.orig_bytes;
        self.reply_bytes = c.reply_bytes;
        self.status = c.status as u16;
        self.state = c.state;
        self.mark = c.mark;
        self.set(COUNTERS, c.has_counters);
    }

    pub fn is_v6(&self) -> bool {
        self.flags & V6 != 0
    }

    pub fn addr_len(&self) -> usize {
        if self.is_v6() {
            16
        } else {
            4
        }
    }

    pub fn sport(&self) -> u16 {
        self.ports[0]
    }

    pub fn dport(&self) -> u16 {
        self.ports[1]
    }

    /// CTA_TIMESTAMP_START, 0 when the kernel gave none.
    pub fn kernel_start(&self) -> u64 {
        if self.flags & MONO_START != 0 {
            0
        } else {
            self.start
        }
    }

    /// CLOCK_MONOTONIC ns when first seen, for a flow without a kernel
    /// timestamp (0 otherwise).
    pub fn mono_start(&self) -> u64 {
        if self.flags & MONO_START != 0 {
            self.start
        } else {
            0
        }
    }

    pub(crate) fn set_mono_start(&mut self, ns: u64) {
        if self.flags & MONO_START != 0 {
            self.start = ns;
        }
    }

    /// First seen in the last dump.
    pub fn is_new(&self) -> bool {
        self.has(NEW)
    }

    /// Counters went down since the previous dump (nlbwmon's CTRZERO).
    pub fn reset(&self) -> bool {
        self.has(RESET)
    }

    /// tx is the original direction (see view.rs); set by the view.
    pub fn tx_is_orig(&self) -> bool {
        self.has(TX_ORIG)
    }

    /// Both ends are the router itself; set by the view.
    pub fn loopback(&self) -> bool {
        self.has(LOOPBACK)
    }

    pub fn set_direction(&mut self, tx_is_orig: bool, loopback: bool) {
        self.set(TX_ORIG, tx_is_orig);
        self.set(LOOPBACK, loopback);
    }

    /// The egress lookup found no route (the uplink is gone).
    pub fn no_route(&self) -> bool {
        self.has(NO_ROUTE)
    }

    pub fn set_no_route(&mut self, on: bool) {
        self.set(NO_ROUTE, on);
    }

    pub fn has_counters(&self) -> bool {
        self.has(COUNTERS)
    }

    pub fn rate(&self) -> RateState {
        if self.has(RATE_KNOWN) {
            RateState::Known
        } else {
            RateState::Unknown
        }
    }

    pub(crate) fn set_rate(&mut self, r: RateState) {
        self.set(RATE_KNOWN, r == RateState::Known);
    }

    pub fn tx_bps(&self) -> f64 {
        (if self.tx_is_orig() {
            self.orig_bps
        } else {
            self.reply_bps
        }) as f64
    }
    pub fn rx_bps(&self) -> f64 {
        (if self.tx_is_orig() {
            self.reply_bps
        } else {
            self.orig_bps
        }) as f64
    }
    pub fn sum_bps(&self) -> f64 {
        self.orig_bps as f64 + self.reply_bps as f64
    }
    pub fn tx_bytes(&self) -> u64 {
        if self.tx_is_orig() {
            self.orig_bytes
        } else {
            self.reply_bytes
        }
    }
    pub fn rx_bytes(&self) -> u64 {
        if self.tx_is_orig() {
            self.reply_bytes
        } else {
            self.orig_bytes
        }
    }

    pub fn offloaded(&self) -> bool {
        self.offload() != conntrack::Offload::No
    }

    pub fn offload(&self) -> conntrack::Offload {
        conntrack::Offload::of(self.status as u32)
    }
}
