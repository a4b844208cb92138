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
//! flow table's export array (flows.rs).

use crate::flows::{Exported, Flow, FlowTable, Life, Spills};
use crate::privacy::{bytes, Hidden, Privacy};
use crate::route::{is_multi, Links, LOCAL_IF};
use std::net::{SocketAddr, UdpSocket};

/// A message fits an Ethernet frame with IPv6 and UDP headers.
pub const MSG_MAX: usize = 1400;
/// Templates are sent again this often (RFC 7011 10.3.6: UDP collectors
/// that restart learn them from the next resend).
pub const TEMPLATE_EVERY_NS: u64 = 600 * 1_000_000_000;

const TEMPLATE_SET: u16 = 2;
const OPTIONS_SET: u16 = 3;
pub const V4_ID: u16 = 256;
pub const V6_ID: u16 = 257;
pub const IF_ID: u16 = 258;

/// (information element, length) of a flow record, in order. The
/// addresses are 4 bytes (IPv4) or 16 (IPv6): `A`.
const A: u16 = 0;
const FIELDS: [(u16, u16, u16); 16] = [
    // (IPv4 IE, IPv6 IE, length)
    (1, 1, 8),     // octetDeltaCount
    (2, 2, 8),     // packetDeltaCount
    (152, 152, 8), // flowStartMilliseconds
    (153, 153, 8), // flowEndMilliseconds
    (8, 27, A),    // sourceIPv{4,6}Address
    (12, 28, A),   // destinationIPv{4,6}Address
    (225, 281, A), // postNATSourceIPv{4,6}Address
    (226, 282, A), // postNATDestinationIPv{4,6}Address
    (10, 10, 4),   // ingressInterface
    (14, 14, 4),   // egressInterface
    (7, 7, 2),     // sourceTransportPort
    (11, 11, 2),   // destinationTransportPort
    (227, 227, 2), // postNAPTSourceTransportPort
    (228, 228, 2), // postNAPTDestinationTransportPort
    (4, 4, 1),     // protocolIdentifier
    (136, 136, 1), // flowEndReason
];
/// interfaceName, fixed length (IFNAMSIZ, NUL-padded).
const IFNAME_LEN: usize = 16;

/// flowEndReason values (IANA).
pub const ACTIVE_TIMEOUT: u8 = 2;
pub const END_DETECTED: u8 = 3;

/// The length of a flow record with `alen`-byte addresses.
pub const fn record_len(alen: usize) -> usize {
    8 * 4 + alen * 4 + 4 * 2 + 2 * 4 + 2
}

pub struct Ipfix {
    sock: UdpSocket,
    to: SocketAddr,
    domain: u32,
    /// Data records numbered so far: the next message's sequence number
    /// (RFC 7011 3.1).
    seq: u32,
    buf: [u8; MSG_MAX],
    len: usize,
    /// Where the open set starts (0: none) and its id.
    set_at: usize,
    set_id: u16,
    msg_records: u32,
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
            buf: [0; MSG_MAX],
            len: 0,
            set_at: 0,
            set_id: 0,
            msg_records: 0,
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
        // all new. What the zeroing took is not here (flows.rs estimates
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

    /// One flow record. `pre` is the tuple the packets had when they came
    /// in; `post` the other direction's tuple, whose reverse is what they
    /// had when they left (NAT).
    fn record(&mut self, r: &Rec, v6: bool) {
        let alen = if v6 { 16 } else { 4 };
        self.open_set(if v6 { V6_ID } else { V4_ID }, record_len(alen));
        let (sport, dport) = ports(r.pre, r.icmp);
        // What left: the reverse of the other direction's tuple.
        let (post_sport, post_dport) = if r.icmp {
            (0, r.pre.dport)
        } else {
            (r.post.dport, r.post.sport)
        };
        self.put(&r.bytes.to_be_bytes());
        self.put(&r.packets.to_be_bytes());
        self.put(&r.start.to_be_bytes());
        self.put(&r.end.to_be_bytes());
        // The post-NAT source stands for the source: its side is hidden
        // with it; the same for the destinations.
        let (hs, hd) = r.hide;
        self.put(bytes(&r.pre.src[..alen], hs));
        self.put(bytes(&r.pre.dst[..alen], hd));
        self.put(bytes(&r.post.dst[..alen], hs));
        self.put(bytes(&r.post.src[..alen], hd));
        self.put(&r.in_if.to_be_bytes());
        self.put(&r.out_if.to_be_bytes());
        for p in [sport, dport, post_sport, post_dport] {
            self.put(&p.to_be_bytes());
        }
        self.put(&[r.pre.proto, r.reason]);
        self.msg_records += 1;
    }

    /// The three templates, then the interface names.
    fn templates(&mut self, links: &Links) {
        for (id, v6) in [(V4_ID, false), (V6_ID, true)] {
            self.open_set(TEMPLATE_SET, 4 + FIELDS.len() * 4);
            self.put(&id.to_be_bytes());
            self.put(&(FIELDS.len() as u16).to_be_bytes());
            for (ie4, ie6, len) in FIELDS {
                let len = if len == A {
                    if v6 {
                        16
                    } else {
                        4
                    }
                } else {
                    len
                };
                self.put(&(if v6 { ie6 } else { ie4 }).to_be_bytes());
                self.put(&len.to_be_bytes());
            }
        }
        // Options template: scope ingressInterface, field interfaceName.
        self.open_set(OPTIONS_SET, 14);
        for v in [IF_ID, 2, 1, 10, 4, 82, IFNAME_LEN as u16] {
            self.put(&v.to_be_bytes());
        }
        for l in links.all() {
            self.open_set(IF_ID, 4 + IFNAME_LEN);
            self.put(&l.index.to_be_bytes());
            let mut name = [0u8; IFNAME_LEN];
            let n = (l.name_len as usize).min(IFNAME_LEN);
            name[..n].copy_from_slice(&l.name[..n]);
            self.put(&name);
            self.msg_records += 1;
        }
    }

    /// Makes room for a record of `len` bytes in a set `id`: continues the
    /// open set when it is that one and the message has room, else closes
    /// it (sending a full message) and opens a new one.
    fn open_set(&mut self, id: u16, len: usize) {
        if self.set_at != 0 && self.set_id == id && self.len + len <= MSG_MAX {
            return;
        }
        self.close_set();
        if self.len + 4 + len > MSG_MAX {
            self.send();
        }
        if self.len == 0 {
            self.len = 16; // the message header, written by send()
        }
        self.set_at = self.len;
        self.set_id = id;
        self.put(&id.to_be_bytes());
        self.put(&[0, 0]);
    }

    fn close_set(&mut self) {
        if self.set_at != 0 {
            let n = (self.len - self.set_at) as u16;
            self.buf[self.set_at + 2..self.set_at + 4].copy_from_slice(&n.to_be_bytes());
            self.set_at = 0;
        }
    }

    fn put(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// Completes the message header and sends the message, if any.
    fn send(&mut self) {
        self.close_set();
        if self.len == 0 {
            return;
        }
        let h = &mut self.buf[..16];
        h[0..2].copy_from_slice(&10u16.to_be_bytes());
        h[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
        h[4..8].copy_from_slice(&self.export_s.to_be_bytes());
        h[8..12].copy_from_slice(&self.seq.to_be_bytes());
        h[12..16].copy_from_slice(&self.domain.to_be_bytes());
        let n = self.msg_records;
        match self.sock.send_to(&self.buf[..self.len], self.to) {
            Ok(_) => self.records += n as u64,
            Err(_) => self.dropped += n as u64,
        }
        self.seq = self.seq.wrapping_add(n);
        self.msg_records = 0;
        self.len = 0;
    }
}

/// One direction of a connection, as a record says it.
struct Rec<'a> {
    bytes: u64,
    packets: u64,
    start: u64,
    end: u64,
    pre: &'a crate::conntrack::Tuple,
    post: &'a crate::conntrack::Tuple,
    in_if: u32,
    out_if: u32,
    icmp: bool,
    reason: u8,
    /// (source, destination) sides hidden (privacy.rs).
    hide: (bool, bool),
}

/// Source and destination port of a tuple as IPFIX carries them.
fn ports(t: &crate::conntrack::Tuple, icmp: bool) -> (u16, u16) {
    if icmp {
        (0, t.dport)
    } else {
        (t.sport, t.dport)
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
mod tests {
    use super::*;
    use crate::conntrack::{Conn, Tuple};

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    /// A masqueraded TCP connection 192.0.2.10:40000 -> 203.0.113.5:443,
    /// leaving as 198.51.100.1:50000.
    fn conn(id: u32, o: u64, r: u64, po: u64, pr: u64) -> Conn {
        Conn {
            family: 4,
            has_counters: true,
            id,
            orig: Tuple {
                src: v4([192, 0, 2, 10]),
                dst: v4([203, 0, 113, 5]),
                sport: 40000,
                dport: 443,
                proto: 6,
            },
            reply: Tuple {
                src: v4([203, 0, 113, 5]),
                dst: v4([198, 51, 100, 1]),
                sport: 443,
                dport: 50000,
                proto: 6,
            },
            orig_bytes: o,
            reply_bytes: r,
            packets: [po, pr],
            start: 1_700_000_000_000_000_000,
            ..Conn::default()
        }
    }

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }
    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn be64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// A collector socket on `at`, an exporter to it (domain 7), no links,
    /// and a flow table of `cap` that keeps export state.
    fn setup(at: &str, cap: usize) -> (UdpSocket, Ipfix, Links, FlowTable) {
        let rx = UdpSocket::bind(at).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let x = Ipfix::open(rx.local_addr().unwrap(), 7).unwrap();
        let mut t = FlowTable::new(cap, 1);
        t.keep_exported();
        (rx, x, Links::with_capacity(), t)
    }

    /// A message: its sequence number and its sets (id, body).
    type Msg = (u32, Vec<(u16, Vec<u8>)>);

    /// The messages received.
    fn receive(rx: &UdpSocket) -> Vec<Msg> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = rx.recv(&mut buf) {
            let m = &buf[..n];
            assert_eq!(be16(m, 0), 10, "version");
            assert_eq!(be16(m, 2) as usize, n, "message length");
            assert_eq!(be32(m, 12), 7, "observation domain");
            let mut sets = Vec::new();
            let mut at = 16;
            while at < n {
                let (id, len) = (be16(m, at), be16(m, at + 2) as usize);
                assert!(len >= 4 && at + len <= n, "set length {len} at {at}");
                sets.push((id, m[at + 4..at + len].to_vec()));
                at += len;
            }
            out.push((be32(m, 8), sets));
        }
        out
    }

    /// Records of the IPv4 template: (bytes, packets, src, post-NAT src,
    /// in, out, sport, post sport, reason).
    type R4 = (u64, u64, [u8; 4], [u8; 4], u32, u32, u16, u16, u8);
    fn records(sets: &[(u16, Vec<u8>)]) -> Vec<R4> {
        let mut v = Vec::new();
        for (id, body) in sets.iter().filter(|(id, _)| *id == V4_ID) {
            assert_eq!(*id, V4_ID);
            assert_eq!(body.len() % record_len(4), 0);
            for r in body.chunks(record_len(4)) {
                v.push((
                    be64(r, 0),
                    be64(r, 8),
                    r[32..36].try_into().unwrap(),
                    r[40..44].try_into().unwrap(),
                    be32(r, 48),
                    be32(r, 52),
                    be16(r, 56),
                    be16(r, 60),
                    r[65],
                ));
            }
        }
        v
    }

    #[test]
    fn deltas_per_direction_nat_and_the_end() {
        let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 16);
        t.events = true;
        let s = 1_000_000_000;
        let real0 = 1_700_000_100_000_000_000;
        let dump = |t: &mut FlowTable, k: u64, conns: &[Conn]| {
            t.begin();
            for c in conns {
                t.observe(c);
            }
            t.finish(k * s, real0 + k * s);
            for f in t.flows_mut() {
                (f.in_if, f.out_if) = (3, 2);
            }
        };
        // First dump: counted before nftop started, nothing to export
        // but the templates.
        dump(&mut t, 1, &[conn(1, 1000, 2000, 10, 20)]);
        x.export(&mut t, &links, s, real0 + s);
        let m = receive(&rx);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, 0, "first sequence number");
        let ids: Vec<u16> = m[0].1.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [TEMPLATE_SET, OPTIONS_SET]);
        let tpl = &m[0].1[0].1;
        assert_eq!((be16(tpl, 0), be16(tpl, 2)), (V4_ID, 16));
        assert_eq!(tpl.len(), 2 * (4 + 16 * 4));
        // Second: both directions moved; a new masqueraded flow.
        dump(
            &mut t,
            2,
            &[conn(1, 1500, 2600, 15, 26), conn(2, 300, 0, 3, 0)],
        );
        x.export(&mut t, &links, 2 * s, real0 + 2 * s);
        let m = receive(&rx);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, 0, "templates are not data records");
        let r = records(&m[0].1);
        let (lan, wan) = ([192, 0, 2, 10], [198, 51, 100, 1]);
        let server = [203, 0, 113, 5];
        assert_eq!(
            r,
            [
                (500, 5, lan, wan, 3, 2, 40000, 50000, ACTIVE_TIMEOUT),
                (600, 6, server, server, 2, 3, 443, 443, ACTIVE_TIMEOUT),
                (300, 3, lan, wan, 3, 2, 40000, 50000, ACTIVE_TIMEOUT),
            ]
        );
        // The reply record: to the WAN address as it arrived, to the LAN
        // host after NAT.
        let body = &m[0].1.iter().find(|(id, _)| *id == V4_ID).unwrap().1;
        let reply = &body[record_len(4)..2 * record_len(4)];
        assert_eq!(&reply[36..40], &wan);
        assert_eq!(&reply[44..48], &lan);
        assert_eq!(be16(reply, 62), 40000);
        assert_eq!(be64(reply, 16), 1_700_000_000_000, "flowStartMilliseconds");
        assert_eq!(be64(reply, 24), (real0 + 2 * s) / 1_000_000);
        // Nothing moved: nothing sent. Then flow 1 ends with its final
        // counters (DESTROY), flow 2 keeps going.
        dump(
            &mut t,
            3,
            &[conn(1, 1500, 2600, 15, 26), conn(2, 300, 0, 3, 0)],
        );
        x.export(&mut t, &links, 3 * s, real0 + 3 * s);
        assert!(receive(&rx).is_empty());
        t.destroy(
            &conn(1, 1600, 2700, 16, 27),
            0,
            3 * s + 1,
            real0 + 3 * s + 1,
        );
        dump(&mut t, 4, &[conn(2, 300, 0, 3, 0)]);
        x.export(&mut t, &links, 4 * s, real0 + 4 * s);
        let m = receive(&rx);
        assert_eq!(m[0].0, 3, "three data records before this message");
        let r = records(&m[0].1);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].0, r[0].1, r[0].8), (100, 1, END_DETECTED));
        assert_eq!((r[1].0, r[1].1, r[1].8), (100, 1, END_DETECTED));
        // Once ended, never again; lingering does not resend.
        dump(&mut t, 5, &[conn(2, 300, 0, 3, 0)]);
        x.export(&mut t, &links, 5 * s, real0 + 5 * s);
        assert!(receive(&rx).is_empty());
        assert_eq!((x.records, x.dropped), (5, 0));
    }

    /// `-r`/`-R`: the hidden side's addresses, before and after NAT, are
    /// sent as 0.0.0.0; the other side's, ports and counters stay.
    #[test]
    fn a_redacted_side_is_sent_as_the_unspecified_address() {
        let (lan, wan, far, none) = (
            [192, 0, 2, 10],
            [198, 51, 100, 1],
            [203, 0, 113, 5],
            [0u8; 4],
        );
        // (-r, -R) -> the four addresses of the original record and of
        // the reply record: pre-NAT source, destination, post-NAT source,
        // destination.
        for (local, remote, orig, reply) in [
            (true, false, [none, far, none, far], [far, none, far, none]),
            (false, true, [lan, none, wan, none], [none, wan, none, lan]),
        ] {
            let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 16);
            x.privacy = Privacy { local, remote };
            let s = 1_000_000_000;
            for (k, c) in [(1, conn(1, 100, 100, 1, 1)), (2, conn(1, 200, 300, 2, 3))] {
                t.begin();
                t.observe(&c);
                t.finish(k * s, k * s);
                // From the LAN (not an uplink) to the uplink.
                for f in t.flows_mut() {
                    (f.in_if, f.out_if) = (3, 2);
                    // As the view decides it (view.rs `direction`).
                    f.set_direction(true, false);
                }
                x.export(&mut t, &links, k * s, k * s);
            }
            let m = receive(&rx);
            let body = &m
                .last()
                .unwrap()
                .1
                .iter()
                .find(|(id, _)| *id == V4_ID)
                .unwrap()
                .1;
            let (o, r) = body.split_at(record_len(4));
            let addrs = |b: &[u8]| -> Vec<[u8; 4]> {
                b[32..48].chunks(4).map(|a| a.try_into().unwrap()).collect()
            };
            assert_eq!(addrs(o), orig, "-r {local} -R {remote}");
            assert_eq!(addrs(r), reply, "-r {local} -R {remote}");
            assert_eq!((be16(o, 56), be16(o, 60)), (40000, 50000), "ports stay");
        }
    }

    #[test]
    fn a_full_message_is_sent_and_the_next_one_numbered_after_it() {
        let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 256);
        let s = 1_000_000_000;
        t.begin();
        t.finish(s, s);
        x.export(&mut t, &links, s, s);
        receive(&rx);
        t.begin();
        for i in 0..100 {
            let mut c = conn(i + 10, 100 + i as u64, 0, 1, 0);
            c.orig.sport = 1000 + i as u16;
            t.observe(&c);
        }
        t.finish(2 * s, 2 * s);
        x.export(&mut t, &links, 2 * s, 2 * s);
        let m = receive(&rx);
        let per = (MSG_MAX - 16 - 4) / record_len(4);
        assert_eq!(m.len(), 100usize.div_ceil(per));
        let mut seq = 0;
        let mut ports = Vec::new();
        for (sq, sets) in &m {
            assert_eq!(*sq, seq);
            let r = records(sets);
            seq += r.len() as u32;
            ports.extend(r.iter().map(|r| r.6));
        }
        ports.sort();
        assert_eq!(ports, (1000..1100).collect::<Vec<u16>>());
    }
    /// An IPv6 flow to an IPv6 collector: template 257, 16-byte addresses
    /// (post-NAT IEs 281/282 carry the reply tuple's view).
    #[test]
    fn ipv6_flows_to_an_ipv6_collector() {
        if UdpSocket::bind("[::1]:0").is_err() {
            return; // no IPv6 on this machine
        }
        let (rx, mut x, links, mut t) = setup("[::1]:0", 16);
        let s = 1_000_000_000;
        t.begin();
        t.finish(s, s);
        x.export(&mut t, &links, s, s);
        let m = receive(&rx);
        let tpl = &m[0].1[0].1;
        // The second template record: 257 with 16 fields.
        let second = &tpl[4 + 16 * 4..];
        assert_eq!((be16(second, 0), be16(second, 2)), (V6_ID, 16));
        let ies: Vec<(u16, u16)> = second[4..]
            .chunks(4)
            .map(|f| (be16(f, 0), be16(f, 2)))
            .collect();
        assert!(ies.contains(&(27, 16)) && ies.contains(&(281, 16)) && ies.contains(&(282, 16)));
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        let (mut lan, mut far) = (a, a);
        lan[15] = 2;
        far[15] = 9;
        let c = Conn {
            family: 6,
            has_counters: true,
            id: 5,
            orig: Tuple {
                src: lan,
                dst: far,
                sport: 5000,
                dport: 53,
                proto: 17,
            },
            reply: Tuple {
                src: far,
                dst: lan,
                sport: 53,
                dport: 5000,
                proto: 17,
            },
            orig_bytes: 120,
            reply_bytes: 300,
            packets: [1, 2],
            ..Conn::default()
        };
        t.begin();
        t.observe(&c);
        t.finish(2 * s, 2 * s);
        x.export(&mut t, &links, 2 * s, 2 * s);
        let m = receive(&rx);
        let body = &m[0].1.iter().find(|(id, _)| *id == V6_ID).unwrap().1;
        assert_eq!(body.len(), 2 * record_len(16));
        let (o, r) = body.split_at(record_len(16));
        assert_eq!((be64(o, 0), be64(o, 8)), (120, 1));
        assert_eq!((be64(r, 0), be64(r, 8)), (300, 2));
        assert_eq!(&o[32..48], &lan);
        assert_eq!(&o[48..64], &far);
        // Routed, no NAT: after NAT it is the same.
        assert_eq!(&o[64..80], &lan);
        assert_eq!(&r[32..48], &far);
    }
    /// Templates again after 10 minutes (a collector that restarted
    /// learns them), not before; data records keep their numbering.
    #[test]
    fn templates_are_sent_again_every_ten_minutes() {
        let (rx, mut x, links, mut t) = setup("127.0.0.1:0", 16);
        let s = 1_000_000_000;
        let has_templates = |m: &[Msg]| {
            m.iter()
                .any(|(_, sets)| sets.iter().any(|(id, _)| *id == TEMPLATE_SET))
        };
        let at = |k: u64, t: &mut FlowTable, x: &mut Ipfix| {
            t.begin();
            t.finish(k * s, k * s);
            x.export(t, &links, k * s, k * s);
            receive(&rx)
        };
        assert!(has_templates(&at(1, &mut t, &mut x)));
        assert!(at(2, &mut t, &mut x).is_empty());
        assert!(at(600, &mut t, &mut x).is_empty());
        assert!(has_templates(&at(601, &mut t, &mut x)));
        assert!(at(602, &mut t, &mut x).is_empty());
    }
    fn links(names: &[(u32, &str)]) -> Links {
        let mut l = Links::with_capacity();
        l.begin();
        for &(index, name) in names {
            let mut m = crate::route::wire::LinkMsg {
                index,
                flags: 0,
                name: [0; 16],
                name_len: name.len() as u8,
                rx_bytes: 0,
                tx_bytes: 0,
            };
            m.name[..name.len()].copy_from_slice(name.as_bytes());
            l.push(&m);
        }
        l.finish(1, |_| false);
        l
    }

    /// The interface names: one options record (ifindex, NUL-padded
    /// name) per link after the templates, numbered as data records,
    /// and sent again at once when a link changes its name.
    #[test]
    fn interface_names_follow_the_links() {
        let (rx, mut x, _, mut t) = setup("127.0.0.1:0", 16);
        let s = 1_000_000_000;
        let names = |m: &[Msg]| -> Vec<(u32, String)> {
            m.iter()
                .flat_map(|(_, sets)| sets.iter())
                .filter(|(id, _)| *id == IF_ID)
                .flat_map(|(_, b)| b.chunks(4 + IFNAME_LEN))
                .map(|r| {
                    let n = &r[4..];
                    let len = n.iter().position(|&c| c == 0).unwrap_or(n.len());
                    (be32(r, 0), String::from_utf8_lossy(&n[..len]).into_owned())
                })
                .collect()
        };
        let mut at = |k: u64, l: &Links, t: &mut FlowTable| {
            t.begin();
            t.finish(k * s, k * s);
            x.export(t, l, k * s, k * s);
            receive(&rx)
        };
        let two = links(&[(2, "lan0"), (3, "wan0")]);
        let m = at(1, &two, &mut t);
        assert_eq!(names(&m), [(2, "lan0".into()), (3, "wan0".into())]);
        assert_eq!(m.len(), 1);
        assert!(at(2, &two, &mut t).is_empty(), "nothing changed");
        let renamed = links(&[(2, "lan0"), (3, "wwan0")]);
        let m = at(3, &renamed, &mut t);
        assert_eq!(names(&m), [(2, "lan0".into()), (3, "wwan0".into())]);
        assert_eq!(m[0].0, 2, "the first two option records were numbered");
    }
}
