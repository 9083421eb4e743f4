//! Network listeners of the agent: the gRPC server (GpuAgent + grpc.health.v1,
//! optional TLS/mTLS, through the shared runtime) and the DCGM-compatible `/metrics` endpoint.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use mlfleet_proto::gpu::v1::gpu_agent_server::GpuAgentServer;
use mlfleet_runtime::grpc::{GrpcError, GrpcServer};
use mlfleet_runtime::{Shutdown, TlsFiles};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::grpc::GpuAgentService;

/// Failures of the agent's listeners.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind.
    #[error("binding {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed (TLS files included).
    #[error("gRPC server: {0}")]
    Grpc(#[from] GrpcError),
    /// The metrics server failed.
    #[error("DCGM metrics server: {0}")]
    Http(#[source] std::io::Error),
}

/// Binds `addr` and returns the listener with its real address (port 0 allowed).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok((listener, local))
}

/// Serves GpuAgent and gRPC health (the runtime's server: optional TLS/mTLS,
/// `NOT_SERVING` then a drain on shutdown) on `listener` until `shutdown`.
pub async fn serve_grpc(
    listener: TcpListener,
    tls: Option<TlsFiles>,
    service: GpuAgentService,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let server = GrpcServer::new().with_tls(tls.as_ref()).await?;
    server
        .health()
        .set_serving::<GpuAgentServer<GpuAgentService>>()
        .await;
    server
        .add_service(service.into_server())
        .serve(listener, shutdown)
        .await?;
    Ok(())
}

/// Serves the DCGM-named metrics of `registry` on `/metrics` until `shutdown`.
pub async fn serve_dcgm_metrics(
    listener: TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, &registry) {
                    Ok(()) => (
                        StatusCode::OK,
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    ),
                    Err(_) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        "metrics encoding failed\n".to_owned(),
                    ),
                }
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Http)
}
