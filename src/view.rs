//! What is shown: direction (tx/rx from the local side), filters, sort,
//! top-N and totals. Works on the flow table by index; every buffer is
//! sized once to the table's capacity.
//!
//! Direction rule (README "Direction"): tx is what the local side sends.
//! The local side is the initiator of the connection (a LAN host or the
//! router itself) unless the connection terminates on the router: when the
//! original destination is one of the router's own addresses (a service
//! on the router, or a port forward to its public address) the router (or
//! the inside host behind the port forward) is the local side, and tx is
//! the reply direction.

use crate::cli::{Config, SortCol};
use crate::conntrack::Conn;
use crate::flows::{Flow, RateState};
use crate::route::{Links, LocalAddrs, Net};
use std::cmp::Ordering;

/// Per-flow facts derived each refresh, parallel to the flow table.
#[derive(Clone, Copy, Default, Debug)]
pub struct Meta {
    pub tx_bps: f64,
    pub rx_bps: f64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// tx is the original direction.
    pub tx_is_orig: bool,
    /// Both ends are the router itself.
    pub loopback: bool,
    /// Ingress / egress interface index (0 = unknown, see route.rs).
    pub in_if: u32,
    pub out_if: u32,
    /// Age in ns, and whether it comes from the kernel timestamp.
    pub age_ns: u64,
    pub age_kernel: bool,
}

#[derive(Clone, Copy, Default, Debug)]
pub struct Totals {
    pub conns: usize,
    pub tx_bps: f64,
    pub rx_bps: f64,
}

/// Options the view needs; a subset of `Config` that keys can change.
#[derive(Clone, Debug)]
pub struct Filter {
    pub ipv4: bool,
    pub ipv6: bool,
    pub loopback: bool,
    pub threshold: Option<u64>,
    pub in_if: Option<crate::cli::IfMatch>,
    pub out_if: Option<crate::cli::IfMatch>,
    pub sort: SortCol,
    pub ascending: bool,
}

impl Filter {
    pub fn from_config(c: &Config) -> Filter {
        Filter {
            ipv4: c.ipv4,
            ipv6: c.ipv6,
            loopback: c.loopback,
            threshold: c.threshold,
            in_if: c.in_if.clone(),
            out_if: c.out_if.clone(),
            sort: c.sort,
            ascending: c.ascending,
        }
    }
}

pub struct View {
    pub meta: Vec<Meta>,
    /// Indices into the flow table of the shown rows, sorted.
    pub shown: Vec<u32>,
    pub all: Totals,
    pub visible: Totals,
    /// Rows that pass the filter (before top-N).
    pub matched: usize,
}

/// Which side is local: see the module doc.
pub fn tx_is_orig(c: &Conn, local: &LocalAddrs) -> bool {
    let n = c.addr_len();
    local.contains(&c.orig.src[..n]) || !local.contains(&c.orig.dst[..n])
}

impl View {
    pub fn new(capacity: usize) -> View {
        View {
            meta: Vec::with_capacity(capacity),
            shown: Vec::with_capacity(capacity),
            all: Totals::default(),
            visible: Totals::default(),
            matched: 0,
        }
    }

    /// Recomputes direction and totals for every flow, then the shown rows.
    /// `links` names interfaces for the -i/-o filters and the in/out sort;
    /// `attribute` gives a connection's (ingress, egress) interface;
    /// `limit` keeps only the top N rows (screen mode).
    pub fn build(
        &mut self,
        flows: &[Flow],
        net: &Net,
        f: &Filter,
        (now_mono, now_real): (u64, u64),
        attribute: &mut dyn FnMut(&Conn) -> (u32, u32),
        limit: Option<usize>,
    ) {
        let (local, links) = (&net.local, &net.links);
        self.meta.clear();
        self.shown.clear();
        self.all = Totals::default();
        self.visible = Totals::default();
        for (i, fl) in flows.iter().enumerate() {
            let c = &fl.conn;
            let orig = tx_is_orig(c, local);
            let n = c.addr_len();
            let loopback = local.contains(&c.orig.src[..n]) && local.contains(&c.orig.dst[..n]);
            let (tx_bps, rx_bps) = if orig {
                (fl.orig_bps, fl.reply_bps)
            } else {
                (fl.reply_bps, fl.orig_bps)
            };
            let (tx_bytes, rx_bytes) = if orig {
                (c.orig_bytes, c.reply_bytes)
            } else {
                (c.reply_bytes, c.orig_bytes)
            };
            let (age_ns, age_kernel) = if c.start != 0 && now_real > c.start {
                (now_real - c.start, true)
            } else {
                (now_mono.saturating_sub(fl.first_seen), false)
            };
            let (in_if, out_if) = attribute(c);
            let m = Meta {
                tx_bps,
                rx_bps,
                tx_bytes,
                rx_bytes,
                tx_is_orig: orig,
                loopback,
                in_if,
                out_if,
                age_ns,
                age_kernel,
            };
            self.meta.push(m);
            self.all.conns += 1;
            self.all.tx_bps += tx_bps;
            self.all.rx_bps += rx_bps;
            if !Self::passes(fl, &m, f, links) {
                continue;
            }
            self.shown.push(i as u32);
            self.visible.conns += 1;
            self.visible.tx_bps += tx_bps;
            self.visible.rx_bps += rx_bps;
        }
        self.matched = self.shown.len();
        let (meta, ff) = (&self.meta, flows);
        let cmp = |a: &u32, b: &u32| compare(ff, meta, f, links, *a as usize, *b as usize);
        match limit {
            Some(n) if n < self.shown.len() => {
                if n == 0 {
                    self.shown.clear();
                } else {
                    self.shown.select_nth_unstable_by(n - 1, cmp);
                    self.shown.truncate(n);
                    self.shown.sort_unstable_by(cmp);
                }
            }
            _ => self.shown.sort_unstable_by(cmp),
        }
    }

    fn passes(fl: &Flow, m: &Meta, f: &Filter, links: &Links) -> bool {
        let c = &fl.conn;
        if (c.family == 4 && !f.ipv4) || (c.family == 6 && !f.ipv6) {
            return false;
        }
        if m.loopback && !f.loopback {
            return false;
        }
        let sum = m.tx_bps + m.rx_bps;
        match f.threshold {
            None => {
                if fl.rate == RateState::Unknown || sum <= 0.0 {
                    return false;
                }
            }
            Some(t) => {
                if t > 0 && (fl.rate == RateState::Unknown || sum < t as f64) {
                    return false;
                }
            }
        }
        if let Some(want) = &f.in_if {
            if !links.name(m.in_if).is_some_and(|n| want.matches(n)) {
                return false;
            }
        }
        if let Some(want) = &f.out_if {
            if !links.name(m.out_if).is_some_and(|n| want.matches(n)) {
                return false;
            }
        }
        true
    }
}

fn compare(
    flows: &[Flow],
    meta: &[Meta],
    f: &Filter,
    links: &Links,
    a: usize,
    b: usize,
) -> Ordering {
    let (fa, fb) = (&flows[a].conn, &flows[b].conn);
    let (ma, mb) = (&meta[a], &meta[b]);
    let fcmp = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    let o = match f.sort {
        SortCol::Id => fa.id.cmp(&fb.id),
        SortCol::In => links
            .name(ma.in_if)
            .unwrap_or("")
            .cmp(links.name(mb.in_if).unwrap_or("")),
        SortCol::Out => links
            .name(ma.out_if)
            .unwrap_or("")
            .cmp(links.name(mb.out_if).unwrap_or("")),
        SortCol::Sport => fa.orig.sport.cmp(&fb.orig.sport),
        SortCol::Dport => fa.orig.dport.cmp(&fb.orig.dport),
        SortCol::Rx => fcmp(ma.rx_bps, mb.rx_bps),
        SortCol::Tx => fcmp(ma.tx_bps, mb.tx_bps),
        SortCol::Sum => fcmp(ma.tx_bps + ma.rx_bps, mb.tx_bps + mb.rx_bps),
        SortCol::Age => ma.age_ns.cmp(&mb.age_ns),
        SortCol::Proto => fa.orig.proto.cmp(&fb.orig.proto),
    };
    let o = if f.ascending { o } else { o.reverse() };
    // Ties: by id, so rows do not jump between refreshes.
    o.then(fa.id.cmp(&fb.id))
}
