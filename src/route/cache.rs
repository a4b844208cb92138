//! Route lookup answers, kept so that each distinct question is asked
//! once per routing generation: a fixed open-addressing table of
//! `CACHE_SLOTS`, cleared whole on a routing change and when half full
//! (a routing table that varied so much would be re-asked anyway).
//!
//! Questions carry only what the policy rules in use can look at (source,
//! mark, protocol and ports; see `Selectors`), so flows that differ only
//! in what no rule reads share one answer.

use super::wire::Query;

/// Answers kept; on overflow the cache is cleared.
pub const CACHE_SLOTS: usize = 4096;

/// The kernel's answer to one question, as attribution uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Leaves through this interface; `plen` is the matched prefix length.
    Via { oif: u32, plen: u8 },
    /// A multipath route: `index` names its nexthop set (links.rs).
    Multi { index: u32, plen: u8 },
    /// Delivered to the router itself (through this interface).
    Local { oif: u32 },
    /// No route: unreachable, prohibited, blackhole, no match.
    NoRoute,
    /// The kernel refused the question as asked: EINVAL from a forwarding
    /// lookup (strict `rp_filter` rejects the ingress we gave, or a
    /// martian), ENODEV (that ingress is gone). Not "no route".
    Refused,
}

impl Answer {
    /// A route that leaves the router, with its prefix length.
    pub fn route(&self) -> Option<u8> {
        match *self {
            Answer::Via { plen, .. } | Answer::Multi { plen, .. } => Some(plen),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
struct Slot {
    q: Query,
    a: Answer,
    used: bool,
}

pub struct RouteCache {
    slots: Vec<Slot>,
    len: usize,
}

fn qhash(q: &Query) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        h = (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    };
    let w = |b: &[u8; 16], i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_ne_bytes(x)
    };
    eat(w(&q.dst, 0));
    eat(w(&q.dst, 8));
    eat(w(&q.src, 0));
    eat(w(&q.src, 8));
    eat((q.iif as u64) << 32 | q.mark as u64);
    eat((q.sport as u64) << 32 | (q.dport as u64) << 16 | q.proto as u64);
    eat((q.family as u64) << 8
        | q.forward as u64
        | (q.dst_len as u64) << 16
        | (q.src_len as u64) << 24);
    h as usize
}

impl RouteCache {
    pub fn new() -> RouteCache {
        RouteCache {
            slots: vec![
                Slot {
                    q: Query::EMPTY,
                    a: Answer::NoRoute,
                    used: false,
                };
                CACHE_SLOTS
            ],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
        for s in &mut self.slots {
            s.used = false;
        }
        self.len = 0;
    }

    pub fn get(&self, q: &Query) -> Option<Answer> {
        let mask = CACHE_SLOTS - 1;
        let mut i = qhash(q) & mask;
        loop {
            let s = &self.slots[i];
            if !s.used {
                return None;
            }
            if s.q == *q {
                return Some(s.a);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn put(&mut self, q: Query, a: Answer) {
        // Keep the load at or below 1/2 so probes stay short.
        if self.len >= CACHE_SLOTS / 2 {
            self.clear();
        }
        let mask = CACHE_SLOTS - 1;
        let mut i = qhash(&q) & mask;
        while self.slots[i].used {
            if self.slots[i].q == q {
                self.slots[i].a = a;
                return;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { q, a, used: true };
        self.len += 1;
    }
}

impl Default for RouteCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(d: u8) -> Query {
        let mut q = Query::EMPTY;
        q.family = 4;
        q.dst[..4].copy_from_slice(&[203, 0, 113, d]);
        q
    }

    #[test]
    fn hits_misses_and_clears_when_half_full() {
        let mut c = RouteCache::new();
        assert_eq!(c.get(&q(1)), None);
        let a = Answer::Via { oif: 3, plen: 0 };
        c.put(q(1), a);
        assert_eq!(c.get(&q(1)), Some(a));
        let mut other = q(1);
        other.mark = 2;
        assert_eq!(c.get(&other), None, "the mark is part of the key");
        other = q(1);
        other.dport = 5202;
        assert_eq!(c.get(&other), None, "so are ports");
        for i in 0..CACHE_SLOTS {
            let mut k = q(0);
            k.dst[4..8].copy_from_slice(&(i as u32).to_ne_bytes());
            c.put(k, Answer::NoRoute);
        }
        assert!(c.len <= CACHE_SLOTS / 2);
    }
}
