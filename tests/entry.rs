//! One entry asked for or deleted (ctentry.rs), for every protocol the
//! decoder knows: the request names the entry exactly as the kernel
//! dumped it, and the kernel finds it (issue 26 item 11: GRE's keys were
//! left out, and the kernel answered EINVAL to Enter and to `k`).

use crate::common::{fixture, netns_ok, Bed};
use crate::terminal::{exited_restored, run_nftop, Tmux};
use nftop::conntrack::{self, Conn};
use nftop::ctentry::{build, CT_DELETE};
use nftop::nl::{messages, Attrs};

/// The fields of a CTA_TUPLE_ORIG nest: (inner nest, attribute, value).
fn orig_fields(attrs: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
    let mut out = Vec::new();
    for (kind, v) in Attrs(attrs).flatten() {
        if kind != 1 {
            continue; // CTA_TUPLE_ORIG
        }
        for (nest, inner) in Attrs(v).flatten() {
            for (k, value) in Attrs(inner).flatten() {
                out.push((nest, k, value.to_vec()));
            }
        }
    }
    out
}

/// Every entry of a recorded dump (tests/fixtures/record.sh: the bed with
/// TCP, UDP, UDPLite, SCTP, DCCP, GRE, ESP, ICMP, ICMPv6 and protocol 253
/// entries), turned into a delete request: each tuple field the kernel
/// dumped is in the request with the same value. The request may add
/// only zero ports where the kernel's generic tracker dumped none (it
/// ignores them when asked).
#[test]
fn requests_carry_every_tuple_field_the_kernel_dumped() {
    let mut protos = std::collections::BTreeSet::new();
    let mut req = Vec::new();
    for d in fixture("bed-dump.bin") {
        for (h, payload) in messages(&d) {
            if h.kind != 1 << 8 {
                continue; // not IPCTNL_MSG_CT_NEW
            }
            let mut c = Conn::default();
            if conntrack::decode(payload, &mut c).is_err() {
                continue;
            }
            build(&mut req, CT_DELETE, &c, 1);
            let kernel = orig_fields(&payload[4..]);
            let ours = orig_fields(&req[20..]);
            let p = c.orig.proto;
            for f in &kernel {
                assert!(
                    ours.contains(f),
                    "protocol {p}: the kernel's {f:?} is not in the request {ours:?}"
                );
            }
            let kernel_has_ports = kernel.iter().any(|f| f.0 == 2 && f.1 == 2);
            for f in ours.iter().filter(|f| !kernel.contains(f)) {
                assert!(
                    !kernel_has_ports && f.0 == 2 && (f.1 == 2 || f.1 == 3) && f.2 == [0, 0],
                    "protocol {p}: the request adds {f:?} to the kernel's {kernel:?}"
                );
            }
            protos.insert(p);
        }
    }
    for p in [1u8, 6, 17, 33, 47, 50, 58, 132, 136, 253] {
        assert!(protos.contains(&p), "protocol {p} not in the fixture");
    }
}

/// One protocol of the end-to-end test: its name, the `conntrack -I`
/// arguments after the addresses, and the source address that finds it.
struct Case {
    proto: &'static str,
    args: &'static str,
    src: &'static str,
    dst: &'static str,
    /// Kernels may lack it (DCCP left Linux 6.16); nftop must not.
    optional: bool,
}

const CASES: [Case; 8] = [
    Case {
        proto: "gre",
        args: "--srckey 0x1234 --dstkey 0x5678",
        src: "192.0.2.81",
        dst: "203.0.113.81",
        optional: false,
    },
    Case {
        proto: "tcp",
        args: "--sport 40001 --dport 5001 --state ESTABLISHED",
        src: "192.0.2.82",
        dst: "203.0.113.82",
        optional: false,
    },
    Case {
        proto: "udp",
        args: "--sport 40002 --dport 5002",
        src: "192.0.2.83",
        dst: "203.0.113.83",
        optional: false,
    },
    Case {
        proto: "icmp",
        args: "--icmp-type 8 --icmp-code 0 --icmp-id 77",
        src: "192.0.2.84",
        dst: "203.0.113.84",
        optional: false,
    },
    Case {
        proto: "icmpv6",
        args: "--icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78",
        src: "2001:db8:26::85",
        dst: "2001:db8:27::85",
        optional: false,
    },
    Case {
        proto: "udplite",
        args: "--sport 40006 --dport 5006",
        src: "192.0.2.86",
        dst: "203.0.113.86",
        optional: true,
    },
    Case {
        proto: "sctp",
        args: "--sport 40007 --dport 5007 --state ESTABLISHED --orig-vtag 1 --reply-vtag 2",
        src: "192.0.2.87",
        dst: "203.0.113.87",
        optional: true,
    },
    Case {
        proto: "dccp",
        args: "--sport 40008 --dport 5008 --state OPEN --role client",
        src: "192.0.2.88",
        dst: "203.0.113.88",
        optional: true,
    },
];

/// For each protocol `conntrack -I` can create: an idle entry in the bed's
/// router, then nftop's own screen: Enter shows the kernel's fresh answer
/// for it (its timeout, no kernel error), `k` `y` deletes it, and
/// `conntrack -L` no longer has it.
#[test]
fn issue26_every_protocol_shown_in_detail_and_deleted() {
    if !netns_ok("issue26_every_protocol_shown_in_detail_and_deleted") {
        return;
    }
    let bed = Bed::up();
    // Trackers built as modules on older kernels; built in, or gone, here.
    for m in ["gre", "sctp", "dccp", "udplite"] {
        let _ = std::process::Command::new("modprobe")
            .args(["-q", &format!("nf_conntrack_proto_{m}")])
            .status();
    }
    let t = Tmux::new("entry", 140, 30);
    for c in &CASES {
        let list = format!(
            "conntrack -L -o id -p {} -s {} 2>/dev/null || true",
            c.proto, c.src
        );
        let inserted = bed.sh(
            "rtr",
            &format!(
                "conntrack -I -p {} -s {} -d {} {} -t 600 >/dev/null 2>&1 && echo yes || true",
                c.proto, c.src, c.dst, c.args
            ),
        );
        if inserted.trim() != "yes" {
            assert!(c.optional, "conntrack -I -p {} failed", c.proto);
            eprintln!("SKIP {}: this kernel cannot create such an entry", c.proto);
            continue;
        }
        let before = bed.sh("rtr", &list);
        // The entry's id is the last `id=` (ICMP's echo id comes first).
        let id = before
            .split_whitespace()
            .rev()
            .find_map(|w| w.strip_prefix("id="))
            .unwrap_or_else(|| panic!("{}: no entry in {before}", c.proto))
            .to_string();
        run_nftop(&t, &bed, &format!("-t 0 -n -N -P -f 'host {}'", c.src));
        t.wait(c.proto, |s| s.contains(c.src));
        t.enter();
        let s = t.wait("the pane", |s| s.starts_with("id ") || s.contains("\nid "));
        let head = s.lines().find(|l| l.starts_with("id ")).unwrap();
        let s = if head.contains("timeout ") {
            s
        } else {
            // The answer comes with the next refresh at the latest.
            t.wait("the kernel's answer", |s| {
                s.lines()
                    .any(|l| l.starts_with("id ") && l.contains("timeout "))
                    || s.contains("kernel: ")
            })
        };
        let head = s.lines().find(|l| l.starts_with("id ")).unwrap();
        assert!(
            head.starts_with(&format!("id {id} ")) && head.contains("timeout "),
            "{}: the pane has no answer for entry {id}:\n{s}",
            c.proto
        );
        assert!(!s.contains("kernel: "), "{}:\n{s}", c.proto);
        t.keys("k");
        t.wait("the question", |s| s.contains("? [y/N]"));
        t.keys("y");
        // The question says "delete gre ..." too: its end is the answer.
        let s = t.wait("the kernel's answer to the delete", |s| {
            !s.contains("? [y/N]") && s.contains(&format!(" {} {}", c.proto, c.src))
        });
        assert!(
            s.contains(&format!("deleted {} {}", c.proto, c.src)),
            "{}:\n{s}",
            c.proto
        );
        let after = bed.sh("rtr", &list);
        assert!(
            !after.contains(&format!("id={id}")),
            "{}: still there: {after}",
            c.proto
        );
        t.keys("q");
        exited_restored(&t, 0, c.proto);
    }
}
