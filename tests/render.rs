//! Rendering without a kernel: synthetic flows through the real view and
//! renderers, and a tiny terminal model that fails on any overflow.

use nftop::cli::{self, Action, Config};
use nftop::conntrack::{Conn, Tuple};
use nftop::flows::FlowTable;
use nftop::health::{Warning, Warnings};
use nftop::names::Names;
use nftop::render::screen::Screen;
use nftop::render::{Ctx, Line, Opts, Tick};
use nftop::route::Net;
use nftop::view::{Filter, View};

pub fn cfg(args: &[&str]) -> Config {
    match cli::parse(args.iter().copied()).unwrap() {
        Action::Run(c) => *c,
        _ => unreachable!(),
    }
}

/// A mix of connections: IPv4/IPv6, NAT, long names, every column filled.
pub fn sample_table() -> FlowTable {
    let mut t = FlowTable::new(256, 1);
    let mk = |i: u32, bytes: u64| {
        let mut c = Conn {
            family: if i % 3 == 0 { 6 } else { 4 },
            id: 1000 + i,
            has_counters: true,
            state: 3,
            status: 0x1be,
            orig_bytes: bytes * (i as u64 + 1),
            reply_bytes: bytes / 2,
            mark: i,
            ..Conn::default()
        };
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        if c.family == 4 {
            src[..4].copy_from_slice(&[192, 0, 2, (i % 250) as u8 + 2]);
            dst[..4].copy_from_slice(&[203, 0, 113, (i % 250) as u8 + 1]);
        } else {
            src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            src[14] = 0xab;
            src[15] = i as u8;
            dst[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            dst[4] = 0xff;
            dst[15] = i as u8;
        }
        let proto = [6u8, 17, 1, 47, 132][i as usize % 5];
        c.orig = Tuple {
            src,
            dst,
            sport: 40000 + i as u16,
            dport: 443,
            proto,
        };
        c.reply = Tuple {
            src: dst,
            dst: if c.family == 4 {
                let mut n = [0u8; 16];
                n[..4].copy_from_slice(&[198, 51, 100, 1]);
                n
            } else {
                src
            },
            sport: 443,
            dport: 50000 + i as u16,
            proto,
        };
        c
    };
    for (k, now) in [(0u64, 1_000_000_000u64), (1, 2_000_000_000)] {
        t.begin();
        for i in 0..60 {
            t.observe(&mk(i, 10_000 * (k + 1)));
        }
        t.finish(now, 0);
    }
    t
}

/// One refresh's summary for a renderer, from a table and its view; what
/// a test does not look at is fixed (interval 1 s, no events).
pub fn tick<'a>(
    table: &'a FlowTable,
    view: &'a View,
    warnings: &'a Warnings,
    seq: u64,
    real_ns: u64,
) -> Tick<'a> {
    Tick {
        frames_skipped: 0,
        deadlines_missed: 0,
        ipfix: None,
        seq,
        real_ns,
        spills: table.spills(),
        interval: 1.0,
        interval_requested: 1.0,
        cpu_budget: 25,
        flows: table.flows(),
        view,
        table_len: table.len(),
        table_cap: table.capacity(),
        ct_count: table.len() as u64,
        ct_max: 65536,
        warnings,
        events: None,
        closed_total: 0,
        credited: 0,
        estimated: 0,
        hosts: None,
    }
}

/// A terminal of `rows` x `cols` that interprets what nftop writes and
/// panics if anything is written past the right edge or the bottom.
pub struct Vt {
    pub rows: usize,
    pub cols: usize,
    pub grid: Vec<Vec<u8>>,
    r: usize,
    c: usize,
}

impl Vt {
    pub fn new(rows: usize, cols: usize) -> Vt {
        Vt {
            rows,
            cols,
            grid: vec![vec![b' '; cols]; rows],
            r: 0,
            c: 0,
        }
    }

    pub fn feed(&mut self, b: &[u8]) {
        let mut i = 0;
        while i < b.len() {
            let ch = b[i];
            if ch == 0x1b {
                assert_eq!(b.get(i + 1), Some(&b'['), "only CSI sequences");
                let mut j = i + 2;
                while !(0x40..=0x7e).contains(&b[j]) {
                    j += 1;
                }
                let params = std::str::from_utf8(&b[i + 2..j]).unwrap();
                let nums: Vec<usize> = params
                    .trim_start_matches('?')
                    .split(';')
                    .map(|p| p.parse().unwrap_or(0))
                    .collect();
                match b[j] {
                    b'H' => {
                        self.r = nums.first().copied().unwrap_or(1).max(1) - 1;
                        self.c = nums.get(1).copied().unwrap_or(1).max(1) - 1;
                        assert!(
                            self.r < self.rows,
                            "cursor moved below the screen: row {}",
                            self.r + 1
                        );
                    }
                    b'K' => {
                        for x in self.c..self.cols {
                            self.grid[self.r][x] = b' ';
                        }
                    }
                    b'J' => {
                        if nums.first() == Some(&2) {
                            for row in &mut self.grid {
                                row.fill(b' ');
                            }
                        } else {
                            for x in self.c..self.cols {
                                self.grid[self.r][x] = b' ';
                            }
                            for row in self.grid.iter_mut().skip(self.r + 1) {
                                row.fill(b' ');
                            }
                        }
                    }
                    b'm' | b'h' | b'l' => {}
                    other => panic!("unexpected CSI {}", other as char),
                }
                i = j + 1;
                continue;
            }
            assert!(
                ch == b'\r' || ch == b'\n' || (0x20..0x7f).contains(&ch),
                "non-ASCII byte {ch:#x}"
            );
            match ch {
                b'\r' => self.c = 0,
                b'\n' => {
                    self.r += 1;
                    assert!(self.r < self.rows, "newline scrolled the screen");
                }
                _ => {
                    assert!(
                        self.c < self.cols,
                        "wrote past the right edge on row {}",
                        self.r + 1
                    );
                    self.grid[self.r][self.c] = ch;
                    self.c += 1;
                }
            }
            i += 1;
        }
    }

    pub fn text(&self) -> String {
        self.grid
            .iter()
            .map(|r| String::from_utf8_lossy(r).trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn draw(rows: usize, cols: usize, args: &[&str]) -> String {
    let c = cfg(args);
    let mut table = sample_table();
    let mut view = View::new(256);
    let net = Net::new();
    let mut scr = Screen::new(rows, cols);
    let filter = Filter::from_config(&c);
    let mut warnings = Warnings::default();
    warnings.push(Warning::NoCounters(3));
    warnings.push(Warning::NoTimestamps);
    let names = Names::new("/nonexistent", "/nonexistent", false, false);
    view.build(
        table.parts_mut(),
        &net,
        &names,
        &filter,
        (3_000_000_000, 1_700_000_000_000_000_000),
        Some(scr.capacity(c.wide, warnings.len(), &net.links)),
    );
    let names = Names::new("/nonexistent", "/nonexistent", false, false);
    let mut opts = Opts::from_config(&c);
    opts.color = true;
    let ui = nftop::keys::Ui::new(&c, opts.clone());
    let ctx = Ctx {
        o: &opts,
        names: &names,
        links: &net.links,
        now_s: 3,
    };
    let tick = crate::render::tick(&table, &view, &warnings, 2, 1_700_000_000_000_000_000);
    let mut out = Vec::new();
    scr.draw(&mut out, &tick, &ctx, &ui).unwrap();
    let first = out.len();
    // A second, identical frame must apply cleanly on top of the first,
    // and send only what changed: nothing but the trailing clear.
    scr.draw(&mut out, &tick, &ctx, &ui).unwrap();
    assert!(
        out.len() - first < 16,
        "unchanged lines were sent again: {} bytes",
        out.len() - first
    );
    let mut vt = Vt::new(rows, cols);
    vt.feed(&out);
    vt.text()
}

#[test]
fn every_terminal_size_from_tiny_to_huge_fits() {
    for cols in (20..=300).step_by(7).chain([20, 80, 132, 300]) {
        for rows in [5, 24, 100] {
            for args in [
                &[][..],
                &["-w"],
                &["-w", "-I", "-V", "-a", "2"],
                &["-I", "-V", "-a", "1", "-b", "-S"],
            ] {
                let t = draw(rows, cols, args);
                assert!(t.starts_with("nftop"), "{rows}x{cols} {args:?}:\n{t}");
            }
        }
    }
}

#[test]
fn screen_shows_header_rows_and_warnings() {
    let t = draw(30, 240, &["-w", "-I", "-V", "-a", "1"]);
    assert!(
        t.contains("PROTO") && t.contains("DESTINATION") && t.contains("SUM"),
        "{t}"
    );
    assert!(t.contains("ESTABLISHED"), "{t}");
    assert!(
        t.contains("nf_conntrack_acct=1"),
        "warning names the fix:\n{t}"
    );
    assert!(
        t.contains("[2001:db8::ab"),
        "IPv6 endpoints are bracketed:\n{t}"
    );
    assert!(t.contains("via 198.51.100.1:"), "NAT view:\n{t}");
    // 30 rows: all 60 flows cannot fit; the screen is full, not overflowing.
    let rows = t
        .lines()
        .filter(|l| l.contains("192.0.2.") || l.contains("[2001:db8"))
        .count();
    assert!(rows >= 20, "{t}");
    // Default (narrow) layout: two lines per connection.
    let t2 = draw(30, 100, &[]);
    assert!(t2.contains("SOURCE / DESTINATION"), "{t2}");
    assert!(
        t2.contains("via 198.51.100.1:"),
        "NAT on the second line:\n{t2}"
    );
}

#[test]
fn sort_order_on_screen_follows_the_flag() {
    let t = draw(40, 200, &["-w", "-I", "-s", "+id", "-t", "0"]);
    let ids: Vec<u32> = t
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.parse::<u32>().ok().filter(|v| (1000..1100).contains(v)))
        })
        .collect();
    assert!(ids.len() > 10, "{t}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[test]
fn line_buffer_rejects_overflow_instead_of_growing() {
    let mut l = Line::new();
    for _ in 0..10_000 {
        l.push_str("0123456789");
    }
    assert_eq!(l.len(), nftop::render::LINE_MAX);
}

/// Narrow terminals drop whole columns in a fixed order (NAT, IN/OUT,
/// TX/RX keeping SUM, ports) before any name or address is shortened.
#[test]
fn narrow_screens_drop_columns_before_cutting_names() {
    let at = |cols: usize| draw(24, cols, &["-t", "0"]);
    let title = |t: &str| t.lines().find(|l| l.contains("PROTO")).unwrap().to_string();
    let t80 = at(80);
    assert!(
        title(&t80).contains(" TX") && title(&t80).contains(" IN"),
        "{t80}"
    );
    assert!(t80.contains("via 198.51.100.1:"), "{t80}");
    // 70: the NAT view and IN/OUT gave way, the rates stay.
    let t70 = at(70);
    assert!(
        title(&t70).contains(" TX") && !title(&t70).contains(" IN"),
        "{t70}"
    );
    assert!(!t70.contains("via "), "{t70}");
    // 50: TX and RX too, SUM stays; ports still there.
    let t50 = at(50);
    assert!(
        title(&t50).contains("SUM") && !title(&t50).contains(" TX"),
        "{t50}"
    );
    assert!(t50.contains(":443"), "{t50}");
    // 40: the ports last; the addresses are still whole.
    let t40 = at(40);
    assert!(!t40.contains(":443"), "{t40}");
    assert!(
        t40.contains(" 192.0.2.61 ") && t40.contains(" 203.0.113.60"),
        "{t40}"
    );
    assert!(
        !t40.contains('~'),
        "nothing shortened at 40 columns:\n{t40}"
    );
    // 28: now addresses are cut, from the left, keeping their last two
    // groups (never one character, as `l~:58820` once was).
    let t28 = at(28);
    let cut: Vec<&str> = t28
        .split_whitespace()
        .filter(|w| w.starts_with('~'))
        .collect();
    assert!(!cut.is_empty(), "{t28}");
    for w in cut {
        let groups = w
            .trim_start_matches('~')
            .split(['.', ':'])
            .filter(|g| !g.is_empty())
            .count();
        assert!(groups >= 2, "'{w}' keeps two groups:\n{t28}");
    }
}

/// The help screen fits 80x24 (the terminal model fails on any overflow)
/// and shows every group.
#[test]
fn help_fits_80x24_with_every_group() {
    let c = cfg(&[]);
    let mut table = sample_table();
    let mut view = View::new(256);
    let net = Net::new();
    let mut scr = Screen::new(24, 80);
    let warnings = Warnings::default();
    let filter = Filter::from_config(&c);
    let names = Names::new("/nonexistent", "/nonexistent", false, false);
    view.build(
        table.parts_mut(),
        &net,
        &names,
        &filter,
        (3_000_000_000, 0),
        Some(10),
    );
    let names = Names::new("/nonexistent", "/nonexistent", false, false);
    let opts = Opts::from_config(&c);
    let mut ui = nftop::keys::Ui::new(&c, opts.clone());
    ui.help = true;
    let ctx = Ctx {
        o: &opts,
        names: &names,
        links: &net.links,
        now_s: 3,
    };
    let tick = crate::render::tick(&table, &view, &warnings, 2, 1_700_000_000_000_000_000);
    let mut out = Vec::new();
    scr.draw(&mut out, &tick, &ctx, &ui).unwrap();
    let mut vt = Vt::new(24, 80);
    vt.feed(&out);
    let t = vt.text();
    for group in [
        "views",
        "display",
        "filter",
        "order",
        "terminal",
        "prompts",
        "press h to return",
    ] {
        assert!(t.contains(group), "{group}:\n{t}");
    }
}
