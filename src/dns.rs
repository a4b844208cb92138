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
//! at most 255 bytes, and only an answer from an asked server's port 53
//! to our socket, with our query id and question, counts; anything else
//! is skipped and the wait goes on. A spoofer off the path has to guess
//! the id (16 random bits per query, from getrandom(2)) and the source
//! port (a fresh socket per query, bound to port 0: the kernel picks a
//! random ephemeral port) at once (RFC 5452).

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
    reply(m, query, out).flatten()
}

/// None when `m` is no response (QR) to `query` (another id or
/// question); else `parse_answer`'s result.
fn reply(m: &[u8], query: &[u8], out: &mut Vec<u8>) -> Option<Option<()>> {
    let qlen = query.len();
    if qlen < 12
        || m.len() < qlen
        || m[..2] != query[..2]
        || m[2] & 0x80 == 0
        || m[12..qlen] != query[12..]
    {
        return None;
    }
    Some(records(m, qlen, out))
}

/// The first PTR name of the records after the question.
fn records(m: &[u8], qlen: usize, out: &mut Vec<u8>) -> Option<()> {
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
    stamp: Option<i128>,
    conf: Conf,
    query: Vec<u8>,
    buf: [u8; 512],
    /// The servers' port: 53, another only in tests.
    port: u16,
    /// Queries not sent because the kernel had no random id to give
    /// (getrandom's pool not initialised yet, early in a boot): the
    /// address stays numeric until it is asked again.
    pub no_random: u32,
}

impl Resolver {
    pub fn new(path: &'static str) -> Resolver {
        Resolver {
            path,
            stamp: None,
            conf: Conf::default(),
            query: Vec::with_capacity(80),
            buf: [0; 512],
            port: 53,
            no_random: 0,
        }
    }

    /// The name of `addr` into `out`, or None. Blocks up to the
    /// configured timeout times attempts: the worker thread's only call.
    pub fn reverse(&mut self, addr: &[u8], out: &mut Vec<u8>) -> Option<()> {
        // Through infile's checks like every file another program writes:
        // a planted or group-writable resolv.conf names no server.
        let stamp = crate::infile::stat(self.path, false)
            .ok()
            .map(|m| m.mtime_ns);
        if stamp != self.stamp || stamp.is_none() {
            self.stamp = stamp;
            let text = crate::infile::read_text(self.path, false, 64 * 1024);
            self.conf = parse_conf(&text.unwrap_or_default());
        }
        // A fresh random id per query: a counter or a clock would give
        // every later id away with one seen. Without one, no query.
        let mut id = [0; 2];
        if !crate::sys::random(&mut id) {
            self.no_random = self.no_random.saturating_add(1);
            return None;
        }
        build_query(addr, u16::from_ne_bytes(id), &mut self.query);
        let servers = self.conf.servers;
        // By SocketAddr, not "0.0.0.0:0": a &str goes through getaddrinfo.
        let sock4 = UdpSocket::bind(SocketAddr::from(([0u8; 4], 0))).ok();
        let sock6 = UdpSocket::bind(SocketAddr::from(([0u16; 8], 0))).ok();
        let per_try = Duration::from_secs(self.conf.timeout_s as u64);
        for _ in 0..self.conf.attempts {
            for ip in servers.iter().flatten() {
                let s = if ip.is_ipv4() { &sock4 } else { &sock6 };
                if let Some(s) = s {
                    let _ = s.send_to(&self.query, SocketAddr::new(*ip, self.port));
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
                    if from.port() != self.port || !servers.contains(&Some(from.ip())) {
                        continue;
                    }
                    let m = &self.buf[..n];
                    // A wrong id or question is a stray or a guess, not
                    // the end of the wait: the real answer may follow.
                    if let Some(name) = reply(m, &self.query, out) {
                        // Our answer, a name or none: no further waiting.
                        return name;
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
        answer_named(q, rcode, b"server")
    }

    /// The same with the name `label`.example.
    fn answer_named(q: &[u8], rcode: u8, label: &[u8]) -> Vec<u8> {
        let mut m = q.to_vec();
        m[2] |= 0x80;
        m[3] = 0x80 | rcode;
        m[7] = 1; // ANCOUNT
        let rd_at = m.len() + 12;
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 0]);
        m.push(label.len() as u8);
        m.extend_from_slice(label);
        m.extend_from_slice(b"\x07example\x00");
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

    /// A resolver whose server is a fake one on 127.0.0.1 (no resolv.conf
    /// at the path: 127.0.0.1, as libc), at a free port of its own; the
    /// server's thread runs `serve` on its socket.
    fn with_fake_server<T: Send + 'static>(
        serve: impl FnOnce(UdpSocket) -> T + Send + 'static,
    ) -> (Resolver, std::thread::JoinHandle<T>) {
        let s = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Resolver::new("/nonexistent/nftop-test/resolv.conf");
        r.port = s.local_addr().unwrap().port();
        (r, std::thread::spawn(move || serve(s)))
    }

    /// How often the most frequent step between neighbours occurs.
    fn top_step(v: &[u16]) -> usize {
        let mut steps: Vec<u16> = v.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        steps.sort_unstable();
        steps
            .chunk_by(|a, b| a == b)
            .map(<[u16]>::len)
            .max()
            .unwrap_or(0)
    }

    /// Issue 26 item 10: ids stepped by 0x9e37 from a clock seed, so one
    /// seen id gave every later one. Each query now has its own random id
    /// and its own random source port: no step repeats between
    /// neighbours, and nearly every value is new (300 draws of 16 bits
    /// repeat about one value; of the ~28000 ephemeral ports, about two).
    #[test]
    fn query_ids_and_source_ports_are_unpredictable() {
        const N: usize = 300;
        let (mut r, server) = with_fake_server(|s| {
            let (mut ids, mut ports) = (vec![], vec![]);
            let mut buf = [0u8; 512];
            for _ in 0..N {
                let (n, from) = s.recv_from(&mut buf).unwrap();
                ids.push(u16::from_be_bytes([buf[0], buf[1]]));
                ports.push(from.port());
                s.send_to(&answer(&buf[..n], 3), from).unwrap();
            }
            (ids, ports)
        });
        for _ in 0..N {
            assert!(r.reverse(&[192, 0, 2, 1], &mut Vec::new()).is_none());
        }
        let (ids, ports) = server.join().unwrap();
        for (what, mut v) in [("ids", ids), ("ports", ports)] {
            assert!(top_step(&v) < N / 20, "{what} step: {v:?}");
            v.sort_unstable();
            v.dedup();
            assert!(v.len() > N - 15, "{what}: only {} distinct", v.len());
        }
        assert_eq!(r.no_random, 0);
    }

    /// Only an answer from the asked server's port, with our id and our
    /// question, ends the wait: replies from another port or address, with
    /// another id, or to another question are skipped (before, one with
    /// our id and another question ended the wait without a name).
    #[test]
    fn spoofed_answers_are_skipped_until_the_real_one() {
        let (mut r, server) = with_fake_server(|s| {
            let mut buf = [0u8; 512];
            let (n, to) = s.recv_from(&mut buf).unwrap();
            let q = buf[..n].to_vec();
            let port = s.local_addr().unwrap().port();
            let other_port = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
            other_port
                .send_to(&answer_named(&q, 0, b"port"), to)
                .unwrap();
            let other_addr = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 2], port))).unwrap();
            other_addr
                .send_to(&answer_named(&q, 0, b"addr"), to)
                .unwrap();
            let mut wrong_id = answer_named(&q, 0, b"id");
            wrong_id[1] ^= 1;
            s.send_to(&wrong_id, to).unwrap();
            let mut other_q = Vec::new();
            build_query(
                &[192, 0, 2, 99],
                u16::from_be_bytes([q[0], q[1]]),
                &mut other_q,
            );
            s.send_to(&answer_named(&other_q, 0, b"question"), to)
                .unwrap();
            s.send_to(&answer(&q, 0), to).unwrap();
        });
        let mut out = Vec::new();
        assert!(r.reverse(&[192, 0, 2, 1], &mut out).is_some());
        assert_eq!(out, b"server.example");
        server.join().unwrap();
    }
}
