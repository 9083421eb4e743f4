//! Loopback round trip of `mlfleet.gpu.v1.GpuAgent`: every RPC, every field.

mod common;

use common::{Recorder, serve, ts};
use futures::stream::{self, BoxStream, StreamExt};
use mlfleet_proto::gpu::v1::{
    Backend, EccErrors, GetNodeGpusRequest, GetNodeGpusResponse, Gpu, GpuHealth, HealthState,
    MigMode, NodeGpus, UpdateReason, WatchNodeGpusRequest, WatchNodeGpusResponse, XidEvent,
    gpu_agent_client::GpuAgentClient,
    gpu_agent_server::{GpuAgent, GpuAgentServer},
};
use tonic::{Code, Request, Response, Status, transport::Server};

const NODE: &str = "gpu-node-7";

fn gpu(index: u32, healthy: bool) -> Gpu {
    Gpu {
        index,
        uuid: format!("GPU-0000000{index}-aaaa-bbbb-cccc-dddddddddddd"),
        model: "NVIDIA H100 80GB HBM3".into(),
        pci_bus_id: format!("00000000:{:02X}:00.0", 0x18 + index),
        memory_total_bytes: 85_520_809_984,
        memory_used_bytes: 1_048_576 * (index as u64 + 3),
        memory_free_bytes: 85_520_809_984 - 1_048_576 * (index as u64 + 3),
        utilization_percent: 37 + index,
        memory_utilization_percent: 11 + index,
        temperature_celsius: 61,
        power_watts: 312.25,
        power_limit_watts: 700.0,
        mig_mode: if index == 0 {
            MigMode::Enabled
        } else {
            MigMode::Disabled
        } as i32,
        ecc: Some(EccErrors {
            enabled: true,
            volatile_corrected: 4,
            volatile_uncorrected: u64::from(!healthy) * 2,
            aggregate_corrected: 19,
            aggregate_uncorrected: u64::from(!healthy) * 2,
        }),
        last_xid: Some(XidEvent {
            code: if healthy { 13 } else { 79 },
            time: Some(ts(1_790_000_100, 5)),
            ignored: healthy,
        }),
        xid_events_total: 3,
        health: Some(GpuHealth {
            state: if healthy {
                HealthState::Healthy
            } else {
                HealthState::Unhealthy
            } as i32,
            reason: if healthy {
                String::new()
            } else {
                "XID 79".into()
            },
            since: Some(ts(1_790_000_000, 999_999_999)),
        }),
    }
}

fn node(sample_secs: i64, gpu1_healthy: bool) -> NodeGpus {
    NodeGpus {
        node_name: NODE.into(),
        driver_version: "550.54.15".into(),
        cuda_version: "12.4".into(),
        backend: Backend::Simulated as i32,
        backend_ready: true,
        backend_message: "simulated inventory from flags".into(),
        gpus: vec![gpu(0, true), gpu(1, gpu1_healthy)],
        sample_time: Some(ts(sample_secs, 250_000_000)),
    }
}

/// The updates the test server streams for one watch.
fn watch_script() -> Vec<WatchNodeGpusResponse> {
    vec![
        WatchNodeGpusResponse {
            node: Some(node(1_790_000_200, true)),
            reason: UpdateReason::Initial as i32,
            changed_gpu_indexes: vec![],
        },
        WatchNodeGpusResponse {
            node: Some(node(1_790_000_201, false)),
            reason: UpdateReason::HealthChanged as i32,
            changed_gpu_indexes: vec![1],
        },
        WatchNodeGpusResponse {
            node: Some(node(1_790_000_202, false)),
            reason: UpdateReason::Periodic as i32,
            changed_gpu_indexes: vec![],
        },
    ]
}

#[derive(Clone, Default)]
struct TestAgent {
    gets: Recorder<GetNodeGpusRequest>,
    watches: Recorder<WatchNodeGpusRequest>,
}

impl TestAgent {
    fn check_node(name: &str) -> Result<(), Status> {
        if name.is_empty() || name == NODE {
            Ok(())
        } else {
            Err(Status::not_found(format!(
                "this agent serves {NODE}, not {name}"
            )))
        }
    }
}

#[tonic::async_trait]
impl GpuAgent for TestAgent {
    async fn get_node_gpus(
        &self,
        request: Request<GetNodeGpusRequest>,
    ) -> Result<Response<GetNodeGpusResponse>, Status> {
        let request = request.into_inner();
        self.gets.push(request.clone());
        Self::check_node(&request.node_name)?;
        Ok(Response::new(GetNodeGpusResponse {
            node: Some(node(1_790_000_200, true)),
        }))
    }

    type WatchNodeGpusStream = BoxStream<'static, Result<WatchNodeGpusResponse, Status>>;

    async fn watch_node_gpus(
        &self,
        request: Request<WatchNodeGpusRequest>,
    ) -> Result<Response<Self::WatchNodeGpusStream>, Status> {
        let request = request.into_inner();
        self.watches.push(request.clone());
        Self::check_node(&request.node_name)?;
        Ok(Response::new(
            stream::iter(watch_script().into_iter().map(Ok)).boxed(),
        ))
    }
}

#[tokio::test]
async fn get_node_gpus_returns_every_field_intact() {
    let agent = TestAgent::default();
    let url = serve(Server::builder().add_service(GpuAgentServer::new(agent.clone()))).await;
    let mut client = GpuAgentClient::connect(url).await.expect("connect");

    let request = GetNodeGpusRequest {
        node_name: NODE.into(),
    };
    let got = client
        .get_node_gpus(request.clone())
        .await
        .expect("GetNodeGpus")
        .into_inner();

    assert_eq!(got.node, Some(node(1_790_000_200, true)));
    let node = got.node.expect("node");
    assert_eq!(node.gpus[0].mig_mode(), MigMode::Enabled);
    assert_eq!(node.backend(), Backend::Simulated);
    assert_eq!(agent.gets.all(), vec![request]);
}

#[tokio::test]
async fn get_node_gpus_for_another_node_is_not_found() {
    let url = serve(Server::builder().add_service(GpuAgentServer::new(TestAgent::default()))).await;
    let mut client = GpuAgentClient::connect(url).await.expect("connect");

    let status = client
        .get_node_gpus(GetNodeGpusRequest {
            node_name: "other-node".into(),
        })
        .await
        .expect_err("wrong node must fail");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("other-node"), "{status:?}");
}

#[tokio::test]
async fn watch_node_gpus_streams_every_update_in_order() {
    let agent = TestAgent::default();
    let url = serve(Server::builder().add_service(GpuAgentServer::new(agent.clone()))).await;
    let mut client = GpuAgentClient::connect(url).await.expect("connect");

    let request = WatchNodeGpusRequest {
        node_name: String::new(),
        max_interval_ms: 1_500,
    };
    let mut stream = client
        .watch_node_gpus(request.clone())
        .await
        .expect("WatchNodeGpus")
        .into_inner();
    let mut received = Vec::new();
    while let Some(update) = stream.message().await.expect("stream item") {
        received.push(update);
    }

    assert_eq!(received, watch_script());
    let unhealthy = &received[1].node.as_ref().expect("node").gpus[1];
    assert_eq!(
        unhealthy.health.as_ref().expect("health").state(),
        HealthState::Unhealthy
    );
    assert_eq!(received[1].reason(), UpdateReason::HealthChanged);
    assert_eq!(agent.watches.all(), vec![request]);
}
