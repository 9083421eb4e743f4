//! The real Job controller and scheduler drive kwok-simulated pods to completion or failure.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, PostParams};
use mlfleet_e2e::{Plane, TestNamespace, wait_for};

fn job(
    name: &str,
    completions: i32,
    parallelism: i32,
    backoff_limit: i32,
    annotations: serde_json::Value,
) -> anyhow::Result<Job> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completionMode": "Indexed",
            "completions": completions,
            "parallelism": parallelism,
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "worker", "image": "registry.invalid/worker:1",
                                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]
                }
            }
        }
    }))?)
}

fn condition(job: &Job, type_: &str) -> Option<(String, Option<String>)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn finished(job: &Job) -> bool {
    ["Complete", "Failed"]
        .iter()
        .any(|t| condition(job, t).is_some_and(|(s, _)| s == "True"))
}

async fn job_pods(pods: &Api<Pod>, name: &str) -> anyhow::Result<Vec<Pod>> {
    Ok(pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}")))
        .await?
        .items)
}

#[tokio::test]
async fn indexed_job_with_parallelism_4_completes_on_scheduled_pods() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "job-ok").await?;
    let client = plane.client().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns.name());
    let pods: Api<Pod> = Api::namespaced(client, ns.name());

    jobs.create(
        &PostParams::default(),
        &job(
            "train",
            4,
            4,
            0,
            serde_json::json!({"mlfleet.io/kwok-complete-after": "2s"}),
        )?,
    )
    .await?;
    let done = wait_for(&jobs, "train", Duration::from_secs(120), finished).await?;
    assert_eq!(
        condition(&done, "Complete").map(|c| c.0),
        Some("True".into()),
        "job status {:?}",
        done.status
    );
    assert_eq!(done.status.as_ref().and_then(|s| s.succeeded), Some(4));
    assert_eq!(
        done.status
            .as_ref()
            .and_then(|s| s.completed_indexes.clone())
            .as_deref(),
        Some("0-3")
    );

    let pods = job_pods(&pods, "train").await?;
    assert_eq!(pods.len(), 4, "one pod per index, no retries");
    let mut indexes = BTreeSet::new();
    for pod in &pods {
        let status = pod.status.as_ref().expect("pod status");
        assert_eq!(status.phase.as_deref(), Some("Succeeded"));
        let scheduled = status.conditions.as_ref().is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        });
        assert!(scheduled, "pod was not bound by the scheduler: {status:?}");
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        assert!(
            node.starts_with("kwok-cpu-"),
            "untolerating pod placed on {node}"
        );
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        indexes.insert(
            annotations
                .get("batch.kubernetes.io/job-completion-index")
                .cloned()
                .unwrap_or_default(),
        );
    }
    assert_eq!(
        indexes,
        ["0", "1", "2", "3"].into_iter().map(String::from).collect()
    );
    Ok(())
}

#[tokio::test]
async fn job_whose_pods_fail_retries_up_to_backoff_limit_then_fails() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "job-fail").await?;
    let client = plane.client().await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns.name());
    let pods: Api<Pod> = Api::namespaced(client, ns.name());
    let backoff_limit = 2;

    let annotations =
        serde_json::json!({"mlfleet.io/kwok-fail": "true", "mlfleet.io/kwok-complete-after": "1s"});
    jobs.create(
        &PostParams::default(),
        &job("doomed", 1, 1, backoff_limit, annotations)?,
    )
    .await?;
    let done = wait_for(&jobs, "doomed", Duration::from_secs(180), finished).await?;
    let failed = condition(&done, "Failed");
    assert_eq!(
        failed.as_ref().map(|c| c.0.as_str()),
        Some("True"),
        "job status {:?}",
        done.status
    );
    assert_eq!(
        failed.and_then(|c| c.1).as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(
        done.status.as_ref().and_then(|s| s.failed),
        Some(backoff_limit + 1)
    );
    assert_eq!(condition(&done, "Complete"), None);

    let pods = job_pods(&pods, "doomed").await?;
    assert_eq!(
        pods.len(),
        usize::try_from(backoff_limit + 1)?,
        "first try plus {backoff_limit} retries"
    );
    for pod in &pods {
        let status = pod.status.as_ref().expect("pod status");
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        let code = status.container_statuses.as_ref().and_then(|c| {
            c.first()?
                .state
                .as_ref()?
                .terminated
                .as_ref()
                .map(|t| t.exit_code)
        });
        assert_eq!(code, Some(1));
    }
    Ok(())
}
