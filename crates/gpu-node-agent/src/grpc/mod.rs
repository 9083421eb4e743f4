//! The GpuAgent gRPC service (`mlfleet.gpu.v1.GpuAgent`) over the sampler's
//! snapshot channel.
//!
//! `GetNodeGpus` answers from the latest snapshot without touching the backend.
//! `WatchNodeGpus` sends the current snapshot at once, then a new one as soon as a
//! sample differs in health, inventory or allocation-relevant memory (so within one
//! sampling period of the change), and otherwise one every `max_interval`.

pub mod convert;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use mlfleet_proto::gpu::v1 as pb;
use mlfleet_proto::gpu::v1::gpu_agent_server::{GpuAgent, GpuAgentServer};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::metrics::AgentMetrics;
use crate::snapshot::{NodeSnapshot, classify_change};

/// Settings of the gRPC service.
#[derive(Clone, Debug)]
pub struct GrpcConfig {
    /// Node the agent serves (requests naming another node get NOT_FOUND).
    pub node_name: String,
    /// Periodic interval when the client asks for none.
    pub default_interval: Duration,
    /// Smallest periodic interval granted (the sampling period).
    pub min_interval: Duration,
    /// Free-memory move that counts as a change, bytes.
    pub memory_threshold_bytes: u64,
}

/// Implements `GpuAgent` over a snapshot channel.
#[derive(Clone)]
pub struct GpuAgentService {
    config: GrpcConfig,
    snapshots: watch::Receiver<Arc<NodeSnapshot>>,
    metrics: Arc<AgentMetrics>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for GpuAgentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuAgentService")
            .field("config", &self.config)
            .finish()
    }
}

impl GpuAgentService {
    /// A service reading from `snapshots`; open watch streams end when `shutdown`
    /// is cancelled or the snapshot sender is dropped.
    pub fn new(
        config: GrpcConfig,
        snapshots: watch::Receiver<Arc<NodeSnapshot>>,
        metrics: Arc<AgentMetrics>,
        shutdown: CancellationToken,
    ) -> Self {
        GpuAgentService {
            config,
            snapshots,
            metrics,
            shutdown,
        }
    }

    /// The tonic service wrapper, ready to add to a server.
    pub fn into_server(self) -> GpuAgentServer<Self> {
        GpuAgentServer::new(self)
    }

    fn check_node(&self, requested: &str) -> Result<(), Status> {
        if requested.is_empty() || requested == self.config.node_name {
            Ok(())
        } else {
            Err(Status::not_found(format!(
                "this agent serves node {:?}, not {requested:?}",
                self.config.node_name
            )))
        }
    }

    /// The periodic interval granted for a requested one (0 = default).
    pub fn granted_interval(&self, requested_ms: u32) -> Duration {
        if requested_ms == 0 {
            self.config.default_interval
        } else {
            Duration::from_millis(u64::from(requested_ms)).max(self.config.min_interval)
        }
    }
}

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchNodeGpusResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl GpuAgent for GpuAgentService {
    async fn get_node_gpus(
        &self,
        request: Request<pb::GetNodeGpusRequest>,
    ) -> Result<Response<pb::GetNodeGpusResponse>, Status> {
        self.check_node(&request.get_ref().node_name)?;
        let snapshot = self.snapshots.borrow().clone();
        Ok(Response::new(pb::GetNodeGpusResponse {
            node: Some(convert::node_gpus(&snapshot)),
        }))
    }

    type WatchNodeGpusStream = WatchStream;

    async fn watch_node_gpus(
        &self,
        request: Request<pb::WatchNodeGpusRequest>,
    ) -> Result<Response<Self::WatchNodeGpusStream>, Status> {
        let req = request.into_inner();
        self.check_node(&req.node_name)?;
        let interval = self.granted_interval(req.max_interval_ms);
        let (tx, rx) = mpsc::channel(4);
        let task = WatchTask {
            snapshots: self.snapshots.clone(),
            tx,
            interval,
            memory_threshold_bytes: self.config.memory_threshold_bytes,
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.clone(),
        };
        tokio::spawn(task.run());
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

struct WatchTask {
    snapshots: watch::Receiver<Arc<NodeSnapshot>>,
    tx: mpsc::Sender<Result<pb::WatchNodeGpusResponse, Status>>,
    interval: Duration,
    memory_threshold_bytes: u64,
    metrics: Arc<AgentMetrics>,
    shutdown: CancellationToken,
}

impl WatchTask {
    async fn send(
        &self,
        snapshot: &NodeSnapshot,
        reason: pb::UpdateReason,
        changed: Vec<u32>,
    ) -> bool {
        let msg = pb::WatchNodeGpusResponse {
            node: Some(convert::node_gpus(snapshot)),
            reason: reason as i32,
            changed_gpu_indexes: changed,
        };
        let ok = self.tx.send(Ok(msg)).await.is_ok();
        if ok {
            self.metrics.watch_messages.inc();
        }
        ok
    }

    async fn run(mut self) {
        self.metrics.watch_streams.inc();
        let mut last_sent = self.snapshots.borrow_and_update().clone();
        if self
            .send(&last_sent, pb::UpdateReason::Initial, Vec::new())
            .await
        {
            let mut next_periodic = Instant::now() + self.interval;
            loop {
                tokio::select! {
                    () = self.shutdown.cancelled() => break,
                    () = self.tx.closed() => break,
                    changed = self.snapshots.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let snap = self.snapshots.borrow_and_update().clone();
                        if let Some(change) = classify_change(&last_sent, &snap, self.memory_threshold_bytes) {
                            if !self.send(&snap, convert::update_reason(change.kind), change.gpu_indexes).await {
                                break;
                            }
                            last_sent = snap;
                            next_periodic = Instant::now() + self.interval;
                        }
                    }
                    () = tokio::time::sleep_until(next_periodic) => {
                        let snap = self.snapshots.borrow().clone();
                        // A change not yet classified goes out with its reason.
                        let (reason, changed) = match classify_change(&last_sent, &snap, self.memory_threshold_bytes) {
                            Some(c) => (convert::update_reason(c.kind), c.gpu_indexes),
                            None => (pb::UpdateReason::Periodic, Vec::new()),
                        };
                        if !self.send(&snap, reason, changed).await {
                            break;
                        }
                        last_sent = snap;
                        next_periodic = Instant::now() + self.interval;
                    }
                }
            }
        }
        self.metrics.watch_streams.dec();
    }
}

#[cfg(test)]
mod tests;
