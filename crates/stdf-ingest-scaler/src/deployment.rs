//! The worker Deployment of an STDFParserJob, built from the CR alone (pure).

use std::collections::BTreeMap;

use crd_types::ingest::{S3Access, STDFParserJob};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    SeccompProfile, SecretKeySelector, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;

/// Settings of the scaler that every worker Deployment gets.
#[derive(Clone, Debug)]
pub struct WorkerDefaults {
    /// Image when the job names none (the scaler's own image).
    pub image: String,
    /// gRPC address workers reach the scaler at, e.g. `http://stdf-ingest-scaler.mlfleet-system:9090`.
    pub scaler_addr: String,
}

/// Name of a job's worker Deployment.
pub fn deployment_name(job: &STDFParserJob) -> String {
    format!("{}-workers", job.metadata.name.as_deref().unwrap_or("stdf"))
}

fn labels(job: &STDFParserJob) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "stdf-parser-worker".into()),
        (
            "app.kubernetes.io/managed-by".into(),
            "stdf-ingest-scaler".into(),
        ),
        (
            "ingest.mlfleet.io/job".into(),
            job.metadata.name.clone().unwrap_or_default(),
        ),
    ])
}

fn owner(job: &STDFParserJob) -> OwnerReference {
    OwnerReference {
        api_version: STDFParserJob::api_version(&()).into_owned(),
        kind: STDFParserJob::kind(&()).into_owned(),
        name: job.metadata.name.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn secret_env(name: &str, secret: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: name.into(),
                optional: Some(optional),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// S3 settings workers need: the source's, else the output's (one store per job is the
/// common case; a job mixing two S3 endpoints names them on each location).
fn s3_env(s3: Option<&S3Access>) -> Vec<EnvVar> {
    let Some(s3) = s3 else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(e) = &s3.endpoint {
        out.push(env("AWS_ENDPOINT_URL", e));
    }
    if let Some(r) = &s3.region {
        out.push(env("AWS_REGION", r));
    }
    if s3.allow_http {
        out.push(env("AWS_ALLOW_HTTP", "true"));
    }
    if let Some(secret) = &s3.secret_ref {
        out.push(secret_env("AWS_ACCESS_KEY_ID", &secret.name, false));
        out.push(secret_env("AWS_SECRET_ACCESS_KEY", &secret.name, false));
        out.push(secret_env("AWS_SESSION_TOKEN", &secret.name, true));
    }
    out
}

/// The worker Deployment with `replicas` replicas.
pub fn worker_deployment(job: &STDFParserJob, replicas: i32, d: &WorkerDefaults) -> Deployment {
    let ns = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let labels = labels(job);
    let spec = &job.spec;
    let s3 = spec.source.s3.as_ref().or(spec.output.s3.as_ref());
    let mut env_vars = vec![
        env("MLFLEET_SCALER_ADDR", &d.scaler_addr),
        env("MLFLEET_JOB", format!("{ns}/{name}")),
        EnvVar {
            name: "MLFLEET_WORKER_ID".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                    field_path: "metadata.name".into(),
                    ..Default::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
    ];
    env_vars.extend(s3_env(s3));
    Deployment {
        metadata: ObjectMeta {
            name: Some(deployment_name(job)),
            namespace: Some(ns),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner(job)]),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    // Workers release their lease on SIGTERM only by finishing the file;
                    // give them the lease period to do so.
                    termination_grace_period_seconds: Some(i64::from(spec.worker.lease_seconds)),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![Container {
                        name: "worker".into(),
                        image: Some(spec.worker.image.clone().unwrap_or_else(|| d.image.clone())),
                        args: Some(vec!["worker".into(), "--exit-when-done".into()]),
                        env: Some(env_vars),
                        resources: spec.worker.resources.clone(),
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            read_only_root_filesystem: Some(true),
                            run_as_non_root: Some(true),
                            capabilities: Some(Capabilities {
                                drop: Some(vec!["ALL".into()]),
                                ..Capabilities::default()
                            }),
                            ..SecurityContext::default()
                        }),
                        volume_mounts: Some(vec![k8s_openapi::api::core::v1::VolumeMount {
                            name: "scratch".into(),
                            mount_path: "/scratch".into(),
                            ..Default::default()
                        }]),
                        ..Container::default()
                    }],
                    volumes: Some(vec![k8s_openapi::api::core::v1::Volume {
                        name: "scratch".into(),
                        empty_dir: Some(Default::default()),
                        ..Default::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crd_types::ingest::STDFParserJobSpec;

    fn job(yaml: &str) -> STDFParserJob {
        let spec: STDFParserJobSpec = serde_yaml::from_str(yaml).unwrap();
        let mut j = STDFParserJob::new("lot42", spec);
        j.metadata.namespace = Some("fab".into());
        j.metadata.uid = Some("uid-1".into());
        j
    }

    #[test]
    fn deployment_names_job_scaler_and_owner() {
        let j = job("source: {uri: 'file:///in/'}\noutput: {uri: 'file:///out/'}\n");
        let d = worker_deployment(
            &j,
            3,
            &WorkerDefaults {
                image: "ghcr.io/mlfleet/stdf-ingest-scaler:dev".into(),
                scaler_addr: "http://scaler:9090".into(),
            },
        );
        assert_eq!(d.metadata.name.as_deref(), Some("lot42-workers"));
        let spec = d.spec.unwrap();
        assert_eq!(spec.replicas, Some(3));
        let own = &d.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (own.kind.as_str(), own.uid.as_str(), own.controller),
            ("STDFParserJob", "uid-1", Some(true))
        );
        let pod = spec.template.spec.unwrap();
        let c = &pod.containers[0];
        let envs: BTreeMap<_, _> = c
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect();
        assert_eq!(envs["MLFLEET_JOB"].as_deref(), Some("fab/lot42"));
        assert_eq!(
            envs["MLFLEET_SCALER_ADDR"].as_deref(),
            Some("http://scaler:9090")
        );
        assert_eq!(
            c.image.as_deref(),
            Some("ghcr.io/mlfleet/stdf-ingest-scaler:dev")
        );
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
    }

    #[test]
    fn s3_credentials_come_from_the_secret() {
        let j = job(
            "source: {uri: 's3://lots/in/', s3: {endpoint: 'http://minio:9000', secretRef: {name: creds}, allowHttp: true}}\noutput: {uri: 's3://lots/out/'}\n",
        );
        let d = worker_deployment(
            &j,
            1,
            &WorkerDefaults {
                image: "img".into(),
                scaler_addr: "a".into(),
            },
        );
        let env = d.spec.unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        let key = env.iter().find(|e| e.name == "AWS_ACCESS_KEY_ID").unwrap();
        let sel = key
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (sel.name.as_str(), sel.key.as_str()),
            ("creds", "AWS_ACCESS_KEY_ID")
        );
        assert!(
            env.iter()
                .any(|e| e.name == "AWS_ALLOW_HTTP" && e.value.as_deref() == Some("true"))
        );
    }
}
