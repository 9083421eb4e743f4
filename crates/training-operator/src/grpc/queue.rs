//! QueueDepth and KEDA's external scaler: pending TrainingJobs per queue.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::jiff::Timestamp;
use mlfleet_proto::externalscaler::{self as keda, external_scaler_server::ExternalScaler};
use mlfleet_proto::queue::v1::{self as pb, queue_depth_server::QueueDepth};
use tonic::{Request, Response, Status};

use super::convert::ts;
use crate::context::Context;

/// How often watch streams look for changes.
const WATCH_POLL: Duration = Duration::from_millis(500);

fn sample(ctx: &Context, queue: &str) -> Result<pb::QueueDepthSample, Status> {
    let book = ctx.book();
    let q = book
        .queues
        .get(queue)
        .filter(|q| q.exists || !queue.is_empty() || q.pending + q.admitted > 0)
        .ok_or_else(|| Status::not_found(format!("TrainingQueue {queue:?} not found")))?;
    let now = book.computed_at.unwrap_or_else(Timestamp::now);
    Ok(pb::QueueDepthSample {
        queue: queue.to_string(),
        pending: u64::from(q.pending),
        in_progress: u64::from(q.admitted),
        oldest_pending_age: q.oldest_pending.map(|t| {
            let d = now.duration_since(t);
            prost_types::Duration {
                seconds: d.as_secs().max(0),
                nanos: d.subsec_nanos().max(0),
            }
        }),
        observed_time: Some(ts(now)),
    })
}

/// The QueueDepth service.
pub struct Depth(pub Arc<Context>);

type SampleStream = Pin<Box<dyn Stream<Item = Result<pb::QueueDepthSample, Status>> + Send>>;

#[tonic::async_trait]
impl QueueDepth for Depth {
    async fn get_queue_depth(
        &self,
        req: Request<pb::GetQueueDepthRequest>,
    ) -> Result<Response<pb::GetQueueDepthResponse>, Status> {
        let s = sample(&self.0, &req.into_inner().queue)?;
        Ok(Response::new(pb::GetQueueDepthResponse { depth: Some(s) }))
    }

    type WatchQueueDepthStream = SampleStream;

    async fn watch_queue_depth(
        &self,
        req: Request<pb::WatchQueueDepthRequest>,
    ) -> Result<Response<SampleStream>, Status> {
        let queue = req.into_inner().queue;
        let first = sample(&self.0, &queue)?;
        let ctx = self.0.clone();
        let stream =
            futures::stream::unfold((Some(first), None::<(u64, u64)>), move |(first, last)| {
                let ctx = ctx.clone();
                let queue = queue.clone();
                async move {
                    if let Some(f) = first {
                        let key = (f.pending, f.in_progress);
                        return Some((Ok(f), (None, Some(key))));
                    }
                    loop {
                        tokio::time::sleep(WATCH_POLL).await;
                        match sample(&ctx, &queue) {
                            Ok(s) if Some((s.pending, s.in_progress)) != last => {
                                let key = (s.pending, s.in_progress);
                                return Some((Ok(s), (None, Some(key))));
                            }
                            Ok(_) => continue,
                            Err(e) => return Some((Err(e), (None, last))),
                        }
                    }
                }
            });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// KEDA external scaler. ScaledObject metadata: `queue` (TrainingQueue name,
/// required) and `targetPendingJobs` (default 1).
pub struct Keda(pub Arc<Context>);

fn queue_of(r: &keda::ScaledObjectRef) -> Result<String, Status> {
    r.scaler_metadata
        .get("queue")
        .cloned()
        .ok_or_else(|| Status::invalid_argument("scalerMetadata.queue is required"))
}

fn metric_name(queue: &str) -> String {
    format!("trainingqueue-{queue}-pending")
}

impl Keda {
    fn pending(&self, r: &keda::ScaledObjectRef) -> Result<u64, Status> {
        Ok(sample(&self.0, &queue_of(r)?)?.pending)
    }
}

type ActiveStream = Pin<Box<dyn Stream<Item = Result<keda::IsActiveResponse, Status>> + Send>>;
type SpecStream = Pin<Box<dyn Stream<Item = Result<keda::GetMetricSpecResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Keda {
    async fn is_active(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<keda::IsActiveResponse>, Status> {
        Ok(Response::new(keda::IsActiveResponse {
            result: self.pending(req.get_ref())? > 0,
        }))
    }

    type StreamIsActiveStream = ActiveStream;

    async fn stream_is_active(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<ActiveStream>, Status> {
        let r = req.into_inner();
        let queue = queue_of(&r)?;
        sample(&self.0, &queue)?;
        let ctx = self.0.clone();
        let stream = futures::stream::unfold(None::<bool>, move |last| {
            let ctx = ctx.clone();
            let queue = queue.clone();
            async move {
                loop {
                    if last.is_some() {
                        tokio::time::sleep(WATCH_POLL).await;
                    }
                    match sample(&ctx, &queue) {
                        Ok(s) => {
                            let active = s.pending > 0;
                            if Some(active) != last {
                                return Some((
                                    Ok(keda::IsActiveResponse { result: active }),
                                    Some(active),
                                ));
                            }
                        }
                        Err(e) => return Some((Err(e), last)),
                    }
                    if last.is_none() {
                        tokio::time::sleep(WATCH_POLL).await;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metric_spec(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<keda::GetMetricSpecResponse>, Status> {
        let r = req.into_inner();
        let queue = queue_of(&r)?;
        let target: i64 = r
            .scaler_metadata
            .get("targetPendingJobs")
            .map(|v| {
                v.parse()
                    .map_err(|_| Status::invalid_argument("targetPendingJobs must be an integer"))
            })
            .transpose()?
            .unwrap_or(1)
            .max(1);
        Ok(Response::new(keda::GetMetricSpecResponse {
            metric_specs: vec![keda::MetricSpec {
                metric_name: metric_name(&queue),
                target_size: target,
                target_size_float: target as f64,
            }],
        }))
    }

    async fn get_metrics(
        &self,
        req: Request<keda::GetMetricsRequest>,
    ) -> Result<Response<keda::GetMetricsResponse>, Status> {
        let r = req.into_inner();
        let sref = r
            .scaled_object_ref
            .ok_or_else(|| Status::invalid_argument("scaledObjectRef is required"))?;
        let queue = queue_of(&sref)?;
        let pending = self.pending(&sref)?;
        Ok(Response::new(keda::GetMetricsResponse {
            metric_values: vec![keda::MetricValue {
                metric_name: metric_name(&queue),
                metric_value: i64::try_from(pending).unwrap_or(i64::MAX),
                metric_value_float: pending as f64,
            }],
        }))
    }

    type StreamMetricSpecStream = SpecStream;

    async fn stream_metric_spec(
        &self,
        req: Request<keda::ScaledObjectRef>,
    ) -> Result<Response<SpecStream>, Status> {
        let spec = self.get_metric_spec(req).await?.into_inner();
        Ok(Response::new(Box::pin(futures::stream::once(async move {
            Ok(spec)
        }))))
    }
}
