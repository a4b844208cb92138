//! Keys as a terminal delivers them: an escape sequence whose bytes come
//! in separate reads (a serial console at 115200 baud hands them over one
//! by one) is one key, not Esc and two letters.

use crate::common::{netns_ok, Bed};
use crate::terminal::{exit_line, run_nftop, with_traffic, Tmux};
use std::time::Duration;

/// The sort column named in the header.
fn sort(s: &str) -> String {
    let head = s.lines().next().unwrap_or("");
    head.split("sort ").nth(1).unwrap_or("").trim().to_string()
}

/// Sends `bytes` one at a time, `gap` apart.
fn trickle(t: &Tmux, bytes: &[u8], gap: Duration) {
    for b in bytes {
        t.cmd(&["send-keys", "-t", "t", "-H", &format!("{b:02x}")]);
        std::thread::sleep(gap);
    }
}

#[test]
fn a_key_cut_across_reads_is_one_key() {
    if !netns_ok("a_key_cut_across_reads_is_one_key") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("keyb", 110, 25);
    run_nftop(&t, &bed, "-t 0");
    t.wait("connections", |s| sort(s) == "sum");
    // Right (ESC [ C), 55 ms between bytes (each its own read; over
    // ESC_WAIT_MS in all, under it between two): the next sort column.
    // Read as Esc, '[' and 'C' it changed nothing.
    trickle(&t, b"\x1b[C", Duration::from_millis(55));
    let s = t.wait("the next sort column", |s| {
        !sort(s).is_empty() && sort(s) != "sum"
    });
    let next = sort(&s);
    // Left the same way: back.
    trickle(&t, b"\x1b[D", Duration::from_millis(55));
    t.wait("sum again", |s| sort(s) == "sum");
    // > moves as Right does: the same column (the header is not read
    // wrong above).
    t.keys(">");
    t.wait("the column Right chose", |s| sort(s) == next);
    t.keys("q");
    t.wait("exit", |s| s.lines().any(exit_line));
}
