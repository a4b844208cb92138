//! Health findings: what makes the numbers incomplete or wrong right now,
//! each with its fix (shown in the header and in JSON ticks): the
//! findings, their texts, and the pure functions of counters that raise
//! them, so every finding is testable without a kernel.

use crate::flows::Offloaded;
use crate::infile::Refusal;
use crate::line::{fmt_scaled, Line};
use crate::route::Links;
use crate::view::DevRow;
use std::fmt::Write as _;

/// Everything the findings are computed from, for one refresh.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inputs {
    /// net.netfilter.nf_conntrack_acct is on.
    pub acct_on: bool,
    /// Entries without counters in the last dump.
    pub no_counters: u32,
    /// Entries in the last dump.
    pub entries: u32,
    /// Entries the flow table had no room for.
    pub table_dropped: u64,
    /// Counters were zeroed in the last minute: the seconds seen between
    /// the last two zeroings (0: not known yet).
    pub recent_resets: Option<u32>,
    /// The age column is on and some entries lack kernel timestamps.
    pub ages_estimated: bool,
    /// Offloaded entries (OFFLOAD / HW_OFFLOAD status), by kind, and
    /// those whose counters were frozen.
    pub offloaded: Offloaded,
    pub dump_interrupted: bool,
    pub malformed: u32,
    pub ct_count: u64,
    pub ct_max: u64,
    /// The kernel's conntrack drop counters (drop + early_drop).
    pub ct_drops: u64,
    /// Events are read (not --no-events) and enabled in the kernel.
    pub events_on: bool,
    /// Event overflows in the last minute (total since start).
    pub recent_event_loss: Option<u64>,
    /// Connections left the table without any DESTROY event ever arriving.
    pub events_silent: bool,
    /// Links and addresses left out at nftop's bounds.
    pub links_dropped: u32,
    pub addrs_dropped: u32,
    /// Hosts and leases entries left out at nftop's bounds.
    pub hosts_dropped: u32,
    pub leases_dropped: u32,
    /// Names files (names::FILES order) there but refused, and why.
    pub refused: [Option<Refusal>; 3],
}

pub fn compute(i: &Inputs, w: &mut Warnings) {
    w.clear();
    if !i.acct_on {
        w.push(Warning::AcctOff);
    }
    if i.no_counters > 0 {
        w.push(Warning::NoCounters(i.no_counters));
    }
    if i.entries == 0 {
        w.push(Warning::EmptyTable);
    }
    if i.table_dropped > 0 {
        w.push(Warning::FlowTableFull(i.table_dropped));
    }
    if let Some(p) = i.recent_resets {
        w.push(Warning::Resets(p));
    }
    if i.ages_estimated {
        w.push(Warning::NoTimestamps);
    }
    if i.offloaded.any() > 0 {
        w.push(Warning::Offload(i.offloaded));
    }
    if !i.events_on {
        w.push(Warning::EventsOff);
    }
    if let Some(n) = i.recent_event_loss {
        w.push(Warning::EventsLost(n));
    }
    if i.events_on && i.events_silent {
        w.push(Warning::EventsSilent);
    }
    if i.dump_interrupted {
        w.push(Warning::Interrupted);
    }
    if i.malformed > 0 {
        w.push(Warning::Malformed(i.malformed));
    }
    if i.links_dropped > 0 || i.addrs_dropped > 0 {
        w.push(Warning::LinksDropped(i.links_dropped, i.addrs_dropped));
    }
    if i.hosts_dropped > 0 || i.leases_dropped > 0 {
        w.push(Warning::NamesDropped(i.hosts_dropped, i.leases_dropped));
    }
    for (k, r) in i.refused.iter().enumerate() {
        if let Some(r) = *r {
            w.push(Warning::FileRefused(k as u8, r));
        }
    }
    if i.ct_max > 0 && i.ct_count * 10 >= i.ct_max * 9 {
        w.push(Warning::CtNearFull(i.ct_count, i.ct_max, i.ct_drops));
    }
}

/// Health findings shown in the header and in JSON ticks, each naming its
/// fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    NoCounters(u32),
    AcctOff,
    EmptyTable,
    FlowTableFull(u64),
    /// Another program zeroes the counters: the seconds between zeroings
    /// (0: not known yet).
    Resets(u32),
    NoTimestamps,
    /// Which offload case applies (`offload_text`).
    Offload(Offloaded),
    Interrupted,
    Malformed(u32),
    CtNearFull(u64, u64, u64),
    EventsLost(u64),
    EventsOff,
    EventsSilent,
    /// Conntrack puts more on an interface than its link carried:
    /// (interface name, its length, tx (else rx), conntrack bits/s, link
    /// bits/s).
    Mismatch([u8; 16], u8, bool, u64, u64),
    /// Links and addresses beyond nftop's bounds, left out.
    LinksDropped(u32, u32),
    /// Hosts and leases entries beyond nftop's bounds, left out.
    NamesDropped(u32, u32),
    /// A names file (index into names::FILES) not read, and why.
    FileRefused(u8, Refusal),
}

impl Warning {
    pub fn code(&self) -> &'static str {
        match self {
            Warning::NoCounters(_) => "no_counters",
            Warning::AcctOff => "acct_off",
            Warning::EmptyTable => "empty_table",
            Warning::FlowTableFull(_) => "flow_table_full",
            Warning::Resets(_) => "counter_reset",
            Warning::NoTimestamps => "no_timestamps",
            Warning::Offload(_) => "offload",
            Warning::Interrupted => "dump_interrupted",
            Warning::Malformed(_) => "malformed",
            Warning::CtNearFull(..) => "conntrack_near_full",
            Warning::EventsLost(_) => "events_lost",
            Warning::EventsOff => "events_off",
            Warning::EventsSilent => "events_silent",
            Warning::Mismatch(..) => "attribution_mismatch",
            Warning::LinksDropped(..) => "links_dropped",
            Warning::NamesDropped(..) => "names_dropped",
            Warning::FileRefused(..) => "file_refused",
        }
    }

    pub fn message(&self, out: &mut Line) {
        let _ = match *self {
            Warning::NoCounters(n) => write!(
                out,
                "{n} connections have no byte counters: sysctl -w net.netfilter.nf_conntrack_acct=1 (only new connections get counters)"
            ),
            Warning::AcctOff => write!(
                out,
                "accounting is off: sysctl -w net.netfilter.nf_conntrack_acct=1 (only new connections get counters)"
            ),
            Warning::EmptyTable => write!(
                out,
                "conntrack table is empty: nothing is tracked until a firewall rule uses conntrack (nft ct state, NAT) in this network namespace"
            ),
            Warning::FlowTableFull(n) => write!(
                out,
                "nftop flow table full: {n} connections not shown (raise --capacity)"
            ),
            Warning::Resets(p) => {
                out.push_str("nlbwmon (or another program) zeroes conntrack counters");
                if p > 0 {
                    let _ = write!(out, " every ~{p} s");
                }
                write!(out, ": rates estimated across resets")
            }
            Warning::NoTimestamps => write!(
                out,
                "ages are nftop's first-seen times (marked >): sysctl -w net.netfilter.nf_conntrack_timestamp=1 for true ages of new connections"
            ),
            Warning::Offload(n) => {
                offload_text(out, n);
                Ok(())
            }
            Warning::Interrupted => write!(
                out,
                "the table changed during the dump: some rows may be missing this refresh"
            ),
            Warning::Malformed(n) => write!(out, "{n} malformed conntrack messages skipped"),
            Warning::CtNearFull(c, m, d) => write!(
                out,
                "conntrack table {c}/{m} nearly full ({d} dropped by the kernel): raise net.netfilter.nf_conntrack_max"
            ),
            Warning::EventsLost(n) => write!(
                out,
                "{n} conntrack event overflows: connections that ended in a burst may be missing from totals; raise net.core.rmem_max"
            ),
            Warning::EventsOff => write!(
                out,
                "conntrack events are off: totals miss connections that end between refreshes (sysctl -w net.netfilter.nf_conntrack_events=1)"
            ),
            Warning::Mismatch(name, len, tx, ct, link) => {
                let name = std::str::from_utf8(&name[..len as usize]).unwrap_or("?");
                let dir = if tx { "tx" } else { "rx" };
                let _ = write!(out, "conntrack counts {dir} ");
                fmt_scaled(out, ct as f64, false, "bps");
                let _ = write!(out, " on {name} but the link carried ");
                fmt_scaled(out, link as f64, false, "bps");
                write!(
                    out,
                    ": some connections' interfaces are wrong (asymmetric routing or a wrong --wan; README Interfaces)"
                )
            }
            Warning::LinksDropped(l, a) => write!(
                out,
                "{l} links and {a} addresses beyond nftop's limits are left out: their traffic is shown without interface names"
            ),
            Warning::NamesDropped(h, l) => write!(
                out,
                "{h} hosts entries and {l} leases beyond nftop's limits (8192, 4096 in 512 KiB) are left out: those addresses show without names"
            ),
            Warning::FileRefused(k, r) => {
                let file = crate::names::FILES.get(k as usize).unwrap_or(&"?");
                let fix = if k == 2 {
                    "-P for numeric ports"
                } else {
                    "fix its owner and mode, or name it with --"
                };
                let _ = write!(out, "{file} file refused: {}: {fix}", r.reason());
                if k < 2 {
                    let _ = out.write_str(file);
                }
                Ok(())
            }
            Warning::EventsSilent => write!(
                out,
                "no conntrack DESTROY events arrive although connections end: totals miss short connections (some kernels need a module reload)"
            ),
        };
    }
}

/// A fixed list of warnings for one refresh.
#[derive(Default, Clone, Copy, Debug)]
pub struct Warnings {
    items: [Option<Warning>; 16],
    len: usize,
}

impl Warnings {
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn push(&mut self, w: Warning) {
        if self.len < self.items.len() {
            self.items[self.len] = Some(w);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Warning> {
        self.items[..self.len].iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The offload warning: the case that applies and its fix. A software
/// flowtable without `counter` freezes the counters (the fix is the
/// flag); hardware offload without accounting (MT7621) freezes them with
/// no fix (the links' counters are the truth); with counters the rates
/// are right and the warning only names the offload.
fn offload_text(out: &mut Line, n: Offloaded) {
    if n.sw_frozen > 0 {
        lead(out, n.sw_frozen, " offloaded connections frozen: flowtable without counter (add counter to the flowtable)");
    }
    if n.hw > 0 && n.hw_frozen == n.hw {
        if n.sw_frozen > 0 {
            out.push_str("; ");
        }
        lead(out, n.hw, " hardware-offloaded connections frozen (no accounting, MT7621): no fix, the interface totals are the truth");
    } else if n.sw_frozen == 0 {
        lead(
            out,
            n.any(),
            " offloaded connections: counted by the flowtable",
        );
    }
}

/// A count, then the text that says what of.
fn lead(out: &mut Line, n: u32, text: &str) {
    let _ = write!(out, "{n}");
    out.push_str(text);
}

/// Refreshes in a row an interface must be over before it is reported.
pub const MISMATCH_REFRESHES: u8 = 3;
/// Conntrack's rate on an interface may exceed the link's by this much
/// (a tenth, and 100 kbit/s) before it counts: link headers, counters read
/// a few ms apart. Lower is normal (untracked, bridged, offloaded traffic).
const MISMATCH_RATIO: f64 = 1.10;
const MISMATCH_FLOOR_BPS: f64 = 100_000.0;

/// The self-check of attribution: per interface and direction, how many
/// refreshes in a row conntrack's rate exceeded the link's counters.
#[derive(Default)]
pub struct Mismatch {
    /// (ifindex, tx streak, rx streak), sorted by ifindex.
    streaks: Vec<(u32, u8, u8)>,
    next: Vec<(u32, u8, u8)>,
}

impl Mismatch {
    /// Feeds one refresh: conntrack's per-interface rates (`rows`) and the
    /// links' own; pushes a warning for every interface and direction over
    /// for `MISMATCH_REFRESHES` refreshes. Interfaces with offloaded
    /// connections are not judged (their counters jump).
    pub fn update(&mut self, rows: &[DevRow], links: &Links, w: &mut Warnings) {
        self.next.clear();
        for r in rows {
            let Some(l) = links.get(r.ifindex) else {
                continue;
            };
            let (Some(ltx), Some(lrx)) = (l.tx_bps, l.rx_bps) else {
                continue;
            };
            let over = |ct: f64, link: f64| {
                r.offloaded == 0 && ct > link * MISMATCH_RATIO && ct - link > MISMATCH_FLOOR_BPS
            };
            let old = self
                .streaks
                .binary_search_by_key(&r.ifindex, |s| s.0)
                .map_or((0, 0), |i| (self.streaks[i].1, self.streaks[i].2));
            let tx = if over(r.tx_bps, ltx) {
                old.0.saturating_add(1)
            } else {
                0
            };
            let rx = if over(r.rx_bps, lrx) {
                old.1.saturating_add(1)
            } else {
                0
            };
            for (n, is_tx, ct, link) in [(tx, true, r.tx_bps, ltx), (rx, false, r.rx_bps, lrx)] {
                if n >= MISMATCH_REFRESHES {
                    w.push(Warning::Mismatch(
                        l.name,
                        l.name_len,
                        is_tx,
                        ct as u64,
                        link as u64,
                    ));
                }
            }
            if tx > 0 || rx > 0 {
                self.next.push((r.ifindex, tx, rx));
            }
        }
        // Already in ifindex order, as the binary search above needs: the
        // rows follow the link table (kept sorted by index) and `local`
        // (u32::MAX) is last. No sort: its code was 2.4 KB of flash.
        debug_assert!(self.next.windows(2).all(|w| w[0].0 < w[1].0));
        std::mem::swap(&mut self.streaks, &mut self.next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(i: &Inputs) -> Vec<&'static str> {
        let mut w = Warnings::default();
        compute(i, &mut w);
        w.iter().map(|w| w.code()).collect()
    }

    #[test]
    fn a_healthy_table_has_no_findings() {
        let ok = Inputs {
            acct_on: true,
            entries: 10,
            events_on: true,
            ct_count: 10,
            ct_max: 1000,
            ..Inputs::default()
        };
        assert!(codes(&ok).is_empty(), "{:?}", codes(&ok));
        let full = Inputs {
            ct_count: 950,
            ct_drops: 7,
            ..ok
        };
        assert_eq!(codes(&full), vec!["conntrack_near_full"]);
        let mut w = Warnings::default();
        compute(&full, &mut w);
        let mut l = crate::render::Line::new();
        w.iter().next().unwrap().message(&mut l);
        assert!(
            l.as_str().contains("7 dropped") && l.as_str().contains("nf_conntrack_max"),
            "{}",
            l.as_str()
        );
        assert_eq!(
            codes(&Inputs {
                events_on: false,
                ..ok
            }),
            vec!["events_off"]
        );
        assert_eq!(
            codes(&Inputs {
                recent_event_loss: Some(3),
                ..ok
            }),
            vec!["events_lost"]
        );
        assert_eq!(
            codes(&Inputs {
                events_silent: true,
                ..ok
            }),
            vec!["events_silent"]
        );
        let offloaded = Offloaded {
            sw: 2,
            ..Offloaded::default()
        };
        assert_eq!(codes(&Inputs { offloaded, ..ok }), vec!["offload"]);
        assert_eq!(
            codes(&Inputs {
                links_dropped: 3,
                ..ok
            }),
            vec!["links_dropped"]
        );
        assert_eq!(
            codes(&Inputs {
                leases_dropped: 1,
                ..ok
            }),
            vec!["names_dropped"]
        );
        assert_eq!(
            codes(&Inputs {
                recent_resets: Some(1),
                ..ok
            }),
            vec!["counter_reset"]
        );
        assert_eq!(
            codes(&Inputs {
                table_dropped: 5,
                ..ok
            }),
            vec!["flow_table_full"]
        );
        assert_eq!(
            codes(&Inputs {
                acct_on: false,
                no_counters: 4,
                ..ok
            }),
            vec!["acct_off", "no_counters"]
        );
    }

    #[test]
    fn mismatch_needs_three_refreshes_over_ten_percent_and_100k() {
        use crate::route::wire::{LinkMsg, IFF_RUNNING, IFF_UP};
        let mut links = Links::with_capacity();
        let mut name = [0u8; 16];
        name[..4].copy_from_slice(b"wan1");
        let dump = |links: &mut Links, t: u64, tx: u64| {
            links.begin();
            links.push(&LinkMsg {
                index: 7,
                flags: IFF_UP | IFF_RUNNING,
                name,
                name_len: 4,
                rx_bytes: 0,
                tx_bytes: tx,
            });
            links.finish(t, |_| true);
        };
        // The link sends 1 Mbit/s each second.
        let mut m = Mismatch::default();
        let row = |tx: f64, offloaded: u32| DevRow {
            ifindex: 7,
            tx_bps: tx,
            rx_bps: 0.0,
            conns: 1,
            offloaded,
        };
        let mut codes = Vec::new();
        for (k, (ct, off)) in [
            (1.05e6, 0), // within 10 %
            (1.2e6, 0),
            (1.2e6, 0),
            (1.2e6, 0), // third in a row: reported
            (1.2e6, 1), // offloaded: not judged, streak ends
            (1.2e6, 0),
        ]
        .into_iter()
        .enumerate()
        {
            dump(
                &mut links,
                (k as u64 + 1) * 1_000_000_000,
                (k as u64 + 1) * 125_000,
            );
            let mut w = Warnings::default();
            m.update(&[row(ct, off)], &links, &mut w);
            codes.push(w.iter().map(|w| w.code()).collect::<Vec<_>>().join(","));
        }
        // The first refresh has no link rate yet.
        assert_eq!(codes, ["", "", "", "attribution_mismatch", "", ""]);
        let mut w = Warnings::default();
        let mut l = crate::render::Line::new();
        m.update(&[row(1.2e6, 0)], &links, &mut w);
        m.update(&[row(1.2e6, 0)], &links, &mut w);
        w.iter().next().unwrap().message(&mut l);
        assert!(l.as_str().contains("tx 1.20Mbps on wan1"), "{}", l.as_str());
        // Small absolute differences never count.
        let mut m = Mismatch::default();
        let mut w = Warnings::default();
        for _ in 0..5 {
            m.update(&[row(1.09e6, 0)], &links, &mut w);
        }
        assert_eq!(w.len(), 0);
    }

    /// Issue 23: the header names the cause and the period seen, and no
    /// longer says that rates stay right.
    #[test]
    fn a_counter_zeroing_is_named_with_its_period() {
        let text = |p| {
            let mut l = crate::render::Line::new();
            Warning::Resets(p).message(&mut l);
            l.as_str().to_string()
        };
        assert_eq!(
            text(30),
            "nlbwmon (or another program) zeroes conntrack counters every ~30 s: rates estimated across resets"
        );
        assert_eq!(
            text(0),
            "nlbwmon (or another program) zeroes conntrack counters: rates estimated across resets"
        );
    }
}
