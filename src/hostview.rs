//! The per-device view (`-H`, key `H`): one row per machine on the
//! network, which is a MAC address where the kernel's neighbour table
//! knows the address (a phone's IPv4 address and its IPv6 privacy
//! addresses are one row), else the address. The router itself is
//! `local`.
//!
//! Each connection counts for its local side as the connection view
//! defines it (view::direction): the LAN host that started it, the inside
//! host of a port forward, or the router for connections that end on it
//! or start from it. So every connection counts once, with its own tx and
//! rx, and the rows add up to the connection view's totals exactly.

use crate::flows::{Flow, Life, Spills};
use crate::route::{Net, LOCAL_IF};
use crate::vocab::SortCol;
use std::cmp::Ordering;

/// Devices kept; the rest are summed into one `other` row (counted).
pub const MAX_HOSTS: usize = 1024;
/// Addresses listed per device (more are counted, not listed).
pub const MAX_ADDRS: usize = 4;
const SLOTS: usize = 2048;

/// What a row is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Who {
    #[default]
    Local,
    Mac([u8; 6]),
    /// An address without a neighbour entry (IPv4-mapped key space).
    Addr,
    /// Devices beyond MAX_HOSTS.
    Other,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct HostRow {
    pub who: Who,
    pub key: u128,
    pub addrs: [[u8; 16]; MAX_ADDRS],
    pub alens: [u8; MAX_ADDRS],
    pub naddrs: u8,
    /// Addresses seen beyond MAX_ADDRS.
    pub more_addrs: bool,
    pub tx_bps: f64,
    pub rx_bps: f64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub conns: u32,
    /// The far end of its busiest connection (by sum rate).
    pub top: [u8; 16],
    pub top_len: u8,
    top_bps: f64,
}

impl HostRow {
    pub fn addrs(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.naddrs as usize).map(|i| &self.addrs[i][..self.alens[i] as usize])
    }

    pub fn sum_bps(&self) -> f64 {
        self.tx_bps + self.rx_bps
    }
}

/// A device's identity: what its row is keyed by.
pub type Id = (Who, u128);

/// Which device a flow counts for, and its far end.
pub struct Device {
    pub who: Who,
    pub key: u128,
    /// The device's address in this flow, and the far end's.
    pub addr: [u8; 16],
    pub far: [u8; 16],
}

impl Device {
    pub fn id(&self) -> Id {
        (self.who, self.key)
    }
}

/// The device of a flow: its local side (view::direction, derived
/// before), the router itself for connections that start or end on it.
pub fn device_of(f: &Flow, spills: &Spills, net: &Net) -> Device {
    let n = f.addr_len();
    let (src, dst) = spills.pair(f);
    let tx_orig = f.tx_is_orig();
    let router = f.loopback()
        || f.in_if == LOCAL_IF
        || f.out_if == LOCAL_IF
        || (f.in_if == 0 && (net.local.contains(&src[..n]) || net.local.contains(&dst[..n])));
    // For a port forward the inside host is the reply's source.
    let addr = if tx_orig { src } else { spills.reply_src(f) };
    let far = if tx_orig { dst } else { src };
    let (who, key) = if router {
        (Who::Local, 0)
    } else {
        match net.neigh.mac(&addr[..n]) {
            Some(mac) => (Who::Mac(mac), mac_key(&mac)),
            None => (Who::Addr, addr_key(&addr[..n])),
        }
    };
    Device {
        who,
        key,
        addr,
        far,
    }
}

pub struct Hosts {
    pub rows: Vec<HostRow>,
    /// Row + 1 per slot, 0 empty: open addressing by key.
    index: Vec<u16>,
    pub order: Vec<u32>,
    /// Connections of devices that did not fit, counted into the `other`
    /// row (which the table, -c/-M, JSON and the metrics all show).
    pub dropped: u32,
}

use crate::route::addrs::addr_key;

/// A MAC as a row key (rows keyed by MAC and by address are told apart by
/// `Who`, not by the key).
fn mac_key(m: &[u8; 6]) -> u128 {
    u128::from(u64::from_be_bytes([
        0, 0, m[0], m[1], m[2], m[3], m[4], m[5],
    ]))
}

impl Default for Hosts {
    fn default() -> Hosts {
        Hosts {
            rows: Vec::with_capacity(MAX_HOSTS + 1),
            index: vec![0; SLOTS],
            order: Vec::with_capacity(MAX_HOSTS + 1),
            dropped: 0,
        }
    }
}

impl Hosts {
    /// The row of `who`/`key`, created when new (or `other` when full).
    fn row(&mut self, who: Who, key: u128) -> &mut HostRow {
        let tag = match who {
            Who::Mac(_) => 1u128 << 127,
            _ => 0,
        };
        let h = ((key ^ tag) as u64 ^ (key >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut s = (h >> 53) as usize & (SLOTS - 1);
        loop {
            match self.index[s] {
                0 => break,
                r => {
                    let row = &self.rows[r as usize - 1];
                    if row.who == who && row.key == key {
                        return &mut self.rows[r as usize - 1];
                    }
                }
            }
            s = (s + 1) & (SLOTS - 1);
        }
        if self.rows.len() >= MAX_HOSTS {
            // Full: `other` is the row after the last device (never in the
            // index), so a table of many devices costs no search per flow.
            self.dropped += 1;
            if self.rows.len() == MAX_HOSTS {
                self.rows.push(HostRow {
                    who: Who::Other,
                    ..HostRow::default()
                });
            }
            return self.rows.last_mut().expect("other is there");
        }
        self.rows.push(HostRow {
            who,
            key,
            ..HostRow::default()
        });
        self.index[s] = self.rows.len() as u16;
        self.rows.last_mut().expect("pushed")
    }

    /// Groups every flow (as `View::all` counts them: the filter does not
    /// apply, so the totals are the connection view's) by its device.
    /// Directions must be derived (`View::derive`) first.
    pub fn build(&mut self, flows: &[Flow], spills: &Spills, net: &Net) {
        self.rows.clear();
        self.index.fill(0);
        self.dropped = 0;
        for f in flows {
            if f.life == Life::Departed {
                continue;
            }
            let d = device_of(f, spills, net);
            let n = f.addr_len();
            let r = self.row(d.who, d.key);
            r.tx_bps += f.tx_bps();
            r.rx_bps += f.rx_bps();
            r.tx_bytes += f.tx_bytes();
            r.rx_bytes += f.rx_bytes();
            r.conns += u32::from(f.life == Life::Live);
            if f.sum_bps() > r.top_bps || r.top_len == 0 {
                r.top_bps = f.sum_bps();
                r.top = d.far;
                r.top_len = n as u8;
            }
            if d.who != Who::Local && r.who != Who::Other {
                let have = r.addrs().any(|a| a == &d.addr[..n]);
                if !have && (r.naddrs as usize) < MAX_ADDRS {
                    // IPv4 first: the address a device is shown by (and
                    // its metrics labelled with) does not depend on which
                    // of its connections came first.
                    let i = if n == 4 { 0 } else { r.naddrs as usize };
                    let k = r.naddrs as usize;
                    r.addrs.copy_within(i..k, i + 1);
                    r.alens.copy_within(i..k, i + 1);
                    r.addrs[i] = d.addr;
                    r.alens[i] = n as u8;
                    r.naddrs += 1;
                } else if !have {
                    r.more_addrs = true;
                }
            }
        }
    }

    /// The row of a device by its identity, if it has one now.
    pub fn find(&self, id: Id) -> Option<&HostRow> {
        self.rows.iter().find(|r| r.who == id.0 && r.key == id.1)
    }

    /// Orders the rows by the connection view's sort column where it
    /// applies to a device (tx, rx, sum; the others sort by sum).
    pub fn order(&mut self, sort: SortCol, ascending: bool) {
        self.order.clear();
        self.order.extend(0..self.rows.len() as u32);
        let rows = &self.rows;
        let v = |r: &HostRow| match sort {
            SortCol::Tx => r.tx_bps,
            SortCol::Rx => r.rx_bps,
            _ => r.sum_bps(),
        };
        let cmp = |a: &u32, b: &u32| {
            let (x, y) = (&rows[*a as usize], &rows[*b as usize]);
            let o = v(x).partial_cmp(&v(y)).unwrap_or(Ordering::Equal);
            let o = if ascending { o } else { o.reverse() };
            // Ties: a stable order between refreshes.
            o.then(x.key.cmp(&y.key))
        };
        crate::vocab::sort_indices(&mut self.order, &cmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::{Conn, Tuple};
    use crate::flows::FlowTable;

    /// Past MAX_HOSTS devices the rest is one `other` row, last; every
    /// connection still counts once.
    #[test]
    fn devices_past_the_bound_are_one_other_row() {
        let n = MAX_HOSTS + 100;
        let mut t = FlowTable::new(2 * n, 1);
        t.begin();
        for i in 0..n as u32 {
            let a = |x: u32| {
                let mut v = [0u8; 16];
                v[..4].copy_from_slice(&(0x0a00_0000 | x).to_be_bytes());
                v
            };
            let o = Tuple {
                src: a(2 * i),
                dst: a(2 * i + 1),
                sport: 1000,
                dport: 53,
                proto: 17,
            };
            let c = Conn {
                family: 4,
                id: i + 1,
                orig: o,
                reply: Tuple {
                    src: o.dst,
                    dst: o.src,
                    sport: 53,
                    dport: 1000,
                    proto: 17,
                },
                has_counters: true,
                start: 1,
                ..Conn::default()
            };
            t.observe(&c);
        }
        t.finish(1, 1);
        let mut h = Hosts::default();
        h.build(t.flows(), t.spills(), &Net::new());
        assert_eq!(h.rows.len(), MAX_HOSTS + 1);
        assert_eq!(h.rows[MAX_HOSTS].who, Who::Other);
        assert_eq!(h.rows[MAX_HOSTS].conns, 100);
        assert_eq!(h.dropped, 100);
        let conns: u32 = h.rows.iter().map(|r| r.conns).sum();
        assert_eq!(conns as usize, n);
        assert!(h.rows[..MAX_HOSTS]
            .iter()
            .all(|r| r.who == Who::Addr && r.conns == 1));
    }
}
