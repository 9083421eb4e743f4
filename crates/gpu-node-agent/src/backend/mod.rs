//! GPU backends: where readings and device events come from.
//!
//! Everything above [`GpuBackend`] (health, labels, metrics, status, gRPC) is the same
//! code whichever backend runs: NVML on real GPU nodes, the simulated backend on kwok
//! nodes and in tests.

pub mod nvml;
pub mod simulated;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which backend produced a reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// NVIDIA Management Library, loaded at run time.
    Nvml,
    /// Inventory from a file or flags.
    Simulated,
}

impl BackendKind {
    /// The name used on the command line and in status.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Nvml => "nvml",
            BackendKind::Simulated => "simulated",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Multi-Instance GPU mode of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MigMode {
    /// The device cannot be partitioned.
    #[default]
    Unsupported,
    /// MIG capable, currently off.
    Disabled,
    /// MIG capable and on.
    Enabled,
}

impl MigMode {
    /// True when the device supports MIG at all.
    pub fn capable(self) -> bool {
        !matches!(self, MigMode::Unsupported)
    }

    /// Lower-case name for status and gRPC.
    pub fn as_str(self) -> &'static str {
        match self {
            MigMode::Unsupported => "unsupported",
            MigMode::Disabled => "disabled",
            MigMode::Enabled => "enabled",
        }
    }
}

/// One reading of one GPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuReading {
    /// Device index as the driver numbers it (`nvidia<index>`).
    pub index: u32,
    /// Globally unique immutable id, `GPU-xxxxxxxx-...`.
    pub uuid: String,
    /// Product name as NVML reports it, e.g. `NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// PCI bus id, empty when unknown.
    pub pci_bus_id: String,
    /// Installed framebuffer memory, bytes.
    pub memory_total_bytes: u64,
    /// Allocated framebuffer memory, bytes.
    pub memory_used_bytes: u64,
    /// Unallocated framebuffer memory, bytes.
    pub memory_free_bytes: u64,
    /// Percent of the last sample period a kernel was running (0-100).
    pub utilization_percent: u32,
    /// Percent of the last sample period device memory was read or written (0-100).
    pub memory_utilization_percent: u32,
    /// Die temperature, degrees Celsius.
    pub temperature_celsius: u32,
    /// Power draw, milliwatts.
    pub power_milliwatts: u32,
    /// Enforced power limit, milliwatts (0 when unknown).
    pub power_limit_milliwatts: u32,
    /// MIG mode.
    pub mig_mode: MigMode,
    /// ECC error counters; `None` when ECC is off or not supported.
    pub ecc: Option<EccCounters>,
    /// Set when the backend could not read this device (it fell off the bus,
    /// NVML answered with an error). The identity fields then hold the last
    /// values known for the index and the gauges are zero.
    pub access_error: Option<String>,
}

/// ECC error counters of one GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EccCounters {
    /// Corrected errors since the driver loaded.
    pub volatile_corrected: u64,
    /// Uncorrected (double-bit) errors since the driver loaded.
    pub volatile_uncorrected: u64,
    /// Corrected errors over the device's lifetime.
    pub aggregate_corrected: u64,
    /// Uncorrected errors over the device's lifetime.
    pub aggregate_uncorrected: u64,
}

/// CUDA version the driver supports, e.g. 12.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CudaVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl CudaVersion {
    /// Decodes NVML's integer form (`1000 * major + 10 * minor`).
    pub fn from_nvml(version: i32) -> Option<Self> {
        if version <= 0 {
            return None;
        }
        let v = version as u32;
        Some(CudaVersion {
            major: v / 1000,
            minor: (v % 1000) / 10,
        })
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One reading of every GPU on the node plus node-wide driver facts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeReading {
    /// Kernel driver version, e.g. `550.54.14`; empty when unknown.
    pub driver_version: String,
    /// CUDA version the driver supports.
    pub cuda_version: Option<CudaVersion>,
    /// GPUs ordered by index.
    pub gpus: Vec<GpuReading>,
}

/// A device event worth knowing about for health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuEvent {
    /// A critical XID error was reported for the device.
    Xid {
        /// Device UUID.
        uuid: String,
        /// XID code (see NVIDIA's XID catalogue).
        xid: u64,
    },
    /// An uncorrectable (double-bit) ECC error was reported for the device.
    UncorrectableEcc {
        /// Device UUID.
        uuid: String,
    },
}

/// What can go wrong talking to a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// libnvidia-ml could not be loaded or initialised.
    #[error("NVML is not available: {0}")]
    LibraryUnavailable(String),
    /// NVML answered with an error for a node-wide call.
    #[error("NVML call {call} failed: {message}")]
    Nvml {
        /// The NVML function that failed.
        call: &'static str,
        /// NVML's error text.
        message: String,
    },
    /// Waiting for device events failed (not a timeout).
    #[error("waiting for GPU events failed: {0}")]
    EventWait(String),
    /// The simulated inventory file could not be read.
    #[error("cannot read simulated inventory {path}: {message}")]
    InventoryRead {
        /// File path.
        path: String,
        /// I/O error text.
        message: String,
    },
    /// The simulated inventory asks for a backend failure (`unavailable:`).
    #[error("simulated backend failure: {0}")]
    SimulatedFailure(String),
    /// The simulated inventory is malformed or inconsistent.
    #[error("invalid simulated inventory {source_name}: {message}")]
    InvalidInventory {
        /// File path or `flags`.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// A source of GPU readings and device events.
///
/// Calls block (NVML is a synchronous C library); the sampler drives a backend
/// from its own thread.
pub trait GpuBackend: Send {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Reads every GPU once.
    fn read(&mut self) -> Result<NodeReading, BackendError>;

    /// Waits up to `timeout` for device events and returns those that arrived
    /// (possibly none). Returns early once at least one event is in hand.
    fn wait_events(&mut self, timeout: Duration) -> Result<Vec<GpuEvent>, BackendError>;

    /// Whether device events (XIDs) can be observed at all. When false, health
    /// rests on readings alone and status says so.
    fn events_supported(&self) -> bool;
}

/// Bytes in one MiB.
pub const MIB: u64 = 1024 * 1024;
