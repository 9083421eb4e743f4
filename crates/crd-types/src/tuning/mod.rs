//! API group `tuning.mlfleet.io/v1alpha1`: Experiment (a hyperparameter search) and Trial
//! (one evaluated point, run as a TrainingJob).

pub mod experiment;
pub mod trial;

pub use experiment::*;
pub use trial::*;

/// The API group of this module's kinds.
pub const GROUP: &str = "tuning.mlfleet.io";
