//! Unit tests of the flow record and its spill pool.

use super::*;
use crate::conntrack::Tuple;

fn t(src: &[u8], dst: &[u8], sport: u16, dport: u16, proto: u8) -> Tuple {
    let mut x = Tuple {
        sport,
        dport,
        proto,
        ..Tuple::default()
    };
    x.src[..src.len()].copy_from_slice(src);
    x.dst[..dst.len()].copy_from_slice(dst);
    x
}

fn roundtrip(c: Conn, spills_used: usize) {
    let mut sp = Spills::new(8);
    let f = Flow::fresh(&c, Life::Live, 0, &mut sp).unwrap();
    assert_eq!(sp.conn(&f), c, "rebuilt exactly");
    assert_eq!(sp.reply_src(&f), c.reply.src);
    assert_eq!(sp.pair(&f), (c.orig.src, c.orig.dst));
    assert_eq!(sp.used(), spills_used, "{c:?}");
    sp.release(&f);
    assert_eq!(sp.used(), 0);
}

#[test]
fn every_nat_shape_rebuilds_exactly() {
    let (lan, far, wan) = ([192, 0, 2, 10], [203, 0, 113, 5], [198, 51, 100, 1]);
    let base = Conn {
        family: 4,
        state: 3,
        has_counters: true,
        zone: 7,
        status: conntrack::IPS_SRC_NAT | 0xe,
        mark: 0x300,
        id: 99,
        orig_bytes: 1 << 40,
        reply_bytes: 12,
        start: 1_700_000_000_000_000_000,
        ..Conn::default()
    };
    let with = |o: Tuple, r: Tuple| Conn {
        orig: o,
        reply: r,
        ..base
    };
    // Plain, masquerade, port forward, hairpin (both), ICMP echo
    // plain and masqueraded (the id changes), and a reply no shape
    // explains.
    roundtrip(
        with(t(&lan, &far, 4000, 443, 6), t(&far, &lan, 443, 4000, 6)),
        0,
    );
    roundtrip(
        with(t(&lan, &far, 4000, 443, 6), t(&far, &wan, 443, 61000, 6)),
        0,
    );
    roundtrip(
        with(t(&far, &wan, 5000, 80, 6), t(&lan, &far, 8080, 5000, 6)),
        0,
    );
    roundtrip(
        with(t(&lan, &wan, 4000, 80, 17), t(&lan, &wan, 8080, 61000, 17)),
        1,
    );
    roundtrip(with(t(&lan, &far, 7, 8 << 8, 1), t(&far, &lan, 7, 0, 1)), 0);
    roundtrip(
        with(t(&lan, &far, 7, 8 << 8, 1), t(&far, &wan, 900, 0, 1)),
        0,
    );
    roundtrip(
        with(t(&lan, &far, 7, 3 << 8 | 1, 1), t(&far, &lan, 7, 0, 1)),
        1,
    );
    let (l6, f6) = (
        [0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        [0x20, 1, 0xd, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    let six = |o, r| Conn {
        family: 6,
        ..with(o, r)
    };
    roundtrip(six(t(&l6, &f6, 4000, 443, 6), t(&f6, &l6, 443, 4000, 6)), 1);
    roundtrip(six(t(&l6, &f6, 4000, 443, 6), t(&f6, &f6, 443, 4001, 6)), 2);
    roundtrip(
        six(t(&l6, &f6, 3, 128 << 8, 58), t(&f6, &l6, 3, 129 << 8, 58)),
        1,
    );
    roundtrip(six(t(&l6, &f6, 4000, 443, 6), t(&l6, &l6, 1, 2, 6)), 2);
}

#[test]
fn a_full_pool_refuses_and_keeps_nothing() {
    let mut sp = Spills::new(1);
    let l6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let c = Conn {
        family: 6,
        orig: t(&l6, &l6, 1, 2, 17),
        reply: t(&l6, &l6, 9, 9, 17),
        ..Conn::default()
    };
    assert!(Flow::fresh(&c, Life::Live, 0, &mut sp).is_none());
    assert_eq!(sp.used(), 0, "the pair went back");
}
