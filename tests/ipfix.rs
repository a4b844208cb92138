//! IPFIX export into real collectors: nfcapd (nfdump) and pmacct's
//! nfacctd run in the LAN namespace of the bed, nftop exports from the
//! router; what the collectors stored is compared with the kernel's own
//! counters for the same connections (`conntrack -L`, DESTROY events).

use crate::common::{bin, netns_ok, Bed};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A scratch directory, removed on drop.
struct Dir(String);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = format!("/tmp/nftop-{tag}-{}", std::process::id());
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `key = value` block of `nfdump -o raw`.
type Raw = HashMap<String, String>;

fn raw_records(text: &str) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut cur = Raw::new();
    for line in text.lines() {
        if line.starts_with("Flow Record") {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if let Some((k, v)) = line.split_once(" = ") {
            cur.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn num(r: &Raw, k: &str) -> u64 {
    r.get(k)
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {k} in {r:?}"))
}

fn field<'a>(r: &'a Raw, k: &str) -> &'a str {
    r.get(k)
        .map_or("", |v| v.split_whitespace().next().unwrap_or(""))
}

/// `(orig bytes, orig packets, reply bytes, reply packets)` of a
/// `conntrack -L -o extended` or `-E` line.
fn ct_counters(line: &str) -> (u64, u64, u64, u64) {
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| {
            w.strip_prefix("packets=")
                .or_else(|| w.strip_prefix("bytes="))
        })
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 4, "no counters in: {line}");
    (v[1], v[0], v[3], v[2])
}

/// The ifindex of `name` in the router namespace.
fn ifindex(bed: &Bed, name: &str) -> u64 {
    bed.sh("rtr", &format!("cat /sys/class/net/{name}/ifindex"))
        .trim()
        .parse()
        .unwrap()
}

/// The bed's traffic for both collectors: a masqueraded TCP upload that
/// ends inside the window (TIME_WAIT shortened to 1 s, so its DESTROY
/// comes at once), 40 UDP datagrams that leave their entry alive and
/// idle, and an IPv6 ping. Returns (DESTROY event line of the upload,
/// conntrack line of the UDP flow) once both are final.
fn traffic(bed: &Bed, events: &str) -> (String, String) {
    let _srv = bed.spawn("inet", "iperf3 -s -p 5201 -B 203.0.113.200");
    // A sink: without it the server's port unreachable stops socat.
    let _sink = bed.spawn(
        "inet",
        "socat -u UDP-RECV:5300,bind=203.0.113.200 /dev/null",
    );
    bed.wait_for("inet", "ss -ltn | grep -q ':5201 '", 10);
    bed.wait_for("inet", "ss -lun | grep -q ':5300 '", 10);
    bed.sh(
        "cli",
        "iperf3 -c 203.0.113.200 -p 5201 -b 3M -t 4 --cport 40100 >/dev/null",
    );
    bed.sh(
        "cli",
        "for i in $(seq 40); do head -c 1000 /dev/zero; sleep 0.02; done | \
         socat -u -b 1000 STDIN UDP:203.0.113.200:5300,sourceport=40200; \
         ping -6 -c 3 -i 0.2 2001:db8:ff::200 >/dev/null",
    );
    // The upload's entry dies after TIME_WAIT; nftop's next refreshes
    // pick up the DESTROY event and the idle UDP counters.
    let end = Instant::now() + Duration::from_secs(20);
    let destroy = loop {
        let log = std::fs::read_to_string(events).unwrap_or_default();
        if let Some(l) = log
            .lines()
            .find(|l| l.contains("sport=40100") && l.contains("dport=5201"))
        {
            break l.to_string();
        }
        assert!(Instant::now() < end, "no DESTROY of the upload: {log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let udp = bed.sh(
        "rtr",
        "conntrack -L -p udp --sport 40200 --dport 5300 -o extended 2>/dev/null",
    );
    // Two more refreshes (-u 1) so the last counters are exported.
    std::thread::sleep(Duration::from_millis(2500));
    (destroy, udp.trim().to_string())
}

fn start_events(bed: &Bed, file: &str) -> crate::common::Bg {
    bed.sh(
        "rtr",
        "sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1",
    );
    let bg = bed.spawn(
        "rtr",
        &format!("sh -c 'conntrack -E -e DESTROY -o extended > {file} 2>/dev/null'"),
    );
    std::thread::sleep(Duration::from_millis(300));
    bg
}

#[test]
fn ipfix_into_nfcapd_matches_the_kernels_counters() {
    if !netns_ok("ipfix_into_nfcapd_matches_the_kernels_counters") {
        return;
    }
    let bed = Bed::up();
    let dir = Dir::new("nfcapd");
    let events = format!("{}/events", dir.0);
    let _ev = start_events(&bed, &events);
    std::fs::create_dir_all(format!("{}/cap", dir.0)).unwrap();
    let mut cap = bed.spawn(
        "cli",
        &format!("nfcapd -p 4739 -b 192.0.2.2 -w {}/cap -t 60", dir.0),
    );
    bed.wait_for("cli", "ss -lun | grep -q ':4739 '", 10);
    let mut nftop = bed.spawn(
        "rtr",
        &format!(
            "{} --quiet -u 1 --ipfix 192.0.2.2:4739 --ipfix-domain 5",
            bin()
        ),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (destroy, udp) = traffic(&bed, &events);
    let _ = nftop.0.kill();
    let _ = nftop.0.wait();
    // nfcapd writes its file when it stops.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(cap.0.id() as i32, libc::SIGTERM) };
    let _ = cap.0.wait();
    let text = std::process::Command::new("nfdump")
        .args(["-R", &format!("{}/cap", dir.0), "-o", "raw"])
        .output()
        .expect("nfdump (make deps installs it)");
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let recs = raw_records(&text);
    assert!(!recs.is_empty(), "nfcapd stored nothing: {text}");
    for r in &recs {
        assert!(
            r.get("Flags").is_some_and(|f| f.contains("NETFLOW v10")),
            "{r:?}"
        );
    }
    let (lan0, wan0) = (ifindex(&bed, "lan0"), ifindex(&bed, "wan0"));
    let pick = |sport: &str, dport: &str| -> Vec<&Raw> {
        recs.iter()
            .filter(|r| field(r, "src port") == sport && field(r, "dst port") == dport)
            .collect()
    };
    let sum = |v: &[&Raw], k: &str| v.iter().map(|r| num(r, k)).sum::<u64>();
    // The upload started and ended inside the window: exactly the
    // kernel's final counters, per direction.
    let (ob, op, rb, rp) = ct_counters(&destroy);
    let up = pick("40100", "5201");
    let down = pick("5201", "40100");
    assert!(up.len() >= 3, "one record per refresh: {up:?}");
    assert_eq!(
        (sum(&up, "in bytes"), sum(&up, "in packets")),
        (ob, op),
        "upload, original direction, vs DESTROY: {destroy}"
    );
    assert_eq!(
        (sum(&down, "in bytes"), sum(&down, "in packets")),
        (rb, rp),
        "upload, reply direction, vs DESTROY: {destroy}"
    );
    assert!(ob > 1_000_000, "the upload ran: {destroy}");
    // The port it left from: the reply tuple's destination port.
    let nat_port = destroy
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("dport="))
        .nth(1)
        .unwrap();
    for r in &up {
        assert_eq!(field(r, "src xlt port"), nat_port, "{r:?}");
        assert_eq!(field(r, "src addr"), "192.0.2.2");
        assert_eq!(field(r, "dst addr"), "203.0.113.200");
        // Masqueraded: after NAT it left from the uplink's address.
        assert_eq!(field(r, "src xlt ip"), "198.51.100.1");
        assert_eq!(field(r, "dst xlt ip"), "203.0.113.200");
        assert_eq!((num(r, "input"), num(r, "output")), (lan0, wan0), "{r:?}");
        assert_eq!(field(r, "proto"), "6");
    }
    for r in &down {
        // The reply arrived for the uplink's address, went to the LAN host.
        assert_eq!(field(r, "dst addr"), "198.51.100.1");
        assert_eq!(field(r, "dst xlt ip"), "192.0.2.2");
        assert_eq!((num(r, "input"), num(r, "output")), (wan0, lan0), "{r:?}");
    }
    // Its end: one record with end reason 3, the last one sent.
    let reason = |r: &Raw| r.get("end reason").map_or("", |v| v.as_str()).to_string();
    let last = up.iter().max_by_key(|r| num(r, "received at")).unwrap();
    assert!(
        reason(last).contains("0x03"),
        "the last record of the ended upload: {last:?}"
    );
    assert_eq!(up.iter().filter(|r| reason(r).contains("0x03")).count(), 1);
    let active = up
        .iter()
        .filter(|r| r.get("end reason").is_some_and(|v| v.contains("0x02")))
        .count();
    assert!(active >= 2, "active-timeout records while it ran");
    // The UDP flow is alive and idle: the kernel's counters now.
    let (ob, op, rb, _) = ct_counters(&udp);
    let u = pick("40200", "5300");
    assert_eq!(
        (sum(&u, "in bytes"), sum(&u, "in packets")),
        (ob, op),
        "{udp}"
    );
    assert_eq!((ob, op, rb), (40 * 1028, 40, 0), "{udp}");
    assert!(
        pick("5300", "40200").is_empty(),
        "no reply, no reply record"
    );
    // IPv6, routed: the ping's echo requests and replies.
    let v6: Vec<&Raw> = recs
        .iter()
        .filter(|r| field(r, "src addr") == "2001:db8:1::2" && field(r, "proto") == "58")
        .collect();
    assert_eq!(sum(&v6, "in packets"), 3, "{v6:?}");
}

/// pmacct's nfacctd with its print plugin reads the same records: the
/// 5-tuples and bytes of the flows.
#[test]
fn ipfix_into_nfacctd() {
    if !netns_ok("ipfix_into_nfacctd") {
        return;
    }
    let bed = Bed::up();
    let dir = Dir::new("nfacctd");
    let events = format!("{}/events", dir.0);
    let _ev = start_events(&bed, &events);
    let conf = format!("{}/nfacctd.conf", dir.0);
    let out = format!("{}/flows.csv", dir.0);
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\nnfacctd_ip: 192.0.2.2\nnfacctd_port: 4739\n\
             plugins: print\naggregate: src_host, dst_host, src_port, dst_port, proto\n\
             print_output: csv\nprint_output_file: {out}\nprint_output_file_append: true\n\
             print_refresh_time: 1\n"
        ),
    )
    .unwrap();
    let _acct = bed.spawn("cli", &format!("nfacctd -f {conf}"));
    bed.wait_for("cli", "ss -lun | grep -q ':4739 '", 10);
    let _nftop = bed.spawn(
        "rtr",
        &format!("{} --quiet -u 1 --ipfix 192.0.2.2:4739", bin()),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (destroy, udp) = traffic(&bed, &events);
    // The print plugin writes every second.
    std::thread::sleep(Duration::from_millis(2500));
    let csv = std::fs::read_to_string(&out).unwrap_or_default();
    // SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,PACKETS,BYTES (header
    // lines repeat per write).
    let head = csv.lines().next().unwrap_or_default().to_string();
    let cols: Vec<&str> = head.split(',').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no {name} in {head}"))
    };
    let (sip, dip, sp, dp, pr, by) = (
        col("SRC_IP"),
        col("DST_IP"),
        col("SRC_PORT"),
        col("DST_PORT"),
        col("PROTOCOL"),
        col("BYTES"),
    );
    let mut bytes: HashMap<(String, String, String, String, String), u64> = HashMap::new();
    for l in csv.lines().filter(|l| *l != head) {
        let f: Vec<&str> = l.split(',').collect();
        let key = (
            f[sip].into(),
            f[dip].into(),
            f[sp].into(),
            f[dp].into(),
            f[pr].to_lowercase(),
        );
        *bytes.entry(key).or_default() += f[by].parse::<u64>().unwrap();
    }
    let get = |s: &str, d: &str, sp: &str, dp: &str, p: &str| {
        bytes
            .get(&(s.into(), d.into(), sp.into(), dp.into(), p.into()))
            .copied()
            .unwrap_or_else(|| panic!("no {s}:{sp} -> {d}:{dp} {p} in\n{csv}"))
    };
    let (ob, _, rb, _) = ct_counters(&destroy);
    assert_eq!(
        get("192.0.2.2", "203.0.113.200", "40100", "5201", "tcp"),
        ob
    );
    assert_eq!(
        get("203.0.113.200", "198.51.100.1", "5201", "40100", "tcp"),
        rb
    );
    let (ob, _, _, _) = ct_counters(&udp);
    assert_eq!(
        get("192.0.2.2", "203.0.113.200", "40200", "5300", "udp"),
        ob
    );
}

/// A collector that is not there (the LAN host answers ICMP port
/// unreachable): nftop keeps refreshing on schedule, counts what it
/// sends, and nothing grows.
#[test]
fn an_unreachable_collector_changes_nothing() {
    if !netns_ok("an_unreachable_collector_changes_nothing") {
        return;
    }
    let bed = Bed::up();
    let _p = bed.spawn("cli", "ping -q -i 0.1 203.0.113.200");
    let _q = bed.spawn("cli", "ping -6 -q -i 0.1 2001:db8:ff::200");
    const PORT: u16 = 9466;
    let mut n = bed.nftop(&[
        "--json",
        "-u",
        "0.5",
        "--ipfix",
        "192.0.2.2:4740",
        "--metrics",
        &format!("127.0.0.1:{PORT}"),
    ]);
    let mut ticks = Vec::new();
    while ticks.len() < 12 {
        let l = n.line().expect("nftop ended");
        if l.contains("\"type\":\"tick\"") {
            ticks.push(Instant::now());
        }
    }
    for w in ticks.windows(2) {
        let gap = (w[1] - w[0]).as_secs_f64();
        assert!(gap < 1.0, "a refresh waited {gap:.2} s");
    }
    bed.wait_for("rtr", &format!("ss -ltn | grep -q ':{PORT} '"), 10);
    let page = crate::export::metrics_page(&bed, PORT);
    let sent = crate::terminal::metric(&page, "nftop_ipfix_records_total");
    assert!(sent >= 20.0, "records sent each refresh: {sent}");
    // The unreachable answers came back (the kernel counts them).
    let unreach: u64 = bed
        .sh(
            "rtr",
            "nstat -az IcmpInDestUnreachs | awk '/IcmpInDestUnreachs/ {print $2}'",
        )
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        unreach > 0,
        "the collector's host answered port unreachable"
    );
}
