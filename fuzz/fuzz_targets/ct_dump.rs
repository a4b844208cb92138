//! A ctnetlink dump datagram end to end: message headers, NLMSG_ERROR and
//! DONE, the entries decoded lazily into a flow table (the dump path of
//! every refresh), and the single-entry answer (detail pane, kill) with
//! the request built from it, which must decode back to the same entry.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nftop::conntrack::Conn;
use nftop::flows::FlowTable;
use nftop::netlink::{parse_datagram, parse_entries, DumpStats};

fuzz_target!(|data: &[u8]| {
    // Our request's sequence number and port: the first message's, so
    // that recorded datagrams are read as answers.
    let (seq, port) = nftop::nl::MsgHeader::parse(data).map_or((0, 0), |h| (h.seq, h.port));
    let mut table = FlowTable::new(64, 1);
    let mut stats = DumpStats::default();
    let mut scratch = Conn::default();
    table.begin();
    let _ = parse_entries(data, seq, port, &mut scratch, &mut stats, |c, nests| {
        table.observe_lazy(c, nests)
    });
    table.finish(1_000_000_000, 1_000_000_000);
    for f in table.flows() {
        let _ = table.conn(f);
    }
    let mut stats = DumpStats::default();
    let _ = parse_datagram(data, seq, port, &mut scratch, &mut stats, |_| {});
    let mut out = None;
    let _ = nftop::ctentry::parse_answer(data, seq, port, &mut out);
    // The request for an entry as decoded names that entry: decoded back,
    // the same tuple (its family's address bytes), zone and id.
    if let Some((c, _)) = out {
        let mut req = Vec::new();
        nftop::ctentry::build(&mut req, nftop::ctentry::CT_DELETE, &c, seq);
        let mut back = Conn::default();
        if c.orig.proto != 0 {
            nftop::conntrack::decode(&req[16..], &mut back).expect("our request decodes");
            let n = c.addr_len();
            let (a, b) = (&c.orig, &back.orig);
            assert_eq!(
                (a.proto, a.sport, a.dport, &a.src[..n], &a.dst[..n]),
                (b.proto, b.sport, b.dport, &b.src[..n], &b.dst[..n])
            );
            assert_eq!((c.family, c.zone, c.id), (back.family, back.zone, back.id));
        }
    }
});
