//! Sobol low-discrepancy sequence (Joe & Kuo 2008 direction numbers, `new-joe-kuo-6.21201`,
//! dimensions 1–40) with an optional seeded random digital shift (XOR scramble), which
//! keeps every (t, m, s)-net stratification property of the unscrambled sequence.

use crate::error::HpoError;
use crate::rng::Rng;
use crate::space::SearchSpace;
use serde::{Deserialize, Serialize};

/// Rows `s a m_1 … m_s` for dimensions 2..=40 (dimension 1 is van der Corput).
const JOE_KUO: &[&[u32]] = &[
    &[1, 0, 1],
    &[2, 1, 1, 3],
    &[3, 1, 1, 3, 1],
    &[3, 2, 1, 1, 1],
    &[4, 1, 1, 1, 3, 3],
    &[4, 4, 1, 3, 5, 13],
    &[5, 2, 1, 1, 5, 5, 17],
    &[5, 4, 1, 1, 5, 5, 5],
    &[5, 7, 1, 1, 7, 11, 19],
    &[5, 11, 1, 1, 5, 1, 1],
    &[5, 13, 1, 1, 1, 3, 11],
    &[5, 14, 1, 3, 5, 5, 31],
    &[6, 1, 1, 3, 3, 9, 7, 49],
    &[6, 13, 1, 1, 1, 15, 21, 21],
    &[6, 16, 1, 3, 1, 13, 27, 49],
    &[6, 19, 1, 1, 1, 15, 7, 5],
    &[6, 22, 1, 3, 1, 15, 13, 25],
    &[6, 25, 1, 1, 5, 5, 19, 61],
    &[7, 1, 1, 3, 7, 11, 23, 15, 103],
    &[7, 4, 1, 3, 7, 13, 13, 15, 69],
    &[7, 7, 1, 1, 3, 13, 7, 35, 63],
    &[7, 8, 1, 3, 5, 9, 1, 25, 53],
    &[7, 14, 1, 3, 1, 13, 9, 35, 107],
    &[7, 19, 1, 3, 1, 5, 27, 61, 31],
    &[7, 21, 1, 1, 5, 11, 19, 41, 61],
    &[7, 28, 1, 3, 5, 3, 3, 13, 69],
    &[7, 31, 1, 1, 7, 13, 1, 19, 1],
    &[7, 32, 1, 3, 7, 5, 13, 19, 59],
    &[7, 37, 1, 1, 3, 9, 25, 29, 41],
    &[7, 41, 1, 3, 5, 13, 23, 1, 55],
    &[7, 42, 1, 3, 7, 3, 13, 59, 17],
    &[7, 50, 1, 3, 1, 3, 5, 53, 69],
    &[7, 55, 1, 1, 5, 5, 23, 33, 13],
    &[7, 56, 1, 1, 7, 7, 1, 61, 123],
    &[7, 59, 1, 1, 7, 9, 13, 61, 49],
    &[7, 62, 1, 3, 3, 5, 3, 55, 33],
    &[8, 14, 1, 3, 1, 15, 31, 13, 49, 245],
    &[8, 21, 1, 3, 5, 15, 31, 59, 63, 97],
    &[8, 22, 1, 3, 1, 11, 11, 11, 77, 249],
];

/// Largest supported number of parameters.
pub const MAX_DIMS: usize = JOE_KUO.len() + 1;
const BITS: usize = 32;

/// Direction numbers `v[j]` (`j` = bit) for dimension `d` (0-based).
fn directions(d: usize) -> [u32; BITS] {
    let mut v = [0u32; BITS];
    if d == 0 {
        for (j, vj) in v.iter_mut().enumerate() {
            *vj = 1 << (31 - j);
        }
        return v;
    }
    let row = JOE_KUO[d - 1];
    let (s, a) = (row[0] as usize, row[1]);
    let m = &row[2..];
    for j in 0..BITS {
        if j < s {
            v[j] = m[j] << (31 - j);
        } else {
            let mut x = v[j - s] ^ (v[j - s] >> s);
            for k in 1..s {
                if (a >> (s - 1 - k)) & 1 == 1 {
                    x ^= v[j - k];
                }
            }
            v[j] = x;
        }
    }
    v
}

/// Point `index` of the (unshifted) Sobol sequence in `dims` dimensions, as 32-bit integers.
pub fn sobol_bits(index: u64, dims: usize) -> Vec<u32> {
    let gray = index ^ (index >> 1);
    (0..dims)
        .map(|d| {
            let v = directions(d);
            (0..BITS)
                .filter(|&j| (gray >> j) & 1 == 1)
                .fold(0u32, |acc, j| acc ^ v[j])
        })
        .collect()
}

/// Sobol sampler settings and progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sobol {
    /// Apply a seeded random digital shift.
    #[serde(default = "yes")]
    pub scramble: bool,
    /// Index of the next point.
    #[serde(default)]
    pub next: u64,
    /// Digital shift per dimension (chosen on first use when scrambling).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shift: Vec<u32>,
}

fn yes() -> bool {
    true
}

impl Default for Sobol {
    fn default() -> Self {
        Self {
            scramble: true,
            next: 0,
            shift: Vec::new(),
        }
    }
}

impl Sobol {
    /// Next point of the sequence mapped into the space.
    pub fn suggest(&mut self, space: &SearchSpace, rng: &mut Rng) -> Result<Vec<f64>, HpoError> {
        let d = space.len();
        if d > MAX_DIMS {
            return Err(HpoError::InvalidSetting(format!(
                "Sobol sampler supports at most {MAX_DIMS} parameters, space has {d}"
            )));
        }
        if self.next >= 1u64 << BITS {
            return Err(HpoError::Exhausted(1u64 << BITS));
        }
        if self.scramble && self.shift.len() != d {
            self.shift = (0..d).map(|_| rng.next_u64() as u32).collect();
        }
        let bits = sobol_bits(self.next, d);
        self.next += 1;
        let u: Vec<f64> = bits
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let b = if self.scramble { b ^ self.shift[i] } else { b };
                (f64::from(b) + 0.5) / 4_294_967_296.0
            })
            .collect();
        Ok(space.from_unit(&u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(i: u64, d: usize) -> Vec<f64> {
        sobol_bits(i, d)
            .iter()
            .map(|&b| f64::from(b) / 4_294_967_296.0)
            .collect()
    }

    #[test]
    fn first_points_match_the_textbook_sequence() {
        let expect = [
            [0.0, 0.0],
            [0.5, 0.5],
            [0.75, 0.25],
            [0.25, 0.75],
            [0.375, 0.375],
            [0.875, 0.875],
        ];
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(unit(i as u64, 2), e.to_vec(), "point {i}");
        }
    }

    #[test]
    fn every_dimension_is_stratified_and_pairs_form_nets() {
        // First 2^m points: every 1-D projection has exactly one point per 1/2^m cell.
        let m = 8;
        let n = 1usize << m;
        let pts: Vec<Vec<u32>> = (0..n as u64).map(|i| sobol_bits(i, MAX_DIMS)).collect();
        for d in 0..MAX_DIMS {
            let mut seen = vec![false; n];
            for p in &pts {
                let cell = (p[d] >> (32 - m)) as usize;
                assert!(!seen[cell], "dim {d} cell {cell} twice");
                seen[cell] = true;
            }
        }
        // Dims 0 and 1 form a (0, m, 2)-net: each 2^k × 2^(m-k) box holds one point.
        for k in 0..=m {
            let mut seen = vec![false; n];
            for p in &pts {
                let a = if k == 0 {
                    0
                } else {
                    (p[0] >> (32 - k)) as usize
                };
                let b = if k == m {
                    0
                } else {
                    (p[1] >> (32 - (m - k))) as usize
                };
                let cell = (a << (m - k)) | b;
                assert!(!seen[cell], "k={k}");
                seen[cell] = true;
            }
        }
    }
}
