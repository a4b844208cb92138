//! Prometheus metrics (`--metrics ADDR:PORT`): a minimal HTTP/1.1
//! responder for `GET /metrics` on a thread of its own, serving the page
//! the refresh loop builds after each refresh.
//!
//! No async runtime, no HTTP crate: one thread polls the listener and a
//! fixed set of `CLIENTS` connections, all non-blocking, so no client
//! waits on another. Each has a fixed request buffer (a request whose
//! head does not fit is a 400), a deadline for its whole request head
//! (`HEAD_NS`) and one for its whole answer (`ANSWER_NS`), and
//! `Connection: close`. Only requests whose `Host` names the bound
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
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The page's bound: what does not fit is left out and counted in
/// `nftop_metrics_dropped_series`.
pub const PAGE_CAP: usize = 512 * 1024;
/// A request head (request line and headers) must fit here.
const REQ_CAP: usize = 4096;
/// Interfaces tracked by name (links come and go; their series stay).
const MAX_IFS: usize = 256;
/// Connections served at once. Full policy: a new connection takes the
/// place of the oldest one still sending its request (it had most of
/// `HEAD_NS` already); while all of them are being answered, new ones
/// wait in the kernel's backlog, at most `ANSWER_NS`.
const CLIENTS: usize = 8;
/// The whole request head must arrive within this of the accept.
const HEAD_NS: u64 = 2_000_000_000;
/// The whole answer must be taken within this of the request.
const ANSWER_NS: u64 = 5_000_000_000;
/// A device series that moved no bytes for this long is released: it
/// leaves the page (Prometheus ends it) and its slot is free.
pub const IDLE_NS: u64 = 600_000_000_000;

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Whether a `Host` header value names this responder, bound to `bound`:
/// `localhost` (or `localhost.localdomain`), or an IP literal, with or
/// without a port, that is the bound address (any address when bound to
/// the unspecified one). A page that DNS rebinding made a browser load
/// carries the attacker's name here, never an address, and is refused.
pub fn host_ok(host: &[u8], bound: IpAddr) -> bool {
    // The host without its port: up to `]` for an IPv6 literal.
    let end = match host.first() {
        Some(b'[') => host.iter().position(|&b| b == b']').map_or(0, |i| i + 1),
        _ => host.iter().position(|&b| b == b':').unwrap_or(host.len()),
    };
    let (name, port) = host.split_at(end);
    if !port
        .split_first()
        .is_none_or(|(&c, p)| c == b':' && p.iter().all(u8::is_ascii_digit))
    {
        return false;
    }
    if name.eq_ignore_ascii_case(b"localhost")
        || name.eq_ignore_ascii_case(b"localhost.localdomain")
    {
        return true;
    }
    // The parser --metrics uses, which wants a port.
    let mut a = [0u8; 64];
    let Some(b) = a.get_mut(..name.len() + 2) else {
        return false;
    };
    b[..name.len()].copy_from_slice(name);
    b[name.len()..].copy_from_slice(b":0");
    let ip = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<SocketAddr>().ok());
    ip.is_some_and(|ip| bound.is_unspecified() || ip.ip() == bound)
}

/// The status a request head gets from a responder bound to `bound`: 200
/// for `GET /metrics` (query string allowed), 404 for another path, 405
/// for another method, 421 when its `Host` names something else
/// (`host_ok`; a request without one, as HTTP/1.0 allows, is answered),
/// 400 for anything that is not an HTTP/1.x request line, or two `Host`
/// fields (RFC 9112 3.2).
pub fn status(head: &[u8], bound: IpAddr) -> u16 {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
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
    for h in lines.take_while(|l| !l.is_empty()) {
        if h.len() >= 5 && h[..5].eq_ignore_ascii_case(b"host:") {
            if host.is_some() {
                return 400;
            }
            host = Some(h[5..].trim_ascii());
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

struct Shared {
    /// The page clients are given now (a reference each, no copy).
    page: Mutex<Arc<Vec<u8>>>,
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

impl Series {
    /// Releases the series idle for `IDLE_NS` at `now`.
    fn release(&mut self, now: u64) {
        self.v.retain(|h| now.saturating_sub(h.active) < IDLE_NS);
    }

    /// The slot of device `id` in a refresh at `now` in which it moved
    /// bytes or not: found, taken, or None (counted as `other`).
    fn slot(&mut self, id: Id, moved: bool, now: u64) -> Option<usize> {
        if let Some(i) = self.v.iter().position(|h| h.id == id) {
            if moved {
                self.v[i].active = now;
            }
            return Some(i);
        }
        if !moved || self.max == 0 {
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
        if self.v.len() < self.max {
            self.v.push(new);
            return Some(self.v.len() - 1);
        }
        let (i, _) = (self.v.iter().enumerate())
            .filter(|(_, h)| h.active < now)
            .min_by_key(|(_, h)| h.active)?;
        self.v[i] = new;
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
fn labels(l: &mut Line, r: &HostRow, addr: &[u8], ctx: &Ctx, names: bool) {
    l.clear();
    l.push_str("host=\"");
    match r.who {
        Who::Local => l.push_str("local"),
        _ if addr.is_empty() => l.push(b'-'),
        // An address or `redacted`: nothing to escape.
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
    /// The page being built, and the two it is published into in turn:
    /// a client being answered holds one, so a page is never copied per
    /// client and three buffers of `PAGE_CAP` are all there is.
    page: Vec<u8>,
    pages: [Arc<Vec<u8>>; 2],
    /// Refreshes whose page was not published: clients still held both.
    held: u64,
    line: Line,
    /// Interface name -> conntrack's (tx, rx) bytes.
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
    /// starts the responder thread.
    pub fn start(addr: SocketAddr, max_hosts: usize, names: bool) -> crate::error::Result<Metrics> {
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
        let pages = [0; 2].map(|_| Arc::new(Vec::with_capacity(PAGE_CAP)));
        let shared = Arc::new(Shared {
            page: Mutex::new(pages[0].clone()),
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
            pages,
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
    /// rows of this refresh, `mono` its time.
    pub fn update(&mut self, t: &Tick, ctx: &Ctx, devices: &Devices, hosts: &Hosts, mono: u64) {
        let dt = if self.last_mono == 0 {
            0.0
        } else {
            mono.saturating_sub(self.last_mono) as f64 / 1e9
        };
        self.last_mono = mono;
        let bytes = |bps: f64| bps * dt / 8.0;
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
                None => continue,
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
                    labels(l, r, &addr[..h.alen as usize], ctx, self.names);
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
        // Into a page no client holds; the old one stays with the clients
        // still being answered from it.
        match (0..2).find(|&i| Arc::get_mut(&mut self.pages[i]).is_some()) {
            Some(i) => {
                if let Some(p) = Arc::get_mut(&mut self.pages[i]) {
                    std::mem::swap(p, &mut self.page);
                }
                if let Ok(mut p) = self.shared.page.lock() {
                    *p = self.pages[i].clone();
                }
            }
            None => self.held += 1,
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
                "Refreshes whose page was not published: slow clients held both spare pages.",
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

/// One connection of the responder.
#[derive(Default)]
struct Client {
    c: Option<TcpStream>,
    /// Bytes of its request head read; once answering, the length of the
    /// answer's head, written over the request in its buffer.
    n: usize,
    answering: bool,
    /// The page of a 200 to `GET` (None: the head is all).
    page: Option<Arc<Vec<u8>>>,
    /// Bytes of the answer sent.
    sent: usize,
    since: u64,
    deadline: u64,
}

/// The responder: the listener and up to `CLIENTS` connections in one
/// poll, each served as far as it goes without blocking.
fn serve(l: TcpListener, s: &Shared) {
    let bound = l.local_addr().map_or(IpAddr::from([0u8; 4]), |a| a.ip());
    let _ = l.set_nonblocking(true);
    let mut cs: [Client; CLIENTS] = Default::default();
    let mut bufs = vec![[0u8; REQ_CAP]; CLIENTS];
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; CLIENTS + 1];
    loop {
        let now = crate::sys::mono_ns();
        let mut wait = -1;
        for (c, p) in cs.iter_mut().zip(&mut fds[1..]) {
            if c.c.is_some() && now >= c.deadline {
                *c = Client::default();
            }
            p.fd = c.c.as_ref().map_or(-1, |t| t.as_raw_fd());
            p.events = if c.answering {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            if c.c.is_some() {
                let ms = (c.deadline - now).div_ceil(1_000_000).min(60_000) as i32;
                wait = if wait < 0 { ms } else { wait.min(ms) };
            }
        }
        // Room: a free slot, or one still reading its request.
        let room = cs.iter().any(|c| c.c.is_none() || !c.answering);
        fds[0] = libc::pollfd {
            fd: if room { l.as_raw_fd() } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        };
        crate::sys::poll(&mut fds, wait);
        let now = crate::sys::mono_ns();
        if fds[0].revents != 0 {
            // Every waiting connection a free slot takes, then one in
            // place of the oldest still reading (`CLIENTS`).
            loop {
                let free = cs.iter().position(|c| c.c.is_none());
                let i = free.or_else(|| {
                    (0..CLIENTS)
                        .filter(|&i| !cs[i].answering)
                        .min_by_key(|&i| cs[i].since)
                });
                let Some(i) = i else { break };
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(true);
                        cs[i] = Client {
                            c: Some(c),
                            since: now,
                            deadline: now + HEAD_NS,
                            ..Client::default()
                        };
                        if free.is_none() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        // EMFILE and the like: do not spin.
                        std::thread::sleep(Duration::from_millis(100));
                        break;
                    }
                }
            }
        }
        for (c, buf) in cs.iter_mut().zip(bufs.iter_mut()) {
            if !step(c, buf, s, bound, now) {
                *c = Client::default();
            }
        }
    }
}

/// Serves one connection as far as it goes without blocking. False when
/// it is done (answered, gone, or broken): then it is closed.
fn step(c: &mut Client, buf: &mut [u8; REQ_CAP], s: &Shared, bound: IpAddr, now: u64) -> bool {
    let Some(t) = c.c.as_mut() else { return true };
    if !c.answering {
        let n = c.n;
        let code = match t.read(&mut buf[n..]) {
            // Gone before a word, or half-closed in the middle (a 400).
            Ok(0) if n == 0 => return false,
            Ok(0) => 400,
            Ok(k) => {
                c.n += k;
                if buf[n.saturating_sub(3)..c.n]
                    .windows(4)
                    .any(|w| w == b"\r\n\r\n")
                {
                    status(&buf[..c.n], bound)
                } else if c.n == REQ_CAP {
                    400
                } else {
                    return true;
                }
            }
            Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
        };
        let mut len = 0;
        if code == 200 {
            if let Ok(p) = s.page.lock() {
                len = p.len();
                if !buf.starts_with(b"HEAD") {
                    c.page = Some(p.clone());
                }
            }
        }
        let mut head = Line::new();
        head.push_str(match code {
            200 => "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4",
            404 => "HTTP/1.1 404 Not Found",
            405 => "HTTP/1.1 405 Method Not Allowed",
            421 => "HTTP/1.1 421 Misdirected Request",
            _ => "HTTP/1.1 400 Bad Request",
        });
        head.push_str("\r\nContent-Length: ");
        render::fmt_fixed(&mut head, len as f64, 0);
        head.push_str("\r\nConnection: close\r\n\r\n");
        c.n = head.len();
        buf[..c.n].copy_from_slice(head.as_bytes());
        c.answering = true;
        c.deadline = now + ANSWER_NS;
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
        match t.write(rest) {
            Ok(k) if k > 0 => c.sent += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_their_status() {
        let lo = IpAddr::from([127, 0, 0, 1]);
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
        let get = |host: &str, bound: IpAddr| {
            let head = format!("GET /metrics HTTP/1.1\r\nUser-Agent: x\r\nHOST:  {host} \r\n\r\n");
            status(head.as_bytes(), bound)
        };
        let lan = IpAddr::from([192, 0, 2, 1]);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let any4 = IpAddr::from([0u8; 4]);
        let any6: IpAddr = "::".parse().unwrap();
        for (host, bound) in [
            ("192.0.2.1", lan),
            ("192.0.2.1:9464", lan),
            ("localhost", lan),
            ("LocalHost:9464", lan),
            ("localhost.localdomain", lan),
            ("[2001:db8::1]", v6),
            ("[2001:DB8:0::1]:9464", v6),
            ("127.0.0.1:9464", any4),
            ("198.51.100.7", any4),
            ("[::1]:9464", any6),
            ("192.0.2.1", any6),
            ("localhost", any6),
        ] {
            assert_eq!(get(host, bound), 200, "{host} to {bound}");
        }
        for (host, bound) in [
            ("evil.example", lan),
            ("evil.example:9464", lan),
            ("192.0.2.2", lan),
            ("192.0.2.1.evil.example", lan),
            ("[2001:db8::2]", v6),
            ("192.0.2.1", v6),
            ("evil.example", any4),
            ("localhost.evil.example", any6),
            ("1.2.3.4.5", any4),
            ("[::1", any6),
            ("[::1]x", any6),
            ("127.0.0.1:x", any4),
            ("2001:db8::1", v6),
        ] {
            assert_eq!(get(host, bound), 421, "{host} to {bound}");
        }
        // No Host (HTTP/1.0 allows it; a browser always sends one), or
        // an empty one.
        assert_eq!(status(b"GET /metrics HTTP/1.0\r\n\r\n", lan), 200);
        assert_eq!(status(b"GET /metrics HTTP/1.1\r\nHost:\r\n\r\n", lan), 200);
        // Headers after the head are not the head's.
        assert_eq!(
            status(
                b"GET /metrics HTTP/1.1\r\n\r\nHost: evil.example\r\n\r\n",
                lan
            ),
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
        let keys = |s: &Series| s.v.iter().map(|h| h.id.1).collect::<Vec<_>>();
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
        assert!(s.v.is_empty(), "{:?}", keys(&s));
        // No slots at all: everything is `other`.
        s.max = 0;
        assert_eq!(s.slot(id(1), true, 6 * S), None);
    }
}
