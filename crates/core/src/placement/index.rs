//! A segment tree over candidate positions that keeps, per node, the least key below it and how
//! many leaves hold that key. It lets the engine answer "the best instance of this zone" in
//! O(log n) and update one instance after a placement in O(log n), instead of scanning every
//! candidate for every task.
//!
//! Keys are `u128`: the rank values of the strategies after the leading spread, 32 bits each,
//! most significant first (so integer order is the strategies' lexicographic order); an
//! instance that fails a filter holds [`INFEASIBLE`].

/// The key of a position that cannot take the task.
pub(super) const INFEASIBLE: u128 = u128::MAX;

#[derive(Debug, Clone)]
pub(super) struct MinTree {
    /// Leaves start here (a power of two, at least 1).
    size: usize,
    /// Per node, the least key below it.
    min: Vec<u128>,
    /// Per node, how many leaves below it hold `min`.
    cnt: Vec<u32>,
}

impl MinTree {
    /// A tree over `keys` (position `k` holds `keys[k]`).
    pub(super) fn new(keys: &[u128]) -> MinTree {
        let size = keys.len().next_power_of_two().max(1);
        let mut min = vec![INFEASIBLE; 2 * size];
        let mut cnt = vec![0u32; 2 * size];
        for (k, key) in keys.iter().enumerate() {
            min[size + k] = *key;
            cnt[size + k] = 1;
        }
        let mut t = MinTree { size, min, cnt };
        for node in (1..size).rev() {
            t.pull(node);
        }
        t
    }

    #[inline]
    fn pull(&mut self, node: usize) {
        let (l, r) = (2 * node, 2 * node + 1);
        let (a, b) = (self.min[l], self.min[r]);
        self.min[node] = a.min(b);
        self.cnt[node] = match a.cmp(&b) {
            std::cmp::Ordering::Less => self.cnt[l],
            std::cmp::Ordering::Greater => self.cnt[r],
            std::cmp::Ordering::Equal => self.cnt[l] + self.cnt[r],
        };
    }

    /// The key at position `pos`.
    #[inline]
    pub(super) fn get(&self, pos: usize) -> u128 {
        self.min[self.size + pos]
    }

    /// Sets the key at position `pos`.
    pub(super) fn set(&mut self, pos: usize, key: u128) {
        let mut node = self.size + pos;
        if self.min[node] == key {
            return;
        }
        self.min[node] = key;
        node /= 2;
        while node >= 1 {
            self.pull(node);
            node /= 2;
        }
    }

    /// Calls `visit` on the nodes that cover `lo..hi` exactly, left to right, until it returns
    /// true.
    #[inline]
    fn cover(&self, lo: usize, hi: usize, mut visit: impl FnMut(usize) -> bool) {
        let (mut l, mut r) = (lo + self.size, hi + self.size);
        // At most one right-side node per level (positions are u32, so fewer than 40 levels).
        let mut right = [0usize; 40];
        let mut nr = 0;
        while l < r {
            if l & 1 == 1 {
                if visit(l) {
                    return;
                }
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                right[nr] = r;
                nr += 1;
            }
            l /= 2;
            r /= 2;
        }
        for node in right[..nr].iter().rev() {
            if visit(*node) {
                return;
            }
        }
    }

    /// The first position in `lo..hi` whose key is below `key` (if any), and how many positions
    /// before it (or in all of `lo..hi` when there is none) hold `key` itself.
    pub(super) fn scan_below(&self, lo: usize, hi: usize, key: u128) -> (Option<usize>, u32) {
        let mut equal = 0u32;
        let mut found = None;
        self.cover(lo, hi, |node| {
            let m = self.min[node];
            if m > key {
                return false;
            }
            if m == key {
                equal += self.cnt[node];
                return false;
            }
            // Descend to the first leaf below `key`, counting the equal ones skipped on the way.
            let mut x = node;
            while x < self.size {
                let l = 2 * x;
                let ml = self.min[l];
                if ml < key {
                    x = l;
                } else {
                    if ml == key {
                        equal += self.cnt[l];
                    }
                    x = l + 1;
                }
            }
            found = Some(x - self.size);
            true
        });
        (found, equal)
    }

    /// The `n`-th (from 0) position in `lo..hi` whose key is `key`, where no key in `lo..hi`
    /// is below `key`; `Err(count)` with the number of such positions when there are `n` or
    /// fewer.
    pub(super) fn nth_equal(&self, lo: usize, hi: usize, key: u128, n: u32) -> Result<usize, u32> {
        let mut left = n;
        let mut found = None;
        self.cover(lo, hi, |node| {
            if self.min[node] != key {
                return false;
            }
            if self.cnt[node] <= left {
                left -= self.cnt[node];
                return false;
            }
            let mut x = node;
            while x < self.size {
                let l = 2 * x;
                if self.min[l] == key {
                    if self.cnt[l] > left {
                        x = l;
                        continue;
                    }
                    left -= self.cnt[l];
                }
                x = l + 1;
            }
            found = Some(x - self.size);
            true
        });
        found.ok_or(n - left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_linear_scan(
            keys in proptest::collection::vec(prop_oneof![0u128..4, Just(INFEASIBLE)], 1..40),
            updates in proptest::collection::vec((0usize..40, 0u128..4), 0..10),
            lo in 0usize..40,
            len in 0usize..40,
            key in 0u128..5,
        ) {
            let mut keys = keys;
            let mut t = MinTree::new(&keys);
            for (p, k) in updates {
                let p = p % keys.len();
                keys[p] = k;
                t.set(p, k);
            }
            let lo = lo % keys.len();
            let hi = (lo + len).min(keys.len());
            let slice = &keys[lo..hi];
            let m = slice.iter().copied().min().unwrap_or(INFEASIBLE);
            let first = slice.iter().position(|k| *k < key);
            let before = &slice[..first.unwrap_or(slice.len())];
            let equal = before.iter().filter(|k| **k == key).count() as u32;
            prop_assert_eq!(t.scan_below(lo, hi, key), (first.map(|p| p + lo), equal));
            if m != INFEASIBLE {
                let at: Vec<usize> = (lo..hi).filter(|p| keys[*p] == m).collect();
                for n in 0..at.len() as u32 + 2 {
                    let want = at.get(n as usize).copied().ok_or(at.len() as u32);
                    prop_assert_eq!(t.nth_equal(lo, hi, m, n), want);
                }
            }
            for (p, k) in keys.iter().enumerate() {
                prop_assert_eq!(t.get(p), *k);
            }
        }
    }
}
