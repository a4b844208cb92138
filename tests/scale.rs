//! Large tables on the real kernel: the CPU budget holds on a 200k-entry
//! table refreshed every 0.2 s, and a full conntrack table (the kernel
//! evicting entries) keeps nftop refreshing and reporting the kernel's
//! drop counters.

use crate::common::{bin, json, netns_ok, Bed, J};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: fields 14 and 15 are utime
    // and stime in clock ticks.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Runs nftop in `ns` with `args` until `ticks` ticks have arrived;
/// returns the ticks and nftop's CPU share between the second tick and the
/// last (start-up excluded).
fn cpu_share(ns: &str, args: &[&str], ticks: usize) -> (Vec<J>, f64) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, bin()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut start = None;
    let mut line = String::new();
    while seen.len() < ticks {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "nftop ended");
        let v = json(line.trim_end());
        if v.get("type").str() == "tick" {
            seen.push(v);
            if seen.len() == 2 {
                start = Some((Instant::now(), cpu_of(pid)));
            }
        }
    }
    let (t0, c0) = start.unwrap();
    let share = (cpu_of(pid) - c0) / t0.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    (seen, share)
}

#[test]
fn cpu_budget_holds_on_a_200k_table() {
    if !netns_ok("cpu_budget_holds_on_a_200k_table") {
        return;
    }
    let _big = crate::common::big_table();
    let ns = crate::common::Netns::add("ntcpu");
    let name = ns.0.clone();
    std::thread::spawn(move || {
        crate::common::enter(&name);
        crate::bench::inject_with(200_000, |i| {
            let src = [198, 51, 100, (i % 250) as u8 + 1].to_vec();
            let dst = [203, 0, 113, (i / 50_000) as u8 + 1].to_vec();
            (src, dst, 1024 + (i % 50_000) as u16)
        });
    })
    .join()
    .unwrap();
    // Unlimited first: a refresh of 200k entries every 0.2 s takes far
    // more than a quarter of a core, so the cap below is doing something.
    let (_, free) = cpu_share(&ns.0, &["--json", "-t", "1G", "-u", "0.2", "--cpu", "0"], 4);
    let (ticks, capped) = cpu_share(
        &ns.0,
        &["--json", "-t", "1G", "-u", "0.2", "--cpu", "25"],
        5,
    );
    eprintln!(
        "CPU share: {:.0} % without a cap, {:.0} % with --cpu 25",
        free * 100.0,
        capped * 100.0
    );
    assert!(
        free > 0.5,
        "uncapped refreshes of 200k entries every 0.2 s: {free}"
    );
    assert!(capped <= 0.30, "--cpu 25 held within 5 % slack: {capped}");
    let last = ticks.last().unwrap();
    assert_eq!(last.get("cpu_budget").num(), 25.0);
    assert_eq!(last.get("interval_requested").num(), 0.2);
    assert!(
        last.get("interval").num() > 0.2,
        "the interval stretched: {last:?}"
    );
}

/// A conntrack table at nf_conntrack_max: the kernel evicts (early drop)
/// to admit new connections; nftop keeps refreshing at its interval and
/// shows the kernel's drop counters in its warning.
#[test]
fn a_full_conntrack_table_is_reported_with_the_kernels_drops() {
    if !netns_ok("a_full_conntrack_table_is_reported_with_the_kernels_drops") {
        return;
    }
    let _big = crate::common::big_table();
    let bed = Bed::up();
    let max: usize = bed
        .sh("rtr", "sysctl -n net.netfilter.nf_conntrack_max")
        .trim()
        .parse()
        .unwrap();
    let count: usize = bed
        .sh("rtr", "sysctl -n net.netfilter.nf_conntrack_count")
        .trim()
        .parse()
        .unwrap();
    let rtr = bed.ns("rtr");
    let name = rtr.clone();
    std::thread::spawn(move || {
        crate::common::enter(&name);
        crate::bench::inject_with(max - count, |i| {
            let src = [198, 51, 100, (i % 250) as u8 + 1].to_vec();
            let dst = [203, 0, 113, 100 + (i / 60_000) as u8].to_vec();
            (src, dst, 1024 + (i % 60_000) as u16)
        });
    })
    .join()
    .unwrap();
    // New connections through the full table: the kernel early-drops
    // unassured entries to admit them.
    bed.sh(
        "cli",
        "for i in $(seq 1 40); do echo x | socat -u - UDP4:203.0.113.200:$((6000 + i)); done",
    );
    let (ticks, _) = cpu_share(&rtr, &["--json", "-t", "1G", "-u", "0.5", "--cpu", "0"], 4);
    for t in &ticks {
        assert_eq!(t.get("interval").num(), 0.5, "the interval holds");
    }
    let w = ticks.last().unwrap().get("warnings");
    let full = w
        .arr()
        .iter()
        .find(|x| x.get("code").str() == "conntrack_near_full")
        .unwrap_or_else(|| panic!("no conntrack_near_full in {w:?}"));
    let msg = full.get("msg").str();
    let dropped: u64 = msg
        .split(" dropped")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no drop count in '{msg}'"));
    let stat = bed.sh("rtr", "conntrack -S 2>/dev/null | head -1 || true");
    eprintln!("{msg} | {stat}");
    assert!(dropped > 0, "the kernel's drops are shown: {msg}");
}
