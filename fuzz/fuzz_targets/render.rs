//! The renderers with names nftop did not choose (issue 26 items 4, 5):
//! three interface names through the rtnetlink decoder (which cleans
//! them), two host names, a lease name and a service name through their
//! parsers (DNS answers become the same `Name` through `Name::clean`), in
//! a small table rendered by every output: the screen at several sizes
//! (connections narrow and wide, devices, per-device view, detail pane,
//! the device filter and the delete question naming a device), `-c`, `-M`,
//! JSON, each with `-d` and `-H`; colour off.
//!
//! Input: a byte of option bits (the locale, display flags), a byte that
//! picks the screen's view, the lines' view and a second screen width,
//! then fields separated by NUL: lan, wan, wan1, host, host, lease,
//! service. (One view of each per input: all of them every time made an
//! input take over the 10 ms `fuzz.sh report` allows.)
//!
//! Asserts: no panic; line outputs are UTF-8 with no control byte but
//! '\n'; `-M` keeps one field per column (every line of one output has
//! as many fields); JSON is ASCII; the screen's text between its own
//! escape sequences is UTF-8 without a control character and never wider
//! than the terminal, and stays so when written for a non-UTF-8 locale.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nftop::cli::{self, Action};
use nftop::conntrack::{Conn, Tuple};
use nftop::flows::FlowTable;
use nftop::health::Warnings;
use nftop::names::Names;
use nftop::render::screen::Screen;
use nftop::render::{hosts, json, plain, Ctx, Line, Opts, Tick};
use nftop::route::Net;
use nftop::view::{Filter, View};

const REAL: u64 = 1_700_000_000_000_000_000;

fn addr(a: &[u8]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..a.len()].copy_from_slice(a);
    x
}

/// An RTM_NEWLINK payload: ifinfomsg and IFLA_IFNAME, as the kernel sends.
fn link_msg(index: u32, name: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    p[4..8].copy_from_slice(&index.to_ne_bytes());
    p[8..12].copy_from_slice(&(0x1u32 | 0x40).to_ne_bytes()); // IFF_UP | IFF_RUNNING
    let len = 4 + name.len() + 1;
    p.extend_from_slice(&(len as u16).to_ne_bytes());
    p.extend_from_slice(&3u16.to_ne_bytes()); // IFLA_IFNAME
    p.extend_from_slice(name);
    p.push(0);
    p.resize((p.len() + 3) & !3, 0);
    p
}

/// lan0 2, wan0 3 and wan1 4 (both uplinks: the header's uplinks line).
fn net(names: [&[u8]; 3]) -> Net {
    let mut n = Net::new();
    for t in [1_000_000_000u64, 2_000_000_000] {
        n.links.begin();
        for (i, name) in names.iter().enumerate() {
            let m = nftop::route::wire::parse_link(&link_msg(i as u32 + 2, name))
                .expect("a link message");
            n.links.push(&m);
        }
        n.links.finish(t, |l| l.index >= 3);
    }
    n.neigh.add(&[192, 0, 2, 10], [2, 0, 0, 0, 0, 0x0a]);
    n.neigh.finish();
    n
}

/// A LAN upload masqueraded on wan0, a UDP flow on wan1, a port forward
/// to a LAN host, an IPv6 download, a ping from the router.
fn table() -> FlowTable {
    let mut t = FlowTable::new(64, 1);
    let lan = addr(&[192, 0, 2, 10]);
    let far = addr(&[203, 0, 113, 200]);
    let nat = addr(&[198, 51, 100, 1]);
    let mut v6a = addr(&[0x20, 0x01, 0x0d, 0xb8, 0, 1]);
    v6a[15] = 2;
    let mut v6b = addr(&[0x20, 0x01, 0x0d, 0xb8, 0, 0xff]);
    v6b[15] = 0x20;
    let conn = |id: u32,
                proto: u8,
                o: ([u8; 16], u16, [u8; 16], u16),
                r: ([u8; 16], u16, [u8; 16], u16),
                fam: u8| Conn {
        family: fam,
        id,
        has_counters: true,
        state: 3,
        status: 0x18e | if r.2 != o.0 { 0x10 } else { 0 } | if r.0 != o.2 { 0x20 } else { 0 },
        orig: Tuple {
            src: o.0,
            sport: o.1,
            dst: o.2,
            dport: o.3,
            proto,
        },
        reply: Tuple {
            src: r.0,
            sport: r.1,
            dst: r.2,
            dport: r.3,
            proto,
        },
        ..Conn::default()
    };
    let conns = [
        conn(1, 6, (lan, 40001, far, 443), (far, 443, nat, 40001), 4),
        conn(
            2,
            17,
            (lan, 40002, far, 5202),
            (far, 5202, addr(&[203, 0, 113, 1]), 61000),
            4,
        ),
        conn(
            3,
            6,
            (far, 50000, nat, 2222),
            (addr(&[192, 0, 2, 11]), 443, far, 50000),
            4,
        ),
        conn(4, 6, (v6a, 40004, v6b, 443), (v6b, 443, v6a, 40004), 6),
        conn(5, 1, (nat, 7, far, 8 << 8), (far, 7, nat, 0), 4),
    ];
    for (k, now) in [(0u64, 1_000_000_000u64), (1, 2_000_000_000)] {
        t.begin();
        for c in &conns {
            let mut c = *c;
            c.orig_bytes = 1000 + 50_000 * c.id as u64 * (k + 1);
            c.reply_bytes = 1000 + 20_000 * (k + 1);
            t.observe(&c);
        }
        t.finish(now, REAL - 1_000_000_000 + k * 1_000_000_000);
    }
    let io = [(2, 3), (2, 4), (3, 2), (2, 3), (u32::MAX, 3)];
    for f in t.flows_mut() {
        let (i, o) = io[f.id as usize - 1];
        f.in_if = i;
        f.out_if = o;
    }
    t
}

/// Line outputs: UTF-8, no control byte but '\n'; with `fields`, every
/// line has as many space-separated fields as the first (-M).
fn check_lines(what: &[&str], out: &[u8], fields: bool) {
    let s = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what:?}: not UTF-8: {e}"));
    assert!(
        !s.chars().any(|c| c.is_control() && c != '\n'),
        "{what:?}: a control character: {s:?}"
    );
    if fields {
        let mut n = None;
        for l in s.lines().filter(|l| !l.is_empty()) {
            let k = l.split(' ').count();
            assert_eq!(
                *n.get_or_insert(k),
                k,
                "{what:?}: a name split a field: {s:?}"
            );
        }
    }
}

/// A screen frame: escape sequences (CSI only), and text that is UTF-8,
/// holds no control character and never passes the last column.
fn check_frame(what: &[&str], f: &[u8], cols: usize) {
    let (mut i, mut col) = (0, 0);
    while i < f.len() {
        if f[i] == 0x1b {
            assert_eq!(f.get(i + 1), Some(&b'['), "{what:?}: not a CSI at {i}");
            i += 2;
            while i < f.len() && matches!(f[i], b'0'..=b'9' | b';' | b'?') {
                i += 1;
            }
            assert!(i < f.len(), "{what:?}: a cut escape sequence");
            if f[i] == b'H' {
                col = 0;
            }
            i += 1;
            continue;
        }
        let end = f[i..]
            .iter()
            .position(|&b| b == 0x1b)
            .map_or(f.len(), |p| i + p);
        let s = std::str::from_utf8(&f[i..end]).unwrap_or_else(|e| panic!("{what:?}: {e}"));
        if s.is_ascii() {
            assert!(
                !s.bytes().any(|b| b < 0x20 || b == 0x7f),
                "{what:?}: a control byte: {s:?}"
            );
            col += s.len();
            assert!(col <= cols, "{what:?}: text past column {cols}: {s:?}");
            i = end;
            continue;
        }
        assert!(
            !s.chars().any(char::is_control),
            "{what:?}: a control character: {s:?}"
        );
        col += nftop::text::width(s);
        assert!(col <= cols, "{what:?}: text past column {cols}: {s:?}");
        i = end;
    }
}

fn cfg(args: &[&str]) -> nftop::cli::Config {
    match cli::parse(args.iter().copied()) {
        Ok(Action::Run(c)) => *c,
        _ => unreachable!("{args:?}"),
    }
}

/// What every rendering reuses (built once per input: a screen's frame
/// buffer alone is half a megabyte).
struct World {
    names: Names,
    net: Net,
    table: FlowTable,
    view: View,
    hosts: nftop::hostview::Hosts,
    screen: Screen,
    out: Vec<u8>,
    ascii: Vec<u8>,
    line: Line,
}

impl World {
    fn render(&mut self, args: &[&str], utf8: bool, sizes: &[(usize, usize)]) {
        let c = cfg(args);
        let filter = Filter::from_config(&c);
        let names = &self.names;
        let net = &self.net;
        self.view.build(
            self.table.parts_mut(),
            net,
            names,
            &filter,
            (3_000_000_000, REAL),
            None,
        );
        let (flows, spills) = self.table.parts_mut();
        self.hosts.build(flows, spills, net);
        self.hosts.order(filter.sort, filter.ascending);
        let mut opts = Opts::from_config(&c);
        opts.color = false;
        opts.utf8 = utf8;
        let ctx = Ctx {
            o: &opts,
            names,
            links: &net.links,
            now_s: 3,
        };
        let (table, hv) = (&self.table, &self.hosts);
        let warnings = Warnings::default();
        let tick = Tick {
            frames_skipped: 0,
            deadlines_missed: 0,
            ipfix: None,
            seq: 2,
            real_ns: REAL,
            spills: table.spills(),
            interval: 1.0,
            interval_requested: 1.0,
            cpu_budget: 25,
            flows: table.flows(),
            view: &self.view,
            table_len: table.len(),
            table_cap: table.capacity(),
            ct_count: table.len() as u64,
            ct_max: 65536,
            warnings: &warnings,
            events: Some((5, 0)),
            closed_total: 0,
            credited: 0,
            estimated: 0,
            hosts: c.by_host.then_some(hv),
        };
        let (out, line) = (&mut self.out, &mut self.line);
        out.clear();
        let machine = c.mode == nftop::vocab::Mode::Machine;
        match c.mode {
            nftop::vocab::Mode::Json => {
                json::write_json(out, &tick, &ctx, line, c.dev).unwrap();
                if c.by_host {
                    json::write_hosts(out, &tick, &ctx, line).unwrap();
                }
                assert!(out.is_ascii(), "{args:?}: JSON not ASCII");
                check_lines(args, out, false);
            }
            nftop::vocab::Mode::Continuous | nftop::vocab::Mode::Machine => {
                if c.by_host {
                    hosts::write_plain(out, &tick, &ctx, line, machine).unwrap();
                } else if c.dev {
                    plain::write_devices(out, &tick, &ctx, line, machine).unwrap();
                } else if machine {
                    plain::write_machine(out, &tick, &ctx, line).unwrap();
                } else {
                    plain::write_continuous(out, &tick, &ctx, line).unwrap();
                }
                check_lines(args, out, machine);
            }
            _ => {
                let mut ui = nftop::keys::Ui::new(&c, opts.clone());
                ui.dev = c.dev;
                ui.hosts = c.by_host;
                let id = hv
                    .order
                    .first()
                    .map(|&k| (hv.rows[k as usize].who, hv.rows[k as usize].key));
                // Every size in the plain view, then the first size in
                // each further state.
                let steps = sizes.iter().map(|&s| (0, s));
                let steps = steps.chain((1..4).map(|k| (k, sizes[0])));
                for (step, (rows, cols)) in steps {
                    match step {
                        // The device filter in the header, the delete
                        // question on the bottom line.
                        1 => {
                            ui.filter.device = id;
                            ui.confirm_host = id;
                        }
                        // The detail pane of the first connection.
                        2 if !ui.dev && !ui.hosts => {
                            ui.sel.detail = true;
                            ui.sel.idx = Some(0);
                            ui.sel.conn = Some(table.conn(&table.flows()[0]));
                        }
                        3 => {
                            ui.confirm_host = None;
                            ui.confirm = Some(table.conn(&table.flows()[1]));
                        }
                        _ => {}
                    }
                    let s = &mut self.screen;
                    s.resize(rows, cols);
                    s.invalidate();
                    out.clear();
                    s.draw(out, &tick, &ctx, &ui).unwrap();
                    check_frame(args, out, s.cols);
                    // Written for a non-UTF-8 locale (one frame per view:
                    // the conversion is the same for all).
                    if step == 0 && rows == sizes[0].0 {
                        self.ascii.clear();
                        nftop::text::to_ascii(&mut self.ascii, out);
                        assert!(self.ascii.is_ascii());
                        check_frame(args, &self.ascii, s.cols);
                    }
                }
            }
        }
    }
}

fuzz_target!(
    init: {
        // The header's clock: libc reads the time zone once and keeps it,
        // which the first input would otherwise pay for as a suspected
        // leak (LeakSanitizer's scan).
        let _ = nftop::sys::localtime(0);
    },
    |data: &[u8]| {
    let [bits, pick, rest @ ..] = data else {
        return;
    };
    let mut f = rest.split(|&b| b == 0);
    let mut field = || f.next().unwrap_or(b"x");
    let ifs = [field(), field(), field()];
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (h1, h2, lease, svc) = (text(field()), text(field()), text(field()), text(field()));
    let hosts_text = format!("192.0.2.10 {h1}\n2001:db8:1::2 {h1}\n203.0.113.200 {h2}\n");
    let leases_text = format!(
        "0 02:00:00:00:00:0a 192.0.2.99 {lease} *\n0 02:00:00:00:00:0b 198.51.100.1 {lease} *\n"
    );
    let services_text = format!("{svc} 443/tcp\n{svc} 5202/udp\n");
    let mut w = World {
        names: Names::from_text(&hosts_text, leases_text.as_bytes(), &services_text),
        net: net(ifs),
        table: table(),
        view: View::new(64),
        hosts: nftop::hostview::Hosts::default(),
        screen: Screen::new(24, 80),
        out: Vec::with_capacity(64 * 1024),
        ascii: Vec::with_capacity(64 * 1024),
        line: Line::new(),
    };
    let utf8 = bits & 1 != 0;
    let mut opts: Vec<&str> = vec!["-t", "0"];
    for (bit, flag) in [(1, "-I"), (2, "-V"), (3, "-b"), (4, "-P"), (5, "-L")] {
        if bits >> bit & 1 != 0 {
            opts.push(flag);
        }
    }
    let sizes = [(24, 80), (6, 8 + (pick >> 4) as usize * 10)];
    let screen = [&[][..], &["-w"], &["-d"], &["-H"]][(pick & 3) as usize];
    w.render(&[screen, &opts].concat(), utf8, &sizes);
    let view = [&[][..], &["-d"], &["-H"], &["-w"]][(pick >> 2 & 3) as usize];
    for mode in ["-c", "-M", "--json"] {
        w.render(&[&[mode][..], view, &opts].concat(), utf8, &[]);
    }
});
