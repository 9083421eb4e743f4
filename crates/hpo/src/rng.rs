//! A small seeded PRNG (xoshiro256++) whose whole state serialises, so results never
//! depend on the version of an external random crate.

use serde::{Deserialize, Serialize};

/// xoshiro256++ generator seeded through splitmix64.
///
/// Serialised as four 16-digit hex strings: JSON numbers above 2^53 do not survive every
/// JSON implementation (the state may be stored in a Kubernetes status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RngRepr", try_from = "RngRepr")]
pub struct Rng {
    s: [u64; 4],
}

#[derive(Serialize, Deserialize)]
struct RngRepr {
    s: [String; 4],
}

impl From<Rng> for RngRepr {
    fn from(r: Rng) -> Self {
        Self {
            s: r.s.map(|v| format!("{v:016x}")),
        }
    }
}

impl TryFrom<RngRepr> for Rng {
    type Error = String;
    fn try_from(r: RngRepr) -> Result<Self, String> {
        let mut s = [0u64; 4];
        for (out, text) in s.iter_mut().zip(&r.s) {
            *out = u64::from_str_radix(text, 16).map_err(|e| format!("rng state `{text}`: {e}"))?;
        }
        if s == [0; 4] {
            return Err("rng state must not be all zero".into());
        }
        Ok(Self { s })
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { s }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = (self.s[0].wrapping_add(self.s[3]))
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in the open interval `(0, 1)`.
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`), unbiased (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let t = n.wrapping_neg() % n;
            while (m as u64) < t {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Standard normal draw (Box-Muller; uses two uniforms, keeps no cache).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform_open();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Index drawn with probability proportional to `weights` (non-negative, not all zero).
    pub fn weighted_index(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }

    /// A new independent generator derived from this one (advances this one).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_below_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = Rng::new(8);
        assert_ne!(Rng::new(7).next_u64(), c.next_u64());
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            counts[a.below(3) as usize] += 1;
        }
        assert!(counts.iter().all(|&n| n > 850), "{counts:?}");
    }

    #[test]
    fn state_round_trips_as_hex_strings() {
        let mut a = Rng::new(u64::MAX);
        a.next_u64();
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            json.starts_with("{\"s\":[\"") && json.len() == 7 + 4 * 19 - 1 + 1,
            "{json}"
        );
        let mut b: Rng = serde_json::from_str(&json).unwrap();
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(serde_json::from_str::<Rng>(r#"{"s":["0","0","0","0"]}"#).is_err());
        assert!(serde_json::from_str::<Rng>(r#"{"s":["xyz","0","0","1"]}"#).is_err());
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(1);
        let n = 20000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }
}
