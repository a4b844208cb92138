//! The full-screen view: header, warnings, column titles, rows, prompt.
//!
//! Every line is cut to the terminal width before it is written, so no
//! terminal size (20x5, 300x100, a serial console that says 0x0) can make
//! a line wrap. Only lines that changed since the last frame are sent
//! (a 115200-baud console moves about 11 KB/s).

use super::columns::{dev_cell, dev_value, DEV_COLUMNS};
use super::fields::{self, columns, Col, Field, Row, Style, ADDR, MAX_DROP, MERGED, REST};
use super::{dst_is_local, fmt_rate, shows_port, src_is_local, Ctx, Line, Tick};
use crate::flows::RateState;
use crate::keys::{PromptKind, Ui};
use crate::route::Links;
use std::fmt::Write as _;
use std::io::Write;

/// What a full row wants for one endpoint: an IPv4 address and a port
/// (203.0.113.200:65535), or the address alone once ports are dropped.
const ENDPOINT_W: usize = 21;
const HOST_W: usize = 15;
/// Names are never cut below this.
const MIN_NAME: usize = 8;

/// Which fields a narrow screen dropped (those with a `drop` level up to
/// `level`: fields.rs) and the address width left.
#[derive(Clone, Copy, Debug)]
struct Layout {
    level: u8,
    aw: usize,
}

impl Layout {
    fn keeps(&self, f: &Field) -> bool {
        f.drop == 0 || self.level < f.drop
    }

    fn nat(&self) -> bool {
        self.keeps(fields::get(Col::Nat))
    }

    fn ports(&self) -> bool {
        self.keeps(fields::get(Col::Sport))
    }
}

/// Uplinks among the present links.
fn uplinks(links: &Links) -> usize {
    links.all().iter().filter(|l| l.uplink).count()
}

/// Terminal sizes are clamped to this; beyond it lines are cut.
pub const MAX_COLS: usize = 1000;
pub const MAX_ROWS: usize = 500;
/// Used when the terminal reports no size (serial consoles).
pub const FALLBACK: (usize, usize) = (24, 80);
const MAX_WARN_LINES: usize = 3;

pub struct Screen {
    frame: Vec<u8>,
    prev: Vec<u64>,
    pub rows: usize,
    pub cols: usize,
    force: bool,
    prev_used: usize,
}

fn hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Screen {
    pub fn new(rows: usize, cols: usize) -> Screen {
        Screen {
            frame: Vec::with_capacity(MAX_ROWS * (MAX_COLS + 16)),
            prev: vec![0; MAX_ROWS],
            rows: rows.clamp(1, MAX_ROWS),
            cols: cols.clamp(1, MAX_COLS),
            force: true,
            prev_used: 0,
        }
    }

    pub fn resize(&mut self, rows: usize, cols: usize) {
        let (r, c) = (rows.clamp(1, MAX_ROWS), cols.clamp(1, MAX_COLS));
        if (r, c) != (self.rows, self.cols) {
            self.rows = r;
            self.cols = c;
            self.force = true;
        }
    }

    pub fn invalidate(&mut self) {
        self.force = true;
    }

    /// Lines above the rows: status, totals, the uplinks' line (with two
    /// or more uplinks), warnings (up to 3), titles.
    fn header_lines(&self, warnings: usize, links: &Links) -> usize {
        3 + usize::from(uplinks(links) >= 2) + warnings.min(MAX_WARN_LINES)
    }

    /// How many connections fit on the screen.
    pub fn capacity(&self, wide: bool, warnings: usize, links: &Links) -> usize {
        let used = self.header_lines(warnings, links) + 1; // + prompt/message line
        let free = self.rows.saturating_sub(used);
        if wide {
            free
        } else {
            free / 2
        }
    }

    pub fn draw(
        &mut self,
        w: &mut impl Write,
        t: &Tick,
        ctx: &Ctx,
        ui: &Ui,
    ) -> std::io::Result<()> {
        let o = ctx.o;
        self.frame.clear();
        if self.force {
            self.frame.extend_from_slice(b"\x1b[H\x1b[2J");
        }
        let mut row = 0usize;
        let mut line = Line::new();
        self.header(&mut row, &mut line, t, ctx, ui);
        if ui.help {
            self.help_text(&mut row, &mut line, ui);
        } else if ui.dev {
            self.devices(&mut row, &mut line, t, ctx);
        } else if ui.hosts {
            self.hosts(&mut row, &mut line, t, ctx, ui.host.pos);
        } else if ui.sel.detail {
            let cols = self.cols;
            super::detail::lines(t, ctx, &ui.sel, cols, &mut |l| {
                self.put(&mut row, l, b"", false)
            });
        } else {
            self.connections(&mut row, &mut line, t, ctx, ui.sel.pos);
        }

        // Clear what the previous frame had below this one.
        let used = row;
        if self.force || used < self.prev_used {
            let _ = write!(LineSink(&mut self.frame), "\x1b[{};1H\x1b[J", used + 1);
            for h in &mut self.prev[used..] {
                *h = 0;
            }
        }
        self.prev_used = used;
        // Bottom line: prompt, or the last message, or nothing.
        let last = self.rows - 1;
        if last >= used {
            line.clear();
            if let Some(id) = ui.confirm_host {
                let n = t.hosts.and_then(|h| h.find(id)).map_or(0, |r| r.conns);
                let _ = write!(line, "delete {n} connections of ");
                super::hosts::id_label(&mut line, id, ctx);
                line.push_str(" ? [y/N]");
            } else if let Some(c) = &ui.confirm {
                line.push_str("delete ");
                super::fmt_proto(&mut line, c.orig.proto);
                line.push(b' ');
                let hide = ctx.o.privacy.flow(t.flows, ui.sel.idx, c.id);
                super::fmt_tuple(&mut line, &c.orig, c.addr_len(), hide.tuple(false));
                line.push_str(" ? [y/N]");
            } else if let Some((kind, input)) = &ui.prompt {
                line.push_str(match kind {
                    PromptKind::Interval => "refresh interval in seconds: ",
                    PromptKind::Threshold => {
                        "threshold in bits/s (k, M, G allowed; 0 shows idle): "
                    }
                    PromptKind::Filter => "filter (empty clears): ",
                });
                line.push_str(input.as_str());
            } else {
                line.push_str(ui.message.as_str());
            }
            self.put_at(last, &line, b"", o.color);
        }
        self.force = false;
        w.write_all(&self.frame)?;
        w.flush()
    }

    /// Status line, totals, the uplinks' line, warnings.
    fn header(&mut self, row: &mut usize, line: &mut Line, t: &Tick, ctx: &Ctx, ui: &Ui) {
        let f = &ui.filter;
        let o = ctx.o;
        line.clear();
        // Status line.
        let (_, _, _, hh, mm, ss) = crate::sys::localtime(t.real_ns / 1_000_000_000);
        let _ = write!(
            line,
            "nftop {}  {hh:02}:{mm:02}:{ss:02}  every ",
            crate::cli::VERSION
        );
        super::fmt_seconds(line, t.interval);
        line.push(b's');
        if t.interval > t.interval_requested {
            let _ = write!(line, " (cpu budget {}%)", t.cpu_budget);
        }
        let v = t.view;
        if ui.sel.detail {
            let _ = write!(line, "  row {}", ui.sel.pos + 1);
        } else if v.shown.is_empty() {
            line.push_str("  rows 0");
        } else {
            let _ = write!(line, "  rows {}-{}", v.first + 1, v.first + v.shown.len());
        }
        let _ = write!(
            line,
            " of {}  conntrack {}/{}  sort {}{}",
            v.matched,
            t.ct_count,
            t.ct_max,
            if f.ascending { "+" } else { "" },
            f.sort.name()
        );
        if t.table_len * 10 >= t.table_cap * 9 {
            let _ = write!(line, "  flows {}/{}", t.table_len, t.table_cap);
        }
        if ui.paused {
            line.push_str("  PAUSED");
        }
        if ui.read_only {
            line.push_str("  read-only");
        }
        if let Some(id) = f.device {
            line.push_str("  device: ");
            super::hosts::id_label(line, id, ctx);
        }
        if let Some(e) = &f.expr {
            line.push_str("  filter: ");
            line.push_str(&e.text);
        }
        self.put(row, line, b"\x1b[1m", o.color);

        // Totals: what is shown, and the whole table.
        line.clear();
        line.push_str("shown tx ");
        fmt_rate(line, t.view.visible.tx_bps, o);
        line.push_str(" rx ");
        fmt_rate(line, t.view.visible.rx_bps, o);
        line.push_str(" sum ");
        fmt_rate(line, t.view.visible.tx_bps + t.view.visible.rx_bps, o);
        line.push_str("   all tx ");
        fmt_rate(line, t.view.all.tx_bps, o);
        line.push_str(" rx ");
        fmt_rate(line, t.view.all.rx_bps, o);
        self.put(row, line, b"", o.color);

        self.uplink_line(row, line, ctx);
        self.warnings(row, line, t, o);
    }

    /// One line for the uplinks (with two or more): what each carries
    /// now, by its own counters (a user with four modems sees which
    /// carries what).
    fn uplink_line(&mut self, row: &mut usize, line: &mut Line, ctx: &Ctx) {
        let o = ctx.o;
        if uplinks(ctx.links) >= 2 {
            line.clear();
            let (up, down) = if o.utf8 {
                ("\u{2191}", "\u{2193}")
            } else {
                ("^", "v")
            };
            for l in ctx.links.all().iter().filter(|l| l.uplink) {
                if !line.is_empty() {
                    line.push_str("  ");
                }
                line.push_str(l.name());
                for (arrow, v) in [(up, l.tx_bps), (down, l.rx_bps)] {
                    line.push(b' ');
                    line.push_str(arrow);
                    match v {
                        Some(v) => {
                            super::fmt_scaled(line, if o.bytes { v / 8.0 } else { v }, o.iec, "")
                        }
                        None => line.push(b'-'),
                    }
                }
                if !l.up {
                    line.push_str(" down");
                }
            }
            self.put(row, line, b"", o.color);
        }
    }

    /// Warnings, each naming its fix, up to `MAX_WARN_LINES`.
    fn warnings(&mut self, row: &mut usize, line: &mut Line, t: &Tick, o: &super::Opts) {
        let nw = t.warnings.len();
        for (i, wn) in t.warnings.iter().enumerate().take(MAX_WARN_LINES) {
            line.clear();
            line.push_str("! ");
            if i == MAX_WARN_LINES - 1 && nw > MAX_WARN_LINES {
                let _ = write!(line, "{} more warnings (see --json ticks); first: ", nw - i);
            }
            wn.message(line);
            self.put(row, line, b"\x1b[33m", o.color);
        }
    }

    /// The device table.
    fn devices(&mut self, row: &mut usize, line: &mut Line, t: &Tick, ctx: &Ctx) {
        let o = ctx.o;
        let mut cell = Line::new();
        line.clear();
        line.push_str("  ");
        for (i, c) in DEV_COLUMNS.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            line.cell(c.title, c.screen as usize, c.right);
        }
        self.put(row, line, b"\x1b[7m", o.color);
        let d = &t.view.devices;
        for &k in &d.order {
            let r = &d.rows[k as usize];
            line.clear();
            // Uplinks are marked.
            line.push_str(if ctx.links.is_uplink(r.ifindex) {
                "^ "
            } else {
                "  "
            });
            for (i, c) in DEV_COLUMNS.iter().enumerate() {
                if i > 0 {
                    line.push(b' ');
                }
                cell.clear();
                dev_cell(&mut cell, &dev_value(c.col, r, ctx), o);
                line.cell(cell.as_str(), c.screen as usize, c.right);
            }
            self.put(row, line, b"", o.color);
        }
    }

    /// The per-device table: titles, then one row per machine.
    /// Row `sel` is highlighted, and the rows scroll to keep it on screen.
    fn hosts(&mut self, row: &mut usize, line: &mut Line, t: &Tick, ctx: &Ctx, sel: usize) {
        use super::hosts::{cells, screen_cell, COLUMNS};
        let Some(h) = t.hosts else { return };
        line.clear();
        for (i, c) in COLUMNS.iter().enumerate() {
            screen_cell(line, i, c.title);
        }
        self.put(row, line, b"\x1b[7m", ctx.o.color);
        let room = self.rows.saturating_sub(*row + 1).max(1);
        let top = (sel + 1).saturating_sub(room);
        for (i, &k) in h.order.iter().enumerate().skip(top) {
            line.clear();
            cells(&h.rows[k as usize], ctx, false, |i, s| {
                screen_cell(line, i, s)
            });
            let (hl, on): (&[u8], bool) = if i == sel {
                (b"\x1b[7m", true)
            } else {
                (b"", ctx.o.color)
            };
            self.put(row, line, hl, on);
        }
    }

    /// The keys (from the usage text).
    fn help_text(&mut self, row: &mut usize, line: &mut Line, ui: &Ui) {
        let o = &ui.opts;
        for text in crate::keys::HELP.lines() {
            line.clear();
            line.push_str(text);
            self.put(row, line, b"", o.color);
        }
        line.clear();
        line.push_str(ui.size_note.as_str());
        self.put(row, line, b"", o.color);
        line.clear();
        line.push_str("press h to return");
        self.put(row, line, b"", o.color);
    }

    /// Column titles and the connections, as many as fit.
    /// Row `sel` of the order (the selection) is drawn in reverse video,
    /// colour or not: an action acts on it, so it must always be seen.
    fn connections(&mut self, row: &mut usize, line: &mut Line, t: &Tick, ctx: &Ctx, sel: usize) {
        let o = ctx.o;
        let mut cell = Line::new();
        let lay = self.layout(o);
        self.titles(row, line, o, &lay);
        for (k, &i) in t.view.shown.iter().enumerate() {
            if *row + if o.wide { 1 } else { 2 } >= self.rows {
                break;
            }
            let (hl, hl_on): (&[u8], bool) = if t.view.first + k == sel {
                (b"\x1b[7m", true)
            } else {
                (b"", o.color)
            };
            let f = &t.flows[i as usize];
            let r = Row {
                ctx,
                f,
                c: &t.spills.conn(f),
                m: &t.view.meta(f),
            };
            line.clear();
            for (k, fd) in columns(o).filter(|f| lay.keeps(f)).enumerate() {
                let c = &fd.c;
                match c.col {
                    _ if c.screen == MERGED => continue,
                    Col::Dst if !o.wide => continue,
                    // The NAT view brings its own spaces.
                    _ if c.screen == REST => {
                        if o.wide {
                            fields::cell(line, c.col, &r, Style::Screen);
                        }
                        continue;
                    }
                    _ => {}
                }
                if k > 0 {
                    line.push(b' ');
                }
                if c.screen == ADDR {
                    endpoint(line, &mut cell, &r, c.col == Col::Src, &lay);
                } else {
                    cell.clear();
                    fields::cell(&mut cell, c.col, &r, Style::Screen);
                    line.cell(cell.as_str(), c.screen as usize, c.right);
                }
            }
            self.put(row, line, hl, hl_on);
            if !o.wide {
                // The destination under the source.
                line.clear();
                line.spaces(10);
                endpoint(line, &mut cell, &r, false, &lay);
                if lay.nat() {
                    fields::cell(line, Col::Nat, &r, Style::Screen);
                }
                self.put(row, line, hl, hl_on);
            }
        }
        if t.view.shown.is_empty() {
            line.clear();
            if t.flows.iter().all(|f| f.rate() == RateState::Unknown) && !t.flows.is_empty() {
                line.push_str("  measuring: rates appear at the next refresh");
            } else {
                line.push_str("  no connection above the threshold (t 0 shows idle ones)");
            }
            self.put(row, line, b"", o.color);
        }
    }

    /// The connection table's column titles.
    fn titles(&mut self, row: &mut usize, line: &mut Line, o: &super::Opts, lay: &Layout) {
        line.clear();
        for (k, fd) in columns(o).filter(|f| lay.keeps(f)).enumerate() {
            let c = &fd.c;
            let title = match c.col {
                _ if c.screen == MERGED => continue,
                Col::Dst if !o.wide => continue,
                Col::Src if !o.wide && lay.aw >= 20 => "SOURCE / DESTINATION",
                Col::Src if !o.wide => "SRC / DST",
                _ if c.screen == REST => {
                    if o.wide {
                        line.push(b' ');
                        line.push_str(c.title);
                    }
                    continue;
                }
                _ => fields::title(fd, o),
            };
            if k > 0 {
                line.push(b' ');
            }
            let w = if c.screen == ADDR {
                lay.aw
            } else {
                c.screen as usize
            };
            line.cell(title, w, c.right);
        }
        self.put(row, line, b"\x1b[7m", o.color);
    }

    /// What fits in the width: when a full row does not, whole columns go
    /// by their drop level (fields.rs: the NAT view, then IN/OUT, then
    /// TX/RX keeping SUM, then the ports) before any name is shortened;
    /// the address columns get what is left.
    fn layout(&self, o: &super::Opts) -> Layout {
        let mut l = Layout { level: 0, aw: 8 };
        for level in 0..=MAX_DROP {
            l.level = level;
            let fixed: usize = columns(o)
                .filter(|f| f.c.screen != ADDR && f.c.screen < MERGED && l.keeps(f))
                .map(|f| f.c.screen as usize + 1)
                .sum();
            let free = self.cols.saturating_sub(fixed);
            // Wide: an IPv6 endpoint ([2001:db8:..:ffff]:65535) needs 47
            // columns; what is beyond two of those goes to the NAT column.
            l.aw = if o.wide {
                (free.saturating_sub(2) / 2).min(47)
            } else {
                free.saturating_sub(1)
            }
            .clamp(8, 70);
            let want = if l.ports() { ENDPOINT_W } else { HOST_W };
            if l.aw >= want {
                break;
            }
        }
        l
    }

    /// Appends `line` as the next screen row, cut to the width.
    fn put(&mut self, row: &mut usize, line: &Line, color: &[u8], use_color: bool) {
        if *row >= self.rows.saturating_sub(1) && self.rows > 1 {
            return;
        }
        self.put_at(*row, line, color, use_color);
        *row += 1;
    }

    fn put_at(&mut self, row: usize, line: &Line, color: &[u8], use_color: bool) {
        if row >= self.rows {
            return;
        }
        // Cut on a character at the width in cells (a name may not be
        // ASCII: a cut byte would be no character at all).
        let (end, used) = crate::text::cut(line.as_str(), self.cols);
        let text = &line.as_bytes()[..end];
        let h = hash(text) ^ hash(color).rotate_left(1);
        if !self.force && self.prev[row] == h {
            return;
        }
        self.prev[row] = h;
        let _ = write!(LineSink(&mut self.frame), "\x1b[{};1H", row + 1);
        if use_color && !color.is_empty() {
            self.frame.extend_from_slice(color);
        }
        self.frame.extend_from_slice(text);
        if use_color && !color.is_empty() {
            self.frame.extend_from_slice(b"\x1b[0m");
        }
        // Erase the rest of the line unless the text filled it (writing in
        // the last column already leaves the cursor there).
        if used < self.cols {
            self.frame.extend_from_slice(b"\x1b[K");
        }
    }
}

/// `fmt::Write` into the frame vector (which has capacity reserved).
struct LineSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for LineSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// "host:port" in the layout's address width (the port left out when
/// the layout dropped the ports).
/// Numeric IPv6 addresses with a port are bracketed ([2001:db8::1]:443).
/// Too long, a name keeps its head (at least `MIN_NAME` characters) and an
/// address its tail (at least its last two groups), marked `~`; the port
/// is never cut. What cannot shrink further overflows the cell rather than
/// lose those, and the screen cuts the row at its edge.
fn endpoint(line: &mut Line, cell: &mut Line, r: &Row, src: bool, lay: &Layout) {
    let (ctx, c, w, ports) = (r.ctx, r.c, lay.aw, lay.ports());
    let (addr, local) = if src {
        (&c.orig.src, src_is_local(r.m))
    } else {
        (&c.orig.dst, dst_is_local(r.m))
    };
    cell.clear();
    ctx.host(cell, &addr[..c.addr_len()], local, false);
    let host = cell.as_str();
    let numeric = host.parse::<std::net::IpAddr>().is_ok();
    let mut pcell = Line::new();
    if ports && shows_port(c) {
        pcell.push(b':');
        ctx.port(&mut pcell, c, !src, false);
    }
    let v6 = ports && c.family == 6 && host.contains(':');
    let extra = pcell.len() + if v6 { 2 } else { 0 };
    let start = line.len();
    if v6 {
        line.push(b'[');
    }
    let hw = crate::text::width(host);
    if hw + extra <= w {
        line.push_str(host);
    } else if numeric {
        // The tail tells addresses of one network apart.
        let two_groups = host
            .char_indices()
            .rev()
            .filter(|&(_, ch)| ch == '.' || ch == ':')
            .nth(1)
            .map_or(0, |(i, _)| i + 1);
        let room = w.saturating_sub(extra + 1);
        let from = (host.len() - room.min(host.len())).min(two_groups);
        line.push(b'~');
        line.push_str(&host[from..]);
    } else {
        let keep = w.saturating_sub(extra + 1).max(MIN_NAME).min(hw);
        line.push_head(host, keep);
        line.push(b'~');
    }
    if v6 {
        line.push(b']');
    }
    line.push_str(pcell.as_str());
    let used = crate::text::width(line.as_str().get(start..).unwrap_or(""));
    line.spaces(w.saturating_sub(used));
}
