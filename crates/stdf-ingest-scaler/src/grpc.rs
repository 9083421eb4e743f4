//! The scaler's gRPC services over the [`Registry`]: `StdfWork` for parser workers,
//! `QueueDepth` and KEDA's `ExternalScaler` for autoscalers. Queue names are the
//! job's `namespace/name`; a KEDA ScaledObject names the job in its metadata
//! (`job: namespace/name`).

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use futures::Stream;
use mlfleet_proto::externalscaler as keda;
use mlfleet_proto::ingest::v1 as ingest;
use mlfleet_proto::queue::v1 as queue;
use tonic::{Request, Response, Status};

use crate::journal::file_id;
use crate::queue::{FailureClass, FileStats};
use crate::registry::{JobEntry, Layout, Registry, WireLease};
use crate::work::{Completion, FailureResult, WorkError};

/// How often workers should heartbeat: a third of the lease.
fn heartbeat_interval(lease: Duration) -> Duration {
    lease / 3
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let d = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn status_of(e: WorkError) -> Status {
    match e {
        WorkError::Lease(e) => Status::failed_precondition(e.to_string()),
        other => Status::unavailable(other.to_string()),
    }
}

/// The gRPC services of the scaler.
#[derive(Clone, Debug)]
pub struct ScalerServices {
    registry: Registry,
}

impl ScalerServices {
    /// Services over `registry`.
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }

    async fn job(&self, key: &str) -> Result<std::sync::Arc<JobEntry>, Status> {
        self.registry
            .get(key)
            .await
            .ok_or_else(|| Status::not_found(format!("no STDFParserJob {key} is served here")))
    }

    async fn lease(
        &self,
        wire: &str,
    ) -> Result<(std::sync::Arc<JobEntry>, String, String), Status> {
        let l = WireLease::decode(wire)
            .ok_or_else(|| Status::invalid_argument(format!("malformed lease id {wire:?}")))?;
        let job = self.job(&l.job).await?;
        let key = job.work.key_of(&l.file_id).await.ok_or_else(|| {
            Status::failed_precondition(format!("lease {wire} names an unknown file"))
        })?;
        Ok((job, key, l.lease))
    }

    /// Depth sample of one job.
    async fn sample(&self, key: &str) -> Result<queue::QueueDepthSample, Status> {
        let c = self.job(key).await?.work.counts().await;
        Ok(queue::QueueDepthSample {
            queue: key.to_string(),
            pending: c.pending,
            in_progress: c.leased,
            oldest_pending_age: None,
            observed_time: Some(timestamp(SystemTime::now())),
        })
    }
}

fn job_ref_key(r: Option<&ingest::JobRef>) -> Result<String, Status> {
    let r = r.ok_or_else(|| Status::invalid_argument("job is required"))?;
    if r.namespace.is_empty() || r.name.is_empty() {
        return Err(Status::invalid_argument(
            "job.namespace and job.name are required",
        ));
    }
    Ok(crate::registry::job_key(&r.namespace, &r.name))
}

#[tonic::async_trait]
impl ingest::stdf_work_server::StdfWork for ScalerServices {
    async fn claim_file(
        &self,
        req: Request<ingest::ClaimFileRequest>,
    ) -> Result<Response<ingest::ClaimFileResponse>, Status> {
        let req = req.into_inner();
        let key = job_ref_key(req.job.as_ref())?;
        let job = self.job(&key).await?;
        let Some(claim) = job.work.claim(&req.worker_id).await else {
            let c = job.work.counts().await;
            let reason = if c.depth() == 0 && job.batch && c.total > 0 {
                ingest::NoWorkReason::JobDone
            } else if c.pending > 0 {
                ingest::NoWorkReason::Backoff
            } else {
                ingest::NoWorkReason::QueueEmpty
            };
            return Ok(Response::new(ingest::ClaimFileResponse {
                outcome: Some(ingest::claim_file_response::Outcome::NoWork(
                    ingest::NoWork {
                        reason: reason as i32,
                        retry_after: Some(duration(Duration::from_secs(1))),
                    },
                )),
            }));
        };
        let wire = WireLease {
            job: key,
            file_id: file_id(&claim.key),
            lease: claim.lease.clone(),
        };
        let (format, layout) = (
            match job.format {
                crate::registry::Format::Parquet => ingest::OutputFormat::Parquet,
                crate::registry::Format::Csv => ingest::OutputFormat::Csv,
            },
            match job.layout {
                Layout::Records => ingest::OutputLayout::Records,
                // Both layouts: the worker writes the records tables and measurements.
                Layout::Measurements => ingest::OutputLayout::Measurements,
                Layout::Both => ingest::OutputLayout::Unspecified,
            },
        );
        Ok(Response::new(ingest::ClaimFileResponse {
            outcome: Some(ingest::claim_file_response::Outcome::Lease(
                ingest::FileLease {
                    lease_id: wire.encode(),
                    job: req.job,
                    file_uri: claim.source_uri,
                    size_bytes: 0,
                    attempt: claim.attempt,
                    lease_deadline: Some(timestamp(SystemTime::now() + claim.lease_expires_in)),
                    heartbeat_interval: Some(duration(heartbeat_interval(claim.lease_expires_in))),
                    output_uri: claim.output_uri,
                    output_format: format as i32,
                    output_layout: layout as i32,
                },
            )),
        }))
    }

    async fn heartbeat(
        &self,
        req: Request<ingest::HeartbeatRequest>,
    ) -> Result<Response<ingest::HeartbeatResponse>, Status> {
        let req = req.into_inner();
        let (job, key, lease) = self.lease(&req.lease_id).await?;
        let left = job
            .work
            .heartbeat(&lease, &key, &req.worker_id)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ingest::HeartbeatResponse {
            lease_deadline: Some(timestamp(SystemTime::now() + left)),
        }))
    }

    async fn complete_file(
        &self,
        req: Request<ingest::CompleteFileRequest>,
    ) -> Result<Response<ingest::CompleteFileResponse>, Status> {
        let req = req.into_inner();
        let (job, key, lease) = self.lease(&req.lease_id).await?;
        let s = req.stats.unwrap_or_default();
        let stats = FileStats {
            records: s.records,
            rows: s.rows_per_table.values().sum(),
            bytes: s.input_bytes,
            duration_ms: s
                .duration
                .map(|d| (d.seconds.max(0) as u64) * 1000 + (d.nanos.max(0) as u64) / 1_000_000)
                .unwrap_or(0),
            output_uri: s.output_uri,
        };
        let done = job
            .work
            .complete(&lease, &key, &req.worker_id, stats)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ingest::CompleteFileResponse {
            duplicate: done == Completion::AlreadyCounted,
        }))
    }

    async fn fail_file(
        &self,
        req: Request<ingest::FailFileRequest>,
    ) -> Result<Response<ingest::FailFileResponse>, Status> {
        let req = req.into_inner();
        let (job, key, lease) = self.lease(&req.lease_id).await?;
        let class = match ingest::ErrorClass::try_from(req.error_class) {
            Ok(ingest::ErrorClass::Corrupt) => FailureClass::Corrupt,
            _ => FailureClass::Transient,
        };
        let result = job
            .work
            .fail(&lease, &key, &req.worker_id, class, &req.message)
            .await
            .map_err(status_of)?;
        Ok(Response::new(match result {
            FailureResult::WillRetry { attempt, retry_in } => ingest::FailFileResponse {
                outcome: ingest::FailOutcome::RetryScheduled as i32,
                attempts: attempt,
                retry_at: Some(timestamp(SystemTime::now() + retry_in)),
            },
            FailureResult::Quarantined { attempts, .. } => ingest::FailFileResponse {
                outcome: ingest::FailOutcome::Quarantined as i32,
                attempts,
                retry_at: None,
            },
        }))
    }
}

type SampleStream = Pin<Box<dyn Stream<Item = Result<queue::QueueDepthSample, Status>> + Send>>;
type ActiveStream = Pin<Box<dyn Stream<Item = Result<keda::IsActiveResponse, Status>> + Send>>;
type SpecStream = Pin<Box<dyn Stream<Item = Result<keda::GetMetricSpecResponse, Status>> + Send>>;

/// Poll `f` every second and yield its value whenever it changes (first value at once).
fn on_change<T, F, Fut>(mut f: F) -> impl Stream<Item = Result<T, Status>> + Send
where
    T: PartialEq + Clone + Send + 'static,
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, Status>> + Send,
{
    async_stream::stream! {
        let mut last: Option<T> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            match f().await {
                Ok(v) if last.as_ref() != Some(&v) => {
                    last = Some(v.clone());
                    yield Ok(v);
                }
                Ok(_) => {}
                Err(e) => { yield Err(e); break; }
            }
        }
    }
}

#[tonic::async_trait]
impl queue::queue_depth_server::QueueDepth for ScalerServices {
    async fn get_queue_depth(
        &self,
        req: Request<queue::GetQueueDepthRequest>,
    ) -> Result<Response<queue::GetQueueDepthResponse>, Status> {
        let depth = self.sample(&req.into_inner().queue).await?;
        Ok(Response::new(queue::GetQueueDepthResponse {
            depth: Some(depth),
        }))
    }

    type WatchQueueDepthStream = SampleStream;

    async fn watch_queue_depth(
        &self,
        req: Request<queue::WatchQueueDepthRequest>,
    ) -> Result<Response<SampleStream>, Status> {
        let key = req.into_inner().queue;
        self.job(&key).await?;
        let this = self.clone();
        let stream = on_change(move || {
            let this = this.clone();
            let key = key.clone();
            async move {
                let mut s = this.sample(&key).await?;
                s.observed_time = None;
                Ok(s)
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The metric name KEDA sees for a job.
pub fn keda_metric_name(job: &str) -> String {
    format!("stdf-queue-depth-{}", job.replace('/', "-"))
}

fn keda_job(r: &keda::ScaledObjectRef) -> Result<String, Status> {
    r.scaler_metadata
        .get("job")
        .cloned()
        .filter(|j| j.contains('/'))
        .ok_or_else(|| {
            Status::invalid_argument(
                "scaler metadata must name the STDFParserJob as `job: <namespace>/<name>`",
            )
        })
}

impl ScalerServices {
    async fn keda_active(&self, r: &keda::ScaledObjectRef) -> Result<bool, Status> {
        let key = keda_job(r)?;
        let job = self.job(&key).await?;
        let threshold = match r.scaler_metadata.get("activationThreshold") {
            Some(v) => v.parse::<u64>().map_err(|_| {
                Status::invalid_argument(format!("activationThreshold {v:?} is not a whole number"))
            })?,
            None => job.activation_depth,
        };
        Ok(job.work.counts().await.depth() > threshold)
    }
}

#[tonic::async_trait]
impl keda::external_scaler_server::ExternalScaler for ScalerServices {
    async fn is_active(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<keda::IsActiveResponse>, Status> {
        let result = self.keda_active(&req.into_inner()).await?;
        Ok(Response::new(keda::IsActiveResponse { result }))
    }

    type StreamIsActiveStream = ActiveStream;

    async fn stream_is_active(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<ActiveStream>, Status> {
        let r = req.into_inner();
        keda_job(&r)?;
        let this = self.clone();
        let stream = on_change(move || {
            let this = this.clone();
            let r = r.clone();
            async move {
                Ok(keda::IsActiveResponse {
                    result: this.keda_active(&r).await?,
                })
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metric_spec(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<keda::GetMetricSpecResponse>, Status> {
        let key = keda_job(&req.into_inner())?;
        let job = self.job(&key).await?;
        let target = job.files_per_worker.max(1);
        Ok(Response::new(keda::GetMetricSpecResponse {
            metric_specs: vec![keda::MetricSpec {
                metric_name: keda_metric_name(&key),
                target_size: i64::from(target),
                target_size_float: f64::from(target),
            }],
        }))
    }

    type StreamMetricSpecStream = SpecStream;

    async fn stream_metric_spec(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<SpecStream>, Status> {
        let r = req.into_inner();
        let first = self.get_metric_spec(Request::new(r)).await?.into_inner();
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(first)]))))
    }

    async fn get_metrics(
        &self,
        req: Request<keda::GetMetricsRequest>,
    ) -> Result<Response<keda::GetMetricsResponse>, Status> {
        let req = req.into_inner();
        let r = req
            .scaled_object_ref
            .ok_or_else(|| Status::invalid_argument("scaledObjectRef is required"))?;
        let key = keda_job(&r)?;
        let depth = self.job(&key).await?.work.counts().await.depth();
        // KEDA reads the float field only when it is > 0, so both carry the depth.
        Ok(Response::new(keda::GetMetricsResponse {
            metric_values: vec![keda::MetricValue {
                metric_name: if req.metric_name.is_empty() {
                    keda_metric_name(&key)
                } else {
                    req.metric_name
                },
                metric_value: depth as i64,
                metric_value_float: depth as f64,
            }],
        }))
    }
}
