//! The connection fields, each described once (`FIELDS`): its column
//! (title, JSON key, widths, alignment), its place in a `-M` line and in
//! a JSON object, when a narrow screen drops it, which option shows it,
//! and how its cell is written in each `Style` (`cell`). The screen and
//! `-c` walk the list in its order (the table's columns); `-M` and JSON
//! keep their own documented orders (`MACHINE`, `JSON`, derived from the
//! places), fixed for scripts. Adding a field: a `Col`, a row in `FIELDS`
//! and its arm in `cell`; docs/output.md says what it holds.
//!
//! The screen merges each address with its port (`host:port`, the host
//! cut to fit the address width that is left) and in the narrow layout
//! puts the destination on a second line (screen.rs); `-c` and `-M` keep
//! them apart so that `awk` can pick fields.

use super::columns::{column, Column, RATE_W};
use super::{dst_is_local, flag_names, flags, fmt_age, fmt_fixed, fmt_proto, fmt_rate, fmt_state};
use super::{marker, nat, shows_port, src_is_local, Ctx, Line, Opts};
use crate::conntrack::{self, Conn};
use crate::flows::{Flow, RateState};
use crate::view::Meta;
use crate::vocab::AgeFmt;
use std::fmt::Write as _;

/// Which output a cell is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd)]
pub enum Style {
    /// The screen: names, `?` for a rate not known yet.
    Screen,
    /// `-c`: names, `-` for a rate not known yet.
    Plain,
    /// `-M`: numeric addresses and ports, bare state, age in seconds, the
    /// egress interface even without a route (the flag says `no_route`).
    Machine,
    /// `--json`: a JSON value (see `Kind`); numeric as `-M`.
    Json,
}

/// What `cell` wrote for JSON: text to quote, a JSON value as it is, or
/// nothing (the key is left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Raw,
    Omit,
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
    Mark,
    Nat,
    NatSrc,
    NatSport,
    NatDst,
    NatDport,
    Zone,
    Flags,
    Family,
    Icmp,
    TxBytes,
    RxBytes,
    AgeFrom,
    Local,
    Offload,
}

/// Which option puts a field in the screen's and `-c`'s table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    Always,
    /// `-V`, key `V`.
    State,
    /// `-a`, key `a`.
    Age,
    /// `-I`, key `I`.
    Id,
    /// `--mark`, key `m`.
    Mark,
    /// In `-M` and JSON only.
    Never,
}

/// `Column::screen` values that are not widths: the address width the
/// screen computes; a port merged into its address (`host:port`); what
/// follows the columns without a separator or width (the NAT view).
pub const ADDR: u8 = 0;
pub const MERGED: u8 = 254;
pub const REST: u8 = 255;

pub struct Field {
    pub c: Column<Col>,
    /// Places in a JSON object and in a `-M` line, from 1 (0: absent).
    pub json: u8,
    pub machine: u8,
    /// A narrow screen drops the field from this level on (0: never):
    /// 1 the NAT view, 2 IN/OUT and MARK, 3 TX/RX (SUM stays), 4 the
    /// ports; the address columns get what is left (screen.rs `Layout`).
    pub drop: u8,
    pub show: Show,
}

const fn field(c: Column<Col>, (json, machine): (u8, u8), drop: u8, show: Show) -> Field {
    Field {
        c,
        json,
        machine,
        drop,
        show,
    }
}

/// The deepest drop level.
pub const MAX_DROP: u8 = 4;

const L: bool = false;
const R: bool = true;
const W: u8 = RATE_W as u8;

/// Every field, in `Col` order (`get` relies on it), which is the order
/// of the table's columns. The marker has no separator after it on the
/// screen's second line.
#[rustfmt::skip]
pub const FIELDS: [Field; 29] = {
    use Col::*;
    use Show::{Always, Never};
    [
        field(column(Marker, "", "", 1, 1, L), (0, 0), 0, Always),
        field(column(Proto, "PROTO", "proto", 7, 7, L), (3, 1), 0, Always),
        field(column(Src, "SOURCE", "src", ADDR, 15, L), (5, 2), 0, Always),
        field(column(Sport, "", "sport", MERGED, 5, L), (6, 3), 4, Always),
        field(column(Dst, "DESTINATION", "dst", ADDR, 15, L), (7, 4), 0, Always),
        field(column(Dport, "", "dport", MERGED, 5, L), (8, 5), 4, Always),
        field(column(Tx, "TX", "tx_bps", W, W, R), (18, 6), 3, Always),
        field(column(Rx, "RX", "rx_bps", W, W, R), (19, 7), 3, Always),
        field(column(Sum, "SUM", "sum_bps", W, W, R), (20, 8), 0, Always),
        field(column(State, "STATE", "state", 11, 11, L), (4, 9), 0, Show::State),
        field(column(Age, "AGE", "age_s", 11, 8, R), (23, 10), 0, Show::Age),
        field(column(Id, "ID", "id", 10, 10, R), (1, 11), 0, Show::Id),
        field(column(In, "IN", "in", 7, 6, L), (14, 12), 2, Always),
        field(column(Out, "OUT", "out", 7, 6, L), (15, 13), 2, Always),
        field(column(Mark, "MARK", "mark", 10, 6, R), (16, 18), 2, Show::Mark),
        field(column(Nat, "NAT", "", REST, 0, L), (0, 0), 1, Always),
        field(column(NatSrc, "", "nat_src", 0, 0, L), (10, 14), 0, Never),
        field(column(NatSport, "", "nat_sport", 0, 0, L), (11, 15), 0, Never),
        field(column(NatDst, "", "nat_dst", 0, 0, L), (12, 16), 0, Never),
        field(column(NatDport, "", "nat_dport", 0, 0, L), (13, 17), 0, Never),
        field(column(Zone, "", "zone", 0, 0, L), (17, 19), 0, Never),
        field(column(Flags, "", "flags", 0, 0, L), (26, 20), 0, Never),
        field(column(Family, "", "family", 0, 0, L), (2, 0), 0, Never),
        // Only ICMP has them; the value carries the two keys that follow.
        field(column(Icmp, "", "icmp_type", 0, 0, L), (9, 0), 0, Never),
        field(column(TxBytes, "", "tx_bytes", 0, 0, L), (21, 0), 0, Never),
        field(column(RxBytes, "", "rx_bytes", 0, 0, L), (22, 0), 0, Never),
        field(column(AgeFrom, "", "age_from", 0, 0, L), (24, 0), 0, Never),
        field(column(Local, "", "local", 0, 0, L), (25, 0), 0, Never),
        // Appended to -M (scripts count fields); JSON only when offloaded.
        field(column(Offload, "", "offload", 0, 0, L), (27, 21), 0, Never),
    ]
};

/// The field of `c`.
pub fn get(c: Col) -> &'static Field {
    &FIELDS[c as usize]
}

/// How many fields have a place in JSON (`json`) or in `-M`.
const fn count(json: bool) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < FIELDS.len() {
        let p = if json {
            FIELDS[i].json
        } else {
            FIELDS[i].machine
        };
        n += (p > 0) as usize;
        i += 1;
    }
    n
}

/// The fields' indices in the order of their places; a place given twice
/// or left out stops the build.
const fn order<const N: usize>(json: bool) -> [u8; N] {
    let mut out = [u8::MAX; N];
    let mut i = 0;
    while i < FIELDS.len() {
        let p = if json {
            FIELDS[i].json
        } else {
            FIELDS[i].machine
        } as usize;
        if p > 0 {
            assert!(out[p - 1] == u8::MAX, "two fields in one place");
            out[p - 1] = i as u8;
        }
        i += 1;
    }
    out
}

/// The JSON object's keys and the `-M` line's fields, in order.
pub const JSON: [u8; count(true)] = order(true);
pub const MACHINE: [u8; count(false)] = order(false);

/// Whether the options show this field in the table.
pub fn shown(f: &Field, o: &Opts) -> bool {
    match f.show {
        Show::Always => true,
        Show::State => o.show_state,
        Show::Age => o.age != AgeFmt::Off,
        Show::Id => o.show_id,
        Show::Mark => o.show_mark,
        Show::Never => false,
    }
}

/// The table's fields these options show.
pub fn columns(o: &Opts) -> impl Iterator<Item = &'static Field> + '_ {
    FIELDS.iter().filter(move |f| shown(f, o))
}

/// A column's title; rates say their unit when it is bytes.
pub fn title(f: &Field, o: &Opts) -> &'static str {
    match (f.c.col, o.bytes) {
        (Col::Tx, true) => "TX B/s",
        (Col::Rx, true) => "RX B/s",
        (Col::Sum, true) => "SUM B/s",
        _ => f.c.title,
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

/// A number, a JSON value as it is.
fn int(out: &mut Line, v: u64) -> Kind {
    let _ = write!(out, "{v}");
    Kind::Raw
}

/// An empty field: JSON's null, else `-`.
fn none(out: &mut Line, style: Style) -> Kind {
    if style == Style::Json {
        out.push_str("null");
        Kind::Raw
    } else {
        out.push(b'-');
        Kind::Text
    }
}

/// Writes the cell of field `c` (unpadded) into `out`.
pub fn cell(out: &mut Line, c: Col, r: &Row, style: Style) -> Kind {
    let (ctx, f, m, conn) = (r.ctx, r.f, r.m, r.c);
    let o = &conn.orig;
    let numeric = style >= Style::Machine;
    let json = style == Style::Json;
    let (src_local, dst_local) = (src_is_local(m), dst_is_local(m));
    match c {
        Col::Marker => out.push(marker(f)),
        Col::Proto => {
            fmt_proto(out, o.proto);
            if conntrack::proto_name(o.proto).is_none() {
                return Kind::Raw;
            }
        }
        Col::Src => ctx.host(out, &o.src[..conn.addr_len()], src_local, numeric),
        Col::Dst => ctx.host(out, &o.dst[..conn.addr_len()], dst_local, numeric),
        Col::Sport | Col::Dport => return port_cell(out, c, r, style),
        Col::Tx | Col::Rx | Col::Sum => return rate_cell(out, c, r, style),
        Col::State if numeric => out.push_str(conntrack::state_name(o.proto, conn.state)),
        Col::State => fmt_state(out, f),
        Col::Age if json => {
            fmt_fixed(out, m.age_ns as f64 / 1e9, 3);
            return Kind::Raw;
        }
        Col::Age if numeric => return int(out, m.age_ns / 1_000_000_000),
        Col::Age => fmt_age(out, m, ctx.o.age),
        Col::Id => return int(out, conn.id as u64),
        Col::In | Col::Out => {
            let idx = if c == Col::In { m.in_if } else { m.out_if };
            if json && idx == 0 {
                return none(out, style);
            }
            if c == Col::Out && f.no_route() && !numeric {
                out.push_str("noroute");
            } else {
                out.push_str(ctx.ifname(idx));
            }
        }
        Col::Mark if numeric => return int(out, conn.mark as u64),
        // Hex, as nft and iptables rules write marks (mwan3: 0x100).
        Col::Mark if conn.mark != 0 => {
            let _ = write!(out, "{:#x}", conn.mark);
        }
        Col::Mark => out.push(b'-'),
        Col::Nat => nat(out, ctx, conn, m, false),
        Col::NatSrc | Col::NatSport | Col::NatDst | Col::NatDport => {
            return nat_cell(out, c, r, style)
        }
        Col::Zone => return int(out, conn.zone as u64),
        Col::Flags if json => {
            out.push_str("[\"");
            if flag_names(out, f, "\",\"") {
                out.push(b'"');
            } else {
                out.truncate(out.len() - 1);
            }
            out.push(b']');
            return Kind::Raw;
        }
        Col::Flags => flags(out, f, b','),
        Col::Family => out.push_str(if conn.family == 6 { "ipv6" } else { "ipv4" }),
        Col::Icmp if conntrack::is_icmp(o.proto) => {
            // conntrack/ packs type<<8|code into dport, the id in sport.
            let _ = write!(
                out,
                "{},\"icmp_code\":{},\"icmp_id\":{}",
                o.dport >> 8,
                o.dport & 0xff,
                o.sport
            );
            return Kind::Raw;
        }
        Col::Icmp => return Kind::Omit,
        Col::TxBytes => return int(out, m.tx_bytes),
        Col::RxBytes => return int(out, m.rx_bytes),
        Col::AgeFrom => out.push_str(if m.age_kernel { "kernel" } else { "first_seen" }),
        Col::Offload if json && !f.offloaded() => return Kind::Omit,
        Col::Offload => out.push_str(f.offload().name()),
        Col::Local => out.push_str(if m.loopback {
            "both"
        } else if m.tx_is_orig {
            "src"
        } else {
            "dst"
        }),
    }
    Kind::Text
}

/// A port (`Col::Sport`, `Col::Dport`).
fn port_cell(out: &mut Line, c: Col, r: &Row, style: Style) -> Kind {
    let (ctx, conn, o) = (r.ctx, r.c, &r.c.orig);
    let (numeric, json) = (style >= Style::Machine, style == Style::Json);
    let (is_dst, port) = if c == Col::Dport {
        (true, o.dport)
    } else {
        (false, o.sport)
    };
    // JSON: ports of port protocols only (ICMP has its keys).
    let has = if json {
        conn.has_ports()
    } else {
        shows_port(conn)
    };
    if !numeric {
        ctx.port(out, conn, is_dst, false);
    } else if has {
        return int(out, port as u64);
    } else {
        return none(out, style);
    }
    Kind::Text
}

/// A rate (`Col::Tx`, `Col::Rx`, `Col::Sum`).
fn rate_cell(out: &mut Line, c: Col, r: &Row, style: Style) -> Kind {
    let (f, m, json) = (r.f, r.m, style == Style::Json);
    if f.rate() == RateState::Unknown {
        if style == Style::Screen {
            out.push(b'?');
            return Kind::Text;
        }
        return none(out, style);
    }
    let v = match c {
        Col::Tx => m.tx_bps,
        Col::Rx => m.rx_bps,
        _ => m.tx_bps + m.rx_bps,
    };
    if json {
        // Three decimals keep sub-bit precision without float noise.
        fmt_fixed(out, v, 3);
        return Kind::Raw;
    }
    fmt_rate(out, v, r.ctx.o);
    Kind::Text
}

/// One of the NAT view's four fields.
fn nat_cell(out: &mut Line, c: Col, r: &Row, style: Style) -> Kind {
    let (ctx, conn, m, json) = (r.ctx, r.c, r.m, style == Style::Json);
    let (nat, local) = if matches!(c, Col::NatSrc | Col::NatSport) {
        (conn.nat_src(), src_is_local(m))
    } else {
        (conn.nat_dst(), dst_is_local(m))
    };
    match nat {
        Some((a, _)) if matches!(c, Col::NatSrc | Col::NatDst) => ctx.host(out, a, local, true),
        Some((_, p)) if !json || conn.has_ports() => return int(out, p as u64),
        _ => return none(out, style),
    }
    Kind::Text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_in_col_order() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.c.col as usize, i, "{:?}", f.c.col);
        }
    }

    #[test]
    fn machine_and_json_orders_are_the_documented_ones() {
        let keys = |o: &[u8]| {
            o.iter()
                .map(|&i| FIELDS[i as usize].c.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(&MACHINE).join(" "),
            "proto src sport dst dport tx_bps rx_bps sum_bps state age_s id in out \
             nat_src nat_sport nat_dst nat_dport mark zone flags offload"
        );
        assert_eq!(keys(&JSON).len(), 27);
    }
}
