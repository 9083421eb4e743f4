//! NVML backend: reads real GPUs through libnvidia-ml, opened at run time.
//!
//! Nothing here links against CUDA or the driver at build time; `nvml-wrapper` loads
//! the shared library with `dlopen` when [`NvmlBackend::init`] runs. A node without
//! the library gets [`BackendError::LibraryUnavailable`], which the sampler turns into a
//! log line and a `GpuBackendReady=False` condition, and retries later.
//!
//! The NVML handle is created once per successful initialisation and deliberately
//! kept for the life of the process (the event set borrows it); re-initialisation
//! only happens after NVML itself was lost, which is rare.

use std::ffi::OsStr;
use std::time::Duration;

use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enum_wrappers::device::{EccCounter, MemoryError, TemperatureSensor};
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::event::EventSet;

use super::{
    BackendError, BackendKind, CudaVersion, EccCounters, GpuBackend, GpuEvent, GpuReading, MigMode,
    NodeReading,
};

/// Library names tried when no explicit path is given. Driver-only installs ship
/// the versioned name; development installs add the unversioned link.
pub const DEFAULT_LIBRARY_NAMES: &[&str] = &["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// Identity of a device, remembered so a GPU that stops answering keeps its UUID.
#[derive(Clone, Debug, Default)]
struct Identity {
    uuid: String,
    name: String,
    pci_bus_id: String,
    memory_total_bytes: u64,
    mig_mode: MigMode,
}

/// Backend over NVML.
pub struct NvmlBackend {
    nvml: &'static Nvml,
    events: Option<EventSet<'static>>,
    known: Vec<Option<Identity>>,
}

impl std::fmt::Debug for NvmlBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlBackend")
            .field("events", &self.events.is_some())
            .field("devices", &self.known.len())
            .finish()
    }
}

impl NvmlBackend {
    /// Loads libnvidia-ml (from `library` or the default names), initialises it and
    /// registers critical-XID and double-bit-ECC events on every device that
    /// supports them.
    pub fn init(library: Option<&str>) -> Result<Self, BackendError> {
        let nvml = load(library)?;
        let nvml: &'static Nvml = Box::leak(Box::new(nvml));
        let count = nvml
            .device_count()
            .map_err(|e| nvml_err("nvmlDeviceGetCount", e))?;
        let events = register_events(nvml, count);
        Ok(NvmlBackend {
            nvml,
            events,
            known: vec![None; count as usize],
        })
    }

    fn read_device(&mut self, index: u32) -> GpuReading {
        let slot = index as usize;
        match read_device(self.nvml, index) {
            Ok(reading) => {
                self.known[slot] = Some(Identity {
                    uuid: reading.uuid.clone(),
                    name: reading.name.clone(),
                    pci_bus_id: reading.pci_bus_id.clone(),
                    memory_total_bytes: reading.memory_total_bytes,
                    mig_mode: reading.mig_mode,
                });
                reading
            }
            Err(e) => {
                let id = self.known[slot].clone().unwrap_or_else(|| Identity {
                    uuid: format!("unknown-index-{index}"),
                    name: "unknown".to_owned(),
                    ..Identity::default()
                });
                GpuReading {
                    index,
                    uuid: id.uuid,
                    name: id.name,
                    pci_bus_id: id.pci_bus_id,
                    memory_total_bytes: id.memory_total_bytes,
                    mig_mode: id.mig_mode,
                    access_error: Some(e.to_string()),
                    ..GpuReading::default()
                }
            }
        }
    }
}

fn load(library: Option<&str>) -> Result<Nvml, BackendError> {
    let candidates: Vec<&str> = match library {
        Some(path) => vec![path],
        None => DEFAULT_LIBRARY_NAMES.to_vec(),
    };
    let mut failures = Vec::new();
    for name in candidates {
        match Nvml::builder().lib_path(OsStr::new(name)).init() {
            Ok(nvml) => return Ok(nvml),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    Err(BackendError::LibraryUnavailable(failures.join("; ")))
}

fn nvml_err(call: &'static str, e: NvmlError) -> BackendError {
    BackendError::Nvml {
        call,
        message: e.to_string(),
    }
}

fn register_events(nvml: &'static Nvml, count: u32) -> Option<EventSet<'static>> {
    let mut set = match nvml.create_event_set() {
        Ok(set) => set,
        Err(e) => {
            tracing::warn!(error = %e, "NVML event sets are not available; XID events will not be seen");
            return None;
        }
    };
    let mut registered = 0;
    for index in 0..count {
        let Ok(device) = nvml.device_by_index(index) else {
            continue;
        };
        let wanted = EventTypes::CRITICAL_XID_ERROR | EventTypes::DOUBLE_BIT_ECC_ERROR;
        let supported = match device.supported_event_types() {
            Ok(s) => s & wanted,
            Err(e) => {
                tracing::warn!(index, error = %e, "cannot query supported event types");
                continue;
            }
        };
        if supported.is_empty() {
            continue;
        }
        // register_events consumes the set and frees it on failure; rebuild then.
        match device.register_events(supported, set) {
            Ok(s) => {
                set = s;
                registered += 1;
            }
            Err(e) => {
                tracing::warn!(index, error = %e, "cannot register GPU events");
                set = match nvml.create_event_set() {
                    Ok(s) => s,
                    Err(_) => return None,
                };
                registered = 0;
            }
        }
    }
    if registered == 0 {
        tracing::warn!("no GPU supports XID events; health relies on readings only");
        return None;
    }
    Some(set)
}

fn read_device(nvml: &Nvml, index: u32) -> Result<GpuReading, NvmlError> {
    let d = nvml.device_by_index(index)?;
    let uuid = d.uuid()?;
    let name = d.name()?;
    let mem = d.memory_info()?;
    let pci_bus_id = d.pci_info().map(|p| p.bus_id).unwrap_or_default();
    // Optional readings: NotSupported on some products is not a failure.
    let utilization = optional(d.utilization_rates())?;
    let utilization_percent = utilization.as_ref().map_or(0, |u| u.gpu);
    let memory_utilization_percent = utilization.as_ref().map_or(0, |u| u.memory);
    let temperature_celsius = optional(d.temperature(TemperatureSensor::Gpu))?.unwrap_or(0);
    let power_milliwatts = optional(d.power_usage())?.unwrap_or(0);
    let mig_mode = match optional(d.mig_mode())? {
        None => MigMode::Unsupported,
        Some(m) if m.current != 0 => MigMode::Enabled,
        Some(_) => MigMode::Disabled,
    };
    let ecc = read_ecc(&d)?;
    let power_limit_milliwatts = optional(d.enforced_power_limit())?.unwrap_or(0);
    Ok(GpuReading {
        index,
        uuid,
        name,
        pci_bus_id,
        memory_total_bytes: mem.total,
        memory_used_bytes: mem.used,
        memory_free_bytes: mem.free,
        utilization_percent,
        memory_utilization_percent,
        temperature_celsius,
        power_milliwatts,
        power_limit_milliwatts,
        mig_mode,
        ecc,
        access_error: None,
    })
}

/// ECC counters, `None` when ECC is disabled or unsupported.
fn read_ecc(d: &nvml_wrapper::Device<'_>) -> Result<Option<EccCounters>, NvmlError> {
    let enabled = match optional(d.is_ecc_enabled())? {
        Some(state) => state.currently_enabled,
        None => false,
    };
    if !enabled {
        return Ok(None);
    }
    let count =
        |kind, counter| optional(d.total_ecc_errors(kind, counter)).map(Option::unwrap_or_default);
    Ok(Some(EccCounters {
        volatile_corrected: count(MemoryError::Corrected, EccCounter::Volatile)?,
        volatile_uncorrected: count(MemoryError::Uncorrected, EccCounter::Volatile)?,
        aggregate_corrected: count(MemoryError::Corrected, EccCounter::Aggregate)?,
        aggregate_uncorrected: count(MemoryError::Uncorrected, EccCounter::Aggregate)?,
    }))
}

/// Maps "this product does not have that" to `None`, keeping real failures.
fn optional<T>(r: Result<T, NvmlError>) -> Result<Option<T>, NvmlError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(NvmlError::NotSupported | NvmlError::InvalidArg | NvmlError::FailedToLoadSymbol(_)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl GpuBackend for NvmlBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Nvml
    }

    fn read(&mut self) -> Result<NodeReading, BackendError> {
        let count = self
            .nvml
            .device_count()
            .map_err(|e| nvml_err("nvmlDeviceGetCount", e))?;
        if count as usize > self.known.len() {
            self.known.resize(count as usize, None);
        }
        let driver_version = self
            .nvml
            .sys_driver_version()
            .map_err(|e| nvml_err("nvmlSystemGetDriverVersion", e))?;
        let cuda_version = self
            .nvml
            .sys_cuda_driver_version()
            .ok()
            .and_then(CudaVersion::from_nvml);
        let gpus = (0..count).map(|i| self.read_device(i)).collect();
        Ok(NodeReading {
            driver_version,
            cuda_version,
            gpus,
        })
    }

    fn wait_events(&mut self, timeout: Duration) -> Result<Vec<GpuEvent>, BackendError> {
        let Some(set) = &self.events else {
            std::thread::sleep(timeout);
            return Ok(Vec::new());
        };
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        match set.wait(ms) {
            Ok(data) => {
                let uuid = data.device.uuid().unwrap_or_default();
                let mut out = Vec::new();
                if data.event_type.contains(EventTypes::CRITICAL_XID_ERROR) {
                    // An unknown XID value is still a critical error; 999 marks it.
                    let xid = match data.event_data {
                        Some(XidError::Value(v)) => v,
                        _ => 999,
                    };
                    out.push(GpuEvent::Xid {
                        uuid: uuid.clone(),
                        xid,
                    });
                }
                if data.event_type.contains(EventTypes::DOUBLE_BIT_ECC_ERROR) {
                    out.push(GpuEvent::UncorrectableEcc { uuid });
                }
                Ok(out)
            }
            Err(NvmlError::Timeout) => Ok(Vec::new()),
            Err(e) => Err(BackendError::EventWait(e.to_string())),
        }
    }

    fn events_supported(&self) -> bool {
        self.events.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_is_a_clear_error() {
        let err = NvmlBackend::init(Some("/nonexistent/libnvidia-ml.so.1")).unwrap_err();
        match err {
            BackendError::LibraryUnavailable(msg) => {
                assert!(msg.contains("/nonexistent/libnvidia-ml.so.1"), "{msg}")
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn optional_keeps_real_failures() {
        assert_eq!(optional::<u32>(Err(NvmlError::NotSupported)).unwrap(), None);
        assert!(optional::<u32>(Err(NvmlError::GpuLost)).is_err());
        assert_eq!(optional(Ok(3u32)).unwrap(), Some(3));
    }
}
