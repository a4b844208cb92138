//! The top-level layouts a dump's messages come in (a handful per table:
//! one per family, protocol, and mark or not), so that a message laid out
//! as an earlier one is read at that one's offsets instead of walked.
//! Exactly what the walk (`decode_top_loop`) reads, for any bytes: a
//! message fits a layout only with the same length and the same header
//! word at every offset of it, and a type sent twice is the walk's.

use super::decode::{
    decode_counters, decode_protoinfo, decode_timestamp, decode_top_loop, decode_tuple, head, word,
    HW_MASK,
};
use super::*;
use crate::nl::attr::Malformed;

/// Attributes a layout holds at most (the kernel sends about 12).
const MAX_ATTRS: usize = 16;

/// The top level of a message as the kernel lays it out for one kind of
/// entry (family, protocol, mark or not): each attribute's header word
/// and offset, and where the value of each type is.
///
/// Walking attributes is a chain of loads, each waiting for the length
/// before it (the hottest instructions of a steady refresh's decoding in
/// `perf`). Checking a body against a known layout reads the same headers
/// with loads that do not wait on one another.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    len: u16,
    n: u8,
    offs: [u16; MAX_ATTRS],
    heads: [u32; MAX_ATTRS],
    /// Per type below 32: its value's offset (0: absent) and length.
    at: [(u16, u16); 32],
}

/// The top-level scalars and the length the loop takes each at (CTA_TIMEOUT
/// and CTA_USE are checked, not kept).
const SCALARS: [(u16, u16); 6] = [
    (CTA_STATUS, 4),
    (CTA_TIMEOUT, 4),
    (CTA_USE, 4),
    (CTA_MARK, 4),
    (CTA_ID, 4),
    (CTA_ZONE, 2),
];

/// The layouts of a dump's messages so far, one per slot of 32 by body
/// length in 4-byte units (the kinds of entries differ in length; two of
/// one length take turns): the dump's reader keeps them on its stack
/// (7 KiB).
#[derive(Default)]
pub struct Layouts([Option<Layout>; 32]);

impl Layouts {
    /// `read_lazy` with the original tuple decoded, and the stop
    /// timestamp: what the tests hold against the loop.
    #[cfg(test)]
    pub(super) fn read<'a>(
        &mut self,
        body: &'a [u8],
        out: &mut Conn,
    ) -> Result<(u64, &'a [u8]), Malformed> {
        match self.layout(body)? {
            Some(l) => l.read(body, out, false).map(|(stop, n)| (stop, n.reply)),
            None => decode_top_loop(body, out),
        }
    }

    /// `read` with the original tuple left as its nest's bytes when the
    /// body fits a layout (`Nests`; its values are the same nest's as
    /// the loop's: the layout has one of each type).
    pub(super) fn read_lazy<'a>(
        &mut self,
        body: &'a [u8],
        out: &mut Conn,
    ) -> Result<Nests<'a>, Malformed> {
        match self.layout(body)? {
            Some(l) => l.read(body, out, true).map(|(_, n)| n),
            None => {
                let (_, reply) = decode_top_loop(body, out)?;
                Ok(Nests { orig: None, reply })
            }
        }
    }

    /// The layout `body` fits, learnt from it if its slot's does not fit
    /// it; None for a body the loop reads (`Layout::of`).
    fn layout(&mut self, body: &[u8]) -> Result<Option<&Layout>, Malformed> {
        let slot = &mut self.0[(body.len() >> 2) & 31];
        if !slot.as_ref().is_some_and(|l| l.fits(body)) {
            match Layout::of(body)? {
                Some(l) => *slot = Some(l),
                None => return Ok(None),
            }
        }
        Ok(slot.as_ref())
    }
}

impl Layout {
    /// The layout of `body`: Err when its walk is malformed (as the
    /// loop's would be), None for what the loop reads instead (a type
    /// twice, more than `MAX_ATTRS`, over 64 KiB, a scalar of a wrong
    /// length).
    pub(super) fn of(body: &[u8]) -> Result<Option<Layout>, Malformed> {
        let mut l = Layout {
            len: 0,
            n: 0,
            offs: [0; MAX_ATTRS],
            heads: [0; MAX_ATTRS],
            at: [(0, 0); 32],
        };
        let Ok(len) = u16::try_from(body.len()) else {
            return Ok(None);
        };
        l.len = len;
        let (mut off, mut n) = (0, 0);
        while off < body.len() {
            let (len, kind) = head(body, off);
            if len < 4 || len > body.len() - off {
                return Err(Malformed);
            }
            if n == MAX_ATTRS {
                return Ok(None);
            }
            l.offs[n] = off as u16;
            l.heads[n] = word(body, off);
            n += 1;
            if let Some(at) = l.at.get_mut(usize::from(kind)) {
                if at.0 != 0 {
                    return Ok(None);
                }
                *at = (off as u16 + 4, len as u16 - 4);
            }
            off = (off + len + 3) & !3;
        }
        l.n = n as u8;
        // A scalar of a wrong length is the loop's error to report: the
        // layouts' scalars are as long as `read` takes them.
        let wrong = |(kind, want): (u16, u16)| {
            let (off, len) = l.at[usize::from(kind)];
            off != 0 && len != want
        };
        if SCALARS.into_iter().any(wrong) {
            return Ok(None);
        }
        Ok(Some(l))
    }

    /// The big-endian value of `N` bytes of scalar `kind` (0 when absent,
    /// as `start` leaves it; its length is the layout's).
    #[inline(always)]
    fn scalar<const N: usize>(&self, body: &[u8], kind: u16) -> [u8; N] {
        let off = usize::from(self.at[usize::from(kind)].0);
        match body.get(off..off + N) {
            Some(v) if off != 0 => v.try_into().unwrap_or([0; N]),
            _ => [0; N],
        }
    }

    /// Whether `body` has this layout: the same length, and the same
    /// header word at each offset (so the same attributes, in order).
    fn fits(&self, body: &[u8]) -> bool {
        if usize::from(self.len) != body.len() || body.len() < 4 {
            return false;
        }
        // Every offset is at most `last` (the walk found a header there in
        // a body as long): clamped to it, each read needs no bounds check
        // (callgrind: 35 instructions an entry fewer than `word`'s).
        let last = body.len() - 4;
        let n = usize::from(self.n).min(MAX_ATTRS);
        let mut diff = 0;
        for (&off, &h) in self.offs[..n].iter().zip(&self.heads[..n]) {
            let off = usize::from(off).min(last);
            let w = <[u8; 4]>::try_from(&body[off..off + 4]).unwrap_or([0; 4]);
            diff |= (u32::from_ne_bytes(w) & HW_MASK) ^ h;
        }
        diff == 0
    }

    #[inline(always)]
    fn get<'a>(&self, body: &'a [u8], kind: u16) -> Option<&'a [u8]> {
        let (off, len) = self.at[usize::from(kind)];
        let off = usize::from(off);
        (off != 0).then(|| body.get(off..off + usize::from(len)).unwrap_or(&[]))
    }

    /// What the loop reads, from where the layout has it; with `lazy`
    /// the original tuple is not decoded but returned as its nest.
    fn read<'a>(
        &self,
        body: &'a [u8],
        out: &mut Conn,
        lazy: bool,
    ) -> Result<(u64, Nests<'a>), Malformed> {
        let orig = self.get(body, CTA_TUPLE_ORIG).ok_or(Malformed)?;
        if !lazy {
            decode_tuple(orig, &mut out.orig)?;
        }
        let reply = self.get(body, CTA_TUPLE_REPLY).unwrap_or(&[]);
        out.status = u32::from_be_bytes(self.scalar(body, CTA_STATUS));
        if let Some(v) = self.get(body, CTA_PROTOINFO) {
            out.state = decode_protoinfo(v)?;
        }
        out.mark = u32::from_be_bytes(self.scalar(body, CTA_MARK));
        out.id = u32::from_be_bytes(self.scalar(body, CTA_ID));
        out.zone = u16::from_be_bytes(self.scalar(body, CTA_ZONE));
        if let Some(v) = self.get(body, CTA_COUNTERS_ORIG) {
            (out.orig_bytes, out.packets[0]) = decode_counters(v)?;
            out.has_counters = true;
        }
        if let Some(v) = self.get(body, CTA_COUNTERS_REPLY) {
            (out.reply_bytes, out.packets[1]) = decode_counters(v)?;
            out.has_counters = true;
        }
        let mut stop = 0;
        if let Some(v) = self.get(body, CTA_TIMESTAMP) {
            (out.start, stop) = decode_timestamp(v)?;
        }
        let orig = lazy.then_some(orig);
        Ok((stop, Nests { orig, reply }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::attr;

    type Read = (Result<(u64, Vec<u8>), Malformed>, Conn);

    /// A body read through `layouts`, and by the loop.
    fn both(body: &[u8], layouts: &mut Layouts) -> [Read; 2] {
        let (mut a, mut b) = (Conn::default(), Conn::default());
        let fast = layouts.read(body, &mut a);
        let slow = decode_top_loop(body, &mut b);
        let own = |r: Result<(u64, &[u8]), Malformed>| r.map(|(s, reply)| (s, reply.to_vec()));
        [(own(fast), a), (own(slow), b)]
    }

    /// The layouts read what the loop reads, on every entry of the
    /// recorded router bed's dump (TCP, UDP, ICMP, both families, GRE,
    /// SCTP, zones, marks, synproxy), each once more from its layout, cut
    /// short, with a type twice, and with two attributes of the same
    /// length swapped (the same length, another layout).
    #[test]
    fn layouts_read_as_the_loop() {
        let (mut entries, mut layouts) = (0, Layouts::default());
        for body in crate::conntrack::fastpath_tests::fixture_bodies() {
            let body = &body[..];
            for _ in 0..2 {
                let [fast, slow] = both(body, &mut layouts);
                assert!(fast.0.is_ok());
                assert_eq!(fast, slow);
            }
            for cut in [3, 7, body.len() / 2, body.len() - 1] {
                let [f, s] = both(&body[..cut], &mut layouts);
                assert_eq!(f.0.is_ok(), s.0.is_ok(), "cut at {cut}");
                if f.0.is_ok() {
                    assert_eq!(f, s);
                }
            }
            let mut twice = body.to_vec();
            attr::put(&mut twice, CTA_MARK, &7u32.to_be_bytes());
            assert!(Layout::of(&twice).unwrap().is_none());
            let [f, s] = both(&twice, &mut layouts);
            assert_eq!(f, s);
            // CTA_STATUS and CTA_ID (both 8 bytes) change places.
            let l = Layout::of(body).unwrap().unwrap();
            let (st, id) = (l.at[CTA_STATUS as usize].0, l.at[CTA_ID as usize].0);
            if st != 0 && id != 0 {
                let mut swapped = body.to_vec();
                let (st, id) = (usize::from(st) - 2, usize::from(id) - 2);
                swapped[st..st + 2].copy_from_slice(&CTA_ID.to_ne_bytes());
                swapped[id..id + 2].copy_from_slice(&CTA_STATUS.to_ne_bytes());
                let _ = both(body, &mut layouts);
                let [f, s] = both(&swapped, &mut layouts);
                assert_eq!(f, s);
                assert_ne!(f.1.id, 0);
            }
            entries += 1;
        }
        assert!(entries >= 20, "{entries} entries read");
    }
}
