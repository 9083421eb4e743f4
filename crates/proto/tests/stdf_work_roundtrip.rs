//! Loopback round trip of `mlfleet.ingest.v1.StdfWork`: claim, heartbeat,
//! complete and fail against a small in-memory lease table.

mod common;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use common::{Recorder, dur, serve, ts};
use mlfleet_proto::ingest::v1::{
    ClaimFileRequest, ClaimFileResponse, CompleteFileRequest, CompleteFileResponse, ErrorClass,
    FailFileRequest, FailFileResponse, FailOutcome, FileLease, FileStats, HeartbeatRequest,
    HeartbeatResponse, JobRef, NoWork, NoWorkReason, OutputFormat, OutputLayout,
    claim_file_response::Outcome,
    stdf_work_client::StdfWorkClient,
    stdf_work_server::{StdfWork, StdfWorkServer},
};
use tonic::{Code, Request, Response, Status, transport::Server};

const LEASE_SECONDS: i64 = 30;
const START: i64 = 1_790_000_000;

fn job() -> JobRef {
    JobRef {
        namespace: "fab".into(),
        name: "lot-42".into(),
    }
}

#[derive(Default)]
struct Table {
    pending: VecDeque<(String, u64)>,
    leased: HashMap<String, (String, u32)>,
    completed: Vec<String>,
    next_lease: u32,
    clock: i64,
}

#[derive(Clone, Default)]
struct TestScaler {
    table: Arc<Mutex<Table>>,
    completes: Recorder<CompleteFileRequest>,
    fails: Recorder<FailFileRequest>,
    claims: Recorder<ClaimFileRequest>,
}

impl TestScaler {
    fn with_files(files: &[(&str, u64)]) -> Self {
        let scaler = Self::default();
        scaler.table.lock().expect("table").pending = files
            .iter()
            .map(|(uri, size)| (uri.to_string(), *size))
            .collect();
        scaler
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().expect("table lock")
    }
}

fn lost_lease(lease_id: &str) -> Status {
    Status::failed_precondition(format!("lease {lease_id} is not held"))
}

#[tonic::async_trait]
impl StdfWork for TestScaler {
    async fn claim_file(
        &self,
        request: Request<ClaimFileRequest>,
    ) -> Result<Response<ClaimFileResponse>, Status> {
        let request = request.into_inner();
        self.claims.push(request.clone());
        if request.job != Some(job()) {
            return Err(Status::not_found("STDFParserJob not found"));
        }
        let mut table = self.table();
        let Some((uri, size)) = table.pending.pop_front() else {
            return Ok(Response::new(ClaimFileResponse {
                outcome: Some(Outcome::NoWork(NoWork {
                    reason: NoWorkReason::QueueEmpty as i32,
                    retry_after: Some(dur(5, 0)),
                })),
            }));
        };
        table.next_lease += 1;
        table.clock += 1;
        let lease_id = format!("lease-{}", table.next_lease);
        let attempt = 1;
        table
            .leased
            .insert(lease_id.clone(), (uri.clone(), attempt));
        let name = uri
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .replace(".stdf", "");
        Ok(Response::new(ClaimFileResponse {
            outcome: Some(Outcome::Lease(FileLease {
                lease_id,
                job: Some(job()),
                file_uri: uri,
                size_bytes: size,
                attempt,
                lease_deadline: Some(ts(START + table.clock + LEASE_SECONDS, 0)),
                heartbeat_interval: Some(dur(10, 0)),
                output_uri: format!("s3://out/lot-42/{name}.parquet"),
                output_format: OutputFormat::Parquet as i32,
                output_layout: OutputLayout::Measurements as i32,
            })),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let request = request.into_inner();
        let mut table = self.table();
        if !table.leased.contains_key(&request.lease_id) {
            return Err(lost_lease(&request.lease_id));
        }
        table.clock += 1;
        Ok(Response::new(HeartbeatResponse {
            lease_deadline: Some(ts(START + table.clock + LEASE_SECONDS, 0)),
        }))
    }

    async fn complete_file(
        &self,
        request: Request<CompleteFileRequest>,
    ) -> Result<Response<CompleteFileResponse>, Status> {
        let request = request.into_inner();
        self.completes.push(request.clone());
        let mut table = self.table();
        if table.completed.contains(&request.lease_id) {
            return Ok(Response::new(CompleteFileResponse { duplicate: true }));
        }
        if table.leased.remove(&request.lease_id).is_none() {
            return Err(lost_lease(&request.lease_id));
        }
        table.completed.push(request.lease_id);
        Ok(Response::new(CompleteFileResponse { duplicate: false }))
    }

    async fn fail_file(
        &self,
        request: Request<FailFileRequest>,
    ) -> Result<Response<FailFileResponse>, Status> {
        let request = request.into_inner();
        self.fails.push(request.clone());
        let mut table = self.table();
        let (uri, attempts) = table
            .leased
            .remove(&request.lease_id)
            .ok_or_else(|| lost_lease(&request.lease_id))?;
        let response = match request.error_class() {
            ErrorClass::Corrupt => FailFileResponse {
                outcome: FailOutcome::Quarantined as i32,
                attempts,
                retry_at: None,
            },
            ErrorClass::Transient | ErrorClass::Unspecified => {
                table.pending.push_back((uri, 0));
                FailFileResponse {
                    outcome: FailOutcome::RetryScheduled as i32,
                    attempts,
                    retry_at: Some(ts(START + 60, 0)),
                }
            }
        };
        Ok(Response::new(response))
    }
}

async fn claim(client: &mut StdfWorkClient<tonic::transport::Channel>) -> Outcome {
    client
        .claim_file(ClaimFileRequest {
            worker_id: "stdf-worker-abc12".into(),
            job: Some(job()),
        })
        .await
        .expect("ClaimFile")
        .into_inner()
        .outcome
        .expect("claim outcome")
}

#[tokio::test]
async fn claim_heartbeat_complete_and_fail_round_trip() {
    let scaler = TestScaler::with_files(&[
        ("file:///data/lot-42/wafer-01.stdf", 5_242_880),
        ("file:///data/lot-42/wafer-02.stdf", 4_000_001),
    ]);
    let url = serve(Server::builder().add_service(StdfWorkServer::new(scaler.clone()))).await;
    let mut client = StdfWorkClient::connect(url).await.expect("connect");

    // Claim: every lease field arrives.
    let Outcome::Lease(lease) = claim(&mut client).await else {
        panic!("expected a lease");
    };
    assert_eq!(
        lease,
        FileLease {
            lease_id: "lease-1".into(),
            job: Some(job()),
            file_uri: "file:///data/lot-42/wafer-01.stdf".into(),
            size_bytes: 5_242_880,
            attempt: 1,
            lease_deadline: Some(ts(START + 1 + LEASE_SECONDS, 0)),
            heartbeat_interval: Some(dur(10, 0)),
            output_uri: "s3://out/lot-42/wafer-01.parquet".into(),
            output_format: OutputFormat::Parquet as i32,
            output_layout: OutputLayout::Measurements as i32,
        }
    );
    assert_eq!(
        scaler.claims.all()[0],
        ClaimFileRequest {
            worker_id: "stdf-worker-abc12".into(),
            job: Some(job()),
        }
    );

    // Heartbeat moves the deadline forward.
    let renewed = client
        .heartbeat(HeartbeatRequest {
            lease_id: lease.lease_id.clone(),
            worker_id: "stdf-worker-abc12".into(),
        })
        .await
        .expect("Heartbeat")
        .into_inner()
        .lease_deadline
        .expect("deadline");
    assert!(renewed.seconds > lease.lease_deadline.as_ref().expect("deadline").seconds);

    // Complete with stats: the stats arrive intact; a retry is flagged duplicate.
    let complete = CompleteFileRequest {
        lease_id: lease.lease_id.clone(),
        worker_id: "stdf-worker-abc12".into(),
        stats: Some(FileStats {
            records: 48_211,
            rows_per_table: HashMap::from([
                ("ptr".to_string(), 45_000),
                ("prr".to_string(), 1_200),
                ("mir".to_string(), 1),
            ]),
            input_bytes: 5_242_880,
            output_bytes: 1_048_577,
            duration: Some(dur(0, 734_000_000)),
            output_uri: "s3://out/lot-42/wafer-01.parquet".into(),
        }),
    };
    let first = client
        .complete_file(complete.clone())
        .await
        .expect("CompleteFile");
    assert!(!first.into_inner().duplicate);
    let again = client.complete_file(complete.clone()).await.expect("retry");
    assert!(again.into_inner().duplicate);
    assert_eq!(scaler.completes.all(), vec![complete.clone(), complete]);

    // A heartbeat on the finished lease is refused with FAILED_PRECONDITION.
    let status = client
        .heartbeat(HeartbeatRequest {
            lease_id: lease.lease_id,
            worker_id: "stdf-worker-abc12".into(),
        })
        .await
        .expect_err("lease is gone");
    assert_eq!(status.code(), Code::FailedPrecondition);

    // Second file: transient failure is retried, corrupt failure is quarantined.
    let Outcome::Lease(second) = claim(&mut client).await else {
        panic!("expected a second lease");
    };
    let transient = FailFileRequest {
        lease_id: second.lease_id.clone(),
        worker_id: "stdf-worker-abc12".into(),
        error_class: ErrorClass::Transient as i32,
        message: "connection reset while reading".into(),
    };
    let retry = client
        .fail_file(transient.clone())
        .await
        .expect("FailFile transient")
        .into_inner();
    assert_eq!(retry.outcome(), FailOutcome::RetryScheduled);
    assert_eq!(retry.attempts, 1);
    assert_eq!(retry.retry_at, Some(ts(START + 60, 0)));

    let Outcome::Lease(third) = claim(&mut client).await else {
        panic!("the transient failure must be claimable again");
    };
    assert_eq!(third.file_uri, second.file_uri);
    let corrupt = FailFileRequest {
        lease_id: third.lease_id.clone(),
        worker_id: "stdf-worker-abc12".into(),
        error_class: ErrorClass::Corrupt as i32,
        message: "FAR record missing at offset 0".into(),
    };
    let quarantined = client
        .fail_file(corrupt.clone())
        .await
        .expect("FailFile corrupt")
        .into_inner();
    assert_eq!(quarantined.outcome(), FailOutcome::Quarantined);
    assert_eq!(quarantined.retry_at, None);
    assert_eq!(scaler.fails.all(), vec![transient, corrupt]);

    // Nothing left: NoWork with its reason and retry hint.
    assert_eq!(
        claim(&mut client).await,
        Outcome::NoWork(NoWork {
            reason: NoWorkReason::QueueEmpty as i32,
            retry_after: Some(dur(5, 0)),
        })
    );
}

#[tokio::test]
async fn claim_for_unknown_job_is_not_found() {
    let url =
        serve(Server::builder().add_service(StdfWorkServer::new(TestScaler::default()))).await;
    let mut client = StdfWorkClient::connect(url).await.expect("connect");
    let status = client
        .claim_file(ClaimFileRequest {
            worker_id: "w".into(),
            job: Some(JobRef {
                namespace: "fab".into(),
                name: "missing".into(),
            }),
        })
        .await
        .expect_err("unknown job");
    assert_eq!(status.code(), Code::NotFound);
}
