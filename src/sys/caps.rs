//! The calling thread's capability sets (capget/capset, version 3).
#![allow(unsafe_code)]

pub(super) const CAP_NET_ADMIN: u32 = 12;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct CapData {
    effective: u32,
    pub permitted: u32,
    inheritable: u32,
}

/// Sets the calling thread's capability sets to `keep` (a mask of
/// capabilities 0-31) in effective and permitted, none inheritable.
pub(super) fn capset(keep: u32) -> bool {
    // _LINUX_CAPABILITY_VERSION_3: two data words (capabilities 0-63).
    let hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let new = [
        CapData {
            effective: keep,
            permitted: keep,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset with the structs linux/capability.h (version 3)
    // defines.
    unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, new.as_ptr()) == 0 }
}

/// The calling thread's capability sets 0-31.
pub(super) fn capget() -> Option<CapData> {
    let mut hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut cur = [CapData::default(); 2];
    // SAFETY: capget with the structs linux/capability.h defines.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            cur.as_mut_ptr(),
        )
    };
    (r == 0).then_some(cur[0])
}
