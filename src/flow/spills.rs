//! The addresses a flow record does not keep inline, and how a record
//! rebuilds its whole entry.
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

use super::{Flow, Nat, COUNTERS};
use crate::conntrack::{self, Conn, Tuple};

/// Addresses a flow does not keep inline.
#[derive(Clone, Copy, Default)]
pub(super) struct Spill {
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
    pub(super) fn pack(&mut self, c: &Conn) -> Option<([u32; 3], [u16; 3], Nat)> {
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
            // As words: comparing the slices called memcmp per entry.
            let w = |a: &[u8; 16]| u32::from_ne_bytes([a[0], a[1], a[2], a[3]]);
            w(&c.orig.src) == f.addr[0] && w(&c.orig.dst) == f.addr[1]
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
