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

use crate::context::Context;

/// Serves every service on `addr` until `shutdown` resolves.
pub async fn serve(
    ctx: Arc<Context>,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(SchedulingStateServer::new(scheduling::Service(ctx.clone())))
        .add_service(TrainingProgressServer::new(training::Service(ctx.clone())))
        .add_service(QueueDepthServer::new(queue::Depth(ctx.clone())))
        .add_service(ExternalScalerServer::new(queue::Keda(ctx)))
        .serve_with_shutdown(addr, shutdown)
        .await
}
