//! Worker environment: rendezvous (WORLD_SIZE, RANK, MASTER_ADDR/PORT),
//! backend settings, hyperparameters, checkpoint locations and
//! framework-specific variables.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};
use serde_json::Value;

use super::Attempt;
use super::configmap::CONFIG_MOUNT;
use crate::spec::{Backend, CheckpointStorage, Framework, JobPlan};

/// Annotation the Job controller puts on every indexed pod.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

fn var(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// `learningRate` → `LEARNING_RATE`, `batch-size` → `BATCH_SIZE`.
pub fn env_suffix(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    out.trim_matches('_').to_string()
}

/// Hyperparameter value as text: strings bare, everything else as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Directory (or URI) the workers write checkpoints to.
pub fn checkpoint_dir(plan: &JobPlan) -> Option<String> {
    let ckpt = plan.checkpoint.as_ref()?;
    Some(match &ckpt.storage {
        CheckpointStorage::Pvc { mount_path, .. } => mount_path.clone(),
        CheckpointStorage::ObjectStore { uri } => uri.clone(),
    })
}

/// The full, ordered environment (the spec's extra variables last, so they may
/// reference the operator's) of a worker container. Order matters:
/// `$(RANK)` references in later values expand only after RANK is defined.
pub fn worker_env(plan: &JobPlan, attempt: &Attempt) -> Vec<EnvVar> {
    let world = attempt.workers;
    let mut env = vec![
        EnvVar {
            name: "RANK".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"),
                    api_version: None,
                }),
                ..Default::default()
            }),
        },
        var("NODE_RANK", "$(RANK)"),
        var("WORLD_SIZE", world.to_string()),
        var("MASTER_ADDR", plan.master_addr()),
        var("MASTER_PORT", plan.master_port.to_string()),
        var("NPROC_PER_NODE", plan.resources.gpus.max(1).to_string()),
        var("TRAINING_JOB_NAME", plan.name.clone()),
        var("TRAINING_ATTEMPT", attempt.number.to_string()),
        var("MODEL_NAME", plan.model.clone()),
        var("DATASET", plan.dataset.clone()),
        var("DIST_BACKEND", plan.backend.as_str()),
        var(
            "HYPERPARAMETERS_FILE",
            format!("{CONFIG_MOUNT}/hyperparameters.json"),
        ),
    ];
    match plan.backend {
        Backend::Nccl => {
            env.push(var("NCCL_DEBUG", "WARN"));
            env.push(var("NCCL_SOCKET_IFNAME", "eth0"));
            env.push(var("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"));
        }
        Backend::Gloo => env.push(var("GLOO_SOCKET_IFNAME", "eth0")),
    }
    match plan.framework {
        Framework::PyTorch => {
            env.push(var("PET_NNODES", world.to_string()));
            env.push(var("PET_NODE_RANK", "$(RANK)"));
            env.push(var(
                "PET_NPROC_PER_NODE",
                plan.resources.gpus.max(1).to_string(),
            ));
            env.push(var("PET_MASTER_ADDR", plan.master_addr()));
            env.push(var("PET_MASTER_PORT", plan.master_port.to_string()));
        }
        Framework::TensorFlow => {
            let hosts: Vec<String> = (0..world)
                .map(|i| format!("{0}-{i}.{0}:{1}", plan.service_name(), plan.master_port))
                .collect();
            let cluster = serde_json::json!({ "worker": hosts }).to_string();
            env.push(var(
                "TF_CONFIG",
                format!(r#"{{"cluster":{cluster},"task":{{"type":"worker","index":$(RANK)}}}}"#),
            ));
        }
        Framework::Jax => {
            env.push(var(
                "JAX_COORDINATOR_ADDRESS",
                format!("{}:{}", plan.master_addr(), plan.master_port),
            ));
            env.push(var("JAX_NUM_PROCESSES", world.to_string()));
            env.push(var("JAX_PROCESS_ID", "$(RANK)"));
        }
        Framework::Generic => {}
    }
    for (k, v) in &plan.hyperparameters {
        env.push(var(&format!("HYPERPARAM_{}", env_suffix(k)), value_text(v)));
    }
    if let (Some(dir), Some(ckpt)) = (checkpoint_dir(plan), plan.checkpoint.as_ref()) {
        env.push(var("CHECKPOINT_DIR", dir));
        env.push(var("CHECKPOINT_FREQUENCY", ckpt.frequency.to_string()));
        if let Some(k) = ckpt.keep_last {
            env.push(var("CHECKPOINT_KEEP_LAST", k.to_string()));
        }
    }
    if let Some(resume) = &attempt.resume_from {
        env.push(var("RESUME_FROM_CHECKPOINT", resume.clone()));
    }
    env.extend(plan.env.iter().cloned());
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures::seed;

    fn attempt(resume: Option<&str>) -> Attempt {
        Attempt {
            number: 2,
            resume_from: resume.map(String::from),
            suspend: false,
            workers: 2,
        }
    }

    fn get<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
        env.iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
    }

    #[test]
    fn suffixes() {
        assert_eq!(env_suffix("learningRate"), "LEARNING_RATE");
        assert_eq!(env_suffix("batch-size"), "BATCH_SIZE");
        assert_eq!(env_suffix("epochs"), "EPOCHS");
        assert_eq!(env_suffix("lr2Decay"), "LR2_DECAY");
    }

    #[test]
    fn seed_env() {
        let env = worker_env(&seed(), &attempt(Some("/mnt/checkpoints/resnet50/epoch-4")));
        assert_eq!(get(&env, "WORLD_SIZE"), Some("2"));
        assert_eq!(
            get(&env, "MASTER_ADDR"),
            Some("test-job-workers-0.test-job-workers")
        );
        assert_eq!(get(&env, "MASTER_PORT"), Some("29500"));
        assert_eq!(get(&env, "HYPERPARAM_LEARNING_RATE"), Some("0.001"));
        assert_eq!(get(&env, "HYPERPARAM_BATCH_SIZE"), Some("32"));
        assert_eq!(get(&env, "HYPERPARAM_EPOCHS"), Some("10"));
        assert_eq!(
            get(&env, "CHECKPOINT_DIR"),
            Some("/mnt/checkpoints/resnet50")
        );
        assert_eq!(get(&env, "CHECKPOINT_FREQUENCY"), Some("1"));
        assert_eq!(
            get(&env, "RESUME_FROM_CHECKPOINT"),
            Some("/mnt/checkpoints/resnet50/epoch-4")
        );
        assert_eq!(get(&env, "NCCL_DEBUG"), Some("WARN"));
        let rank = env.iter().find(|e| e.name == "RANK").unwrap();
        assert_eq!(
            rank.value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
        // RANK is defined before any variable that expands $(RANK).
        let rank_pos = env.iter().position(|e| e.name == "RANK").unwrap();
        let uses = env
            .iter()
            .position(|e| e.value.as_deref().is_some_and(|v| v.contains("$(RANK)")))
            .unwrap();
        assert!(rank_pos < uses);
    }

    #[test]
    fn no_resume_on_first_attempt_and_gloo_tensorflow() {
        let mut plan = seed();
        plan.backend = Backend::Gloo;
        plan.framework = Framework::TensorFlow;
        let env = worker_env(&plan, &attempt(None));
        assert_eq!(get(&env, "RESUME_FROM_CHECKPOINT"), None);
        assert_eq!(get(&env, "GLOO_SOCKET_IFNAME"), Some("eth0"));
        assert_eq!(get(&env, "NCCL_DEBUG"), None);
        let tf = get(&env, "TF_CONFIG").unwrap();
        assert!(
            tf.contains("test-job-workers-1.test-job-workers:29500"),
            "{tf}"
        );
        assert!(tf.contains(r#""index":$(RANK)"#), "{tf}");
    }
}
