//! training-operator on the real control plane: the seed job end to end, gang
//! admission, queue quota, retries from the last reported checkpoint, progress
//! over gRPC, and the apiserver's validation of TrainingJobs.
//!
//! Needs the operator binary built (`cargo build -p training-operator`; the
//! e2e runner builds workspace binaries first). Tests in this file share the
//! cluster's GPUs, so they run one at a time behind a lock.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use mlfleet_e2e::{
    ControllerProcess, ControllerSpec, HelmRelease, Plane, TestNamespace, wait_for,
    wait_for_deletion,
};
use serde_json::{Value, json};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const GPU: &str = "nvidia.com/gpu";

/// The plane with the CRDs applied, a fresh test namespace and an admin client.
async fn setup(prefix: &str) -> anyhow::Result<(&'static Plane, TestNamespace, Client)> {
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let ns = TestNamespace::create(plane, prefix).await?;
    let client = plane.client().await?;
    Ok((plane, ns, client))
}

fn tj_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("training.mlfleet.io", "v1alpha1", "TrainingJob"),
        "trainingjobs",
    )
}

fn tq_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("training.mlfleet.io", "v1alpha1", "TrainingQueue"),
        "trainingqueues",
    )
}

fn tjs(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &tj_resource())
}

fn status(o: &DynamicObject) -> &Value {
    o.data.get("status").unwrap_or(&Value::Null)
}

fn state(o: &DynamicObject) -> String {
    status(o)["state"].as_str().unwrap_or_default().to_string()
}

fn condition(o: &DynamicObject, type_: &str) -> Option<(String, String)> {
    status(o)["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
}

fn training_job(name: &str, workers: u32, gpus: u32, extra: Value) -> DynamicObject {
    let mut spec = json!({
        "model": "resnet50",
        "dataset": "imagenet",
        "numWorkers": workers,
        "gpusPerWorker": gpus,
        "hyperparameters": {"learningRate": 0.001, "batchSize": 32, "epochs": 10},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    let mut obj = DynamicObject::new(name, &tj_resource());
    obj.data = json!({ "spec": spec });
    obj
}

/// Polls a TrainingJob (a dynamic object, which the typed watch helpers do not
/// take) until `cond` holds, with a deadline.
async fn poll_until(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
    cond: impl Fn(&DynamicObject) -> bool,
) -> anyhow::Result<DynamicObject> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = api.get_opt(name).await?;
        if let Some(o) = &last
            && cond(o)
        {
            return Ok(o.clone());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for TrainingJob {name}; last status: {}",
            last.as_ref()
                .map(|o| status(o).to_string())
                .unwrap_or_else(|| "absent".into())
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls until a TrainingJob is gone, with a deadline.
async fn poll_gone(api: &Api<DynamicObject>, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while api.get_opt(name).await?.is_some() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "TrainingJob {name} not deleted after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

fn pod_annotations(a: Value) -> Value {
    json!({"template": {"metadata": {"annotations": a}}})
}

/// Starts the operator with fast progress folding; the namespace keeps its log.
fn start_operator(plane: &Plane, ns: &TestNamespace) -> anyhow::Result<ControllerProcess> {
    let spec = ControllerSpec::new(ControllerSpec::workspace_binary("training-operator"))
        .env("MLFLEET_PROGRESS_INTERVAL_MS", "200")
        .env("MLFLEET_LOG", "info,training_operator=debug");
    let op = ControllerProcess::start(plane, &spec)?;
    ns.attach_log(op.log_path());
    Ok(op)
}

async fn wait_state(
    api: &Api<DynamicObject>,
    name: &str,
    want: &[&str],
    secs: u64,
) -> anyhow::Result<DynamicObject> {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    poll_until(api, name, Duration::from_secs(secs), move |o| {
        want.contains(&state(o))
    })
    .await
}

/// Deletes TrainingJobs while the operator still runs (it owns their finalizer).
async fn delete_all(api: &Api<DynamicObject>) -> anyhow::Result<()> {
    for o in api.list(&ListParams::default()).await?.items {
        let name = o.metadata.name.clone().unwrap_or_default();
        api.delete(&name, &DeleteParams::default()).await.ok();
        poll_gone(api, &name, Duration::from_secs(60)).await?;
    }
    Ok(())
}

fn operator_cli(op: &ControllerProcess, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(ControllerSpec::workspace_binary("training-operator"))
        .args(args.iter().take(1))
        .arg("--addr")
        .arg(format!("http://{}", op.grpc_addr()))
        .args(args.iter().skip(1))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "training-operator {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn seed_job_runs_as_indexed_job_on_gpu_nodes_and_children_follow_its_lifetime()
-> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let ns = TestNamespace::create(plane, "to-seed").await?;
    let op = start_operator(plane, &ns)?;
    let client = plane.client().await?;
    let api = tjs(&client, ns.name());

    // The seed example from examples/, as a user would apply it.
    let text = std::fs::read_to_string(
        mlfleet_e2e::repo_root().join("examples/trainingjob-test-job.yaml"),
    )?;
    let mut seed: DynamicObject = serde_yaml::from_str(&text)?;
    seed.metadata.namespace = Some(ns.name().into());
    api.create(&PostParams::default(), &seed).await?;

    let done = wait_state(&api, "test-job", &["Completed", "Failed"], 120).await?;
    assert_eq!(state(&done), "Completed", "status: {}", status(&done));
    for (t, want) in [
        ("Queued", "False"),
        ("Admitted", "False"),
        ("ResourcesCreated", "True"),
        ("Running", "False"),
        ("Restarting", "False"),
        ("Suspended", "False"),
        ("Succeeded", "True"),
        ("Failed", "False"),
    ] {
        let c = condition(&done, t);
        assert_eq!(
            c.as_ref().map(|c| c.0.as_str()),
            Some(want),
            "condition {t}: {c:?}"
        );
    }
    assert_eq!(status(&done)["progress"], 100);
    let uid = done.metadata.uid.clone().unwrap_or_default();

    let jobs: Api<Job> = Api::namespaced(client.clone(), ns.name());
    let job = jobs.get("test-job-workers").await?;
    let spec = job.spec.clone().unwrap_or_default();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism), (Some(2), Some(2)));
    let pod_spec = spec.template.spec.clone().unwrap_or_default();
    assert_eq!(pod_spec.subdomain.as_deref(), Some("test-job-workers"));
    let env = pod_spec.containers[0].env.clone().unwrap_or_default();
    let get = |n: &str| {
        env.iter()
            .find(|e| e.name == n)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(get("WORLD_SIZE").as_deref(), Some("2"));
    assert_eq!(
        get("MASTER_ADDR").as_deref(),
        Some("test-job-workers-0.test-job-workers")
    );
    assert_eq!(get("HYPERPARAM_LEARNING_RATE").as_deref(), Some("0.001"));

    // kube-scheduler placed both workers on GPU nodes.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let nodes: Api<Node> = Api::all(client.clone());
    let worker_pods = pods
        .list(&ListParams::default().labels("training.mlfleet.io/job-name=test-job"))
        .await?
        .items;
    assert_eq!(worker_pods.len(), 2);
    for p in &worker_pods {
        let node_name = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let node = nodes.get(&node_name).await?;
        let labels = node.metadata.labels.unwrap_or_default();
        assert_eq!(
            labels.get("nvidia.com/gpu.present").map(String::as_str),
            Some("true"),
            "{node_name}"
        );
    }
    let indexes: BTreeSet<String> = worker_pods
        .iter()
        .filter_map(|p| {
            p.metadata
                .annotations
                .as_ref()?
                .get("batch.kubernetes.io/job-completion-index")
                .cloned()
        })
        .collect();
    assert_eq!(indexes, BTreeSet::from(["0".to_string(), "1".to_string()]));

    // Children carry controller owner references and vanish with the TrainingJob.
    let svcs: Api<Service> = Api::namespaced(client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let owners = [
        job.metadata.owner_references.clone(),
        svcs.get("test-job-workers")
            .await?
            .metadata
            .owner_references,
        cms.get("test-job-config").await?.metadata.owner_references,
    ];
    for o in owners {
        let o = o.unwrap_or_default();
        assert!(
            o.iter().any(|r| r.uid == uid && r.controller == Some(true)),
            "{o:?}"
        );
    }
    api.delete("test-job", &DeleteParams::default()).await?;
    poll_gone(&api, "test-job", Duration::from_secs(60)).await?;
    wait_for_deletion(&jobs, "test-job-workers", Duration::from_secs(60)).await?;
    wait_for_deletion(&svcs, "test-job-workers", Duration::from_secs(60)).await?;
    wait_for_deletion(&cms, "test-job-config", Duration::from_secs(60)).await?;
    drop(op);
    Ok(())
}

/// Free GPUs per GPU node (allocatable minus requests of live pods).
async fn free_gpus(client: &Client) -> anyhow::Result<Vec<(String, u64)>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let all_pods = pods.list(&ListParams::default()).await?.items;
    let mut out = Vec::new();
    for n in nodes
        .list(&ListParams::default().labels("nvidia.com/gpu.present=true"))
        .await?
        .items
    {
        let name = n.metadata.name.clone().unwrap_or_default();
        let alloc: u64 = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get(GPU))
            .and_then(|q| q.0.parse().ok())
            .unwrap_or(0);
        let used: u64 = all_pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str()))
            .filter(|p| {
                !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
            })
            .flat_map(|p| p.spec.clone().unwrap_or_default().containers)
            .filter_map(|c| {
                c.resources?
                    .requests?
                    .get(GPU)
                    .and_then(|q| q.0.parse::<u64>().ok())
            })
            .sum();
        out.push((name, alloc.saturating_sub(used)));
    }
    out.sort();
    Ok(out)
}

/// Fills GPU nodes with long-running pods until exactly `keep` GPUs stay free,
/// on whole nodes. Returns the filler count.
async fn fill_gpus_leaving(client: &Client, ns: &str, keep: u64) -> anyhow::Result<usize> {
    let free = free_gpus(client).await?;
    let mut left = keep;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut n = 0;
    for (node, gpus) in free {
        if gpus == 0 {
            continue;
        }
        if left >= gpus {
            left -= gpus;
            continue;
        }
        let take = gpus - left;
        left = 0;
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("filler-{n}")},
            "spec": {
                "nodeName": node,
                "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [{"name": "c", "image": "registry.invalid/filler:1",
                    "resources": {"requests": {GPU: take.to_string()}, "limits": {GPU: take.to_string()}}}]
            }
        }))?;
        pods.create(&PostParams::default(), &pod).await?;
        n += 1;
    }
    anyhow::ensure!(left == 0, "cluster has fewer than {keep} free GPUs");
    Ok(n)
}

#[tokio::test]
async fn gang_admission_runs_exactly_the_gangs_that_fit_and_never_a_partial_one()
-> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-gang").await?;
    fill_gpus_leaving(&client, ns.name(), 16).await?;
    let op = start_operator(plane, &ns)?;
    let api = tjs(&client, ns.name());
    let names: Vec<String> = (0..5).map(|i| format!("gang-{i}")).collect();
    for name in &names {
        // 2 workers x 4 GPUs = 8 GPUs per job; 16 free GPUs hold exactly two gangs.
        let tj = training_job(
            name,
            2,
            4,
            pod_annotations(json!({"mlfleet.io/kwok-complete-after": "25s"})),
        );
        api.create(&PostParams::default(), &tj).await?;
        // Distinct creation seconds give a deterministic FIFO order.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (running, queued) = loop {
        let list = api.list(&ListParams::default()).await?.items;
        let running: Vec<&DynamicObject> = list
            .iter()
            .filter(|o| ["Running", "Initializing"].contains(&state(o).as_str()))
            .collect();
        let queued: Vec<&DynamicObject> = list.iter().filter(|o| state(o) == "Queued").collect();
        // Never a partial gang: every job has either 0 or all of its pods.
        for o in &list {
            let name = o.metadata.name.clone().unwrap_or_default();
            let n = pods
                .list(
                    &ListParams::default().labels(&format!("training.mlfleet.io/job-name={name}")),
                )
                .await?
                .items
                .len();
            assert!(n == 0 || n == 2, "{name} has {n} of 2 pods");
        }
        if running.len() == 2
            && queued.len() == 3
            && queued.iter().all(|o| status(o)["queuePosition"].is_u64())
        {
            break (
                running
                    .iter()
                    .map(|o| o.metadata.name.clone().unwrap_or_default())
                    .collect::<Vec<_>>(),
                queued
                    .iter()
                    .map(|o| {
                        (
                            o.metadata.name.clone().unwrap_or_default(),
                            status(o)["queuePosition"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect::<Vec<_>>(),
            );
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "states: {:?}",
            list.iter().map(state).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(running, vec!["gang-0".to_string(), "gang-1".to_string()]);
    let mut positions: Vec<u64> = queued.iter().map(|(_, p)| *p).collect();
    positions.sort();
    assert_eq!(positions, vec![1, 2, 3], "{queued:?}");
    assert!(
        queued.iter().any(|(n, p)| n == "gang-2" && *p == 1),
        "{queued:?}"
    );

    // SchedulingState agrees, through the CLI.
    let text = operator_cli(&op, &["query", "job", &format!("{}/gang-3", ns.name())])?;
    assert!(
        text.contains("state:     QUEUED") && text.contains("position:  2"),
        "{text}"
    );

    // When the first gangs complete, the next one is admitted.
    wait_state(
        &api,
        "gang-2",
        &["Initializing", "Running", "Completed"],
        90,
    )
    .await?;
    delete_all(&api).await?;
    drop(op);
    Ok(())
}

#[tokio::test]
async fn queue_quota_admits_one_eight_gpu_job_while_the_cluster_has_room() -> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-quota").await?;
    let free: u64 = free_gpus(&client).await?.iter().map(|(_, g)| g).sum();
    anyhow::ensure!(free >= 16, "need 16 free GPUs, have {free}");
    let op = start_operator(plane, &ns)?;
    let queues: Api<DynamicObject> = Api::all_with(client.clone(), &tq_resource());
    let qname = format!("{}-q", ns.name());
    let mut q = DynamicObject::new(&qname, &tq_resource());
    q.data = json!({"spec": {"quota": {"gpus": 8}}});
    queues.create(&PostParams::default(), &q).await?;
    let api = tjs(&client, ns.name());
    for name in ["first", "second"] {
        let mut extra = pod_annotations(json!({"mlfleet.io/kwok-complete-after": "60s"}));
        extra["queueName"] = json!(qname);
        api.create(&PostParams::default(), &training_job(name, 1, 8, extra))
            .await?;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    wait_state(&api, "first", &["Initializing", "Running"], 60).await?;
    let second = poll_until(&api, "second", Duration::from_secs(30), |o| {
        state(o) == "Queued" && condition(o, "Admitted").is_some_and(|c| c.1 == "QuotaExceeded")
    })
    .await?;
    assert_eq!(status(&second)["queuePosition"], 1);
    assert!(
        status(&second)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("quota"),
        "{}",
        status(&second)
    );
    let text = operator_cli(&op, &["query", "queues"])?;
    assert!(
        text.lines()
            .any(|l| l.starts_with(&qname) && l.split_whitespace().nth(1) == Some("1")),
        "{text}"
    );
    delete_all(&api).await?;
    queues.delete(&qname, &DeleteParams::default()).await?;
    drop(op);
    Ok(())
}

#[tokio::test]
async fn progress_reports_move_epoch_and_progress_to_completion() -> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-progress").await?;
    let op = start_operator(plane, &ns)?;
    let api = tjs(&client, ns.name());
    let tj = training_job(
        "prog",
        1,
        1,
        pod_annotations(json!({"mlfleet.io/kwok-complete-after": "120s"})),
    );
    api.create(&PostParams::default(), &tj).await?;
    wait_state(&api, "prog", &["Running"], 60).await?;
    let job = format!("{}/prog", ns.name());
    for epoch in 1..=10 {
        let loss = format!("loss={}", 1.0 / f64::from(epoch));
        operator_cli(
            &op,
            &[
                "report",
                "progress",
                "--job",
                &job,
                "--epoch",
                &epoch.to_string(),
                "--metric",
                &loss,
            ],
        )?;
    }
    let o = poll_until(&api, "prog", Duration::from_secs(20), |o| {
        status(o)["currentEpoch"] == 10
    })
    .await?;
    assert_eq!(status(&o)["progress"], 100);
    assert_eq!(status(&o)["metrics"]["loss"], 0.1);
    assert_eq!(
        state(&o),
        "Running",
        "progress does not end the job; the workers do"
    );
    delete_all(&api).await?;
    drop(op);
    Ok(())
}

#[tokio::test]
async fn failed_attempts_restart_from_the_reported_checkpoint_until_the_backoff_limit()
-> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-retry").await?;
    let op = start_operator(plane, &ns)?;
    let api = tjs(&client, ns.name());
    let mut extra = pod_annotations(json!({"mlfleet.io/kwok-complete-after": "300s"}));
    extra["backoffLimit"] = json!(1);
    extra["retryBackoff"] = json!({"initialSeconds": 1, "maxSeconds": 2});
    api.create(&PostParams::default(), &training_job("retry", 2, 1, extra))
        .await?;
    wait_state(&api, "retry", &["Running"], 60).await?;
    let job = format!("{}/retry", ns.name());
    operator_cli(
        &op,
        &[
            "report",
            "checkpoint",
            "--job",
            &job,
            "--attempt",
            "0",
            "--epoch",
            "3",
            "--path",
            "/ckpt/epoch-3",
        ],
    )?;
    poll_until(&api, "retry", Duration::from_secs(20), |o| {
        status(o)["lastCheckpoint"]["path"] == "/ckpt/epoch-3"
    })
    .await?;

    // A worker is killed by a signal (exit code 137, no disruption condition): retryable.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let kill_one = || async {
        let list = pods
            .list(&ListParams::default().labels("training.mlfleet.io/job-name=retry"))
            .await?
            .items;
        let victim = list
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .and_then(|p| p.metadata.name.clone())
            .ok_or_else(|| anyhow::anyhow!("no running worker pod"))?;
        let crash = json!({"metadata": {"annotations": {
            "mlfleet.io/kwok-fail": "true",
            "mlfleet.io/kwok-exit-code": "137",
            "mlfleet.io/kwok-complete-after": "500ms",
        }}});
        pods.patch(&victim, &PatchParams::default(), &Patch::Merge(&crash))
            .await?;
        anyhow::Ok(())
    };
    kill_one().await?;
    let restarting = poll_until(&api, "retry", Duration::from_secs(60), |o| {
        status(o)["restarts"] == 1
    })
    .await?;
    assert!(
        ["Restarting", "Initializing", "Running"].contains(&state(&restarting).as_str()),
        "{}",
        state(&restarting)
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns.name());
    let second = wait_for(&jobs, "retry-workers", Duration::from_secs(60), |j| {
        j.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("training.mlfleet.io/attempt"))
            .map(String::as_str)
            == Some("1")
    })
    .await?;
    let env = second
        .spec
        .unwrap_or_default()
        .template
        .spec
        .unwrap_or_default()
        .containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let resume = env
        .iter()
        .find(|e| e.name == "RESUME_FROM_CHECKPOINT")
        .and_then(|e| e.value.clone());
    assert_eq!(resume.as_deref(), Some("/ckpt/epoch-3"));
    wait_state(&api, "retry", &["Running"], 60).await?;

    // The second failure exhausts backoffLimit 1.
    kill_one().await?;
    let failed = wait_state(&api, "retry", &["Failed"], 60).await?;
    assert_eq!(
        condition(&failed, "Failed").map(|c| c.1),
        Some("BackoffLimitExceeded".to_string())
    );

    // Exit code 1 (the kwok fail marker) is a permanent error: no retry at all.
    let marked = training_job(
        "marked",
        1,
        1,
        pod_annotations(
            json!({"mlfleet.io/kwok-fail": "true", "mlfleet.io/kwok-complete-after": "2s"}),
        ),
    );
    api.create(&PostParams::default(), &marked).await?;
    let failed = wait_state(&api, "marked", &["Failed"], 60).await?;
    assert_eq!(
        condition(&failed, "Failed").map(|c| c.1),
        Some("PermanentError".to_string())
    );
    assert_eq!(status(&failed)["restarts"], 0);
    delete_all(&api).await?;
    drop(op);
    Ok(())
}

#[tokio::test]
async fn apiserver_rejects_invalid_training_jobs_with_clear_messages() -> anyhow::Result<()> {
    let (_plane, ns, client) = setup("to-invalid").await?;
    let api = tjs(&client, ns.name());
    let cases = [
        ("zero", training_job("zero", 0, 1, json!({})), "numWorkers"),
        (
            "nine",
            training_job("nine", 1, 9, json!({})),
            "gpusPerWorker",
        ),
        (
            "elastic",
            training_job(
                "elastic",
                2,
                1,
                json!({"elastic": {"minWorkers": 4, "maxWorkers": 2}}),
            ),
            "minWorkers",
        ),
    ];
    for (name, obj, needle) in cases {
        let err = api
            .create(&PostParams::default(), &obj)
            .await
            .expect_err(name);
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
    api.create(
        &PostParams::default(),
        &training_job("ok", 1, 1, json!({"suspend": true})),
    )
    .await?;
    let err = api
        .patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"model": "bert"}})),
        )
        .await
        .expect_err("model is immutable");
    assert!(err.to_string().contains("model is immutable"), "{err}");
    // No operator runs here, so no finalizer was added and deletion is immediate.
    api.delete("ok", &DeleteParams::default()).await?;
    Ok(())
}

/// The UNHEALTHY column of `kwok-gpu-0` in `training-operator query gpus`, and the
/// source line.
fn node_unhealthy(op: &ControllerProcess, node: &str) -> anyhow::Result<(Option<u64>, String)> {
    let text = operator_cli(op, &["query", "gpus"])?;
    let unhealthy = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok());
    Ok((unhealthy, text))
}

#[tokio::test]
async fn a_gpu_fault_streamed_by_a_gpu_node_agent_is_no_longer_counted_free() -> anyhow::Result<()>
{
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-agent").await?;
    let node = "kwok-gpu-0";

    // One agent with the simulated backend and no API writes: only its
    // WatchNodeGpus stream can tell the operator about the fault.
    let dir = tempfile_dir(ns.name())?;
    let inventory = dir.join("inventory.yaml");
    std::fs::write(&inventory, inventory_text(None))?;
    let mut agent_spec = ControllerSpec::simulated_gpu_agent(node, &inventory, "200ms")?;
    agent_spec.args.push("--kube-sync=false".into());
    let agent = ControllerProcess::start(plane, &agent_spec)?;
    ns.attach_log(agent.log_path());

    // The agents' headless Service, with the EndpointSlice a DaemonSet's pods would
    // give it (here the agent process on loopback, as an RFC 6761 `.localhost` FQDN: the API
    // server refuses loopback IPs in EndpointSlices).
    let services: Api<Service> = Api::namespaced(client.clone(), ns.name());
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "gpu-node-agent"},
                "spec": {"clusterIP": "None", "ports": [{"name": "grpc", "port": 9090}]}
            }))?,
        )
        .await?;
    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(client.clone(), ns.name());
    slices
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "gpu-node-agent-1",
                             "labels": {"kubernetes.io/service-name": "gpu-node-agent"}},
                "addressType": "FQDN",
                "ports": [{"name": "grpc", "port": agent.grpc_addr().port()}],
                "endpoints": [{"addresses": ["gpu-node-agent-1.localhost"], "conditions": {"ready": true},
                               "nodeName": node}]
            }))?,
        )
        .await?;

    let spec = ControllerSpec::new(ControllerSpec::workspace_binary("training-operator"))
        .env("MLFLEET_LOG", "info,training_operator=debug")
        .env(
            "MLFLEET_GPU_AGENT_SERVICE",
            &format!("{}/gpu-node-agent", ns.name()),
        );
    let op = ControllerProcess::start(plane, &spec)?;
    ns.attach_log(op.log_path());

    let text = wait_unhealthy(&op, node, 0).await?;
    assert!(text.starts_with("source: GPU_AGENT"), "{text}");

    // XID 79 on GPU 3: the agent streams it, the operator stops counting that GPU.
    let tmp = dir.join("inventory.tmp");
    std::fs::write(&tmp, inventory_text(Some(3)))?;
    std::fs::rename(&tmp, &inventory)?;
    let text = wait_unhealthy(&op, node, 1).await?;
    let free: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with(node))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(free.get(free.len().wrapping_sub(2)), Some(&"7"), "{text}");

    drop(op);
    drop(agent);
    Ok(())
}

/// Waits until `query gpus` shows `want` unhealthy GPUs on `node`, live from an agent.
async fn wait_unhealthy(op: &ControllerProcess, node: &str, want: u64) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (unhealthy, text) = node_unhealthy(op, node).unwrap_or((None, String::new()));
        if unhealthy == Some(want) && text.contains("live over WatchNodeGpus") {
            return Ok(text);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{node} never showed {want} unhealthy GPUs:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A simulated 8-GPU inventory, with XID 79 on GPU `faulty` when given.
fn inventory_text(faulty: Option<usize>) -> String {
    let mut s = String::from("driverVersion: \"550.54.15\"\ngpus:\n");
    for i in 0..8 {
        s += "  - name: NVIDIA H100 80GB HBM3\n    memoryTotalMiB: 81559\n    memoryUsedMiB: 0\n";
        if faulty == Some(i) {
            s += "    xids: [79]\n";
        }
    }
    s
}

/// A scratch folder for this test's files.
fn tempfile_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mlfleet-e2e-{name}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::test]
async fn the_operator_runs_a_job_to_completion_with_only_its_chart_rbac() -> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-chart-sa").await?;

    // The umbrella chart's ServiceAccount, roles and bindings for the operator; the
    // operator process below plays its pod (the chart's Deployment scaled to 0).
    let release = format!("r{}", ns.name().rsplit('-').next().unwrap_or("x"));
    let chart = mlfleet_e2e::repo_root().join("charts/mlfleet");
    plane.helm(&[
        "install",
        &release,
        &chart.display().to_string(),
        "-n",
        ns.name(),
        "--set",
        "gpu-node-agent.enabled=false",
        "--set",
        "stdf-ingest-scaler.enabled=false",
        "--set",
        "training-operator.replicaCount=0",
    ])?;
    let _release = HelmRelease::new(plane, &release, ns.name());
    let sa = format!("{release}-training-operator");
    let spec = ControllerSpec::new(ControllerSpec::workspace_binary("training-operator"))
        .as_service_account(ns.name(), &sa)
        .env("MLFLEET_LOG", "info,training_operator=debug")
        .env("MLFLEET_LEADER_ELECT", "true")
        .env("POD_NAMESPACE", ns.name())
        .env("MLFLEET_PROGRESS_INTERVAL_MS", "200")
        // The chart's default: the release's agent Service (none runs here).
        .env(
            "MLFLEET_GPU_AGENT_SERVICE",
            &format!("{}/{release}-gpu-node-agent:grpc", ns.name()),
        );
    let op = ControllerProcess::start(plane, &spec)?;
    ns.attach_log(op.log_path());

    // Lease, children, status, events, progress and the finalizer, all under the SA.
    let api = tjs(&client, ns.name());
    api.create(
        &PostParams::default(),
        &training_job(
            "rbac-job",
            2,
            1,
            pod_annotations(json!({"mlfleet.io/kwok-complete-after": "10s"})),
        ),
    )
    .await?;
    wait_state(&api, "rbac-job", &["Running"], 60).await?;
    let job = format!("{}/rbac-job", ns.name());
    operator_cli(
        &op,
        &[
            "report",
            "progress",
            "--job",
            &job,
            "--attempt",
            "0",
            "--epoch",
            "4",
        ],
    )?;
    poll_until(&api, "rbac-job", Duration::from_secs(20), |o| {
        status(o)["currentEpoch"] == 4
    })
    .await?;
    wait_state(&api, "rbac-job", &["Completed"], 60).await?;
    api.delete("rbac-job", &DeleteParams::default()).await?;
    poll_gone(&api, "rbac-job", Duration::from_secs(60)).await?;

    let log = std::fs::read_to_string(op.log_path())?;
    let denied: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("403") || l.contains("forbidden"))
        .collect();
    assert!(denied.is_empty(), "denied requests:\n{}", denied.join("\n"));
    assert!(log.contains("caches synced"), "{log}");
    drop(op);
    Ok(())
}

#[tokio::test]
async fn two_replicas_one_leader_and_the_follower_takes_over_after_kill_9() -> anyhow::Result<()> {
    let _guard = LOCK.lock().await;
    let (plane, ns, client) = setup("to-failover").await?;
    let lease_name = format!("training-operator-{}", ns.name());
    let replica = |identity: &str| {
        ControllerSpec::new(ControllerSpec::workspace_binary("training-operator"))
            .env("MLFLEET_LOG", "info,training_operator=debug")
            .env("MLFLEET_LEADER_ELECT", "true")
            .env("MLFLEET_LEASE_NAME", &lease_name)
            .env("MLFLEET_LEASE_DURATION_SECONDS", "6")
            .env("POD_NAMESPACE", ns.name())
            .env("POD_NAME", identity)
    };
    let mut a = ControllerProcess::start(plane, &replica("replica-a"))?;
    ns.attach_log(a.log_path());
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), ns.name());
    let holder = |l: &k8s_openapi::api::coordination::v1::Lease| {
        l.spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default()
    };
    wait_for(&leases, &lease_name, Duration::from_secs(30), |l| {
        holder(l) == "replica-a"
    })
    .await?;
    let b = ControllerProcess::start(plane, &replica("replica-b"))?;
    ns.attach_log(b.log_path());

    // The leader runs a job; the standby does nothing while it waits.
    let api = tjs(&client, ns.name());
    let slow = pod_annotations(json!({"mlfleet.io/kwok-complete-after": "20s"}));
    api.create(
        &PostParams::default(),
        &training_job("before", 2, 1, slow.clone()),
    )
    .await?;
    wait_state(&api, "before", &["Running"], 60).await?;
    assert!(
        !b.log_text().contains("caches synced"),
        "the standby started reconciling:\n{}",
        b.log_text()
    );

    // kill -9 the leader: no Lease release, so the follower must wait it out.
    let killed = Command::new("kill")
        .args(["-9", &a.id().to_string()])
        .status()?;
    anyhow::ensure!(killed.success(), "kill -9 failed");
    let killed_at = tokio::time::Instant::now();
    a.exit_status()?;
    wait_for(&leases, &lease_name, Duration::from_secs(30), |l| {
        holder(l) == "replica-b"
    })
    .await?;
    let took = killed_at.elapsed();
    eprintln!("failover took {took:?} (lease 6 s)");
    assert!(took < Duration::from_secs(12), "takeover took {took:?}");

    // The new leader finishes the old job without a second set of children and runs a
    // new one.
    api.create(
        &PostParams::default(),
        &training_job("after", 1, 1, json!({})),
    )
    .await?;
    wait_state(&api, "before", &["Completed"], 90).await?;
    wait_state(&api, "after", &["Completed"], 90).await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns.name());
    let before_jobs = jobs
        .list(&ListParams::default().labels("training.mlfleet.io/job-name=before"))
        .await?
        .items;
    assert_eq!(before_jobs.len(), 1, "duplicate Jobs for one attempt");
    let done = api.get("before").await?;
    assert_eq!(status(&done)["restarts"], 0, "the failover cost a restart");
    delete_all(&api).await?;
    drop(b);
    Ok(())
}
