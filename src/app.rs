//! The refresh loop: dump, update flows, build the view, render, wait for
//! the next deadline while handling keys and signals.
//!
//! Ticks are scheduled against deadlines (start + k*interval), not "sleep
//! after work", so a slow refresh does not stretch the interval; a missed
//! deadline is skipped, never run twice in a row. Rates use the clock read
//! when each dump completes, so scheduling jitter never biases them.

use crate::cli::{self, AgeFmt, Config, Mode, SORT_COLS};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::flows::FlowTable;
use crate::health;
use crate::names::Names;
use crate::netlink::{CtSocket, DumpStats};
use crate::render::screen::{PromptKind, Screen, FALLBACK};
use crate::render::{self, Ctx, Line, Opts, Tick, Warnings};
use crate::route::Router;
use crate::sys;
use crate::term::{self, Key, Term};
use crate::view::{Devices, Filter, View};
use std::io::{BufWriter, Write};
use std::sync::atomic::Ordering;

/// Default flow table size when nf_conntrack_max cannot be read.
pub const DEFAULT_CAPACITY: usize = 65536;
/// Show the counter-reset warning this long after the last reset.
const RESET_WARN_NS: u64 = 60_000_000_000;

pub struct App {
    cfg: Config,
    mode: Mode,
    opts: Opts,
    filter: Filter,
    interval: f64,
    ct: CtSocket,
    router: Router,
    table: FlowTable,
    view: View,
    names: Names,
    warnings: Warnings,
    out: BufWriter<Box<dyn Write>>,
    line: Line,
    seq: u64,
    record: Option<std::fs::File>,
    stats: DumpStats,
    ct_count: u64,
    ct_max: u64,
    acct_on: bool,
    last_reset: u64,
    last_loss: u64,
    ct_drops: u64,
    events: Option<Events>,
    events_sysctl: bool,
    mono: u64,
    real: u64,
    screen: Option<Screen>,
    dev: bool,
    /// The attribution self-check: every flow's rates per interface
    /// (unfiltered) against the links' own counters, once per refresh.
    check_devs: Devices,
    check_all: Filter,
    mismatch: health::Mismatch,
    mismatch_w: Warnings,
}

/// Kernel drop counters from /proc/net/stat/nf_conntrack (fixed buffer).
fn read_ct_drops() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 16 * 1024];
    let Ok(mut f) = std::fs::File::open("/proc/net/stat/nf_conntrack") else {
        return 0;
    };
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    health::parse_ct_drops(&buf[..n])
}

/// Reads a small integer from /proc without allocating.
pub fn read_proc_u64(path: &str) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 32];
    let n = f.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

impl App {
    /// Opens sockets and sizes every table. Errors here are printed before
    /// the screen is touched.
    pub fn new(cfg: Config) -> Result<App> {
        Self::with_output(cfg, Box::new(std::io::stdout()))
    }

    /// Like `new`, writing to `out` instead of stdout (tests).
    pub fn with_output(cfg: Config, out: Box<dyn Write>) -> Result<App> {
        let ct_max = read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_max").unwrap_or(0);
        let capacity = cfg.capacity.unwrap_or(if ct_max > 0 {
            ct_max as usize
        } else {
            DEFAULT_CAPACITY
        });
        let ct = CtSocket::open()?;
        let router = Router::open(cfg.wan.clone())?;
        if cfg.enable_acct {
            let acct = read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_acct").unwrap_or(1);
            let ts = (cfg.age != AgeFmt::Off)
                .then(|| read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_timestamp"))
                .flatten();
            sys::set_exit_hook(sys::restore_sysctls);
            sys::enable_acct(acct, ts).map_err(Error::permission)?;
        }
        let events = if cfg.events {
            Some(Events::open(cfg.event_buffer)?)
        } else {
            None
        };
        let record = match &cfg.record {
            Some(p) => Some(
                std::fs::File::create(p)
                    .map_err(|e| Error::usage(format!("cannot create '{p}' for --record: {e}")))?,
            ),
            None => None,
        };
        let tty = sys::isatty(1);
        let mode = if cfg.mode == Mode::Screen && !(tty && sys::isatty(0)) {
            // Not a terminal: behave like -c so `nftop > file` works.
            Mode::Continuous
        } else {
            cfg.mode
        };
        let mut opts = Opts::from_config(&cfg);
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        opts.color = opts.color && tty && !no_color && mode == Mode::Screen;
        opts.utf8 = render::utf8_locale(|k| std::env::var_os(k));
        let resolve = !(cfg.numeric_local && cfg.numeric_remote)
            && mode != Mode::Machine
            && mode != Mode::Json;
        let names = Names::new(
            &cfg.hosts,
            &cfg.leases,
            cfg.dns && resolve,
            !cfg.numeric_port,
        );
        let seed = sys::real_ns() ^ (std::process::id() as u64) << 32;
        Ok(App {
            filter: Filter::from_config(&cfg),
            interval: cfg.interval,
            dev: cfg.dev,
            mode,
            opts,
            ct,
            router,
            table: {
                let mut t = FlowTable::new(capacity, seed);
                t.linger_s = cfg.linger;
                // A departed flow waits for its event at least three
                // refreshes.
                t.depart_wait_s = t.depart_wait_s.max((cfg.interval * 3.0).ceil() as u32);
                t
            },
            view: View::new(capacity),
            names,
            warnings: Warnings::default(),
            out: BufWriter::with_capacity(64 * 1024, out),
            line: Line::new(),
            seq: 0,
            record,
            stats: DumpStats::default(),
            ct_count: 0,
            ct_max,
            acct_on: true,
            last_reset: 0,
            last_loss: 0,
            ct_drops: 0,
            events,
            events_sysctl: true,
            mono: 0,
            real: 0,
            screen: None,
            check_devs: Devices::new(),
            check_all: Filter {
                ipv4: true,
                ipv6: true,
                loopback: true,
                threshold: None,
                in_if: None,
                out_if: None,
                ..Filter::from_config(&cfg)
            },
            mismatch: health::Mismatch::default(),
            mismatch_w: Warnings::default(),
            cfg,
        })
    }

    /// One refresh of the data: conntrack dump, links and addresses,
    /// rates, health. Allocation-free in steady state.
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
        let stats = match &mut self.record {
            Some(f) => self.ct.dump_with(
                |d| {
                    let _ = f.write_all(&(d.len() as u32).to_le_bytes());
                    let _ = f.write_all(d);
                },
                |c| table.observe(c),
            )?,
            None => self.ct.dump(|c| table.observe(c))?,
        };
        self.mono = sys::mono_ns();
        self.real = sys::real_ns();
        self.table.finish(self.mono, self.real);
        self.stats = stats;
        self.router.refresh(self.mono)?;
        self.router.attribute(self.table.flows_mut())?;
        let links = &self.router.net.links;
        self.check_devs
            .build(self.table.flows(), links, &self.check_all);
        self.mismatch_w.clear();
        self.mismatch
            .update(&self.check_devs.rows, links, &mut self.mismatch_w);
        self.names.refresh();
        self.ct_count = read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_count")
            .unwrap_or(self.table.len() as u64);
        if let Some(m) = read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_max") {
            self.ct_max = m;
        }
        self.acct_on =
            read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_acct").is_none_or(|v| v != 0);
        self.events_sysctl =
            read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_events").is_none_or(|v| v != 0);
        // Without events, a flow missing from a dump is gone for good.
        self.table.events = self.events.is_some() && self.events_sysctl;
        if self.ct_count * 10 >= self.ct_max * 9 {
            self.ct_drops = read_ct_drops();
        }
        if self.table.counts.resets > 0 {
            self.last_reset = self.mono;
        }
        self.seq += 1;
        Ok(())
    }

    fn health(&mut self) {
        let recent = |t: u64| (t != 0 && self.mono.saturating_sub(t) < RESET_WARN_NS).then_some(());
        let (received, lost) = self
            .events
            .as_ref()
            .map_or((0, 0), |e| (e.received, e.lost));
        let inputs = health::Inputs {
            acct_on: self.acct_on,
            no_counters: self.table.counts.no_counters,
            entries: self.stats.entries,
            table_dropped: self.table.counts.dropped,
            recent_resets: recent(self.last_reset).map(|_| self.table.counts.resets_total),
            ages_estimated: self.opts.age != AgeFmt::Off && self.table.counts.no_timestamp > 0,
            offloaded: self.table.counts.offloaded,
            dump_interrupted: self.stats.interrupted,
            malformed: self.stats.malformed + self.events.as_ref().map_or(0, |e| e.malformed),
            ct_count: self.ct_count,
            ct_max: self.ct_max,
            ct_drops: self.ct_drops,
            events_on: self.events.is_some() && self.events_sysctl,
            recent_event_loss: recent(self.last_loss).map(|_| lost),
            events_silent: received == 0 && self.table.counts.unexplained > 0,
            links_dropped: self.router.net.links.dropped,
            addrs_dropped: self.router.net.local.dropped,
            hosts_dropped: self.names.hosts_dropped,
            leases_dropped: self.names.leases_dropped,
        };
        health::compute(&inputs, &mut self.warnings);
        for w in self.mismatch_w.iter() {
            self.warnings.push(*w);
        }
    }

    /// Builds the view and writes one refresh in the current mode.
    pub fn render(&mut self) -> Result<()> {
        self.health();
        let limit = self
            .screen
            .as_ref()
            .map(|s| s.capacity(self.opts.wide, self.warnings.len(), &self.router.net.links));
        self.view.build(
            self.table.flows_mut(),
            &self.router.net,
            &self.filter,
            (self.mono, self.real),
            limit,
        );
        let ctx = Ctx {
            o: &self.opts,
            names: &self.names,
            links: &self.router.net.links,
            now_s: self.mono / 1_000_000_000,
        };
        let tick = Tick {
            seq: self.seq,
            real_ns: self.real,
            interval: self.interval,
            flows: self.table.flows(),
            view: &self.view,
            table_len: self.table.len(),
            table_cap: self.table.capacity(),
            ct_count: self.ct_count,
            ct_max: self.ct_max,
            warnings: &self.warnings,
            events: self.events.as_ref().map(|e| (e.received, e.lost)),
            closed_total: self.table.counts.closed_total,
            credited: self.table.counts.credited,
        };
        let r = match self.mode {
            Mode::Screen => match &mut self.screen {
                Some(s) => s.draw(&mut self.out, &tick, &ctx, &self.filter),
                None => Ok(()),
            },
            Mode::Continuous | Mode::Machine if self.dev => render::plain::write_devices(
                &mut self.out,
                &tick,
                &ctx,
                &mut self.line,
                self.mode == Mode::Machine,
            ),
            Mode::Continuous => {
                render::plain::write_continuous(&mut self.out, &tick, &ctx, &mut self.line)
            }
            Mode::Machine => {
                render::plain::write_machine(&mut self.out, &tick, &ctx, &mut self.line)
            }
            Mode::Json => {
                render::json::write_json(&mut self.out, &tick, &ctx, &mut self.line, self.dev)
            }
        };
        r.map_err(Error::output)
    }

    /// Runs until q, a signal, or `--count` refreshes. Returns the exit
    /// code.
    pub fn run(&mut self) -> Result<i32> {
        // The first dump happens before the screen opens so that a
        // permission error is printed on a normal terminal.
        self.refresh()?;
        let _term = if self.mode == Mode::Screen {
            let t = Term::enter();
            let (r, c) = sys::winsize(1)
                .map(|(r, c)| (r as usize, c as usize))
                .unwrap_or(FALLBACK);
            let mut s = Screen::new(r, c);
            s.dev = self.dev;
            self.screen = Some(s);
            t
        } else {
            None
        };
        self.render()?;
        let mut done = 1u64;
        // nftop has no panic of its own to trigger, so the panic path (the
        // hook, or abort + the SIGABRT handler in immediate-abort builds)
        // is tested by asking for one: tests/terminal.rs.
        let panic_at: Option<u64> = std::env::var("NFTOP_TEST_PANIC_AT")
            .ok()
            .and_then(|v| v.parse().ok());
        let start = self.mono;
        let mut next = start + self.interval_ns();
        if self.mode == Mode::Screen
            && self
                .table
                .flows()
                .iter()
                .any(|f| f.rate == crate::flows::RateState::Unknown)
        {
            // Without kernel timestamps the first screen has no rates: take
            // the second sample sooner.
            next = start + self.interval_ns().min(500_000_000);
        }
        let mut keybuf = [0u8; 64];
        loop {
            if self.cfg.count.is_some_and(|n| done >= n) {
                return Ok(0);
            }
            // Wait for the deadline, serving keys and signals.
            loop {
                let sig = sys::QUIT.load(Ordering::SeqCst);
                if sig != 0 {
                    return Ok(128 + sig as i32);
                }
                if sys::WINCH.swap(false, Ordering::SeqCst) {
                    self.resize();
                    self.render()?;
                }
                let now = sys::mono_ns();
                if now >= next {
                    break;
                }
                let ms = ((next - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
                if self.mode == Mode::Screen {
                    if sys::poll_readable(0, ms) {
                        let n = sys::read_fd(0, &mut keybuf);
                        if n == 0 {
                            // stdin closed: only signals can stop us now;
                            // sleep instead of spinning on EOF.
                            sys::poll_readable(-1, ms);
                            continue;
                        }
                        let mut quit = false;
                        let mut redraw = false;
                        let mut new_interval = false;
                        let bytes = keybuf;
                        term::parse_keys(&bytes[..n], |k| match self.key(k) {
                            KeyOutcome::Quit => quit = true,
                            KeyOutcome::Redraw => redraw = true,
                            KeyOutcome::Interval => {
                                new_interval = true;
                                redraw = true
                            }
                            KeyOutcome::None => {}
                        });
                        if quit {
                            return Ok(0);
                        }
                        if new_interval {
                            next = self.mono + self.interval_ns();
                        }
                        if redraw {
                            self.resize();
                            self.render()?;
                        }
                    }
                } else {
                    sys::poll_readable(-1, ms);
                }
            }
            let paused = self.screen.as_ref().is_some_and(|s| s.paused);
            if !paused {
                self.refresh()?;
                self.resize();
                self.render()?;
                done += 1;
                if panic_at == Some(done) {
                    panic!("NFTOP_TEST_PANIC_AT={done}: a panic on request");
                }
            }
            let now = sys::mono_ns();
            let step = self.interval_ns();
            next += step;
            if next <= now {
                // Missed deadlines are skipped, keeping the phase.
                next += (now - next) / step * step + step;
            }
        }
    }

    fn interval_ns(&self) -> u64 {
        (self.interval * 1e9) as u64
    }

    fn resize(&mut self) {
        if let Some(s) = &mut self.screen {
            let (r, c) = sys::winsize(1)
                .map(|(r, c)| (r as usize, c as usize))
                .unwrap_or(FALLBACK);
            s.resize(r, c);
        }
    }

    fn key(&mut self, k: Key) -> KeyOutcome {
        let Some(s) = &mut self.screen else {
            return KeyOutcome::None;
        };
        if let Some((kind, input)) = &mut s.prompt {
            match k {
                Key::Char(c) => input.push(c),
                Key::Backspace => {
                    let n = input.len().saturating_sub(1);
                    input.truncate(n);
                }
                Key::Esc => s.prompt = None,
                Key::Enter => {
                    let kind = *kind;
                    let mut buf = Line::new();
                    buf.push_str(input.as_str());
                    let value = buf.as_str().trim();
                    s.prompt = None;
                    s.message.clear();
                    match kind {
                        PromptKind::Interval => match cli::parse_interval(value) {
                            Ok(v) => {
                                self.interval = v;
                                self.table.depart_wait_s =
                                    crate::flows::DEPART_WAIT_S.max((v * 3.0).ceil() as u32);
                                s.invalidate();
                                return KeyOutcome::Interval;
                            }
                            Err(e) => s.message.push_str(&e.msg),
                        },
                        PromptKind::Threshold => match cli::parse_bps(value) {
                            Ok(v) => self.filter.threshold = Some(v),
                            Err(e) => s.message.push_str(&e.msg),
                        },
                    }
                }
                _ => {}
            }
            return KeyOutcome::Redraw;
        }
        let o = &mut self.opts;
        let f = &mut self.filter;
        s.message.clear();
        match k {
            Key::Char(b'q') => return KeyOutcome::Quit,
            Key::Char(b'p') => s.paused = !s.paused,
            Key::Char(b'h') | Key::Char(b'?') => {
                s.help = !s.help;
                s.invalidate();
            }
            Key::Char(b'd') => {
                self.dev = !self.dev;
                s.dev = self.dev;
                s.invalidate();
            }
            Key::Char(b'w') => {
                o.wide = !o.wide;
                s.invalidate();
            }
            Key::Char(b'a') => {
                o.age = match o.age {
                    AgeFmt::Off => AgeFmt::Seconds,
                    AgeFmt::Seconds => AgeFmt::Dhms,
                    AgeFmt::Dhms => AgeFmt::Off,
                }
            }
            Key::Char(b'b') => o.bytes = !o.bytes,
            Key::Char(b'B') => o.raw = !o.raw,
            Key::Char(b'S') => o.iec = !o.iec,
            Key::Char(b'V') => o.show_state = !o.show_state,
            Key::Char(b'I') => o.show_id = !o.show_id,
            Key::Char(b'r') => o.redact_local = !o.redact_local,
            Key::Char(b'R') => o.redact_remote = !o.redact_remote,
            Key::Char(b'n') => o.numeric_local = !o.numeric_local,
            Key::Char(b'N') => o.numeric_remote = !o.numeric_remote,
            Key::Char(b'l') => f.loopback = !f.loopback,
            Key::Char(b'4') => (f.ipv4, f.ipv6) = (true, false),
            Key::Char(b'6') => (f.ipv4, f.ipv6) = (false, true),
            Key::Char(b'0') => (f.ipv4, f.ipv6) = (true, true),
            Key::Char(b'u') => s.prompt = Some((PromptKind::Interval, Line::new())),
            Key::Char(b't') => s.prompt = Some((PromptKind::Threshold, Line::new())),
            Key::Char(b'<') | Key::Char(b',') | Key::Left => f.sort = step_sort(f.sort, -1),
            Key::Char(b'>') | Key::Char(b'.') | Key::Right => f.sort = step_sort(f.sort, 1),
            Key::Char(b'!') => f.ascending = !f.ascending,
            _ => return KeyOutcome::None,
        }
        KeyOutcome::Redraw
    }
}

enum KeyOutcome {
    None,
    Redraw,
    Interval,
    Quit,
}

fn step_sort(cur: cli::SortCol, d: i32) -> cli::SortCol {
    let n = SORT_COLS.len() as i32;
    let i = SORT_COLS.iter().position(|(_, c)| *c == cur).unwrap_or(0) as i32;
    SORT_COLS[((i + d).rem_euclid(n)) as usize].1
}
