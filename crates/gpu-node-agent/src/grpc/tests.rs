//! In-process tests of the GpuAgent service over loopback TCP.

use super::*;
use crate::health::{GpuHealth, UnhealthyReason};
use crate::snapshot::tests::{gpu, snapshot};
use mlfleet_proto::gpu::v1::gpu_agent_client::GpuAgentClient;
use prometheus_client::registry::Registry;
use tokio_stream::wrappers::TcpListenerStream;

struct Harness {
    tx: watch::Sender<Arc<NodeSnapshot>>,
    client: GpuAgentClient<tonic::transport::Channel>,
    shutdown: CancellationToken,
}

async fn start(default_interval: Duration) -> Harness {
    let (tx, rx) = watch::channel(Arc::new(snapshot(vec![gpu(0, "GPU-a"), gpu(1, "GPU-b")])));
    let metrics = Arc::new(AgentMetrics::register(
        &mut Registry::default(),
        &mut Registry::default(),
    ));
    let shutdown = CancellationToken::new();
    let svc = GpuAgentService::new(
        GrpcConfig {
            node_name: "node-a".into(),
            default_interval,
            min_interval: Duration::from_millis(50),
            memory_threshold_bytes: 1024 * crate::backend::MIB,
        },
        rx,
        metrics,
        shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = shutdown.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc.into_server())
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                stop.cancelled().await
            }),
    );
    let client = GpuAgentClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    Harness {
        tx,
        client,
        shutdown,
    }
}

fn publish(h: &Harness, f: impl FnOnce(&mut NodeSnapshot)) {
    let mut next = (**h.tx.borrow()).clone();
    next.sequence += 1;
    f(&mut next);
    h.tx.send_replace(Arc::new(next));
}

#[tokio::test]
async fn get_node_gpus_returns_latest_snapshot() {
    let mut h = start(Duration::from_secs(60)).await;
    let resp = h
        .client
        .get_node_gpus(pb::GetNodeGpusRequest {
            node_name: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let node = resp.node.unwrap();
    assert_eq!(node.node_name, "node-a");
    assert_eq!(node.gpus.len(), 2);
    publish(&h, |s| s.gpus.truncate(1));
    let again = h
        .client
        .get_node_gpus(pb::GetNodeGpusRequest {
            node_name: "node-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.node.unwrap().gpus.len(), 1);
    h.shutdown.cancel();
}

#[tokio::test]
async fn wrong_node_is_not_found() {
    let mut h = start(Duration::from_secs(60)).await;
    let err = h
        .client
        .get_node_gpus(pb::GetNodeGpusRequest {
            node_name: "node-z".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = h
        .client
        .watch_node_gpus(pb::WatchNodeGpusRequest {
            node_name: "node-z".into(),
            max_interval_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    h.shutdown.cancel();
}

#[tokio::test]
async fn watch_sends_initial_then_health_change_promptly_and_skips_noise() {
    let mut h = start(Duration::from_secs(60)).await;
    let mut stream = h
        .client
        .watch_node_gpus(pb::WatchNodeGpusRequest {
            node_name: "node-a".into(),
            max_interval_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.reason, pb::UpdateReason::Initial as i32);

    // Utilization noise: nothing is sent.
    publish(&h, |s| s.gpus[0].reading.utilization_percent = 99);
    let quiet = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;
    assert!(quiet.is_err(), "noise produced a message: {quiet:?}");

    let started = std::time::Instant::now();
    publish(&h, |s| {
        s.gpus[1].health = GpuHealth {
            healthy: false,
            reasons: vec![UnhealthyReason::CriticalXid { xid: 79 }],
        }
    });
    let msg = tokio::time::timeout(Duration::from_secs(1), stream.message())
        .await
        .expect("health change within 1 s")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(msg.reason, pb::UpdateReason::HealthChanged as i32);
    assert_eq!(msg.changed_gpu_indexes, vec![1]);
    let g1 = &msg.node.unwrap().gpus[1];
    assert_eq!(
        g1.health.as_ref().unwrap().state,
        pb::HealthState::Unhealthy as i32
    );
    h.shutdown.cancel();
}

#[tokio::test]
async fn watch_sends_periodic_samples() {
    let mut h = start(Duration::from_secs(60)).await;
    let mut stream = h
        .client
        .watch_node_gpus(pb::WatchNodeGpusRequest {
            node_name: String::new(),
            max_interval_ms: 100,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream.message().await.unwrap().unwrap().reason,
        pb::UpdateReason::Initial as i32
    );
    publish(&h, |s| s.gpus[0].reading.temperature_celsius = 77);
    let periodic = tokio::time::timeout(Duration::from_secs(2), stream.message())
        .await
        .expect("periodic sample")
        .unwrap()
        .unwrap();
    assert_eq!(periodic.reason, pb::UpdateReason::Periodic as i32);
    assert_eq!(periodic.node.unwrap().gpus[0].temperature_celsius, 77);
    h.shutdown.cancel();
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let mut h = start(Duration::from_secs(60)).await;
    let mut stream = h
        .client
        .watch_node_gpus(pb::WatchNodeGpusRequest::default())
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    h.shutdown.cancel();
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("stream ended");
    assert!(matches!(end, Ok(None) | Err(_)));
}

#[test]
fn granted_interval_is_clamped_to_the_sampling_period() {
    let (_tx, rx) = watch::channel(Arc::new(snapshot(vec![])));
    let svc = GpuAgentService::new(
        GrpcConfig {
            node_name: "n".into(),
            default_interval: Duration::from_secs(5),
            min_interval: Duration::from_secs(1),
            memory_threshold_bytes: 1,
        },
        rx,
        Arc::new(AgentMetrics::default()),
        CancellationToken::new(),
    );
    assert_eq!(svc.granted_interval(0), Duration::from_secs(5));
    assert_eq!(svc.granted_interval(10), Duration::from_secs(1));
    assert_eq!(svc.granted_interval(2500), Duration::from_millis(2500));
}
