//! The screen's state that keys change, and the keys themselves: a pure
//! function from (state, key) to state and an outcome, testable without a
//! terminal or a socket.

use crate::cli::Config;
use crate::conntrack::Conn;
use crate::line::Line;
use crate::opts::Opts;
use crate::select::{HostSel, Move, Selection};
use crate::term::Key;
use crate::view::Filter;
use crate::vocab::{self, AgeFmt, SORT_COLS};

/// The help screen (`h`): every key, grouped; fits 80x24 (a test draws
/// it at that size).
pub const HELP: &str = "\
views     d  interface table   H  per-device table (by host)   h ?  this help
          p  pause refreshing               q    quit
display   w  one line per connection        a    age column: off, s, d h:m:s
          V  state column  m  mark column   I    conntrack id column
          b  bytes/s or bits/s              B    raw numbers
          S  SI or IEC units                r R  redact local / remote
          n N  numeric local / remote (no names)
filter    4 6 0  IPv4, IPv6, both           l    loopback connections
          t  threshold (prompt)             u    refresh interval (prompt)
          /  filter expression (prompt; empty clears; nftop -h has the terms)
order     < > (or , . or Left Right)  sort column        !  reverse order
select    Up Down PgUp PgDn Home End  move the highlight (it follows its row)
          Enter  details of the connection / a device's connections (Esc)
action    k  delete the selected connection / device's connections (asks y/N)
terminal  Ctrl-L  repaint everything        Ctrl-Z  suspend (fg resumes)
prompts   Enter accepts, Esc cancels, Backspace deletes
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Interval,
    Threshold,
    Filter,
}

/// What the user can change while nftop runs.
pub struct Ui {
    pub opts: Opts,
    pub filter: Filter,
    /// Seconds between refreshes.
    pub interval: f64,
    /// The device table instead of connections.
    pub dev: bool,
    /// The per-device (machine) table instead of connections.
    pub hosts: bool,
    pub help: bool,
    pub paused: bool,
    /// A prompt being typed (`u`, `t`) and its text.
    pub prompt: Option<(PromptKind, Line)>,
    /// The last message (a refused prompt value), on the bottom line.
    pub message: Line,
    /// Which terminal size is used and where it came from (the help
    /// shows it: serial consoles report none).
    pub size_note: Line,
    /// The highlighted row, its page and detail pane.
    pub sel: Selection,
    /// `k` asked to delete this connection: `y` confirms.
    pub confirm: Option<Conn>,
    /// `--read-only`: `k` deletes nothing.
    pub read_only: bool,
    /// The per-device view's highlighted row.
    pub host: HostSel,
    /// `k` in the per-device view asked to delete every connection of
    /// this device: `y` confirms.
    pub confirm_host: Option<crate::hostview::Id>,
}

impl Ui {
    pub fn new(cfg: &Config, opts: Opts) -> Ui {
        Ui {
            opts,
            filter: Filter::from_config(cfg),
            interval: cfg.interval,
            dev: cfg.dev,
            hosts: cfg.by_host,
            help: false,
            paused: false,
            prompt: None,
            message: Line::new(),
            size_note: Line::new(),
            sel: Selection::default(),
            confirm: None,
            read_only: cfg.read_only,
            host: HostSel::default(),
            confirm_host: None,
        }
    }
}

/// What a key asks of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    None,
    /// Draw again (changed lines only).
    Redraw,
    /// The layout changed: repaint the whole screen.
    Relayout,
    /// The interval changed: reschedule, repaint.
    Interval,
    /// Ctrl-L: ask the terminal's size again where the tty has none, and
    /// paint everything.
    Repaint,
    /// `y` to the delete question: `confirm` holds the connection.
    Kill,
    Quit,
}

/// Applies one key to `ui`: an answer to the delete question, a prompt's
/// typing, else a display key or a key of the selection.
pub fn handle(ui: &mut Ui, k: Key) -> Outcome {
    if ui.confirm.is_some() || ui.confirm_host.is_some() || ui.prompt.is_some() {
        return answer(ui, k);
    }
    ui.message.clear();
    match display(ui, k) {
        Outcome::None => select(ui, k),
        o => o,
    }
}

/// A key while the delete question or a prompt is open.
fn answer(ui: &mut Ui, k: Key) -> Outcome {
    if ui.confirm.is_some() || ui.confirm_host.is_some() {
        // Only y deletes; any other key (N, Esc, a slip) keeps it.
        if k == Key::Char(b'y') || k == Key::Char(b'Y') {
            return Outcome::Kill;
        }
        (ui.confirm, ui.confirm_host) = (None, None);
        ui.message.clear();
        ui.message.push_str("nothing deleted");
        return Outcome::Redraw;
    }
    if let Some((kind, input)) = &mut ui.prompt {
        match k {
            Key::Char(c) => input.push(c),
            Key::Backspace => {
                let n = input.len().saturating_sub(1);
                input.truncate(n);
            }
            Key::Esc => ui.prompt = None,
            Key::Enter => {
                let kind = *kind;
                let mut buf = Line::new();
                buf.push_str(input.as_str());
                let value = buf.as_str().trim();
                ui.prompt = None;
                ui.message.clear();
                match kind {
                    PromptKind::Interval => match vocab::parse_interval(value) {
                        Ok(v) => {
                            ui.interval = v;
                            return Outcome::Interval;
                        }
                        Err(e) => ui.message.push_str(&e.msg),
                    },
                    PromptKind::Threshold => match vocab::parse_bps(value) {
                        Ok(v) => ui.filter.threshold = Some(v),
                        Err(e) => ui.message.push_str(&e.msg),
                    },
                    // A bad expression keeps the filter in force.
                    PromptKind::Filter => match crate::filter::Expr::parse(value) {
                        Ok(e) => ui.filter.expr = e,
                        Err(e) => ui.message.push_str(&e.msg),
                    },
                }
            }
            _ => {}
        }
    }
    Outcome::Redraw
}

/// The keys that change what is shown and how.
fn display(ui: &mut Ui, k: Key) -> Outcome {
    let o = &mut ui.opts;
    let f = &mut ui.filter;
    match k {
        Key::Char(b'q') => return Outcome::Quit,
        Key::Redraw => return Outcome::Repaint,
        Key::Char(b'p') => ui.paused = !ui.paused,
        Key::Char(b'h') | Key::Char(b'?') => {
            ui.help = !ui.help;
            return Outcome::Relayout;
        }
        Key::Char(b'd') => {
            (ui.dev, ui.hosts) = (!ui.dev, false);
            return Outcome::Relayout;
        }
        Key::Char(b'H') => {
            (ui.hosts, ui.dev) = (!ui.hosts, false);
            return Outcome::Relayout;
        }
        Key::Char(b'w') => {
            o.wide = !o.wide;
            return Outcome::Relayout;
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
        Key::Char(b'm') => o.show_mark = !o.show_mark,
        Key::Char(b'r') => o.privacy.local = !o.privacy.local,
        Key::Char(b'R') => o.privacy.remote = !o.privacy.remote,
        Key::Char(b'n') => o.numeric_local = !o.numeric_local,
        Key::Char(b'N') => o.numeric_remote = !o.numeric_remote,
        Key::Char(b'l') => f.loopback = !f.loopback,
        Key::Char(b'4') => (f.ipv4, f.ipv6) = (true, false),
        Key::Char(b'6') => (f.ipv4, f.ipv6) = (false, true),
        Key::Char(b'0') => (f.ipv4, f.ipv6) = (true, true),
        Key::Char(b'u') => ui.prompt = Some((PromptKind::Interval, Line::new())),
        Key::Char(b't') => ui.prompt = Some((PromptKind::Threshold, Line::new())),
        Key::Char(b'/') => {
            let mut l = Line::new();
            if let Some(e) = &ui.filter.expr {
                l.push_str(&e.text);
            }
            ui.prompt = Some((PromptKind::Filter, l));
        }
        Key::Char(b'<') | Key::Char(b',') | Key::Left => f.sort = step_sort(f.sort, -1),
        Key::Char(b'>') | Key::Char(b'.') | Key::Right => f.sort = step_sort(f.sort, 1),
        Key::Char(b'!') => f.ascending = !f.ascending,
        _ => return Outcome::None,
    }
    Outcome::Redraw
}

/// The keys of the selection: moving it, its detail pane or device, and
/// deleting what it holds.
fn select(ui: &mut Ui, k: Key) -> Outcome {
    match k {
        Key::Up | Key::Down | Key::PageUp | Key::PageDown | Key::Home | Key::End => {
            let m = match k {
                Key::Up => Move::Up,
                Key::Down => Move::Down,
                Key::PageUp => Move::PageUp,
                Key::PageDown => Move::PageDown,
                Key::Home => Move::Home,
                _ => Move::End,
            };
            if ui.hosts {
                ui.host.go(m)
            } else {
                ui.sel.go(m)
            }
        }
        // A device's connections: the connection view, filtered to it;
        // Esc goes back.
        Key::Enter if ui.hosts => {
            ui.filter.device = ui.host.id;
            ui.hosts = false;
            return Outcome::Relayout;
        }
        Key::Esc if ui.filter.device.is_some() && !ui.sel.detail => {
            ui.filter.device = None;
            ui.hosts = true;
            return Outcome::Relayout;
        }
        Key::Enter if !ui.dev && !ui.hosts => {
            ui.sel.detail = true;
            // Not asked yet: the pane asks the kernel at this draw.
            (ui.sel.answer, ui.sel.errno) = (None, 0);
            return Outcome::Relayout;
        }
        Key::Esc if ui.sel.detail => {
            ui.sel.detail = false;
            return Outcome::Relayout;
        }
        Key::Char(b'k') if ui.read_only => {
            ui.message
                .push_str("read-only (--read-only): k deletes nothing");
        }
        Key::Char(b'k') if ui.hosts => match ui.host.id {
            Some(id) => ui.confirm_host = Some(id),
            None => ui.message.push_str("no device selected"),
        },
        Key::Char(b'k') if !ui.dev => match ui.sel.conn {
            Some(c) => ui.confirm = Some(c),
            None => ui.message.push_str("no connection selected"),
        },
        _ => return Outcome::None,
    }
    Outcome::Redraw
}

fn step_sort(cur: vocab::SortCol, d: i32) -> vocab::SortCol {
    let n = SORT_COLS.len() as i32;
    let i = SORT_COLS.iter().position(|(_, c)| *c == cur).unwrap_or(0) as i32;
    SORT_COLS[((i + d).rem_euclid(n)) as usize].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui() -> Ui {
        let cfg = match crate::cli::parse(std::iter::empty::<&str>()).unwrap() {
            crate::cli::Action::Run(c) => *c,
            _ => unreachable!(),
        };
        let opts = Opts::from_config(&cfg);
        Ui::new(&cfg, opts)
    }

    /// Types `s` into the open prompt and presses Enter.
    fn typed(ui: &mut Ui, s: &str) -> Outcome {
        for b in s.bytes() {
            handle(ui, Key::Char(b));
        }
        handle(ui, Key::Enter)
    }

    /// Every key the handler acts on is in the help.
    #[test]
    fn the_help_names_every_key() {
        for k in "qphdHwabBSVImrRnNl460ut<>!,./k".bytes() {
            let mut u = ui();
            assert_ne!(handle(&mut u, Key::Char(k)), Outcome::None, "{}", k as char);
            assert!(
                HELP.contains(&format!(" {} ", k as char)),
                "{} missing from the help",
                k as char
            );
        }
        assert!(HELP.lines().count() <= 20 && HELP.lines().all(|l| l.len() <= 80));
    }

    #[test]
    fn keys_change_the_state_they_name() {
        let mut u = ui();
        assert_eq!(handle(&mut u, Key::Char(b'd')), Outcome::Relayout);
        assert!(u.dev);
        assert_eq!(handle(&mut u, Key::Char(b'6')), Outcome::Redraw);
        assert!(!u.filter.ipv4 && u.filter.ipv6);
        assert!(!u.opts.show_mark);
        handle(&mut u, Key::Char(b'm'));
        assert!(u.opts.show_mark);
        let s = u.filter.sort;
        handle(&mut u, Key::Right);
        assert_ne!(u.filter.sort, s);
        handle(&mut u, Key::Left);
        assert_eq!(u.filter.sort, s);
        assert_eq!(handle(&mut u, Key::Redraw), Outcome::Repaint);
        assert_eq!(handle(&mut u, Key::Char(b'q')), Outcome::Quit);
        assert_eq!(handle(&mut u, Key::Char(b'Z')), Outcome::None);
    }

    #[test]
    fn the_filter_prompt_keeps_the_filter_on_a_bad_expression() {
        let mut u = ui();
        handle(&mut u, Key::Char(b'/'));
        assert_eq!(typed(&mut u, "dport 443"), Outcome::Redraw);
        assert_eq!(u.filter.expr.as_ref().unwrap().text, "dport 443");
        handle(&mut u, Key::Char(b'/'));
        // The prompt starts from the filter in force.
        assert_eq!(u.prompt.as_ref().unwrap().1.as_str(), "dport 443");
        for _ in 0..9 {
            handle(&mut u, Key::Backspace);
        }
        typed(&mut u, "port x");
        assert_eq!(u.filter.expr.as_ref().unwrap().text, "dport 443", "kept");
        assert!(
            u.message.as_str().contains("'port x'"),
            "{}",
            u.message.as_str()
        );
        handle(&mut u, Key::Char(b'/'));
        for _ in 0..9 {
            handle(&mut u, Key::Backspace);
        }
        typed(&mut u, "");
        assert!(u.filter.expr.is_none(), "empty clears");
    }

    #[test]
    fn prompts_take_values_and_refuse_bad_ones_with_a_message() {
        let mut u = ui();
        handle(&mut u, Key::Char(b'u'));
        assert_eq!(typed(&mut u, "0.5"), Outcome::Interval);
        assert_eq!(u.interval, 0.5);
        handle(&mut u, Key::Char(b't'));
        assert_eq!(typed(&mut u, "2k"), Outcome::Redraw);
        assert_eq!(u.filter.threshold, Some(2000));
        handle(&mut u, Key::Char(b'u'));
        assert_eq!(typed(&mut u, "soon"), Outcome::Redraw);
        assert_eq!(u.interval, 0.5, "kept");
        assert!(
            u.message.as_str().contains("soon"),
            "{}",
            u.message.as_str()
        );
        // Esc leaves a prompt without a change.
        handle(&mut u, Key::Char(b't'));
        handle(&mut u, Key::Char(b'9'));
        handle(&mut u, Key::Esc);
        assert!(u.prompt.is_none() && u.filter.threshold == Some(2000));
    }
}
