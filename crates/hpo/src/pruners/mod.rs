//! Early stopping of running trials from their intermediate values.

pub mod asha;
pub mod median;

pub use asha::AshaPruner;
pub use median::MedianStop;

use crate::trial::Trial;
use serde::{Deserialize, Serialize};

/// An early-stopping rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pruner {
    /// Katib-style median stopping.
    MedianStop(MedianStop),
    /// Successive-halving (ASHA) pruning at geometric rungs.
    Asha(AshaPruner),
}

impl Pruner {
    /// Whether `trial` (whose latest report was just recorded) should stop now.
    /// `sign` is `1` when minimising and `-1` when maximising.
    pub fn should_prune(&self, trials: &[Trial], trial: &Trial, sign: f64) -> bool {
        match self {
            Pruner::MedianStop(m) => m.should_prune(trials, trial, sign),
            Pruner::Asha(a) => a.should_prune(trials, trial, sign),
        }
    }
}

/// Loss (sign-adjusted) of the first report at or after `step`, if any.
pub(crate) fn value_at_or_after(t: &Trial, step: u64, sign: f64) -> Option<f64> {
    t.intermediate
        .iter()
        .find(|(s, _)| *s >= step)
        .map(|(_, v)| sign * v)
}
