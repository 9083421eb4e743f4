//! Operator metrics (Prometheus conventions, prefixed `mlfleet_` by the
//! registry). Labels are low-cardinality: state, reason, queue, source —
//! never a job name, and histograms carry no labels at all.

use mlfleet_runtime::metrics::MetricsRegistry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// `state` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// TrainingJob state.
    pub state: String,
}

/// `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Failure reason.
    pub reason: String,
}

/// `queue` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// TrainingQueue name ("" for jobs without a queue).
    pub queue: String,
}

/// `source` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// Capacity source.
    pub source: String,
}

/// All training-operator metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// TrainingJobs seen for the first time.
    pub created: Counter,
    /// TrainingJobs that completed.
    pub completed: Counter,
    /// TrainingJobs that failed, by reason.
    pub failed: Family<ReasonLabel, Counter>,
    /// Attempts restarted after a failure.
    pub restarts: Counter,
    /// TrainingJobs by state.
    pub jobs: Family<StateLabel, Gauge>,
    /// GPUs held by admitted jobs.
    pub allocated_gpus: Gauge,
    /// Workers of admitted jobs.
    pub allocated_workers: Gauge,
    /// Pending jobs per queue.
    pub queue_depth: Family<QueueLabel, Gauge>,
    /// Seconds from creation to admission.
    pub admission_wait: Histogram,
    /// 1 for the capacity source in use, 0 for the other.
    pub capacity_source: Family<SourceLabel, Gauge>,
    /// Progress reports received over gRPC.
    pub progress_reports: Counter,
    /// Status writes of folded progress.
    pub progress_writes: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &MetricsRegistry) -> Self {
        let m = Metrics {
            created: Counter::default(),
            completed: Counter::default(),
            failed: Family::default(),
            restarts: Counter::default(),
            jobs: Family::default(),
            allocated_gpus: Gauge::default(),
            allocated_workers: Gauge::default(),
            queue_depth: Family::default(),
            admission_wait: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            capacity_source: Family::default(),
            progress_reports: Counter::default(),
            progress_writes: Counter::default(),
        };
        registry.register(
            "training_jobs_created",
            "TrainingJobs observed for the first time",
            m.created.clone(),
        );
        registry.register(
            "training_jobs_completed",
            "TrainingJobs that reached Completed",
            m.completed.clone(),
        );
        registry.register(
            "training_jobs_failed",
            "TrainingJobs that reached Failed, by reason",
            m.failed.clone(),
        );
        registry.register(
            "training_job_restarts",
            "Attempts restarted after a retryable failure",
            m.restarts.clone(),
        );
        registry.register("training_jobs", "TrainingJobs by state", m.jobs.clone());
        registry.register(
            "training_allocated_gpus",
            "GPUs held by admitted TrainingJobs",
            m.allocated_gpus.clone(),
        );
        registry.register(
            "training_allocated_workers",
            "Workers of admitted TrainingJobs",
            m.allocated_workers.clone(),
        );
        registry.register(
            "training_queue_pending_jobs",
            "TrainingJobs waiting for admission, per queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "training_admission_wait_seconds",
            "Time from TrainingJob creation to gang admission",
            m.admission_wait.clone(),
        );
        registry.register(
            "training_capacity_source",
            "Which data free GPUs are computed from (1 = in use)",
            m.capacity_source.clone(),
        );
        registry.register(
            "training_progress_reports",
            "Progress and checkpoint reports received",
            m.progress_reports.clone(),
        );
        registry.register(
            "training_progress_status_writes",
            "Status writes of folded progress",
            m.progress_writes.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let registry = MetricsRegistry::new();
        let m = Metrics::register(&registry);
        m.created.inc();
        m.failed
            .get_or_create(&ReasonLabel {
                reason: "BackoffLimitExceeded".into(),
            })
            .inc();
        m.admission_wait.observe(1.5);
        let text = registry.encode().unwrap();
        assert!(
            text.contains("mlfleet_training_jobs_created_total 1"),
            "{text}"
        );
        assert!(
            text.contains("mlfleet_training_jobs_failed_total{reason=\"BackoffLimitExceeded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("mlfleet_training_admission_wait_seconds_count 1"),
            "{text}"
        );
        assert!(!text.contains("job_name"));
    }
}
