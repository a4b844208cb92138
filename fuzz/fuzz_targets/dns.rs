//! A DNS answer to a PTR query (compression pointers, counts, lengths):
//! the first byte picks the address family of the query it answers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, m)) = data.split_first() else {
        return;
    };
    let addr: &[u8] = if which & 1 == 0 {
        &[192, 0, 2, 1]
    } else {
        &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    };
    let mut q = Vec::new();
    nftop::dns::build_query(
        addr,
        u16::from_be_bytes([
            m.first().copied().unwrap_or(0),
            m.get(1).copied().unwrap_or(0),
        ]),
        &mut q,
    );
    let mut out = Vec::new();
    let _ = nftop::dns::parse_answer(m, &q, &mut out);
});
