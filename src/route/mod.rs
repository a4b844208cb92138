//! The router's view of itself, and per connection the interface it came
//! in through and the one it leaves through (docs/interfaces.md).
//!
//! - `wire`: rtnetlink headers and readers (functions of bytes).
//! - `socket`: the dump/lookup socket and the change watcher.
//! - `addrs`, `links`: the address and link model.
//! - `cache`: lookup answers per routing generation.
//! - this file: `Router`, which refreshes the model and attributes flows.
//!
//! Conntrack does not record interfaces, so they are inferred, in this
//! order (each step only when the ones before cannot tell):
//!
//! Ingress (`in`):
//! 1. the original source is the router's own address: `local`;
//! 2. the source lies in a network an interface connects to directly:
//!    that interface, whatever any mark says (a host on a link is on it);
//! 3. reverse route lookups toward the source, with the connection's mark
//!    and without it (only when policy rules look at marks): the more
//!    specific matched route wins, the mark breaking ties between specific
//!    routes. A mark-only lookup lands in a policy table that may know only
//!    a default route (the "simple" pbr scheme copies the mark to packets
//!    from the LAN only), while mwan3 finds an inbound connection's uplink
//!    only with the mark;
//! 4. when only default routes answer (or a multipath one): the interface
//!    holding the original destination address (a connection addressed to
//!    an uplink's own address came in through it), else the marked answer;
//! 5. a connection whose ingress link went down or vanished keeps it: its
//!    other side did not move. It takes a new answer when that link (the
//!    same name, perhaps a new ifindex) is back.
//!
//! Egress (`out`):
//! 1. the real destination (the reply's source) is the router: `local`;
//! 2. source NAT happened (the reply's destination is one of the router's
//!    addresses): the interface holding that address, since masquerade
//!    writes the egress link's own address there. This is the only
//!    record of the nexthop an ECMP route chose;
//! 3. a forwarding lookup (`RTA_IIF` = ingress, source, mark, protocol
//!    and ports as the rules in use need them), or an output lookup for
//!    what the router sends. A multipath answer is shown as its
//!    candidates (`wan1|wan2`, flag `multipath`), never one guessed
//!    nexthop. A forwarding lookup the kernel refuses (EINVAL: strict
//!    `rp_filter` rejects the ingress; ENODEV) is asked again as an output
//!    lookup: a refusal is not "no route". No route, or a route through a
//!    link that is down: out none and `no_route`.
//!
//! Cost: each flow is attributed once, and again only after a routing
//! change (a change event bumps `gen`); lookups go through the cache and
//! are sent `BATCH` per system call.

pub mod addrs;
pub mod cache;
pub mod classes;
pub mod links;
pub mod neigh;
pub mod socket;
pub mod wire;

pub use addrs::LocalAddrs;
use addrs::{Facts, Memo};
pub use cache::{Answer, RouteCache};
pub use links::{is_multi, IfMatch, Link, Links, LOCAL_IF, MAX_LINKS};
pub use socket::BATCH;

use crate::conntrack::Conn;
use crate::error::Result;
use crate::flow::{Flow, Spills};
use classes::Classes;
use socket::{Dump, RtSocket, Watcher};
use wire::{Query, RouteMsg, Selectors};

/// What the router knows about itself, refreshed from rtnetlink.
#[derive(Default)]
pub struct Net {
    pub local: LocalAddrs,
    pub links: Links,
    /// Address -> MAC (the per-device view's grouping).
    pub neigh: neigh::Neighbours,
}

impl Net {
    pub fn new() -> Net {
        Net {
            local: LocalAddrs::with_capacity(),
            links: Links::with_capacity(),
            neigh: neigh::Neighbours::with_capacity(),
        }
    }
}

/// Converts a kernel reply into an answer; multipath sets are named in
/// `links`.
fn answer(links: &mut Links, r: std::result::Result<RouteMsg, i32>, forward: bool) -> Answer {
    match r {
        Ok(m) => match m.kind {
            wire::RTN_UNICAST if m.n_nexthops > 1 => Answer::Multi {
                index: links.multi(m.nexthops()),
                plen: m.dst_len,
            },
            wire::RTN_UNICAST if m.oif != 0 || m.n_nexthops == 1 => Answer::Via {
                oif: if m.oif != 0 { m.oif } else { m.nexthops[0] },
                plen: m.dst_len,
            },
            wire::RTN_LOCAL => Answer::Local { oif: m.oif },
            _ => Answer::NoRoute,
        },
        Err(e) if forward && matches!(e, libc::EINVAL | libc::ENODEV | libc::EXDEV) => {
            Answer::Refused
        }
        Err(_) => Answer::NoRoute,
    }
}

fn if_of(a: Answer) -> u32 {
    match a {
        Answer::Via { oif, .. } => oif,
        Answer::Multi { index, .. } => index,
        _ => 0,
    }
}

/// Ingress steps 3 and 4 (module doc) from the reverse lookups' answers
/// and the interface holding the original destination, if any.
pub fn pick_ingress(marked: Option<Answer>, plain: Option<Answer>, dst_owner: Option<u32>) -> u32 {
    let plen = |a: Option<Answer>| a.and_then(|a| a.route());
    let specific = match (plen(marked), plen(plain)) {
        (Some(m), Some(p)) if p > m => plain,
        (Some(m), _) if m > 0 => marked,
        (_, Some(p)) if p > 0 => plain,
        _ => None,
    };
    match (specific, dst_owner) {
        (Some(a @ Answer::Via { .. }), _) => if_of(a),
        (_, Some(o)) => o,
        (Some(a), None) => if_of(a),
        (None, None) => [marked, plain]
            .into_iter()
            .flatten()
            .find(|a| a.route().is_some())
            .map_or(0, if_of),
    }
}

/// Ingress step 5: whether a connection keeps the ingress it had.
pub fn keep_ingress(links: &Links, old: u32, new: u32) -> u32 {
    if old == 0 || old == new || old == LOCAL_IF || is_multi(old) || links.is_up(old) {
        return new;
    }
    let back = new != 0 && links.name(new).is_some() && links.name(new) == links.name(old);
    if back {
        new
    } else {
        old
    }
}

/// Where one flow stands during attribution.
#[derive(Clone, Copy)]
struct Plan {
    flow: u32,
    /// The flow's entry, rebuilt once (`Spills::conn`).
    c: Conn,
    /// Facts of its original source and destination, reply source and
    /// destination.
    fx: [Facts; 4],
    /// Reverse lookups for the ingress (marked, plain); once asked, their
    /// cache keys.
    rev: [Option<Query>; 2],
    dst_owner: Option<u32>,
    /// The egress lookup, once the ingress is known, and its cache key.
    fwd: Option<Query>,
    fwd_key: Query,
}

/// What one route question asks (`Router::query` keeps of it only what
/// the rules in use can look at).
#[derive(Clone, Copy)]
struct Ask<'a> {
    /// A forwarding lookup (with the ingress) rather than an output one.
    forward: bool,
    dst: &'a [u8],
    src: Option<&'a [u8]>,
    iif: u32,
    mark: u32,
    /// Source and destination port, as the packet carries them.
    ports: (u16, u16),
}

/// The interface view: link table, uplinks, addresses, attribution.
pub struct Router {
    rt: RtSocket,
    watch: Watcher,
    pub net: Net,
    wan: Option<IfMatch>,
    /// Bumped on every routing change: flows attributed under an older
    /// generation are attributed again.
    pub gen: u32,
    cache: RouteCache,
    /// Address classes of this generation: the cache's keys.
    classes: Classes,
    sel: Selectors,
    default_ifs: Vec<u32>,
    plans: Vec<Plan>,
    /// Address facts for attribution (addrs.rs).
    memo: Memo,
    qs: Vec<Query>,
    /// The cache key of each question in `qs`.
    keys: Vec<Query>,
    replies: Vec<std::result::Result<RouteMsg, i32>>,
    /// Kernel lookups made since start.
    pub lookups: u64,
}

impl Router {
    pub fn open(wan: Option<IfMatch>) -> Result<Router> {
        Ok(Router {
            rt: RtSocket::open()?,
            watch: Watcher::open()?,
            net: Net::new(),
            wan,
            gen: 0,
            cache: RouteCache::new(),
            classes: Classes::with_capacity(),
            sel: Selectors::default(),
            default_ifs: Vec::with_capacity(16),
            plans: Vec::with_capacity(BATCH),
            memo: Memo::new(),
            qs: Vec::with_capacity(2 * BATCH),
            keys: Vec::with_capacity(2 * BATCH),
            replies: vec![Err(0); BATCH],
            lookups: 0,
        })
    }

    /// Once per refresh: reads change events (re-reading addresses, routes
    /// and rules when anything changed), and the link table with its
    /// counters every time. `now` is CLOCK_MONOTONIC ns.
    pub fn refresh(&mut self, now: u64) -> Result<()> {
        let (route, neigh) = self.watch.changed();
        if neigh || self.gen == 0 {
            let n = &mut self.net.neigh;
            n.clear();
            self.rt.dump(Dump::Neigh, |kind, p| {
                if kind == wire::RTM_NEWNEIGH {
                    if let Some((a, len, mac)) = wire::parse_neigh(p) {
                        n.add(&a[..len], mac);
                    }
                }
            })?;
            n.finish();
        }
        if route || self.gen == 0 {
            self.gen = self.gen.wrapping_add(1).max(1);
            self.cache.clear();
            self.net.links.clear_multi();
            self.memo.clear();
            let local = &mut self.net.local;
            local.clear();
            self.rt.dump(Dump::Addr, |kind, p| {
                if kind == wire::RTM_NEWADDR {
                    if let Some(m) = wire::parse_addr(p) {
                        local.add(&m);
                    }
                }
            })?;
            self.classes.clear();
            self.rt.routes(&mut self.default_ifs, &mut self.classes)?;
            self.sel = self.rt.rules(&mut self.classes)?;
            self.classes.finish();
        }
        let links = &mut self.net.links;
        links.begin();
        self.rt.dump(Dump::Link, |kind, p| {
            if kind == wire::RTM_NEWLINK {
                if let Some(m) = wire::parse_link(p) {
                    links.push(&m);
                }
            }
        })?;
        let (wan, defaults) = (&self.wan, &self.default_ifs);
        links.finish(now, |l| match wan {
            Some(w) => w.matches(l.name()),
            None => defaults.contains(&l.index),
        });
        Ok(())
    }

    /// A question, carrying only what the rules in use can look at (the
    /// source always in a forwarding lookup: the kernel checks it against
    /// the ingress).
    fn query(&self, c: &Conn, a: Ask) -> Query {
        let Ask {
            forward,
            dst,
            src,
            iif,
            mark,
            ports,
        } = a;
        let mut q = Query::EMPTY;
        q.forward = forward;
        q.family = c.family;
        q.iif = iif;
        q.dst[..dst.len()].copy_from_slice(dst);
        if let Some(s) = src.filter(|_| forward || self.sel.src) {
            q.src[..s.len()].copy_from_slice(s);
            q.has_src = true;
        }
        if self.sel.mark {
            q.mark = mark;
        }
        if self.sel.l4 {
            q.proto = c.orig.proto;
            (q.sport, q.dport) = ports;
        }
        q
    }

    /// Sends every query of `self.qs` not cached yet, caching the answers.
    fn ask(&mut self) -> Result<()> {
        let mut k = 0;
        while k < self.qs.len() {
            let end = (k + BATCH).min(self.qs.len());
            let chunk = &self.qs[k..end];
            let r = self.rt.lookup_batch(chunk, &mut self.replies);
            self.lookups += chunk.len() as u64;
            r?;
            for (key, rep) in self.keys[k..end].iter().zip(self.replies.iter()) {
                let a = answer(&mut self.net.links, *rep, key.forward);
                self.cache.put(*key, a);
            }
            k = end;
        }
        self.qs.clear();
        self.keys.clear();
        Ok(())
    }

    /// The cache key of a question: its addresses replaced by their
    /// classes (classes.rs), so that addresses the same routes cover share
    /// one answer.
    fn key(&self, q: &Query) -> Query {
        let mut k = *q;
        if let Some((len, m)) = self.classes.class(q.family, &q.dst) {
            (k.dst, k.dst_len) = (m, len);
        }
        if q.has_src {
            if let Some((len, m)) = self.classes.class(q.family, &q.src) {
                (k.src, k.src_len) = (m, len);
            }
        }
        k
    }

    /// Queues `q` unless its answer is cached or queued; returns its
    /// cache key, for `cached` after `ask` (classing an address is the
    /// costly part: done once per question).
    fn want(&mut self, q: Query) -> Query {
        let key = self.key(&q);
        if self.cache.get(&key).is_none() && !self.keys.contains(&key) {
            self.qs.push(q);
            self.keys.push(key);
        }
        key
    }

    fn cached(&self, key: &Query) -> Answer {
        self.cache.get(key).unwrap_or(Answer::NoRoute)
    }

    /// Gives every flow not yet attributed under the current generation
    /// its in/out interfaces.
    pub fn attribute(&mut self, flows: &mut [Flow], spills: &Spills) -> Result<()> {
        // A flow keeps the generation in a byte: every flow is planned
        // again at each change, so a cycle of 255 cannot alias.
        let gen = (self.gen % 255) as u8 + 1;
        let mut i = 0;
        while i < flows.len() {
            self.plans.clear();
            while i < flows.len() && self.plans.len() < BATCH {
                if flows[i].route_gen != gen {
                    let c = spills.conn(&flows[i]);
                    let n = c.addr_len();
                    let local = &self.net.local;
                    // Without NAT the reply's ends are the original's.
                    let src = self.memo.get(local, &c.orig.src[..n]);
                    let rsrc = self.memo.get(local, &c.reply.src[..n]);
                    let dst = if c.orig.dst == c.reply.src {
                        rsrc
                    } else {
                        self.memo.get(local, &c.orig.dst[..n])
                    };
                    let rdst = if c.reply.dst == c.orig.src {
                        src
                    } else {
                        self.memo.get(local, &c.reply.dst[..n])
                    };
                    let fx = [src, dst, rsrc, rdst];
                    let p = self.plan(i as u32, &mut flows[i], c, fx);
                    // Most flows (a LAN host, a NAT address) need no
                    // lookup at all: done here, never queued.
                    if p.rev[0].is_none() && self.egress_query(&mut flows[i], &c, &fx).is_none() {
                        flows[i].route_gen = gen;
                    } else {
                        self.plans.push(p);
                    }
                }
                i += 1;
            }
            // Ingress lookups (the questions become their cache keys).
            for k in 0..self.plans.len() {
                for j in 0..2 {
                    if let Some(q) = self.plans[k].rev[j] {
                        self.plans[k].rev[j] = Some(self.want(q));
                    }
                }
            }
            self.ask()?;
            for k in 0..self.plans.len() {
                let p = &self.plans[k];
                let f = &mut flows[p.flow as usize];
                if let Some(key) = p.rev[0] {
                    let marked = self.cached(&key);
                    let plain = p.rev[1].map(|key| self.cached(&key));
                    let new = pick_ingress(Some(marked), plain, p.dst_owner);
                    f.in_if = keep_ingress(&self.net.links, f.in_if, new);
                }
                let fwd = self.egress_query(f, &p.c, &p.fx);
                self.plans[k].fwd = fwd;
            }
            // Egress lookups, then output lookups for the refused ones.
            for retry in [false, true] {
                for k in 0..self.plans.len() {
                    if let Some(q) = self.plans[k].fwd {
                        self.plans[k].fwd_key = self.want(q);
                    }
                }
                self.ask()?;
                for k in 0..self.plans.len() {
                    if self.plans[k].fwd.take().is_none() {
                        continue;
                    }
                    let f = &mut flows[self.plans[k].flow as usize];
                    let a = self.cached(&self.plans[k].fwd_key);
                    if a == Answer::Refused && !retry {
                        self.plans[k].fwd = Some(self.output_query(&self.plans[k].c));
                        continue;
                    }
                    let no_route;
                    (f.out_if, no_route) = match a {
                        Answer::Via { oif, .. } => (oif, !self.net.links.is_up(oif)),
                        Answer::Multi { index, .. } => (index, false),
                        Answer::Local { oif } if f.in_if == LOCAL_IF => (oif, false),
                        Answer::Local { .. } => (LOCAL_IF, false),
                        Answer::NoRoute | Answer::Refused => (0, true),
                    };
                    f.set_no_route(no_route);
                }
            }
            for p in &self.plans {
                flows[p.flow as usize].route_gen = gen;
            }
        }
        Ok(())
    }

    /// Everything decided without a lookup, and the reverse lookups the
    /// ingress needs (module doc).
    fn plan(&self, flow: u32, f: &mut Flow, c: Conn, fx: [Facts; 4]) -> Plan {
        let n = c.addr_len();
        let mut p = Plan {
            flow,
            c,
            fx,
            rev: [None, None],
            dst_owner: None,
            fwd: None,
            fwd_key: Query::EMPTY,
        };
        let (src, dst) = (&c.orig.src[..n], &c.reply.src[..n]);
        let new_in = if fx[0].local {
            Some(LOCAL_IF)
        } else {
            fx[0].connected
        };
        match new_in {
            Some(ifi) => f.in_if = keep_ingress(&self.net.links, f.in_if, ifi),
            None => {
                let dst_local = fx[2].local;
                let rev_src = dst_local.then_some(dst);
                let ports = (c.reply.sport, c.orig.sport);
                let (dst, src, iif, forward) = (src, rev_src, 0, false);
                let ask = Ask {
                    forward,
                    dst,
                    src,
                    iif,
                    mark: c.mark,
                    ports,
                };
                p.rev[0] = Some(self.query(&c, ask));
                if self.sel.mark && c.mark != 0 {
                    p.rev[1] = Some(self.query(&c, Ask { mark: 0, ..ask }));
                }
                p.dst_owner = fx[1].owner.filter(|&o| !self.net.links.is_loopback(o));
            }
        }
        p
    }

    /// Egress steps 1 and 2, or the lookup for step 3.
    fn egress_query(&self, f: &mut Flow, c: &Conn, fx: &[Facts; 4]) -> Option<Query> {
        let n = c.addr_len();
        let (src, dst, nat) = (&c.orig.src[..n], &c.reply.src[..n], &c.reply.dst[..n]);
        let src_local = f.in_if == LOCAL_IF;
        if fx[2].local && !src_local {
            f.out_if = LOCAL_IF;
            f.set_no_route(false);
            return None;
        }
        if nat != src {
            // An address on a loopback or dummy device (a router-wide
            // SNAT address) names no egress: ask the routes instead.
            if let Some(o) = fx[3].owner.filter(|&o| !self.net.links.is_loopback(o)) {
                f.out_if = o;
                f.set_no_route(!self.net.links.is_up(o));
                return None;
            }
        }
        let ports = (c.orig.sport, c.reply.sport);
        let (forward, iif) = if src_local {
            (false, 0)
        } else if f.in_if != 0 && self.net.links.is_up(f.in_if) {
            (true, f.in_if)
        } else {
            return Some(self.output_query(c));
        };
        let (src, mark) = (Some(src), c.mark);
        let ask = Ask {
            forward,
            dst,
            src,
            iif,
            mark,
            ports,
        };
        Some(self.query(c, ask))
    }

    /// The egress as an output lookup (no ingress, no foreign source).
    fn output_query(&self, c: &Conn) -> Query {
        let n = c.addr_len();
        let ask = Ask {
            forward: false,
            dst: &c.reply.src[..n],
            src: None,
            iif: 0,
            mark: c.mark,
            ports: (c.orig.sport, c.reply.sport),
        };
        self.query(c, ask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: fn(u32, u8) -> Option<Answer> = |oif, plen| Some(Answer::Via { oif, plen });

    #[test]
    fn ingress_specific_routes_win_then_the_address_then_the_mark() {
        // Simple pbr scheme, routed LAN: the marked lookup lands on the
        // policy table's default, the plain one on the LAN route.
        assert_eq!(pick_ingress(V(3, 0), V(2, 16), None), 2);
        // mwan3 LAN copy in the uplink table: equally specific, the mark wins.
        assert_eq!(pick_ingress(V(2, 24), V(4, 24), None), 2);
        // Inbound on the second uplink: only defaults; the address decides.
        assert_eq!(pick_ingress(V(4, 0), V(3, 0), Some(4)), 4);
        assert_eq!(pick_ingress(V(4, 0), V(3, 0), None), 4, "else the mark");
        // The marked table is unreachable (mwan3's 3000+id rule).
        assert_eq!(pick_ingress(Some(Answer::NoRoute), V(3, 0), None), 3);
        assert_eq!(pick_ingress(Some(Answer::NoRoute), None, None), 0);
        let m = Some(Answer::Multi {
            index: links::MULTI_IF,
            plen: 0,
        });
        assert_eq!(pick_ingress(m, None, Some(4)), 4);
        assert_eq!(pick_ingress(m, None, None), links::MULTI_IF);
    }

    #[test]
    fn ingress_is_kept_while_its_link_is_away() {
        let mut l = Links::with_capacity();
        let msg = |index: u32, name: &str, up: bool| {
            let mut m = wire::LinkMsg {
                index,
                flags: if up {
                    wire::IFF_UP | wire::IFF_RUNNING
                } else {
                    wire::IFF_UP
                },
                name: [0; wire::IFNAMSIZ],
                name_len: name.len() as u8,
                rx_bytes: 0,
                tx_bytes: 0,
            };
            m.name[..name.len()].copy_from_slice(name.as_bytes());
            m
        };
        l.begin();
        for m in [
            msg(2, "lan0", true),
            msg(3, "wan0", false),
            msg(4, "wan1", true),
        ] {
            l.push(&m);
        }
        l.finish(1, |_| false);
        assert_eq!(keep_ingress(&l, 3, 4), 3, "wan0 is down: kept");
        assert_eq!(keep_ingress(&l, 3, 0), 3);
        assert_eq!(keep_ingress(&l, 4, 2), 2, "wan1 is up: a real change");
        assert_eq!(keep_ingress(&l, 0, 4), 4);
        // wan0 is deleted and comes back as ifindex 9.
        l.begin();
        for m in [
            msg(2, "lan0", true),
            msg(9, "wan0", true),
            msg(4, "wan1", true),
        ] {
            l.push(&m);
        }
        l.finish(2, |_| false);
        assert_eq!(keep_ingress(&l, 3, 4), 3);
        assert_eq!(keep_ingress(&l, 3, 9), 9, "back under a new index");
    }

    #[test]
    fn refusals_are_not_no_route() {
        let mut l = Links::with_capacity();
        assert_eq!(answer(&mut l, Err(libc::EINVAL), true), Answer::Refused);
        assert_eq!(answer(&mut l, Err(libc::EINVAL), false), Answer::NoRoute);
        assert_eq!(
            answer(&mut l, Err(libc::ENETUNREACH), true),
            Answer::NoRoute
        );
    }
}
