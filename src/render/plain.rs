//! `-c` continuous lines and `-M` machine lines.
//!
//! `-c`: one line per shown connection per refresh, columns aligned but
//! never cut, a blank line between refreshes, no escape codes.
//!
//! `-M`: the fixed column order documented in the README, single spaces,
//! raw numbers, numeric addresses, `-` for an empty field:
//! `time proto src sport dst dport tx rx sum state age id in out
//!  nat_src nat_sport nat_dst nat_dport mark zone flags`

use super::{
    dst_is_local, flags, fmt_addr, fmt_age, fmt_proto, fmt_rate, fmt_state, marker, nat,
    shows_port, src_is_local, trim_end, Ctx, Line, Tick,
};
use crate::cli::AgeFmt;
use crate::flows::RateState;
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
        let c = &f.conn;
        line.clear();
        line.push(marker(f));
        line.push(b' ');
        cell.clear();
        fmt_proto(&mut cell, c.orig.proto);
        line.cell_min(cell.as_str(), 7);
        line.push(b' ');
        for (addr, is_dst, local) in [
            (&c.orig.src, false, src_is_local(m)),
            (&c.orig.dst, true, dst_is_local(m)),
        ] {
            cell.clear();
            ctx.host(&mut cell, &addr[..c.addr_len()], local, false);
            line.cell_min(cell.as_str(), 15);
            line.push(b' ');
            cell.clear();
            ctx.port(&mut cell, c, is_dst, false);
            line.cell_min(cell.as_str(), 5);
            line.push(b' ');
        }
        for v in [m.tx_bps, m.rx_bps, m.tx_bps + m.rx_bps] {
            cell.clear();
            if f.rate == RateState::Unknown {
                cell.push(b'-');
            } else {
                fmt_rate(&mut cell, v, o);
            }
            line.cell_min(cell.as_str(), 9);
            line.push(b' ');
        }
        if o.show_state {
            cell.clear();
            fmt_state(&mut cell, f);
            line.cell_min(cell.as_str(), 11);
            line.push(b' ');
        }
        if o.age != AgeFmt::Off {
            cell.clear();
            fmt_age(&mut cell, m, o.age);
            line.cell_min(cell.as_str(), 8);
            line.push(b' ');
        }
        if o.show_id {
            let _ = write!(line, "{:<10} ", c.id);
        }
        line.cell_min(ctx.ifname(m.in_if), 6);
        line.push(b' ');
        line.cell_min(
            if f.no_route {
                "noroute"
            } else {
                ctx.ifname(m.out_if)
            },
            6,
        );
        nat(line, ctx, f, m, false);
        trim_end(line);
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")?;
    w.flush()
}

pub fn write_machine(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
) -> std::io::Result<()> {
    let o = ctx.o;
    let secs = t.real_ns / 1_000_000_000;
    let ms = t.real_ns / 1_000_000 % 1000;
    for &i in &t.view.shown {
        let f = &t.flows[i as usize];
        let m = &t.view.meta(f);
        let c = &f.conn;
        let n = c.addr_len();
        line.clear();
        let _ = write!(line, "{secs}.{ms:03} ");
        fmt_proto(line, c.orig.proto);
        line.push(b' ');
        for (addr, port, local) in [
            (&c.orig.src, c.orig.sport, src_is_local(m)),
            (&c.orig.dst, c.orig.dport, dst_is_local(m)),
        ] {
            ctx.host(line, &addr[..n], local, true);
            line.push(b' ');
            if shows_port(c) {
                let _ = write!(line, "{port} ");
            } else {
                line.push_str("- ");
            }
        }
        for v in [m.tx_bps, m.rx_bps, m.tx_bps + m.rx_bps] {
            if f.rate == RateState::Unknown {
                line.push(b'-');
            } else {
                fmt_rate(line, v, o);
            }
            line.push(b' ');
        }
        line.push_str(crate::conntrack::state_name(c.orig.proto, c.state));
        let _ = write!(line, " {} {} ", m.age_ns / 1_000_000_000, c.id);
        line.push_str(ctx.ifname(m.in_if));
        line.push(b' ');
        line.push_str(ctx.ifname(m.out_if));
        for nat in [c.nat_src(), c.nat_dst()] {
            match nat {
                Some((a, p)) => {
                    line.push(b' ');
                    fmt_addr(line, a);
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
    let o = ctx.o;
    let d = &t.view.devices;
    let secs = t.real_ns / 1_000_000_000;
    let ms = t.real_ns / 1_000_000 % 1000;
    let mut cell = Line::new();
    for &k in &d.order {
        let r = &d.rows[k as usize];
        let link = ctx.links.get(r.ifindex);
        line.clear();
        if machine {
            let _ = write!(line, "{secs}.{ms:03} ");
        }
        // -M: single spaces, columns never padded.
        line.cell_min(ctx.ifname(r.ifindex), if machine { 0 } else { 8 });
        line.push(b' ');
        let lrates = [link.and_then(|l| l.tx_bps), link.and_then(|l| l.rx_bps)];
        for v in [Some(r.tx_bps), Some(r.rx_bps), Some(r.tx_bps + r.rx_bps)] {
            cell.clear();
            match v {
                Some(v) => fmt_rate(&mut cell, v, o),
                None => cell.push(b'-'),
            }
            line.cell_min(cell.as_str(), if machine { 0 } else { 9 });
            line.push(b' ');
        }
        let _ = write!(line, "{}", r.conns);
        for v in lrates {
            line.push(b' ');
            cell.clear();
            match v {
                Some(v) => fmt_rate(&mut cell, v, o),
                None => cell.push(b'-'),
            }
            line.cell_min(cell.as_str(), if machine { 0 } else { 9 });
        }
        trim_end(line);
        line.push(b'\n');
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n")?;
    w.flush()
}
