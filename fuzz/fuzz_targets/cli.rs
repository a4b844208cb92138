//! The command line: arbitrary arguments (split at NUL, not UTF-8
//! either) through lexopt and every value parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let _ = nftop::cli::parse(args);
});
