//! The kernel's conntrack status, read from /proc each refresh without
//! allocating: table fill, accounting and events sysctls, drop counters.
//! It feeds the health findings.

use crate::health;

#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    pub ct_count: u64,
    pub ct_max: u64,
    /// net.netfilter.nf_conntrack_acct is on.
    pub acct_on: bool,
    /// net.netfilter.nf_conntrack_events is on.
    pub events_on: bool,
    /// drop + early_drop over all CPUs (read when the table is nearly
    /// full).
    pub ct_drops: u64,
}

impl Kernel {
    pub fn new(ct_max: u64) -> Kernel {
        Kernel {
            ct_count: 0,
            ct_max,
            acct_on: true,
            events_on: true,
            ct_drops: 0,
        }
    }

    /// Reads the status; `table_len` stands in for the count when the
    /// kernel's cannot be read.
    pub fn read(&mut self, table_len: usize) {
        self.ct_count =
            read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_count").unwrap_or(table_len as u64);
        if let Some(m) = read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_max") {
            self.ct_max = m;
        }
        self.acct_on =
            read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_acct").is_none_or(|v| v != 0);
        self.events_on =
            read_proc_u64("/proc/sys/net/netfilter/nf_conntrack_events").is_none_or(|v| v != 0);
        if self.ct_count * 10 >= self.ct_max * 9 {
            self.ct_drops = read_ct_drops();
        }
    }
}

/// Kernel drop counters from /proc/net/stat/nf_conntrack (fixed buffer).
fn read_ct_drops() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 16 * 1024];
    let Ok(mut f) = std::fs::File::open("/proc/net/stat/nf_conntrack") else {
        return 0;
    };
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    health::parse_ct_drops(&buf[..n])
}

/// Reads a small integer from /proc without allocating.
pub fn read_proc_u64(path: &str) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 32];
    let n = f.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}
