//! Turning flows into text. Every line is built in a fixed `Line` and
//! then written through one buffered writer. Output is plain ASCII but on
//! a UTF-8 locale (the uplinks' arrows, interface names: `crate::text`);
//! the only escape sequences come from `screen.rs`, and only on a tty.
//!
//! - `line`: the buffer; `fmt`: numbers, addresses, ages; `cells`: what a
//!   row's cells show, shared by every format; `columns`: the connection
//!   and device tables' columns (title, widths, cell writer);
//! - `plain` (`-c`, `-M`, `-d`), `json`, `screen`: the formats; `detail`:
//!   the screen's detail pane; `hosts`: the per-device table (`-H`) in
//!   every format, with columns of its own (`WIDTHS`, `TITLES`).

pub mod cells;
pub mod columns;
pub mod detail;
pub mod fmt;
pub mod hosts;
pub mod json;
pub mod line;
pub mod plain;
pub mod screen;

pub use crate::health::{Warning, Warnings};
pub use cells::*;
pub use fmt::*;
pub use line::*;

use crate::flows::Flow;
use crate::view::View;
use crate::vocab::AgeFmt;

/// Display options that keys can change at run time.
#[derive(Clone, Debug)]
pub struct Opts {
    pub bytes: bool,
    pub raw: bool,
    pub iec: bool,
    pub age: AgeFmt,
    pub show_id: bool,
    pub show_state: bool,
    pub wide: bool,
    pub numeric_local: bool,
    pub numeric_remote: bool,
    pub numeric_port: bool,
    /// `-r`/`-R` (privacy.rs decides what they hide).
    pub privacy: crate::privacy::Privacy,
    pub color: bool,
    /// The locale is UTF-8: arrows instead of ASCII `^`/`v`.
    pub utf8: bool,
}

impl Opts {
    pub fn from_config(c: &crate::cli::Config) -> Opts {
        Opts {
            bytes: c.bytes,
            raw: c.raw,
            iec: c.iec,
            age: c.age,
            show_id: c.show_id,
            show_state: c.show_state,
            wide: c.wide,
            numeric_local: c.numeric_local,
            numeric_remote: c.numeric_remote,
            numeric_port: c.numeric_port,
            privacy: crate::privacy::Privacy::of(c),
            color: c.color,
            utf8: false,
        }
    }
}

/// Per-refresh summary that every renderer prints in its own way.
pub struct Tick<'a> {
    pub seq: u64,
    pub real_ns: u64,
    /// The interval in force, and the one asked for: longer when the CPU
    /// budget (`cpu_budget` %, 0 = none) stretched it.
    pub interval: f64,
    pub interval_requested: f64,
    pub cpu_budget: u32,
    pub flows: &'a [Flow],
    /// The flows' addresses (`Spills::conn`).
    pub spills: &'a crate::flows::Spills,
    pub view: &'a View,
    pub table_len: usize,
    pub table_cap: usize,
    pub ct_count: u64,
    pub ct_max: u64,
    pub warnings: &'a Warnings,
    /// DESTROY events read and overflows (ENOBUFS) since start; None when
    /// events are not read.
    pub events: Option<(u64, u64)>,
    /// Connections that ended since start (matched DESTROY events).
    pub closed_total: u64,
    /// Bytes credited from DESTROY events in this refresh.
    pub credited: u64,
    /// Bytes estimated since start across counter zeroings by another
    /// program (flows.rs), included in every total built from rates.
    pub estimated: u64,
    /// The per-device view's rows, when it is shown.
    pub hosts: Option<&'a crate::hostview::Hosts>,
    /// Since start: screen frames skipped behind a slow terminal, and
    /// refresh deadlines missed (the metrics say both).
    pub frames_skipped: u64,
    pub deadlines_missed: u64,
    /// `--ipfix`: data records sent and dropped since start.
    pub ipfix: Option<(u64, u64)>,
}
