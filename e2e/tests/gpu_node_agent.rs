//! gpu-node-agent on the real control plane: one agent process per simulated GPU node
//! (simulated backend, inventory files the test rewrites).
//!
//! - GPUNode objects (owned by their Node) and GFD-compatible Node labels appear;
//! - a GPU marked faulty (an XID appended to the inventory) reaches a WatchNodeGpus
//!   subscriber within 1 s, then the GPUNode status and the healthy-count label;
//! - deleting a Node removes its GPUNode (garbage collection through the owner
//!   reference), and the agent does not bring it back.
//!
//! Prerequisites: `cargo build -p gpu-node-agent` in the same target dir (the test runs
//! the workspace binary), the control-plane tools (`e2e/tools/build.sh`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::core::v1::Node;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use mlfleet_e2e::{ControllerProcess, ControllerSpec, Plane};
use serde_json::{Value, json};

const MODEL: &str = "NVIDIA A100-SXM4-80GB";
const MEMORY_MIB: u64 = 81920;
const DRIVER: &str = "550.54.15";

fn inventory(gpus: usize, faulty_xid_on: Option<usize>) -> String {
    let mut s = format!("driverVersion: \"{DRIVER}\"\ncudaVersion: \"12.4\"\ngpus:\n");
    for i in 0..gpus {
        s += &format!(
            "  - name: {MODEL}\n    memoryTotalMiB: {MEMORY_MIB}\n    memoryUsedMiB: 512\n    utilizationPercent: {}\n    migMode: disabled\n    eccUncorrectable: 0\n",
            10 * i
        );
        if faulty_xid_on == Some(i) {
            s += "    xids: [79]\n";
        }
    }
    s
}

/// Replaces the file atomically, as the simulated backend expects.
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn gpunode_api(client: Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gpu.mlfleet.io", "v1alpha1", "GPUNode");
    Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "gpunodes"))
}

/// Polls `f` every 100 ms until it returns `Some`, or fails after `timeout`.
async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Agent {
    process: ControllerProcess,
    inventory: PathBuf,
}

fn start_agent(plane: &Plane, node: &str, dir: &Path, gpus: usize) -> anyhow::Result<Agent> {
    let inventory = dir.join(format!("{node}.yaml"));
    write_atomic(&inventory, &inventory_text(gpus))?;
    let mut spec = ControllerSpec::simulated_gpu_agent(node, &inventory, "500ms")?
        .env("MLFLEET_LOG", "info,gpu_node_agent=debug");
    spec.args
        .extend(["--heartbeat-interval".into(), "10s".into()]);
    let process = ControllerProcess::start(plane, &spec)?;
    Ok(Agent { process, inventory })
}

fn inventory_text(gpus: usize) -> String {
    inventory(gpus, None)
}

/// `gpu-node-agent watch` as a subscriber: lines arrive on a channel with their
/// arrival time.
struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<(Instant, Value)>,
}

impl Subscriber {
    fn start(bin: &Path, endpoint: &str, node: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["watch", "--endpoint", endpoint, "--node-name", node])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting gpu-node-agent watch")?;
        let stdout = child.stdout.take().context("watch stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send((Instant::now(), v)).is_err()
                {
                    break;
                }
            }
        });
        Ok(Subscriber { child, lines: rx })
    }

    /// Next message satisfying `pred` before `deadline`.
    fn next_matching(
        &self,
        deadline: Instant,
        pred: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<(Instant, Value)> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, v) = self
                .lines
                .recv_timeout(left)
                .context("no matching WatchNodeGpus message before the deadline")?;
            if pred(&v) {
                return Ok((at, v));
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn create_node(nodes: &Api<Node>, name: &str) -> anyhow::Result<Node> {
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"mlfleet.io/e2e": "gpu-node-agent"}},
    }))?;
    Ok(nodes.create(&PostParams::default(), &node).await?)
}

fn label(node: &Node, key: &str) -> Option<String> {
    node.metadata.labels.as_ref()?.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_publish_gpunodes_labels_health_and_follow_node_deletion() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let bin = ControllerSpec::workspace_binary("gpu-node-agent");
    ensure!(
        bin.is_file(),
        "build it first: cargo build -p gpu-node-agent ({})",
        bin.display()
    );
    let client = plane.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let gpunodes = gpunode_api(client.clone());

    let id = std::process::id();
    let node_a = format!("gna-e2e-{id}-a");
    let node_b = format!("gna-e2e-{id}-b");
    let dir = std::env::temp_dir().join(format!("gna-e2e-{id}"));
    std::fs::create_dir_all(&dir)?;
    let created_a = create_node(&nodes, &node_a).await?;
    let created_b = create_node(&nodes, &node_b).await?;

    let result = async {
        let agent_a = start_agent(plane, &node_a, &dir, 2)?;
        let agent_b = start_agent(plane, &node_b, &dir, 1)?;

        // GPUNode objects appear, owned by their Node, with the inventory.
        for (node, created, gpus) in [(&node_a, &created_a, 2), (&node_b, &created_b, 1)] {
            let obj = poll(
                &format!("GPUNode {node}"),
                Duration::from_secs(60),
                || async {
                    Ok(gpunodes
                        .get_opt(node)
                        .await?
                        .filter(|o| o.data["status"]["healthyCount"] == json!(gpus)))
                },
            )
            .await?;
            let owner = &obj.metadata.owner_references.clone().unwrap_or_default();
            ensure!(
                owner.iter().any(|o| o.kind == "Node"
                    && &o.name == node
                    && Some(&o.uid) == created.metadata.uid.as_ref()),
                "GPUNode {node} owner references: {owner:?}"
            );
            let st = &obj.data["status"];
            ensure!(st["gpuCount"] == json!(gpus), "{st}");
            ensure!(st["driverVersion"] == json!(DRIVER), "{st}");
            ensure!(st["cudaVersion"] == json!("12.4"), "{st}");
            ensure!(st["product"] == json!(MODEL), "{st}");
            ensure!(st["gpus"][0]["memoryMib"] == json!(MEMORY_MIB), "{st}");
            ensure!(st["gpus"][0]["health"] == json!("Healthy"), "{st}");
        }

        // GFD-compatible labels, derived here from the inventory written above.
        let mut parts = DRIVER.split('.');
        let want: Vec<(&str, String)> = vec![
            ("nvidia.com/gpu.present", "true".into()),
            ("nvidia.com/gpu.count", "2".into()),
            ("nvidia.com/gpu.product", MODEL.replace(' ', "-")),
            ("nvidia.com/gpu.memory", MEMORY_MIB.to_string()),
            (
                "nvidia.com/cuda.driver.major",
                parts.next().unwrap_or_default().into(),
            ),
            (
                "nvidia.com/cuda.driver.minor",
                parts.next().unwrap_or_default().into(),
            ),
            (
                "nvidia.com/cuda.driver.rev",
                parts.next().unwrap_or_default().into(),
            ),
            ("nvidia.com/mig.capable", "true".into()),
            ("gpu.mlfleet.io/healthy-count", "2".into()),
        ];
        let labelled = poll("labels on node a", Duration::from_secs(30), || async {
            let n = nodes.get(&node_a).await?;
            Ok(want
                .iter()
                .all(|(k, v)| label(&n, k).as_deref() == Some(v.as_str()))
                .then_some(n))
        })
        .await?;
        ensure!(
            label(&labelled, "mlfleet.io/e2e").as_deref() == Some("gpu-node-agent"),
            "the agent must not touch labels it does not own"
        );

        // A WatchNodeGpus subscriber sees a faulty GPU within 1 s.
        let endpoint = format!("http://{}", agent_a.process.grpc_addr());
        let sub = Subscriber::start(&bin, &endpoint, &node_a)?;
        sub.next_matching(Instant::now() + Duration::from_secs(15), |v| {
            v["reason"] == json!("UPDATE_REASON_INITIAL")
        })?;
        write_atomic(&agent_a.inventory, &inventory(2, Some(1)))?;
        let marked = Instant::now();
        let (at, msg) = sub.next_matching(marked + Duration::from_secs(5), |v| {
            v["gpus"][1]["health"] == json!("HEALTH_STATE_UNHEALTHY")
        })?;
        let latency = at.duration_since(marked);
        eprintln!("[gpu-node-agent e2e] fault reached the WatchNodeGpus subscriber in {latency:?}");
        ensure!(
            latency < Duration::from_secs(1),
            "fault took {latency:?} to reach the subscriber"
        );
        ensure!(
            msg["reason"] == json!("UPDATE_REASON_HEALTH_CHANGED"),
            "{msg}"
        );
        ensure!(msg["changedGpuIndexes"] == json!([1]), "{msg}");
        ensure!(
            msg["gpus"][0]["health"] == json!("HEALTH_STATE_HEALTHY"),
            "{msg}"
        );
        ensure!(msg["gpus"][1]["lastXid"] == json!(79), "{msg}");

        // ... and the GPUNode status and the healthy-count label.
        let obj = poll(
            "GPUNode a marks GPU 1 unhealthy",
            Duration::from_secs(30),
            || async {
                Ok(gpunodes
                    .get_opt(&node_a)
                    .await?
                    .filter(|o| o.data["status"]["healthyCount"] == json!(1)))
            },
        )
        .await?;
        let g1 = &obj.data["status"]["gpus"][1];
        ensure!(g1["health"] == json!("Unhealthy"), "{g1}");
        ensure!(g1["allocatable"] == json!(false), "{g1}");
        ensure!(g1["lastXid"] == json!(79), "{g1}");
        ensure!(
            g1["healthReason"]
                .as_str()
                .is_some_and(|r| r.contains("79")),
            "{g1}"
        );
        let healthy_cond = obj.data["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == json!("Healthy")).cloned())
            .unwrap_or_default();
        ensure!(healthy_cond["status"] == json!("False"), "{healthy_cond}");
        poll("healthy-count label 1", Duration::from_secs(30), || async {
            let n = nodes.get(&node_a).await?;
            Ok((label(&n, "gpu.mlfleet.io/healthy-count").as_deref() == Some("1")).then_some(()))
        })
        .await?;

        // Deleting a Node removes its GPUNode; the agent does not recreate it.
        nodes.delete(&node_b, &DeleteParams::default()).await?;
        poll(
            "GPUNode b garbage-collected",
            Duration::from_secs(90),
            || async { Ok(gpunodes.get_opt(&node_b).await?.is_none().then_some(())) },
        )
        .await?;
        poll(
            "agent b notices its Node is gone",
            Duration::from_secs(30),
            || async {
                Ok(agent_b
                    .process
                    .log_text()
                    .contains(&format!("node {node_b} not found"))
                    .then_some(()))
            },
        )
        .await?;
        ensure!(
            gpunodes.get_opt(&node_b).await?.is_none(),
            "GPUNode {node_b} came back after its Node was deleted"
        );
        drop(sub);
        drop(agent_a);
        drop(agent_b);
        anyhow::Ok(())
    }
    .await;

    for n in [&node_a, &node_b] {
        let _ = nodes.delete(n, &DeleteParams::default()).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}
