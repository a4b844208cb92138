//! Issue 23 part 1: nlbwmon zeroes every conntrack counter every 30 s
//! (an `IPCTNL_MSG_CT_GET_CTRZERO` dump, nlbwmon nfnetlink.c). On the bed,
//! a thread in the router namespace sends the same request on a period
//! while paced UDP flows run; nftop (`--json -u 1` and `--metrics`) must
//! show every sample of every flow within 5 % of the flow's true rate
//! (its nft counter over the whole window: the flows are steady), and its
//! uplink byte total within 2 % of an nft counter on the uplink. Before
//! the estimate, the samples a zeroing fell in dipped (the issue measured
//! -29 %, -59 %, -90 %) and the bytes before each zeroing were missing
//! from the totals.

use crate::common::enter;
use crate::common::{json, netns_ok, Bed, Bg};
use crate::events::{count_wan0_egress, wan0_l3_tx};
use crate::export::{body, http};
use crate::terminal::metric;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PORT: u16 = 9466;

/// Sends a CTRZERO dump in the router namespace `first` after the start,
/// then every `period`, until `stop`: what nlbwmon does.
fn zeroer(bed: &Bed, first: Duration, period: Duration, stop: Arc<AtomicBool>) {
    let ns = bed.ns("rtr");
    std::thread::spawn(move || {
        enter(&ns);
        let mut s =
            nftop::netlink::CtSocket::open_for(nftop::netlink::IPCTNL_MSG_CT_GET_CTRZERO).unwrap();
        let mut next = Instant::now() + first;
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(100)));
                continue;
            }
            s.dump(|_| {}).unwrap();
            next += period;
        }
    });
}

/// UDP flows from the LAN host at fixed rates (iperf3 paces UDP evenly),
/// one per (port, rate), each counted both ways by an nft counter named
/// after its port at the forward hook, where conntrack's packets pass.
fn udp_flows(bed: &Bed, flows: &[(u16, &str)], secs: u32) -> Vec<Bg> {
    let mut nft = String::from("table inet nftop_test {\n");
    for (p, _) in flows {
        nft += &format!("counter u{p} {{}}\n");
    }
    nft += "chain count_forward {\ntype filter hook forward priority -10; policy accept;\n";
    for (p, _) in flows {
        nft +=
            &format!("udp dport {p} counter name \"u{p}\"\nudp sport {p} counter name \"u{p}\"\n");
    }
    nft += "}\n}\n";
    bed.sh("rtr", &format!("nft -f - <<'EOF'\n{nft}EOF"));
    let mut bg = Vec::new();
    for (p, _) in flows {
        bg.push(bed.spawn("inet", &format!("iperf3 -s -p {p} -B 203.0.113.200")));
    }
    for (p, _) in flows {
        bed.wait_for("inet", &format!("ss -ltn | grep -q ':{p} '"), 10);
    }
    for (p, rate) in flows {
        bg.push(bed.spawn(
            "cli",
            &format!("iperf3 -u -c 203.0.113.200 -p {p} -b {rate} -t {secs}"),
        ));
    }
    bg
}

/// The flows' nft counters by port, the uplink's egress counter, and
/// when they were read.
fn kernel(bed: &Bed) -> (HashMap<u16, u64>, u64, Instant) {
    let at = Instant::now();
    let flows = crate::common::nft_counters(bed)
        .into_iter()
        .map(|(n, b)| (n[1..].parse().unwrap(), b))
        .collect();
    (flows, wan0_l3_tx(bed), at)
}

/// The metrics page of refresh `seq` (the page follows the JSON tick).
fn page_of(bed: &Bed, seq: u64) -> String {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let a = http(
            bed,
            PORT,
            "GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n",
        );
        let p = body(&a).to_string();
        if p.contains(&format!("nftop_refreshes_total {seq}\n")) {
            return p;
        }
        assert!(Instant::now() < end, "no page for refresh {seq}:\n{p}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const WAN0_TX: &str = "nftop_interface_bytes_total{dev=\"wan0\",direction=\"tx\"}";

/// Runs the flows, the zeroer (`first`, then every `period`) and nftop
/// for a window of `window` refreshes after refresh 3; checks every
/// sample and the totals, and that `zeroings` zeroings were seen and the
/// header named their `period_s`.
fn under_zeroing(
    flows: &[(u16, &str)],
    first: f64,
    period: f64,
    window: u64,
    zeroings: usize,
    period_s: u32,
) {
    let bed = Bed::up_with(&[("NFTOP_BED_RATE", "60mbit")]);
    count_wan0_egress(&bed);
    let _flows = udp_flows(&bed, flows, window as u32 + 20);
    std::thread::sleep(Duration::from_secs(2));
    // A few more: the last refresh's page goes with nftop.
    let count = (window + 6).to_string();
    let metrics = format!("127.0.0.1:{PORT}");
    let mut n = bed.nftop(&[
        "--json",
        "-u",
        "1",
        "-t",
        "0",
        "--count",
        &count,
        "--metrics",
        &metrics,
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    zeroer(
        &bed,
        Duration::from_secs_f64(first),
        Duration::from_secs_f64(period),
        stop.clone(),
    );
    // (seq, port, bit/s, flagged reset)
    let mut samples: Vec<(u64, u16, f64, bool)> = Vec::new();
    let mut conns: Vec<(u16, f64, bool)> = Vec::new();
    let mut start = None;
    let mut end = None;
    let mut msgs = Vec::new();
    while let Some(line) = n.line() {
        let v = json(&line);
        match v.get("type").str() {
            "conn" => {
                let p = v.get("dport").num() as u16;
                if v.get("proto").str() == "udp" && flows.iter().any(|f| f.0 == p) {
                    let reset = v.get("flags").arr().iter().any(|f| f.str() == "reset");
                    conns.push((p, v.get("sum_bps").num(), reset));
                }
            }
            "tick" => {
                let seq = v.get("seq").num() as u64;
                if seq == 3 || seq == window + 3 {
                    let k = kernel(&bed);
                    let page = page_of(&bed, seq);
                    // (Absent before the estimate: 0, so that the old
                    // binary fails on its numbers, not on this name.)
                    let est = if page.contains("nftop_estimated_bytes_total ") {
                        metric(&page, "nftop_estimated_bytes_total ")
                    } else {
                        0.0
                    };
                    let at = (k, metric(&page, WAN0_TX), est);
                    if seq == 3 {
                        start = Some(at);
                    } else {
                        end = Some(at);
                    }
                }
                if seq > 3 {
                    samples.extend(conns.iter().map(|&(p, r, z)| (seq, p, r, z)));
                }
                conns.clear();
                for w in v.get("warnings").arr() {
                    if w.get("code").str() == "counter_reset" {
                        msgs.push(w.get("msg").str().to_string());
                    }
                }
                if seq == window + 3 {
                    break;
                }
            }
            _ => {}
        }
    }
    stop.store(true, Ordering::SeqCst);
    let ((k0, w0, e0), (k1, w1, e1)) = (start.unwrap(), end.unwrap());
    let secs = (k1.2 - k0.2).as_secs_f64();
    let mut failed = Vec::new();
    for &(p, rate) in flows {
        let truth = (k1.0[&p] - k0.0[&p]) as f64 * 8.0 / secs;
        let mine: Vec<&(u64, u16, f64, bool)> = samples.iter().filter(|s| s.1 == p).collect();
        assert_eq!(mine.len() as u64, window, "port {p}: one sample a refresh");
        let mut worst: (f64, f64) = (0.0, 0.0);
        for &&(seq, _, r, z) in &mine {
            let err = (r - truth) / truth;
            if err.abs() > worst.0.abs() {
                worst = (err, r);
            }
            if z {
                eprintln!("port {p} ({rate}): zeroed in refresh {seq}: {r:.0} bit/s, truth {truth:.0}, {:+.2} %", err * 100.0);
            }
            if err.abs() > 0.05 {
                failed.push(format!(
                    "port {p} refresh {seq}: {r:.0} vs {truth:.0} bit/s ({:+.1} %)",
                    err * 100.0
                ));
            }
        }
        eprintln!(
            "port {p} ({rate}): truth {truth:.0} bit/s, worst sample {:.0} ({:+.2} %)",
            worst.1,
            worst.0 * 100.0
        );
    }
    let zeroed: std::collections::BTreeSet<u64> =
        samples.iter().filter(|s| s.3).map(|s| s.0).collect();
    let ours = w1 - w0;
    let counter = (k1.1 - k0.1) as f64;
    let err = (ours - counter) / counter;
    eprintln!(
        "uplink over {secs:.1} s: nftop {ours:.0} B, nft {counter:.0} B ({:+.2} %), estimated {:.0} B; zeroed in refreshes {zeroed:?}; header: {:?}",
        err * 100.0,
        e1 - e0,
        msgs.last()
    );
    assert!(
        failed.is_empty(),
        "samples off by more than 5 %:\n{}",
        failed.join("\n")
    );
    assert!(zeroed.len() >= zeroings, "zeroings seen: {zeroed:?}");
    assert!(
        err.abs() < 0.02,
        "uplink total {ours} vs nft {counter} ({:+.2} %)",
        err * 100.0
    );
    let named = format!("nlbwmon (or another program) zeroes conntrack counters every ~{period_s} s: rates estimated across resets");
    assert!(msgs.contains(&named), "header: {msgs:?}");
    assert!(e1 > e0, "estimated bytes counted on the metrics page");
}

/// Four flows (1-4 Mbit/s), a zeroing every 4.3 s (the period the issue
/// measured with; not a whole number of refreshes, so each zeroing falls
/// at another point of the interval), 20 refreshes: the table-wide median.
#[test]
fn issue23_rates_and_totals_hold_under_a_zeroing_every_4s() {
    if !netns_ok("issue23_rates_and_totals_hold_under_a_zeroing_every_4s") {
        return;
    }
    let flows = [(5301, "1M"), (5302, "2M"), (5303, "3M"), (5304, "4M")];
    under_zeroing(&flows, 2.6, 4.3, 20, 4, 4);
}

/// nlbwmon's default: a zeroing every 30 s, one 2 Mbit/s flow (the
/// issue's figures), 60 refreshes: too few flows for a median, so the
/// flow holds its last rate.
#[test]
fn issue23_rates_and_totals_hold_under_nlbwmons_30s_zeroing() {
    if !netns_ok("issue23_rates_and_totals_hold_under_nlbwmons_30s_zeroing") {
        return;
    }
    under_zeroing(&[(5311, "2M")], 12.4, 30.0, 60, 2, 30);
}
