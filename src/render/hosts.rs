//! The per-device view in every format: the screen's rows, `-c`/`-M`
//! lines and `--json` `"host"` objects (hostview.rs builds the rows).
//! A device is a local side: `-r` hides its addresses, MAC and name here,
//! for every format and the metrics labels (privacy.rs).

use super::columns::{column, Column, RATE_W};
use super::{fmt_rate, trim_end, Ctx, Line, Tick};
use crate::hostview::{HostRow, Id, Who};
use std::fmt::Write as _;
use std::io::Write;

const W: u8 = RATE_W as u8;

/// The columns, in the order `cells` hands them out (JSON writes its
/// own "host" objects, json.rs). The last one is as long as it is.
pub const COLUMNS: [Column<()>; 7] = [
    column((), "HOST", "", 20, 20, false),
    column((), "MAC", "", 17, 17, false),
    column((), "TX", "", W, W, true),
    column((), "RX", "", W, W, true),
    column((), "SUM", "", W, W, true),
    column((), "CONNS", "", 6, 6, true),
    column((), "TOP REMOTE", "", 0, 0, false),
];

/// Appends cell `i` of a screen row in its column's width.
pub fn screen_cell(line: &mut Line, i: usize, s: &str) {
    if i > 0 {
        line.push(b' ');
    }
    match &COLUMNS[i] {
        c if c.screen == 0 => line.push_str(s),
        c => line.cell(s, c.screen as usize, c.right),
    }
}

/// A device by its identity alone (the header's filter, the delete
/// question): its lease name or MAC, its address, `local`.
pub fn id_label(out: &mut Line, id: Id, ctx: &Ctx) {
    match id.0 {
        Who::Local => out.push_str("local"),
        Who::Other => out.push_str("other"),
        Who::Mac(m) => match ctx.names.by_mac(&m).filter(|_| !ctx.o.privacy.local) {
            Some(n) => out.push_str(n.as_str()),
            None => mac(out, id.0, ctx),
        },
        Who::Addr => {
            let b = id.1.to_be_bytes();
            let a = if b[..10] == [0; 10] && b[10..12] == [0xff; 2] {
                &b[12..]
            } else {
                &b[..]
            };
            ctx.host(out, a, true, false);
        }
    }
}

/// The name known for a device: the DHCP lease of its MAC, else what
/// hosts, leases (and with `resolve`, DNS) say of its first address;
/// none under `-r`.
pub fn known(r: &HostRow, ctx: &Ctx, resolve: bool) -> Option<crate::names::Name> {
    if ctx.o.privacy.local {
        return None;
    }
    if let Who::Mac(m) = r.who {
        if let Some(n) = ctx.names.by_mac(&m) {
            return Some(n);
        }
    }
    ctx.names.lookup(r.addrs().next()?, resolve, ctx.now_s)
}

/// The device as shown: `local`, `other`, its name, else its first
/// address (redaction and -n apply as to any local address).
pub fn name(out: &mut Line, r: &HostRow, ctx: &Ctx, numeric: bool) {
    match r.who {
        Who::Local => return out.push_str("local"),
        Who::Other => return out.push_str("other"),
        _ => {}
    }
    if !numeric && !ctx.o.numeric_local {
        if let Some(n) = known(r, ctx, true) {
            return out.push_str(n.as_str());
        }
    }
    match r.addrs().next() {
        Some(a) => ctx.host(out, a, true, true),
        None => out.push(b'-'),
    }
}

/// A device's MAC, `redacted` under `-r`, `-` for none.
pub fn mac(out: &mut Line, who: Who, ctx: &Ctx) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match who {
        Who::Mac(_) if ctx.o.privacy.local => out.push_str(crate::privacy::REDACTED),
        Who::Mac(m) => {
            for (i, b) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b':');
                }
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
        _ => out.push(b'-'),
    }
}

/// The cells of one row in `COLUMNS` order, each handed to `put`.
pub fn cells(r: &HostRow, ctx: &Ctx, numeric: bool, mut put: impl FnMut(usize, &str)) {
    let mut c = Line::new();
    name(&mut c, r, ctx, numeric);
    put(0, c.as_str());
    c.clear();
    mac(&mut c, r.who, ctx);
    put(1, c.as_str());
    for (i, v) in [r.tx_bps, r.rx_bps, r.sum_bps()].into_iter().enumerate() {
        c.clear();
        fmt_rate(&mut c, v, ctx.o);
        put(2 + i, c.as_str());
    }
    c.clear();
    let _ = write!(c, "{}", r.conns);
    put(5, c.as_str());
    c.clear();
    if r.top_len > 0 {
        ctx.host(&mut c, &r.top[..r.top_len as usize], false, numeric);
    } else {
        c.push(b'-');
    }
    put(6, c.as_str());
}

/// `-c -H` / `-M -H`: one line per device, a blank line after each
/// refresh; `-M` with the time first, single spaces, raw numbers.
pub fn write_plain(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
    machine: bool,
) -> std::io::Result<()> {
    let Some(h) = t.hosts else { return Ok(()) };
    for &k in &h.order {
        line.clear();
        if machine {
            super::plain::machine_time(line, t);
            line.push(b' ');
        }
        cells(&h.rows[k as usize], ctx, machine, |i, s| {
            if i > 0 {
                line.push(b' ');
            }
            line.cell_min(
                s,
                if machine {
                    0
                } else {
                    COLUMNS[i].plain as usize
                },
            );
        });
        trim_end(line);
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")
}
