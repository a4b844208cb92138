//! The loop: it owns the refresh pipeline, the sinks, the UI state and
//! time. Each refresh the pipeline dumps and derives the refresh's facts
//! (pipeline.rs); the exporters read them once per refresh, then the
//! writer asked for (screen, `-c`, `-M`, JSON; none with `--quiet`)
//! draws them (sinks.rs); between refreshes it waits for the next
//! deadline while handling keys and signals.
//!
//! Ticks are scheduled against deadlines (start + k*interval), not "sleep
//! after work", so a slow refresh does not stretch the interval; a missed
//! deadline is skipped, never run twice in a row. Rates use the clock read
//! when each dump completes, so scheduling jitter never biases them.

mod entries;
mod pipeline;
mod sinks;
mod source;
mod terminal;

pub use sinks::write_output;
pub use source::CtSource;

use crate::budget::CpuBudget;
use crate::cli::Config;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::flows::FlowTable;
use crate::health::Warnings;
use crate::kernel::{read_proc_u64, Kernel};
use crate::keys::{self, Outcome, Ui};
use crate::names::{Names, Source};
use crate::netlink::{CtSocket, DumpStats};
use crate::out::Out;
use crate::render::{self, Tick};
use crate::route::Router;
use crate::settings::{self, Env, Settings};
use crate::sys;
use crate::term::{self, Term};
use crate::view::View;
use crate::vocab::{AgeFmt, Mode};
use entries::Entries;
use pipeline::{Check, Pipeline};
use sinks::Sinks;
use std::io::Write;
use std::sync::atomic::Ordering;
use terminal::Terminal;

/// The loop, its connections from `S` (the kernel's table in nftop).
pub struct App<S = CtSocket> {
    /// Fixed for the run: the flags, and what they resolved to.
    cfg: Config,
    settings: Settings,
    /// What keys change.
    ui: Ui,
    pipe: Pipeline<S>,
    /// Single-entry requests (detail pane, kill).
    entries: Entries,
    sinks: Sinks,
    term: Terminal,
    budget: CpuBudget,
    /// Refresh deadlines missed since start.
    missed: u64,
}

impl App {
    /// Opens sockets and sizes every table, drops root (`--user`), then
    /// reads the files names come from. Errors here are printed before
    /// the screen is touched.
    pub fn new(cfg: Config) -> Result<App> {
        Self::open(cfg, Out::stdout(), true, CtSocket::open)
    }

    /// Like `new`, writing to `out` instead of stdout, as the user it was
    /// started as (tests).
    pub fn with_output(cfg: Config, out: Box<dyn Write>) -> Result<App> {
        Self::open(cfg, Out::writer(out), false, CtSocket::open)
    }
}

impl<S: CtSource> App<S> {
    /// Like `new`, its connections from the source `open` returns (test
    /// tools: a recorded or failing source in the real loop).
    pub fn with_source(cfg: Config, open: impl FnOnce() -> Result<S>) -> Result<App<S>> {
        Self::open(cfg, Out::stdout(), true, open)
    }

    fn open(
        cfg: Config,
        mut out: Out,
        drop_root: bool,
        source: impl FnOnce() -> Result<S>,
    ) -> Result<App<S>> {
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
        let ct = source()?;
        let router = Router::open(cfg.wan.clone())?;
        if cfg.enable_acct {
            enable_acct(&cfg)?;
        }
        let events = if cfg.events {
            Some(Events::open(cfg.event_buffer)?)
        } else {
            None
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
            drop_privileges(uid, gid)?;
        }
        let names = open_names(&cfg, st.resolve);
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
            pipe: Pipeline {
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
                check: Check::new(),
                seq: 0,
                mono: 0,
                real: 0,
                hosts: crate::hostview::Hosts::default(),
            },
            entries: Entries::new(),
            sinks: Sinks {
                out,
                line: render::Line::new(),
                metrics,
                ipfix,
            },
            term: Terminal::default(),
            budget: CpuBudget::new(cfg.cpu),
            missed: 0,
            settings: st,
            cfg,
        })
    }

    /// One refresh of the data: conntrack dump, links and addresses,
    /// rates. Allocation-free in steady state.
    pub fn refresh(&mut self) -> Result<()> {
        self.pipe.refresh()
    }

    /// Derives the refresh's facts and places the rows (`place`), then
    /// writes them in the current mode.
    pub fn render(&mut self) -> Result<()> {
        if !self.place() {
            return Ok(());
        }
        let mode = self.settings.mode;
        // The latest frame wins: while the last one is still on its way
        // to a slow terminal, this one is skipped (out.rs).
        if mode == Mode::Screen && self.sinks.out.busy() {
            self.sinks.out.skipped += 1;
            self.sinks.out.owed = true;
            return Ok(());
        }
        self.sinks.out.owed = false;
        let tick = tick(&self.pipe, &self.ui, &self.budget, self.counts());
        let ctx = self.pipe.ctx(&self.ui.opts);
        let (s, screen) = (&mut self.sinks, self.term.screen.as_mut());
        write_output(&mut s.out, mode, screen, &tick, &ctx, &self.ui, &mut s.line)
            .map_err(Error::output)
    }

    /// Derives the refresh's facts (once per refresh: the exporters'
    /// turn) and places the rows: the page, its order, the selection.
    /// False in quiet mode, which shows no rows.
    fn place(&mut self) -> bool {
        let hosts = self.ui.hosts || self.sinks.metrics.is_some();
        let fresh = self.pipe.derive(&mut self.ui, hosts);
        // The warnings take screen lines: known before the rows are cut.
        self.pipe.health(self.ui.opts.age != AgeFmt::Off);
        if fresh {
            self.export();
        }
        if self.settings.mode == Mode::Quiet {
            return false;
        }
        let p = &mut self.pipe;
        let cap = (self.term.screen.as_ref())
            .map(|s| s.capacity(self.ui.opts.wide, p.warnings.len(), &p.router.net.links));
        let window = p.page(&mut self.ui, cap);
        let (flows, links) = (p.table.flows(), &p.router.net.links);
        p.view.order(flows, links, &self.ui.filter, window);
        if window.is_some() && !self.ui.dev && !self.ui.hosts {
            p.select(&mut self.ui);
            self.entries.detail(&mut self.ui, p.seq);
        }
        true
    }

    /// The exporters, once per refresh, after the view set each flow's
    /// sides (which -r/-R hide): the IPFIX records, the metrics page.
    fn export(&mut self) {
        let p = &mut self.pipe;
        if let Some(x) = &mut self.sinks.ipfix {
            x.export(&mut p.table, &p.router.net.links, p.mono, p.real);
        }
        let counts = self.counts();
        if let Some(m) = &mut self.sinks.metrics {
            // Exports keep the command line's -r/-R; the keys change
            // the screen only.
            let o = render::Opts {
                privacy: crate::privacy::Privacy::of(&self.cfg),
                ..self.ui.opts.clone()
            };
            let p = &self.pipe;
            let tick = tick(p, &self.ui, &self.budget, counts);
            // Every connection, whatever the display filters: the
            // self-check's device table, built in this refresh.
            m.update(&tick, &p.ctx(&o), &p.check.devs, &p.hosts, p.mono);
        }
    }

    /// The loop's own counters the sinks show: frames skipped behind a
    /// slow terminal, deadlines missed, IPFIX records sent and dropped.
    fn counts(&self) -> Counts {
        let x = self.sinks.ipfix.as_ref();
        (
            self.sinks.out.skipped,
            self.missed,
            x.map(|x| (x.records, x.dropped)),
        )
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
                self.sinks.out.screen_mode();
            }
            self.term.open(&mut self.ui, &mut self.sinks.out);
            t
        } else {
            None
        };
        let r = self.render().and_then(|()| self.refresh_loop());
        // A frame still on its way goes out whole before the terminal is
        // restored (never cut inside an escape sequence).
        self.sinks.out.drain();
        r
    }

    fn refresh_loop(&mut self) -> Result<i32> {
        let mut done = 1u64;
        let start = self.pipe.mono;
        let mut next = start + self.interval_ns();
        if self.settings.mode == Mode::Screen
            && (self.pipe.table.flows().iter())
                .any(|f| f.rate() == crate::flows::RateState::Unknown)
        {
            // Without kernel timestamps the first screen has no rates: take
            // the second sample sooner.
            next = start + self.interval_ns().min(500_000_000);
        }
        loop {
            if self.cfg.count.is_some_and(|n| done >= n) {
                return Ok(0);
            }
            if let Some(code) = self.wait(&mut next)? {
                return Ok(code);
            }
            let paused = self.term.screen.is_some() && self.ui.paused;
            if !paused {
                let cpu0 = sys::process_cpu_ns();
                self.refresh()?;
                self.term.resize(&mut self.ui, &mut self.sinks.out);
                self.render()?;
                self.budget
                    .spent(sys::process_cpu_ns().saturating_sub(cpu0) as f64 / 1e9);
                done += 1;
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

    /// Waits for the deadline `next`, serving keys and signals. Some(exit
    /// code) when the run ends.
    fn wait(&mut self, next: &mut u64) -> Result<Option<i32>> {
        loop {
            let sig = sys::QUIT.load(Ordering::SeqCst);
            if sig != 0 {
                return Ok(Some(128 + sig as i32));
            }
            if sys::REPAINT.swap(false, Ordering::SeqCst) {
                // Back from a job-control stop (fg): the terminal shows
                // whatever the shell left there. The rest of a frame cut
                // by the stop is dropped: all is repainted.
                self.sinks.out.discard();
                self.term.invalidate();
                self.term.resize(&mut self.ui, &mut self.sinks.out);
                self.render()?;
            }
            if sys::WINCH.swap(false, Ordering::SeqCst) {
                self.term.resize(&mut self.ui, &mut self.sinks.out);
                self.render()?;
            }
            let now = sys::mono_ns();
            if now >= *next {
                return Ok(None);
            }
            let mut ms = ((*next - now) / 1_000_000 + 1).min(i32::MAX as u64) as i32;
            if self.sinks.out.owed && !self.sinks.out.busy() {
                // A frame skipped behind a slow terminal (a key's, or
                // while paused): drawn now that the tty took the last.
                self.render()?;
            }
            if self.sinks.out.busy() {
                // A frame is still going out: look again soon.
                ms = ms.min(20);
            }
            if self.settings.mode != Mode::Screen {
                sys::poll_readable(-1, ms);
                continue;
            }
            let input = &mut self.term.input;
            let wait = input.wait_ms(now, ms);
            if wait > 0 && sys::poll_readable(0, wait) && !input.read(0) {
                // stdin closed: only signals can stop us now; sleep
                // instead of spinning on EOF.
                sys::poll_readable(-1, ms);
                continue;
            }
            let mut keybuf = [0u8; 128];
            let n = input.take(sys::mono_ns(), &mut keybuf);
            if n == 0 {
                continue;
            }
            if self.keys(&keybuf[..n], next)? {
                return Ok(Some(0));
            }
        }
    }

    /// Handles the keys in `bytes`, redrawing once for all of them (the
    /// rows placed again before an Enter or k that follows a change);
    /// true on q. A new interval moves the deadline `next`.
    fn keys(&mut self, bytes: &[u8], next: &mut u64) -> Result<bool> {
        let (mut quit, mut redraw, mut new_interval) = (false, false, false);
        // Something changed since the rows were last placed.
        let mut moved = false;
        term::parse_keys(bytes, |k| {
            if moved && matches!(k, term::Key::Enter | term::Key::Char(b'k')) {
                // Enter and k act on the highlighted row, which a move
                // earlier in this read left for the next draw to find
                // (select.rs): the rows are placed first, as if the keys
                // came one by one (no frame: the one below is the one a
                // slow terminal must not skip).
                self.place();
                moved = false;
            }
            let outcome = keys::handle(&mut self.ui, k);
            self.after_key(outcome);
            match outcome {
                Outcome::Quit => quit = true,
                Outcome::Interval => {
                    new_interval = true;
                    (redraw, moved) = (true, true)
                }
                Outcome::Redraw | Outcome::Relayout | Outcome::Repaint | Outcome::Kill => {
                    (redraw, moved) = (true, true)
                }
                Outcome::None => {}
            }
        });
        if quit {
            return Ok(true);
        }
        if new_interval {
            *next = self.pipe.mono + self.interval_ns();
        }
        if redraw {
            self.term.resize(&mut self.ui, &mut self.sinks.out);
            self.render()?;
        }
        Ok(false)
    }

    fn interval_ns(&self) -> u64 {
        (self.budget.interval(self.ui.interval) * 1e9) as u64
    }

    /// Applies what a key changed to the parts outside the UI state.
    fn after_key(&mut self, outcome: Outcome) {
        let p = &mut self.pipe;
        match outcome {
            Outcome::Relayout => self.term.invalidate(),
            Outcome::Repaint => {
                // The size is asked once the keys read with this one are
                // handled (the redraw that follows resizes): one question
                // per read, whatever it holds.
                self.term.ask_again();
                self.term.invalidate();
            }
            Outcome::Kill if self.ui.confirm_host.is_some() => {
                (self.entries).kill_device(&mut self.ui, &p.table, &p.router.net)
            }
            Outcome::Kill => self.entries.kill(&mut self.ui, &p.table),
            Outcome::Interval => {
                p.table.depart_wait_s = depart_wait(self.ui.interval);
                self.term.invalidate();
            }
            _ => {}
        }
    }
}

/// The loop's counters a tick shows: (frames skipped, deadlines missed,
/// IPFIX records sent and dropped).
type Counts = (u64, u64, Option<(u64, u64)>);

/// The refresh as the sinks read it: the pipeline's facts, the interval
/// in force, the loop's counters.
fn tick<'a, S: CtSource>(p: &'a Pipeline<S>, ui: &Ui, budget: &CpuBudget, c: Counts) -> Tick<'a> {
    Tick {
        interval: budget.interval(ui.interval),
        interval_requested: ui.interval,
        cpu_budget: budget.pct,
        frames_skipped: c.0,
        deadlines_missed: c.1,
        ipfix: c.2,
        ..p.tick(ui.hosts)
    }
}

/// A departed flow waits for its DESTROY event at least three refreshes.
fn depart_wait(interval: f64) -> u32 {
    crate::flows::DEPART_WAIT_S.max((interval * 3.0).ceil() as u32)
}

/// `--enable-acct`: turns the sysctls on, and restores them on exit.
fn enable_acct(cfg: &Config) -> Result<()> {
    let acct = read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_acct").unwrap_or(1);
    let ts = (cfg.age != AgeFmt::Off)
        .then(|| read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_timestamp"))
        .flatten();
    sys::set_exit_hook(sys::restore_sysctls);
    sys::enable_acct(acct, ts).map_err(Error::permission)
}

/// Switches to `uid`/`gid` keeping CAP_NET_ADMIN only (sys/privs.rs).
fn drop_privileges(uid: u32, gid: u32) -> Result<()> {
    sys::drop_privileges(uid, gid).map_err(|e| {
        Error::permission(format!(
            "cannot drop root privileges: {e} (nftop does not run half-dropped)"
        ))
    })
}

/// The names: /etc/hosts and the DHCP leases (or the files named), and
/// reverse DNS when asked for and `resolve` allows it.
fn open_names(cfg: &Config, resolve: bool) -> Names {
    fn source<'a>(p: &'a Option<String>, default: Source<'a>) -> Source<'a> {
        match p {
            Some(p) => Source {
                path: p,
                explicit: true,
            },
            None => default,
        }
    }
    let hosts = Source {
        path: "/etc/hosts",
        explicit: false,
    };
    Names::open(
        source(&cfg.hosts, hosts),
        source(&cfg.leases, Source::default_leases()),
        cfg.dns && resolve,
        !cfg.numeric_port,
    )
}
