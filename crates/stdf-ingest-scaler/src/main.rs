//! stdf-ingest-scaler: `run` starts the controller and its gRPC services; `worker`
//! runs a parser worker against a scaler. Wiring only; the logic lives in the library.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use crd_types::STDFParserJob;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use mlfleet_proto::externalscaler::external_scaler_server::ExternalScalerServer;
use mlfleet_proto::ingest::v1::stdf_work_client::StdfWorkClient;
use mlfleet_proto::ingest::v1::stdf_work_server::StdfWorkServer;
use mlfleet_proto::queue::v1::queue_depth_server::QueueDepthServer;
use mlfleet_runtime::CommonArgs;
use stdf_ingest_scaler::deployment::WorkerDefaults;
use stdf_ingest_scaler::grpc::ScalerServices;
use stdf_ingest_scaler::location::S3Settings;
use stdf_ingest_scaler::reconcile::{Context, error_policy, reconcile};
use stdf_ingest_scaler::registry::Registry;
use stdf_ingest_scaler::worker::{self, WorkerConfig};

const NAME: &str = "stdf-ingest-scaler";

/// Queues STDF tester files, scales parser workers on queue depth, writes Parquet.
#[derive(Debug, Parser)]
#[command(name = NAME, version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the STDFParserJob controller and the StdfWork / QueueDepth / KEDA gRPC services.
    Run(RunArgs),
    /// Run a parser worker: claim files from a scaler, parse them, report.
    Worker(WorkerArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Image of the worker Deployments (jobs may override it).
    #[arg(
        long,
        env = "MLFLEET_WORKER_IMAGE",
        default_value = "ghcr.io/mlfleet/stdf-ingest-scaler:dev"
    )]
    worker_image: String,
    /// gRPC address workers use to reach this scaler.
    #[arg(
        long,
        env = "MLFLEET_SCALER_ADDR_FOR_WORKERS",
        default_value = "http://stdf-ingest-scaler:9090"
    )]
    worker_scaler_addr: String,
}

#[derive(Debug, clap::Args)]
struct WorkerArgs {
    /// gRPC address of the scaler.
    #[arg(long, env = "MLFLEET_SCALER_ADDR")]
    scaler_addr: String,
    /// The STDFParserJob to work on, as namespace/name.
    #[arg(long, env = "MLFLEET_JOB")]
    job: String,
    /// Worker id reported to the scaler (the pod name in a Deployment).
    #[arg(long, env = "MLFLEET_WORKER_ID", default_value_t = mlfleet_runtime::config::hostname())]
    worker_id: String,
    /// Local scratch folder.
    #[arg(long, env = "MLFLEET_SCRATCH", default_value = "/scratch")]
    scratch: PathBuf,
    /// Exit once a Batch job is done.
    #[arg(long)]
    exit_when_done: bool,
    /// Stop after this many files (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_files: u64,
    /// Log format.
    #[arg(long, env = "MLFLEET_LOG_FORMAT", value_enum, default_value_t = mlfleet_runtime::LogFormat::Json)]
    log_format: mlfleet_runtime::LogFormat,
    /// Log filter.
    #[arg(long, env = "MLFLEET_LOG", default_value = "info")]
    log_level: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mlfleet_runtime::install_crypto_provider();
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Worker(args) => run_worker(args).await,
    }
}

async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let _telemetry = mlfleet_runtime::telemetry::init(
        &format!("{NAME}-worker"),
        args.log_format,
        &args.log_level,
    )?;
    // Connect lazily: a worker started before (or while) the scaler restarts waits for it.
    let channel = tonic::transport::Endpoint::from_shared(args.scaler_addr.clone())
        .with_context(|| format!("invalid scaler address {:?}", args.scaler_addr))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect_lazy();
    let client = StdfWorkClient::new(channel);
    let cfg = WorkerConfig {
        job: args.job,
        worker_id: args.worker_id,
        s3: S3Settings::from_env(),
        scratch: args.scratch,
        exit_when_done: args.exit_when_done,
        max_files: args.max_files,
    };
    let summary = worker::run(client, cfg).await?;
    tracing::info!(
        parsed = summary.parsed,
        failed = summary.failed,
        "worker finished"
    );
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = mlfleet_runtime::start(NAME, &args.common).await?;
    let client = started.kube_client().await?;
    let registry = Registry::default();
    let identity = args.common.identity_or_hostname();
    let incarnation = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: NAME.into(),
            instance: Some(identity),
        },
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        registry.clone(),
        WorkerDefaults {
            image: args.worker_image,
            scaler_addr: args.worker_scaler_addr,
        },
        incarnation,
        recorder,
    ));

    // gRPC: StdfWork, QueueDepth, KEDA ExternalScaler and grpc.health.v1.
    let services = ScalerServices::new(registry);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<StdfWorkServer<ScalerServices>>()
        .await;
    let grpc_addr = args.common.grpc_addr;
    let shutdown = started.shutdown.clone();
    let grpc = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(StdfWorkServer::new(services.clone()))
            .add_service(QueueDepthServer::new(services.clone()))
            .add_service(ExternalScalerServer::new(services))
            .serve_with_shutdown(grpc_addr, shutdown.cancelled()),
    );
    tracing::info!(%grpc_addr, "gRPC services listening");

    // The controller runs only while this replica holds the Lease; the gRPC services
    // answer NOT_FOUND for jobs until the leader's reconciler has opened them.
    let leader = started.leader_election(client.clone());
    let readiness = started.readiness.clone();
    let shutdown = started.shutdown.clone();
    let ctrl = tokio::spawn(mlfleet_runtime::run_while_leader(
        leader.subscribe(),
        shutdown.clone(),
        move || {
            let jobs: Api<STDFParserJob> = Api::all(client.clone());
            let deploys: Api<Deployment> = Api::all(client.clone());
            let controller = Controller::new(jobs, watcher::Config::default())
                .owns(
                    deploys,
                    watcher::Config::default()
                        .labels("app.kubernetes.io/managed-by=stdf-ingest-scaler"),
                )
                .graceful_shutdown_on(shutdown.cancelled());
            // Ready once the STDFParserJob cache has synced.
            let store = controller.store();
            let readiness = readiness.clone();
            tokio::spawn(async move {
                if store.wait_until_ready().await.is_ok() {
                    readiness.mark_ready();
                }
            });
            let ctx = ctx.clone();
            async move {
                controller
                    .run(reconcile, error_policy, ctx)
                    .for_each(|res| async move {
                        if let Err(e) = res {
                            tracing::debug!(error = %e, "reconcile error");
                        }
                    })
                    .await;
            }
        },
    ));
    ctrl.await?;
    leader.join().await;
    grpc.await?.context("gRPC server")?;
    started.finish().await?;
    Ok(())
}
