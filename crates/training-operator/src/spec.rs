//! The validated, normalised view of a TrainingJob that every pure builder and
//! the admission logic consume. Converting the CRD into this shape is the
//! pipeline's "validate" step (see `validate`); nothing here talks to a cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, PodTemplateSpec, Toleration};
use serde_json::Value;

/// Training framework; decides framework-specific worker environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// PyTorch (torch.distributed / torchrun).
    PyTorch,
    /// TensorFlow (TF_CONFIG).
    TensorFlow,
    /// JAX (jax.distributed).
    Jax,
    /// Anything else: only the generic variables.
    Generic,
}

impl Framework {
    /// Lower-case name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::PyTorch => "pytorch",
            Framework::TensorFlow => "tensorflow",
            Framework::Jax => "jax",
            Framework::Generic => "generic",
        }
    }
}

/// Collective communication backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// NVIDIA NCCL (GPU workers).
    Nccl,
    /// Gloo (CPU workers).
    Gloo,
}

impl Backend {
    /// Lower-case name as written in the spec and given to workers.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nccl => "nccl",
            Backend::Gloo => "gloo",
        }
    }
}

/// Where checkpoints live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointStorage {
    /// A PersistentVolumeClaim `<name>-checkpoints` created by the operator.
    Pvc {
        /// Absolute mount path inside the workers (CHECKPOINT_DIR).
        mount_path: String,
        /// Requested size (Kubernetes quantity).
        size: String,
        /// StorageClass; the cluster default when `None`.
        storage_class: Option<String>,
    },
    /// An object-store URI (`s3://…`, `gs://…`) handed to workers verbatim.
    ObjectStore {
        /// The URI.
        uri: String,
    },
}

/// Checkpoint settings after defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPlan {
    /// Save every N epochs.
    pub frequency: u32,
    /// Storage location.
    pub storage: CheckpointStorage,
    /// Keep only the newest N checkpoints (workers read this).
    pub keep_last: Option<u32>,
    /// Keep the checkpoint volume when the TrainingJob is deleted.
    pub retain_on_delete: bool,
}

/// Per-worker resources after defaults, both as text (for the pod) and as
/// integers (for admission).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerResources {
    /// GPUs per worker (`nvidia.com/gpu`).
    pub gpus: u32,
    /// CPU request (quantity text), if any.
    pub cpu: Option<String>,
    /// Memory request (quantity text), if any.
    pub memory: Option<String>,
    /// CPU limit (quantity text), if any.
    pub cpu_limit: Option<String>,
    /// Memory limit (quantity text), if any.
    pub memory_limit: Option<String>,
    /// CPU request in millicores (0 when unset).
    pub cpu_millis: u64,
    /// Memory request in bytes (0 when unset).
    pub memory_bytes: u64,
    /// Size limit of the `/dev/shm` memory volume.
    pub shm_size: Option<String>,
}

/// Elastic bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elastic {
    /// Fewest workers the job may run with.
    pub min_workers: u32,
    /// Most workers the job may run with.
    pub max_workers: u32,
}

/// Retry backoff between job attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    /// Delay before the first retry, seconds.
    pub initial_seconds: u64,
    /// Upper bound of the delay, seconds.
    pub max_seconds: u64,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff {
            initial_seconds: 10,
            max_seconds: 300,
        }
    }
}

/// Everything the builders need to know about one TrainingJob.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// TrainingJob name.
    pub name: String,
    /// TrainingJob namespace.
    pub namespace: String,
    /// TrainingJob UID (owner references).
    pub uid: String,
    /// Model name.
    pub model: String,
    /// Dataset name or URI.
    pub dataset: String,
    /// Framework.
    pub framework: Framework,
    /// Worker container image.
    pub image: String,
    /// Optional command override.
    pub command: Vec<String>,
    /// Optional args.
    pub args: Vec<String>,
    /// Workers in the gang (for elastic jobs: the initial size).
    pub workers: u32,
    /// Per-worker resources.
    pub resources: WorkerResources,
    /// Free-form hyperparameters, sorted.
    pub hyperparameters: BTreeMap<String, Value>,
    /// Checkpointing, when enabled.
    pub checkpoint: Option<CheckpointPlan>,
    /// Attempts allowed before Failed (0 = no retry).
    pub backoff_limit: u32,
    /// Backoff between attempts.
    pub retry_backoff: RetryBackoff,
    /// Elastic bounds, if the job is elastic.
    pub elastic: Option<Elastic>,
    /// Rendezvous port.
    pub master_port: u16,
    /// Collective backend.
    pub backend: Backend,
    /// Queue (TrainingQueue name).
    pub queue: String,
    /// Priority (higher first).
    pub priority: i32,
    /// Wall-clock limit from start, seconds.
    pub active_deadline_seconds: Option<u64>,
    /// Delete the TrainingJob this long after it finished.
    pub ttl_seconds_after_finished: Option<u64>,
    /// User-supplied pod template merged under the operator's settings.
    pub pod_template: Option<PodTemplateSpec>,
    /// Total epochs, when the hyperparameters say so.
    pub total_epochs: Option<u32>,
    /// Extra node selector for every worker.
    pub node_selector: BTreeMap<String, String>,
    /// Extra tolerations for every worker.
    pub tolerations: Vec<Toleration>,
    /// Extra environment for every worker (after the operator's variables).
    pub env: Vec<EnvVar>,
}

impl JobPlan {
    /// Name of the indexed Job. Indexed Job pods get hostname `<job>-<index>`,
    /// so naming the Job `<name>-workers` and the headless Service the same makes
    /// worker 0 reachable as `<name>-workers-0.<name>-workers`.
    pub fn job_name(&self) -> String {
        workers_name(&self.name)
    }
    /// Name of the headless Service (same as the Job, see [`JobPlan::job_name`]).
    pub fn service_name(&self) -> String {
        workers_name(&self.name)
    }
    /// Name of the ConfigMap.
    pub fn config_map_name(&self) -> String {
        format!("{}-config", self.name)
    }
    /// Name of the checkpoint PVC.
    pub fn pvc_name(&self) -> String {
        format!("{}-checkpoints", self.name)
    }
    /// Stable DNS name of worker 0.
    pub fn master_addr(&self) -> String {
        format!("{0}-0.{0}", workers_name(&self.name))
    }
    /// GPUs the whole gang requests.
    pub fn total_gpus(&self) -> u64 {
        u64::from(self.workers) * u64::from(self.resources.gpus)
    }
}

/// `<name>-workers`.
pub fn workers_name(name: &str) -> String {
    format!("{name}-workers")
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A seed-like plan used by unit tests across modules.
    use super::*;

    /// The seed example: resnet50 / imagenet / 2 workers × 1 GPU.
    pub fn seed() -> JobPlan {
        let mut hp = BTreeMap::new();
        hp.insert("learningRate".into(), serde_json::json!(0.001));
        hp.insert("batchSize".into(), serde_json::json!(32));
        hp.insert("epochs".into(), serde_json::json!(10));
        JobPlan {
            name: "test-job".into(),
            namespace: "default".into(),
            uid: "uid-1".into(),
            model: "resnet50".into(),
            dataset: "imagenet".into(),
            framework: Framework::PyTorch,
            image: "ghcr.io/mlfleet/trainer:latest".into(),
            command: vec![],
            args: vec![],
            workers: 2,
            resources: WorkerResources {
                gpus: 1,
                cpu: Some("2".into()),
                memory: Some("8Gi".into()),
                cpu_millis: 2000,
                memory_bytes: 8 << 30,
                ..Default::default()
            },
            hyperparameters: hp,
            checkpoint: Some(CheckpointPlan {
                frequency: 1,
                storage: CheckpointStorage::Pvc {
                    mount_path: "/mnt/checkpoints/resnet50".into(),
                    size: "10Gi".into(),
                    storage_class: None,
                },
                keep_last: Some(3),
                retain_on_delete: false,
            }),
            backoff_limit: 3,
            retry_backoff: RetryBackoff::default(),
            elastic: None,
            master_port: 29500,
            backend: Backend::Nccl,
            queue: "default".into(),
            priority: 0,
            active_deadline_seconds: None,
            ttl_seconds_after_finished: None,
            pod_template: None,
            total_epochs: Some(10),
            node_selector: BTreeMap::new(),
            tolerations: vec![],
            env: vec![],
        }
    }
}
