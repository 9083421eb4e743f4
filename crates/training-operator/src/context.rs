//! Shared state of the controller: client, caches, the scheduling snapshot,
//! the progress book, metrics and the event recorder.

use std::sync::{Arc, RwLock};

use crd_types::{GPUNode, TrainingJob, TrainingQueue};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use tokio::sync::{Notify, broadcast};

use crate::agents::AgentHealth;
use crate::book::Book;
use crate::metrics::Metrics;
use crate::progress::ProgressBook;
use mlfleet_proto::scheduling::v1::SchedulingEvent;

/// Cached API objects (reflector stores).
#[derive(Clone)]
pub struct Caches {
    /// TrainingJobs (the controller's own store).
    pub training_jobs: Store<TrainingJob>,
    /// Indexed Jobs created by the operator.
    pub jobs: Store<Job>,
    /// TrainingQueues.
    pub queues: Store<TrainingQueue>,
    /// Nodes.
    pub nodes: Store<Node>,
    /// Pods (all namespaces; capacity accounting).
    pub pods: Store<Pod>,
    /// GPUNodes, when the GPUNode API is installed.
    pub gpu_nodes: Option<Store<GPUNode>>,
}

/// Everything a reconcile, the admission loop and the gRPC servers share.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Caches.
    pub caches: Caches,
    /// Scheduling snapshot written by the admission loop.
    pub book: Arc<RwLock<Book>>,
    /// Progress reports waiting to be folded into status.
    pub progress: Arc<ProgressBook>,
    /// Metrics.
    pub metrics: Metrics,
    /// Reconcile duration/error metrics (shared runtime).
    pub reconcile_metrics: mlfleet_runtime::metrics::ReconcileMetrics,
    /// Event recorder.
    pub recorder: Recorder,
    /// Wakes the admission loop.
    pub admission_kick: Arc<Notify>,
    /// Scheduling events for WatchSchedulingEvents subscribers.
    pub events: broadcast::Sender<SchedulingEvent>,
    /// GPU health streamed by gpu-node-agents (empty when not subscribed).
    pub agent_health: Arc<AgentHealth>,
}

impl Context {
    /// Reads the book (a poisoned lock still holds valid data: writers replace whole values).
    pub fn book(&self) -> std::sync::RwLockReadGuard<'_, Book> {
        self.book.read().unwrap_or_else(|p| p.into_inner())
    }
}
