//! GPU pods are placed by kube-scheduler on the tainted GPU nodes, or left Pending with the
//! scheduler's reason.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use mlfleet_e2e::{Plane, TestNamespace, wait_for};

const GPU: &str = "nvidia.com/gpu";

fn gpu_pod(name: &str, gpus: i64, tolerate: bool, node: Option<&str>) -> anyhow::Result<Pod> {
    let tolerations = if tolerate {
        serde_json::json!([{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}])
    } else {
        serde_json::json!([])
    };
    let node_selector = node.map_or(
        serde_json::json!({}),
        |n| serde_json::json!({"kubernetes.io/hostname": n}),
    );
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "tolerations": tolerations,
            "nodeSelector": node_selector,
            "containers": [{"name": "c", "image": "registry.invalid/cuda:1",
                            "resources": {"limits": {GPU: gpus.to_string()}}}]
        }
    }))?)
}

/// (status, reason, message) of the PodScheduled condition.
fn scheduled(pod: &Pod) -> Option<(String, String, String)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?
        .clone();
    Some((
        c.status,
        c.reason.unwrap_or_default(),
        c.message.unwrap_or_default(),
    ))
}

fn is_bound(pod: &Pod) -> bool {
    scheduled(pod).is_some_and(|s| s.0 == "True")
}

fn is_unschedulable(pod: &Pod) -> bool {
    scheduled(pod).is_some_and(|s| s.0 == "False" && s.1 == "Unschedulable")
}

fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

fn gpu_request(pod: &Pod) -> i64 {
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    containers
        .iter()
        .filter_map(|c| {
            let r = c.resources.as_ref()?;
            let q = r
                .requests
                .as_ref()
                .and_then(|m| m.get(GPU))
                .or_else(|| r.limits.as_ref().and_then(|m| m.get(GPU)))?;
            q.0.parse::<i64>().ok()
        })
        .sum()
}

#[tokio::test]
async fn gpu_pods_land_on_gpu_nodes_or_stay_pending_with_the_scheduler_reason() -> anyhow::Result<()>
{
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "gpu").await?;
    let client = plane.client().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let long = Duration::from_secs(60);

    // Tolerating pod: placed on a node that advertises GPUs.
    pods.create(&PostParams::default(), &gpu_pod("fits", 2, true, None)?)
        .await?;
    let placed = wait_for(&pods, "fits", long, is_bound).await?;
    let node_name = node_of(&placed);
    let node = Api::<Node>::all(client.clone()).get(&node_name).await?;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("nvidia.com/gpu.present").map(String::as_str),
        Some("true"),
        "placed on {node_name}"
    );
    let running = wait_for(&pods, "fits", long, |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await?;
    assert_eq!(node_of(&running), node_name);

    // Same request without the toleration: the taint keeps it off the GPU nodes and CPU
    // nodes have no GPUs, so it stays Pending and the scheduler says why.
    pods.create(
        &PostParams::default(),
        &gpu_pod("no-toleration", 2, false, None)?,
    )
    .await?;
    let pending = wait_for(&pods, "no-toleration", long, is_unschedulable).await?;
    let message = scheduled(&pending).map(|s| s.2).unwrap_or_default();
    assert!(
        message.contains("untolerated taint") && message.contains(GPU),
        "{message}"
    );
    assert!(
        message.contains(&format!("Insufficient {GPU}")),
        "{message}"
    );
    assert_eq!(node_of(&pending), "");

    // Request every GPU that is still free, node by node; then one more GPU pod cannot fit.
    let gpu_nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels("nvidia.com/gpu.present=true"))
        .await?
        .items;
    assert!(!gpu_nodes.is_empty());
    let all_pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let mut used: BTreeMap<String, i64> = BTreeMap::new();
    for p in all_pods.iter().filter(|p| {
        !matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
    }) {
        *used.entry(node_of(p)).or_default() += gpu_request(p);
    }
    let mut fillers = Vec::new();
    for node in &gpu_nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref()?.get(GPU)?.0.parse::<i64>().ok())
            .unwrap_or(0);
        let free = allocatable - used.get(&name).copied().unwrap_or(0);
        if free > 0 {
            let pod_name = format!("fill-{name}");
            pods.create(
                &PostParams::default(),
                &gpu_pod(&pod_name, free, true, Some(&name))?,
            )
            .await?;
            fillers.push(pod_name);
        }
    }
    for f in &fillers {
        wait_for(&pods, f, long, is_bound).await?;
    }
    pods.create(&PostParams::default(), &gpu_pod("no-room", 2, true, None)?)
        .await?;
    let full = wait_for(&pods, "no-room", long, is_unschedulable).await?;
    let message = scheduled(&full).map(|s| s.2).unwrap_or_default();
    assert!(
        message.contains(&format!("Insufficient {GPU}")),
        "{message}"
    );

    // Freeing GPUs lets the scheduler place it: the Pending state was about capacity.
    for f in &fillers {
        pods.delete(f, &DeleteParams::default()).await?;
    }
    let later = wait_for(&pods, "no-room", long, is_bound).await?;
    assert!(
        node_of(&later).starts_with("kwok-gpu-"),
        "{}",
        node_of(&later)
    );
    Ok(())
}
