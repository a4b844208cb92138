//! Least privilege: the user switch and the capability sets kept.
#![allow(unsafe_code)]

use super::caps::{capget, capset, CAP_NET_ADMIN};
use super::threads::release_threads;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Least privilege, once every socket is open, the sysctls set and the
/// metrics port bound, before anything from outside is read:
/// - as root: switch to `uid`/`gid` (`--user`, default nobody) with no
///   supplementary groups, keeping CAP_NET_ADMIN only (conntrack dumps,
///   events and deletes check it at send time; it also lets the
///   exit-time sysctl restore write /proc/sys/net, net_ctl_permissions),
///   with SECBIT_NOROOT and SECBIT_NO_SETUID_FIXUP set and locked, so
///   no later setuid or exec gives anything back. uid 0 keeps owner
///   rights on root's files (/etc/shadow); an unprivileged uid does not.
/// - not root (a setcap'd binary): keep CAP_NET_ADMIN, drop the rest.
///
/// Then the bounding and ambient sets are emptied of the rest and
/// PR_SET_NO_NEW_PRIVS is set. Every call is checked: Err names the step
/// that failed, and start is aborted (nftop never runs half-dropped).
/// Call on the main thread before any other thread exists; threads asked
/// for earlier start now (`spawn_detached`), with no capability at all.
pub fn drop_privileges(uid: u32, gid: u32) -> Result<(), &'static str> {
    // SAFETY: prctl, setgroups, setresgid and setresuid with plain
    // values; every result is checked.
    unsafe {
        let root = is_root();
        if root {
            // Kept across the uid change (then locked below): permitted
            // survives, effective is set again by capset.
            const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
            const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
            const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
            const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
            const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
            let bits = SECBIT_NOROOT
                | SECBIT_NOROOT_LOCKED
                | SECBIT_NO_SETUID_FIXUP
                | SECBIT_NO_SETUID_FIXUP_LOCKED
                | SECBIT_KEEP_CAPS_LOCKED;
            if libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) != 0 {
                return Err("cannot set securebits (prctl PR_SET_SECUREBITS)");
            }
            // Raw system calls, for this thread only: no other thread
            // exists yet (hold_threads), so libc's broadcast to every
            // thread (musl's __synccall, 2 KB of flash) has nothing to do.
            // 32-bit ARM's plain calls take 16-bit ids; the *32 ones are
            // what its libc uses.
            #[cfg(not(target_arch = "arm"))]
            use libc::{
                SYS_setgroups as SETGROUPS, SYS_setresgid as SETRESGID, SYS_setresuid as SETRESUID,
            };
            #[cfg(target_arch = "arm")]
            use libc::{
                SYS_setgroups32 as SETGROUPS, SYS_setresgid32 as SETRESGID,
                SYS_setresuid32 as SETRESUID,
            };
            let null = std::ptr::null::<libc::gid_t>();
            if libc::syscall(SETGROUPS, 0, null) != 0 {
                return Err("cannot drop supplementary groups (setgroups)");
            }
            if libc::syscall(SETRESGID, gid, gid, gid) != 0 {
                return Err("cannot switch group (setresgid)");
            }
            if libc::syscall(SETRESUID, uid, uid, uid) != 0 {
                return Err("cannot switch user (setresuid)");
            }
        }
        for cap in 0..64 {
            if cap != CAP_NET_ADMIN {
                // Fails without CAP_SETPCAP (a setcap'd binary run by a
                // user): the bounding set then stays as it was.
                libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
            }
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
        let had = capget().map_or(0, |c| c.permitted);
        if !capset(had & 1 << CAP_NET_ADMIN) {
            return Err("cannot set capabilities (capset)");
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
            return Err("cannot set no_new_privs (prctl)");
        }
        if root && (libc::getuid() != uid || libc::geteuid() != uid || libc::getegid() != gid) {
            return Err("the user switch did not hold");
        }
    }
    release_threads()
}
