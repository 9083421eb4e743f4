//! TrainingProgress: workers report epochs, metrics and checkpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use mlfleet_proto::training::v1::{self as pb, training_progress_server::TrainingProgress};
use tonic::{Request, Response, Status};

use crate::context::Context;
use crate::observe::attempt_of;

/// The TrainingProgress service.
pub struct Service(pub Arc<Context>);

impl Service {
    fn lookup(
        &self,
        w: Option<&pb::WorkerRef>,
    ) -> Result<(String, Arc<crd_types::TrainingJob>), Status> {
        let w = w.ok_or_else(|| Status::invalid_argument("worker is required"))?;
        if w.namespace.is_empty() || w.job_name.is_empty() {
            return Err(Status::invalid_argument(
                "worker.namespace and worker.job_name are required",
            ));
        }
        let tj = self
            .0
            .caches
            .training_jobs
            .get(&ObjectRef::new(&w.job_name).within(&w.namespace))
            .ok_or_else(|| {
                Status::not_found(format!(
                    "TrainingJob {}/{} not found",
                    w.namespace, w.job_name
                ))
            })?;
        Ok((format!("{}/{}", w.namespace, w.job_name), tj))
    }

    fn directive(tj: &crd_types::TrainingJob) -> pb::WorkerDirective {
        if tj.spec.suspend {
            pb::WorkerDirective::Stop
        } else {
            pb::WorkerDirective::Continue
        }
    }
}

fn ts(t: Option<prost_types::Timestamp>) -> Timestamp {
    t.and_then(|t| Timestamp::new(t.seconds, t.nanos).ok())
        .unwrap_or_else(Timestamp::now)
}

#[tonic::async_trait]
impl TrainingProgress for Service {
    async fn report_progress(
        &self,
        req: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::ReportProgressResponse>, Status> {
        let r = req.into_inner();
        let (key, tj) = self.lookup(r.worker.as_ref())?;
        self.0.metrics.progress_reports.inc();
        let reported = r.worker.as_ref().map_or(0, |w| w.attempt);
        let total = (r.total_epochs > 0)
            .then_some(r.total_epochs)
            .or_else(|| tj.spec.total_epochs().and_then(|e| u32::try_from(e).ok()));
        let metrics: BTreeMap<String, f64> = r
            .metrics
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .collect();
        let res = if tj.status.as_ref().is_some_and(|s| s.state.is_finished()) {
            Err("the job has finished".to_string())
        } else {
            self.0
                .progress
                .report_epoch(&key, attempt_of(&tj), reported, r.epoch, total, metrics)
                .map_err(|e| e.to_string())
        };
        Ok(Response::new(pb::ReportProgressResponse {
            accepted: res.is_ok(),
            reason: res.err().unwrap_or_default(),
            directive: Self::directive(&tj) as i32,
        }))
    }

    async fn report_checkpoint(
        &self,
        req: Request<pb::ReportCheckpointRequest>,
    ) -> Result<Response<pb::ReportCheckpointResponse>, Status> {
        let r = req.into_inner();
        let (key, tj) = self.lookup(r.worker.as_ref())?;
        if r.path.is_empty() {
            return Err(Status::invalid_argument("path is required"));
        }
        self.0.metrics.progress_reports.inc();
        let reported = r.worker.as_ref().map_or(0, |w| w.attempt);
        let res = self
            .0
            .progress
            .report_checkpoint(&key, attempt_of(&tj), reported, r.epoch, r.path, ts(r.time))
            .map_err(|e| e.to_string());
        Ok(Response::new(pb::ReportCheckpointResponse {
            accepted: res.is_ok(),
            reason: res.err().unwrap_or_default(),
            directive: Self::directive(&tj) as i32,
        }))
    }
}
