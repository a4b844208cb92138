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

/// Like `decode`, except the reply tuple: returned as the bytes of its
/// nest (empty when absent), for `decode_reply`. A dump's reader needs it
/// only for entries it has not seen yet; it is a quarter of the decoding.
pub fn decode_lazy<'a>(payload: &'a [u8], out: &mut Conn) -> Result<&'a [u8], Malformed> {
    decode_top(payload, out).map(|(_, reply)| reply)
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

/// Every attribute but the reply tuple's contents, which are returned as
/// the nest's bytes, with CTA_TIMESTAMP_STOP.
fn decode_top<'a>(payload: &'a [u8], out: &mut Conn) -> Result<(u64, &'a [u8]), Malformed> {
    let mut stop = 0;
    let mut reply: &[u8] = &[];
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
    let mut seen_orig = false;
    for nla in Attrs(&payload[NFGENMSG_LEN..]) {
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

fn decode_tuple(buf: &[u8], t: &mut Tuple) -> Result<(), Malformed> {
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
fn head(buf: &[u8], off: usize) -> (usize, u16) {
    match buf.get(off..off + 4) {
        Some(&[l0, l1, t0, t1]) => (
            usize::from(u16::from_ne_bytes([l0, l1])),
            u16::from_ne_bytes([t0, t1]) & 0x3fff,
        ),
        _ => (0, 0),
    }
}

/// A steady refresh decodes two tuples per entry: the kernel's usual one
/// (the IP nest with both addresses, then the proto nest with number,
/// source and destination port, nothing else) is read at its fixed
/// offsets, without a branch per attribute. False for any other layout
/// (ICMP, a zone, another order): the loop reads it, as it would this.
fn tuple_as_usual(buf: &[u8], t: &mut Tuple) -> bool {
    let (n, src) = match buf.len() {
        48 => (4, CTA_IP_V4_SRC),
        72 => (16, CTA_IP_V6_SRC),
        _ => return false,
    };
    let ip = 4 + 2 * (4 + n);
    let usual = head(buf, 0) == (ip, CTA_TUPLE_IP)
        && head(buf, 4) == (4 + n, src)
        && head(buf, 8 + n) == (4 + n, src + 1)
        && head(buf, ip) == (28, CTA_TUPLE_PROTO)
        && head(buf, ip + 4) == (5, CTA_PROTO_NUM)
        && head(buf, ip + 12) == (6, CTA_PROTO_SRC_PORT)
        && head(buf, ip + 20) == (6, CTA_PROTO_DST_PORT);
    let proto = buf[ip + 8];
    if !usual || proto == 0 || proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 {
        return false;
    }
    // Constant lengths: moves, not calls to memmove.
    if n == 16 {
        t.src.copy_from_slice(&buf[8..24]);
        t.dst.copy_from_slice(&buf[28..44]);
    } else {
        t.src[..4].copy_from_slice(&buf[8..12]);
        t.dst[..4].copy_from_slice(&buf[16..20]);
    }
    t.proto = proto;
    t.sport = u16::from_be_bytes([buf[ip + 16], buf[ip + 17]]);
    t.dport = u16::from_be_bytes([buf[ip + 24], buf[ip + 25]]);
    true
}

fn decode_protoinfo(buf: &[u8]) -> Result<u8, Malformed> {
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

/// The byte and packet counters of a counters nest.
fn decode_counters(buf: &[u8]) -> Result<(u64, u64), Malformed> {
    // The kernel's usual nest, packets then bytes, 64-bit, unpadded, at
    // its fixed offsets (the loop reads the same from it).
    if buf.len() == 24
        && head(buf, 0) == (12, CTA_COUNTERS_PACKETS)
        && head(buf, 12) == (12, CTA_COUNTERS_BYTES)
    {
        return Ok((be64(&buf[16..])?, be64(&buf[4..12])?));
    }
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

fn decode_timestamp(buf: &[u8]) -> Result<(u64, u64), Malformed> {
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

fn be16(v: &[u8]) -> Result<u16, Malformed> {
    let a: [u8; 2] = v.try_into().map_err(|_| Malformed)?;
    Ok(u16::from_be_bytes(a))
}

fn be32(v: &[u8]) -> Result<u32, Malformed> {
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
    }
}
