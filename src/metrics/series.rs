//! The per-device series of the metrics page (`--metrics-hosts`): which
//! device holds which of a fixed set of slots, and what it counted. Time
//! is passed in; nothing here reads the clock or allocates after start.

use crate::hostview::{HostRow, Id, Who};

/// A device series that moved no bytes for this long is released: it
/// leaves the page (Prometheus ends it) and its slot is free.
pub const IDLE_NS: u64 = 600_000_000_000;
/// Label text kept per series: fixed, no allocation per device.
pub(super) const LABELS: usize = 192;

/// One device's series.
pub(super) struct HostCounter {
    pub(super) id: Id,
    /// The address its `host` label shows (`shown_addr`).
    pub(super) addr: [u8; 16],
    pub(super) alen: u8,
    pub(super) labels: [u8; LABELS],
    pub(super) len: u8,
    pub(super) tx: f64,
    pub(super) rx: f64,
    /// When it last moved bytes (or was created), monotonic ns.
    pub(super) active: u64,
}

/// The per-device series, at most `max` (`--metrics-hosts`). A device
/// gets one when it moves bytes; a series that moved none for `IDLE_NS`
/// is released, `local` included. Full policy: a device that moves bytes
/// takes the slot of the least recently active series, unless that one
/// moved bytes in this refresh too; then it is summed into
/// `host="other"`. Time is passed in.
pub(super) struct Series {
    pub(super) v: Vec<HostCounter>,
    pub(super) max: usize,
}

/// A released series' id (no device's: `other` never gets a series).
pub(super) const GONE: Id = (Who::Other, 0);

impl Series {
    /// Releases the series idle for `IDLE_NS` at `now`: they leave the
    /// page, and their slots are the first taken.
    pub(super) fn release(&mut self, now: u64) {
        for h in &mut self.v {
            if now.saturating_sub(h.active) >= IDLE_NS {
                (h.id, h.active) = (GONE, 0);
            }
        }
    }

    /// The slot of device `id` in a refresh at `now` in which it moved
    /// bytes or not: found, taken, or None (counted as `other`).
    pub(super) fn slot(&mut self, id: Id, moved: bool, now: u64) -> Option<usize> {
        // Its own, else the least recently active one not active now.
        let mut lru = None;
        let mut oldest = now;
        for (i, h) in self.v.iter_mut().enumerate() {
            if h.id == id {
                if moved {
                    h.active = now;
                }
                return Some(i);
            }
            if h.active < oldest {
                (lru, oldest) = (Some(i), h.active);
            }
        }
        if !moved {
            return None;
        }
        let new = HostCounter {
            id,
            addr: [0; 16],
            alen: 0,
            labels: [0; LABELS],
            len: 0,
            tx: 0.0,
            rx: 0.0,
            active: now,
        };
        let i = if self.v.len() < self.max {
            self.v.push(new);
            self.v.len() - 1
        } else {
            let i = lru?;
            self.v[i] = new;
            i
        };
        Some(i)
    }
}

/// The address a device's `host` label shows: the one it showed while
/// the device still has it, or has no other address of that family (a
/// phone whose IPv4 connections are quiet keeps its label); else its
/// first (IPv4 first), so a device that moved gets its new address.
pub(super) fn shown_addr<'a>(r: &'a HostRow, was: &'a [u8]) -> &'a [u8] {
    let mut first = None;
    for a in r.addrs() {
        if a == was {
            return a;
        }
        if first.is_none() && (was.is_empty() || a.len() == was.len()) {
            first = Some(a);
        }
    }
    first.unwrap_or(was)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn row(who: Who, addrs: &[&[u8]]) -> HostRow {
        let mut r = HostRow::default();
        r.who = who;
        for (i, a) in addrs.iter().enumerate() {
            r.addrs[i][..a.len()].copy_from_slice(a);
            r.alens[i] = a.len() as u8;
        }
        r.naddrs = addrs.len() as u8;
        r
    }

    #[test]
    fn a_label_keeps_its_address_while_the_device_has_it() {
        let (v4, v4b) = (&[192, 0, 2, 2][..], &[192, 0, 2, 3][..]);
        let v6 = &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2][..];
        let mac = Who::Mac([2, 0, 0, 0, 0, 1]);
        // New: its first address (IPv4 first).
        assert_eq!(shown_addr(&row(mac, &[v4, v6]), &[]), v4);
        // Kept while it has it, whatever comes first now.
        assert_eq!(shown_addr(&row(mac, &[v4b, v4, v6]), v4), v4);
        // Its IPv4 connections quiet: still the IPv4 address.
        assert_eq!(shown_addr(&row(mac, &[v6]), v4), v4);
        // Another IPv4 address and not the old one: it moved.
        assert_eq!(shown_addr(&row(mac, &[v6, v4b]), v4), v4b);
        assert_eq!(shown_addr(&row(Who::Local, &[]), &[]), &[] as &[u8]);
    }

    /// The per-device series, time passed in: released when idle, the
    /// least recently active one given up for a new device when full.
    #[test]
    fn device_series_are_released_and_reused() {
        const S: u64 = 1_000_000_000;
        let id = |k: u128| (Who::Addr, k);
        let mut s = Series {
            v: Vec::with_capacity(2),
            max: 2,
        };
        let keys = |s: &Series| {
            (s.v.iter())
                .filter(|h| h.id != GONE)
                .map(|h| h.id.1)
                .collect::<Vec<_>>()
        };
        // Nothing moved: no series (the idle router holds no slot).
        assert_eq!(s.slot((Who::Local, 0), false, S), None);
        assert_eq!(s.slot(id(1), true, S), Some(0));
        assert_eq!(s.slot(id(2), true, 2 * S), Some(1));
        // Full, and both moved in this refresh: the third is `other`.
        assert_eq!(s.slot(id(1), true, 3 * S), Some(0));
        assert_eq!(s.slot(id(2), true, 3 * S), Some(1));
        assert_eq!(s.slot(id(3), true, 3 * S), None);
        // 1 moves on, 2 is quiet: 3 takes 2's slot, 2 is gone.
        assert_eq!(s.slot(id(1), true, 4 * S), Some(0));
        assert_eq!(s.slot(id(2), false, 4 * S), Some(1));
        assert_eq!(s.slot(id(3), true, 4 * S), Some(1));
        assert_eq!(keys(&s), [1, 3]);
        // A device seen but moving nothing keeps its series, and the
        // time since it last moved.
        assert_eq!(s.slot(id(3), false, 5 * S), Some(1));
        s.release(4 * S + IDLE_NS - 1);
        assert_eq!(keys(&s), [1, 3]);
        s.release(4 * S + IDLE_NS);
        assert!(keys(&s).is_empty(), "{:?}", keys(&s));
        // Released slots are taken again, nothing grows.
        assert_eq!(s.slot(id(4), true, 4 * S + IDLE_NS), Some(0));
        assert_eq!(s.slot(id(5), true, 4 * S + IDLE_NS), Some(1));
        assert_eq!(s.v.len(), 2);
        // No slots at all: everything is `other`.
        s = Series {
            v: Vec::new(),
            max: 0,
        };
        assert_eq!(s.slot(id(1), true, 6 * S), None);
    }
}
