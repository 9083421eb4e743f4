//! Inputs and outputs of an admission pass.

use std::collections::BTreeMap;

/// Per-worker resource demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerDemand {
    /// GPUs per worker.
    pub gpus: u64,
    /// CPU request per worker, millicores.
    pub cpu_millis: u64,
    /// Memory request per worker, bytes.
    pub memory_bytes: u64,
}

/// Free capacity of one node (allocatable minus requests of non-terminated pods
/// minus unhealthy GPUs when known).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFree {
    /// Node name.
    pub name: String,
    /// Free GPUs.
    pub gpus: u64,
    /// Free CPU, millicores.
    pub cpu_millis: u64,
    /// Free memory, bytes.
    pub memory_bytes: u64,
    /// GPU workers may run here (GPU node, ready, schedulable).
    pub accepts_gpu_workers: bool,
    /// CPU-only workers may run here (no untolerated taint, ready, schedulable).
    pub accepts_cpu_workers: bool,
}

impl NodeFree {
    /// Whether a worker with this demand may be placed here at all.
    pub fn accepts(&self, d: &WorkerDemand) -> bool {
        if d.gpus > 0 {
            self.accepts_gpu_workers
        } else {
            self.accepts_cpu_workers
        }
    }
    /// Whether one more such worker fits right now.
    pub fn has_room(&self, d: &WorkerDemand) -> bool {
        self.accepts(d)
            && self.gpus >= d.gpus
            && self.cpu_millis >= d.cpu_millis
            && self.memory_bytes >= d.memory_bytes
    }
    /// Takes `count` workers' resources.
    pub fn take(&mut self, d: &WorkerDemand, count: u64) {
        self.gpus = self.gpus.saturating_sub(d.gpus * count);
        self.cpu_millis = self.cpu_millis.saturating_sub(d.cpu_millis * count);
        self.memory_bytes = self.memory_bytes.saturating_sub(d.memory_bytes * count);
    }
    /// Gives `count` workers' resources back.
    pub fn release(&mut self, d: &WorkerDemand, count: u64) {
        self.gpus += d.gpus * count;
        self.cpu_millis += d.cpu_millis * count;
        self.memory_bytes += d.memory_bytes * count;
    }
}

/// Quota of a queue; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// GPUs.
    pub gpus: Option<u64>,
    /// CPU millicores.
    pub cpu_millis: Option<u64>,
    /// Memory bytes.
    pub memory_bytes: Option<u64>,
}

impl Quota {
    /// `Some(explanation)` when admitting `workers` more workers would exceed the quota.
    pub fn exceeded_by(&self, used: &Usage, d: &WorkerDemand, workers: u32) -> Option<String> {
        let w = u64::from(workers);
        let check = |name: &str, limit: Option<u64>, used: u64, per: u64| {
            let limit = limit?;
            let want = per * w;
            (used + want > limit).then(|| {
                format!(
                    "queue quota exceeded: {name} quota {limit}, in use {used}, job needs {want}"
                )
            })
        };
        check("GPU", self.gpus, used.gpus, d.gpus)
            .or_else(|| {
                check(
                    "CPU (millicores)",
                    self.cpu_millis,
                    used.cpu_millis,
                    d.cpu_millis,
                )
            })
            .or_else(|| {
                check(
                    "memory (bytes)",
                    self.memory_bytes,
                    used.memory_bytes,
                    d.memory_bytes,
                )
            })
    }
}

/// Resources admitted through a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// GPUs.
    pub gpus: u64,
    /// CPU millicores.
    pub cpu_millis: u64,
    /// Memory bytes.
    pub memory_bytes: u64,
    /// Workers.
    pub workers: u64,
    /// Jobs.
    pub jobs: u64,
}

impl Usage {
    /// Adds a gang.
    pub fn add(&mut self, d: &WorkerDemand, workers: u32) {
        let w = u64::from(workers);
        self.gpus += d.gpus * w;
        self.cpu_millis += d.cpu_millis * w;
        self.memory_bytes += d.memory_bytes * w;
        self.workers += w;
        self.jobs += 1;
    }
    /// Removes a gang.
    pub fn remove(&mut self, d: &WorkerDemand, workers: u32) {
        let w = u64::from(workers);
        self.gpus = self.gpus.saturating_sub(d.gpus * w);
        self.cpu_millis = self.cpu_millis.saturating_sub(d.cpu_millis * w);
        self.memory_bytes = self.memory_bytes.saturating_sub(d.memory_bytes * w);
        self.workers = self.workers.saturating_sub(w);
        self.jobs = self.jobs.saturating_sub(1);
    }
}

/// A TrainingQueue as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueInfo {
    /// Queue name.
    pub name: String,
    /// Quota.
    pub quota: Quota,
    /// Strict FIFO: a head that does not fit blocks the jobs behind it.
    pub strict_fifo: bool,
    /// Lower-priority admitted jobs may be preempted for this queue's jobs.
    pub preempt_lower_priority: bool,
}

/// A job waiting for admission.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingJob {
    /// `namespace/name`.
    pub key: String,
    /// Namespace.
    pub namespace: String,
    /// Queue name.
    pub queue: String,
    /// Priority (higher first).
    pub priority: i32,
    /// Creation time, seconds since the epoch (FIFO order).
    pub created: i64,
    /// Requested workers.
    pub workers: u32,
    /// Elastic bounds (min, max), if elastic.
    pub elastic: Option<(u32, u32)>,
    /// Per-worker demand.
    pub demand: WorkerDemand,
    /// The job's namespace is selected by its queue.
    pub namespace_allowed: bool,
}

impl PendingJob {
    /// Gang sizes to try, largest first (one size unless elastic).
    pub fn worker_candidates(&self) -> Vec<u32> {
        match self.elastic {
            Some((min, max)) if min <= max => (min.max(1)..=max).rev().collect(),
            _ => vec![self.workers],
        }
    }
}

/// A job already admitted (running, initializing or restarting).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdmittedJob {
    /// `namespace/name`.
    pub key: String,
    /// Queue name.
    pub queue: String,
    /// Priority.
    pub priority: i32,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Gang size.
    pub workers: u32,
    /// Per-worker demand.
    pub demand: WorkerDemand,
    /// Workers not yet bound to a node (their capacity is reserved).
    pub unbound_workers: u32,
    /// Bound workers per node (what preempting this job frees).
    pub placement: Vec<(String, u64)>,
    /// Already being preempted.
    pub preempting: bool,
}

/// Everything one admission pass looks at.
#[derive(Debug, Clone, Default)]
pub struct AdmissionInput {
    /// Free capacity per node.
    pub nodes: Vec<NodeFree>,
    /// Queues by name.
    pub queues: BTreeMap<String, QueueInfo>,
    /// Jobs holding an admission.
    pub admitted: Vec<AdmittedJob>,
    /// Jobs waiting.
    pub pending: Vec<PendingJob>,
}

/// Why a job waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Not every worker fits on the free capacity.
    InsufficientCapacity,
    /// The queue's quota would be exceeded.
    QuotaExceeded,
    /// The job names a queue that does not exist.
    QueueNotFound,
    /// The queue does not accept jobs from this namespace.
    NamespaceNotAllowed,
    /// Strict FIFO and an earlier job in the queue waits.
    BlockedByQueueHead,
}

impl WaitReason {
    /// CamelCase reason for conditions and events.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::InsufficientCapacity => "InsufficientCapacity",
            WaitReason::QuotaExceeded => "QuotaExceeded",
            WaitReason::QueueNotFound => "QueueNotFound",
            WaitReason::NamespaceNotAllowed => "NamespaceNotAllowed",
            WaitReason::BlockedByQueueHead => "BlockedByQueueHead",
        }
    }
}

/// A waiting job's place in its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// 1-based position among the waiting jobs of its queue.
    pub position: u32,
    /// Why.
    pub reason: WaitReason,
    /// Human-readable detail.
    pub message: String,
}

/// One admitted job and its gang size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// `namespace/name`.
    pub key: String,
    /// Workers admitted.
    pub workers: u32,
}

/// Preempting `victims` would let `preemptor` start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preemption {
    /// The waiting job.
    pub preemptor: String,
    /// Admitted jobs to stop (checkpoint first).
    pub victims: Vec<String>,
}

/// Outcome of one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdmissionResult {
    /// Jobs to admit now.
    pub admitted: Vec<Admission>,
    /// Jobs that keep waiting, with position and reason.
    pub waiting: BTreeMap<String, Waiting>,
    /// Suggested preemptions.
    pub preemptions: Vec<Preemption>,
    /// Queue usage after this pass.
    pub queue_usage: BTreeMap<String, Usage>,
}
