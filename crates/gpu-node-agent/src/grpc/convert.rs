//! Snapshot → `mlfleet.gpu.v1` messages (pure).

use mlfleet_proto::gpu::v1 as pb;
use prost_types::Timestamp;

use crate::backend::{BackendKind, MigMode};
use crate::snapshot::{ChangeKind, GpuStatus, NodeSnapshot};

/// The wire form of a snapshot.
pub fn node_gpus(s: &NodeSnapshot) -> pb::NodeGpus {
    pb::NodeGpus {
        node_name: s.node_name.clone(),
        driver_version: s.driver_version.clone(),
        cuda_version: s.cuda_version.map(|c| c.to_string()).unwrap_or_default(),
        backend: backend(s.backend) as i32,
        backend_ready: s.backend_ready,
        backend_message: s.backend_message.clone(),
        gpus: s.gpus.iter().map(gpu).collect(),
        sample_time: Some(Timestamp::from(s.sampled_at)),
    }
}

fn backend(kind: BackendKind) -> pb::Backend {
    match kind {
        BackendKind::Nvml => pb::Backend::Nvml,
        BackendKind::Simulated => pb::Backend::Simulated,
    }
}

fn mig(mode: MigMode) -> pb::MigMode {
    match mode {
        MigMode::Unsupported => pb::MigMode::Unsupported,
        MigMode::Disabled => pb::MigMode::Disabled,
        MigMode::Enabled => pb::MigMode::Enabled,
    }
}

fn gpu(g: &GpuStatus) -> pb::Gpu {
    let r = &g.reading;
    pb::Gpu {
        index: r.index,
        uuid: r.uuid.clone(),
        model: r.name.clone(),
        pci_bus_id: r.pci_bus_id.clone(),
        memory_total_bytes: r.memory_total_bytes,
        memory_used_bytes: r.memory_used_bytes,
        memory_free_bytes: r.memory_free_bytes,
        utilization_percent: r.utilization_percent,
        memory_utilization_percent: r.memory_utilization_percent,
        temperature_celsius: r.temperature_celsius,
        power_watts: f64::from(r.power_milliwatts) / 1000.0,
        power_limit_watts: f64::from(r.power_limit_milliwatts) / 1000.0,
        mig_mode: mig(r.mig_mode) as i32,
        ecc: Some(match r.ecc {
            Some(e) => pb::EccErrors {
                enabled: true,
                volatile_corrected: e.volatile_corrected,
                volatile_uncorrected: e.volatile_uncorrected,
                aggregate_corrected: e.aggregate_corrected,
                aggregate_uncorrected: e.aggregate_uncorrected,
            },
            None => pb::EccErrors::default(),
        }),
        last_xid: g.last_xid.as_ref().map(|x| pb::XidEvent {
            code: u32::try_from(x.code).unwrap_or(u32::MAX),
            time: Some(Timestamp::from(x.at)),
            ignored: x.ignored,
        }),
        xid_events_total: g.xid_events_total,
        health: Some(pb::GpuHealth {
            state: if g.health.healthy {
                pb::HealthState::Healthy
            } else {
                pb::HealthState::Unhealthy
            } as i32,
            reason: if g.health.healthy {
                String::new()
            } else {
                g.health.summary()
            },
            since: Some(Timestamp::from(g.health_since)),
        }),
    }
}

/// A compact JSON view of one WatchNodeGpus message (for the `watch` command).
pub fn watch_json(msg: &pb::WatchNodeGpusResponse) -> serde_json::Value {
    let reason = pb::UpdateReason::try_from(msg.reason).map_or("UNKNOWN", |r| r.as_str_name());
    let node = msg.node.clone().unwrap_or_default();
    let gpus: Vec<serde_json::Value> = node
        .gpus
        .iter()
        .map(|g| {
            let health = g.health.clone().unwrap_or_default();
            serde_json::json!({
                "index": g.index,
                "uuid": g.uuid,
                "model": g.model,
                "memoryTotalBytes": g.memory_total_bytes,
                "memoryFreeBytes": g.memory_free_bytes,
                "utilizationPercent": g.utilization_percent,
                "health": pb::HealthState::try_from(health.state)
                    .map_or("UNKNOWN", |h| h.as_str_name()),
                "reason": health.reason,
                "lastXid": g.last_xid.as_ref().map(|x| x.code),
            })
        })
        .collect();
    serde_json::json!({
        "reason": reason,
        "changedGpuIndexes": msg.changed_gpu_indexes,
        "nodeName": node.node_name,
        "backendReady": node.backend_ready,
        "backendMessage": node.backend_message,
        "driverVersion": node.driver_version,
        "gpus": gpus,
    })
}

/// The update reason sent for a kind of change.
pub fn update_reason(kind: ChangeKind) -> pb::UpdateReason {
    match kind {
        ChangeKind::Health => pb::UpdateReason::HealthChanged,
        ChangeKind::Inventory => pb::UpdateReason::InventoryChanged,
        ChangeKind::Memory => pb::UpdateReason::MemoryChanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{EccCounters, MIB};
    use crate::health::{GpuHealth, UnhealthyReason};
    use crate::snapshot::XidRecord;
    use crate::snapshot::tests::{gpu as status, snapshot};
    use std::time::{Duration, SystemTime};

    #[test]
    fn converts_every_field() {
        let mut s = snapshot(vec![status(0, "GPU-a"), status(1, "GPU-b")]);
        s.gpus[0].reading.memory_used_bytes = 10 * MIB;
        s.gpus[0].reading.power_milliwatts = 71_250;
        s.gpus[0].reading.ecc = Some(EccCounters {
            volatile_uncorrected: 2,
            ..EccCounters::default()
        });
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        s.gpus[1].health = GpuHealth {
            healthy: false,
            reasons: vec![UnhealthyReason::CriticalXid { xid: 79 }],
        };
        s.gpus[1].health_since = at;
        s.gpus[1].last_xid = Some(XidRecord {
            code: 79,
            at,
            ignored: false,
        });
        s.gpus[1].xid_events_total = 3;
        let n = node_gpus(&s);
        assert_eq!(n.node_name, "node-a");
        assert_eq!(n.cuda_version, "12.4");
        assert_eq!(n.backend, pb::Backend::Simulated as i32);
        assert!(n.backend_ready);
        assert_eq!(n.gpus.len(), 2);
        let g0 = &n.gpus[0];
        assert_eq!(g0.uuid, "GPU-a");
        assert_eq!(g0.memory_used_bytes, 10 * MIB);
        assert!((g0.power_watts - 71.25).abs() < 1e-9);
        let ecc = g0.ecc.as_ref().unwrap();
        assert!(ecc.enabled);
        assert_eq!(ecc.volatile_uncorrected, 2);
        assert_eq!(
            g0.health.as_ref().unwrap().state,
            pb::HealthState::Healthy as i32
        );
        let g1 = &n.gpus[1];
        let h = g1.health.as_ref().unwrap();
        assert_eq!(h.state, pb::HealthState::Unhealthy as i32);
        assert_eq!(h.reason, "critical XID 79 reported");
        assert_eq!(h.since.as_ref().unwrap().seconds, 1_700_000_000);
        assert_eq!(g1.last_xid.as_ref().unwrap().code, 79);
        assert_eq!(g1.xid_events_total, 3);
    }
}
