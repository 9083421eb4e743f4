//! `Experiment`: a hyperparameter search whose trials run as TrainingJobs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;
use crate::training::TrainingJobSpec;

/// Desired state of an Experiment: the objective, the search space and algorithm, the trial
/// budget and the TrainingJob each trial runs.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "tuning.mlfleet.io",
    version = "v1alpha1",
    kind = "Experiment",
    plural = "experiments",
    singular = "experiment",
    shortname = "exp",
    category = "mlfleet",
    namespaced,
    status = "ExperimentStatus",
    derive = "PartialEq",
    doc = "A hyperparameter search: the tuning-operator suggests parameter sets, runs each as a Trial (a TrainingJob) and tracks the best objective value.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Algorithm",
        type_ = "string",
        json_path = ".spec.algorithm.name",
        description = "Search algorithm"
    ),
    printcolumn(
        name = "Best",
        type_ = "number",
        json_path = ".status.currentOptimalTrial.objectiveValue",
        description = "Best objective value so far"
    ),
    printcolumn(
        name = "Trials",
        type_ = "integer",
        json_path = ".status.trials",
        description = "Trials created"
    ),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.trialsRunning",
        description = "Trials running"
    ),
    printcolumn(
        name = "Succeeded",
        type_ = "integer",
        json_path = ".status.trialsSucceeded",
        description = "Trials that succeeded"
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.trialsFailed",
        priority = 1,
        description = "Trials that failed"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.parallelTrials <= self.maxTrials", "message": "parallelTrials must be <= maxTrials"},
    {"rule": "self.objective == oldSelf.objective", "message": "objective is immutable"},
    {"rule": "self.parameters == oldSelf.parameters", "message": "parameters are immutable"}
]))]
pub struct ExperimentSpec {
    /// What to optimise.
    pub objective: Objective,
    /// Search algorithm.
    #[serde(default)]
    pub algorithm: AlgorithmSpec,
    /// The search space: one entry per hyperparameter.
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub parameters: Vec<ParameterSpec>,
    /// Total trials to run.
    #[serde(default = "default_max_trials")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_trials: i32,
    /// Trials running at once.
    #[serde(default = "default_parallel")]
    #[schemars(range(min = 1, max = 100))]
    pub parallel_trials: i32,
    /// Failed trials after which the experiment fails.
    #[serde(default = "default_max_failed")]
    #[schemars(range(min = 0, max = 10000))]
    pub max_failed_trials: i32,
    /// Stops unpromising trials early based on intermediate objective values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// The TrainingJob each trial runs. Hyperparameter values of the form
    /// `${trialParameters.<name>}` are replaced with the trial's assignment.
    pub trial_template: TrialTemplate,
}

/// Optimisation objective.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Objective {
    /// Direction of optimisation.
    #[serde(rename = "type")]
    pub type_: ObjectiveType,
    /// Metric the workers report (over TrainingProgress) that is optimised, for example `val_loss`.
    #[schemars(length(min = 1, max = 128))]
    pub metric_name: String,
    /// Stop the experiment once a trial reaches this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<f64>,
    /// Other metrics recorded per trial (not optimised).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 128)))]
    pub additional_metric_names: Vec<String>,
}

/// Direction of optimisation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveType {
    /// Lower is better.
    Minimize,
    /// Higher is better.
    Maximize,
}

/// Search algorithm and its settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlgorithmSpec {
    /// Algorithm name.
    #[serde(default)]
    pub name: Algorithm,
    /// Seed for reproducible suggestions; random when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Algorithm-specific settings, for example `n_startup_trials: "10"` for TPE.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// Search algorithm.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Uniform random sampling.
    Random,
    /// Exhaustive grid (streamed, never materialised).
    Grid,
    /// Sobol quasi-random sequence.
    Sobol,
    /// Tree-structured Parzen estimator.
    #[default]
    Tpe,
    /// Model-based Bayesian optimisation.
    Bayesian,
    /// Hyperband multi-fidelity search.
    Hyperband,
}

/// One hyperparameter of the search space.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(self.type != 'int' && self.type != 'double') || (has(self.min) && has(self.max) && self.min < self.max)", "message": "int and double parameters need min < max"},
    {"rule": "(self.type != 'categorical' && self.type != 'discrete') || (has(self.values) && size(self.values) > 0)", "message": "categorical and discrete parameters need values"},
    {"rule": "self.scale != 'log' || (has(self.min) && self.min > 0.0)", "message": "log scale needs min > 0"},
    {"rule": "!has(self.step) || self.type == 'int' || self.type == 'double'", "message": "step applies only to int and double parameters"}
]))]
pub struct ParameterSpec {
    /// Parameter name, as used in `${trialParameters.<name>}`.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// Parameter type.
    #[serde(rename = "type")]
    pub type_: ParameterType,
    /// Lower bound (int, double).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound (int, double).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Step between candidate values (int, double).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub step: Option<f64>,
    /// Candidate values (categorical: names; discrete: numbers written as strings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), inner(length(min = 1, max = 64)))]
    pub values: Vec<String>,
    /// Sampling scale (int, double).
    #[serde(default)]
    pub scale: Scale,
}

/// Hyperparameter type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParameterType {
    /// Integer in min..max.
    Int,
    /// Real number in min..max.
    Double,
    /// One of a list of names.
    Categorical,
    /// One of a list of numbers.
    Discrete,
}

/// Sampling scale of a numeric hyperparameter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Uniform in the value.
    #[default]
    Linear,
    /// Uniform in the logarithm of the value.
    Log,
}

/// Early stopping of trials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EarlyStopping {
    /// Early stopping rule.
    #[serde(default)]
    pub algorithm: EarlyStoppingAlgorithm,
    /// Completed trials needed before any trial is stopped early.
    #[serde(default = "default_min_trials_required")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_trials_required: i32,
    /// Intermediate steps (epochs) a trial runs before it may be stopped.
    #[serde(default = "default_start_step")]
    #[schemars(range(min = 1, max = 100000))]
    pub start_step: i32,
}

/// Early stopping rule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EarlyStoppingAlgorithm {
    /// Stop a trial whose best value is worse than the median of completed trials at the same step.
    #[default]
    Medianstop,
    /// Asynchronous successive halving.
    Asha,
}

/// The TrainingJob template of an Experiment's trials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrialTemplate {
    /// Labels added to every trial's TrainingJob.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Spec of every trial's TrainingJob, with `${trialParameters.<name>}` placeholders in
    /// hyperparameter values.
    pub spec: TrainingJobSpec,
    /// Keep finished trials' TrainingJobs instead of deleting them.
    #[serde(default)]
    pub retain: bool,
}

fn default_max_trials() -> i32 {
    12
}
fn default_parallel() -> i32 {
    3
}
fn default_max_failed() -> i32 {
    3
}
fn default_min_trials_required() -> i32 {
    3
}
fn default_start_step() -> i32 {
    4
}

/// Lifecycle phase of an Experiment (also used by Trials).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExperimentPhase {
    /// Accepted, no trial created yet.
    #[default]
    Pending,
    /// Trials are running.
    Running,
    /// The trial budget is spent or the goal reached.
    Succeeded,
    /// Too many trials failed, or the spec is invalid.
    Failed,
}

/// Observed state of an Experiment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: ExperimentPhase,
    /// Standard conditions (for example Running, Succeeded, Failed, GoalReached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Trials created.
    #[serde(default)]
    pub trials: i32,
    /// Trials waiting or running.
    #[serde(default)]
    pub trials_running: i32,
    /// Trials that succeeded.
    #[serde(default)]
    pub trials_succeeded: i32,
    /// Trials that failed.
    #[serde(default)]
    pub trials_failed: i32,
    /// Trials stopped early.
    #[serde(default)]
    pub trials_early_stopped: i32,
    /// Best trial so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_optimal_trial: Option<OptimalTrial>,
    /// Serialised optimiser state (JSON) from which suggestions resume after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer_state: Option<String>,
    /// When the first trial was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the experiment finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
}

/// The best trial of an Experiment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptimalTrial {
    /// Name of the Trial.
    pub trial_name: String,
    /// Its objective value.
    pub objective_value: f64,
    /// Its parameter assignment.
    #[serde(default)]
    pub parameter_assignments: Vec<ParameterAssignment>,
}

/// The value of one hyperparameter in a trial.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParameterAssignment {
    /// Parameter name.
    pub name: String,
    /// Value, written as a string (numbers in their shortest round-trip form).
    pub value: String,
}
