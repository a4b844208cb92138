//! Seeds for the fuzz targets (fuzz/): what the kernel really sends on
//! the bed (ctnetlink dumps and DESTROY events, every rtnetlink dump
//! nftop reads, route-lookup answers, route events), the recorded
//! fixture, and samples of every text nftop reads. `make fuzz-seeds`
//! writes them to fuzz/corpus/<target>/ (committed; the long runs add
//! what they find).

use crate::common::{root, Bed};
use netlink_sys::{protocols, Socket, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn dir(target: &str) -> PathBuf {
    let d = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn save(target: &str, name: &str, data: &[u8]) {
    std::fs::write(dir(target).join(format!("seed-{name}")), data).unwrap();
}

/// Every datagram that arrives on `s` within `ms`.
fn drain(s: &Socket, ms: u64) -> Vec<Vec<u8>> {
    s.set_non_blocking(true).unwrap();
    let end = Instant::now() + Duration::from_millis(ms);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < end {
        match s.recv(&mut &mut buf[..], 0) {
            Ok(n) if n > 0 => out.push(buf[..n].to_vec()),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    out
}

/// The answer datagrams to one request, until NLMSG_DONE or a pause.
fn ask(s: &Socket, req: &[u8]) -> Vec<Vec<u8>> {
    s.send(req, 0).unwrap();
    drain(s, 300)
}

fn netlink(proto: isize) -> Socket {
    let mut s = Socket::new(proto).unwrap();
    s.bind(&SocketAddr::new(0, 0)).unwrap();
    s
}

#[test]
#[ignore = "writes fuzz seeds: make fuzz-seeds"]
fn record_fuzz_seeds() {
    assert!(crate::common::netns_ok("record_fuzz_seeds"));
    for (i, d) in crate::common::fixture("bed-dump.bin").iter().enumerate() {
        save("ct_dump", &format!("fixture-{i}"), d);
    }
    let bed = Bed::up();
    let _t = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    let _t6 = bed.spawn("cli", "ping -6 -q -i 0.2 2001:db8:ff::200");
    bed.sh(
        "rtr",
        "ip neigh replace 192.0.2.9 lladdr 02:00:00:00:00:09 dev lan0",
    );
    std::thread::sleep(Duration::from_millis(600));
    let ns = bed.ns("rtr");
    let ns2 = ns.clone();
    std::thread::spawn(move || {
        crate::common::enter(&ns2);
        // A live ctnetlink dump.
        let mut ct = nftop::netlink::CtSocket::open().unwrap();
        let mut stats = nftop::netlink::DumpStats::default();
        let mut k = 0;
        ct.dump_datagrams(&mut stats, |d, _, _, _| {
            save("ct_dump", &format!("live-{k}"), d);
            k += 1;
            Ok(if nftop::netlink::messages(d).any(|(h, _)| h.kind == 3) {
                nftop::netlink::Step::Done
            } else {
                nftop::netlink::Step::More
            })
        })
        .unwrap();
        // Every rtnetlink dump nftop reads.
        let rt = netlink(protocols::NETLINK_ROUTE);
        for (i, req) in nftop::route::wire::dump_requests().iter().enumerate() {
            for (j, d) in ask(&rt, req).iter().enumerate() {
                save("rtnl_dump", &format!("{i}-{j}"), d);
            }
        }
        // Route lookups, as a batch: answers and errors, length-prefixed.
        let v4 = |a: [u8; 4]| {
            let mut x = [0u8; 16];
            x[..4].copy_from_slice(&a);
            x
        };
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 9;
        let q = |family, dst, forward, iif, mark| nftop::route::wire::Query {
            forward,
            family,
            dst,
            src: [0; 16],
            has_src: false,
            iif,
            mark,
            proto: 6,
            sport: 40000,
            dport: 443,
            ..nftop::route::wire::Query::EMPTY
        };
        let qs = [
            q(4, v4([203, 0, 113, 200]), false, 0, 0),
            q(4, v4([203, 0, 113, 200]), false, 0, 2),
            q(6, v6, false, 0, 0),
            q(4, v4([10, 9, 9, 9]), true, 999, 0),
        ];
        let mut batch = Vec::new();
        for (i, q) in qs.iter().enumerate() {
            nftop::route::wire::encode_query(&mut batch, q, 100 + i as u32);
        }
        let mut rec = Vec::new();
        for d in ask(&rt, &batch) {
            rec.extend_from_slice(&(d.len() as u32).to_le_bytes());
            rec.extend_from_slice(&d);
        }
        save("rtnl_answers", "lookups", &rec);
    })
    .join()
    .unwrap();
    // Events: route and neighbour changes, and DESTROYs.
    let ns3 = ns.clone();
    let events = std::thread::spawn(move || {
        crate::common::enter(&ns3);
        let rt = netlink(protocols::NETLINK_ROUTE);
        for g in [1, 3, 5, 7, 8, 9, 11, 19] {
            rt.add_membership(g).unwrap();
        }
        let ct = netlink(protocols::NETLINK_NETFILTER);
        ct.add_membership(3).unwrap(); // NFNLGRP_CONNTRACK_DESTROY
        (drain(&rt, 2500), drain(&ct, 2500))
    });
    std::thread::sleep(Duration::from_millis(300));
    bed.sh(
        "rtr",
        "ip addr add 192.0.2.77/24 dev lan0; ip route add 198.51.100.128/25 via 198.51.100.2; \
         ip neigh replace 192.0.2.8 lladdr 02:00:00:00:00:08 dev lan0; ip link set wan1 down; \
         ip link set wan1 up; ip route del 198.51.100.128/25; conntrack -D -p icmp >/dev/null 2>&1; true",
    );
    bed.sh("cli", "ping -c 2 -i 0.2 203.0.113.200 >/dev/null; true");
    bed.sh("rtr", "conntrack -D >/dev/null 2>&1; true");
    let (rt, ct) = events.join().unwrap();
    for (i, d) in rt.iter().enumerate().take(40) {
        save("rtnl_answers", &format!("event-{i}"), d);
    }
    assert!(!ct.is_empty(), "no DESTROY events recorded");
    for (i, d) in ct.iter().enumerate().take(40) {
        save("ct_events", &format!("{i}"), d);
    }
    // Texts: hosts, leases, services, /proc, resolv.conf (first byte:
    // which parser, as fuzz_targets/files.rs).
    let text = |which: u8, t: &[u8]| [&[which][..], t].concat();
    save(
        "files",
        "hosts",
        &text(0, b"127.0.0.1 localhost\n192.0.2.2 cli.lan cli # the LAN host\n2001:db8:1::2 cli6\n::1 ip6-localhost\n"),
    );
    save(
        "files",
        "leases",
        &text(1, b"1796001086 02:00:00:00:00:02 192.0.2.2 phone 01:02:00:00:00:00:02\n1796001086 02:00:00:00:00:03 192.0.2.3 * *\n1796001086 02:00:00:00:00:04 2001:db8:1::4 laptop *\n"),
    );
    if let Ok(s) = std::fs::read("/etc/services") {
        save("files", "services", &text(2, &s[..s.len().min(4000)]));
    }
    if let Ok(s) = std::fs::read("/proc/net/stat/nf_conntrack") {
        save("files", "ct-stat", &text(3, &s));
    }
    save(
        "files",
        "resolv",
        &text(4, b"# generated\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions timeout:2 attempts:3 ndots:1\nsearch lan\n"),
    );
    // Keys: letters, arrows, page keys, a cursor position report.
    for (i, k) in [
        &b"q"[..],
        b"\x1b[A\x1b[B\x1b[5~\x1b[6~\x1b[H\x1b[F",
        b"\x1b[24;80R",
        b"/port 443\r\x1b",
        b"u2.5\r",
        b"t1M\r",
        b"hdwHabBSVIrRnNl460<>!kyn\x0c",
    ]
    .iter()
    .enumerate()
    {
        save("keys", &format!("{i}"), k);
    }
    for (i, a) in [
        &b"-c\0-u\x000.5\0--count\x003"[..],
        b"-M\0-d\0-t\x001M\0--wan\0wwan+",
        b"--json\0-H\0--metrics\0[::]:9100\0--metrics-hosts\x0016",
        b"--ipfix\x00192.0.2.1:4739\0--ipfix-domain\x007\0-q",
        b"-f\0tcp and port 443 or host 192.0.2.0/24\0-s\0tx\0-A\0-a",
        b"-i\0lan0\0-o\0wan+\0--capacity\x00100000\0--cpu\x0025\0--linger\x0010",
    ]
    .iter()
    .enumerate()
    {
        save("cli", &format!("{i}"), a);
    }
    for (i, f) in [
        "tcp and dport 443",
        "not udp or (host 192.0.2.0/24 and port 53)",
        "mark 2/0xff and in lan0 and out wan+",
        "host 2001:db8::/32 and state established",
    ]
    .iter()
    .enumerate()
    {
        save("filter", &format!("{i}"), f.as_bytes());
    }
    for (i, h) in [
        &b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET / HTTP/1.0\r\n\r\n",
        b"POST /metrics HTTP/1.1\r\n\r\n",
        b"garbage\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        save("http", &format!("{i}"), h);
    }
    // A PTR answer as a server sends it, for each family (fuzz_targets/
    // dns.rs builds the question from the first byte and the id).
    for (which, addr) in [
        (0u8, &[192u8, 0, 2, 1][..]),
        (
            1,
            &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
    ] {
        let mut q = Vec::new();
        nftop::dns::build_query(addr, 0x1234, &mut q);
        let mut m = q.clone();
        m[2] |= 0x80;
        m[3] = 0x80;
        m[7] = 1;
        let rd_at = m.len() + 12;
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 0]);
        m.extend_from_slice(b"\x06server\x07example\x00");
        m[rd_at - 1] = (m.len() - rd_at) as u8;
        save("dns", &format!("{which}"), &[&[which][..], &m].concat());
    }
}
