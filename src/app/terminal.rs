//! The terminal the screen is drawn on: the screen's state, and the size
//! (the tty's, or what the terminal answered when asked).

use crate::keys::Ui;
use crate::out::Out;
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
    /// Bytes from the tty on their way to keys (some read while waiting
    /// for that answer).
    pub input: term::Input,
}

impl Terminal {
    /// Opens the screen at the terminal's size.
    pub fn open(&mut self, ui: &mut Ui, out: &mut Out) {
        let (r, c) = self.size(ui, out);
        self.screen = Some(Screen::new(r, c));
    }

    /// Follows the terminal's size (`out`: the screen's output, which a
    /// size query must not cut into).
    pub fn resize(&mut self, ui: &mut Ui, out: &mut Out) {
        if self.screen.is_some() {
            let (r, c) = self.size(ui, out);
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
    /// else 80x24. The help says which (`ui.size_note`). The question
    /// waits for the frame still going out (a second at most on the
    /// screen's non-blocking descriptor; else the last answer stands
    /// until the next Ctrl-L), then `term::ask_size`'s own waits: a
    /// refresh stalls up to 3.2 s once per question, never more.
    fn size(&mut self, ui: &mut Ui, out: &mut Out) -> (usize, usize) {
        use std::fmt::Write as _;
        let note = &mut ui.size_note;
        note.clear();
        if let Some((r, c)) = sys::winsize(1) {
            let _ = write!(note, "terminal {c}x{r} (from the tty)");
            return (r as usize, c as usize);
        }
        if !self.asked_once {
            self.asked_once = true;
            if out.drain_within(1000) {
                // No answer (a terminal that never answers, or one too
                // slow this time): the last answer stands.
                if let Some((r, c)) = term::ask_size(&mut self.input) {
                    self.asked = Some((r as usize, c as usize));
                }
            }
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
