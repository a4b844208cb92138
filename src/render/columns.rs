//! A table's column described once (`Column`): title, JSON key, widths,
//! alignment. The connection table's are in `fields.rs` (with what only
//! connections have); the device table's are here (`DEV_COLUMNS`, with
//! their cells); the per-device table's in `hosts.rs`.

use super::{fmt_rate, Ctx, Line, Opts};
use std::fmt::Write as _;

/// One column of a table.
pub struct Column<C> {
    pub col: C,
    pub title: &'static str,
    /// The JSON key ("" for none).
    pub key: &'static str,
    /// Width on the screen (values above 250 have meanings of their own
    /// for connections: `fields::MERGED`, `fields::REST`).
    pub screen: u8,
    /// Minimum width in `-c` (never cut there).
    pub plain: u8,
    /// Right-aligned on the screen.
    pub right: bool,
}

pub const fn column<C>(
    col: C,
    title: &'static str,
    key: &'static str,
    screen: u8,
    plain: u8,
    right: bool,
) -> Column<C> {
    Column {
        col,
        title,
        key,
        screen,
        plain,
        right,
    }
}

/// Width of a rate column on the screen and in `-c`.
pub const RATE_W: usize = 9;
const W: u8 = RATE_W as u8;

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
    Blind,
}

/// Every number right-aligned, the name left.
pub const DEV_COLUMNS: [Column<DevCol>; 8] = [
    column(DevCol::Name, "DEVICE", "dev", 8, 8, false),
    column(DevCol::Tx, "TX", "tx_bps", W, W, true),
    column(DevCol::Rx, "RX", "rx_bps", W, W, true),
    column(DevCol::Sum, "SUM", "sum_bps", W, W, true),
    column(DevCol::Conns, "CONNS", "conns", 6, 0, true),
    column(DevCol::LinkTx, "LINK TX", "link_tx_bps", W, W, true),
    column(DevCol::LinkRx, "LINK RX", "link_rx_bps", W, W, true),
    column(DevCol::Blind, "BLIND", "blind_bps", W, W, true),
];

/// What one device cell holds: conntrack's rates relative to the
/// interface, its connections, the link's own counter rates (None until
/// two samples exist, and for `local`), and the blind spot: what the link
/// carried that conntrack does not account for (offloaded connections
/// with frozen counters, bridged and untracked traffic, link headers).
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
        DevCol::Blind => DevValue::Rate(match link {
            Some(&crate::route::Link {
                tx_bps: Some(t),
                rx_bps: Some(x),
                ..
            }) => Some((t + x - r.tx_bps - r.rx_bps).max(0.0)),
            _ => None,
        }),
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
