//! The detail pane (Enter on a selected connection): everything the
//! kernel has about that one entry, asked fresh each refresh (`conntrack
//! -G`), and the rate history of the last refreshes as an ASCII graph.

use super::{fmt_proto, fmt_rate, fmt_tuple, Ctx, Line, Tick};
use crate::conntrack::{state_name, STATUS_NAMES};
use crate::select::Selection;
use std::fmt::Write as _;

/// Rows of each of the two graphs (tx, rx).
const GRAPH_ROWS: usize = 3;

/// Writes the pane's lines through `put`, `cols` wide.
pub fn lines(t: &Tick, ctx: &Ctx, sel: &Selection, cols: usize, put: &mut dyn FnMut(&Line)) {
    let mut l = Line::new();
    let flow = sel.idx.map(|i| &t.flows[i as usize]);
    let Some(c) = sel.answer.map(|a| a.0).or(sel.conn) else {
        l.push_str("no connection selected (Esc returns)");
        put(&l);
        return;
    };
    let x = sel.answer.map(|a| a.1);
    let n = c.addr_len();
    let hide = ctx.o.privacy.flow(t.flows, sel.idx, c.id);
    let _ = write!(l, "id {}  zone {}  mark 0x{:x}  ", c.id, c.zone, c.mark);
    fmt_proto(&mut l, c.orig.proto);
    l.push(b' ');
    l.push_str(state_name(c.orig.proto, c.state));
    if let Some(x) = x {
        let _ = write!(l, "  timeout {}s", x.timeout);
    }
    l.push_str("   (Esc returns, k deletes)");
    put(&l);
    l.clear();
    l.push_str("status");
    for (bit, name) in STATUS_NAMES.iter().enumerate() {
        if c.status & 1 << bit != 0 {
            l.push(b' ');
            l.push_str(name);
        }
    }
    put(&l);
    for (dir, t, bytes) in [
        ("orig  ", &c.orig, c.orig_bytes),
        ("reply ", &c.reply, c.reply_bytes),
    ] {
        let k = usize::from(dir.starts_with('r'));
        l.clear();
        l.push_str(dir);
        fmt_tuple(&mut l, t, n, hide.tuple(k == 1));
        match x {
            Some(x) => {
                let _ = write!(l, "  {} packets {bytes} bytes", x.packets[k]);
            }
            None => {
                let _ = write!(l, "  {bytes} bytes");
            }
        }
        put(&l);
    }
    l.clear();
    l.push_str("nat    ");
    match (c.nat_src(), c.nat_dst()) {
        (None, None) => l.push_str("none"),
        (s, d) => {
            for (what, v, h) in [
                ("source seen as ", s, hide.src),
                ("destination sent to ", d, hide.dst),
            ] {
                if let Some((a, p)) = v {
                    l.push_str(what);
                    super::fmt_addr_or_redacted(&mut l, a, h);
                    let _ = write!(l, " port {p}  ");
                }
            }
        }
    }
    // How its packets go: past conntrack in a flowtable (sw) or in
    // hardware (hw), where the counters may be frozen (the rate reads ?).
    l.push_str("   offload ");
    l.push_str(crate::conntrack::Offload::of(c.status).name());
    put(&l);
    l.clear();
    match flow {
        Some(f) => {
            let name = |i| ctx.links.name(i).unwrap_or("-");
            let _ = write!(l, "in {}  out {}  age ", name(f.in_if), name(f.out_if));
            super::fmt_age(&mut l, &t.view.meta(f), crate::vocab::AgeFmt::Dhms);
            if c.start != 0 {
                let (y, mo, d, h, mi, s) = crate::sys::localtime(c.start / 1_000_000_000);
                let _ = write!(l, "  started {y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            }
            l.push_str("  now tx ");
            if f.rate() == crate::flows::RateState::Unknown {
                l.push_str("? rx ?");
            } else {
                fmt_rate(&mut l, f.tx_bps(), ctx.o);
                l.push_str(" rx ");
                fmt_rate(&mut l, f.rx_bps(), ctx.o);
            }
        }
        None => l.push_str("ended: no longer in nftop's table"),
    }
    put(&l);
    if sel.errno != 0 {
        l.clear();
        l.push_str("kernel: ");
        explain(&mut l, sel.errno);
        put(&l);
    }
    graphs(sel, ctx, cols, &mut l, put);
}

/// The rate history as two ASCII graphs (tx, rx) of `GRAPH_ROWS` rows,
/// the newest refreshes that fit in `cols`.
fn graphs(sel: &Selection, ctx: &Ctx, cols: usize, l: &mut Line, put: &mut dyn FnMut(&Line)) {
    let width = cols.saturating_sub(14).min(crate::select::HISTORY);
    for (name, pick) in [("tx", 0), ("rx", 1)] {
        let v = |s: (f64, f64)| if pick == 0 { s.0 } else { s.1 };
        let hist = sel
            .history()
            .skip(sel.history().count().saturating_sub(width));
        let max = hist.clone().map(v).fold(0.0, f64::max);
        for row in (0..GRAPH_ROWS).rev() {
            l.clear();
            if row == GRAPH_ROWS - 1 {
                let _ = write!(l, "{name} ");
                fmt_rate(l, max, ctx.o);
            }
            l.pad_to(13);
            l.push(b'|');
            for s in hist.clone() {
                // Two steps per row: '.' half, '#' full.
                let level = if max > 0.0 {
                    (v(s) / max * (2 * GRAPH_ROWS) as f64).ceil() as usize
                } else {
                    0
                };
                l.push(match level.saturating_sub(2 * row) {
                    0 => b' ',
                    1 => b'.',
                    _ => b'#',
                });
            }
            put(l);
        }
    }
}

/// The kernel's answer to a get or a delete (ctentry.rs) as the one line
/// the screen shows.
pub fn explain(out: &mut Line, errno: i32) {
    match errno {
        0 => out.push_str("done"),
        libc::ENOENT => out.push_str("no such entry (ENOENT): it ended or was deleted already"),
        libc::EPERM => out.push_str("not permitted (EPERM): deleting needs CAP_NET_ADMIN"),
        libc::EAGAIN => out.push_str("the kernel did not answer within 1 s"),
        e => {
            let _ = write!(out, "{}", std::io::Error::from_raw_os_error(e));
        }
    }
}
