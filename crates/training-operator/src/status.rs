//! Status (pure): the status fields the reconciler owns, as a JSON merge patch
//! for the status subresource. Progress fields (currentEpoch, progress,
//! metrics, lastCheckpoint) belong to the progress writer and are never
//! touched here, so the two writers do not overwrite each other.

use crd_types::common::{Condition, ConditionStatus, set_condition};
use crd_types::training::TrainingJobStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::observe::state_of;
use crate::spec::JobPlan;
use crate::state::{ChildJob, Phase, Step, desired_conditions};

/// Keys of `status` the reconciler writes.
pub const OWNED_KEYS: &[&str] = &[
    "observedGeneration",
    "state",
    "message",
    "conditions",
    "restarts",
    "preemptions",
    "queuePosition",
    "currentWorkers",
    "allocatedGpus",
    "nodes",
    "workers",
    "startTime",
    "completionTime",
    "nextRetryTime",
    "admissionTime",
    "totalEpochs",
];

/// Inputs of [`desired_status`] besides the step.
#[derive(Debug, Clone)]
pub struct StatusInputs<'a> {
    /// Validated spec.
    pub plan: &'a JobPlan,
    /// metadata.generation.
    pub generation: Option<i64>,
    /// The status before this reconcile.
    pub prior: Option<&'a TrainingJobStatus>,
    /// The observed Job of the current attempt.
    pub child: Option<&'a ChildJob>,
    /// Nodes the current attempt's pods run on.
    pub nodes: Vec<String>,
    /// Now.
    pub now: Timestamp,
}

fn time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(Time(t)))
}

/// The reconciler-owned part of the status after `step`.
pub fn desired_status(step: &Step, i: &StatusInputs<'_>) -> Value {
    let mut conditions: Vec<Condition> = i.prior.map(|p| p.conditions.clone()).unwrap_or_default();
    for c in desired_conditions(step) {
        let status = if c.status == "True" {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        set_condition(
            &mut conditions,
            Condition::new(
                c.type_,
                status,
                c.reason,
                c.message,
                i.generation,
                Time(i.now),
            ),
        );
    }
    let prior_admitted = i.prior.and_then(|p| p.admission_time.clone());
    let admission_time = if step.admitted {
        let was_admitted = i
            .prior
            .is_some_and(|p| crd_types::common::condition_is_true(&p.conditions, "Admitted"));
        if was_admitted {
            prior_admitted.map(|t| t.0)
        } else {
            Some(i.now)
        }
    } else {
        prior_admitted.map(|t| t.0)
    };
    let running_pods = matches!(step.phase, Phase::Initializing | Phase::Running);
    let (active, succeeded, failed, pending) =
        match (i.child, running_pods || step.phase == Phase::Completed) {
            (Some(c), true) => (
                c.active,
                c.succeeded,
                c.failed,
                c.active.saturating_sub(c.ready),
            ),
            _ => (0, 0, 0, 0),
        };
    let gpus = if step.admitted {
        u64::from(step.workers) * u64::from(i.plan.resources.gpus)
    } else {
        0
    };
    let mut nodes = if running_pods {
        i.nodes.clone()
    } else {
        vec![]
    };
    nodes.sort();
    nodes.dedup();
    let mut v = json!({
        "observedGeneration": i.generation,
        "state": state_of(step.phase),
        "message": step.message,
        "conditions": conditions,
        "restarts": step.restarts,
        "preemptions": step.attempt.saturating_sub(step.restarts),
        "queuePosition": step.queue_position,
        "currentWorkers": step.workers,
        "allocatedGpus": gpus,
        "nodes": nodes,
        "workers": {"active": active, "succeeded": succeeded, "failed": failed, "pending": pending},
        "startTime": time(step.start_time),
        "completionTime": time(step.completion_time),
        "nextRetryTime": time(if step.phase == Phase::Restarting { step.next_retry_time } else { None }),
        "admissionTime": time(admission_time),
        "totalEpochs": i.plan.total_epochs,
    });
    if step.phase == Phase::Completed
        && let Some(obj) = v.as_object_mut()
    {
        // Completion means every epoch ran: progress fields are final here.
        obj.insert("progress".into(), json!(100));
        if let Some(total) = i.plan.total_epochs {
            obj.insert("currentEpoch".into(), json!(total));
        }
    }
    v
}

/// The reconciler-owned keys of an existing status (absent keys as null), for
/// comparing with [`desired_status`] and skipping no-op writes.
pub fn owned_projection(status: Option<&TrainingJobStatus>) -> Value {
    let full = status
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let mut out = Map::new();
    for k in OWNED_KEYS {
        out.insert(
            (*k).to_string(),
            full.get(*k).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(out)
}

/// Whether writing `desired` would change anything.
pub fn needs_write(prior: Option<&TrainingJobStatus>, desired: &Value) -> bool {
    let current = owned_projection(prior);
    let Some(d) = desired.as_object() else {
        return true;
    };
    d.iter().any(|(k, v)| {
        if k == "progress" || k == "currentEpoch" {
            let cur = prior
                .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            return cur.get(k) != Some(v);
        }
        let cur = current.get(k).unwrap_or(&Value::Null);
        // Empty lists/objects and nulls are the same thing once serialized with skip rules.
        !(cur == v || (is_empty(cur) && is_empty(v)))
    })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures::seed;
    use crate::state::ChildAction;

    fn step(phase: Phase) -> Step {
        Step {
            phase,
            reason: "R".into(),
            message: "m".into(),
            attempt: 1,
            restarts: 1,
            admitted: true,
            workers: 2,
            queue_position: None,
            resources_created: true,
            action: ChildAction::None,
            start_time: Some(Timestamp::from_second(1_700_000_000).unwrap()),
            next_retry_time: None,
            completion_time: None,
            requeue_after: None,
            delete_self: false,
        }
    }

    #[test]
    fn running_status_round_trips_and_is_idempotent() {
        let plan = seed();
        let child = ChildJob {
            attempt: 1,
            active: 2,
            ready: 2,
            ..Default::default()
        };
        let now = Timestamp::from_second(1_700_000_100).unwrap();
        let inputs = StatusInputs {
            plan: &plan,
            generation: Some(1),
            prior: None,
            child: Some(&child),
            nodes: vec!["gpu-1".into(), "gpu-0".into(), "gpu-1".into()],
            now,
        };
        let v = desired_status(&step(Phase::Running), &inputs);
        assert_eq!(v["state"], "Running");
        assert_eq!(v["allocatedGpus"], 2);
        assert_eq!(v["nodes"], json!(["gpu-0", "gpu-1"]));
        assert_eq!(v["workers"]["active"], 2);
        assert_eq!(v["conditions"].as_array().unwrap().len(), 8);
        // It parses as the CRD status, and writing it again changes nothing.
        let parsed: TrainingJobStatus = serde_json::from_value(v.clone()).unwrap();
        let later = StatusInputs {
            prior: Some(&parsed),
            now: Timestamp::from_second(1_700_000_200).unwrap(),
            ..inputs
        };
        let again = desired_status(&step(Phase::Running), &later);
        assert!(!needs_write(Some(&parsed), &again), "{again}");
        assert!(needs_write(
            Some(&parsed),
            &desired_status(&step(Phase::Completed), &later)
        ));
    }

    #[test]
    fn completed_sets_full_progress() {
        let plan = seed();
        let inputs = StatusInputs {
            plan: &plan,
            generation: Some(1),
            prior: None,
            child: None,
            nodes: vec![],
            now: Timestamp::now(),
        };
        let mut s = step(Phase::Completed);
        s.admitted = false;
        let v = desired_status(&s, &inputs);
        assert_eq!(
            (v["progress"].clone(), v["currentEpoch"].clone()),
            (json!(100), json!(10))
        );
        assert_eq!(v["allocatedGpus"], 0);
    }
}
