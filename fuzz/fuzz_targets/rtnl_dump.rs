//! A datagram of an rtnetlink dump (links, addresses, routes, rules,
//! neighbours): the dump reader, then every message through every
//! reader of the route module (each must reject what is not its kind).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nftop::route::socket::read_dump;
use nftop::route::wire;

fuzz_target!(|data: &[u8]| {
    let (seq, port) = nftop::nl::MsgHeader::parse(data).map_or((0, 0), |h| (h.seq, h.port));
    // One input in eight is read as a datagram the kernel had more bytes
    // for than were received (MSG_TRUNC): the cut-short path.
    let len = data.len() + usize::from(data.len() % 8 == 7);
    let _ = read_dump(data, len, seq, port, |_, p| {
        let _ = wire::parse_link(p);
        let _ = wire::parse_addr(p);
        if let Some(r) = wire::parse_route(p) {
            let _ = r.nexthops();
        }
        let _ = wire::parse_rule(p);
        let _ = wire::parse_neigh(p);
    });
});
