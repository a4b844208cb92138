//! The one netlink layer every netlink user goes through: the message
//! header and its constants, the attribute walk and writer (`attr`), the
//! request builder with nests, the one reader of answers (`read_replies`)
//! and the one socket (`socket`). ctnetlink (conntrack/, netlink.rs,
//! ctentry.rs, events.rs) and rtnetlink (route/wire.rs, route/socket.rs)
//! sit on top; nothing here knows either protocol.
//!
//! Byte order: netlink headers and attribute headers are host order
//! (`linux/netlink.h`); payload integers are the protocol's business.

pub mod attr;
pub mod socket;
#[cfg(test)]
mod tests;

pub use attr::{error_code, Attrs, Malformed};
pub use socket::NlSocket;

/// The receive buffer of a socket that reads dumps: the kernel's dump
/// datagrams are at most about 32 KiB (one page-sized skb, or 32 KiB on
/// large-page systems), so 64 KiB never truncates one.
pub const RECV_BUF: usize = 64 * 1024;
/// sizeof(struct nlmsghdr).
pub const NLMSG_HDRLEN: usize = 16;
// Message types below NLMSG_MIN_TYPE (linux/netlink.h).
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
// nlmsg_flags.
pub const NLM_F_REQUEST: u16 = 1;
pub const NLM_F_ACK: u16 = 4;
/// The table changed while it was dumped: entries may be missing or
/// doubled in this answer.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;

/// A checked view of one netlink message header (host byte order).
#[derive(Debug, Clone, Copy)]
pub struct MsgHeader {
    pub len: usize,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub port: u32,
}

impl MsgHeader {
    /// Reads the header at the start of `buf`; None when `buf` is too short
    /// or the length field does not fit in `buf`.
    pub fn parse(buf: &[u8]) -> Option<MsgHeader> {
        let h: &[u8; NLMSG_HDRLEN] = buf.get(..NLMSG_HDRLEN)?.try_into().ok()?;
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        Some(MsgHeader {
            len,
            kind: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            port: u32::from_ne_bytes([h[12], h[13], h[14], h[15]]),
        })
    }
}

/// The netlink messages of one datagram: (header, payload after the
/// header). Stops at the first header that does not fit; `rest()` tells
/// whether bytes were left over (a truncated message).
pub struct Messages<'a> {
    buf: &'a [u8],
    off: usize,
}

pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf, off: 0 }
}

impl<'a> Messages<'a> {
    /// Bytes not consumed as whole messages.
    pub fn rest(&self) -> usize {
        self.buf.len().saturating_sub(self.off)
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = (MsgHeader, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let h = MsgHeader::parse(self.buf.get(self.off..)?)?;
        let payload = &self.buf[self.off + NLMSG_HDRLEN..self.off + h.len];
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        self.off = (self.off + h.len + 3) & !3;
        Some((h, payload))
    }
}

/// Which messages answer our requests: sequence numbers `seq` to
/// `seq + last` (a batch of lookups numbers its requests in a row), sent
/// to our `port` (0: from any port, as multicast events are).
#[derive(Debug, Clone, Copy)]
pub struct Ours {
    pub seq: u32,
    pub last: u32,
    pub port: u32,
}

impl Ours {
    /// Every message: what a multicast subscription reads.
    pub const ANY: Ours = Ours {
        seq: 0,
        last: u32::MAX,
        port: 0,
    };

    /// The answers to one request.
    pub fn one(seq: u32, port: u32) -> Ours {
        Ours { seq, last: 0, port }
    }

    /// The request index of a header of ours (its sequence number minus
    /// the first), None for a message that is not ours.
    fn index(&self, h: &MsgHeader) -> Option<u32> {
        let i = h.seq.wrapping_sub(self.seq);
        (i <= self.last && (self.port == 0 || h.port == self.port)).then_some(i)
    }
}

/// One message of an answer, as `read_replies` hands it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A message of the protocol: (request index, type, payload).
    Msg(u32, u16, &'a [u8]),
    /// NLMSG_ERROR: (request index, errno as a positive number); 0 is an
    /// ACK.
    Error(u32, i32),
    /// NLMSG_DONE: the end of a dump.
    Done,
}

/// What reading one datagram found besides the messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// The callback ended the answer (at its DONE, ERROR or ACK).
    pub ended: bool,
    /// A message of ours had NLM_F_DUMP_INTR.
    pub interrupted: bool,
    /// Bytes were left over that are no whole message, or the datagram
    /// was larger than the buffer (MSG_TRUNC): messages were lost.
    pub truncated: bool,
}

/// The one reader of netlink answers: walks one datagram and hands each
/// message of ours (`ours`) to `f` as a `Reply`; the walk stops when `f`
/// returns true (the answer is complete). Other messages (left over from
/// an interrupted dump, or answers to another socket's request) are
/// skipped. `datagram_len` is what the receive returned: more than
/// `data.len()` when the kernel's datagram did not fit.
pub fn read_replies<'a>(
    data: &'a [u8],
    datagram_len: usize,
    ours: Ours,
    mut f: impl FnMut(Reply<'a>) -> bool,
) -> Walk {
    let mut w = Walk {
        truncated: datagram_len > data.len(),
        ..Walk::default()
    };
    let mut msgs = messages(data);
    for (h, payload) in msgs.by_ref() {
        let Some(i) = ours.index(&h) else { continue };
        w.interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
        let r = match h.kind {
            NLMSG_DONE => Reply::Done,
            NLMSG_ERROR => Reply::Error(i, error_code(payload)),
            k => Reply::Msg(i, k, payload),
        };
        if f(r) {
            w.ended = true;
            return w;
        }
    }
    w.truncated |= msgs.rest() > 0;
    w
}

/// Starts a request in `buf` (after what it holds: a batch is several):
/// the header with `kind`, `flags` and `seq`, then the protocol's fixed
/// header `family`. Returns where it starts, for `finish`.
pub fn begin(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: &[u8]) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&[0; 4]); // port id: the kernel fills it in
    buf.extend_from_slice(family);
    at
}

/// Completes the request started at `at`: its length.
pub fn finish(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Patches the sequence number of a request built once and sent many
/// times.
pub fn set_seq(req: &mut [u8], seq: u32) {
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
}
