//! The conntrack dump: one persistent NETLINK_NETFILTER socket of the
//! netlink layer (`nl`), one reused 64 KiB receive buffer, its answers
//! read by `nl::read_replies` (sequence number, port id, DONE, ERROR,
//! DUMP_INTR, truncation) and decoded by the ctnetlink codec
//! (conntrack/); the kernel's refusals worded as their fix.
//!
//! A dump is one `IPCTNL_MSG_CT_GET` request with `NLM_F_DUMP` and family
//! `AF_UNSPEC` (IPv4 and IPv6 together). The kernel answers in datagrams of
//! at most about 32 KiB, so 64 KiB never truncates; `MSG_TRUNC` is still
//! checked. Messages whose sequence number or port id are not ours (left
//! over from an interrupted dump) are ignored.

use crate::conntrack::{self, Conn, Nests, CT_DELETE, CT_NEW};
use crate::error::{Error, Result};
use crate::nl::{read_replies, NlSocket, Ours, Reply, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::protocols::NETLINK_NETFILTER;

// The netlink layer's reader, at its old paths (tests and the bench use
// them).
pub use crate::nl::{messages, Malformed, Messages, MsgHeader};

pub use crate::nl::RECV_BUF;
const IPCTNL_MSG_CT_GET: u8 = conntrack::CT_GET as u8;
/// nlbwmon's "dump and zero the counters" request (used by tests to
/// reproduce OpenWrt's counter resets).
pub const IPCTNL_MSG_CT_GET_CTRZERO: u8 = conntrack::CT_GET_CTRZERO as u8;

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
    parse_entries(data, seq, port, scratch, stats, |c, nests| {
        nests.complete(c)?;
        on_conn(c);
        Ok(())
    })
}

/// Like `parse_datagram`, handing each entry with its tuples' nests not
/// yet decoded (`conntrack::decode_lazy`, with layouts of its own);
/// `on_entry` completes it if it needs it, and an Err from it counts the
/// entry as malformed.
pub fn parse_entries(
    data: &[u8],
    seq: u32,
    port: u32,
    scratch: &mut Conn,
    stats: &mut DumpStats,
    on_entry: impl FnMut(&mut Conn, Nests) -> std::result::Result<(), Malformed>,
) -> Result<Step> {
    let mut layouts = conntrack::Layouts::default();
    let ours = Ours::one(seq, port);
    parse_received(
        data,
        data.len(),
        ours,
        scratch,
        &mut layouts,
        stats,
        on_entry,
    )
}

/// `parse_entries` of a datagram the kernel had `len` bytes for (more
/// than `data.len()` when it did not fit the buffer), with the layouts
/// of the dump's messages so far.
fn parse_received(
    data: &[u8],
    len: usize,
    ours: Ours,
    scratch: &mut Conn,
    layouts: &mut conntrack::Layouts,
    stats: &mut DumpStats,
    mut on_entry: impl FnMut(&mut Conn, Nests) -> std::result::Result<(), Malformed>,
) -> Result<Step> {
    let mut errno = 0;
    let w = read_replies(data, len, ours, |r| match r {
        Reply::Done => true,
        Reply::Error(_, e) => {
            errno = e;
            e != 0 // 0: an ACK
        }
        Reply::Msg(_, CT_NEW | CT_DELETE, payload) => {
            match conntrack::decode_lazy(payload, scratch, layouts)
                .and_then(|nests| on_entry(scratch, nests))
            {
                Ok(()) => stats.entries += 1,
                Err(_) => stats.malformed += 1,
            }
            false
        }
        Reply::Msg(..) => false,
    });
    stats.interrupted |= w.interrupted;
    if w.truncated {
        // A message cut short: count it, the rest of the datagram is lost.
        stats.malformed += 1;
    }
    match (w.ended, errno) {
        (false, _) => Ok(Step::More),
        (true, 0) => Ok(Step::Done),
        (true, e) => Err(kernel_error(e)),
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
    let mut buf = Vec::with_capacity(NLMSG_REQ_LEN);
    let kind = conntrack::CT_NEW | msg_type as u16;
    let at = crate::nl::begin(
        &mut buf,
        kind,
        flags,
        0,
        &conntrack::nfgenmsg(libc::AF_UNSPEC),
    );
    crate::nl::finish(&mut buf, at);
    buf
}

const NLMSG_REQ_LEN: usize = crate::nl::NLMSG_HDRLEN + conntrack::NFGENMSG_LEN;

pub struct CtSocket {
    nl: NlSocket,
    req: Vec<u8>,
}

impl CtSocket {
    pub fn open() -> Result<CtSocket> {
        Self::open_for(IPCTNL_MSG_CT_GET)
    }

    /// A socket whose dumps send `msg_type` (GET, or GET_CTRZERO for tests).
    pub fn open_for(msg_type: u8) -> Result<CtSocket> {
        let nl = NlSocket::open(NETLINK_NETFILTER, &[], RECV_BUF).map_err(|e| {
            match e.raw_os_error() {
                // No nfnetlink in this kernel: the module's name is the fix.
                Some(libc::EPROTONOSUPPORT) => kernel_error(libc::EPROTONOSUPPORT),
                _ => Error::system(format!(
                "cannot open a netfilter netlink socket: {e} (is CONFIG_NETFILTER_NETLINK enabled?)"
            )),
            }
        })?;
        Ok(CtSocket {
            nl,
            req: build_request(msg_type, NLM_F_REQUEST | NLM_F_DUMP),
        })
    }

    /// One full dump, decoded. `on_conn` sees each entry once.
    pub fn dump(&mut self, mut on_conn: impl FnMut(&Conn)) -> Result<DumpStats> {
        self.dump_entries(
            |_| {},
            |c, nests| {
                nests.complete(c)?;
                on_conn(c);
                Ok(())
            },
        )
    }

    /// A dump whose entries come with their tuples undecoded (see
    /// `parse_entries`); every raw datagram is shown to `on_datagram` too
    /// (how examples/record.rs records the test fixtures).
    pub fn dump_entries(
        &mut self,
        mut on_datagram: impl FnMut(&[u8]),
        mut on_entry: impl FnMut(&mut Conn, Nests) -> std::result::Result<(), Malformed>,
    ) -> Result<DumpStats> {
        let mut stats = DumpStats::default();
        // The scratch entry lives on this stack frame: one Conn, reused for
        // every message of the dump.
        let mut scratch = Conn::default();
        let mut layouts = conntrack::Layouts::default();
        let seq = self.send()?;
        let port = self.nl.port;
        self.nl.answer(kernel_io_error, |data, len| {
            on_datagram(data);
            let step = parse_received(
                data,
                len,
                Ours::one(seq, port),
                &mut scratch,
                &mut layouts,
                &mut stats,
                &mut on_entry,
            )?;
            Ok(step == Step::Done)
        })?;
        Ok(stats)
    }

    /// Sends the dump request with a new sequence number: that number.
    fn send(&mut self) -> Result<u32> {
        let seq = self.nl.next_seq(1);
        crate::nl::set_seq(&mut self.req, seq);
        self.nl
            .send(&self.req)
            .map_err(|e| Error::system(format!("cannot send conntrack dump request: {e}")))?;
        Ok(seq)
    }

    /// The bare dump: sends the request and hands each datagram to `f`
    /// (with our sequence number and port id) until `f` says Done. Also
    /// what `make bench` measures as the floor: reading the bytes only.
    pub fn dump_datagrams(
        &mut self,
        stats: &mut DumpStats,
        mut f: impl FnMut(&[u8], u32, u32, &mut DumpStats) -> Result<Step>,
    ) -> Result<()> {
        let seq = self.send()?;
        let port = self.nl.port;
        self.nl.answer(kernel_io_error, |data, len| {
            if len > data.len() {
                // Cannot happen with the kernel's 32 KiB dump datagrams; if
                // it does, the entries past the buffer are lost: say so.
                stats.malformed += 1;
                stats.interrupted = true;
            }
            Ok(f(data, seq, port, stats)? == Step::Done)
        })
    }
}

/// A receive error of the dump: EPERM is the kernel refusing it.
fn kernel_io_error(e: std::io::Error) -> Error {
    kernel_error(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::error_code;

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
