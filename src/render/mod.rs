//! Turning flows into text. Every line is built in a fixed `Line`
//! (`crate::line`, re-exported here with the display options,
//! `crate::opts::Opts`) and then written through one buffered writer. Output is plain ASCII but on
//! a UTF-8 locale (the uplinks' arrows, interface names: `crate::text`);
//! the only escape sequences come from `screen.rs`, and only on a tty.
//!
//! - `fmt`: rates, addresses, ages; `cells`: what a
//!   row's cells show, shared by every format; `fields`: the connection
//!   fields, each once (column, `-M` and JSON places, cell writer);
//!   `columns`: a table's column, and the device table's;
//!   `counters`: the refresh's counters, for the JSON tick and metrics;
//! - `plain` (`-c`, `-M`, `-d`), `json`, `screen`: the formats; `detail`:
//!   the screen's detail pane; `hosts`: the per-device table (`-H`) on
//!   the screen and in `-c`/`-M` (json.rs writes its JSON).

pub mod cells;
pub mod columns;
pub mod counters;
pub mod detail;
pub mod fields;
pub mod fmt;
pub mod hosts;
pub mod json;
pub mod plain;
pub mod screen;

pub use crate::line::*;
pub use crate::opts::Opts;
pub use cells::*;
pub use fmt::*;

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
    /// program (flows/), included in every total built from rates.
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
