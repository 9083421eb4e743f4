//! Labels, annotations and owner references shared by every child object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::spec::JobPlan;

/// API version of TrainingJob.
pub const API_VERSION: &str = "training.mlfleet.io/v1alpha1";
/// Kind of TrainingJob.
pub const KIND: &str = "TrainingJob";
/// Label carrying the owning TrainingJob's name.
pub const LABEL_JOB_NAME: &str = "training.mlfleet.io/job-name";
/// Label carrying the pod role (always `worker`).
pub const LABEL_ROLE: &str = "training.mlfleet.io/role";
/// Label/annotation carrying the attempt number.
pub const LABEL_ATTEMPT: &str = "training.mlfleet.io/attempt";
/// Annotation with the checkpoint a Job's workers resume from.
pub const ANNOTATION_RESUME: &str = "training.mlfleet.io/resume-from-checkpoint";
/// Field manager and `app.kubernetes.io/managed-by` value.
pub const MANAGER: &str = "training-operator";

/// Labels every child carries; the selector labels are a subset.
pub fn labels(plan: &JobPlan) -> BTreeMap<String, String> {
    let mut l = selector_labels(plan);
    l.insert("app.kubernetes.io/name".into(), "trainingjob".into());
    l.insert("app.kubernetes.io/instance".into(), plan.name.clone());
    l.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
    l
}

/// Labels that select the worker pods of a TrainingJob.
pub fn selector_labels(plan: &JobPlan) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_JOB_NAME.to_string(), plan.name.clone()),
        (LABEL_ROLE.to_string(), "worker".to_string()),
    ])
}

/// Controller owner reference to the TrainingJob (garbage collection, and
/// foreground deletion waits for the children).
pub fn owner_reference(plan: &JobPlan) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        name: plan.name.clone(),
        uid: plan.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Object metadata for a child named `name`.
pub fn child_meta(plan: &JobPlan, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(plan.namespace.clone()),
        labels: Some(labels(plan)),
        owner_references: Some(vec![owner_reference(plan)]),
        ..Default::default()
    }
}
