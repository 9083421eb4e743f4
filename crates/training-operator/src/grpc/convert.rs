//! Book → protobuf conversions shared by the gRPC servers.

use k8s_openapi::jiff::Timestamp;
use mlfleet_proto::scheduling::v1 as pb;

use crate::admission::WaitReason;
use crate::book::{JobAdmissionState, JobRecord, QueueSnapshot};
use crate::cluster::{Capacity, CapacitySource};

/// jiff → protobuf timestamp.
pub fn ts(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

/// Admission state enum.
pub fn state(s: JobAdmissionState) -> pb::AdmissionState {
    match s {
        JobAdmissionState::Pending => pb::AdmissionState::Pending,
        JobAdmissionState::Queued => pb::AdmissionState::Queued,
        JobAdmissionState::Admitted => pb::AdmissionState::Admitted,
        JobAdmissionState::Suspended => pb::AdmissionState::Suspended,
        JobAdmissionState::Preempting => pb::AdmissionState::Preempting,
        JobAdmissionState::Finished => pb::AdmissionState::Finished,
    }
}

/// Wait reason enum.
pub fn reason(r: Option<WaitReason>, s: JobAdmissionState) -> pb::WaitReason {
    match (r, s) {
        (_, JobAdmissionState::Suspended) => pb::WaitReason::Suspended,
        (_, JobAdmissionState::Admitted) | (_, JobAdmissionState::Finished) => pb::WaitReason::None,
        (Some(WaitReason::InsufficientCapacity), _) => pb::WaitReason::ClusterCapacity,
        (Some(WaitReason::QuotaExceeded), _) => pb::WaitReason::QueueQuota,
        (Some(WaitReason::QueueNotFound), _) => pb::WaitReason::QueueNotFound,
        (Some(WaitReason::BlockedByQueueHead), _) | (Some(WaitReason::NamespaceNotAllowed), _) => {
            pb::WaitReason::JobsAhead
        }
        (None, JobAdmissionState::Preempting) => pb::WaitReason::PreemptionInProgress,
        (None, _) => pb::WaitReason::Unspecified,
    }
}

/// A job record.
pub fn job(r: &JobRecord) -> pb::JobAdmission {
    pb::JobAdmission {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        queue_name: r.queue.clone(),
        state: state(r.state) as i32,
        queue_position: r.position,
        wait_reason: reason(r.reason, r.state) as i32,
        message: r.message.clone(),
        priority: r.priority,
        workers: r.workers,
        requests: Some(pb::ResourceAmounts {
            gpus: r.requests.0,
            cpu_millicores: r.requests.1,
            memory_bytes: r.requests.2,
        }),
        queued_time: r.queued_time.map(ts),
        admitted_time: r.admitted_time.map(ts),
    }
}

/// A queue snapshot.
pub fn queue(q: &QueueSnapshot) -> pb::QueueState {
    pb::QueueState {
        name: q.name.clone(),
        pending_jobs: q.pending,
        admitted_jobs: q.admitted,
        usage: Some(pb::ResourceAmounts {
            gpus: q.usage.gpus,
            cpu_millicores: q.usage.cpu_millis,
            memory_bytes: q.usage.memory_bytes,
        }),
        quota: Some(pb::ResourceQuota {
            gpus: q.quota.gpus,
            cpu_millicores: q.quota.cpu_millis,
            memory_bytes: q.quota.memory_bytes,
        }),
        pending_requests: Some(pb::ResourceAmounts {
            gpus: q.pending_requests.gpus,
            cpu_millicores: q.pending_requests.cpu_millis,
            memory_bytes: q.pending_requests.memory_bytes,
        }),
    }
}

fn counts(alloc: u64, used: u64, unhealthy: u64, free: u64) -> pb::GpuCounts {
    let c = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    pb::GpuCounts {
        allocatable: c(alloc),
        used: c(used),
        free: c(free),
        unhealthy: c(unhealthy),
    }
}

/// Allocatable, used, unhealthy and free GPUs, summed.
type GpuTotals = (u64, u64, u64, u64);

/// Cluster GPUs.
pub fn cluster(c: &Capacity, at: Option<Timestamp>) -> pb::ClusterGpus {
    let mut total = (0, 0, 0, 0);
    let mut models: std::collections::BTreeMap<String, (GpuTotals, u32)> = Default::default();
    let nodes = c
        .gpus
        .iter()
        .map(|n| {
            total = (
                total.0 + n.allocatable,
                total.1 + n.used,
                total.2 + n.unhealthy,
                total.3 + n.free,
            );
            let m = models.entry(n.model.clone()).or_default();
            m.0 = (
                m.0.0 + n.allocatable,
                m.0.1 + n.used,
                m.0.2 + n.unhealthy,
                m.0.3 + n.free,
            );
            m.1 += 1;
            pb::NodeGpuAvailability {
                node_name: n.name.clone(),
                gpu_model: n.model.clone(),
                counts: Some(counts(n.allocatable, n.used, n.unhealthy, n.free)),
            }
        })
        .collect();
    pb::ClusterGpus {
        source: match c.source {
            CapacitySource::NodeAllocatable => pb::CapacitySource::NodeAllocatable,
            CapacitySource::GpuAgent => pb::CapacitySource::GpuAgent,
        } as i32,
        source_message: c.source_message.clone(),
        total: Some(counts(total.0, total.1, total.2, total.3)),
        nodes,
        models: models
            .into_iter()
            .map(|(model, (t, n))| pb::ModelGpuAvailability {
                gpu_model: model,
                counts: Some(counts(t.0, t.1, t.2, t.3)),
                nodes: n,
            })
            .collect(),
        observed_time: at.map(ts),
    }
}
