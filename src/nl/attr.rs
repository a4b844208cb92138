//! Netlink attributes (type-length-value): the one checked walk that
//! every reader uses, the one writer with nests that every request uses,
//! and the errno of an NLMSG_ERROR.

/// Why an entry was skipped. Carries no data: counting is all callers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The flag bits of nla_type (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;
pub const NLA_F_NESTED: u16 = 0x8000;

/// A checked walk over netlink attributes, yielding (type, value). A
/// header that does not fit, or a length that is too short or runs past
/// the buffer, is an error and ends the walk.
pub struct Attrs<'a>(pub &'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = std::result::Result<(u16, &'a [u8]), Malformed>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0;
        if b.is_empty() {
            return None;
        }
        let Some(&[l0, l1, t0, t1]) = b.first_chunk::<4>() else {
            self.0 = &[];
            return Some(Err(Malformed));
        };
        let len = u16::from_ne_bytes([l0, l1]) as usize;
        if len < 4 || len > b.len() {
            self.0 = &[];
            return Some(Err(Malformed));
        }
        self.0 = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some(Ok((
            u16::from_ne_bytes([t0, t1]) & NLA_TYPE_MASK,
            &b[4..len],
        )))
    }
}

/// The errno of an NLMSG_ERROR payload as a positive number (0 = ACK).
/// The kernel sends `-errno`; a hostile `i32::MIN` must not overflow
/// (fuzzing found the negation aborting debug builds).
pub fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).wrapping_neg())
        .unwrap_or(0)
}

/// Appends one attribute, padded to 4 bytes (NLA_ALIGN; `buf` holds
/// whole messages before this one, so its length is their alignment).
pub fn put(buf: &mut Vec<u8>, kind: u16, v: &[u8]) {
    buf.extend_from_slice(&(4 + v.len() as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(v);
    buf.resize((buf.len() + 3) & !3, 0);
}

/// Starts a nest: its header, completed by `close` (not a closure taking
/// the contents: one copy of the code, not one per nest).
pub fn open(buf: &mut Vec<u8>) -> usize {
    buf.extend_from_slice(&[0; 4]);
    buf.len() - 4
}

/// Completes the nest opened at `at` as attribute `kind`.
pub fn close(buf: &mut [u8], at: usize, kind: u16) {
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    buf[at + 2..at + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}
