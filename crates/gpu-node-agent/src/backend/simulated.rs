//! Simulated backend: GPU inventory from a YAML/JSON file or from flags.
//!
//! The file is re-read on every call and re-parsed when its bytes change, so a test
//! (or an operator on a kwok node) changes the node's GPUs while the agent runs by
//! rewriting the file: append an XID to a GPU's `xids` list to deliver an XID event,
//! raise `eccUncorrectable`, set `lost: true`, set `failEventWait: true` or
//! `unavailable: "<why>"`. Writers should replace the file atomically (write a
//! temporary file, then rename it) so the agent never reads half a file; a file that
//! does not parse is logged and the last good inventory stays in force.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    BackendError, BackendKind, CudaVersion, EccCounters, GpuBackend, GpuEvent, GpuReading, MIB,
    MigMode, NodeReading,
};

/// Driver version reported when the inventory names none.
pub const DEFAULT_DRIVER_VERSION: &str = "550.54.15";
/// CUDA version reported when the inventory names none.
pub const DEFAULT_CUDA_VERSION: &str = "12.4";

/// The simulated node, as written in the inventory file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimInventory {
    /// Driver version, e.g. `550.54.15`.
    #[serde(default)]
    pub driver_version: Option<String>,
    /// CUDA version as `major.minor`, e.g. `12.4`.
    #[serde(default)]
    pub cuda_version: Option<String>,
    /// Whether XID events can be observed (default true).
    #[serde(default = "default_true")]
    pub events_supported: bool,
    /// When true every event wait fails, as a broken NVML event set would.
    #[serde(default)]
    pub fail_event_wait: bool,
    /// When set every read fails with this message, as if NVML were lost.
    #[serde(default)]
    pub unavailable: Option<String>,
    /// The GPUs, in index order.
    #[serde(default)]
    pub gpus: Vec<SimGpu>,
}

fn default_true() -> bool {
    true
}

/// One simulated GPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimGpu {
    /// Device index; defaults to the position in the list.
    #[serde(default)]
    pub index: Option<u32>,
    /// UUID; defaults to one derived from the node name and index.
    #[serde(default)]
    pub uuid: Option<String>,
    /// Product name.
    pub name: String,
    /// PCI bus id.
    #[serde(default)]
    pub pci_bus_id: Option<String>,
    /// Installed memory, MiB.
    #[serde(rename = "memoryTotalMiB")]
    pub memory_total_mib: u64,
    /// Allocated memory, MiB.
    #[serde(default, rename = "memoryUsedMiB")]
    pub memory_used_mib: u64,
    /// Utilization percent.
    #[serde(default)]
    pub utilization_percent: u32,
    /// Temperature, Celsius.
    #[serde(default)]
    pub temperature_celsius: u32,
    /// Power draw, watts.
    #[serde(default)]
    pub power_watts: f64,
    /// Enforced power limit, watts (0: unknown).
    #[serde(default)]
    pub power_limit_watts: f64,
    /// Memory-controller utilization percent.
    #[serde(default)]
    pub memory_utilization_percent: u32,
    /// MIG mode.
    #[serde(default)]
    pub mig_mode: MigMode,
    /// Volatile uncorrectable ECC errors (absent: ECC not supported).
    #[serde(default)]
    pub ecc_uncorrectable: Option<u64>,
    /// XID errors that have occurred, oldest first. Entries appended while the
    /// agent runs are delivered as events; entries present at start are
    /// delivered once at start.
    #[serde(default)]
    pub xids: Vec<u64>,
    /// When true the device cannot be read (fallen off the bus).
    #[serde(default)]
    pub lost: bool,
}

/// Inventory described by command-line flags instead of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct SimFlags {
    /// Number of GPUs.
    pub count: u32,
    /// Product name of every GPU.
    pub model: String,
    /// Memory of every GPU, MiB.
    pub memory_mib: u64,
}

impl SimFlags {
    /// Turns the flags into an inventory.
    pub fn to_inventory(&self) -> SimInventory {
        SimInventory {
            events_supported: true,
            gpus: (0..self.count)
                .map(|i| SimGpu {
                    index: Some(i),
                    name: self.model.clone(),
                    memory_total_mib: self.memory_mib,
                    temperature_celsius: 30,
                    power_watts: 50.0,
                    ..SimGpu::default()
                })
                .collect(),
            ..SimInventory::default()
        }
    }
}

/// Where the simulated inventory comes from.
#[derive(Clone, Debug)]
pub enum SimSource {
    /// A YAML or JSON file, re-read while the agent runs.
    File(PathBuf),
    /// Fixed inventory from flags.
    Flags(SimFlags),
}

/// The simulated backend.
#[derive(Debug)]
pub struct SimulatedBackend {
    node_name: String,
    source: SimSource,
    last_bytes: Option<Vec<u8>>,
    last_bad_bytes: Option<Vec<u8>>,
    inventory: SimInventory,
    /// XIDs already delivered, per UUID.
    delivered_xids: HashMap<String, usize>,
    pending: Vec<GpuEvent>,
}

impl SimulatedBackend {
    /// Opens the backend; the file must exist and parse now (later bad edits are
    /// logged and ignored).
    pub fn new(node_name: &str, source: SimSource) -> Result<Self, BackendError> {
        let mut backend = SimulatedBackend {
            node_name: node_name.to_owned(),
            source,
            last_bytes: None,
            last_bad_bytes: None,
            inventory: SimInventory::default(),
            delivered_xids: HashMap::new(),
            pending: Vec::new(),
        };
        match backend.source.clone() {
            SimSource::File(path) => {
                let bytes = read_file(&path)?;
                let inventory = parse_inventory(&bytes, &path.display().to_string())?;
                backend.last_bytes = Some(bytes);
                backend.install(inventory);
            }
            SimSource::Flags(flags) => {
                let inventory = flags.to_inventory();
                validate(&inventory, "flags")?;
                backend.install(inventory);
            }
        }
        Ok(backend)
    }

    /// The inventory in force.
    pub fn inventory(&self) -> &SimInventory {
        &self.inventory
    }

    /// Re-reads the file when it changed; a bad file keeps the last good inventory.
    fn refresh(&mut self) {
        let SimSource::File(path) = &self.source else {
            return;
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot re-read simulated inventory; keeping the last one");
                return;
            }
        };
        if self.last_bytes.as_deref() == Some(bytes.as_slice())
            || self.last_bad_bytes.as_deref() == Some(bytes.as_slice())
        {
            return;
        }
        match parse_inventory(&bytes, &path.display().to_string()) {
            Ok(inventory) => {
                tracing::info!(path = %path.display(), gpus = inventory.gpus.len(), "simulated inventory changed");
                self.last_bytes = Some(bytes);
                self.last_bad_bytes = None;
                self.install(inventory);
            }
            Err(e) => {
                tracing::warn!(error = %e, "ignoring simulated inventory change");
                self.last_bad_bytes = Some(bytes);
            }
        }
    }

    /// Makes `inventory` current and queues events for XIDs not yet delivered.
    fn install(&mut self, inventory: SimInventory) {
        for (pos, gpu) in inventory.gpus.iter().enumerate() {
            let uuid = self.uuid_of(pos, gpu);
            let delivered = self.delivered_xids.entry(uuid.clone()).or_insert(0);
            if gpu.xids.len() < *delivered {
                // The list was shortened (cleared after a reset): start over.
                *delivered = gpu.xids.len();
            }
            for xid in &gpu.xids[*delivered..] {
                self.pending.push(GpuEvent::Xid {
                    uuid: uuid.clone(),
                    xid: *xid,
                });
            }
            *delivered = gpu.xids.len();
        }
        self.inventory = inventory;
    }

    fn uuid_of(&self, pos: usize, gpu: &SimGpu) -> String {
        gpu.uuid
            .clone()
            .unwrap_or_else(|| derived_uuid(&self.node_name, gpu.index.unwrap_or(pos as u32)))
    }
}

impl GpuBackend for SimulatedBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Simulated
    }

    fn read(&mut self) -> Result<NodeReading, BackendError> {
        self.refresh();
        if let Some(why) = &self.inventory.unavailable {
            return Err(BackendError::SimulatedFailure(why.clone()));
        }
        let inv = &self.inventory;
        let gpus = inv
            .gpus
            .iter()
            .enumerate()
            .map(|(pos, g)| {
                let total = g.memory_total_mib * MIB;
                let used = g.memory_used_mib.min(g.memory_total_mib) * MIB;
                let mut r = GpuReading {
                    index: g.index.unwrap_or(pos as u32),
                    uuid: self.uuid_of(pos, g),
                    name: g.name.clone(),
                    pci_bus_id: g.pci_bus_id.clone().unwrap_or_default(),
                    memory_total_bytes: total,
                    memory_used_bytes: used,
                    memory_free_bytes: total - used,
                    utilization_percent: g.utilization_percent,
                    temperature_celsius: g.temperature_celsius,
                    power_milliwatts: (g.power_watts * 1000.0).round() as u32,
                    power_limit_milliwatts: (g.power_limit_watts * 1000.0).round() as u32,
                    memory_utilization_percent: g.memory_utilization_percent,
                    mig_mode: g.mig_mode,
                    ecc: g.ecc_uncorrectable.map(|n| EccCounters {
                        volatile_uncorrected: n,
                        aggregate_uncorrected: n,
                        ..EccCounters::default()
                    }),
                    access_error: None,
                };
                if g.lost {
                    r.memory_used_bytes = 0;
                    r.memory_free_bytes = 0;
                    r.utilization_percent = 0;
                    r.temperature_celsius = 0;
                    r.power_milliwatts = 0;
                    r.access_error = Some("GPU is lost (simulated)".to_owned());
                }
                r
            })
            .collect();
        let cuda = inv.cuda_version.as_deref().unwrap_or(DEFAULT_CUDA_VERSION);
        Ok(NodeReading {
            driver_version: inv
                .driver_version
                .clone()
                .unwrap_or_else(|| DEFAULT_DRIVER_VERSION.to_owned()),
            cuda_version: parse_cuda(cuda),
            gpus,
        })
    }

    fn wait_events(&mut self, timeout: Duration) -> Result<Vec<GpuEvent>, BackendError> {
        self.refresh();
        if self.pending.is_empty() {
            std::thread::sleep(timeout);
            self.refresh();
        }
        if self.inventory.fail_event_wait {
            return Err(BackendError::EventWait(
                "simulated event wait failure".to_owned(),
            ));
        }
        if !self.inventory.events_supported {
            self.pending.clear();
        }
        Ok(std::mem::take(&mut self.pending))
    }

    fn events_supported(&self) -> bool {
        self.inventory.events_supported
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, BackendError> {
    std::fs::read(path).map_err(|e| BackendError::InventoryRead {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Parses a YAML or JSON inventory and checks it.
pub fn parse_inventory(bytes: &[u8], source_name: &str) -> Result<SimInventory, BackendError> {
    let inventory: SimInventory =
        serde_yaml::from_slice(bytes).map_err(|e| BackendError::InvalidInventory {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
    validate(&inventory, source_name)?;
    Ok(inventory)
}

fn validate(inv: &SimInventory, source_name: &str) -> Result<(), BackendError> {
    let bad = |message: String| BackendError::InvalidInventory {
        source_name: source_name.to_owned(),
        message,
    };
    if let Some(c) = &inv.cuda_version
        && parse_cuda(c).is_none()
    {
        return Err(bad(format!("cudaVersion {c:?} is not MAJOR.MINOR")));
    }
    let mut indices = std::collections::BTreeSet::new();
    let mut uuids = std::collections::BTreeSet::new();
    for (pos, g) in inv.gpus.iter().enumerate() {
        let index = g.index.unwrap_or(pos as u32);
        if !indices.insert(index) {
            return Err(bad(format!("GPU index {index} appears twice")));
        }
        if let Some(u) = &g.uuid
            && !uuids.insert(u.clone())
        {
            return Err(bad(format!("GPU uuid {u} appears twice")));
        }
        if g.name.trim().is_empty() {
            return Err(bad(format!("GPU {index} has an empty name")));
        }
        if g.memory_total_mib == 0 {
            return Err(bad(format!("GPU {index} has memoryTotalMiB 0")));
        }
        if g.memory_used_mib > g.memory_total_mib {
            return Err(bad(format!(
                "GPU {index} uses {} MiB of {} MiB",
                g.memory_used_mib, g.memory_total_mib
            )));
        }
        if g.utilization_percent > 100 {
            return Err(bad(format!(
                "GPU {index} utilizationPercent {} is above 100",
                g.utilization_percent
            )));
        }
        if !(g.power_watts.is_finite() && g.power_watts >= 0.0) {
            return Err(bad(format!("GPU {index} powerWatts must be >= 0")));
        }
        if !(g.power_limit_watts.is_finite() && g.power_limit_watts >= 0.0) {
            return Err(bad(format!("GPU {index} powerLimitWatts must be >= 0")));
        }
        if g.memory_utilization_percent > 100 {
            return Err(bad(format!(
                "GPU {index} memoryUtilizationPercent {} is above 100",
                g.memory_utilization_percent
            )));
        }
    }
    Ok(())
}

fn parse_cuda(s: &str) -> Option<CudaVersion> {
    let (major, minor) = s.trim().split_once('.')?;
    Some(CudaVersion {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    })
}

/// A stable, UUID-shaped id for a simulated GPU: `GPU-` and 32 hex digits hashed
/// from the node name and index, so restarts keep the same identity.
pub fn derived_uuid(node_name: &str, index: u32) -> String {
    let a = fnv1a(format!("{node_name}/{index}/a").as_bytes());
    let b = fnv1a(format!("{node_name}/{index}/b").as_bytes());
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVENTORY: &str = r#"
driverVersion: "535.104.05"
cudaVersion: "12.2"
gpus:
  - name: NVIDIA A100-SXM4-80GB
    memoryTotalMiB: 81920
    memoryUsedMiB: 1024
    utilizationPercent: 40
    temperatureCelsius: 41
    powerWatts: 88.5
    migMode: disabled
    eccUncorrectable: 0
  - name: NVIDIA A100-SXM4-80GB
    uuid: GPU-11111111-2222-3333-4444-555555555555
    memoryTotalMiB: 81920
"#;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("inventory.yaml");
        let tmp = dir.join("inventory.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gpu-node-agent-sim-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_file_inventory() {
        let dir = tempdir("reads");
        let path = write(&dir, INVENTORY);
        let mut b = SimulatedBackend::new("node-a", SimSource::File(path)).unwrap();
        let r = b.read().unwrap();
        assert_eq!(r.driver_version, "535.104.05");
        assert_eq!(
            r.cuda_version,
            Some(CudaVersion {
                major: 12,
                minor: 2
            })
        );
        assert_eq!(r.gpus.len(), 2);
        let g0 = &r.gpus[0];
        assert_eq!(g0.index, 0);
        assert_eq!(g0.uuid, derived_uuid("node-a", 0));
        assert_eq!(g0.memory_total_bytes, 81920 * MIB);
        assert_eq!(g0.memory_used_bytes, 1024 * MIB);
        assert_eq!(g0.memory_free_bytes, (81920 - 1024) * MIB);
        assert_eq!(g0.power_milliwatts, 88_500);
        assert_eq!(g0.mig_mode, MigMode::Disabled);
        assert_eq!(r.gpus[1].index, 1);
        assert_eq!(r.gpus[1].uuid, "GPU-11111111-2222-3333-4444-555555555555");
    }

    #[test]
    fn json_inventory_is_accepted() {
        let json = r#"{"gpus":[{"name":"Tesla T4","memoryTotalMiB":15360}]}"#;
        let inv = parse_inventory(json.as_bytes(), "inline").unwrap();
        assert_eq!(inv.gpus[0].name, "Tesla T4");
    }

    #[test]
    fn derived_uuids_are_stable_and_distinct() {
        let a = derived_uuid("node-a", 0);
        assert_eq!(a, derived_uuid("node-a", 0));
        assert_ne!(a, derived_uuid("node-a", 1));
        assert_ne!(a, derived_uuid("node-b", 0));
        assert_eq!(a.len(), "GPU-".len() + 36);
    }

    #[test]
    fn appended_xids_become_events_once() {
        let dir = tempdir("xids");
        let path = write(&dir, INVENTORY);
        let mut b = SimulatedBackend::new("node-a", SimSource::File(path)).unwrap();
        assert!(b.wait_events(Duration::ZERO).unwrap().is_empty());
        let changed =
            INVENTORY.replace("eccUncorrectable: 0", "eccUncorrectable: 0\n    xids: [79]");
        write(&dir, &changed);
        let events = b.wait_events(Duration::ZERO).unwrap();
        assert_eq!(
            events,
            vec![GpuEvent::Xid {
                uuid: derived_uuid("node-a", 0),
                xid: 79
            }]
        );
        // Delivered once only.
        assert!(b.wait_events(Duration::ZERO).unwrap().is_empty());
        let more = INVENTORY.replace(
            "eccUncorrectable: 0",
            "eccUncorrectable: 0\n    xids: [79, 48]",
        );
        write(&dir, &more);
        let events = b.wait_events(Duration::ZERO).unwrap();
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0], GpuEvent::Xid { xid: 48, .. }));
    }

    #[test]
    fn bad_edit_keeps_last_good_inventory() {
        let dir = tempdir("bad");
        let path = write(&dir, INVENTORY);
        let mut b = SimulatedBackend::new("node-a", SimSource::File(path)).unwrap();
        write(&dir, "gpus: [ {name: x, memoryTotalMiB: 0} ]");
        let r = b.read().unwrap();
        assert_eq!(r.gpus.len(), 2);
    }

    #[test]
    fn lost_gpu_and_unavailable_backend() {
        let dir = tempdir("lost");
        let lost = INVENTORY.replace("eccUncorrectable: 0", "eccUncorrectable: 0\n    lost: true");
        let path = write(&dir, &lost);
        let mut b = SimulatedBackend::new("node-a", SimSource::File(path)).unwrap();
        let r = b.read().unwrap();
        assert!(r.gpus[0].access_error.is_some());
        assert_eq!(r.gpus[0].memory_free_bytes, 0);
        assert!(r.gpus[1].access_error.is_none());
        write(&dir, &format!("unavailable: driver unloaded\n{INVENTORY}"));
        assert!(
            matches!(b.read(), Err(BackendError::SimulatedFailure(m)) if m == "driver unloaded")
        );
    }

    #[test]
    fn event_wait_failure_is_an_error() {
        let dir = tempdir("wait");
        let path = write(&dir, &format!("failEventWait: true\n{INVENTORY}"));
        let mut b = SimulatedBackend::new("node-a", SimSource::File(path)).unwrap();
        assert!(matches!(
            b.wait_events(Duration::ZERO),
            Err(BackendError::EventWait(_))
        ));
    }

    #[test]
    fn invalid_inventories_are_typed_errors() {
        for (text, needle) in [
            (
                "gpus: [{name: a, memoryTotalMiB: 10, memoryUsedMiB: 11}]",
                "uses 11 MiB",
            ),
            (
                "gpus: [{name: a, memoryTotalMiB: 10, index: 1}, {name: b, memoryTotalMiB: 10, index: 1}]",
                "appears twice",
            ),
            (
                "gpus: [{name: a, memoryTotalMiB: 10, utilizationPercent: 101}]",
                "above 100",
            ),
            ("cudaVersion: twelve\ngpus: []", "MAJOR.MINOR"),
            (
                "gpus: [{name: a, memoryTotalMiB: 10, colour: red}]",
                "unknown field",
            ),
            ("gpus: [{name: a}]", "memoryTotalMiB"),
        ] {
            let err = parse_inventory(text.as_bytes(), "t").unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn missing_file_is_a_typed_error() {
        let err = SimulatedBackend::new("n", SimSource::File("/nonexistent/inv.yaml".into()))
            .unwrap_err();
        assert!(matches!(err, BackendError::InventoryRead { .. }));
    }

    #[test]
    fn flags_inventory() {
        let flags = SimFlags {
            count: 4,
            model: "NVIDIA H100 80GB HBM3".into(),
            memory_mib: 81559,
        };
        let mut b = SimulatedBackend::new("node-f", SimSource::Flags(flags)).unwrap();
        let r = b.read().unwrap();
        assert_eq!(r.gpus.len(), 4);
        assert_eq!(r.gpus[3].index, 3);
        assert_eq!(r.gpus[3].memory_free_bytes, 81559 * MIB);
        assert_eq!(r.driver_version, DEFAULT_DRIVER_VERSION);
    }
}
