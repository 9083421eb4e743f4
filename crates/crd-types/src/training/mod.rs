//! API group `training.mlfleet.io/v1alpha1`: TrainingJob and TrainingQueue.

pub mod job;
pub mod job_status;
pub mod queue;

pub use job::*;
pub use queue::*;

/// The API group of this module's kinds.
pub const GROUP: &str = "training.mlfleet.io";
