//! Filter expressions (`-f EXPR`, `/` on the screen): terms ANDed, `not
//! TERM` or `!TERM` negates one.
//!
//! ```text
//! host NAME|ADDR|CIDR   either end (original or NAT view) is it / in it
//! port N  sport N  dport N
//! proto NAME|N          tcp, udp, icmp, gre, ... or a number
//! in IF  out IF         interface name, or a prefix ending in + (wwan+)
//! state NAME            ESTABLISHED, TIME_WAIT, ... (any case)
//! mark N[/MASK]         decimal or 0x hex
//! zone N
//! nat                   source or destination NAT changed the tuple
//! closed                the connection ended (shown while it lingers)
//! WORD                  a name of either end contains WORD (any case)
//! ```
//!
//! Parsing allocates (once, when the filter is set); matching does not.

use crate::conntrack::{self, Conn};
use crate::error::{Error, Result};
use crate::flows::{Flow, Life};
use crate::names::Names;
use crate::route::{IfMatch, Links};

/// Terms per expression: more is refused (a screen line holds no more).
pub const MAX_TERMS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
enum What {
    /// Address and prefix length (4 or 16 bytes in a 16-byte array).
    Net([u8; 16], u8, u8),
    HostName(String),
    Port(u16),
    Sport(u16),
    Dport(u16),
    Proto(u8),
    In(IfMatch),
    Out(IfMatch),
    State(String),
    Mark(u32, u32),
    Zone(u16),
    Nat,
    Closed,
    Word(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    not: bool,
    what: What,
}

/// A parsed expression, and its text for the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    terms: Vec<Term>,
    pub text: String,
}

fn bad(term: &str, want: &str) -> Error {
    Error::usage(format!("invalid filter term '{term}': want {want}"))
}

fn number<T: TryFrom<u64>>(s: &str) -> Option<T> {
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse::<u64>().ok()?,
    };
    T::try_from(v).ok()
}

fn proto_of(s: &str) -> Option<u8> {
    if let Some(n) = number::<u8>(s) {
        return Some(n);
    }
    (0..=255u8).find(|&p| conntrack::proto_name(p).is_some_and(|n| n.eq_ignore_ascii_case(s)))
}

fn net_of(s: &str) -> Option<([u8; 16], u8, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let mut out = [0u8; 16];
    match a.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v) => {
            out[..4].copy_from_slice(&v.octets());
            let l = len.unwrap_or(32);
            (l <= 32).then_some((out, l, 4))
        }
        std::net::IpAddr::V6(v) => {
            out.copy_from_slice(&v.octets());
            let l = len.unwrap_or(128);
            (l <= 128).then_some((out, l, 16))
        }
    }
}

impl Expr {
    /// Parses `text`; an empty text is no filter (None).
    pub fn parse(text: &str) -> Result<Option<Expr>> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            return Ok(None);
        }
        let mut terms = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let mut w = words[i];
            let mut not = false;
            if w == "not" || w == "!" {
                not = true;
                i += 1;
                w = *words
                    .get(i)
                    .ok_or_else(|| bad(words[i - 1], "a term after it"))?;
            } else if let Some(rest) = w.strip_prefix('!') {
                not = true;
                w = rest;
            }
            let arg = |i: usize| words.get(i + 1).copied();
            let shown = |a: Option<&str>| match a {
                Some(a) => format!("{w} {a}"),
                None => w.to_string(),
            };
            let takes = matches!(
                w,
                "host"
                    | "port"
                    | "sport"
                    | "dport"
                    | "proto"
                    | "in"
                    | "out"
                    | "state"
                    | "mark"
                    | "zone"
            );
            let a = if takes { arg(i) } else { None };
            let what = match (w, a) {
                (k, None) if takes => return Err(bad(k, &format!("a value after '{k}'"))),
                ("host", Some(a)) => match net_of(a) {
                    Some((addr, len, n)) => What::Net(addr, len, n),
                    None if a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') => {
                        What::HostName(a.to_string())
                    }
                    None => return Err(bad(&shown(a.into()), "a name, an address or a CIDR prefix")),
                },
                ("port" | "sport" | "dport", Some(a)) => {
                    let p = number::<u16>(a).ok_or_else(|| bad(&shown(a.into()), "a port number 0-65535"))?;
                    match w {
                        "port" => What::Port(p),
                        "sport" => What::Sport(p),
                        _ => What::Dport(p),
                    }
                }
                ("proto", Some(a)) => What::Proto(
                    proto_of(a).ok_or_else(|| bad(&shown(a.into()), "a protocol name (tcp, udp, icmp, ...) or number"))?,
                ),
                ("in" | "out", Some(a)) => {
                    let ifm = crate::vocab::parse_if(a, "in/out")
                        .map_err(|_| bad(&shown(a.into()), "an interface name, or a prefix ending in +"))?;
                    if w == "in" {
                        What::In(ifm)
                    } else {
                        What::Out(ifm)
                    }
                }
                ("state", Some(a)) => What::State(a.to_ascii_uppercase()),
                ("mark", Some(a)) => {
                    let (v, m) = match a.split_once('/') {
                        Some((v, m)) => (number::<u32>(v), number::<u32>(m)),
                        None => (number::<u32>(a), Some(u32::MAX)),
                    };
                    match (v, m) {
                        (Some(v), Some(m)) => What::Mark(v, m),
                        _ => return Err(bad(&shown(a.into()), "a mark N or N/MASK (decimal or 0x hex)")),
                    }
                }
                ("zone", Some(a)) => What::Zone(
                    number::<u16>(a).ok_or_else(|| bad(&shown(a.into()), "a zone number 0-65535"))?,
                ),
                ("nat", _) => What::Nat,
                ("closed", _) => What::Closed,
                (word, _) if word.bytes().all(|b| b.is_ascii_graphic()) => What::Word(word.to_string()),
                (word, _) => return Err(bad(word, "a term: host, port, sport, dport, proto, in, out, state, mark, zone, nat, closed, or a word")),
            };
            if terms.len() >= MAX_TERMS {
                return Err(bad(text, &format!("at most {MAX_TERMS} terms")));
            }
            terms.push(Term { not, what });
            i += if takes { 2 } else { 1 };
        }
        Ok(Some(Expr {
            terms,
            text: words.join(" "),
        }))
    }

    /// Whether flow `f` (whose entry is `c`) matches every term.
    pub fn matches(&self, f: &Flow, c: &Conn, links: &Links, names: &Names, now_s: u64) -> bool {
        self.terms
            .iter()
            .all(|t| t.not != term_matches(&t.what, f, c, links, names, now_s))
    }
}

fn within(a: &[u8], net: &[u8; 16], len: u8, n: u8) -> bool {
    if a.len() != n as usize {
        return false;
    }
    let full = (len / 8) as usize;
    if a[..full] != net[..full] {
        return false;
    }
    let bits = len % 8;
    bits == 0 || (a[full] ^ net[full]) & (0xff << (8 - bits)) == 0
}

/// Case-insensitive substring test without allocating.
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

fn ends(c: &Conn) -> [&[u8]; 4] {
    let n = c.addr_len();
    [
        &c.orig.src[..n],
        &c.orig.dst[..n],
        &c.reply.src[..n],
        &c.reply.dst[..n],
    ]
}

fn term_matches(w: &What, f: &Flow, c: &Conn, links: &Links, names: &Names, now_s: u64) -> bool {
    let name_matches = |p: &dyn Fn(&str) -> bool| {
        ends(c)
            .iter()
            .any(|a| names.lookup(a, false, now_s).is_some_and(|n| p(n.as_str())))
    };
    match w {
        What::Net(net, len, n) => ends(c).iter().any(|a| within(a, net, *len, *n)),
        What::HostName(h) => name_matches(&|n| n.eq_ignore_ascii_case(h)),
        What::Port(p) => {
            c.has_ports() && (c.orig.sport == *p || c.orig.dport == *p || c.reply.sport == *p)
        }
        What::Sport(p) => c.has_ports() && c.orig.sport == *p,
        What::Dport(p) => c.has_ports() && c.orig.dport == *p,
        What::Proto(p) => c.orig.proto == *p,
        What::In(m) => links.name(f.in_if).is_some_and(|n| m.matches(n)),
        What::Out(m) => links.name(f.out_if).is_some_and(|n| m.matches(n)),
        What::State(s) => conntrack::state_name(c.orig.proto, c.state).eq_ignore_ascii_case(s),
        What::Mark(v, m) => c.mark & m == *v,
        What::Zone(z) => c.zone == *z,
        What::Nat => c.nat_src().is_some() || c.nat_dst().is_some(),
        What::Closed => f.life == Life::Closed,
        What::Word(word) => name_matches(&|n| contains_ci(n, word)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        Expr::parse(s).unwrap_err().msg
    }

    #[test]
    fn terms_parse_and_bad_ones_are_quoted() {
        let e = Expr::parse(
            "host 192.0.2.0/24 not proto icmp !dport 53 in wan+ mark 0x200/0x3f00 nat laptop",
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.terms.len(), 7);
        assert_eq!(
            e.terms[1],
            Term {
                not: true,
                what: What::Proto(1)
            }
        );
        assert_eq!(
            e.terms[2],
            Term {
                not: true,
                what: What::Dport(53)
            }
        );
        assert_eq!(e.terms[4].what, What::Mark(0x200, 0x3f00));
        assert_eq!(e.terms[6].what, What::Word("laptop".into()));
        assert_eq!(Expr::parse("   ").unwrap(), None);
        let m = err("port x");
        assert!(m.contains("'port x'") && m.contains("port number"), "{m}");
        assert!(err("proto nosuch").contains("'proto nosuch'"));
        assert!(err("host 192.0.2.0/33").contains("'host 192.0.2.0/33'"));
        assert!(err("dport").contains("a value after 'dport'"));
        assert!(err("not").contains("a term after it"));
        assert!(err("mark 1/x").contains("N/MASK"));
        let many = "nat ".repeat(MAX_TERMS + 1);
        assert!(err(&many).contains("at most"));
    }

    #[test]
    fn matching() {
        let mut c = Conn {
            family: 4,
            state: 3,
            mark: 0x213,
            zone: 0,
            status: 0x1be,
            ..Conn::default()
        };
        c.orig.src[..4].copy_from_slice(&[192, 0, 2, 10]);
        c.orig.dst[..4].copy_from_slice(&[203, 0, 113, 200]);
        c.reply.src = c.orig.dst;
        c.reply.dst[..4].copy_from_slice(&[198, 51, 100, 1]);
        (c.orig.proto, c.orig.sport, c.orig.dport) = (6, 40000, 443);
        (c.reply.sport, c.reply.dport) = (443, 40000);
        let mut t = crate::flows::FlowTable::new(4, 1);
        t.begin();
        t.observe(&c);
        t.finish(1, 1);
        let f = t.flows()[0];
        let links = Links::with_capacity();
        let names = Names::new("/nonexistent", "/nonexistent", false, false);
        let m = |s: &str| {
            Expr::parse(s)
                .unwrap()
                .unwrap()
                .matches(&f, &t.conn(&f), &links, &names, 0)
        };
        assert!(m("host 192.0.2.0/24"));
        assert!(m("host 198.51.100.1"), "the NAT view counts");
        assert!(!m("host 2001:db8::/32"));
        assert!(m("port 443") && m("sport 40000") && m("dport 443") && !m("dport 40000"));
        assert!(m("proto tcp") && m("proto 6") && m("not proto udp"));
        assert!(m("state established") && !m("state time_wait"));
        assert!(m("mark 0x200/0x3f00") && !m("mark 0x300/0x3f00") && m("mark 531"));
        assert!(m("zone 0") && m("nat") && !m("closed"));
        assert!(!m("in lan0"), "no interface attributed here");
        assert!(!m("laptop"), "no names here");
    }
}
