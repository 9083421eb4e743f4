//! Loopback round trip of `mlfleet.training.v1.TrainingProgress`: progress and
//! checkpoint reports arrive intact and the operator's directive travels back.

mod common;

use std::collections::HashMap;

use common::{Recorder, serve, ts};
use mlfleet_proto::training::v1::{
    ReportCheckpointRequest, ReportCheckpointResponse, ReportProgressRequest,
    ReportProgressResponse, WorkerDirective, WorkerRef, metric_keys,
    training_progress_client::TrainingProgressClient,
    training_progress_server::{TrainingProgress, TrainingProgressServer},
};
use tonic::{Code, Request, Response, Status, transport::Server};

/// Attempt the test server treats as current; reports from others are stale.
const CURRENT_ATTEMPT: u32 = 2;

fn worker(rank: u32, attempt: u32) -> WorkerRef {
    WorkerRef {
        namespace: "team-a".into(),
        job_name: "test-job".into(),
        rank,
        attempt,
    }
}

fn metrics(loss: f64) -> HashMap<String, f64> {
    HashMap::from([
        (metric_keys::LOSS.to_string(), loss),
        (metric_keys::ACCURACY.to_string(), 0.8125),
        (metric_keys::THROUGHPUT.to_string(), 1_234.5),
        ("lr".to_string(), 0.001),
    ])
}

#[derive(Clone, Default)]
struct TestOperator {
    progress: Recorder<ReportProgressRequest>,
    checkpoints: Recorder<ReportCheckpointRequest>,
}

impl TestOperator {
    /// Shared acceptance rule: unknown job → NOT_FOUND, stale attempt → not accepted.
    fn judge(worker: Option<&WorkerRef>) -> Result<(bool, String), Status> {
        let worker = worker.ok_or_else(|| Status::invalid_argument("worker is required"))?;
        if worker.job_name != "test-job" {
            return Err(Status::not_found(format!(
                "TrainingJob {}/{} not found",
                worker.namespace, worker.job_name
            )));
        }
        if worker.attempt == CURRENT_ATTEMPT {
            Ok((true, String::new()))
        } else {
            Ok((
                false,
                format!("attempt {} replaced by {CURRENT_ATTEMPT}", worker.attempt),
            ))
        }
    }
}

#[tonic::async_trait]
impl TrainingProgress for TestOperator {
    async fn report_progress(
        &self,
        request: Request<ReportProgressRequest>,
    ) -> Result<Response<ReportProgressResponse>, Status> {
        let request = request.into_inner();
        self.progress.push(request.clone());
        let (accepted, reason) = Self::judge(request.worker.as_ref())?;
        // Ask for a checkpoint on the last epoch so the directive path is exercised.
        let directive = if request.epoch == request.total_epochs {
            WorkerDirective::CheckpointNow
        } else {
            WorkerDirective::Continue
        };
        Ok(Response::new(ReportProgressResponse {
            accepted,
            reason,
            directive: directive as i32,
        }))
    }

    async fn report_checkpoint(
        &self,
        request: Request<ReportCheckpointRequest>,
    ) -> Result<Response<ReportCheckpointResponse>, Status> {
        let request = request.into_inner();
        self.checkpoints.push(request.clone());
        let (accepted, reason) = Self::judge(request.worker.as_ref())?;
        Ok(Response::new(ReportCheckpointResponse {
            accepted,
            reason,
            directive: WorkerDirective::Stop as i32,
        }))
    }
}

async fn client_for(operator: &TestOperator) -> TrainingProgressClient<tonic::transport::Channel> {
    let url =
        serve(Server::builder().add_service(TrainingProgressServer::new(operator.clone()))).await;
    TrainingProgressClient::connect(url).await.expect("connect")
}

#[tokio::test]
async fn report_progress_delivers_epochs_and_metrics() {
    let operator = TestOperator::default();
    let mut client = client_for(&operator).await;

    let mut sent = Vec::new();
    let mut directives = Vec::new();
    for epoch in 1..=10u32 {
        let report = ReportProgressRequest {
            worker: Some(worker(epoch % 2, CURRENT_ATTEMPT)),
            epoch,
            total_epochs: 10,
            step: (epoch % 3 != 0).then_some(u64::from(epoch) * 500),
            metrics: metrics(2.0 / f64::from(epoch)),
            report_time: Some(ts(1_790_000_000 + i64::from(epoch), 7)),
        };
        let response = client
            .report_progress(report.clone())
            .await
            .expect("ReportProgress")
            .into_inner();
        assert!(response.accepted, "epoch {epoch}: {}", response.reason);
        directives.push(response.directive());
        sent.push(report);
    }

    assert_eq!(operator.progress.all(), sent);
    assert_eq!(directives[..9], [WorkerDirective::Continue; 9]);
    assert_eq!(directives[9], WorkerDirective::CheckpointNow);
    // proto3 optional: absent stays absent, it does not turn into 0.
    assert_eq!(operator.progress.all()[2].step, None);
}

#[tokio::test]
async fn stale_attempt_is_reported_not_accepted() {
    let operator = TestOperator::default();
    let mut client = client_for(&operator).await;

    let response = client
        .report_progress(ReportProgressRequest {
            worker: Some(worker(0, 1)),
            epoch: 3,
            total_epochs: 10,
            ..Default::default()
        })
        .await
        .expect("ReportProgress")
        .into_inner();
    assert!(!response.accepted);
    assert_eq!(response.reason, "attempt 1 replaced by 2");

    let mut unknown = worker(0, CURRENT_ATTEMPT);
    unknown.job_name = "other".into();
    let status = client
        .report_progress(ReportProgressRequest {
            worker: Some(unknown),
            ..Default::default()
        })
        .await
        .expect_err("unknown job");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn report_checkpoint_delivers_path_and_size() {
    let operator = TestOperator::default();
    let mut client = client_for(&operator).await;

    let checkpoint = ReportCheckpointRequest {
        worker: Some(worker(0, CURRENT_ATTEMPT)),
        epoch: 7,
        path: "s3://ckpt/team-a/test-job/epoch-7.pt".into(),
        size_bytes: Some(98_765_432_101),
        metrics: metrics(0.31),
        time: Some(ts(1_790_000_777, 123)),
    };
    let response = client
        .report_checkpoint(checkpoint.clone())
        .await
        .expect("ReportCheckpoint")
        .into_inner();

    assert!(response.accepted);
    assert_eq!(response.directive(), WorkerDirective::Stop);
    assert_eq!(operator.checkpoints.all(), vec![checkpoint]);
}
