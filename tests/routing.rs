//! Interface attribution on the real kernel: two uplinks, IPv4 masquerade
//! on both, routed IPv6, a policy rule by conntrack mark, a port forward,
//! a service on the router, and an uplink that vanishes and returns.

use crate::common::{json, netns_ok, Bed, Bg, J};
use std::process::Command;
use std::time::Duration;

/// Every connection kind of the bed, with traffic.
fn traffic(bed: &Bed) -> Vec<Bg> {
    let mut bg = Vec::new();
    for (port, addr) in [
        (5201, "203.0.113.200"),
        (5202, "203.0.113.200"),
        (5203, "2001:db8:ff::200"),
    ] {
        bg.push(bed.spawn("inet", &format!("iperf3 -s -p {port} -B {addr}")));
    }
    bg.push(bed.spawn(
        "cli",
        "socat -u TCP-LISTEN:8022,reuseaddr,fork OPEN:/dev/null",
    ));
    bg.push(bed.spawn(
        "rtr",
        "socat -u TCP-LISTEN:8080,reuseaddr,fork OPEN:/dev/null",
    ));
    bg.push(bed.spawn(
        "rtr",
        "socat -u TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr,fork OPEN:/dev/null",
    ));
    bed.wait_for("inet", "ss -ltn | grep -q ':5203 '", 10);
    bed.wait_for("cli", "ss -ltn | grep -q ':8022 '", 10);
    bed.wait_for("rtr", "ss -ltn | grep -q ':9000 '", 10);
    // Uplink 1, masqueraded; uplink 2 by ct mark 2 (tcp 5202); IPv6 routed
    // download; a port forward and a router service, each paced.
    bg.push(bed.spawn("cli", "iperf3 -c 203.0.113.200 -p 5201 -b 6M -l 2K -t 60"));
    bg.push(bed.spawn("cli", "iperf3 -c 203.0.113.200 -p 5202 -b 3M -l 2K -t 60"));
    bg.push(bed.spawn(
        "cli",
        "iperf3 -6 -c 2001:db8:ff::200 -p 5203 -b 4M -l 2K -R -t 60",
    ));
    let pace = |to: &str| {
        format!("sh -c 'while :; do head -c 5000 /dev/zero; sleep 0.1; done | socat -u - {to}'")
    };
    bg.push(bed.spawn("inet", &pace("TCP:198.51.100.1:2222")));
    bg.push(bed.spawn("cli", &pace("TCP:192.0.2.1:8080")));
    bg.push(bed.spawn("rtr", &pace("TCP:127.0.0.1:9000")));
    bg.push(bed.spawn("rtr", "ping -q -i 0.2 203.0.113.200"));
    std::thread::sleep(Duration::from_millis(1500));
    bg
}

fn conns(out: &str, seq: u64) -> Vec<J> {
    out.lines()
        .map(json)
        .filter(|v| v.get("type").str() == "conn" && v.get("seq").num() as u64 == seq)
        .collect()
}

fn find<'a>(cs: &'a [J], what: &str, pred: impl Fn(&J) -> bool) -> &'a J {
    cs.iter()
        .filter(|c| pred(c))
        .max_by(|a, b| {
            a.get("sum_bps")
                .num()
                .partial_cmp(&b.get("sum_bps").num())
                .unwrap()
        })
        .unwrap_or_else(|| panic!("no {what} among {cs:#?}"))
}

fn io(c: &J) -> (String, String) {
    (
        c.get("in").str().to_string(),
        c.get("out").str().to_string(),
    )
}

/// tx_bytes and rx_bytes of each device, read by one process.
fn sysfs_all(bed: &Bed, devs: &[&str]) -> Vec<u64> {
    let files: Vec<String> = devs
        .iter()
        .flat_map(|d| {
            [
                format!("/sys/class/net/{d}/statistics/tx_bytes"),
                format!("/sys/class/net/{d}/statistics/rx_bytes"),
            ]
        })
        .collect();
    bed.sh("rtr", &format!("cat {}", files.join(" ")))
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

#[test]
fn attribution_of_every_connection_kind_and_the_device_table() {
    if !netns_ok("attribution_of_every_connection_kind_and_the_device_table") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    let _t = traffic(&bed);
    let out = bed.nftop_output(&["--json", "-u", "1", "--count", "4", "-t", "0", "-L"]);
    let cs = conns(&out, 4);
    let up = find(&cs, "uplink 1 flow", |c| c.get("dport").num() == 5201.0);
    assert_eq!(io(up), ("lan0".into(), "wan0".into()));
    assert_eq!(up.get("nat_src").str(), "198.51.100.1");
    let marked = find(&cs, "marked flow", |c| c.get("dport").num() == 5202.0);
    assert_eq!(
        io(marked),
        ("lan0".into(), "wan1".into()),
        "ct mark 2 -> rule -> table 102"
    );
    assert_eq!(marked.get("mark").num(), 2.0);
    assert_eq!(marked.get("nat_src").str(), "203.0.113.1");
    let v6 = find(&cs, "IPv6 flow", |c| c.get("dport").num() == 5203.0);
    assert_eq!(io(v6), ("lan0".into(), "wan0".into()));
    let pf = find(&cs, "port forward", |c| c.get("dport").num() == 2222.0);
    assert_eq!(
        io(pf),
        ("wan0".into(), "lan0".into()),
        "a port forward's egress is toward the inside host"
    );
    assert_eq!(pf.get("nat_dst").str(), "192.0.2.2");
    assert_eq!(pf.get("nat_dport").num(), 8022.0);
    assert_eq!(pf.get("local").str(), "dst");
    let svc = find(&cs, "router service", |c| c.get("dport").num() == 8080.0);
    assert_eq!(io(svc), ("lan0".into(), "local".into()));
    let own = find(&cs, "router's own ping", |c| {
        c.get("proto").str() == "icmp" && c.get("src").str() == "198.51.100.1"
    });
    assert_eq!(io(own), ("local".into(), "wan0".into()));
    let lo = find(&cs, "loopback connection", |c| {
        c.get("dport").num() == 9000.0
    });
    assert_eq!(io(lo), ("local".into(), "lo".into()));
    for c in &cs {
        assert!(
            !c.get("flags").arr().iter().any(|f| f.str() == "no_route"),
            "{c:?}"
        );
    }
    // Without -L the loopback connection is hidden (by the link's flag).
    let out = bed.nftop_output(&["--json", "-u", "0.5", "--count", "2", "-t", "0"]);
    assert!(!conns(&out, 2)
        .iter()
        .any(|c| c.get("dport").num() == 9000.0));

    // Device table against the link counters and the traffic sent, over
    // the same windows: read sysfs when each tick arrives.
    // 2 s windows: under CPU load (tests run in parallel) one paced burst
    // on either side of a sampling instant is a few % of a 1 s window.
    let mut n = bed.nftop(&["--json", "-u", "2", "--count", "5"]);
    let mut devs: Vec<J> = Vec::new();
    let mut prev: Option<(f64, Vec<u64>)> = None;
    let names = ["wan0", "wan1", "lan0"];
    let mut checked = 0;
    while let Some(line) = n.line() {
        let v = json(&line);
        match v.get("type").str() {
            "dev" => devs.push(v),
            "tick" => {
                // All six counters in one read, timed at its midpoint.
                let before = now_s();
                let ctr = sysfs_all(&bed, &names);
                let r = (before + now_s()) / 2.0;
                if let Some((pr, pc)) = &prev {
                    if v.get("seq").num() >= 3.0 {
                        let dt = r - pr;
                        let dev = |name: &str| {
                            devs.iter()
                                .find(|d| d.get("dev").str() == name)
                                .unwrap()
                                .clone()
                        };
                        // (device, direction, counter index, floor bits/s)
                        for (d, dir, k) in [
                            ("wan0", "tx", 0),
                            ("wan0", "rx", 1),
                            ("wan1", "tx", 2),
                            ("lan0", "rx", 5),
                            ("lan0", "tx", 4),
                        ] {
                            let link = (ctr[k] - pc[k]) as f64 * 8.0 / dt;
                            let ours = dev(d).get(&format!("{dir}_bps")).num();
                            let reported = dev(d).get(&format!("link_{dir}_bps")).num();
                            let err = (ours - link).abs() / link;
                            eprintln!("{d} {dir}: nftop {ours:.0} link counters {link:.0} (nftop's link column {reported:.0}) error {:.2} %", err * 100.0);
                            assert!(link > 2_000_000.0, "{d} {dir} carries test traffic");
                            assert!(err < 0.05, "{d} {dir}: {ours} vs link {link}");
                            assert!(
                                (reported - link).abs() / link < 0.05,
                                "link column {reported} vs sysfs {link}"
                            );
                        }
                        // Against what was sent: 6M + 3M of iperf3 upload and
                        // 0.4M to the router service enter through lan0
                        // (payload rates; TCP/IP headers add about 3 %).
                        let up = dev("lan0").get("rx_bps").num();
                        let sent = 9.4e6 * 1.03;
                        assert!(
                            (up - sent).abs() / sent < 0.05,
                            "lan0 rx {up} vs sent {sent}"
                        );
                        checked += 1;
                    }
                }
                prev = Some((r, ctr));
                devs.clear();
            }
            _ => {}
        }
    }
    assert_eq!(checked, 3);
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Reads refreshes from a running nftop until `pred` holds for one, and
/// returns how many refreshes that took.
fn until(
    n: &mut crate::common::Nftop,
    what: &str,
    max: usize,
    pred: impl Fn(&[J]) -> bool,
) -> usize {
    let mut cs = Vec::new();
    let mut ticks = 0;
    while let Some(line) = n.line() {
        let v = json(&line);
        if v.get("type").str() == "conn" {
            cs.push(v);
        } else if v.get("type").str() == "tick" {
            ticks += 1;
            if pred(&cs) {
                return ticks;
            }
            assert!(
                ticks < max,
                "{what}: not within {max} refreshes; last: {cs:#?}"
            );
            cs.clear();
        }
    }
    panic!("nftop ended while waiting for {what}");
}

#[test]
fn uplink_vanishes_returns_and_rules_change() {
    if !netns_ok("uplink_vanishes_returns_and_rules_change") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    let _t = traffic(&bed);
    let mut n = bed.nftop(&["--json", "-u", "0.5", "-t", "0"]);
    let port = |c: &J, p: f64| c.get("dport").num() == p;
    let out_of = |cs: &[J], p: f64| -> Vec<(String, bool)> {
        cs.iter()
            .filter(|c| port(c, p) && c.get("sum_bps").num() > 100_000.0)
            .map(|c| {
                (
                    c.get("out").str().to_string(),
                    c.get("flags").arr().iter().any(|f| f.str() == "no_route"),
                )
            })
            .collect()
    };
    until(&mut n, "steady state", 10, |cs| {
        out_of(cs, 5203.0).contains(&("wan0".into(), false))
    });

    // Uplink 1 goes away.
    let s = std::process::Command::new("sh")
        .arg(crate::common::root().join("tests/bed.sh"))
        .args(["uplink-del", &bed.p])
        .status()
        .unwrap();
    assert!(s.success());
    until(&mut n, "no_route on the IPv6 flow", 4, |cs| {
        cs.iter().any(|c| {
            port(c, 5203.0)
                && c.get("flags").arr().iter().any(|f| f.str() == "no_route")
                && *c.get("out") == J::Null
        }) && out_of(cs, 5202.0).contains(&("wan1".into(), false))
            && !cs.iter().any(|c| c.get("out").str() == "wan0")
            // The port forward came in through wan0; the link is gone, its
            // name stays with the connection.
            && cs.iter().any(|c| port(c, 2222.0) && c.get("in").str() == "wan0")
    });

    // It comes back with a new ifindex and the same name.
    let s = std::process::Command::new("sh")
        .arg(crate::common::root().join("tests/bed.sh"))
        .args(["uplink-add", &bed.p])
        .status()
        .unwrap();
    assert!(s.success());
    let took = until(&mut n, "recovery", 6, |cs| {
        cs.iter().any(|c| {
            port(c, 5203.0)
                && c.get("out").str() == "wan0"
                && !c.get("flags").arr().iter().any(|f| f.str() == "no_route")
        })
    });
    assert!(
        took <= 2,
        "re-attributed within two refreshes (took {took})"
    );

    // A policy rule appears: the LAN host's IPv6 traffic leaves through
    // uplink 2 (no NAT, so the connection lives on; its ACKs now go out
    // wan1). Rules that select on the source also put the source into the
    // lookup cache key.
    bed.sh(
        "rtr",
        "ip -6 route add default via 2001:db8:3::2 dev wan1 table 106 && ip -6 rule add from 2001:db8:1::2 lookup 106 priority 90",
    );
    let took = until(&mut n, "re-attribution after the rule change", 6, |cs| {
        cs.iter()
            .any(|c| port(c, 5203.0) && c.get("out").str() == "wan1")
            && !cs
                .iter()
                .any(|c| port(c, 5203.0) && c.get("out").str() == "wan0")
    });
    assert!(
        took <= 2,
        "re-attributed within two refreshes (took {took})"
    );
}

#[test]
fn in_and_out_filters() {
    if !netns_ok("in_and_out_filters") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    let _t = traffic(&bed);
    let run = |args: &[&str]| -> Vec<J> {
        let mut a = vec!["--json", "-u", "0.5", "--count", "2", "-t", "0", "-L"];
        a.extend_from_slice(args);
        conns(&bed.nftop_output(&a), 2)
    };
    let ports = |cs: &[J]| -> Vec<u32> {
        let mut p: Vec<u32> = cs.iter().map(|c| c.get("dport").num() as u32).collect();
        p.sort();
        p.dedup();
        p
    };
    let cs = run(&["-o", "wan1"]);
    assert!(
        !cs.is_empty() && cs.iter().all(|c| c.get("out").str() == "wan1"),
        "{cs:?}"
    );
    assert_eq!(ports(&cs), vec![5202]);
    let cs = run(&["-o", "wan+"]);
    assert!(cs.iter().all(|c| c.get("out").str().starts_with("wan")));
    for p in [5201, 5202, 5203] {
        assert!(ports(&cs).contains(&p), "{p} in {:?}", ports(&cs));
    }
    let cs = run(&["-i", "wan0"]);
    assert!(!cs.is_empty() && cs.iter().all(|c| c.get("in").str() == "wan0"));
    assert!(
        ports(&cs).contains(&2222),
        "the port forward enters on wan0"
    );
    let cs = run(&["-i", "lan0", "-o", "local"]);
    assert_eq!(ports(&cs), vec![8080], "both filters must match");
    let cs = run(&["-i", "local", "-o", "lo"]);
    assert_eq!(ports(&cs), vec![9000]);
    let cs = run(&["-i", "nosuch0"]);
    assert!(cs.is_empty());
    // -d with -c and -M: one line per interface instead of connections.
    let c = bed.nftop_output(&["-c", "-d", "-u", "0.5", "--count", "2"]);
    let last: Vec<&str> = c
        .trim_end()
        .rsplit("\n\n")
        .next()
        .unwrap()
        .lines()
        .collect();
    for dev in ["lan0", "wan0", "wan1", "local"] {
        assert!(last.iter().any(|l| l.starts_with(dev)), "{dev} in {c}");
    }
    let m = bed.nftop_output(&["-M", "-d", "-u", "0.5", "--count", "2"]);
    let wan0 = m
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(1) == Some("wan0"))
        .expect("wan0 line");
    let f: Vec<&str> = wan0.split(' ').collect();
    assert_eq!(
        f.len(),
        9,
        "time dev tx rx sum conns link_tx link_rx blind: {wan0}"
    );
    assert!(
        f[2].parse::<u64>().unwrap() > 1_000_000,
        "raw tx bits/s: {wan0}"
    );
    // --wan overrides the uplink rule: with lan0 as "uplink", LAN clients
    // count as remote, so their uploads become rx.
    let cs = run(&["-o", "wan0", "-4", "--wan", "lan0"]);
    let up = find(&cs, "uplink 1 flow", |c| c.get("dport").num() == 5201.0);
    assert_eq!(up.get("local").str(), "dst");
    assert!(up.get("rx_bps").num() > up.get("tx_bps").num());
}

/// The kernel is asked once per route class (route/classes.rs), not once
/// per address: 3000 connections to 3000 distinct IPv6 hosts under one
/// default route take a handful of lookups; a more specific route added
/// for one of them splits off its class and sends that one elsewhere.
#[test]
fn lookups_grow_with_routes_not_addresses() {
    if !netns_ok("lookups_grow_with_routes_not_addresses") {
        return;
    }
    let gone = crate::common::Netns::add("ntcls");
    let name = gone.0.clone();
    let setup = "ip link set lo up && ip link add d0 type veth peer name d0p && ip link add d1 type veth peer name d1p \
        && for l in d0 d0p d1 d1p; do ip link set $l up; done \
        && ip -6 addr add 2001:db8:1::fe/64 dev d0 nodad && ip -6 addr add 2001:db8:2::fe/64 dev d1 nodad \
        && ip -6 route add default via 2001:db8:2::1 dev d1 && sysctl -qw net.ipv6.conf.all.forwarding=1";
    let ok = Command::new("ip")
        .args(["netns", "exec", &name, "sh", "-c", setup])
        .status()
        .unwrap();
    assert!(ok.success());
    let ns = name.clone();
    let (first, after, outs) = std::thread::spawn(move || {
        crate::common::enter(&ns);
        let v6 = |net: u16, host: u16| {
            let mut a = [0u8; 16];
            a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            a[4..6].copy_from_slice(&net.to_be_bytes());
            a[14..16].copy_from_slice(&host.to_be_bytes());
            a.to_vec()
        };
        // LAN hosts 2001:db8:1::x to 3000 remote hosts 2001:db8:f<k>::1.
        crate::bench::inject_with(3000, |i| {
            (
                v6(1, 1 + (i % 100) as u16),
                v6(0xf000 + i as u16, 1),
                20000 + i as u16,
            )
        });
        let mut ct = nftop::netlink::CtSocket::open().unwrap();
        let mut table = nftop::flows::FlowTable::new(8192, 1);
        let mut router = nftop::route::Router::open(None).unwrap();
        table.begin();
        ct.dump(|c| table.observe(c)).unwrap();
        table.finish(1, 1);
        router.refresh(1).unwrap();
        let (flows, spills) = table.parts_mut();
        router.attribute(flows, spills).unwrap();
        let first = router.lookups;
        assert_eq!(table.len(), 3000);
        // A more specific route for one remote network, via the LAN side.
        let s = Command::new("ip")
            .args([
                "-6",
                "route",
                "add",
                "2001:db8:f005::/48",
                "via",
                "2001:db8:1::1",
                "dev",
                "d0",
            ])
            .status()
            .unwrap();
        assert!(s.success());
        std::thread::sleep(Duration::from_millis(50));
        router.refresh(2).unwrap();
        let (flows, spills) = table.parts_mut();
        router.attribute(flows, spills).unwrap();
        let links = &router.net.links;
        let outs: Vec<(u16, String)> = table
            .flows()
            .iter()
            .map(|f| {
                let dst = table.conn(f).orig.dst;
                let net = u16::from_be_bytes([dst[4], dst[5]]);
                (net, links.name(f.out_if).unwrap_or("-").to_string())
            })
            .collect();
        (first, router.lookups - first, outs)
    })
    .join()
    .unwrap();
    eprintln!("lookups: {first} for 3000 flows, {after} after a route change");
    assert!(first <= 4, "{first} lookups for one class of destinations");
    assert!(after <= 6, "{after} lookups after the change");
    for (net, out) in &outs {
        let want = if *net == 0xf005 { "d0" } else { "d1" };
        assert_eq!(out, want, "2001:db8:{net:x}::1");
    }
}

/// `-f`: every term kind on the bed's traffic, in JSON, and a bad term.
#[test]
fn filter_expressions_on_the_bed() {
    if !netns_ok("filter_expressions_on_the_bed") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    let _t = traffic(&bed);
    let run = |expr: &str| -> Vec<J> {
        conns(
            &bed.nftop_output(&[
                "--json", "-u", "0.5", "--count", "2", "-t", "0", "-L", "-f", expr,
            ]),
            2,
        )
    };
    let all = run("");
    let count = |pred: &dyn Fn(&J) -> bool| all.iter().filter(|c| pred(c)).count();
    for (expr, pred) in [
        (
            "dport 5201",
            &(|c: &J| c.get("dport").num() == 5201.0) as &dyn Fn(&J) -> bool,
        ),
        ("port 8022", &|c: &J| {
            c.get("dport").num() == 2222.0 || c.get("nat_dport").num() == 8022.0
        }),
        ("proto icmp", &|c: &J| c.get("proto").str() == "icmp"),
        ("not proto icmp", &|c: &J| c.get("proto").str() != "icmp"),
        ("host 2001:db8::/32", &|c: &J| {
            c.get("family").str() == "ipv6"
        }),
        ("in lan0 out wan1", &|c: &J| {
            c.get("in").str() == "lan0" && c.get("out").str() == "wan1"
        }),
        ("out wan+", &|c: &J| c.get("out").str().starts_with("wan")),
        ("mark 2", &|c: &J| c.get("mark").num() == 2.0),
        ("!mark 2 nat", &|c: &J| {
            c.get("mark").num() != 2.0
                && (*c.get("nat_src") != J::Null || *c.get("nat_dst") != J::Null)
        }),
        ("state established", &|c: &J| {
            c.get("state").str() == "ESTABLISHED"
        }),
        ("zone 0 dport 9000", &|c: &J| c.get("dport").num() == 9000.0),
    ] {
        let got = run(expr);
        assert!(got.iter().all(pred), "{expr}: {got:#?}");
        // The same connections as the unfiltered run holds (give or take a
        // connection that began or ended between the two runs).
        let want = count(pred);
        assert!(
            got.len() + 2 >= want && want + 2 >= got.len(),
            "{expr}: {} of {want}",
            got.len()
        );
    }
    assert!(!run("dport 5201").is_empty() && !run("in lan0 out wan1").is_empty());
    assert!(!run("zone 0 dport 9000").is_empty());
    // Names from a hosts file: `host NAME` and a bare word.
    let hosts = std::env::temp_dir().join(format!("nftop-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "192.0.2.2 laptop-kitchen\n").unwrap();
    let h = hosts.to_str().unwrap();
    for expr in ["host laptop-kitchen", "kitchen", "KITCHEN dport 5201"] {
        let out = bed.nftop_output(&[
            "--json", "-u", "0.5", "--count", "2", "-t", "0", "--hosts", h, "-f", expr,
        ]);
        let got = conns(&out, 2);
        assert!(!got.is_empty(), "{expr}");
        assert!(
            got.iter().all(|c| ["src", "dst", "nat_src", "nat_dst"]
                .iter()
                .any(|k| c.get(k).str() == "192.0.2.2")),
            "{expr}: {got:#?}"
        );
    }
    std::fs::remove_file(&hosts).unwrap();
    let o = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.ns("rtr"),
            crate::common::bin(),
            "-f",
            "dport http8",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'dport http8'") && err.lines().count() == 1,
        "{err}"
    );
}

/// A forwarding lookup that strict rp_filter refuses (EINVAL) is asked
/// again as an output lookup, not taken for "no route". Here: a port
/// forward to the router's address on d0 from a host that the routes
/// put behind d1; nftop takes d0 as the ingress (the address it was sent
/// to), and the kernel refuses a forwarding question with iif d0 for it.
/// Also: source NAT to an address on lo (a router-wide address) names no
/// egress; the routes do.
#[test]
fn a_refused_forwarding_lookup_is_not_no_route() {
    if !netns_ok("a_refused_forwarding_lookup_is_not_no_route") {
        return;
    }
    let gone = crate::common::Netns::add("ntrp");
    let name = gone.0.clone();
    let setup = "ip link set lo up && for d in d0 d1 d2; do ip link add $d type veth peer name ${d}p && ip link set $d up && ip link set ${d}p up; done \
        && ip addr add 198.51.100.254/24 dev d0 && ip addr add 203.0.113.2/25 dev d1 && ip addr add 192.0.2.254/24 dev d2 \
        && ip addr add 198.51.100.200/32 dev lo \
        && ip route add default via 203.0.113.1 dev d1 onlink && sysctl -qw net.ipv4.ip_forward=1 \
        && for i in all default d0 d1 d2; do sysctl -qw net.ipv4.conf.$i.rp_filter=1; done";
    let ok = Command::new("ip")
        .args(["netns", "exec", &name, "sh", "-c", setup])
        .status()
        .unwrap();
    assert!(ok.success());
    // The kernel does refuse the question as the ingress would ask it.
    let refused = Command::new("ip")
        .args([
            "netns",
            "exec",
            &name,
            "ip",
            "route",
            "get",
            "192.0.2.9",
            "from",
            "203.0.113.200",
            "iif",
            "d0",
        ])
        .output()
        .unwrap();
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("Invalid argument"),
        "{refused:?}"
    );
    let ns = name.clone();
    let (refused_flow, snat_flow) = std::thread::spawn(move || {
        crate::common::enter(&ns);
        let a = |b: [u8; 4]| b.to_vec();
        // 203.0.113.200:5000 -> 198.51.100.254:2222, forwarded to 192.0.2.9:8022.
        // 192.0.2.9:6000 -> 203.0.113.200:443, SNAT to 198.51.100.200 (lo).
        crate::bench::inject_tuples(2, |i| match i {
            0 => [
                (a([203, 0, 113, 200]), a([198, 51, 100, 254]), 5000, 2222),
                (a([192, 0, 2, 9]), a([203, 0, 113, 200]), 8022, 5000),
            ],
            _ => [
                (a([192, 0, 2, 9]), a([203, 0, 113, 200]), 6000, 443),
                (a([203, 0, 113, 200]), a([198, 51, 100, 200]), 443, 6000),
            ],
        });
        let mut ct = nftop::netlink::CtSocket::open().unwrap();
        let mut table = nftop::flows::FlowTable::new(16, 1);
        let mut router = nftop::route::Router::open(None).unwrap();
        table.begin();
        ct.dump(|c| table.observe(c)).unwrap();
        table.finish(1, 1);
        router.refresh(1).unwrap();
        let (flows, spills) = table.parts_mut();
        router.attribute(flows, spills).unwrap();
        let links = &router.net.links;
        let name = |i| links.name(i).unwrap_or("-").to_string();
        let by_dport = |p: u16| {
            let f = table.flows().iter().find(|f| f.dport() == p).unwrap();
            (name(f.in_if), name(f.out_if), f.no_route())
        };
        (by_dport(2222), by_dport(443))
    })
    .join()
    .unwrap();
    assert_eq!(refused_flow, ("d0".into(), "d2".into(), false));
    assert_eq!(snat_flow, ("d2".into(), "d1".into(), false));
}
