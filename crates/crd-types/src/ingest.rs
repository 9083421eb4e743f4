//! API group `ingest.mlfleet.io/v1alpha1`: STDFParserJob, a queue of STDF V4 files parsed to
//! Parquet/CSV by autoscaled workers.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretReference};

/// The API group of this module's kinds.
pub const GROUP: &str = "ingest.mlfleet.io";

/// Condition types an STDFParserJob reports.
pub mod condition_types {
    /// The spec cannot be acted on (for example a missing bucket or Secret).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The source is reachable and being listed.
    pub const SOURCE_READY: &str = "SourceReady";
    /// The worker Deployment has the desired replicas available.
    pub const WORKERS_READY: &str = "WorkersReady";
    /// Every file is parsed or quarantined (Batch mode).
    pub const COMPLETE: &str = "Complete";
}

/// Desired state of an STDFParserJob: where the STDF files are, where the output goes,
/// and how workers scale and retry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "ingest.mlfleet.io",
    version = "v1alpha1",
    kind = "STDFParserJob",
    plural = "stdfparserjobs",
    singular = "stdfparserjob",
    shortname = "stdf",
    category = "mlfleet",
    namespaced,
    status = "STDFParserJobStatus",
    derive = "PartialEq",
    doc = "Parses the STDF V4 files of a source location to Parquet or CSV with workers scaled on queue depth; failed files are retried, corrupt ones quarantined.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".spec.mode",
        description = "Batch or Continuous"
    ),
    printcolumn(
        name = "Depth",
        type_ = "integer",
        json_path = ".status.queueDepth",
        description = "Files pending or leased"
    ),
    printcolumn(
        name = "Workers",
        type_ = "integer",
        json_path = ".status.workers",
        description = "Worker replicas now"
    ),
    printcolumn(
        name = "Parsed",
        type_ = "integer",
        json_path = ".status.files.parsed",
        description = "Files parsed"
    ),
    printcolumn(
        name = "Quarantined",
        type_ = "integer",
        json_path = ".status.files.quarantined",
        description = "Files given up on and quarantined"
    ),
    printcolumn(
        name = "Completion",
        type_ = "integer",
        json_path = ".status.completionPercent",
        description = "Percent of known files finished"
    ),
    printcolumn(
        name = "Total",
        type_ = "integer",
        json_path = ".status.files.total",
        priority = 1,
        description = "Files known"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
// Transition rules live here rather than on the fields: a field-level `extend` would
// replace the rules the field's own type declares.
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.source == oldSelf.source", "message": "source is immutable"},
    {"rule": "self.output == oldSelf.output", "message": "output is immutable"}
]))]
pub struct STDFParserJobSpec {
    /// Where the STDF files are read from. Immutable.
    pub source: StdfSource,
    /// Batch finishes when every file is done; Continuous keeps watching the source.
    #[serde(default)]
    pub mode: IngestMode,
    /// Where parsed output is written. Immutable.
    pub output: StdfOutput,
    /// Worker autoscaling on queue depth.
    #[serde(default)]
    pub scaling: IngestScaling,
    /// Retry of failed files.
    #[serde(default)]
    pub retry: IngestRetry,
    /// Where files that cannot be parsed are copied, with an error report. Defaults to
    /// `<output.uri>/_quarantine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<ObjectLocation>,
    /// Parser worker pod settings.
    #[serde(default)]
    pub worker: IngestWorker,
    /// Stops claiming new files and scales workers to zero; the queue is kept.
    #[serde(default)]
    pub suspend: bool,
}

/// Source of an STDFParserJob.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.uri.startsWith('file://') || self.uri.startsWith('s3://')", "message": "source.uri must start with file:// or s3://"},
    {"rule": "!has(self.files) || size(self.files) == 0 || !has(self.pattern)", "message": "set either source.files or source.pattern, not both"},
    {"rule": "!has(self.s3) || self.uri.startsWith('s3://')", "message": "source.s3 applies only to s3:// URIs"}
]))]
pub struct StdfSource {
    /// Directory or prefix holding the files: `file:///data/stdf/` or `s3://bucket/prefix/`.
    #[schemars(length(min = 8, max = 2048))]
    pub uri: String,
    /// Explicit file names relative to `uri`. When empty, files are discovered by `pattern`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10000), inner(length(min = 1, max = 1024)))]
    pub files: Vec<String>,
    /// Glob matched against names under `uri` when `files` is empty; `*.stdf*` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub pattern: Option<String>,
    /// Seconds between listings of the source in Continuous mode.
    #[serde(default = "default_poll")]
    #[schemars(range(min = 5, max = 86400))]
    pub poll_interval_seconds: i32,
    /// S3 connection settings (s3:// URIs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Access>,
}

/// Output of an STDFParserJob.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.uri.startsWith('file://') || self.uri.startsWith('s3://')", "message": "output.uri must start with file:// or s3://"},
    {"rule": "!has(self.s3) || self.uri.startsWith('s3://')", "message": "output.s3 applies only to s3:// URIs"}
]))]
pub struct StdfOutput {
    /// Directory or prefix receiving one output file per input file.
    #[schemars(length(min = 8, max = 2048))]
    pub uri: String,
    /// Output file format.
    #[serde(default)]
    pub format: OutputFormat,
    /// Table layout: one row per record, or one row per test measurement.
    #[serde(default)]
    pub layout: OutputLayout,
    /// S3 connection settings (s3:// URIs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Access>,
}

/// A location other than source and output (quarantine).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.uri.startsWith('file://') || self.uri.startsWith('s3://')", "message": "quarantine.uri must start with file:// or s3://"},
    {"rule": "!has(self.s3) || self.uri.startsWith('s3://')", "message": "quarantine.s3 applies only to s3:// URIs"}
]))]
pub struct ObjectLocation {
    /// Directory or prefix: `file:///path/` or `s3://bucket/prefix/`.
    #[schemars(length(min = 8, max = 2048))]
    pub uri: String,
    /// S3 connection settings (s3:// URIs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Access>,
}

/// Connection settings of an S3-compatible store; unset fields fall back to the standard
/// AWS_* environment of the workers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Access {
    /// Endpoint URL of an S3-compatible server, for example `http://minio:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub endpoint: Option<String>,
    /// Region of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally
    /// AWS_SESSION_TOKEN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// Allow plain-HTTP endpoints (test servers).
    #[serde(default)]
    pub allow_http: bool,
}

/// Ingest mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum IngestMode {
    /// Parse the files present at start (or listed), then finish.
    #[default]
    Batch,
    /// Keep watching the source and parse new files as they arrive.
    Continuous,
}

/// Output file format.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Apache Parquet.
    #[default]
    Parquet,
    /// Comma-separated values.
    Csv,
}

/// Output table layout.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputLayout {
    /// One row per STDF record.
    #[default]
    Records,
    /// One row per test measurement (PTR/MPR/FTR results joined with their part).
    Measurements,
}

/// Worker autoscaling of an STDFParserJob: replicas = ceil(queueDepth / filesPerWorker)
/// within minWorkers..maxWorkers while files wait; zero when the queue is empty.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minWorkers <= self.maxWorkers", "message": "scaling.minWorkers must be <= scaling.maxWorkers"}
]))]
pub struct IngestScaling {
    /// Fewest workers while any file is pending or leased.
    #[serde(default = "default_min_workers")]
    #[schemars(range(min = 1, max = 20))]
    pub min_workers: i32,
    /// Most workers.
    #[serde(default = "default_max_workers")]
    #[schemars(range(min = 1, max = 20))]
    pub max_workers: i32,
    /// Queued files per worker used to compute the replica count.
    #[serde(default = "default_files_per_worker")]
    #[schemars(range(min = 1, max = 10000))]
    pub files_per_worker: i32,
    /// Seconds to wait after a scale change before scaling down again.
    #[serde(default = "default_cooldown")]
    #[schemars(range(min = 0, max = 3600))]
    pub cooldown_seconds: i32,
}

impl Default for IngestScaling {
    fn default() -> Self {
        Self {
            min_workers: default_min_workers(),
            max_workers: default_max_workers(),
            files_per_worker: default_files_per_worker(),
            cooldown_seconds: default_cooldown(),
        }
    }
}

impl IngestScaling {
    /// Desired worker replicas for a queue depth: 0 when empty, otherwise
    /// `ceil(depth / filesPerWorker)` clamped to `minWorkers..=maxWorkers`.
    pub fn desired_workers(&self, queue_depth: u64) -> i32 {
        if queue_depth == 0 {
            return 0;
        }
        let per = u64::try_from(self.files_per_worker.max(1)).unwrap_or(1);
        let wanted = i32::try_from(queue_depth.div_ceil(per)).unwrap_or(i32::MAX);
        let min = self.min_workers.max(1);
        wanted.clamp(min, self.max_workers.max(min))
    }
}

/// Retry of failed files.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestRetry {
    /// Attempts per file before a transiently failing file is quarantined (corrupt files
    /// are quarantined at once).
    #[serde(default = "default_max_attempts")]
    #[schemars(range(min = 1, max = 10))]
    pub max_attempts: i32,
    /// Delay before the first retry in seconds; doubled per further attempt.
    #[serde(default = "default_retry_backoff")]
    #[schemars(range(min = 0, max = 3600))]
    pub backoff_seconds: i32,
}

impl Default for IngestRetry {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            backoff_seconds: default_retry_backoff(),
        }
    }
}

/// Parser worker pod settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestWorker {
    /// Worker image; the scaler's own image when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// Requests and limits of the worker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Seconds a claimed file stays leased without a heartbeat before it returns to the queue.
    #[serde(default = "default_lease")]
    #[schemars(range(min = 10, max = 3600))]
    pub lease_seconds: i32,
}

impl Default for IngestWorker {
    fn default() -> Self {
        Self {
            image: None,
            resources: None,
            lease_seconds: default_lease(),
        }
    }
}

fn default_poll() -> i32 {
    30
}
fn default_min_workers() -> i32 {
    1
}
fn default_max_workers() -> i32 {
    20
}
fn default_files_per_worker() -> i32 {
    5
}
fn default_cooldown() -> i32 {
    30
}
fn default_max_attempts() -> i32 {
    3
}
fn default_retry_backoff() -> i32 {
    5
}
fn default_lease() -> i32 {
    60
}

/// Lifecycle phase of an STDFParserJob.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum IngestPhase {
    /// Accepted, source not listed yet.
    #[default]
    Pending,
    /// Files are being parsed.
    Running,
    /// Continuous mode with an empty queue: workers scaled to zero.
    Idle,
    /// Suspended by the user.
    Suspended,
    /// Batch mode: every file is parsed or quarantined.
    Succeeded,
    /// The job cannot proceed (see conditions).
    Failed,
}

/// Observed state of an STDFParserJob.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct STDFParserJobStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: IngestPhase,
    /// Standard conditions: InvalidSpec, SourceReady, WorkersReady, Complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Files pending or leased (what autoscaling follows).
    #[serde(default)]
    pub queue_depth: i64,
    /// Worker replicas the controller last set.
    #[serde(default)]
    pub workers: i32,
    /// File counts by state.
    #[serde(default)]
    pub files: FileCounts,
    /// Percent of known files that are parsed or quarantined (0-100).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub completion_percent: i32,
    /// Input bytes parsed so far.
    #[serde(default)]
    pub bytes_parsed: i64,
    /// Files parsed per second over the last minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_files_per_second: Option<f64>,
    /// Input megabytes parsed per second over the last minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_mb_per_second: Option<f64>,
    /// 95th percentile of per-file time from claim to completion, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_file_latency_seconds: Option<f64>,
    /// When the first file was claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When a Batch job finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// When the worker replica count last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
}

/// File counts of an STDFParserJob; each known file is in exactly one of pending, leased,
/// failed (waiting for a retry), parsed or quarantined.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileCounts {
    /// Files known.
    #[serde(default)]
    pub total: i64,
    /// Files waiting to be claimed.
    #[serde(default)]
    pub pending: i64,
    /// Files claimed by a worker now.
    #[serde(default)]
    pub leased: i64,
    /// Files whose last attempt failed and that wait for a retry.
    #[serde(default)]
    pub failed: i64,
    /// Files parsed and written.
    #[serde(default)]
    pub parsed: i64,
    /// Files given up on and copied to quarantine.
    #[serde(default)]
    pub quarantined: i64,
}

impl FileCounts {
    /// Percent of files that are finished (parsed or quarantined); 0 with no files.
    pub fn completion_percent(&self) -> i32 {
        if self.total <= 0 {
            return 0;
        }
        let done = (self.parsed + self.quarantined).clamp(0, self.total);
        i32::try_from(done * 100 / self.total).unwrap_or(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_workers_follows_depth_within_bounds() {
        let s = IngestScaling {
            min_workers: 2,
            max_workers: 5,
            files_per_worker: 4,
            cooldown_seconds: 0,
        };
        assert_eq!(s.desired_workers(0), 0);
        assert_eq!(s.desired_workers(1), 2);
        assert_eq!(s.desired_workers(9), 3);
        assert_eq!(s.desired_workers(1000), 5);
    }

    #[test]
    fn completion_counts_parsed_and_quarantined() {
        let c = FileCounts {
            total: 40,
            parsed: 36,
            quarantined: 2,
            ..FileCounts::default()
        };
        assert_eq!(c.completion_percent(), 95);
        assert_eq!(FileCounts::default().completion_percent(), 0);
    }
}
