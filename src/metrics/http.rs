//! The HTTP of the metrics responder: which status a request head gets
//! (only `GET`/`HEAD /metrics`, only for a `Host` that names this
//! responder: DNS rebinding) and the head of the answer. Functions of
//! bytes, callable without a socket (fuzz/fuzz_targets/http.rs).

use crate::render::{self, Line};
use std::net::IpAddr;

/// An address by nftop's own formatter (SocketAddr's Display is 1.3 KB
/// of flash).
pub(super) fn fmt_ip(out: &mut Line, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => render::fmt_addr(out, &a.octets()),
        IpAddr::V6(a) => render::fmt_addr(out, &a.octets()),
    }
}

/// The bound address as a `Host` header names it (in brackets for IPv6,
/// in the standard text form std prints, RFC 5952), or nothing when
/// bound to the unspecified address.
pub(super) fn host_text(out: &mut Line, ip: IpAddr) {
    if !ip.is_unspecified() {
        let v6 = ip.is_ipv6();
        if v6 {
            out.push(b'[');
        }
        fmt_ip(out, ip);
        if v6 {
            out.push(b']');
        }
    }
}

/// Whether a `Host` header value names this responder: `localhost` (or
/// `localhost.localdomain`), or with or without a port the bound address
/// `bound` (`host_text`, any case), or when that is empty (bound to the
/// unspecified address) any IP literal. A page that DNS rebinding made a
/// browser load carries the attacker's name here, never an address, and
/// is refused.
pub fn host_ok(host: &[u8], bound: &[u8]) -> bool {
    // The host without its port: up to `]` for an IPv6 literal.
    let end = match host.first() {
        Some(b'[') => host.iter().position(|&b| b == b']').map_or(0, |i| i + 1),
        _ => host.iter().position(|&b| b == b':').unwrap_or(host.len()),
    };
    let name = &host[..end];
    let literal =
        name.first() == Some(&b'[') || name.iter().all(|&b| b.is_ascii_digit() || b == b'.');
    !name.is_empty()
        && (eq_ci(name, b"localhost")
            || eq_ci(name, b"localhost.localdomain")
            || if bound.is_empty() {
                literal
            } else {
                eq_ci(name, bound)
            })
}

/// ASCII case-insensitive equality, one copy (inlined it costs flash at
/// each of its uses).
#[inline(never)]
fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn is_eol(b: &u8) -> bool {
    *b == b'\r' || *b == b'\n'
}

/// The status a request head (up to its blank line) gets from a responder
/// bound to `bound` (`host_text`): 200 for `GET /metrics` (query string
/// allowed), 404 for another path, 405 for another method, 421 when its
/// `Host` names something else (`host_ok`; a request without one, as
/// HTTP/1.0 allows, is answered), 400 for anything that is not an
/// HTTP/1.x request line, or two `Host` fields (RFC 9112 3.2).
pub fn status(head: &[u8], bound: &[u8]) -> u16 {
    let mut lines = head.split(is_eol);
    let line = lines.next().unwrap_or(&[]);
    let mut w = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (w.next(), w.next(), w.next(), w.next())
    else {
        return 400;
    };
    if !version.starts_with(b"HTTP/1.") || version.len() != 8 || !target.starts_with(b"/") {
        return 400;
    }
    let mut host = None;
    for h in lines {
        if h.len() >= 5 && eq_ci(&h[..5], b"host:") && host.replace(h[5..].trim_ascii()).is_some() {
            return 400;
        }
    }
    if host.is_some_and(|h| !h.is_empty() && !host_ok(h, bound)) {
        return 421;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
    match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => 200,
        (b"GET" | b"HEAD", _) => 404,
        _ => 405,
    }
}
/// Writes the head of the answer with status `code` and a body of `len`
/// bytes at the start of `buf`; returns its length. `buf` holds the
/// request (`REQ_CAP` bytes), always more than any head.
pub(super) fn answer_head(buf: &mut [u8], code: u16, mut len: usize) -> usize {
    let mut digits = [0u8; 20];
    let mut d = digits.len();
    loop {
        d -= 1;
        digits[d] = b'0' + (len % 10) as u8;
        len /= 10;
        if len == 0 {
            break;
        }
    }
    let mut n = 0;
    for part in [
        &b"HTTP/1.1 "[..],
        match code {
            200 => b"200 OK\r\nContent-Type: text/plain; version=0.0.4",
            404 => b"404 Not Found",
            405 => b"405 Method Not Allowed",
            421 => b"421 Misdirected Request",
            _ => b"400 Bad Request",
        },
        b"\r\nContent-Length: ",
        &digits[d..],
        b"\r\nConnection: close\r\n\r\n",
    ] {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_their_status() {
        let lo = &b"127.0.0.1"[..];
        assert_eq!(
            status(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", lo),
            200
        );
        assert_eq!(status(b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n", lo), 200);
        assert_eq!(status(b"HEAD /metrics HTTP/1.1\r\n\r\n", lo), 200);
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n", lo), 404);
        assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n", lo), 405);
        for bad in [
            &b""[..],
            b"GET /metrics\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"\x00\xff\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nhost: 127.0.0.1\r\n\r\n",
        ] {
            assert_eq!(status(bad, lo), 400, "{bad:?}");
        }
    }

    /// DNS rebinding: a browser tricked into loading the page sends the
    /// attacker's name as Host; only the bound address and localhost
    /// names are answered.
    #[test]
    fn the_host_must_name_the_bound_address() {
        let text = |ip: &str| {
            let mut l = Line::new();
            host_text(&mut l, ip.parse().unwrap());
            l.as_str().to_string()
        };
        let (lan, v6, any4, any6) = (
            text("192.0.2.1"),
            text("2001:db8:0::1"),
            text("0.0.0.0"),
            text("::"),
        );
        assert_eq!(
            (&lan[..], &v6[..], &any4[..], &any6[..]),
            ("192.0.2.1", "[2001:db8::1]", "", "")
        );
        let get = |host: &str, bound: &str| {
            let head = format!("GET /metrics HTTP/1.1\r\nUser-Agent: x\r\nHOST:  {host} \r\n\r\n");
            status(head.as_bytes(), bound.as_bytes())
        };
        for (host, bound) in [
            ("192.0.2.1", &lan),
            ("192.0.2.1:9464", &lan),
            ("localhost", &lan),
            ("LocalHost:9464", &lan),
            ("localhost.localdomain", &lan),
            ("[2001:db8::1]", &v6),
            ("[2001:DB8::1]:9464", &v6),
            ("127.0.0.1:9464", &any4),
            ("198.51.100.7", &any4),
            ("[::1]:9464", &any6),
            ("192.0.2.1", &any6),
            ("localhost", &any6),
        ] {
            assert_eq!(get(host, bound), 200, "{host} to {bound}");
        }
        for (host, bound) in [
            ("evil.example", &lan),
            ("evil.example:9464", &lan),
            ("192.0.2.2", &lan),
            ("192.0.2.1.evil.example", &lan),
            ("[2001:db8::2]", &v6),
            ("192.0.2.1", &v6),
            ("2001:db8::1", &v6),
            ("evil.example", &any4),
            ("localhost.evil.example", &any6),
            ("[::1", &any6),
            (":9464", &any6),
        ] {
            assert_eq!(get(host, bound), 421, "{host} to {bound}");
        }
        // No Host (HTTP/1.0 allows it; a browser always sends one), or
        // an empty one.
        assert_eq!(
            status(b"GET /metrics HTTP/1.0\r\n\r\n", lan.as_bytes()),
            200
        );
        assert_eq!(
            status(b"GET /metrics HTTP/1.1\r\nHost:\r\n\r\n", lan.as_bytes()),
            200
        );
    }
}
