//! The TrainingJob state machine (pure): from the prior status, the observed
//! child Job and the admission decision to the next phase, the conditions, the
//! one child action to take and when to look again.

mod conditions;
mod failure;
mod machine;
mod phase;

pub use conditions::{ConditionSpec, desired_conditions};
pub use failure::{
    ExitClass, backoff_delay, classify_exit_code, classify_job_failure, exit_code_in,
};
pub use machine::{AdmissionView, ChildAction, ChildJob, Finish, Observation, Prior, Step, step};
pub use phase::Phase;

#[cfg(test)]
mod tests;
