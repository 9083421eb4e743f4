//! The simulated nodes and the stamped versions of the built binaries.

use k8s_openapi::api::core::v1::Node;
use mlfleet_e2e::Plane;

fn env_count(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[test]
fn kubectl_lists_gpu_and_cpu_nodes_with_capacity_labels_and_taints() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let out = plane.kubectl(&["get", "nodes", "-l", "type=kwok", "-o", "json"])?;
    // kubectl returns a generic `List`; take its items.
    let mut doc: serde_json::Value = serde_json::from_str(&out.stdout)?;
    let items: Vec<Node> = serde_json::from_value(doc["items"].take())?;
    let gpus_per_node = std::env::var("MLFLEET_GPUS_PER_NODE").unwrap_or_else(|_| "8".into());

    let (gpu, cpu): (Vec<&Node>, Vec<&Node>) = items.iter().partition(|n| {
        n.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get("nvidia.com/gpu.present").is_some_and(|v| v == "true"))
    });
    assert_eq!(gpu.len(), env_count("MLFLEET_GPU_NODES", 4), "GPU nodes");
    assert_eq!(cpu.len(), env_count("MLFLEET_CPU_NODES", 4), "CPU nodes");

    for node in &gpu {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        assert!(ready(node), "{name} not Ready");
        let status = node.status.as_ref().expect("node status");
        for res in [&status.capacity, &status.allocatable] {
            let q = res
                .as_ref()
                .and_then(|r| r.get("nvidia.com/gpu"))
                .map(|q| q.0.clone());
            assert_eq!(
                q.as_deref(),
                Some(gpus_per_node.as_str()),
                "{name} nvidia.com/gpu"
            );
        }
        let labels = node.metadata.labels.as_ref().expect("labels");
        for key in ["nvidia.com/gpu.product", "nvidia.com/gpu.memory"] {
            assert!(
                labels.get(key).is_some_and(|v| !v.is_empty()),
                "{name} lacks label {key}"
            );
        }
        assert_eq!(
            labels.get("nvidia.com/gpu.count"),
            Some(&gpus_per_node),
            "{name} gpu.count label"
        );
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        assert!(
            taints.iter().any(|t| t.key == "nvidia.com/gpu"
                && t.value.as_deref() == Some("present")
                && t.effect == "NoSchedule"),
            "{name} taints: {taints:?}"
        );
    }
    for node in &cpu {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        assert!(ready(node), "{name} not Ready");
        let cap = node
            .status
            .as_ref()
            .and_then(|s| s.capacity.clone())
            .unwrap_or_default();
        assert!(
            cap.contains_key("cpu") && !cap.contains_key("nvidia.com/gpu"),
            "{name} capacity {cap:?}"
        );
        assert!(
            node.spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_none_or(|t| t.is_empty()),
            "{name} is tainted"
        );
    }

    // The human-readable listing shows every node, all Ready.
    let table = plane
        .kubectl(&["get", "nodes", "-l", "type=kwok", "--no-headers"])?
        .stdout;
    assert_eq!(
        table
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count(),
        items.len(),
        "{table}"
    );
    Ok(())
}

#[test]
fn kubectl_version_reports_the_stamped_release() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let out = plane.kubectl(&["version", "-o", "json"])?;
    let v: serde_json::Value = serde_json::from_str(&out.stdout)?;
    let want = &plane.versions().kube;
    assert_eq!(
        v["serverVersion"]["gitVersion"].as_str(),
        Some(want.as_str()),
        "{v}"
    );
    assert_eq!(
        v["clientVersion"]["gitVersion"].as_str(),
        Some(want.as_str()),
        "{v}"
    );
    let minor = want
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .unwrap_or_default();
    assert_eq!(v["serverVersion"]["minor"].as_str(), Some(minor), "{v}");
    assert_eq!(v["serverVersion"]["major"].as_str(), Some("1"), "{v}");
    Ok(())
}

#[test]
fn helm_reports_the_stamped_release_and_kube_version() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let version = plane
        .helm(&["version", "--template", "{{.Version}}"])?
        .stdout;
    assert_eq!(version.trim(), plane.versions().helm);
    Ok(())
}
