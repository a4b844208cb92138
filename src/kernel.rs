//! The kernel's conntrack status, read from /proc each refresh without
//! allocating: table fill, accounting and events sysctls, drop counters.
//! It feeds the health findings.

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
    parse_ct_drops(&buf[..n])
}

/// Reads a small integer from /proc without allocating.
pub fn read_proc_u64(path: &str) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 32];
    let n = f.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

fn cols(l: &[u8]) -> impl Iterator<Item = &[u8]> {
    l.split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty())
}

/// Sums the `drop` and `early_drop` columns of /proc/net/stat/nf_conntrack
/// (one hex line per CPU under a header of names) without allocating.
pub fn parse_ct_drops(text: &[u8]) -> u64 {
    let mut lines = text.split(|&b| b == b'\n');
    let Some(header) = lines.next() else { return 0 };
    let mut want = [usize::MAX; 2];
    for (k, name) in cols(header).enumerate() {
        match name {
            b"drop" => want[0] = k,
            b"early_drop" => want[1] = k,
            _ => {}
        }
    }
    let mut sum = 0u64;
    for l in lines {
        for (k, v) in cols(l).enumerate() {
            if want.contains(&k) {
                let s = std::str::from_utf8(v).unwrap_or("0");
                sum = sum.saturating_add(u64::from_str_radix(s, 16).unwrap_or(0));
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_drop_counters_are_summed_over_cpus() {
        let text = b"entries  clashres found     invalid   insert    insert_failed drop      early_drop error     search_restart\n\
0000002a  00000000 00000000  00000000  00000000  00000000      00000003  00000001  00000000  00000000\n\
0000002a  00000000 00000000  00000000  00000000  00000000      0000000a  00000000  00000000  00000000\n";
        assert_eq!(parse_ct_drops(text), 3 + 1 + 10);
        assert_eq!(parse_ct_drops(b""), 0);
    }
}
