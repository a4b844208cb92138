//! The words the flags, the views and the outputs share: the output
//! mode, the age format, the sort columns, and the parsers of the values
//! that both a flag and a key take (`-t`/`t`, `-u`/`u`, `-s`/`<`/`>`,
//! `-i`/`-o` and the filter's `in`/`out`), and the one sort of index
//! lists. Below cli, view, filter, names, hostview, keys and render, so
//! none of them imports cli or view for a type or a helper.

use crate::error::{Error, Result};
use crate::route::IfMatch;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Screen,
    Continuous,
    Machine,
    Json,
    /// `--quiet`: nothing on stdout (an exporter).
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeFmt {
    Off,
    Seconds,
    Dhms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortCol {
    Id,
    In,
    Out,
    Sport,
    Dport,
    Rx,
    Tx,
    Sum,
    Age,
    Proto,
}

pub const SORT_COLS: [(&str, SortCol); 10] = [
    ("id", SortCol::Id),
    ("in", SortCol::In),
    ("out", SortCol::Out),
    ("sport", SortCol::Sport),
    ("dport", SortCol::Dport),
    ("rx", SortCol::Rx),
    ("tx", SortCol::Tx),
    ("sum", SortCol::Sum),
    ("age", SortCol::Age),
    ("proto", SortCol::Proto),
];

impl SortCol {
    pub fn name(self) -> &'static str {
        SORT_COLS
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .unwrap_or("sum")
    }
}

/// Bits per second, plain or with an SI suffix (k, M, G, T).
pub fn parse_bps(s: &str) -> Result<u64> {
    let bad = || {
        Error::usage(format!(
            "invalid value '{s}' for '--threshold': want bits per second, e.g. 0, 1000, 1.5M, 2G"
        ))
    };
    let (num, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1e3),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1e6),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 1e9),
        Some(b't' | b'T') => (&s[..s.len() - 1], 1e12),
        _ => (s, 1.0),
    };
    let v = parse_decimal(num).ok_or_else(bad)?;
    if v * mult > 1e15 {
        return Err(bad());
    }
    Ok((v * mult).round() as u64)
}

/// A plain decimal number: digits, at most one point ("2", "0.5", ".25",
/// "3."); no sign, exponent, "inf" or "nan", which no flag wants. Not
/// `str::parse::<f64>`: core's float parser (dec2flt and its tables) costs
/// about 15 KB on mipsel. Digits past the ninth decimal are ignored.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || int.len() > 15 || !digits(int) || !digits(frac) {
        return None;
    }
    let mut v = 0u64;
    for b in int.bytes() {
        v = v * 10 + u64::from(b - b'0');
    }
    let (mut f, mut scale) = (0u64, 1u64);
    for b in frac.bytes().take(9) {
        f = f * 10 + u64::from(b - b'0');
        scale *= 10;
    }
    Some(v as f64 + f as f64 / scale as f64)
}

pub fn parse_interval(s: &str) -> Result<f64> {
    match parse_decimal(s) {
        Some(v) if (0.1..=3600.0).contains(&v) => Ok(v),
        _ => Err(Error::usage(format!(
            "invalid value '{s}' for '--update': want seconds from 0.1 to 3600, e.g. 1 or 0.5"
        ))),
    }
}

pub fn parse_if(s: &str, flag: &str) -> Result<IfMatch> {
    let (name, prefix) = match s.strip_suffix('+') {
        Some(n) => (n, true),
        None => (s, false),
    };
    // IFNAMSIZ is 16 with the NUL; the kernel refuses '/', ':' is an alias.
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'+');
    // A bare "+" (every interface) is allowed too.
    if !(ok || prefix && name.is_empty()) {
        return Err(Error::usage(format!(
            "invalid value '{s}' for '{flag}': want an interface name of 1-15 characters, or a prefix ending in + (e.g. wwan+)"
        )));
    }
    Ok(IfMatch {
        name: name.to_string(),
        prefix,
    })
}

pub fn parse_sort(s: &str) -> Result<(SortCol, bool)> {
    let (name, asc) = match s.strip_prefix('+') {
        Some(n) => (n, true),
        None => (s, false),
    };
    match SORT_COLS.iter().find(|(n, _)| *n == name) {
        Some((_, col)) => Ok((*col, asc)),
        None => Err(Error::usage(format!(
            "invalid value '{s}' for '--sort': pick one of id, in, out, sport, dport, rx, tx, sum, age, proto (prefix + for ascending)"
        ))),
    }
}

/// The one sort of index lists (rows, devices): each comparator type would
/// otherwise get its own copy of the sort, 4 KB of flash each.
#[inline(never)]
pub(crate) fn sort_indices(v: &mut [u32], cmp: &dyn Fn(&u32, &u32) -> Ordering) {
    v.sort_unstable_by(cmp);
}
