//! GPUNode status built from a snapshot (pure), and the rule that decides when it is
//! written: on a change of anything but the heartbeat, or when the heartbeat is due.
//! Utilization, temperature, power and memory use are not part of the status, so
//! samples alone never cause a write.

use std::time::SystemTime;

use crd_types::common::{Condition, set_condition};
use crd_types::gpu::{
    GPUNodeStatus, GpuBackendKind, GpuDevice, GpuHealth as CrdHealth, MigMode as CrdMig,
    condition_types,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::backend::{BackendKind, MIB, MigMode};
use crate::snapshot::NodeSnapshot;

/// `SystemTime` as a Kubernetes `Time`, truncated to whole seconds (what the API
/// server keeps).
pub fn kube_time(t: SystemTime) -> Time {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Time(Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// The status for `snapshot`. Conditions keep their transition time from
/// `previous` when their status did not change; `heartbeat` is the time to stamp.
pub fn build_status(
    snapshot: &NodeSnapshot,
    previous: Option<&GPUNodeStatus>,
    heartbeat: Time,
) -> GPUNodeStatus {
    let gpus: Vec<GpuDevice> = snapshot
        .gpus
        .iter()
        .map(|g| {
            let r = &g.reading;
            GpuDevice {
                index: i32::try_from(r.index).unwrap_or(i32::MAX),
                uuid: r.uuid.clone(),
                model: r.name.clone(),
                memory_mib: i64::try_from(r.memory_total_bytes / MIB).unwrap_or(i64::MAX),
                mig_mode: match r.mig_mode {
                    MigMode::Unsupported => CrdMig::Unsupported,
                    MigMode::Disabled => CrdMig::Disabled,
                    MigMode::Enabled => CrdMig::Enabled,
                },
                health: if g.health.healthy {
                    CrdHealth::Healthy
                } else {
                    CrdHealth::Unhealthy
                },
                health_reason: (!g.health.healthy).then(|| g.health.summary()),
                last_xid: g
                    .last_xid
                    .as_ref()
                    .filter(|x| !x.ignored)
                    .map(|x| i64::try_from(x.code).unwrap_or(i64::MAX)),
                ecc_uncorrectable_errors: r
                    .ecc
                    .map(|e| i64::try_from(e.volatile_uncorrected).unwrap_or(i64::MAX)),
                allocatable: g.health.healthy,
            }
        })
        .collect();

    let mut conditions = previous.map(|p| p.conditions.clone()).unwrap_or_default();
    let (reason, message) = if snapshot.backend_ready {
        ("BackendAnswering", snapshot.backend_message.clone())
    } else {
        ("BackendUnavailable", snapshot.backend_message.clone())
    };
    set_condition(
        &mut conditions,
        Condition::new(
            condition_types::GPU_BACKEND_READY,
            snapshot.backend_ready,
            reason,
            message,
            None,
            heartbeat.clone(),
        ),
    );
    let unhealthy: Vec<String> = snapshot
        .gpus
        .iter()
        .filter(|g| !g.health.healthy)
        .map(|g| {
            format!(
                "GPU {} ({}): {}",
                g.reading.index,
                g.reading.uuid,
                g.health.summary()
            )
        })
        .collect();
    let (healthy, reason, message) = if !snapshot.inventory_known {
        (false, "InventoryUnknown", "no GPU reading yet".to_owned())
    } else if unhealthy.is_empty() {
        (
            true,
            "AllGpusHealthy",
            format!("{} GPUs healthy", snapshot.gpus.len()),
        )
    } else {
        (false, "GpusUnhealthy", unhealthy.join("; "))
    };
    set_condition(
        &mut conditions,
        Condition::new(
            condition_types::HEALTHY,
            healthy,
            reason,
            message,
            None,
            heartbeat.clone(),
        ),
    );

    let first = snapshot.gpus.iter().min_by_key(|g| g.reading.index);
    GPUNodeStatus {
        node_name: snapshot.node_name.clone(),
        conditions,
        backend: Some(match snapshot.backend {
            BackendKind::Nvml => GpuBackendKind::NVML,
            BackendKind::Simulated => GpuBackendKind::Simulated,
        }),
        gpu_count: i32::try_from(gpus.len()).unwrap_or(i32::MAX),
        healthy_count: i32::try_from(snapshot.healthy_count()).unwrap_or(i32::MAX),
        product: first.map(|g| g.reading.name.clone()),
        driver_version: (!snapshot.driver_version.is_empty())
            .then(|| snapshot.driver_version.clone()),
        cuda_version: snapshot.cuda_version.map(|c| c.to_string()),
        gpus,
        last_heartbeat: Some(heartbeat),
    }
}

/// True when `a` and `b` differ in anything but the heartbeat.
pub fn differs_beyond_heartbeat(a: &GPUNodeStatus, b: &GPUNodeStatus) -> bool {
    let strip = |s: &GPUNodeStatus| GPUNodeStatus {
        last_heartbeat: None,
        ..s.clone()
    };
    strip(a) != strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{GpuHealth, UnhealthyReason};
    use crate::snapshot::XidRecord;
    use crate::snapshot::tests::{gpu, snapshot};
    use std::time::Duration;

    fn t(secs: u64) -> Time {
        kube_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs))
    }

    fn cond<'a>(s: &'a GPUNodeStatus, ty: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == ty).unwrap()
    }

    #[test]
    fn status_from_snapshot() {
        let mut snap = snapshot(vec![gpu(0, "GPU-a"), gpu(1, "GPU-b")]);
        snap.gpus[1].health = GpuHealth {
            healthy: false,
            reasons: vec![UnhealthyReason::CriticalXid { xid: 79 }],
        };
        snap.gpus[1].last_xid = Some(XidRecord {
            code: 79,
            at: SystemTime::UNIX_EPOCH,
            ignored: false,
        });
        let s = build_status(&snap, None, t(0));
        assert_eq!(s.node_name, "node-a");
        assert_eq!(s.gpu_count, 2);
        assert_eq!(s.healthy_count, 1);
        assert_eq!(s.product.as_deref(), Some("NVIDIA A100-SXM4-80GB"));
        assert_eq!(s.driver_version.as_deref(), Some("550.54.15"));
        assert_eq!(s.cuda_version.as_deref(), Some("12.4"));
        assert_eq!(s.backend, Some(GpuBackendKind::Simulated));
        assert_eq!(s.gpus[0].memory_mib, 81920);
        assert!(s.gpus[0].allocatable);
        assert_eq!(s.gpus[1].health, CrdHealth::Unhealthy);
        assert!(!s.gpus[1].allocatable);
        assert_eq!(s.gpus[1].last_xid, Some(79));
        assert_eq!(
            s.gpus[1].health_reason.as_deref(),
            Some("critical XID 79 reported")
        );
        assert!(cond(&s, condition_types::GPU_BACKEND_READY).is_true());
        let h = cond(&s, condition_types::HEALTHY);
        assert!(!h.is_true());
        assert_eq!(h.reason, "GpusUnhealthy");
        assert!(h.message.contains("GPU-b"));
        assert_eq!(s.allocatable_gpus(), 1);
    }

    #[test]
    fn utilization_and_memory_noise_do_not_change_status() {
        let snap = snapshot(vec![gpu(0, "GPU-a")]);
        let first = build_status(&snap, None, t(0));
        let mut noisy = snap.clone();
        noisy.gpus[0].reading.utilization_percent = 90;
        noisy.gpus[0].reading.memory_free_bytes /= 2;
        noisy.gpus[0].reading.power_milliwatts = 250_000;
        noisy.sequence += 100;
        let second = build_status(&noisy, Some(&first), t(30));
        assert!(!differs_beyond_heartbeat(&first, &second));
        assert_ne!(first.last_heartbeat, second.last_heartbeat);
    }

    #[test]
    fn health_change_changes_status_and_transition_time() {
        let snap = snapshot(vec![gpu(0, "GPU-a")]);
        let first = build_status(&snap, None, t(0));
        let mut bad = snap.clone();
        bad.gpus[0].health = GpuHealth {
            healthy: false,
            reasons: vec![UnhealthyReason::UncorrectableEcc { count: Some(1) }],
        };
        let second = build_status(&bad, Some(&first), t(10));
        assert!(differs_beyond_heartbeat(&first, &second));
        assert_eq!(
            cond(&second, condition_types::HEALTHY).last_transition_time,
            t(10)
        );
        // Backend condition kept its original transition time.
        assert_eq!(
            cond(&second, condition_types::GPU_BACKEND_READY).last_transition_time,
            t(0)
        );
    }

    #[test]
    fn backend_unavailable_before_any_reading() {
        let snap = NodeSnapshot {
            backend_message: "NVML is not available: libnvidia-ml.so.1: not found".into(),
            ..NodeSnapshot::empty("node-x", BackendKind::Nvml)
        };
        let s = build_status(&snap, None, t(0));
        let c = cond(&s, condition_types::GPU_BACKEND_READY);
        assert!(!c.is_true());
        assert_eq!(c.reason, "BackendUnavailable");
        assert!(c.message.contains("libnvidia-ml"));
        assert_eq!(
            cond(&s, condition_types::HEALTHY).reason,
            "InventoryUnknown"
        );
        assert_eq!(s.gpu_count, 0);
        assert_eq!(s.driver_version, None);
    }

    #[test]
    fn kube_time_truncates_to_seconds() {
        let a = kube_time(SystemTime::UNIX_EPOCH + Duration::from_millis(1_500));
        assert_eq!(
            a,
            kube_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
        );
    }
}
