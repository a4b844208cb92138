//! nftop on real kernels of router CPUs: tests/vm.sh boots Debian's
//! kernel for mipsel (Malta 24Kc), armv7 and aarch64 under qemu-system
//! (and s390x, big-endian),
//! makes loopback connections of known sizes and runs the cross-built
//! static nftop there. Each entry nftop reports must carry the same
//! addresses, ports and counters as the kernel's own text view
//! (/proc/net/nf_conntrack, read in the same boot), the pings must
//! have exactly the bytes they sent, and a connection that ends while
//! nftop runs must arrive as a DESTROY event.
//!
//! On aarch64 the guest also routes two steady flows through a software
//! flowtable (tests/vm-offload.sh, issue 23): with the flowtable's
//! `counter` flag every sample of each flow must be within 5 % of its
//! bytes on the links (timed by the guest's uptime around the read, told
//! apart by nft's count at the ingress hook); without it the flows must
//! show as offloaded with an unknown rate, and the uplink's blind spot must be
//! within 5 % of its link counters.
//!
//! Ignored in a plain `cargo test`: they need the cross builds.
//! `make test-vm` (part of `make test`) builds them and runs these with
//! NFTOP_REQUIRE_VM=1, where a missing binary or qemu is a failure.

use crate::common::{json, root, J};
use std::net::IpAddr;
use std::process::Command;

/// One line of /proc/net/nf_conntrack, the fields the test compares.
#[derive(Debug)]
struct ProcEntry {
    proto: String,
    src: IpAddr,
    dst: IpAddr,
    /// Ports, or ICMP type and id.
    a: u64,
    b: u64,
    orig_bytes: u64,
    reply_bytes: u64,
    delta_time: f64,
}

/// `ipv4 2 tcp 6 115 TIME_WAIT src=.. dst=.. sport=.. dport=.. packets=..
/// bytes=.. src=.. (reply) .. delta-time=4 use=2`: the first value of each
/// key is the original direction, the second the reply.
fn parse_proc(line: &str) -> ProcEntry {
    let words: Vec<&str> = line.split_whitespace().collect();
    let first = |k: &str| -> &str {
        words
            .iter()
            .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("no {k}= in {line}"))
    };
    let second = |k: &str| -> &str {
        words
            .iter()
            .filter_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .nth(1)
            .unwrap_or_else(|| panic!("no second {k}= in {line}"))
    };
    let n = |s: &str| -> u64 { s.parse().unwrap_or_else(|_| panic!("{s} in {line}")) };
    let proto = words[2].to_string();
    let (a, b) = if proto.starts_with("icmp") {
        (n(first("type")), n(first("id")))
    } else {
        (n(first("sport")), n(first("dport")))
    };
    ProcEntry {
        src: first("src").parse().unwrap(),
        dst: first("dst").parse().unwrap(),
        proto,
        a,
        b,
        orig_bytes: n(first("bytes")),
        reply_bytes: n(second("bytes")),
        delta_time: n(first("delta-time")) as f64,
    }
}

fn conn_matches(c: &J, p: &ProcEntry) -> bool {
    let ip = |k: &str| c.get(k).str().parse::<IpAddr>().ok();
    let (a, b) = if p.proto.starts_with("icmp") {
        (c.get("icmp_type").num(), c.get("icmp_id").num())
    } else {
        (c.get("sport").num(), c.get("dport").num())
    };
    c.get("proto").str() == p.proto
        && ip("src") == Some(p.src)
        && ip("dst") == Some(p.dst)
        && a == p.a as f64
        && b == p.b as f64
}

fn section<'a>(out: &'a str, begin: &str, end: &str) -> Vec<&'a str> {
    let start = out
        .find(begin)
        .unwrap_or_else(|| panic!("guest never printed {begin}:\n{out}"));
    out[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with(end))
        .collect()
}

fn boot(arch: &str, triple: &str) -> Option<String> {
    let test = format!("vm::{arch}");
    let bin = root().join("target").join(triple).join("release/nftop");
    let required = std::env::var("NFTOP_REQUIRE_VM").is_ok_and(|v| v == "1");
    if !bin.exists() {
        let why = format!("no {}: run `make cross TARGET={triple}`", bin.display());
        assert!(!required, "{test}: {why} (NFTOP_REQUIRE_VM=1)");
        eprintln!("SKIP {test}: {why}");
        return None;
    }
    let o = Command::new("sh")
        .arg(root().join("tests/vm.sh"))
        .arg(arch)
        .arg(&bin)
        .env("NFTOP_VM_CACHE", root().join("target/vm"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(2) && !required {
        eprintln!("SKIP {test}: {}", err.trim());
        return None;
    }
    assert!(o.status.success(), "{test}: vm.sh failed: {err}\n{out}");
    assert!(
        !out.contains("NFTOP-VM-ERROR"),
        "{test}: guest set-up failed:\n{out}"
    );
    Some(out)
}

fn check(arch: &str, uname: &str, out: &str) {
    let line = |tag: &str| -> &str {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("{arch}: no {tag} line:\n{out}"))
    };
    assert!(
        line("NFTOP-VM-UNAME ").starts_with(uname),
        "{arch}: booted the wrong kernel: {out}"
    );
    assert_eq!(
        line("NFTOP-VM-RX "),
        "50000 50000",
        "{arch}: test traffic did not arrive"
    );
    assert_eq!(
        line("NFTOP-VM-JSON-END "),
        "0",
        "{arch}: nftop exit code:\n{out}"
    );

    let objs: Vec<J> = section(out, "NFTOP-VM-JSON-BEGIN", "NFTOP-VM-JSON-END")
        .into_iter()
        .map(json)
        .collect();
    let ticks: Vec<&J> = objs
        .iter()
        .filter(|o| o.get("type").str() == "tick")
        .collect();
    assert_eq!(
        ticks.len(),
        2,
        "{arch}: --count 2 must print two ticks:\n{out}"
    );
    assert_eq!(ticks[1].get("conns").num(), 4.0, "{arch}: {out}");
    assert!(ticks[1].get("warnings").arr().is_empty(), "{arch}: {out}");
    let conns: Vec<&J> = objs
        .iter()
        .filter(|o| o.get("type").str() == "conn" && o.get("seq").num() == 2.0)
        .collect();

    let proc: Vec<ProcEntry> = section(out, "NFTOP-VM-PROC-BEGIN", "NFTOP-VM-PROC-END")
        .into_iter()
        .map(parse_proc)
        .collect();
    assert_eq!(
        proc.len(),
        4,
        "{arch}: the guest made 4 connections:\n{out}"
    );
    assert_eq!(
        conns.len(),
        proc.len(),
        "{arch}: nftop and the kernel disagree:\n{out}"
    );
    for p in &proc {
        let c = conns
            .iter()
            .find(|c| conn_matches(c, p))
            .unwrap_or_else(|| panic!("{arch}: nftop lacks {p:?}:\n{out}"));
        // Both ends are local: tx is the original direction.
        assert_eq!(
            c.get("tx_bytes").num(),
            p.orig_bytes as f64,
            "{arch}: {p:?}"
        );
        assert_eq!(
            c.get("rx_bytes").num(),
            p.reply_bytes as f64,
            "{arch}: {p:?}"
        );
        assert_eq!(c.get("age_from").str(), "kernel", "{arch}: {p:?}");
        // delta-time is whole seconds, read a moment after nftop's dump.
        let age = c.get("age_s").num();
        assert!(
            (age - p.delta_time).abs() <= 2.0,
            "{arch}: age {age} vs kernel delta-time {} for {p:?}",
            p.delta_time
        );
        assert_eq!(c.get("in").str(), "local", "{arch}: {p:?}");
        assert_eq!(c.get("out").str(), "lo", "{arch}: {p:?}");
    }

    // Independent of /proc: the pings' bytes are known exactly (IPv4 20 +
    // ICMP 8 + 100 payload, three each way; IPv6 40 + 8 + 200, two), and
    // each TCP stream carried 50000 bytes of payload one way.
    let find = |proto: &str, dst: &str| -> &J {
        conns
            .iter()
            .find(|c| c.get("proto").str() == proto && c.get("dst").str() == dst)
            .unwrap_or_else(|| panic!("{arch}: no {proto} to {dst}:\n{out}"))
    };
    for (proto, dst, bytes) in [("icmp", "127.0.0.1", 384.0), ("icmpv6", "::1", 496.0)] {
        let c = find(proto, dst);
        assert_eq!(c.get("tx_bytes").num(), bytes, "{arch} {proto}");
        assert_eq!(c.get("rx_bytes").num(), bytes, "{arch} {proto}");
    }
    for (dst, port, family) in [("127.0.0.1", 5555.0, "ipv4"), ("::1", 5556.0, "ipv6")] {
        let c = find("tcp", dst);
        assert_eq!(c.get("dport").num(), port, "{arch}");
        assert_eq!(c.get("family").str(), family, "{arch}");
        let tx = c.get("tx_bytes").num();
        assert!((50_000.0..60_000.0).contains(&tx), "{arch}: tcp tx {tx}");
        assert!(
            c.get("rx_bytes").num() < 5_000.0,
            "{arch}: only ACKs come back"
        );
    }

    // The end of a connection: a 300-byte ping whose entry the kernel
    // removes while nftop runs must arrive as a DESTROY event (decoded on
    // this CPU) and stay on as a closed row with its final counters.
    let objs: Vec<J> = section(out, "NFTOP-VM-EVENTS-BEGIN", "NFTOP-VM-EVENTS-END")
        .into_iter()
        .map(json)
        .collect();
    let last = objs
        .iter()
        .rfind(|o| o.get("type").str() == "tick")
        .unwrap_or_else(|| panic!("{arch}: no tick in the events run:\n{out}"));
    assert_eq!(last.get("seq").num(), 6.0, "{arch}: {out}");
    assert_eq!(
        last.get("closed").num(),
        1.0,
        "{arch}: one connection ended"
    );
    let ev = last.get("events");
    assert!(
        ev.get("received").num() >= 1.0,
        "{arch}: no DESTROY event: {out}"
    );
    assert_eq!(ev.get("lost").num(), 0.0, "{arch}");
    let closed = objs
        .iter()
        .find(|o| {
            o.get("seq").num() == 6.0
                && o.get("proto").str() == "icmp"
                && o.get("flags").arr().iter().any(|f| f.str() == "closed")
        })
        .unwrap_or_else(|| panic!("{arch}: no closed ping row:\n{out}"));
    assert_eq!(closed.get("tx_bytes").num(), 328.0, "{arch}: 20 + 8 + 300");
    assert_eq!(closed.get("rx_bytes").num(), 328.0, "{arch}");
}

/// The reader itself, on lines a mipsel guest printed (tests/vm.sh).
#[test]
fn proc_lines_parse() {
    let tcp = parse_proc(
        "ipv6     10 tcp      6 115 TIME_WAIT src=0000:0000:0000:0000:0000:0000:0000:0001 \
         dst=0000:0000:0000:0000:0000:0000:0000:0001 sport=56238 dport=5556 packets=41 bytes=52960 \
         src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 \
         sport=5556 dport=56238 packets=39 bytes=2816 [ASSURED] mark=0 zone=0 delta-time=4 use=2",
    );
    assert_eq!(tcp.proto, "tcp");
    assert_eq!(tcp.src, "::1".parse::<IpAddr>().unwrap());
    assert_eq!((tcp.a, tcp.b), (56238, 5556));
    assert_eq!(
        (tcp.orig_bytes, tcp.reply_bytes, tcp.delta_time),
        (52960, 2816, 4.0)
    );
    let icmp = parse_proc(
        "ipv4     2 icmp     1 27 src=127.0.0.1 dst=127.0.0.1 type=8 code=0 id=98 packets=3 \
         bytes=384 src=127.0.0.1 dst=127.0.0.1 type=0 code=0 id=98 packets=3 bytes=380 mark=0 \
         zone=0 delta-time=3 use=2",
    );
    assert_eq!((icmp.a, icmp.b), (8, 98));
    assert_eq!((icmp.orig_bytes, icmp.reply_bytes), (384, 380));
}

/// Boots `arch` with the build for `triple` and checks it; `uname` is how
/// the guest's `uname -m` starts.
fn vm_test(arch: &str, triple: &str, uname: &str) {
    if let Some(out) = boot(arch, triple) {
        check(arch, uname, &out);
        if arch == "aarch64" {
            check_offload(&out, "COUNTER", (5201.0, 5300.0));
            check_offload(&out, "FROZEN", (5202.0, 5301.0));
        }
    }
}

/// One of tests/vm-offload.sh's reads before or after nftop's run.
struct Read {
    /// The guest's uptime before the read started and after it ended.
    at: (f64, f64),
    /// By device (r0, r1): TCP and UDP bytes (nft) or received bytes and
    /// packets (/proc/net/dev).
    v: [[f64; 2]; 2],
}

impl Read {
    fn mid(&self) -> f64 {
        (self.at.0 + self.at.1) / 2.0
    }
}

/// The two reads of `what` (ACCT: nft, LINK: the links) in `phase`, the
/// span between their midpoints, and the share of it the two ends
/// together may be off: each read is only known to have happened during
/// its run, give or take the uptime's 10 ms steps.
fn reads(out: &str, what: &str, phase: &str) -> (Read, Read, f64, f64) {
    let tag = format!("NFTOP-VM-OFFLOAD-{what} {phase} ");
    let mut reads: Vec<Read> = out
        .lines()
        .filter_map(|l| l.strip_prefix(&tag))
        .map(|l| l.replace(':', " "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let num = |s: &str| -> f64 { s.parse().unwrap() };
            let mut v = [[0.0; 2]; 2];
            if what == "ACCT" {
                // r0's TCP and UDP counters, then r1's.
                for (i, p) in w[2..].chunks(2).enumerate() {
                    let proto = usize::from(!matches!(p[0], "6" | "tcp"));
                    v[i / 2][proto] += num(p[1]);
                }
            } else {
                // r0: rx_bytes rx_packets ... (16 numbers per device).
                for (i, t) in w.iter().enumerate() {
                    if let Some(dev) = ["r0", "r1"].iter().position(|d| d == t) {
                        v[dev] = [num(w[i + 1]), num(w[i + 2])];
                    }
                }
            }
            // ACCT: the stamps first; LINK: cat's two uptime lines (two
            // numbers each) around /proc/net/dev.
            let after = if what == "ACCT" { 1 } else { w.len() - 2 };
            Read {
                at: (num(w[0]), num(w[after])),
                v,
            }
        })
        .collect();
    assert_eq!(reads.len(), 2, "{phase}: {what} reads:\n{out}");
    let last = reads.pop().unwrap();
    let first = reads.pop().unwrap();
    let span = last.mid() - first.mid();
    let width = |r: &Read| r.at.1 - r.at.0 + 0.01;
    let unsure = (width(&first) + width(&last)) / 2.0 / span;
    (first, last, span, unsure)
}

/// The flows' rates (TCP and UDP, both directions, IP bytes, bit/s) in
/// `phase`, and how far each may be off (a share of it).
fn truth(out: &str, phase: &str) -> ([f64; 2], [f64; 2]) {
    let (a0, a1, a_span, a_unsure) = reads(out, "ACCT", phase);
    let (l0, l1, l_span, l_unsure) = reads(out, "LINK", phase);
    let nft = |dev: usize, proto: usize| (a1.v[dev][proto] - a0.v[dev][proto]) * 8.0 / a_span;
    // A frame is its IP packet and an Ethernet header (veth counts both).
    let ip = |dev: usize| {
        let d = |i: usize| l1.v[dev][i] - l0.v[dev][i];
        (d(0) - 14.0 * d(1)) * 8.0 / l_span
    };
    // Into r0 comes the client's TCP upload alone; into r1 the server's
    // UDP and the upload's ACKs, which nft tells apart: nft's timing
    // error on them (about 2 % of the upload) adds to both flows'.
    let acks = nft(1, 0);
    let rates = [ip(0) + acks, ip(1) - acks];
    let unsure = rates.map(|r| l_unsure + acks * a_unsure / r);
    let nft_rates = [nft(0, 0) + nft(1, 0), nft(0, 1) + nft(1, 1)];
    eprintln!(
        "offload {phase}: tcp {:.0} udp {:.0} bit/s over {l_span:.2} s (timed to {:.2} %); \
         nft tcp {:.0} udp {:.0} (timed to {:.1} %)",
        rates[0],
        rates[1],
        l_unsure * 100.0,
        nft_rates[0],
        nft_rates[1],
        a_unsure * 100.0
    );
    assert!(
        rates[0] > 6e6 && rates[1] > 4.5e6,
        "{phase}: the flows did not run:\n{out}"
    );
    // The links' bytes are the flows' (nft's count agrees, as well as
    // its timing can tell).
    for p in 0..2 {
        assert!(
            (nft_rates[p] - rates[p]).abs() <= rates[p] * (a_unsure + 0.02),
            "{phase}: links {rates:?} vs nft {nft_rates:?}:\n{out}"
        );
    }
    // 0.3-0.4 % here (the uptime's steps, mostly): beyond 1 % the truth is
    // too vague to hold nftop to 5 %.
    assert!(
        l_unsure <= 0.01,
        "{phase}: the links' reads took long:\n{out}"
    );
    (rates, unsure)
}

/// One phase of tests/vm-offload.sh: a TCP flow to `ports.0` and a UDP
/// flow from `ports.1` (8 and 6 Mbit/s) through the router's software
/// flowtable, with its `counter` flag (COUNTER) or without (FROZEN).
fn check_offload(out: &str, phase: &str, ports: (f64, f64)) {
    let begin = format!("NFTOP-VM-OFFLOAD-{phase}-BEGIN");
    let end = format!("NFTOP-VM-OFFLOAD-{phase}-END");
    assert!(
        out.contains(&format!("{end} 0")),
        "{phase}: nftop failed:\n{out}"
    );
    let objs: Vec<J> = section(out, &begin, &end)
        .into_iter()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .collect();
    let (rates, unsure) = truth(out, phase);
    let frozen = phase == "FROZEN";
    // The first samples see the flows' start (bytes over their age) and
    // nftop's own (the emulated CPU is busy with it).
    let late = |o: &&J| o.get("seq").num() >= 4.0;
    for (p, (proto, port)) in [("tcp", ports.0), ("udp", ports.1)].into_iter().enumerate() {
        let (truth, unsure) = (rates[p], unsure[p]);
        let rows: Vec<&J> = objs
            .iter()
            .filter(late)
            .filter(|o| o.get("type").str() == "conn" && o.get("proto").str() == proto)
            .filter(|o| o.get("dport").num() == port)
            .collect();
        assert!(rows.len() >= 5, "{phase}: {proto} samples:\n{out}");
        for r in rows {
            assert_eq!(r.get("offload").str(), "sw", "{phase} {proto}: {r:?}");
            let sum = r.get("sum_bps");
            if frozen {
                assert_eq!(*sum, J::Null, "{phase} {proto}: rate unknown: {r:?}");
                continue;
            }
            let v = sum.num();
            eprintln!("offload {phase} {proto}: {v:.0} bit/s, links {truth:.0}");
            assert!(
                (v - truth).abs() <= truth * (0.05 + unsure),
                "{phase} {proto}: {v} bit/s vs the links' {truth} (timed to {unsure})"
            );
        }
    }
    // The uplink: what its link carried that conntrack does not account for.
    let uplink: Vec<&J> = objs
        .iter()
        .filter(late)
        .filter(|o| o.get("type").str() == "dev" && o.get("dev").str() == "r1")
        .collect();
    assert!(uplink.len() >= 5, "{phase}: uplink rows:\n{out}");
    for d in uplink {
        let link = d.get("link_tx_bps").num() + d.get("link_rx_bps").num();
        let blind = d.get("blind_bps").num();
        eprintln!("offload {phase} r1: link {link:.0} blind {blind:.0} bit/s");
        assert!(link > 6e6, "{phase}: uplink idle: {d:?}");
        if frozen {
            assert!(
                (blind - link).abs() <= link * 0.05,
                "{phase}: blind spot {blind} vs link {link}"
            );
        } else {
            assert!(blind <= link * 0.05, "{phase}: blind {blind} of {link}");
        }
    }
    let tick = objs
        .iter()
        .rfind(|o| o.get("type").str() == "tick")
        .unwrap_or_else(|| panic!("{phase}: no tick:\n{out}"));
    let w = tick
        .get("warnings")
        .arr()
        .iter()
        .find(|w| w.get("code").str() == "offload")
        .unwrap_or_else(|| panic!("{phase}: no offload warning: {tick:?}"));
    let fix = if frozen {
        "add counter to the flowtable"
    } else {
        "counted by the flowtable"
    };
    assert!(w.get("msg").str().contains(fix), "{phase}: {w:?}");
}

#[test]
#[ignore = "needs the cross builds: make test-vm"]
fn mipsel() {
    vm_test("mipsel", "mipsel-unknown-linux-musl", "mips ");
}

#[test]
#[ignore = "needs the cross builds: make test-vm"]
fn armv7() {
    vm_test("armv7", "armv7-unknown-linux-musleabihf", "armv7l ");
}

#[test]
#[ignore = "needs the cross builds: make test-vm"]
fn aarch64() {
    vm_test("aarch64", "aarch64-unknown-linux-musl", "aarch64 ");
}

/// Not a router CPU: Debian's only big-endian architecture (bookworm has
/// no mips), so the big-endian decoder meets a live kernel here.
#[test]
#[ignore = "needs the cross builds: make test-vm"]
fn s390x() {
    vm_test("s390x", "s390x-unknown-linux-musl", "s390x ");
}
