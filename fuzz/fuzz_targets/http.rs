//! A request head to the metrics responder.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = nftop::metrics::status(data);
    assert!(matches!(s, 200 | 400 | 404 | 405), "{s}");
});
