//! The refresh's counters, listed once: the JSON tick (`--json`) and the
//! metrics page (`--metrics`) both write them from `COUNTERS`, so a
//! counter added here shows in both, under the names given here
//! (docs/output.md, docs/fleet.md). Not here: what is the screen's view
//! (the tick's rates and `matched`/`shown`, which follow the display
//! filters the exports ignore), the series with labels (per interface,
//! per device, warnings) and the metrics page's account of itself.
//!
//! A counter not measured in this run (`--no-events`, no `--ipfix`)
//! reads `NONE`: `null` in JSON, 0 on the metrics page (Prometheus has
//! no null; 0 is what such a run counted).

use super::{Line, Tick};
use std::fmt::Write as _;

/// A counter: its name in each output, and how to read it.
pub struct Counter {
    /// What the JSON tick writes before its value, in two pieces: `open`
    /// always (`,"group":` before a group's first key, `,"key":` for a
    /// key at the top), then `key` (`{"key":` for a group's first key,
    /// `,"key":` for its others). Not measured: `open` and `null` (a
    /// whole group is null), nothing for a group's other keys. Both "":
    /// not in JSON. Written out, not derived from a group and a key name:
    /// the derivation cost 0.5 KB on mipsel.
    pub json: [&'static str; 2],
    /// A group's last key: `}` after its value.
    pub close: bool,
    /// The metrics series ("" for none: the entry says why): a counter
    /// (it only grows: `rate()`) when it ends in `_total`, else a gauge.
    pub metric: &'static str,
    /// The series' HELP text.
    pub help: &'static str,
    /// Its value in this refresh, `NONE` when not measured in this run.
    pub read: fn(&Tick) -> u64,
}

/// Not measured in this run (no counter gets near it).
pub const NONE: u64 = u64::MAX;

/// In the JSON tick's order (a group's counters are neighbours).
pub const COUNTERS: [Counter; 14] = [
    Counter {
        json: [",\"flow_table\":", "{\"len\":"],
        close: false,
        metric: "nftop_flow_table_entries",
        help: "Flow table entries.",
        read: |t| t.table_len as u64,
    },
    Counter {
        json: ["", ",\"cap\":"],
        close: true,
        metric: "nftop_flow_table_capacity",
        help: "Flow table capacity.",
        read: |t| t.table_cap as u64,
    },
    Counter {
        json: [",\"conntrack\":", "{\"count\":"],
        close: false,
        metric: "nftop_conntrack_entries",
        help: "Conntrack entries.",
        read: |t| t.ct_count,
    },
    Counter {
        json: ["", ",\"max\":"],
        close: true,
        metric: "nftop_conntrack_max",
        help: "nf_conntrack_max.",
        read: |t| t.ct_max,
    },
    Counter {
        json: [",\"closed\":", ""],
        close: false,
        metric: "nftop_connections_closed_total",
        help: "Connections ended.",
        read: |t| t.closed_total,
    },
    // The bytes of this refresh alone: neither a counter nor a gauge for
    // Prometheus, and already in the page's byte totals.
    Counter {
        json: [",\"closed_bytes\":", ""],
        close: false,
        metric: "",
        help: "",
        read: |t| t.credited,
    },
    Counter {
        json: [",\"events\":", "{\"received\":"],
        close: false,
        metric: "nftop_events_total",
        help: "DESTROY events read.",
        read: |t| t.events.map_or(NONE, |e| e.0),
    },
    Counter {
        json: ["", ",\"lost\":"],
        close: true,
        metric: "nftop_events_lost_total",
        help: "Event overflows (ENOBUFS).",
        read: |t| t.events.map_or(NONE, |e| e.1),
    },
    // JSON: every object's "seq".
    Counter {
        json: ["", ""],
        close: false,
        metric: "nftop_refreshes_total",
        help: "Refreshes done.",
        read: |t| t.seq,
    },
    Counter {
        json: [",\"deadlines_missed\":", ""],
        close: false,
        metric: "nftop_deadlines_missed_total",
        help: "Refreshes later than the interval.",
        read: |t| t.deadlines_missed,
    },
    Counter {
        json: [",\"frames_skipped\":", ""],
        close: false,
        metric: "nftop_frames_skipped_total",
        help: "Screen frames skipped.",
        read: |t| t.frames_skipped,
    },
    Counter {
        json: [",\"estimated_bytes\":", ""],
        close: false,
        metric: "nftop_estimated_bytes_total",
        help: "Bytes estimated across zeroings.",
        read: |t| t.estimated,
    },
    Counter {
        json: [",\"ipfix\":", "{\"records\":"],
        close: false,
        metric: "nftop_ipfix_records_total",
        help: "IPFIX data records sent.",
        read: |t| t.ipfix.map_or(NONE, |x| x.0),
    },
    Counter {
        json: ["", ",\"dropped\":"],
        close: true,
        metric: "nftop_ipfix_dropped_total",
        help: "IPFIX data records dropped.",
        read: |t| t.ipfix.map_or(NONE, |x| x.1),
    },
];

/// The counters as the JSON tick's keys (`Counter::json`).
pub fn write_json(line: &mut Line, t: &Tick) {
    for c in &COUNTERS {
        let [open, key] = c.json;
        if open.is_empty() && key.is_empty() {
            continue;
        }
        let v = (c.read)(t);
        line.push_str(open);
        if v == NONE {
            if !open.is_empty() {
                line.push_str("null");
            }
            continue;
        }
        line.push_str(key);
        let _ = write!(line, "{v}");
        if c.close {
            line.push(b'}');
        }
    }
}

/// The metrics type of a series (`Counter::metric`).
pub fn kind(metric: &str) -> &'static str {
    if metric.ends_with("_total") {
        "counter"
    } else {
        "gauge"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::FlowTable;
    use crate::health::Warnings;
    use crate::view::View;

    /// Every counter is written somewhere, under names of its own.
    #[test]
    fn each_counter_once_under_its_own_names() {
        let mut seen = Vec::new();
        for c in &COUNTERS {
            let json = c.json.concat();
            assert!(!(c.metric.is_empty() && json.is_empty()), "{}", c.help);
            assert_eq!(c.metric.is_empty(), c.help.is_empty(), "{json}");
            assert!(c.metric.is_empty() || c.metric.starts_with("nftop_"));
            for name in [c.metric, &json].into_iter().filter(|n| !n.is_empty()) {
                assert!(!seen.contains(&name.to_string()), "{name} twice");
                seen.push(name.to_string());
            }
        }
    }

    /// The JSON pieces written out by hand: a group opens with its first
    /// key and closes after its last, a key at the top has no `key`.
    #[test]
    fn the_json_pieces_nest() {
        let mut open = false;
        for c in &COUNTERS {
            let [o, k] = c.json;
            let first = k.starts_with('{');
            assert!(
                o.is_empty() || (o.starts_with(",\"") && o.ends_with("\":")),
                "{o}"
            );
            assert!(k.is_empty() || k.ends_with("\":"), "{k}");
            if open {
                // Inside a group: only its other keys.
                assert!(o.is_empty() && k.starts_with(",\""), "{k}");
            } else {
                // At the top: a key (no `key`), a group's first, or none.
                assert!(first != k.is_empty() && (first || !c.close), "{o}{k}");
                assert!(!first || !o.is_empty(), "a group without its name: {k}");
            }
            open = (open || first) && !c.close;
        }
        assert!(!open, "a group left open");
    }

    /// The tick's counters: what both outputs share, the JSON's way (a
    /// group not measured is null).
    #[test]
    fn the_ticks_counters() {
        let table = FlowTable::new(16, 1);
        let view = View::new(16);
        let warnings = Warnings::default();
        let mut t = Tick {
            seq: 7,
            real_ns: 0,
            interval: 1.0,
            interval_requested: 1.0,
            cpu_budget: 0,
            flows: table.flows(),
            spills: table.spills(),
            view: &view,
            table_len: 3,
            table_cap: 16,
            ct_count: 4,
            ct_max: 65536,
            warnings: &warnings,
            events: None,
            closed_total: 5,
            credited: 6,
            estimated: 8,
            hosts: None,
            frames_skipped: 9,
            deadlines_missed: 10,
            ipfix: Some((11, 12)),
        };
        let mut l = Line::new();
        write_json(&mut l, &t);
        assert_eq!(
            l.as_str(),
            ",\"flow_table\":{\"len\":3,\"cap\":16},\"conntrack\":{\"count\":4,\"max\":65536},\
             \"closed\":5,\"closed_bytes\":6,\"events\":null,\"deadlines_missed\":10,\
             \"frames_skipped\":9,\"estimated_bytes\":8,\"ipfix\":{\"records\":11,\"dropped\":12}"
        );
        (t.events, t.ipfix) = (Some((1, 2)), None);
        l.clear();
        write_json(&mut l, &t);
        assert!(
            l.as_str()
                .contains(",\"events\":{\"received\":1,\"lost\":2},")
                && l.as_str().ends_with(",\"ipfix\":null"),
            "{}",
            l.as_str()
        );
    }
}
