//! One tracked connection in 80 bytes: what a row shows and what rates
//! need, nothing else (issue "scale": at a million entries every byte here
//! is a megabyte of router RAM).
//!
//! Addresses: an IPv4 flow keeps its original source and destination
//! inline, and of the reply tuple only what NAT changed (one address and
//! one port: masquerade changes the reply's destination, a port forward
//! its source). IPv4 thus never pays for IPv6's 16-byte addresses. What
//! does not fit inline goes to a `Spill` slot (36 bytes) of a pool sized
//! at start: an IPv6 flow's address pair, its NAT address, and any reply
//! tuple that is neither the inverse of the original nor one of the two
//! NAT shapes (both ends translated, hairpin NAT). `Spills::conn` rebuilds
//! the full `Conn` exactly; `pack` checks that before it accepts a shape.
//!
//! Counters: only the latest value per direction is kept. The dump's
//! `observe` turns the change into a pending delta held in the rate fields
//! until `finish` divides it by the interval (flows.rs); after a counter
//! zeroing the rate fields keep the last rates instead (`ZEROED`).

use crate::conntrack::{self, Conn, Tuple};

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
/// zeroing, until finish() estimates what the zeroing took (flows.rs).
pub(crate) const ZEROED: u16 = 1 << 14;

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
    /// stop timestamp, not the event's arrival).
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

/// Addresses a flow does not keep inline.
#[derive(Clone, Copy, Default)]
pub struct Spill {
    a: [u8; 16],
    b: [u8; 16],
    p: u16,
    q: u16,
}

/// The spill pool: slots allocated once, reused through a free list.
pub struct Spills {
    slots: Vec<Spill>,
    /// Head of the free list (slot index + 1; 0 = empty); a free slot
    /// keeps the next one in `p`/`q`.
    free: u32,
    cap: usize,
}

impl Spills {
    pub fn new(cap: usize) -> Spills {
        Spills {
            slots: Vec::with_capacity(cap),
            free: 0,
            cap,
        }
    }

    /// Slots in use.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        let mut free = 0;
        let mut i = self.free;
        while i != 0 {
            free += 1;
            let s = &self.slots[i as usize - 1];
            i = (s.p as u32) << 16 | s.q as u32;
        }
        self.slots.len() - free
    }

    fn take(&mut self, s: Spill) -> Option<u32> {
        if self.free != 0 {
            let i = self.free;
            let slot = &mut self.slots[i as usize - 1];
            self.free = (slot.p as u32) << 16 | slot.q as u32;
            *slot = s;
            return Some(i);
        }
        if self.slots.len() >= self.cap {
            return None;
        }
        self.slots.push(s);
        Some(self.slots.len() as u32)
    }

    fn give(&mut self, i: u32) {
        if i == 0 {
            return;
        }
        self.slots[i as usize - 1] = Spill {
            p: (self.free >> 16) as u16,
            q: self.free as u16,
            ..Spill::default()
        };
        self.free = i;
    }

    fn get(&self, i: u32) -> &Spill {
        &self.slots[i as usize - 1]
    }

    /// The flow's entry as the kernel sent it (counters and status of the
    /// last dump).
    pub fn conn(&self, f: &Flow) -> Conn {
        let mut c = Conn {
            family: if f.is_v6() { 6 } else { 4 },
            state: f.state,
            has_counters: f.flags & COUNTERS != 0,
            zone: f.zone,
            status: f.status as u32,
            mark: f.mark,
            id: f.id,
            orig_bytes: f.orig_bytes,
            reply_bytes: f.reply_bytes,
            start: f.kernel_start(),
            ..Conn::default()
        };
        let (src, dst) = self.pair(f);
        c.orig = Tuple {
            src,
            dst,
            sport: f.ports[0],
            dport: f.ports[1],
            proto: f.proto,
        };
        c.reply = match f.nat() {
            Nat::Full => {
                let s = self.get(if f.is_v6() { f.addr[1] } else { f.addr[2] });
                Tuple {
                    src: s.a,
                    dst: s.b,
                    sport: s.p,
                    dport: s.q,
                    proto: f.proto,
                }
            }
            kind => {
                let nat = if f.is_v6() {
                    if kind == Nat::None {
                        [0; 16]
                    } else {
                        self.get(f.addr[1]).a
                    }
                } else {
                    v4(f.addr[2])
                };
                reply_of(&c.orig, kind, &nat, f.ports[2])
            }
        };
        c
    }

    /// The original source and destination.
    pub fn pair(&self, f: &Flow) -> ([u8; 16], [u8; 16]) {
        if f.is_v6() {
            let s = self.get(f.addr[0]);
            (s.a, s.b)
        } else {
            (v4(f.addr[0]), v4(f.addr[1]))
        }
    }

    /// The reply's source: the original destination, unless destination
    /// NAT changed it (without rebuilding the whole entry).
    pub fn reply_src(&self, f: &Flow) -> [u8; 16] {
        match f.nat() {
            Nat::Dst if !f.is_v6() => v4(f.addr[2]),
            Nat::Dst | Nat::Full => self.get(if f.is_v6() { f.addr[1] } else { f.addr[2] }).a,
            Nat::None | Nat::Src => self.pair(f).1,
        }
    }

    /// Packs an entry's addresses: None when the pool is full.
    fn pack(&mut self, c: &Conn) -> Option<([u32; 3], [u16; 3], Nat)> {
        let o = &c.orig;
        let r = &c.reply;
        let icmp = conntrack::is_icmp(o.proto);
        // The NAT shape whose rebuilt reply is exactly the kernel's.
        let shapes = [
            (Nat::None, [0u8; 16], 0u16),
            (Nat::Src, r.dst, if icmp { r.sport } else { r.dport }),
            (Nat::Dst, r.src, r.sport),
        ];
        let shape = shapes
            .into_iter()
            .find(|(k, a, p)| reply_of(o, *k, a, *p) == *r);
        let mut ports = [o.sport, o.dport, 0];
        if c.family == 6 {
            let pair = self.take(Spill {
                a: o.src,
                b: o.dst,
                ..Spill::default()
            })?;
            let (kind, second) = match shape {
                Some((Nat::None, ..)) => (Nat::None, Some(0)),
                Some((k, a, p)) => {
                    ports[2] = p;
                    (
                        k,
                        self.take(Spill {
                            a,
                            ..Spill::default()
                        }),
                    )
                }
                None => (Nat::Full, self.take(full(r))),
            };
            let Some(second) = second else {
                self.give(pair);
                return None;
            };
            return Some(([pair, second, 0], ports, kind));
        }
        let w = |a: &[u8; 16]| u32::from_ne_bytes([a[0], a[1], a[2], a[3]]);
        let (kind, third) = match shape {
            Some((k, a, p)) => {
                ports[2] = p;
                (k, w(&a))
            }
            None => (Nat::Full, self.take(full(r))?),
        };
        Some(([w(&o.src), w(&o.dst), third], ports, kind))
    }

    /// Returns a removed flow's slots.
    pub fn release(&mut self, f: &Flow) {
        if f.is_v6() {
            self.give(f.addr[0]);
            self.give(f.addr[1]);
        } else if f.nat() == Nat::Full {
            self.give(f.addr[2]);
        }
    }

    /// Whether the flow's original addresses are `c`'s (the rest of the
    /// key is compared inline first).
    pub fn same_addrs(&self, f: &Flow, c: &Conn) -> bool {
        if f.is_v6() {
            let s = self.get(f.addr[0]);
            s.a == c.orig.src && s.b == c.orig.dst
        } else {
            v4(f.addr[0])[..4] == c.orig.src[..4] && v4(f.addr[1])[..4] == c.orig.dst[..4]
        }
    }
}

fn full(r: &Tuple) -> Spill {
    Spill {
        a: r.src,
        b: r.dst,
        p: r.sport,
        q: r.dport,
    }
}

fn v4(x: u32) -> [u8; 16] {
    let mut a = [0; 16];
    a[..4].copy_from_slice(&x.to_ne_bytes());
    a
}

/// ICMP's reply to each query type conntrack tracks (echo, timestamp,
/// information, address mask; ICMPv6 echo); other types answer themselves.
fn icmp_answer(proto: u8, t: u8) -> u8 {
    match (proto, t) {
        (1, 8) => 0,
        (1, 13) => 14,
        (1, 15) => 16,
        (1, 17) => 18,
        (58, 128) => 129,
        _ => t,
    }
}

/// The reply tuple of a NAT shape (see `Nat`).
fn reply_of(o: &Tuple, kind: Nat, nat: &[u8; 16], port: u16) -> Tuple {
    let mut r = Tuple {
        src: o.dst,
        dst: o.src,
        sport: o.dport,
        dport: o.sport,
        proto: o.proto,
    };
    if conntrack::is_icmp(o.proto) {
        // The id stays in `sport`; the type is answered.
        r.sport = o.sport;
        r.dport = (icmp_answer(o.proto, (o.dport >> 8) as u8) as u16) << 8 | (o.dport & 0xff);
    }
    match kind {
        Nat::Src => {
            r.dst = *nat;
            if conntrack::is_icmp(o.proto) {
                r.sport = port;
            } else {
                r.dport = port;
            }
        }
        Nat::Dst => {
            r.src = *nat;
            r.sport = port;
        }
        Nat::None | Nat::Full => {}
    }
    r
}

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
        self.status as u32 & (conntrack::IPS_OFFLOAD | conntrack::IPS_HW_OFFLOAD) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(src: &[u8], dst: &[u8], sport: u16, dport: u16, proto: u8) -> Tuple {
        let mut x = Tuple {
            sport,
            dport,
            proto,
            ..Tuple::default()
        };
        x.src[..src.len()].copy_from_slice(src);
        x.dst[..dst.len()].copy_from_slice(dst);
        x
    }

    fn roundtrip(c: Conn, spills_used: usize) {
        let mut sp = Spills::new(8);
        let f = Flow::fresh(&c, Life::Live, 0, &mut sp).unwrap();
        assert_eq!(sp.conn(&f), c, "rebuilt exactly");
        assert_eq!(sp.reply_src(&f), c.reply.src);
        assert_eq!(sp.pair(&f), (c.orig.src, c.orig.dst));
        assert_eq!(sp.used(), spills_used, "{c:?}");
        sp.release(&f);
        assert_eq!(sp.used(), 0);
    }

    #[test]
    fn every_nat_shape_rebuilds_exactly() {
        let (lan, far, wan) = ([192, 0, 2, 10], [203, 0, 113, 5], [198, 51, 100, 1]);
        let base = Conn {
            family: 4,
            state: 3,
            has_counters: true,
            zone: 7,
            status: conntrack::IPS_SRC_NAT | 0xe,
            mark: 0x300,
            id: 99,
            orig_bytes: 1 << 40,
            reply_bytes: 12,
            start: 1_700_000_000_000_000_000,
            ..Conn::default()
        };
        let with = |o: Tuple, r: Tuple| Conn {
            orig: o,
            reply: r,
            ..base
        };
        // Plain, masquerade, port forward, hairpin (both), ICMP echo
        // plain and masqueraded (the id changes), and a reply no shape
        // explains.
        roundtrip(
            with(t(&lan, &far, 4000, 443, 6), t(&far, &lan, 443, 4000, 6)),
            0,
        );
        roundtrip(
            with(t(&lan, &far, 4000, 443, 6), t(&far, &wan, 443, 61000, 6)),
            0,
        );
        roundtrip(
            with(t(&far, &wan, 5000, 80, 6), t(&lan, &far, 8080, 5000, 6)),
            0,
        );
        roundtrip(
            with(t(&lan, &wan, 4000, 80, 17), t(&lan, &wan, 8080, 61000, 17)),
            1,
        );
        roundtrip(with(t(&lan, &far, 7, 8 << 8, 1), t(&far, &lan, 7, 0, 1)), 0);
        roundtrip(
            with(t(&lan, &far, 7, 8 << 8, 1), t(&far, &wan, 900, 0, 1)),
            0,
        );
        roundtrip(
            with(t(&lan, &far, 7, 3 << 8 | 1, 1), t(&far, &lan, 7, 0, 1)),
            1,
        );
        let (l6, f6) = (
            [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            [0x20, 1, 0xd, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        let six = |o, r| Conn {
            family: 6,
            ..with(o, r)
        };
        roundtrip(six(t(&l6, &f6, 4000, 443, 6), t(&f6, &l6, 443, 4000, 6)), 1);
        roundtrip(six(t(&l6, &f6, 4000, 443, 6), t(&f6, &f6, 443, 4001, 6)), 2);
        roundtrip(
            six(t(&l6, &f6, 3, 128 << 8, 58), t(&f6, &l6, 3, 129 << 8, 58)),
            1,
        );
        roundtrip(six(t(&l6, &f6, 4000, 443, 6), t(&l6, &l6, 1, 2, 6)), 2);
    }

    #[test]
    fn a_full_pool_refuses_and_keeps_nothing() {
        let mut sp = Spills::new(1);
        let l6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let c = Conn {
            family: 6,
            orig: t(&l6, &l6, 1, 2, 17),
            reply: t(&l6, &l6, 9, 9, 17),
            ..Conn::default()
        };
        assert!(Flow::fresh(&c, Life::Live, 0, &mut sp).is_none());
        assert_eq!(sp.used(), 0, "the pair went back");
    }
}
