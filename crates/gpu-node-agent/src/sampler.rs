//! The sampler: drives a backend on its own thread, feeds the health tracker and
//! publishes one [`NodeSnapshot`] per sampling period (sooner when a device event
//! changes a GPU's health) on a `tokio::sync::watch` channel.
//!
//! A backend that cannot be created (libnvidia-ml missing) or that fails fatally is
//! retried every `init_retry`; until then snapshots say `backend_ready: false`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::backend::{BackendError, BackendKind, GpuBackend, GpuEvent, NodeReading};
use crate::health::{HealthPolicy, HealthTracker};
use crate::metrics::AgentMetrics;
use crate::snapshot::{GpuStatus, NodeSnapshot, XidRecord};

/// Creates a backend; called again after a fatal backend error.
pub type BackendFactory =
    Box<dyn FnMut() -> Result<Box<dyn GpuBackend>, BackendError> + Send + 'static>;

/// Sampler settings.
#[derive(Clone, Debug)]
pub struct SamplerConfig {
    /// Node the agent serves.
    pub node_name: String,
    /// Time between readings.
    pub interval: Duration,
    /// Health rules.
    pub policy: HealthPolicy,
    /// Time between attempts to (re)create a failed backend.
    pub init_retry: Duration,
}

impl BackendError {
    /// True when the backend must be recreated before it can work again.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            BackendError::LibraryUnavailable(_) | BackendError::Nvml { .. }
        )
    }
}

/// Samples a backend and turns readings into snapshots.
pub struct Sampler {
    config: SamplerConfig,
    kind: BackendKind,
    factory: BackendFactory,
    backend: Option<Box<dyn GpuBackend>>,
    last_init_attempt: Option<Instant>,
    health: HealthTracker,
    last_reading: Option<NodeReading>,
    backend_ready: bool,
    backend_message: String,
    health_since: HashMap<String, (bool, SystemTime)>,
    xids: HashMap<String, (XidRecord, u64)>,
    sequence: u64,
    metrics: Option<Arc<AgentMetrics>>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("node", &self.config.node_name)
            .field("kind", &self.kind)
            .field("backend_ready", &self.backend_ready)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl Sampler {
    /// A sampler that will create its backend with `factory` on the first step.
    pub fn new(config: SamplerConfig, kind: BackendKind, factory: BackendFactory) -> Self {
        let health = HealthTracker::new(config.policy.clone());
        Sampler {
            config,
            kind,
            factory,
            backend: None,
            last_init_attempt: None,
            health,
            last_reading: None,
            backend_ready: false,
            backend_message: "not started".to_owned(),
            health_since: HashMap::new(),
            xids: HashMap::new(),
            sequence: 0,
            metrics: None,
        }
    }

    /// Counts samples, errors and event-wait failures in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<AgentMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn ensure_backend(&mut self) {
        if self.backend.is_some() {
            return;
        }
        let due = self
            .last_init_attempt
            .is_none_or(|t| t.elapsed() >= self.config.init_retry);
        if !due {
            return;
        }
        self.last_init_attempt = Some(Instant::now());
        match (self.factory)() {
            Ok(b) => {
                tracing::info!(backend = %b.kind(), events = b.events_supported(), "GPU backend ready");
                self.backend = Some(b);
            }
            Err(e) => {
                let msg = e.to_string();
                if msg != self.backend_message {
                    tracing::error!(backend = %self.kind, error = %msg, retry_in = ?self.config.init_retry, "GPU backend unavailable; GPUs are reported not ready");
                }
                self.backend_ready = false;
                self.backend_message = msg.clone();
                self.health.observe_backend_failure(msg);
            }
        }
    }

    /// One sampling period: waits for device events until the period ends (or a
    /// health-changing event arrives), then reads every GPU. Returns the snapshot.
    pub fn step(&mut self) -> NodeSnapshot {
        let deadline = Instant::now() + self.config.interval;
        self.ensure_backend();
        if self.backend.is_none() {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return self.snapshot();
        }
        // The very first reading is taken at once so the agent is ready quickly;
        // every later one waits out its period (never a hot loop, even on errors).
        if self.sequence > 0 {
            self.wait_for_events(deadline);
        }
        self.read();
        self.snapshot()
    }

    fn wait_for_events(&mut self, deadline: Instant) {
        let Some(mut backend) = self.backend.take() else {
            return;
        };
        self.wait_with(backend.as_mut(), deadline);
        self.backend = Some(backend);
    }

    fn wait_with(&mut self, backend: &mut dyn GpuBackend, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match backend.wait_events(deadline - now) {
                Ok(events) => {
                    self.health.observe_wait_ok();
                    let mut health_changed = false;
                    for ev in &events {
                        health_changed |= self.record_event(ev);
                    }
                    if health_changed {
                        return;
                    }
                }
                Err(e) => {
                    self.health.observe_wait_failure();
                    if let Some(m) = &self.metrics {
                        m.event_wait_failures.inc();
                    }
                    tracing::warn!(error = %e, "waiting for GPU events failed");
                    // Never spin on a broken event set: rest until the period ends.
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    return;
                }
            }
        }
    }

    fn record_event(&mut self, ev: &GpuEvent) -> bool {
        let now = Instant::now();
        if let GpuEvent::Xid { uuid, xid } = ev {
            let ignored = self.health.policy().ignored_xids.contains(xid);
            if ignored {
                tracing::info!(uuid, xid, "application XID (ignored for health)");
            } else {
                tracing::warn!(uuid, xid, "critical XID: GPU marked unhealthy");
            }
            let entry = self.xids.entry(uuid.clone()).or_insert((
                XidRecord {
                    code: *xid,
                    at: SystemTime::now(),
                    ignored,
                },
                0,
            ));
            entry.0 = XidRecord {
                code: *xid,
                at: SystemTime::now(),
                ignored,
            };
            entry.1 += 1;
        } else if let GpuEvent::UncorrectableEcc { uuid } = ev {
            tracing::warn!(uuid, "uncorrectable ECC error event");
        }
        self.health.observe_event(ev, now)
    }

    fn read(&mut self) {
        let Some(backend) = self.backend.as_mut() else {
            return;
        };
        if let Some(m) = &self.metrics {
            m.samples.inc();
        }
        match backend.read() {
            Ok(reading) => {
                self.health.observe_reading(&reading);
                if !self.backend_ready {
                    tracing::info!(gpus = reading.gpus.len(), driver = %reading.driver_version, "GPU backend answering");
                }
                self.backend_ready = true;
                self.backend_message = format!(
                    "{} backend answering; {} GPUs",
                    backend.kind(),
                    reading.gpus.len()
                );
                self.last_reading = Some(reading);
            }
            Err(e) => {
                if let Some(m) = &self.metrics {
                    m.sample_errors.inc();
                }
                let msg = e.to_string();
                if self.backend_ready || msg != self.backend_message {
                    tracing::error!(error = %msg, "reading GPUs failed; GPUs marked unhealthy");
                }
                self.backend_ready = false;
                self.backend_message = msg.clone();
                self.health.observe_backend_failure(msg);
                if e.is_fatal() {
                    self.backend = None;
                }
            }
        }
    }

    fn snapshot(&mut self) -> NodeSnapshot {
        let now_i = Instant::now();
        let now = SystemTime::now();
        self.sequence += 1;
        let events_supported = self.backend.as_ref().is_some_and(|b| b.events_supported());
        let (driver_version, cuda_version, readings) = match &self.last_reading {
            Some(r) => (r.driver_version.clone(), r.cuda_version, r.gpus.clone()),
            None => (String::new(), None, Vec::new()),
        };
        let mut gpus = Vec::with_capacity(readings.len());
        for reading in readings {
            let health = self.health.health(&reading.uuid, now_i);
            let since = self
                .health_since
                .entry(reading.uuid.clone())
                .or_insert((health.healthy, now));
            if since.0 != health.healthy {
                *since = (health.healthy, now);
            }
            let health_since = since.1;
            let (last_xid, xid_events_total) = match self.xids.get(&reading.uuid) {
                Some((rec, n)) => (Some(rec.clone()), *n),
                None => (None, 0),
            };
            gpus.push(GpuStatus {
                reading,
                health,
                health_since,
                last_xid,
                xid_events_total,
            });
        }
        NodeSnapshot {
            node_name: self.config.node_name.clone(),
            backend: self.kind,
            backend_ready: self.backend_ready,
            backend_message: self.backend_message.clone(),
            events_supported,
            driver_version,
            cuda_version,
            gpus,
            inventory_known: self.last_reading.is_some(),
            sampled_at: now,
            sequence: self.sequence,
        }
    }

    /// Runs the sampler on a dedicated thread until `stop` is set, publishing every
    /// snapshot on `tx` and into `metrics`.
    pub fn spawn(
        mut self,
        tx: watch::Sender<Arc<NodeSnapshot>>,
        metrics: Arc<AgentMetrics>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<JoinHandle<()>> {
        self.metrics = Some(metrics.clone());
        std::thread::Builder::new()
            .name("gpu-sampler".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = self.step();
                    metrics.observe(&snapshot);
                    tx.send_replace(Arc::new(snapshot));
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::simulated::{SimSource, SimulatedBackend};
    use crate::health::UnhealthyReason;
    use std::path::PathBuf;

    const INV: &str = "gpus:\n  - name: Tesla T4\n    memoryTotalMiB: 15360\n    eccUncorrectable: 0\n  - name: Tesla T4\n    memoryTotalMiB: 15360\n";

    fn setup(name: &str, text: &str) -> (PathBuf, Sampler) {
        let dir = std::env::temp_dir().join(format!("gna-sampler-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inv.yaml");
        write(&path, text);
        let p = path.clone();
        let factory: BackendFactory = Box::new(move || {
            Ok(
                Box::new(SimulatedBackend::new("node-s", SimSource::File(p.clone()))?)
                    as Box<dyn GpuBackend>,
            )
        });
        let config = SamplerConfig {
            node_name: "node-s".into(),
            interval: Duration::from_millis(10),
            policy: HealthPolicy::default(),
            init_retry: Duration::ZERO,
        };
        (path, Sampler::new(config, BackendKind::Simulated, factory))
    }

    fn write(path: &PathBuf, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn healthy_then_xid_then_lost_backend() {
        let (path, mut s) = setup("flow", INV);
        let a = s.step();
        assert!(a.backend_ready);
        assert_eq!(a.gpus.len(), 2);
        assert_eq!(a.healthy_count(), 2);
        assert!(a.inventory_known);

        write(
            &path,
            &INV.replacen(
                "eccUncorrectable: 0",
                "eccUncorrectable: 0\n    xids: [79]",
                1,
            ),
        );
        let b = s.step();
        assert_eq!(b.healthy_count(), 1);
        assert_eq!(
            b.gpus[0].health.reasons,
            vec![UnhealthyReason::CriticalXid { xid: 79 }]
        );
        assert_eq!(b.gpus[0].last_xid.as_ref().unwrap().code, 79);
        assert_eq!(b.gpus[0].xid_events_total, 1);
        assert!(b.gpus[0].health_since >= a.sampled_at);
        assert!(b.sequence > a.sequence);

        write(&path, &format!("unavailable: NVML lost\n{INV}"));
        let c = s.step();
        assert!(!c.backend_ready);
        assert_eq!(c.gpus.len(), 2, "last known GPUs stay listed");
        assert_eq!(c.healthy_count(), 0);
        assert!(c.backend_message.contains("NVML lost"));
    }

    #[test]
    fn event_wait_failures_reach_threshold() {
        let (_path, mut s) = setup("waitfail", &format!("failEventWait: true\n{INV}"));
        // The first step reads without waiting; each later step waits (and fails) once.
        let counts: Vec<usize> = (0..4).map(|_| s.step().healthy_count()).collect();
        assert_eq!(counts, vec![2, 2, 2, 0]);
    }

    #[test]
    fn missing_backend_is_not_ready_and_retried() {
        let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let c = calls.clone();
        let factory: BackendFactory = Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
            Err(BackendError::LibraryUnavailable(
                "libnvidia-ml.so.1: not found".into(),
            ))
        });
        let config = SamplerConfig {
            node_name: "n".into(),
            interval: Duration::from_millis(1),
            policy: HealthPolicy::default(),
            init_retry: Duration::ZERO,
        };
        let mut s = Sampler::new(config, BackendKind::Nvml, factory);
        let snap = s.step();
        assert!(!snap.backend_ready);
        assert!(!snap.inventory_known);
        assert!(snap.gpus.is_empty());
        assert!(snap.backend_message.contains("libnvidia-ml"));
        s.step();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
