//! The admin HTTP server: `/metrics` (OpenMetrics text), `/healthz` (liveness) and
//! `/readyz` (readiness, 503 until a [`Readiness`] handle is marked ready).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::MetricsRegistry;
use crate::shutdown::Shutdown;

/// Content type of the `/metrics` response.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Shared readiness flag behind `/readyz`; controllers mark it once their caches are synced.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A handle that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the process ready (`/readyz` answers 200).
    pub fn mark_ready(&self) {
        if !self.ready.swap(true, Ordering::SeqCst) {
            tracing::info!("process is ready");
        }
    }

    /// Marks the process not ready (`/readyz` answers 503), e.g. while shutting down.
    pub fn mark_not_ready(&self) {
        if self.ready.swap(false, Ordering::SeqCst) {
            tracing::info!("process is no longer ready");
        }
    }

    /// Whether the process is currently ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// Errors of the admin server.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen address could not be bound.
    #[error("binding the admin server to {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// I/O error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("admin server: {0}")]
    Serve(#[source] std::io::Error),
}

#[derive(Clone)]
struct AdminState {
    registry: MetricsRegistry,
    readiness: Readiness,
}

/// The admin routes over a registry and a readiness flag (for embedding or tests).
pub fn router(registry: MetricsRegistry, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            registry,
            readiness,
        })
}

async fn metrics(State(state): State<AdminState>) -> Response {
    match state.registry.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics encoding failed\n",
            )
                .into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// A bound (not yet serving) admin server; bind first so the real port is known.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: MetricsRegistry,
    readiness: Readiness,
}

impl AdminServer {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(
        addr: SocketAddr,
        registry: MetricsRegistry,
        readiness: Readiness,
    ) -> Result<Self, AdminError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Self {
            listener,
            local_addr,
            registry,
            readiness,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is triggered, then drains in-flight requests.
    pub async fn serve(self, shutdown: Shutdown) -> Result<(), AdminError> {
        tracing::info!(addr = %self.local_addr, "admin server listening");
        let app = router(self.registry, self.readiness);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled())
            .await
            .map_err(AdminError::Serve)
    }

    /// Spawns [`AdminServer::serve`] on the current runtime.
    pub fn spawn(self, shutdown: Shutdown) -> tokio::task::JoinHandle<Result<(), AdminError>> {
        tokio::spawn(self.serve(shutdown))
    }
}
