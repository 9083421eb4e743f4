//! `TrainingJob` (training.mlfleet.io/v1alpha1): one distributed training run, executed as
//! an indexed Job of `numWorkers` gang-admitted workers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, PodTemplateSpec, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::job_status::{CheckpointRecord, TrainingJobState, TrainingJobStatus, WorkerCounts};

/// Desired state of a TrainingJob: what to train, on how many workers, with which
/// hyperparameters, and how to checkpoint and retry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "training.mlfleet.io",
    version = "v1alpha1",
    kind = "TrainingJob",
    plural = "trainingjobs",
    singular = "trainingjob",
    shortname = "tj",
    category = "mlfleet",
    namespaced,
    status = "TrainingJobStatus",
    derive = "PartialEq",
    doc = "A distributed training run: numWorkers gang-admitted workers of an indexed Job, with checkpoints, retries and progress reporting.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "Lifecycle state of the job"
    ),
    printcolumn(
        name = "Progress",
        type_ = "integer",
        json_path = ".status.progress",
        description = "Percent of epochs completed"
    ),
    printcolumn(
        name = "Epoch",
        type_ = "integer",
        json_path = ".status.currentEpoch",
        description = "Last completed epoch"
    ),
    printcolumn(
        name = "Workers",
        type_ = "integer",
        json_path = ".status.workers.active",
        description = "Workers running now"
    ),
    printcolumn(
        name = "GPUs",
        type_ = "integer",
        json_path = ".status.allocatedGpus",
        description = "GPUs allocated to the job"
    ),
    printcolumn(
        name = "Queue",
        type_ = "string",
        json_path = ".spec.queueName",
        priority = 1,
        description = "TrainingQueue the job is admitted through"
    ),
    printcolumn(
        name = "Position",
        type_ = "integer",
        json_path = ".status.queuePosition",
        priority = 1,
        description = "Position in the queue while waiting"
    ),
    printcolumn(
        name = "Restarts",
        type_ = "integer",
        json_path = ".status.restarts",
        priority = 1,
        description = "Attempts restarted after a failure"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.elastic) || (self.numWorkers >= self.elastic.minWorkers && self.numWorkers <= self.elastic.maxWorkers)",
        "message": "numWorkers must lie within elastic.minWorkers..elastic.maxWorkers"
    },
    {
        "rule": "!has(self.networking.backend) || self.networking.backend != 'nccl' || self.gpusPerWorker > 0",
        "message": "networking.backend nccl needs gpusPerWorker > 0; use gloo for CPU-only jobs"
    },
    {
        "rule": "!has(oldSelf.queueName) || (has(self.queueName) && self.queueName == oldSelf.queueName)",
        "message": "queueName is immutable once set"
    }
]))]
pub struct TrainingJobSpec {
    /// Model architecture or model identifier to train, for example `resnet50`. Passed to
    /// workers as MODEL_NAME. Immutable.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "model is immutable"}]))]
    pub model: String,

    /// Dataset name or URI to train on, for example `imagenet` or `s3://bucket/imagenet`.
    /// Passed to workers as DATASET. Immutable.
    #[schemars(length(min = 1, max = 1024))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "dataset is immutable"}]))]
    pub dataset: String,

    /// Training framework; selects launcher conventions and the default image.
    #[serde(default)]
    pub framework: Framework,

    /// Worker container image. When unset, the image of `template` is used, or else the
    /// operator's default image for the framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,

    /// Entrypoint override for the worker container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub command: Vec<String>,

    /// Arguments for the worker container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub args: Vec<String>,

    /// Extra environment variables for every worker, after the ones the operator injects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub env: Vec<EnvVar>,

    /// Optional pod template merged under the operator's worker pod (labels, annotations,
    /// volumes, sidecars, a container named `worker` to override). Stored as given; the
    /// operator rejects templates that do not parse as a PodTemplateSpec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::preserve_unknown_object")]
    pub template: Option<PodTemplateSpec>,

    /// Number of workers (gang size). All of them are admitted together or not at all.
    #[serde(default = "default_num_workers")]
    #[schemars(range(min = 1, max = 32))]
    pub num_workers: i32,

    /// GPUs requested by each worker (`nvidia.com/gpu`). 0 runs a CPU-only job. Immutable.
    #[serde(default = "default_gpus_per_worker")]
    #[schemars(range(min = 0, max = 8))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "gpusPerWorker is immutable"}]))]
    pub gpus_per_worker: i32,

    /// CPU and memory requests/limits of each worker container. GPU requests come from
    /// gpusPerWorker and must not be set here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Free-form hyperparameters (string, number or boolean values), injected into workers as
    /// HYPERPARAM_<NAME> variables and as `hyperparameters.json` in the job's ConfigMap. The
    /// operator marks a job with an object or list value InvalidSpec.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::schema::scalar_map")]
    pub hyperparameters: BTreeMap<String, serde_json::Value>,

    /// Elastic scaling bounds; when set the operator may run between minWorkers and
    /// maxWorkers workers, restarting from the latest checkpoint on every resize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elastic: Option<ElasticPolicy>,

    /// Checkpointing: how often workers save, where, and how many to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointSpec>,

    /// Failed attempts allowed before the job is marked Failed. Preemptions and evictions
    /// do not count.
    #[serde(default = "default_backoff_limit")]
    #[schemars(range(min = 0, max = 10))]
    pub backoff_limit: i32,

    /// Delay between a failed attempt and the next one (exponential, capped).
    #[serde(default)]
    pub retry_backoff: RetryBackoff,

    /// Suspends the job: running workers are stopped (after a checkpoint where possible) and
    /// nothing is admitted until it is set back to false.
    #[serde(default)]
    pub suspend: bool,

    /// Name of the TrainingQueue whose quota the job is admitted against. When unset the job
    /// is admitted against free cluster GPUs only. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub queue_name: Option<String>,

    /// Priority within the queue: higher is admitted first, and may preempt lower priority
    /// work when the queue's preemption policy allows it.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: i32,

    /// Maximum running time in seconds, counted from admission; the job fails with
    /// reason DeadlineExceeded when it is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,

    /// Seconds after the job finishes (Completed or Failed) before it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,

    /// Rendezvous settings for the distributed backend.
    #[serde(default)]
    pub networking: Networking,

    /// Node labels every worker must match (added to the GPU node selector).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,

    /// Extra tolerations for every worker (the GPU taint is tolerated automatically).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub tolerations: Vec<Toleration>,
}

/// Training framework of a TrainingJob.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// PyTorch (torch.distributed / torchrun conventions).
    #[default]
    Pytorch,
    /// TensorFlow (MultiWorkerMirroredStrategy conventions).
    Tensorflow,
    /// JAX (jax.distributed conventions).
    Jax,
    /// Any other program reading WORLD_SIZE / RANK / MASTER_ADDR itself.
    Generic,
}

/// Elastic scaling bounds of a TrainingJob.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minWorkers <= self.maxWorkers", "message": "elastic.minWorkers must be <= elastic.maxWorkers"}
]))]
pub struct ElasticPolicy {
    /// Fewest workers the job may shrink to.
    #[schemars(range(min = 1, max = 32))]
    pub min_workers: i32,
    /// Most workers the job may grow to.
    #[schemars(range(min = 1, max = 32))]
    pub max_workers: i32,
}

/// Checkpoint settings of a TrainingJob.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointSpec {
    /// Whether workers save checkpoints and retries resume from them.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Save a checkpoint every this many epochs (CHECKPOINT_FREQUENCY).
    #[serde(default = "default_checkpoint_frequency")]
    #[schemars(range(min = 1, max = 10000))]
    pub frequency: i32,
    /// Where checkpoints are stored.
    pub storage: CheckpointStorage,
    /// Number of most recent checkpoints to keep.
    #[serde(default = "default_keep_last")]
    #[schemars(range(min = 1, max = 100))]
    pub keep_last: i32,
    /// What happens to stored checkpoints when the TrainingJob is deleted.
    #[serde(default)]
    pub retention_policy: RetentionPolicy,
}

/// Where a TrainingJob's checkpoints are stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type != 's3' || self.path.startsWith('s3://')", "message": "storage.path must start with s3:// for type s3"},
    {"rule": "self.type != 'gcs' || self.path.startsWith('gs://')", "message": "storage.path must start with gs:// for type gcs"},
    {"rule": "self.type != 'pvc' || self.path.startsWith('/')", "message": "storage.path must be an absolute mount path for type pvc"},
    {"rule": "self.type == 'pvc' || (!has(self.size) && !has(self.storageClass))", "message": "size and storageClass apply only to type pvc"}
]))]
pub struct CheckpointStorage {
    /// Storage backend.
    #[serde(rename = "type")]
    pub type_: CheckpointStorageType,
    /// For pvc: mount path inside the workers (CHECKPOINT_DIR). For s3/gcs: the URI prefix
    /// (`s3://bucket/prefix`, `gs://bucket/prefix`).
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// Size of the checkpoint PersistentVolumeClaim (pvc only); the operator uses 10Gi when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// StorageClass of the checkpoint PersistentVolumeClaim (pvc only); the cluster default
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class: Option<String>,
}

/// Checkpoint storage backend.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointStorageType {
    /// A PersistentVolumeClaim created by the operator and mounted into every worker.
    Pvc,
    /// An S3-compatible bucket; workers write there themselves.
    S3,
    /// A Google Cloud Storage bucket; workers write there themselves.
    Gcs,
}

/// What happens to checkpoints when their TrainingJob is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RetentionPolicy {
    /// Keep the checkpoints (the PVC is orphaned rather than deleted).
    #[default]
    Retain,
    /// Delete the checkpoint PVC with the job.
    Delete,
}

/// Exponential backoff between failed attempts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.initialSeconds <= self.maxSeconds", "message": "retryBackoff.initialSeconds must be <= retryBackoff.maxSeconds"}
]))]
pub struct RetryBackoff {
    /// Delay before the first retry, in seconds; doubled after each further failure.
    #[serde(default = "default_backoff_initial")]
    #[schemars(range(min = 1, max = 3600))]
    pub initial_seconds: i32,
    /// Upper bound of the delay, in seconds.
    #[serde(default = "default_backoff_max")]
    #[schemars(range(min = 1, max = 86400))]
    pub max_seconds: i32,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            initial_seconds: default_backoff_initial(),
            max_seconds: default_backoff_max(),
        }
    }
}

/// Rendezvous settings for distributed training.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    /// Port worker 0 listens on for rendezvous (MASTER_PORT).
    #[serde(default = "default_master_port")]
    #[schemars(range(min = 1024, max = 65535))]
    pub master_port: i32,
    /// Collective communication backend. When unset: nccl if gpusPerWorker > 0, else gloo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

impl Default for Networking {
    fn default() -> Self {
        Self {
            master_port: default_master_port(),
            backend: None,
        }
    }
}

/// Collective communication backend; when unset, nccl if gpusPerWorker > 0, else gloo.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// NVIDIA NCCL (GPU workers).
    Nccl,
    /// Gloo (CPU workers, or GPU without NCCL).
    Gloo,
}

fn default_num_workers() -> i32 {
    1
}
fn default_gpus_per_worker() -> i32 {
    1
}
fn default_backoff_limit() -> i32 {
    3
}
fn default_true() -> bool {
    true
}
fn default_checkpoint_frequency() -> i32 {
    1
}
fn default_keep_last() -> i32 {
    3
}
fn default_backoff_initial() -> i32 {
    10
}
fn default_backoff_max() -> i32 {
    300
}
fn default_master_port() -> i32 {
    29500
}

/// A TrainingJob spec that passed the API server's schema but cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainingJobSpecError {
    /// A hyperparameter value is an object, a list or null.
    #[error("spec.hyperparameters.{key}: values must be strings, numbers or booleans")]
    NonScalarHyperparameter {
        /// The hyperparameter's name.
        key: String,
    },
}

impl TrainingJobSpec {
    /// Checks what the API server cannot: hyperparameter values are scalars (the schema
    /// stores them untyped, and CEL rules cannot inspect untyped values).
    pub fn check(&self) -> Result<(), TrainingJobSpecError> {
        for (key, value) in &self.hyperparameters {
            if !matches!(
                value,
                serde_json::Value::String(_)
                    | serde_json::Value::Number(_)
                    | serde_json::Value::Bool(_)
            ) {
                return Err(TrainingJobSpecError::NonScalarHyperparameter { key: key.clone() });
            }
        }
        Ok(())
    }

    /// GPUs the whole gang needs at `numWorkers` workers.
    pub fn total_gpus(&self) -> i64 {
        i64::from(self.num_workers) * i64::from(self.gpus_per_worker)
    }

    /// The backend actually used: the explicit one, else nccl with GPUs and gloo without.
    pub fn effective_backend(&self) -> Backend {
        self.networking
            .backend
            .unwrap_or(if self.gpus_per_worker > 0 {
                Backend::Nccl
            } else {
                Backend::Gloo
            })
    }

    /// Total epochs, read from the `epochs` hyperparameter when it is a positive integer.
    pub fn total_epochs(&self) -> Option<i64> {
        let v = self.hyperparameters.get("epochs")?;
        let n = match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }?;
        (n > 0).then_some(n)
    }
}

impl TrainingJob {
    /// GPUs the whole gang needs (`numWorkers * gpusPerWorker`).
    pub fn total_gpus(&self) -> i64 {
        self.spec.total_gpus()
    }

    /// Name of the headless Service giving workers stable DNS (`<name>-workers`).
    pub fn workers_service_name(&self) -> String {
        format!(
            "{}-workers",
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }

    /// MASTER_ADDR of the job: worker 0's stable DNS name, `<name>-workers-0.<name>-workers`.
    pub fn master_addr(&self) -> String {
        let svc = self.workers_service_name();
        format!("{svc}-0.{svc}")
    }

    /// The job's state, Pending when no status was written yet.
    pub fn state(&self) -> TrainingJobState {
        self.status
            .as_ref()
            .map(|s| s.state)
            .unwrap_or(TrainingJobState::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hp: serde_json::Value) -> TrainingJobSpec {
        serde_json::from_value(serde_json::json!({
            "model": "resnet50", "dataset": "imagenet", "hyperparameters": hp
        }))
        .expect("spec parses")
    }

    #[test]
    fn check_rejects_non_scalar_hyperparameters() {
        assert_eq!(
            spec(serde_json::json!({"lr": 0.1, "opt": "sgd", "amp": true})).check(),
            Ok(())
        );
        let err = spec(serde_json::json!({"lr": 0.1, "schedule": {"warmup": 5}}))
            .check()
            .expect_err("object value");
        assert_eq!(
            err.to_string(),
            "spec.hyperparameters.schedule: values must be strings, numbers or booleans"
        );
        assert!(spec(serde_json::json!({"layers": [1, 2]})).check().is_err());
    }

    #[test]
    fn defaults_and_derived_values() {
        let s = spec(serde_json::json!({"epochs": "12"}));
        assert_eq!(
            (s.num_workers, s.gpus_per_worker, s.backoff_limit),
            (1, 1, 3)
        );
        assert_eq!(s.total_epochs(), Some(12));
        assert_eq!(s.effective_backend(), Backend::Nccl);
        let cpu = TrainingJobSpec {
            gpus_per_worker: 0,
            num_workers: 4,
            ..s
        };
        assert_eq!(cpu.effective_backend(), Backend::Gloo);
        assert_eq!(cpu.total_gpus(), 0);
    }
}
