//! The second step after parsing flags (ripgrep's low/high args): the
//! command line resolved against the environment into what the program
//! does: the output mode (a screen only on a terminal), colour, the
//! character set, name resolution, the flow table's capacity. A pure
//! function of its inputs, so every rule is tested without a terminal.

use crate::cli::Config;
use crate::render::Opts;
use crate::vocab::Mode;

/// Flow table size when nf_conntrack_max cannot be read.
pub const DEFAULT_CAPACITY: usize = 65536;

/// What the environment says.
#[derive(Clone, Copy, Debug, Default)]
pub struct Env {
    pub stdout_tty: bool,
    pub stdin_tty: bool,
    /// NO_COLOR is set and not empty.
    pub no_color: bool,
    /// The locale is UTF-8 (`render::utf8_locale`).
    pub utf8: bool,
    /// net.netfilter.nf_conntrack_max, 0 when unknown.
    pub ct_max: u64,
    /// TERM=dumb: no cursor addressing. (Unset TERM is taken as a VT100:
    /// every escape nftop sends is one a VT100 knows.)
    pub dumb: bool,
}

impl Env {
    /// Reads the real environment.
    pub fn read() -> Env {
        Env {
            stdout_tty: crate::sys::isatty(1),
            stdin_tty: crate::sys::isatty(0),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            utf8: crate::render::utf8_locale(|k| std::env::var_os(k)),
            ct_max: crate::kernel::read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_max")
                .unwrap_or(0),
            dumb: std::env::var_os("TERM").is_some_and(|t| t == "dumb"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    /// Display options, colour and character set decided.
    pub opts: Opts,
    /// Names are looked up (hosts, leases, DNS) for some column.
    pub resolve: bool,
    pub capacity: usize,
    /// Said once on stderr at start: why the screen was not used.
    pub note: Option<&'static str>,
}

pub fn settle(cfg: &Config, env: &Env) -> Settings {
    let mut note = None;
    let mode = if cfg.mode == Mode::Screen && !(env.stdout_tty && env.stdin_tty) {
        // Not a terminal: behave like -c so `nftop > file` works.
        Mode::Continuous
    } else if cfg.mode == Mode::Screen && env.dumb {
        note = Some(
            "TERM=dumb has no cursor addressing: plain lines (-c); set TERM=vt100 for the screen",
        );
        Mode::Continuous
    } else {
        cfg.mode
    };
    let mut opts = Opts::from_config(cfg);
    opts.color = opts.color && env.stdout_tty && !env.no_color && mode == Mode::Screen;
    opts.utf8 = env.utf8;
    // Scripts get numbers: -M, --json and the metrics never print names
    // from DNS.
    let numeric = cfg.numeric_local && cfg.numeric_remote;
    let scripted = matches!(mode, Mode::Machine | Mode::Json | Mode::Quiet);
    let resolve = !numeric && !scripted;
    let capacity = cfg.capacity.unwrap_or(if env.ct_max > 0 {
        env.ct_max as usize
    } else {
        DEFAULT_CAPACITY
    });
    Settings {
        mode,
        opts,
        resolve,
        capacity,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Action};

    fn cfg(args: &[&str]) -> Config {
        match parse(args.iter().copied()).unwrap() {
            Action::Run(c) => *c,
            _ => unreachable!(),
        }
    }

    const TTY: Env = Env {
        stdout_tty: true,
        stdin_tty: true,
        no_color: false,
        utf8: false,
        ct_max: 262_144,
        dumb: false,
    };

    #[test]
    fn the_screen_only_on_a_terminal_colour_only_there() {
        let s = settle(&cfg(&[]), &TTY);
        assert_eq!((s.mode, s.opts.color), (Mode::Screen, true));
        let piped = Env {
            stdout_tty: false,
            ..TTY
        };
        let s = settle(&cfg(&[]), &piped);
        assert_eq!((s.mode, s.opts.color), (Mode::Continuous, false));
        let s = settle(
            &cfg(&[]),
            &Env {
                no_color: true,
                ..TTY
            },
        );
        assert!(!s.opts.color);
        let s = settle(&cfg(&["-M"]), &TTY);
        assert_eq!(
            (s.mode, s.opts.color, s.resolve),
            (Mode::Machine, false, false)
        );
        let s = settle(&cfg(&["-n", "-N"]), &TTY);
        assert!(!s.resolve);
        assert!(settle(&cfg(&[]), &Env { utf8: true, ..TTY }).opts.utf8);
        // TERM=dumb: lines, and why.
        let dumb = settle(&cfg(&[]), &Env { dumb: true, ..TTY });
        assert_eq!(dumb.mode, Mode::Continuous);
        assert!(dumb.note.is_some_and(|n| n.contains("TERM=dumb")));
        assert!(settle(&cfg(&[]), &TTY).note.is_none());
    }

    #[test]
    fn capacity_from_the_flag_else_the_kernel_else_a_default() {
        assert_eq!(settle(&cfg(&[]), &TTY).capacity, 262_144);
        assert_eq!(settle(&cfg(&["--capacity", "100"]), &TTY).capacity, 100);
        let unknown = Env { ct_max: 0, ..TTY };
        assert_eq!(settle(&cfg(&[]), &unknown).capacity, DEFAULT_CAPACITY);
    }
}
