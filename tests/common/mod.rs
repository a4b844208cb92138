//! Helpers shared by the integration tests: the namespace bed, running
//! the real binary, a tiny JSON reader, fixtures.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nftop")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when namespace tests can run. Without root they are skipped with
/// a message, unless NFTOP_REQUIRE_NETNS=1 (CI), where that is a failure.
pub fn netns_ok(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    let tools = ["ip", "nft", "tc", "iperf3", "socat"].iter().all(|t| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let required = std::env::var("NFTOP_REQUIRE_NETNS").is_ok_and(|v| v == "1");
    if is_root && tools {
        return true;
    }
    let why = if is_root {
        "missing tools (ip nft tc iperf3 socat): run `make deps`"
    } else {
        "not root"
    };
    if required {
        panic!("{test}: namespace test cannot run: {why} (NFTOP_REQUIRE_NETNS=1)");
    }
    eprintln!("SKIP {test}: namespace test needs root and tools: {why}");
    false
}

static BEDS: AtomicUsize = AtomicUsize::new(0);

/// One empty namespace, named `prefix` and this process's pid, deleted
/// on drop, also when the test panics.
pub struct Netns(pub String);

impl Netns {
    pub fn add(prefix: &str) -> Netns {
        let ns = Netns(format!("{prefix}{}", std::process::id()));
        let ok = Command::new("ip").args(["netns", "add", &ns.0]).status();
        assert!(ok.unwrap().success(), "ip netns add {}", ns.0);
        ns
    }

    /// Runs `f` on a thread inside the namespace (what it opens and the
    /// processes it starts are the namespace's).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = self.0.clone();
        std::thread::spawn(move || {
            enter(&name);
            f()
        })
        .join()
        .unwrap()
    }
}

/// Moves the calling thread into namespace `ns` (what it opens and the
/// processes it starts from then on are the namespace's).
pub fn enter(ns: &str) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    // SAFETY: setns for the calling thread only, valid fd.
    assert_eq!(
        unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
        0,
        "setns {ns}"
    );
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A router in namespaces (tests/bed.sh), removed on drop, also when the
/// test panics.
pub struct Bed {
    pub p: String,
    /// The script that built it (and removes it).
    script: &'static str,
    /// No big table is filled while it stands (`big_table`); dropped
    /// after the namespaces are removed.
    _tables: Option<std::sync::RwLockReadGuard<'static, ()>>,
}

/// Tests that fill a big conntrack table (scale) hold this for writing,
/// every router bed for reading. The kernel keeps one conntrack hash for
/// all namespaces: a dump in a bed walks a big table's entries too, and
/// reads the bed's few entries at moments as far apart as the walk is
/// long. Per-refresh rates then carry the walk's jitter (a 1M table
/// beside the zeroing test: samples off by -15 % to +26 %, measured),
/// which is the kernel's walk and no error of nftop's to test for. A
/// test holds one bed at a time: std's lock makes new readers wait
/// behind a waiting writer, so a second bed could wait forever.
static TABLES: std::sync::RwLock<()> = std::sync::RwLock::new(());

thread_local!(static FILLING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });

/// Held while a big table exists: no bed is up meanwhile (`TABLES`).
/// Take it before the namespace that holds the table, so that it is
/// dropped after it.
pub struct BigTable(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>);

pub fn big_table() -> BigTable {
    let g = TABLES
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    FILLING.with(|f| f.set(true));
    BigTable(g)
}

impl Drop for BigTable {
    fn drop(&mut self) {
        FILLING.with(|f| f.set(false));
    }
}

impl Bed {
    pub fn up() -> Bed {
        Self::up_with(&[])
    }

    pub fn up_with(env: &[(&str, &str)]) -> Bed {
        Self::build("tests/bed.sh", None, env)
    }

    /// A multi-uplink router of tests/mwan.sh: `scheme` is one of simple,
    /// mwan3, ecmp, ports, tunnel.
    pub fn up_mwan(scheme: &str) -> Bed {
        Self::build("tests/mwan.sh", Some(scheme), &[])
    }

    fn build(script: &'static str, scheme: Option<&str>, env: &[(&str, &str)]) -> Bed {
        let n = BEDS.fetch_add(1, Ordering::SeqCst);
        let p = format!("nt{}x{}", std::process::id(), n);
        // (The test that fills a table may stand up a bed of its own.)
        let tables = (!FILLING.with(|f| f.get())).then(|| {
            TABLES
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        let bed = Bed {
            p,
            script,
            _tables: tables,
        };
        let mut c = Command::new("sh");
        c.arg(root().join(script)).arg("up").arg(&bed.p);
        c.args(scheme);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run bed.sh");
        assert!(
            out.status.success(),
            "{script} up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bed
    }

    pub fn ns(&self, which: &str) -> String {
        format!("{}-{}", self.p, which)
    }

    /// Runs a command in namespace `which`, waits, returns stdout.
    pub fn sh(&self, which: &str, script: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(which), "sh", "-c", script])
            .output()
            .expect("ip netns exec");
        assert!(
            out.status.success(),
            "in {which}: `{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a background command in namespace `which`; killed on drop.
    pub fn spawn(&self, which: &str, script: &str) -> Bg {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(which),
                "sh",
                "-c",
                &format!("exec {script}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        Bg(child)
    }

    /// Runs nftop in the router namespace with `args`, returning a reader
    /// of its stdout lines.
    pub fn nftop(&self, args: &[&str]) -> Nftop {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns("rtr"), bin()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nftop");
        let out = BufReader::new(child.stdout.take().unwrap());
        Nftop { child, out }
    }

    /// Runs nftop to completion (use with --count), returning stdout.
    pub fn nftop_output(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns("rtr"), bin()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run nftop");
        assert!(
            out.status.success(),
            "nftop {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a subcommand of the bed's own script (`uplink-del`, `wan1-down`).
    pub fn script(&self, cmd: &str) {
        let s = Command::new("sh")
            .arg(root().join(self.script))
            .args([cmd, &self.p])
            .status()
            .expect("run the bed script");
        assert!(s.success(), "{} {cmd} failed", self.script);
    }

    /// The LAN host pings the far server (203.0.113.200) every 0.2 s;
    /// returns once conntrack has the entry. Stops on drop.
    pub fn ping_far(&self) -> Bg {
        let bg = self.spawn("cli", "ping -q -i 0.2 203.0.113.200");
        self.wait_for(
            "rtr",
            "conntrack -L -p icmp 2>/dev/null | grep -q 203.0.113.200",
            10,
        );
        bg
    }

    /// Waits until `script` in `which` succeeds (up to `secs`).
    pub fn wait_for(&self, which: &str, script: &str, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let ok = Command::new("ip")
                .args(["netns", "exec", &self.ns(which), "sh", "-c", script])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for `{script}` in {which}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg(root().join(self.script))
            .arg("down")
            .arg(&self.p)
            .status();
    }
}

pub struct Bg(pub Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Nftop {
    pub child: Child,
    pub out: BufReader<std::process::ChildStdout>,
}

impl Nftop {
    pub fn line(&mut self) -> Option<String> {
        let mut s = String::new();
        match self.out.read_line(&mut s) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(s.trim_end_matches('\n').to_string()),
        }
    }
}

impl Drop for Nftop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nft named counters of table inet nftop_test: name -> bytes.
pub fn nft_counters(bed: &Bed) -> Vec<(String, u64)> {
    let text = bed.sh("rtr", "nft list counters table inet nftop_test");
    let mut out = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("counter ") {
            name = rest.trim_end_matches(" {").trim_matches('"').to_string();
        } else if let Some(rest) = l.strip_prefix("packets ") {
            let bytes = rest
                .split_whitespace()
                .nth(2)
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            out.push((name.clone(), bytes));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A small JSON reader for nftop's own output (no serde: dependencies are
// kept to the brief's list, tests included).

#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn get(&self, k: &str) -> &J {
        match self {
            J::Obj(v) => v
                .iter()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v)
                .unwrap_or(&J::Null),
            _ => &J::Null,
        }
    }
    pub fn has(&self, k: &str) -> bool {
        matches!(self, J::Obj(v) if v.iter().any(|(kk, _)| kk == k))
    }
    pub fn num(&self) -> f64 {
        match self {
            J::Num(n) => *n,
            _ => f64::NAN,
        }
    }
    pub fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => "",
        }
    }
    pub fn arr(&self) -> &[J] {
        match self {
            J::Arr(a) => a,
            _ => &[],
        }
    }
}

pub fn json(s: &str) -> J {
    let b = s.as_bytes();
    let mut i = 0;
    let v = parse_value(b, &mut i).unwrap_or_else(|| panic!("bad JSON at {i}: {s}"));
    skip_ws(b, &mut i);
    assert_eq!(i, b.len(), "trailing bytes in JSON: {s}");
    v
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && b[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

fn parse_value(b: &[u8], i: &mut usize) -> Option<J> {
    skip_ws(b, i);
    match *b.get(*i)? {
        b'{' => {
            *i += 1;
            let mut v = Vec::new();
            skip_ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                return Some(J::Obj(v));
            }
            loop {
                skip_ws(b, i);
                let J::Str(k) = parse_value(b, i)? else {
                    return None;
                };
                skip_ws(b, i);
                if b.get(*i) != Some(&b':') {
                    return None;
                }
                *i += 1;
                let val = parse_value(b, i)?;
                v.push((k, val));
                skip_ws(b, i);
                match b.get(*i)? {
                    b',' => *i += 1,
                    b'}' => {
                        *i += 1;
                        return Some(J::Obj(v));
                    }
                    _ => return None,
                }
            }
        }
        b'[' => {
            *i += 1;
            let mut v = Vec::new();
            skip_ws(b, i);
            if b.get(*i) == Some(&b']') {
                *i += 1;
                return Some(J::Arr(v));
            }
            loop {
                v.push(parse_value(b, i)?);
                skip_ws(b, i);
                match b.get(*i)? {
                    b',' => *i += 1,
                    b']' => {
                        *i += 1;
                        return Some(J::Arr(v));
                    }
                    _ => return None,
                }
            }
        }
        b'"' => {
            *i += 1;
            let mut s = String::new();
            loop {
                match *b.get(*i)? {
                    b'"' => {
                        *i += 1;
                        return Some(J::Str(s));
                    }
                    b'\\' => {
                        *i += 1;
                        match *b.get(*i)? {
                            b'n' => s.push('\n'),
                            b't' => s.push('\t'),
                            b'u' => {
                                let h = std::str::from_utf8(b.get(*i + 1..*i + 5)?).ok()?;
                                s.push(char::from_u32(u32::from_str_radix(h, 16).ok()?)?);
                                *i += 4;
                            }
                            c => s.push(c as char),
                        }
                        *i += 1;
                    }
                    c => {
                        s.push(c as char);
                        *i += 1;
                    }
                }
            }
        }
        b'n' if b[*i..].starts_with(b"null") => {
            *i += 4;
            Some(J::Null)
        }
        b't' if b[*i..].starts_with(b"true") => {
            *i += 4;
            Some(J::Bool(true))
        }
        b'f' if b[*i..].starts_with(b"false") => {
            *i += 5;
            Some(J::Bool(false))
        }
        _ => {
            let start = *i;
            while *i < b.len()
                && (b[*i] == b'-'
                    || b[*i] == b'+'
                    || b[*i] == b'.'
                    || b[*i] == b'e'
                    || b[*i] == b'E'
                    || b[*i].is_ascii_digit())
            {
                *i += 1;
            }
            std::str::from_utf8(&b[start..*i])
                .ok()?
                .parse()
                .ok()
                .map(J::Num)
        }
    }
}

/// The datagrams of a recorded fixture (see tests/fixtures/record.sh),
/// in this CPU's byte order: the recordings are little-endian, and on a
/// big-endian CPU (mips under qemu-user) every netlink and attribute
/// header is swapped, while ctnetlink payloads stay big-endian, as a
/// big-endian kernel would send them.
pub fn fixture(name: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(fixture_path(name)).expect("fixture");
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= data.len() {
        let n = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        let mut d = data[i + 4..i + 4 + n].to_vec();
        if cfg!(target_endian = "big") {
            le_to_host(&mut d);
        }
        out.push(d);
        i += 4 + n;
    }
    out
}

fn fixture_path(name: &str) -> PathBuf {
    // Under qemu-user the source tree may be elsewhere: NFTOP_FIXTURES.
    match std::env::var_os("NFTOP_FIXTURES") {
        Some(d) => PathBuf::from(d).join(name),
        None => root().join("tests/fixtures").join(name),
    }
}

/// Swaps the host-order fields of recorded little-endian netlink messages:
/// nlmsghdr (len, type, flags, seq, pid) and every attribute header
/// (len, type), descending into nested attributes (NLA_F_NESTED).
pub fn le_to_host(d: &mut [u8]) {
    let mut off = 0;
    while off + 16 <= d.len() {
        let len = u32::from_le_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]]) as usize;
        if len < 16 || off + len > d.len() {
            break;
        }
        let kind = u16::from_le_bytes([d[off + 4], d[off + 5]]);
        for (a, b) in [(0, 4), (8, 12), (12, 16)] {
            d[off + a..off + b].reverse();
        }
        d[off + 4..off + 6].reverse();
        d[off + 6..off + 8].reverse();
        // Conntrack messages: 16-byte header, 4-byte nfgenmsg, attributes.
        // NLMSG_ERROR / DONE carry no attributes.
        if kind >> 8 == 1 && len > 20 {
            swap_attrs(&mut d[off + 20..off + len]);
        }
        off += (len + 3) & !3;
    }
}

fn swap_attrs(b: &mut [u8]) {
    let mut off = 0;
    while off + 4 <= b.len() {
        let len = u16::from_le_bytes([b[off], b[off + 1]]) as usize;
        let kind = u16::from_le_bytes([b[off + 2], b[off + 3]]);
        if len < 4 || off + len > b.len() {
            break;
        }
        b[off..off + 2].reverse();
        b[off + 2..off + 4].reverse();
        if kind & 0x8000 != 0 {
            swap_attrs(&mut b[off + 4..off + len]);
        }
        off += (len + 3) & !3;
    }
}

/// Sequence number and port id of a recorded datagram's first message.
pub fn seq_port(d: &[u8]) -> (u32, u32) {
    let h = nftop::netlink::MsgHeader::parse(d).expect("header");
    (h.seq, h.port)
}
