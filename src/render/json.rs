//! `--json`: one object per line (schema in docs/output.md, `"v":1`).
//!
//! Per refresh: one `"conn"` object per shown connection (none with
//! `-d`), one `"dev"` object per interface, then one `"tick"` object that
//! closes the refresh. Addresses are always numeric
//! (names would change under a script's feet); strings are escaped even
//! though everything we print is ASCII already.

use super::columns::{dev_value, DevValue, DEV_COLUMNS};
use super::fields::{self, Kind, Row, Style, FIELDS, JSON};
use super::{fmt_fixed, hosts, Line, Tick};
use crate::health::Warning;
use crate::hostview::Who;
use crate::render::Ctx;
use std::fmt::Write as _;
use std::io::Write;

pub(super) fn head(line: &mut Line, t: &Tick, kind: &str) {
    let secs = t.real_ns / 1_000_000_000;
    let frac = t.real_ns % 1_000_000_000 / 1_000_000;
    let _ = write!(
        line,
        "{{\"v\":1,\"t\":{secs}.{frac:03},\"seq\":{},\"type\":\"{kind}\"",
        t.seq
    );
}

pub(super) fn str_field(line: &mut Line, key: &str, v: &str) {
    let _ = write!(line, ",\"{key}\":");
    str_value(line, v);
}

/// `v` quoted, escaped.
fn str_value(line: &mut Line, v: &str) {
    line.push(b'"');
    for ch in v.chars() {
        match ch {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(line, "\\u{:04x}", c as u32);
            }
            c => line.push(if c.is_ascii() { c as u8 } else { b'?' }),
        }
    }
    line.push(b'"');
}

pub(super) fn num(line: &mut Line, key: &str, v: f64) {
    // Rates are whole-ish numbers; three decimals keep sub-bit precision
    // without printing float noise.
    let _ = write!(line, ",\"{key}\":");
    fmt_fixed(line, v, 3);
}

/// The `"conn"` objects: the fields that have a JSON place, in its order
/// (fields.rs).
fn write_conns(w: &mut impl Write, t: &Tick, ctx: &Ctx, line: &mut Line) -> std::io::Result<()> {
    let mut cell = Line::new();
    for &i in &t.view.shown {
        let f = &t.flows[i as usize];
        let row = Row {
            ctx,
            f,
            c: &t.spills.conn(f),
            m: &t.view.meta(f),
        };
        line.clear();
        head(line, t, "conn");
        for &k in &JSON {
            let c = &FIELDS[k as usize].c;
            let at = line.len();
            line.push_str(",\"");
            line.push_str(c.key);
            line.push_str("\":");
            cell.clear();
            match fields::cell(&mut cell, c.col, &row, Style::Json) {
                Kind::Text => str_value(line, cell.as_str()),
                Kind::Raw => line.push_str(cell.as_str()),
                Kind::Omit => line.truncate(at),
            }
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The `"dev"` objects: the device table's columns by their keys.
fn write_devs(w: &mut impl Write, t: &Tick, ctx: &Ctx, line: &mut Line) -> std::io::Result<()> {
    for &k in &t.view.devices.order {
        let r = &t.view.devices.rows[k as usize];
        line.clear();
        head(line, t, "dev");
        for c in &DEV_COLUMNS {
            match dev_value(c.col, r, ctx) {
                DevValue::Name(n) => str_field(line, c.key, n),
                DevValue::Rate(Some(v)) => num(line, c.key, v),
                DevValue::Rate(None) => {
                    let _ = write!(line, ",\"{}\":null", c.key);
                }
                DevValue::Count(n) => {
                    let _ = write!(line, ",\"{}\":{n}", c.key);
                }
            }
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// With `dev_only` (-d) the "conn" objects are left out; with the
/// per-device view (-H, `t.hosts`) "host" objects replace both.
pub fn write_json(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
    dev_only: bool,
) -> std::io::Result<()> {
    let mut cell = Line::new();
    if t.hosts.is_some() {
        write_hosts(w, t, ctx, line)?;
    } else {
        if !dev_only {
            write_conns(w, t, ctx, line)?;
        }
        write_devs(w, t, ctx, line)?;
    }
    line.clear();
    head(line, t, "tick");
    let v = t.view;
    num(line, "interval", t.interval);
    num(line, "interval_requested", t.interval_requested);
    let _ = write!(line, ",\"cpu_budget\":{}", t.cpu_budget);
    let _ = write!(
        line,
        ",\"conns\":{},\"matched\":{},\"shown\":{}",
        v.all.conns,
        v.matched,
        v.shown.len()
    );
    num(line, "tx_bps", v.visible.tx_bps);
    num(line, "rx_bps", v.visible.rx_bps);
    num(line, "all_tx_bps", v.all.tx_bps);
    num(line, "all_rx_bps", v.all.rx_bps);
    // The counters, as the metrics page has them too (counters.rs).
    super::counters::write_json(line, t);
    line.push_str(",\"warnings\":[");
    let mut first = true;
    for wn in t.warnings.iter() {
        if !first {
            line.push(b',');
        }
        first = false;
        let _ = write!(line, "{{\"code\":\"{}\"", wn.code());
        cell.clear();
        Warning::message(wn, &mut cell);
        str_field(line, "msg", cell.as_str());
        line.push(b'}');
    }
    line.push_str("]}\n");
    w.write_all(line.as_bytes())?;
    w.flush()
}

/// `--json -H`: one `"host"` object per device; addresses numeric, the
/// name from leases or hosts only (JSON never waits for DNS).
pub fn write_hosts(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
) -> std::io::Result<()> {
    let Some(h) = t.hosts else { return Ok(()) };
    let mut c = Line::new();
    for &k in &h.order {
        let r = &h.rows[k as usize];
        line.clear();
        head(line, t, "host");
        c.clear();
        hosts::name(&mut c, r, ctx, true);
        str_field(line, "host", c.as_str());
        c.clear();
        match r.who {
            Who::Mac(_) => {
                hosts::mac(&mut c, r.who, ctx);
                str_field(line, "mac", c.as_str());
            }
            _ => line.push_str(",\"mac\":null"),
        }
        line.push_str(",\"addrs\":[");
        for (i, a) in r.addrs().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.push(b'"');
            ctx.host(line, a, true, true);
            line.push(b'"');
        }
        line.push(b']');
        match hosts::known(r, ctx, false) {
            Some(n) => str_field(line, "name", n.as_str()),
            None => line.push_str(",\"name\":null"),
        }
        num(line, "tx_bps", r.tx_bps);
        num(line, "rx_bps", r.rx_bps);
        num(line, "sum_bps", r.sum_bps());
        let _ = writeln!(
            line,
            ",\"tx_bytes\":{},\"rx_bytes\":{},\"conns\":{}}}",
            r.tx_bytes, r.rx_bytes, r.conns
        );
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}
