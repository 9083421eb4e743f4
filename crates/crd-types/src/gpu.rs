//! API group `gpu.mlfleet.io/v1alpha1`: GPUNode, one per GPU node, written by the
//! gpu-node-agent (status only).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// The API group of this module's kinds.
pub const GROUP: &str = "gpu.mlfleet.io";

/// Condition types a GPUNode reports.
pub mod condition_types {
    /// The GPU backend (NVML or the simulator) is loaded and answering.
    pub const GPU_BACKEND_READY: &str = "GpuBackendReady";
    /// Every GPU of the node is healthy.
    pub const HEALTHY: &str = "Healthy";
}

/// GPUNode has no desired state: the object is named after its Node and everything it
/// says lives in status, written by the node's gpu-node-agent.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "gpu.mlfleet.io",
    version = "v1alpha1",
    kind = "GPUNode",
    plural = "gpunodes",
    singular = "gpunode",
    shortname = "gn",
    category = "mlfleet",
    status = "GPUNodeStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "The GPUs of one node as seen by its gpu-node-agent: inventory, health, driver and CUDA versions, heartbeat. Named after the Node and owned by it.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "GPUs",
        type_ = "integer",
        json_path = ".status.gpuCount",
        description = "GPUs found on the node"
    ),
    printcolumn(
        name = "Healthy",
        type_ = "integer",
        json_path = ".status.healthyCount",
        description = "GPUs currently healthy"
    ),
    printcolumn(
        name = "Product",
        type_ = "string",
        json_path = ".status.product",
        description = "GPU model name"
    ),
    printcolumn(
        name = "Driver",
        type_ = "string",
        json_path = ".status.driverVersion",
        description = "NVIDIA driver version"
    ),
    printcolumn(
        name = "CUDA",
        type_ = "string",
        json_path = ".status.cudaVersion",
        priority = 1,
        description = "CUDA version supported by the driver"
    ),
    printcolumn(
        name = "Heartbeat",
        type_ = "date",
        json_path = ".status.lastHeartbeat",
        description = "Last time the agent confirmed the status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct GPUNodeSpec {}

/// Observed GPUs of a node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GPUNodeStatus {
    /// Name of the Node the GPUs belong to.
    #[serde(default)]
    pub node_name: String,
    /// Standard conditions: GpuBackendReady, Healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Which backend produced the inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<GpuBackendKind>,
    /// Number of GPUs found.
    #[serde(default)]
    pub gpu_count: i32,
    /// Number of GPUs currently healthy.
    #[serde(default)]
    pub healthy_count: i32,
    /// Model name of the node's GPUs (of GPU 0 when they differ), as in `nvidia.com/gpu.product`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// NVIDIA driver version, for example `550.54.15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// Highest CUDA version the driver supports, for example `12.4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_version: Option<String>,
    /// Per-GPU inventory and health, ordered by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["uuid"]))]
    pub gpus: Vec<GpuDevice>,
    /// Last time the agent confirmed this status (slow heartbeat, not per sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<Time>,
}

/// Which backend produced the GPU inventory.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum GpuBackendKind {
    /// NVIDIA Management Library of the installed driver.
    NVML,
    /// Simulated inventory (tests, kwok nodes).
    Simulated,
}

/// One GPU of a node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuDevice {
    /// Index of the GPU on the node (as in nvidia-smi).
    pub index: i32,
    /// GPU UUID, for example `GPU-5f2c...`.
    pub uuid: String,
    /// Model name, for example `NVIDIA H100 80GB HBM3`.
    pub model: String,
    /// Total framebuffer memory in MiB.
    pub memory_mib: i64,
    /// MIG mode of the GPU.
    #[serde(default)]
    pub mig_mode: MigMode,
    /// Health as judged by the agent (XID events, ECC errors, NVML access).
    pub health: GpuHealth,
    /// Why the GPU is unhealthy, for example `XID 79` or `uncorrectable ECC errors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_reason: Option<String>,
    /// Last critical XID event seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_xid: Option<i64>,
    /// Volatile uncorrectable ECC error count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_uncorrectable_errors: Option<i64>,
    /// Whether the GPU may be given to new work (healthy and not reserved).
    pub allocatable: bool,
}

/// MIG mode of a GPU.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum MigMode {
    /// MIG is supported and disabled.
    #[default]
    Disabled,
    /// MIG is enabled.
    Enabled,
    /// The GPU does not support MIG.
    Unsupported,
}

/// Health of a GPU.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum GpuHealth {
    /// Usable.
    Healthy,
    /// Not usable until it recovers.
    Unhealthy,
    /// The agent could not determine the health.
    Unknown,
}

impl GPUNodeStatus {
    /// GPUs that are healthy and allocatable.
    pub fn allocatable_gpus(&self) -> usize {
        self.gpus
            .iter()
            .filter(|g| g.allocatable && g.health == GpuHealth::Healthy)
            .count()
    }
}
