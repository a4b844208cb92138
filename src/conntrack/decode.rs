//! The decoder: ctnetlink message bytes to a fixed `Conn`, in place (the
//! module doc of `conntrack` says how, and its contract). The kernel's
//! usual layouts of a tuple and of the counters are read at fixed offsets;
//! any other layout goes through the checked attribute loops.

use super::*;
use crate::nl::attr::{Attrs, Malformed};

/// Decodes one conntrack message payload (nfgenmsg + attributes) into
/// `out`. `out` is overwritten completely.
pub fn decode(payload: &[u8], out: &mut Conn) -> Result<(), Malformed> {
    decode_stop(payload, out).map(|_| ())
}

/// Like `decode`, also returning CTA_TIMESTAMP_STOP (DESTROY events carry
/// it; 0 when absent). Kept out of `Conn` because a dumped entry never has
/// one and every flow would carry the 8 bytes.
pub fn decode_stop(payload: &[u8], out: &mut Conn) -> Result<u64, Malformed> {
    let (stop, reply) = decode_top(payload, out)?;
    decode_reply(reply, out)?;
    Ok(stop)
}

/// Completes `decode_lazy` with the reply tuple's nest `raw`.
pub fn decode_reply(raw: &[u8], out: &mut Conn) -> Result<(), Malformed> {
    decode_tuple(raw, &mut out.reply)?;
    if out.reply.proto == 0 {
        // No reply tuple (should not happen in a dump): mirror the original
        // so NAT detection sees "unchanged".
        out.reply = Tuple {
            src: out.orig.dst,
            dst: out.orig.src,
            sport: out.orig.dport,
            dport: out.orig.sport,
            proto: out.orig.proto,
        };
    }
    Ok(())
}

/// What only the detail pane shows, read again from the one entry it
/// asked for (a dumped flow does not carry it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extra {
    /// Packets, original and reply direction.
    pub packets: [u64; 2],
    /// Seconds until the entry expires without traffic.
    pub timeout: u32,
}

/// The `Extra` of a message that `decode` accepted.
pub fn decode_extra(payload: &[u8]) -> Extra {
    let mut x = Extra::default();
    for (kind, v) in Attrs(payload.get(NFGENMSG_LEN..).unwrap_or(&[])).flatten() {
        match kind {
            CTA_TIMEOUT => x.timeout = be32(v).unwrap_or(0),
            CTA_COUNTERS_ORIG | CTA_COUNTERS_REPLY => {
                for (k, c) in Attrs(v).flatten() {
                    let n = match k {
                        CTA_COUNTERS_PACKETS => be64(c),
                        CTA_COUNTERS32_PACKETS => be32(c).map(u64::from),
                        _ => continue,
                    };
                    x.packets[usize::from(kind == CTA_COUNTERS_REPLY)] = n.unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    x
}

/// The tuple nests `decode_lazy` left undecoded: the reply's always, the
/// original's when the message was read through a layout (None: decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nests<'a> {
    pub orig: Option<&'a [u8]>,
    pub reply: &'a [u8],
}

impl Nests<'_> {
    /// Decodes what is left into `out` (a full `decode`).
    pub fn complete(self, out: &mut Conn) -> Result<(), Malformed> {
        if let Some(raw) = self.orig {
            decode_tuple(raw, &mut out.orig)?;
        }
        decode_reply(self.reply, out)
    }
}

/// Like `decode`, except the tuples, returned as the bytes of their nests
/// (`Nests`; the reply's empty when absent) for `decode_tuple` and
/// `decode_reply`. A dump's reader needs the reply only for entries it has
/// not seen yet (a quarter of the decoding), and the original only for
/// those not in the order of the dump before (flows/mod.rs). A message
/// laid out as an earlier one of its length (`layouts`, the dump's
/// reader's) is read at that one's offsets; one walked has its original
/// tuple decoded.
/// On Err `out` holds whatever was read before the fault (the two paths
/// read in different orders): the caller skips the entry.
pub fn decode_lazy<'a>(
    payload: &'a [u8],
    out: &mut Conn,
    layouts: &mut Layouts,
) -> Result<Nests<'a>, Malformed> {
    let body = start(payload, out)?;
    layouts.read_lazy(body, out)
}

/// Every attribute but the reply tuple's contents, which are returned as
/// the nest's bytes, with CTA_TIMESTAMP_STOP.
fn decode_top<'a>(payload: &'a [u8], out: &mut Conn) -> Result<(u64, &'a [u8]), Malformed> {
    let body = start(payload, out)?;
    decode_top_loop(body, out)
}

/// Resets `out` to the family of `payload`'s nfgenmsg; its attributes.
fn start<'a>(payload: &'a [u8], out: &mut Conn) -> Result<&'a [u8], Malformed> {
    if payload.len() < NFGENMSG_LEN {
        return Err(Malformed);
    }
    *out = Conn {
        state: NO_STATE,
        family: match payload[0] as i32 {
            libc::AF_INET => 4,
            libc::AF_INET6 => 6,
            _ => return Err(Malformed),
        },
        ..Conn::default()
    };
    Ok(&payload[NFGENMSG_LEN..])
}

/// `decode_top`'s walk over `body`, each attribute read in turn over
/// what the ones before set (a type sent twice: the last value kept; a
/// second tuple written over the first).
pub(super) fn decode_top_loop<'a>(
    body: &'a [u8],
    out: &mut Conn,
) -> Result<(u64, &'a [u8]), Malformed> {
    let mut stop = 0;
    let mut reply: &[u8] = &[];
    let mut seen_orig = false;
    for nla in Attrs(body) {
        let (kind, v) = nla?;
        match kind {
            CTA_TUPLE_ORIG => {
                decode_tuple(v, &mut out.orig)?;
                seen_orig = true;
            }
            CTA_TUPLE_REPLY => reply = v,
            CTA_STATUS => out.status = be32(v)?,
            CTA_PROTOINFO => out.state = decode_protoinfo(v)?,
            // Checked, not kept (nothing shows them).
            CTA_TIMEOUT | CTA_USE => {
                be32(v)?;
            }
            CTA_MARK => out.mark = be32(v)?,
            CTA_COUNTERS_ORIG => {
                (out.orig_bytes, out.packets[0]) = decode_counters(v)?;
                out.has_counters = true;
            }
            CTA_COUNTERS_REPLY => {
                (out.reply_bytes, out.packets[1]) = decode_counters(v)?;
                out.has_counters = true;
            }
            CTA_ID => out.id = be32(v)?,
            CTA_ZONE => out.zone = be16(v)?,
            CTA_TIMESTAMP => (out.start, stop) = decode_timestamp(v)?,
            _ => {}
        }
    }
    if !seen_orig {
        return Err(Malformed);
    }
    Ok((stop, reply))
}

/// A tuple nest into `t` (fields it lacks are left as they were).
pub fn decode_tuple(buf: &[u8], t: &mut Tuple) -> Result<(), Malformed> {
    if tuple_as_usual(buf, t) {
        return Ok(());
    }
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        match kind {
            CTA_TUPLE_IP => {
                for ip in Attrs(v) {
                    let (kind, a) = ip?;
                    match kind {
                        CTA_IP_V4_SRC => t.src[..4].copy_from_slice(exact(a, 4)?),
                        CTA_IP_V4_DST => t.dst[..4].copy_from_slice(exact(a, 4)?),
                        CTA_IP_V6_SRC => t.src.copy_from_slice(exact(a, 16)?),
                        CTA_IP_V6_DST => t.dst.copy_from_slice(exact(a, 16)?),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                let (mut icmp_type, mut icmp_code) = (0u16, 0u16);
                for p in Attrs(v) {
                    let (kind, a) = p?;
                    match kind {
                        CTA_PROTO_NUM => t.proto = *exact(a, 1)?.first().ok_or(Malformed)?,
                        CTA_PROTO_SRC_PORT | CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => {
                            t.sport = be16(a)?
                        }
                        CTA_PROTO_DST_PORT => t.dport = be16(a)?,
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                            icmp_type = *exact(a, 1)?.first().ok_or(Malformed)? as u16
                        }
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                            icmp_code = *exact(a, 1)?.first().ok_or(Malformed)? as u16
                        }
                        _ => {}
                    }
                }
                if t.proto == IPPROTO_ICMP || t.proto == IPPROTO_ICMPV6 {
                    t.dport = icmp_type << 8 | icmp_code;
                }
            }
            _ => {}
        }
    }
    if t.proto == 0 && !buf.is_empty() {
        // A tuple without CTA_PROTO_NUM cannot be shown or keyed.
        return Err(Malformed);
    }
    Ok(())
}

/// Length and type (flags masked) of the attribute header at `off`.
pub(super) fn head(buf: &[u8], off: usize) -> (usize, u16) {
    match buf.get(off..off + 4) {
        Some(&[l0, l1, t0, t1]) => (
            usize::from(u16::from_ne_bytes([l0, l1])),
            u16::from_ne_bytes([t0, t1]) & 0x3fff,
        ),
        _ => (0, 0),
    }
}

/// An attribute header (length, type) as the 32-bit word it is in host
/// order, to compare a header with one load.
const fn hw(len: u16, kind: u16) -> u32 {
    let (l, k) = (len.to_ne_bytes(), kind.to_ne_bytes());
    u32::from_ne_bytes([l[0], l[1], k[0], k[1]])
}

/// A header word with its type's flag bits (nested, byte order) off.
pub(super) const HW_MASK: u32 = hw(0xffff, 0x3fff);

/// The header word at `off` (0 past the end), flags masked.
#[inline(always)]
pub(super) fn word(b: &[u8], off: usize) -> u32 {
    // One load and one bounds check (a match on the four bytes compiled to
    // four loads and shifts; `get(off..)` then `first_chunk` to two
    // checks, 70 instructions an entry in `Layout::fits`).
    match b.get(off..off.saturating_add(4)) {
        Some(w) => u32::from_ne_bytes(w.try_into().unwrap_or([0; 4])) & HW_MASK,
        None => 0,
    }
}

/// A steady refresh decodes a tuple per entry: the kernel's usual one
/// (the IP nest with both addresses, then the proto nest with number,
/// source and destination port, nothing else) is read at its fixed
/// offsets, its seven headers compared as words. False for any other
/// layout (ICMP, a zone, another order): the loop reads it, as it would
/// this.
fn tuple_as_usual(buf: &[u8], t: &mut Tuple) -> bool {
    match buf.len() {
        48 => usual_at::<4>(buf, CTA_IP_V4_SRC, t),
        72 => usual_at::<16>(buf, CTA_IP_V6_SRC, t),
        _ => false,
    }
}

/// `tuple_as_usual` for addresses of N bytes (constant offsets: no
/// bounds check and no call to memmove survives).
#[inline(always)]
fn usual_at<const N: usize>(buf: &[u8], src: u16, t: &mut Tuple) -> bool {
    let ip = 4 + 2 * (4 + N);
    let Some(b) = buf.get(..ip + 28) else {
        return false;
    };
    let usual = (word(b, 0) ^ hw(ip as u16, CTA_TUPLE_IP))
        | (word(b, 4) ^ hw(4 + N as u16, src))
        | (word(b, 8 + N) ^ hw(4 + N as u16, src + 1))
        | (word(b, ip) ^ hw(28, CTA_TUPLE_PROTO))
        | (word(b, ip + 4) ^ hw(5, CTA_PROTO_NUM))
        | (word(b, ip + 12) ^ hw(6, CTA_PROTO_SRC_PORT))
        | (word(b, ip + 20) ^ hw(6, CTA_PROTO_DST_PORT))
        == 0;
    let proto = b[ip + 8];
    if !usual || proto == 0 || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 {
        return false;
    }
    t.src[..N].copy_from_slice(&b[8..8 + N]);
    t.dst[..N].copy_from_slice(&b[12 + N..12 + 2 * N]);
    t.proto = proto;
    t.sport = u16::from_be_bytes([b[ip + 16], b[ip + 17]]);
    t.dport = u16::from_be_bytes([b[ip + 24], b[ip + 25]]);
    true
}

/// The protocol state of a protoinfo nest. The usual nest is read here,
/// inlined where a layout reads it; any other by `protoinfo_loop`.
#[inline(always)]
pub(super) fn decode_protoinfo(buf: &[u8]) -> Result<u8, Malformed> {
    // The kernel's TCP nest starts with the state: what the loop returns
    // when it meets it first.
    let len = buf.len().min(usize::from(u16::MAX)) as u16;
    if len >= 12
        && (word(buf, 0) ^ hw(len, CTA_PROTOINFO_TCP)) | (word(buf, 4) ^ hw(5, CTA_PROTOINFO_STATE))
            == 0
    {
        return Ok(buf[8]);
    }
    protoinfo_loop(buf)
}

#[inline(never)]
fn protoinfo_loop(buf: &[u8]) -> Result<u8, Malformed> {
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        if matches!(
            kind,
            CTA_PROTOINFO_TCP | CTA_PROTOINFO_DCCP | CTA_PROTOINFO_SCTP
        ) {
            for s in Attrs(v) {
                let (kind, v) = s?;
                if kind == CTA_PROTOINFO_STATE {
                    return exact(v, 1)?.first().copied().ok_or(Malformed);
                }
            }
        }
    }
    Ok(NO_STATE)
}

/// The byte and packet counters of a counters nest: the usual one read
/// here (inlined where a layout reads it), any other by `counters_loop`.
#[inline(always)]
pub(super) fn decode_counters(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    // The kernel's usual nest, packets then bytes, 64-bit, unpadded, at
    // its fixed offsets (the loop reads the same from it).
    if let Some(b) = buf.get(..24).filter(|_| buf.len() == 24) {
        if (word(b, 0) ^ hw(12, CTA_COUNTERS_PACKETS)) | (word(b, 12) ^ hw(12, CTA_COUNTERS_BYTES))
            == 0
        {
            return Ok((be64(&b[16..24])?, be64(&b[4..12])?));
        }
    }
    counters_loop(buf)
}

#[inline(never)]
fn counters_loop(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    let (mut bytes, mut packets) = (0, 0);
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        match kind {
            CTA_COUNTERS_PACKETS => packets = be64(v)?,
            CTA_COUNTERS_BYTES => bytes = be64(v)?,
            // Very old kernels sent 32-bit counters.
            CTA_COUNTERS32_PACKETS => packets = be32(v)? as u64,
            CTA_COUNTERS32_BYTES => bytes = be32(v)? as u64,
            _ => {}
        }
    }
    Ok((bytes, packets))
}

/// The start and stop of a timestamp nest: a live entry's (the start
/// alone, unpadded) read here, inlined; any other by `timestamp_loop`.
#[inline(always)]
pub(super) fn decode_timestamp(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    if let Some(b) = buf.get(..12).filter(|_| buf.len() == 12) {
        if word(b, 0) == hw(12, CTA_TIMESTAMP_START) {
            return Ok((be64(&b[4..12])?, 0));
        }
    }
    timestamp_loop(buf)
}

#[inline(never)]
fn timestamp_loop(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    let (mut start, mut stop) = (0, 0);
    for nla in Attrs(buf) {
        let (kind, v) = nla?;
        match kind {
            CTA_TIMESTAMP_START => start = be64(v)?,
            CTA_TIMESTAMP_STOP => stop = be64(v)?,
            _ => {}
        }
    }
    Ok((start, stop))
}

fn exact(v: &[u8], n: usize) -> Result<&[u8], Malformed> {
    if v.len() == n {
        Ok(v)
    } else {
        Err(Malformed)
    }
}

pub(super) fn be16(v: &[u8]) -> Result<u16, Malformed> {
    let a: [u8; 2] = v.try_into().map_err(|_| Malformed)?;
    Ok(u16::from_be_bytes(a))
}

pub(super) fn be32(v: &[u8]) -> Result<u32, Malformed> {
    let a: [u8; 4] = v.try_into().map_err(|_| Malformed)?;
    Ok(u32::from_be_bytes(a))
}

fn be64(v: &[u8]) -> Result<u64, Malformed> {
    let a: [u8; 8] = v.try_into().map_err(|_| Malformed)?;
    Ok(u64::from_be_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::attr;

    /// The fixed-offset reads give what the loops give, on the layout
    /// the kernel (and `encode_tuple`) writes.
    #[test]
    fn usual_layouts_read_as_the_loops() {
        for (n, proto) in [(4, 6), (16, 17), (4, 132)] {
            let t = Tuple {
                src: [7; 16],
                dst: [9; 16],
                sport: 4242,
                dport: 443,
                proto,
            };
            let mut b = Vec::new();
            encode_tuple(&mut b, &t, n);
            let (mut fast, mut slow) = (Tuple::default(), Tuple::default());
            assert!(tuple_as_usual(&b[4..], &mut fast));
            // An attribute nothing reads: the loop's turn.
            let mut more = b[4..].to_vec();
            attr::put(&mut more, 9, &[0; 4]);
            assert!(!tuple_as_usual(&more, &mut Tuple::default()));
            decode_tuple(&more, &mut slow).unwrap();
            assert_eq!(fast, slow);
        }
        let mut c = Vec::new();
        attr::put(&mut c, CTA_COUNTERS_PACKETS, &5u64.to_be_bytes());
        attr::put(&mut c, CTA_COUNTERS_BYTES, &700u64.to_be_bytes());
        assert_eq!(decode_counters(&c).ok(), Some((700, 5)));
        attr::put(&mut c, 9, &[0; 4]);
        assert_eq!(decode_counters(&c).ok(), Some((700, 5)));
        // The TCP state first in its nest, then as the loop finds it
        // after another attribute.
        for (first, state) in [(true, 3u8), (false, 8)] {
            let mut p = Vec::new();
            let tcp = attr::open(&mut p);
            if !first {
                attr::put(&mut p, 2, &[7]);
            }
            attr::put(&mut p, CTA_PROTOINFO_STATE, &[state]);
            attr::put(&mut p, 2, &[7]);
            attr::close(&mut p, tcp, CTA_PROTOINFO_TCP);
            assert_eq!(decode_protoinfo(&p).ok(), Some(state));
            assert_eq!(decode_protoinfo(&p[..p.len() - 4]).ok(), None, "cut");
        }
        let mut ts = Vec::new();
        attr::put(&mut ts, CTA_TIMESTAMP_START, &9u64.to_be_bytes());
        assert_eq!(decode_timestamp(&ts).ok(), Some((9, 0)));
        attr::put(&mut ts, CTA_TIMESTAMP_STOP, &11u64.to_be_bytes());
        assert_eq!(decode_timestamp(&ts).ok(), Some((9, 11)));
    }
}
