//! `-c` continuous lines and `-M` machine lines.
//!
//! `-c`: one line per shown connection per refresh, columns aligned but
//! never cut, a blank line between refreshes, no escape codes.
//!
//! `-M`: the fixed column order documented in docs/output.md, single spaces,
//! raw numbers, numeric addresses, `-` for an empty field:
//! `time proto src sport dst dport tx rx sum state age id in out
//!  nat_src nat_sport nat_dst nat_dport mark zone flags`

use super::columns::{self, columns, dev_cell, dev_value, Col, Row, Style, COLUMNS, DEV_COLUMNS};
use super::{dst_is_local, flags, nat, src_is_local, trim_end, Ctx, Line, Tick};
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
        for (k, c) in columns(o).enumerate() {
            if k > 0 {
                line.push(b' ');
            }
            cell.clear();
            columns::cell(&mut cell, c.col, &row, Style::Plain);
            line.cell_min(cell.as_str(), c.plain);
        }
        nat(line, ctx, c, m, false);
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
        // Every column, whatever the display options: a fixed field order.
        for c in COLUMNS.iter().filter(|c| c.col != Col::Marker) {
            line.push(b' ');
            columns::cell(line, c.col, &row, Style::Machine);
        }
        for (nat, local) in [
            (c.nat_src(), src_is_local(m)),
            (c.nat_dst(), dst_is_local(m)),
        ] {
            match nat {
                Some((a, p)) => {
                    line.push(b' ');
                    ctx.host(line, a, local, true);
                    let _ = write!(line, " {p}");
                }
                None => line.push_str(" - -"),
            }
        }
        let _ = write!(line, " {} {} ", c.mark, c.zone);
        flags(line, f, b',');
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
            line.cell_min(cell.as_str(), if machine { 0 } else { c.plain });
        }
        trim_end(line);
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")?;
    w.flush()
}
