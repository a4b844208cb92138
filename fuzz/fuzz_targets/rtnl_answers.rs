//! Route-lookup answers (a batch of 8 queries: duplicates, strays,
//! errors, including errno i32::MIN) and route/neighbour event datagrams.
#![no_main]
use libfuzzer_sys::fuzz_target;
use nftop::route::socket::{read_answers, read_events};

fuzz_target!(|data: &[u8]| {
    let mut answered = [false; 8];
    let mut out: [Result<nftop::route::wire::RouteMsg, i32>; 8] = std::array::from_fn(|_| Err(0));
    let first = data.get(4..).unwrap_or(&[]);
    let (base, port) = nftop::nl::MsgHeader::parse(first).map_or((0, 0), |h| (h.seq, h.port));
    // The datagrams of one batch, as recorded: a 4-byte length before
    // each (what is left over is one more datagram).
    let mut total = 0;
    let mut rest = data;
    while !rest.is_empty() {
        let (d, r) = match rest.split_first_chunk::<4>() {
            Some((n, r)) if (u32::from_le_bytes(*n) as usize) <= r.len() => {
                r.split_at(u32::from_le_bytes(*n) as usize)
            }
            _ => (rest, &[][..]),
        };
        total += read_answers(d, port, base, &mut answered, &mut out);
        rest = r;
    }
    // Each slot is counted at most once: the wait for them ends.
    assert!(total <= answered.len());
    assert_eq!(total, answered.iter().filter(|&&a| a).count());
    let _ = read_events(data);
});
