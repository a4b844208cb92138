//! `-c` continuous lines and `-M` machine lines.
//!
//! `-c`: one line per shown connection per refresh, columns aligned but
//! never cut, a blank line between refreshes, no escape codes.
//!
//! `-M`: the fixed column order documented in docs/output.md, single spaces,
//! raw numbers, numeric addresses, `-` for an empty field:
//! `time proto src sport dst dport tx rx sum state age id in out
//!  nat_src nat_sport nat_dst nat_dport mark zone flags`
//! (`fields::MACHINE`).
//!
//! Both are views of the field list (fields.rs).

use super::columns::{dev_cell, dev_value, DEV_COLUMNS};
use super::fields::{self, columns, Row, Style, FIELDS, MACHINE, REST};
use super::{trim_end, Ctx, Line, Tick};
use std::fmt::Write as _;
use std::io::Write;

pub fn write_continuous(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
) -> std::io::Result<()> {
    let o = ctx.o;
    let mut cell = Line::new();
    for &i in &t.view.shown {
        let f = &t.flows[i as usize];
        let m = &t.view.meta(f);
        let c = &t.spills.conn(f);
        let row = Row { ctx, f, c, m };
        line.clear();
        for (k, fd) in columns(o).enumerate() {
            // The NAT view brings its own spaces.
            if fd.c.screen == REST {
                fields::cell(line, fd.c.col, &row, Style::Plain);
                continue;
            }
            if k > 0 {
                line.push(b' ');
            }
            cell.clear();
            fields::cell(&mut cell, fd.c.col, &row, Style::Plain);
            line.cell_min(cell.as_str(), fd.c.plain as usize);
        }
        trim_end(line);
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")?;
    w.flush()
}

/// `-M`'s first column: the refresh's unix time, milliseconds.
pub fn machine_time(line: &mut Line, t: &Tick) {
    let _ = write!(
        line,
        "{}.{:03}",
        t.real_ns / 1_000_000_000,
        t.real_ns / 1_000_000 % 1000
    );
}

pub fn write_machine(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
) -> std::io::Result<()> {
    for &i in &t.view.shown {
        let f = &t.flows[i as usize];
        let m = &t.view.meta(f);
        let c = &t.spills.conn(f);
        line.clear();
        machine_time(line, t);
        let row = Row { ctx, f, c, m };
        // Every field, whatever the display options: a fixed order.
        for &k in &MACHINE {
            line.push(b' ');
            fields::cell(line, FIELDS[k as usize].c.col, &row, Style::Machine);
        }
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")?;
    w.flush()
}

/// `-c -d`: one line per interface: name, tx, rx, sum (conntrack, relative
/// to the interface), connections, the link's own tx and rx.
pub fn write_devices(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
    machine: bool,
) -> std::io::Result<()> {
    let d = &t.view.devices;
    let mut cell = Line::new();
    for &k in &d.order {
        let r = &d.rows[k as usize];
        line.clear();
        if machine {
            machine_time(line, t);
            line.push(b' ');
        }
        for (i, c) in DEV_COLUMNS.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            cell.clear();
            dev_cell(&mut cell, &dev_value(c.col, r, ctx), ctx.o);
            // -M: single spaces, columns never padded.
            line.cell_min(cell.as_str(), if machine { 0 } else { c.plain as usize });
        }
        trim_end(line);
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")?;
    w.flush()
}
