//! Trials as the optimiser records them, and the read-only view samplers get.

use crate::space::SearchSpace;
use serde::{Deserialize, Serialize};

/// Lifecycle state of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrialState {
    /// Suggested, no result yet (a pending suggestion).
    #[serde(rename = "R")]
    Running,
    /// Finished with an objective value.
    #[serde(rename = "C")]
    Complete,
    /// Stopped early by a pruner; its intermediate values remain.
    #[serde(rename = "P")]
    Pruned,
    /// The objective could not be evaluated.
    #[serde(rename = "F")]
    Failed,
}

/// Position of a multi-fidelity trial: Hyperband bracket and rung within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    /// Bracket index (0 = most aggressive early stopping).
    pub bracket: u32,
    /// Rung within the bracket (0 = smallest budget).
    pub rung: u32,
}

/// One evaluation of the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Id, unique within the optimiser, increasing in suggestion order.
    #[serde(rename = "i")]
    pub id: u64,
    /// Internal parameter values (see [`crate::space`]).
    #[serde(rename = "x")]
    pub x: Vec<f64>,
    /// Current state.
    #[serde(rename = "s")]
    pub state: TrialState,
    /// Final objective value as reported (complete trials).
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Intermediate values `(step, value)` in report order.
    #[serde(rename = "h", default, skip_serializing_if = "Vec::is_empty")]
    pub intermediate: Vec<(u64, f64)>,
    /// Resource (epochs, samples, ...) this trial should use, for multi-fidelity samplers.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Bracket and rung, for multi-fidelity samplers.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<Rung>,
}

impl Trial {
    /// Last reported intermediate value.
    pub fn last_intermediate(&self) -> Option<(u64, f64)> {
        self.intermediate.last().copied()
    }
}

/// What samplers see: the space, every trial so far, and the objective's orientation.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// The search space.
    pub space: &'a SearchSpace,
    /// Trials in id order.
    pub trials: &'a [Trial],
    /// `1.0` when minimising, `-1.0` when maximising: `loss = sign * value`.
    pub sign: f64,
}

impl<'a> History<'a> {
    /// Completed trials as `(x, loss)`, in id order.
    pub fn completed(&self) -> impl Iterator<Item = (&'a [f64], f64)> + 'a {
        let sign = self.sign;
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(move |t| Some((t.x.as_slice(), sign * t.value?)))
    }

    /// Points of trials still running (pending suggestions).
    pub fn pending(&self) -> impl Iterator<Item = &'a [f64]> + 'a {
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Running)
            .map(|t| t.x.as_slice())
    }

    /// Number of complete plus pruned trials.
    pub fn n_finished(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
            .count()
    }
}
