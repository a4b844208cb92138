//! The refresh loop: dump, update flows, build the view, render, wait for
//! the next deadline while handling keys and signals.
//!
//! Ticks are scheduled against deadlines (start + k*interval), not "sleep
//! after work", so a slow refresh does not stretch the interval; a missed
//! deadline is skipped, never run twice in a row. Rates use the clock read
//! when each dump completes, so scheduling jitter never biases them.

use crate::budget::CpuBudget;
use crate::cli::Config;
use crate::ctentry::{self, EntrySocket};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::flows::FlowTable;
use crate::health::{self, Warnings};
use crate::kernel::{read_proc_u64, Kernel};
use crate::keys::{self, Outcome, Ui};
use crate::names::{Names, Source};
use crate::netlink::{CtSocket, DumpStats};
use crate::out::Out;
use crate::render::screen::{Screen, FALLBACK};
use crate::render::{self, Ctx, Line, Tick};
use crate::route::Router;
use crate::settings::{self, Env, Settings};
use crate::sys;
use crate::term::{self, Term};
use crate::view::{Devices, View};
use crate::vocab::{AgeFmt, Mode};
use std::io::Write;
use std::sync::atomic::Ordering;

/// Show the counter-reset warning this long after the last reset.
const RESET_WARN_NS: u64 = 60_000_000_000;

pub struct App {
    /// Fixed for the run: the flags, and what they resolved to.
    cfg: Config,
    settings: Settings,
    /// What keys change.
    ui: Ui,
    ct: CtSocket,
    router: Router,
    events: Option<Events>,
    table: FlowTable,
    view: View,
    names: Names,
    kernel: Kernel,
    stats: DumpStats,
    warnings: Warnings,
    /// Monotonic time of the last counter reset and event loss (0: none).
    last_reset: u64,
    last_loss: u64,
    /// The attribution self-check: every flow's rates per interface
    /// (unfiltered) against the links' own counters, once per refresh, on
    /// the view's pass over the flows.
    check: Check,
    out: Out,
    line: Line,
    seq: u64,
    record: Option<std::fs::File>,
    /// Clock readings when the last dump completed.
    mono: u64,
    real: u64,
    screen: Option<Screen>,
    budget: CpuBudget,
    /// What the terminal answered when asked its size (the tty said 0x0),
    /// and whether it was asked yet.
    asked: Option<(usize, usize)>,
    asked_once: bool,
    /// Single-entry requests (detail pane, kill), opened at first use.
    entries: Option<EntrySocket>,
    /// The refresh the detail pane last asked the kernel about.
    detail_seq: u64,
    /// The per-device view's rows (built only while it is shown, or
    /// for the metrics).
    hosts: crate::hostview::Hosts,
    /// `--metrics`: the Prometheus page, updated once per refresh.
    metrics: Option<crate::metrics::Metrics>,
    metrics_seq: u64,
    /// Refresh deadlines missed since start.
    missed: u64,
    /// `--ipfix`: the exporter, fed after each refresh.
    ipfix: Option<crate::ipfix::Ipfix>,
}

struct Check {
    devs: Devices,
    mismatch: health::Mismatch,
    found: Warnings,
    /// The refresh it last checked (renders between refreshes repeat
    /// the view, not the check).
    seq: u64,
}

impl App {
    /// Opens sockets and sizes every table, drops root (`--user`), then
    /// reads the files names come from. Errors here are printed before
    /// the screen is touched.
    pub fn new(cfg: Config) -> Result<App> {
        Self::open(cfg, Out::stdout(), true)
    }

    /// Like `new`, writing to `out` instead of stdout, as the user it was
    /// started as (tests).
    pub fn with_output(cfg: Config, out: Box<dyn Write>) -> Result<App> {
        Self::open(cfg, Out::writer(out), false)
    }

    fn open(cfg: Config, mut out: Out, drop_root: bool) -> Result<App> {
        let env = Env::read();
        let st = settings::settle(&cfg, &env);
        out.ascii = !st.opts.utf8;
        if let Some(n) = st.note {
            let _ = writeln!(std::io::stderr(), "nftop: {n}");
        }
        let user = if drop_root {
            // Threads asked for from here on start after the drop.
            sys::hold_threads();
            Some(crate::user::resolve(cfg.user.as_deref())?)
        } else {
            None
        };
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
            // Created new, not through a link, for its owner only: it is
            // opened as root, and it holds every connection unredacted.
            Some(p) => Some({
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::File::options()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(p)
                    .map_err(|e| Error::usage(format!("cannot create '{p}' for --record: {e}")))?
            }),
            None => None,
        };
        let metrics = match cfg.metrics {
            Some(a) => Some(crate::metrics::Metrics::start(
                a,
                cfg.metrics_hosts,
                !cfg.metrics_no_names,
            )?),
            None => None,
        };
        if let Some((uid, gid)) = user {
            // The screen's own descriptor of the tty is opened through
            // /proc/self/fd, which the new user may not open.
            if st.mode == Mode::Screen {
                out.reserve_screen_fd();
            }
            // Every socket is open, the sysctls set, the metrics port
            // bound: from here on only CAP_NET_ADMIN is needed.
            sys::drop_privileges(uid, gid).map_err(|e| {
                Error::permission(format!(
                    "cannot drop root privileges: {e} (nftop does not run half-dropped)"
                ))
            })?;
        }
        let names = Names::open(
            match &cfg.hosts {
                Some(p) => Source {
                    path: p,
                    explicit: true,
                },
                None => Source {
                    path: "/etc/hosts",
                    explicit: false,
                },
            },
            match &cfg.leases {
                Some(p) => Source {
                    path: p,
                    explicit: true,
                },
                None => Source::default_leases(),
            },
            cfg.dns && st.resolve,
            !cfg.numeric_port,
        );
        let seed = sys::real_ns() ^ (std::process::id() as u64) << 32;
        let mut table = FlowTable::new(st.capacity, seed);
        let ipfix = match cfg.ipfix {
            Some(a) => {
                table.keep_exported();
                let mut x = crate::ipfix::Ipfix::open(a, cfg.ipfix_domain)?;
                x.privacy = crate::privacy::Privacy::of(&cfg);
                Some(x)
            }
            None => None,
        };
        table.linger_s = cfg.linger;
        table.depart_wait_s = depart_wait(cfg.interval);
        Ok(App {
            ui: Ui::new(&cfg, st.opts.clone()),
            ct,
            router,
            events,
            table,
            view: View::new(st.capacity),
            names,
            kernel: Kernel::new(env.ct_max),
            stats: DumpStats::default(),
            warnings: Warnings::default(),
            last_reset: 0,
            last_loss: 0,
            check: Check {
                devs: Devices::new(),
                mismatch: health::Mismatch::default(),
                found: Warnings::default(),
                seq: 0,
            },
            out,
            line: Line::new(),
            seq: 0,
            record,
            mono: 0,
            real: 0,
            screen: None,
            budget: CpuBudget::new(cfg.cpu),
            asked: None,
            asked_once: false,
            entries: None,
            detail_seq: u64::MAX,
            hosts: crate::hostview::Hosts::default(),
            metrics,
            metrics_seq: 0,
            missed: 0,
            ipfix,
            settings: st,
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
        let record = &mut self.record;
        let stats = self.ct.dump_entries(
            |d| {
                if let Some(f) = record {
                    let _ = f.write_all(&(d.len() as u32).to_le_bytes());
                    let _ = f.write_all(d);
                }
            },
            |c, reply| table.observe_lazy(c, reply),
        )?;
        self.mono = sys::mono_ns();
        self.real = sys::real_ns();
        self.table.finish(self.mono, self.real);
        self.stats = stats;
        self.router.refresh(self.mono)?;
        self.router.attribute_table(&mut self.table)?;
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

    fn health(&mut self) {
        let recent = |t: u64| (t != 0 && self.mono.saturating_sub(t) < RESET_WARN_NS).then_some(());
        let (received, lost) = self
            .events
            .as_ref()
            .map_or((0, 0), |e| (e.received, e.lost));
        let inputs = health::Inputs {
            acct_on: self.kernel.acct_on,
            no_counters: self.table.counts.no_counters,
            entries: self.stats.entries,
            table_dropped: self.table.counts.dropped,
            recent_resets: recent(self.last_reset).map(|_| self.table.counts.zero_period_s),
            ages_estimated: self.ui.opts.age != AgeFmt::Off && self.table.counts.no_timestamp > 0,
            offloaded: self.table.counts.offloaded,
            dump_interrupted: self.stats.interrupted,
            malformed: self.stats.malformed + self.events.as_ref().map_or(0, |e| e.malformed),
            ct_count: self.kernel.ct_count,
            ct_max: self.kernel.ct_max,
            ct_drops: self.kernel.ct_drops,
            events_on: self.events.is_some() && self.kernel.events_on,
            recent_event_loss: recent(self.last_loss).map(|_| lost),
            events_silent: received == 0 && self.table.counts.unexplained > 0,
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

    /// Builds the view and writes one refresh in the current mode.
    pub fn render(&mut self) -> Result<()> {
        let (flows, spills) = self.table.parts_mut();
        let c = &mut self.check;
        let check = c.seq != self.seq;
        self.view.derive(
            (flows, spills),
            &self.router.net,
            &self.names,
            &self.ui.filter,
            (self.mono, self.real),
            check.then_some(&mut c.devs),
        );
        if self.ui.hosts || self.metrics.is_some() {
            self.hosts.build(flows, spills, &self.router.net);
            self.hosts
                .order(self.ui.filter.sort, self.ui.filter.ascending);
            let h = &self.hosts;
            let ids = h.order.iter().map(|&k| {
                let r = &h.rows[k as usize];
                (r.who, r.key)
            });
            self.ui.host.settle(ids);
        }
        if check {
            c.seq = self.seq;
            c.found.clear();
            c.mismatch
                .update(&c.devs.rows, &self.router.net.links, &mut c.found);
        }
        // Once per refresh, after the view set each flow's sides (which
        // -r/-R hide): the IPFIX records.
        if let (true, Some(x)) = (check, &mut self.ipfix) {
            let links = &self.router.net.links;
            x.export(&mut self.table, links, self.mono, self.real);
        }
        // The warnings take screen lines: known before the rows are cut.
        self.health();
        let window = self.page();
        self.view.order(
            self.table.flows(),
            &self.router.net.links,
            &self.ui.filter,
            window,
        );
        if window.is_some() && !self.ui.dev && !self.ui.hosts {
            self.select();
        }
        let ctx = Ctx {
            o: &self.ui.opts,
            names: &self.names,
            links: &self.router.net.links,
            now_s: self.mono / 1_000_000_000,
        };
        let tick = Tick {
            seq: self.seq,
            real_ns: self.real,
            interval: self.budget.interval(self.ui.interval),
            interval_requested: self.ui.interval,
            cpu_budget: self.budget.pct,
            flows: self.table.flows(),
            spills: self.table.spills(),
            view: &self.view,
            table_len: self.table.len(),
            table_cap: self.table.capacity(),
            ct_count: self.kernel.ct_count,
            ct_max: self.kernel.ct_max,
            warnings: &self.warnings,
            events: self.events.as_ref().map(|e| (e.received, e.lost)),
            closed_total: self.table.counts.closed_total,
            credited: self.table.counts.credited,
            estimated: self.table.counts.estimated_total,
            hosts: self.ui.hosts.then_some(&self.hosts),
            frames_skipped: self.out.skipped,
            deadlines_missed: self.missed,
            ipfix: self.ipfix.as_ref().map(|x| (x.records, x.dropped)),
        };
        let r = match self.settings.mode {
            // The latest frame wins: while the last one is still on its way
            // to a slow terminal, this one is skipped (out.rs).
            Mode::Screen if self.out.busy() => {
                self.out.skipped += 1;
                Ok(())
            }
            Mode::Screen => match &mut self.screen {
                Some(s) => s.draw(&mut self.out, &tick, &ctx, &self.ui),
                None => Ok(()),
            },
            Mode::Continuous | Mode::Machine if self.ui.hosts => render::hosts::write_plain(
                &mut self.out,
                &tick,
                &ctx,
                &mut self.line,
                self.settings.mode == Mode::Machine,
            )
            .and_then(|()| self.out.flush()),
            Mode::Continuous | Mode::Machine if self.ui.dev => render::plain::write_devices(
                &mut self.out,
                &tick,
                &ctx,
                &mut self.line,
                self.settings.mode == Mode::Machine,
            ),
            Mode::Continuous => {
                render::plain::write_continuous(&mut self.out, &tick, &ctx, &mut self.line)
            }
            Mode::Machine => {
                render::plain::write_machine(&mut self.out, &tick, &ctx, &mut self.line)
            }
            Mode::Json => {
                render::json::write_json(&mut self.out, &tick, &ctx, &mut self.line, self.ui.dev)
            }
            Mode::Quiet => Ok(()),
        };
        if let Some(m) = &mut self.metrics {
            if self.metrics_seq != self.seq {
                self.metrics_seq = self.seq;
                // Exports keep the command line's -r/-R; the keys change
                // the screen only.
                let o = render::Opts {
                    privacy: crate::privacy::Privacy::of(&self.cfg),
                    ..self.ui.opts.clone()
                };
                // Every connection, whatever the display filters: the
                // self-check's device table, built in this refresh.
                let devs = &self.check.devs;
                m.update(&tick, &Ctx { o: &o, ..ctx }, devs, &self.hosts, self.mono);
            }
        }
        r.map_err(Error::output)
    }

    /// The screen's page of rows, (first, count), around the selected
    /// connection; None (every row) for the other outputs.
    fn page(&mut self) -> Option<(usize, usize)> {
        let cap = self.screen.as_ref()?.capacity(
            self.ui.opts.wide,
            self.warnings.len(),
            &self.router.net.links,
        );
        self.ui.host.page = cap;
        if self.ui.dev || self.ui.hosts || self.ui.help {
            return Some((0, cap));
        }
        if self.ui.sel.detail {
            // The pane takes the screen: no rows are drawn.
            return Some((0, 0));
        }
        let (flows, links, f) = (self.table.flows(), &self.router.net.links, &self.ui.filter);
        let rank = (self.ui.sel.conn.as_ref())
            .and_then(|c| self.table.index_of(c))
            .and_then(|i| self.view.rank(flows, links, f, i));
        Some(self.ui.sel.window(rank, self.view.matched, cap))
    }

    /// After the page is ordered: the selection is the row at its
    /// position (with the pane open it stays on its connection, ended or
    /// not); its rates go to the history, and with the pane open the
    /// kernel is asked for the entry once per refresh.
    fn select(&mut self) {
        let sel = &mut self.ui.sel;
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
        let unasked = sel.answer.is_none() && sel.errno == 0;
        if sel.detail && (self.detail_seq != self.seq || unasked) {
            self.detail_seq = self.seq;
            if let Some(c) = sel.conn {
                let (errno, answer) = match self.entry_socket() {
                    Ok(s) => s.ask(ctentry::CT_GET, &c),
                    Err(_) => (libc::EIO, None),
                };
                let sel = &mut self.ui.sel;
                (sel.errno, sel.answer) = (errno, answer);
            }
        }
    }

    /// The socket for single entries, opened at the first use.
    fn entry_socket(&mut self) -> Result<&mut EntrySocket> {
        if self.entries.is_none() {
            self.entries = Some(EntrySocket::open()?);
        }
        Ok(self.entries.as_mut().expect("opened above"))
    }

    /// `y` to the delete question: the kernel deletes exactly that entry
    /// (tuple, zone and id); its answer is the message.
    fn kill(&mut self) {
        let Some(c) = self.ui.confirm.take() else {
            return;
        };
        let errno = match self.entry_socket() {
            Ok(s) => s.ask(ctentry::CT_DELETE, &c).0,
            Err(_) => libc::EIO,
        };
        let m = &mut self.ui.message;
        m.clear();
        m.push_str(if errno == 0 { "deleted " } else { "delete " });
        render::fmt_proto(m, c.orig.proto);
        m.push(b' ');
        let (flows, idx) = (self.table.flows(), self.ui.sel.idx);
        let hide = self.ui.opts.privacy.flow(flows, idx, c.id);
        render::fmt_tuple(m, &c.orig, c.addr_len(), hide.tuple(false));
        if errno != 0 {
            m.push_str(": ");
            render::detail::explain(m, errno);
        }
    }

    /// `y` to deleting a device's connections: every live connection
    /// that counts for it (as its row does), one request each.
    fn kill_device(&mut self) {
        let Some(id) = self.ui.confirm_host.take() else {
            return;
        };
        let (mut done, mut gone, mut failed, mut last) = (0u32, 0u32, 0u32, 0);
        for i in 0..self.table.flows().len() {
            let f = &self.table.flows()[i];
            if f.life != crate::flows::Life::Live
                || crate::hostview::device_of(f, self.table.spills(), &self.router.net).id() != id
            {
                continue;
            }
            let c = self.table.conn(f);
            let errno = match self.entry_socket() {
                Ok(s) => s.ask(ctentry::CT_DELETE, &c).0,
                Err(_) => libc::EIO,
            };
            match errno {
                0 => done += 1,
                libc::ENOENT => gone += 1,
                e => (failed, last) = (failed + 1, e),
            }
        }
        use std::fmt::Write as _;
        let m = &mut self.ui.message;
        m.clear();
        let _ = write!(m, "deleted {done} connections ({gone} had ended already)");
        if failed > 0 {
            let _ = write!(m, "; {failed} refused: ");
            render::detail::explain(m, last);
        }
    }

    /// Runs until q, a signal, or `--count` refreshes. Returns the exit
    /// code.
    pub fn run(&mut self) -> Result<i32> {
        // The first dump happens before the screen opens so that a
        // permission error is printed on a normal terminal.
        self.refresh()?;
        let _term = if self.settings.mode == Mode::Screen {
            let t = Term::enter();
            if t.is_some() {
                self.out.screen_mode();
            }
            let (r, c) = self.term_size(false);
            self.screen = Some(Screen::new(r, c));
            t
        } else {
            None
        };
        let r = self.render().and_then(|()| self.refresh_loop());
        // A frame still on its way goes out whole before the terminal is
        // restored (never cut inside an escape sequence).
        self.out.drain();
        r
    }

    fn refresh_loop(&mut self) -> Result<i32> {
        let mut done = 1u64;
        // nftop has no panic of its own to trigger, so the panic path (the
        // hook, or abort + the SIGABRT handler in immediate-abort builds)
        // is tested by asking for one: tests/terminal.rs.
        let panic_at: Option<u64> = std::env::var("NFTOP_TEST_PANIC_AT")
            .ok()
            .and_then(|v| v.parse().ok());
        let start = self.mono;
        let mut next = start + self.interval_ns();
        if self.settings.mode == Mode::Screen
            && self
                .table
                .flows()
                .iter()
                .any(|f| f.rate() == crate::flows::RateState::Unknown)
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
                if sys::REPAINT.swap(false, Ordering::SeqCst) {
                    // Back from a job-control stop (fg): the terminal
                    // shows whatever the shell left there. The rest of a
                    // frame cut by the stop is dropped: all is repainted.
                    self.out.discard();
                    if let Some(s) = &mut self.screen {
                        s.invalidate();
                    }
                    self.resize();
                    self.render()?;
                }
                if sys::WINCH.swap(false, Ordering::SeqCst) {
                    self.resize();
                    self.render()?;
                }
                let now = sys::mono_ns();
                if now >= next {
                    break;
                }
                let mut ms = ((next - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
                if self.out.busy() {
                    // A frame is still going out: look again soon.
                    ms = ms.min(20);
                }
                if self.settings.mode == Mode::Screen {
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
                        term::parse_keys(&bytes[..n], |k| {
                            let outcome = keys::handle(&mut self.ui, k);
                            self.after_key(outcome);
                            match outcome {
                                Outcome::Quit => quit = true,
                                Outcome::Interval => {
                                    new_interval = true;
                                    redraw = true
                                }
                                Outcome::Redraw
                                | Outcome::Relayout
                                | Outcome::Repaint
                                | Outcome::Kill => redraw = true,
                                Outcome::None => {}
                            }
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
            let paused = self.screen.is_some() && self.ui.paused;
            if !paused {
                let cpu0 = sys::process_cpu_ns();
                self.refresh()?;
                self.resize();
                self.render()?;
                self.budget
                    .spent(sys::process_cpu_ns().saturating_sub(cpu0) as f64 / 1e9);
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
                let skip = (now - next) / step + 1;
                self.missed += skip;
                next += skip * step;
            }
        }
    }

    fn interval_ns(&self) -> u64 {
        (self.budget.interval(self.ui.interval) * 1e9) as u64
    }

    fn resize(&mut self) {
        if self.screen.is_some() {
            let (r, c) = self.term_size(false);
            if let Some(s) = &mut self.screen {
                s.resize(r, c);
            }
        }
    }

    /// The terminal's size: the tty's; else, where the tty says 0x0 (a
    /// serial console, which never sends SIGWINCH either), what the
    /// terminal answers when asked (once, and again on Ctrl-L with `ask`);
    /// else 80x24. The help says which.
    fn term_size(&mut self, ask: bool) -> (usize, usize) {
        use std::fmt::Write as _;
        let note = &mut self.ui.size_note;
        note.clear();
        if let Some((r, c)) = sys::winsize(1) {
            let _ = write!(note, "terminal {c}x{r} (from the tty)");
            return (r as usize, c as usize);
        }
        if ask || !self.asked_once {
            self.asked_once = true;
            self.asked = term::ask_size().map(|(r, c)| (r as usize, c as usize));
        }
        match self.asked {
            Some((r, c)) => {
                let _ = write!(
                    note,
                    "terminal {c}x{r} (the tty says 0x0: asked the terminal)"
                );
                (r, c)
            }
            None => {
                let (r, c) = FALLBACK;
                let _ = write!(
                    note,
                    "terminal {c}x{r} (no size from the tty or the terminal: assumed)"
                );
                (r, c)
            }
        }
    }

    /// Applies what a key changed to the parts outside the UI state.
    fn after_key(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Relayout => {
                if let Some(s) = &mut self.screen {
                    s.invalidate();
                }
            }
            Outcome::Repaint => {
                self.term_size(true);
                if let Some(s) = &mut self.screen {
                    s.invalidate();
                }
            }
            Outcome::Kill if self.ui.confirm_host.is_some() => self.kill_device(),
            Outcome::Kill => self.kill(),
            Outcome::Interval => {
                self.table.depart_wait_s = depart_wait(self.ui.interval);
                if let Some(s) = &mut self.screen {
                    s.invalidate();
                }
            }
            _ => {}
        }
    }
}

/// A departed flow waits for its DESTROY event at least three refreshes.
fn depart_wait(interval: f64) -> u32 {
    crate::flows::DEPART_WAIT_S.max((interval * 3.0).ceil() as u32)
}
