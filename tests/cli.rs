//! The binary's command line: exit codes, help, version, errors, pipes.

use crate::common::bin;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_and_version() {
    let (c, out, _) = run(&["-h"]);
    assert_eq!(c, 0);
    for flag in [
        "-4",
        "-6",
        "--dev",
        "--bytes",
        "--bps",
        "--continuous",
        "--id",
        "--loopback",
        "--numeric-local",
        "--numeric-remote",
        "--machine",
        "--numeric-port",
        "--redact-local",
        "--redact-remote",
        "--si",
        "--age",
        "--threshold",
        "--update",
        "--in",
        "--out",
        "--sort",
        "--version",
        "--verbose",
        "--wide",
        "--json",
        "--count",
    ] {
        assert!(out.contains(flag), "help lists {flag}");
    }
    assert_eq!(run(&["--help"]).1, out);
    let (c, out, _) = run(&["-v"]);
    assert_eq!(c, 0);
    assert_eq!(out.trim(), format!("nftop {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for args in [
        &["-s", "nope"][..],
        &["-u", "0"],
        &["-a", "9"],
        &["-t", "x"],
        &["--bogus"],
        &["-i", ""],
        &["--count", "0"],
        &["-u"],
        &["--json", "-M"],
        &["extra"],
    ] {
        let (c, out, err) = run(args);
        assert_eq!(c, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("nftop: "), "{err}");
    }
    let (_, _, err) = run(&["-s", "nope"]);
    assert!(err.contains("'nope'") && err.contains("sport"), "{err}");
}

/// `nftop -c | head -1` must exit 0 quietly when head goes away.
#[test]
fn closed_pipe_exits_zero_silently() {
    if !crate::common::netns_ok("closed_pipe_exits_zero_silently") {
        return;
    }
    let bed = crate::common::Bed::up();
    let _p = bed.spawn("cli", "ping -q -i 0.1 203.0.113.200");
    bed.wait_for("rtr", "conntrack -L 2>/dev/null | grep -q icmp", 10);
    // bash's PIPESTATUS gives nftop's own exit status.
    let o2 = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ip netns exec {} {} -c -t 0 -u 0.2 --count 50 2>/tmp/nftop-pipe-err.$$ | head -1 >/dev/null; s=${{PIPESTATUS[0]}}; cat /tmp/nftop-pipe-err.$$; rm -f /tmp/nftop-pipe-err.$$; exit $s",
            bed.ns("rtr"),
            bin()
        ))
        .output()
        .unwrap();
    assert_eq!(
        o2.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o2.stdout)
    );
    assert!(
        o2.stdout.is_empty(),
        "no error message: {}",
        String::from_utf8_lossy(&o2.stdout)
    );
}
