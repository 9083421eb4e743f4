//! Asynchronous successive-halving pruning. Rung `k` sits at step
//! `min_resource · eta^(min_early_stopping_rate + k)`. When a report carries a trial past
//! a rung, its value there is compared with every trial's value at that rung (itself
//! included): it continues only if it ranks within the top `floor(n / eta)` (at least the
//! best one while fewer than `eta` trials reached the rung).

use super::value_at_or_after;
use crate::trial::Trial;
use serde::{Deserialize, Serialize};

/// Successive-halving pruner settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AshaPruner {
    /// Step of the first rung (before the early-stopping rate is applied).
    pub min_resource: u64,
    /// Reduction factor `eta` (≥ 2).
    pub reduction_factor: u64,
    /// Skip this many rungs at the start.
    pub min_early_stopping_rate: u32,
}

impl Default for AshaPruner {
    fn default() -> Self {
        Self {
            min_resource: 1,
            reduction_factor: 3,
            min_early_stopping_rate: 0,
        }
    }
}

impl AshaPruner {
    /// Step at which rung `k` is decided.
    pub fn rung_step(&self, k: u32) -> u64 {
        let eta = self.reduction_factor.max(2);
        self.min_resource
            .max(1)
            .saturating_mul(eta.saturating_pow(self.min_early_stopping_rate + k))
    }

    /// See [`crate::pruners::Pruner::should_prune`].
    pub fn should_prune(&self, trials: &[Trial], trial: &Trial, sign: f64) -> bool {
        let n = trial.intermediate.len();
        let Some(&(step, _)) = trial.intermediate.last() else {
            return false;
        };
        let prev = if n >= 2 {
            Some(trial.intermediate[n - 2].0)
        } else {
            None
        };
        let eta = self.reduction_factor.max(2) as usize;
        let mut k = 0;
        loop {
            let rs = self.rung_step(k);
            if rs > step {
                return false;
            }
            let crossed_now = prev.is_none_or(|p| p < rs);
            if crossed_now {
                let Some(mine) = value_at_or_after(trial, rs, sign) else {
                    return false;
                };
                let mut competing: Vec<f64> = trials
                    .iter()
                    .filter(|t| t.id != trial.id)
                    .filter_map(|t| value_at_or_after(t, rs, sign))
                    .collect();
                competing.push(mine);
                competing.sort_by(f64::total_cmp);
                let idx = (competing.len() / eta).saturating_sub(1);
                if mine > competing[idx] {
                    return true;
                }
            }
            k += 1;
            if rs == u64::MAX {
                return false;
            }
        }
    }
}
