//! The metrics page: Prometheus' text format (0.0.4) written into the
//! page buffer of `PAGE_CAP` bytes after each refresh, a line at a time
//! through one `Line`. What does not fit is left out and counted
//! (`nftop_metrics_dropped_series`); nothing is allocated.

use super::series::{GONE, LABELS};
use super::{Metrics, PAGE_CAP};
use crate::hostview::{HostRow, Who};
use crate::render::counters::{kind, COUNTERS, NONE};
use crate::render::{self, Ctx, Line, Tick};
use crate::view::Devices;
use std::fmt::Write as _;

/// Writes a device's labels: `host` (`local`, or the address `addr`),
/// `mac` and `name` (its DHCP lease or hosts name); with `--metrics-no-names`
/// mac and name stay empty.
pub(super) fn labels(l: &mut Line, r: &HostRow, addr: &[u8], ctx: &Ctx, names: bool, slot: usize) {
    l.clear();
    l.push_str("host=\"");
    match r.who {
        Who::Local => l.push_str("local"),
        // -r: every device would read `redacted` alike, and Prometheus
        // refuses a page with two series of the same labels: the series'
        // slot number tells them apart and tells nothing about the device.
        _ if ctx.o.privacy.local => {
            l.push_str(crate::privacy::REDACTED);
            l.push(b'-');
            render::fmt_fixed(l, slot as f64, 0);
        }
        _ if addr.is_empty() => l.push(b'-'),
        // An address: nothing to escape.
        _ => ctx.host(l, addr, true, true),
    }
    l.push_str("\",mac=\"");
    if let (Who::Mac(_), true) = (r.who, names) {
        render::hosts::mac(l, r.who, ctx);
    }
    l.push_str("\",name=\"");
    if let Some(n) = render::hosts::known(r, ctx, false).filter(|_| names) {
        label(l, n.as_str());
    }
    l.push(b'"');
}

/// Appends `s` as a label value: `\`, `"` and newlines escaped (link
/// names may hold any byte but `/` and blanks).
fn label(out: &mut Line, s: &str) {
    for c in s.bytes() {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
impl Metrics {
    /// Appends `self.line` and a newline to the page if it fits.
    fn emit(&mut self) {
        if self.page.len() + self.line.len() < PAGE_CAP {
            self.page.extend_from_slice(self.line.as_bytes());
            self.page.push(b'\n');
        } else {
            self.dropped += 1;
        }
    }

    fn head(&mut self, name: &str, kind: &str, help: &str) {
        self.line.clear();
        let _ = write!(self.line, "# HELP {name} {help}");
        self.emit();
        self.line.clear();
        let _ = write!(self.line, "# TYPE {name} {kind}");
        self.emit();
    }

    /// The whole page of this refresh, over the last one built here.
    pub(super) fn build(&mut self, t: &Tick, ctx: &Ctx, devices: &Devices) {
        self.page.clear();
        self.interfaces(ctx);
        self.devices();
        self.connections(ctx, devices);
        self.counters(t);
        self.warnings(t);
    }

    /// Each interface's bytes: conntrack's, integrated, and the link's own.
    fn interfaces(&mut self, ctx: &Ctx) {
        self.head(
            "nftop_interface_bytes_total",
            "counter",
            "Conntrack's bytes per interface.",
        );
        for i in 0..self.ifs.len() {
            let (name, len, tx, rx) = self.ifs[i];
            let name = std::str::from_utf8(&name[..len as usize]).unwrap_or("?");
            for (dir, v) in [("tx", tx), ("rx", rx)] {
                self.line.clear();
                self.line.push_str("nftop_interface_bytes_total{dev=\"");
                label(&mut self.line, name);
                let _ = write!(self.line, "\",direction=\"{dir}\"}} ");
                render::fmt_fixed(&mut self.line, v, 0);
                self.emit();
            }
        }
        self.head(
            "nftop_interface_link_bytes_total",
            "counter",
            "Link byte counters.",
        );
        for l in ctx.links.all() {
            for (dir, v) in [("tx", l.tx_bytes), ("rx", l.rx_bytes)] {
                self.line.clear();
                self.line
                    .push_str("nftop_interface_link_bytes_total{dev=\"");
                label(&mut self.line, l.name());
                let _ = write!(self.line, "\",direction=\"{dir}\"}} {v}");
                self.emit();
            }
        }
    }

    /// The device series (series.rs), then `host="other"`.
    fn devices(&mut self) {
        self.head(
            "nftop_host_bytes_total",
            "counter",
            "Bytes per device (tx sent by it).",
        );
        const OTHER: &[u8] = b"host=\"other\",mac=\"\",name=\"\"";
        for i in 0..=self.hosts.v.len() {
            let mut labels = [0u8; LABELS];
            let (n, tx, rx) = match self.hosts.v.get(i) {
                Some(h) if h.id == GONE => continue,
                Some(h) => {
                    labels = h.labels;
                    (h.len as usize, h.tx, h.rx)
                }
                None => {
                    labels[..OTHER.len()].copy_from_slice(OTHER);
                    (OTHER.len(), self.other.0, self.other.1)
                }
            };
            let labels = std::str::from_utf8(&labels[..n]).unwrap_or("");
            for (dir, v) in [("tx", tx), ("rx", rx)] {
                self.line.clear();
                let _ = write!(
                    self.line,
                    "nftop_host_bytes_total{{{labels},direction=\"{dir}\"}} "
                );
                render::fmt_fixed(&mut self.line, v, 0);
                self.emit();
            }
        }
    }

    fn connections(&mut self, ctx: &Ctx, devices: &Devices) {
        self.head("nftop_connections", "gauge", "Connections per interface.");
        for r in &devices.rows {
            self.line.clear();
            self.line.push_str("nftop_connections{dev=\"");
            label(&mut self.line, ctx.ifname(r.ifindex));
            let _ = write!(self.line, "\"}} {}", r.conns);
            self.emit();
        }
    }

    /// The refresh's counters (render/counters.rs, the JSON tick's
    /// too), then the page's account of itself.
    fn counters(&mut self, t: &Tick) {
        for c in &COUNTERS {
            if c.metric.is_empty() {
                continue;
            }
            // Not measured in this run: 0 (Prometheus has no null).
            let v = (c.read)(t);
            let v = if v == NONE { 0 } else { v };
            self.scalar(c.metric, kind(c.metric), c.help, v);
        }
        self.scalar(
            "nftop_metrics_dropped_series",
            "gauge",
            "Series left out (page bound).",
            self.dropped,
        );
        self.scalar(
            "nftop_metrics_pages_held_total",
            "counter",
            "Pages held back by slow clients.",
            self.held,
        );
    }

    /// A series without labels: its HELP, TYPE and value.
    fn scalar(&mut self, name: &str, kind: &str, help: &str, v: u64) {
        self.head(name, kind, help);
        self.line.clear();
        let _ = write!(self.line, "{name} {v}");
        self.emit();
    }

    fn warnings(&mut self, t: &Tick) {
        self.head("nftop_warning", "gauge", "1 per health warning in force.");
        for w in t.warnings.iter() {
            self.line.clear();
            let _ = write!(self.line, "nftop_warning{{code=\"{}\"}} 1", w.code());
            self.emit();
        }
    }
}
