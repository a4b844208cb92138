//! The screen's highlighted row: which connection it is (kept by key, so
//! it stays on its connection when the order changes), the page of rows
//! around it, and what the detail pane shows of it (the kernel's current
//! entry, a rate history). Pure state: the App feeds it ranks and rows.

use crate::conntrack::{Conn, Extra};

/// Refreshes of rate history the detail pane draws.
pub const HISTORY: usize = 60;

/// A position moved by `m` with `page` rows per page; End is clamped to
/// the last row when the rows are next placed.
pub fn step(pos: usize, page: usize, m: Move) -> usize {
    let page = page.max(1);
    match m {
        Move::Up => pos.saturating_sub(1),
        Move::Down => pos.saturating_add(1),
        Move::PageUp => pos.saturating_sub(page),
        Move::PageDown => pos.saturating_add(page),
        Move::Home => 0,
        Move::End => usize::MAX,
    }
}

/// The per-device view's highlighted row: kept by the device's identity
/// while the rates reorder the rows; None after a move (the row at `pos`
/// becomes it when the rows are next placed).
#[derive(Default)]
pub struct HostSel {
    pub id: Option<crate::hostview::Id>,
    pub pos: usize,
    pub page: usize,
}

impl HostSel {
    pub fn go(&mut self, m: Move) {
        self.pos = step(self.pos, self.page, m);
        self.id = None;
    }

    /// After the rows are ordered (`order` holds the identities in
    /// order): finds the selection, or takes the row at `pos`.
    pub fn settle(&mut self, order: impl ExactSizeIterator<Item = crate::hostview::Id> + Clone) {
        if let Some(i) = self.id.and_then(|id| order.clone().position(|x| x == id)) {
            self.pos = i;
        }
        self.pos = self.pos.min(order.len().saturating_sub(1));
        self.id = order.clone().nth(self.pos);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

pub struct Selection {
    /// The selected connection's key; None after a move: the row at `pos`
    /// becomes the selection when the rows are next placed.
    pub conn: Option<Conn>,
    /// Its index in the flow table at the last draw.
    pub idx: Option<u32>,
    /// Its position in the order, and the page's first row.
    pub pos: usize,
    pub top: usize,
    /// Rows per page at the last draw: what PgUp/PgDn move.
    pub page: usize,
    /// The detail pane is open.
    pub detail: bool,
    /// The kernel's entry for the pane (asked once per refresh), or the
    /// errno of the question (ENOENT: the connection ended).
    pub answer: Option<(Conn, Extra)>,
    pub errno: i32,
    /// tx/rx bits/s per refresh, a ring of `HISTORY`, for the selected
    /// connection only (the 80-byte flow record carries no history).
    hist: [(f64, f64); HISTORY],
    hist_len: usize,
    hist_next: usize,
    hist_seq: u64,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection {
            conn: None,
            idx: None,
            pos: 0,
            top: 0,
            page: 0,
            detail: false,
            answer: None,
            errno: 0,
            hist: [(0.0, 0.0); HISTORY],
            hist_len: 0,
            hist_next: 0,
            hist_seq: u64::MAX,
        }
    }
}

impl Selection {
    pub fn go(&mut self, m: Move) {
        self.pos = step(self.pos, self.page, m);
        self.conn = None;
    }

    /// The page to draw, (first row, rows), for `View::order`: around the
    /// selected connection at `rank` in the order (None: there is none, or
    /// it is gone: the position is kept), with `matched` rows in all and
    /// `cap` on a page.
    pub fn window(&mut self, rank: Option<usize>, matched: usize, cap: usize) -> (usize, usize) {
        if let Some(r) = rank {
            self.pos = r;
        }
        self.pos = self.pos.min(matched.saturating_sub(1));
        self.page = cap;
        if self.pos < self.top {
            self.top = self.pos;
        }
        if cap > 0 && self.pos >= self.top + cap {
            self.top = self.pos + 1 - cap;
        }
        self.top = self.top.min(matched.saturating_sub(cap));
        (self.top, cap)
    }

    /// After the page is ordered: the connection at `pos` (`at`, with its
    /// table index) is the selection.
    pub fn settle(&mut self, at: Option<(u32, Conn)>) {
        let key = |c: &Conn| (c.family, c.orig, c.zone, c.id);
        if at.map(|(_, c)| key(&c)) != self.conn.as_ref().map(key) {
            self.hist_len = 0;
            self.answer = None;
        }
        self.idx = at.map(|(i, _)| i);
        self.conn = at.map(|(_, c)| c);
    }

    /// Adds refresh `seq`'s rates of the selected connection (once per
    /// refresh: keys redraw between refreshes).
    pub fn record(&mut self, seq: u64, tx_bps: f64, rx_bps: f64) {
        if seq == self.hist_seq {
            return;
        }
        self.hist_seq = seq;
        self.hist[self.hist_next] = (tx_bps, rx_bps);
        self.hist_next = (self.hist_next + 1) % HISTORY;
        self.hist_len = (self.hist_len + 1).min(HISTORY);
    }

    /// The recorded rates, oldest first.
    pub fn history(&self) -> impl Iterator<Item = (f64, f64)> + Clone + '_ {
        let start = (self.hist_next + HISTORY - self.hist_len) % HISTORY;
        (0..self.hist_len).map(move |k| self.hist[(start + k) % HISTORY])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_follows_the_selected_row() {
        let mut s = Selection::default();
        assert_eq!(s.window(None, 100, 20), (0, 20));
        s.go(Move::PageDown);
        assert_eq!((s.window(None, 100, 20), s.pos), ((1, 20), 20));
        s.go(Move::End);
        assert_eq!((s.window(None, 100, 20), s.pos), ((80, 20), 99));
        s.go(Move::Up);
        assert_eq!((s.window(None, 100, 20), s.pos), ((80, 20), 98));
        // The connection moved to the top of the order: the page follows.
        assert_eq!((s.window(Some(3), 100, 20), s.pos), ((3, 20), 3));
        // Fewer rows than before: the position is clamped, the page too.
        assert_eq!((s.window(Some(50), 10, 20), s.pos), ((0, 20), 9));
        assert_eq!(s.window(None, 0, 20), (0, 20));
        s.go(Move::Home);
        assert_eq!(s.window(None, 0, 0), (0, 0), "a screen with no room");
    }

    #[test]
    fn history_is_per_connection_and_per_refresh() {
        let mut s = Selection::default();
        let mut c = Conn {
            id: 1,
            ..Conn::default()
        };
        s.settle(Some((0, c)));
        for k in 0..70 {
            s.record(k, k as f64, 0.0);
            s.record(k, 1e9, 0.0); // a redraw in the same refresh
        }
        let h: Vec<f64> = s.history().map(|(t, _)| t).collect();
        assert_eq!((h.len(), h[0], h[59]), (60, 10.0, 69.0));
        // The same connection at another index keeps its history.
        s.settle(Some((5, c)));
        assert_eq!((s.history().count(), s.idx), (60, Some(5)));
        c.id = 2;
        s.settle(Some((5, c)));
        assert_eq!(s.history().count(), 0, "another connection");
    }
}
