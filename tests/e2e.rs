//! End to end on the real kernel: a router in namespaces (tests/bed.sh),
//! real traffic, the real nftop binary inside the router namespace.

use crate::common::{json, netns_ok, nft_counters, Bed, J};
use std::collections::HashMap;

/// nft counters that see the same packets as conntrack (the forward hook,
/// both directions of each test flow).
const COUNTERS: &str = r#"
table inet nftop_test {
    counter tcp4 {}
    counter udp4 {}
    counter tcp6 {}
    counter udp6 {}
    chain count_forward {
        type filter hook forward priority -10; policy accept;
        meta nfproto ipv4 tcp dport 5201 counter name "tcp4"
        meta nfproto ipv4 tcp sport 5201 counter name "tcp4"
        meta nfproto ipv4 udp dport 5204 counter name "udp4"
        meta nfproto ipv4 udp sport 5204 counter name "udp4"
        meta nfproto ipv6 tcp dport 5203 counter name "tcp6"
        meta nfproto ipv6 tcp sport 5203 counter name "tcp6"
        meta nfproto ipv6 udp dport 5205 counter name "udp6"
        meta nfproto ipv6 udp sport 5205 counter name "udp6"
    }
}
"#;

/// Starts the four test flows: TCP and UDP over IPv4 (masqueraded) and
/// IPv6 (routed), paced by iperf3, the IPv6 TCP one downloading (-R).
/// TCP writes are 2 KB (-l 2K): iperf3 paces whole writes, and its default
/// 128 KB bursts would land on either side of a sampling instant.
fn start_flows(bed: &Bed, secs: u32) -> Vec<crate::common::Bg> {
    let mut bg = Vec::new();
    for (port, addr) in [
        (5201, "203.0.113.200"),
        (5204, "203.0.113.200"),
        (5203, "2001:db8:ff::200"),
        (5205, "2001:db8:ff::200"),
    ] {
        bg.push(bed.spawn("inet", &format!("iperf3 -s -p {port} -B {addr}")));
    }
    bed.wait_for("inet", "ss -ltn | grep -q ':5203 '", 10);
    bed.wait_for("inet", "ss -ltn | grep -q ':5205 '", 10);
    for args in [
        format!("-c 203.0.113.200 -p 5201 -b 8M -l 2K -t {secs}"),
        format!("-u -c 203.0.113.200 -p 5204 -b 3M -t {secs}"),
        format!("-6 -c 2001:db8:ff::200 -p 5203 -b 5M -l 2K -R -t {secs}"),
        format!("-6 -u -c 2001:db8:ff::200 -p 5205 -b 2M -t {secs}"),
    ] {
        bg.push(bed.spawn("cli", &format!("iperf3 {args}")));
    }
    bg
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn key_of(c: &J) -> Option<&'static str> {
    let fam = c.get("family").str();
    let proto = c.get("proto").str();
    let dport = c.get("dport").num() as u32;
    match (fam, proto, dport) {
        ("ipv4", "tcp", 5201) => Some("tcp4"),
        ("ipv4", "udp", 5204) => Some("udp4"),
        ("ipv6", "tcp", 5203) => Some("tcp6"),
        ("ipv6", "udp", 5205) => Some("udp6"),
        _ => None,
    }
}

#[test]
fn rates_match_kernel_counters_and_nat_view_is_right() {
    if !netns_ok("rates_match_kernel_counters_and_nat_view_is_right") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    bed.sh("rtr", &format!("nft -f - <<'EOF'\n{COUNTERS}\nEOF"));
    let _flows = start_flows(&bed, 30);
    // Let the flows settle before measuring.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // 2 s windows: iperf3 paces in bursts, and under CPU load (tests run
    // in parallel) a burst can land on either side of an instant.
    let mut n = bed.nftop(&["--json", "-u", "2", "--count", "7", "-t", "0"]);
    let mut conns: Vec<J> = Vec::new();
    let mut prev: Option<(f64, HashMap<String, u64>)> = None;
    let mut windows = 0;
    let mut last_conns = Vec::new();
    while let Some(line) = n.line() {
        let v = json(&line);
        assert_eq!(v.get("v").num(), 1.0);
        if v.get("type").str() == "conn" {
            conns.push(v);
            continue;
        }
        if v.get("type").str() == "dev" {
            continue;
        }
        assert_eq!(v.get("type").str(), "tick", "{line}");
        // Read the kernel counters as soon as nftop has finished the dump,
        // and time the reading itself: with steady flows, rates over the
        // reading times equal rates over nftop's dump times, whatever the
        // delay between the two.
        let before = now_s();
        let ctr: HashMap<String, u64> = nft_counters(&bed).into_iter().collect();
        let r = (before + now_s()) / 2.0;
        let seq = v.get("seq").num() as u64;
        if let Some((pr, pc)) = &prev {
            if seq >= 3 {
                let dt = r - pr;
                for k in ["tcp4", "udp4", "tcp6", "udp6"] {
                    let kernel = (ctr[k] - pc[k]) as f64 * 8.0 / dt;
                    let ours: f64 = conns
                        .iter()
                        .filter(|c| key_of(c) == Some(k))
                        .map(|c| c.get("sum_bps").num())
                        .sum();
                    let err = (ours - kernel).abs() / kernel;
                    eprintln!("window {seq} {k}: nftop {ours:.0} bit/s, kernel counters {kernel:.0} bit/s, error {:.2} %", err * 100.0);
                    assert!(kernel > 500_000.0, "{k}: flow not running ({kernel})");
                    assert!(
                        err < 0.03,
                        "{k}: nftop {ours} vs kernel {kernel} ({:.2} %)",
                        err * 100.0
                    );
                }
                windows += 1;
            }
        }
        prev = Some((r, ctr));
        last_conns = std::mem::take(&mut conns);
    }
    assert_eq!(windows, 5, "five measured windows");
    // NAT view and direction on the last refresh.
    let tcp4 = last_conns
        .iter()
        .find(|c| key_of(c) == Some("tcp4") && c.get("sum_bps").num() > 1e6)
        .expect("tcp4 data flow");
    assert_eq!(tcp4.get("src").str(), "192.0.2.2");
    assert_eq!(tcp4.get("dst").str(), "203.0.113.200");
    assert_eq!(tcp4.get("nat_src").str(), "198.51.100.1");
    assert!(tcp4.get("nat_sport").num() > 0.0);
    assert_eq!(*tcp4.get("nat_dst"), J::Null);
    assert_eq!(tcp4.get("local").str(), "src");
    assert!(
        tcp4.get("tx_bps").num() > 10.0 * tcp4.get("rx_bps").num(),
        "upload: tx from the LAN host"
    );
    assert!(tcp4.get("flags").arr().iter().any(|f| f.str() == "SRC_NAT"));
    let tcp6 = last_conns
        .iter()
        .find(|c| key_of(c) == Some("tcp6") && c.get("sum_bps").num() > 1e6)
        .expect("tcp6 data flow");
    assert_eq!(*tcp6.get("nat_src"), J::Null, "IPv6 is routed, not NATed");
    assert!(
        tcp6.get("rx_bps").num() > 10.0 * tcp6.get("tx_bps").num(),
        "-R: the LAN host downloads"
    );
    assert_eq!(tcp6.get("src").str(), "2001:db8:1::2");
    let udp4 = last_conns
        .iter()
        .find(|c| key_of(c) == Some("udp4"))
        .expect("udp4 flow");
    assert_eq!(udp4.get("proto").str(), "udp");
    assert_eq!(
        udp4.get("sport").num(),
        udp4.get("nat_sport").num(),
        "masquerade kept the port here"
    );
    for c in &last_conns {
        assert!(c.get("age_s").num() >= 0.0);
        assert_eq!(
            c.get("age_from").str(),
            "kernel",
            "timestamps are on in the bed"
        );
    }
}

/// Port forward and a service on the router: the inside host or the
/// router is the local side, so tx is the reply direction.
#[test]
fn port_forward_and_router_service_directions() {
    if !netns_ok("port_forward_and_router_service_directions") {
        return;
    }
    let bed = Bed::up();
    let _pf = bed.spawn(
        "cli",
        "socat -u TCP-LISTEN:8022,reuseaddr,fork OPEN:/dev/null",
    );
    let _svc = bed.spawn(
        "rtr",
        "socat -u TCP-LISTEN:8080,reuseaddr,fork OPEN:/dev/null",
    );
    bed.wait_for("cli", "ss -ltn | grep -q ':8022 '", 10);
    bed.wait_for("rtr", "ss -ltn | grep -q ':8080 '", 10);
    // Paced senders (tc-free): 40 KB/s for 8 s each, into the port
    // forward from the internet side and into the router from the LAN.
    let _a = bed.spawn("inet", "sh -c 'while :; do head -c 4000 /dev/zero; sleep 0.1; done | socat -u - TCP:198.51.100.1:2222'");
    let _b = bed.spawn("cli", "sh -c 'while :; do head -c 4000 /dev/zero; sleep 0.1; done | socat -u - TCP:192.0.2.1:8080'");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = bed.nftop_output(&["--json", "-u", "1", "--count", "3"]);
    let last: Vec<J> = out
        .lines()
        .map(json)
        .filter(|v| v.get("type").str() == "conn" && v.get("seq").num() == 3.0)
        .collect();
    let pf = last
        .iter()
        .find(|c| c.get("dport").num() == 2222.0)
        .expect("port forward shown");
    assert_eq!(pf.get("dst").str(), "198.51.100.1");
    assert_eq!(pf.get("nat_dst").str(), "192.0.2.2");
    assert_eq!(pf.get("nat_dport").num(), 8022.0);
    assert_eq!(*pf.get("nat_src"), J::Null);
    assert_eq!(pf.get("local").str(), "dst");
    // The inside host receives: that is rx for the local side.
    assert!(
        pf.get("rx_bps").num() > 200_000.0 && pf.get("rx_bps").num() > 5.0 * pf.get("tx_bps").num(),
        "{pf:?}"
    );
    let svc = last
        .iter()
        .find(|c| c.get("dport").num() == 8080.0)
        .expect("router service shown");
    assert_eq!(svc.get("dst").str(), "192.0.2.1");
    assert_eq!(
        svc.get("local").str(),
        "dst",
        "the router is the local side"
    );
    assert!(
        svc.get("rx_bps").num() > 5.0 * svc.get("tx_bps").num(),
        "{svc:?}"
    );
}

/// NAT reflection, as OpenWrt's firewall sets up for every port forward
/// (`option reflection 1`): a LAN host reaches the forward through the
/// router's public address, so the kernel translates both ends (DNAT to
/// the inside host, SNAT to the router's LAN address). Neither NAT shape
/// of the compact flow record explains that reply tuple: it is kept whole
/// (flow/), and must come back exactly as conntrack has it.
#[test]
fn nat_reflection_keeps_both_translations() {
    if !netns_ok("nat_reflection_keeps_both_translations") {
        return;
    }
    let bed = Bed::up();
    bed.sh(
        "rtr",
        "nft add rule inet nftop_bed pre_nat iifname lan0 ip daddr 198.51.100.1 tcp dport 2222 dnat ip to 192.0.2.2:8022 && \
         nft add rule inet nftop_bed post_nat oifname lan0 ip saddr 192.0.2.0/24 ip daddr 192.0.2.2 tcp dport 8022 snat ip to 192.0.2.1",
    );
    let _srv = bed.spawn(
        "cli",
        "socat -u TCP-LISTEN:8022,reuseaddr,fork OPEN:/dev/null",
    );
    bed.wait_for("cli", "ss -ltn | grep -q ':8022 '", 10);
    bed.sh(
        "cli",
        "head -c 300000 /dev/zero | socat -u - TCP:198.51.100.1:2222,sourceport=41999",
    );
    // The kernel's view of the same entry: both tuples and both counters.
    let ct = bed.sh(
        "rtr",
        "conntrack -L -p tcp --sport 41999 -o extended 2>/dev/null",
    );
    let fields: Vec<&str> = ct.split_whitespace().collect();
    let all = |k: &str| -> Vec<&str> { fields.iter().filter_map(|f| f.strip_prefix(k)).collect() };
    assert_eq!(all("src="), ["192.0.2.2", "192.0.2.2"], "{ct}");
    assert_eq!(all("dst="), ["198.51.100.1", "192.0.2.1"], "{ct}");
    assert_eq!(all("sport=")[1], "8022", "{ct}");
    let snat_port: f64 = all("dport=")[1].parse().unwrap();
    let bytes: Vec<u64> = all("bytes=").iter().map(|b| b.parse().unwrap()).collect();
    assert!(bytes[0] > 300_000, "{ct}");
    let out = bed.nftop_output(&["--json", "-t", "0", "--count", "1"]);
    let c = out
        .lines()
        .map(json)
        .find(|v| v.get("type").str() == "conn" && v.get("sport").num() == 41999.0)
        .unwrap_or_else(|| panic!("the reflected connection is shown: {out}"));
    assert_eq!(c.get("src").str(), "192.0.2.2");
    assert_eq!(c.get("dst").str(), "198.51.100.1");
    assert_eq!(c.get("nat_dst").str(), "192.0.2.2", "{c:?}");
    assert_eq!(c.get("nat_dport").num(), 8022.0);
    assert_eq!(c.get("nat_src").str(), "192.0.2.1", "{c:?}");
    assert_eq!(c.get("nat_sport").num(), snat_port);
    assert_eq!((c.get("in").str(), c.get("out").str()), ("lan0", "lan0"));
    // Started on the LAN: tx is the original direction.
    assert_eq!(c.get("tx_bytes").num() as u64, bytes[0], "{c:?}");
    assert_eq!(c.get("rx_bytes").num() as u64, bytes[1], "{c:?}");
}

/// nftop in namespace `ns` (not a bed), to completion.
fn nftop_in(ns: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("ip")
        .args(["netns", "exec", ns, crate::common::bin()])
        .args(args)
        .output()
        .unwrap()
}

/// The message of the tick's warning `code`, if present.
fn warning(tick: &J, code: &str) -> Option<String> {
    tick.get("warnings")
        .arr()
        .iter()
        .find(|w| w.get("code").str() == code)
        .map(|w| w.get("msg").str().to_string())
}

fn refreshes(out: &str) -> Vec<Vec<&str>> {
    let mut r = vec![Vec::new()];
    for l in out.lines() {
        if l.is_empty() {
            r.push(Vec::new());
        } else {
            r.last_mut().unwrap().push(l);
        }
    }
    r.retain(|x| !x.is_empty());
    r
}

/// The original's flags on one bed: -c -M -s -t -4 -6 -r -R -b -B -S -I -V -a -P.
#[test]
fn flags_on_the_bed() {
    if !netns_ok("flags_on_the_bed") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    let _flows = start_flows(&bed, 40);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let base = ["-u", "0.5", "--count", "3"];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        bed.nftop_output(&a)
    };

    // -c: plain lines, a blank line between refreshes, no escape codes,
    // one line per connection, all three refreshes (never stops early).
    let c = run(&["-c"]);
    assert!(!c.contains('\x1b'), "no escape codes when not a tty");
    assert_eq!(
        c.matches("\n\n").count() + usize::from(c.starts_with('\n')),
        3,
        "{c}"
    );
    let r = refreshes(&c);
    assert!(r.len() >= 2, "{c}");
    for line in r.last().unwrap() {
        assert!(line.split_whitespace().count() >= 9, "{line}");
    }
    assert!(c.contains("203.0.113.200") && c.contains("2001:db8:ff::200"));

    // -M: leading unix time, fixed 22 columns, raw integers.
    let m = run(&["-M"]);
    let lines: Vec<&str> = m.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 22, "{l}");
        let t: f64 = f[0].parse().unwrap();
        assert!((now - t).abs() < 60.0, "{l}");
        for rate in &f[6..9] {
            assert!(
                *rate == "-" || rate.parse::<u64>().is_ok(),
                "raw rate {rate} in {l}"
            );
        }
    }
    let tcp4 = lines
        .iter()
        .find(|l| l.contains(" 203.0.113.200 5201 ") && !l.contains(" - - - "))
        .unwrap();
    let f: Vec<&str> = tcp4.split(' ').collect();
    assert_eq!((f[1], f[2]), ("tcp", "192.0.2.2"));
    assert_eq!(f[14], "198.51.100.1", "nat_src column: {tcp4}");

    // -s: default sum descending; +dport ascending; rx descending.
    let sums = |out: &str, col: usize| -> Vec<u64> {
        let last = refreshes(out).pop().unwrap_or_default();
        last.iter()
            .map(|l| l.split(' ').nth(col).unwrap().parse::<u64>().unwrap_or(0))
            .collect()
    };
    let s = sums(&run(&["-M"]), 8);
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "sum descending: {s:?}");
    let s = sums(&run(&["-M", "-s", "+dport"]), 5);
    assert!(s.windows(2).all(|w| w[0] <= w[1]), "dport ascending: {s:?}");
    let s = sums(&run(&["-M", "-s", "rx"]), 7);
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "rx descending: {s:?}");

    // -t: only connections with sum >= 5 Mbit/s (the 8M tcp4 and 5M tcp6).
    let t = run(&["-M", "-t", "5M"]);
    let last = refreshes(&t).pop().unwrap();
    assert!(!last.is_empty());
    for l in &last {
        let sum: u64 = l.split(' ').nth(8).unwrap().parse().unwrap();
        assert!(sum >= 5_000_000, "{l}");
    }
    // -t 0 shows idle connections too (the iperf3 control connections).
    let all = refreshes(&run(&["-M", "-t", "0"])).pop().unwrap().len();
    assert!(
        all > last.len() + 2,
        "-t 0 adds idle ones: {all} vs {}",
        last.len()
    );

    // -4 / -6.
    for l in refreshes(&run(&["-M", "-4"])).concat() {
        assert!(!l.split(' ').nth(2).unwrap().contains(':'), "-4 showed {l}");
    }
    let six_out = run(&["-M", "-6"]);
    let six = refreshes(&six_out).concat();
    assert!(!six.is_empty());
    for l in six {
        assert!(l.split(' ').nth(2).unwrap().contains(':'), "-6 showed {l}");
    }

    // -r hides local addresses (the LAN hosts), -R remote ones.
    let r = run(&["-c", "-r", "-4"]);
    assert!(
        !r.contains("192.0.2.2") && r.contains("redacted") && r.contains("203.0.113.200"),
        "{r}"
    );
    let rr = run(&["-c", "-R", "-4"]);
    assert!(
        rr.contains("192.0.2.2") && !rr.contains("203.0.113.200") && rr.contains("redacted"),
        "{rr}"
    );

    // -b bytes, -S IEC units, -B raw, in -c lines.
    let b = run(&["-c", "-b"]);
    assert!(b.contains("KBps") || b.contains("MBps"), "{b}");
    let si = run(&["-c", "-S"]);
    assert!(si.contains("Mibps") || si.contains("Kibps"), "{si}");
    let raw = run(&["-c", "-B"]);
    assert!(!raw.contains("Mbps") && !raw.contains("Kbps"), "{raw}");
    // -I ids, -V state, -a age, -P numeric ports.
    let iv = run(&["-c", "-I", "-V", "-a", "1", "-P", "-4", "-t", "1M"]);
    let line = refreshes(&iv).pop().unwrap()[0].to_string();
    assert!(line.contains("ESTABLISHED"), "{line}");
    let f: Vec<&str> = line.split_whitespace().collect();
    assert!(
        f.iter().any(|x| x.len() >= 6 && x.parse::<u32>().is_ok()),
        "an id column: {line}"
    );
    let a2 = run(&["-c", "-a", "2", "-4", "-t", "1M"]);
    assert!(a2.lines().any(|l| l.contains("00:00:")), "{a2}");
}

#[test]
fn unreachable_resolver_does_not_delay_output() {
    if !netns_ok("unreachable_resolver_does_not_delay_output") {
        return;
    }
    // The bed's resolv.conf points at 192.0.2.53, which does not exist:
    // every reverse lookup takes 2 x 5 s to fail.
    let bed = Bed::up();
    let _p = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    bed.wait_for("rtr", "conntrack -L 2>/dev/null | grep -q icmp", 10);
    let start = std::time::Instant::now();
    let out = bed.nftop_output(&["-c", "-u", "0.5", "--count", "4", "-t", "0"]);
    let took = start.elapsed();
    // Four refreshes at 0.5 s finish long before one lookup could fail.
    assert!(took.as_secs_f64() < 8.0, "took {took:?}");
    assert!(
        out.contains("203.0.113.200"),
        "numeric address shown at once: {out}"
    );
    // nftop really asked the resolver meanwhile: its own queries to
    // 192.0.2.53 are in the router's conntrack table.
    let ct = bed.sh("rtr", "conntrack -L -p udp --dport 53 2>/dev/null || true");
    assert!(ct.contains("192.0.2.53"), "reverse DNS was attempted: {ct}");
}

/// Reverse DNS from a real server: dnsmasq on the router's loopback
/// (as on OpenWrt) answers PTR for both far servers; nftop's own resolver
/// reads the namespace's resolv.conf and shows the names. Once with an
/// IPv4 nameserver, once with an IPv6 one.
#[test]
fn reverse_dns_names_from_dnsmasq() {
    if !netns_ok("reverse_dns_names_from_dnsmasq") {
        return;
    }
    let bed = Bed::up();
    let _p4 = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    let _p6 = bed.spawn("cli", "ping -6 -q -i 0.2 2001:db8:ff::200");
    let dnsmasq = |v4_name: &str| {
        bed.spawn(
            "rtr",
            &format!(
                "dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
                 --user=root --pid-file= --listen-address=127.0.0.1,::1 --bind-interfaces --port=53 \
                 --ptr-record=200.113.0.203.in-addr.arpa,{v4_name} \
                 --ptr-record=0.0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.f.f.0.0.8.b.d.0.1.0.0.2.ip6.arpa,far6.example"
            ),
        )
    };
    let dns = dnsmasq("far.example");
    bed.wait_for(
        "rtr",
        "conntrack -L -f ipv6 2>/dev/null | grep -q icmpv6",
        10,
    );
    let conf = format!("/etc/netns/{}/resolv.conf", bed.ns("rtr"));
    for server in ["127.0.0.1", "::1"] {
        std::fs::write(
            &conf,
            format!("nameserver {server}\noptions timeout:1 attempts:1\n"),
        )
        .unwrap();
        let out = bed.nftop_output(&["-c", "-u", "0.5", "--count", "8", "-t", "0"]);
        let last: Vec<&str> = out.lines().rev().take(6).collect();
        assert!(
            last.iter().any(|l| l.contains("far.example"))
                && last.iter().any(|l| l.contains("far6.example")),
            "nameserver {server}:\n{out}"
        );
    }
    // A PTR name that reads as an address would pose as another host
    // (issue 26 review): shown as no name, the address itself.
    drop(dns);
    let _dns = dnsmasq("192.0.2.77");
    bed.wait_for("rtr", "ss -lun | grep -q '127.0.0.1:53 '", 10);
    let out = bed.nftop_output(&["-c", "-u", "0.5", "--count", "8", "-t", "0"]);
    let last: Vec<&str> = out.lines().rev().take(6).collect();
    assert!(
        last.iter().any(|l| l.contains("far6.example"))
            && last.iter().any(|l| l.contains("203.0.113.200"))
            && !out.contains("192.0.2.77"),
        "an address as a PTR name:\n{out}"
    );
}

#[test]
fn empty_namespace_says_why_and_permission_error_names_the_fix() {
    if !netns_ok("empty_namespace_says_why") {
        return;
    }
    let netns = crate::common::Netns::add("ntempty");
    let ns = netns.0.clone();
    let out = nftop_in(&ns, &["--json", "--count", "1"]);
    assert!(out.status.success());
    let tick = json(String::from_utf8_lossy(&out.stdout).lines().last().unwrap());
    let msg = warning(&tick, "empty_table").expect("empty_table warning");
    assert!(msg.contains("rule uses conntrack"), "{msg}");
    // A flow table smaller than the conntrack table: what does not fit is
    // counted and reported, nothing breaks.
    let inject = (1..=40)
        .map(|i| format!("conntrack -I -s 198.51.100.7 -d 203.0.113.9 -p udp --sport {i} --dport 53 -t 300 >/dev/null 2>&1"))
        .collect::<Vec<_>>()
        .join("; ");
    assert!(std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sh", "-c", &inject])
        .status()
        .unwrap()
        .success());
    let out = nftop_in(
        &ns,
        &[
            "--json",
            "--count",
            "2",
            "-u",
            "0.2",
            "-t",
            "0",
            "--capacity",
            "16",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let tick = json(text.lines().last().unwrap());
    assert_eq!(tick.get("flow_table").get("len").num(), 16.0);
    let full = warning(&tick, "flow_table_full").expect("flow_table_full");
    assert!(full.contains("24 connections not shown"), "{full}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"seq\":2,\"type\":\"conn\""))
            .count(),
        16
    );
    // Without CAP_NET_ADMIN: one line naming the fix, exit code 1.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(crate::common::bin())
        .args(["-c", "--count", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CAP_NET_ADMIN") && err.contains("root"),
        "{err}"
    );
}

#[test]
fn accounting_off_and_timestamps_off_are_explained() {
    if !netns_ok("accounting_off_and_timestamps_off_are_explained") {
        return;
    }
    let bed = Bed::up_with(&[("NFTOP_BED_TIMESTAMP", "0")]);
    bed.sh("rtr", "sysctl -qw net.netfilter.nf_conntrack_acct=0");
    let _p = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    bed.wait_for("rtr", "conntrack -L 2>/dev/null | grep -q icmp", 10);
    let out = bed.nftop_output(&["--json", "-u", "0.5", "--count", "2", "-t", "0", "-a", "1"]);
    let tick = json(out.lines().last().unwrap());
    let find = |code: &str| warning(&tick, code);
    let m = find("no_counters").expect("no_counters warning");
    assert!(
        m.contains("sysctl -w net.netfilter.nf_conntrack_acct=1")
            && m.contains("only new connections"),
        "{m}"
    );
    assert!(find("acct_off").is_some());
    let m = find("no_timestamps").expect("with -a and timestamps off");
    assert!(m.contains("first-seen"), "{m}");
    let conn = out
        .lines()
        .map(json)
        .find(|v| v.get("type").str() == "conn")
        .expect("a connection");
    assert_eq!(conn.get("age_from").str(), "first_seen");
}

/// Names from a hosts file and a leases file, kept numeric by -n / -N,
/// never resolved when redacted; services unless -P.
#[test]
fn names_from_hosts_and_leases_and_numeric_flags() {
    if !netns_ok("names_from_hosts_and_leases_and_numeric_flags") {
        return;
    }
    let bed = Bed::up();
    let dir = std::env::temp_dir().join(format!("nftop-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    let leases = dir.join("leases");
    std::fs::write(&hosts, "203.0.113.200 server.example\n").unwrap();
    std::fs::write(
        &leases,
        "1700000000 02:00:00:00:00:02 192.0.2.2 laptop\x1b[31m *\n",
    )
    .unwrap();
    let _p = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    let _d = bed.spawn("cli", "sh -c 'while :; do head -c 3000 /dev/zero; sleep 0.1; done | socat -u - UDP:203.0.113.200:53'");
    bed.wait_for(
        "rtr",
        "conntrack -L -p udp 2>/dev/null | grep -q 'dport=53'",
        10,
    );
    let (h, l) = (hosts.to_str().unwrap(), leases.to_str().unwrap());
    let run = |extra: &[&str]| {
        let mut a = vec![
            "-c", "-u", "0.5", "--count", "2", "-t", "0", "-4", "--hosts", h, "--leases", l,
        ];
        a.extend_from_slice(extra);
        bed.nftop_output(&a)
    };
    let out = run(&[]);
    assert!(out.contains("server.example"), "hosts: {out}");
    assert!(
        out.contains("laptop??31m") && !out.contains('\x1b'),
        "leases, cleaned of escapes: {out}"
    );
    assert!(out.contains("domain"), "service name: {out}");
    let out = run(&["-n"]);
    assert!(
        out.contains("192.0.2.2") && !out.contains("laptop") && out.contains("server.example"),
        "-n: {out}"
    );
    let out = run(&["-N"]);
    assert!(
        out.contains("laptop") && !out.contains("server.example") && out.contains("203.0.113.200"),
        "-N: {out}"
    );
    let out = run(&["-P"]);
    assert!(!out.contains("domain") && out.contains(" 53 "), "-P: {out}");
    let out = run(&["-R"]);
    assert!(
        !out.contains("server.example")
            && !out.contains("203.0.113.200")
            && out.contains("redacted"),
        "-R: {out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
