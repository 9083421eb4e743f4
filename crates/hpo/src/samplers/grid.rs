//! Streamed grid search: point `k` of the grid is decoded from its index by mixed radix,
//! so no grid is ever materialised. With `shuffle`, indices are visited in the order of
//! a seeded affine permutation `k ↦ (a·k + c) mod N` (gcd(a, N) = 1), which is a
//! bijection, so every point is still visited exactly once.

use crate::error::HpoError;
use crate::rng::Rng;
use crate::space::SearchSpace;
use serde::{Deserialize, Serialize};

/// Grid sampler settings and progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Points used for a continuous double without a step (evenly spaced, ends included).
    #[serde(default = "default_resolution")]
    pub resolution: u64,
    /// Visit the grid in a seeded pseudo-random order instead of lexicographic order.
    #[serde(default)]
    pub shuffle: bool,
    /// Number of points handed out so far.
    #[serde(default)]
    pub next: u64,
    /// Permutation multiplier and offset (chosen on first use when shuffling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "hex_pair")]
    pub perm: Option<(u64, u64)>,
}

/// The permutation as hex strings, so values above 2^53 survive any JSON store.
mod hex_pair {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<(u64, u64)>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some((a, c)) => s.serialize_some(&[format!("{a:x}"), format!("{c:x}")]),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u64, u64)>, D::Error> {
        let v: Option<[String; 2]> = Option::deserialize(d)?;
        v.map(|[a, c]| {
            let parse = |t: &str| u64::from_str_radix(t, 16).map_err(serde::de::Error::custom);
            Ok((parse(&a)?, parse(&c)?))
        })
        .transpose()
    }
}

fn default_resolution() -> u64 {
    10
}

impl Default for Grid {
    fn default() -> Self {
        Self {
            resolution: default_resolution(),
            shuffle: false,
            next: 0,
            perm: None,
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Grid {
    fn radices(&self, space: &SearchSpace) -> Vec<u64> {
        space
            .params()
            .iter()
            .map(|p| p.levels().unwrap_or(self.resolution.max(1)))
            .collect()
    }

    /// Total number of grid points (saturating at `u64::MAX`).
    pub fn size(&self, space: &SearchSpace) -> u64 {
        self.radices(space)
            .iter()
            .fold(1u64, |a, &r| a.saturating_mul(r))
    }

    /// The internal point with grid index `k`.
    pub fn point(&self, space: &SearchSpace, mut k: u64) -> Vec<f64> {
        let radices = self.radices(space);
        space
            .params()
            .iter()
            .zip(&radices)
            .map(|(p, &r)| {
                let digit = k % r;
                k /= r;
                p.level_value(digit, r)
            })
            .collect()
    }

    /// Next unvisited grid point.
    pub fn suggest(&mut self, space: &SearchSpace, rng: &mut Rng) -> Result<Vec<f64>, HpoError> {
        if self.resolution == 0 {
            return Err(HpoError::InvalidSetting(
                "grid resolution must be >= 1".into(),
            ));
        }
        let n = self.size(space);
        if self.next >= n {
            return Err(HpoError::Exhausted(n));
        }
        let k = if self.shuffle {
            let (a, c) = *self.perm.get_or_insert_with(|| {
                let mut a = if n > 1 { 1 + rng.below(n - 1) } else { 1 };
                while gcd(a, n) != 1 {
                    a = if n > 1 { 1 + rng.below(n - 1) } else { 1 };
                }
                (a, rng.below(n))
            });
            ((u128::from(a) * u128::from(self.next) + u128::from(c)) % u128::from(n)) as u64
        } else {
            self.next
        };
        self.next += 1;
        Ok(self.point(space, k))
    }
}
