//! Names nftop did not choose (issue 26 items 4 and 5): an interface
//! renamed on the bed to a name with non-ASCII bytes, or with the bytes of
//! a terminal command, reaches every output cleaned, and the screen draws
//! it without a crash.

use crate::common::{json, netns_ok, Bed};
use crate::terminal::{exited_restored, run_nftop_env, Tmux};
use std::process::Command;

/// Renames the router's `from` to `to` (the kernel renames only a link
/// that is down; the connected IPv4 route comes back with it).
fn rename(bed: &Bed, from: &str, to: &str) {
    let ns = bed.ns("rtr");
    for args in [
        &["link", "set", "dev", from, "down"][..],
        &["link", "set", "dev", from, "name", to],
        &["link", "set", "dev", to, "up"],
    ] {
        let s = Command::new("ip")
            .args(["-n", &ns])
            .args(args)
            .status()
            .expect("ip");
        assert!(s.success(), "ip {args:?} failed");
    }
}

/// Item 4: `abcdeé1` (7 characters, 8 bytes) in the 7-column IN cell was
/// cut at byte 6, inside 'é', and the screen aborted. Without a UTF-8
/// locale the 'é' is shown as '?' in its one cell, with one as itself.
#[test]
fn issue26_a_non_ascii_interface_name_on_the_screen() {
    if !netns_ok("issue26_a_non_ascii_interface_name_on_the_screen") {
        return;
    }
    let bed = Bed::up();
    rename(&bed, "lan0", "abcdeé1");
    let _ping = bed.ping_far();
    for (i, (env, shown)) in [("", "abcde?1"), ("LANG=C.UTF-8 ", "abcdeé1")]
        .into_iter()
        .enumerate()
    {
        let t = Tmux::new(&format!("name{i}"), 120, 30);
        run_nftop_env(&t, &bed, env, "-t 0");
        let ended = |s: &str| s.lines().any(crate::terminal::exit_line);
        let s = t.wait("the ping through the renamed interface", |s| {
            s.contains("203.0.113.200") && s.contains(shown) || ended(s)
        });
        assert!(!ended(&s), "{env}nftop ended:\n{s}");
        // IN and OUT keep their columns: the OUT cell starts where the
        // OUT title does, counted in characters.
        let col = |l: &str, what: &str| l.find(what).map(|b| l[..b].chars().count());
        let title = s
            .lines()
            .find(|l| l.contains("SOURCE / DESTINATION"))
            .unwrap();
        let row = s.lines().find(|l| l.contains(shown)).unwrap();
        assert_eq!(col(title, "OUT"), col(row, "wan0"), "{env}\n{s}");
        t.keys("d");
        let s = t.wait("the device table", |s| {
            s.contains("LINK TX") && s.lines().any(|l| l.starts_with(&format!("  {shown}")))
                || ended(s)
        });
        assert!(!ended(&s), "{env}nftop ended:\n{s}");
        t.keys("q");
        exited_restored(&t, 0, env);
    }
}

/// Item 5: the kernel takes ESC and BEL in an interface name; before,
/// `nftop -c -d` wrote them to the terminal (here: an OSC sequence that
/// sets the window title). Every output shows the name cleaned, as one
/// field.
#[test]
fn issue26_control_bytes_in_an_interface_name_reach_no_output() {
    if !netns_ok("issue26_control_bytes_in_an_interface_name_reach_no_output") {
        return;
    }
    let bed = Bed::up();
    rename(&bed, "lan0", "l\x1b]0;pwn\x07");
    let _ping = bed.ping_far();
    let clean = "l?]0;pwn?";
    let no_controls = |what: &str, out: &str| {
        assert!(
            !out.bytes().any(|b| b < 0x20 && b != b'\n' || b == 0x7f),
            "{what} wrote a control byte:\n{out:?}"
        );
        assert!(out.contains(clean), "{what}: no {clean}:\n{out}");
    };
    let count = ["-u", "0.5", "--count", "2", "-t", "0"];
    for mode in [&["-c", "-d"][..], &["-M", "-d"], &["-c"]] {
        let out = bed.nftop_output(&[mode, &count].concat());
        no_controls(&format!("{mode:?}"), &out);
    }
    // -M: the name is one field, the IN column (13th) of the ping's line.
    let out = bed.nftop_output(&[&["-M"][..], &count].concat());
    no_controls("-M", &out);
    let line = out
        .lines()
        .find(|l| l.contains(" icmp ") && l.contains("203.0.113.200"))
        .unwrap_or_else(|| panic!("no ping in -M:\n{out}"));
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!((f.len(), f[12]), (22, clean), "-M fields: {line}");
    // JSON: valid, with the name in "in" and in a "dev" object.
    let out = bed.nftop_output(&[&["--json"][..], &count].concat());
    no_controls("--json", &out);
    let objs: Vec<_> = out.lines().map(json).collect();
    assert!(
        objs.iter().any(|o| o.get("in").str() == clean),
        "no conn with in {clean}:\n{out}"
    );
    let out = bed.nftop_output(&[&["--json", "-d"][..], &count].concat());
    assert!(
        out.lines().map(json).any(|o| o.get("dev").str() == clean),
        "no dev {clean}:\n{out}"
    );
    // The metrics page: a label value.
    let port = 9466;
    let _m = bed.nftop(&[
        "--quiet",
        "--metrics",
        &format!("127.0.0.1:{port}"),
        "-u",
        "0.5",
    ]);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let a = crate::export::http(
            &bed,
            port,
            &format!("GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n\\r\\n"),
        );
        let page = crate::export::body(&a).to_string();
        if page.contains(clean) || std::time::Instant::now() > end {
            break page;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    no_controls("--metrics", &page);
    assert!(page.contains(&format!("=\"{clean}\"")), "{page}");
}
