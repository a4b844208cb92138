//! `--json`: one object per line (schema in docs/output.md, `"v":1`).
//!
//! Per refresh: one `"conn"` object per shown connection (none with
//! `-d`), one `"dev"` object per interface, then one `"tick"` object that
//! closes the refresh. Addresses are always numeric
//! (names would change under a script's feet); strings are escaped even
//! though everything we print is ASCII already.

use super::columns::{dev_value, DevValue, DEV_COLUMNS};
use super::{dst_is_local, flags, src_is_local};
use super::{fmt_fixed, hosts, Line, Tick};
use crate::conntrack;
use crate::flows::RateState;
use crate::health::Warning;
use crate::hostview::Who;
use crate::render::Ctx;
use std::fmt::Write as _;
use std::io::Write;

pub(super) fn head(line: &mut Line, t: &Tick, kind: &str) {
    let secs = t.real_ns / 1_000_000_000;
    let frac = t.real_ns % 1_000_000_000 / 1_000_000;
    let _ = write!(
        line,
        "{{\"v\":1,\"t\":{secs}.{frac:03},\"seq\":{},\"type\":\"{kind}\"",
        t.seq
    );
}

pub(super) fn str_field(line: &mut Line, key: &str, v: &str) {
    let _ = write!(line, ",\"{key}\":\"");
    for ch in v.chars() {
        match ch {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(line, "\\u{:04x}", c as u32);
            }
            c => line.push(if c.is_ascii() { c as u8 } else { b'?' }),
        }
    }
    line.push(b'"');
}

pub(super) fn num(line: &mut Line, key: &str, v: f64) {
    // Rates are whole-ish numbers; three decimals keep sub-bit precision
    // without printing float noise.
    let _ = write!(line, ",\"{key}\":");
    fmt_fixed(line, v, 3);
}

/// With `dev_only` (-d) the "conn" objects are left out; with the
/// per-device view (-H, `t.hosts`) "host" objects replace both.
pub fn write_json(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
    dev_only: bool,
) -> std::io::Result<()> {
    let mut cell = Line::new();
    let hosts = t.hosts.is_some();
    let shown: &[u32] = if dev_only || hosts {
        &[]
    } else {
        &t.view.shown
    };
    for &i in shown {
        let f = &t.flows[i as usize];
        let m = &t.view.meta(f);
        let c = &t.spills.conn(f);
        let n = c.addr_len();
        line.clear();
        head(line, t, "conn");
        let _ = write!(line, ",\"id\":{}", c.id);
        str_field(line, "family", if c.family == 6 { "ipv6" } else { "ipv4" });
        match conntrack::proto_name(c.orig.proto) {
            Some(p) => str_field(line, "proto", p),
            None => {
                let _ = write!(line, ",\"proto\":{}", c.orig.proto);
            }
        }
        str_field(line, "state", conntrack::state_name(c.orig.proto, c.state));
        let ports = c.has_ports();
        for (key, pkey, addr, port, local) in [
            ("src", "sport", &c.orig.src, c.orig.sport, src_is_local(m)),
            ("dst", "dport", &c.orig.dst, c.orig.dport, dst_is_local(m)),
        ] {
            cell.clear();
            ctx.host(&mut cell, &addr[..n], local, true);
            str_field(line, key, cell.as_str());
            if ports {
                let _ = write!(line, ",\"{pkey}\":{port}");
            } else {
                let _ = write!(line, ",\"{pkey}\":null");
            }
        }
        if conntrack::is_icmp(c.orig.proto) {
            let _ = write!(
                line,
                ",\"icmp_type\":{},\"icmp_code\":{},\"icmp_id\":{}",
                c.orig.dport >> 8,
                c.orig.dport & 0xff,
                c.orig.sport
            );
        }
        for (key, pkey, nat, local) in [
            ("nat_src", "nat_sport", c.nat_src(), src_is_local(m)),
            ("nat_dst", "nat_dport", c.nat_dst(), dst_is_local(m)),
        ] {
            match nat {
                Some((a, p)) => {
                    cell.clear();
                    ctx.host(&mut cell, a, local, true);
                    str_field(line, key, cell.as_str());
                    if ports {
                        let _ = write!(line, ",\"{pkey}\":{p}");
                    } else {
                        let _ = write!(line, ",\"{pkey}\":null");
                    }
                }
                None => {
                    let _ = write!(line, ",\"{key}\":null,\"{pkey}\":null");
                }
            }
        }
        for (key, idx) in [("in", m.in_if), ("out", m.out_if)] {
            if idx == 0 {
                let _ = write!(line, ",\"{key}\":null");
            } else {
                str_field(line, key, ctx.ifname(idx));
            }
        }
        let _ = write!(line, ",\"mark\":{},\"zone\":{}", c.mark, c.zone);
        if f.rate() == RateState::Unknown {
            line.push_str(",\"tx_bps\":null,\"rx_bps\":null,\"sum_bps\":null");
        } else {
            num(line, "tx_bps", m.tx_bps);
            num(line, "rx_bps", m.rx_bps);
            num(line, "sum_bps", m.tx_bps + m.rx_bps);
        }
        let _ = write!(
            line,
            ",\"tx_bytes\":{},\"rx_bytes\":{}",
            m.tx_bytes, m.rx_bytes
        );
        num(line, "age_s", m.age_ns as f64 / 1e9);
        str_field(
            line,
            "age_from",
            if m.age_kernel { "kernel" } else { "first_seen" },
        );
        str_field(
            line,
            "local",
            if m.loopback {
                "both"
            } else if m.tx_is_orig {
                "src"
            } else {
                "dst"
            },
        );
        line.push_str(",\"flags\":[");
        cell.clear();
        flags(&mut cell, f, b' ');
        let mut first = true;
        if cell.as_str() != "-" {
            for name in cell.as_str().split(' ') {
                if !first {
                    line.push(b',');
                }
                first = false;
                let _ = write!(line, "\"{name}\"");
            }
        }
        line.push_str("]}\n");
        w.write_all(line.as_bytes())?;
    }
    write_hosts(w, t, ctx, line)?;
    let devs: &[u32] = if hosts { &[] } else { &t.view.devices.order };
    for &k in devs {
        let r = &t.view.devices.rows[k as usize];
        line.clear();
        head(line, t, "dev");
        for c in &DEV_COLUMNS {
            match dev_value(c.col, r, ctx) {
                DevValue::Name(n) => str_field(line, c.key, n),
                DevValue::Rate(Some(v)) => num(line, c.key, v),
                DevValue::Rate(None) => {
                    let _ = write!(line, ",\"{}\":null", c.key);
                }
                DevValue::Count(n) => {
                    let _ = write!(line, ",\"{}\":{n}", c.key);
                }
            }
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes())?;
    }
    line.clear();
    head(line, t, "tick");
    let v = t.view;
    num(line, "interval", t.interval);
    num(line, "interval_requested", t.interval_requested);
    let _ = write!(line, ",\"cpu_budget\":{}", t.cpu_budget);
    let _ = write!(
        line,
        ",\"conns\":{},\"matched\":{},\"shown\":{}",
        v.all.conns,
        v.matched,
        v.shown.len()
    );
    num(line, "tx_bps", v.visible.tx_bps);
    num(line, "rx_bps", v.visible.rx_bps);
    num(line, "all_tx_bps", v.all.tx_bps);
    num(line, "all_rx_bps", v.all.rx_bps);
    // The counters, as the metrics page has them too (counters.rs).
    super::counters::write_json(line, t);
    line.push_str(",\"warnings\":[");
    let mut first = true;
    for wn in t.warnings.iter() {
        if !first {
            line.push(b',');
        }
        first = false;
        let _ = write!(line, "{{\"code\":\"{}\"", wn.code());
        cell.clear();
        Warning::message(wn, &mut cell);
        str_field(line, "msg", cell.as_str());
        line.push(b'}');
    }
    line.push_str("]}\n");
    w.write_all(line.as_bytes())?;
    w.flush()
}

/// `--json -H`: one `"host"` object per device; addresses numeric, the
/// name from leases or hosts only (JSON never waits for DNS).
pub fn write_hosts(
    w: &mut impl Write,
    t: &Tick,
    ctx: &Ctx,
    line: &mut Line,
) -> std::io::Result<()> {
    let Some(h) = t.hosts else { return Ok(()) };
    let mut c = Line::new();
    for &k in &h.order {
        let r = &h.rows[k as usize];
        line.clear();
        head(line, t, "host");
        c.clear();
        hosts::name(&mut c, r, ctx, true);
        str_field(line, "host", c.as_str());
        c.clear();
        match r.who {
            Who::Mac(_) => {
                hosts::mac(&mut c, r.who, ctx);
                str_field(line, "mac", c.as_str());
            }
            _ => line.push_str(",\"mac\":null"),
        }
        line.push_str(",\"addrs\":[");
        for (i, a) in r.addrs().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.push(b'"');
            ctx.host(line, a, true, true);
            line.push(b'"');
        }
        line.push(b']');
        match hosts::known(r, ctx, false) {
            Some(n) => str_field(line, "name", n.as_str()),
            None => line.push_str(",\"name\":null"),
        }
        num(line, "tx_bps", r.tx_bps);
        num(line, "rx_bps", r.rx_bps);
        num(line, "sum_bps", r.sum_bps());
        let _ = writeln!(
            line,
            ",\"tx_bytes\":{},\"rx_bytes\":{},\"conns\":{}}}",
            r.tx_bytes, r.rx_bytes, r.conns
        );
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}
