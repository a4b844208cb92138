//! The fixed line buffer every renderer builds its lines in: no
//! allocation (hexyl style), writes past `LINE_MAX` dropped, never grown.

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
