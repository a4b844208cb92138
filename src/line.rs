//! The fixed line buffer every renderer builds its lines in: no
//! allocation (hexyl style), writes past `LINE_MAX` dropped, never grown.
//! A line is UTF-8 (interface names may not be ASCII); widths are counted
//! in terminal cells (`crate::text`), and text is cut on characters only.
//! With the two number writers that modules below render need too
//! (health's texts): fixed-point and SI/IEC-scaled. Below render, keys
//! and health, so none of them reaches render for a line.

use crate::text::{cut, width};
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

    /// Appends `s`, or the whole characters of it that fit: the line
    /// stays UTF-8.
    pub fn push_str(&mut self, s: &str) {
        let mut n = s.len().min(LINE_MAX - self.len);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
    }

    pub fn spaces(&mut self, n: usize) {
        for _ in 0..n {
            self.push(b' ');
        }
    }

    /// Pads with spaces up to byte `col` (for ASCII text; `cell` counts
    /// cells).
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
        self.spaces(w.saturating_sub(width(s)));
    }

    /// Appends `s` in exactly `w` columns (terminal cells, not bytes):
    /// right-aligned when `right`, cut on a character with a trailing '~'
    /// when too long.
    pub fn cell(&mut self, s: &str, w: usize, right: bool) {
        let n = width(s);
        if n > w {
            if w > 0 {
                self.push_head(s, w - 1);
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

    /// Appends the head of `s` that fits in `w` cells, padded to `w` (a
    /// wide character that does not fit leaves a space).
    pub fn push_head(&mut self, s: &str, w: usize) {
        let (end, used) = cut(s, w);
        self.push_str(&s[..end]);
        self.spaces(w - used);
    }
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cut_names_on_characters_at_every_width() {
        // Issue 26 item 4: a 7-character name of 8 bytes in a 7-column
        // cell was cut at byte 6, inside 'é': a panic.
        let mut l = Line::new();
        l.cell("abcdeé1", 7, false);
        assert_eq!(l.as_str(), "abcdeé1");
        l.clear();
        l.cell("abcdeé1", 6, false);
        assert_eq!(l.as_str(), "abcde~");
        for s in ["abcdeé1", "éééé", "网口网口1", "a网b", "wan0", ""] {
            for w in 0..12 {
                for right in [false, true] {
                    l.clear();
                    l.cell(s, w, right);
                    let got = std::str::from_utf8(l.as_bytes()).unwrap();
                    assert_eq!(width(got), w, "{s:?} in {w}: {got:?}");
                }
                l.clear();
                l.cell_min(s, w);
                assert_eq!(width(l.as_str()), width(s).max(w), "{s:?} min {w}");
            }
        }
        // A full line keeps whole characters.
        l.clear();
        l.spaces(LINE_MAX - 1);
        l.push_str("é");
        assert_eq!(l.len(), LINE_MAX - 1);
        l.push_str("a");
        assert_eq!(l.len(), LINE_MAX);
    }
}
