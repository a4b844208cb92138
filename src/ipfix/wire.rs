//! IPFIX on the wire (RFC 7011): the message being filled, its sets, the
//! templates and the records, written big-endian into one fixed buffer
//! of `MSG_MAX` bytes. Nothing here sends: the exporter (mod.rs) asks
//! whether a record `fits` and sends the message first when not.

use crate::conntrack::Tuple;
use crate::privacy::bytes;

/// A message fits an Ethernet frame with IPv6 and UDP headers.
pub const MSG_MAX: usize = 1400;

pub(super) const TEMPLATE_SET: u16 = 2;
pub(super) const OPTIONS_SET: u16 = 3;
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
pub(super) const IFNAME_LEN: usize = 16;

/// The lengths of a template record, of the options template record
/// and of an interface's options record.
pub(super) const TEMPLATE_LEN: usize = 4 + FIELDS.len() * 4;
pub(super) const OPTIONS_LEN: usize = 14;
pub(super) const IF_LEN: usize = 4 + IFNAME_LEN;

/// flowEndReason values (IANA).
pub const ACTIVE_TIMEOUT: u8 = 2;
pub const END_DETECTED: u8 = 3;

/// The length of a flow record with `alen`-byte addresses: the sum of
/// `FIELDS`, which the templates announce (`Msg::record` writes them in
/// that order, and checks the length in debug builds).
pub const fn record_len(alen: usize) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < FIELDS.len() {
        n += match FIELDS[i].2 {
            A => alen,
            len => len as usize,
        };
        i += 1;
    }
    n
}

/// One direction of a connection, as a record says it.
pub(super) struct Rec<'a> {
    pub(super) bytes: u64,
    pub(super) packets: u64,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) pre: &'a Tuple,
    pub(super) post: &'a Tuple,
    pub(super) in_if: u32,
    pub(super) out_if: u32,
    pub(super) icmp: bool,
    pub(super) reason: u8,
    /// (source, destination) sides hidden (privacy.rs).
    pub(super) hide: (bool, bool),
}

/// Source and destination port of a tuple as IPFIX carries them.
fn ports(t: &Tuple, icmp: bool) -> (u16, u16) {
    if icmp {
        (0, t.dport)
    } else {
        (t.sport, t.dport)
    }
}
/// The message being filled: a 16-byte header (written by `finish`),
/// then sets, each a 4-byte set header and its records.
pub(super) struct Msg {
    buf: [u8; MSG_MAX],
    len: usize,
    /// Where the open set starts (0: none) and its id.
    set_at: usize,
    set_id: u16,
    /// Data records in it: they number the next message (RFC 7011 3.1).
    pub(super) records: u32,
}

impl Msg {
    pub(super) const fn new() -> Msg {
        Msg {
            buf: [0; MSG_MAX],
            len: 0,
            set_at: 0,
            set_id: 0,
            records: 0,
        }
    }

    /// Whether a record of `len` bytes in a set `id` fits this message:
    /// in the open set when it is that one, else in a new set.
    pub(super) fn fits(&self, id: u16, len: usize) -> bool {
        let open = self.set_at != 0 && self.set_id == id;
        self.len + len + if open { 0 } else { 4 } <= MSG_MAX
    }

    /// Makes room for a record of `len` bytes in a set `id` (it `fits`):
    /// continues the open set when it is that one, else closes it and
    /// opens a new one.
    pub(super) fn open_set(&mut self, id: u16) {
        if self.set_at != 0 && self.set_id == id {
            return;
        }
        self.close_set();
        if self.len == 0 {
            self.len = 16; // the message header, written by finish()
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

    /// One flow record, into the set opened for it (`open_set`). `pre` is
    /// the tuple the packets had when they came in; `post` the other
    /// direction's tuple, whose reverse is what they had when they left
    /// (NAT).
    pub(super) fn record(&mut self, r: &Rec, v6: bool) {
        let alen = if v6 { 16 } else { 4 };
        let at = self.len;
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
        debug_assert_eq!(
            self.len - at,
            record_len(alen),
            "FIELDS and the record differ"
        );
        self.records += 1;
    }

    /// The template record of `id`, `FIELDS` with addresses of IPv4 or
    /// IPv6, into a set `TEMPLATE_SET` of `TEMPLATE_LEN`.
    pub(super) fn template(&mut self, id: u16, v6: bool) {
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

    /// The options template (scope ingressInterface, field
    /// interfaceName), into a set `OPTIONS_SET` of `OPTIONS_LEN`.
    pub(super) fn options_template(&mut self) {
        for v in [IF_ID, 2, 1, 10, 4, 82, IFNAME_LEN as u16] {
            self.put(&v.to_be_bytes());
        }
    }

    /// An options record: an interface's index and NUL-padded name, into
    /// a set `IF_ID` of `IF_LEN`.
    pub(super) fn ifname(&mut self, index: u32, name: &[u8]) {
        self.put(&index.to_be_bytes());
        let mut padded = [0u8; IFNAME_LEN];
        let n = name.len().min(IFNAME_LEN);
        padded[..n].copy_from_slice(&name[..n]);
        self.put(&padded);
        self.records += 1;
    }

    /// The message with its header completed (RFC 7011 3.1), empty when
    /// it holds nothing. `clear` it once sent.
    pub(super) fn finish(&mut self, export_s: u32, seq: u32, domain: u32) -> &[u8] {
        self.close_set();
        if self.len == 0 {
            return &[];
        }
        let h = &mut self.buf[..16];
        h[0..2].copy_from_slice(&10u16.to_be_bytes());
        h[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
        h[4..8].copy_from_slice(&export_s.to_be_bytes());
        h[8..12].copy_from_slice(&seq.to_be_bytes());
        h[12..16].copy_from_slice(&domain.to_be_bytes());
        &self.buf[..self.len]
    }

    pub(super) fn clear(&mut self) {
        self.records = 0;
        self.len = 0;
    }
}
