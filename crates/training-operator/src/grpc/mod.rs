//! gRPC servers: SchedulingState, TrainingProgress, QueueDepth and KEDA's
//! external scaler, all reading the shared [`Context`](crate::context::Context).

pub mod convert;
pub mod events;
pub mod queue;
pub mod scheduling;
pub mod training;

use std::net::SocketAddr;
use std::sync::Arc;

use mlfleet_proto::externalscaler::external_scaler_server::ExternalScalerServer;
use mlfleet_proto::queue::v1::queue_depth_server::QueueDepthServer;
use mlfleet_proto::scheduling::v1::scheduling_state_server::SchedulingStateServer;
use mlfleet_proto::training::v1::training_progress_server::TrainingProgressServer;

use mlfleet_runtime::grpc::{GrpcError, GrpcServer};
use mlfleet_runtime::{Shutdown, TlsFiles};

use crate::context::Context;

/// Serves every service, plus `grpc.health.v1`, on `addr` until `shutdown`, through
/// the shared runtime server (TLS or mutual TLS when `tls` is set).
pub async fn serve(
    ctx: Arc<Context>,
    addr: SocketAddr,
    tls: Option<TlsFiles>,
    shutdown: Shutdown,
) -> Result<(), GrpcError> {
    let server = GrpcServer::new().with_tls(tls.as_ref()).await?;
    let health = server.health();
    health
        .set_serving::<SchedulingStateServer<scheduling::Service>>()
        .await;
    health
        .set_serving::<TrainingProgressServer<training::Service>>()
        .await;
    health.set_serving::<QueueDepthServer<queue::Depth>>().await;
    health
        .set_serving::<ExternalScalerServer<queue::Keda>>()
        .await;
    server
        .add_service(SchedulingStateServer::new(scheduling::Service(ctx.clone())))
        .add_service(TrainingProgressServer::new(training::Service(ctx.clone())))
        .add_service(QueueDepthServer::new(queue::Depth(ctx.clone())))
        .add_service(ExternalScalerServer::new(queue::Keda(ctx)))
        .serve_addr(addr, shutdown)
        .await
}
