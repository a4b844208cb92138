//! Bad environments: each gives one clear line naming the fix and the
//! right exit code, or is bounded and reported, and nothing else breaks.

use crate::common::{bin, json, netns_ok, Bed};
use std::process::Command;

/// A kernel without ctnetlink (simulated: the answer such a kernel
/// gives, through a test hook) and one where it is refused.
#[test]
fn no_ctnetlink_is_one_line_naming_the_module() {
    for (errno, want, code) in [
        (libc::EOPNOTSUPP, "modprobe nf_conntrack_netlink", 1),
        (libc::EPROTONOSUPPORT, "kmod-nf-conntrack-netlink", 1),
        (libc::EPERM, "CAP_NET_ADMIN", 1),
    ] {
        let o = Command::new(bin())
            .args(["-c", "--count", "1"])
            .env("NFTOP_TEST_CT_ERRNO", errno.to_string())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{errno}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("nftop: ") && err.contains(want),
            "{errno}: {err}"
        );
        assert!(o.stdout.is_empty());
    }
}

/// A 50 MB leases file of random bytes, rewritten while nftop reads it,
/// and a 100k-line hosts file: read up to their bounds, reported as
/// names_dropped, refreshes go on, RSS bounded.
#[test]
fn huge_binary_and_changing_name_files_are_bounded_and_reported() {
    if !netns_ok("huge_binary_and_changing_name_files_are_bounded_and_reported") {
        return;
    }
    let bed = Bed::up();
    let _p = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    let dir = std::env::temp_dir().join(format!("nftop-badenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let leases = dir.join("leases");
    let hosts = dir.join("hosts");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 50000000 /dev/urandom > {l} && seq 1 100000 | awk '{{printf \"2001:db8:9::%x h%d\\n\", $1, $1}}' > {h}",
            l = leases.display(),
            h = hosts.display()
        ))
        .status()
        .unwrap();
    assert!(ok.success());
    // Rewritten under nftop's feet, every 0.3 s.
    let _rewrite = bed.spawn(
        "rtr",
        &format!(
            "while :; do head -c 3000000 /dev/urandom > {l}.new && mv {l}.new {l}; sleep 0.3; done",
            l = leases.display()
        ),
    );
    let mut n = bed.nftop(&[
        "--json",
        "-u",
        "0.5",
        "--leases",
        leases.to_str().unwrap(),
        "--hosts",
        hosts.to_str().unwrap(),
    ]);
    let mut ticks = 0;
    let mut dropped = false;
    while ticks < 8 {
        let l = n.line().expect("nftop keeps running");
        let v = json(&l);
        if v.get("type").str() == "tick" {
            ticks += 1;
            dropped |= v
                .get("warnings")
                .arr()
                .iter()
                .any(|w| w.get("code").str() == "names_dropped");
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", n.child.id())).unwrap();
    let rss: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    drop(n);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(dropped, "the bounds are reported (names_dropped)");
    assert!(rss < 16 * 1024, "RSS {rss} KiB with 50 MB of leases");
}

/// stdout closed at start (`nftop -c >&-`): one line saying so and exit
/// 1, before anything is opened; an exporter (`--quiet`) needs no stdout
/// and runs.
#[test]
fn stdout_closed_at_start() {
    let run = |args: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec {} {args} >&-", bin()))
            .output()
            .unwrap()
    };
    for args in ["-c --count 1", "--json --count 1", "--count 1"] {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("nftop: stdout is closed") && err.contains("--quiet"),
            "{err}"
        );
    }
    // A redirect to /dev/null is not a closed stdout.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {} -c --count 1 --no-dns > /dev/null", bin()))
        .env("NFTOP_TEST_CT_ERRNO", libc::EPERM.to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("stdout is closed"), "{err}");
    if !netns_ok("stdout_closed_at_start") {
        return;
    }
    let bed = Bed::up();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec ip netns exec {} {} -q -u 0.2 --count 2 >&-",
            bed.ns("rtr"),
            bin()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
