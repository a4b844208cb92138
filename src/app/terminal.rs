//! The terminal the screen is drawn on: the screen's state, and the size
//! (the tty's, or what the terminal answered when asked).

use crate::keys::Ui;
use crate::render::screen::{Screen, FALLBACK};
use crate::sys;
use crate::term;

#[derive(Default)]
pub(super) struct Terminal {
    /// What the terminal shows (screen mode only).
    pub screen: Option<Screen>,
    /// What the terminal answered when asked its size (the tty said 0x0),
    /// and whether it was asked yet.
    asked: Option<(usize, usize)>,
    asked_once: bool,
    /// Keys read while waiting for that answer, for the key loop.
    pub typed: term::Typed,
}

impl Terminal {
    /// Opens the screen at the terminal's size.
    pub fn open(&mut self, ui: &mut Ui) {
        let (r, c) = self.size(ui);
        self.screen = Some(Screen::new(r, c));
    }

    /// Follows the terminal's size.
    pub fn resize(&mut self, ui: &mut Ui) {
        if self.screen.is_some() {
            let (r, c) = self.size(ui);
            if let Some(s) = &mut self.screen {
                s.resize(r, c);
            }
        }
    }

    /// The next size asks the terminal again (Ctrl-L: a serial line
    /// never says that it changed).
    pub fn ask_again(&mut self) {
        self.asked_once = false;
    }

    /// The next frame paints every line.
    pub fn invalidate(&mut self) {
        if let Some(s) = &mut self.screen {
            s.invalidate();
        }
    }

    /// The terminal's size: the tty's; else, where the tty says 0x0 (a
    /// serial console, which never sends SIGWINCH either), what the
    /// terminal answers when asked (once, and again after `ask_again`);
    /// else 80x24. The help says which (`ui.size_note`).
    fn size(&mut self, ui: &mut Ui) -> (usize, usize) {
        use std::fmt::Write as _;
        let note = &mut ui.size_note;
        note.clear();
        if let Some((r, c)) = sys::winsize(1) {
            let _ = write!(note, "terminal {c}x{r} (from the tty)");
            return (r as usize, c as usize);
        }
        if !self.asked_once {
            self.asked_once = true;
            let size = term::ask_size(&mut self.typed);
            self.asked = size.map(|(r, c)| (r as usize, c as usize));
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
}
