//! Prometheus metrics (`--metrics ADDR:PORT`): a minimal HTTP/1.1
//! responder for `GET /metrics` on a thread of its own, serving the page
//! the refresh loop builds after each refresh.
//!
//! No async runtime, no HTTP crate: one connection at a time, a fixed
//! request buffer (a request whose head does not fit is a 400), a read
//! and a write timeout, `Connection: close`. The refresh only ever takes
//! the page's lock to copy the new page in; a slow or hostile client
//! stalls at most this thread, never the refresh, and nothing grows.
//!
//! Counters are monotonic for `rate()`: conntrack's bytes per interface
//! and per device are the rates of each refresh integrated over the time
//! between refreshes (since nftop started: a restart is a counter reset,
//! which Prometheus handles); the links' own counters are the kernel's.

use crate::hostview::{Hosts, Id, Who};
use crate::render::{self, Ctx, Line, Tick};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The page's bound: what does not fit is left out and counted in
/// `nftop_metrics_dropped_series`.
pub const PAGE_CAP: usize = 512 * 1024;
/// A request head (request line and headers) must fit here.
const REQ_CAP: usize = 4096;
/// Interfaces tracked by name (links come and go; their series stay).
const MAX_IFS: usize = 256;

fn octets(ip: std::net::IpAddr) -> Vec<u8> {
    match ip {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The status a request head gets: 200 for `GET /metrics` (query string
/// allowed), 404 for another path, 405 for another method, 400 for
/// anything that is not an HTTP/1.x request line.
pub fn status(head: &[u8]) -> u16 {
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let mut w = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (w.next(), w.next(), w.next(), w.next())
    else {
        return 400;
    };
    if !version.starts_with(b"HTTP/1.") || version.len() != 8 || !target.starts_with(b"/") {
        return 400;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
    match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => 200,
        (b"GET" | b"HEAD", _) => 404,
        _ => 405,
    }
}

struct Shared {
    page: Mutex<Vec<u8>>,
}

/// Label text kept per series: fixed, no allocation per device.
const LABELS: usize = 192;

/// One device's counters and the labels it was first seen with.
struct HostCounter {
    id: Id,
    labels: [u8; LABELS],
    len: u8,
    tx: f64,
    rx: f64,
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

pub struct Metrics {
    shared: Arc<Shared>,
    page: Vec<u8>,
    line: Line,
    /// Interface name -> conntrack's (tx, rx) bytes.
    ifs: Vec<([u8; 16], u8, f64, f64)>,
    hosts: Vec<HostCounter>,
    /// Devices past `max_hosts`: one `host="other"` series.
    other: (f64, f64),
    max_hosts: usize,
    last_mono: u64,
    dropped: u64,
}

impl Metrics {
    /// Binds the listener now (a taken port is an error at start) and
    /// starts the responder thread.
    pub fn start(addr: SocketAddr, max_hosts: usize) -> crate::error::Result<Metrics> {
        let l = TcpListener::bind(addr).map_err(|e| {
            // The address by our own formatter: SocketAddr's Display is
            // 1.3 KB of flash for this one message.
            let mut a = Line::new();
            render::fmt_addr(&mut a, &octets(addr.ip()));
            crate::error::Error::system(format!(
                "cannot listen on {} port {} for --metrics: {e} (pick another port or address)",
                a.as_str(),
                addr.port()
            ))
        })?;
        let shared = Arc::new(Shared {
            page: Mutex::new(Vec::with_capacity(PAGE_CAP)),
        });
        let s = shared.clone();
        if !crate::sys::spawn_detached(
            128 * 1024,
            b"nftop-metrics\0",
            Box::new(move || serve(l, &s)),
        ) {
            return Err(crate::error::Error::system(
                "cannot start the metrics thread",
            ));
        }
        Ok(Metrics {
            shared,
            page: Vec::with_capacity(PAGE_CAP),
            line: Line::new(),
            ifs: Vec::with_capacity(MAX_IFS),
            hosts: Vec::with_capacity(max_hosts),
            other: (0.0, 0.0),
            max_hosts,
            last_mono: 0,
            dropped: 0,
        })
    }

    /// After a refresh: integrates the rates over the time since the last
    /// one and publishes a new page. `hosts` are the per-device rows of
    /// this refresh.
    pub fn update(&mut self, t: &Tick, ctx: &Ctx, hosts: &Hosts, mono: u64) {
        let dt = if self.last_mono == 0 {
            0.0
        } else {
            mono.saturating_sub(self.last_mono) as f64 / 1e9
        };
        self.last_mono = mono;
        let bytes = |bps: f64| bps * dt / 8.0;
        for r in &t.view.devices.rows {
            let name = ctx.ifname(r.ifindex).as_bytes();
            let name = &name[..name.len().min(16)];
            let i = match self.ifs.iter().position(|e| &e.0[..e.1 as usize] == name) {
                Some(i) => i,
                None if self.ifs.len() < MAX_IFS => {
                    let mut n = [0u8; 16];
                    n[..name.len()].copy_from_slice(name);
                    self.ifs.push((n, name.len() as u8, 0.0, 0.0));
                    self.ifs.len() - 1
                }
                None => continue,
            };
            self.ifs[i].2 += bytes(r.tx_bps);
            self.ifs[i].3 += bytes(r.rx_bps);
        }
        for &k in &hosts.order {
            let r = &hosts.rows[k as usize];
            let id = (r.who, r.key);
            let i = match self.hosts.iter().position(|h| h.id == id) {
                Some(i) => Some(i),
                None if self.hosts.len() < self.max_hosts && r.who != Who::Other => {
                    let l = &mut self.line;
                    l.clear();
                    l.push_str("host=\"");
                    let mut v = Line::new();
                    render::hosts::name(&mut v, r, ctx, true);
                    label(l, v.as_str());
                    l.push_str("\",mac=\"");
                    if let Who::Mac(_) = r.who {
                        render::hosts::mac(l, r.who);
                    }
                    l.push_str("\",name=\"");
                    if let Some(n) = render::hosts::known(r, ctx, false) {
                        label(l, n.as_str());
                    }
                    l.push(b'"');
                    let mut labels = [0u8; LABELS];
                    let n = l.len().min(LABELS);
                    labels[..n].copy_from_slice(&l.as_bytes()[..n]);
                    self.hosts.push(HostCounter {
                        id,
                        labels,
                        len: n as u8,
                        tx: 0.0,
                        rx: 0.0,
                    });
                    Some(self.hosts.len() - 1)
                }
                None => None,
            };
            let c = match i {
                Some(i) => {
                    let h = &mut self.hosts[i];
                    (&mut h.tx, &mut h.rx)
                }
                None => (&mut self.other.0, &mut self.other.1),
            };
            *c.0 += bytes(r.tx_bps);
            *c.1 += bytes(r.rx_bps);
        }
        self.build(t, ctx);
        if let Ok(mut p) = self.shared.page.lock() {
            p.clear();
            p.extend_from_slice(&self.page);
        }
    }

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
        use std::fmt::Write as _;
        self.line.clear();
        let _ = write!(self.line, "# HELP {name} {help}");
        self.emit();
        self.line.clear();
        let _ = write!(self.line, "# TYPE {name} {kind}");
        self.emit();
    }

    fn build(&mut self, t: &Tick, ctx: &Ctx) {
        use std::fmt::Write as _;
        self.page.clear();
        self.head(
            "nftop_interface_bytes_total",
            "counter",
            "Bytes through the interface by conntrack's accounting (tx leaves through it).",
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
            "The interface's own byte counters (link statistics).",
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
        self.head(
            "nftop_host_bytes_total",
            "counter",
            "Bytes of a device's connections (tx sent by it); past --metrics-hosts summed as host=\"other\".",
        );
        const OTHER: &[u8] = b"host=\"other\",mac=\"\",name=\"\"";
        for i in 0..=self.hosts.len() {
            let mut labels = [0u8; LABELS];
            let (n, tx, rx) = match self.hosts.get(i) {
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
        self.head(
            "nftop_connections",
            "gauge",
            "Connections through the interface now.",
        );
        for r in &t.view.devices.rows {
            self.line.clear();
            self.line.push_str("nftop_connections{dev=\"");
            label(&mut self.line, ctx.ifname(r.ifindex));
            let _ = write!(self.line, "\"}} {}", r.conns);
            self.emit();
        }
        let (events, lost) = t.events.unwrap_or((0, 0));
        let (ipfix_sent, ipfix_dropped) = t.ipfix.unwrap_or((0, 0));
        for (name, kind, help, v) in [
            ("nftop_refreshes_total", "counter", "Refreshes done.", t.seq),
            (
                "nftop_deadlines_missed_total",
                "counter",
                "Refresh deadlines missed (the refresh took longer than the interval).",
                t.deadlines_missed,
            ),
            (
                "nftop_frames_skipped_total",
                "counter",
                "Screen frames skipped behind a slow terminal.",
                t.frames_skipped,
            ),
            (
                "nftop_events_total",
                "counter",
                "DESTROY events read.",
                events,
            ),
            (
                "nftop_events_lost_total",
                "counter",
                "Times the kernel dropped events (ENOBUFS).",
                lost,
            ),
            (
                "nftop_ipfix_records_total",
                "counter",
                "IPFIX data records sent.",
                ipfix_sent,
            ),
            (
                "nftop_ipfix_dropped_total",
                "counter",
                "IPFIX data records dropped (the socket refused the message).",
                ipfix_dropped,
            ),
            (
                "nftop_conntrack_entries",
                "gauge",
                "Entries in the conntrack table.",
                t.ct_count,
            ),
            (
                "nftop_conntrack_max",
                "gauge",
                "net.netfilter.nf_conntrack_max.",
                t.ct_max,
            ),
            (
                "nftop_metrics_dropped_series",
                "gauge",
                "Series left out of this page (page bound).",
                self.dropped,
            ),
        ] {
            self.head(name, kind, help);
            self.line.clear();
            let _ = write!(self.line, "{name} {v}");
            self.emit();
        }
        self.head(
            "nftop_warning",
            "gauge",
            "1 for each health warning in force (the header's).",
        );
        for w in t.warnings.iter() {
            self.line.clear();
            let _ = write!(self.line, "nftop_warning{{code=\"{}\"}} 1", w.code());
            self.emit();
        }
    }
}

/// The responder: one connection at a time, each bounded in time.
fn serve(l: TcpListener, s: &Shared) {
    let mut req = [0u8; REQ_CAP];
    let mut page = Vec::with_capacity(PAGE_CAP);
    loop {
        let Ok((mut c, _)) = l.accept() else {
            // EMFILE and the like: do not spin.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
        let mut n = 0;
        let complete = loop {
            match c.read(&mut req[n..]) {
                Ok(0) | Err(_) => break false,
                Ok(k) => {
                    n += k;
                    if req[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break true;
                    }
                    if n == req.len() {
                        break false;
                    }
                }
            }
        };
        let code = if complete { status(&req[..n]) } else { 400 };
        let mut head = Line::new();
        if code != 200 {
            head.push_str(match code {
                404 => "HTTP/1.1 404 Not Found",
                405 => "HTTP/1.1 405 Method Not Allowed",
                _ => "HTTP/1.1 400 Bad Request",
            });
            head.push_str("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = c.write_all(head.as_bytes());
            continue;
        }
        page.clear();
        if let Ok(p) = s.page.lock() {
            page.extend_from_slice(&p);
        }
        head.push_str(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: ",
        );
        render::fmt_fixed(&mut head, page.len() as f64, 0);
        head.push_str("\r\nConnection: close\r\n\r\n");
        let _ = c.write_all(head.as_bytes());
        if !req.starts_with(b"HEAD") {
            let _ = c.write_all(&page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_their_status() {
        assert_eq!(status(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(status(b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(status(b"HEAD /metrics HTTP/1.1\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 404);
        assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n"), 405);
        for bad in [
            &b""[..],
            b"GET /metrics\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"\x00\xff\r\n\r\n",
        ] {
            assert_eq!(status(bad), 400, "{bad:?}");
        }
    }
}
