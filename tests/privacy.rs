//! Issue 26 item 6: `-r`/`-R` hide their side in every output. The fixed
//! table of golden.rs (with a lease naming the LAN host's MAC and hosts
//! names for a local and a remote address) rendered by every format, the
//! detail pane and the delete question; then the real binary on the bed:
//! `-M`, `--json`, `--json -H`, the metrics page and IPFIX records. Each
//! output is searched for the hidden side's addresses (before and after
//! NAT), MAC and names.

use crate::common::{bin, netns_ok, Bed};
use crate::golden::render_with;
use nftop::names::Names;
use std::time::{Duration, Instant};

/// A scratch file, removed on drop.
struct Tmp(String);

impl Tmp {
    fn new(tag: &str, text: &str) -> Tmp {
        let p = format!("/tmp/nftop-privacy-{tag}-{}", std::process::id());
        std::fs::write(&p, text).unwrap();
        Tmp(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `out` holds `needle` as a whole address or name: not inside a
/// longer one (192.0.2.1 is not in 192.0.2.10).
fn holds(out: &str, needle: &str) -> bool {
    let part = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
    out.match_indices(needle).any(|(i, _)| {
        let before = out[..i].chars().next_back();
        let after = out[i + needle.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(|c| c.is_ascii_hexdigit() || c == '.')
    })
}

fn assert_hidden(what: &str, out: &str, hidden: &[&str], shown: &[&str]) {
    for h in hidden {
        assert!(!holds(out, h), "{what}: {h} leaks:\n{out}");
    }
    for s in shown {
        assert!(
            holds(out, s),
            "{what}: {s} missing (the other side):\n{out}"
        );
    }
    // JSON's device objects have nothing of the remote side.
    if !what.ends_with("--json -H -R") {
        assert!(out.contains("redacted"), "{what}: nothing redacted:\n{out}");
    }
}

/// The golden table's names: the LAN host's MAC by lease, the port
/// forward's inside host and the far server by hosts.
fn names() -> (Tmp, Tmp, Names) {
    let leases = Tmp::new(
        "leases",
        "1700000000 02:00:00:00:00:0a 192.0.2.10 phone9x *\n",
    );
    let hosts = Tmp::new("hosts", "192.0.2.20 nas9x\n203.0.113.200 far9x\n");
    let n = Names::new(&hosts.0, &leases.0, false, false);
    (leases, hosts, n)
}

/// Of the golden table, what each side is. Local with -r: the LAN host
/// (address, MAC, lease name), the router's WAN addresses it is
/// masqueraded to, the port forward's public address and inside host,
/// the router's LAN address of its own service, the LAN host's IPv6
/// address. Remote: the far server. The LAN host is the remote side of
/// its connection to the router's service (dport 8080): left out where
/// the local side is tested, tested alone for -R.
const LOCAL: &[&str] = &[
    "192.0.2.10",
    "198.51.100.1",
    "203.0.113.1",
    "192.0.2.20",
    "192.0.2.1",
    "2001:db8:1::2",
    "02:00:00:00:00:0a",
    "phone9x",
    "nas9x",
];
const REMOTE: &[&str] = &["203.0.113.200", "2001:db8:ff::20", "far9x"];

/// Flags of an output, and the screen's size (None: not the screen).
type Format = (&'static [&'static str], Option<(usize, usize)>);

/// Every connection format and the per-device view of each, with `flags`.
fn every_format(flags: &[&str], names: &Names) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let formats: [Format; 10] = [
        (&["-c"], None),
        (&["-c", "-w", "-I"], None),
        (&["-M"], None),
        (&["--json"], None),
        (&["-w"], Some((20, 200))),
        (&[], Some((24, 80))),
        (&["-c", "-H"], None),
        (&["-M", "-H"], None),
        (&["--json", "-H"], None),
        (&["-H"], Some((20, 120))),
    ];
    for (f, screen) in formats {
        let mut args = vec!["-t", "0", "-L"];
        args.extend_from_slice(f);
        args.extend_from_slice(flags);
        let text = render_with(&args, screen, names, |_, _| {});
        out.push((args.join(" "), text));
    }
    out
}

/// `a`, the other side's address, where it must be shown: the numeric
/// connection formats (the others show its name).
fn numeric_conns<'a>(what: &str, a: &'a str) -> Vec<&'a str> {
    let numeric = what.contains("-M") || what.contains("--json");
    if numeric && !what.contains("-H") {
        vec![a]
    } else {
        vec![]
    }
}

#[test]
fn redact_local_hides_the_local_side_in_every_format() {
    let (_l, _h, names) = names();
    for (what, text) in every_format(&["-r", "-f", "not dport 8080"], &names) {
        // The router's row of -H counts the service connection, whose
        // remote side is the LAN host: that line may name it.
        let text: String = text
            .lines()
            .filter(|l| !l.split_whitespace().any(|w| w == "local"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_hidden(&what, &text, LOCAL, &numeric_conns(&what, "203.0.113.200"));
    }
}

#[test]
fn redact_remote_hides_the_remote_side_in_every_format() {
    let (_l, _h, names) = names();
    for (what, text) in every_format(&["-R"], &names) {
        assert_hidden(&what, &text, REMOTE, &numeric_conns(&what, "192.0.2.10"));
    }
    // The LAN host using the router's service is that connection's
    // remote side.
    for args in [&["-M"][..], &["--json"], &["-c"]] {
        let mut a = vec!["-R", "-f", "dport 8080"];
        a.extend_from_slice(args);
        let text = render_with(&a, None, &names, |_, _| {});
        assert_hidden(&a.join(" "), &text, &["192.0.2.10", "phone9x"], &[]);
    }
}

/// The detail pane (Enter) of connection `id`, and the delete question
/// (`k`) about it, on a 100x24 screen.
fn pane(flags: &[&str], names: &Names, id: u32, question: bool) -> String {
    let mut args = vec!["-t", "0", "-L"];
    args.extend_from_slice(flags);
    render_with(&args, Some((24, 100)), names, |ui, table| {
        let i = table.flows().iter().position(|f| f.id == id).unwrap();
        let c = table.conn(&table.flows()[i]);
        ui.sel.idx = Some(i as u32);
        ui.sel.conn = Some(c);
        if question {
            ui.confirm = Some(c);
        } else {
            ui.sel.detail = true;
        }
    })
}

#[test]
fn the_detail_pane_and_the_delete_question_hide_their_side() {
    let (_l, _h, names) = names();
    // 1: the LAN host masqueraded to 198.51.100.1; 3: the port forward
    // from the far server to 198.51.100.1, sent to 192.0.2.20.
    let lan = ["192.0.2.10", "198.51.100.1"];
    let pf = ["198.51.100.1", "192.0.2.20"];
    let far = ["203.0.113.200"];
    for question in [false, true] {
        let what = if question { "question" } else { "pane" };
        let p = pane(&["-r"], &names, 1, question);
        assert_hidden(&format!("-r {what} of 1"), &p, &lan, &far);
        let p = pane(&["-r"], &names, 3, question);
        let shown: &[&str] = if question { &far } else { &[] };
        assert_hidden(&format!("-r {what} of 3"), &p, &pf, shown);
        let p = pane(&["-R"], &names, 1, question);
        assert_hidden(&format!("-R {what} of 1"), &p, &far, &lan[..1]);
    }
}

/// One IPFIX record's four addresses (pre-NAT source and destination,
/// post-NAT source and destination), from messages as a collector
/// stored them back to back.
fn ipfix_addresses(mut m: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]) as usize;
    while m.len() >= 16 {
        let len = be16(m, 2).min(m.len());
        let mut at = 16;
        while at + 4 <= len {
            let (id, slen) = (be16(m, at), be16(m, at + 2));
            if slen < 4 || at + slen > len {
                break;
            }
            let alen = match id {
                256 => 4,
                257 => 16,
                _ => 0,
            };
            if alen > 0 {
                let rlen = nftop::ipfix::record_len(alen);
                for r in m[at + 4..at + slen].chunks_exact(rlen) {
                    out.extend(r[32..32 + 4 * alen].chunks(alen).map(|a| a.to_vec()));
                }
            }
            at += slen;
        }
        m = &m[len.max(16)..];
    }
    out
}

fn octets(a: &str) -> Vec<u8> {
    match a.parse::<std::net::IpAddr>().unwrap() {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// The bed, the LAN host's MAC, and a leases file naming it `phone9x`
/// (at 192.0.2.99, so only the MAC ties it to the host).
fn bed_with_a_leased_phone(tag: &str) -> (Bed, String, Tmp) {
    let bed = Bed::up();
    let mac = bed
        .sh("cli", "cat /sys/class/net/cli0/address")
        .trim()
        .to_string();
    let leases = Tmp::new(tag, &format!("1700000000 {mac} 192.0.2.99 phone9x *\n"));
    (bed, mac, leases)
}

/// The issue's reproduction on the bed: a LAN host masqueraded to the
/// internet (IPv4, and IPv6 routed) and a port forward to it from the
/// internet; nftop with `-r` and with `-R`, in `-M`, `--json`,
/// `--json -H`, the metrics page and IPFIX.
#[test]
fn redaction_reaches_every_output_on_the_bed() {
    if !netns_ok("redaction_reaches_every_output_on_the_bed") {
        return;
    }
    let (bed, mac, leases) = bed_with_a_leased_phone("bed-leases");
    let _pf = bed.spawn(
        "cli",
        "socat -u TCP-LISTEN:8022,reuseaddr,fork OPEN:/dev/null",
    );
    bed.wait_for("cli", "ss -ltn | grep -q ':8022 '", 10);
    let _t = [
        bed.spawn("cli", "ping -q -i 0.2 203.0.113.200"),
        bed.spawn("cli", "ping -6 -q -i 0.2 2001:db8:ff::200"),
        bed.spawn(
            "inet",
            "sh -c 'while :; do head -c 2000 /dev/zero; sleep 0.2; done | socat -u - TCP:198.51.100.1:2222'",
        ),
    ];
    bed.wait_for(
        "rtr",
        "conntrack -L 2>/dev/null | grep -q 'dport=2222' && ip neigh show 192.0.2.2 | grep -q lladdr",
        10,
    );
    // Local: the LAN host (both families, MAC, lease name) and the
    // router's WAN address (masquerade source, port forward address).
    // Remote: the server and the port forward's client.
    let local = [
        "192.0.2.2",
        "2001:db8:1::2",
        "198.51.100.1",
        &mac,
        "phone9x",
    ];
    let remote = ["203.0.113.200", "2001:db8:ff::200", "198.51.100.2"];
    for (flag, hidden, shown) in [
        ("-r", &local[..], &remote[..]),
        ("-R", &remote, &local[..3]),
    ] {
        let run = |args: &[&str]| {
            let mut a = vec![
                flag, "-t", "0", "-u", "0.5", "--count", "3", "--leases", &leases.0,
            ];
            a.extend_from_slice(args);
            bed.nftop_output(&a)
        };
        assert_hidden(&format!("{flag} -M"), &run(&["-M"]), hidden, shown);
        assert_hidden(&format!("{flag} --json"), &run(&["--json"]), hidden, shown);
        if flag == "-r" {
            assert_hidden("-r --json -H", &run(&["--json", "-H"]), hidden, &[]);
        }
        // The exports, one run: the metrics page and an IPFIX collector.
        let (port, cport) = if flag == "-r" {
            (9471, 4741)
        } else {
            (9472, 4742)
        };
        let file = format!("/tmp/nftop-privacy-ipfix-{}-{port}", std::process::id());
        let _ = std::fs::remove_file(&file);
        let _c = bed.spawn(
            "rtr",
            &format!("socat -u UDP-RECV:{cport},bind=127.0.0.1 OPEN:{file},creat,append"),
        );
        bed.wait_for("rtr", &format!("ss -lun | grep -q ':{cport} '"), 10);
        let _n = bed.spawn(
            "rtr",
            &format!(
                "{} --quiet {flag} -u 0.5 --leases {} --metrics 127.0.0.1:{port} --ipfix 127.0.0.1:{cport}",
                bin(),
                leases.0
            ),
        );
        bed.wait_for("rtr", &format!("ss -ltn | grep -q ':{port} '"), 10);
        let end = Instant::now() + Duration::from_secs(15);
        let page = loop {
            let p = crate::export::http(
                &bed,
                port,
                &format!("GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n\\r\\n"),
            );
            let want = if flag == "-r" {
                "host=\"redacted-"
            } else {
                "host=\"192.0.2.2\""
            };
            if p.contains(want) || Instant::now() > end {
                break p;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        if flag == "-r" {
            assert_hidden("-r metrics", &page, hidden, &[]);
        }
        // Prometheus refuses a page in which two series have the same
        // name and labels (redacted devices would all read alike).
        let mut series: Vec<&str> = page
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(k, _)| k))
            .collect();
        let n = series.len();
        series.sort_unstable();
        series.dedup();
        assert_eq!(series.len(), n, "{flag}: a series twice:\n{page}");
        // IPFIX: a few refreshes' records.
        std::thread::sleep(Duration::from_millis(1500));
        let sent = ipfix_addresses(&std::fs::read(&file).unwrap_or_default());
        let _ = std::fs::remove_file(&file);
        assert!(!sent.is_empty(), "{flag}: no IPFIX records");
        for h in hidden
            .iter()
            .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
        {
            assert!(!sent.contains(&octets(h)), "{flag}: IPFIX sends {h}");
        }
        for s in shown
            .iter()
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        {
            assert!(sent.contains(&octets(s)), "{flag}: IPFIX lacks {s}");
        }
        assert!(
            sent.iter().any(|a| a.iter().all(|&b| b == 0)),
            "{flag}: no address sent as unspecified"
        );
    }
}

/// The keys `r`/`R` change the screen only: started with `-r`, the
/// screen shows the LAN host after `r`, and the metrics page served at
/// the same time still hides it, its MAC and its lease name.
#[test]
fn the_keys_change_the_screen_and_not_the_exports() {
    if !netns_ok("the_keys_change_the_screen_and_not_the_exports") {
        return;
    }
    let (bed, mac, leases) = bed_with_a_leased_phone("keys-leases");
    let _t = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    bed.wait_for("rtr", "ip neigh show 192.0.2.2 | grep -q lladdr", 10);
    let t = crate::terminal::Tmux::new("privacy", 120, 30);
    let port = 9473;
    crate::terminal::run_nftop(
        &t,
        &bed,
        &format!(
            "-r -n -u 0.5 -t 0 --leases {} --metrics 127.0.0.1:{port}",
            leases.0
        ),
    );
    t.wait("redacted rows", |s| {
        s.contains("redacted") && !s.contains("192.0.2.2")
    });
    t.keys("r");
    t.wait("the LAN host after r", |s| s.contains("192.0.2.2"));
    // Pages of two more refreshes with the screen showing it.
    let get = || {
        crate::export::http(
            &bed,
            port,
            &format!("GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n\\r\\n"),
        )
    };
    let refreshes = |p: &str| -> u64 {
        p.lines()
            .find_map(|l| l.strip_prefix("nftop_refreshes_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let first = refreshes(&get());
    let end = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let p = get();
        if refreshes(&p) >= first + 2 || Instant::now() > end {
            break p;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(refreshes(&page) >= first + 2, "no new refresh:\n{page}");
    assert!(page.contains("host=\"redacted-"), "{page}");
    assert_hidden(
        "metrics after the key r",
        &page,
        &["192.0.2.2", "198.51.100.1", &mac, "phone9x"],
        &[],
    );
    t.keys("q");
    crate::terminal::exited_restored(&t, 0, "q");
}
