//! `TrainingQueue` (training.mlfleet.io/v1alpha1, cluster-scoped): a quota that TrainingJobs
//! are gang-admitted against, in priority then FIFO order.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// Desired state of a TrainingQueue: its quota, who may use it and how it orders and
/// preempts jobs.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "training.mlfleet.io",
    version = "v1alpha1",
    kind = "TrainingQueue",
    plural = "trainingqueues",
    singular = "trainingqueue",
    shortname = "tq",
    category = "mlfleet",
    status = "TrainingQueueStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A cluster-wide queue with GPU/CPU/memory quota; TrainingJobs naming it are admitted all-or-nothing in priority, then FIFO order.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "GPU Quota",
        type_ = "integer",
        json_path = ".spec.quota.gpus",
        description = "GPUs the queue may use; empty means unlimited"
    ),
    printcolumn(
        name = "GPUs Used",
        type_ = "integer",
        json_path = ".status.used.gpus",
        description = "GPUs held by admitted jobs"
    ),
    printcolumn(
        name = "Pending",
        type_ = "integer",
        json_path = ".status.pendingJobs",
        description = "Jobs waiting for admission"
    ),
    printcolumn(
        name = "Admitted",
        type_ = "integer",
        json_path = ".status.admittedJobs",
        description = "Jobs admitted and not finished"
    ),
    printcolumn(
        name = "Strategy",
        type_ = "string",
        json_path = ".spec.strategy",
        priority = 1,
        description = "Queueing strategy"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TrainingQueueSpec {
    /// Resources the jobs admitted through this queue may hold at once. An unset resource
    /// is not limited.
    #[serde(default)]
    pub quota: QueueQuota,

    /// Namespaces whose TrainingJobs may use the queue; all namespaces when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// How waiting jobs are ordered and whether later jobs may pass a blocked head.
    #[serde(default)]
    pub strategy: QueueStrategy,

    /// Whether admitted jobs may be preempted for higher-priority jobs of this queue.
    #[serde(default)]
    pub preemption: PreemptionPolicy,

    /// Stops admitting new jobs (already admitted jobs keep running).
    #[serde(default)]
    pub stop_admission: bool,
}

/// Resource quota of a TrainingQueue.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueQuota {
    /// GPUs (`nvidia.com/gpu`) admitted jobs may hold together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub gpus: Option<i64>,
    /// CPU that admitted jobs may request together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory that admitted jobs may request together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

/// Ordering of a TrainingQueue. Jobs are always ordered by priority (highest first), then
/// by creation time.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum QueueStrategy {
    /// A head job that does not fit blocks every job behind it.
    #[default]
    StrictFIFO,
    /// When the head job does not fit, later jobs that do fit are admitted.
    BestEffortFIFO,
}

/// Preemption settings of a TrainingQueue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreemptionPolicy {
    /// Which admitted jobs a waiting job may preempt.
    #[serde(default)]
    pub policy: PreemptionMode,
    /// Seconds a preempted job gets to write a checkpoint before its workers are stopped.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 0, max = 3600))]
    pub checkpoint_grace_seconds: i32,
}

impl Default for PreemptionPolicy {
    fn default() -> Self {
        Self {
            policy: PreemptionMode::default(),
            checkpoint_grace_seconds: default_grace(),
        }
    }
}

fn default_grace() -> i32 {
    120
}

/// Which jobs may be preempted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum PreemptionMode {
    /// Never preempt; waiting jobs wait.
    #[default]
    Never,
    /// Preempt admitted jobs of strictly lower priority, lowest and newest first.
    LowerPriority,
}

/// Observed state of a TrainingQueue.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingQueueStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Standard conditions (for example Active).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Jobs waiting for admission.
    #[serde(default)]
    pub pending_jobs: i32,
    /// Jobs admitted and not yet finished.
    #[serde(default)]
    pub admitted_jobs: i32,
    /// Resources held by admitted jobs.
    #[serde(default)]
    pub used: QueueUsage,
}

/// Resources held by a TrainingQueue's admitted jobs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueUsage {
    /// GPUs held.
    #[serde(default)]
    pub gpus: i64,
    /// CPU requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}
