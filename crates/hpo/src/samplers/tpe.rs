//! Tree-structured Parzen Estimator (multivariate by default, or univariate) with
//! Optuna 5's defaults: 10 random startup trials, 24 expected-improvement candidates,
//! `gamma(n) = min(ceil(0.1·n), 25)` over finished trials, prior kernel of weight 1, magic
//! clip, no endpoint bandwidths, and constant liar: running trials are counted among the
//! bad ("above") group so parallel suggestions spread out.

use super::parzen::{Dim, Parzen, ParzenSettings};
use super::random;
use super::sobol::Sobol;
use crate::error::HpoError;
use crate::rng::Rng;
use crate::space::{Param, ParamKind};
use crate::trial::{History, TrialState};
use serde::{Deserialize, Serialize};

/// TPE settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tpe {
    /// Finished trials sampled at random before the model is used.
    pub n_startup_trials: usize,
    /// Candidates drawn from the good-trials density per suggestion.
    pub n_ei_candidates: usize,
    /// Fraction of trials considered good.
    pub gamma_ratio: f64,
    /// Upper bound on the number of good trials.
    pub gamma_max: usize,
    /// Add a wide prior kernel.
    pub consider_prior: bool,
    /// Weight of the prior kernel.
    pub prior_weight: f64,
    /// Lower-clip bandwidths (Optuna's "magic clip").
    pub consider_magic_clip: bool,
    /// Let outer kernels reach the range ends.
    pub consider_endpoints: bool,
    /// Joint kernels over all parameters instead of one model per parameter.
    pub multivariate: bool,
    /// Treat running trials as bad results so parallel suggestions differ.
    pub constant_liar: bool,
    /// Draw the startup trials from a scrambled Sobol sequence (space-filling) instead
    /// of independently at random; `None` means random startup as in Optuna.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sobol_startup: Option<Sobol>,
}

impl Default for Tpe {
    fn default() -> Self {
        Self {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            gamma_ratio: 0.1,
            gamma_max: 25,
            consider_prior: true,
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            multivariate: true,
            constant_liar: true,
            sobol_startup: None,
        }
    }
}

/// The estimator coordinate of a parameter.
pub(crate) fn model_dim(p: &Param) -> Dim {
    match &p.kind {
        ParamKind::Int {
            min,
            max,
            log: true,
            ..
        } => Dim::Num {
            low: (*min as f64 - 0.5).ln(),
            high: (*max as f64 + 0.5).ln(),
            step: None,
        },
        ParamKind::Double {
            min,
            max,
            step: None,
            log,
        } => {
            if *log {
                Dim::Num {
                    low: min.ln(),
                    high: max.ln(),
                    step: None,
                }
            } else {
                Dim::Num {
                    low: *min,
                    high: *max,
                    step: None,
                }
            }
        }
        ParamKind::Categorical { choices } => Dim::Cat { n: choices.len() },
        ParamKind::Discrete { values } => Dim::Num {
            low: 0.0,
            high: (values.len() - 1) as f64,
            step: Some(1.0),
        },
        ParamKind::Int { min, step, .. } => {
            let s = step.unwrap_or(1) as f64;
            let high = *min as f64 + (p.levels().unwrap_or(1) - 1) as f64 * s;
            Dim::Num {
                low: *min as f64,
                high,
                step: Some(s),
            }
        }
        ParamKind::Double {
            min, step: Some(s), ..
        } => {
            let high = min + (p.levels().unwrap_or(1) - 1) as f64 * s;
            Dim::Num {
                low: *min,
                high,
                step: Some(*s),
            }
        }
    }
}

fn is_log(p: &Param) -> bool {
    matches!(
        p.kind,
        ParamKind::Int { log: true, .. } | ParamKind::Double { log: true, .. }
    )
}

pub(crate) fn to_model(p: &Param, v: f64) -> f64 {
    if is_log(p) { v.ln() } else { v }
}

pub(crate) fn from_model(p: &Param, m: f64) -> f64 {
    p.snap(if is_log(p) { m.exp() } else { m })
}

impl Tpe {
    fn settings(&self) -> ParzenSettings {
        ParzenSettings {
            consider_prior: self.consider_prior,
            prior_weight: self.prior_weight,
            consider_magic_clip: self.consider_magic_clip,
            consider_endpoints: self.consider_endpoints,
        }
    }

    /// Split trials into good ("below") and bad ("above") point lists, each oldest first.
    fn split(&self, h: &History) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let sign = h.sign;
        let mut complete: Vec<(f64, u64, &[f64])> = h
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| Some((sign * t.value?, t.id, t.x.as_slice())))
            .collect();
        complete.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // Pruned: further progress first, then better last value.
        let mut pruned: Vec<(i64, f64, u64, &[f64])> = h
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Pruned)
            .map(|t| match t.last_intermediate() {
                Some((step, v)) => (-(step as i64), sign * v, t.id, t.x.as_slice()),
                None => (1, f64::INFINITY, t.id, t.x.as_slice()),
            })
            .collect();
        pruned.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut ordered: Vec<(u64, &[f64])> = complete.iter().map(|c| (c.1, c.2)).collect();
        ordered.extend(pruned.iter().map(|p| (p.2, p.3)));
        if self.constant_liar {
            ordered.extend(
                h.trials
                    .iter()
                    .filter(|t| t.state == TrialState::Running)
                    .map(|t| (t.id, t.x.as_slice())),
            );
        }
        // gamma counts finished trials only; running ones always join the bad group.
        let n = complete.len() + pruned.len();
        let n_below = ((self.gamma_ratio * n as f64).ceil() as usize)
            .min(self.gamma_max)
            .min(n);
        let mut below = ordered[..n_below].to_vec();
        let mut above = ordered[n_below..].to_vec();
        if self.constant_liar {
            above.extend(
                h.trials
                    .iter()
                    .filter(|t| t.state == TrialState::Running)
                    .map(|t| (t.id, t.x.as_slice())),
            );
        }
        below.sort_unstable_by_key(|b| b.0);
        above.sort_unstable_by_key(|a| a.0);
        let params = h.space.params();
        let tr = |pts: Vec<(u64, &[f64])>| -> Vec<Vec<f64>> {
            pts.into_iter()
                .map(|(_, x)| params.iter().zip(x).map(|(p, &v)| to_model(p, v)).collect())
                .collect()
        };
        (tr(below), tr(above))
    }

    /// Suggest an internal point.
    pub fn suggest(&mut self, h: &History, rng: &mut Rng) -> Result<Vec<f64>, HpoError> {
        if h.n_finished() < self.n_startup_trials {
            return match &mut self.sobol_startup {
                Some(q) if h.space.len() <= super::sobol::MAX_DIMS => q.suggest(h.space, rng),
                _ => Ok(random::sample(h.space, rng)),
            };
        }
        let params = h.space.params();
        let (below, above) = self.split(h);
        let dims: Vec<Dim> = params.iter().map(model_dim).collect();
        let s = self.settings();
        let n_cand = self.n_ei_candidates.max(1);
        let model_point = if self.multivariate {
            let l = Parzen::new(&below, &dims, &s);
            let g = Parzen::new(&above, &dims, &s);
            let cands: Vec<Vec<f64>> = (0..n_cand).map(|_| l.sample(rng)).collect();
            best_candidate(&l, &g, cands)
        } else {
            let mut out = Vec::with_capacity(params.len());
            for (d, dim) in dims.iter().enumerate() {
                let col = |pts: &[Vec<f64>]| -> Vec<Vec<f64>> {
                    pts.iter().map(|p| vec![p[d]]).collect()
                };
                let l = Parzen::new(&col(&below), std::slice::from_ref(dim), &s);
                let g = Parzen::new(&col(&above), std::slice::from_ref(dim), &s);
                let cands: Vec<Vec<f64>> = (0..n_cand).map(|_| l.sample(rng)).collect();
                out.push(best_candidate(&l, &g, cands)[0]);
            }
            out
        };
        Ok(params
            .iter()
            .zip(model_point)
            .map(|(p, m)| from_model(p, m))
            .collect())
    }
}

fn best_candidate(l: &Parzen, g: &Parzen, cands: Vec<Vec<f64>>) -> Vec<f64> {
    let ll = l.log_pdf(&cands);
    let lg = g.log_pdf(&cands);
    let mut best = 0;
    let mut best_score = f64::NEG_INFINITY;
    for i in 0..cands.len() {
        let score = ll[i] - lg[i];
        if score > best_score {
            best_score = score;
            best = i;
        }
    }
    cands.into_iter().nth(best).unwrap_or_default()
}
