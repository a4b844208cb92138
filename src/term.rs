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

/// How long an escape sequence cut between reads (a serial line hands
/// over a key's bytes one by one) waits for its next byte before what
/// came is taken as it is: a lone ESC is the Esc key.
pub const ESC_WAIT_MS: u64 = 100;

/// The bytes read from the tty on their way to keys: keys typed while
/// nftop waited for the size report (read with it), and an escape
/// sequence whose rest has not come yet. The key loop takes what is
/// whole before it reads the tty again and asks the size at most once
/// per take; an unfinished sequence kept is shorter than 64 bytes and a
/// size wait reads 64 at most, so nothing typed is lost and a read
/// always has room.
pub struct Input {
    buf: [u8; 128],
    len: usize,
    /// When the unfinished sequence at the end of `buf` last grew (0:
    /// not seen yet), and how long it was then.
    held_since: u64,
    held_len: usize,
}

impl Default for Input {
    fn default() -> Input {
        Input {
            buf: [0; 128],
            len: 0,
            held_since: 0,
            held_len: 0,
        }
    }
}

impl Input {
    /// Adds bytes read elsewhere (what a size wait read besides its
    /// answer); what does not fit is cut (see above: nothing does).
    pub fn keep(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }

    /// Reads what `fd` has (after a poll said so) behind the bytes kept;
    /// false at end of file.
    pub fn read(&mut self, fd: i32) -> bool {
        debug_assert!(self.len < self.buf.len());
        let n = sys::read_fd(fd, &mut self.buf[self.len..]);
        self.len += n;
        n > 0
    }

    /// How long the key loop may wait for the tty, at most `ms`: 0 while
    /// keys are ready or a sequence's new bytes are not yet timed, less
    /// while a sequence waits for its next byte.
    pub fn wait_ms(&self, now: u64, ms: i32) -> i32 {
        if self.len == 0 {
            return ms;
        }
        if unfinished_at(&self.buf[..self.len]) > 0
            || self.held_since == 0
            || self.len != self.held_len
        {
            return 0;
        }
        let left = (self.held_since + ESC_WAIT_MS * 1_000_000).saturating_sub(now);
        (left.div_ceil(1_000_000) as i32).min(ms)
    }

    /// Moves the bytes that are whole keys into `out`, how many: all but
    /// an unfinished escape sequence at the end, which is kept until its
    /// rest comes or no byte of it has come for `ESC_WAIT_MS` (`now`).
    pub fn take(&mut self, now: u64, out: &mut [u8; 128]) -> usize {
        let len = self.len;
        let mut end = unfinished_at(&self.buf[..len]);
        if end < len {
            if end > 0 || self.held_since == 0 || len != self.held_len {
                // A new sequence, or more of the one kept: timed anew.
                self.held_since = now.max(1);
                self.held_len = len - end;
            }
            let waited = now.saturating_sub(self.held_since) >= ESC_WAIT_MS * 1_000_000;
            if waited || len - end >= 64 {
                end = len;
            }
        }
        out[..end].copy_from_slice(&self.buf[..end]);
        self.buf.copy_within(end..len, 0);
        self.len = len - end;
        if self.len == 0 {
            (self.held_since, self.held_len) = (0, 0);
        }
        end
    }
}

/// Where an escape sequence that has not ended starts at the end of `b`
/// (`b.len()`: none), read as `parse_keys` reads sequences.
fn unfinished_at(b: &[u8]) -> usize {
    let mut i = 0;
    while i < b.len() {
        if b[i] == 0x1b {
            match sequence_end(b, i) {
                _ if i + 1 == b.len() => return i,
                Some(j) if j == b.len() => return i,
                Some(j) => i = j,
                None => {}
            }
        }
        i += 1;
    }
    b.len()
}

/// What the ESC at `b[i]` opens: Some(j), a sequence (CSI `ESC [`, SS3
/// `ESC O`) whose final byte is `b[j]` (`j == b.len()`: not come yet);
/// None, no sequence (the Esc key). One reading for `parse_keys` and
/// `unfinished_at`, so that what one holds back the other reads whole.
fn sequence_end(b: &[u8], i: usize) -> Option<usize> {
    if !matches!(b.get(i + 1), Some(b'[' | b'O')) {
        return None;
    }
    let mut j = i + 2;
    while j < b.len() && !(0x40..=0x7e).contains(&b[j]) {
        j += 1;
    }
    Some(j)
}

/// The size in the report in `b`, the bytes around it kept in `input`;
/// None (nothing kept) while no whole report has come.
fn take_report(b: &[u8], input: &mut Input) -> Option<(u16, u16)> {
    let (at, size) = find_cpr(b)?;
    input.keep(&b[..at.start]);
    input.keep(&b[at.end..]);
    Some(size)
}

/// How long the query may wait behind output the tty has not sent yet (a
/// frame on its way down a 115200-baud line) before the answer's
/// `SIZE_WAIT_MS` start.
const SEND_WAIT_MS: u64 = 2000;

/// Writes the size query and reads the answer from stdin within
/// `SIZE_WAIT_MS` of the query's leaving the tty (raw mode must be on).
/// Whatever else is read meanwhile (keys, or a late answer's start) goes
/// to `input`.
pub fn ask_size(input: &mut Input) -> Option<(u16, u16)> {
    if !sys::write_all(1, SIZE_QUERY) {
        return None;
    }
    let sent_by = sys::mono_ns() + SEND_WAIT_MS * 1_000_000;
    while sys::tty_unsent(1) > 0 && sys::mono_ns() < sent_by {
        sys::poll_readable(-1, 5); // a sleep (std's costs the router 1 KB)
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
        if let Some(size) = take_report(&buf[..n], input) {
            return Some(size);
        }
    };
    input.keep(&buf[..n]);
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
                if let Some(j) = sequence_end(b, i) {
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
        let mut t = Input::default();
        let mut out = [0u8; 128];
        // No whole report yet: nothing is kept (the wait reads on).
        assert_eq!(take_report(b"h\x1b[30;12", &mut t), None);
        assert_eq!(t.take(1, &mut out), 0);
        // Ctrl-L then h q typed at once: the report is taken out, the
        // keys around it stay, in order, and are ready at once.
        assert_eq!(take_report(b"h\x1b[30;120Rq", &mut t), Some((30, 120)));
        assert_eq!(t.wait_ms(1, 1000), 0);
        let n = t.take(1, &mut out);
        assert_eq!(&out[..n], b"hq");
        assert_eq!(t.take(1, &mut out), 0, "taken once");
        // A wait that reads its whole buffer keeps all of it.
        t.keep(&[b'x'; 64]);
        assert_eq!(t.take(1, &mut out), 64);
    }

    #[test]
    fn a_sequence_cut_between_reads_waits_for_its_rest() {
        const MS: u64 = 1_000_000;
        let mut t = Input::default();
        let mut out = [0u8; 128];
        let keys = |b: &[u8]| {
            let mut v = Vec::new();
            parse_keys(b, |k| v.push(k));
            v
        };
        // q, then the first byte of an arrow key: q now, the ESC held
        // (timed from the take that first saw it).
        t.keep(b"q\x1b");
        assert_eq!(t.wait_ms(990 * MS, 5000), 0, "to be timed");
        let n = t.take(1000 * MS, &mut out);
        assert_eq!(keys(&out[..n]), [Key::Char(b'q')]);
        assert_eq!(t.wait_ms(1000 * MS, 5000), 100);
        assert_eq!(t.wait_ms(1060 * MS, 5000), 40);
        // Its rest: one Up, not Esc then '[' 'A'.
        t.keep(b"[A");
        assert_eq!(t.wait_ms(1060 * MS, 5000), 0);
        let n = t.take(1060 * MS, &mut out);
        assert_eq!(keys(&out[..n]), [Key::Up]);
        // A late size report split in two is one sequence, swallowed
        // whole: its tail is not taken as the keys 0 and R.
        t.keep(b"\x1b[30;12");
        assert_eq!(t.take(2000 * MS, &mut out), 0);
        t.keep(b"0R");
        let n = t.take(2010 * MS, &mut out);
        assert!(keys(&out[..n]).is_empty(), "{:?}", keys(&out[..n]));
        // A lone ESC with nothing after it is Esc, once it has waited;
        // each byte that comes of a sequence restarts the wait.
        t.keep(b"\x1b");
        assert_eq!(t.take(3000 * MS, &mut out), 0);
        assert_eq!(t.take(3099 * MS, &mut out), 0);
        let n = t.take(3100 * MS, &mut out);
        assert_eq!(keys(&out[..n]), [Key::Esc]);
        t.keep(b"\x1b[");
        assert_eq!(t.take(4000 * MS, &mut out), 0);
        t.keep(b"1;5");
        assert_eq!(t.wait_ms(4090 * MS, 5000), 0, "new bytes to be timed");
        assert_eq!(t.take(4090 * MS, &mut out), 0);
        assert_eq!(t.wait_ms(4090 * MS, 5000), 100);
        assert_eq!(t.take(4189 * MS, &mut out), 0);
        assert_eq!(t.take(4190 * MS, &mut out), 5, "given up on");
        // A sequence that never ends is not kept past 63 bytes.
        t.keep(b"\x1b[");
        t.keep(&[b'1'; 62]);
        assert_eq!(t.take(5000 * MS, &mut out), 64);
        assert_eq!(unfinished_at(b"\x1bOP"), 3, "SS3 whole");
        assert_eq!(unfinished_at(b"\x1bO"), 0);
        assert_eq!(unfinished_at(b"a\x1bxb"), 4, "ESC x is Esc, x");
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
