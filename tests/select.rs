//! Selection, scrolling, the detail pane and kill, in tmux on the bed:
//! the kernel's own table (`conntrack -L`) is the reference.

use crate::common::{netns_ok, Bed};
use crate::terminal::{exited_restored, run_nftop, Tmux};

/// 500 idle UDP entries from 192.0.2.50 (no such host: only conntrack
/// knows them), destination ports 20001-20500; 20007 carries mark 42.
fn inject_500(bed: &Bed) {
    bed.sh(
        "rtr",
        "for p in $(seq 20001 20500); do m=0; [ $p = 20007 ] && m=42; \
         conntrack -I -p udp -s 192.0.2.50 -d 203.0.113.200 --sport 40000 --dport $p -t 900 -m $m 2>/dev/null; done; \
         conntrack -L -s 192.0.2.50 2>/dev/null | grep -c dport= | grep -qx 500",
    );
}

/// The highlighted (reverse video) lines of the pane, as text. tmux
/// carries an attribute across lines without repeating it.
fn highlighted(t: &Tmux) -> Vec<String> {
    let mut on = false;
    let mut out = Vec::new();
    for line in t.cmd(&["capture-pane", "-e", "-p", "-t", "t"]).lines() {
        let (mut text, mut lit) = (String::new(), false);
        let mut rest = line;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("\x1b[") {
                let end = r.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(r.len());
                if r[end..].starts_with('m') {
                    for p in r[..end].split(';') {
                        match p {
                            "7" => on = true,
                            "" | "0" | "27" => on = false,
                            _ => {}
                        }
                    }
                }
                rest = r.get(end + 1..).unwrap_or("");
            } else {
                let c = rest.chars().next().unwrap();
                lit |= on && c != ' ';
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if lit && !text.contains("SOURCE") {
            out.push(text);
        }
    }
    out
}

/// `rows A-B of N` in the header.
fn rows(s: &str) -> (usize, usize, usize) {
    let h = s.lines().next().unwrap_or("");
    let r = h.split("rows ").nth(1).unwrap_or("");
    let mut w = r
        .split(|c: char| !c.is_ascii_digit())
        .filter(|x| !x.is_empty());
    let mut n = || w.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (n(), n(), n())
}

/// One field `key=value` of a `conntrack -L -o extended,id` line (the
/// `nth` occurrence: 0 original direction, 1 reply).
fn field(line: &str, key: &str, nth: usize) -> String {
    line.split_whitespace()
        .filter_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .nth(nth)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_string()
}

#[test]
fn scrolling_and_a_selection_that_follows_its_connection() {
    if !netns_ok("scrolling_and_a_selection_that_follows_its_connection") {
        return;
    }
    let bed = Bed::up();
    inject_500(&bed);
    let t = Tmux::new("scroll", 100, 30);
    run_nftop(&t, &bed, "-t 0 -n -N -P -s dport -f 'host 192.0.2.50'");
    let s = t.wait("the first page", |s| rows(s).2 == 500);
    let page = rows(&s).1;
    assert!(rows(&s).0 == 1 && page >= 5, "{s}");
    // The busiest (here: highest port) first, and highlighted.
    assert!(highlighted(&t).iter().any(|l| l.contains(":20500")), "{s}");
    // End: the last row of the whole table, not of the first screen.
    t.cmd(&["send-keys", "-t", "t", "End"]);
    let s = t.wait("the last page", |s| rows(s) == (501 - page, 500, 500));
    assert!(s.contains(":20001"), "{s}");
    assert!(highlighted(&t).iter().any(|l| l.contains(":20001")), "{s}");
    // PgUp moves the selection a page up; Home goes back to the top.
    t.cmd(&["send-keys", "-t", "t", "PPage"]);
    t.wait("a page up", |s| rows(s) == (500 - page, 499, 500));
    t.cmd(&["send-keys", "-t", "t", "Home"]);
    t.wait("the top", |s| rows(s) == (1, page, 500));
    for _ in 0..3 {
        t.cmd(&["send-keys", "-t", "t", "Down"]);
    }
    t.wait("the fourth row", |_| {
        highlighted(&t).iter().any(|l| l.contains(":20497"))
    });
    // Reverse the order: 20497 is now near the end, and still selected.
    t.keys("!");
    let s = t.wait("the selection on its new page", |s| {
        rows(s).1 >= 497 && highlighted(&t).iter().any(|l| l.contains(":20497"))
    });
    let (a, b, _) = rows(&s);
    assert!(a <= 497 && 497 <= b, "{s}");
    t.keys("q");
    exited_restored(&t, 0, "q after scrolling");
}

#[test]
fn the_detail_pane_shows_what_conntrack_has() {
    if !netns_ok("the_detail_pane_shows_what_conntrack_has") {
        return;
    }
    let bed = Bed::up();
    let _ping = bed.spawn("cli", "ping -q -i 0.2 203.0.113.200");
    bed.wait_for(
        "rtr",
        "conntrack -L -p icmp 2>/dev/null | grep -q 203.0.113.200",
        10,
    );
    bed.sh(
        "rtr",
        "conntrack -U -p icmp -d 203.0.113.200 -m 42 >/dev/null 2>&1",
    );
    let ct = || {
        bed.sh(
            "rtr",
            "conntrack -L -p icmp -d 203.0.113.200 -o extended,id 2>/dev/null",
        )
    };
    let t = Tmux::new("detail", 120, 30);
    run_nftop(&t, &bed, "-4 -s sum -f 'proto icmp'");
    t.wait("the ping", |s| s.contains("203.0.113.200"));
    let before = ct();
    t.enter();
    let s = t.wait("the pane", |s| s.contains("packets") && s.contains("tx "));
    let after = ct();
    let pane = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line:\n{s}"))
            .to_string()
    };
    // The bed pings too: the entry is the one with the pane's id.
    let head = pane("id ");
    let id = head.split_whitespace().nth(1).unwrap().to_string();
    let entry = |all: &str| {
        all.lines()
            .find(|l| l.ends_with(&format!(" id={id}")))
            .unwrap_or_else(|| panic!("no entry {id} in\n{all}"))
            .to_string()
    };
    let (before, after) = (entry(&before), entry(&after));
    let head = pane("id ");
    assert!(
        head.starts_with(&format!("id {id}  zone 0  mark 0x2a  icmp")),
        "{head}\n{before}"
    );
    assert!(
        pane("status").contains("SEEN_REPLY") && pane("status").contains("SRC_NAT"),
        "{s}"
    );
    let (echo, pkts) = (field(&before, "id", 0), |l: &str, k| -> u64 {
        field(l, "packets", k).parse().unwrap()
    });
    let orig = pane("orig");
    assert!(
        orig.contains(&format!(
            "192.0.2.2 -> 203.0.113.200 id {echo} type 8 code 0"
        )),
        "{orig}\n{before}"
    );
    // The reply goes to the masqueraded address.
    let reply = pane("reply");
    let nat_dst = field(&before, "dst", 1);
    assert!(
        reply.contains(&format!(
            "203.0.113.200 -> {nat_dst} id {echo} type 0 code 0"
        )),
        "{reply}\n{before}"
    );
    // Packets and bytes as the kernel had them while the pane was asked.
    for (line, k) in [(&orig, 0), (&reply, 1)] {
        let shown: u64 = line
            .split_whitespace()
            .rev()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            pkts(&before, k) <= shown && shown <= pkts(&after, k),
            "{line}\n{before}\n{after}"
        );
    }
    assert!(
        pane("nat").contains(&format!("source seen as {nat_dst}")),
        "{s}"
    );
    assert!(pane("in lan0  out wan").starts_with("in lan0"), "{s}");
    // The rate history fills a refresh at a time.
    let s = t.wait("a graph", |s| {
        s.lines()
            .any(|l| l.starts_with("tx ") && l.contains('|') && l.contains('#'))
    });
    assert!(s.lines().any(|l| l.starts_with("rx ")), "{s}");
    t.cmd(&["send-keys", "-t", "t", "Escape"]);
    t.wait("the rows again", |s| s.contains("SOURCE / DESTINATION"));
    t.keys("q");
    exited_restored(&t, 0, "q after the pane");
}

#[test]
fn kill_asks_deletes_exactly_that_entry_and_read_only_refuses() {
    if !netns_ok("kill_asks_deletes_exactly_that_entry_and_read_only_refuses") {
        return;
    }
    let bed = Bed::up();
    inject_500(&bed);
    let has = |port: u32| {
        bed.sh(
            "rtr",
            &format!("conntrack -L -p udp -s 192.0.2.50 --dport {port} 2>/dev/null | grep -c dport= || true"),
        )
        .trim()
            == "1"
    };
    let t = Tmux::new("kill", 100, 30);
    // --read-only first: k only says why not.
    run_nftop(
        &t,
        &bed,
        "--read-only -t 0 -n -N -P -f 'host 192.0.2.50 dport 20007'",
    );
    t.wait("the entry", |s| {
        s.contains(":20007") && s.lines().next().unwrap().contains("read-only")
    });
    t.keys("k");
    t.wait("the refusal", |s| {
        s.contains("read-only (--read-only): k deletes nothing")
    });
    t.keys("q");
    exited_restored(&t, 0, "q read-only");
    assert!(has(20007));

    run_nftop(&t, &bed, "-t 0 -n -N -P -f 'host 192.0.2.50 dport 20007'");
    t.wait("the entry", |s| s.contains(":20007"));
    t.keys("k");
    t.wait("the question", |s| {
        s.contains("delete udp 192.0.2.50:40000 -> 203.0.113.200:20007 ? [y/N]")
    });
    t.keys("n");
    t.wait("kept", |s| s.contains("nothing deleted"));
    assert!(has(20007));
    t.keys("k");
    t.wait("the question again", |s| s.contains("? [y/N]"));
    t.keys("y");
    t.wait("the kernel's answer", |s| {
        s.contains("deleted udp 192.0.2.50:40000 -> 203.0.113.200:20007")
    });
    assert!(!has(20007), "the entry is gone");
    assert!(has(20006) && has(20008), "its neighbours are not");
    // The ended row lingers; deleting it again is an error message.
    t.keys("k");
    t.wait("the question again", |s| s.contains("? [y/N]"));
    t.keys("y");
    t.wait("ENOENT", |s| s.contains("no such entry (ENOENT)"));
    t.keys("q");
    exited_restored(&t, 0, "q after kill");
    let left = bed.sh(
        "rtr",
        "conntrack -L -s 192.0.2.50 2>/dev/null | grep -c dport=",
    );
    assert_eq!(left.trim(), "499");
}
