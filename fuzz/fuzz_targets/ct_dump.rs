//! A ctnetlink dump datagram end to end: message headers, NLMSG_ERROR and
//! DONE, the entries decoded lazily into a flow table (the dump path of
//! every refresh), and the single-entry answer (detail pane, kill).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nftop::conntrack::Conn;
use nftop::flows::FlowTable;
use nftop::netlink::{parse_datagram, parse_entries, DumpStats};

fuzz_target!(|data: &[u8]| {
    // Our request's sequence number and port: the first message's, so
    // that recorded datagrams are read as answers.
    let (seq, port) = nftop::netlink::MsgHeader::parse(data).map_or((0, 0), |h| (h.seq, h.port));
    let mut table = FlowTable::new(64, 1);
    let mut stats = DumpStats::default();
    let mut scratch = Conn::default();
    table.begin();
    let _ = parse_entries(data, seq, port, &mut scratch, &mut stats, |c, reply| {
        table.observe_lazy(c, reply)
    });
    table.finish(1_000_000_000, 1_000_000_000);
    for f in table.flows() {
        let _ = table.conn(f);
    }
    let mut stats = DumpStats::default();
    let _ = parse_datagram(data, seq, port, &mut scratch, &mut stats, |_| {});
    let mut out = None;
    let _ = nftop::ctentry::parse_answer(data, seq, &mut out);
});
