//! A tiny seeded random source (SplitMix64) so that placement is reproducible.
//!
//! Written here rather than taken from `rand` so that the sequence is fixed by this file alone:
//! the same seed gives the same numbers natively, on `wasm32-unknown-unknown` and across
//! dependency upgrades (the same idea as nomad seeding its node shuffle from the evaluation id).
//! It is not cryptographic and must never be used for secrets.

use serde::{Deserialize, Serialize};

/// The golden-ratio increment of the state.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 (Steele, Lea and Flood, 2014): 64 bits of state, one add and a few multiply/xor-shift
/// steps per number, passes BigCrush. Deterministic on every target.

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// Reservoir sampling over `total` equal candidates, as a selector offering them in turn
    /// does it: candidate `t` (counting from 1) replaces the choice when [`SplitMix64::below`]`(t)`
    /// is 0, for `t` from 2 to `total`. Returns the chosen candidate (from 0) and leaves the state
    /// as those `total - 1` draws would; since the last replacement wins, the draws are examined
    /// from the last one back (each is a pure function of the state and its index).
    pub(crate) fn reservoir(&mut self, total: u64) -> u64 {
        let base = self.state;
        let mut chosen = 0;
        for t in (2..=total).rev() {
            let z = mix(base.wrapping_add(GAMMA.wrapping_mul(t - 1)));
            if (u128::from(z) * u128::from(t)) >> 64 == 0 {
                chosen = t - 1;
                break;
            }
        }
        self.skip(total.saturating_sub(1));
        chosen
    }

    /// Skips `n` numbers: the same state as `n` calls of [`SplitMix64::next_u64`] (or
    /// [`SplitMix64::below`]), in O(1), since each call adds a constant to the state.
    pub(crate) fn skip(&mut self, n: u64) {
        self.state = self.state.wrapping_add(GAMMA.wrapping_mul(n));
    }

    /// A number in `0..n` (`0` when `n` is `0`), by Lemire's multiply-shift (bias below 2⁻³²
    /// for the small `n` placement uses).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// SplitMix64's output function of a state.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sequence() {
        // Reference values of SplitMix64 with seed 1234567 (from the algorithm's reference C code).
        let mut r = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            vec![
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn skip_is_n_calls() {
        for n in [0u64, 1, 2, 17, 1000] {
            let (mut a, mut b) = (SplitMix64::new(99), SplitMix64::new(99));
            for _ in 0..n {
                a.below(n + 1);
            }
            b.skip(n);
            assert_eq!(a, b);
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn reservoir_is_the_selectors_draws() {
        for seed in 0..200u64 {
            for total in [0u64, 1, 2, 3, 7, 50] {
                let mut a = SplitMix64::new(seed);
                let mut chosen = 0;
                for t in 2..=total {
                    if a.below(t) == 0 {
                        chosen = t - 1;
                    }
                }
                let mut b = SplitMix64::new(seed);
                assert_eq!(b.reservoir(total), chosen);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn below_is_in_range() {
        let mut r = SplitMix64::new(7);
        for n in 1..100 {
            assert!(r.below(n) < n);
        }
        assert_eq!(r.below(0), 0);
    }
}
