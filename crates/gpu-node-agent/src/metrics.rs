//! Prometheus metrics: per-GPU gauges with the DCGM exporter's names, units and
//! labels (so existing DCGM dashboards work unchanged), plus the agent's own counters.
//!
//! DCGM names and units (from dcgm-exporter's default counters):
//! `DCGM_FI_DEV_GPU_UTIL` (%), `DCGM_FI_DEV_FB_USED` / `DCGM_FI_DEV_FB_FREE` (MiB),
//! `DCGM_FI_DEV_GPU_TEMP` (C), `DCGM_FI_DEV_POWER_USAGE` (W),
//! `DCGM_FI_DEV_XID_ERRORS` (value of the last XID, 0 when none). Labels:
//! `gpu`, `UUID`, `pci_bus_id`, `device` (`nvidia<N>`), `modelName`, `Hostname`.
//!
//! The DCGM series live in their own registry without a name prefix and are served
//! on the DCGM exporter's port (`--dcgm-metrics-addr`, default `:9400`); the agent's
//! operational metrics go to the process registry on the admin port, prefixed
//! `mlfleet_` like every other mlfleet binary.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::backend::MIB;
use crate::snapshot::NodeSnapshot;

/// The label set dcgm-exporter puts on every per-GPU series.
#[allow(non_snake_case)]
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DcgmLabels {
    /// Device index.
    pub gpu: String,
    /// Device UUID.
    pub UUID: String,
    /// PCI bus id.
    pub pci_bus_id: String,
    /// Device node name, `nvidia<index>`.
    pub device: String,
    /// Product name.
    pub modelName: String,
    /// Node name.
    pub Hostname: String,
}

/// Every metric the agent exports.
#[derive(Debug, Default)]
pub struct AgentMetrics {
    gpu_util: Family<DcgmLabels, Gauge>,
    fb_used: Family<DcgmLabels, Gauge>,
    fb_free: Family<DcgmLabels, Gauge>,
    gpu_temp: Family<DcgmLabels, Gauge>,
    power_usage: Family<DcgmLabels, Gauge<f64, AtomicU64>>,
    xid_errors: Family<DcgmLabels, Gauge>,
    gpu_healthy: Family<DcgmLabels, Gauge>,
    backend_ready: Gauge,
    gpus_total: Gauge,
    gpus_healthy: Gauge,
    /// Samples taken.
    pub samples: Counter,
    /// Samples whose read failed.
    pub sample_errors: Counter,
    /// Failed event waits.
    pub event_wait_failures: Counter,
    /// GPUNode status writes.
    pub status_writes: Counter,
    /// Failed GPUNode status writes.
    pub status_write_errors: Counter,
    /// Node label patches sent.
    pub label_patches: Counter,
    /// Open WatchNodeGpus streams.
    pub watch_streams: Gauge,
    /// WatchNodeGpus messages sent.
    pub watch_messages: Counter,
    present: Mutex<HashSet<DcgmLabels>>,
}

impl AgentMetrics {
    /// Creates the metrics: the DCGM-named per-GPU gauges go into `dcgm` (a registry
    /// without prefix, served where dcgm-exporter would be), the agent's own
    /// counters into `agent` (the process registry, which prefixes `mlfleet_`).
    pub fn register(dcgm: &mut Registry, agent: &mut Registry) -> Self {
        let m = AgentMetrics::default();
        dcgm.register(
            "DCGM_FI_DEV_GPU_UTIL",
            "GPU utilization (in %)",
            m.gpu_util.clone(),
        );
        dcgm.register(
            "DCGM_FI_DEV_FB_USED",
            "Framebuffer memory used (in MiB)",
            m.fb_used.clone(),
        );
        dcgm.register(
            "DCGM_FI_DEV_FB_FREE",
            "Framebuffer memory free (in MiB)",
            m.fb_free.clone(),
        );
        dcgm.register(
            "DCGM_FI_DEV_GPU_TEMP",
            "GPU temperature (in C)",
            m.gpu_temp.clone(),
        );
        dcgm.register(
            "DCGM_FI_DEV_POWER_USAGE",
            "Power draw (in W)",
            m.power_usage.clone(),
        );
        dcgm.register(
            "DCGM_FI_DEV_XID_ERRORS",
            "Value of the last XID error encountered",
            m.xid_errors.clone(),
        );
        dcgm.register(
            "mlfleet_gpu_healthy",
            "1 when the agent considers the GPU healthy, else 0",
            m.gpu_healthy.clone(),
        );
        agent.register(
            "gpu_backend_ready",
            "1 when the GPU backend (NVML or simulated) answers, else 0",
            m.backend_ready.clone(),
        );
        agent.register(
            "gpu_node_gpus",
            "GPUs found on the node",
            m.gpus_total.clone(),
        );
        agent.register(
            "gpu_node_healthy_gpus",
            "GPUs on the node considered healthy",
            m.gpus_healthy.clone(),
        );
        agent.register("gpu_agent_samples", "GPU samples taken", m.samples.clone());
        agent.register(
            "gpu_agent_sample_errors",
            "GPU samples whose read failed",
            m.sample_errors.clone(),
        );
        agent.register(
            "gpu_agent_event_wait_failures",
            "Failed waits for GPU events",
            m.event_wait_failures.clone(),
        );
        agent.register(
            "gpu_agent_status_writes",
            "GPUNode status writes",
            m.status_writes.clone(),
        );
        agent.register(
            "gpu_agent_status_write_errors",
            "Failed GPUNode status writes",
            m.status_write_errors.clone(),
        );
        agent.register(
            "gpu_agent_label_patches",
            "Node label patches sent",
            m.label_patches.clone(),
        );
        agent.register(
            "gpu_agent_watch_streams",
            "Open WatchNodeGpus streams",
            m.watch_streams.clone(),
        );
        agent.register(
            "gpu_agent_watch_messages",
            "WatchNodeGpus messages sent",
            m.watch_messages.clone(),
        );
        m
    }

    /// Sets every per-GPU gauge from `snapshot` and drops series of GPUs that left.
    pub fn observe(&self, snapshot: &NodeSnapshot) {
        self.backend_ready.set(i64::from(snapshot.backend_ready));
        self.gpus_total.set(snapshot.gpus.len() as i64);
        self.gpus_healthy.set(snapshot.healthy_count() as i64);
        let mut now_present = HashSet::with_capacity(snapshot.gpus.len());
        for g in &snapshot.gpus {
            let r = &g.reading;
            let labels = DcgmLabels {
                gpu: r.index.to_string(),
                UUID: r.uuid.clone(),
                pci_bus_id: r.pci_bus_id.clone(),
                device: format!("nvidia{}", r.index),
                modelName: r.name.clone(),
                Hostname: snapshot.node_name.clone(),
            };
            self.gpu_util
                .get_or_create(&labels)
                .set(i64::from(r.utilization_percent));
            self.fb_used
                .get_or_create(&labels)
                .set((r.memory_used_bytes / MIB) as i64);
            self.fb_free
                .get_or_create(&labels)
                .set((r.memory_free_bytes / MIB) as i64);
            self.gpu_temp
                .get_or_create(&labels)
                .set(i64::from(r.temperature_celsius));
            self.power_usage
                .get_or_create(&labels)
                .set(f64::from(r.power_milliwatts) / 1000.0);
            self.xid_errors
                .get_or_create(&labels)
                .set(g.last_xid.as_ref().map_or(0, |x| x.code as i64));
            self.gpu_healthy
                .get_or_create(&labels)
                .set(i64::from(g.health.healthy));
            now_present.insert(labels);
        }
        let mut present = self.present.lock().unwrap_or_else(|e| e.into_inner());
        for gone in present.difference(&now_present) {
            self.gpu_util.remove(gone);
            self.fb_used.remove(gone);
            self.fb_free.remove(gone);
            self.gpu_temp.remove(gone);
            self.power_usage.remove(gone);
            self.xid_errors.remove(gone);
            self.gpu_healthy.remove(gone);
        }
        *present = now_present;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::XidRecord;
    use crate::snapshot::tests::{gpu, snapshot};
    use prometheus_client::encoding::text::encode;

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    fn registries() -> (Registry, Registry) {
        (Registry::default(), Registry::with_prefix("mlfleet"))
    }

    #[test]
    fn dcgm_names_labels_and_units() {
        let (mut registry, mut agent) = registries();
        let m = AgentMetrics::register(&mut registry, &mut agent);
        let mut s = snapshot(vec![gpu(0, "GPU-a")]);
        let r = &mut s.gpus[0].reading;
        r.utilization_percent = 42;
        r.memory_used_bytes = 1000 * MIB;
        r.memory_free_bytes = 80920 * MIB;
        r.temperature_celsius = 55;
        r.power_milliwatts = 123_500;
        r.pci_bus_id = "00000000:3B:00.0".into();
        s.gpus[0].last_xid = Some(XidRecord {
            code: 79,
            at: std::time::SystemTime::UNIX_EPOCH,
            ignored: false,
        });
        m.observe(&s);
        let text = render(&registry);
        let labels = r#"{gpu="0",UUID="GPU-a",pci_bus_id="00000000:3B:00.0",device="nvidia0",modelName="NVIDIA A100-SXM4-80GB",Hostname="node-a"}"#;
        for line in [
            format!("DCGM_FI_DEV_GPU_UTIL{labels} 42"),
            format!("DCGM_FI_DEV_FB_USED{labels} 1000"),
            format!("DCGM_FI_DEV_FB_FREE{labels} 80920"),
            format!("DCGM_FI_DEV_GPU_TEMP{labels} 55"),
            format!("DCGM_FI_DEV_POWER_USAGE{labels} 123.5"),
            format!("DCGM_FI_DEV_XID_ERRORS{labels} 79"),
            format!("mlfleet_gpu_healthy{labels} 1"),
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge".to_owned(),
        ] {
            assert!(text.contains(&line), "missing {line} in\n{text}");
        }
        let own = render(&agent);
        assert!(own.contains("mlfleet_gpu_backend_ready 1"), "{own}");
        assert!(own.contains("mlfleet_gpu_node_healthy_gpus 1"), "{own}");
        assert!(own.contains("mlfleet_gpu_agent_samples_total 0"), "{own}");
    }

    #[test]
    fn departed_gpu_series_are_removed() {
        let (mut registry, mut agent) = registries();
        let m = AgentMetrics::register(&mut registry, &mut agent);
        m.observe(&snapshot(vec![gpu(0, "GPU-a"), gpu(1, "GPU-b")]));
        assert!(render(&registry).contains("UUID=\"GPU-b\""));
        m.observe(&snapshot(vec![gpu(0, "GPU-a")]));
        let text = render(&registry);
        assert!(!text.contains("UUID=\"GPU-b\""), "{text}");
        assert!(text.contains("UUID=\"GPU-a\""));
    }
}
