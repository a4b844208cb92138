//! Tests of the dump's order as `observe_lazy` uses it: which entries
//! have their original tuple read, and which are taken as the flow the
//! order predicts.

use super::tests::{conn, get, proto_nest, reply, tick, S};
use super::*;
use crate::conntrack::{Conn, Nests, Tuple};

/// `conn(..)` as a lazy decode leaves it: the original tuple not read.
fn untupled(id: u32, start: u64, sport: u16, orig: u64, reply: u64) -> Conn {
    Conn {
        orig: Tuple::default(),
        ..conn(id, start, sport, orig, reply)
    }
}

/// The original tuple's nest is decoded only for an entry that is not the
/// flow the dump's order predicts by id, start, zone and family: a steady
/// refresh reads no tuple; any other entry is read whole (and refused,
/// uncounted, when that nest is malformed).
#[test]
fn the_original_tuple_is_decoded_unless_the_order_predicts_the_entry() {
    // CTA_TUPLE_PROTO { CTA_PROTO_NUM 6 }, and a nest cut short.
    let good = &proto_nest(6)[..];
    let bad = &[9u8, 0, 1][..];
    let lazy = |orig| Nests {
        orig: Some(orig),
        reply: &[],
    };
    let mut t = FlowTable::new(8, 9);
    tick(
        &mut t,
        S,
        0,
        &[conn(1, 5, 1000, 0, 0), conn(2, 7, 1001, 0, 0)],
    );
    // In the dump's order: neither tuple is read, the counters are.
    t.begin();
    let mut a = untupled(1, 5, 1000, 100, 0);
    assert!(t.observe_lazy(&mut a, lazy(bad)).is_ok());
    let mut b = untupled(2, 7, 1001, 200, 0);
    assert!(t.observe_lazy(&mut b, lazy(bad)).is_ok());
    t.finish(2 * S, 0);
    assert_eq!(
        (t.len(), get(&t, 1).orig_bytes, get(&t, 2).orig_bytes),
        (2, 100, 200)
    );
    assert_eq!(
        t.conn(&get(&t, 1)).orig.sport,
        1000,
        "the flow keeps its tuple"
    );
    // Out of order (2 first, where 1 was): its nest is read, and a
    // malformed one refuses the entry without counting it.
    t.begin();
    let mut b = untupled(2, 7, 1001, 300, 0);
    assert!(t.observe_lazy(&mut b, lazy(bad)).is_err());
    assert_eq!(t.counts.no_timestamp + t.counts.no_counters, 0);
    // The same id without a start timestamp is not enough either.
    let mut c = untupled(1, 0, 1000, 400, 0);
    assert!(t.observe_lazy(&mut c, lazy(bad)).is_err());
    // Nor the same id and start in another zone or family.
    for other in [(7, 4), (0, 6)] {
        let mut z = untupled(1, 5, 1000, 400, 0);
        (z.zone, z.family) = other;
        assert!(t.observe_lazy(&mut z, lazy(bad)).is_err(), "{other:?}");
    }
    // A new entry whose reply nest is malformed is refused uncounted too.
    let mut r = conn(9, 11, 1009, 0, 0);
    r.has_counters = false;
    assert!(t.observe_lazy(&mut r, reply(bad)).is_err());
    assert_eq!(t.counts.no_counters, 0);
    // Where the order predicts it, flow 1 is not read again; flow 3 comes
    // where flow 2 was: its nest is read, and makes a new flow.
    let mut d = untupled(1, 5, 1000, 500, 0);
    assert!(t.observe_lazy(&mut d, lazy(bad)).is_ok());
    let mut e = untupled(3, 9, 0, 0, 0);
    assert!(t.observe_lazy(&mut e, lazy(good)).is_ok());
    t.finish(3 * S, 0);
    let ids: Vec<u32> = t.flows().iter().map(|f| f.id).collect();
    assert_eq!((ids, get(&t, 1).orig_bytes), (vec![1, 3], 500));
    assert_eq!(t.conn(&get(&t, 3)).orig.proto, 6, "from the nest");
}

/// Without timestamps (no start), an entry at the predicted place with
/// the predicted flow's id is read whole: the kernel reuses ids, and the
/// tuple tells the entries apart.
#[test]
fn without_timestamps_the_original_tuple_is_always_read() {
    let good = proto_nest(17);
    let mut t = FlowTable::new(8, 9);
    tick(&mut t, S, 0, &[conn(1, 0, 1000, 10, 0)]);
    t.begin();
    // Flow 1's id again, where flow 1 is predicted: a UDP entry (the
    // nest), not flow 1 (TCP).
    let mut c = untupled(1, 0, 0, 20, 0);
    let n = Nests {
        orig: Some(&good),
        reply: &[],
    };
    assert!(t.observe_lazy(&mut c, n).is_ok());
    t.finish(2 * S, 0);
    let protos: Vec<u8> = t.flows().iter().map(|f| t.conn(f).orig.proto).collect();
    assert_eq!(protos, vec![17], "the old flow gone, the new one in");
}
