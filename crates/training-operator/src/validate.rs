//! The pipeline's "validate" step: a TrainingJob from the API server → a
//! [`JobPlan`] with defaults applied, or a typed error naming the bad field.
//! The CRD schema rejects most bad specs at the door; this catches what a
//! schema cannot (quantities that do not parse, GPU requests in `resources`,
//! missing metadata) so the controller reports InvalidSpec instead of looping.

use std::collections::BTreeMap;

use crd_types::training::{
    Backend as CrdBackend, CheckpointStorageType, Framework as CrdFramework, RetentionPolicy,
    TrainingJob,
};
use thiserror::Error;

use crate::build::job::{GPU_RESOURCE, WORKER_CONTAINER};
use crate::quantity;
use crate::spec::{
    Backend, CheckpointPlan, CheckpointStorage, Elastic, Framework, JobPlan, RetryBackoff,
    WorkerResources,
};

/// Default checkpoint PVC size.
pub const DEFAULT_PVC_SIZE: &str = "10Gi";

/// Why a TrainingJob spec cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidSpec {
    /// metadata.name/namespace/uid missing (never happens for stored objects).
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    /// A field is out of range.
    #[error("{field} is {value}: {why}")]
    OutOfRange {
        /// Field path.
        field: &'static str,
        /// Offending value.
        value: i64,
        /// Allowed range.
        why: &'static str,
    },
    /// A resource quantity does not parse.
    #[error("{field}: {source}")]
    Quantity {
        /// Field path.
        field: String,
        /// Parse error.
        source: quantity::QuantityError,
    },
    /// GPUs requested through `resources` instead of gpusPerWorker.
    #[error("resources must not request {GPU_RESOURCE}; set gpusPerWorker instead")]
    GpuInResources,
    /// No image anywhere.
    #[error("no worker image: set spec.image or a container image in spec.template")]
    NoImage,
    /// Elastic bounds inverted or numWorkers outside them.
    #[error("elastic bounds {min}..{max} do not contain numWorkers {workers}")]
    Elastic {
        /// minWorkers.
        min: i64,
        /// maxWorkers.
        max: i64,
        /// numWorkers.
        workers: i64,
    },
}

impl InvalidSpec {
    /// CamelCase reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        "InvalidSpec"
    }
}

fn range(
    field: &'static str,
    v: i64,
    lo: i64,
    hi: i64,
    why: &'static str,
) -> Result<u32, InvalidSpec> {
    if v < lo || v > hi {
        return Err(InvalidSpec::OutOfRange {
            field,
            value: v,
            why,
        });
    }
    Ok(v as u32)
}

fn parse(
    field: &str,
    v: &str,
    f: fn(&str) -> Result<u64, quantity::QuantityError>,
) -> Result<u64, InvalidSpec> {
    f(v).map_err(|source| InvalidSpec::Quantity {
        field: field.to_string(),
        source,
    })
}

/// Validates a TrainingJob and applies defaults.
pub fn validate(tj: &TrainingJob) -> Result<JobPlan, InvalidSpec> {
    let name = tj
        .metadata
        .name
        .clone()
        .ok_or(InvalidSpec::MissingMetadata("name"))?;
    let namespace = tj
        .metadata
        .namespace
        .clone()
        .ok_or(InvalidSpec::MissingMetadata("namespace"))?;
    let uid = tj
        .metadata
        .uid
        .clone()
        .ok_or(InvalidSpec::MissingMetadata("uid"))?;
    let spec = &tj.spec;
    let workers = range(
        "spec.numWorkers",
        spec.num_workers.into(),
        1,
        32,
        "must be 1-32",
    )?;
    let gpus = range(
        "spec.gpusPerWorker",
        spec.gpus_per_worker.into(),
        0,
        8,
        "must be 0-8",
    )?;
    let backoff_limit = range(
        "spec.backoffLimit",
        spec.backoff_limit.into(),
        0,
        10,
        "must be 0-10",
    )?;
    let master_port = range(
        "spec.networking.masterPort",
        spec.networking.master_port.into(),
        1024,
        65535,
        "must be 1024-65535",
    )?;

    let mut resources = WorkerResources {
        gpus,
        ..Default::default()
    };
    if let Some(r) = &spec.resources {
        let requests = r.requests.clone().unwrap_or_default();
        let limits = r.limits.clone().unwrap_or_default();
        if requests.contains_key(GPU_RESOURCE) || limits.contains_key(GPU_RESOURCE) {
            return Err(InvalidSpec::GpuInResources);
        }
        if let Some(q) = requests.get("cpu") {
            resources.cpu_millis =
                parse("spec.resources.requests.cpu", &q.0, quantity::cpu_millis)?;
            resources.cpu = Some(q.0.clone());
        }
        if let Some(q) = requests.get("memory") {
            resources.memory_bytes =
                parse("spec.resources.requests.memory", &q.0, quantity::bytes)?;
            resources.memory = Some(q.0.clone());
        }
        if let Some(q) = limits.get("cpu") {
            let lim = parse("spec.resources.limits.cpu", &q.0, quantity::cpu_millis)?;
            if resources.cpu.is_none() {
                // Kubernetes defaults a missing request to the limit; admission must too.
                resources.cpu_millis = lim;
            }
            resources.cpu_limit = Some(q.0.clone());
        }
        if let Some(q) = limits.get("memory") {
            let lim = parse("spec.resources.limits.memory", &q.0, quantity::bytes)?;
            if resources.memory.is_none() {
                resources.memory_bytes = lim;
            }
            resources.memory_limit = Some(q.0.clone());
        }
    }

    let template_image = spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| {
            s.containers
                .iter()
                .find(|c| c.name == WORKER_CONTAINER)
                .or(s.containers.first())
                .and_then(|c| c.image.clone())
        });
    let framework = match spec.framework {
        CrdFramework::Pytorch => Framework::PyTorch,
        CrdFramework::Tensorflow => Framework::TensorFlow,
        CrdFramework::Jax => Framework::Jax,
        CrdFramework::Generic => Framework::Generic,
    };
    let image = match (&spec.image, template_image) {
        (Some(i), _) => i.clone(),
        (None, Some(_)) => String::new(), // keep the template's image
        (None, None) => default_image(framework).to_string(),
    };
    if image.is_empty() && spec.template.is_none() {
        return Err(InvalidSpec::NoImage);
    }

    let elastic = match &spec.elastic {
        Some(e) => {
            let (min, max) = (i64::from(e.min_workers), i64::from(e.max_workers));
            if min < 1 || min > max || i64::from(workers) < min || i64::from(workers) > max {
                return Err(InvalidSpec::Elastic {
                    min,
                    max,
                    workers: workers.into(),
                });
            }
            Some(Elastic {
                min_workers: min as u32,
                max_workers: max as u32,
            })
        }
        None => None,
    };

    let checkpoint = match &spec.checkpoint {
        Some(c) if c.enabled => {
            let storage = match c.storage.type_ {
                CheckpointStorageType::Pvc => {
                    let size = c
                        .storage
                        .size
                        .as_ref()
                        .map(|q| q.0.clone())
                        .unwrap_or_else(|| DEFAULT_PVC_SIZE.into());
                    parse("spec.checkpoint.storage.size", &size, quantity::bytes)?;
                    CheckpointStorage::Pvc {
                        mount_path: c.storage.path.clone(),
                        size,
                        storage_class: c.storage.storage_class.clone(),
                    }
                }
                CheckpointStorageType::S3 | CheckpointStorageType::Gcs => {
                    CheckpointStorage::ObjectStore {
                        uri: c.storage.path.clone(),
                    }
                }
            };
            Some(CheckpointPlan {
                frequency: range(
                    "spec.checkpoint.frequency",
                    c.frequency.into(),
                    1,
                    10_000,
                    "must be 1-10000",
                )?,
                storage,
                keep_last: Some(range(
                    "spec.checkpoint.keepLast",
                    c.keep_last.into(),
                    1,
                    100,
                    "must be 1-100",
                )?),
                retain_on_delete: c.retention_policy == RetentionPolicy::Retain,
            })
        }
        _ => None,
    };

    let backend = match spec.effective_backend() {
        CrdBackend::Nccl => Backend::Nccl,
        CrdBackend::Gloo => Backend::Gloo,
    };
    let initial = u64::try_from(spec.retry_backoff.initial_seconds.max(1)).unwrap_or(10);
    let max = u64::try_from(spec.retry_backoff.max_seconds.max(1)).unwrap_or(300);
    Ok(JobPlan {
        name,
        namespace,
        uid,
        model: spec.model.clone(),
        dataset: spec.dataset.clone(),
        framework,
        image,
        command: spec.command.clone(),
        args: spec.args.clone(),
        workers,
        resources,
        hyperparameters: spec
            .hyperparameters
            .clone()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        checkpoint,
        backoff_limit,
        retry_backoff: RetryBackoff {
            initial_seconds: initial,
            max_seconds: max.max(initial),
        },
        elastic,
        master_port: master_port as u16,
        backend,
        queue: spec.queue_name.clone().unwrap_or_default(),
        priority: spec.priority,
        active_deadline_seconds: spec
            .active_deadline_seconds
            .and_then(|s| u64::try_from(s).ok()),
        ttl_seconds_after_finished: spec
            .ttl_seconds_after_finished
            .and_then(|s| u64::try_from(s).ok()),
        pod_template: spec.template.clone(),
        total_epochs: spec.total_epochs().and_then(|e| u32::try_from(e).ok()),
        node_selector: spec.node_selector.clone(),
        tolerations: spec.tolerations.clone(),
        env: spec.env.clone(),
    })
}

/// Image used when neither spec.image nor the template names one.
pub fn default_image(framework: Framework) -> &'static str {
    match framework {
        Framework::PyTorch => "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        Framework::TensorFlow => "docker.io/tensorflow/tensorflow:2.18.0-gpu",
        Framework::Jax => "ghcr.io/nvidia/jax:jax",
        Framework::Generic => "docker.io/library/python:3.12-slim",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> TrainingJob {
        let yaml = r#"
apiVersion: training.mlfleet.io/v1alpha1
kind: TrainingJob
metadata: {name: test-job, namespace: default, uid: u-1}
spec:
  model: resnet50
  dataset: imagenet
  numWorkers: 2
  gpusPerWorker: 1
  hyperparameters: {learningRate: 0.001, batchSize: 32, epochs: 10}
"#;
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn seed_validates_with_defaults() {
        let plan = validate(&seed()).unwrap();
        assert_eq!(
            (plan.workers, plan.resources.gpus, plan.backoff_limit),
            (2, 1, 3)
        );
        assert_eq!(plan.backend, Backend::Nccl);
        assert_eq!(plan.master_port, 29500);
        assert_eq!(plan.total_epochs, Some(10));
        assert_eq!(plan.framework, Framework::PyTorch);
        assert!(!plan.image.is_empty());
        assert_eq!(plan.queue, "");
    }

    #[test]
    fn rejects_gpu_in_resources_and_bad_quantities() {
        let mut tj = seed();
        tj.spec.resources = Some(
            serde_json::from_value(serde_json::json!({"limits": {"nvidia.com/gpu": "2"}})).unwrap(),
        );
        assert_eq!(validate(&tj), Err(InvalidSpec::GpuInResources));
        tj.spec.resources = Some(
            serde_json::from_value(serde_json::json!({"requests": {"memory": "lots"}})).unwrap(),
        );
        let err = validate(&tj).unwrap_err();
        assert!(
            err.to_string().contains("spec.resources.requests.memory"),
            "{err}"
        );
        tj.spec.resources = None;
        tj.spec.num_workers = 0;
        assert!(matches!(
            validate(&tj),
            Err(InvalidSpec::OutOfRange {
                field: "spec.numWorkers",
                ..
            })
        ));
    }

    #[test]
    fn cpu_limit_defaults_request_for_admission() {
        let mut tj = seed();
        tj.spec.resources = Some(
            serde_json::from_value(serde_json::json!({"limits": {"cpu": "4", "memory": "2Gi"}}))
                .unwrap(),
        );
        let plan = validate(&tj).unwrap();
        assert_eq!(
            (plan.resources.cpu_millis, plan.resources.memory_bytes),
            (4000, 2 << 30)
        );
    }
}
