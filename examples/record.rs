//! Records conntrack dumps as test fixtures (tests/fixtures/record.sh): a
//! tool beside nftop, not part of it. Every datagram of each dump, as the
//! kernel sent it, goes to FILE as [u32 little-endian length][datagram].
//!
//! `record FILE [DUMPS]`, as root in the network namespace to record.

use nftop::netlink::CtSocket;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

fn fail(what: &str) -> ! {
    eprintln!("record: {what}");
    std::process::exit(1)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), dumps) = (args.next(), args.next()) else {
        eprintln!("usage: record FILE [DUMPS]");
        std::process::exit(2)
    };
    let dumps: u32 = match dumps.map(|d| d.parse()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => fail("DUMPS is a count of dumps, e.g. 1"),
    };
    // Created new, not through a link, for its owner only: it holds every
    // connection unredacted.
    let mut f = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .unwrap_or_else(|e| fail(&format!("cannot create '{path}': {e}")));
    let mut ct = CtSocket::open().unwrap_or_else(|e| fail(&e.to_string()));
    for k in 0..dumps {
        if k > 0 {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        let mut wrote = Ok(());
        let d = ct.dump_entries(
            |d| {
                if wrote.is_ok() {
                    wrote = (f.write_all(&(d.len() as u32).to_le_bytes()))
                        .and_then(|()| f.write_all(d));
                }
            },
            |_, _| Ok(()),
        );
        d.unwrap_or_else(|e| fail(&e.to_string()));
        wrote.unwrap_or_else(|e| fail(&format!("cannot write '{path}': {e}")));
    }
}
