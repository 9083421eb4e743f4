//! Cluster capacity (pure): free GPUs/CPU/memory per node from Node
//! allocatable minus the requests of non-terminated pods, minus GPUs the
//! gpu-node-agent reports unhealthy when its data is fresh: its live
//! `WatchNodeGpus` stream first, its GPUNode status otherwise.

use std::collections::{BTreeMap, HashMap};

use crd_types::GPUNode;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;

use crate::admission::NodeFree;
use crate::agents::NodeReport;
use crate::build::job::{GPU_NODE_LABEL, GPU_RESOURCE};
use crate::quantity;

/// Label with the GPU model (GPU feature discovery).
pub const GPU_PRODUCT_LABEL: &str = "nvidia.com/gpu.product";
/// GPUNode heartbeats and streamed agent reports older than this are ignored.
pub const AGENT_STALE_SECONDS: i64 = 120;

/// Which data the free-GPU numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapacitySource {
    /// Node allocatable minus pod requests only.
    #[default]
    NodeAllocatable,
    /// As above, minus unhealthy GPUs reported by gpu-node-agents.
    GpuAgent,
}

impl CapacitySource {
    /// Name for conditions, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacitySource::NodeAllocatable => "NodeAllocatable",
            CapacitySource::GpuAgent => "GpuAgent",
        }
    }
}

/// GPU numbers of one node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeGpus {
    /// Node name.
    pub name: String,
    /// GPU model label.
    pub model: String,
    /// Allocatable GPUs.
    pub allocatable: u64,
    /// GPUs requested by non-terminated pods.
    pub used: u64,
    /// GPUs reported unhealthy.
    pub unhealthy: u64,
    /// allocatable - used - unhealthy, floored at 0.
    pub free: u64,
}

/// Capacity snapshot for admission and for SchedulingState.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    /// Admission input per node.
    pub nodes: Vec<NodeFree>,
    /// GPU view per node that has GPUs.
    pub gpus: Vec<NodeGpus>,
    /// Data source.
    pub source: CapacitySource,
    /// Why this source.
    pub source_message: String,
}

fn is_terminated(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// Requests of one pod (sum over containers; init containers take the max, as the scheduler does).
pub fn pod_requests(p: &Pod) -> (u64, u64, u64) {
    let Some(spec) = &p.spec else {
        return (0, 0, 0);
    };
    let of = |c: &k8s_openapi::api::core::v1::Container| {
        let r = c.resources.as_ref();
        let req = r.and_then(|r| r.requests.as_ref());
        let lim = r.and_then(|r| r.limits.as_ref());
        let get = |k: &str| {
            req.and_then(|m| m.get(k))
                .or_else(|| lim.and_then(|m| m.get(k)))
        };
        (
            get(GPU_RESOURCE)
                .and_then(|q| quantity::count(&q.0).ok())
                .unwrap_or(0),
            get("cpu")
                .and_then(|q| quantity::cpu_millis(&q.0).ok())
                .unwrap_or(0),
            get("memory")
                .and_then(|q| quantity::bytes(&q.0).ok())
                .unwrap_or(0),
        )
    };
    let mut sum = (0, 0, 0);
    for c in &spec.containers {
        let (g, c, m) = of(c);
        sum = (sum.0 + g, sum.1 + c, sum.2 + m);
    }
    for c in spec.init_containers.iter().flatten() {
        let (g, c, m) = of(c);
        sum = (sum.0.max(g), sum.1.max(c), sum.2.max(m));
    }
    sum
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Computes capacity from the caches. `gpu_nodes` is `None` when the GPUNode
/// API is not installed; `streamed` holds the agents' live reports by node.
pub fn capacity<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    pods: impl IntoIterator<Item = &'a Pod>,
    gpu_nodes: Option<&[std::sync::Arc<GPUNode>]>,
    streamed: &BTreeMap<String, NodeReport>,
    now: Timestamp,
) -> Capacity {
    let mut used: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    for p in pods {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        if is_terminated(p) {
            continue;
        }
        let (g, c, m) = pod_requests(p);
        let e = used.entry(node).or_default();
        *e = (e.0 + g, e.1 + c, e.2 + m);
    }
    let mut unhealthy: BTreeMap<String, u64> = BTreeMap::new();
    let mut fresh_agents = 0usize;
    for g in gpu_nodes.unwrap_or(&[]) {
        let Some(st) = &g.status else { continue };
        let fresh = st
            .last_heartbeat
            .as_ref()
            .is_some_and(|t| now.duration_since(t.0).as_secs() <= AGENT_STALE_SECONDS);
        if !fresh {
            continue;
        }
        fresh_agents += 1;
        let name = if st.node_name.is_empty() {
            g.metadata.name.clone().unwrap_or_default()
        } else {
            st.node_name.clone()
        };
        unhealthy.insert(
            name,
            u64::try_from(st.gpu_count - st.healthy_count).unwrap_or(0),
        );
    }
    // A live stream is at least as new as the GPUNode status it also writes.
    let mut streaming = 0usize;
    for (name, r) in streamed {
        if now.duration_since(r.at).as_secs() > AGENT_STALE_SECONDS {
            continue;
        }
        streaming += 1;
        if unhealthy.insert(name.clone(), r.unhealthy).is_none() {
            fresh_agents += 1;
        }
    }
    let source = if fresh_agents > 0 {
        CapacitySource::GpuAgent
    } else {
        CapacitySource::NodeAllocatable
    };
    // No fresh agent means no fresh stream either: every live report counts one.
    let source_message = match fresh_agents {
        0 if gpu_nodes.is_none() => {
            "GPUNode API not installed; using Node allocatable minus pod requests".to_string()
        }
        0 => "no gpu-node-agent reported within 120s; using Node allocatable minus pod requests"
            .to_string(),
        n => format!(
            "{n} gpu-node-agents report GPU health ({streaming} live over WatchNodeGpus); \
             unhealthy GPUs are excluded"
        ),
    };

    let mut out = Capacity {
        source,
        source_message,
        ..Default::default()
    };
    for n in nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let alloc = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let get = |k: &str, f: fn(&str) -> Result<u64, quantity::QuantityError>| {
            alloc
                .and_then(|m| m.get(k))
                .and_then(|q| f(&q.0).ok())
                .unwrap_or(0)
        };
        let (gpu_alloc, cpu_alloc, mem_alloc) = (
            get(GPU_RESOURCE, quantity::count),
            get("cpu", quantity::cpu_millis),
            get("memory", quantity::bytes),
        );
        let (gu, cu, mu) = used.get(name.as_str()).copied().unwrap_or_default();
        let bad = unhealthy.get(&name).copied().unwrap_or(0);
        let spec = n.spec.as_ref();
        let schedulable = !spec.and_then(|s| s.unschedulable).unwrap_or(false) && node_ready(n);
        let taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        let hard = |t: &&k8s_openapi::api::core::v1::Taint| {
            t.effect == "NoSchedule" || t.effect == "NoExecute"
        };
        let untolerated_for_gpu = taints.iter().filter(hard).any(|t| t.key != GPU_RESOURCE);
        let any_hard = taints.iter().any(|t| hard(&t));
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let gpu_node = labels.get(GPU_NODE_LABEL).is_some_and(|v| v == "true") && gpu_alloc > 0;
        let free_gpus = gpu_alloc.saturating_sub(gu).saturating_sub(bad);
        out.nodes.push(NodeFree {
            name: name.clone(),
            gpus: free_gpus,
            cpu_millis: cpu_alloc.saturating_sub(cu),
            memory_bytes: mem_alloc.saturating_sub(mu),
            accepts_gpu_workers: schedulable && gpu_node && !untolerated_for_gpu,
            accepts_cpu_workers: schedulable && !any_hard,
        });
        if gpu_alloc > 0 {
            out.gpus.push(NodeGpus {
                name,
                model: labels.get(GPU_PRODUCT_LABEL).cloned().unwrap_or_default(),
                allocatable: gpu_alloc,
                used: gu,
                unhealthy: bad,
                free: free_gpus,
            });
        }
    }
    out.gpus.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, gpus: u32, taint: bool) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": if gpus > 0 {
                serde_json::json!({"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100"})
            } else { serde_json::json!({}) }},
            "spec": {"taints": if taint { serde_json::json!([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]) } else { serde_json::json!([]) }},
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": gpus.to_string()},
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        }))
        .unwrap()
    }

    fn pod(node: &str, gpus: u32, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {
                "requests": {"cpu": "1", "nvidia.com/gpu": gpus.to_string()},
                "limits": {"nvidia.com/gpu": gpus.to_string()}}}]},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn free_is_allocatable_minus_live_pod_requests() {
        let nodes = [node("g1", 8, true), node("c1", 0, false)];
        let pods = [
            pod("g1", 3, "Running"),
            pod("g1", 4, "Succeeded"),
            pod("g1", 1, "Pending"),
        ];
        let cap = capacity(
            nodes.iter(),
            pods.iter(),
            None,
            &BTreeMap::new(),
            Timestamp::now(),
        );
        assert_eq!(cap.source, CapacitySource::NodeAllocatable);
        let g1 = &cap.nodes[0];
        assert_eq!((g1.gpus, g1.cpu_millis), (4, 30_000));
        assert!(g1.accepts_gpu_workers && !g1.accepts_cpu_workers);
        let c1 = &cap.nodes[1];
        assert!(!c1.accepts_gpu_workers && c1.accepts_cpu_workers);
        assert_eq!(cap.gpus.len(), 1);
        assert_eq!(
            (
                cap.gpus[0].used,
                cap.gpus[0].free,
                cap.gpus[0].model.as_str()
            ),
            (4, 4, "NVIDIA-A100")
        );
    }

    #[test]
    fn fresh_agent_data_removes_unhealthy_gpus() {
        let now = Timestamp::now();
        let g: GPUNode = serde_json::from_value(serde_json::json!({
            "apiVersion": "gpu.mlfleet.io/v1alpha1", "kind": "GPUNode",
            "metadata": {"name": "g1"}, "spec": {},
            "status": {"nodeName": "g1", "gpuCount": 8, "healthyCount": 6, "lastHeartbeat": now.to_string()}
        }))
        .unwrap();
        let agents = [std::sync::Arc::new(g)];
        let nodes = [node("g1", 8, true)];
        let cap = capacity(
            nodes.iter(),
            std::iter::empty(),
            Some(&agents),
            &BTreeMap::new(),
            now,
        );
        assert_eq!(cap.source, CapacitySource::GpuAgent);
        assert_eq!((cap.nodes[0].gpus, cap.gpus[0].unhealthy), (6, 2));
        // Stale heartbeat: fall back to allocatable.
        let later = now
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(600))
            .unwrap();
        let cap = capacity(
            nodes.iter(),
            std::iter::empty(),
            Some(&agents),
            &BTreeMap::new(),
            later,
        );
        assert_eq!(
            (cap.source, cap.nodes[0].gpus),
            (CapacitySource::NodeAllocatable, 8)
        );
    }

    #[test]
    fn a_live_stream_overrides_the_gpunode_status_until_it_goes_stale() {
        let now = Timestamp::now();
        let g: GPUNode = serde_json::from_value(serde_json::json!({
            "apiVersion": "gpu.mlfleet.io/v1alpha1", "kind": "GPUNode",
            "metadata": {"name": "g1"}, "spec": {},
            "status": {"nodeName": "g1", "gpuCount": 8, "healthyCount": 8, "lastHeartbeat": now.to_string()}
        }))
        .unwrap();
        let agents = [std::sync::Arc::new(g)];
        let nodes = [node("g1", 8, true), node("g2", 8, true)];
        let streamed = BTreeMap::from([
            (
                "g1".to_string(),
                NodeReport {
                    gpus: 8,
                    unhealthy: 1,
                    at: now,
                },
            ),
            (
                "g2".to_string(),
                NodeReport {
                    gpus: 8,
                    unhealthy: 3,
                    at: now,
                },
            ),
        ]);
        let cap = capacity(
            nodes.iter(),
            std::iter::empty(),
            Some(&agents),
            &streamed,
            now,
        );
        assert_eq!(cap.source, CapacitySource::GpuAgent);
        let free: Vec<u64> = cap.nodes.iter().map(|n| n.gpus).collect();
        assert_eq!(free, vec![7, 5]);
        assert!(
            cap.source_message.contains("2 live"),
            "{}",
            cap.source_message
        );
        // Without the GPUNode API the stream alone is enough.
        let cap = capacity(nodes.iter(), std::iter::empty(), None, &streamed, now);
        assert_eq!(cap.source, CapacitySource::GpuAgent);
        // Stale stream reports fall back to the GPUNode status (g1 all healthy).
        let later = now
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(600))
            .unwrap();
        let cap = capacity(nodes.iter(), std::iter::empty(), None, &streamed, later);
        assert_eq!(cap.source, CapacitySource::NodeAllocatable);
    }
}
