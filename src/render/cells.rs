//! What one cell of a connection row shows, shared by every output
//! format: names of hosts, ports and interfaces (`Ctx`), which end is
//! local, the NAT view, the state, the marker and the flags.

use super::{fmt_addr, Line, Opts};
use crate::conntrack::{self, Conn};
use crate::flows::{Flow, RateState};
use crate::names::Names;
use crate::route::Links;
use crate::view::Meta;
use std::fmt::Write as _;

/// Whether a row has something in its port columns: a port, or for ICMP
/// the echo id and type/code.
pub fn shows_port(c: &Conn) -> bool {
    c.has_ports() || conntrack::is_icmp(c.orig.proto)
}

/// True when the original source of `m`'s flow is the local side.
pub fn src_is_local(m: &Meta) -> bool {
    m.tx_is_orig || m.loopback
}

pub fn dst_is_local(m: &Meta) -> bool {
    !m.tx_is_orig || m.loopback
}

/// Everything a row needs besides the flow.
pub struct Ctx<'a> {
    pub o: &'a Opts,
    pub names: &'a Names,
    pub links: &'a Links,
    pub now_s: u64,
}

impl Ctx<'_> {
    /// Writes one end of a connection: name or address, or "redacted"
    /// (then never looked up). `local` says whether this end is on the
    /// local side; a NAT address is on the side of the end it stands for.
    pub fn host(&self, out: &mut Line, a: &[u8], local: bool, numeric_only: bool) {
        let numeric = if local {
            self.o.numeric_local
        } else {
            self.o.numeric_remote
        };
        if self.o.privacy.hides(local) {
            return super::fmt_addr_or_redacted(out, a, true);
        }
        if !numeric && !numeric_only {
            if let Some(n) = self.names.lookup(a, true, self.now_s) {
                out.push_str(n.as_str());
                return;
            }
        }
        fmt_addr(out, a);
    }

    /// Writes a port (service name unless -P), or for ICMP the echo id on
    /// the source side and type/code on the destination side.
    pub fn port(&self, out: &mut Line, c: &Conn, is_dst: bool, numeric_only: bool) {
        let port = if is_dst { c.orig.dport } else { c.orig.sport };
        if !c.has_ports() {
            if conntrack::is_icmp(c.orig.proto) {
                // ICMP: echo id on the source side, type/code on the other
                // (conntrack/ packs type<<8|code into dport).
                if is_dst {
                    let _ = write!(out, "{}/{}", port >> 8, port & 0xff);
                } else {
                    let _ = write!(out, "{port}");
                }
            } else {
                out.push(b'-');
            }
            return;
        }
        if !self.o.numeric_port && !numeric_only {
            if let Some(s) = self.names.service(port, c.orig.proto) {
                out.push_str(s);
                return;
            }
        }
        let _ = write!(out, "{port}");
    }

    pub fn ifname(&self, index: u32) -> &str {
        self.links.name(index).unwrap_or("-")
    }
}

/// State column text: protocol state plus nftop's markers.
pub fn fmt_state(out: &mut Line, f: &Flow) {
    out.push_str(conntrack::state_name(f.proto, f.state));
    match f.offload() {
        conntrack::Offload::Sw => out.push_str(",SW_OFFLOAD"),
        conntrack::Offload::Hw => out.push_str(",HW_OFFLOAD"),
        conntrack::Offload::No => {}
    }
}

/// The marker column: closed, offloaded (`o` software, `h` hardware: the
/// state column is often too narrow to show it), unknown rate, reset, new.
pub fn marker(f: &Flow) -> u8 {
    if f.life == crate::flows::Life::Closed {
        b'x'
    } else if f.offloaded() {
        if f.offload() == conntrack::Offload::Hw {
            b'h'
        } else {
            b'o'
        }
    } else if f.rate() == RateState::Unknown {
        b'?'
    } else if f.reset() {
        b'!'
    } else if f.is_new() {
        b'*'
    } else {
        b' '
    }
}

/// Appends the NAT view: "via ADDR:PORT" for source NAT (what the far side
/// sees), "to ADDR:PORT" for a port forward (the inside host). Address and
/// port always come from the same (reply) tuple.
pub fn nat(line: &mut Line, ctx: &Ctx, c: &Conn, m: &Meta, numeric_only: bool) {
    if let Some((a, p)) = c.nat_src() {
        line.push_str(" via ");
        // What the source is translated to stands for it: its side.
        ctx.host(line, a, src_is_local(m), numeric_only);
        if c.has_ports() {
            let _ = write!(line, ":{p}");
        }
    }
    if let Some((a, p)) = c.nat_dst() {
        line.push_str(" to ");
        ctx.host(line, a, dst_is_local(m), numeric_only);
        if c.has_ports() {
            let _ = write!(line, ":{p}");
        }
    }
}

pub fn trim_end(line: &mut Line) {
    let n = line
        .as_bytes()
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(0, |p| p + 1);
    line.truncate(n);
}

/// Status bit names (the kernel's, upper case) joined by `sep`, plus
/// nftop's own in lower case: new (first seen this refresh), reset
/// (counters went down), no_route (the egress lookup found no route),
/// multipath (the interface is one of several nexthops: conntrack cannot
/// tell which), closed; `-` for none.
pub fn flags(line: &mut Line, f: &Flow, sep: u8) {
    if !flag_names(line, f, std::str::from_utf8(&[sep]).unwrap_or(" ")) {
        line.push(b'-');
    }
}

/// `flags` joined by any `sep`; false, and nothing written, for none
/// (JSON writes an empty list).
pub fn flag_names(line: &mut Line, f: &Flow, sep: &str) -> bool {
    let mut any = false;
    let mut put = |line: &mut Line, s: &str| {
        if any {
            line.push_str(sep);
        }
        any = true;
        line.push_str(s);
    };
    for (bit, name) in crate::conntrack::STATUS_NAMES.iter().enumerate() {
        if f.status & (1 << bit) != 0 {
            put(line, name);
        }
    }
    for (on, name) in [
        (f.is_new(), "new"),
        (f.reset(), "reset"),
        (f.no_route(), "no_route"),
        (
            crate::route::is_multi(f.out_if) || crate::route::is_multi(f.in_if),
            "multipath",
        ),
        (f.life == crate::flows::Life::Closed, "closed"),
    ] {
        if on {
            put(line, name);
        }
    }
    any
}
