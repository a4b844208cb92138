//! The refresh pipeline: the sockets and tables a refresh reads, and the
//! facts it derives that every sink reads (flows with their sides and
//! interfaces, the device and host tables, kernel and health facts,
//! counters). Time is passed in or read once per dump; nothing here
//! writes output.

use super::CtSource;
use crate::error::Result;
use crate::events::Events;
use crate::flows::FlowTable;
use crate::health::{self, Warnings};
use crate::hostview::Hosts;
use crate::kernel::Kernel;
use crate::keys::Ui;
use crate::names::Names;
use crate::netlink::DumpStats;
use crate::render::{Ctx, Opts, Tick};
use crate::route::Router;
use crate::sys;
use crate::view::{Devices, View};

/// Show the counter-reset warning this long after the last reset.
const RESET_WARN_NS: u64 = 60_000_000_000;

pub(super) struct Pipeline<S> {
    pub ct: S,
    pub router: Router,
    pub events: Option<Events>,
    pub table: FlowTable,
    pub view: View,
    pub names: Names,
    pub kernel: Kernel,
    pub stats: DumpStats,
    pub warnings: Warnings,
    /// Monotonic time of the last counter reset and event loss (0: none).
    pub last_reset: u64,
    pub last_loss: u64,
    /// The attribution self-check: every flow's rates per interface
    /// (unfiltered) against the links' own counters, once per refresh, on
    /// the view's pass over the flows.
    pub check: Check,
    /// Refreshes done, and the clock readings when the last dump
    /// completed.
    pub seq: u64,
    pub mono: u64,
    pub real: u64,
    /// The per-device view's rows (built only while it is shown, or
    /// for the metrics).
    pub hosts: Hosts,
}

pub(super) struct Check {
    pub devs: Devices,
    mismatch: health::Mismatch,
    found: Warnings,
    /// The refresh it last checked (renders between refreshes repeat
    /// the view, not the check).
    seq: u64,
}

impl Check {
    pub fn new() -> Check {
        Check {
            devs: Devices::new(),
            mismatch: health::Mismatch::default(),
            found: Warnings::default(),
            seq: 0,
        }
    }
}

impl<S: CtSource> Pipeline<S> {
    /// One refresh of the data: conntrack dump, links and addresses,
    /// rates. Allocation-free in steady state.
    pub fn refresh(&mut self) -> Result<()> {
        self.table.begin();
        if let Some(ev) = &mut self.events {
            // Connections that ended since the last dump: their final
            // counters are credited in this refresh.
            let (now, real) = (sys::mono_ns(), sys::real_ns());
            let table = &mut self.table;
            let lost = ev.lost;
            ev.drain(|c, stop| table.destroy(c, stop, now, real));
            if ev.lost != lost {
                self.last_loss = now;
            }
        }
        let table = &mut self.table;
        let stats = self.ct.dump(|c, nests| table.observe_lazy(c, nests))?;
        self.mono = sys::mono_ns();
        self.real = sys::real_ns();
        self.table.finish(self.mono, self.real);
        self.stats = stats;
        self.router.refresh(self.mono)?;
        let (flows, spills) = self.table.parts_mut();
        self.router.attribute(flows, spills)?;
        self.names.refresh();
        self.kernel.read(self.table.len());
        // Without events, a flow missing from a dump is gone for good.
        self.table.events = self.events.is_some() && self.kernel.events_on;
        if self.table.counts.resets > 0 {
            self.last_reset = self.mono;
        }
        self.seq += 1;
        Ok(())
    }

    /// The view's pass over the flows (sides, totals, the rows that pass
    /// the filters), the host table when `hosts` asks for it, and once
    /// per refresh the attribution self-check. True when this is the
    /// first derive of the refresh: the exporters' turn.
    pub fn derive(&mut self, ui: &mut Ui, hosts: bool) -> bool {
        let (flows, spills) = self.table.parts_mut();
        let c = &mut self.check;
        let fresh = c.seq != self.seq;
        self.view.derive(
            (flows, spills),
            &self.router.net,
            &self.names,
            &ui.filter,
            (self.mono, self.real),
            fresh.then_some(&mut c.devs),
        );
        if hosts {
            self.hosts.build(flows, spills, &self.router.net);
            self.hosts.order(ui.filter.sort, ui.filter.ascending);
            let h = &self.hosts;
            let ids = h.order.iter().map(|&k| {
                let r = &h.rows[k as usize];
                (r.who, r.key)
            });
            ui.host.settle(ids);
        }
        if fresh {
            c.seq = self.seq;
            c.found.clear();
            c.mismatch
                .update(&c.devs.rows, &self.router.net.links, &mut c.found);
        }
        fresh
    }

    /// The warnings of this refresh: the kernel's and the table's facts,
    /// then what the self-check found. `ages` is whether ages are shown.
    pub fn health(&mut self, ages: bool) {
        let recent = |t: u64| (t != 0 && self.mono.saturating_sub(t) < RESET_WARN_NS).then_some(());
        let (received, lost) = self
            .events
            .as_ref()
            .map_or((0, 0), |e| (e.received, e.lost));
        let counts = &self.table.counts;
        let inputs = health::Inputs {
            acct_on: self.kernel.acct_on,
            no_counters: counts.no_counters,
            entries: self.stats.entries,
            table_dropped: counts.dropped,
            recent_resets: recent(self.last_reset).map(|_| counts.zero_period_s),
            ages_estimated: ages && counts.no_timestamp > 0,
            offloaded: counts.offloaded,
            dump_interrupted: self.stats.interrupted,
            malformed: self.stats.malformed + self.events.as_ref().map_or(0, |e| e.malformed),
            ct_count: self.kernel.ct_count,
            ct_max: self.kernel.ct_max,
            ct_drops: self.kernel.ct_drops,
            events_on: self.events.is_some() && self.kernel.events_on,
            recent_event_loss: recent(self.last_loss).map(|_| lost),
            events_silent: received == 0 && counts.unexplained > 0,
            links_dropped: self.router.net.links.dropped,
            addrs_dropped: self.router.net.local.dropped,
            hosts_dropped: self.names.hosts_dropped,
            leases_dropped: self.names.leases_dropped,
            refused: self.names.refused,
        };
        health::compute(&inputs, &mut self.warnings);
        for w in self.check.found.iter() {
            self.warnings.push(*w);
        }
    }

    /// The screen's page of rows, (first, count), around the selected
    /// connection, for a screen of `cap` rows; None (every row) for the
    /// other outputs.
    pub fn page(&self, ui: &mut Ui, cap: Option<usize>) -> Option<(usize, usize)> {
        let cap = cap?;
        ui.host.page = cap;
        if ui.dev || ui.hosts || ui.help {
            return Some((0, cap));
        }
        if ui.sel.detail {
            // The pane takes the screen: no rows are drawn.
            return Some((0, 0));
        }
        let (flows, links, f) = (self.table.flows(), &self.router.net.links, &ui.filter);
        let rank = (ui.sel.conn.as_ref())
            .and_then(|c| self.table.index_of(c))
            .and_then(|i| self.view.rank(flows, links, f, i));
        Some(ui.sel.window(rank, self.view.matched, cap))
    }

    /// After the page is ordered: the selection is the row at its
    /// position (with the pane open it stays on its connection, ended or
    /// not); its rates go to the history.
    pub fn select(&self, ui: &mut Ui) {
        let sel = &mut ui.sel;
        if sel.detail && sel.conn.is_some() {
            sel.idx = sel.conn.as_ref().and_then(|c| self.table.index_of(c));
        } else {
            let at = sel
                .pos
                .checked_sub(self.view.first)
                .and_then(|k| self.view.shown.get(k))
                .map(|&i| (i, self.table.conn(&self.table.flows()[i as usize])));
            sel.settle(at);
        }
        if let Some(i) = sel.idx {
            let f = &self.table.flows()[i as usize];
            sel.record(self.seq, f.tx_bps(), f.rx_bps());
        }
    }

    /// The refresh's facts as the sinks read them; the loop's own
    /// counters (interval, frames, deadlines, IPFIX) are the caller's.
    pub fn tick(&self, hosts: bool) -> Tick<'_> {
        let counts = &self.table.counts;
        Tick {
            seq: self.seq,
            real_ns: self.real,
            interval: 0.0,
            interval_requested: 0.0,
            cpu_budget: 0,
            flows: self.table.flows(),
            spills: self.table.spills(),
            view: &self.view,
            table_len: self.table.len(),
            table_cap: self.table.capacity(),
            ct_count: self.kernel.ct_count,
            ct_max: self.kernel.ct_max,
            warnings: &self.warnings,
            events: self.events.as_ref().map(|e| (e.received, e.lost)),
            closed_total: counts.closed_total,
            credited: counts.credited,
            estimated: counts.estimated_total,
            hosts: hosts.then_some(&self.hosts),
            frames_skipped: 0,
            deadlines_missed: 0,
            ipfix: None,
        }
    }

    /// What the renderers look names and interfaces up in, with `o`.
    pub fn ctx<'a>(&'a self, o: &'a Opts) -> Ctx<'a> {
        Ctx {
            o,
            names: &self.names,
            links: &self.router.net.links,
            now_s: self.mono / 1_000_000_000,
        }
    }
}
