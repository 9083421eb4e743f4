//! Median stopping rule with Katib's settings: from `start_step` on, once at least
//! `min_trials_required` trials have completed, a trial stops when its best value so far
//! is strictly worse than the median of the completed trials' running averages up to the
//! same step.

use crate::trial::{Trial, TrialState};
use serde::{Deserialize, Serialize};

/// Median stopping settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MedianStop {
    /// Completed trials needed before anything is stopped (Katib default 3).
    pub min_trials_required: usize,
    /// First step at which a trial may be stopped (Katib default 4).
    pub start_step: u64,
}

impl Default for MedianStop {
    fn default() -> Self {
        Self {
            min_trials_required: 3,
            start_step: 4,
        }
    }
}

impl MedianStop {
    /// See [`crate::pruners::Pruner::should_prune`].
    pub fn should_prune(&self, trials: &[Trial], trial: &Trial, sign: f64) -> bool {
        let Some((step, _)) = trial.last_intermediate() else {
            return false;
        };
        if step < self.start_step {
            return false;
        }
        let best = trial
            .intermediate
            .iter()
            .filter(|(s, _)| *s <= step)
            .map(|(_, v)| sign * v)
            .fold(f64::INFINITY, f64::min);
        let mut averages: Vec<f64> = trials
            .iter()
            .filter(|t| t.id != trial.id && t.state == TrialState::Complete)
            .filter_map(|t| {
                let upto: Vec<f64> = t
                    .intermediate
                    .iter()
                    .filter(|(s, _)| *s <= step)
                    .map(|(_, v)| sign * v)
                    .collect();
                (!upto.is_empty()).then(|| upto.iter().sum::<f64>() / upto.len() as f64)
            })
            .collect();
        if averages.len() < self.min_trials_required.max(1) {
            return false;
        }
        averages.sort_by(f64::total_cmp);
        let n = averages.len();
        let median = if n % 2 == 1 {
            averages[n / 2]
        } else {
            0.5 * (averages[n / 2 - 1] + averages[n / 2])
        };
        best > median
    }
}
