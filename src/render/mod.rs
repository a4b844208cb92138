//! Turning flows into text. Every line is built in a fixed `Line` and
//! then written through one buffered writer. Output is plain ASCII but on
//! a UTF-8 locale (the uplinks' arrows, interface names: `crate::text`);
//! the only escape sequences come from `screen.rs`, and only on a tty.
//!
//! - `line`: the buffer; `opts`: the display options; `fmt`: numbers,
//!   addresses, ages (of render it needs only `line` and `opts`, so
//!   health can use it without a circle); `cells`: what a
//!   row's cells show, shared by every format; `columns`: the connection
//!   and device tables' columns (title, widths, cell writer);
//!   `counters`: the refresh's counters, for the JSON tick and metrics;
//! - `plain` (`-c`, `-M`, `-d`), `json`, `screen`: the formats; `detail`:
//!   the screen's detail pane; `hosts`: the per-device table (`-H`), with
//!   columns of its own (`WIDTHS`, `TITLES`), on the screen and in
//!   `-c`/`-M` (json.rs writes its JSON).

pub mod cells;
pub mod columns;
pub mod counters;
pub mod detail;
pub mod fmt;
pub mod hosts;
pub mod json;
pub mod line;
pub mod opts;
pub mod plain;
pub mod screen;

pub use cells::*;
pub use fmt::*;
pub use line::*;
pub use opts::Opts;

use crate::flows::Flow;
use crate::health::Warnings;
use crate::view::View;

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
