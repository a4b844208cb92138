//! The per-device view (-H) on the bed: the LAN host's IPv4 and IPv6
//! addresses are one row by the MAC the kernel's neighbour table has for
//! them, named by its DHCP lease; the router's own connections are
//! `local`; the rows add up to the connection view's totals.

use crate::common::{json, netns_ok, Bed, J};
use crate::terminal::{exited_restored, run_nftop, Tmux};

/// cli0's MAC, as the LAN host's own interface reports it.
fn cli_mac(bed: &Bed) -> String {
    bed.sh("cli", "cat /sys/class/net/cli0/address")
        .trim()
        .to_string()
}

/// A leases file naming cli0's MAC "phone", under an address it does not
/// use now (the name must come by the MAC).
fn leases(bed: &Bed) -> String {
    let path = format!("/tmp/nftop-hosts-leases-{}", std::process::id());
    std::fs::write(
        &path,
        format!("1700000000 {} 192.0.2.99 phone *\n", cli_mac(bed)),
    )
    .unwrap();
    path
}

fn traffic(bed: &Bed) -> Vec<crate::common::Bg> {
    let v = vec![
        bed.spawn("cli", "ping -q -i 0.1 203.0.113.200"),
        bed.spawn("cli", "ping -6 -q -i 0.1 2001:db8:ff::200"),
        // The router's own traffic.
        bed.spawn("rtr", "ping -q -i 0.1 203.0.113.200"),
    ];
    bed.wait_for(
        "rtr",
        "conntrack -L -f ipv6 2>/dev/null | grep -q icmpv6 && ip neigh show 2001:db8:1::2 | grep -q lladdr",
        10,
    );
    v
}

#[test]
fn devices_merge_by_mac_are_named_by_lease_and_add_up() {
    if !netns_ok("devices_merge_by_mac_are_named_by_lease_and_add_up") {
        return;
    }
    let bed = Bed::up();
    let _t = traffic(&bed);
    let leases = leases(&bed);
    let mac = cli_mac(&bed);
    let out = bed.nftop_output(&[
        "--json", "-H", "--leases", &leases, "-u", "0.5", "--count", "4",
    ]);
    let _ = std::fs::remove_file(&leases);
    let mut hosts: Vec<J> = Vec::new();
    let mut ticks = 0;
    for line in out.lines() {
        let o = json(line);
        match o.get("type").str() {
            "host" => hosts.push(o),
            "tick" => {
                ticks += 1;
                // Every connection counts once, for its local side.
                for (h, all) in [("tx_bps", "all_tx_bps"), ("rx_bps", "all_rx_bps")] {
                    let sum: f64 = hosts.iter().map(|x| x.get(h).num()).sum();
                    let want = o.get(all).num();
                    assert!(
                        (sum - want).abs() <= 0.001 * hosts.len() as f64 + 1e-9 * want,
                        "{h}: hosts {sum} vs all {want}\n{out}"
                    );
                }
                let conns: f64 = hosts.iter().map(|x| x.get("conns").num()).sum();
                assert_eq!(conns, o.get("conns").num(), "{out}");
                if ticks == 4 {
                    let phone = hosts
                        .iter()
                        .find(|x| x.get("mac").str() == mac)
                        .unwrap_or_else(|| panic!("no row for {mac}:\n{out}"));
                    let addrs: Vec<&str> =
                        phone.get("addrs").arr().iter().map(|a| a.str()).collect();
                    assert!(
                        addrs.contains(&"192.0.2.2") && addrs.contains(&"2001:db8:1::2"),
                        "one row for both families: {addrs:?}"
                    );
                    assert_eq!(phone.get("name").str(), "phone", "{out}");
                    assert!(phone.get("conns").num() >= 2.0 && phone.get("tx_bps").num() > 0.0);
                    let local = hosts.iter().find(|x| x.get("host").str() == "local");
                    assert!(
                        local.is_some_and(|l| l.get("conns").num() >= 1.0),
                        "the router's own ping is local:\n{out}"
                    );
                    // No other row claims one of its addresses.
                    let others = hosts
                        .iter()
                        .filter(|x| x.get("addrs").arr().iter().any(|a| a.str() == "192.0.2.2"))
                        .count();
                    assert_eq!(others, 1, "{out}");
                }
                hosts.clear();
            }
            _ => panic!("-H prints host and tick objects only: {line}"),
        }
    }
    assert_eq!(ticks, 4, "{out}");
    // The same in the terminal: H shows the table, by name and MAC.
    let leases = self::leases(&bed);
    let t = Tmux::new("hosts", 110, 25);
    run_nftop(&t, &bed, &format!("--leases {leases}"));
    t.wait("connections", |s| s.contains("SOURCE / DESTINATION"));
    t.keys("H");
    let s = t.wait("the device table", |s| {
        s.contains("TOP REMOTE")
            && s.lines()
                .any(|l| l.starts_with("phone") && l.contains(&mac))
    });
    assert!(s.lines().any(|l| l.starts_with("local ")), "{s}");
    // Select the phone, Enter: its connections only. The keys go in one
    // write, as a fast typist's or a paste's do: Enter acts on the row the
    // moves before it in the same read reached.
    let at = s
        .lines()
        .skip_while(|l| !l.starts_with("HOST"))
        .position(|l| l.starts_with("phone"));
    let mut keys = vec!["send-keys", "-t", "t", "End", "Home"];
    keys.extend((1..at.unwrap_or(1)).map(|_| "Down"));
    keys.push("Enter");
    t.cmd(&keys);
    let s = t.wait("the phone's connections", |s| {
        s.lines().next().unwrap_or("").contains("device: phone")
            && s.contains("SOURCE / DESTINATION")
    });
    assert!(
        !s.contains("198.51.100.1 ") && s.contains("192.0.2.2"),
        "{s}"
    );
    t.cmd(&["send-keys", "-t", "t", "Escape"]);
    t.wait("the device table again", |s| s.contains("TOP REMOTE"));
    // k deletes every connection of the phone, and nothing else.
    let ids = |src: &str| -> Vec<String> {
        bed.sh(
            "rtr",
            &format!("conntrack -L -s {src} -o id 2>/dev/null || true"),
        )
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .last()?
                .strip_prefix("id=")
                .map(String::from)
        })
        .collect()
    };
    let (phone, router) = (ids("192.0.2.2"), ids("198.51.100.1"));
    assert!(!phone.is_empty() && !router.is_empty());
    t.keys("k");
    t.wait("the question", |s| {
        s.contains("connections of phone ? [y/N]")
    });
    t.keys("y");
    t.wait("the answer", |s| {
        s.contains("deleted ") && s.contains(" connections (")
    });
    let after = ids("192.0.2.2");
    assert!(
        phone.iter().all(|i| !after.contains(i)),
        "{phone:?} {after:?}"
    );
    let still = ids("198.51.100.1");
    assert!(
        router.iter().all(|i| still.contains(i)),
        "{router:?} {still:?}"
    );
    t.keys("H");
    t.wait("connections again", |s| s.contains("SOURCE / DESTINATION"));
    t.keys("q");
    exited_restored(&t, 0, "q after H");
    let _ = std::fs::remove_file(&leases);
    // -c -H names the device too.
    let leases = self::leases(&bed);
    let out = bed.nftop_output(&["-c", "-H", "--leases", &leases, "-u", "0.5", "--count", "2"]);
    let _ = std::fs::remove_file(&leases);
    assert!(
        out.lines()
            .any(|l| l.starts_with("phone") && l.contains(&mac)),
        "{out}"
    );
}

/// A device that joins after nftop started (a phone arriving on the
/// LAN): the neighbour event makes nftop read the table again, and the
/// device's row gets its MAC, without a restart.
#[test]
fn a_device_that_arrives_later_gets_its_mac_from_the_neighbour_event() {
    if !netns_ok("a_device_that_arrives_later_gets_its_mac_from_the_neighbour_event") {
        return;
    }
    let bed = Bed::up();
    let mut n = bed.nftop(&["--json", "-H", "-u", "0.3"]);
    // Two refreshes with nothing of it.
    let mut ticks = 0;
    while ticks < 2 {
        if json(&n.line().expect("nftop runs")).get("type").str() == "tick" {
            ticks += 1;
        }
    }
    // Now it arrives: a neighbour entry and a connection of its own.
    bed.sh(
        "rtr",
        "ip neigh replace 192.0.2.77 lladdr 02:00:00:00:00:77 dev lan0 nud reachable && \
         conntrack -I -p udp -s 192.0.2.77 -d 203.0.113.200 --sport 40077 --dport 53 -t 300 >/dev/null 2>&1",
    );
    let mut seen = None;
    for _ in 0..40 {
        let v = json(&n.line().expect("nftop runs"));
        if v.get("type").str() == "host"
            && v.get("addrs").arr().iter().any(|a| a.str() == "192.0.2.77")
        {
            seen = Some(v.get("mac").str().to_string());
            if seen.as_deref() == Some("02:00:00:00:00:77") {
                break;
            }
        }
    }
    assert_eq!(seen.as_deref(), Some("02:00:00:00:00:77"), "the row by MAC");
}
