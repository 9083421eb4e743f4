//! Writes what the sampler sees to the API server: the node's GPUNode (owned by the
//! Node, so it is garbage-collected with it), its status (on change plus a slow
//! heartbeat), the GFD-compatible Node labels (only when they differ) and Events on
//! GPU health transitions.
//!
//! The only reads are a GET of the agent's own Node (when the GPUNode is first
//! applied and at each heartbeat, to notice label edits by others).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crd_types::gpu::{GPUNode, GPUNodeStatus};
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::labels::{desired_labels, label_patch};
use crate::metrics::AgentMetrics;
use crate::snapshot::NodeSnapshot;
use crate::status::{build_status, differs_beyond_heartbeat, kube_time};

/// What can fail while syncing to the API server.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The agent's Node does not exist (yet, or any more).
    #[error("node {0} not found; GPUNode not written")]
    NodeNotFound(String),
    /// An API call failed.
    #[error("{action} for node {node}: {source}")]
    Api {
        /// What was attempted.
        action: &'static str,
        /// Node name.
        node: String,
        /// Client error.
        #[source]
        source: kube::Error,
    },
}

/// Settings of the API-server sync.
#[derive(Clone, Debug)]
pub struct KubeSyncConfig {
    /// The agent's Node (and GPUNode) name.
    pub node_name: String,
    /// Server-side-apply field manager.
    pub field_manager: String,
    /// Status is rewritten at least this often even when nothing changed.
    pub heartbeat: Duration,
    /// Pod name for Event reporting.
    pub instance: Option<String>,
}

/// The sync loop's state.
pub struct KubeSync {
    config: KubeSyncConfig,
    nodes: Api<Node>,
    gpunodes: Api<GPUNode>,
    recorder: Recorder,
    metrics: Arc<AgentMetrics>,
    node_ref: Option<ObjectReference>,
    node_labels: Option<BTreeMap<String, String>>,
    last_status: Option<GPUNodeStatus>,
    last_write: Option<Instant>,
    last_node_read: Option<Instant>,
    health: HashMap<String, bool>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl std::fmt::Debug for KubeSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSync")
            .field("config", &self.config)
            .finish()
    }
}

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl KubeSync {
    /// A sync loop for `config.node_name`.
    pub fn new(client: Client, config: KubeSyncConfig, metrics: Arc<AgentMetrics>) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: config.field_manager.clone(),
                instance: config.instance.clone(),
            },
        );
        KubeSync {
            nodes: Api::all(client.clone()),
            gpunodes: Api::all(client),
            recorder,
            metrics,
            config,
            node_ref: None,
            node_labels: None,
            last_status: None,
            last_write: None,
            last_node_read: None,
            health: HashMap::new(),
            retry_at: None,
            backoff: MIN_BACKOFF,
        }
    }

    /// Syncs every new snapshot (and at least every half heartbeat) until `shutdown`.
    pub async fn run(
        mut self,
        mut snapshots: watch::Receiver<Arc<NodeSnapshot>>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval((self.config.heartbeat / 2).max(MIN_BACKOFF));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                changed = snapshots.changed() => if changed.is_err() { break },
                _ = tick.tick() => {}
            }
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            let snapshot = snapshots.borrow_and_update().clone();
            match self.sync(&snapshot).await {
                Ok(()) => {
                    self.retry_at = None;
                    self.backoff = MIN_BACKOFF;
                }
                Err(e) => {
                    self.metrics.status_write_errors.inc();
                    tracing::warn!(error = %e, retry_in = ?self.backoff, "syncing GPUNode/labels failed");
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn api_err(&self, action: &'static str) -> impl FnOnce(kube::Error) -> SyncError + '_ {
        move |source| SyncError::Api {
            action,
            node: self.config.node_name.clone(),
            source,
        }
    }

    /// Reads the Node and applies the GPUNode with its owner reference.
    async fn ensure_gpunode(&mut self) -> Result<(), SyncError> {
        let name = self.config.node_name.clone();
        let node = self
            .nodes
            .get_opt(&name)
            .await
            .map_err(self.api_err("reading Node"))?
            .ok_or_else(|| SyncError::NodeNotFound(name.clone()))?;
        let uid = node.uid().unwrap_or_default();
        let obj = json!({
            "apiVersion": GPUNode::api_version(&()),
            "kind": GPUNode::kind(&()),
            "metadata": {
                "name": name,
                "ownerReferences": [{
                    "apiVersion": "v1",
                    "kind": "Node",
                    "name": name,
                    "uid": uid,
                }],
            },
            "spec": {},
        });
        self.gpunodes
            .patch(
                &name,
                &PatchParams::apply(&self.config.field_manager).force(),
                &Patch::Apply(obj),
            )
            .await
            .map_err(self.api_err("applying GPUNode"))?;
        self.node_ref = Some(node.object_ref(&()));
        self.node_labels = Some(node.labels().clone());
        self.last_node_read = Some(Instant::now());
        tracing::info!(node = %name, "GPUNode applied with owner reference to its Node");
        Ok(())
    }

    async fn refresh_node(&mut self) -> Result<(), SyncError> {
        let name = self.config.node_name.clone();
        let node = self
            .nodes
            .get_opt(&name)
            .await
            .map_err(self.api_err("reading Node"))?
            .ok_or_else(|| SyncError::NodeNotFound(name.clone()))?;
        self.node_labels = Some(node.labels().clone());
        self.last_node_read = Some(Instant::now());
        Ok(())
    }

    /// One pass: GPUNode present, status current, labels current, events sent.
    pub async fn sync(&mut self, snapshot: &NodeSnapshot) -> Result<(), SyncError> {
        if self.node_ref.is_none() {
            self.ensure_gpunode().await?;
        } else if self
            .last_node_read
            .is_none_or(|t| t.elapsed() >= self.config.heartbeat)
        {
            self.refresh_node().await?;
        }
        self.write_status(snapshot).await?;
        self.write_labels(snapshot).await?;
        self.publish_health_events(snapshot).await;
        Ok(())
    }

    async fn write_status(&mut self, snapshot: &NodeSnapshot) -> Result<(), SyncError> {
        let status = build_status(
            snapshot,
            self.last_status.as_ref(),
            kube_time(SystemTime::now()),
        );
        let heartbeat_due = self
            .last_write
            .is_none_or(|t| t.elapsed() >= self.config.heartbeat);
        let changed = self
            .last_status
            .as_ref()
            .is_none_or(|last| differs_beyond_heartbeat(last, &status));
        if !changed && !heartbeat_due {
            return Ok(());
        }
        let body = json!({
            "apiVersion": GPUNode::api_version(&()),
            "kind": GPUNode::kind(&()),
            "status": status,
        });
        let name = self.config.node_name.clone();
        let result = self
            .gpunodes
            .patch_status(
                &name,
                &PatchParams::apply(&self.config.field_manager).force(),
                &Patch::Apply(body),
            )
            .await;
        match result {
            Ok(_) => {
                self.metrics.status_writes.inc();
                tracing::debug!(node = %name, changed, "GPUNode status written");
                self.last_status = Some(status);
                self.last_write = Some(Instant::now());
                Ok(())
            }
            Err(kube::Error::Api(resp)) if resp.code == 404 => {
                // Deleted under us (Node gone, or removed by hand): re-apply next time.
                self.node_ref = None;
                self.last_status = None;
                Err(SyncError::NodeNotFound(name))
            }
            Err(e) => Err(self.api_err("writing GPUNode status")(e)),
        }
    }

    async fn write_labels(&mut self, snapshot: &NodeSnapshot) -> Result<(), SyncError> {
        let Some(desired) = desired_labels(snapshot) else {
            return Ok(());
        };
        let current = self.node_labels.clone().unwrap_or_default();
        let Some(patch) = label_patch(&current, &desired) else {
            return Ok(());
        };
        let name = self.config.node_name.clone();
        let node = self
            .nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(self.api_err("patching Node labels"))?;
        self.metrics.label_patches.inc();
        tracing::info!(node = %name, patch = %patch, "node labels updated");
        self.node_labels = Some(node.labels().clone());
        Ok(())
    }

    async fn publish_health_events(&mut self, snapshot: &NodeSnapshot) {
        let Some(reference) = self.node_ref.clone() else {
            return;
        };
        for g in &snapshot.gpus {
            let was = self.health.insert(g.reading.uuid.clone(), g.health.healthy);
            if was.is_none_or(|w| w == g.health.healthy) {
                continue;
            }
            let (type_, reason, note) = if g.health.healthy {
                (
                    EventType::Normal,
                    "GpuHealthy",
                    format!(
                        "GPU {} ({}) is healthy again",
                        g.reading.index, g.reading.uuid
                    ),
                )
            } else {
                (
                    EventType::Warning,
                    "GpuUnhealthy",
                    format!(
                        "GPU {} ({}) is unhealthy: {}",
                        g.reading.index,
                        g.reading.uuid,
                        g.health.summary()
                    ),
                )
            };
            let event = Event {
                type_,
                reason: reason.to_owned(),
                note: Some(note),
                action: "GpuHealthCheck".to_owned(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, "publishing GPU health event failed");
            }
        }
    }
}
