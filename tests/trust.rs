//! Issue 26, items 2 and 3: files other programs write cannot block nftop
//! or feed it names from a planted file, and after start nftop is not
//! root: an unprivileged uid with CAP_NET_ADMIN only, helper threads with
//! no capability, every file read after the switch.
//!
//! The OpenWrt-like runs put a tmpfs over /etc and /tmp inside the
//! router namespace's own mount namespace (`ip netns exec` makes one, a
//! slave of the host's: nothing reaches the host), with
//! /etc/openwrt_release, a passwd with nobody, and the leases file as a
//! test makes it.

use crate::common::{bin, json, netns_ok, Bed};
use std::process::Command;

const LEASE: &str = "1700000000 02:00:00:00:00:02 192.0.2.2 laptop *";

/// Runs `nftop ARGS` in the router namespace after `setup` (sh) on a
/// fresh tmpfs /etc and /tmp; killed after 30 s, so a hang is a failure
/// (exit 137), not a stuck test. Returns (exit code, stdout, stderr).
fn run_on_fake_root(bed: &Bed, openwrt: bool, setup: &str, args: &str) -> (i32, String, String) {
    // The binary is opened before the mounts (it may live under /tmp, as
    // a CI clone may) and run through its descriptor.
    let script = format!(
        "set -e; exec 9<{}; mount -t tmpfs none /etc; mount -t tmpfs none /tmp; \
         printf 'root:x:0:0:root:/root:/bin/ash\\nnobody:*:65534:65534:nobody:/var:/bin/false\\ndnsmasq:x:453:453:dnsmasq:/var:/bin/false\\n' >/etc/passwd; \
         {} {setup}; exec timeout -s KILL 30 /proc/self/fd/9 {args}",
        bin(),
        if openwrt {
            "echo DISTRIB_ID=OpenWrt >/etc/openwrt_release;"
        } else {
            ""
        }
    );
    let o = Command::new("ip")
        .args(["netns", "exec", &bed.ns("rtr"), "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ip netns exec");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The "file_refused" warning texts of the JSON ticks in `out`.
fn refusals(out: &str) -> Vec<String> {
    out.lines()
        .map(json)
        .filter(|v| v.get("type").str() == "tick")
        .flat_map(|v| {
            v.get("warnings")
                .arr()
                .iter()
                .filter(|w| w.get("code").str() == "file_refused")
                .map(|w| w.get("msg").str().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A FIFO at the leases path (named, or OpenWrt's default) neither hangs
/// nftop nor makes it ignore signals: it is refused, with one line.
/// Before: `open()` waited for a writer forever.
#[test]
fn a_fifo_at_the_leases_path_is_refused_without_blocking() {
    if !netns_ok("a_fifo_at_the_leases_path_is_refused_without_blocking") {
        return;
    }
    let bed = Bed::up();
    let _p = bed.ping_far();
    let args = "--json --count 2 -u 0.3 -4 -t 0";
    let (code, out, err) = run_on_fake_root(
        &bed,
        false,
        "mkfifo /tmp/f",
        &format!("{args} --leases /tmp/f"),
    );
    assert_eq!(code, 0, "named FIFO: {err}");
    let r = refusals(&out);
    assert!(
        r.iter()
            .any(|m| m.contains("leases file refused: not a regular file")),
        "{r:?}"
    );
    let (code, out, err) = run_on_fake_root(&bed, true, "mkfifo /tmp/dhcp.leases", args);
    assert_eq!(code, 0, "default FIFO: {err}");
    assert!(!refusals(&out).is_empty(), "default FIFO reported: {out}");
}

/// OpenWrt's default leases file is read only when root or a system
/// account (dnsmasq) owns it and nobody else can write it; a planted one
/// feeds no names, and the header says why. Off OpenWrt there is no
/// default leases file. Before: any /tmp/dhcp.leases was read.
#[test]
fn a_planted_default_leases_file_feeds_no_names() {
    if !netns_ok("a_planted_default_leases_file_feeds_no_names") {
        return;
    }
    let bed = Bed::up();
    let _p = bed.ping_far();
    let lines = "-c --count 2 -u 0.3 -4 -t 0";
    let write = format!("printf '{LEASE}\\n' >/tmp/dhcp.leases");
    // The positive control: dnsmasq's own file (uid 453, 0644) is read.
    let (code, out, err) = run_on_fake_root(
        &bed,
        true,
        &format!("{write}; chown 453:453 /tmp/dhcp.leases; chmod 644 /tmp/dhcp.leases"),
        lines,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("laptop"), "dnsmasq's leases are read: {out}");
    for (setup, why) in [
        ("chown 1000:1000 /tmp/dhcp.leases", "owned by a user account"),
        ("chown 65534 /tmp/dhcp.leases", "owned by a user account"),
        ("chmod 666 /tmp/dhcp.leases", "writable by group or others"),
        (
            "mv /tmp/dhcp.leases /tmp/l; ln -s /tmp/l /tmp/dhcp.leases; chown -h 1000 /tmp/dhcp.leases",
            "a symbolic link not owned by root",
        ),
    ] {
        let setup = format!("{write}; chmod 644 /tmp/dhcp.leases; {setup}");
        let (code, out, err) = run_on_fake_root(&bed, true, &setup, lines);
        assert_eq!(code, 0, "{setup}: {err}");
        assert!(!out.contains("laptop"), "{setup}: planted name shown: {out}");
        let (_, out, _) = run_on_fake_root(&bed, true, &setup, "--json --count 2 -u 0.3");
        let r = refusals(&out);
        assert!(r.iter().any(|m| m.contains(why)), "{setup}: {r:?}");
    }
    // Named by the user: trusted as named (their file, their choice).
    let (_, out, _) = run_on_fake_root(
        &bed,
        false,
        &format!("{write}; chown 1000 /tmp/dhcp.leases; chmod 666 /tmp/dhcp.leases"),
        &format!("{lines} --leases /tmp/dhcp.leases"),
    );
    assert!(out.contains("laptop"), "named: {out}");
    // Not OpenWrt: /tmp/dhcp.leases is nobody's default.
    let (_, out, _) = run_on_fake_root(&bed, false, &write, lines);
    assert!(!out.contains("laptop"), "off OpenWrt: {out}");
}

/// After start every thread runs as nobody (or --user), the main thread
/// with CAP_NET_ADMIN only, the DNS and metrics threads with none, all
/// with no_new_privs; a file only root can read is not read. Before: uid
/// 0 with CAP_NET_ADMIN in every thread, and files read before the drop.
#[test]
fn after_start_nftop_is_not_root() {
    if !netns_ok("after_start_nftop_is_not_root") {
        return;
    }
    let bed = Bed::up();
    let _p = bed.ping_far();
    let dir = std::env::temp_dir().join(format!("nftop-trust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "203.0.113.200 server.example\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let h = hosts.to_str().unwrap();
    // Readable by anyone: the name shows (the control).
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bed.nftop_output(&[
        "-c", "--count", "2", "-u", "0.3", "-4", "-t", "0", "--hosts", h,
    ]);
    assert!(out.contains("server.example"), "{out}");
    // Root's only: not readable after the switch, and said so.
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = bed.nftop_output(&[
        "-c", "--count", "2", "-u", "0.3", "-4", "-t", "0", "--hosts", h,
    ]);
    assert!(
        !out.contains("server.example"),
        "a root-only file was read: {out}"
    );
    let out = bed.nftop_output(&["--json", "--count", "2", "-u", "0.3", "--hosts", h]);
    let r = refusals(&out);
    assert!(
        r.iter()
            .any(|m| m.contains("hosts file refused: permission denied")),
        "{r:?}"
    );

    for (user, id) in [(None, "65534"), (Some("4321:4322"), "4321")] {
        let mut args = vec!["-c", "-u", "0.5", "--metrics", "127.0.0.1:9467"];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        let mut n = bed.nftop(&args);
        n.line().expect("a first refresh");
        let pid = n.child.id();
        let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(tasks.len() >= 3, "main, DNS and metrics threads: {tasks:?}");
        let gid = if user.is_some() { "4322" } else { "65534" };
        for t in &tasks {
            let st = std::fs::read_to_string(t.join("status")).unwrap();
            let field = |k: &str| {
                st.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            };
            let main = t.ends_with(pid.to_string());
            assert_eq!(field("Uid:"), [id; 4].join(" "), "{}:\n{st}", t.display());
            assert_eq!(field("Gid:"), [gid; 4].join(" "), "{}:\n{st}", t.display());
            assert_eq!(field("Groups:"), "", "no supplementary groups");
            // CAP_NET_ADMIN is capability 12: the main thread's only one;
            // helper threads parse network input and hold none.
            let caps = if main {
                "0000000000001000"
            } else {
                "0000000000000000"
            };
            for k in ["CapEff:", "CapPrm:"] {
                assert_eq!(field(k), caps, "{k} of {}:\n{st}", t.display());
            }
            assert_eq!(field("CapBnd:"), "0000000000001000");
            assert_eq!(field("CapInh:"), "0000000000000000");
            assert_eq!(field("CapAmb:"), "0000000000000000");
            assert_eq!(field("NoNewPrivs:"), "1", "{}", t.display());
        }
        // And it still works: the next refreshes come.
        n.line().expect("refreshes go on");
        n.line().expect("refreshes go on");
    }
    // A user that does not exist, or root, is a usage error.
    for bad in ["no-such-user", "0", "0:0"] {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &bed.ns("rtr"),
                bin(),
                "-c",
                "--count",
                "1",
                "--user",
                bad,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--user {bad}: {err}");
        assert!(
            err.contains(&format!("invalid value '{bad}' for '--user'")),
            "{err}"
        );
    }
    // Not root (a setcap'd binary run by a user): --user cannot switch,
    // and says so instead of being ignored.
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.ns("rtr"),
            "setpriv",
            "--reuid=4321",
            "--regid=4321",
        ])
        .args([
            "--clear-groups",
            bin(),
            "-c",
            "--count",
            "1",
            "--user",
            "nobody",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--user nobody needs nftop started as root"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A helper thread that dies (SIGABRT, as a panic does) holds no
/// capability to restore the sysctls: the main thread does it. Before:
/// nf_conntrack_acct stayed on.
#[test]
fn a_helper_thread_crash_still_restores_the_sysctls() {
    if !netns_ok("a_helper_thread_crash_still_restores_the_sysctls") {
        return;
    }
    let bed = Bed::up();
    let acct = || {
        bed.sh("rtr", "sysctl -n net.netfilter.nf_conntrack_acct")
            .trim()
            .to_string()
    };
    bed.sh("rtr", "sysctl -qw net.netfilter.nf_conntrack_acct=0");
    let mut n = bed.nftop(&[
        "--json",
        "-u",
        "0.5",
        "--enable-acct",
        "--metrics",
        "127.0.0.1:9468",
    ]);
    n.line().expect("a first refresh");
    assert_eq!(acct(), "1");
    let pid = n.child.id();
    let tid = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|t| {
            std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "nftop-metrics")
        })
        .expect("the metrics thread");
    let tid: i32 = tid.file_name().unwrap().to_str().unwrap().parse().unwrap();
    // SAFETY: tgkill with plain ids (a thread of our child).
    assert_eq!(
        unsafe { libc::syscall(libc::SYS_tgkill, pid as i32, tid, libc::SIGABRT) },
        0
    );
    let st = n.child.wait().unwrap();
    assert!(!st.success(), "nftop ended by the signal: {st:?}");
    assert_eq!(acct(), "0", "restored after a helper thread's crash");
}
