//! Prometheus metrics (`--metrics ADDR:PORT`): a minimal HTTP/1.1
//! responder for `GET /metrics` on a thread of its own, serving the page
//! the refresh loop builds after each refresh.
//!
//! No async runtime, no HTTP crate: one thread polls the listener and a
//! fixed set of `CLIENTS` connections, all non-blocking, so no client
//! waits on another. Each has a fixed request buffer (a request whose
//! head does not fit is a 400), a deadline for its whole request head
//! (`HEAD_NS`) and one for its whole answer (`ANSWER_NS`), and
//! `Connection: close`. A client that stops taking its answer is reset
//! (`STALL_NS`), and one host holds at most `PER_HOST` connections; a
//! small send buffer and the reset keep little of the page in the kernel
//! for a client that never reads. Only requests whose `Host` names the bound
//! address or localhost are answered (DNS rebinding, `host_ok`). The
//! refresh only ever takes the page's lock to swap in the new page; a
//! client being answered holds a reference to the page it was given, not
//! a copy. A slow or hostile client stalls nothing but itself, and
//! nothing grows.
//!
//! Counters are monotonic for `rate()`: conntrack's bytes per interface
//! and per device are the rates of each refresh integrated over the time
//! between refreshes (since nftop started: a restart is a counter reset,
//! which Prometheus handles); the links' own counters are the kernel's.
//! They count every connection: the display filters (`-4`, `-6`, `-L`,
//! `-f`, keys `4 6 l 0`) are the screen's, not the export's.

use crate::hostview::{HostRow, Hosts, Id, Who};
use crate::render::{self, Ctx, Line, Tick};
use crate::view::Devices;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

/// The page's bound: what does not fit is left out and counted in
/// `nftop_metrics_dropped_series`.
pub const PAGE_CAP: usize = 512 * 1024;
/// A request head (request line and headers) must fit here.
const REQ_CAP: usize = 4096;
/// Interfaces tracked by name (links come and go; their series stay).
const MAX_IFS: usize = 256;
/// Connections served at once. Full policy: a new connection takes the
/// place of the one whose last progress is oldest among those still
/// sending their request and those being answered that took nothing for
/// `EVICT_MS`; while all are being answered and taking bytes, new ones
/// wait in the kernel's backlog. A host's third connection takes the
/// place of its own oldest (`PER_HOST`), so no host holds them all.
const CLIENTS: usize = 8;
/// Connections of one peer address at once.
const PER_HOST: usize = 2;
/// The whole request head must arrive within this of the accept.
const HEAD_NS: u64 = 2_000_000_000;
/// The whole answer must be taken within this of the request.
const ANSWER_NS: u64 = 5_000_000_000;
/// A client being answered that takes no byte for this long is reset:
/// one that never reads frees its slot at once, not after `ANSWER_NS`.
const STALL_NS: u64 = 1_000_000_000;
/// ... and gives its slot to a new connection after this.
const EVICT_MS: u64 = 250;
/// Each connection's send buffer (the kernel doubles it): a reset or
/// finished client leaves at most this much of the page in the kernel.
const SNDBUF: usize = 16 * 1024;
/// A device series that moved no bytes for this long is released: it
/// leaves the page (Prometheus ends it) and its slot is free.
pub const IDLE_NS: u64 = 600_000_000_000;

/// An address by nftop's own formatter (SocketAddr's Display is 1.3 KB
/// of flash).
fn fmt_ip(out: &mut Line, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => render::fmt_addr(out, &a.octets()),
        IpAddr::V6(a) => render::fmt_addr(out, &a.octets()),
    }
}

/// The bound address as a `Host` header names it (in brackets for IPv6,
/// in the standard text form std prints, RFC 5952), or nothing when
/// bound to the unspecified address.
fn host_text(out: &mut Line, ip: IpAddr) {
    if !ip.is_unspecified() {
        let v6 = ip.is_ipv6();
        if v6 {
            out.push(b'[');
        }
        fmt_ip(out, ip);
        if v6 {
            out.push(b']');
        }
    }
}

/// Whether a `Host` header value names this responder: `localhost` (or
/// `localhost.localdomain`), or with or without a port the bound address
/// `bound` (`host_text`, any case), or when that is empty (bound to the
/// unspecified address) any IP literal. A page that DNS rebinding made a
/// browser load carries the attacker's name here, never an address, and
/// is refused.
pub fn host_ok(host: &[u8], bound: &[u8]) -> bool {
    // The host without its port: up to `]` for an IPv6 literal.
    let end = match host.first() {
        Some(b'[') => host.iter().position(|&b| b == b']').map_or(0, |i| i + 1),
        _ => host.iter().position(|&b| b == b':').unwrap_or(host.len()),
    };
    let name = &host[..end];
    let literal =
        name.first() == Some(&b'[') || name.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    !name.is_empty()
        && (eq_ci(name, b"localhost")
            || eq_ci(name, b"localhost.localdomain")
            || if bound.is_empty() {
                literal
            } else {
                eq_ci(name, bound)
            })
}

/// ASCII case-insensitive equality, one copy (inlined it costs flash at
/// each of its uses).
#[inline(never)]
fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn is_eol(b: &u8) -> bool {
    *b == b'\r' || *b == b'\n'
}

/// The status a request head (up to its blank line) gets from a responder
/// bound to `bound` (`host_text`): 200 for `GET /metrics` (query string
/// allowed), 404 for another path, 405 for another method, 421 when its
/// `Host` names something else (`host_ok`; a request without one, as
/// HTTP/1.0 allows, is answered), 400 for anything that is not an
/// HTTP/1.x request line, or two `Host` fields (RFC 9112 3.2).
pub fn status(head: &[u8], bound: &[u8]) -> u16 {
    let mut lines = head.split(is_eol);
    let line = lines.next().unwrap_or(&[]);
    let mut w = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (w.next(), w.next(), w.next(), w.next())
    else {
        return 400;
    };
    if !version.starts_with(b"HTTP/1.") || version.len() != 8 || !target.starts_with(b"/") {
        return 400;
    }
    let mut host = None;
    for h in lines {
        if h.len() >= 5 && eq_ci(&h[..5], b"host:") && host.replace(h[5..].trim_ascii()).is_some() {
            return 400;
        }
    }
    if host.is_some_and(|h| !h.is_empty() && !host_ok(h, bound)) {
        return 421;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
    match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => 200,
        (b"GET" | b"HEAD", _) => 404,
        _ => 405,
    }
}

/// A published page: clients hold it by reference while they send it.
type Page = Arc<Vec<u8>>;

struct Shared {
    /// The page clients are given now (a reference each, no copy), and
    /// the one before it, which clients may still be answered from: the
    /// refresh builds the next page over it only when none is.
    page: Mutex<(Page, Page)>,
}

/// Label text kept per series: fixed, no allocation per device.
const LABELS: usize = 192;

/// One device's series.
struct HostCounter {
    id: Id,
    /// The address its `host` label shows (`shown_addr`).
    addr: [u8; 16],
    alen: u8,
    labels: [u8; LABELS],
    len: u8,
    tx: f64,
    rx: f64,
    /// When it last moved bytes (or was created), monotonic ns.
    active: u64,
}

/// The per-device series, at most `max` (`--metrics-hosts`). A device
/// gets one when it moves bytes; a series that moved none for `IDLE_NS`
/// is released, `local` included. Full policy: a device that moves bytes
/// takes the slot of the least recently active series, unless that one
/// moved bytes in this refresh too; then it is summed into
/// `host="other"`. Time is passed in.
struct Series {
    v: Vec<HostCounter>,
    max: usize,
}

/// A released series' id (no device's: `other` never gets a series).
const GONE: Id = (Who::Other, 0);

impl Series {
    /// Releases the series idle for `IDLE_NS` at `now`: they leave the
    /// page, and their slots are the first taken.
    fn release(&mut self, now: u64) {
        for h in &mut self.v {
            if now.saturating_sub(h.active) >= IDLE_NS {
                (h.id, h.active) = (GONE, 0);
            }
        }
    }

    /// The slot of device `id` in a refresh at `now` in which it moved
    /// bytes or not: found, taken, or None (counted as `other`).
    fn slot(&mut self, id: Id, moved: bool, now: u64) -> Option<usize> {
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
fn shown_addr<'a>(r: &'a HostRow, was: &'a [u8]) -> &'a [u8] {
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

/// Writes a device's labels: `host` (`local`, or the address `addr`),
/// `mac` and `name` (its DHCP lease or hosts name); with `--metrics-no-names`
/// mac and name stay empty.
fn labels(l: &mut Line, r: &HostRow, addr: &[u8], ctx: &Ctx, names: bool, slot: usize) {
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

pub struct Metrics {
    shared: Arc<Shared>,
    /// The page being built (with the two of `Shared`, three buffers of
    /// `PAGE_CAP` are all there is: a page is never copied per client).
    page: Vec<u8>,
    /// Refreshes whose page was not published: clients still held the
    /// one before.
    held: u64,
    line: Line,
    /// Interface name -> conntrack's (tx, rx) bytes; a name past
    /// `MAX_IFS` is left out (`dropped`).
    ifs: Vec<([u8; 16], u8, f64, f64)>,
    hosts: Series,
    /// Devices without a series: one `host="other"` series.
    other: (f64, f64),
    /// `--metrics-no-names` unset: devices' mac and name labels filled.
    names: bool,
    last_mono: u64,
    dropped: u64,
}

impl Metrics {
    /// Binds the listener now (a taken port is an error at start) and
    /// starts the responder thread. Not inlined into App::open: smaller on
    /// mipsel.
    #[inline(never)]
    pub fn start(addr: SocketAddr, max_hosts: usize, names: bool) -> crate::error::Result<Metrics> {
        let l = TcpListener::bind(addr).map_err(|e| {
            let mut a = Line::new();
            fmt_ip(&mut a, addr.ip());
            crate::error::Error::system(format!(
                "cannot listen on {} port {} for --metrics: {e} (pick another port or address)",
                a.as_str(),
                addr.port()
            ))
        })?;
        let page = || Arc::new(Vec::with_capacity(PAGE_CAP));
        let shared = Arc::new(Shared {
            page: Mutex::new((page(), page())),
        });
        let s = shared.clone();
        if !crate::sys::spawn_detached(
            128 * 1024,
            b"nftop-metrics\0",
            Box::new(move || serve(l, addr.ip(), &s)),
        ) {
            return Err(crate::error::Error::system(
                "cannot start the metrics thread",
            ));
        }
        Ok(Metrics {
            shared,
            page: Vec::with_capacity(PAGE_CAP),
            held: 0,
            line: Line::new(),
            ifs: Vec::with_capacity(MAX_IFS),
            hosts: Series {
                v: Vec::with_capacity(max_hosts),
                max: max_hosts,
            },
            other: (0.0, 0.0),
            names,
            last_mono: 0,
            dropped: 0,
        })
    }

    /// After a refresh: integrates the rates over the time since the last
    /// one and publishes a new page. `devices` is the per-interface table
    /// of every connection (no display filter), `hosts` the per-device
    /// rows of this refresh, `mono` its time. Not inlined into
    /// App::render: smaller on mipsel.
    #[inline(never)]
    pub fn update(&mut self, t: &Tick, ctx: &Ctx, devices: &Devices, hosts: &Hosts, mono: u64) {
        let dt = if self.last_mono == 0 {
            0.0
        } else {
            mono.saturating_sub(self.last_mono) as f64 / 1e9
        };
        self.last_mono = mono;
        // A gauge: what this page leaves out.
        self.dropped = 0;
        let per_bps = dt / 8.0;
        let bytes = |bps: f64| bps * per_bps;
        for r in &devices.rows {
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
                None => {
                    self.dropped += 1;
                    continue;
                }
            };
            self.ifs[i].2 += bytes(r.tx_bps);
            self.ifs[i].3 += bytes(r.rx_bps);
        }
        self.hosts.release(mono);
        for &k in &hosts.order {
            let r = &hosts.rows[k as usize];
            let slot = match r.who {
                Who::Other => None,
                _ => self.hosts.slot((r.who, r.key), r.sum_bps() > 0.0, mono),
            };
            let c = match slot {
                Some(i) => {
                    let h = &mut self.hosts.v[i];
                    // Labels follow the device (a new lease name, a new
                    // address); a change starts a new series.
                    let a = shown_addr(r, &h.addr[..h.alen as usize]);
                    let mut addr = [0u8; 16];
                    addr[..a.len()].copy_from_slice(a);
                    h.alen = a.len() as u8;
                    h.addr = addr;
                    let l = &mut self.line;
                    labels(l, r, &addr[..h.alen as usize], ctx, self.names, i);
                    let n = l.len().min(LABELS);
                    h.labels[..n].copy_from_slice(&l.as_bytes()[..n]);
                    h.len = n as u8;
                    (&mut h.tx, &mut h.rx)
                }
                None => (&mut self.other.0, &mut self.other.1),
            };
            *c.0 += bytes(r.tx_bps);
            *c.1 += bytes(r.rx_bps);
        }
        self.build(t, ctx, devices);
        // Into the page before the current one when no client holds it
        // (pointers swapped under the lock, nothing copied or freed).
        if let Ok(mut p) = self.shared.page.lock() {
            let (now, before) = &mut *p;
            match Arc::get_mut(before) {
                Some(b) => {
                    std::mem::swap(b, &mut self.page);
                    std::mem::swap(now, before);
                }
                None => self.held += 1,
            }
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

    fn build(&mut self, t: &Tick, ctx: &Ctx, devices: &Devices) {
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
        self.head(
            "nftop_connections",
            "gauge",
            "Connections through the interface now.",
        );
        for r in &devices.rows {
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
                "nftop_estimated_bytes_total",
                "counter",
                "Bytes estimated across counter zeroings by another program (nlbwmon), included in the byte totals.",
                t.estimated,
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
            (
                "nftop_metrics_pages_held_total",
                "counter",
                "Refreshes whose page was not published: slow clients held the one before.",
                self.held,
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

/// One connection of the responder; `FREE` is an empty slot.
struct Client {
    fd: i32,
    /// Bytes of its request head read; once answering, the length of the
    /// answer's head, written over the request in its buffer.
    n: usize,
    answering: bool,
    /// The page of a 200 to `GET` (None: the head is all).
    page: Option<Page>,
    /// Bytes of the answer sent.
    sent: usize,
    /// When it was accepted, its request read, or its answer last taken
    /// bytes (0: free, so a free slot is taken first).
    moved: u64,
    deadline: u64,
    /// Its address (`sys::accept`).
    peer: [u8; 28],
}

const FREE: Client = Client {
    fd: -1,
    n: 0,
    answering: false,
    page: None,
    sent: 0,
    moved: 0,
    deadline: 0,
    peer: [0; 28],
};

/// Closes a client; `reset` for one that did not take its whole answer,
/// so the kernel drops the rest at once (no orphan holds it).
fn close(c: &mut Client, reset: bool) {
    if reset {
        crate::sys::reset_on_close(c.fd);
    }
    crate::sys::close(c.fd);
    *c = FREE;
}

/// The slot for a new connection at `now` (`CLIENTS`): the free one or
/// the one whose last progress is oldest among those reading their
/// request and those answered that took nothing for `EVICT_MS`; None
/// while all are being answered and taking bytes. A connection accepted
/// at `now` is never taken: each slot changes hands once per round.
fn next(cs: &[Client], now: u64) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in cs.iter().enumerate() {
        if c.moved < now
            && (!c.answering || c.moved + EVICT_MS * 1_000_000 <= now)
            && best.is_none_or(|b| c.moved < cs[b].moved)
        {
            best = Some(i);
        }
    }
    best
}

/// The responder: the listener and up to `CLIENTS` connections in one
/// poll, each served as far as it goes without blocking.
fn serve(l: TcpListener, ip: IpAddr, s: &Shared) {
    let mut bound = Line::new();
    host_text(&mut bound, ip);
    let bound = bound.as_bytes();
    let lfd = l.as_raw_fd();
    let _ = l.set_nonblocking(true);
    // Accepted connections inherit it.
    crate::sys::set_sndbuf(lfd, SNDBUF);
    let mut cs = [FREE; CLIENTS];
    let mut bufs = vec![0u8; REQ_CAP * CLIENTS];
    let mut fds = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; CLIENTS + 1];
    loop {
        let now = crate::sys::mono_ns();
        let mut wait = 60_000;
        for (c, p) in cs.iter_mut().zip(&mut fds[1..]) {
            let end = if c.answering {
                c.deadline.min(c.moved + STALL_NS)
            } else {
                c.deadline
            };
            if c.fd >= 0 && now >= end {
                close(c, true);
            }
            p.fd = c.fd;
            p.events = if c.answering {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            if c.fd >= 0 {
                wait = wait.min(((end - now) / 1_000_000) as i32 + 1);
            }
        }
        // While all are being answered, the listener waits; look again
        // when one may have stalled for `EVICT_MS`.
        fds[0].fd = lfd;
        if next(&cs, now).is_none() {
            fds[0].fd = -1;
            wait = wait.min(EVICT_MS as i32);
        }
        crate::sys::poll(&mut fds, wait);
        let now = crate::sys::mono_ns();
        if fds[0].revents != 0 {
            // Every waiting connection while a slot is free, stalled or
            // still reading from before this round (`next`).
            let mut peer = [0; 28];
            while let Some(i) = next(&cs, now) {
                let fd = match crate::sys::accept(lfd, &mut peer) {
                    Ok(fd) => fd,
                    Err(again) => {
                        if !again {
                            // EMFILE and the like: do not spin (poll
                            // of nothing sleeps; std's sleep is more flash).
                            crate::sys::poll(&mut [], 100);
                        }
                        break;
                    }
                };
                // A host's third connection takes its own oldest's place.
                let (mut own, mut j) = (0, i);
                for (k, c) in cs.iter().enumerate() {
                    if c.fd >= 0 && c.peer == peer {
                        if own == 0 || c.moved < cs[j].moved {
                            j = k;
                        }
                        own += 1;
                    }
                }
                let i = if own >= PER_HOST { j } else { i };
                close(&mut cs[i], true);
                cs[i] = Client {
                    fd,
                    moved: now,
                    deadline: now + HEAD_NS,
                    peer,
                    ..FREE
                };
            }
        }
        // Only those the kernel woke, and the ones just accepted: a send
        // it did not ask for takes the few bytes an ACK freed, and would
        // count as progress for a client that reads nothing.
        let it = cs.iter_mut().zip(bufs.chunks_exact_mut(REQ_CAP));
        for ((c, buf), p) in it.zip(&fds[1..]) {
            if (p.revents != 0 || c.moved == now) && !step(c, buf, s, bound, now) {
                close(c, false);
            }
        }
    }
}

/// Serves one connection as far as it goes without blocking. False when
/// it is done (answered, gone, or broken): then it is closed.
fn step(c: &mut Client, buf: &mut [u8], s: &Shared, bound: &[u8], now: u64) -> bool {
    if c.fd < 0 {
        return true;
    }
    if !c.answering {
        let n = c.n;
        let code = match crate::sys::recv(c.fd, &mut buf[n..]) {
            // Gone before a word, or half-closed in the middle (a 400).
            Ok(0) if n == 0 => return false,
            Ok(0) => 400,
            Ok(k) => {
                c.n += k;
                let from = n.saturating_sub(3);
                let end = buf[from..c.n].windows(4).position(|w| w == b"\r\n\r\n");
                if let Some(e) = end {
                    // The head alone: what follows is not its.
                    status(&buf[..from + e + 4], bound)
                } else if c.n == buf.len() {
                    400
                } else {
                    return true;
                }
            }
            Err(again) => return again,
        };
        let mut len = 0;
        if code == 200 {
            if let Ok(p) = s.page.lock() {
                len = p.0.len();
                if !buf.starts_with(b"HEAD") {
                    c.page = Some(p.0.clone());
                }
            }
        }
        // The answer's head, over the request.
        let mut digits = [0u8; 20];
        let mut d = digits.len();
        loop {
            d -= 1;
            digits[d] = b'0' + (len % 10) as u8;
            len /= 10;
            if len == 0 {
                break;
            }
        }
        c.n = 0;
        for part in [
            &b"HTTP/1.1 "[..],
            match code {
                200 => b"200 OK\r\nContent-Type: text/plain; version=0.0.4",
                404 => b"404 Not Found",
                405 => b"405 Method Not Allowed",
                421 => b"421 Misdirected Request",
                _ => b"400 Bad Request",
            },
            b"\r\nContent-Length: ",
            &digits[d..],
            b"\r\nConnection: close\r\n\r\n",
        ] {
            buf[c.n..c.n + part.len()].copy_from_slice(part);
            c.n += part.len();
        }
        c.answering = true;
        c.deadline = now + ANSWER_NS;
        c.moved = now;
    }
    loop {
        let body = c.page.as_deref().map_or(&[][..], |p| &p[..]);
        let rest = match c.sent.checked_sub(c.n) {
            None => &buf[c.sent..c.n],
            Some(k) => &body[k..],
        };
        if rest.is_empty() {
            return false;
        }
        match crate::sys::send(c.fd, rest) {
            Ok(k) => {
                c.sent += k;
                c.moved = now;
            }
            Err(again) => return again,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_their_status() {
        let lo = &b"127.0.0.1"[..];
        assert_eq!(
            status(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", lo),
            200
        );
        assert_eq!(status(b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n", lo), 200);
        assert_eq!(status(b"HEAD /metrics HTTP/1.1\r\n\r\n", lo), 200);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n", lo), 404);
        assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n", lo), 405);
        for bad in [
            &b""[..],
            b"GET /metrics\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"\x00\xff\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nhost: 127.0.0.1\r\n\r\n",
        ] {
            assert_eq!(status(bad, lo), 400, "{bad:?}");
        }
    }

    /// DNS rebinding: a browser tricked into loading the page sends the
    /// attacker's name as Host; only the bound address and localhost
    /// names are answered.
    #[test]
    fn the_host_must_name_the_bound_address() {
        let text = |ip: &str| {
            let mut l = Line::new();
            host_text(&mut l, ip.parse().unwrap());
            l.as_str().to_string()
        };
        let (lan, v6, any4, any6) = (
            text("192.0.2.1"),
            text("2001:db8:0::1"),
            text("0.0.0.0"),
            text("::"),
        );
        assert_eq!(
            (&lan[..], &v6[..], &any4[..], &any6[..]),
            ("192.0.2.1", "[2001:db8::1]", "", "")
        );
        let get = |host: &str, bound: &str| {
            let head = format!("GET /metrics HTTP/1.1\r\nUser-Agent: x\r\nHOST:  {host} \r\n\r\n");
            status(head.as_bytes(), bound.as_bytes())
        };
        for (host, bound) in [
            ("192.0.2.1", &lan),
            ("192.0.2.1:9464", &lan),
            ("localhost", &lan),
            ("LocalHost:9464", &lan),
            ("localhost.localdomain", &lan),
            ("[2001:db8::1]", &v6),
            ("[2001:DB8::1]:9464", &v6),
            ("127.0.0.1:9464", &any4),
            ("198.51.100.7", &any4),
            ("[::1]:9464", &any6),
            ("192.0.2.1", &any6),
            ("localhost", &any6),
        ] {
            assert_eq!(get(host, bound), 200, "{host} to {bound}");
        }
        for (host, bound) in [
            ("evil.example", &lan),
            ("evil.example:9464", &lan),
            ("192.0.2.2", &lan),
            ("192.0.2.1.evil.example", &lan),
            ("[2001:db8::2]", &v6),
            ("192.0.2.1", &v6),
            ("2001:db8::1", &v6),
            ("evil.example", &any4),
            ("localhost.evil.example", &any6),
            ("[::1", &any6),
            (":9464", &any6),
        ] {
            assert_eq!(get(host, bound), 421, "{host} to {bound}");
        }
        // No Host (HTTP/1.0 allows it; a browser always sends one), or
        // an empty one.
        assert_eq!(
            status(b"GET /metrics HTTP/1.0\r\n\r\n", lan.as_bytes()),
            200
        );
        assert_eq!(
            status(b"GET /metrics HTTP/1.1\r\nHost:\r\n\r\n", lan.as_bytes()),
            200
        );
    }

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
