//! Interfaces and direction on multi-uplink routers (tests/mwan.sh), one
//! bed per way of sending traffic over the second uplink: the "simple"
//! pbr scheme with strict rp_filter, mwan3's scheme (with an outage), ECMP,
//! rules by port, and an L3 tunnel. Each with real traffic; every refresh
//! after the first is checked for in, out and the local side, the device
//! table against the links' own counters, and (traffic stopped) each
//! flow's bytes against nft counters on the same packets.

use crate::common::{json, netns_ok, nft_counters, Bed, Bg, J};
use std::time::Duration;

/// A paced writer: `bytes` per 0.1 s into `to` (a socat address), in
/// five pieces: a burst sitting in a shaper's queue while nftop samples
/// is counted by conntrack (before routing) but not yet by the link, so
/// bursts are kept small against a refresh's bytes.
fn pace(bytes: u32, to: &str) -> String {
    let piece = bytes / 5;
    format!(
        "sh -c 'while :; do head -c {piece} /dev/zero; sleep 0.02; done | socat -u -b 1400 - {to}'"
    )
}

/// Sinks in the inet namespace (UDP 5202/5203, IPv4 and IPv6) and in the
/// LAN host (TCP 8022, the port forward's target).
fn sinks(bed: &Bed) -> Vec<Bg> {
    let v = vec![
        bed.spawn("inet", "socat -u UDP4-RECV:5202 /dev/null"),
        bed.spawn("inet", "socat -u UDP6-RECV:5202,ipv6-v6only=1 /dev/null"),
        bed.spawn("inet", "socat -u UDP4-RECV:5203 /dev/null"),
        bed.spawn("inet", "socat -u UDP6-RECV:5203,ipv6-v6only=1 /dev/null"),
        bed.spawn(
            "cli",
            "socat -u TCP4-LISTEN:8022,reuseaddr,fork OPEN:/dev/null",
        ),
        bed.spawn(
            "cli",
            "socat -u TCP6-LISTEN:8022,ipv6-v6only=1,reuseaddr,fork OPEN:/dev/null",
        ),
    ];
    bed.wait_for("inet", "ss -lun | grep -q ':5203 '", 10);
    bed.wait_for("cli", "ss -ltn | grep -q '\\]:8022 '", 10);
    v
}

/// The LAN client's UDP uploads to port 5202, IPv4 and IPv6 (~4 Mbit/s
/// each; one way, so strict reverse-path filtering cannot break them).
fn uploads(bed: &Bed) -> Vec<Bg> {
    vec![
        bed.spawn("cli", &pace(50_000, "UDP4:203.0.113.200:5202")),
        bed.spawn("cli", &pace(50_000, "UDP6:[2001:db8:ff::200]:5202")),
    ]
}

/// One expected connection: how to find it, and its in, out, local side.
struct Expect {
    what: &'static str,
    find: fn(&J) -> bool,
    io: (&'static str, &'static str),
    local: &'static str,
}

fn udp(c: &J, fam: &str, port: f64) -> bool {
    c.get("proto").str() == "udp" && c.get("family").str() == fam && c.get("dport").num() == port
}

fn tcp(c: &J, fam: &str, port: f64) -> bool {
    c.get("proto").str() == "tcp" && c.get("family").str() == fam && c.get("dport").num() == port
}

fn flags(c: &J) -> Vec<String> {
    c.get("flags")
        .arr()
        .iter()
        .map(|f| f.str().to_string())
        .collect()
}

/// The busiest connection matching `find`.
fn pick<'a>(cs: &'a [J], what: &str, find: fn(&J) -> bool) -> &'a J {
    cs.iter()
        .filter(|c| find(c))
        .max_by(|a, b| {
            let k = |c: &J| c.get("tx_bytes").num() + c.get("rx_bytes").num();
            k(a).partial_cmp(&k(b)).unwrap()
        })
        .unwrap_or_else(|| panic!("no {what} among {cs:#?}"))
}

/// One refresh of `--json`: its conns, devs and tick.
struct Refresh {
    conns: Vec<J>,
    devs: Vec<J>,
    tick: J,
}

fn refreshes(out: &str) -> Vec<Refresh> {
    let mut v = Vec::new();
    let (mut conns, mut devs) = (Vec::new(), Vec::new());
    for l in out.lines() {
        let j = json(l);
        match j.get("type").str() {
            "conn" => conns.push(j),
            "dev" => devs.push(j),
            "tick" => v.push(Refresh {
                conns: std::mem::take(&mut conns),
                devs: std::mem::take(&mut devs),
                tick: j,
            }),
            _ => {}
        }
    }
    v
}

fn warnings(t: &J) -> Vec<String> {
    t.get("warnings")
        .arr()
        .iter()
        .map(|w| format!("{}: {}", w.get("code").str(), w.get("msg").str()))
        .collect()
}

/// Runs nftop for `n` refreshes of 1 s and checks every one after the
/// first: each expected connection's in/out/local, no `no_route`, no
/// attribution warning, and for each (device, direction) in `devs` that
/// carries over 1 Mbit/s, conntrack's rate within 5 % of the link's own
/// counters read in the same refresh.
fn check_live(bed: &Bed, n: usize, expect: &[Expect], devs: &[(&str, &str)]) -> Vec<Refresh> {
    let out = bed.nftop_output(&["--json", "-u", "1", "--count", &n.to_string(), "-t", "0"]);
    let rs = refreshes(&out);
    assert_eq!(rs.len(), n);
    for r in &rs[1..] {
        let seq = r.tick.get("seq").num();
        for e in expect {
            let c = pick(&r.conns, e.what, e.find);
            let got = (c.get("in").str(), c.get("out").str());
            assert_eq!(got, e.io, "refresh {seq}: {}: {c:?}", e.what);
            assert_eq!(
                c.get("local").str(),
                e.local,
                "refresh {seq}: {}: {c:?}",
                e.what
            );
            assert!(!flags(c).contains(&"no_route".into()), "{}: {c:?}", e.what);
        }
        let w = warnings(&r.tick);
        assert!(
            !w.iter().any(|w| w.starts_with("attribution_mismatch")),
            "refresh {seq}: {w:?}"
        );
        for (d, dir) in devs {
            let row = r
                .devs
                .iter()
                .find(|x| x.get("dev").str() == *d)
                .unwrap_or_else(|| panic!("no dev {d}"));
            let ours = row.get(&format!("{dir}_bps")).num();
            let link = row.get(&format!("link_{dir}_bps")).num();
            eprintln!("refresh {seq}: {d} {dir}: conntrack {ours:.0} link {link:.0}");
            assert!(link > 1e6, "{d} {dir} carries test traffic: {link}");
            assert!(
                (ours - link).abs() / link < 0.05,
                "refresh {seq}: {d} {dir}: conntrack {ours} vs link {link}"
            );
        }
    }
    rs
}

/// With the traffic stopped: each expected flow's tx and rx bytes against
/// nft counters on the same packets (within 3 %): (what, tx counter, rx
/// counter); an empty counter name means 0 bytes.
fn check_bytes(bed: &Bed, expect: &[Expect], counters: &[(&str, &str, &str)]) {
    std::thread::sleep(Duration::from_millis(700));
    let out = bed.nftop_output(&["--json", "--count", "1", "-t", "0"]);
    let ctr = nft_counters(bed);
    let get = |name: &str| -> f64 {
        if name.is_empty() {
            return 0.0;
        }
        ctr.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no counter {name}"))
            .1 as f64
    };
    let rs = refreshes(&out);
    for (what, tx, rx) in counters {
        let e = expect.iter().find(|e| e.what == *what).unwrap();
        let c = pick(&rs[0].conns, what, e.find);
        for (dir, name) in [("tx", tx), ("rx", rx)] {
            let ours = c.get(&format!("{dir}_bytes")).num();
            let reference = get(name);
            eprintln!("{what} {dir}: nftop {ours} nft {reference}");
            // Acknowledgements are a few KB: there a packet or two of
            // slack, elsewhere 3 %.
            let slack = (reference * 0.03).max(1500.0);
            assert!(
                (ours - reference).abs() <= slack,
                "{what} {dir}: nftop {ours} vs nft {reference}"
            );
        }
    }
}

const UP4: Expect = Expect {
    what: "IPv4 upload",
    find: |c| udp(c, "ipv4", 5202.0),
    io: ("lan0", "wan1"),
    local: "src",
};
const UP6: Expect = Expect {
    what: "IPv6 upload",
    find: |c| udp(c, "ipv6", 5202.0),
    io: ("lan0", "wan1"),
    local: "src",
};

#[test]
fn simple_pbr_scheme_with_strict_rp_filter() {
    if !netns_ok("simple_pbr_scheme_with_strict_rp_filter") {
        return;
    }
    let bed = Bed::up_mwan("simple");
    assert_eq!(
        bed.sh("rtr", "sysctl -n net.ipv4.conf.all.rp_filter")
            .trim(),
        "1"
    );
    let _s = sinks(&bed);
    let mut t = uploads(&bed);
    // The ISP's host on uplink 1's own subnet uses the port forward, and
    // over IPv6 reaches the LAN host directly.
    t.push(bed.spawn(
        "inet",
        &pace(25_000, "TCP4:198.51.100.1:2222,bind=198.51.100.2"),
    ));
    t.push(bed.spawn(
        "inet",
        &pace(25_000, "TCP6:[2001:db8:1::2]:8022,bind=[2001:db8:2::2]"),
    ));
    let expect = [
        UP4,
        UP6,
        Expect {
            what: "port forward from the uplink's subnet",
            find: |c| tcp(c, "ipv4", 2222.0),
            io: ("wan0", "lan0"),
            local: "dst",
        },
        Expect {
            what: "IPv6 inbound from the uplink's subnet",
            find: |c| tcp(c, "ipv6", 8022.0),
            io: ("wan0", "lan0"),
            local: "dst",
        },
    ];
    std::thread::sleep(Duration::from_millis(1500));
    check_live(
        &bed,
        4,
        &expect,
        &[("wan1", "tx"), ("lan0", "rx"), ("wan0", "rx")],
    );
    drop(t);
    check_bytes(
        &bed,
        &expect,
        &[
            ("IPv4 upload", "up4", ""),
            ("IPv6 upload", "up6", ""),
            ("port forward from the uplink's subnet", "pf_out", "pf_in"),
            ("IPv6 inbound from the uplink's subnet", "pf6_out", "pf6_in"),
        ],
    );
}

const PF4_WAN1: Expect = Expect {
    what: "IPv4 port forward on uplink 2",
    find: |c| tcp(c, "ipv4", 2222.0),
    io: ("wan1", "lan0"),
    local: "dst",
};
const PF6_WAN1: Expect = Expect {
    what: "IPv6 inbound on uplink 2",
    find: |c| tcp(c, "ipv6", 8022.0),
    io: ("wan1", "lan0"),
    local: "dst",
};

#[test]
fn mwan3_scheme_and_an_outage_of_the_second_uplink() {
    if !netns_ok("mwan3_scheme_and_an_outage_of_the_second_uplink") {
        return;
    }
    let bed = Bed::up_mwan("mwan3");
    let _s = sinks(&bed);
    let traffic = || {
        let mut t = uploads(&bed);
        t.push(bed.spawn(
            "inet",
            &pace(25_000, "TCP4:203.0.113.1:2222,bind=203.0.113.200"),
        ));
        t.push(bed.spawn(
            "inet",
            &pace(25_000, "TCP6:[2001:db8:1::2]:8022,bind=[2001:db8:ff::200]"),
        ));
        // The router's own traffic that the policy sends out of uplink 2.
        t.push(bed.spawn("rtr", &pace(25_000, "UDP4:203.0.113.200:5203")));
        t.push(bed.spawn("rtr", &pace(25_000, "UDP6:[2001:db8:ff::200]:5203")));
        t
    };
    let t = traffic();
    let own = Expect {
        what: "the router's own upload",
        find: |c| udp(c, "ipv4", 5203.0),
        io: ("local", "wan1"),
        local: "src",
    };
    let own6 = Expect {
        what: "the router's own IPv6 upload",
        find: |c| udp(c, "ipv6", 5203.0),
        ..own
    };
    let expect = [UP4, UP6, PF4_WAN1, PF6_WAN1, own, own6];
    std::thread::sleep(Duration::from_millis(1500));
    let rs = check_live(
        &bed,
        4,
        &expect,
        &[
            ("wan1", "tx"),
            ("wan1", "rx"),
            ("lan0", "rx"),
            ("lan0", "tx"),
        ],
    );
    let marked = pick(&rs[3].conns, "upload", UP4.find);
    assert_eq!(marked.get("mark").num(), 512.0, "mwan3 marked it 0x200");
    drop(t);
    check_bytes(
        &bed,
        &expect,
        &[
            ("IPv4 upload", "up4", ""),
            ("IPv4 port forward on uplink 2", "pf_out", "pf_in"),
            ("IPv6 inbound on uplink 2", "pf6_out", "pf6_in"),
            ("the router's own upload", "own_up", ""),
            ("the router's own IPv6 upload", "own6_up", ""),
        ],
    );
    let t = traffic();
    std::thread::sleep(Duration::from_millis(1500));

    // Uplink 2 drops, watched by a running nftop: inbound connections keep
    // it as their ingress; the IPv6 upload (routed, so its entry survives
    // the masquerade flush) has no route. (An nftop started during the
    // outage cannot know where they came in: docs/interfaces.md.)
    let mut n = bed.nftop(&["--json", "-u", "0.5", "-t", "0"]);
    let next = |n: &mut crate::common::Nftop| -> Vec<J> {
        let mut cs = Vec::new();
        while let Some(l) = n.line() {
            let j = json(&l);
            match j.get("type").str() {
                "conn" => cs.push(j),
                "tick" => return cs,
                _ => {}
            }
        }
        panic!("nftop ended");
    };
    next(&mut n);
    let cs = next(&mut n);
    assert_eq!(pick(&cs, "pf6", PF6_WAN1.find).get("in").str(), "wan1");
    bed.script("wan1-down");
    let down = |cs: &[J]| {
        let up6 = pick(cs, "IPv6 upload", UP6.find);
        *up6.get("out") == J::Null && flags(up6).contains(&"no_route".into())
    };
    let mut cs = next(&mut n);
    for _ in 0..2 {
        if down(&cs) {
            break;
        }
        cs = next(&mut n);
    }
    assert!(down(&cs), "no route out of the dropped uplink: {cs:#?}");
    for _ in 0..2 {
        for e in [&PF4_WAN1, &PF6_WAN1] {
            let c = pick(&cs, e.what, e.find);
            assert_eq!(c.get("in").str(), "wan1", "{}: {c:?}", e.what);
        }
        assert_eq!(pick(&cs, "IPv6 upload", UP6.find).get("in").str(), "lan0");
        cs = next(&mut n);
    }

    // It returns (mwan3 restores its routes): re-attributed in one refresh.
    bed.script("wan1-up");
    let mut ok = false;
    for _ in 0..3 {
        let cs = next(&mut n);
        let c = pick(&cs, "IPv6 upload", UP6.find);
        if c.get("out").str() == "wan1" && !flags(c).contains(&"no_route".into()) {
            ok = true;
            break;
        }
    }
    assert!(ok, "the IPv6 upload leaves through wan1 again");
    drop(n);
    drop(t);
}

#[test]
fn ecmp_each_connection_leaves_where_it_really_does() {
    if !netns_ok("ecmp_each_connection_leaves_where_it_really_does") {
        return;
    }
    let bed = Bed::up_mwan("ecmp");
    // Per connection, a counter for each uplink it could leave through.
    let ports: Vec<u16> = (40001..=40012).collect();
    let mut nft = String::from("table inet nftop_test {\n");
    for p in &ports {
        nft += &format!("counter e0_{p} {{}}\ncounter e1_{p} {{}}\n");
    }
    nft += "chain count_ecmp {\ntype filter hook forward priority 0; policy accept;\n";
    for p in &ports {
        nft += &format!("oifname \"wan0\" tcp sport {p} counter name \"e0_{p}\"\n");
        nft += &format!("oifname \"wan1\" tcp sport {p} counter name \"e1_{p}\"\n");
    }
    nft += "}\n}\n";
    bed.sh("rtr", &format!("nft -f - <<'EOF'\n{nft}EOF"));
    let _sink = bed.spawn(
        "inet",
        "socat -u TCP6-LISTEN:5300,ipv6-v6only=0,reuseaddr,fork OPEN:/dev/null",
    );
    bed.wait_for("inet", "ss -ltn | grep -q ':5300 '", 10);
    let mut t: Vec<Bg> = ports
        .iter()
        .map(|p| {
            bed.spawn(
                "cli",
                &pace(25_000, &format!("TCP4:203.0.113.200:5300,sourceport={p}")),
            )
        })
        .collect();
    // A routed IPv6 connection: nothing records which nexthop it took, so
    // no uplink's row counts it (kept small: the links do carry it).
    t.push(bed.spawn("cli", &pace(300, "TCP6:[2001:db8:ff::200]:5300")));
    std::thread::sleep(Duration::from_millis(2000));
    let v6 = Expect {
        what: "IPv6 over the multipath route",
        find: |c| tcp(c, "ipv6", 5300.0),
        io: ("lan0", "wan0|wan1"),
        local: "src",
    };
    let rs = check_live(&bed, 4, &[v6], &[("wan0", "tx"), ("wan1", "tx")]);
    let c = pick(&rs[3].conns, "v6", |c| tcp(c, "ipv6", 5300.0));
    assert!(flags(c).contains(&"multipath".into()), "{c:?}");
    // Every IPv4 connection, every refresh: out is one uplink.
    for r in &rs[1..] {
        for p in &ports {
            let mine: Vec<&J> = r
                .conns
                .iter()
                .filter(|c| tcp(c, "ipv4", 5300.0) && c.get("sport").num() == *p as f64)
                .collect();
            assert_eq!(mine.len(), 1, "connection from port {p}");
            let io = (mine[0].get("in").str(), mine[0].get("out").str());
            assert!(
                io == ("lan0", "wan0") || io == ("lan0", "wan1"),
                "{p}: {io:?}"
            );
        }
    }
    drop(t);
    std::thread::sleep(Duration::from_millis(700));
    let out = bed.nftop_output(&["--json", "--count", "1", "-t", "0"]);
    let ctr = nft_counters(&bed);
    let rs = refreshes(&out);
    let mut used = [0, 0];
    for p in &ports {
        let c = rs[0]
            .conns
            .iter()
            .find(|c| tcp(c, "ipv4", 5300.0) && c.get("sport").num() == *p as f64)
            .unwrap();
        let b = |w: u8| {
            ctr.iter()
                .find(|(n, _)| *n == format!("e{w}_{p}"))
                .unwrap()
                .1 as f64
        };
        let (b0, b1) = (b(0), b(1));
        assert!(
            b0 == 0.0 || b1 == 0.0,
            "{p}: one nexthop per connection ({b0}, {b1})"
        );
        let real = if b0 > 0.0 { "wan0" } else { "wan1" };
        used[usize::from(b1 > 0.0)] += 1;
        assert_eq!(c.get("out").str(), real, "port {p}: {c:?}");
        let tx = c.get("tx_bytes").num();
        let reference = b0 + b1;
        assert!(
            (tx - reference).abs() / reference < 0.03,
            "port {p}: nftop {tx} vs nft {reference}"
        );
    }
    assert!(
        used[0] > 0 && used[1] > 0,
        "both nexthops carried connections: {used:?}"
    );
}

#[test]
fn rules_by_port_and_the_mismatch_warning() {
    if !netns_ok("rules_by_port_and_the_mismatch_warning") {
        return;
    }
    let bed = Bed::up_mwan("ports");
    let _s = sinks(&bed);
    let t = uploads(&bed);
    std::thread::sleep(Duration::from_millis(1500));
    check_live(&bed, 4, &[UP4, UP6], &[("wan1", "tx"), ("lan0", "rx")]);
    // Asymmetric routing conntrack cannot see: a host of uplink 1's subnet
    // reaches the router through uplink 2. nftop puts it on wan0 (where
    // that subnet is), whose link never carried it: the self-check says so.
    let _svc = bed.spawn(
        "rtr",
        "socat -u TCP4-LISTEN:8081,reuseaddr,fork OPEN:/dev/null",
    );
    bed.wait_for("rtr", "ss -ltn | grep -q ':8081 '", 10);
    let _asym = bed.spawn(
        "inet",
        &pace(40_000, "TCP4:203.0.113.1:8081,bind=198.51.100.2"),
    );
    let out = bed.nftop_output(&["--json", "-u", "1", "--count", "6", "-t", "0"]);
    let rs = refreshes(&out);
    let w = warnings(&rs[5].tick);
    assert!(
        w.iter().any(|w| w.starts_with("attribution_mismatch")
            && w.contains("rx")
            && w.contains("on wan0")),
        "{w:?}"
    );
    drop(t);
    check_bytes(
        &bed,
        &[UP4, UP6],
        &[("IPv4 upload", "up4", ""), ("IPv6 upload", "up6", "")],
    );
}

#[test]
fn an_l3_tunnel_as_the_second_uplink() {
    if !netns_ok("an_l3_tunnel_as_the_second_uplink") {
        return;
    }
    let bed = Bed::up_mwan("tunnel");
    let _s = sinks(&bed);
    let t = uploads(&bed);
    std::thread::sleep(Duration::from_millis(1500));
    let through = |e: Expect| Expect {
        io: ("lan0", "tun0"),
        ..e
    };
    let expect = [through(UP4), through(UP6)];
    check_live(&bed, 4, &expect, &[("tun0", "tx"), ("lan0", "rx")]);
    drop(t);
    check_bytes(
        &bed,
        &expect,
        &[("IPv4 upload", "up4", ""), ("IPv6 upload", "up6", "")],
    );
}

/// More links than the old fixed table held (256): the ones created last
/// (a returning uplink gets the highest ifindex) still have their names.
#[test]
fn six_hundred_links() {
    if !netns_ok("six_hundred_links") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    bed.sh(
        "rtr",
        "i=0; while [ $i -lt 300 ]; do echo \"link add v$i type veth peer name w$i\"; i=$((i+1)); done | ip -batch -",
    );
    assert!(
        bed.sh("rtr", "ip -o link | wc -l")
            .trim()
            .parse::<u32>()
            .unwrap()
            > 600
    );
    bed.script("uplink-del");
    bed.script("uplink-add");
    let _sink = bed.spawn("inet", "iperf3 -s -p 5201 -B 203.0.113.200");
    bed.wait_for("inet", "ss -ltn | grep -q ':5201 '", 10);
    let _c = bed.spawn("cli", "iperf3 -c 203.0.113.200 -p 5201 -b 4M -l 2K -t 60");
    std::thread::sleep(Duration::from_millis(1500));
    let out = bed.nftop_output(&["--json", "-u", "1", "--count", "3", "-t", "0"]);
    let r = &refreshes(&out)[2];
    assert!(r.devs.len() > 600, "{} device rows", r.devs.len());
    let up = pick(&r.conns, "upload", |c| tcp(c, "ipv4", 5201.0));
    assert_eq!((up.get("in").str(), up.get("out").str()), ("lan0", "wan0"));
    let wan0 = r
        .devs
        .iter()
        .find(|d| d.get("dev").str() == "wan0")
        .unwrap();
    assert!(wan0.get("tx_bps").num() > 1e6, "{wan0:?}");
    let w = warnings(&r.tick);
    assert!(!w.iter().any(|w| w.starts_with("links_dropped")), "{w:?}");
}
