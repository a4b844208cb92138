//! `--ipfix HOST:PORT`: an IPFIX exporter (RFC 7011) over UDP, for the
//! flow collectors fleets already run (nfcapd, nfacctd, goflow2).
//!
//! After each refresh, every connection whose counters moved gives one
//! record per direction that moved (uniflow: original and reply are two
//! flows, so a collector needs no biflow mapping), with 64-bit deltas
//! since the last record of that connection, and once more with its final
//! counters when it ends (DESTROY event). Entries of nftop's first dump
//! were counted before it started: only what they carry after that is
//! exported, so a restart never exports bytes twice.
//!
//! A record, direction by direction (a masqueraded LAN -> WAN flow):
//! - original: the LAN host -> the server as the router received it,
//!   post-NAT the router's WAN address and port; in = the LAN interface,
//!   out = the uplink.
//! - reply: the server -> the router's WAN address as it arrived, post-NAT
//!   the LAN host; in = the uplink, out = the LAN interface.
//!
//! Interfaces are ifindexes; an options template (interfaceName by
//! ingressInterface) names them, sent with the templates (at start, every
//! 10 minutes for collectors that restart, and when links change). The
//! router itself and multipath sets have no ifindex: 0. IPv6 gets the
//! post-NAT IPv6 IEs 281/282 (NPTv6, masquerade6). ICMP: the source port
//! is 0 and the destination port type*256+code (NetFlow's convention,
//! which nfdump reads). Packet counts are the kernel's: under GRO a
//! merged super-packet counts once.
//!
//! `-r`/`-R` apply here too (privacy.rs): the addresses of a hidden side,
//! before and after NAT, are sent as the unspecified address (0.0.0.0,
//! ::); ports, interfaces and counters stay.
//!
//! The socket is non-blocking: a message the kernel does not take now is
//! dropped and counted (its records keep their sequence numbers, so the
//! collector sees the gap); an unreachable collector costs one send per
//! message and nothing else. Memory is fixed: one message buffer, and the
//!
//! Files: `wire` the message, its sets, templates and records; this file
//! the exporter's state (socket, sequence, when templates are due) and
//! which records a connection gives.

mod wire;

pub use wire::{record_len, ACTIVE_TIMEOUT, END_DETECTED, IF_ID, MSG_MAX, V4_ID, V6_ID};

use crate::flows::{Exported, Flow, FlowTable, Life, Spills};
use crate::privacy::{Hidden, Privacy};
use crate::route::{is_multi, Links, LOCAL_IF};
use std::net::{SocketAddr, UdpSocket};
use wire::{Msg, Rec, IF_LEN, OPTIONS_LEN, OPTIONS_SET, TEMPLATE_LEN, TEMPLATE_SET};

/// Templates are sent again this often (RFC 7011 10.3.6: UDP collectors
/// that restart learn them from the next resend).
pub const TEMPLATE_EVERY_NS: u64 = 600 * 1_000_000_000;

pub struct Ipfix {
    sock: UdpSocket,
    to: SocketAddr,
    domain: u32,
    /// Data records numbered so far: the next message's sequence number
    /// (RFC 7011 3.1).
    seq: u32,
    /// The message being filled.
    msg: Msg,
    /// The export time of its header (the refresh's, unix seconds).
    export_s: u32,
    /// When templates were last sent (0: never), and the links then.
    templates_at: u64,
    links_sum: u64,
    /// Data records sent, and those in messages the kernel refused.
    pub records: u64,
    pub dropped: u64,
    /// `-r`/`-R` of the command line (the screen's keys do not change it).
    pub privacy: Privacy,
}

impl Ipfix {
    /// A socket for sending to `to`. Nothing is sent yet.
    pub fn open(to: SocketAddr, domain: u32) -> crate::error::Result<Ipfix> {
        let any: SocketAddr = if to.is_ipv4() {
            ([0u8; 4], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = UdpSocket::bind(any)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| {
                crate::error::Error::system(format!("cannot open the --ipfix socket: {e}"))
            })?;
        // A refresh's records leave in one burst: room for it, so that a
        // busy table is not dropped by its own exporter.
        crate::sys::set_sndbuf(std::os::fd::AsRawFd::as_raw_fd(&sock), 4 << 20);
        Ok(Ipfix {
            sock,
            to,
            domain,
            seq: 0,
            msg: Msg::new(),
            export_s: 0,
            templates_at: 0,
            links_sum: 0,
            records: 0,
            dropped: 0,
            privacy: Privacy::default(),
        })
    }

    /// After a refresh (rates and interfaces settled) and the view (which
    /// set each flow's local side): records for every connection that
    /// moved or ended. `mono`/`real` are the clocks of the refresh's dump.
    pub fn export(&mut self, table: &mut FlowTable, links: &Links, mono: u64, real: u64) {
        self.export_s = (real / 1_000_000_000) as u32;
        let sum = links_sum(links);
        if self.templates_at == 0
            || mono.saturating_sub(self.templates_at) >= TEMPLATE_EVERY_NS
            || sum != self.links_sum
        {
            self.templates(links);
            self.templates_at = mono.max(1);
            self.links_sum = sum;
        }
        let (flows, spills, exported) = table.export_parts();
        for (f, e) in flows.iter().zip(exported.iter_mut()) {
            let hide = self.privacy.conn(f.tx_is_orig(), f.loopback());
            self.flow(f, spills, e, mono, real, hide);
        }
        self.send();
    }

    fn flow(
        &mut self,
        f: &Flow,
        spills: &Spills,
        e: &mut Exported,
        mono: u64,
        real: u64,
        h: Hidden,
    ) {
        if e.ended {
            return;
        }
        let ended = matches!(f.life, Life::Closing | Life::Closed);
        let now = [f.orig_bytes, f.reply_bytes, e.packets[0], e.packets[1]];
        // A counter that went down was zeroed (nlbwmon): what it holds is
        // all new. What the zeroing took is not here (flows/ estimates
        // it for the rates and the metrics; docs/fleet.md, "Fleet: IPFIX").
        let d: [u64; 4] = std::array::from_fn(|k| {
            if now[k] < e.sent[k] {
                now[k]
            } else {
                now[k] - e.sent[k]
            }
        });
        if !ended && d == [0; 4] {
            return;
        }
        e.sent = now;
        e.ended = ended;
        let c = spills.conn(f);
        let to_ms = |ns: u64| ns / 1_000_000;
        let start = match f.kernel_start() {
            0 => real.saturating_sub(mono.saturating_sub(f.mono_start())),
            s => s,
        };
        let (end, reason) = if ended {
            let end_mono = f.end_s as u64 * 1_000_000_000;
            (
                real.saturating_sub(mono.saturating_sub(end_mono)),
                END_DETECTED,
            )
        } else {
            (real, ACTIVE_TIMEOUT)
        };
        let icmp = matches!(c.orig.proto, 1 | 58);
        let ifx = |i: u32| if i == LOCAL_IF || is_multi(i) { 0 } else { i };
        // The original direction; at its end it is reported even when idle.
        if d[0] | d[2] != 0 || ended {
            let r = Rec {
                bytes: d[0],
                packets: d[2],
                start: to_ms(start),
                end: to_ms(end),
                pre: &c.orig,
                post: &c.reply,
                in_if: ifx(f.in_if),
                out_if: ifx(f.out_if),
                icmp,
                reason,
                hide: h.tuple(false),
            };
            self.record(&r, c.family == 6);
        }
        // The reply direction, when it carried anything.
        if d[1] | d[3] != 0 || (ended && now[1] | now[3] != 0) {
            let r = Rec {
                bytes: d[1],
                packets: d[3],
                start: to_ms(start),
                end: to_ms(end),
                pre: &c.reply,
                post: &c.orig,
                in_if: ifx(f.out_if),
                out_if: ifx(f.in_if),
                icmp,
                reason,
                hide: h.tuple(true),
            };
            self.record(&r, c.family == 6);
        }
    }

    /// Room for a record of `len` in a set `id`: in this message, else
    /// in the next one once this one is sent.
    fn set(&mut self, id: u16, len: usize) {
        if !self.msg.fits(id, len) {
            self.send();
        }
        self.msg.open_set(id);
    }

    fn record(&mut self, r: &Rec, v6: bool) {
        // Both lengths known at compile time (`record_len` is a loop).
        let (id, len) = if v6 {
            (V6_ID, const { record_len(16) })
        } else {
            (V4_ID, const { record_len(4) })
        };
        self.set(id, len);
        self.msg.record(r, v6);
    }

    /// The two templates and the options template, then the interface
    /// names.
    fn templates(&mut self, links: &Links) {
        for (id, v6) in [(V4_ID, false), (V6_ID, true)] {
            self.set(TEMPLATE_SET, TEMPLATE_LEN);
            self.msg.template(id, v6);
        }
        self.set(OPTIONS_SET, OPTIONS_LEN);
        self.msg.options_template();
        for l in links.all() {
            self.set(IF_ID, IF_LEN);
            self.msg.ifname(l.index, &l.name[..l.name_len as usize]);
        }
    }

    /// Sends the message, if any: its records counted as sent, or as
    /// dropped when the kernel refuses it; numbered either way.
    fn send(&mut self) {
        let n = self.msg.records;
        let m = self.msg.finish(self.export_s, self.seq, self.domain);
        if m.is_empty() {
            return;
        }
        match self.sock.send_to(m, self.to) {
            Ok(_) => self.records += n as u64,
            Err(_) => self.dropped += n as u64,
        }
        self.seq = self.seq.wrapping_add(n);
        self.msg.clear();
    }
}

/// A fingerprint of the links' indexes and names: the names are sent
/// again when it changes.
fn links_sum(links: &Links) -> u64 {
    links.all().iter().fold(links.all().len() as u64, |h, l| {
        let mut x = h.rotate_left(7) ^ l.index as u64;
        for &b in &l.name[..l.name_len as usize] {
            x = x.wrapping_mul(0x100_0000_01b3) ^ b as u64;
        }
        x
    })
}

#[cfg(test)]
mod tests;
