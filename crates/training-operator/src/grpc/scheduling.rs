//! SchedulingState: queues, a job's admission record, cluster GPUs, events.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use mlfleet_proto::scheduling::v1::{self as pb, scheduling_state_server::SchedulingState};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};

use super::convert;
use crate::book::JobAdmissionState;
use crate::context::Context;

/// The SchedulingState service.
pub struct Service(pub Arc<Context>);

#[tonic::async_trait]
impl SchedulingState for Service {
    async fn list_queues(
        &self,
        req: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        let names = req.into_inner().names;
        let book = self.0.book();
        let queues = book
            .queues
            .values()
            .filter(|q| {
                if names.is_empty() {
                    q.exists || q.pending + q.admitted > 0
                } else {
                    names.contains(&q.name)
                }
            })
            .map(convert::queue)
            .collect();
        Ok(Response::new(pb::ListQueuesResponse { queues }))
    }

    async fn get_job_admission(
        &self,
        req: Request<pb::GetJobAdmissionRequest>,
    ) -> Result<Response<pb::GetJobAdmissionResponse>, Status> {
        let r = req.into_inner();
        let key = format!("{}/{}", r.namespace, r.name);
        if let Some(rec) = self.0.book().records.get(&key) {
            return Ok(Response::new(pb::GetJobAdmissionResponse {
                admission: Some(convert::job(rec)),
            }));
        }
        // Finished jobs are not in the book; answer from the cache.
        let obj = kube::runtime::reflector::ObjectRef::new(&r.name).within(&r.namespace);
        match self.0.caches.training_jobs.get(&obj) {
            Some(tj) if tj.status.as_ref().is_some_and(|s| s.state.is_finished()) => {
                let rec = crate::book::JobRecord {
                    namespace: r.namespace,
                    name: r.name,
                    queue: tj.spec.queue_name.clone().unwrap_or_default(),
                    state: JobAdmissionState::Finished,
                    position: None,
                    reason: None,
                    message: tj
                        .status
                        .as_ref()
                        .and_then(|s| s.message.clone())
                        .unwrap_or_default(),
                    priority: tj.spec.priority,
                    workers: u32::try_from(tj.spec.num_workers).unwrap_or(0),
                    requests: (0, 0, 0),
                    queued_time: tj.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    admitted_time: tj
                        .status
                        .as_ref()
                        .and_then(|s| s.admission_time.as_ref())
                        .map(|t| t.0),
                };
                Ok(Response::new(pb::GetJobAdmissionResponse {
                    admission: Some(convert::job(&rec)),
                }))
            }
            Some(_) => Err(Status::unavailable(
                "job not evaluated by admission yet; retry shortly",
            )),
            None => Err(Status::not_found(format!("TrainingJob {key} not found"))),
        }
    }

    async fn get_cluster_gpus(
        &self,
        _req: Request<pb::GetClusterGpusRequest>,
    ) -> Result<Response<pb::GetClusterGpusResponse>, Status> {
        let book = self.0.book();
        Ok(Response::new(pb::GetClusterGpusResponse {
            cluster: Some(convert::cluster(&book.capacity, book.computed_at)),
        }))
    }

    type WatchSchedulingEventsStream =
        Pin<Box<dyn Stream<Item = Result<pb::SchedulingEvent, Status>> + Send>>;

    async fn watch_scheduling_events(
        &self,
        req: Request<pb::WatchSchedulingEventsRequest>,
    ) -> Result<Response<Self::WatchSchedulingEventsStream>, Status> {
        let f = req.into_inner();
        let rx = self.0.events.subscribe();
        let stream = BroadcastStream::new(rx).filter_map(move |item| {
            let ev = match item {
                Ok(ev) => ev,
                // A slow subscriber missed events: tell it to resynchronise.
                Err(_) => {
                    return Some(Err(Status::data_loss(
                        "subscriber lagged; call the unary RPCs and watch again",
                    )));
                }
            };
            use pb::scheduling_event::Subject;
            let keep = match &ev.subject {
                Some(Subject::Job(j)) => {
                    (f.queue_names.is_empty() || f.queue_names.contains(&j.queue_name))
                        && (f.namespace.is_empty() || f.namespace == j.namespace)
                }
                Some(Subject::Queue(q)) => {
                    f.queue_names.is_empty() || f.queue_names.contains(&q.name)
                }
                _ => true,
            };
            keep.then_some(Ok(ev))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
