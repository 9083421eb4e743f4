//! Node labels compatible with NVIDIA GPU Feature Discovery, and the diff that turns
//! them into a patch only when something changed.
//!
//! The agent owns exactly the keys in [`MANAGED_LABELS`]: it sets those it has a
//! value for and removes the others, and never touches any other label.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::backend::MIB;
use crate::snapshot::NodeSnapshot;

/// `true` when the node has at least one GPU.
pub const GPU_PRESENT: &str = "nvidia.com/gpu.present";
/// Product name of GPU 0, spaces replaced by dashes.
pub const GPU_PRODUCT: &str = "nvidia.com/gpu.product";
/// Number of GPUs.
pub const GPU_COUNT: &str = "nvidia.com/gpu.count";
/// Memory of GPU 0 in MiB.
pub const GPU_MEMORY: &str = "nvidia.com/gpu.memory";
/// Driver version, first component.
pub const DRIVER_MAJOR: &str = "nvidia.com/cuda.driver.major";
/// Driver version, second component.
pub const DRIVER_MINOR: &str = "nvidia.com/cuda.driver.minor";
/// Driver version, third component (empty when the version has two parts).
pub const DRIVER_REV: &str = "nvidia.com/cuda.driver.rev";
/// CUDA version supported by the driver, major.
pub const CUDA_RUNTIME_MAJOR: &str = "nvidia.com/cuda.runtime.major";
/// CUDA version supported by the driver, minor.
pub const CUDA_RUNTIME_MINOR: &str = "nvidia.com/cuda.runtime.minor";
/// `true` when any GPU supports MIG.
pub const MIG_CAPABLE: &str = "nvidia.com/mig.capable";
/// Number of GPUs the agent considers healthy.
pub const HEALTHY_COUNT: &str = "gpu.mlfleet.io/healthy-count";

/// Every label key the agent owns.
pub const MANAGED_LABELS: &[&str] = &[
    GPU_PRESENT,
    GPU_PRODUCT,
    GPU_COUNT,
    GPU_MEMORY,
    DRIVER_MAJOR,
    DRIVER_MINOR,
    DRIVER_REV,
    CUDA_RUNTIME_MAJOR,
    CUDA_RUNTIME_MINOR,
    MIG_CAPABLE,
    HEALTHY_COUNT,
];

/// The labels the node should carry for `snapshot`; `None` before the backend
/// produced any reading (the agent knows nothing yet and leaves labels alone).
pub fn desired_labels(snapshot: &NodeSnapshot) -> Option<BTreeMap<String, String>> {
    if !snapshot.inventory_known {
        return None;
    }
    let mut l = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        l.insert(k.to_owned(), v);
    };
    let count = snapshot.gpus.len();
    put(GPU_PRESENT, (count > 0).to_string());
    put(GPU_COUNT, count.to_string());
    put(HEALTHY_COUNT, snapshot.healthy_count().to_string());
    put(
        MIG_CAPABLE,
        snapshot
            .gpus
            .iter()
            .any(|g| g.reading.mig_mode.capable())
            .to_string(),
    );
    if let Some(first) = snapshot.gpus.iter().min_by_key(|g| g.reading.index) {
        let product = sanitize_value(&first.reading.name.replace(' ', "-"));
        if !product.is_empty() {
            put(GPU_PRODUCT, product);
        }
        put(
            GPU_MEMORY,
            (first.reading.memory_total_bytes / MIB).to_string(),
        );
    }
    if !snapshot.driver_version.is_empty() {
        let mut parts = snapshot.driver_version.split('.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next().unwrap_or_default();
        let rev = parts.next().unwrap_or_default();
        put(DRIVER_MAJOR, sanitize_value(major));
        put(DRIVER_MINOR, sanitize_value(minor));
        put(DRIVER_REV, sanitize_value(rev));
    }
    if let Some(cuda) = snapshot.cuda_version {
        put(CUDA_RUNTIME_MAJOR, cuda.major.to_string());
        put(CUDA_RUNTIME_MINOR, cuda.minor.to_string());
    }
    Some(l)
}

/// Makes `raw` a valid label value: at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric (other characters become `-`).
pub fn sanitize_value(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let truncated: String = mapped.chars().take(63).collect();
    truncated
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// The JSON merge patch that moves the node's managed labels from `current` to
/// `desired`, or `None` when they already match. Keys outside
/// [`MANAGED_LABELS`] are never set or removed.
pub fn label_patch(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Option<Value> {
    let mut changes = Map::new();
    for key in MANAGED_LABELS {
        match (current.get(*key), desired.get(*key)) {
            (Some(c), Some(d)) if c == d => {}
            (_, Some(d)) => {
                changes.insert((*key).to_owned(), Value::String(d.clone()));
            }
            (Some(_), None) => {
                changes.insert((*key).to_owned(), Value::Null);
            }
            (None, None) => {}
        }
    }
    if changes.is_empty() {
        None
    } else {
        Some(json!({ "metadata": { "labels": changes } }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MigMode;
    use crate::health::{GpuHealth, UnhealthyReason};
    use crate::snapshot::tests::{gpu, snapshot};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn gfd_labels_from_snapshot() {
        let mut s = snapshot(vec![gpu(0, "a"), gpu(1, "b")]);
        s.gpus[1].health = GpuHealth {
            healthy: false,
            reasons: vec![UnhealthyReason::CriticalXid { xid: 79 }],
        };
        s.gpus[0].reading.mig_mode = MigMode::Disabled;
        let l = desired_labels(&s).unwrap();
        assert_eq!(
            l,
            labels(&[
                (GPU_PRESENT, "true"),
                (GPU_COUNT, "2"),
                (HEALTHY_COUNT, "1"),
                (MIG_CAPABLE, "true"),
                (GPU_PRODUCT, "NVIDIA-A100-SXM4-80GB"),
                (GPU_MEMORY, "81920"),
                (DRIVER_MAJOR, "550"),
                (DRIVER_MINOR, "54"),
                (DRIVER_REV, "15"),
                (CUDA_RUNTIME_MAJOR, "12"),
                (CUDA_RUNTIME_MINOR, "4"),
            ])
        );
    }

    #[test]
    fn two_part_driver_version_has_empty_rev() {
        let mut s = snapshot(vec![gpu(0, "a")]);
        s.driver_version = "550.120".into();
        let l = desired_labels(&s).unwrap();
        assert_eq!(l[DRIVER_MAJOR], "550");
        assert_eq!(l[DRIVER_MINOR], "120");
        assert_eq!(l[DRIVER_REV], "");
    }

    #[test]
    fn no_gpus_and_unknown_inventory() {
        let s = snapshot(vec![]);
        let l = desired_labels(&s).unwrap();
        assert_eq!(l[GPU_PRESENT], "false");
        assert_eq!(l[GPU_COUNT], "0");
        assert!(!l.contains_key(GPU_PRODUCT));
        let mut unknown = s.clone();
        unknown.inventory_known = false;
        assert_eq!(desired_labels(&unknown), None);
    }

    #[test]
    fn sanitizes_values() {
        assert_eq!(
            sanitize_value("Tesla-V100-SXM2-16GB"),
            "Tesla-V100-SXM2-16GB"
        );
        assert_eq!(
            sanitize_value("NVIDIA-GeForce-RTX-4090-(D)"),
            "NVIDIA-GeForce-RTX-4090--D"
        );
        assert_eq!(sanitize_value(&"x".repeat(80)).len(), 63);
        assert_eq!(sanitize_value("-a-"), "a");
    }

    #[test]
    fn no_patch_when_nothing_changed() {
        let s = snapshot(vec![gpu(0, "a")]);
        let desired = desired_labels(&s).unwrap();
        let mut current = desired.clone();
        current.insert("kubernetes.io/hostname".into(), "node-a".into());
        assert_eq!(label_patch(&current, &desired), None);
    }

    #[test]
    fn patch_sets_changed_and_removes_stale_managed_keys_only() {
        let current = labels(&[
            (GPU_PRESENT, "true"),
            (GPU_COUNT, "2"),
            (GPU_PRODUCT, "Tesla-T4"),
            ("team", "ml"),
        ]);
        let desired = labels(&[(GPU_PRESENT, "true"), (GPU_COUNT, "1")]);
        let patch = label_patch(&current, &desired).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"labels": {GPU_COUNT: "1", GPU_PRODUCT: null}}})
        );
    }

    #[test]
    fn health_drop_changes_only_healthy_count() {
        let a = snapshot(vec![gpu(0, "a"), gpu(1, "b")]);
        let current = desired_labels(&a).unwrap();
        let mut b = a.clone();
        b.gpus[0].health.healthy = false;
        b.gpus[0].reading.utilization_percent = 99;
        let patch = label_patch(&current, &desired_labels(&b).unwrap()).unwrap();
        assert_eq!(patch, json!({"metadata": {"labels": {HEALTHY_COUNT: "1"}}}));
    }
}
