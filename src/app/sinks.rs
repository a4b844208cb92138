//! The outputs a refresh feeds: the writer (screen frames, `-c`, `-M`,
//! JSON), and the exporters (`--metrics`, `--ipfix`). Each is there only
//! when asked for. `write_output` is the one place that picks the
//! renderer; the golden tests call it too.

use crate::ipfix::Ipfix;
use crate::keys::Ui;
use crate::metrics::Metrics;
use crate::out::Out;
use crate::render::screen::Screen;
use crate::render::{self, Ctx, Line, Tick};
use crate::vocab::Mode;
use std::io::Write;

pub struct Sinks {
    pub out: Out,
    /// The renderers' line buffer, reused.
    pub line: Line,
    /// `--metrics`: the Prometheus page, updated once per refresh.
    pub metrics: Option<Metrics>,
    /// `--ipfix`: the exporter, fed once per refresh.
    pub ipfix: Option<Ipfix>,
}

/// Writes one refresh to `w` as `mode` says, the screen through `screen`
/// (the caller's: it keeps what the terminal shows), the plain outputs
/// in the table `ui` shows (connections, `-d` devices, `-H` hosts).
pub fn write_output(
    w: &mut impl Write,
    mode: Mode,
    screen: Option<&mut Screen>,
    t: &Tick,
    ctx: &Ctx,
    ui: &Ui,
    line: &mut Line,
) -> std::io::Result<()> {
    let machine = mode == Mode::Machine;
    match mode {
        Mode::Screen => match screen {
            Some(s) => s.draw(w, t, ctx, ui),
            None => Ok(()),
        },
        Mode::Continuous | Mode::Machine if ui.hosts => {
            render::hosts::write_plain(w, t, ctx, line, machine).and_then(|()| w.flush())
        }
        Mode::Continuous | Mode::Machine if ui.dev => {
            render::plain::write_devices(w, t, ctx, line, machine)
        }
        Mode::Continuous => render::plain::write_continuous(w, t, ctx, line),
        Mode::Machine => render::plain::write_machine(w, t, ctx, line),
        Mode::Json => render::json::write_json(w, t, ctx, line, ui.dev),
        Mode::Quiet => Ok(()),
    }
}
