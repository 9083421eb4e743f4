//! The Indexed batch/v1 Job `<name>-workers` that runs one attempt of the gang.
//!
//! * completions = parallelism = workers, completion mode Indexed (RANK = index);
//! * created suspended, unsuspended when the gang is admitted;
//! * `backoffLimit: 0` plus a pod failure policy: a disruption (preemption,
//!   eviction, node drain) is ignored and the pod is recreated; exit codes 1-127
//!   fail the Job at once (permanent error); any other failure (128-255, killed)
//!   also ends the attempt, and the operator decides whether to start a new one.
//!   Retries therefore count whole attempts against the TrainingJob's backoffLimit
//!   and always terminate.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::Attempt;
use super::configmap::CONFIG_MOUNT;
use super::env::{checkpoint_dir, worker_env};
use super::meta::{ANNOTATION_RESUME, LABEL_ATTEMPT, child_meta, selector_labels};
use crate::spec::{CheckpointStorage, JobPlan};

/// Extended resource name of NVIDIA GPUs.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// Node label GPU nodes carry (GPU feature discovery).
pub const GPU_NODE_LABEL: &str = "nvidia.com/gpu.present";
/// Name of the worker container.
pub const WORKER_CONTAINER: &str = "worker";
/// Pod failure policy action for permanent exit codes.
pub const PERMANENT_EXIT_CODES: std::ops::RangeInclusive<i32> = 1..=127;

/// The pod failure policy described in the module docs.
pub fn pod_failure_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: Some("True".into()),
                }]),
                on_exit_codes: None,
            },
            PodFailurePolicyRule {
                action: "FailJob".into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some(WORKER_CONTAINER.into()),
                    operator: "In".into(),
                    values: PERMANENT_EXIT_CODES.collect(),
                }),
                on_pod_conditions: None,
            },
        ],
    }
}

fn resources(plan: &JobPlan) -> ResourceRequirements {
    let r = &plan.resources;
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(cpu) = &r.cpu {
        requests.insert("cpu".to_string(), Quantity(cpu.clone()));
    }
    if let Some(mem) = &r.memory {
        requests.insert("memory".to_string(), Quantity(mem.clone()));
    }
    if let Some(cpu) = &r.cpu_limit {
        limits.insert("cpu".to_string(), Quantity(cpu.clone()));
    }
    if let Some(mem) = r.memory_limit.as_ref().or(r.memory.as_ref()) {
        limits.insert("memory".to_string(), Quantity(mem.clone()));
    }
    if r.gpus > 0 {
        // Extended resources must have request == limit.
        requests.insert(GPU_RESOURCE.to_string(), Quantity(r.gpus.to_string()));
        limits.insert(GPU_RESOURCE.to_string(), Quantity(r.gpus.to_string()));
    }
    ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    }
}

fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

fn volumes_and_mounts(plan: &JobPlan) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![
        Volume {
            name: "dshm".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: plan.resources.shm_size.clone().map(Quantity),
            }),
            ..Default::default()
        },
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: plan.config_map_name(),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    let mut mounts = vec![
        VolumeMount {
            name: "dshm".into(),
            mount_path: "/dev/shm".into(),
            ..Default::default()
        },
        VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_MOUNT.into(),
            read_only: Some(true),
            ..Default::default()
        },
    ];
    if let Some(ckpt) = &plan.checkpoint
        && matches!(ckpt.storage, CheckpointStorage::Pvc { .. })
        && let Some(dir) = checkpoint_dir(plan)
    {
        volumes.push(Volume {
            name: "checkpoints".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: plan.pvc_name(),
                read_only: None,
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: "checkpoints".into(),
            mount_path: dir,
            ..Default::default()
        });
    }
    (volumes, mounts)
}

/// Builds the pod template: the user's template (if any) underneath, the
/// operator's required settings on top.
pub fn pod_template(plan: &JobPlan, attempt: &Attempt) -> PodTemplateSpec {
    let mut tpl = plan.pod_template.clone().unwrap_or_default();
    let meta = tpl.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.extend(selector_labels(plan));
    labels.insert(LABEL_ATTEMPT.into(), attempt.number.to_string());

    let mut spec = tpl.spec.take().unwrap_or_default();
    // The worker container: the one named "worker", else the first, else a new one.
    let idx = spec
        .containers
        .iter()
        .position(|c| c.name == WORKER_CONTAINER)
        .or(if spec.containers.is_empty() {
            None
        } else {
            Some(0)
        });
    let mut c = match idx {
        Some(i) => spec.containers.remove(i),
        None => Container::default(),
    };
    c.name = WORKER_CONTAINER.into();
    if c.image.is_none() || !plan.image.is_empty() {
        c.image = Some(plan.image.clone());
    }
    if !plan.command.is_empty() {
        c.command = Some(plan.command.clone());
    }
    if !plan.args.is_empty() {
        c.args = Some(plan.args.clone());
    }
    let mut env = worker_env(plan, attempt);
    let ours: std::collections::HashSet<String> = env.iter().map(|e| e.name.clone()).collect();
    // User variables come after ours (they may reference them), minus overrides of ours.
    env.extend(
        c.env
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| !ours.contains(&e.name)),
    );
    c.env = Some(env);
    c.resources = Some(resources(plan));
    c.ports = Some(vec![ContainerPort {
        name: Some("rendezvous".into()),
        container_port: i32::from(plan.master_port),
        protocol: Some("TCP".into()),
        ..Default::default()
    }]);
    c.security_context = Some(container_security());
    let (volumes, mounts) = volumes_and_mounts(plan);
    let mut all_mounts = mounts;
    all_mounts.extend(c.volume_mounts.take().unwrap_or_default());
    c.volume_mounts = Some(all_mounts);
    spec.containers.insert(0, c);

    let mut all_volumes = volumes;
    all_volumes.extend(spec.volumes.take().unwrap_or_default());
    spec.volumes = Some(all_volumes);
    spec.restart_policy = Some("Never".into());
    spec.subdomain = Some(plan.service_name());
    let psc = spec
        .security_context
        .get_or_insert_with(PodSecurityContext::default);
    psc.run_as_non_root = Some(true);
    psc.run_as_user.get_or_insert(1000);
    psc.fs_group.get_or_insert(1000);
    psc.seccomp_profile = Some(SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    });
    if !plan.node_selector.is_empty() {
        spec.node_selector
            .get_or_insert_with(BTreeMap::new)
            .extend(plan.node_selector.clone());
    }
    if !plan.tolerations.is_empty() {
        spec.tolerations
            .get_or_insert_with(Vec::new)
            .extend(plan.tolerations.iter().cloned());
    }
    if plan.resources.gpus > 0 {
        spec.node_selector
            .get_or_insert_with(BTreeMap::new)
            .insert(GPU_NODE_LABEL.into(), "true".into());
        let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
        if !tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(GPU_RESOURCE))
        {
            tolerations.push(Toleration {
                key: Some(GPU_RESOURCE.into()),
                operator: Some("Equal".into()),
                value: Some("present".into()),
                effect: Some("NoSchedule".into()),
                toleration_seconds: None,
            });
        }
    }
    tpl.spec = Some(spec);
    tpl
}

/// Builds the Job for one attempt.
pub fn build(plan: &JobPlan, attempt: &Attempt) -> Job {
    let mut meta = child_meta(plan, plan.job_name());
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(LABEL_ATTEMPT.into(), attempt.number.to_string());
    let mut annotations = BTreeMap::from([(LABEL_ATTEMPT.to_string(), attempt.number.to_string())]);
    if let Some(r) = &attempt.resume_from {
        annotations.insert(ANNOTATION_RESUME.into(), r.clone());
    }
    meta.annotations = Some(annotations);
    let n = i32::try_from(attempt.workers).unwrap_or(i32::MAX);
    Job {
        metadata: meta,
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(n),
            parallelism: Some(n),
            suspend: Some(attempt.suspend),
            backoff_limit: Some(0),
            pod_failure_policy: Some(pod_failure_policy()),
            // Replace a failed pod only once it is fully gone (no duplicate ranks).
            pod_replacement_policy: Some("Failed".into()),
            template: pod_template(plan, attempt),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures::seed;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn attempt() -> Attempt {
        Attempt {
            number: 0,
            resume_from: None,
            suspend: true,
            workers: 2,
        }
    }

    #[test]
    fn seed_job_snapshot() {
        let job = build(&seed(), &attempt());
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["metadata"]["name"], "test-job-workers");
        assert_eq!(v["metadata"]["namespace"], "default");
        assert_eq!(v["metadata"]["labels"]["training.mlfleet.io/attempt"], "0");
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "TrainingJob");
        let spec = &v["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], 2);
        assert_eq!(spec["parallelism"], 2);
        assert_eq!(spec["suspend"], true);
        assert_eq!(spec["backoffLimit"], 0);
        let rules = &spec["podFailurePolicy"]["rules"];
        assert_eq!(rules[0]["action"], "Ignore");
        assert_eq!(rules[0]["onPodConditions"][0]["type"], "DisruptionTarget");
        assert_eq!(rules[1]["action"], "FailJob");
        let codes = rules[1]["onExitCodes"]["values"].as_array().unwrap();
        assert_eq!(codes.len(), 127);
        assert_eq!(
            (codes[0].as_i64(), codes[126].as_i64()),
            (Some(1), Some(127))
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["subdomain"], "test-job-workers");
        assert_eq!(pod["nodeSelector"]["nvidia.com/gpu.present"], "true");
        assert_eq!(pod["tolerations"][0]["key"], "nvidia.com/gpu");
        assert_eq!(pod["tolerations"][0]["value"], "present");
        assert_eq!(pod["tolerations"][0]["effect"], "NoSchedule");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let c = &pod["containers"][0];
        assert_eq!(c["name"], "worker");
        assert_eq!(c["resources"]["requests"]["nvidia.com/gpu"], "1");
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
        let mounts: Vec<&str> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert_eq!(
            mounts,
            vec!["/dev/shm", "/etc/mlfleet", "/mnt/checkpoints/resnet50"]
        );
        let shm = &pod["volumes"][0];
        assert_eq!(shm["emptyDir"]["medium"], "Memory");
        assert_eq!(
            pod["volumes"][2]["persistentVolumeClaim"]["claimName"],
            "test-job-checkpoints"
        );
        assert_eq!(
            spec["template"]["metadata"]["labels"]["training.mlfleet.io/job-name"],
            "test-job"
        );
    }

    #[test]
    fn cpu_job_has_no_gpu_scheduling_and_user_template_merges() {
        let mut plan = seed();
        plan.resources.gpus = 0;
        let mut tpl = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                annotations: Some(BTreeMap::from([(
                    "kwok.x-k8s.io/fail".to_string(),
                    "true".to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        tpl.spec = Some(PodSpec {
            containers: vec![Container {
                name: "trainer".into(),
                image: Some("user/image".into()),
                env: Some(vec![k8s_openapi::api::core::v1::EnvVar {
                    name: "EXTRA".into(),
                    value: Some("1".into()),
                    value_from: None,
                }]),
                ..Default::default()
            }],
            ..Default::default()
        });
        plan.pod_template = Some(tpl);
        let job = build(&plan, &attempt());
        let v = serde_json::to_value(&job).unwrap();
        let pod = &v["spec"]["template"];
        assert_eq!(pod["metadata"]["annotations"]["kwok.x-k8s.io/fail"], "true");
        assert!(pod["spec"]["nodeSelector"].is_null());
        assert!(pod["spec"]["tolerations"].is_null());
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["name"], "worker");
        assert_eq!(c["image"], "ghcr.io/mlfleet/trainer:latest");
        assert!(c["resources"]["requests"]["nvidia.com/gpu"].is_null());
        let envs = c["env"].as_array().unwrap();
        assert!(envs.iter().any(|e| e["name"] == "EXTRA"));
    }
}
