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
//!
//! Files: `server` the responder thread (poll loop, client slots,
//! deadlines), `http` the requests and answer heads, `page` the page's
//! text, `series` the per-device series (their slots and LRU policy).

mod http;
mod page;
mod series;
mod server;

pub use http::{host_ok, status};
pub use series::IDLE_NS;

use crate::hostview::{Hosts, Who};
use crate::render::{Ctx, Line, Tick};
use crate::view::Devices;
use series::{Series, LABELS};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

/// The page's bound: what does not fit is left out and counted in
/// `nftop_metrics_dropped_series`.
pub const PAGE_CAP: usize = 512 * 1024;
/// Interfaces tracked by name (links come and go; their series stay).
const MAX_IFS: usize = 256;

/// A published page: clients hold it by reference while they send it.
type Page = Arc<Vec<u8>>;

/// What the refresh and the responder share.
struct Shared {
    /// The page clients are given now (a reference each, no copy), and
    /// the one before it, which clients may still be answered from: the
    /// refresh builds the next page over it only when none is.
    page: Mutex<(Page, Page)>,
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
            http::fmt_ip(&mut a, addr.ip());
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
            Box::new(move || server::serve(l, addr.ip(), &s)),
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
                    let a = series::shown_addr(r, &h.addr[..h.alen as usize]);
                    let mut addr = [0u8; 16];
                    addr[..a.len()].copy_from_slice(a);
                    h.alen = a.len() as u8;
                    h.addr = addr;
                    let l = &mut self.line;
                    page::labels(l, r, &addr[..h.alen as usize], ctx, self.names, i);
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
}
