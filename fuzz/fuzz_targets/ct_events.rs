//! A datagram of conntrack DESTROY events, applied to a flow table that
//! holds the same entries (the crediting path).
#![no_main]
use libfuzzer_sys::fuzz_target;
use nftop::conntrack::Conn;
use nftop::flows::FlowTable;

fuzz_target!(|data: &[u8]| {
    let mut table = FlowTable::new(64, 1);
    table.events = true;
    let mut scratch = Conn::default();
    let s = 1_000_000_000;
    table.begin();
    nftop::events::read_destroys(data, &mut scratch, |c, _| table.observe(c));
    table.finish(s, s);
    nftop::events::read_destroys(data, &mut scratch, |c, stop| {
        table.destroy(c, stop, 2 * s, 2 * s)
    });
    table.begin();
    table.finish(3 * s, 3 * s);
});
