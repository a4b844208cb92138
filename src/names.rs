//! Host and service names, never waited for.
//!
//! Sources, in order: `/etc/hosts` (read once), OpenWrt DHCP leases
//! (`/tmp/dhcp.leases`, re-read when its mtime changes) and reverse DNS in
//! one background worker (iftop's resolver design): the display asks, gets
//! the numeric address at once, and sees the name on a later refresh.
//!
//! Bounds: the request ring holds `RING` addresses; when it is full the
//! request is dropped (it is asked again next refresh). The answer cache is
//! set-associative, `BUCKETS` x `WAYS` entries; a new entry replaces the
//! expired or oldest way of its bucket. Positive answers live `TTL_OK_S`,
//! negative ones `TTL_NEG_S`. Link-local, multicast and unspecified
//! addresses are never sent to DNS.
//!
//! Every name is cleaned before it is stored: only letters, digits, '-',
//! '.', '_' survive, anything else (escape sequences from a hostile PTR
//! record or lease) becomes '?'.

use std::sync::{Arc, Condvar, Mutex};

pub const NAME_MAX: usize = 63;
const RING: usize = 64;
const BUCKETS: usize = 512;
const WAYS: usize = 4;
const TTL_OK_S: u64 = 600;
const TTL_NEG_S: u64 = 60;
const MAX_HOSTS: usize = 8192;
const MAX_LEASES: usize = 4096;
/// Leases files larger than this are read only up to here.
const LEASES_MAX_BYTES: usize = 512 * 1024;
/// Hosts and services files: read only up to here (a 4 MiB /etc/hosts
/// ad-block list fits; MAX_HOSTS bounds the entries kept).
const HOSTS_MAX_BYTES: usize = 4 << 20;

/// A cleaned name in fixed storage.
#[derive(Clone, Copy)]
pub struct Name {
    len: u8,
    buf: [u8; NAME_MAX],
}

impl Name {
    pub const EMPTY: Name = Name {
        len: 0,
        buf: [0; NAME_MAX],
    };

    /// Copies `raw`, replacing every byte that is not a hostname character
    /// with '?', truncated to `NAME_MAX`.
    pub fn clean(raw: &[u8]) -> Name {
        let mut n = Name::EMPTY;
        for (i, &b) in raw.iter().take(NAME_MAX).enumerate() {
            n.buf[i] = if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' {
                b
            } else {
                b'?'
            };
        }
        n.len = raw.len().min(NAME_MAX) as u8;
        n
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `clean`).
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("?")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address as a fixed key: 16 bytes plus its length (4 or 16).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct Addr {
    pub len: u8,
    pub b: [u8; 16],
}

impl Addr {
    pub fn new(a: &[u8]) -> Addr {
        let mut b = [0; 16];
        let n = a.len().min(16);
        b[..n].copy_from_slice(&a[..n]);
        Addr { len: n as u8, b }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.b[..self.len as usize]
    }

    fn parse(s: &str) -> Option<Addr> {
        // Drop a zone id (fe80::1%eth0).
        let s = s.split('%').next().unwrap_or(s);
        match s.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) => Some(Addr::new(&a.octets())),
            std::net::IpAddr::V6(a) => Some(Addr::new(&a.octets())),
        }
    }

    /// Addresses that DNS cannot or should not answer for.
    pub fn is_unresolvable(&self) -> bool {
        let b = self.bytes();
        match b.len() {
            4 => b == [0, 0, 0, 0] || (b[0] == 169 && b[1] == 254) || b[0] >= 224,
            16 => {
                b.iter().all(|&x| x == 0) || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff
            }
            _ => true,
        }
    }

    fn hash(&self) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &x in self.bytes() {
            h = (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        (h ^ (h >> 29)) as usize
    }
}

#[derive(Clone, Copy)]
struct CacheEntry {
    addr: Addr,
    name: Name,
    /// 0: free; else the monotonic second after which it is stale.
    expires: u64,
    pending: bool,
}

struct DnsState {
    ring: [Addr; RING],
    head: usize,
    len: usize,
    cache: Vec<[CacheEntry; WAYS]>,
    dropped: u64,
}

struct Dns {
    state: Mutex<DnsState>,
    wake: Condvar,
}

/// Where a names file comes from: the user named it (read as named, if
/// it is a regular file) or it is a default (read only when root or a
/// system account owns it and nobody else can write it: infile.rs).
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a str,
    pub explicit: bool,
}

impl Source<'_> {
    /// The default leases file only where OpenWrt's dnsmasq writes it:
    /// elsewhere /tmp/dhcp.leases is anybody's to create.
    pub fn default_leases() -> Source<'static> {
        let openwrt = crate::sys::lstat_uid(c"/etc/openwrt_release").is_some();
        Source {
            path: if openwrt { "/tmp/dhcp.leases" } else { "" },
            explicit: false,
        }
    }
}

/// The files names come from, in the order of `Names::refused`.
pub const FILES: [&str; 3] = ["hosts", "leases", "services"];

pub struct Names {
    hosts: Vec<(Addr, Name)>,
    leases_path: String,
    leases_explicit: bool,
    leases_mtime: Option<i128>,
    /// (address, name, MAC; zero when unreadable).
    leases: Vec<(Addr, Name, [u8; 6])>,
    leases_buf: Vec<u8>,
    dns: Option<Arc<Dns>>,
    services: Vec<(u16, u8, Name)>,
    /// Hosts entries beyond MAX_HOSTS, left out (reported in the header).
    pub hosts_dropped: u32,
    /// Leases beyond MAX_LEASES, or a leases file over LEASES_MAX_BYTES
    /// (its tail unread, counted as one), last read.
    pub leases_dropped: u32,
    /// Why the hosts, leases or services file (`FILES`) was not read,
    /// when it was there but refused (the header says so).
    pub refused: [Option<crate::infile::Refusal>; 3],
}

impl Names {
    /// Names from the files at these paths, named explicitly (tests).
    pub fn new(hosts_path: &str, leases_path: &str, dns: bool, services: bool) -> Names {
        let src = |path| Source {
            path,
            explicit: true,
        };
        Names::open(src(hosts_path), src(leases_path), dns, services)
    }

    /// Reads hosts and services now (call it after the privilege drop:
    /// they are files other programs write), starts the DNS worker when
    /// `dns`, reads the leases.
    pub fn open(hosts_src: Source, leases_src: Source, dns: bool, services: bool) -> Names {
        let mut refused = [None; 3];
        let mut hosts = Vec::new();
        let mut hosts_dropped = 0;
        match crate::infile::read_text(hosts_src.path, hosts_src.explicit, HOSTS_MAX_BYTES) {
            Ok(text) => hosts_dropped = parse_hosts(&text, &mut hosts),
            Err(crate::infile::Refusal::Missing) => {}
            Err(r) => refused[0] = Some(r),
        }
        sort_stable_by(&mut hosts, |e| e.0);
        hosts.dedup_by(|a, b| a.0 == b.0);
        let mut svc = Vec::new();
        if services {
            match crate::infile::read_text("/etc/services", false, HOSTS_MAX_BYTES) {
                Ok(text) => parse_services(&text, &mut svc),
                Err(crate::infile::Refusal::Missing) => {}
                Err(r) => refused[2] = Some(r),
            }
        }
        let dns = if dns {
            let d = new_dns();
            let w = d.clone();
            crate::sys::spawn_detached(128 * 1024, b"nftop-dns\0", Box::new(move || worker(&w)))
                .then_some(d)
        } else {
            None
        };
        let mut n = Names {
            hosts,
            leases_path: leases_src.path.to_string(),
            leases_explicit: leases_src.explicit,
            leases_mtime: None,
            leases: Vec::with_capacity(MAX_LEASES),
            leases_buf: Vec::with_capacity(LEASES_MAX_BYTES),
            dns,
            services: svc,
            hosts_dropped,
            leases_dropped: 0,
            refused,
        };
        n.refresh();
        n
    }

    /// Re-reads the leases file when it changed. Call once per refresh.
    pub fn refresh(&mut self) {
        if self.leases_path.is_empty() {
            return;
        }
        let meta = match crate::infile::stat(&self.leases_path, self.leases_explicit) {
            Ok(m) => m,
            Err(r) => {
                self.refused[1] = (r != crate::infile::Refusal::Missing).then_some(r);
                if self.leases_mtime.take().is_some() {
                    self.leases.clear();
                    self.leases_dropped = 0;
                }
                return;
            }
        };
        self.refused[1] = None;
        if Some(meta.mtime_ns) == self.leases_mtime {
            return;
        }
        self.leases_buf.clear();
        // Read and judged again on the open file: what was stat'ed may have
        // been replaced since.
        let read = crate::infile::read(
            &self.leases_path,
            self.leases_explicit,
            LEASES_MAX_BYTES,
            &mut self.leases_buf,
        );
        let size = match read {
            Ok(m) => {
                self.leases_mtime = Some(m.mtime_ns);
                m.size
            }
            Err(r) => {
                self.refused[1] = Some(r);
                self.leases_mtime = None;
                0
            }
        };
        let truncated = size > LEASES_MAX_BYTES as u64;
        self.leases_dropped =
            parse_leases(&self.leases_buf, &mut self.leases) + u32::from(truncated);
    }

    /// The name for `addr` if one is known now; otherwise asks the DNS
    /// worker (when `resolve`) and returns None. `now_s` is monotonic
    /// seconds, for cache expiry.
    pub fn lookup(&self, addr: &[u8], resolve: bool, now_s: u64) -> Option<Name> {
        let a = Addr::new(addr);
        if let Ok(i) = self.hosts.binary_search_by(|e| e.0.cmp(&a)) {
            return Some(self.hosts[i].1);
        }
        if let Some((_, n, _)) = self.leases.iter().find(|(x, _, _)| *x == a) {
            return Some(*n);
        }
        if !resolve || a.is_unresolvable() {
            return None;
        }
        let dns = self.dns.as_ref()?;
        let mut st = dns.state.lock().ok()?;
        let bucket = a.hash() % BUCKETS;
        let ways = &mut st.cache[bucket];
        if let Some(e) = ways.iter().find(|e| e.expires != 0 && e.addr == a) {
            if e.pending || now_s < e.expires {
                return (!e.name.is_empty()).then_some(e.name);
            }
        }
        // Not cached or stale: queue it, unless the ring is full.
        if st.len == RING {
            st.dropped += 1;
            return None;
        }
        let ways = &mut st.cache[bucket];
        let w = (0..WAYS)
            .find(|&i| ways[i].addr == a)
            .or_else(|| {
                (0..WAYS)
                    .find(|&i| ways[i].expires == 0 || now_s >= ways[i].expires && !ways[i].pending)
            })
            .unwrap_or_else(|| (0..WAYS).min_by_key(|&i| ways[i].expires).unwrap_or(0));
        let stale_name = if ways[w].addr == a {
            ways[w].name
        } else {
            Name::EMPTY
        };
        ways[w] = CacheEntry {
            addr: a,
            name: stale_name,
            expires: now_s + TTL_NEG_S,
            pending: true,
        };
        let slot = (st.head + st.len) % RING;
        st.ring[slot] = a;
        st.len += 1;
        dns.wake.notify_one();
        (!stale_name.is_empty()).then_some(stale_name)
    }

    /// The DHCP lease name of a MAC (a device's name whatever address
    /// it uses now).
    pub fn by_mac(&self, mac: &[u8; 6]) -> Option<Name> {
        let l = self.leases.iter().find(|l| l.2 == *mac && *mac != [0; 6])?;
        Some(l.1)
    }

    /// Service name for a port, from /etc/services.
    pub fn service(&self, port: u16, proto: u8) -> Option<&str> {
        let p = match proto {
            17 | 136 => 17,
            _ => 6,
        };
        self.services
            .binary_search_by(|e| (e.0, e.1).cmp(&(port, p)))
            .ok()
            .map(|i| self.services[i].2.as_str())
    }

    /// Names from texts already read (a hosts file, a leases file, a
    /// services file), through the same parsers, without files or DNS: the
    /// renderer's fuzz target gives them any bytes.
    pub fn from_text(hosts: &str, leases: &[u8], services: &str) -> Names {
        let mut n = Names::new("", "", false, false);
        n.hosts_dropped = parse_hosts(hosts, &mut n.hosts);
        sort_stable_by(&mut n.hosts, |e| e.0);
        n.hosts.dedup_by(|a, b| a.0 == b.0);
        n.leases_dropped = parse_leases(leases, &mut n.leases);
        parse_services(services, &mut n.services);
        n
    }

    /// Requests dropped because the DNS ring was full (each is asked again
    /// on a later refresh, so nothing shows it; the tests check the ring's
    /// bound with it).
    #[cfg(test)]
    fn dns_dropped(&self) -> u64 {
        self.dns
            .as_ref()
            .and_then(|d| d.state.lock().ok().map(|s| s.dropped))
            .unwrap_or(0)
    }
}

fn new_dns() -> Arc<Dns> {
    let free = CacheEntry {
        addr: Addr::default(),
        name: Name::EMPTY,
        expires: 0,
        pending: false,
    };
    Arc::new(Dns {
        state: Mutex::new(DnsState {
            ring: [Addr::default(); RING],
            head: 0,
            len: 0,
            cache: vec![[free; WAYS]; BUCKETS],
            dropped: 0,
        }),
        wake: Condvar::new(),
    })
}

fn worker(d: &Dns) {
    let mut out = Vec::with_capacity(256);
    let mut resolver = crate::dns::Resolver::new("/etc/resolv.conf");
    loop {
        let addr = {
            let Ok(mut st) = d.state.lock() else { return };
            while st.len == 0 {
                st = match d.wake.wait(st) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
            let a = st.ring[st.head];
            st.head = (st.head + 1) % RING;
            st.len -= 1;
            a
        };
        // The only blocking call, outside the lock.
        // A PTR name that reads as an address (whoever runs the reverse
        // zone picks it) would pose as another host: no name then.
        let name = resolver
            .reverse(addr.bytes(), &mut out)
            .map(|()| Name::clean(&out))
            .filter(|n| Addr::parse(n.as_str()).is_none())
            .unwrap_or(Name::EMPTY);
        let now = crate::sys::mono_ns() / 1_000_000_000;
        let Ok(mut st) = d.state.lock() else { return };
        let bucket = addr.hash() % BUCKETS;
        if let Some(e) = st.cache[bucket].iter_mut().find(|e| e.addr == addr) {
            e.name = name;
            e.pending = false;
            e.expires = now + if name.is_empty() { TTL_NEG_S } else { TTL_OK_S };
        }
    }
}

/// Reads a hosts file into `out` (at most MAX_HOSTS); returns how many
/// entries did not fit.
pub fn parse_hosts(text: &str, out: &mut Vec<(Addr, Name)>) -> u32 {
    let mut dropped = 0u32;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_ascii_whitespace();
        if let (Some(ip), Some(name)) = (f.next(), f.next()) {
            if let Some(a) = Addr::parse(ip) {
                if out.len() < MAX_HOSTS {
                    out.push((a, Name::clean(name.as_bytes())));
                } else {
                    dropped = dropped.saturating_add(1);
                }
            }
        }
    }
    dropped
}

/// Reads dnsmasq leases (`expiry mac ip hostname client-id`) into `out`
/// (cleared; at most MAX_LEASES); returns how many did not fit.
pub fn parse_leases(buf: &[u8], out: &mut Vec<(Addr, Name, [u8; 6])>) -> u32 {
    out.clear();
    let mut dropped = 0u32;
    for line in buf.split(|&b| b == b'\n') {
        let line = std::str::from_utf8(line).unwrap_or("");
        let mut f = line.split_ascii_whitespace();
        let (_, mac, ip, host) = (f.next(), f.next(), f.next(), f.next());
        if let (Some(ip), Some(host)) = (ip, host) {
            if host == "*" {
                continue;
            }
            if let Some(a) = Addr::parse(ip) {
                if out.len() < MAX_LEASES {
                    let mac = mac.and_then(parse_mac).unwrap_or([0; 6]);
                    out.push((a, Name::clean(host.as_bytes()), mac));
                } else {
                    dropped = dropped.saturating_add(1);
                }
            }
        }
    }
    dropped
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut m {
        let p = parts.next()?;
        // from_str_radix takes a sign ("+f"): digits only.
        if p.len() != 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

pub fn parse_services(text: &str, out: &mut Vec<(u16, u8, Name)>) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_ascii_whitespace();
        let (Some(name), Some(pp)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        let proto = match proto {
            "tcp" => 6,
            "udp" => 17,
            _ => continue,
        };
        if let Ok(port) = port.parse::<u16>() {
            out.push((port, proto, Name::clean(name.as_bytes())));
        }
    }
    sort_stable_by(out, |e| (e.0, e.1));
    out.dedup_by_key(|e| (e.0, e.1));
}

/// Sorts by key keeping file order among equals (the dedup after it keeps
/// the first), through the view's one index sort: a stable sort per
/// element type cost 4 KB of flash each. Runs when a file is read.
fn sort_stable_by<T: Copy, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let mut idx: Vec<u32> = (0..v.len() as u32).collect();
    crate::vocab::sort_indices(&mut idx, &|&a, &b| {
        key(&v[a as usize])
            .cmp(&key(&v[b as usize]))
            .then(a.cmp(&b))
    });
    let sorted: Vec<T> = idx.iter().map(|&i| v[i as usize]).collect();
    *v = sorted;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_of_escapes_and_controls() {
        let n = Name::clean(b"evil\x1b[2Jhost\x07.example\n");
        assert_eq!(n.as_str(), "evil??2Jhost?.example?");
        assert!(n.as_str().bytes().all(|b| b.is_ascii_graphic()));
        let long = [b'a'; 300];
        assert_eq!(Name::clean(&long).as_str().len(), NAME_MAX);
    }

    #[test]
    fn hosts_and_services_parse() {
        let mut h = Vec::new();
        parse_hosts(
            "# c\n192.0.2.7  printer printer.lan\n2001:db8::5 nas # x\nbogus line\n",
            &mut h,
        );
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].1.as_str(), "printer");
        let mut s = Vec::new();
        parse_services(
            "http 80/tcp www\ndomain 53/udp\ndomain 53/tcp\nx 99/ddp\n",
            &mut s,
        );
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn tables_past_their_bounds_are_counted() {
        let mut hosts = Vec::new();
        let text: String = (0..MAX_HOSTS + 5)
            .map(|i| format!("2001:db8::{:x} h{i}\n", i + 1))
            .collect();
        assert_eq!(parse_hosts(&text, &mut hosts), 5);
        assert_eq!(hosts.len(), MAX_HOSTS);
        let mut leases = Vec::new();
        let text: String = (0..MAX_LEASES + 3)
            .map(|i| format!("0 aa:bb:cc:dd:ee:ff 2001:db8::{:x} l{i} *\n", i + 1))
            .collect();
        assert_eq!(parse_leases(text.as_bytes(), &mut leases), 3);
        assert_eq!(leases[0].2, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(parse_mac("aa:bb:cc:dd:ee"), None);
        assert_eq!(parse_mac("aa:bb:cc:dd:ee:ff:00"), None);
        assert_eq!(parse_mac("aa:bb:cc:dd:ee:+f"), None);
        // A leases file larger than we read is reported too.
        let path = std::env::temp_dir().join(format!("nftop-big-leases-{}", std::process::id()));
        std::fs::write(&path, vec![b'x'; LEASES_MAX_BYTES + 1]).unwrap();
        let n = Names::new("/nonexistent", path.to_str().unwrap(), false, false);
        assert_eq!((n.hosts_dropped, n.leases_dropped), (0, 1));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn leases_are_read_and_reread_on_change() {
        let dir = std::env::temp_dir().join(format!("nftop-leases-{}", std::process::id()));
        std::fs::write(
            &dir,
            "1700000000 aa:bb:cc:dd:ee:ff 192.0.2.50 laptop 01:aa\n1700000000 aa:bb:cc:dd:ee:00 192.0.2.51 * *\n",
        )
        .unwrap();
        let mut n = Names::new("/nonexistent", dir.to_str().unwrap(), false, false);
        assert_eq!(
            n.lookup(&[192, 0, 2, 50], false, 0).unwrap().as_str(),
            "laptop"
        );
        assert!(n.lookup(&[192, 0, 2, 51], false, 0).is_none());
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(
            &dir,
            "1700000000 aa:bb:cc:dd:ee:ff 192.0.2.50 phone\x1b] *\n",
        )
        .unwrap();
        // Make sure the mtime differs even on coarse file systems.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let f = std::fs::File::options().write(true).open(&dir).unwrap();
        f.set_modified(later).unwrap();
        n.refresh();
        assert_eq!(
            n.lookup(&[192, 0, 2, 50], false, 0).unwrap().as_str(),
            "phone??"
        );
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn link_local_and_multicast_are_never_resolved() {
        assert!(Addr::new(&[169, 254, 1, 1]).is_unresolvable());
        assert!(Addr::new(&[224, 0, 0, 1]).is_unresolvable());
        let mut ll = [0u8; 16];
        ll[0] = 0xfe;
        ll[1] = 0x80;
        assert!(Addr::new(&ll).is_unresolvable());
        assert!(!Addr::new(&[192, 0, 2, 1]).is_unresolvable());
    }

    #[test]
    fn dns_queue_is_bounded_and_answers_are_cached() {
        // No worker thread: the queue fills and stays full, as it would
        // behind a resolver that never answers.
        let mut n = Names::new("/nonexistent", "/nonexistent", false, false);
        n.dns = Some(new_dns());
        for i in 0..100u8 {
            assert!(n.lookup(&[203, 0, 113, i], true, 10).is_none());
        }
        {
            let d = n.dns.as_ref().unwrap().state.lock().unwrap();
            assert_eq!(d.len, RING);
        }
        assert_eq!(n.dns_dropped(), 100 - RING as u64);
        // A pending address is not queued twice.
        let _ = n.lookup(&[203, 0, 113, 0], true, 11);
        assert_eq!(
            n.dns_dropped(),
            100 - RING as u64,
            "pending: neither queued nor dropped"
        );
        // Simulate the worker answering the first request.
        {
            let dns = n.dns.as_ref().unwrap();
            let mut st = dns.state.lock().unwrap();
            let a = Addr::new(&[203, 0, 113, 0]);
            let e = st.cache[a.hash() % BUCKETS]
                .iter_mut()
                .find(|e| e.addr == a)
                .unwrap();
            e.name = Name::clean(b"gw.example");
            e.pending = false;
            e.expires = 10 + TTL_OK_S;
        }
        assert_eq!(
            n.lookup(&[203, 0, 113, 0], true, 12).unwrap().as_str(),
            "gw.example"
        );
        // Not asked when resolving is off (-n/-N/-r/-R) or for link-local.
        assert!(n.lookup(&[203, 0, 113, 200], false, 12).is_none());
        assert!(n.lookup(&[169, 254, 0, 1], true, 12).is_none());
    }
}
