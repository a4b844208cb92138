//! Files other programs write: hosts, DHCP leases, services,
//! /proc/net/stat/nf_conntrack, resolv.conf. The first byte picks one.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => {
            let mut v = Vec::new();
            let _ = nftop::names::parse_hosts(&text, &mut v);
        }
        1 => {
            let mut v = Vec::new();
            let _ = nftop::names::parse_leases(rest, &mut v);
        }
        2 => {
            let mut v = Vec::new();
            nftop::names::parse_services(&text, &mut v);
        }
        3 => {
            let _ = nftop::kernel::parse_ct_drops(rest);
        }
        _ => {
            let _ = nftop::dns::parse_conf(&text);
        }
    }
});
