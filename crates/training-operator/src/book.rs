//! The scheduling snapshot shared by the admission loop (writer), the
//! reconciler (reads decisions) and the gRPC servers (read everything).

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::jiff::Timestamp;

use crate::admission::{Quota, Usage, WaitReason};
use crate::cluster::Capacity;
use crate::state::AdmissionView;

/// Admission state of one job as SchedulingState reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAdmissionState {
    /// Not yet evaluated.
    Pending,
    /// Waiting in its queue.
    Queued,
    /// Holds an admission.
    Admitted,
    /// Suspended by the user.
    Suspended,
    /// Being preempted.
    Preempting,
    /// Completed or failed.
    Finished,
}

/// One job's admission record.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Queue name ("" = no queue).
    pub queue: String,
    /// State.
    pub state: JobAdmissionState,
    /// 1-based position while queued.
    pub position: Option<u32>,
    /// Why it waits.
    pub reason: Option<WaitReason>,
    /// Detail.
    pub message: String,
    /// Priority.
    pub priority: i32,
    /// Gang size.
    pub workers: u32,
    /// Gang requests: GPUs, CPU millicores, memory bytes.
    pub requests: (u64, u64, u64),
    /// Creation time.
    pub queued_time: Option<Timestamp>,
    /// Admission time.
    pub admitted_time: Option<Timestamp>,
}

/// One queue's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSnapshot {
    /// Queue name.
    pub name: String,
    /// Jobs waiting.
    pub pending: u32,
    /// Jobs admitted.
    pub admitted: u32,
    /// Resources held by admitted jobs.
    pub usage: Usage,
    /// Quota.
    pub quota: Quota,
    /// Resources the pending jobs request together.
    pub pending_requests: Usage,
    /// Creation time of the oldest pending job.
    pub oldest_pending: Option<Timestamp>,
    /// Whether a TrainingQueue object exists (false for the implicit no-queue bucket).
    pub exists: bool,
}

/// The snapshot.
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// Decision per `namespace/name`.
    pub decisions: HashMap<String, AdmissionView>,
    /// Records per `namespace/name` (unfinished jobs plus recently finished ones).
    pub records: BTreeMap<String, JobRecord>,
    /// Queues by name.
    pub queues: BTreeMap<String, QueueSnapshot>,
    /// Last capacity computation.
    pub capacity: Capacity,
    /// When the snapshot was computed.
    pub computed_at: Option<Timestamp>,
    /// Bumped on every pass that changed something.
    pub version: u64,
}

impl Book {
    /// The decision for a job (Unknown when never evaluated).
    pub fn decision(&self, key: &str) -> AdmissionView {
        self.decisions.get(key).cloned().unwrap_or_default()
    }
}
