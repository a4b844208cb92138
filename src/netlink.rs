//! The conntrack netlink socket: one persistent NETLINK_NETFILTER socket,
//! one reused 64 KiB receive buffer, sequence and port-id checks.
//!
//! A dump is one `IPCTNL_MSG_CT_GET` request with `NLM_F_DUMP` and family
//! `AF_UNSPEC` (IPv4 and IPv6 together). The kernel answers in datagrams of
//! at most about 32 KiB, so 64 KiB never truncates; `MSG_TRUNC` is still
//! checked. Messages whose sequence number or port id are not ours (left
//! over from an interrupted dump) are ignored.

use crate::conntrack::{self, Conn};
use crate::error::{Error, Result};
use crate::nla::{error_code, Malformed};
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

pub const RECV_BUF: usize = 64 * 1024;
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u8 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
/// nlbwmon's "dump and zero the counters" request (used by tests to
/// reproduce OpenWrt's counter resets).
pub const IPCTNL_MSG_CT_GET_CTRZERO: u8 = 3;

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

/// What one dump produced besides the entries.
#[derive(Debug, Default, Clone, Copy)]
pub struct DumpStats {
    pub entries: u32,
    pub malformed: u32,
    /// NLM_F_DUMP_INTR: the table changed during the dump; some entries may
    /// be missing or doubled this time.
    pub interrupted: bool,
}

/// Progress of parsing one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    More,
    Done,
}

/// Parses one datagram of a dump answer, calling `on_conn` for every
/// decoded entry. `seq`/`port` select our messages. Errors are the
/// kernel's NLMSG_ERROR answers; malformed entries are counted in `stats`.
pub fn parse_datagram(
    data: &[u8],
    seq: u32,
    port: u32,
    scratch: &mut Conn,
    stats: &mut DumpStats,
    mut on_conn: impl FnMut(&Conn),
) -> Result<Step> {
    parse_entries(data, seq, port, scratch, stats, |c, reply| {
        conntrack::decode_reply(reply, c)?;
        on_conn(c);
        Ok(())
    })
}

/// Like `parse_datagram`, handing each entry with its reply tuple still
/// undecoded (`conntrack::decode_lazy`); `on_entry` completes it if it
/// needs it, and an Err from it counts the entry as malformed.
pub fn parse_entries(
    data: &[u8],
    seq: u32,
    port: u32,
    scratch: &mut Conn,
    stats: &mut DumpStats,
    mut on_entry: impl FnMut(&mut Conn, &[u8]) -> std::result::Result<(), Malformed>,
) -> Result<Step> {
    let mut msgs = messages(data);
    for (h, payload) in msgs.by_ref() {
        if h.seq != seq || (port != 0 && h.port != port) {
            continue;
        }
        if h.flags & NLM_F_DUMP_INTR != 0 {
            stats.interrupted = true;
        }
        match h.kind {
            NLMSG_DONE => return Ok(Step::Done),
            NLMSG_ERROR => {
                let errno = error_code(payload);
                if errno == 0 {
                    continue; // an ACK
                }
                return Err(kernel_error(errno));
            }
            k if k == (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW)
                || k == (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE) =>
            {
                match conntrack::decode_lazy(payload, scratch)
                    .and_then(|reply| on_entry(scratch, reply))
                {
                    Ok(()) => stats.entries += 1,
                    Err(_) => stats.malformed += 1,
                }
            }
            _ => {}
        }
    }
    if msgs.rest() > 0 {
        // A truncated message at the end: count it, the rest is lost.
        stats.malformed += 1;
    }
    Ok(Step::More)
}

/// One receive on any netlink socket, retried on EINTR; the other errors
/// (ENOBUFS: events were lost; EAGAIN: nothing pending) are the caller's.
/// With MSG_TRUNC the result may exceed `buf.len()`: the datagram's size.
pub fn recv(sock: &Socket, buf: &mut [u8], flags: i32) -> std::io::Result<usize> {
    loop {
        match sock.recv(&mut &mut buf[..], flags) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// One request on any netlink socket, retried on EINTR.
pub fn send(sock: &Socket, buf: &[u8]) -> std::io::Result<()> {
    loop {
        match sock.send(buf, 0) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn kernel_error(errno: i32) -> Error {
    match errno {
        libc::EPERM | libc::EACCES => Error::permission(
            "permission denied reading conntrack: run nftop as root or give it CAP_NET_ADMIN \
             (setcap cap_net_admin+ep /usr/sbin/nftop)",
        ),
        libc::EOPNOTSUPP | libc::ENOENT | libc::EPROTONOSUPPORT => Error::system(
            "conntrack netlink is not available: modprobe nf_conntrack_netlink \
             (OpenWrt: opkg install kmod-nf-conntrack-netlink)",
        ),
        e => Error::system(format!(
            "conntrack dump failed: {}",
            std::io::Error::from_raw_os_error(e)
        )),
    }
}

/// Builds a conntrack request once: nlmsghdr (host order) and nfgenmsg
/// (family AF_UNSPEC, version NFNETLINK_V0, res_id 0), no attributes. The
/// sequence number is patched in place before each send. By hand, like
/// the rtnetlink requests: netlink-packet-netfilter's builders cost 6.5
/// KB of the mipsel binary for these 20 bytes (a test compares them).
pub fn build_request(msg_type: u8, flags: u16) -> Vec<u8> {
    let len = (NLMSG_HDRLEN + conntrack::NFGENMSG_LEN) as u32;
    let mut buf = Vec::with_capacity(len as usize);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&(NFNL_SUBSYS_CTNETLINK << 8 | msg_type as u16).to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&[0; 8]); // sequence, port id
    buf.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    buf
}

pub struct CtSocket {
    sock: Socket,
    port: u32,
    seq: u32,
    req: Vec<u8>,
    buf: Vec<u8>,
}

impl CtSocket {
    pub fn open() -> Result<CtSocket> {
        Self::open_for(IPCTNL_MSG_CT_GET)
    }

    /// A socket whose dumps send `msg_type` (GET, or GET_CTRZERO for tests).
    pub fn open_for(msg_type: u8) -> Result<CtSocket> {
        // A test hook (tests/badenv.rs): the answer of a kernel without
        // ctnetlink, which no test machine can be made into safely.
        if let Some(e) = std::env::var("NFTOP_TEST_CT_ERRNO")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            return Err(kernel_error(e));
        }
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| {
            Error::system(format!(
                "cannot open a netfilter netlink socket: {e} (is CONFIG_NETFILTER_NETLINK enabled?)"
            ))
        })?;
        let addr = sock
            .bind_auto()
            .map_err(|e| Error::system(format!("cannot bind netlink socket: {e}")))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::system(format!("cannot connect netlink socket: {e}")))?;
        Ok(CtSocket {
            sock,
            port: addr.port_number(),
            seq: crate::sys::real_ns() as u32,
            req: build_request(msg_type, NLM_F_REQUEST | NLM_F_DUMP),
            buf: vec![0; RECV_BUF],
        })
    }

    /// One full dump, decoded. `on_conn` sees each entry once.
    pub fn dump(&mut self, mut on_conn: impl FnMut(&Conn)) -> Result<DumpStats> {
        self.dump_entries(
            |_| {},
            |c, reply| {
                conntrack::decode_reply(reply, c)?;
                on_conn(c);
                Ok(())
            },
        )
    }

    /// A dump whose entries come with their reply tuple undecoded (see
    /// `parse_entries`); every raw datagram is shown to `on_datagram` too
    /// (how the test fixtures were recorded: `nftop --record FILE`).
    pub fn dump_entries(
        &mut self,
        mut on_datagram: impl FnMut(&[u8]),
        mut on_entry: impl FnMut(&mut Conn, &[u8]) -> std::result::Result<(), Malformed>,
    ) -> Result<DumpStats> {
        let mut stats = DumpStats::default();
        // The scratch entry lives on this stack frame: one Conn, reused for
        // every message of the dump.
        let mut scratch = Conn::default();
        self.dump_datagrams(&mut stats, |data, seq, port, stats| {
            on_datagram(data);
            parse_entries(data, seq, port, &mut scratch, stats, &mut on_entry)
        })?;
        Ok(stats)
    }

    /// The bare dump: sends the request and hands each datagram to `f`
    /// (with our sequence number and port id) until `f` says Done. Also
    /// what `make bench` measures as the floor: reading the bytes only.
    pub fn dump_datagrams(
        &mut self,
        stats: &mut DumpStats,
        mut f: impl FnMut(&[u8], u32, u32, &mut DumpStats) -> Result<Step>,
    ) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.req[8..12].copy_from_slice(&seq.to_ne_bytes());
        send(&self.sock, &self.req)
            .map_err(|e| Error::system(format!("cannot send conntrack dump request: {e}")))?;
        loop {
            let n = match recv(&self.sock, &mut self.buf, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    return Err(kernel_error(libc::EPERM))
                }
                Err(e) => return Err(Error::system(format!("conntrack dump failed: {e}"))),
            };
            if n > self.buf.len() {
                // Cannot happen with the kernel's 32 KiB dump datagrams; if
                // it does, the entries of this datagram are lost: say so.
                stats.malformed += 1;
                stats.interrupted = true;
                continue;
            }
            if f(&self.buf[..n], seq, self.port, stats)? == Step::Done {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-built requests are netlink-packet-netfilter's bytes.
    #[test]
    fn requests_are_the_crates_bytes() {
        use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
        use netlink_packet_netfilter::conntrack::ConntrackMessage;
        use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
        for t in [IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_GET_CTRZERO] {
            let mut hdr = NetlinkHeader::default();
            hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let ct = match t {
                IPCTNL_MSG_CT_GET => ConntrackMessage::Get(vec![]),
                t => ConntrackMessage::Other {
                    message_type: t,
                    attributes: vec![],
                },
            };
            let mut packet = NetlinkMessage::new(
                hdr,
                NetlinkPayload::from(NetfilterMessage::new(
                    NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, 0),
                    ct,
                )),
            );
            packet.finalize();
            let mut want = vec![0; packet.buffer_len()];
            packet.serialize(&mut want[..]);
            assert_eq!(
                build_request(t, NLM_F_REQUEST | NLM_F_DUMP),
                want,
                "type {t}"
            );
        }
    }

    /// Fuzzing's reproducer: one NLMSG_ERROR carrying error = i32::MIN
    /// (little-endian bytes as recorded). Negating it overflowed.
    #[test]
    fn an_error_of_i32_min_is_an_error_not_an_overflow() {
        let hex = "1400000002000000000000000000000000000080";
        let mut d: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        if cfg!(target_endian = "big") {
            d[..4].reverse();
            d[4..6].reverse();
            d[16..20].reverse();
        }
        let mut scratch = Conn::default();
        let mut stats = DumpStats::default();
        let r = parse_datagram(&d, 0, 0, &mut scratch, &mut stats, |_| {});
        assert!(r.is_err());
        assert_eq!(error_code(&d[16..]), i32::MIN);
    }
}
