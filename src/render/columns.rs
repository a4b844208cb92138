//! The connection table's columns (`COLUMNS`) and the device table's
//! (`DEV_COLUMNS`): title, widths, alignment, and the writer of the cell,
//! per `Style`. The screen, `-c` and `-M` walk the same list in the same
//! order. Not everything is here yet (issue 22): the screen drops columns
//! on narrow terminals and folds the ports into the addresses in
//! `screen.rs` (`Layout`); `-M` appends the NAT view, mark, zone and flags
//! after the list in `plain.rs`; JSON writes the connection's fields by
//! hand in `json.rs` (the device fields come from `DEV_COLUMNS`); the
//! per-device table has its own in `hosts.rs`.
//!
//! The screen merges each address with its port (`host:port`, the host
//! cut to fit the address width that is left) and in the narrow layout
//! puts the destination on a second line; `-c` and `-M` keep them apart
//! so that `awk` can pick fields.

use super::{fmt_age, fmt_proto, fmt_rate, fmt_state, marker, Ctx, Line, Opts};
use crate::conntrack::Conn;
use crate::flows::{Flow, RateState};
use crate::view::Meta;
use crate::vocab::AgeFmt;
use std::fmt::Write as _;

/// How a cell is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The screen: names, `?` for a rate not known yet.
    Screen,
    /// `-c`: names, `-` for a rate not known yet.
    Plain,
    /// `-M`: numeric addresses and ports, bare state, age in seconds, the
    /// egress interface even without a route (the flag says `no_route`).
    Machine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Marker,
    Proto,
    Src,
    Sport,
    Dst,
    Dport,
    Tx,
    Rx,
    Sum,
    State,
    Age,
    Id,
    In,
    Out,
}

pub struct Column {
    pub col: Col,
    pub title: &'static str,
    /// Width on the screen (0: the address width the screen computes;
    /// ports are merged into the address there).
    pub screen: usize,
    /// Minimum width in `-c` (never cut there).
    pub plain: usize,
    /// Right-aligned on the screen.
    pub right: bool,
}

const fn col(col: Col, title: &'static str, screen: usize, plain: usize, right: bool) -> Column {
    Column {
        col,
        title,
        screen,
        plain,
        right,
    }
}

/// Width of a rate column on the screen and in `-c`.
pub const RATE_W: usize = 9;

/// Every column, in order. The marker has no separator after it on the
/// screen's second line; the NAT view follows `Out` where shown.
pub const COLUMNS: [Column; 14] = [
    col(Col::Marker, "", 1, 1, false),
    col(Col::Proto, "PROTO", 7, 7, false),
    col(Col::Src, "SOURCE", 0, 15, false),
    col(Col::Sport, "", 0, 5, false),
    col(Col::Dst, "DESTINATION", 0, 15, false),
    col(Col::Dport, "", 0, 5, false),
    col(Col::Tx, "TX", RATE_W, RATE_W, true),
    col(Col::Rx, "RX", RATE_W, RATE_W, true),
    col(Col::Sum, "SUM", RATE_W, RATE_W, true),
    col(Col::State, "STATE", 11, 11, false),
    col(Col::Age, "AGE", 11, 8, true),
    col(Col::Id, "ID", 10, 10, true),
    col(Col::In, "IN", 7, 6, false),
    col(Col::Out, "OUT", 7, 6, false),
];

/// Whether the options show this column.
pub fn shown(c: Col, o: &Opts) -> bool {
    match c {
        Col::State => o.show_state,
        Col::Age => o.age != AgeFmt::Off,
        Col::Id => o.show_id,
        _ => true,
    }
}

/// The columns these options show.
pub fn columns(o: &Opts) -> impl Iterator<Item = &'static Column> + '_ {
    COLUMNS.iter().filter(move |c| shown(c.col, o))
}

/// A column's title; rates say their unit when it is bytes.
pub fn title(c: &Column, o: &Opts) -> &'static str {
    match (c.col, o.bytes) {
        (Col::Tx, true) => "TX B/s",
        (Col::Rx, true) => "RX B/s",
        (Col::Sum, true) => "SUM B/s",
        _ => c.title,
    }
}

/// One row's cells.
pub struct Row<'a> {
    pub ctx: &'a Ctx<'a>,
    pub f: &'a Flow,
    /// The flow's entry (`Spills::conn`).
    pub c: &'a Conn,
    pub m: &'a Meta,
}

/// Writes the cell of column `c` (unpadded) into `out`.
pub fn cell(out: &mut Line, c: Col, r: &Row, style: Style) {
    let (ctx, f, m) = (r.ctx, r.f, r.m);
    let conn = r.c;
    let n = conn.addr_len();
    let numeric = style == Style::Machine;
    match c {
        Col::Marker => out.push(marker(f)),
        Col::Proto => fmt_proto(out, conn.orig.proto),
        Col::Src => ctx.host(out, &conn.orig.src[..n], super::src_is_local(m), numeric),
        Col::Dst => ctx.host(out, &conn.orig.dst[..n], super::dst_is_local(m), numeric),
        Col::Sport | Col::Dport if numeric => {
            let port = if c == Col::Dport {
                conn.orig.dport
            } else {
                conn.orig.sport
            };
            if super::shows_port(conn) {
                let _ = write!(out, "{port}");
            } else {
                out.push(b'-');
            }
        }
        Col::Sport => ctx.port(out, conn, false, false),
        Col::Dport => ctx.port(out, conn, true, false),
        Col::Tx | Col::Rx | Col::Sum => {
            if f.rate() == RateState::Unknown {
                out.push(if style == Style::Screen { b'?' } else { b'-' });
            } else {
                let v = match c {
                    Col::Tx => m.tx_bps,
                    Col::Rx => m.rx_bps,
                    _ => m.tx_bps + m.rx_bps,
                };
                fmt_rate(out, v, ctx.o);
            }
        }
        Col::State if numeric => {
            out.push_str(crate::conntrack::state_name(conn.orig.proto, conn.state))
        }
        Col::State => fmt_state(out, f),
        Col::Age if numeric => {
            let _ = write!(out, "{}", m.age_ns / 1_000_000_000);
        }
        Col::Age => fmt_age(out, m, ctx.o.age),
        Col::Id => {
            let _ = write!(out, "{}", conn.id);
        }
        Col::In => out.push_str(ctx.ifname(m.in_if)),
        Col::Out if f.no_route() && !numeric => out.push_str("noroute"),
        Col::Out => out.push_str(ctx.ifname(m.out_if)),
    }
}

/// The device table's columns (`-d`, key `d`, JSON "dev" objects),
/// described once for the screen, `-c -d`, `-M -d` and JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevCol {
    Name,
    Tx,
    Rx,
    Sum,
    Conns,
    LinkTx,
    LinkRx,
}

pub struct DevColumn {
    pub col: DevCol,
    pub title: &'static str,
    /// The JSON key.
    pub key: &'static str,
    /// Width on the screen (right-aligned but the name) and in `-c`.
    pub screen: usize,
    pub plain: usize,
}

const fn dcol(
    col: DevCol,
    title: &'static str,
    key: &'static str,
    screen: usize,
    plain: usize,
) -> DevColumn {
    DevColumn {
        col,
        title,
        key,
        screen,
        plain,
    }
}

pub const DEV_COLUMNS: [DevColumn; 7] = [
    dcol(DevCol::Name, "DEVICE", "dev", 8, 8),
    dcol(DevCol::Tx, "TX", "tx_bps", RATE_W, RATE_W),
    dcol(DevCol::Rx, "RX", "rx_bps", RATE_W, RATE_W),
    dcol(DevCol::Sum, "SUM", "sum_bps", RATE_W, RATE_W),
    dcol(DevCol::Conns, "CONNS", "conns", 6, 0),
    dcol(DevCol::LinkTx, "LINK TX", "link_tx_bps", RATE_W, RATE_W),
    dcol(DevCol::LinkRx, "LINK RX", "link_rx_bps", RATE_W, RATE_W),
];

/// What one device cell holds: conntrack's rates relative to the
/// interface, its connections, and the link's own counter rates (None
/// until two samples exist, and for `local`).
pub enum DevValue<'a> {
    Name(&'a str),
    Rate(Option<f64>),
    Count(u32),
}

pub fn dev_value<'a>(c: DevCol, r: &crate::view::DevRow, ctx: &'a Ctx) -> DevValue<'a> {
    let link = ctx.links.get(r.ifindex);
    match c {
        DevCol::Name => DevValue::Name(ctx.ifname(r.ifindex)),
        DevCol::Tx => DevValue::Rate(Some(r.tx_bps)),
        DevCol::Rx => DevValue::Rate(Some(r.rx_bps)),
        DevCol::Sum => DevValue::Rate(Some(r.tx_bps + r.rx_bps)),
        DevCol::Conns => DevValue::Count(r.conns),
        DevCol::LinkTx => DevValue::Rate(link.and_then(|l| l.tx_bps)),
        DevCol::LinkRx => DevValue::Rate(link.and_then(|l| l.rx_bps)),
    }
}

/// A device cell as text (`-` for a rate not known).
pub fn dev_cell(out: &mut Line, v: &DevValue, o: &Opts) {
    match *v {
        DevValue::Name(s) => out.push_str(s),
        DevValue::Rate(Some(v)) => fmt_rate(out, v, o),
        DevValue::Rate(None) => out.push(b'-'),
        DevValue::Count(n) => {
            let _ = write!(out, "{n}");
        }
    }
}
