//! Files other programs write (hosts, leases, services, resolv.conf,
//! passwd): the one way nftop reads them. Whatever sits at the path, the
//! read cannot block, follow a link someone else planted, or grow past
//! its bound, and a refusal says why in one line (the header shows it).
//!
//! Checks, in order:
//! - `open(O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)`: a FIFO opens
//!   without waiting for a writer, a device without side effects. A
//!   symbolic link at a default path is followed only when the link
//!   itself is owned by root (OpenWrt's /etc/resolv.conf is root's link
//!   into /tmp; a link planted in /tmp by a user is not).
//! - `fstat` of what was opened: a regular file only (a FIFO, a device or
//!   a directory is refused, even when named explicitly).
//! - At a default path (not named by the user): owned by root or a system
//!   account (uid below 1000, not `nobody`: OpenWrt's dnsmasq writes
//!   /tmp/dhcp.leases as user `dnsmasq`), and not writable by group or
//!   others. A path the user named on the command line is trusted as
//!   named (their choice), but still only a regular file, bounded.
//! - At most `cap` bytes are read (the caller says whether the file was
//!   longer).
//!
//! The system calls are sys/'s (the one module with `unsafe`).

use crate::sys;

/// Why a file was not read. Each names its fix (`message`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not there: not an error for optional files (the caller decides).
    Missing,
    /// The open failed otherwise (EACCES after the drop to `nobody`, ...).
    Unreadable(i32),
    /// A FIFO, device, socket or directory.
    NotRegular,
    /// A symbolic link not owned by root at a default path.
    ForeignLink,
    /// Owned by a user account (uid >= 1000 or nobody) at a default path.
    ForeignOwner,
    /// Writable by group or others at a default path.
    Writable,
}

impl Refusal {
    /// The reason, lowercase, for "<file> refused: <reason>".
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "not found",
            Refusal::Unreadable(libc::EACCES) => {
                "permission denied (nftop reads files as its --user after start)"
            }
            Refusal::Unreadable(_) => "cannot be opened",
            Refusal::NotRegular => "not a regular file (a FIFO, device or directory)",
            Refusal::ForeignLink => "a symbolic link not owned by root",
            Refusal::ForeignOwner => "owned by a user account, not root or a system account",
            Refusal::Writable => "writable by group or others",
        }
    }
}

/// What was read: the file's size (the caller compares it with its cap)
/// and modification time in nanoseconds (to skip unchanged files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    pub mtime_ns: i128,
}

/// Appends at most `cap` bytes of the file at `path` to `buf` (reserved
/// once by the caller: no allocation when `buf` has room). `explicit`: the
/// user named this path, so owner and mode are not judged.
pub fn read(path: &str, explicit: bool, cap: usize, buf: &mut Vec<u8>) -> Result<Meta, Refusal> {
    // The path as a C string on the stack (no allocation per refresh).
    let mut c = [0u8; 512];
    if path.len() >= c.len() || path.as_bytes().contains(&0) {
        return Err(Refusal::Missing);
    }
    c[..path.len()].copy_from_slice(path.as_bytes());
    let c = std::ffi::CStr::from_bytes_until_nul(&c).map_err(|_| Refusal::Missing)?;
    let fd = match sys::open_read(c, false) {
        Err(libc::ELOOP) => {
            // A symbolic link: the user's own path is theirs to link; at
            // a default path only root's links are followed.
            if !explicit && sys::lstat_uid(c) != Some(0) {
                return Err(Refusal::ForeignLink);
            }
            sys::open_read(c, true)
        }
        r => r,
    }
    .map_err(refusal)?;
    let st = sys::fstat(&fd).map_err(Refusal::Unreadable)?;
    judge(st.mode, st.uid, explicit)?;
    // Not more than the file holds: a 4 MiB cap for hosts must not
    // reserve 4 MiB for a 200-byte file (a file growing meanwhile is read
    // as it was at fstat).
    sys::read_up_to(&fd, cap.min(st.size as usize), buf);
    Ok(Meta {
        size: st.size,
        mtime_ns: st.mtime_ns,
    })
}

/// The file's metadata as `read` would judge it, without reading: for
/// "did it change" checks once per refresh.
pub fn stat(path: &str, explicit: bool) -> Result<Meta, Refusal> {
    read(path, explicit, 0, &mut Vec::new())
}

/// Reads a whole small file as text (lossy UTF-8), for files read at
/// start or on change outside the refresh (hosts, services, passwd,
/// resolv.conf).
pub fn read_text(path: &str, explicit: bool, cap: usize) -> Result<String, Refusal> {
    let mut b = Vec::new();
    read(path, explicit, cap, &mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn refusal(errno: i32) -> Refusal {
    if errno == libc::ENOENT || errno == libc::ENOTDIR {
        Refusal::Missing
    } else {
        Refusal::Unreadable(errno)
    }
}

/// The policy on an fstat's mode and owner (a pure function: tested
/// below without files).
pub fn judge(mode: u32, uid: u32, explicit: bool) -> Result<(), Refusal> {
    if mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Refusal::NotRegular);
    }
    if explicit {
        return Ok(());
    }
    if uid >= 1000 && uid != 0 || uid == NOBODY {
        return Err(Refusal::ForeignOwner);
    }
    if mode & 0o022 != 0 {
        return Err(Refusal::Writable);
    }
    Ok(())
}

/// `nobody` on Debian and OpenWrt (and the uid nftop runs as by default:
/// a file it owns is anybody's).
const NOBODY: u32 = 65534;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let reg = libc::S_IFREG;
        assert_eq!(judge(reg | 0o644, 0, false), Ok(()));
        assert_eq!(judge(reg | 0o644, 453, false), Ok(()), "OpenWrt's dnsmasq");
        assert_eq!(judge(reg | 0o664, 0, false), Err(Refusal::Writable));
        assert_eq!(judge(reg | 0o646, 0, false), Err(Refusal::Writable));
        assert_eq!(judge(reg | 0o644, 1000, false), Err(Refusal::ForeignOwner));
        assert_eq!(
            judge(reg | 0o644, NOBODY, false),
            Err(Refusal::ForeignOwner)
        );
        assert_eq!(judge(reg | 0o666, 1000, true), Ok(()), "named by the user");
        assert_eq!(
            judge(libc::S_IFIFO | 0o644, 0, true),
            Err(Refusal::NotRegular)
        );
        assert_eq!(
            judge(libc::S_IFDIR | 0o755, 0, false),
            Err(Refusal::NotRegular)
        );
        assert_eq!(
            judge(libc::S_IFCHR | 0o666, 0, true),
            Err(Refusal::NotRegular)
        );
    }

    #[test]
    fn fifo_does_not_block_and_is_refused() {
        let dir = std::env::temp_dir().join(format!("nftop-infile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&f)
            .status()
            .unwrap()
            .success());
        let mut b = Vec::new();
        assert_eq!(
            read(f.to_str().unwrap(), true, 64, &mut b),
            Err(Refusal::NotRegular)
        );
        // A bounded read of a regular file; a link to it is followed only
        // when named by the user (the test runs as root, so the link is
        // root's: followed at a default path too).
        let r = dir.join("reg");
        std::fs::write(&r, b"0123456789").unwrap();
        let m = read(r.to_str().unwrap(), true, 4, &mut b).unwrap();
        assert_eq!((m.size, &b[..]), (10, &b"0123"[..]));
        let l = dir.join("link");
        std::os::unix::fs::symlink(&r, &l).unwrap();
        b.clear();
        assert!(read(l.to_str().unwrap(), true, 64, &mut b).is_ok());
        assert_eq!(b, b"0123456789");
        assert_eq!(
            read(dir.join("none").to_str().unwrap(), false, 4, &mut b),
            Err(Refusal::Missing)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
