//! Address classes: two addresses that the same prefixes cover, among
//! every route of every table and every policy rule's `to`/`from`, get the
//! same answer from any route lookup. So the lookup cache keys questions
//! by class, not by address, and the kernel is asked about once per route
//! in use instead of once per remote address.
//!
//! Why that holds: let P be the longest prefix, among all of them, that
//! covers address X. Every prefix covering X is then an ancestor of P
//! (prefixes of one address nest), so it covers every other address Y whose
//! longest covering prefix is P too; in every table the longest match for
//! X and Y is the same route, and every rule selecting on the address
//! selects both or neither. Reverse-path checks look the source up the
//! same way, so sources are classed too.
//!
//! Capacity: `MAX_PREFIXES` (a stated bound; OpenWrt routers carry tens).
//! Past it classing is switched off for that generation and questions are
//! keyed by address, as before: slower, never wrong.

/// Prefixes kept per generation.
pub const MAX_PREFIXES: usize = 65536;

#[derive(Default)]
pub struct Classes {
    /// (family 4/6, prefix length, masked address as an integer), sorted.
    prefixes: Vec<(u8, u8, u128)>,
    /// Per family [IPv4, IPv6], longest first: each length in use and the
    /// run of `prefixes` that has it, so a lookup searches only that run
    /// (a few entries: the per-address cost of a first refresh).
    lens: [Vec<(u8, u32, u32)>; 2],
    /// More prefixes than MAX_PREFIXES: classing is off.
    pub overflow: bool,
}

fn mask(a: &[u8; 16], len: u8) -> [u8; 16] {
    let mut m = [0u8; 16];
    let full = (len / 8) as usize;
    m[..full.min(16)].copy_from_slice(&a[..full.min(16)]);
    if full < 16 && len % 8 != 0 {
        m[full] = a[full] & (0xffu8 << (8 - len % 8));
    }
    m
}

impl Classes {
    pub fn with_capacity() -> Classes {
        Classes {
            prefixes: Vec::with_capacity(256),
            lens: [Vec::with_capacity(33), Vec::with_capacity(129)],
            overflow: false,
        }
    }

    pub fn clear(&mut self) {
        self.prefixes.clear();
        self.lens[0].clear();
        self.lens[1].clear();
        self.overflow = false;
    }

    /// Adds a prefix (`family` 4 or 6; `a` holds 4 or 16 meaningful bytes).
    pub fn add(&mut self, family: u8, a: &[u8; 16], len: u8) {
        let max = if family == 6 { 128 } else { 32 };
        if (family != 4 && family != 6) || len > max {
            return;
        }
        if self.prefixes.len() >= MAX_PREFIXES {
            self.overflow = true;
            return;
        }
        self.prefixes
            .push((family, len, u128::from_be_bytes(mask(a, len))));
    }

    /// Sorts what was added; call once after the last `add`.
    pub fn finish(&mut self) {
        self.prefixes.sort_unstable();
        self.prefixes.dedup();
        // Sorted by (family, length): each length is one run, met shortest
        // first.
        for (i, &(family, len, _)) in self.prefixes.iter().enumerate() {
            let l = &mut self.lens[usize::from(family == 6)];
            match l.last_mut() {
                Some(run) if run.0 == len => run.2 += 1,
                _ => l.push((len, i as u32, i as u32 + 1)),
            }
        }
        self.lens[0].reverse();
        self.lens[1].reverse();
    }

    /// The class of address `a`: its longest covering prefix, as (length,
    /// masked address); (0, zeros) when none covers it. None when classing
    /// is off (then the address itself is the key).
    pub fn class(&self, family: u8, a: &[u8; 16]) -> Option<(u8, [u8; 16])> {
        if self.overflow {
            return None;
        }
        let x = u128::from_be_bytes(*a);
        for &(len, lo, hi) in &self.lens[usize::from(family == 6)] {
            let m = x & u128::MAX.checked_shl(128 - len as u32).unwrap_or(0);
            let run = &self.prefixes[lo as usize..hi as usize];
            if run.binary_search_by(|p| p.2.cmp(&m)).is_ok() {
                return Some((len, m.to_be_bytes()));
            }
        }
        Some((0, [0; 16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut x = [0; 16];
        x[..4].copy_from_slice(&a);
        x
    }

    #[test]
    fn addresses_under_the_same_longest_prefix_share_a_class() {
        let mut c = Classes::with_capacity();
        c.add(4, &v4([0, 0, 0, 0]), 0);
        c.add(4, &v4([192, 0, 2, 0]), 24);
        c.add(4, &v4([192, 0, 2, 128]), 25);
        c.add(4, &v4([192, 0, 2, 1]), 32);
        c.finish();
        let k = |a| c.class(4, &v4(a)).unwrap();
        assert_eq!(
            k([203, 0, 113, 7]),
            k([198, 51, 100, 9]),
            "both only under the default"
        );
        assert_eq!(k([192, 0, 2, 7]), k([192, 0, 2, 100]));
        assert_ne!(
            k([192, 0, 2, 7]),
            k([192, 0, 2, 200]),
            "/25 is more specific"
        );
        assert_eq!(k([192, 0, 2, 1]).0, 32, "a local address is its own class");
        assert_eq!(c.class(6, &[0x20; 16]), Some((0, [0; 16])));
        let mut full = Classes::with_capacity();
        for i in 0..=MAX_PREFIXES as u32 {
            full.add(4, &v4(i.to_be_bytes()), 32);
        }
        full.finish();
        assert!(full.overflow && full.class(4, &v4([1, 2, 3, 4])).is_none());
    }
}
