//! The optimiser: ask for suggestions, tell results, report intermediate values, and
//! save/restore the whole state as compact JSON.

use crate::error::HpoError;
use crate::pruners::Pruner;
use crate::rng::Rng;
use crate::samplers::{Sampler, random};
use crate::space::{Assignment, SearchSpace};
use crate::trial::{History, Trial, TrialState};
use serde::{Deserialize, Serialize};

/// Whether smaller or larger objective values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smaller is better.
    #[default]
    Minimize,
    /// Larger is better.
    Maximize,
}

/// A suggestion handed to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Id to use in `tell`/`report`.
    pub trial_id: u64,
    /// Parameter values.
    pub params: Assignment,
    /// Resource to train with (multi-fidelity samplers only).
    pub budget: Option<f64>,
}

/// What to do with a running trial after an intermediate report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep going.
    Continue,
    /// Stop now; the trial is recorded as pruned.
    Prune,
}

/// Optimiser state: space, settings, RNG and every trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    space: SearchSpace,
    #[serde(default)]
    direction: Direction,
    sampler: Sampler,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pruner: Option<Pruner>,
    rng: Rng,
    trials: Vec<Trial>,
}

const DEDUP_TRIES: usize = 64;

impl Optimizer {
    /// New optimiser, minimising, without a pruner.
    pub fn new(space: SearchSpace, sampler: Sampler, seed: u64) -> Self {
        Self {
            space,
            direction: Direction::Minimize,
            sampler,
            pruner: None,
            rng: Rng::new(seed),
            trials: Vec::new(),
        }
    }

    /// Set the direction.
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Set a pruner for [`Optimizer::report`].
    pub fn with_pruner(mut self, pruner: Pruner) -> Self {
        self.pruner = Some(pruner);
        self
    }

    /// The search space.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The sampler and its progress.
    pub fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// All trials, in id order (ids equal positions).
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    fn sign(&self) -> f64 {
        match self.direction {
            Direction::Minimize => 1.0,
            Direction::Maximize => -1.0,
        }
    }

    /// The best complete trial.
    pub fn best(&self) -> Option<&Trial> {
        let s = self.sign();
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| Some((t, s * t.value?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
    }

    /// Parameter values of a trial.
    pub fn assignment(&self, trial_id: u64) -> Result<Assignment, HpoError> {
        Ok(self.space.assignment(&self.trial(trial_id)?.x))
    }

    fn trial(&self, id: u64) -> Result<&Trial, HpoError> {
        self.trials
            .get(id as usize)
            .ok_or(HpoError::UnknownTrial(id))
    }

    fn running_mut(&mut self, id: u64) -> Result<&mut Trial, HpoError> {
        let t = self
            .trials
            .get_mut(id as usize)
            .ok_or(HpoError::UnknownTrial(id))?;
        if t.state != TrialState::Running {
            return Err(HpoError::TrialFinished(id));
        }
        Ok(t)
    }

    /// Next suggestion; it stays pending (running) until told. Running trials are taken
    /// into account, so several suggestions can be outstanding without duplicates.
    pub fn ask(&mut self) -> Result<Suggestion, HpoError> {
        let h = History {
            space: &self.space,
            trials: &self.trials,
            sign: self.sign(),
        };
        let (mut budget, mut rung) = (None, None);
        let mut x = match &mut self.sampler {
            Sampler::Random => random::sample(&self.space, &mut self.rng),
            Sampler::Grid(g) => g.suggest(&self.space, &mut self.rng)?,
            Sampler::Sobol(s) => s.suggest(&self.space, &mut self.rng)?,
            Sampler::Tpe(t) => t.suggest(&h, &mut self.rng)?,
            Sampler::Gp(g) => g.suggest(&h, &mut self.rng),
            Sampler::Hyperband(hb) => {
                let p = hb.suggest(&h, &mut self.rng)?;
                (budget, rung) = (Some(p.budget), Some(p.rung));
                p.x
            }
        };
        if !self.sampler.repeats_points() {
            x = self.dedup_against_pending(x)?;
        }
        debug_assert!(self.space.contains(&x), "sampler left the space: {x:?}");
        let id = self.trials.len() as u64;
        let params = self.space.assignment(&x);
        self.trials.push(Trial {
            id,
            x,
            state: TrialState::Running,
            value: None,
            intermediate: Vec::new(),
            budget,
            rung,
        });
        Ok(Suggestion {
            trial_id: id,
            params,
            budget,
        })
    }

    fn dedup_against_pending(&mut self, mut x: Vec<f64>) -> Result<Vec<f64>, HpoError> {
        let pending: Vec<&[f64]> = self
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Running)
            .map(|t| t.x.as_slice())
            .collect();
        if !pending.contains(&x.as_slice()) {
            return Ok(x);
        }
        if let Some(card) = self.space.cardinality() {
            let mut distinct: Vec<&[f64]> = Vec::new();
            for p in &pending {
                if !distinct.contains(p) {
                    distinct.push(p);
                }
            }
            if distinct.len() as u64 >= card {
                return Err(HpoError::Exhausted(card));
            }
        }
        for _ in 0..DEDUP_TRIES {
            x = random::sample(&self.space, &mut self.rng);
            if !pending.contains(&x.as_slice()) {
                return Ok(x);
            }
        }
        // Small finite space nearly full: walk the grid for a free point.
        let card = self.space.cardinality().unwrap_or(u64::MAX);
        let grid = crate::samplers::Grid::default();
        let start = self.rng.below(card.max(1));
        for off in 0..card.min(1 << 20) {
            let p = grid.point(&self.space, (start + off) % card);
            if !pending.contains(&p.as_slice()) {
                return Ok(p);
            }
        }
        Err(HpoError::Exhausted(card))
    }

    /// Record the final objective value of a running trial.
    pub fn tell(&mut self, trial_id: u64, value: f64) -> Result<(), HpoError> {
        if !value.is_finite() {
            return Err(HpoError::NotFinite(value));
        }
        let t = self.running_mut(trial_id)?;
        t.value = Some(value);
        t.state = TrialState::Complete;
        Ok(())
    }

    /// Record that a running trial failed (it is ignored by the models).
    pub fn tell_failed(&mut self, trial_id: u64) -> Result<(), HpoError> {
        self.running_mut(trial_id)?.state = TrialState::Failed;
        Ok(())
    }

    /// Mark a running trial as pruned by an outside decision.
    pub fn tell_pruned(&mut self, trial_id: u64) -> Result<(), HpoError> {
        self.running_mut(trial_id)?.state = TrialState::Pruned;
        Ok(())
    }

    /// Record an intermediate value at `step` and ask the pruner whether to stop.
    /// Steps must increase within a trial.
    pub fn report(&mut self, trial_id: u64, step: u64, value: f64) -> Result<Decision, HpoError> {
        if !value.is_finite() {
            return Err(HpoError::NotFinite(value));
        }
        let t = self.running_mut(trial_id)?;
        if let Some((last, _)) = t.last_intermediate()
            && step <= last
        {
            return Err(HpoError::InvalidSetting(format!(
                "step {step} reported after step {last} for trial {trial_id}"
            )));
        }
        t.intermediate.push((step, value));
        let sign = self.sign();
        let Some(pruner) = &self.pruner else {
            return Ok(Decision::Continue);
        };
        let trial = &self.trials[trial_id as usize];
        if pruner.should_prune(&self.trials, trial, sign) {
            self.trials[trial_id as usize].state = TrialState::Pruned;
            Ok(Decision::Prune)
        } else {
            Ok(Decision::Continue)
        }
    }

    /// Add an already evaluated point (for example from an earlier study).
    pub fn add_completed(&mut self, params: &Assignment, value: f64) -> Result<u64, HpoError> {
        if !value.is_finite() {
            return Err(HpoError::NotFinite(value));
        }
        let x = self
            .space
            .internal(params)
            .map_err(HpoError::BadAssignment)?;
        let id = self.trials.len() as u64;
        self.trials.push(Trial {
            id,
            x,
            state: TrialState::Complete,
            value: Some(value),
            intermediate: Vec::new(),
            budget: None,
            rung: None,
        });
        Ok(id)
    }

    /// The whole state as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| unreachable_json(&e))
    }

    /// Restore from [`Optimizer::to_json`] output; checks that trials fit the space.
    pub fn from_json(s: &str) -> Result<Self, HpoError> {
        let o: Optimizer =
            serde_json::from_str(s).map_err(|e| HpoError::BadState(e.to_string()))?;
        for (i, t) in o.trials.iter().enumerate() {
            if t.id != i as u64 {
                return Err(HpoError::BadState(format!(
                    "trial at position {i} has id {}",
                    t.id
                )));
            }
            if !o.space.contains(&t.x) {
                return Err(HpoError::BadState(format!(
                    "trial {i} lies outside the space"
                )));
            }
            if t.state == TrialState::Complete && t.value.is_none_or(|v| !v.is_finite()) {
                return Err(HpoError::BadState(format!(
                    "complete trial {i} has no finite value"
                )));
            }
        }
        Ok(o)
    }
}

#[cold]
fn unreachable_json(e: &serde_json::Error) -> String {
    // Serialising plain data with finite floats cannot fail; keep a readable marker if it does.
    format!("{{\"error\":{:?}}}", e.to_string())
}
