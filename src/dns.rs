//! Reverse DNS (PTR) over UDP, for the names worker thread.
//!
//! Our own rather than musl's getnameinfo: that one pulls musl's resolver
//! and printf (it formats the in-addr.arpa name with sprintf), about 18 KB
//! of the mipsel binary, for one query type. This is what it did for us:
//! the nameservers and `options timeout:N attempts:N` of
//! /etc/resolv.conf (re-read when it changes), one query sent to every
//! nameserver at once, the first valid answer wins (musl's res_msend
//! does the same). /etc/hosts is nftop's own table already.
//!
//! Answers are untrusted bytes: read through checked slices, a name's
//! compression pointers may only point backwards (no loops), names are
//! at most 255 bytes, and only an answer from an asked server with our
//! query id and question counts.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const MAX_SERVERS: usize = 3;
const PTR: u16 = 12;

/// What /etc/resolv.conf says, as musl reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conf {
    pub servers: [Option<IpAddr>; MAX_SERVERS],
    pub timeout_s: u32,
    pub attempts: u32,
}

impl Default for Conf {
    fn default() -> Conf {
        Conf {
            servers: [None; MAX_SERVERS],
            timeout_s: 5,
            attempts: 2,
        }
    }
}

/// Parses resolv.conf text; no nameserver line means 127.0.0.1 (as libc).
pub fn parse_conf(text: &str) -> Conf {
    let mut c = Conf::default();
    let mut n = 0;
    for line in text.lines() {
        let mut w = line.split_ascii_whitespace();
        match w.next() {
            Some("nameserver") => {
                // A link-local IPv6 server with %scope is skipped: the
                // scope cannot be given without its interface index.
                if let Some(ip) = w.next().and_then(|a| a.parse().ok()) {
                    if n < MAX_SERVERS {
                        c.servers[n] = Some(ip);
                        n += 1;
                    }
                }
            }
            Some("options") => {
                for o in w {
                    let num = |p: &str| o.strip_prefix(p).and_then(|v| v.parse::<u32>().ok());
                    if let Some(t) = num("timeout:") {
                        c.timeout_s = t.clamp(1, 60);
                    }
                    if let Some(a) = num("attempts:") {
                        c.attempts = a.clamp(1, 10);
                    }
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        c.servers[0] = Some(IpAddr::from([127, 0, 0, 1]));
    }
    c
}

/// The PTR query for `addr` (4 or 16 bytes) into `q`: header (id, RD),
/// the reversed name under in-addr.arpa or ip6.arpa, type PTR, class IN.
pub fn build_query(addr: &[u8], id: u16, q: &mut Vec<u8>) {
    q.clear();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let mut label = |s: &[u8]| {
        q.push(s.len() as u8);
        q.extend_from_slice(s);
    };
    if addr.len() == 4 {
        for b in addr.iter().rev() {
            let mut t = [0u8; 3];
            let mut n = 0;
            for d in [b / 100, b / 10 % 10, b % 10] {
                if n > 0 || d > 0 {
                    t[n] = b'0' + d;
                    n += 1;
                }
            }
            if n == 0 {
                n = 1;
                t[0] = b'0';
            }
            label(&t[..n]);
        }
        label(b"in-addr");
    } else {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in addr.iter().rev() {
            label(&[HEX[(b & 15) as usize]]);
            label(&[HEX[(b >> 4) as usize]]);
        }
        label(b"ip6");
    }
    label(b"arpa");
    q.push(0);
    q.extend_from_slice(&PTR.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
}

/// Reads the name at `at` in message `m` into `out` (dotted, no final
/// dot); returns the offset after the name where it starts (pointers
/// followed, but the caller continues after the first one).
fn read_name(m: &[u8], mut at: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut end = None;
    out.clear();
    loop {
        let len = *m.get(at)? as usize;
        match len & 0xc0 {
            0 if len == 0 => return Some(end.unwrap_or(at + 1)),
            0 => {
                let label = m.get(at + 1..at + 1 + len)?;
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(label);
                if out.len() > 255 {
                    return None;
                }
                at += 1 + len;
            }
            0xc0 => {
                let to = (len & 0x3f) << 8 | *m.get(at + 1)? as usize;
                // Only backwards: a pointer chain always ends.
                if to >= at {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = to;
            }
            _ => return None,
        }
    }
}

/// The first PTR name of answer `m` to `query` (same id, same question),
/// or None: NXDOMAIN, no PTR, or not an answer to it.
pub fn parse_answer(m: &[u8], query: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let qlen = query.len();
    if m.len() < qlen || m[..2] != query[..2] || m[2] & 0x80 == 0 || m[12..qlen] != query[12..] {
        return None;
    }
    if m[3] & 0x0f != 0 {
        return None; // RCODE: NXDOMAIN, SERVFAIL, ...
    }
    let answers = u16::from_be_bytes([m[6], m[7]]);
    let mut at = qlen;
    for _ in 0..answers {
        at = read_name(m, at, out)?;
        let h = m.get(at..at + 10)?;
        let kind = u16::from_be_bytes([h[0], h[1]]);
        let rdlen = u16::from_be_bytes([h[8], h[9]]) as usize;
        let rdata = at + 10;
        m.get(rdata..rdata + rdlen)?;
        if kind == PTR {
            read_name(m, rdata, out)?;
            return (!out.is_empty()).then_some(());
        }
        at = rdata + rdlen;
    }
    None
}

/// A resolver: resolv.conf (re-read when it changes) and a query buffer.
pub struct Resolver {
    path: &'static str,
    stamp: Option<std::time::SystemTime>,
    conf: Conf,
    query: Vec<u8>,
    buf: [u8; 512],
    id: u16,
}

impl Resolver {
    pub fn new(path: &'static str) -> Resolver {
        Resolver {
            path,
            stamp: None,
            conf: Conf::default(),
            query: Vec::with_capacity(80),
            buf: [0; 512],
            id: crate::sys::real_ns() as u16,
        }
    }

    /// The name of `addr` into `out`, or None. Blocks up to the
    /// configured timeout times attempts: the worker thread's only call.
    pub fn reverse(&mut self, addr: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let stamp = std::fs::metadata(self.path).and_then(|m| m.modified()).ok();
        if stamp != self.stamp || stamp.is_none() {
            self.stamp = stamp;
            self.conf = parse_conf(&std::fs::read_to_string(self.path).unwrap_or_default());
        }
        self.id = self.id.wrapping_add(0x9e37);
        build_query(addr, self.id, &mut self.query);
        let servers = self.conf.servers;
        // By SocketAddr, not "0.0.0.0:0": a &str goes through getaddrinfo.
        let sock4 = UdpSocket::bind(SocketAddr::from(([0u8; 4], 0))).ok();
        let sock6 = UdpSocket::bind(SocketAddr::from(([0u16; 8], 0))).ok();
        let per_try = Duration::from_secs(self.conf.timeout_s as u64);
        for _ in 0..self.conf.attempts {
            for ip in servers.iter().flatten() {
                let s = if ip.is_ipv4() { &sock4 } else { &sock6 };
                if let Some(s) = s {
                    let _ = s.send_to(&self.query, SocketAddr::new(*ip, 53));
                }
            }
            let end = Instant::now() + per_try;
            // Both sockets are polled in turn, a short wait each.
            while let Some(left) = end.checked_duration_since(Instant::now()) {
                for s in [&sock4, &sock6].into_iter().flatten() {
                    let _ = s.set_read_timeout(Some(
                        left.min(Duration::from_millis(50))
                            .max(Duration::from_millis(1)),
                    ));
                    let Ok((n, from)) = s.recv_from(&mut self.buf) else {
                        continue;
                    };
                    if from.port() != 53 || !servers.contains(&Some(from.ip())) {
                        continue;
                    }
                    let m = &self.buf[..n];
                    if m.len() >= 4 && m[..2] == self.query[..2] && m[2] & 0x80 != 0 {
                        // Our answer, a name or none: no further waiting.
                        return parse_answer(m, &self.query, out);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_as_musl_reads_it() {
        let c = parse_conf(
            "# x\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\n\
             nameserver bogus\noptions ndots:1 timeout:3 attempts:99\nsearch lan\n",
        );
        assert_eq!(
            c.servers,
            [
                Some("192.0.2.53".parse().unwrap()),
                Some("2001:db8::53".parse().unwrap()),
                None
            ]
        );
        assert_eq!((c.timeout_s, c.attempts), (3, 10));
        assert_eq!(
            parse_conf("").servers[0],
            Some("127.0.0.1".parse().unwrap())
        );
    }

    fn qname(q: &[u8]) -> String {
        let mut out = Vec::new();
        read_name(q, 12, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn queries_name_the_reversed_address() {
        let mut q = Vec::new();
        build_query(&[203, 0, 113, 10], 7, &mut q);
        assert_eq!(qname(&q), "10.113.0.203.in-addr.arpa");
        assert_eq!(&q[..4], &[0, 7, 1, 0]);
        assert_eq!(&q[q.len() - 4..], &[0, 12, 0, 1]);
        let a: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        build_query(&a.octets(), 7, &mut q);
        assert_eq!(
            qname(&q),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    /// An answer as a server sends it: the question, then a PTR record
    /// whose owner is a pointer to the question and whose name points
    /// into its own labels.
    fn answer(q: &[u8], rcode: u8) -> Vec<u8> {
        let mut m = q.to_vec();
        m[2] |= 0x80;
        m[3] = 0x80 | rcode;
        m[7] = 1; // ANCOUNT
        let rd_at = m.len() + 12;
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 0]);
        m.extend_from_slice(b"\x06server\x07example\x00");
        let rdlen = m.len() - rd_at;
        m[rd_at - 1] = rdlen as u8;
        m
    }

    #[test]
    fn answers_give_the_name_or_nothing() {
        let mut q = Vec::new();
        build_query(&[203, 0, 113, 200], 99, &mut q);
        let mut out = Vec::new();
        let a = answer(&q, 0);
        assert!(parse_answer(&a, &q, &mut out).is_some());
        assert_eq!(out, b"server.example");
        assert!(
            parse_answer(&answer(&q, 3), &q, &mut out).is_none(),
            "NXDOMAIN"
        );
        let mut other = a.clone();
        other[1] ^= 1;
        assert!(parse_answer(&other, &q, &mut out).is_none(), "another id");
        // Truncated anywhere, or with any byte changed: no panic.
        for cut in 0..a.len() {
            parse_answer(&a[..cut], &q, &mut out);
        }
        for i in 0..a.len() {
            for v in [0x00, 0x3f, 0xc0, 0xff] {
                let mut b = a.clone();
                b[i] = v;
                parse_answer(&b, &q, &mut out);
            }
        }
    }

    #[test]
    fn compression_pointers_cannot_loop() {
        let mut q = Vec::new();
        build_query(&[192, 0, 2, 1], 1, &mut q);
        let mut a = answer(&q, 0);
        let n = a.len();
        // The PTR name becomes a pointer to itself.
        a[n - 16] = 0xc0;
        a[n - 15] = (n - 16) as u8;
        assert!(parse_answer(&a, &q, &mut Vec::new()).is_none());
        // A forward pointer is refused too.
        a[n - 15] = (n - 1) as u8;
        assert!(parse_answer(&a, &q, &mut Vec::new()).is_none());
    }
}
