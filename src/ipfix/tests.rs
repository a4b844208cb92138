//! The exporter against a UDP socket on loopback: what a collector
//! receives, byte by byte.

use super::wire::*;
use super::*;
use crate::conntrack::{Conn, Tuple};

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0; 16];
    x[..4].copy_from_slice(&a);
    x
}

/// A masqueraded TCP connection 192.0.2.10:40000 -> 203.0.113.5:443,
/// leaving as 198.51.100.1:50000.
fn conn(id: u32, o: u64, r: u64, po: u64, pr: u64) -> Conn {
    Conn {
        family: 4,
        has_counters: true,
        id,
        orig: Tuple {
            src: v4([192, 0, 2, 10]),
            dst: v4([203, 0, 113, 5]),
            sport: 40000,
            dport: 443,
            proto: 6,
        },
        reply: Tuple {
            src: v4([203, 0, 113, 5]),
            dst: v4([198, 51, 100, 1]),
            sport: 443,
            dport: 50000,
            proto: 6,
        },
        orig_bytes: o,
        reply_bytes: r,
        packets: [po, pr],
        start: 1_700_000_000_000_000_000,
        ..Conn::default()
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// A collector socket on `at`, an exporter to it (domain 7), no links,
/// and a flow table of `cap` that keeps export state.
fn setup(at: &str, cap: usize) -> (UdpSocket, Ipfix, Links, FlowTable) {
    let rx = UdpSocket::bind(at).unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let x = Ipfix::open(rx.local_addr().unwrap(), 7).unwrap();
    let mut t = FlowTable::new(cap, 1);
    t.keep_exported();
    (rx, x, Links::with_capacity(), t)
}

/// A message: its sequence number and its sets (id, body).
type Msg = (u32, Vec<(u16, Vec<u8>)>);

/// The messages received.
fn receive(rx: &UdpSocket) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = rx.recv(&mut buf) {
        let m = &buf[..n];
        assert_eq!(be16(m, 0), 10, "version");
        assert_eq!(be16(m, 2) as usize, n, "message length");
        assert_eq!(be32(m, 12), 7, "observation domain");
        let mut sets = Vec::new();
        let mut at = 16;
        while at < n {
            let (id, len) = (be16(m, at), be16(m, at + 2) as usize);
            assert!(len >= 4 && at + len <= n, "set length {len} at {at}");
            sets.push((id, m[at + 4..at + len].to_vec()));
            at += len;
        }
        out.push((be32(m, 8), sets));
    }
    out
}

/// Records of the IPv4 template: (bytes, packets, src, post-NAT src,
/// in, out, sport, post sport, reason).
type R4 = (u64, u64, [u8; 4], [u8; 4], u32, u32, u16, u16, u8);
fn records(sets: &[(u16, Vec<u8>)]) -> Vec<R4> {
    let mut v = Vec::new();
    for (id, body) in sets.iter().filter(|(id, _)| *id == V4_ID) {
        assert_eq!(*id, V4_ID);
        assert_eq!(body.len() % record_len(4), 0);
        for r in body.chunks(record_len(4)) {
            v.push((
                be64(r, 0),
                be64(r, 8),
                r[32..36].try_into().unwrap(),
                r[40..44].try_into().unwrap(),
                be32(r, 48),
                be32(r, 52),
                be16(r, 56),
                be16(r, 60),
                r[65],
            ));
        }
    }
    v
}

#[test]
fn deltas_per_direction_nat_and_the_end() {
    let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 16);
    t.events = true;
    let s = 1_000_000_000;
    let real0 = 1_700_000_100_000_000_000;
    let dump = |t: &mut FlowTable, k: u64, conns: &[Conn]| {
        t.begin();
        for c in conns {
            t.observe(c);
        }
        t.finish(k * s, real0 + k * s);
        for f in t.flows_mut() {
            (f.in_if, f.out_if) = (3, 2);
        }
    };
    // First dump: counted before nftop started, nothing to export
    // but the templates.
    dump(&mut t, 1, &[conn(1, 1000, 2000, 10, 20)]);
    x.export(&mut t, &links, s, real0 + s);
    let m = receive(&rx);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, 0, "first sequence number");
    let ids: Vec<u16> = m[0].1.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [TEMPLATE_SET, OPTIONS_SET]);
    let tpl = &m[0].1[0].1;
    assert_eq!((be16(tpl, 0), be16(tpl, 2)), (V4_ID, 16));
    assert_eq!(tpl.len(), 2 * (4 + 16 * 4));
    // Second: both directions moved; a new masqueraded flow.
    dump(
        &mut t,
        2,
        &[conn(1, 1500, 2600, 15, 26), conn(2, 300, 0, 3, 0)],
    );
    x.export(&mut t, &links, 2 * s, real0 + 2 * s);
    let m = receive(&rx);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, 0, "templates are not data records");
    let r = records(&m[0].1);
    let (lan, wan) = ([192, 0, 2, 10], [198, 51, 100, 1]);
    let server = [203, 0, 113, 5];
    assert_eq!(
        r,
        [
            (500, 5, lan, wan, 3, 2, 40000, 50000, ACTIVE_TIMEOUT),
            (600, 6, server, server, 2, 3, 443, 443, ACTIVE_TIMEOUT),
            (300, 3, lan, wan, 3, 2, 40000, 50000, ACTIVE_TIMEOUT),
        ]
    );
    // The reply record: to the WAN address as it arrived, to the LAN
    // host after NAT.
    let body = &m[0].1.iter().find(|(id, _)| *id == V4_ID).unwrap().1;
    let reply = &body[record_len(4)..2 * record_len(4)];
    assert_eq!(&reply[36..40], &wan);
    assert_eq!(&reply[44..48], &lan);
    assert_eq!(be16(reply, 62), 40000);
    assert_eq!(be64(reply, 16), 1_700_000_000_000, "flowStartMilliseconds");
    assert_eq!(be64(reply, 24), (real0 + 2 * s) / 1_000_000);
    // Nothing moved: nothing sent. Then flow 1 ends with its final
    // counters (DESTROY), flow 2 keeps going.
    dump(
        &mut t,
        3,
        &[conn(1, 1500, 2600, 15, 26), conn(2, 300, 0, 3, 0)],
    );
    x.export(&mut t, &links, 3 * s, real0 + 3 * s);
    assert!(receive(&rx).is_empty());
    t.destroy(
        &conn(1, 1600, 2700, 16, 27),
        0,
        3 * s + 1,
        real0 + 3 * s + 1,
    );
    dump(&mut t, 4, &[conn(2, 300, 0, 3, 0)]);
    x.export(&mut t, &links, 4 * s, real0 + 4 * s);
    let m = receive(&rx);
    assert_eq!(m[0].0, 3, "three data records before this message");
    let r = records(&m[0].1);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0, r[0].1, r[0].8), (100, 1, END_DETECTED));
    assert_eq!((r[1].0, r[1].1, r[1].8), (100, 1, END_DETECTED));
    // Once ended, never again; lingering does not resend.
    dump(&mut t, 5, &[conn(2, 300, 0, 3, 0)]);
    x.export(&mut t, &links, 5 * s, real0 + 5 * s);
    assert!(receive(&rx).is_empty());
    assert_eq!((x.records, x.dropped), (5, 0));
}

/// `-r`/`-R`: the hidden side's addresses, before and after NAT, are
/// sent as 0.0.0.0; the other side's, ports and counters stay.
#[test]
fn a_redacted_side_is_sent_as_the_unspecified_address() {
    let (lan, wan, far, none) = (
        [192, 0, 2, 10],
        [198, 51, 100, 1],
        [203, 0, 113, 5],
        [0u8; 4],
    );
    // (-r, -R) -> the four addresses of the original record and of
    // the reply record: pre-NAT source, destination, post-NAT source,
    // destination.
    for (local, remote, orig, reply) in [
        (true, false, [none, far, none, far], [far, none, far, none]),
        (false, true, [lan, none, wan, none], [none, wan, none, lan]),
    ] {
        let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 16);
        x.privacy = Privacy { local, remote };
        let s = 1_000_000_000;
        for (k, c) in [(1, conn(1, 100, 100, 1, 1)), (2, conn(1, 200, 300, 2, 3))] {
            t.begin();
            t.observe(&c);
            t.finish(k * s, k * s);
            // From the LAN (not an uplink) to the uplink.
            for f in t.flows_mut() {
                (f.in_if, f.out_if) = (3, 2);
                // As the view decides it (view.rs `direction`).
                f.set_direction(true, false);
            }
            x.export(&mut t, &links, k * s, k * s);
        }
        let m = receive(&rx);
        let body = &m
            .last()
            .unwrap()
            .1
            .iter()
            .find(|(id, _)| *id == V4_ID)
            .unwrap()
            .1;
        let (o, r) = body.split_at(record_len(4));
        let addrs = |b: &[u8]| -> Vec<[u8; 4]> {
            b[32..48].chunks(4).map(|a| a.try_into().unwrap()).collect()
        };
        assert_eq!(addrs(o), orig, "-r {local} -R {remote}");
        assert_eq!(addrs(r), reply, "-r {local} -R {remote}");
        assert_eq!((be16(o, 56), be16(o, 60)), (40000, 50000), "ports stay");
    }
}

#[test]
fn a_full_message_is_sent_and_the_next_one_numbered_after_it() {
    let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 256);
    let s = 1_000_000_000;
    t.begin();
    t.finish(s, s);
    x.export(&mut t, &links, s, s);
    receive(&rx);
    t.begin();
    for i in 0..100 {
        let mut c = conn(i + 10, 100 + i as u64, 0, 1, 0);
        c.orig.sport = 1000 + i as u16;
        t.observe(&c);
    }
    t.finish(2 * s, 2 * s);
    x.export(&mut t, &links, 2 * s, 2 * s);
    let m = receive(&rx);
    let per = (MSG_MAX - 16 - 4) / record_len(4);
    assert_eq!(m.len(), 100usize.div_ceil(per));
    let mut seq = 0;
    let mut ports = Vec::new();
    for (sq, sets) in &m {
        assert_eq!(*sq, seq);
        let r = records(sets);
        seq += r.len() as u32;
        ports.extend(r.iter().map(|r| r.6));
    }
    ports.sort();
    assert_eq!(ports, (1000..1100).collect::<Vec<u16>>());
}
/// An IPv6 flow to an IPv6 collector: template 257, 16-byte addresses
/// (post-NAT IEs 281/282 carry the reply tuple's view).
#[test]
fn ipv6_flows_to_an_ipv6_collector() {
    if UdpSocket::bind("[::1]:0").is_err() {
        return; // no IPv6 on this machine
    }
    let (rx, mut x, links, mut t) = setup("[::1]:0", 16);
    let s = 1_000_000_000;
    t.begin();
    t.finish(s, s);
    x.export(&mut t, &links, s, s);
    let m = receive(&rx);
    let tpl = &m[0].1[0].1;
    // The second template record: 257 with 16 fields.
    let second = &tpl[4 + 16 * 4..];
    assert_eq!((be16(second, 0), be16(second, 2)), (V6_ID, 16));
    let ies: Vec<(u16, u16)> = second[4..]
        .chunks(4)
        .map(|f| (be16(f, 0), be16(f, 2)))
        .collect();
    assert!(ies.contains(&(27, 16)) && ies.contains(&(281, 16)) && ies.contains(&(282, 16)));
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 1, 0x0d, 0xb8]);
    let (mut lan, mut far) = (a, a);
    lan[15] = 2;
    far[15] = 9;
    let c = Conn {
        family: 6,
        has_counters: true,
        id: 5,
        orig: Tuple {
            src: lan,
            dst: far,
            sport: 5000,
            dport: 53,
            proto: 17,
        },
        reply: Tuple {
            src: far,
            dst: lan,
            sport: 53,
            dport: 5000,
            proto: 17,
        },
        orig_bytes: 120,
        reply_bytes: 300,
        packets: [1, 2],
        ..Conn::default()
    };
    t.begin();
    t.observe(&c);
    t.finish(2 * s, 2 * s);
    x.export(&mut t, &links, 2 * s, 2 * s);
    let m = receive(&rx);
    let body = &m[0].1.iter().find(|(id, _)| *id == V6_ID).unwrap().1;
    assert_eq!(body.len(), 2 * record_len(16));
    let (o, r) = body.split_at(record_len(16));
    assert_eq!((be64(o, 0), be64(o, 8)), (120, 1));
    assert_eq!((be64(r, 0), be64(r, 8)), (300, 2));
    assert_eq!(&o[32..48], &lan);
    assert_eq!(&o[48..64], &far);
    // Routed, no NAT: after NAT it is the same.
    assert_eq!(&o[64..80], &lan);
    assert_eq!(&r[32..48], &far);
}
/// Templates again after 10 minutes (a collector that restarted
/// learns them), not before; data records keep their numbering.
#[test]
fn templates_are_sent_again_every_ten_minutes() {
    let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 16);
    let s = 1_000_000_000;
    let has_templates = |m: &[Msg]| {
        m.iter()
            .any(|(_, sets)| sets.iter().any(|(id, _)| *id == TEMPLATE_SET))
    };
    let at = |k: u64, t: &mut FlowTable, x: &mut Ipfix| {
        t.begin();
        t.finish(k * s, k * s);
        x.export(t, &links, k * s, k * s);
        receive(&rx)
    };
    assert!(has_templates(&at(1, &mut t, &mut x)));
    assert!(at(2, &mut t, &mut x).is_empty());
    assert!(at(600, &mut t, &mut x).is_empty());
    assert!(has_templates(&at(601, &mut t, &mut x)));
    assert!(at(602, &mut t, &mut x).is_empty());
}
fn links(names: &[(u32, &str)]) -> Links {
    let mut l = Links::with_capacity();
    l.begin();
    for &(index, name) in names {
        let mut m = crate::route::wire::LinkMsg {
            index,
            flags: 0,
            name: [0; 16],
            name_len: name.len() as u8,
            rx_bytes: 0,
            tx_bytes: 0,
        };
        m.name[..name.len()].copy_from_slice(name.as_bytes());
        l.push(&m);
    }
    l.finish(1, |_| false);
    l
}

/// The interface names: one options record (ifindex, NUL-padded
/// name) per link after the templates, numbered as data records,
/// and sent again at once when a link changes its name.
#[test]
fn interface_names_follow_the_links() {
    let (rx, mut x, _, mut t) = setup("127.0.0.1:0", 16);
    let s = 1_000_000_000;
    let names = |m: &[Msg]| -> Vec<(u32, String)> {
        m.iter()
            .flat_map(|(_, sets)| sets.iter())
            .filter(|(id, _)| *id == IF_ID)
            .flat_map(|(_, b)| b.chunks(4 + IFNAME_LEN))
            .map(|r| {
                let n = &r[4..];
                let len = n.iter().position(|&c| c == 0).unwrap_or(n.len());
                (be32(r, 0), String::from_utf8_lossy(&n[..len]).into_owned())
            })
            .collect()
    };
    let mut at = |k: u64, l: &Links, t: &mut FlowTable| {
        t.begin();
        t.finish(k * s, k * s);
        x.export(t, l, k * s, k * s);
        receive(&rx)
    };
    let two = links(&[(2, "lan0"), (3, "wan0")]);
    let m = at(1, &two, &mut t);
    assert_eq!(names(&m), [(2, "lan0".into()), (3, "wan0".into())]);
    assert_eq!(m.len(), 1);
    assert!(at(2, &two, &mut t).is_empty(), "nothing changed");
    let renamed = links(&[(2, "lan0"), (3, "wwan0")]);
    let m = at(3, &renamed, &mut t);
    assert_eq!(names(&m), [(2, "lan0".into()), (3, "wwan0".into())]);
    assert_eq!(m[0].0, 2, "the first two option records were numbered");
}
