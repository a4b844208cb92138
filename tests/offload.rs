//! Issue 23 part 2, flow offloading, from crafted dumps: the status bits
//! a flowtable sets (IPS_OFFLOAD 14, IPS_HW_OFFLOAD 15) and the counters
//! each case gives. Hardware offload cannot run here (no offloading NIC,
//! and this kernel has no flowtables at all): its counters, which the
//! kernel updates from the driver's statistics about every 3 s per flow
//! (nf_flow_table_offload.c, `nf_flow_offload_stats`) or never (MT7621),
//! are crafted; the software flowtable runs in the VM test (vm.rs).

use nftop::conntrack::{Conn, Offload, Tuple, IPS_HW_OFFLOAD, IPS_OFFLOAD};
use nftop::flows::{FlowTable, Offloaded, RateState};
use nftop::health::{compute, Inputs, Warnings};
use nftop::render::Line;

const S: u64 = 1_000_000_000;
const REAL: u64 = 1_700_000_000 * S;

fn conn(status: u32, o: u64, r: u64) -> Conn {
    let mut c = Conn {
        family: 4,
        id: 7,
        start: REAL - 60 * S,
        has_counters: true,
        status,
        orig_bytes: o,
        reply_bytes: r,
        ..Conn::default()
    };
    c.orig = Tuple {
        src: [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        dst: [198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        sport: 40000,
        dport: 443,
        proto: 6,
    };
    c
}

/// One dump of `c` at second `t` (ms precision); the flow's rate after it
/// (None: unknown).
fn tick(table: &mut FlowTable, t_ms: u64, c: &Conn) -> Option<f64> {
    table.begin();
    table.observe(c);
    table.finish(t_ms * 1_000_000, REAL + t_ms * 1_000_000);
    let f = table.flows()[0];
    (f.rate() == RateState::Known).then(|| f.sum_bps())
}

fn warning(o: Offloaded) -> String {
    let mut w = Warnings::default();
    compute(
        &Inputs {
            acct_on: true,
            entries: 1,
            events_on: true,
            offloaded: o,
            ..Default::default()
        },
        &mut w,
    );
    let mut l = Line::new();
    let first = w.iter().next().expect("a warning");
    assert_eq!(first.code(), "offload");
    first.message(&mut l);
    l.as_str().to_string()
}

/// A hardware-offloaded flow at 8 Mbit/s (1 MB/s, all in the original
/// direction) whose counters step every 3 s, read every second: every
/// sample after the first step says 8 Mbit/s (the step's bytes over the
/// time since the last step), never the sawtooth of 0 and 24 Mbit/s that
/// deltas over the interval give; the warning only names the offload.
#[test]
fn hardware_steps_are_rated_over_the_step() {
    let mut table = FlowTable::new(16, 1);
    let hw = IPS_OFFLOAD | IPS_HW_OFFLOAD;
    let bytes = |t: u64| 1_000_000 * (t / 3 * 3) + 5000;
    let mut rates = Vec::new();
    for t in 100..=130u64 {
        rates.push(tick(&mut table, t * 1000, &conn(hw, bytes(t), 0)));
    }
    assert_eq!(table.flows()[0].offload(), Offload::Hw);
    // The first sample rates the flow over its age; then, until the first
    // step is seen, unknown, and from the second step on the step rate.
    assert_eq!(rates[1..5], [None; 4], "no step over a known span yet");
    for (k, r) in rates.iter().enumerate().skip(5) {
        let r = r.unwrap_or_else(|| panic!("sample {k} unknown: {rates:?}"));
        assert!((r - 8e6).abs() < 8e6 * 0.01, "sample {k}: {r}: {rates:?}");
    }
    let o = table.counts.offloaded;
    assert_eq!((o.sw, o.hw, o.sw_frozen, o.hw_frozen), (0, 1, 0, 0));
    assert!(
        warning(o).contains("counted by the flowtable"),
        "{}",
        warning(o)
    );
}

/// Steps every 3 s read every 2 s: changes are seen 2 or 4 s apart, and
/// each step is rated over the time since the change before, so a sample
/// is off by up to the refresh interval over the step (docs/numbers.md),
/// but never 0 and never the step over one interval.
#[test]
fn hardware_steps_read_at_another_interval_stay_near() {
    let mut table = FlowTable::new(16, 1);
    let hw = IPS_OFFLOAD | IPS_HW_OFFLOAD;
    let bytes = |t: u64| 1_000_000 * (t / 3 * 3);
    for t in (100..=160u64).step_by(2) {
        let r = tick(&mut table, t * 1000, &conn(hw, bytes(t), 0));
        if t >= 106 {
            let r = r.expect("known");
            assert!((5.9e6..=12.1e6).contains(&r), "{t}: {r}");
        }
    }
}

/// Hardware offload without accounting (MT7621): the counters never move;
/// the rate is unknown, and the warning says there is no fix.
#[test]
fn hardware_without_accounting_is_unknown_with_no_fix() {
    let mut table = FlowTable::new(16, 1);
    let hw = IPS_OFFLOAD | IPS_HW_OFFLOAD;
    for t in 100..110u64 {
        let r = tick(&mut table, t * 1000, &conn(hw, 3000, 2000));
        if t > 100 {
            assert_eq!(r, None, "{t}");
        }
    }
    let o = table.counts.offloaded;
    assert_eq!((o.hw, o.hw_frozen), (1, 1));
    let w = warning(o);
    assert!(
        w.contains("no fix") && w.contains("interface totals"),
        "{w}"
    );
}

/// A stepping hardware flow that stops stepping (the driver's counters
/// stalled, or the flow went idle) keeps its step rate for a while, then
/// reads unknown, not its last rate forever.
#[test]
fn a_held_hardware_rate_expires() {
    let mut table = FlowTable::new(16, 1);
    let hw = IPS_OFFLOAD | IPS_HW_OFFLOAD;
    for t in 100..=106u64 {
        tick(&mut table, t * 1000, &conn(hw, 1_000_000 * (t / 3 * 3), 0));
    }
    let mut last = Some(0.0);
    for t in 107..=120u64 {
        last = tick(&mut table, t * 1000, &conn(hw, 1_000_000 * 105, 0));
    }
    assert_eq!(last, None);
    assert_eq!(table.counts.offloaded.hw_frozen, 1);
}

/// A software flowtable without `counter`: after the first packets the
/// counters freeze; the rate is unknown (never 0) and the warning names
/// the fix. With `counter` they move per packet and are rated as usual.
#[test]
fn software_offload_frozen_or_counted() {
    let mut table = FlowTable::new(16, 1);
    tick(&mut table, 100_000, &conn(IPS_OFFLOAD, 4000, 3000));
    assert_eq!(
        tick(&mut table, 101_000, &conn(IPS_OFFLOAD, 4000, 3000)),
        None
    );
    let o = table.counts.offloaded;
    assert_eq!((o.sw, o.sw_frozen), (1, 1));
    assert!(warning(o).contains("add counter to the flowtable"));

    let mut table = FlowTable::new(16, 1);
    tick(&mut table, 100_000, &conn(IPS_OFFLOAD, 4000, 3000));
    let r = tick(&mut table, 101_000, &conn(IPS_OFFLOAD, 1_004_000, 3000));
    assert_eq!(r, Some(8e6));
    let o = table.counts.offloaded;
    assert_eq!((o.sw, o.sw_frozen), (1, 0));
    assert!(warning(o).contains("counted by the flowtable"));
}

/// A software flowtable with `counter` and an idle offloaded connection
/// beside a busy one: the busy one's moving counters show the flowtable
/// counts, so the idle one is rated 0, not unknown, and the warning does
/// not ask for the counter flag.
#[test]
fn an_idle_connection_beside_a_counted_one_is_idle_not_frozen() {
    let mut table = FlowTable::new(16, 1);
    let mut idle = conn(IPS_OFFLOAD, 4000, 3000);
    idle.id = 8;
    idle.orig.sport = 40001;
    for (t, busy) in [(100u64, 10_000u64), (101, 1_010_000)] {
        table.begin();
        table.observe(&conn(IPS_OFFLOAD, busy, 0));
        table.observe(&idle);
        table.finish(t * S, REAL + t * S);
    }
    let f = *table.flows().iter().find(|f| f.id == 8).unwrap();
    assert_eq!((f.rate(), f.sum_bps()), (RateState::Known, 0.0));
    let o = table.counts.offloaded;
    assert_eq!((o.sw, o.sw_frozen, o.sw_moved), (2, 0, 1));
    assert!(
        warning(o).contains("counted by the flowtable"),
        "{}",
        warning(o)
    );
}

/// A flow offloaded since the last dump moved on the slow path before the
/// flowtable took it: that says nothing of the flowtable's `counter`, so
/// a frozen neighbour stays unknown (review of issue 23: it read 0).
#[test]
fn a_newly_offloaded_flow_does_not_make_a_frozen_one_idle() {
    let mut table = FlowTable::new(16, 1);
    let mut frozen = conn(IPS_OFFLOAD, 4000, 3000);
    frozen.id = 8;
    frozen.orig.sport = 40001;
    for (t, status, bytes) in [
        (100u64, 0, 10_000u64),
        (101, 0, 20_000),
        (102, IPS_OFFLOAD, 23_000),
    ] {
        table.begin();
        table.observe(&conn(status, bytes, 0));
        table.observe(&frozen);
        table.finish(t * S, REAL + t * S);
    }
    let f = *table.flows().iter().find(|f| f.id == 8).unwrap();
    assert_eq!(f.rate(), RateState::Unknown);
    let o = table.counts.offloaded;
    assert_eq!((o.sw, o.sw_frozen, o.sw_moved), (2, 1, 0));
    assert!(warning(o).contains("add counter to the flowtable"));
}

/// nlbwmon zeroes every counter (issue 23 part 1): a frozen offloaded
/// flow's zeroed counters stay 0, which is still unknown, not a known 0
/// estimated across the zeroing.
#[test]
fn a_zeroed_frozen_flow_stays_unknown() {
    let mut table = FlowTable::new(16, 1);
    tick(&mut table, 100_000, &conn(IPS_OFFLOAD, 4000, 3000));
    assert_eq!(
        tick(&mut table, 101_000, &conn(IPS_OFFLOAD, 4000, 3000)),
        None
    );
    assert_eq!(tick(&mut table, 102_000, &conn(IPS_OFFLOAD, 0, 0)), None);
    assert_eq!(table.counts.offloaded.sw_frozen, 1);
    assert_eq!(tick(&mut table, 103_000, &conn(IPS_OFFLOAD, 0, 0)), None);
    // A counting one, zeroed: rated on what it counted since.
    let mut table = FlowTable::new(16, 1);
    tick(&mut table, 100_000, &conn(IPS_OFFLOAD, 4000, 3000));
    tick(&mut table, 101_000, &conn(IPS_OFFLOAD, 1_004_000, 3000));
    let r = tick(&mut table, 102_000, &conn(IPS_OFFLOAD, 500_000, 0));
    assert_eq!(r, Some(4e6));
}

/// The first sight of an offloaded flow may be a frozen count: unknown,
/// not its bytes over its age.
#[test]
fn an_offloaded_flow_first_seen_is_unknown() {
    let mut table = FlowTable::new(16, 1);
    assert_eq!(
        tick(&mut table, 100_000, &conn(IPS_OFFLOAD, 4000, 3000)),
        None
    );
    let mut table = FlowTable::new(16, 1);
    assert!(tick(&mut table, 100_000, &conn(0, 4000, 3000)).is_some());
}
