//! Observed state of a TrainingJob.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// Condition types a TrainingJob reports.
pub mod condition_types {
    /// The job waits in a queue for quota or free GPUs.
    pub const QUEUED: &str = "Queued";
    /// Every worker fits: the gang was admitted.
    pub const ADMITTED: &str = "Admitted";
    /// The indexed Job, Service, ConfigMap and PVC exist.
    pub const RESOURCES_CREATED: &str = "ResourcesCreated";
    /// All workers are running.
    pub const RUNNING: &str = "Running";
    /// A failed attempt is being retried from the latest checkpoint.
    pub const RESTARTING: &str = "Restarting";
    /// The job is suspended by the user or preempted.
    pub const SUSPENDED: &str = "Suspended";
    /// The job finished successfully.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The job failed for good.
    pub const FAILED: &str = "Failed";
}

/// Lifecycle state of a TrainingJob.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum TrainingJobState {
    /// Accepted, not yet processed by the operator.
    #[default]
    Pending,
    /// Waiting in a queue for quota or free GPUs.
    Queued,
    /// Admitted; children created, workers starting.
    Initializing,
    /// All workers running.
    Running,
    /// A failed attempt is being retried after backoff.
    Restarting,
    /// Suspended by the user or preempted; resumes from the latest checkpoint.
    Suspended,
    /// Finished successfully.
    Completed,
    /// Failed for good (see the Failed condition for the reason).
    Failed,
}

impl TrainingJobState {
    /// Whether the state is final (Completed or Failed).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// Observed state of a TrainingJob.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingJobStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Lifecycle state.
    #[serde(default)]
    pub state: TrainingJobState,

    /// Standard conditions: Queued, Admitted, ResourcesCreated, Running, Restarting,
    /// Suspended, Succeeded, Failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// One-line explanation of the current state, for example why the job waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Percent of epochs completed (0-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub progress: Option<i32>,

    /// Last epoch the workers reported as completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_epoch: Option<i64>,

    /// Number of epochs the run is configured for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_epochs: Option<i64>,

    /// Latest training metrics reported by the workers (for example loss, accuracy,
    /// samplesPerSecond).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,

    /// Worker pod counts of the current attempt.
    #[serde(default)]
    pub workers: WorkerCounts,

    /// Gang size of the current attempt (differs from numWorkers for elastic jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_workers: Option<i32>,

    /// GPUs allocated to the job by admission.
    #[serde(default)]
    pub allocated_gpus: i64,

    /// Nodes the workers run on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,

    /// Attempts restarted after a failure (counts against backoffLimit).
    #[serde(default)]
    pub restarts: i32,

    /// Attempts stopped by preemption or eviction (not counted against backoffLimit).
    #[serde(default)]
    pub preemptions: i32,

    /// Latest checkpoint reported by the workers; retries resume from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<CheckpointRecord>,

    /// 1-based position in the queue while the job waits; unset once admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<i32>,

    /// When the job was admitted (latest attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_time: Option<Time>,

    /// When the workers of the first attempt started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// When the job reached Completed or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// When the next attempt may start (set while Restarting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_time: Option<Time>,
}

/// Worker pod counts of a TrainingJob's current attempt.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerCounts {
    /// Workers running.
    #[serde(default)]
    pub active: i32,
    /// Workers that finished successfully.
    #[serde(default)]
    pub succeeded: i32,
    /// Workers that failed.
    #[serde(default)]
    pub failed: i32,
    /// Workers created but not yet running.
    #[serde(default)]
    pub pending: i32,
}

/// A checkpoint reported by the workers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRecord {
    /// Path or URI of the checkpoint (RESUME_FROM_CHECKPOINT of the next attempt).
    pub path: String,
    /// Epoch the checkpoint was taken at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// When the checkpoint was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}
