//! Pure builders: desired child objects of a TrainingJob, computed from a
//! [`JobPlan`](crate::spec::JobPlan) without a client. The reconciler applies
//! what these return with server-side apply.

pub mod configmap;
pub mod env;
pub mod job;
pub mod meta;
pub mod pvc;
pub mod service;

/// Which incarnation of the worker gang a Job belongs to, and how it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Attempt number (0 for the first Job; every retry, preemption, suspend or
    /// resize adds one). Workers see it as TRAINING_ATTEMPT and report it back.
    pub number: u32,
    /// Checkpoint the workers resume from (`RESUME_FROM_CHECKPOINT`).
    pub resume_from: Option<String>,
    /// Create the Job suspended (not yet admitted).
    pub suspend: bool,
    /// Gang size of this attempt (elastic jobs may differ from the spec).
    pub workers: u32,
}
