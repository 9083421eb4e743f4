//! The node's GPUs at one sample, as the sampler publishes it, and how two samples
//! differ in ways that matter to schedulers (health, inventory, allocation-relevant
//! memory) as opposed to noise (utilization, temperature, power).

use std::time::SystemTime;

use crate::backend::{BackendKind, CudaVersion, GpuReading};
use crate::health::GpuHealth;

/// An XID event as the agent recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XidRecord {
    /// XID code.
    pub code: u64,
    /// When the agent received it.
    pub at: SystemTime,
    /// True when the code is on the ignore list (did not affect health).
    pub ignored: bool,
}

/// One GPU at one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuStatus {
    /// What the backend read.
    pub reading: GpuReading,
    /// Health verdict.
    pub health: GpuHealth,
    /// When the GPU entered its current healthy/unhealthy state.
    pub health_since: SystemTime,
    /// Most recent XID seen since the agent started.
    pub last_xid: Option<XidRecord>,
    /// XID events seen since the agent started.
    pub xid_events_total: u64,
}

/// Every GPU of the node at one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSnapshot {
    /// Kubernetes Node name.
    pub node_name: String,
    /// Backend in use.
    pub backend: BackendKind,
    /// False while the backend cannot be used (library missing, NVML lost).
    pub backend_ready: bool,
    /// Why the backend is not ready, or a short description when it is.
    pub backend_message: String,
    /// Whether XID events are being watched.
    pub events_supported: bool,
    /// Driver version (empty before the first successful read).
    pub driver_version: String,
    /// CUDA version the driver supports.
    pub cuda_version: Option<CudaVersion>,
    /// GPUs by index. After a backend failure the last known GPUs stay listed,
    /// marked unhealthy; before any successful read the list is empty.
    pub gpus: Vec<GpuStatus>,
    /// True once the backend produced at least one reading.
    pub inventory_known: bool,
    /// When the sample was taken.
    pub sampled_at: SystemTime,
    /// Increases by one per published sample.
    pub sequence: u64,
}

impl NodeSnapshot {
    /// The snapshot before the first sample.
    pub fn empty(node_name: &str, backend: BackendKind) -> Self {
        NodeSnapshot {
            node_name: node_name.to_owned(),
            backend,
            backend_ready: false,
            backend_message: "starting".to_owned(),
            events_supported: false,
            driver_version: String::new(),
            cuda_version: None,
            gpus: Vec::new(),
            inventory_known: false,
            sampled_at: SystemTime::now(),
            sequence: 0,
        }
    }

    /// GPUs currently healthy.
    pub fn healthy_count(&self) -> usize {
        self.gpus.iter().filter(|g| g.health.healthy).count()
    }
}

/// Why a new snapshot matters, most important first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A GPU changed health.
    Health,
    /// GPUs appeared/disappeared, identity, MIG mode, driver or backend state changed.
    Inventory,
    /// Free memory moved by at least the threshold on some GPU.
    Memory,
}

/// A significant difference between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The most important kind of change present.
    pub kind: ChangeKind,
    /// Indexes of the GPUs that changed (health, inventory or memory).
    pub gpu_indexes: Vec<u32>,
}

fn health_key(h: &GpuHealth) -> (bool, Vec<&'static str>) {
    (h.healthy, h.reasons.iter().map(|r| r.code()).collect())
}

/// Compares `next` with `prev` (the last snapshot a consumer acted on) and says
/// whether the difference matters. Utilization, temperature, power and small
/// memory moves are not changes.
pub fn classify_change(
    prev: &NodeSnapshot,
    next: &NodeSnapshot,
    memory_threshold_bytes: u64,
) -> Option<Change> {
    let mut kind: Option<ChangeKind> = None;
    let mut bump = |k: ChangeKind| {
        kind = Some(kind.map_or(k, |old| old.min(k)));
    };
    let mut indexes = Vec::new();

    if prev.backend_ready != next.backend_ready
        || prev.backend_message != next.backend_message
        || prev.driver_version != next.driver_version
        || prev.cuda_version != next.cuda_version
        || prev.gpus.len() != next.gpus.len()
    {
        bump(ChangeKind::Inventory);
    }
    for g in &next.gpus {
        let r = &g.reading;
        let Some(p) = prev.gpus.iter().find(|p| p.reading.uuid == r.uuid) else {
            bump(ChangeKind::Inventory);
            indexes.push(r.index);
            continue;
        };
        let pr = &p.reading;
        let mut changed = false;
        if health_key(&p.health) != health_key(&g.health) {
            bump(ChangeKind::Health);
            changed = true;
        }
        if pr.index != r.index
            || pr.name != r.name
            || pr.memory_total_bytes != r.memory_total_bytes
            || pr.mig_mode != r.mig_mode
        {
            bump(ChangeKind::Inventory);
            changed = true;
        }
        if pr.memory_free_bytes.abs_diff(r.memory_free_bytes) >= memory_threshold_bytes.max(1) {
            bump(ChangeKind::Memory);
            changed = true;
        }
        if changed {
            indexes.push(r.index);
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    kind.map(|kind| Change {
        kind,
        gpu_indexes: indexes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::MIB;
    use crate::health::UnhealthyReason;

    pub(crate) fn gpu(index: u32, uuid: &str) -> GpuStatus {
        GpuStatus {
            reading: GpuReading {
                index,
                uuid: uuid.into(),
                name: "NVIDIA A100-SXM4-80GB".into(),
                memory_total_bytes: 81920 * MIB,
                memory_free_bytes: 81920 * MIB,
                ..GpuReading::default()
            },
            health: GpuHealth {
                healthy: true,
                reasons: vec![],
            },
            health_since: SystemTime::UNIX_EPOCH,
            last_xid: None,
            xid_events_total: 0,
        }
    }

    pub(crate) fn snapshot(gpus: Vec<GpuStatus>) -> NodeSnapshot {
        NodeSnapshot {
            backend_ready: true,
            backend_message: "ok".into(),
            driver_version: "550.54.15".into(),
            cuda_version: Some(CudaVersion {
                major: 12,
                minor: 4,
            }),
            gpus,
            inventory_known: true,
            ..NodeSnapshot::empty("node-a", BackendKind::Simulated)
        }
    }

    #[test]
    fn noise_is_not_a_change() {
        let a = snapshot(vec![gpu(0, "a")]);
        let mut b = a.clone();
        b.gpus[0].reading.utilization_percent = 97;
        b.gpus[0].reading.temperature_celsius = 80;
        b.gpus[0].reading.power_milliwatts = 300_000;
        b.gpus[0].reading.memory_free_bytes -= 100 * MIB;
        b.sequence = 9;
        assert_eq!(classify_change(&a, &b, 1024 * MIB), None);
    }

    #[test]
    fn health_change_wins() {
        let a = snapshot(vec![gpu(0, "a"), gpu(1, "b")]);
        let mut b = a.clone();
        b.gpus[1].health = GpuHealth {
            healthy: false,
            reasons: vec![UnhealthyReason::CriticalXid { xid: 79 }],
        };
        b.gpus[0].reading.memory_free_bytes = 0;
        let c = classify_change(&a, &b, 1024 * MIB).unwrap();
        assert_eq!(c.kind, ChangeKind::Health);
        assert_eq!(c.gpu_indexes, vec![0, 1]);
    }

    #[test]
    fn memory_threshold() {
        let a = snapshot(vec![gpu(0, "a")]);
        let mut b = a.clone();
        b.gpus[0].reading.memory_free_bytes -= 2048 * MIB;
        let c = classify_change(&a, &b, 1024 * MIB).unwrap();
        assert_eq!(c.kind, ChangeKind::Memory);
        assert_eq!(c.gpu_indexes, vec![0]);
    }

    #[test]
    fn inventory_changes() {
        let a = snapshot(vec![gpu(0, "a")]);
        let b = snapshot(vec![gpu(0, "a"), gpu(1, "b")]);
        let c = classify_change(&a, &b, 1024 * MIB).unwrap();
        assert_eq!(c.kind, ChangeKind::Inventory);
        assert_eq!(c.gpu_indexes, vec![1]);
        let mut d = a.clone();
        d.backend_ready = false;
        assert_eq!(
            classify_change(&a, &d, 1024 * MIB).unwrap().kind,
            ChangeKind::Inventory
        );
        let mut e = a.clone();
        e.gpus[0].reading.mig_mode = crate::backend::MigMode::Enabled;
        assert_eq!(
            classify_change(&a, &e, 1024 * MIB).unwrap().gpu_indexes,
            vec![0]
        );
    }
}
