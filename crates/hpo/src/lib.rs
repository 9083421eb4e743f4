//! Hyperparameter optimisation for the tuning operator, usable in-process and resumable
//! from a compact JSON state.
//!
//! * [`space`]: int / double / categorical / discrete parameters, log scale, steps,
//!   validated with typed errors.
//! * [`samplers`]: random, streamed grid, Sobol, TPE (univariate and multivariate),
//!   Gaussian-process expected improvement, asynchronous Hyperband/ASHA.
//! * [`pruners`]: median stopping (Katib settings) and ASHA pruning.
//! * [`Optimizer`]: ask / tell / report, pending suggestions, failed and pruned trials,
//!   deterministic for a seed, `to_json` / `from_json`.
//!
//! ```
//! use hpo::{Optimizer, Param, SearchSpace, samplers::{Sampler, Tpe}};
//! let space = SearchSpace::new(vec![Param::double("x", -5.0, 5.0), Param::int("n", 1, 8)]).unwrap();
//! let mut opt = Optimizer::new(space, Sampler::Tpe(Tpe::default()), 42);
//! for _ in 0..30 {
//!     let s = opt.ask().unwrap();
//!     let x = s.params.get("x").unwrap().as_f64();
//!     let n = s.params.get("n").unwrap().as_f64();
//!     opt.tell(s.trial_id, (x - 1.0).powi(2) + (n - 3.0).abs()).unwrap();
//! }
//! let saved = opt.to_json();
//! let mut again = Optimizer::from_json(&saved).unwrap();
//! assert_eq!(again.ask().unwrap(), opt.ask().unwrap());
//! ```

pub mod assignment;
pub mod error;
pub mod expr;
pub mod math;
pub mod optimizer;
pub mod pruners;
pub mod rng;
pub mod samplers;
pub mod space;
pub mod trial;

pub use error::{HpoError, SpaceError};
pub use optimizer::{Decision, Direction, Optimizer, Suggestion};
pub use space::{Assignment, Param, ParamKind, ParamValue, SearchSpace};
pub use trial::{Trial, TrialState};
