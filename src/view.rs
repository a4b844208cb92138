//! What is shown: direction (tx/rx from the local side), filters, sort,
//! top-N and totals. Works on the flow table by index; the row buffer is
//! sized once to the table's capacity.
//!
//! Direction rule (docs/numbers.md, "Direction"): tx is what the local side sends.
//! The local side is the initiator of the connection (a LAN host or the
//! router itself) unless the connection terminates on the router: when the
//! original destination is one of the router's own addresses (a service
//! on the router, or a port forward to its public address) the router (or
//! the inside host behind the port forward) is the local side, and tx is
//! the reply direction.

use crate::cli::Config;
use crate::flows::{Flow, Life, RateState, Spills};
use crate::names::Names;
use crate::route::{Link, Links, LocalAddrs, Net, LOCAL_IF};
use crate::vocab::{sort_indices, SortCol};
use std::cmp::Ordering;

/// Per-row facts for the renderers, computed from a flow on demand.
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
    /// Ingress / egress interface index (0 = unknown, see route/).
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
    pub in_if: Option<crate::route::IfMatch>,
    pub out_if: Option<crate::route::IfMatch>,
    pub sort: SortCol,
    pub ascending: bool,
    /// `-f` / `/` (filter.rs).
    pub expr: Option<crate::filter::Expr>,
    /// Enter on a row of the per-device view: only that device's
    /// connections (hostview::device_of).
    pub device: Option<crate::hostview::Id>,
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
            expr: c.filter.clone(),
            device: None,
        }
    }
}

pub struct View {
    /// Indices into the flow table of the shown rows, sorted.
    pub shown: Vec<u32>,
    /// The per-interface table, built with the rows.
    pub devices: Devices,
    pub all: Totals,
    pub visible: Totals,
    /// Rows that pass the filter (before the page is cut).
    pub matched: usize,
    /// The order's position of `shown[0]` (the page's first row).
    pub first: usize,
    now_mono: u64,
    now_real: u64,
}

/// Which side is local, and whether the connection is on loopback.
///
/// With interfaces known (route/): a connection that ends on the router
/// has the router as its local side (tx = reply); one the router starts,
/// the router (tx = original); a forwarded one that entered through an
/// uplink was started from outside (a port forward, or inbound IPv6 to a
/// LAN host: tx = reply); any other was started inside (tx = original).
/// Loopback: either interface has the kernel's loopback flag. Without
/// interfaces, the same rule from the router's own addresses.
pub fn direction(f: &Flow, spills: &Spills, local: &LocalAddrs, links: &Links) -> (bool, bool) {
    let ends = [links.get(f.in_if), links.get(f.out_if)];
    direction_at(f, spills, local, links, ends)
}

/// `direction` with the flow's ingress and egress links (`Links::get`)
/// already looked up: derive has their rows from the device table.
fn direction_at(
    f: &Flow,
    spills: &Spills,
    local: &LocalAddrs,
    links: &Links,
    [lin, lout]: [Option<&Link>; 2],
) -> (bool, bool) {
    let loop_if = lin.is_some_and(|l| l.loopback) || lout.is_some_and(|l| l.loopback);
    if f.out_if == LOCAL_IF {
        return (f.in_if == LOCAL_IF, loop_if || f.in_if == LOCAL_IF);
    }
    if f.in_if == LOCAL_IF {
        return (true, loop_if);
    }
    if f.in_if != 0 {
        // A multipath set is no link: `is_uplink` asks its members.
        return (
            !lin.map_or_else(|| links.is_uplink(f.in_if), |l| l.uplink),
            loop_if,
        );
    }
    let n = f.addr_len();
    let src_local = local.contains(&spills.pair(f).0[..n]);
    let dst_local = local.contains(&spills.reply_src(f)[..n]);
    (src_local || !dst_local, src_local && dst_local)
}

/// `links.get(ifi)` from the device table's row of `ifi` (the links'
/// position, or the `local` row past them); only a link not present is
/// searched for (a gone one). Neither 0 nor LOCAL_IF is a link.
fn link_at(links: &Links, ifi: u32, row: Option<usize>) -> Option<&Link> {
    match row {
        Some(k) => links.all().get(k),
        None if ifi == 0 => None,
        None => links.get(ifi),
    }
}

fn age(f: &Flow, now_mono: u64, now_real: u64) -> (u64, bool) {
    let start = f.kernel_start();
    if start != 0 && now_real > start {
        (now_real - start, true)
    } else {
        (now_mono.saturating_sub(f.mono_start()), false)
    }
}

impl View {
    pub fn new(capacity: usize) -> View {
        View {
            shown: Vec::with_capacity(capacity),
            devices: Devices::new(),
            all: Totals::default(),
            visible: Totals::default(),
            matched: 0,
            first: 0,
            now_mono: 0,
            now_real: 0,
        }
    }

    /// The renderers' view of one flow.
    pub fn meta(&self, f: &Flow) -> Meta {
        let (age_ns, age_kernel) = age(f, self.now_mono, self.now_real);
        Meta {
            tx_bps: f.tx_bps(),
            rx_bps: f.rx_bps(),
            tx_bytes: f.tx_bytes(),
            rx_bytes: f.rx_bytes(),
            tx_is_orig: f.tx_is_orig(),
            loopback: f.loopback(),
            in_if: f.in_if,
            out_if: f.out_if,
            age_ns,
            age_kernel,
        }
    }

    /// Derives direction for every flow (interfaces come from route/),
    /// totals, then the shown rows. `limit` keeps only the top N rows
    /// (screen mode).
    pub fn build(
        &mut self,
        flows: (&mut [Flow], &Spills),
        net: &Net,
        names: &Names,
        f: &Filter,
        now: (u64, u64),
        limit: Option<usize>,
    ) {
        self.derive((&mut *flows.0, flows.1), net, names, f, now, None);
        self.order(flows.0, &net.links, f, limit.map(|n| (0, n)));
    }

    /// One pass over the flows: each one's direction, the totals, the rows
    /// that pass the filter (unordered), the device table, and `all`, a
    /// device table of every flow whatever the filter (the attribution
    /// self-check's), so that no other pass walks the table.
    pub fn derive(
        &mut self,
        (flows, spills): (&mut [Flow], &Spills),
        net: &Net,
        names: &Names,
        f: &Filter,
        (now_mono, now_real): (u64, u64),
        mut all: Option<&mut Devices>,
    ) {
        let (local, links) = (&net.local, &net.links);
        self.now_mono = now_mono;
        self.now_real = now_real;
        self.shown.clear();
        self.all = Totals::default();
        self.visible = Totals::default();
        self.devices.begin(links);
        if let Some(d) = all.as_deref_mut() {
            d.begin(links);
        }
        // The last flow's interfaces and what they gave: most flows of a
        // router share their pair with the one before (callgrind at 100k
        // entries: 45 instructions a flow of a steady refresh's 886).
        let mut last = None;
        for (i, fl) in flows.iter_mut().enumerate() {
            if fl.life == Life::Departed {
                continue;
            }
            // Both tables have a row per link in the same order: the
            // flow's rows are looked up once for the two, and give
            // `direction` its links.
            let pair = (fl.in_if, fl.out_if);
            let (rows, lin, lout) = match last {
                Some((p, got)) if p == pair => got,
                _ => {
                    let rows = self.devices.rows_of(fl, links);
                    let lin = link_at(links, fl.in_if, rows.0);
                    let lout = match fl.out_if == fl.in_if {
                        true => lin,
                        false => link_at(links, fl.out_if, rows.1),
                    };
                    last = Some((pair, (rows, lin, lout)));
                    (rows, lin, lout)
                }
            };
            let (tx_is_orig, loopback) = direction_at(fl, spills, local, links, [lin, lout]);
            fl.set_direction(tx_is_orig, loopback);
            // Ended connections add their last bytes, not a connection.
            self.all.conns += usize::from(fl.life == Life::Live);
            self.all.tx_bps += fl.tx_bps();
            self.all.rx_bps += fl.rx_bps();
            if (fl.is_v6() && !f.ipv6) || (!fl.is_v6() && !f.ipv4) || (loopback && !f.loopback) {
                // `all` takes the rest from the device table at the end:
                // one add per flow, not two (callgrind at 100k entries:
                // 41 of a steady refresh's 1,243 instructions an entry).
                if let Some(d) = all.as_deref_mut() {
                    d.add(fl, rows);
                }
                continue;
            }
            // The device table accounts for all traffic: family and
            // loopback filters only, not the threshold or the expression.
            self.devices.add(fl, rows);
            if let Some(id) = f.device {
                if crate::hostview::device_of(fl, spills, net).id() != id {
                    continue;
                }
            }
            if passes(fl, spills, f, links, names, now_mono / 1_000_000_000) {
                self.shown.push(i as u32);
            }
        }
        self.matched = self.shown.len();
        if let Some(d) = all {
            d.absorb(&self.devices);
            d.finish();
        }
        self.devices.finish();
    }

    /// Sorts the rows `derive` kept; `window` (first, count) keeps only
    /// those rows of the order (the screen's page), `None` all of them.
    pub fn order(
        &mut self,
        flows: &[Flow],
        links: &Links,
        f: &Filter,
        window: Option<(usize, usize)>,
    ) {
        let now = (self.now_mono, self.now_real);
        let cmp =
            |a: &u32, b: &u32| compare(&flows[*a as usize], &flows[*b as usize], f, links, now);
        let (first, n) = window.unwrap_or((0, usize::MAX));
        let first = first.min(self.shown.len());
        let end = first.saturating_add(n);
        if end == 0 {
            self.shown.clear();
        } else if end < self.shown.len() {
            self.shown.select_nth_unstable_by(end - 1, cmp);
            self.shown.truncate(end);
        }
        sort_indices(&mut self.shown, &cmp);
        // Rows above the page are not drawn: gone from the list.
        self.shown.drain(..first);
        self.first = first;
        // What the header calls "shown": the rows kept, the page.
        self.visible = Totals::default();
        for &i in &self.shown {
            let fl = &flows[i as usize];
            self.visible.conns += 1;
            self.visible.tx_bps += fl.tx_bps();
            self.visible.rx_bps += fl.rx_bps();
        }
    }

    /// Where flow `idx` falls in the order `order` gives (rows before it),
    /// or None when the filter does not keep it. One pass: the page is
    /// found without sorting the rows above it.
    pub fn rank(&self, flows: &[Flow], links: &Links, f: &Filter, idx: u32) -> Option<usize> {
        let now = (self.now_mono, self.now_real);
        let me = &flows[*self.shown.iter().find(|&&i| i == idx)? as usize];
        Some(
            self.shown
                .iter()
                .filter(|&&i| compare(&flows[i as usize], me, f, links, now) == Ordering::Less)
                .count(),
        )
    }
}

fn passes(
    fl: &Flow,
    spills: &Spills,
    f: &Filter,
    links: &Links,
    names: &Names,
    now_s: u64,
) -> bool {
    // Family and loopback: decided by the caller (derive).
    let sum = fl.sum_bps();
    let closed = fl.life == Life::Closed;
    match f.threshold {
        // Recently closed rows stay visible (--linger) unless an explicit
        // threshold asks for busy connections only.
        None if closed => {}
        None => {
            if fl.rate() == RateState::Unknown || sum <= 0.0 {
                return false;
            }
        }
        Some(t) => {
            if t > 0 && (fl.rate() == RateState::Unknown || sum < t as f64) {
                return false;
            }
        }
    }
    if let Some(want) = &f.in_if {
        if !links.name(fl.in_if).is_some_and(|n| want.matches(n)) {
            return false;
        }
    }
    if let Some(want) = &f.out_if {
        if !links.name(fl.out_if).is_some_and(|n| want.matches(n)) {
            return false;
        }
    }
    if let Some(e) = &f.expr {
        if !e.matches(fl, &spills.conn(fl), links, names, now_s) {
            return false;
        }
    }
    true
}

fn compare(a: &Flow, b: &Flow, f: &Filter, links: &Links, now: (u64, u64)) -> Ordering {
    let fcmp = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    let o = match f.sort {
        SortCol::Id => a.id.cmp(&b.id),
        SortCol::In => links
            .name(a.in_if)
            .unwrap_or("")
            .cmp(links.name(b.in_if).unwrap_or("")),
        SortCol::Out => links
            .name(a.out_if)
            .unwrap_or("")
            .cmp(links.name(b.out_if).unwrap_or("")),
        SortCol::Sport => a.sport().cmp(&b.sport()),
        SortCol::Dport => a.dport().cmp(&b.dport()),
        SortCol::Rx => fcmp(a.rx_bps(), b.rx_bps()),
        SortCol::Tx => fcmp(a.tx_bps(), b.tx_bps()),
        SortCol::Sum => fcmp(a.sum_bps(), b.sum_bps()),
        SortCol::Age => age(a, now.0, now.1).0.cmp(&age(b, now.0, now.1).0),
        SortCol::Proto => a.proto.cmp(&b.proto),
    };
    let o = if f.ascending { o } else { o.reverse() };
    // Ties: by id, so rows do not jump between refreshes.
    o.then(a.id.cmp(&b.id))
}

/// One row of the device table: traffic through an interface as seen in
/// conntrack, relative to the interface (bytes leaving through it are its
/// tx, bytes entering its rx), and the interface's own counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevRow {
    /// Interface index, or LOCAL_IF for the router itself.
    pub ifindex: u32,
    pub tx_bps: f64,
    pub rx_bps: f64,
    pub conns: u32,
    /// Offloaded connections counted here (their counters may be frozen
    /// or catch up in jumps).
    pub offloaded: u32,
}

/// The per-interface table (`-d`, key `d`, JSON "dev" objects).
pub struct Devices {
    /// Parallel to `Links::all()`, plus one last row for `local`.
    pub rows: Vec<DevRow>,
    /// Row indices sorted by sum, descending.
    pub order: Vec<u32>,
}

impl Devices {
    pub fn new() -> Devices {
        Devices {
            // Grows with the link table (only after a link change).
            rows: Vec::with_capacity(64),
            order: Vec::with_capacity(64),
        }
    }

    /// Starts a table: a zero row per link, and `local` last.
    pub fn begin(&mut self, links: &Links) {
        self.rows.clear();
        for l in links.all() {
            self.rows.push(DevRow {
                ifindex: l.index,
                ..DevRow::default()
            });
        }
        self.rows.push(DevRow {
            ifindex: LOCAL_IF,
            ..DevRow::default()
        });
    }

    fn row(&self, ifi: u32, links: &Links) -> Option<usize> {
        if ifi == LOCAL_IF {
            Some(self.rows.len() - 1)
        } else {
            links.position(ifi)
        }
    }

    /// The rows of a flow's ingress and egress interfaces (no egress row
    /// when it is the ingress one), for `add` on any table begun with the
    /// same links.
    pub fn rows_of(&self, fl: &Flow, links: &Links) -> (Option<usize>, Option<usize>) {
        let out = (fl.out_if != fl.in_if)
            .then(|| self.row(fl.out_if, links))
            .flatten();
        (self.row(fl.in_if, links), out)
    }

    /// Adds one flow (not a departed one) at its `rows_of`. A connection
    /// from A to B puts its original-direction bytes on A's rx and B's
    /// tx, its reply bytes on B's rx and A's tx.
    #[inline]
    pub fn add(&mut self, fl: &Flow, (rin, rout): (Option<usize>, Option<usize>)) {
        // A closed connection's last bytes count; it is no longer a
        // connection of the interface.
        let live = u32::from(fl.life != Life::Closed);
        let (o, r) = (fl.orig_bps as f64, fl.reply_bps as f64);
        let off = u32::from(fl.offloaded());
        if let Some(k) = rin {
            let d = &mut self.rows[k];
            d.rx_bps += o;
            d.tx_bps += r;
            d.conns += live;
            d.offloaded += off;
        }
        if let Some(k) = rout {
            let d = &mut self.rows[k];
            d.tx_bps += o;
            d.rx_bps += r;
            d.conns += live;
            d.offloaded += off;
        }
    }

    /// Adds `other`'s rows to this table's (both begun with the same
    /// links).
    fn absorb(&mut self, other: &Devices) {
        debug_assert_eq!(self.rows.len(), other.rows.len());
        for (d, o) in self.rows.iter_mut().zip(&other.rows) {
            d.tx_bps += o.tx_bps;
            d.rx_bps += o.rx_bps;
            d.conns += o.conns;
            d.offloaded += o.offloaded;
        }
    }

    /// Orders the rows by sum, descending.
    pub fn finish(&mut self) {
        self.order.clear();
        self.order.extend(0..self.rows.len() as u32);
        let rows = &self.rows;
        sort_indices(&mut self.order, &|&a, &b| {
            let (x, y) = (&rows[a as usize], &rows[b as usize]);
            (y.tx_bps + y.rx_bps)
                .partial_cmp(&(x.tx_bps + x.rx_bps))
                .unwrap_or(Ordering::Equal)
                .then(x.ifindex.cmp(&y.ifindex))
        });
    }
}

impl Default for Devices {
    fn default() -> Self {
        Self::new()
    }
}
