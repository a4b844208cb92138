//! Export to the systems fleets run: a real Prometheus scrapes nftop's
//! `--metrics` responder on the bed; promtool checks the exposition; bad
//! clients do not disturb the refresh.

use crate::common::{bin, json, netns_ok, Bed};
use crate::events::{count_wan0_egress, wan0_l3_tx};
use std::time::{Duration, Instant};

/// GET `path` from `port` inside the router namespace with bash's
/// /dev/tcp (no curl needed): the whole answer, headers included.
pub(crate) fn http(bed: &Bed, port: u16, request: &str) -> String {
    bed.sh(
        "rtr",
        &format!(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; printf \"{request}\" >&3; timeout 5 cat <&3' || true"
        ),
    )
}

pub(crate) fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The metrics page nftop serves on `port` in the router namespace.
pub(crate) fn metrics_page(bed: &Bed, port: u16) -> String {
    body(&http(bed, port, "GET /metrics HTTP/1.1\r\n\r\n")).to_string()
}

/// A port nothing in the namespace uses (each bed is a fresh namespace).
const PORT: u16 = 9464;

#[test]
fn prometheus_scrapes_rates_that_match_the_uplink_counter() {
    if !netns_ok("prometheus_scrapes_rates_that_match_the_uplink_counter") {
        return;
    }
    let bed = Bed::up();
    count_wan0_egress(&bed);
    let _srv = bed.spawn("inet", "iperf3 -s -p 5201 -B 203.0.113.200");
    bed.wait_for("inet", "ss -ltn | grep -q ':5201 '", 10);
    let _flow = bed.spawn("cli", "iperf3 -c 203.0.113.200 -p 5201 -b 6M -l 2K -t 120");
    let _nftop = bed.spawn(
        "rtr",
        &format!("{} --metrics 127.0.0.1:{PORT} --quiet -u 1", bin()),
    );
    bed.wait_for("rtr", &format!("ss -ltn | grep -q ':{PORT} '"), 10);
    // promtool accepts the exposition as it is served.
    // Once the flow is in a refresh or two.
    let end = Instant::now() + Duration::from_secs(15);
    let page = loop {
        // Prometheus' own Host: the bound address and port.
        let p = http(
            &bed,
            PORT,
            &format!("GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1:{PORT}\\r\\n\\r\\n"),
        );
        if p.contains("host=\"192.0.2.2\"") || Instant::now() > end {
            break p;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    let dir = format!("/tmp/nftop-prom-{}", std::process::id());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/page.txt"), body(&page)).unwrap();
    let check = bed.sh(
        "rtr",
        &format!("promtool check metrics < {dir}/page.txt 2>&1; echo rc=$?"),
    );
    assert!(check.trim_end().ends_with("rc=0"), "{check}\n{page}");
    for name in [
        "nftop_interface_bytes_total{dev=\"wan0\",direction=\"tx\"}",
        "nftop_interface_link_bytes_total{dev=\"wan0\",direction=\"tx\"}",
        "nftop_host_bytes_total{host=\"192.0.2.2\",mac=\"",
        "nftop_host_bytes_total{host=\"other\"",
        "nftop_connections{dev=\"lan0\"}",
        "nftop_conntrack_entries ",
        "nftop_conntrack_max ",
    ] {
        assert!(body(&page).contains(name), "{name} missing:\n{page}");
    }
    // Every counter of the list the JSON tick reads too (issue 22: the
    // page lacked the flow table's and the closed connections'), with
    // its TYPE.
    for c in nftop::render::counters::COUNTERS
        .iter()
        .filter(|c| !c.metric.is_empty())
    {
        let kind = nftop::render::counters::kind(c.metric);
        for line in [
            format!("\n{} ", c.metric),
            format!("# TYPE {} {kind}\n", c.metric),
        ] {
            assert!(body(&page).contains(&line), "{line:?} missing:\n{page}");
        }
    }
    // A real Prometheus scraping every second.
    std::fs::write(
        format!("{dir}/prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: nftop\n    static_configs:\n      - targets: ['127.0.0.1:{PORT}']\n"
        ),
    )
    .unwrap();
    let _prom = bed.spawn(
        "rtr",
        &format!(
            "prometheus --config.file={dir}/prometheus.yml --storage.tsdb.path={dir}/data --web.listen-address=127.0.0.1:9090"
        ),
    );
    bed.wait_for("rtr", "ss -ltn | grep -q ':9090 '", 30);
    std::thread::sleep(Duration::from_secs(10));
    let a = (wan0_l3_tx(&bed), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let b = (wan0_l3_tx(&bed), Instant::now());
    let q = bed.sh(
        "rtr",
        "promtool query instant http://127.0.0.1:9090 'rate(nftop_interface_bytes_total{dev=\"wan0\",direction=\"tx\"}[10s])' 2>&1",
    );
    let ours: f64 = q
        .split("=> ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rate from Prometheus: {q}"));
    let counter = (b.0 - a.0) as f64 / (b.1 - a.1).as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(counter > 500_000.0, "the flow runs: {counter} B/s");
    assert!(
        (ours - counter).abs() <= 0.05 * counter,
        "Prometheus rate {ours:.0} B/s vs nft counter {counter:.0} B/s"
    );
}

/// VmRSS of a process, KiB.
fn rss(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn bad_metrics_clients_do_not_disturb_the_refresh() {
    if !netns_ok("bad_metrics_clients_do_not_disturb_the_refresh") {
        return;
    }
    let bed = Bed::up();
    let _p = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    let mut n = bed.nftop(&[
        "--json",
        "-u",
        "0.5",
        "--metrics",
        &format!("127.0.0.1:{PORT}"),
    ]);
    bed.wait_for("rtr", &format!("ss -ltn | grep -q ':{PORT} '"), 10);
    let pid = bed
        .sh(
            "rtr",
            &format!("ss -ltnp | grep ':{PORT} ' | grep -o 'pid=[0-9]*' | cut -d= -f2"),
        )
        .trim()
        .to_string();
    // Settle, then measure.
    let mut ticks = |k: usize| {
        let mut seen = Vec::new();
        while seen.len() < k {
            let l = n.line().expect("nftop ended");
            let v = json(&l);
            if v.get("type").str() == "tick" {
                seen.push((Instant::now(), v.get("seq").num()));
            }
        }
        seen
    };
    ticks(3);
    let before = rss(&pid);
    // Malformed, wrong path, wrong method: one status line each.
    for (req, want) in [
        ("garbage\\r\\n\\r\\n", "400 Bad Request"),
        ("GET / HTTP/1.1\\r\\n\\r\\n", "404 Not Found"),
        (
            "DELETE /metrics HTTP/1.1\\r\\n\\r\\n",
            "405 Method Not Allowed",
        ),
    ] {
        let a = http(&bed, PORT, req);
        assert!(a.starts_with(&format!("HTTP/1.1 {want}\r\n")), "{req}: {a}");
    }
    // A 1 MB request line, and 1000 connections at once (half of them
    // never sending anything), while nftop refreshes every 0.5 s.
    let flood = bed.spawn(
        "rtr",
        &format!(
            "bash -c 'head -c 1000000 /dev/zero | tr \"\\\\0\" a | sed \"s/^/GET \\//\" > /dev/tcp/127.0.0.1/{PORT}; \
             for i in $(seq 1000); do (exec 3<>/dev/tcp/127.0.0.1/{PORT}; [ $((i % 2)) = 0 ] && printf \"GET /metrics HTTP/1.1\\r\\n\\r\\n\" >&3; sleep 3) & done; wait'"
        ),
    );
    let during = ticks(8);
    drop(flood);
    // Refreshes kept their schedule: 8 ticks in about 4 s, none late by
    // more than an interval.
    for w in during.windows(2) {
        let gap = (w[1].0 - w[0].0).as_secs_f64();
        assert!(
            gap < 1.0,
            "a refresh waited {gap:.2} s behind the metrics clients"
        );
        assert_eq!(w[1].1, w[0].1 + 1.0);
    }
    // Still serving, and nothing grew.
    let ok = http(&bed, PORT, "GET /metrics HTTP/1.1\\r\\n\\r\\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    let after = rss(&pid);
    assert!(after <= before + 1024, "RSS {before} -> {after} KiB");
}
