//! A request head to the metrics responder, bound to a specific address
//! and to the unspecified one (every Host rule).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bound in [&b"127.0.0.1"[..], b"[2001:db8::1]", b""] {
        let s = nftop::metrics::status(data, bound);
        assert!(matches!(s, 200 | 400 | 404 | 405 | 421), "{s}");
    }
});
