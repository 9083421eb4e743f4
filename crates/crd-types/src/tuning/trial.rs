//! `Trial`: one evaluated point of an Experiment, run as a TrainingJob.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::experiment::{Objective, ParameterAssignment};
use crate::common::Condition;
use crate::training::TrainingJobSpec;

/// Desired state of a Trial, written by the tuning-operator: the parameter assignment and
/// the rendered TrainingJob. Immutable.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "tuning.mlfleet.io",
    version = "v1alpha1",
    kind = "Trial",
    plural = "trials",
    singular = "trial",
    shortname = "tr",
    category = "mlfleet",
    namespaced,
    status = "TrialStatus",
    derive = "PartialEq",
    doc = "One parameter assignment of an Experiment, evaluated by running a TrainingJob.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "Experiment",
        type_ = "string",
        json_path = ".spec.experiment",
        description = "Owning Experiment"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Objective",
        type_ = "number",
        json_path = ".status.objectiveValue",
        description = "Final objective value"
    ),
    printcolumn(
        name = "Job",
        type_ = "string",
        json_path = ".status.trainingJobName",
        priority = 1,
        description = "TrainingJob running the trial"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self == oldSelf", "message": "a Trial's spec is immutable"}
]))]
pub struct TrialSpec {
    /// Name of the Experiment the trial belongs to (same namespace).
    #[schemars(length(min = 1, max = 253))]
    pub experiment: String,
    /// The hyperparameter values of this trial.
    #[schemars(length(max = 64))]
    pub parameter_assignments: Vec<ParameterAssignment>,
    /// Objective copied from the Experiment.
    pub objective: Objective,
    /// The TrainingJob spec with placeholders replaced.
    pub training_job: TrainingJobSpec,
}

/// Lifecycle phase of a Trial.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum TrialPhase {
    /// Created, TrainingJob not yet running.
    #[default]
    Pending,
    /// The TrainingJob is running.
    Running,
    /// Finished with an objective value.
    Succeeded,
    /// The TrainingJob failed or reported no objective value.
    Failed,
    /// Stopped early by the experiment's early-stopping rule.
    EarlyStopped,
}

/// Observed state of a Trial.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrialStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: TrialPhase,
    /// Standard conditions (for example Running, Succeeded, Failed, EarlyStopped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Name of the TrainingJob running the trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_job_name: Option<String>,
    /// Final value of the objective metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective_value: Option<f64>,
    /// Latest value of every recorded metric.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Objective values reported per step (epoch), used for early stopping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intermediate_values: Vec<IntermediateValue>,
    /// When the TrainingJob started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the trial finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
}

/// An objective value reported at one step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntermediateValue {
    /// Step (epoch) number.
    pub step: i64,
    /// Objective value at that step.
    pub value: f64,
}
