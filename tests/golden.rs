//! Exact output (hexyl's way): a fixed table of eight connections on a
//! router with three links, rendered with colour off by every output
//! format, compared byte for byte with `tests/golden/*`. A change to the
//! output shows here as a diff; when it is intended, regenerate with
//! `NFTOP_BLESS=1 cargo test --test tests golden` and review the files.
//!
//! The clock of the header is the test machine's local time of a fixed
//! instant: it is replaced by `HH:MM:SS` before comparing.

use crate::render::cfg;
use nftop::conntrack::{Conn, Tuple};
use nftop::flows::FlowTable;
use nftop::health::{Warning, Warnings};
use nftop::names::Names;
use nftop::render::screen::Screen;
use nftop::render::{Ctx, Line, Opts};
use nftop::route::wire::{LinkMsg, IFF_RUNNING, IFF_UP};
use nftop::route::{Net, LOCAL_IF};
use nftop::view::{Filter, View};

const REAL: u64 = 1_700_000_000_000_000_000;

fn addr(a: &[u8]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..a.len()].copy_from_slice(a);
    x
}

fn v6(last: u8, net: u8) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    x[5] = net;
    x[15] = last;
    x
}

/// The router: lo 1, lan0 2, wan0 3 (uplink), wan1 4 (uplink).
fn net() -> Net {
    let mut n = Net::new();
    let l = &mut n.links;
    for (t, scale) in [(1_000_000_000u64, 0u64), (2_000_000_000, 1)] {
        l.begin();
        for (index, name, rx, tx) in [
            (1u32, "lo", 0u64, 0u64),
            (2, "lan0", 1_000_000, 9_000_000),
            (3, "wan0", 8_000_000, 900_000),
            (4, "wan1", 100_000, 250_000),
        ] {
            let mut m = LinkMsg {
                index,
                flags: IFF_UP | IFF_RUNNING | if index == 1 { 0x8 } else { 0 },
                name: [0; 16],
                name_len: name.len() as u8,
                rx_bytes: rx * scale,
                tx_bytes: tx * scale,
            };
            m.name[..name.len()].copy_from_slice(name.as_bytes());
            l.push(&m);
        }
        l.finish(t, |l| l.index >= 3);
    }
    // The LAN host 192.0.2.10 and its IPv6 address are one machine; the
    // port forward's target 192.0.2.20 has no neighbour entry.
    n.neigh.add(&[192, 0, 2, 10], [2, 0, 0, 0, 0, 0x0a]);
    n.neigh.add(&v6(2, 1), [2, 0, 0, 0, 0, 0x0a]);
    n.neigh.finish();
    n
}

thread_local! {
    /// The `--mark` cases' table carries conntrack marks (`MARKS`) and
    /// offloaded connections (`OFFLOADED`); the others' has neither, as
    /// their goldens were written.
    static MARKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// mwan3's way: each uplink's connections marked (wan0 0x100, wan1
/// 0x200), the port forward and the router's own unmarked, one mark
/// with bits above the mask.
const MARKS: [u32; 8] = [0x100, 0x200, 0, 0x100, 0, 0, 0x3f00, 0x80000100];

/// Flowtables in the marked table: the UDP flow in a software flowtable
/// with `counter` (its counters move), the idle connection in hardware
/// without accounting (frozen: its rate is unknown).
const OFFLOADED: [u32; 8] = [0, 0x4000, 0, 0, 0, 0, 0, 0xc000];

/// Eight connections, each a kind the renderers treat differently.
fn table() -> FlowTable {
    let mut t = FlowTable::new(64, 1);
    let lan = addr(&[192, 0, 2, 10]);
    let far = addr(&[203, 0, 113, 200]);
    let nat = addr(&[198, 51, 100, 1]);
    // Status: seen reply, assured, confirmed, NAT done; plus SRC_NAT
    // (0x10) or DST_NAT (0x20) where the tuples say so.
    let conn = |id: u32,
                proto: u8,
                o: (&[u8; 16], u16, &[u8; 16], u16),
                r: (&[u8; 16], u16, &[u8; 16], u16),
                fam: u8| Conn {
        family: fam,
        id,
        has_counters: true,
        state: if proto == 6 {
            3
        } else {
            nftop::conntrack::NO_STATE
        },
        status: 0x18e | if r.2 != o.0 { 0x10 } else { 0 } | if r.0 != o.2 { 0x20 } else { 0 },
        orig: Tuple {
            src: *o.0,
            sport: o.1,
            dst: *o.2,
            dport: o.3,
            proto,
        },
        reply: Tuple {
            src: *r.0,
            sport: r.1,
            dst: *r.2,
            dport: r.3,
            proto,
        },
        start: REAL - 90_000_000_000,
        ..Conn::default()
    };
    let conns = [
        // A LAN upload, masqueraded on wan0.
        conn(1, 6, (&lan, 40001, &far, 443), (&far, 443, &nat, 40001), 4),
        // A UDP flow masqueraded on wan1.
        conn(
            2,
            17,
            (&lan, 40002, &far, 5202),
            (&far, 5202, &addr(&[203, 0, 113, 1]), 61000),
            4,
        ),
        // A port forward from outside to a LAN host.
        conn(
            3,
            6,
            (&far, 50000, &nat, 2222),
            (&addr(&[192, 0, 2, 20]), 8022, &far, 50000),
            4,
        ),
        // Routed IPv6 download.
        conn(
            4,
            6,
            (&v6(2, 1), 40004, &v6(0x20, 0xff), 443),
            (&v6(0x20, 0xff), 443, &v6(2, 1), 40004),
            6,
        ),
        // A ping from the router itself.
        conn(5, 1, (&nat, 7, &far, 8 << 8), (&far, 7, &nat, 0), 4),
        // A service on the router.
        conn(
            6,
            6,
            (&lan, 40006, &addr(&[192, 0, 2, 1]), 8080),
            (&addr(&[192, 0, 2, 1]), 8080, &lan, 40006),
            4,
        ),
        // GRE through the router.
        conn(7, 47, (&lan, 0, &far, 0), (&far, 0, &nat, 0), 4),
        // An idle connection.
        conn(8, 6, (&lan, 40008, &far, 22), (&far, 22, &nat, 40008), 4),
    ];
    // (orig bytes per second, reply bytes per second)
    let rates = [
        (1_000_000u64, 40_000u64),
        (250_000, 0),
        (20_000, 900_000),
        (30_000, 2_000_000),
        (84, 84),
        (5_000, 120_000),
        (64_000, 64_000),
        (0, 0),
    ];
    for (k, now) in [(0u64, 1_000_000_000u64), (1, 2_000_000_000)] {
        t.begin();
        for (c, (o, r)) in conns.iter().zip(rates) {
            let mut c = *c;
            if MARKED.get() {
                c.mark = MARKS[c.id as usize - 1];
                c.status |= OFFLOADED[c.id as usize - 1];
            }
            c.orig_bytes = 1000 + o * (k + 1);
            c.reply_bytes = 1000 + r * (k + 1);
            t.observe(&c);
        }
        t.finish(now, REAL - 1_000_000_000 + k * 1_000_000_000);
    }
    // Interfaces as the router would find them.
    let io = [
        (2, 3),
        (2, 4),
        (3, 2),
        (2, 3),
        (LOCAL_IF, 3),
        (2, LOCAL_IF),
        (2, 3),
        (2, 3),
    ];
    for f in t.flows_mut() {
        let (i, o) = io[f.id as usize - 1];
        f.in_if = i;
        f.out_if = o;
    }
    t
}

/// Renders one refresh of the fixed table with `args` into text.
fn render(args: &[&str], screen: Option<(usize, usize)>) -> String {
    let names = Names::new("/nonexistent", "/nonexistent", false, false);
    render_with(args, screen, &names, |_, _| {})
}

/// `render` with these names, and `ui` set up by `setup` once the table
/// is built (a selection, a question).
pub(crate) fn render_with(
    args: &[&str],
    screen: Option<(usize, usize)>,
    names: &Names,
    setup: impl FnOnce(&mut nftop::keys::Ui, &FlowTable),
) -> String {
    let c = cfg(args);
    let mut table = table();
    let net = net();
    let mut view = View::new(64);
    let filter = Filter::from_config(&c);
    let mut warnings = Warnings::default();
    warnings.push(Warning::NoTimestamps);
    let mut scr = screen.map(|(r, cols)| Screen::new(r, cols));
    view.build(
        table.parts_mut(),
        &net,
        names,
        &filter,
        (3_000_000_000, REAL),
        scr.as_ref()
            .map(|s| s.capacity(c.wide, warnings.len(), &net.links)),
    );
    let mut opts = Opts::from_config(&c);
    opts.color = false;
    let mut ui = nftop::keys::Ui::new(&c, opts.clone());
    ui.dev = c.dev;
    let ctx = Ctx {
        o: &opts,
        names,
        links: &net.links,
        now_s: 3,
    };
    let mut hosts = nftop::hostview::Hosts::default();
    let (flows, spills) = table.parts_mut();
    hosts.build(flows, spills, &net);
    hosts.order(filter.sort, filter.ascending);
    ui.hosts = c.by_host;
    setup(&mut ui, &table);
    let mut tick = crate::render::tick(&table, &view, &warnings, 2, REAL);
    tick.events = Some((5, 0));
    tick.hosts = c.by_host.then_some(&hosts);
    let mut out = Vec::new();
    let mut line = Line::new();
    // The product's own choice of renderer (mode x -H x -d).
    nftop::app::write_output(&mut out, c.mode, scr.as_mut(), &tick, &ctx, &ui, &mut line).unwrap();
    if let Some((rows, cols)) = screen {
        let mut vt = crate::render::Vt::new(rows, cols);
        vt.feed(&out);
        out = (vt.text() + "\n").into_bytes();
    }
    let (_, _, _, h, m, s) = nftop::sys::localtime(REAL / 1_000_000_000);
    String::from_utf8(out)
        .unwrap()
        .replace(&format!("{h:02}:{m:02}:{s:02}"), "HH:MM:SS")
}

fn golden(name: &str, got: &str) {
    let path = crate::common::root().join("tests/golden").join(name);
    if std::env::var_os("NFTOP_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{name} missing: NFTOP_BLESS=1 writes it"));
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name} differs from line {}:\n--- want\n{}\n--- got\n{}\n(NFTOP_BLESS=1 to accept)",
            first + 1,
            want.lines()
                .skip(first)
                .take(3)
                .collect::<Vec<_>>()
                .join("\n"),
            got.lines()
                .skip(first)
                .take(3)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

#[test]
fn golden_continuous() {
    golden("continuous.txt", &render(&["-c", "-t", "0", "-L"], None));
    golden(
        "continuous-wide.txt",
        &render(&["-c", "-t", "0", "-L", "-I", "-V", "-a", "1"], None),
    );
    golden("continuous-dev.txt", &render(&["-c", "-d", "-L"], None));
    golden("continuous-hosts.txt", &render(&["-c", "-H", "-L"], None));
}

#[test]
fn golden_machine() {
    golden("machine.txt", &render(&["-M", "-t", "0", "-L"], None));
    golden("machine-dev.txt", &render(&["-M", "-d", "-L"], None));
    golden("machine-hosts.txt", &render(&["-M", "-H", "-L"], None));
}

#[test]
fn golden_json() {
    golden("json.txt", &render(&["--json", "-t", "0", "-L"], None));
    golden("json-hosts.txt", &render(&["--json", "-H", "-L"], None));
}

#[test]
fn golden_screen() {
    golden(
        "screen-80x24.txt",
        &render(&["-t", "0", "-L"], Some((24, 80))),
    );
    golden(
        "screen-wide-160x20.txt",
        &render(
            &["-w", "-t", "0", "-L", "-I", "-V", "-a", "1"],
            Some((20, 160)),
        ),
    );
    golden(
        "screen-dev-100x20.txt",
        &render(&["-d", "-L"], Some((20, 100))),
    );
    golden(
        "screen-hosts-100x20.txt",
        &render(&["-H", "-L"], Some((20, 100))),
    );
    // Narrow: IN/OUT, TX/RX and the ports give way before the addresses.
    golden(
        "screen-40x14.txt",
        &render(&["-t", "0", "-L"], Some((14, 40))),
    );
}

/// Issue 22: a field added in one place (the conntrack mark, fields.rs)
/// shows in every format: off on the screen and in `-c` unless asked
/// (`--mark`), always in `-M` and JSON; a narrow screen drops it with
/// IN/OUT.
#[test]
fn golden_mark() {
    MARKED.set(true);
    let args = ["-t", "0", "-L", "--mark"];
    golden(
        "continuous-mark.txt",
        &render(&[&["-c"], &args[..]].concat(), None),
    );
    golden("machine-mark.txt", &render(&["-M", "-t", "0", "-L"], None));
    golden("json-mark.txt", &render(&["--json", "-t", "0", "-L"], None));
    golden("screen-mark-100x20.txt", &render(&args, Some((20, 100))));
    golden(
        "screen-mark-wide-160x20.txt",
        // -V: the state column names the offload.
        &render(&[&["-w", "-V"], &args[..]].concat(), Some((20, 160))),
    );
    golden("screen-mark-60x14.txt", &render(&args, Some((14, 60))));
    MARKED.set(false);
}

/// The self-check's device table counts every flow whatever the family
/// and loopback filters (the view's table, then the flows those filters
/// kept out of it): the same rows as adding each flow on its own. Two
/// flows offloaded (the mark bed), one on the loopback link.
#[test]
fn all_devices_count_every_flow_whatever_the_filters() {
    use nftop::view::Devices;
    let names = Names::new("/nonexistent", "/nonexistent", false, false);
    let net = net();
    MARKED.set(true);
    for args in [&[][..], &["-4"], &["-6"], &["-L"], &["-4", "-L", "-t", "0"]] {
        let c = cfg(args);
        let mut table = table();
        for f in table.flows_mut().iter_mut().filter(|f| f.id == 7) {
            (f.in_if, f.out_if) = (1, 1);
        }
        let mut view = View::new(64);
        let mut all = Devices::new();
        let filter = Filter::from_config(&c);
        view.derive(
            table.parts_mut(),
            &net,
            &names,
            &filter,
            (3_000_000_000, REAL),
            Some(&mut all),
        );
        let mut each = Devices::new();
        each.begin(&net.links);
        for f in table.flows() {
            each.add(f, each.rows_of(f, &net.links));
        }
        each.finish();
        let exact = |d: &Devices| {
            let rows = d.rows.iter();
            rows.map(|r| (r.ifindex, r.conns, r.offloaded))
                .collect::<Vec<_>>()
        };
        assert_eq!(exact(&all), exact(&each), "{args:?}");
        for (a, e) in all.rows.iter().zip(&each.rows) {
            // Summed in another order: equal to the last bits.
            let near = |x: f64, y: f64| (x - y).abs() <= 1e-9 * y.abs().max(1.0);
            assert!(
                near(a.tx_bps, e.tx_bps) && near(a.rx_bps, e.rx_bps),
                "{args:?}"
            );
        }
        assert_eq!(all.order, each.order, "{args:?}");
        assert!(all.rows.iter().any(|r| r.offloaded > 0), "{args:?}");
        let lo = |d: &Devices| d.rows.iter().find(|r| r.ifindex == 1).unwrap().conns;
        assert_eq!(lo(&all), 1, "{args:?}");
        let view_lo = usize::from(args.contains(&"-L")) as u32;
        assert_eq!(lo(&view.devices), view_lo, "{args:?}: the view's");
        if args.len() != 1 || args[0] != "-L" {
            assert_ne!(exact(&view.devices), exact(&all), "{args:?}: filtered");
        }
    }
    MARKED.set(false);
}
