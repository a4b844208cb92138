//! The decoder's fast paths against its loops on hostile bytes: the real
//! messages of the recorded router bed, mutated (lengths that lie, types
//! retyped or sent twice, flag bits, bytes flipped, cut short, spliced
//! from two messages), through one `Layouts` that keeps what earlier
//! hostile messages taught it. The same cases every run (a fixed seed).
//!
//! A fast path is checked against the loop of the same function: an
//! unknown attribute put before a value makes every fast path decline it
//! (each needs a known header at offset 0) and the loop skips it, so both
//! must read the same from the rest.

use super::decode::{
    decode_counters, decode_protoinfo, decode_timestamp, decode_top_loop, decode_tuple,
};
use super::layout::Layout;
use super::*;
use crate::nl::attr::{self, Attrs};

/// The bodies (attributes after nfgenmsg) of the conntrack messages of
/// tests/fixtures/bed-dump.bin, in this CPU's byte order: the recording's
/// netlink and attribute headers are little-endian (x86_64), and `make
/// test-foreign` runs these tests on big-endian CPUs too.
pub(super) fn fixture_bodies() -> Vec<Vec<u8>> {
    let rec: &[u8] = include_bytes!("../../tests/fixtures/bed-dump.bin");
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let (mut off, mut out) = (0, Vec::new());
    while off + 4 <= rec.len() {
        let dgram = &rec[off + 4..off + 4 + le32(rec, off) as usize];
        off += 4 + dgram.len();
        let mut at = 0;
        while at + 20 <= dgram.len() {
            let len = le32(dgram, at) as usize;
            if len < 16 || at + len > dgram.len() {
                break;
            }
            if dgram[at + 5] == 1 && len > 20 {
                let (recorded, mut body) = (&dgram[at + 20..at + len], Vec::new());
                host_order(recorded, &mut body);
                if cfg!(target_endian = "little") {
                    assert_eq!(body, recorded, "rebuilt as recorded");
                }
                out.push(body);
            }
            at += (len + 3) & !3;
        }
    }
    out
}

/// Attributes with little-endian headers rebuilt into `out` with this
/// CPU's, down the nests (values are big-endian on every CPU).
fn host_order(b: &[u8], out: &mut Vec<u8>) {
    let mut off = 0;
    while let Some(&[l0, l1, t0, t1]) = b.get(off..off + 4) {
        let (len, kind) = (u16::from_le_bytes([l0, l1]), u16::from_le_bytes([t0, t1]));
        let Some(v) = b.get(off + 4..off + usize::from(len.max(4))) else {
            return;
        };
        if kind & attr::NLA_F_NESTED != 0 {
            let nest = attr::open(out);
            host_order(v, out);
            attr::close(out, nest, kind & !attr::NLA_F_NESTED);
        } else {
            attr::put(out, kind, v);
        }
        off = (off + usize::from(len) + 3) & !3;
    }
}

/// xorshift64*: no dependency, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as usize % n.max(1)
    }
}

/// The offsets of the attribute headers of `b` down to nests of nests
/// (as far as the walk goes before a header lies).
fn headers(b: &[u8], base: usize, depth: u32, out: &mut Vec<(usize, usize)>) {
    let mut off = 0;
    while let Some(&[l0, l1, t0, t1]) = b.get(off..off + 4) {
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        if len < 4 || off + len > b.len() {
            return;
        }
        out.push((base + off, len));
        if depth < 3 && u16::from_ne_bytes([t0, t1]) & 0x8000 != 0 {
            headers(&b[off + 4..off + len], base + off + 4, depth + 1, out);
        }
        off = (off + len + 3) & !3;
    }
}

/// One mutation of `b` (`other`: another message, for splices).
fn mutate(r: &mut Rng, b: &[u8], other: &[u8]) -> Vec<u8> {
    let mut m = b.to_vec();
    let mut hs = Vec::new();
    headers(b, 0, 0, &mut hs);
    let (at, len) = hs.get(r.below(hs.len())).copied().unwrap_or((0, 0));
    match r.below(8) {
        // A length that lies: 0..7, one off, the rest of the body.
        0 if len > 0 => {
            let l = [0, 3, 4, 5, len - 1, len + 1, len + 4, b.len() - at][r.below(8)];
            m[at..at + 2].copy_from_slice(&(l as u16).to_ne_bytes());
        }
        // Another type, with or without the nested and byte-order flags.
        1 if len > 0 => {
            let t = [r.below(40) as u16, 0x3fff, r.below(0x10000) as u16][r.below(3)];
            let flags = [0, 0x8000, 0x4000, 0xc000][r.below(4)];
            m[at + 2..at + 4].copy_from_slice(&(t & 0x3fff | flags).to_ne_bytes());
        }
        // An attribute sent twice (at the end of the body).
        2 if len > 0 => {
            m.extend_from_slice(&b[at..at + len]);
            m.resize((m.len() + 3) & !3, 0);
        }
        // Cut short, or junk after.
        3 => m.truncate(r.below(b.len() + 1)),
        4 => m.extend((0..r.below(12)).map(|_| r.below(256) as u8)),
        // The head of one message and the tail of another.
        5 => {
            m.truncate(r.below(b.len() + 1));
            m.extend_from_slice(&other[r.below(other.len() + 1)..]);
        }
        // Bytes flipped anywhere.
        _ => {
            for _ in 0..=r.below(3) {
                let i = r.below(m.len());
                if let Some(x) = m.get_mut(i) {
                    *x ^= 1 << r.below(8);
                }
            }
        }
    }
    m
}

/// `v` after an attribute of a type nothing reads (30, empty).
fn behind_unknown(v: &[u8]) -> Vec<u8> {
    let mut p = 4u16.to_ne_bytes().to_vec();
    p.extend_from_slice(&30u16.to_ne_bytes());
    p.extend_from_slice(v);
    p
}

/// Each fast path reads `v` as its loop does (`v` the value of one
/// attribute found anywhere in a mutated body).
fn fast_paths_agree(v: &[u8]) {
    let slow = behind_unknown(v);
    assert_eq!(decode_counters(v), decode_counters(&slow), "{v:02x?}");
    assert_eq!(decode_timestamp(v), decode_timestamp(&slow), "{v:02x?}");
    assert_eq!(decode_protoinfo(v), decode_protoinfo(&slow), "{v:02x?}");
    if !v.is_empty() {
        // (An empty tuple is no tuple; one with only the unknown
        // attribute has no protocol and is refused.)
        let (mut a, mut b) = (Tuple::default(), Tuple::default());
        let (x, y) = (decode_tuple(v, &mut a), decode_tuple(&slow, &mut b));
        assert_eq!(x, y, "{v:02x?}");
        if x.is_ok() {
            assert_eq!(a, b, "{v:02x?}");
        }
    }
}

/// 40,000 mutated bodies (each read twice, so the second meets the
/// layout the first left) and the values inside them.
#[test]
fn hostile_bodies_read_as_the_loops() {
    let bodies = fixture_bodies();
    assert!(bodies.len() >= 20);
    let (mut r, mut layouts) = (Rng(0x6e66_746f_7021), Layouts::default());
    let (mut ok, mut via_layout) = (0, 0);
    for case in 0..40_000 {
        let base = &bodies[r.below(bodies.len())];
        let other = &bodies[r.below(bodies.len())];
        if case % 3 == 0 {
            // The real message first: its layout is in the slot.
            let _ = layouts.read(base, &mut Conn::default());
        }
        let mut b = mutate(&mut r, base, other);
        if r.below(4) == 0 {
            b = mutate(&mut r, &b, other);
        }
        for _ in 0..2 {
            let (mut x, mut y) = (Conn::default(), Conn::default());
            let fast = layouts.read(&b, &mut x);
            let slow = decode_top_loop(&b, &mut y);
            assert_eq!(fast, slow, "{b:02x?}");
            // On Err the entry is skipped: `out` is nobody's.
            if fast.is_ok() {
                assert_eq!(x, y, "{b:02x?}");
                ok += 1;
            }
            // The dump's reader: the original tuple left as its nest,
            // decoded after, reads the same (the same layout, read again).
            let mut z = Conn::default();
            let lazy = layouts.read_lazy(&b, &mut z).and_then(|n| {
                if let Some(raw) = n.orig {
                    decode_tuple(raw, &mut z.orig)?;
                }
                Ok(n.reply)
            });
            assert_eq!(lazy, fast.map(|(_, reply)| reply), "{b:02x?}");
            if lazy.is_ok() {
                assert_eq!(z, y, "{b:02x?}");
            }
        }
        via_layout += usize::from(Layout::of(&b).is_ok_and(|l| l.is_some()));
        let mut hs = Vec::new();
        headers(&b, 0, 0, &mut hs);
        for (at, len) in hs {
            fast_paths_agree(&b[at + 4..at + len]);
        }
    }
    // The mutations leave most bodies readable, and most of those go
    // through a layout: both paths are exercised.
    assert!(
        ok > 20_000 && via_layout > 10_000,
        "{ok} read, {via_layout} laid out"
    );
}

/// The attribute put in front is a whole one of type 30, which the loops
/// skip: the counters behind it read as without it.
#[test]
fn an_unknown_attribute_first_is_skipped_by_every_loop() {
    let mut c = Vec::new();
    attr::put(&mut c, CTA_COUNTERS_PACKETS, &5u64.to_be_bytes());
    attr::put(&mut c, CTA_COUNTERS_BYTES, &700u64.to_be_bytes());
    assert_eq!(decode_counters(&behind_unknown(&c)), Ok((700, 5)));
    let first = Attrs(&behind_unknown(&c))
        .next()
        .map(|a| a.map(|(k, v)| (k, v.len())));
    assert_eq!(first, Some(Ok((30, 0))));
}
