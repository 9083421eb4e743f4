//! Multi-fidelity search: asynchronous successive halving (ASHA) and asynchronous
//! Hyperband (several ASHA brackets with different early-stopping rates, new
//! configurations assigned to brackets round-robin). Never waits for a rung to fill:
//! each request either promotes the best not-yet-promoted configuration of a rung (the
//! top `1/eta` of what completed there) or starts a new random configuration.

use super::random;
use crate::error::HpoError;
use crate::rng::Rng;
use crate::trial::{History, Rung, TrialState};
use serde::{Deserialize, Serialize};

/// Hyperband/ASHA settings and round-robin position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperband {
    /// Smallest resource a configuration is run with.
    pub min_resource: f64,
    /// Largest resource (the last rung).
    pub max_resource: f64,
    /// Reduction factor between rungs (≥ 2).
    #[serde(default = "three")]
    pub eta: f64,
    /// Number of brackets (1 = plain ASHA; 0 = all `floor(log_eta(max/min)) + 1`).
    #[serde(default)]
    pub brackets: u32,
    /// Bracket that gets the next request.
    #[serde(default)]
    pub next_bracket: u32,
}

fn three() -> f64 {
    3.0
}

/// A point to evaluate with a given resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Internal point.
    pub x: Vec<f64>,
    /// Resource to use.
    pub budget: f64,
    /// Bracket and rung.
    pub rung: Rung,
}

impl Hyperband {
    /// ASHA with `eta` between `min_resource` and `max_resource`.
    pub fn asha(min_resource: f64, max_resource: f64, eta: f64) -> Self {
        Self {
            min_resource,
            max_resource,
            eta,
            brackets: 1,
            next_bracket: 0,
        }
    }

    fn validate(&self) -> Result<(), HpoError> {
        let ok = self.min_resource.is_finite()
            && self.max_resource.is_finite()
            && self.min_resource > 0.0
            && self.max_resource >= self.min_resource
            && self.eta >= 2.0
            && self.eta.is_finite();
        if ok {
            Ok(())
        } else {
            Err(HpoError::InvalidSetting(
                "hyperband needs 0 < min_resource <= max_resource and eta >= 2".into(),
            ))
        }
    }

    /// `floor(log_eta(max/min))`: index of the top rung of bracket 0.
    pub fn s_max(&self) -> u32 {
        let r = self.max_resource / self.min_resource;
        let mut s = 0;
        while self.eta.powi(s as i32 + 1) <= r * (1.0 + 1e-9) {
            s += 1;
        }
        s
    }

    fn n_brackets(&self) -> u32 {
        let all = self.s_max() + 1;
        if self.brackets == 0 {
            all
        } else {
            self.brackets.min(all)
        }
    }

    /// Number of rungs in bracket `b`.
    pub fn rungs(&self, b: u32) -> u32 {
        self.s_max() - b + 1
    }

    /// Resource of rung `k` in bracket `b` (the top rung is `max_resource`).
    pub fn resource(&self, b: u32, k: u32) -> f64 {
        if k + 1 >= self.rungs(b) {
            self.max_resource
        } else {
            self.min_resource * self.eta.powi((b + k) as i32)
        }
    }

    /// Next evaluation: a promotion if one is due, else a new configuration.
    pub fn suggest(&mut self, h: &History, rng: &mut Rng) -> Result<Proposal, HpoError> {
        self.validate()?;
        let nb = self.n_brackets();
        let b = self.next_bracket % nb;
        self.next_bracket = (b + 1) % nb;
        let top = self.rungs(b) - 1;
        for k in (0..top).rev() {
            let at = |kk: u32| {
                h.trials.iter().filter(move |t| {
                    t.rung
                        == Some(Rung {
                            bracket: b,
                            rung: kk,
                        })
                })
            };
            let mut done: Vec<(f64, &[f64])> = at(k)
                .filter(|t| t.state == TrialState::Complete)
                .filter_map(|t| Some((h.sign * t.value?, t.x.as_slice())))
                .collect();
            done.sort_by(|a, c| a.0.total_cmp(&c.0));
            let n_promote = (done.len() as f64 / self.eta).floor() as usize;
            let promoted: Vec<&[f64]> = at(k + 1).map(|t| t.x.as_slice()).collect();
            if let Some((_, x)) = done
                .iter()
                .take(n_promote)
                .find(|(_, x)| !promoted.contains(x))
            {
                let rung = Rung {
                    bracket: b,
                    rung: k + 1,
                };
                return Ok(Proposal {
                    x: x.to_vec(),
                    budget: self.resource(b, k + 1),
                    rung,
                });
            }
        }
        let rung = Rung {
            bracket: b,
            rung: 0,
        };
        Ok(Proposal {
            x: random::sample(h.space, rng),
            budget: self.resource(b, 0),
            rung,
        })
    }
}
