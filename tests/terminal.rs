//! The screen mode in a real terminal: tmux runs a shell, the shell runs
//! nftop in the bed's router namespace; send-keys types, capture-pane
//! reads. Waits poll the pane for expected text (no fixed sleeps decide a
//! result).

use crate::common::{bin, netns_ok, Bed};
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) struct Tmux {
    sock: String,
}

impl Tmux {
    pub(crate) fn new(tag: &str, cols: u16, rows: u16) -> Tmux {
        let sock = format!("nftop-{}-{}", tag, std::process::id());
        let t = Tmux { sock };
        t.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=xterm PS1='$ ' bash --norc --noprofile",
        ]);
        t.cmd(&["set-option", "-g", "status", "off"]);
        t
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub(crate) fn keys(&self, k: &str) {
        self.cmd(&["send-keys", "-t", "t", "-l", k]);
    }

    pub(crate) fn enter(&self) {
        self.cmd(&["send-keys", "-t", "t", "Enter"]);
    }

    pub(crate) fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    /// Polls the pane until `pred` holds (10 s at most).
    pub(crate) fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn resize(&self, cols: u16, rows: u16) {
        self.cmd(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.sock)
            .arg("kill-server")
            .output();
    }
}

pub(crate) fn with_traffic(bed: &Bed) -> Vec<crate::common::Bg> {
    let v = vec![
        bed.spawn("cli", "ping -q -i 0.2 203.0.113.200"),
        bed.spawn("cli", "ping -6 -q -i 0.2 2001:db8:ff::200"),
    ];
    bed.wait_for(
        "rtr",
        "conntrack -L -f ipv6 2>/dev/null | grep -q icmpv6",
        10,
    );
    v
}

pub(crate) fn run_nftop(t: &Tmux, bed: &Bed, args: &str) {
    run_nftop_env(t, bed, "", args);
}

/// `env` is a prefix of VAR=value words for the shell.
pub(crate) fn run_nftop_env(t: &Tmux, bed: &Bed, env: &str, args: &str) {
    run_in_router(t, bed, &format!("{env}ip netns exec {{}} {}", bin()), args);
}

/// Runs `cmd` (its `{}` is the router's namespace) with `args` in `t`,
/// then prints its exit code.
fn run_in_router(t: &Tmux, bed: &Bed, cmd: &str, args: &str) {
    t.keys(&format!(
        "{} {args}; echo EXITED:$?",
        cmd.replace("{}", &bed.ns("rtr"))
    ));
    t.enter();
}

/// Builds the test tool `examples/{name}.rs` and returns its path.
fn example(name: &str) -> String {
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked", "--example", name])
        .current_dir(crate::common::root())
        .status()
        .unwrap()
        .success();
    assert!(ok, "cargo build --example {name}");
    // The test binary is target/<profile>/deps/tests-*.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(name).display().to_string()
}

/// Waits for nftop to exit with `code`, then checks that it left the
/// alternate screen and the tty in cooked mode. Returns the screen.
pub(crate) fn exited_restored(t: &Tmux, code: i32, what: &str) -> String {
    let s = t.wait("exit", |s| s.lines().any(exit_line));
    assert!(s.contains(&format!("EXITED:{code}")), "{what}:\n{s}");
    assert!(
        !s.contains("SOURCE / DESTINATION"),
        "{what} left the alternate screen:\n{s}"
    );
    stty_is_sane(t);
    s
}

fn stty_is_sane(t: &Tmux) {
    t.keys("clear; echo STTY: $(stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo -e -icanon -e -echo)");
    t.enter();
    let s = t.wait("stty output", |s| s.lines().any(|l| l.starts_with("STTY:")));
    let line = s.lines().find(|l| l.starts_with("STTY:")).unwrap();
    assert_eq!(
        line.trim(),
        "STTY: icanon echo",
        "terminal not restored:\n{s}"
    );
}

#[test]
fn screen_renders_keys_work_and_q_restores_the_terminal() {
    if !netns_ok("screen_renders_keys_work_and_q_restores_the_terminal") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("keys", 120, 30);
    run_nftop(&t, &bed, "-t 0");
    let s = t.wait("first screen", |s| {
        s.contains("SOURCE / DESTINATION") && s.contains("203.0.113.200")
    });
    assert!(s.starts_with("nftop "), "{s}");
    // Interfaces are attributed on screen too.
    assert!(
        s.lines().any(|l| l.contains("lan0") && l.contains("wan0")),
        "{s}"
    );
    assert!(s.contains("2001:db8:ff::200"), "{s}");
    // w: one line per connection with a DESTINATION column.
    t.keys("w");
    t.wait("wide layout", |s| {
        s.contains(" DESTINATION ") && !s.contains("SOURCE / DESTINATION")
    });
    // I, V: id and state columns; > and !: sort column and direction.
    t.keys("IV");
    // (At 110 columns the wide row with both no longer fits: IN and OUT
    // are the columns that give way, not the addresses.)
    t.wait("id and state columns", |s| {
        s.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.contains(&"ID") && w.contains(&"STATE") && !w.contains(&"IN")
        })
    });
    t.keys(">");
    t.wait("sort by age", |s| {
        s.lines().next().unwrap_or("").contains("sort age")
    });
    t.keys("!");
    t.wait("ascending", |s| {
        s.lines().next().unwrap_or("").contains("sort +age")
    });
    // b: bytes; S: IEC units; B: raw numbers; a: age column cycles.
    t.keys("b");
    t.wait("bytes", |s| s.contains("TX B/s"));
    t.keys("S");
    t.wait("IEC units", |s| s.contains("iBps"));
    t.keys("S");
    t.keys("B");
    t.wait("raw numbers", |s| {
        let l = s.lines().nth(1).unwrap_or("");
        l.starts_with("shown tx") && !l.contains("Bps")
    });
    t.keys("B");
    t.keys("a");
    t.wait("age in seconds", |s| s.contains(" AGE "));
    t.keys("a");
    t.wait("age as DD HH:MM:SS", |s| s.contains("00:00:"));
    t.keys("a");
    t.wait("no age", |s| !s.contains(" AGE "));
    // p: pause; R: redact remote addresses.
    t.keys("p");
    t.wait("paused", |s| {
        s.lines().next().unwrap_or("").contains("PAUSED")
    });
    t.keys("p");
    t.wait("running", |s| {
        !s.lines().next().unwrap_or("").contains("PAUSED")
    });
    t.keys("R");
    t.wait("remote redacted", |s| {
        s.contains("redacted") && !s.contains("203.0.113.200")
    });
    t.keys("R");
    t.wait("remote shown again", |s| s.contains("203.0.113.200"));
    // 6 / 4 / 0: family filters.
    t.keys("6");
    t.wait("IPv6 only", |s| {
        s.contains("icmpv6") && !s.contains("203.0.113.200")
    });
    t.keys("4");
    t.wait("IPv4 only", |s| {
        !s.contains("icmpv6") && s.contains("203.0.113.200")
    });
    t.keys("0");
    t.wait("both", |s| {
        s.contains("icmpv6") && s.contains("203.0.113.200")
    });
    // r: redact local addresses (the LAN host 192.0.2.2).
    t.keys("r");
    t.wait("redacted", |s| {
        s.contains("redacted") && !s.contains("192.0.2.2")
    });
    t.keys("r");
    // h: help and back.
    t.keys("h");
    t.wait("help", |s| {
        s.contains("press h to return") && s.contains("Ctrl-Z  suspend")
    });
    t.keys("h");
    t.wait("rows again", |s| s.contains("203.0.113.200"));
    // u: a new interval through the prompt; a bad value gives a message.
    t.keys("u");
    t.wait("prompt", |s| s.contains("refresh interval in seconds:"));
    t.keys("0.5");
    t.enter();
    t.wait("new interval", |s| {
        s.lines().next().unwrap_or("").contains("every 0.5s")
    });
    t.keys("t");
    t.keys("fast");
    t.enter();
    t.wait("error message", |s| s.contains("invalid value 'fast'"));
    // Resize: the header must still be one line (nothing wraps).
    // (tmux crops the old screen at once: the redraw is told by the
    // narrow layout's shortened column titles, and at 5 rows by no row
    // shown.)
    t.resize(40, 12);
    let s = t.wait("narrow redraw", |s| {
        s.lines().nth(1).unwrap_or("").starts_with("shown tx")
            && s.lines()
                .any(|l| l.starts_with("  PROTO") && l.contains('~'))
    });
    assert!(s.lines().next().unwrap().starts_with("nftop"), "{s}");
    t.resize(20, 5);
    t.wait("tiny redraw", |s| {
        s.lines().next().unwrap_or("").starts_with("nftop")
            && s.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("shown tx 0bps") || l.starts_with("shown tx 0Bps"))
    });
    t.resize(200, 60);
    t.wait("large redraw", |s| {
        s.lines().count() > 10 && s.contains("203.0.113.200")
    });
    // q: exit 0 and the shell is back in its normal screen.
    t.keys("q");
    exited_restored(&t, 0, "q");
}

#[test]
fn signals_restore_the_terminal() {
    if !netns_ok("signals_restore_the_terminal") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    // TERM, HUP, INT end the loop cleanly; SEGV and ABRT (what a panic
    // with panic = "abort" becomes) restore from the handler and re-raise.
    for (sig, code) in [
        ("TERM", 143),
        ("HUP", 129),
        ("INT", 130),
        ("SEGV", 139),
        ("ABRT", 134),
    ] {
        let t = Tmux::new(&format!("sig{sig}"), 100, 25);
        // A unique argument, so pkill cannot hit another test's nftop.
        let marker = format!("/nonexistent/{}", t.sock);
        run_nftop(&t, &bed, &format!("-t 0 --leases {marker}"));
        t.wait("first screen", |s| s.contains("203.0.113.200"));
        let k = Command::new("pkill")
            .args([&format!("-{sig}"), "-f", &marker])
            .status()
            .unwrap();
        assert!(k.success());
        exited_restored(&t, code, &format!("SIG{sig}"));
    }
}

/// A panic inside the real loop (a test tool's conntrack source panics at
/// its third dump) leaves a usable terminal, shows its message on the
/// normal screen, and puts back a sysctl that --enable-acct changed.
#[test]
fn a_panic_restores_the_terminal_and_the_sysctls() {
    if !netns_ok("a_panic_restores_the_terminal_and_the_sysctls") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let acct = "sysctl -n net.netfilter.nf_conntrack_acct";
    bed.sh("rtr", "sysctl -qw net.netfilter.nf_conntrack_acct=0");
    let tool = example("panic_source");
    let t = Tmux::new("panic", 100, 25);
    let cmd = format!("ip netns exec {{}} {tool}");
    run_in_router(&t, &bed, &cmd, "3 -t 0 -u 0.3 --enable-acct");
    // A panic aborts (134).
    let s = exited_restored(&t, 134, "a panic");
    assert!(
        s.contains("a panic on request"),
        "the message is on the normal screen:\n{s}"
    );
    assert_eq!(bed.sh("rtr", acct).trim(), "0", "--enable-acct was undone");
}

#[test]
fn zero_size_tty_asks_the_terminal_and_draws() {
    if !netns_ok("zero_size_tty_asks_the_terminal_and_draws") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("zero", 100, 30);
    // A serial console reports 0x0 and sends no SIGWINCH: nftop asks the
    // terminal itself (a cursor position report; tmux answers like any
    // VT100) instead of guessing, and says so in the help.
    t.keys("stty rows 0 cols 0");
    t.enter();
    run_nftop(&t, &bed, "-t 0 -w");
    let s = t.wait("first screen", |s| s.contains("203.0.113.200:8/0"));
    assert!(s.lines().all(|l| l.len() <= 100), "{s}");
    assert!(
        s.lines().any(|l| l.len() > 80),
        "the terminal's 100 columns are used:\n{s}"
    );
    // -w: one line per connection, a DESTINATION column.
    assert!(
        s.contains(" DESTINATION ") && !s.contains("SOURCE / DESTINATION"),
        "{s}"
    );
    assert!(s.lines().next().unwrap().starts_with("nftop"), "{s}");
    t.keys("h");
    t.wait("the size in the help", |s| {
        s.contains("terminal 100x30 (the tty says 0x0: asked the terminal)")
    });
    t.keys("h");
    // The terminal grows (tmux tells the tty; zero it again, as a serial
    // line would stay): the old answer stands until Ctrl-L asks again.
    t.resize(120, 30);
    let tty = t.cmd(&["display-message", "-p", "-t", "t", "#{pane_tty}"]);
    // tmux may size the pane's tty after the command returns: zeroed
    // before that, the tty would say 120x30 after all.
    let size = || {
        let o = Command::new("stty")
            .args(["-F", tty.trim(), "size"])
            .output();
        String::from_utf8_lossy(&o.unwrap().stdout)
            .trim()
            .to_string()
    };
    let end = Instant::now() + Duration::from_secs(10);
    while size() != "30 120" {
        assert!(Instant::now() < end, "the pane's tty says {}", size());
        std::thread::sleep(Duration::from_millis(50));
    }
    let z = Command::new("stty")
        .args(["-F", tty.trim(), "rows", "0", "cols", "0"])
        .status()
        .unwrap();
    assert!(z.success());
    t.keys("h");
    t.wait("the old size", |s| {
        s.contains("terminal 100x30 (the tty says 0x0")
    });
    t.keys("h");
    t.cmd(&["send-keys", "-t", "t", "C-l"]);
    t.keys("h");
    t.wait("the new size", |s| {
        s.contains("terminal 120x30 (the tty says 0x0")
    });
    t.keys("h");
    t.keys("q");
    t.wait("exit", |s| s.lines().any(|l| l == "EXITED:0"));
}

#[test]
fn device_view_in_the_terminal() {
    if !netns_ok("device_view_in_the_terminal") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("dev", 110, 25);
    run_nftop(&t, &bed, "-t 0");
    t.wait("connections", |s| s.contains("SOURCE / DESTINATION"));
    t.keys("d");
    let s = t.wait("device table", |s| {
        s.contains("DEVICE") && s.contains("LINK TX") && s.contains("lan0") && s.contains("wan0")
    });
    // Uplinks are marked; the router itself has a row.
    assert!(s.lines().any(|l| l.starts_with("^ wan0")), "{s}");
    assert!(
        s.lines().any(|l| l.trim_start().starts_with("local")),
        "{s}"
    );
    // The ping's bytes are on lan0 and wan0 alike, with link rates beside.
    let lan = s.lines().find(|l| l.contains("lan0")).unwrap();
    assert!(lan.contains("bps"), "{lan}");
    t.keys("d");
    t.wait("connections again", |s| s.contains("SOURCE / DESTINATION"));
    t.keys("q");
    t.wait("exit", |s| s.lines().any(|l| l == "EXITED:0"));
}

#[test]
fn colour_only_on_a_tty_and_never_with_no_color() {
    if !netns_ok("colour_only_on_a_tty_and_never_with_no_color") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    for (env, want_colour) in [("", true), ("NO_COLOR=1 ", false)] {
        let t = Tmux::new(if want_colour { "col" } else { "nocol" }, 100, 25);
        run_nftop_env(&t, &bed, env, "-t 0");
        t.wait("first screen", |s| s.contains("203.0.113.200"));
        // -e keeps the escape sequences of colours and attributes.
        let raw = t.cmd(&["capture-pane", "-e", "-p", "-t", "t"]);
        let titles = raw.lines().find(|l| l.contains("SOURCE")).unwrap_or("");
        let has_sgr =
            titles.contains("\x1b[7m") || raw.contains("\x1b[1m") || raw.contains("\x1b[33m");
        assert_eq!(has_sgr, want_colour, "{env:?}: {raw:?}");
        // Reverse video is no colour: the selected row has it either way
        // (k acts on it: it must be seen).
        assert!(raw.contains("\x1b[7m"), "{env:?}: {raw:?}");
        t.keys("q");
        t.wait("exit", |s| s.lines().any(|l| l == "EXITED:0"));
    }
}

#[test]
fn name_and_loopback_keys() {
    if !netns_ok("name_and_loopback_keys") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let _lo = bed.spawn(
        "rtr",
        "socat -u TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr,fork OPEN:/dev/null",
    );
    bed.wait_for("rtr", "ss -ltn | grep -q ':9000 '", 10);
    let _lc = bed.spawn("rtr", "sh -c 'while :; do head -c 3000 /dev/zero; sleep 0.1; done | socat -u - TCP:127.0.0.1:9000'");
    let hosts = std::env::temp_dir().join(format!("nftop-keys-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "203.0.113.200 server.example\n192.0.2.2 laptop\n").unwrap();
    let t = Tmux::new("names", 120, 30);
    run_nftop(
        &t,
        &bed,
        &format!("-t 0 -w --hosts {} --no-dns", hosts.display()),
    );
    t.wait("names", |s| {
        s.contains("server.example") && s.contains("laptop") && !s.contains("127.0.0.1")
    });
    // N: remote addresses numeric; n: local ones too.
    t.keys("N");
    t.wait("remote numeric", |s| {
        s.contains("203.0.113.200") && !s.contains("server.example") && s.contains("laptop")
    });
    t.keys("n");
    t.wait("local numeric", |s| {
        s.contains("192.0.2.2") && !s.contains("laptop")
    });
    // l: loopback connections (hidden by default) appear.
    t.keys("l");
    t.wait("loopback shown", |s| s.contains("127.0.0.1"));
    t.keys("l");
    t.wait("loopback hidden", |s| !s.contains("127.0.0.1"));
    t.keys("q");
    t.wait("exit", |s| s.lines().any(|l| l == "EXITED:0"));
    let _ = std::fs::remove_file(&hosts);
}

/// With two or more uplinks the header has one line of what each carries
/// (by its own counters): arrows on a UTF-8 locale, ASCII otherwise.
#[test]
fn uplinks_line_in_the_header() {
    if !netns_ok("uplinks_line_in_the_header") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("uplinks", 120, 25);
    run_nftop(&t, &bed, "-t 0 -u 0.5");
    let uplinks = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("wan0 ") && l.contains("  wan1 "))
            .map(str::to_string)
    };
    let s = t.wait("uplinks line", |s| {
        uplinks(s).is_some_and(|l| l.contains("wan0 ^") && !l.contains('-'))
    });
    let l = uplinks(&s).unwrap();
    // wan0 carries the pings (kbit/s both ways), wan1 only neighbour
    // discovery.
    let f: Vec<&str> = l.split_whitespace().collect();
    assert_eq!((f.len(), f[0], f[3]), (6, "wan0", "wan1"), "{l}");
    for (up, down) in [(f[1], f[2]), (f[4], f[5])] {
        assert!(up.starts_with('^') && down.starts_with('v'), "{l}");
    }
    assert!(f[2].ends_with('K'), "the ping replies come in on wan0: {l}");
    t.keys("q");
    t.wait("exit", |s| s.lines().any(|l| l == "EXITED:0"));
    run_nftop_env(&t, &bed, "LANG=C.UTF-8 ", "-t 0 -u 0.5");
    let s = t.wait("arrows", |s| {
        s.lines()
            .any(|l| l.starts_with("wan0 \u{2191}") && l.contains("  wan1 \u{2191}"))
    });
    assert!(s.contains('\u{2193}'), "{s}");
    t.keys("q");
    t.wait("exit", |s| s.lines().any(|l| l == "EXITED:0"));
}

/// Ctrl-Z gives the shell a sane terminal (cooked mode, cursor shown, the
/// normal screen); `fg` takes it back and paints the whole screen again.
#[test]
fn ctrl_z_and_fg_with_a_real_shell() {
    if !netns_ok("ctrl_z_and_fg_with_a_real_shell") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("jobs", 110, 25);
    // nftop alone on the command line: bash goes on with the rest of a
    // list when its current command stops.
    t.keys(&format!("ip netns exec {} {} -t 0", bed.ns("rtr"), bin()));
    t.enter();
    t.wait("connections", |s| s.contains("SOURCE / DESTINATION"));
    t.cmd(&["send-keys", "-t", "t", "C-z"]);
    let s = t.wait("the shell after Ctrl-Z", |s| s.contains("Stopped"));
    assert!(
        !s.contains("SOURCE / DESTINATION"),
        "left the alternate screen:\n{s}"
    );
    stty_is_sane(&t);
    // Something the shell writes, which the repaint must cover.
    t.keys("echo SHELL-WAS-HERE");
    t.enter();
    t.wait("shell output", |s| s.contains("SHELL-WAS-HERE"));
    t.keys("fg");
    t.enter();
    let s = t.wait("nftop again, painted whole", |s| {
        s.contains("SOURCE / DESTINATION") && !s.contains("SHELL-WAS-HERE")
    });
    assert!(s.starts_with("nftop"), "{s}");
    t.keys("q");
    t.wait("the prompt", |s| !s.contains("SOURCE / DESTINATION"));
    t.keys("echo EXITED:$?");
    t.enter();
    exited_restored(&t, 0, "q after fg");
}

/// Ctrl-L paints every line again, also lines nftop believes unchanged.
#[test]
fn ctrl_l_repaints_the_whole_screen() {
    if !netns_ok("ctrl_l_repaints_the_whole_screen") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("ctrll", 110, 25);
    run_nftop(&t, &bed, "-t 0 -u 60");
    t.wait("connections", |s| s.contains("SOURCE / DESTINATION"));
    // Past the quick second sample: nothing redraws for a minute now
    // (this wait only avoids a pass that Ctrl-L did not earn).
    std::thread::sleep(Duration::from_millis(1500));
    // Scribble on the terminal behind nftop's back (a kernel message on a
    // serial console does the same).
    let tty = t.cmd(&["display-message", "-p", "-t", "t", "#{pane_tty}"]);
    std::fs::write(tty.trim(), b"\x1b[5;1HSCRIBBLE").unwrap();
    t.wait("the scribble", |s| s.contains("SCRIBBLE"));
    t.cmd(&["send-keys", "-t", "t", "C-l"]);
    t.wait("a clean screen", |s| {
        !s.contains("SCRIBBLE") && s.contains("SOURCE / DESTINATION")
    });
    t.keys("q");
    exited_restored(&t, 0, "q after Ctrl-L");
}

/// `/` sets a filter on the screen; a bad one is a message and the filter
/// in force stays; an empty one clears it.
#[test]
fn the_filter_prompt() {
    if !netns_ok("the_filter_prompt") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    let t = Tmux::new("filter", 110, 25);
    run_nftop(&t, &bed, "-t 0");
    t.wait("connections", |s| {
        s.contains("2001:db8:ff::200") && s.contains("203.0.113.200")
    });
    t.keys("/proto icmp");
    t.enter();
    let s = t.wait("the filter", |s| {
        s.lines()
            .next()
            .unwrap_or("")
            .contains("filter: proto icmp")
            && !s.contains("2001:db8:ff::200")
    });
    assert!(s.contains("203.0.113.200"), "{s}");
    // A bad expression: one line naming it; the filter stays.
    t.keys("/");
    t.cmd(&["send-keys", "-t", "t", "C-u"]);
    for _ in 0..10 {
        t.cmd(&["send-keys", "-t", "t", "BSpace"]);
    }
    t.keys("port x");
    t.enter();
    let s = t.wait("the message", |s| {
        s.contains("invalid filter term 'port x'")
    });
    assert!(
        s.lines().next().unwrap().contains("filter: proto icmp"),
        "{s}"
    );
    // Empty clears.
    t.keys("/");
    for _ in 0..12 {
        t.cmd(&["send-keys", "-t", "t", "BSpace"]);
    }
    t.enter();
    t.wait("no filter", |s| {
        !s.lines().next().unwrap_or("").contains("filter:") && s.contains("2001:db8:ff::200")
    });
    t.keys("q");
    exited_restored(&t, 0, "q after filtering");
}

/// TERM unset or vt100: the screen (every escape nftop sends is a VT100
/// one); TERM=dumb: plain lines and one line saying why. (A stdout closed
/// at start cannot be seen: Rust's runtime reopens descriptors 0-2 on
/// /dev/null before main, so nftop writes there as with > /dev/null.)
#[test]
fn term_unset_dumb_and_vt100() {
    if !netns_ok("term_unset_dumb_and_vt100") {
        return;
    }
    let bed = Bed::up();
    let _tr = with_traffic(&bed);
    for (i, env) in ["env -u TERM ", "TERM=vt100 "].into_iter().enumerate() {
        let t = Tmux::new(&format!("term{i}"), 100, 25);
        run_nftop_env(&t, &bed, env, "-t 0");
        t.wait(env, |s| {
            s.contains("SOURCE / DESTINATION") && s.contains("203.0.113.200")
        });
        t.keys("q");
        exited_restored(&t, 0, env);
    }
    let t = Tmux::new("dumb", 100, 25);
    run_nftop_env(&t, &bed, "TERM=dumb ", "-t 0 -u 0.3 --count 3");
    t.wait("exit", |s| s.lines().any(exit_line));
    // With the lines scrolled off the pane: its history too.
    let s = t.cmd(&["capture-pane", "-p", "-S", "-500", "-t", "t"]);
    assert!(s.contains("EXITED:0"), "{s}");
    assert!(
        s.contains("nftop: TERM=dumb has no cursor addressing: plain lines (-c)"),
        "{s}"
    );
    assert!(
        s.lines()
            .any(|l| l.contains("icmp") && l.contains("203.0.113.200")),
        "plain lines: {s}"
    );
}

/// The shell's line after nftop ended, `EXITED:` and the status; not the
/// command line's `echo EXITED:$?`, which the pane may wrap so that a
/// line starts with it (a longer checkout path, a longer pid).
pub(crate) fn exit_line(l: &str) -> bool {
    l.strip_prefix("EXITED:")
        .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

/// A value of the metrics page: the first sample whose name and labels
/// start with `series`.
pub(crate) fn metric(page: &str, series: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the page:\n{page}"))
}

/// A terminal that stops reading (a stalled ssh session, a serial line):
/// frames that cannot be written are skipped, never queued, and the
/// refresh keeps its schedule and its rates; when the terminal reads
/// again the frame in flight completes and drawing resumes. The terminal
/// is a pty nobody reads, resized every 50 ms so that each frame is a
/// full repaint of 250x100 cells: the pty's buffer is full within a
/// frame or two. With blocking writes (the old behaviour) the refreshes
/// stop there, and with them the metrics this test reads.
#[test]
fn a_stalled_terminal_skips_frames_and_never_the_refresh() {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    if !netns_ok("a_stalled_terminal_skips_frames_and_never_the_refresh") {
        return;
    }
    const PORT: u16 = 9465;
    let bed = Bed::up();
    crate::events::count_wan0_egress(&bed);
    let _srv = bed.spawn("inet", "iperf3 -s -p 5201 -B 203.0.113.200");
    bed.wait_for("inet", "ss -ltn | grep -q ':5201 '", 10);
    let _flow = bed.spawn("cli", "iperf3 -c 203.0.113.200 -p 5201 -b 4M -l 2K -t 60");
    let (mut master, mut slave) = (0, 0);
    let mut ws = libc::winsize {
        ws_row: 100,
        ws_col: 250,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid out pointers and winsize.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(r, 0, "openpty");
    let tty = || {
        // SAFETY: dup of an open descriptor, owned by the new File.
        std::process::Stdio::from(unsafe { std::fs::File::from_raw_fd(libc::dup(slave)) })
    };
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &bed.ns("rtr"), bin()])
        // No CPU budget: its subject is the terminal. (The kernel's table
        // is shared by every namespace: when tests/scale.rs could fill it
        // beside this test, each dump walked those entries too and the
        // budget stretched the interval, 18 refreshes in 8 s on CI where
        // 40 are due; common::big_table now keeps them apart.)
        .args([
            "-u",
            "0.2",
            "--cpu",
            "0",
            "--metrics",
            &format!("127.0.0.1:{PORT}"),
        ])
        .env("TERM", "xterm")
        .stdin(tty())
        .stdout(tty())
        .stderr(tty());
    // SAFETY: setsid and TIOCSCTTY are async-signal-safe: the pty becomes
    // nftop's controlling terminal, so a resize sends it SIGWINCH.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = crate::common::Bg(cmd.spawn().expect("spawn nftop"));
    // SAFETY: our copy of the slave is no longer needed.
    unsafe { libc::close(slave) };
    // SAFETY: master is ours; the File closes it.
    let mut m = unsafe { std::fs::File::from_raw_fd(master) };
    let set_nonblock = |on: bool| {
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(master, libc::F_GETFL);
            let fl = if on {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            };
            libc::fcntl(master, libc::F_SETFL, fl);
        }
    };
    set_nonblock(true);
    // Reads the terminal for `secs`, returning what it got.
    let mut read_for = |secs: f64| {
        use std::io::Read;
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        while Instant::now() < end {
            match m.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let first = read_for(3.0);
    assert!(first.contains("SOURCE / DESTINATION"), "no screen: {first}");
    bed.wait_for("rtr", &format!("ss -ltn | grep -q ':{PORT} '"), 10);
    let page = || crate::export::metrics_page(&bed, PORT);
    let wan_tx = "nftop_interface_bytes_total{dev=\"wan0\",direction=\"tx\"}";
    let p0 = page();
    let c0 = crate::events::wan0_l3_tx(&bed);
    // The stall: 8 s unread, resized every 50 ms.
    let stall = Instant::now();
    let mut k = 0u16;
    while stall.elapsed() < Duration::from_secs(8) {
        k += 1;
        ws.ws_col = 250 + k % 2;
        // SAFETY: TIOCSWINSZ with a valid winsize.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
        std::thread::sleep(Duration::from_millis(50));
    }
    let p1 = page();
    let c1 = crate::events::wan0_l3_tx(&bed);
    let refreshes = metric(&p1, "nftop_refreshes_total") - metric(&p0, "nftop_refreshes_total");
    let skipped =
        metric(&p1, "nftop_frames_skipped_total") - metric(&p0, "nftop_frames_skipped_total");
    // 40 deadlines in 8 s at -u 0.2.
    assert!(
        refreshes >= 34.0,
        "{refreshes} refreshes while the terminal stalled"
    );
    assert!(skipped >= 10.0, "{skipped} frames skipped: was it stalled?");
    let ours = metric(&p1, wan_tx) - metric(&p0, wan_tx);
    let link = (c1 - c0) as f64;
    assert!(link > 3_000_000.0, "the upload ran: {link}");
    assert!(
        (ours - link).abs() <= 0.05 * link,
        "wan0 tx during the stall: nftop {ours} vs nft {link}"
    );
    // Reading again: the frame in flight completes and frames flow
    // (nothing skipped once the terminal keeps up).
    let after = read_for(2.0);
    assert!(
        after.len() > 10_000,
        "{} bytes after the stall",
        after.len()
    );
    let p2 = page();
    let more = read_for(2.0);
    let p3 = page();
    assert!(more.contains("\x1b["), "frames after the stall");
    assert_eq!(
        metric(&p2, "nftop_frames_skipped_total"),
        metric(&p3, "nftop_frames_skipped_total"),
        "frames skipped with a terminal that reads"
    );
    // Paused, a key's frame skipped behind the stalled terminal is drawn
    // once it reads again, not at a refresh that never comes: > sorts by
    // age (after sum), and the header says so.
    let key = |k: &[u8]| {
        // SAFETY: one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(master, k.as_ptr().cast(), 1) }, 1);
    };
    key(b"p");
    let paused = read_for(1.0);
    assert!(paused.contains("PAUSED"), "paused: {paused}");
    let stall = Instant::now();
    while stall.elapsed() < Duration::from_millis(1500) {
        k += 1;
        ws.ws_col = 250 + k % 2;
        // SAFETY: TIOCSWINSZ with a valid winsize.
        unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
        std::thread::sleep(Duration::from_millis(50));
    }
    // (The metrics page stands still while paused: the stall is shown by
    // what waits unread, more than a pty holds for one write.)
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    assert_eq!(
        unsafe { libc::ioctl(master, libc::FIONREAD, &mut unread) },
        0
    );
    assert!(unread >= 2048, "{unread} bytes unread: was it stalled?");
    key(b">");
    std::thread::sleep(Duration::from_millis(300));
    let owed = read_for(2.0);
    assert!(owed.contains("sort age"), "the owed frame never came");
    // q quits cleanly from there.
    key(b"q");
    let end = Instant::now() + Duration::from_secs(5);
    let status = loop {
        read_for(0.1);
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "nftop did not quit on q");
    };
    assert!(status.success(), "{status:?}");
}
