//! The standard condition set of a TrainingJob, derived from a [`Step`](super::Step).

use super::machine::Step;
use super::phase::Phase;

/// One desired condition; the status writer keeps `lastTransitionTime` when the
/// status value does not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionSpec {
    /// Condition type.
    pub type_: &'static str,
    /// `"True"` or `"False"`.
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

fn cond(type_: &'static str, on: bool, reason: &str, message: &str) -> ConditionSpec {
    ConditionSpec {
        type_,
        status: if on { "True" } else { "False" },
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

/// All eight condition types, always present, for the given step.
pub fn desired_conditions(s: &Step) -> Vec<ConditionSpec> {
    let p = s.phase;
    let (r, m) = (s.reason.as_str(), s.message.as_str());
    let queued = matches!(p, Phase::Pending | Phase::Queued);
    vec![
        if queued {
            cond("Queued", true, r, m)
        } else {
            cond("Queued", false, "Dequeued", "left the queue")
        },
        if s.admitted {
            cond(
                "Admitted",
                true,
                "GangAdmitted",
                &format!("all {} workers fit quota and free capacity", s.workers),
            )
        } else if queued {
            cond("Admitted", false, r, m)
        } else {
            cond("Admitted", false, p.as_str(), "holds no admission")
        },
        if s.resources_created {
            cond(
                "ResourcesCreated",
                true,
                "ChildrenApplied",
                "indexed Job, headless Service and ConfigMap exist",
            )
        } else {
            cond(
                "ResourcesCreated",
                false,
                "NotCreated",
                "children not created yet",
            )
        },
        if p == Phase::Running {
            cond("Running", true, r, m)
        } else {
            cond("Running", false, p.as_str(), "not running")
        },
        if p == Phase::Restarting {
            cond("Restarting", true, r, m)
        } else {
            cond("Restarting", false, p.as_str(), "not restarting")
        },
        if p == Phase::Suspended {
            cond("Suspended", true, r, m)
        } else {
            cond("Suspended", false, p.as_str(), "not suspended")
        },
        if p == Phase::Completed {
            cond("Succeeded", true, r, m)
        } else {
            cond("Succeeded", false, p.as_str(), "not finished")
        },
        if p == Phase::Failed {
            cond("Failed", true, r, m)
        } else {
            cond("Failed", false, p.as_str(), "not failed")
        },
    ]
}
