//! Health findings: what makes the numbers incomplete or wrong right now,
//! each with its fix (shown in the header and in JSON ticks). A pure
//! function of counters, so every finding is testable without a kernel.

use crate::render::{Warning, Warnings};

/// Everything the findings are computed from, for one refresh.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inputs {
    /// net.netfilter.nf_conntrack_acct is on.
    pub acct_on: bool,
    /// Entries without counters in the last dump.
    pub no_counters: u32,
    /// Entries in the last dump.
    pub entries: u32,
    /// Entries the flow table had no room for.
    pub table_dropped: u64,
    /// Counter resets seen in the last minute (total since start).
    pub recent_resets: Option<u64>,
    /// The age column is on and some entries lack kernel timestamps.
    pub ages_estimated: bool,
    /// Offloaded entries (OFFLOAD / HW_OFFLOAD status).
    pub offloaded: u32,
    pub dump_interrupted: bool,
    pub malformed: u32,
    pub ct_count: u64,
    pub ct_max: u64,
    /// The kernel's conntrack drop counters (drop + early_drop).
    pub ct_drops: u64,
    /// Events are read (not --no-events) and enabled in the kernel.
    pub events_on: bool,
    /// Event overflows in the last minute (total since start).
    pub recent_event_loss: Option<u64>,
    /// Connections left the table without any DESTROY event ever arriving.
    pub events_silent: bool,
}

pub fn compute(i: &Inputs, w: &mut Warnings) {
    w.clear();
    if !i.acct_on {
        w.push(Warning::AcctOff);
    }
    if i.no_counters > 0 {
        w.push(Warning::NoCounters(i.no_counters));
    }
    if i.entries == 0 {
        w.push(Warning::EmptyTable);
    }
    if i.table_dropped > 0 {
        w.push(Warning::FlowTableFull(i.table_dropped));
    }
    if let Some(n) = i.recent_resets {
        w.push(Warning::Resets(n.min(u32::MAX as u64) as u32));
    }
    if i.ages_estimated {
        w.push(Warning::NoTimestamps);
    }
    if i.offloaded > 0 {
        w.push(Warning::Offload(i.offloaded));
    }
    if !i.events_on {
        w.push(Warning::EventsOff);
    }
    if let Some(n) = i.recent_event_loss {
        w.push(Warning::EventsLost(n));
    }
    if i.events_on && i.events_silent {
        w.push(Warning::EventsSilent);
    }
    if i.dump_interrupted {
        w.push(Warning::Interrupted);
    }
    if i.malformed > 0 {
        w.push(Warning::Malformed(i.malformed));
    }
    if i.ct_max > 0 && i.ct_count * 10 >= i.ct_max * 9 {
        w.push(Warning::CtNearFull(i.ct_count, i.ct_max, i.ct_drops));
    }
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

    fn codes(i: &Inputs) -> Vec<&'static str> {
        let mut w = Warnings::default();
        compute(i, &mut w);
        w.iter().map(|w| w.code()).collect()
    }

    #[test]
    fn a_healthy_table_has_no_findings() {
        let ok = Inputs {
            acct_on: true,
            entries: 10,
            events_on: true,
            ct_count: 10,
            ct_max: 1000,
            ..Inputs::default()
        };
        assert!(codes(&ok).is_empty(), "{:?}", codes(&ok));
        let full = Inputs {
            ct_count: 950,
            ct_drops: 7,
            ..ok
        };
        assert_eq!(codes(&full), vec!["conntrack_near_full"]);
        let mut w = Warnings::default();
        compute(&full, &mut w);
        let mut l = crate::render::Line::new();
        w.iter().next().unwrap().message(&mut l);
        assert!(
            l.as_str().contains("7 dropped") && l.as_str().contains("nf_conntrack_max"),
            "{}",
            l.as_str()
        );
        assert_eq!(
            codes(&Inputs {
                events_on: false,
                ..ok
            }),
            vec!["events_off"]
        );
        assert_eq!(
            codes(&Inputs {
                recent_event_loss: Some(3),
                ..ok
            }),
            vec!["events_lost"]
        );
        assert_eq!(
            codes(&Inputs {
                events_silent: true,
                ..ok
            }),
            vec!["events_silent"]
        );
        assert_eq!(codes(&Inputs { offloaded: 2, ..ok }), vec!["offload"]);
        assert_eq!(
            codes(&Inputs {
                recent_resets: Some(1),
                ..ok
            }),
            vec!["counter_reset"]
        );
        assert_eq!(
            codes(&Inputs {
                table_dropped: 5,
                ..ok
            }),
            vec!["flow_table_full"]
        );
        assert_eq!(
            codes(&Inputs {
                acct_on: false,
                no_counters: 4,
                ..ok
            }),
            vec!["acct_off", "no_counters"]
        );
    }

    #[test]
    fn kernel_drop_counters_are_summed_over_cpus() {
        let text = b"entries  clashres found     invalid   insert    insert_failed drop      early_drop error     search_restart\n\
0000002a  00000000 00000000  00000000  00000000  00000000      00000003  00000001  00000000  00000000\n\
0000002a  00000000 00000000  00000000  00000000  00000000      0000000a  00000000  00000000  00000000\n";
        assert_eq!(parse_ct_drops(text), 3 + 1 + 10);
        assert_eq!(parse_ct_drops(b""), 0);
    }
}
