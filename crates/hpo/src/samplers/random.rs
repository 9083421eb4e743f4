//! Independent uniform sampling (log-uniform for log-scale parameters).

use crate::rng::Rng;
use crate::space::SearchSpace;

/// A uniformly random point of the space.
pub fn sample(space: &SearchSpace, rng: &mut Rng) -> Vec<f64> {
    let u: Vec<f64> = (0..space.len()).map(|_| rng.uniform()).collect();
    space.from_unit(&u)
}
