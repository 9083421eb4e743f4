//! The process-wide Prometheus registry and the reconcile metrics every controller records.
//!
//! Every metric registered through [`MetricsRegistry`] is prefixed `mlfleet_`. Labels stay
//! low-cardinality: controller name and error kind, never object names.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// Prefix of every metric in the process registry.
pub const METRIC_PREFIX: &str = "mlfleet";

/// Shared handle to the process Prometheus registry; clones refer to the same registry.
#[derive(Clone, Debug)]
pub struct MetricsRegistry {
    inner: Arc<Mutex<Registry>>,
    reconcile: Arc<OnceLock<ReconcileMetrics>>,
    leader: Arc<OnceLock<Family<LeaseLabels, Gauge>>>,
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRegistry {
    /// An empty registry whose metric names are prefixed with `mlfleet_`.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Registry::with_prefix(METRIC_PREFIX))),
            reconcile: Arc::new(OnceLock::new()),
            leader: Arc::new(OnceLock::new()),
        }
    }

    /// Registers a metric under `mlfleet_<name>`; returns nothing, keep your own clone of
    /// the metric (prometheus-client metrics are `Arc`-backed clones).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.with(|r| r.register(name, help, metric));
    }

    /// Runs `f` with exclusive access to the underlying registry (for sub-registries,
    /// units or collectors).
    pub fn with<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Encodes every metric in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        self.with(|r| prometheus_client::encoding::text::encode(&mut out, r))?;
        Ok(out)
    }

    /// The reconcile metrics of this registry, registered on first use.
    pub fn reconcile(&self) -> ReconcileMetrics {
        self.reconcile
            .get_or_init(|| ReconcileMetrics::register(self))
            .clone()
    }

    /// The `mlfleet_leader{lease}` gauge family (1 while this process holds the Lease),
    /// registered on first use.
    pub fn leader_gauge(&self) -> Family<LeaseLabels, Gauge> {
        self.leader
            .get_or_init(|| {
                let family = Family::<LeaseLabels, Gauge>::default();
                self.register(
                    "leader",
                    "1 while this process holds the leader-election Lease, else 0",
                    family.clone(),
                );
                family
            })
            .clone()
    }
}

/// Labels of the leader gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    /// Lease name.
    pub lease: String,
}

/// Labels of per-controller series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller name, e.g. `trainingjob`.
    pub controller: String,
}

/// Labels of the reconcile error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Controller name.
    pub controller: String,
    /// Bounded error kind, e.g. `InvalidSpec`, `KubeApi`.
    pub kind: String,
}

type HistogramFamily = Family<ControllerLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms .. ~32 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Reconcile duration histogram, reconcile counter and error counter, labelled by controller
/// (and error kind) only. Also mirrored to the global OpenTelemetry meter, which is a no-op
/// unless OTLP export is enabled.
#[derive(Clone, Debug)]
pub struct ReconcileMetrics {
    durations: HistogramFamily,
    reconciles: Family<ControllerLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    otel_durations: opentelemetry::metrics::Histogram<f64>,
    otel_errors: opentelemetry::metrics::Counter<u64>,
}

impl ReconcileMetrics {
    fn register(registry: &MetricsRegistry) -> Self {
        let durations: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile, by controller",
            durations.clone(),
        );
        registry.register(
            "reconciles",
            "Reconciles run, by controller",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that returned an error, by controller and error kind",
            errors.clone(),
        );
        let meter = opentelemetry::global::meter(METRIC_PREFIX);
        Self {
            durations,
            reconciles,
            errors,
            otel_durations: meter
                .f64_histogram("mlfleet.reconcile.duration")
                .with_unit("s")
                .with_description("Time spent in one reconcile")
                .build(),
            otel_errors: meter
                .u64_counter("mlfleet.reconcile.errors")
                .with_description("Reconciles that returned an error")
                .build(),
        }
    }

    /// Starts timing one reconcile of `controller`; the duration is recorded when the
    /// returned timer is dropped.
    pub fn start(&self, controller: &str) -> ReconcileTimer {
        ReconcileTimer {
            metrics: self.clone(),
            controller: controller.to_string(),
            started: Instant::now(),
        }
    }

    /// Records one reconcile of `controller` that took `elapsed`.
    pub fn observe(&self, controller: &str, elapsed: Duration) {
        let labels = ControllerLabels {
            controller: controller.to_string(),
        };
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.reconciles.get_or_create(&labels).inc();
        self.otel_durations.record(
            elapsed.as_secs_f64(),
            &[KeyValue::new("controller", controller.to_string())],
        );
    }

    /// Counts one reconcile error of `controller`; `kind` must come from a small fixed set.
    pub fn error(&self, controller: &str, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                controller: controller.to_string(),
                kind: kind.to_string(),
            })
            .inc();
        self.otel_errors.add(
            1,
            &[
                KeyValue::new("controller", controller.to_string()),
                KeyValue::new("kind", kind.to_string()),
            ],
        );
    }

    /// Errors counted so far for `controller` and `kind` (for tests and diagnostics).
    pub fn error_count(&self, controller: &str, kind: &str) -> u64 {
        self.errors
            .get(&ErrorLabels {
                controller: controller.to_string(),
                kind: kind.to_string(),
            })
            .map(|c| c.get())
            .unwrap_or(0)
    }
}

/// Records a reconcile duration when dropped; see [`ReconcileMetrics::start`].
#[derive(Debug)]
pub struct ReconcileTimer {
    metrics: ReconcileMetrics,
    controller: String,
    started: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics
            .observe(&self.controller, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_metrics_are_encoded_without_object_labels() {
        let registry = MetricsRegistry::new();
        let m = registry.reconcile();
        {
            let _t = m.start("trainingjob");
        }
        m.error("trainingjob", "InvalidSpec");
        m.error("trainingjob", "InvalidSpec");
        // Same instance on second call: no duplicate registration.
        registry.reconcile().error("trainingjob", "KubeApi");
        assert_eq!(m.error_count("trainingjob", "InvalidSpec"), 2);

        let text = registry.encode().unwrap();
        assert!(text.contains("# TYPE mlfleet_reconcile_duration_seconds histogram"));
        assert!(
            text.contains("mlfleet_reconcile_duration_seconds_count{controller=\"trainingjob\"} 1")
        );
        assert!(text.contains("mlfleet_reconciles_total{controller=\"trainingjob\"} 1"));
        assert!(text.contains(
            "mlfleet_reconcile_errors_total{controller=\"trainingjob\",kind=\"InvalidSpec\"} 2"
        ));
        assert!(text.contains(
            "mlfleet_reconcile_errors_total{controller=\"trainingjob\",kind=\"KubeApi\"} 1"
        ));
        assert_eq!(
            text.matches("# TYPE mlfleet_reconcile_errors counter")
                .count(),
            1
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
