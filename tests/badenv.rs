//! Bad environments: each gives one clear line naming the fix and the
//! right exit code, or is bounded and reported, and nothing else breaks.

use crate::common::{bin, json, netns_ok, Bed};
use std::process::Command;

/// Conntrack refused: the kernel's own EPERM, asked for without
/// CAP_NET_ADMIN (as `nobody`, events off so that the dump is the first
/// thing refused). One line naming the capability, exit 1.
#[test]
fn refused_ctnetlink_is_one_line_naming_the_capability() {
    let o = without_caps(&["-c", "--count", "1", "--no-dns", "--no-events"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("nftop: permission denied reading conntrack")
            && err.contains("CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// nftop run as `nobody` (through setpriv when we are root): the kernel
/// refuses it what needs CAP_NET_ADMIN.
fn without_caps(args: &[&str]) -> std::process::Output {
    let mut c = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(bin());
        c
    } else {
        Command::new(bin())
    };
    c.args(args).output().unwrap()
}

/// A kernel without nfnetlink: socket(AF_NETLINK, .., NETLINK_NETFILTER)
/// fails with EPROTONOSUPPORT. Made real for nftop alone by a seccomp
/// filter that gives that answer to that call (installed between fork
/// and exec). One line naming the module to install, exit 1. (The other
/// answers of such kernels, NLMSG_ERROR EOPNOTSUPP to the dump, are fed
/// to the dump reader in decode::kernel_errors_name_the_fix.)
#[cfg(target_arch = "x86_64")]
#[test]
fn no_nfnetlink_is_one_line_naming_the_module() {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin());
    c.args(["-c", "--count", "1", "--no-dns"]);
    // SAFETY: only prctl with a filter that lives until exec, in the child.
    unsafe {
        c.pre_exec(|| {
            deny_netfilter_sockets();
            Ok(())
        })
    };
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("nftop: conntrack netlink is not available")
            && err.contains("modprobe nf_conntrack_netlink")
            && err.contains("kmod-nf-conntrack-netlink"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// A seccomp filter (x86_64): socket(AF_NETLINK, _, NETLINK_NETFILTER)
/// fails with EPROTONOSUPPORT, every other call is allowed.
#[cfg(target_arch = "x86_64")]
fn deny_netfilter_sockets() {
    const LD_ABS_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    // struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i (the
    // low half first on little-endian).
    let prog = [
        op(LD_ABS_W, 0, 0, 4),
        op(JEQ, 0, 7, AUDIT_ARCH_X86_64),
        op(LD_ABS_W, 0, 0, 0),
        op(JEQ, 0, 5, libc::SYS_socket as u32),
        op(LD_ABS_W, 0, 0, 16),
        op(JEQ, 0, 3, libc::AF_NETLINK as u32),
        op(LD_ABS_W, 0, 0, 32),
        op(JEQ, 0, 1, libc::NETLINK_NETFILTER as u32),
        op(
            RET,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EPROTONOSUPPORT as u32,
        ),
        op(RET, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with a filter program that outlives the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog
            ),
            0
        );
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
