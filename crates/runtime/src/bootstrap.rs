//! Process bootstrap: logs and telemetry, signals, metrics registry, admin server.

use std::net::SocketAddr;

use crate::admin::{AdminError, AdminServer, Readiness};
use crate::config::CommonArgs;
use crate::leader::{LeaderConfig, LeaderElector, LeaderHandle};
use crate::metrics::MetricsRegistry;
use crate::shutdown::Shutdown;
use crate::telemetry::{self, TelemetryError, TelemetryGuard};

/// Errors while starting or stopping the process runtime.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Logging or OTLP export could not be set up.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// Signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The admin server failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The admin server task panicked or was cancelled.
    #[error("admin server task: {0}")]
    AdminTask(#[source] tokio::task::JoinError),
    /// No Kubernetes configuration could be inferred (KUBECONFIG, ~/.kube/config, in-cluster).
    #[error("connecting to Kubernetes: {0}")]
    Kube(#[source] kube::Error),
}

/// Everything a binary needs after [`start`]: shared registry, readiness, shutdown signal and
/// the running admin server.
#[derive(Debug)]
pub struct Started {
    /// Binary name (used for the default Lease name, event reporter and service name).
    pub name: String,
    /// The parsed common flags.
    pub args: CommonArgs,
    /// Process-wide Prometheus registry served on `/metrics`.
    pub registry: MetricsRegistry,
    /// Readiness flag behind `/readyz`; mark it ready once caches are synced.
    pub readiness: Readiness,
    /// Shutdown signal, triggered by SIGTERM/SIGINT.
    pub shutdown: Shutdown,
    /// The address the admin server actually listens on.
    pub admin_addr: SocketAddr,
    telemetry: TelemetryGuard,
    admin_task: tokio::task::JoinHandle<Result<(), AdminError>>,
}

/// Starts the shared runtime for binary `name`: installs logging (and OTLP export when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set), SIGTERM/SIGINT handling, the metrics registry and
/// the admin server on `args.admin_addr`.
///
/// If a global tracing subscriber is already installed (tests, embedders) logging setup is
/// skipped rather than failing.
pub async fn start(name: &str, args: &CommonArgs) -> Result<Started, StartError> {
    crate::tls::install_crypto_provider();
    let telemetry = match telemetry::init(name, args.log_format, &args.log_level) {
        Ok(guard) => guard,
        Err(TelemetryError::AlreadyInitialized) => TelemetryGuard::default(),
        Err(e) => return Err(e.into()),
    };
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals().map_err(StartError::Signals)?;
    let registry = MetricsRegistry::new();
    let readiness = Readiness::new();
    let admin = AdminServer::bind(args.admin_addr, registry.clone(), readiness.clone()).await?;
    let admin_addr = admin.local_addr();
    let admin_task = admin.spawn(shutdown.clone());
    tracing::info!(
        binary = name,
        version = env!("CARGO_PKG_VERSION"),
        %admin_addr,
        otlp = telemetry.otlp_enabled(),
        "runtime started"
    );
    Ok(Started {
        name: name.to_string(),
        args: args.clone(),
        registry,
        readiness,
        shutdown,
        admin_addr,
        telemetry,
        admin_task,
    })
}

impl Started {
    /// A Kubernetes client from the standard inference (KUBECONFIG, ~/.kube/config,
    /// in-cluster service account).
    pub async fn kube_client(&self) -> Result<kube::Client, StartError> {
        kube::Client::try_default().await.map_err(StartError::Kube)
    }

    /// Starts leader election per the common flags (`--leader-elect`, `--lease-*`,
    /// `--identity`); with `--leader-elect=false` the handle is always leader until shutdown.
    pub fn leader_election(&self, client: kube::Client) -> LeaderHandle {
        if self.args.leader_elect {
            let cfg = LeaderConfig::from_args(&self.name, &self.args);
            LeaderElector::new(client, cfg, &self.registry).run(self.shutdown.clone())
        } else {
            tracing::info!("leader election disabled; acting as leader");
            LeaderHandle::always(self.shutdown.clone())
        }
    }

    /// An Event recorder reporting as this binary from this replica's identity.
    pub fn event_recorder(&self, client: kube::Client) -> crate::events::EventRecorder {
        crate::events::EventRecorder::new(client, &self.name, &self.args.identity_or_hostname())
    }

    /// A gRPC server (with `grpc.health.v1`) using the TLS files from the common flags;
    /// serve it with `serve_addr(self.args.grpc_addr, self.shutdown.clone())`.
    pub async fn grpc_server(&self) -> Result<crate::grpc::GrpcServer, crate::grpc::GrpcError> {
        crate::grpc::GrpcServer::new()
            .with_tls(self.args.tls_files().as_ref())
            .await
    }

    /// Waits for shutdown (SIGTERM/SIGINT or [`Shutdown::trigger`]), marks the process not
    /// ready, waits for the admin server to drain and flushes telemetry.
    pub async fn finish(self) -> Result<(), StartError> {
        self.shutdown.cancelled().await;
        self.readiness.mark_not_ready();
        let served = self.admin_task.await.map_err(StartError::AdminTask)?;
        self.telemetry.shutdown();
        tracing::info!(binary = %self.name, "runtime stopped");
        served.map_err(StartError::from)
    }
}
