//! Samplers: how the next point is chosen.

pub mod gp;
pub mod grid;
pub mod hyperband;
pub mod parzen;
pub mod random;
pub mod sobol;
pub mod tpe;

use serde::{Deserialize, Serialize};

pub use gp::Gp;
pub use grid::Grid;
pub use hyperband::Hyperband;
pub use sobol::Sobol;
pub use tpe::Tpe;

/// A sampler with its settings and progress (all of it serialisable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sampler {
    /// Independent uniform sampling.
    Random,
    /// Streamed grid search.
    Grid(Grid),
    /// Sobol quasi-random sequence.
    Sobol(Sobol),
    /// Tree-structured Parzen Estimator.
    Tpe(Tpe),
    /// Gaussian process with expected improvement.
    Gp(Gp),
    /// Asynchronous Hyperband / ASHA over budgets.
    Hyperband(Hyperband),
}

impl Sampler {
    /// Short name for display.
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Random => "random",
            Sampler::Grid(_) => "grid",
            Sampler::Sobol(_) => "sobol",
            Sampler::Tpe(t) if t.multivariate => "tpe-multivariate",
            Sampler::Tpe(_) => "tpe",
            Sampler::Gp(_) => "gp-ei",
            Sampler::Hyperband(_) => "hyperband",
        }
    }

    /// Whether repeated points are expected (promotions) rather than avoided.
    pub(crate) fn repeats_points(&self) -> bool {
        matches!(
            self,
            Sampler::Hyperband(_) | Sampler::Grid(_) | Sampler::Sobol(_)
        )
    }
}
