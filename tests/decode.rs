//! The decoder on recorded kernel dumps: every entry, every field that
//! `conntrack -L` printed for the same table, and no panic on truncated or
//! corrupted bytes.

use crate::common::{fixture, seq_port};
use nftop::conntrack::{self, Conn};
use nftop::netlink::{parse_datagram, DumpStats, Step};

fn decode_all(datagrams: &[Vec<u8>]) -> (Vec<Conn>, DumpStats, bool) {
    let (seq, port) = seq_port(&datagrams[0]);
    let mut scratch = Conn::default();
    let mut stats = DumpStats::default();
    let mut out = Vec::new();
    let mut done = false;
    for d in datagrams {
        if parse_datagram(d, seq, port, &mut scratch, &mut stats, |c| out.push(*c)).unwrap()
            == Step::Done
        {
            done = true;
        }
    }
    (out, stats, done)
}

fn ip(c: &Conn, a: &[u8; 16]) -> String {
    if c.family == 4 {
        std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
    } else {
        std::net::Ipv6Addr::from(*a).to_string()
    }
}

/// key=value pairs of one `conntrack -L -o extended,id` line, in order.
fn kv(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn bed_dump_decodes_every_entry_like_conntrack_tool() {
    let d = fixture("bed-dump.bin");
    let (conns, stats, done) = decode_all(&d);
    assert!(done, "NLMSG_DONE seen");
    assert_eq!(stats.malformed, 0);
    let text = std::fs::read_to_string(
        crate::common::root().join("tests/fixtures/bed-dump.conntrack-L.txt"),
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 15, "fixture has a real table");
    // conntrack -L ran right after the dump: short-lived entries may differ,
    // but almost every id must be in both, with identical tuples.
    let mut matched = 0;
    for line in &lines {
        let f = kv(line);
        let id: u32 = f
            .iter()
            .find(|(k, _)| k == "id")
            .unwrap()
            .1
            .parse()
            .unwrap();
        let Some(c) = conns.iter().find(|c| c.id == id) else {
            // Pings start a new entry every few seconds; anything else must
            // have been in the dump too.
            assert!(line.contains("icmp"), "not in the dump: {line}");
            continue;
        };
        matched += 1;
        let srcs: Vec<&String> = f
            .iter()
            .filter(|(k, _)| k == "src")
            .map(|(_, v)| v)
            .collect();
        let dsts: Vec<&String> = f
            .iter()
            .filter(|(k, _)| k == "dst")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(ip(c, &c.orig.src), *srcs[0], "{line}");
        assert_eq!(ip(c, &c.orig.dst), *dsts[0], "{line}");
        assert_eq!(ip(c, &c.reply.src), *srcs[1], "{line}");
        assert_eq!(ip(c, &c.reply.dst), *dsts[1], "{line}");
        let proto: u8 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert_eq!(c.orig.proto, proto, "{line}");
        if conntrack::has_ports(proto) {
            let sports: Vec<u16> = f
                .iter()
                .filter(|(k, _)| k == "sport")
                .map(|(_, v)| v.parse().unwrap())
                .collect();
            let dports: Vec<u16> = f
                .iter()
                .filter(|(k, _)| k == "dport")
                .map(|(_, v)| v.parse().unwrap())
                .collect();
            assert_eq!(
                (c.orig.sport, c.orig.dport),
                (sports[0], dports[0]),
                "{line}"
            );
            assert_eq!(
                (c.reply.sport, c.reply.dport),
                (sports[1], dports[1]),
                "{line}"
            );
        }
        if proto == 1 || proto == 58 {
            let ty: u16 = f
                .iter()
                .find(|(k, _)| k == "type")
                .unwrap()
                .1
                .parse()
                .unwrap();
            let id: u16 = f
                .iter()
                .find(|(k, _)| k == "id")
                .unwrap()
                .1
                .parse()
                .unwrap();
            assert_eq!(c.orig.dport >> 8, ty, "{line}");
            assert_eq!(c.orig.sport, id, "{line}");
        }
        let mark: u32 = f
            .iter()
            .find(|(k, _)| k == "mark")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert_eq!(c.mark, mark, "{line}");
        let zone: u16 = f
            .iter()
            .find(|(k, _)| k == "zone")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        assert_eq!(c.zone, zone, "{line}");
        assert!(c.has_counters, "acct was on: {line}");
        assert!(c.start != 0, "timestamps were on: {line}");
        if line.contains("ESTABLISHED") && proto == 6 {
            assert_eq!(conntrack::state_name(6, c.state), "ESTABLISHED");
        }
        if line.contains("TIME_WAIT") {
            assert_eq!(conntrack::state_name(6, c.state), "TIME_WAIT");
        }
    }
    assert!(
        matched * 4 >= lines.len() * 3,
        "{matched} of {} matched",
        lines.len()
    );
    // Every protocol the fixture holds is decoded, not only TCP/UDP/ICMP.
    for p in [1u8, 6, 17, 33, 47, 50, 58, 132, 136, 253] {
        assert!(
            conns.iter().any(|c| c.orig.proto == p),
            "protocol {p} missing"
        );
    }
    assert!(conns.iter().any(|c| c.family == 6));
}

#[test]
fn nat_view_pairs_address_and_port_of_the_same_tuple() {
    let (conns, _, _) = decode_all(&fixture("bed-dump.bin"));
    // Masquerade: 192.0.2.2:P -> 203.0.113.200:5201 leaves as 198.51.100.1:P'.
    let m = conns
        .iter()
        .find(|c| c.orig.proto == 6 && c.orig.dport == 5201 && c.nat_src().is_some())
        .expect("masqueraded flow");
    let (a, p) = m.nat_src().unwrap();
    assert_eq!(a, &[198, 51, 100, 1]);
    assert_eq!(p, m.reply.dport);
    assert!(m.nat_dst().is_none());
    // Marked flow over uplink 2 is masqueraded to 203.0.113.1.
    let m2 = conns
        .iter()
        .find(|c| c.orig.dport == 5202 && c.nat_src().is_some())
        .unwrap();
    assert_eq!(m2.nat_src().unwrap().0, &[203, 0, 113, 1]);
    assert_eq!(m2.mark, 2);
    // Port forward: 198.51.100.2 -> 198.51.100.1:2222 goes to 192.0.2.2:8022.
    let pf = conns
        .iter()
        .find(|c| c.orig.dport == 2222)
        .expect("port forward");
    let (a, p) = pf.nat_dst().unwrap();
    assert_eq!((a, p), (&[192u8, 0, 2, 2][..], 8022));
    // IPv6 is routed, not translated.
    for c in conns.iter().filter(|c| c.family == 6) {
        assert!(c.nat_src().is_none() && c.nat_dst().is_none());
    }
    // Zone and mark of the injected UDPLITE entry.
    let ul = conns.iter().find(|c| c.orig.proto == 136).unwrap();
    assert_eq!((ul.zone, ul.mark), (7, 42));
}

#[test]
fn truncation_at_every_offset_never_panics_nor_invents_entries() {
    let d = fixture("bed-dump.bin");
    let (seq, port) = seq_port(&d[0]);
    let mut scratch = Conn::default();
    for dg in &d {
        let mut full = DumpStats::default();
        let _ = parse_datagram(dg, seq, port, &mut scratch, &mut full, |_| {});
        for cut in 0..dg.len() {
            let mut st = DumpStats::default();
            let _ = parse_datagram(&dg[..cut], seq, port, &mut scratch, &mut st, |_| {});
            assert!(st.entries <= full.entries);
        }
    }
    // Each message payload cut at every byte: decode() errs or succeeds,
    // never panics.
    for dg in &d {
        let mut off = 0;
        while let Some(h) = nftop::nl::MsgHeader::parse(&dg[off..]) {
            let payload = &dg[off + 16..off + h.len];
            for cut in 0..payload.len() {
                let _ = conntrack::decode(&payload[..cut], &mut scratch);
            }
            off += (h.len + 3) & !3;
            if off >= dg.len() {
                break;
            }
        }
    }
}

#[test]
fn garbage_and_bit_flips_are_counted_not_fatal() {
    let d = fixture("bed-dump.bin");
    let (seq, port) = seq_port(&d[0]);
    let mut scratch = Conn::default();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let mut g = d[0].clone();
        // Corrupt a few bytes past the first header so the message is still
        // ours (seq/port intact) but its attributes are damaged.
        for _ in 0..1 + rnd() % 4 {
            let i = 16 + (rnd() as usize) % (g.len() - 16);
            g[i] ^= 1 << (rnd() % 8);
        }
        let mut st = DumpStats::default();
        let _ = parse_datagram(&g, seq, port, &mut scratch, &mut st, |_| {});
    }
    for _ in 0..2000 {
        let n = (rnd() % 300) as usize;
        let g: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
        let mut st = DumpStats::default();
        let _ = parse_datagram(&g, seq, port, &mut scratch, &mut st, |_| {});
        let _ = conntrack::decode(&g, &mut scratch);
    }
    // A message with a bad attribute length inside is skipped and counted;
    // the next messages of the datagram still decode.
    let dg = &d[0];
    let h = nftop::nl::MsgHeader::parse(dg).unwrap();
    assert!(h.len < dg.len(), "first datagram holds several messages");
    let mut g = dg.clone();
    // First attribute of the first message: nla_len at offset 16+4.
    g[20] = 0xff;
    g[21] = 0x7f;
    let mut st = DumpStats::default();
    let mut n = 0;
    parse_datagram(&g, seq, port, &mut scratch, &mut st, |_| n += 1).unwrap();
    let mut full = DumpStats::default();
    parse_datagram(dg, seq, port, &mut scratch, &mut full, |_| {}).unwrap();
    assert_eq!(st.malformed, 1);
    assert_eq!(n, full.entries - 1);
}

#[test]
fn foreign_sequence_or_port_is_ignored_and_errors_are_reported() {
    let d = fixture("bed-dump.bin");
    let (seq, port) = seq_port(&d[0]);
    let mut scratch = Conn::default();
    let mut st = DumpStats::default();
    let mut n = 0;
    parse_datagram(
        &d[0],
        seq.wrapping_add(1),
        port,
        &mut scratch,
        &mut st,
        |_| n += 1,
    )
    .unwrap();
    assert_eq!(n, 0, "stale answers of an older dump are skipped");
    parse_datagram(&d[0], seq, port ^ 1, &mut scratch, &mut st, |_| n += 1).unwrap();
    assert_eq!(n, 0, "messages for another socket are skipped");
    kernel_errors_name_the_fix(seq, port);
}

/// The kernel's NLMSG_ERROR answers to a dump, as the dump reader gets
/// them: one line each that names the fix (what tests/badenv.rs checks
/// end to end for EPERM and EPROTONOSUPPORT, which a test can make the
/// kernel give; EOPNOTSUPP comes from a kernel whose nfnetlink lacks the
/// conntrack subsystem).
fn kernel_errors_name_the_fix(seq: u32, port: u32) {
    let (mut scratch, mut st) = (Conn::default(), DumpStats::default());
    for (errno, want) in [
        (libc::EPERM, "CAP_NET_ADMIN"),
        (libc::EACCES, "CAP_NET_ADMIN"),
        (libc::EOPNOTSUPP, "modprobe nf_conntrack_netlink"),
        (libc::ENOENT, "modprobe nf_conntrack_netlink"),
        (libc::EPROTONOSUPPORT, "kmod-nf-conntrack-netlink"),
        (libc::ENOMEM, "conntrack dump failed: "),
    ] {
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&2u16.to_ne_bytes());
        e[8..12].copy_from_slice(&seq.to_ne_bytes());
        e[12..16].copy_from_slice(&port.to_ne_bytes());
        e[16..20].copy_from_slice(&(-errno).to_ne_bytes());
        let err = parse_datagram(&e, seq, port, &mut scratch, &mut st, |_| {}).unwrap_err();
        assert!(err.msg.contains(want), "{errno}: {}", err.msg);
        assert!(!err.msg.contains('\n'), "{}", err.msg);
        assert_eq!(err.exit_code(), 1);
    }
}

/// Flow offloading is not in our test kernel: set the IPS_OFFLOAD status
/// bit (14) in a recorded message, as an offloading router's kernel would
/// send it, and check the decoder, the table, the warning and the JSON.
#[test]
fn offload_status_bit_from_recorded_message_warns() {
    let d = fixture("bed-dump.bin");
    let (seq, port) = seq_port(&d[0]);
    let mut dg = d[0].clone();
    // The first message's CTA_STATUS (type 3, big-endian u32 payload).
    let h = nftop::nl::MsgHeader::parse(&dg).unwrap();
    let attrs = 16 + 4;
    let mut off = attrs;
    let mut patched = false;
    while off + 4 <= h.len {
        let len = u16::from_ne_bytes([dg[off], dg[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([dg[off + 2], dg[off + 3]]) & 0x3fff;
        if kind == 3 {
            let mut v = u32::from_be_bytes([dg[off + 4], dg[off + 5], dg[off + 6], dg[off + 7]]);
            v |= nftop::conntrack::IPS_OFFLOAD;
            dg[off + 4..off + 8].copy_from_slice(&v.to_be_bytes());
            patched = true;
            break;
        }
        off += (len + 3) & !3;
    }
    assert!(patched);
    let mut table = nftop::flows::FlowTable::new(64, 1);
    let mut scratch = Conn::default();
    let mut st = DumpStats::default();
    // Twice, one second apart, with the same counters: a software
    // flowtable without `counter` froze them.
    for t in 1..=2u64 {
        table.begin();
        st = DumpStats::default();
        parse_datagram(&dg, seq, port, &mut scratch, &mut st, |c| table.observe(c)).unwrap();
        table.finish(t * 1_000_000_000, 0);
    }
    let off = table.counts.offloaded;
    assert_eq!((off.sw, off.hw, off.sw_frozen, off.hw_frozen), (1, 0, 1, 0));
    let mut w = nftop::health::Warnings::default();
    nftop::health::compute(
        &nftop::health::Inputs {
            acct_on: true,
            entries: st.entries,
            events_on: true,
            offloaded: table.counts.offloaded,
            ..Default::default()
        },
        &mut w,
    );
    let mut l = nftop::render::Line::new();
    let first = w.iter().next().expect("a warning");
    first.message(&mut l);
    assert_eq!(first.code(), "offload");
    assert!(
        l.as_str().contains("frozen") && l.as_str().contains("add counter to the flowtable"),
        "{}",
        l.as_str()
    );
    let f = table
        .flows()
        .iter()
        .find(|f| f.status as u32 & nftop::conntrack::IPS_OFFLOAD != 0)
        .unwrap();
    // Frozen: its rate is unknown, not 0.
    assert_eq!(f.rate(), nftop::flows::RateState::Unknown);
    let mut flags = nftop::render::Line::new();
    nftop::render::flags(&mut flags, f, b' ');
    assert!(
        flags.as_str().split(' ').any(|x| x == "OFFLOAD"),
        "{}",
        flags.as_str()
    );
}
