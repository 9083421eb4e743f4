//! Pure conversions from API objects to the state machine's inputs.

use crd_types::common::condition_is_true;
use crd_types::training::job_status::condition_types;
use crd_types::training::{TrainingJob, TrainingJobState};
use k8s_openapi::api::batch::v1::Job;

use crate::build::meta::LABEL_ATTEMPT;
use crate::state::{ChildJob, Finish, Phase, Prior};

/// Phase from the CRD state enum.
pub fn phase_of(state: TrainingJobState) -> Phase {
    match state {
        TrainingJobState::Pending => Phase::Pending,
        TrainingJobState::Queued => Phase::Queued,
        TrainingJobState::Initializing => Phase::Initializing,
        TrainingJobState::Running => Phase::Running,
        TrainingJobState::Restarting => Phase::Restarting,
        TrainingJobState::Suspended => Phase::Suspended,
        TrainingJobState::Completed => Phase::Completed,
        TrainingJobState::Failed => Phase::Failed,
    }
}

/// CRD state enum from a phase.
pub fn state_of(phase: Phase) -> TrainingJobState {
    match phase {
        Phase::Pending => TrainingJobState::Pending,
        Phase::Queued => TrainingJobState::Queued,
        Phase::Initializing => TrainingJobState::Initializing,
        Phase::Running => TrainingJobState::Running,
        Phase::Restarting => TrainingJobState::Restarting,
        Phase::Suspended => TrainingJobState::Suspended,
        Phase::Completed => TrainingJobState::Completed,
        Phase::Failed => TrainingJobState::Failed,
    }
}

/// Current attempt number recorded in a status: every restart and every
/// preemption/suspension started a new attempt.
pub fn attempt_of(tj: &TrainingJob) -> u32 {
    tj.status.as_ref().map_or(0, |s| {
        u32::try_from(s.restarts.max(0) + s.preemptions.max(0)).unwrap_or(0)
    })
}

/// Whether the status says the job holds an admission.
pub fn is_admitted(tj: &TrainingJob) -> bool {
    tj.status.as_ref().is_some_and(|s| {
        !s.state.is_finished() && condition_is_true(&s.conditions, condition_types::ADMITTED)
    })
}

/// The prior status as the state machine sees it. `checkpoint` overrides the
/// status checkpoint when the in-memory progress book knows a newer one.
pub fn prior_of(tj: &TrainingJob, checkpoint: Option<String>) -> Prior {
    let Some(s) = &tj.status else {
        return Prior::default();
    };
    let has_state = !s.conditions.is_empty() || s.state != TrainingJobState::Pending;
    let reason = s
        .conditions
        .iter()
        .find(|c| {
            c.is_true()
                && c.type_ != condition_types::ADMITTED
                && c.type_ != condition_types::RESOURCES_CREATED
        })
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    Prior {
        phase: has_state.then(|| phase_of(s.state)),
        attempt: attempt_of(tj),
        restarts: u32::try_from(s.restarts.max(0)).unwrap_or(0),
        admitted: is_admitted(tj),
        workers: s.current_workers.and_then(|w| u32::try_from(w).ok()),
        start_time: s.start_time.as_ref().map(|t| t.0),
        next_retry_time: s.next_retry_time.as_ref().map(|t| t.0),
        completion_time: s.completion_time.as_ref().map(|t| t.0),
        last_checkpoint: checkpoint.or_else(|| s.last_checkpoint.as_ref().map(|c| c.path.clone())),
        reason,
        message: s.message.clone().unwrap_or_default(),
    }
}

/// The indexed Job reduced to what the state machine needs.
pub fn child_of(job: &Job) -> ChildJob {
    let attempt = job
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_ATTEMPT))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let st = job.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| u32::try_from(v.unwrap_or(0).max(0)).unwrap_or(0);
    let finished = st.conditions.as_ref().and_then(|cs| {
        cs.iter()
            .filter(|c| c.status == "True")
            .find_map(|c| match c.type_.as_str() {
                "Complete" => Some(Finish::Complete),
                "Failed" => Some(Finish::Failed {
                    reason: c.reason.clone().unwrap_or_default(),
                    message: c.message.clone().unwrap_or_default(),
                }),
                _ => None,
            })
    });
    ChildJob {
        attempt,
        suspended: job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false),
        deleting: job.metadata.deletion_timestamp.is_some(),
        active: n(st.active),
        ready: n(st.ready),
        succeeded: n(st.succeeded),
        failed: n(st.failed),
        finished,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_job_carries_reason_and_attempt() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x-workers", "labels": {"training.mlfleet.io/attempt": "2"}},
            "spec": {"suspend": false, "template": {}},
            "status": {"active": 0, "failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy"},
                {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": "exit code 3"}
            ]}
        }))
        .unwrap();
        let c = child_of(&job);
        assert_eq!(c.attempt, 2);
        assert_eq!(
            c.finished,
            Some(Finish::Failed {
                reason: "PodFailurePolicy".into(),
                message: "exit code 3".into()
            })
        );
    }

    #[test]
    fn attempt_counts_restarts_and_preemptions() {
        let tj: TrainingJob = serde_json::from_value(serde_json::json!({
            "apiVersion": "training.mlfleet.io/v1alpha1", "kind": "TrainingJob",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": {"model": "m", "dataset": "d"},
            "status": {"state": "Restarting", "restarts": 2, "preemptions": 1,
                       "lastCheckpoint": {"path": "/ckpt/e3"}}
        }))
        .unwrap();
        let p = prior_of(&tj, None);
        assert_eq!(
            (p.attempt, p.restarts, p.phase),
            (3, 2, Some(Phase::Restarting))
        );
        assert_eq!(p.last_checkpoint.as_deref(), Some("/ckpt/e3"));
        assert_eq!(
            prior_of(&tj, Some("/ckpt/e4".into()))
                .last_checkpoint
                .as_deref(),
            Some("/ckpt/e4")
        );
    }
}
