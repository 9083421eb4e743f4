//! Loopback round trip of `mlfleet.scheduling.v1.SchedulingState`: every RPC,
//! including the event stream and its oneof payloads.

mod common;

use common::{Recorder, serve, ts};
use futures::stream::{self, BoxStream, StreamExt};
use mlfleet_proto::scheduling::v1::{
    AdmissionState, CapacitySource, ClusterGpus, GetClusterGpusRequest, GetClusterGpusResponse,
    GetJobAdmissionRequest, GetJobAdmissionResponse, GpuCounts, JobAdmission, ListQueuesRequest,
    ListQueuesResponse, ModelGpuAvailability, NodeGpuAvailability, QueueState, ResourceAmounts,
    ResourceQuota, SchedulingEvent, SchedulingEventType, WaitReason, WatchSchedulingEventsRequest,
    scheduling_event::Subject,
    scheduling_state_client::SchedulingStateClient,
    scheduling_state_server::{SchedulingState, SchedulingStateServer},
};
use tonic::{Code, Request, Response, Status, transport::Server};

fn queues() -> Vec<QueueState> {
    vec![
        QueueState {
            name: "research".into(),
            pending_jobs: 3,
            admitted_jobs: 2,
            usage: Some(ResourceAmounts {
                gpus: 16,
                cpu_millicores: 64_000,
                memory_bytes: 512 << 30,
            }),
            quota: Some(ResourceQuota {
                gpus: Some(16),
                cpu_millicores: None,
                memory_bytes: Some(1 << 40),
            }),
            pending_requests: Some(ResourceAmounts {
                gpus: 24,
                cpu_millicores: 96_000,
                memory_bytes: 768 << 30,
            }),
        },
        QueueState {
            name: "prod".into(),
            pending_jobs: 0,
            admitted_jobs: 1,
            usage: Some(ResourceAmounts {
                gpus: 8,
                cpu_millicores: 32_500,
                memory_bytes: 256 << 30,
            }),
            quota: Some(ResourceQuota {
                gpus: None,
                cpu_millicores: Some(128_000),
                memory_bytes: None,
            }),
            pending_requests: Some(ResourceAmounts::default()),
        },
    ]
}

fn queued_job() -> JobAdmission {
    JobAdmission {
        namespace: "team-a".into(),
        name: "resnet-sweep-4".into(),
        queue_name: "research".into(),
        state: AdmissionState::Queued as i32,
        queue_position: Some(2),
        wait_reason: WaitReason::ClusterCapacity as i32,
        message: "needs 8 GPUs, 4 free".into(),
        priority: -5,
        workers: 4,
        requests: Some(ResourceAmounts {
            gpus: 8,
            cpu_millicores: 16_000,
            memory_bytes: 128 << 30,
        }),
        queued_time: Some(ts(1_790_000_000, 1)),
        admitted_time: None,
    }
}

fn counts(allocatable: u32, used: u32, unhealthy: u32) -> GpuCounts {
    GpuCounts {
        allocatable,
        used,
        free: allocatable.saturating_sub(used + unhealthy),
        unhealthy,
    }
}

fn cluster() -> ClusterGpus {
    ClusterGpus {
        source: CapacitySource::GpuAgent as i32,
        source_message: "2 of 2 gpu-node-agents reporting".into(),
        total: Some(counts(16, 10, 1)),
        nodes: vec![
            NodeGpuAvailability {
                node_name: "gpu-a".into(),
                gpu_model: "NVIDIA A100-SXM4-80GB".into(),
                counts: Some(counts(8, 8, 0)),
            },
            NodeGpuAvailability {
                node_name: "gpu-b".into(),
                gpu_model: "NVIDIA H100 80GB HBM3".into(),
                counts: Some(counts(8, 2, 1)),
            },
        ],
        models: vec![
            ModelGpuAvailability {
                gpu_model: "NVIDIA A100-SXM4-80GB".into(),
                counts: Some(counts(8, 8, 0)),
                nodes: 1,
            },
            ModelGpuAvailability {
                gpu_model: "NVIDIA H100 80GB HBM3".into(),
                counts: Some(counts(8, 2, 1)),
                nodes: 1,
            },
        ],
        observed_time: Some(ts(1_790_000_050, 0)),
    }
}

fn events() -> Vec<SchedulingEvent> {
    let mut admitted = queued_job();
    admitted.state = AdmissionState::Admitted as i32;
    admitted.queue_position = None;
    admitted.wait_reason = WaitReason::None as i32;
    admitted.admitted_time = Some(ts(1_790_000_090, 0));
    vec![
        SchedulingEvent {
            time: Some(ts(1_790_000_060, 0)),
            r#type: SchedulingEventType::JobQueued as i32,
            message: "team-a/resnet-sweep-4 queued in research".into(),
            subject: Some(Subject::Job(queued_job())),
        },
        SchedulingEvent {
            time: Some(ts(1_790_000_070, 0)),
            r#type: SchedulingEventType::QueueUpdated as i32,
            message: "research depth 3".into(),
            subject: Some(Subject::Queue(queues()[0].clone())),
        },
        SchedulingEvent {
            time: Some(ts(1_790_000_080, 0)),
            r#type: SchedulingEventType::CapacityChanged as i32,
            message: "gpu-b: 1 GPU unhealthy".into(),
            subject: Some(Subject::Cluster(cluster())),
        },
        SchedulingEvent {
            time: Some(ts(1_790_000_090, 0)),
            r#type: SchedulingEventType::JobAdmitted as i32,
            message: "team-a/resnet-sweep-4 admitted".into(),
            subject: Some(Subject::Job(admitted)),
        },
    ]
}

#[derive(Clone, Default)]
struct TestScheduler {
    lists: Recorder<ListQueuesRequest>,
    admissions: Recorder<GetJobAdmissionRequest>,
    watches: Recorder<WatchSchedulingEventsRequest>,
}

#[tonic::async_trait]
impl SchedulingState for TestScheduler {
    async fn list_queues(
        &self,
        request: Request<ListQueuesRequest>,
    ) -> Result<Response<ListQueuesResponse>, Status> {
        let request = request.into_inner();
        self.lists.push(request.clone());
        let queues = queues()
            .into_iter()
            .filter(|q| request.names.is_empty() || request.names.contains(&q.name))
            .collect();
        Ok(Response::new(ListQueuesResponse { queues }))
    }

    async fn get_job_admission(
        &self,
        request: Request<GetJobAdmissionRequest>,
    ) -> Result<Response<GetJobAdmissionResponse>, Status> {
        let request = request.into_inner();
        self.admissions.push(request.clone());
        let job = queued_job();
        if request.namespace == job.namespace && request.name == job.name {
            Ok(Response::new(GetJobAdmissionResponse {
                admission: Some(job),
            }))
        } else {
            Err(Status::not_found(format!(
                "TrainingJob {}/{} not found",
                request.namespace, request.name
            )))
        }
    }

    async fn get_cluster_gpus(
        &self,
        _request: Request<GetClusterGpusRequest>,
    ) -> Result<Response<GetClusterGpusResponse>, Status> {
        Ok(Response::new(GetClusterGpusResponse {
            cluster: Some(cluster()),
        }))
    }

    type WatchSchedulingEventsStream = BoxStream<'static, Result<SchedulingEvent, Status>>;

    async fn watch_scheduling_events(
        &self,
        request: Request<WatchSchedulingEventsRequest>,
    ) -> Result<Response<Self::WatchSchedulingEventsStream>, Status> {
        self.watches.push(request.into_inner());
        Ok(Response::new(
            stream::iter(events().into_iter().map(Ok)).boxed(),
        ))
    }
}

async fn client_for(scheduler: &TestScheduler) -> SchedulingStateClient<tonic::transport::Channel> {
    let url =
        serve(Server::builder().add_service(SchedulingStateServer::new(scheduler.clone()))).await;
    SchedulingStateClient::connect(url).await.expect("connect")
}

#[tokio::test]
async fn list_queues_returns_depth_usage_and_quota() {
    let scheduler = TestScheduler::default();
    let mut client = client_for(&scheduler).await;

    let all = client
        .list_queues(ListQueuesRequest::default())
        .await
        .expect("ListQueues")
        .into_inner();
    assert_eq!(all.queues, queues());
    // An absent quota field (no limit) stays absent, a zero usage stays zero.
    assert_eq!(
        all.queues[0].quota.as_ref().expect("quota").cpu_millicores,
        None
    );
    assert_eq!(all.queues[1].quota.as_ref().expect("quota").gpus, None);

    let filtered = ListQueuesRequest {
        names: vec!["prod".into(), "missing".into()],
    };
    let one = client
        .list_queues(filtered.clone())
        .await
        .expect("ListQueues filtered")
        .into_inner();
    assert_eq!(one.queues, vec![queues()[1].clone()]);
    assert_eq!(
        scheduler.lists.all(),
        vec![ListQueuesRequest::default(), filtered]
    );
}

#[tokio::test]
async fn get_job_admission_returns_state_position_and_reason() {
    let scheduler = TestScheduler::default();
    let mut client = client_for(&scheduler).await;

    let request = GetJobAdmissionRequest {
        namespace: "team-a".into(),
        name: "resnet-sweep-4".into(),
    };
    let admission = client
        .get_job_admission(request.clone())
        .await
        .expect("GetJobAdmission")
        .into_inner()
        .admission
        .expect("admission");
    assert_eq!(admission, queued_job());
    assert_eq!(admission.state(), AdmissionState::Queued);
    assert_eq!(admission.queue_position, Some(2));
    assert_eq!(admission.wait_reason(), WaitReason::ClusterCapacity);

    let missing = client
        .get_job_admission(GetJobAdmissionRequest {
            namespace: "team-a".into(),
            name: "nope".into(),
        })
        .await
        .expect_err("unknown job");
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(scheduler.admissions.all()[0], request);
}

#[tokio::test]
async fn get_cluster_gpus_returns_per_node_and_per_model_counts() {
    let scheduler = TestScheduler::default();
    let mut client = client_for(&scheduler).await;

    let got = client
        .get_cluster_gpus(GetClusterGpusRequest {})
        .await
        .expect("GetClusterGpus")
        .into_inner()
        .cluster
        .expect("cluster");
    assert_eq!(got, cluster());
    assert_eq!(got.source(), CapacitySource::GpuAgent);
    assert_eq!(got.total.expect("total").free, 5);
}

#[tokio::test]
async fn watch_scheduling_events_streams_all_payload_kinds() {
    let scheduler = TestScheduler::default();
    let mut client = client_for(&scheduler).await;

    let request = WatchSchedulingEventsRequest {
        queue_names: vec!["research".into()],
        namespace: "team-a".into(),
    };
    let mut stream = client
        .watch_scheduling_events(request.clone())
        .await
        .expect("WatchSchedulingEvents")
        .into_inner();
    let mut received = Vec::new();
    while let Some(event) = stream.message().await.expect("stream item") {
        received.push(event);
    }

    assert_eq!(received, events());
    let kinds: Vec<_> = received.iter().map(SchedulingEvent::r#type).collect();
    assert_eq!(
        kinds,
        vec![
            SchedulingEventType::JobQueued,
            SchedulingEventType::QueueUpdated,
            SchedulingEventType::CapacityChanged,
            SchedulingEventType::JobAdmitted,
        ]
    );
    assert!(matches!(received[2].subject, Some(Subject::Cluster(_))));
    assert_eq!(scheduler.watches.all(), vec![request]);
}
