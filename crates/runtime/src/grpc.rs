//! gRPC helpers: a tonic server with `grpc.health.v1`, optional (mutual) TLS from PEM files
//! and graceful shutdown; and client channels with optional TLS, connect timeout and
//! keepalive.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::codegen::http::Request;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig,
};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::TlsFiles;
use crate::shutdown::Shutdown;

/// Errors of the gRPC helpers.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// A TLS file could not be read.
    #[error("reading {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// The TLS material was rejected.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The endpoint URI is invalid.
    #[error("invalid gRPC endpoint {uri:?}: {source}")]
    Endpoint {
        /// The URI.
        uri: String,
        /// Parse error.
        source: tonic::transport::Error,
    },
    /// Connecting failed.
    #[error("connecting to {uri}: {source}")]
    Connect {
        /// The URI.
        uri: String,
        /// Transport error.
        source: tonic::transport::Error,
    },
    /// The listen address could not be bound.
    #[error("binding gRPC server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// I/O error.
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("gRPC server: {0}")]
    Serve(#[source] tonic::transport::Error),
}

async fn read(path: &Path) -> Result<Vec<u8>, GrpcError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| GrpcError::ReadFile {
            path: path.to_path_buf(),
            source,
        })
}

/// Server TLS from PEM files; with a client CA, clients must present a certificate it signed.
pub async fn server_tls_config(files: &TlsFiles) -> Result<ServerTlsConfig, GrpcError> {
    crate::tls::install_crypto_provider();
    let identity = Identity::from_pem(read(&files.cert).await?, read(&files.key).await?);
    let mut cfg = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &files.client_ca {
        cfg = cfg.client_ca_root(Certificate::from_pem(read(ca).await?));
    }
    // Surface bad PEM now rather than on the first connection.
    Server::builder()
        .tls_config(cfg.clone())
        .map_err(GrpcError::Tls)?;
    Ok(cfg)
}

/// A tonic server that always serves `grpc.health.v1.Health` next to the added services.
#[derive(Debug)]
pub struct GrpcServer {
    routes: RoutesBuilder,
    health: HealthReporter,
    tls: Option<ServerTlsConfig>,
}

impl Default for GrpcServer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcServer {
    /// A plaintext server with the health service (overall status `SERVING`).
    pub fn new() -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Self {
            routes,
            health,
            tls: None,
        }
    }

    /// Enables TLS from `files` (no-op for `None`).
    pub async fn with_tls(mut self, files: Option<&TlsFiles>) -> Result<Self, GrpcError> {
        if let Some(files) = files {
            self.tls = Some(server_tls_config(files).await?);
        }
        Ok(self)
    }

    /// Adds a generated tonic service (e.g. `GpuAgentServer::new(impl)`).
    pub fn add_service<S>(mut self, svc: S) -> Self
    where
        S: tower_service::Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes.add_service(svc);
        self
    }

    /// The health reporter, to mark individual services serving or not.
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<TcpListener, GrpcError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| GrpcError::Bind { addr, source })
    }

    /// Serves on `listener` until `shutdown`; then reports `NOT_SERVING`, stops accepting
    /// and drains in-flight calls.
    pub async fn serve(self, listener: TcpListener, shutdown: Shutdown) -> Result<(), GrpcError> {
        let local = listener.local_addr().ok();
        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)));
        let tls = self.tls.is_some();
        if let Some(cfg) = self.tls {
            builder = builder.tls_config(cfg).map_err(GrpcError::Tls)?;
        }
        let health = self.health;
        let signal = async move {
            shutdown.cancelled().await;
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
        };
        tracing::info!(addr = ?local, tls, "gRPC server listening");
        builder
            .add_routes(self.routes.routes())
            // TCP_NODELAY: without it small unary replies wait for delayed ACKs (~40 ms).
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                signal,
            )
            .await
            .map_err(GrpcError::Serve)
    }

    /// Binds `addr` and serves until `shutdown`.
    pub async fn serve_addr(self, addr: SocketAddr, shutdown: Shutdown) -> Result<(), GrpcError> {
        let listener = Self::bind(addr).await?;
        self.serve(listener, shutdown).await
    }
}

/// Options of a client channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// PEM CA bundle to verify the server; enables TLS when set.
    pub ca: Option<PathBuf>,
    /// Server name to verify (defaults to the URI host).
    pub domain: Option<String>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Per-request timeout (none by default: streams are long-lived).
    pub request_timeout: Option<Duration>,
    /// HTTP/2 keepalive ping interval (also the TCP keepalive).
    pub keepalive: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            ca: None,
            domain: None,
            identity: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: None,
            keepalive: Duration::from_secs(30),
        }
    }
}

/// A configured endpoint for `uri` (e.g. `http://gpu-node-agent:9090`).
pub async fn endpoint(uri: &str, opts: &ClientOptions) -> Result<Endpoint, GrpcError> {
    crate::tls::install_crypto_provider();
    let mut ep = Endpoint::from_shared(uri.to_string())
        .map_err(|source| GrpcError::Endpoint {
            uri: uri.to_string(),
            source,
        })?
        .connect_timeout(opts.connect_timeout)
        .tcp_keepalive(Some(opts.keepalive))
        .http2_keep_alive_interval(opts.keepalive)
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if let Some(t) = opts.request_timeout {
        ep = ep.timeout(t);
    }
    if let Some(ca) = &opts.ca {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca).await?));
        if let Some(domain) = &opts.domain {
            tls = tls.domain_name(domain.clone());
        }
        if let Some((cert, key)) = &opts.identity {
            tls = tls.identity(Identity::from_pem(read(cert).await?, read(key).await?));
        }
        ep = ep.tls_config(tls).map_err(GrpcError::Tls)?;
    }
    Ok(ep)
}

/// Connects now (fails if the peer is unreachable within the connect timeout).
pub async fn connect(uri: &str, opts: &ClientOptions) -> Result<Channel, GrpcError> {
    endpoint(uri, opts)
        .await?
        .connect()
        .await
        .map_err(|source| GrpcError::Connect {
            uri: uri.to_string(),
            source,
        })
}

/// A channel that connects on first use and reconnects after failures, so an absent peer
/// degrades calls instead of blocking startup.
pub async fn connect_lazy(uri: &str, opts: &ClientOptions) -> Result<Channel, GrpcError> {
    Ok(endpoint(uri, opts).await?.connect_lazy())
}
