//! Gaussian-process Bayesian optimisation with (log) expected improvement.
//!
//! Inputs are the unit-cube coordinates of each parameter (finite parameters are
//! rounded to their cell centre inside the acquisition function, so the model only sees
//! feasible points); categorical parameters use a Hamming kernel term. Outputs are
//! standardised losses. Hyperparameters are warm-started from the previous fit (kept in
//! the sampler state, so a restored optimiser continues identically). Running trials are
//! added with the best observed value ("constant liar, min"), which removes expected
//! improvement around them so parallel suggestions differ.

// Dense numeric code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

mod lbfgs;
mod linalg;
mod model;

use super::random;
use crate::math::log_h;
use crate::rng::Rng;
use crate::space::{ParamKind, SearchSpace};
use crate::trial::History;
use model::{Data, Hyper, Posterior};
use serde::{Deserialize, Serialize};

/// GP-EI settings and the last fitted hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Gp {
    /// Finished trials sampled at random before the model is used.
    pub n_startup_trials: usize,
    /// Random candidates scored before local refinement.
    pub n_candidates: usize,
    /// Best candidates refined by pattern search.
    pub n_local: usize,
    /// At most this many completed trials train the model (the best half plus the most
    /// recent), bounding the cost of a suggestion on long studies.
    pub max_points: usize,
    /// Last fitted log-hyperparameters (warm start).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub theta: Vec<f64>,
}

impl Default for Gp {
    fn default() -> Self {
        Self {
            n_startup_trials: 10,
            n_candidates: 1024,
            n_local: 4,
            max_points: 300,
            theta: Vec::new(),
        }
    }
}

struct Encoder {
    is_cat: Vec<bool>,
    levels: Vec<Option<u64>>,
}

impl Encoder {
    fn new(space: &SearchSpace) -> Self {
        let is_cat = space
            .params()
            .iter()
            .map(|p| matches!(p.kind, ParamKind::Categorical { .. }))
            .collect();
        let levels = space
            .params()
            .iter()
            .map(|p| match p.kind {
                ParamKind::Categorical { .. } => None,
                ParamKind::Int { log: true, .. } => None,
                _ => p.levels(),
            })
            .collect();
        Self { is_cat, levels }
    }

    /// Encode an internal point.
    fn encode(&self, space: &SearchSpace, x: &[f64]) -> Vec<f64> {
        space
            .params()
            .iter()
            .zip(x)
            .zip(&self.is_cat)
            .map(|((p, &v), &c)| if c { v } else { p.to_unit(v) })
            .collect()
    }

    /// Snap a raw search point onto feasible cells (in place).
    fn snap(&self, space: &SearchSpace, u: &mut [f64]) {
        for (q, p) in space.params().iter().enumerate() {
            if self.is_cat[q] {
                continue;
            }
            u[q] = u[q].clamp(0.0, 1.0);
            if self.levels[q].is_some() || matches!(p.kind, ParamKind::Int { log: true, .. }) {
                u[q] = p.to_unit(p.from_unit(u[q]));
            }
        }
    }
}

impl Gp {
    /// Suggest an internal point (updates the warm-start hyperparameters).
    pub fn suggest(&mut self, h: &History, rng: &mut Rng) -> Vec<f64> {
        let space = h.space;
        let completed: Vec<(&[f64], f64)> = h.completed().collect();
        if completed.len() < self.n_startup_trials.max(2) {
            return random::sample(space, rng);
        }
        let enc = Encoder::new(space);
        let chosen = select_points(&completed, self.max_points.max(2));
        let losses: Vec<f64> = chosen.iter().map(|c| c.1).collect();
        let mean = losses.iter().sum::<f64>() / losses.len() as f64;
        let sd =
            (losses.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / losses.len() as f64).sqrt();
        let sd = if sd > 1e-12 { sd } else { 1.0 };
        let mut data = Data {
            x: chosen.iter().map(|c| enc.encode(space, c.0)).collect(),
            y: losses.iter().map(|l| (l - mean) / sd).collect(),
            is_cat: enc.is_cat.clone(),
        };
        let d = space.len();
        let theta0 = if self.theta.len() == d + 2 {
            self.theta.clone()
        } else {
            Hyper::initial_theta(d)
        };
        // Warm starts converge in a few steps; bound the O(n³) iterations on big sets.
        let iters = if self.theta.len() == d + 2 && data.y.len() > 150 {
            15
        } else {
            60
        };
        let mut theta = model::fit(&data, theta0, iters);
        if theta.iter().any(|t| !t.is_finite()) {
            theta = Hyper::initial_theta(d);
        }
        self.theta = theta.clone();
        let best = data.y.iter().copied().fold(f64::INFINITY, f64::min);
        for p in h.pending() {
            data.x.push(enc.encode(space, p));
            data.y.push(best);
        }
        let Some(post) = Posterior::new(&data, &theta) else {
            return random::sample(space, rng);
        };
        let acq = |u: &[f64]| -> f64 {
            let (m, v) = post.predict(u);
            let s = v.sqrt();
            s.ln() + log_h((best - m) / s)
        };
        let u = self.maximise(space, &enc, &data, &acq, rng);
        let mut x = Vec::with_capacity(d);
        for (q, p) in space.params().iter().enumerate() {
            x.push(if enc.is_cat[q] {
                u[q]
            } else {
                p.from_unit(u[q])
            });
        }
        x
    }

    fn maximise(
        &self,
        space: &SearchSpace,
        enc: &Encoder,
        data: &Data,
        acq: &dyn Fn(&[f64]) -> f64,
        rng: &mut Rng,
    ) -> Vec<f64> {
        let d = space.len();
        let cat_n: Vec<usize> = space
            .params()
            .iter()
            .map(|p| match &p.kind {
                ParamKind::Categorical { choices } => choices.len(),
                _ => 0,
            })
            .collect();
        let random_point = |rng: &mut Rng| -> Vec<f64> {
            let mut u: Vec<f64> = (0..d)
                .map(|q| {
                    if enc.is_cat[q] {
                        rng.below(cat_n[q] as u64) as f64
                    } else {
                        rng.uniform()
                    }
                })
                .collect();
            enc.snap(space, &mut u);
            u
        };
        let mut cands: Vec<(f64, Vec<f64>)> = Vec::with_capacity(self.n_candidates + 64);
        for _ in 0..self.n_candidates.max(1) {
            let u = random_point(rng);
            cands.push((acq(&u), u));
        }
        // Perturbations of the best observed points.
        let mut order: Vec<usize> = (0..data.y.len()).collect();
        order.sort_by(|&a, &b| data.y[a].total_cmp(&data.y[b]));
        for &i in order.iter().take(5) {
            for _ in 0..8 {
                let mut u = data.x[i].clone();
                for q in 0..d {
                    if !enc.is_cat[q] {
                        u[q] += 0.05 * rng.normal();
                    }
                }
                enc.snap(space, &mut u);
                cands.push((acq(&u), u));
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut best = cands[0].clone();
        for (score, start) in cands.into_iter().take(self.n_local) {
            let (s, u) = pattern_search(space, enc, &cat_n, acq, start, score);
            if s > best.0 {
                best = (s, u);
            }
        }
        best.1
    }
}

/// Coordinate pattern search with shrinking steps; categorical dims try every choice.
fn pattern_search(
    space: &SearchSpace,
    enc: &Encoder,
    cat_n: &[usize],
    acq: &dyn Fn(&[f64]) -> f64,
    mut u: Vec<f64>,
    mut fu: f64,
) -> (f64, Vec<f64>) {
    let d = u.len();
    let mut step: f64 = 0.1;
    let mut evals = 0;
    while step > 1e-5 && evals < 600 {
        let mut improved = false;
        for q in 0..d {
            let moves: Vec<f64> = if enc.is_cat[q] {
                (0..cat_n[q])
                    .map(|c| c as f64)
                    .filter(|&c| c != u[q])
                    .collect()
            } else {
                let s = match enc.levels[q] {
                    Some(n) => step.max(1.0 / n as f64),
                    None => step,
                };
                vec![u[q] + s, u[q] - s]
            };
            for m in moves {
                let mut v = u.clone();
                v[q] = m;
                enc.snap(space, &mut v);
                if v[q] == u[q] {
                    continue;
                }
                evals += 1;
                let fv = acq(&v);
                if fv > fu {
                    u = v;
                    fu = fv;
                    improved = true;
                    break;
                }
            }
        }
        if !improved {
            step *= 0.5;
        }
    }
    (fu, u)
}

/// Up to `max` completed points: the best half and the most recent rest.
fn select_points<'a>(completed: &[(&'a [f64], f64)], max: usize) -> Vec<(&'a [f64], f64)> {
    if completed.len() <= max {
        return completed.to_vec();
    }
    let mut idx: Vec<usize> = (0..completed.len()).collect();
    idx.sort_by(|&a, &b| completed[a].1.total_cmp(&completed[b].1));
    let mut keep = vec![false; completed.len()];
    idx.iter().take(max / 2).for_each(|&i| keep[i] = true);
    let mut left = max - max / 2;
    for i in (0..completed.len()).rev() {
        if left == 0 {
            break;
        }
        if !keep[i] {
            keep[i] = true;
            left -= 1;
        }
    }
    completed
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(c, _)| *c)
        .collect()
}
