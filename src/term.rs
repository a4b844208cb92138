//! The interactive terminal: raw mode, the alternate screen, key decoding.
//!
//! Restoring is layered because `panic = "abort"` runs no destructor:
//! `Drop` covers normal exits, a panic hook covers panics, and the signal
//! handlers in `sys.rs` cover SIGINT/SIGTERM/SIGHUP (via the main loop)
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
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            sys::restore_terminal();
            sys::run_exit_hook();
            prev(info);
        }));
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = out.write_all(sys::ENTER_SEQ);
        let _ = out.flush();
        Some(Term { _private: () })
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        sys::restore_terminal();
    }
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
                    match b.get(j) {
                        Some(b'A') => f(Key::Up),
                        Some(b'B') => f(Key::Down),
                        Some(b'C') => f(Key::Right),
                        Some(b'D') => f(Key::Left),
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
    }
}
