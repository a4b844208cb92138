//! The interactive terminal: raw mode, the alternate screen, key decoding.
//!
//! Restoring is layered because `panic = "abort"` runs no destructor:
//! `Drop` covers normal exits, a panic hook covers panics, and the signal
//! handlers in `sys/signals.rs` cover SIGINT/SIGTERM/SIGHUP (via the main loop)
//! and fatal signals (directly).

use crate::sys;

pub struct Term {
    _private: (),
}

impl Term {
    /// Raw mode plus alternate screen, cursor hidden. None when stdin is
    /// not a terminal.
    pub fn enter() -> Option<Term> {
        if !sys::enter_raw(0) {
            return None;
        }
        // Builds whose panics abort at once (the router builds: no panic
        // machinery, see the Makefile) never run a hook: the SIGABRT
        // handler restores there, and leaving the hook out saves the
        // flash of std's default hook.
        #[cfg(not(panic = "immediate-abort"))]
        {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                sys::restore_terminal();
                sys::run_exit_hook();
                prev(info);
            }));
        }
        sys::write_all(1, sys::ENTER_SEQ);
        Some(Term { _private: () })
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        sys::restore_terminal();
    }
}

/// Asks the terminal for its size, for serial consoles where the tty
/// says 0x0 and no SIGWINCH ever comes: save the cursor, move it as far
/// right and down as the terminal allows, request a cursor position
/// report, put the cursor back.
pub const SIZE_QUERY: &[u8] = b"\x1b7\x1b[999;999H\x1b[6n\x1b8";
/// How long to wait for the report (a terminal that does not answer
/// leaves the 80x24 fallback).
pub const SIZE_WAIT_MS: u64 = 200;

/// The cursor position report `ESC [ rows ; cols R` in `b`, if any.
pub fn parse_cpr(b: &[u8]) -> Option<(u16, u16)> {
    find_cpr(b).map(|(_, size)| size)
}

/// The first cursor position report in `b`: where it lies, and the size.
fn find_cpr(b: &[u8]) -> Option<(std::ops::Range<usize>, (u16, u16))> {
    let one = |rest: &[u8]| -> Option<(usize, (u16, u16))> {
        let end = rest.iter().position(|&c| c == b'R')?;
        let body = std::str::from_utf8(&rest[..end]).ok()?;
        let (r, c) = body.split_once(';')?;
        let (r, c) = (r.parse::<u16>().ok()?, c.parse::<u16>().ok()?);
        (r > 0 && c > 0).then_some((end + 1, (r, c)))
    };
    (0..b.len().saturating_sub(1))
        .filter(|&i| b[i] == 0x1b && b[i + 1] == b'[')
        .find_map(|i| one(&b[i + 2..]).map(|(len, size)| (i..i + 2 + len, size)))
}

/// Keys typed while nftop waited for the terminal's size report: read
/// with the report, kept for the key loop (a user who types Ctrl-L and
/// then h at once gets the help). The key loop empties it before it
/// reads the tty again, and a wait reads at most its size, so nothing
/// typed is lost.
pub struct Typed {
    buf: [u8; 64],
    len: usize,
}

impl Default for Typed {
    fn default() -> Typed {
        Typed {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl Typed {
    fn keep(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }

    /// Moves the kept bytes into `out`; how many.
    pub fn take(&mut self, out: &mut [u8; 64]) -> usize {
        let n = self.len;
        out[..n].copy_from_slice(&self.buf[..n]);
        self.len = 0;
        n
    }
}

/// The size in the report in `b`, the bytes around it kept in `typed`;
/// None (nothing kept) while no whole report has come.
fn take_report(b: &[u8], typed: &mut Typed) -> Option<(u16, u16)> {
    let (at, size) = find_cpr(b)?;
    typed.keep(&b[..at.start]);
    typed.keep(&b[at.end..]);
    Some(size)
}

/// Writes the size query and reads the answer from stdin within
/// `SIZE_WAIT_MS` (raw mode must be on). Whatever else is read meanwhile
/// (keys, or a late answer's start) goes to `typed`.
pub fn ask_size(typed: &mut Typed) -> Option<(u16, u16)> {
    if !sys::write_all(1, SIZE_QUERY) {
        return None;
    }
    let end = sys::mono_ns() + SIZE_WAIT_MS * 1_000_000;
    let mut buf = [0u8; 64];
    let mut n = 0;
    let size = loop {
        let now = sys::mono_ns();
        if now >= end || n == buf.len() {
            break None;
        }
        let ms = ((end - now) / 1_000_000 + 1) as i32;
        if !sys::poll_readable(0, ms) {
            continue;
        }
        let got = sys::read_fd(0, &mut buf[n..]);
        if got == 0 {
            break None;
        }
        n += got;
        if let Some(size) = take_report(&buf[..n], typed) {
            return Some(size);
        }
    };
    typed.keep(&buf[..n]);
    size
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(u8),
    Enter,
    Esc,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    /// Ctrl-L: paint the whole screen again.
    Redraw,
}

/// Decodes raw bytes from the tty. Escape sequences we do not know are
/// consumed whole (CSI: ESC [ params final-byte) so they never turn into
/// stray key presses.
pub fn parse_keys(b: &[u8], mut f: impl FnMut(Key)) {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0x1b => {
                if i + 1 < b.len() && (b[i + 1] == b'[' || b[i + 1] == b'O') {
                    let mut j = i + 2;
                    while j < b.len() && !(0x40..=0x7e).contains(&b[j]) {
                        j += 1;
                    }
                    // xterm sends Home/End as CSI H/F (or SS3 H/F), the
                    // linux console and screen as CSI 1~/4~ (rxvt 7~/8~).
                    let param = b.get(i + 2..j).unwrap_or(&[]);
                    match (b.get(j), param) {
                        (Some(b'A'), _) => f(Key::Up),
                        (Some(b'B'), _) => f(Key::Down),
                        (Some(b'C'), _) => f(Key::Right),
                        (Some(b'D'), _) => f(Key::Left),
                        (Some(b'H'), _) | (Some(b'~'), b"1" | b"7") => f(Key::Home),
                        (Some(b'F'), _) | (Some(b'~'), b"4" | b"8") => f(Key::End),
                        (Some(b'~'), b"5") => f(Key::PageUp),
                        (Some(b'~'), b"6") => f(Key::PageDown),
                        _ => {}
                    }
                    i = j + 1;
                    continue;
                }
                f(Key::Esc);
            }
            b'\r' | b'\n' => f(Key::Enter),
            0x0c => f(Key::Redraw),
            0x7f | 0x08 => f(Key::Backspace),
            c if c.is_ascii_graphic() || c == b' ' => f(Key::Char(c)),
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_position_reports() {
        assert_eq!(parse_cpr(b"\x1b[24;80R"), Some((24, 80)));
        assert_eq!(parse_cpr(b"q\x1b[50;132Rx"), Some((50, 132)));
        assert_eq!(parse_cpr(b"\x1b[24;80"), None, "incomplete");
        assert_eq!(parse_cpr(b"\x1b[0;0R"), None);
        assert_eq!(parse_cpr(b"\x1b[A"), None);
        assert_eq!(
            parse_cpr(b"\x1b[A\x1b[30;100R"),
            Some((30, 100)),
            "after a key"
        );
        // A late report reaching the key parser is swallowed whole.
        let mut v = Vec::new();
        parse_keys(b"\x1b[24;80R", |k| v.push(k));
        assert!(v.is_empty());
    }

    #[test]
    fn keys_typed_around_the_size_report_are_kept() {
        let mut t = Typed::default();
        let mut out = [0u8; 64];
        // No whole report yet: nothing is kept (the wait reads on).
        assert_eq!(take_report(b"h\x1b[30;12", &mut t), None);
        assert_eq!(t.take(&mut out), 0);
        // Ctrl-L then h q typed at once: the report is taken out, the
        // keys around it stay, in order.
        assert_eq!(take_report(b"h\x1b[30;120Rq", &mut t), Some((30, 120)));
        let n = t.take(&mut out);
        assert_eq!(&out[..n], b"hq");
        assert_eq!(t.take(&mut out), 0, "taken once");
        // A wait that reads its whole buffer keeps all of it.
        t.keep(&[b'x'; 64]);
        assert_eq!(t.take(&mut out), 64);
    }

    #[test]
    fn keys_and_escape_sequences() {
        let mut v = Vec::new();
        parse_keys(b"q\x1b[A\x1b[1;5C\x1b\r\x7f<\x0c", |k| v.push(k));
        assert_eq!(
            v,
            vec![
                Key::Char(b'q'),
                Key::Up,
                Key::Right,
                Key::Esc,
                Key::Enter,
                Key::Backspace,
                Key::Char(b'<'),
                Key::Redraw
            ]
        );
        v.clear();
        parse_keys(
            b"\x1b[5~\x1b[6~\x1b[H\x1b[F\x1b[1~\x1b[4~\x1bOH\x1b[3~",
            |k| v.push(k),
        );
        assert_eq!(
            v,
            vec![
                Key::PageUp,
                Key::PageDown,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home
            ],
            "Delete (CSI 3~) is no key of ours"
        );
    }
}
