//! Rates, addresses, ages and protocols as text: integer arithmetic
//! only (core's float formatting costs about 15 KB on mipsel), written
//! into a `Line` (whose file has the fixed-point and scaled numbers).

use super::{fmt_scaled, Line, Opts};
use crate::conntrack;
use crate::view::Meta;
use crate::vocab::AgeFmt;
use std::fmt::Write as _;

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

/// Writes an address, or `redacted` (what is hidden: privacy.rs). Not inlined: its callers write two
/// ends in a loop, which would get a copy of the formatter each.
#[inline(never)]
pub fn fmt_addr_or_redacted(out: &mut Line, a: &[u8], hidden: bool) {
    if hidden {
        out.push_str(crate::privacy::REDACTED);
    } else {
        fmt_addr(out, a);
    }
}

/// Writes an address (4 or 16 bytes) in standard text form.
pub fn fmt_addr(out: &mut Line, a: &[u8]) {
    if a.len() == 4 {
        let _ = write!(out, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    } else if a.len() == 16 {
        fmt_v6(out, a);
    }
}

/// RFC 5952 text of an IPv6 address, as std's Display writes it (the
/// longest run of two or more zero groups as `::`, the first of equal
/// runs; IPv4-mapped as `::ffff:a.b.c.d`), in 1.7 KB less flash than
/// std's formatter on mipsel.
fn fmt_v6(out: &mut Line, a: &[u8]) {
    if a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff {
        out.push_str("::ffff:");
        return fmt_addr(out, &a[12..]);
    }
    let g = |i: usize| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    let (mut best, mut blen, mut run) = (8, 1, 0);
    for i in 0..8 {
        run = if g(i) == 0 { run + 1 } else { 0 };
        if run > blen {
            (best, blen) = (i + 1 - run, run);
        }
    }
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push_str("::");
            i += blen;
            continue;
        }
        if i > 0 && i != best + blen {
            out.push(b':');
        }
        let _ = write!(out, "{:x}", g(i));
        i += 1;
    }
}

/// One direction of a connection, numeric, as `conntrack -L` would name
/// it: `192.0.2.10:5201 -> 203.0.113.5:443` (IPv6 bracketed; ICMP shows
/// `id N type T code C` after the addresses; other protocols no ports).
/// `hide`: (source, destination) written `redacted` (privacy.rs).
pub fn fmt_tuple(out: &mut Line, t: &conntrack::Tuple, n: usize, hide: (bool, bool)) {
    for (a, p, arrow, h) in [
        (&t.src, t.sport, " -> ", hide.0),
        (&t.dst, t.dport, "", hide.1),
    ] {
        let ports = conntrack::has_ports(t.proto);
        if ports && n == 16 {
            out.push(b'[');
        }
        fmt_addr_or_redacted(out, &a[..n], h);
        if ports {
            let _ = write!(out, "{}:{p}", if n == 16 { "]" } else { "" });
        }
        out.push_str(arrow);
    }
    if conntrack::is_icmp(t.proto) {
        let _ = write!(
            out,
            " id {} type {} code {}",
            t.sport,
            t.dport >> 8,
            t.dport & 0xff
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::fmt_fixed;

    #[test]
    fn ipv6_text_is_std_s() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases: Vec<[u8; 16]> = vec![[0; 16], {
            let mut m = [0; 16];
            m[10] = 0xff;
            m[11] = 0xff;
            m[12] = 192;
            m[15] = 1;
            m
        }];
        for _ in 0..20000 {
            let mut b = [0u8; 16];
            for i in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly zero groups, so runs of every length and place occur.
                if seed % 3 == 0 {
                    b[2 * i] = (seed >> 8) as u8 & 0x0f;
                    b[2 * i + 1] = (seed >> 16) as u8;
                }
            }
            cases.push(b);
        }
        for b in cases {
            let mut l = Line::new();
            fmt_addr(&mut l, &b);
            assert_eq!(l.as_str(), std::net::Ipv6Addr::from(b).to_string(), "{b:?}");
        }
    }
    use crate::render::LINE_MAX;

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
            show_mark: false,
            wide: false,
            numeric_local: false,
            numeric_remote: false,
            numeric_port: false,
            privacy: Default::default(),
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
