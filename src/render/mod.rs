//! Turning flows into text: units, addresses, rows, warnings.
//!
//! Every line is built in a fixed `Line` (no allocation, hexyl style) and
//! then written through one buffered writer. Output is plain ASCII; the
//! only escape sequences come from `screen.rs`, and only on a tty.

pub mod json;
pub mod plain;
pub mod screen;

use crate::cli::AgeFmt;
use crate::conntrack::{self, Conn};
use crate::flows::{Flow, RateState};
use crate::names::Names;
use crate::route::Links;
use crate::view::Meta;
use std::fmt::Write as _;

/// Longest line we ever build (a 300+ column terminal, or a -c line with
/// two 63-character names).
pub const LINE_MAX: usize = 4096;

/// A fixed line buffer; writes past `LINE_MAX` are dropped, never grown.
pub struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    pub const fn new() -> Line {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub fn push(&mut self, b: u8) {
        if self.len < LINE_MAX {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    pub fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            self.push(b);
        }
    }

    pub fn spaces(&mut self, n: usize) {
        for _ in 0..n {
            self.push(b' ');
        }
    }

    /// Pads with spaces up to `col`.
    pub fn pad_to(&mut self, col: usize) {
        while self.len < col.min(LINE_MAX) {
            self.push(b' ');
        }
    }

    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Appends `s` padded to at least `w` columns, never cut (plain output).
    pub fn cell_min(&mut self, s: &str, w: usize) {
        self.push_str(s);
        self.spaces(w.saturating_sub(s.len()));
    }

    /// Appends `s` in exactly `w` columns: right-aligned when `right`,
    /// cut with a trailing '~' when too long.
    pub fn cell(&mut self, s: &str, w: usize, right: bool) {
        let n = s.len();
        if n > w {
            if w > 0 {
                self.push_str(&s[..w - 1]);
                self.push(b'~');
            }
        } else if right {
            self.spaces(w - n);
            self.push_str(s);
        } else {
            self.push_str(s);
            self.spaces(w - n);
        }
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// Display options that keys can change at run time.
#[derive(Clone, Debug)]
pub struct Opts {
    pub bytes: bool,
    pub raw: bool,
    pub iec: bool,
    pub age: AgeFmt,
    pub show_id: bool,
    pub show_state: bool,
    pub wide: bool,
    pub numeric_local: bool,
    pub numeric_remote: bool,
    pub numeric_port: bool,
    pub redact_local: bool,
    pub redact_remote: bool,
    pub color: bool,
    /// The locale is UTF-8: arrows instead of ASCII `^`/`v`.
    pub utf8: bool,
}

/// Whether the locale's character set is UTF-8 (the first of LC_ALL,
/// LC_CTYPE, LANG that is set decides, as in setlocale). OpenWrt has no
/// UTF-8 locale: there the screen stays ASCII.
pub fn utf8_locale(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| var(k).filter(|v| !v.is_empty()))
        .next()
        .is_some_and(|v| {
            let v = v.to_string_lossy().to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

impl Opts {
    pub fn from_config(c: &crate::cli::Config) -> Opts {
        Opts {
            bytes: c.bytes,
            raw: c.raw,
            iec: c.iec,
            age: c.age,
            show_id: c.show_id,
            show_state: c.show_state,
            wide: c.wide,
            numeric_local: c.numeric_local,
            numeric_remote: c.numeric_remote,
            numeric_port: c.numeric_port,
            redact_local: c.redact_local,
            redact_remote: c.redact_remote,
            color: c.color,
            utf8: false,
        }
    }
}

/// Writes a rate (given in bits/s) in the chosen unit: bits or bytes, SI
/// (1000, K M G T) or IEC (1024, Ki Mi Gi Ti), or raw integers.
pub fn fmt_rate(out: &mut Line, bps: f64, o: &Opts) {
    let v = if o.bytes { bps / 8.0 } else { bps };
    let unit = if o.bytes { "Bps" } else { "bps" };
    if o.raw {
        let _ = write!(out, "{}", v.round() as u64);
        return;
    }
    fmt_scaled(out, v, o.iec, unit);
}

/// `v` scaled with SI or IEC prefixes and 3 significant digits.
pub fn fmt_scaled(out: &mut Line, v: f64, iec: bool, unit: &str) {
    const SI: [&str; 6] = ["", "K", "M", "G", "T", "P"];
    const IEC: [&str; 6] = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
    let base = if iec { 1024.0 } else { 1000.0 };
    let mut v = v.max(0.0);
    let mut i = 0;
    // Move up a prefix once the rounded value would need 4 digits.
    while v >= 999.5 && i < 5 {
        v /= base;
        i += 1;
    }
    let p = if iec { IEC[i] } else { SI[i] };
    let decimals = match (i, v) {
        (0, _) => 0,
        (_, v) if v < 9.995 => 2,
        (_, v) if v < 99.95 => 1,
        _ => 0,
    };
    fmt_fixed(out, v, decimals);
    out.push_str(p);
    out.push_str(unit);
}

/// Seconds as a person writes them: "1", "0.5", "2.25" (milliseconds at
/// most, no trailing zeros).
pub fn fmt_seconds(out: &mut Line, v: f64) {
    let ms = (v.max(0.0) * 1000.0).round() as u64;
    let _ = write!(out, "{}", ms / 1000);
    let (mut frac, mut digits) = (ms % 1000, 3);
    if frac != 0 {
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{frac:0digits$}");
    }
}

/// `v` with `decimals` (0-9) digits after the point, by integer
/// arithmetic, rounding half away from zero. Not `{:.3}`: core's float
/// formatting (flt2dec's Grisu and Dragon) costs about 15 KB on mipsel, and
/// every number nftop prints is a fixed-point one. Non-finite values (never
/// produced by the rate code) print as 0.
pub fn fmt_fixed(out: &mut Line, v: f64, decimals: u32) {
    let scale = 10u64.pow(decimals.min(9));
    // `as` saturates: a value beyond u64 prints as the largest one.
    let m = if v.is_finite() {
        (v.abs() * scale as f64).round() as u64
    } else {
        0
    };
    if v < 0.0 && m != 0 {
        out.push(b'-');
    }
    let _ = write!(out, "{}", m / scale);
    if decimals > 0 {
        let _ = write!(out, ".{:0w$}", m % scale, w = decimals.min(9) as usize);
    }
}

/// Writes an address (4 or 16 bytes) in standard text form.
pub fn fmt_addr(out: &mut Line, a: &[u8]) {
    if a.len() == 4 {
        let _ = write!(out, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    } else if let Ok(b) = <[u8; 16]>::try_from(a) {
        let _ = write!(out, "{}", std::net::Ipv6Addr::from(b));
    }
}

pub fn fmt_age(out: &mut Line, m: &Meta, fmt: AgeFmt) {
    let s = m.age_ns / 1_000_000_000;
    if !m.age_kernel {
        // nftop's own first-seen time: the true age is at least this.
        out.push(b'>');
    }
    match fmt {
        AgeFmt::Off => {}
        AgeFmt::Seconds => {
            let _ = write!(out, "{s}");
        }
        AgeFmt::Dhms => {
            let (d, h, mi, se) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
            if d > 0 {
                let _ = write!(out, "{d}d{h:02}:{mi:02}:{se:02}");
            } else {
                let _ = write!(out, "{h:02}:{mi:02}:{se:02}");
            }
        }
    }
}

pub fn fmt_proto(out: &mut Line, p: u8) {
    match conntrack::proto_name(p) {
        Some(n) => out.push_str(n),
        None => {
            let _ = write!(out, "{p}");
        }
    }
}

/// Everything a row needs besides the flow.
pub struct Ctx<'a> {
    pub o: &'a Opts,
    pub names: &'a Names,
    pub links: &'a Links,
    pub now_s: u64,
}

impl Ctx<'_> {
    /// Writes one end of a connection: name or address, or "redacted".
    /// `local` says whether this end is the local side.
    pub fn host(&self, out: &mut Line, a: &[u8], local: bool, numeric_only: bool) {
        let (redact, numeric) = if local {
            (self.o.redact_local, self.o.numeric_local)
        } else {
            (self.o.redact_remote, self.o.numeric_remote)
        };
        if redact {
            out.push_str("redacted");
            return;
        }
        if !numeric && !numeric_only {
            if let Some(n) = self.names.lookup(a, true, self.now_s) {
                out.push_str(n.as_str());
                return;
            }
        }
        fmt_addr(out, a);
    }

    /// Writes a port (service name unless -P), or for ICMP the echo id on
    /// the source side and type/code on the destination side.
    pub fn port(&self, out: &mut Line, c: &Conn, is_dst: bool, numeric_only: bool) {
        let port = if is_dst { c.orig.dport } else { c.orig.sport };
        if !c.has_ports() {
            if matches!(c.orig.proto, 1 | 58) {
                // ICMP: echo id on the source side, type/code on the other
                // (conntrack.rs packs type<<8|code into dport).
                if is_dst {
                    let _ = write!(out, "{}/{}", port >> 8, port & 0xff);
                } else {
                    let _ = write!(out, "{port}");
                }
            } else {
                out.push(b'-');
            }
            return;
        }
        if !self.o.numeric_port && !numeric_only {
            if let Some(s) = self.names.service(port, c.orig.proto) {
                out.push_str(s);
                return;
            }
        }
        let _ = write!(out, "{port}");
    }

    pub fn ifname(&self, index: u32) -> &str {
        self.links.name(index).unwrap_or("-")
    }
}

/// State column text: protocol state plus nftop's markers.
pub fn fmt_state(out: &mut Line, f: &Flow) {
    let c = &f.conn;
    out.push_str(conntrack::state_name(c.orig.proto, c.state));
    if c.status & (conntrack::IPS_OFFLOAD | conntrack::IPS_HW_OFFLOAD) != 0 {
        out.push_str(",OFFLOAD");
    }
}

/// The marker column: new, unknown rate, reset.
pub fn marker(f: &Flow) -> u8 {
    if f.life == crate::flows::Life::Closed {
        b'x'
    } else if f.rate == RateState::Unknown {
        b'?'
    } else if f.reset {
        b'!'
    } else if f.new {
        b'*'
    } else {
        b' '
    }
}

/// Health findings shown in the header and in JSON ticks, each naming its
/// fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    NoCounters(u32),
    AcctOff,
    EmptyTable,
    FlowTableFull(u64),
    Resets(u32),
    NoTimestamps,
    Offload(u32),
    Interrupted,
    Malformed(u32),
    CtNearFull(u64, u64, u64),
    EventsLost(u64),
    EventsOff,
    EventsSilent,
    /// Conntrack puts more on an interface than its link carried:
    /// (interface name, its length, tx (else rx), conntrack bits/s, link
    /// bits/s).
    Mismatch([u8; 16], u8, bool, u64, u64),
    /// Links and addresses beyond nftop's bounds, left out.
    LinksDropped(u32, u32),
    /// Hosts and leases entries beyond nftop's bounds, left out.
    NamesDropped(u32, u32),
}

impl Warning {
    pub fn code(&self) -> &'static str {
        match self {
            Warning::NoCounters(_) => "no_counters",
            Warning::AcctOff => "acct_off",
            Warning::EmptyTable => "empty_table",
            Warning::FlowTableFull(_) => "flow_table_full",
            Warning::Resets(_) => "counter_reset",
            Warning::NoTimestamps => "no_timestamps",
            Warning::Offload(_) => "offload",
            Warning::Interrupted => "dump_interrupted",
            Warning::Malformed(_) => "malformed",
            Warning::CtNearFull(..) => "conntrack_near_full",
            Warning::EventsLost(_) => "events_lost",
            Warning::EventsOff => "events_off",
            Warning::EventsSilent => "events_silent",
            Warning::Mismatch(..) => "attribution_mismatch",
            Warning::LinksDropped(..) => "links_dropped",
            Warning::NamesDropped(..) => "names_dropped",
        }
    }

    pub fn message(&self, out: &mut Line) {
        let _ = match *self {
            Warning::NoCounters(n) => write!(
                out,
                "{n} connections have no byte counters: sysctl -w net.netfilter.nf_conntrack_acct=1 (only new connections get counters)"
            ),
            Warning::AcctOff => write!(
                out,
                "accounting is off: sysctl -w net.netfilter.nf_conntrack_acct=1 (only new connections get counters)"
            ),
            Warning::EmptyTable => write!(
                out,
                "conntrack table is empty: nothing is tracked until a firewall rule uses conntrack (nft ct state, NAT) in this network namespace"
            ),
            Warning::FlowTableFull(n) => write!(
                out,
                "nftop flow table full: {n} connections not shown (raise --capacity)"
            ),
            Warning::Resets(n) => write!(
                out,
                "{n} counter resets: another program (nlbwmon?) zeroes conntrack counters; rates stay right, byte totals restart"
            ),
            Warning::NoTimestamps => write!(
                out,
                "ages are nftop's first-seen times (marked >): sysctl -w net.netfilter.nf_conntrack_timestamp=1 for true ages of new connections"
            ),
            Warning::Offload(n) => write!(
                out,
                "{n} offloaded connections: their counters may be frozen (enable the flowtable counter flag)"
            ),
            Warning::Interrupted => write!(
                out,
                "the table changed during the dump: some rows may be missing this refresh"
            ),
            Warning::Malformed(n) => write!(out, "{n} malformed conntrack messages skipped"),
            Warning::CtNearFull(c, m, d) => write!(
                out,
                "conntrack table {c}/{m} nearly full ({d} dropped by the kernel): raise net.netfilter.nf_conntrack_max"
            ),
            Warning::EventsLost(n) => write!(
                out,
                "{n} conntrack event overflows: connections that ended in a burst may be missing from totals; raise net.core.rmem_max"
            ),
            Warning::EventsOff => write!(
                out,
                "conntrack events are off: totals miss connections that end between refreshes (sysctl -w net.netfilter.nf_conntrack_events=1)"
            ),
            Warning::Mismatch(name, len, tx, ct, link) => {
                let name = std::str::from_utf8(&name[..len as usize]).unwrap_or("?");
                let dir = if tx { "tx" } else { "rx" };
                let _ = write!(out, "conntrack counts {dir} ");
                fmt_scaled(out, ct as f64, false, "bps");
                let _ = write!(out, " on {name} but the link carried ");
                fmt_scaled(out, link as f64, false, "bps");
                write!(
                    out,
                    ": some connections' interfaces are wrong (asymmetric routing or a wrong --wan; README Interfaces)"
                )
            }
            Warning::LinksDropped(l, a) => write!(
                out,
                "{l} links and {a} addresses beyond nftop's limits are left out: their traffic is shown without interface names"
            ),
            Warning::NamesDropped(h, l) => write!(
                out,
                "{h} hosts entries and {l} leases beyond nftop's limits (8192, 4096 in 512 KiB) are left out: those addresses show without names"
            ),
            Warning::EventsSilent => write!(
                out,
                "no conntrack DESTROY events arrive although connections end: totals miss short connections (some kernels need a module reload)"
            ),
        };
    }
}

/// A fixed list of warnings for one refresh.
#[derive(Default, Clone, Copy, Debug)]
pub struct Warnings {
    items: [Option<Warning>; 16],
    len: usize,
}

impl Warnings {
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn push(&mut self, w: Warning) {
        if self.len < self.items.len() {
            self.items[self.len] = Some(w);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Warning> {
        self.items[..self.len].iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Per-refresh summary that every renderer prints in its own way.
pub struct Tick<'a> {
    pub seq: u64,
    pub real_ns: u64,
    pub interval: f64,
    pub flows: &'a [Flow],
    pub view: &'a crate::view::View,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_locale_follows_setlocale_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert!(utf8_locale(env(&[("LANG", "en_US.UTF-8")])));
        assert!(utf8_locale(env(&[("LC_CTYPE", "C.utf8"), ("LANG", "C")])));
        assert!(!utf8_locale(env(&[
            ("LC_ALL", "C"),
            ("LANG", "en_US.UTF-8")
        ])));
        assert!(utf8_locale(env(&[("LC_ALL", ""), ("LANG", "de_DE.UTF-8")])));
        assert!(!utf8_locale(env(&[])));
    }

    fn rate(bps: f64, bytes: bool, raw: bool, iec: bool) -> String {
        let o = Opts {
            bytes,
            raw,
            iec,
            age: AgeFmt::Off,
            show_id: false,
            show_state: false,
            wide: false,
            numeric_local: false,
            numeric_remote: false,
            numeric_port: false,
            redact_local: false,
            redact_remote: false,
            color: false,
            utf8: false,
        };
        let mut l = Line::new();
        fmt_rate(&mut l, bps, &o);
        l.as_str().to_string()
    }

    #[test]
    fn fixed_point_matches_core_formatting() {
        let fixed = |v: f64, d: u32| {
            let mut l = Line::new();
            fmt_fixed(&mut l, v, d);
            l.as_str().to_string()
        };
        // Values the renderers print: rates, ages, intervals, scaled units
        // (no exact ties: core rounds those to even, fmt_fixed away from 0).
        for v in [
            0.0,
            0.0004,
            0.001,
            0.49,
            0.999,
            1.0,
            1.26,
            9.994,
            12.345_678,
            99.9,
            123.456,
            1234.5678,
            130_894.719_2,
            1e9 + 0.26,
            4.2e12,
            1_795_737_412.183,
        ] {
            for d in 0..=3 {
                assert_eq!(fixed(v, d), format!("{v:.d$}", d = d as usize), "{v} {d}");
            }
        }
        assert_eq!((fixed(0.5, 0), fixed(1.25, 1)), ("1".into(), "1.3".into()));
        assert_eq!(fixed(-2.5, 1), "-2.5");
        assert_eq!(fixed(-0.0001, 3), "0.000", "no negative zero");
        assert_eq!(fixed(f64::NAN, 3), "0.000");
        assert_eq!(fixed(7.0, 9), "7.000000000");
        let secs = |v: f64| {
            let mut l = Line::new();
            l.push_str("every ");
            fmt_seconds(&mut l, v);
            l.as_str().to_string()
        };
        assert_eq!(secs(1.0), "every 1");
        assert_eq!(secs(0.5), "every 0.5");
        assert_eq!(secs(2.25), "every 2.25");
        assert_eq!(secs(3600.0), "every 3600");
        assert_eq!(secs(0.1), "every 0.1");
    }

    #[test]
    fn units_si_iec_bits_bytes_raw() {
        assert_eq!(rate(0.0, false, false, false), "0bps");
        assert_eq!(rate(999.0, false, false, false), "999bps");
        assert_eq!(rate(999.6, false, false, false), "1.00Kbps");
        assert_eq!(rate(1500.0, false, false, false), "1.50Kbps");
        assert_eq!(rate(12_345_678.0, false, false, false), "12.3Mbps");
        assert_eq!(rate(123_456_789.0, false, false, false), "123Mbps");
        assert_eq!(rate(8e9, false, false, false), "8.00Gbps");
        // -b: bytes per second.
        assert_eq!(rate(8000.0, true, false, false), "1.00KBps");
        // -S: IEC, 1024-based, with correct factors.
        assert_eq!(rate(1024.0, false, false, true), "1.00Kibps");
        assert_eq!(rate(1000.0, false, false, true), "0.98Kibps");
        assert_eq!(rate(1_048_576.0, false, false, true), "1.00Mibps");
        assert_eq!(rate(8.0 * 1_048_576.0, true, false, true), "1.00MiBps");
        // -B: raw integers, no scaling.
        assert_eq!(rate(12_345_678.4, false, true, false), "12345678");
        assert_eq!(rate(8000.0, true, true, false), "1000");
    }

    #[test]
    fn cells_never_exceed_their_width() {
        let mut l = Line::new();
        l.cell("2001:db8::1234:5678", 8, false);
        assert_eq!(l.as_str(), "2001:db~");
        l.clear();
        l.cell("ab", 5, true);
        assert_eq!(l.as_str(), "   ab");
        l.clear();
        for _ in 0..LINE_MAX + 100 {
            l.push(b'x');
        }
        assert_eq!(l.len(), LINE_MAX);
    }

    #[test]
    fn ipv6_addresses_are_compressed() {
        let mut l = Line::new();
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[1] = 0x01;
        a[2] = 0x0d;
        a[3] = 0xb8;
        a[15] = 1;
        fmt_addr(&mut l, &a);
        assert_eq!(l.as_str(), "2001:db8::1");
    }
}
