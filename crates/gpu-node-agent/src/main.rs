//! gpu-node-agent binary: wiring only (see the library for the parts).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;
use gpu_node_agent::cli::{Cli, Command, RunArgs, WatchArgs};
use gpu_node_agent::grpc::{GpuAgentService, GrpcConfig};
use gpu_node_agent::kube_sync::{KubeSync, KubeSyncConfig};
use gpu_node_agent::metrics::AgentMetrics;
use gpu_node_agent::sampler::{Sampler, SamplerConfig};
use gpu_node_agent::snapshot::NodeSnapshot;
use gpu_node_agent::{backend::MIB, server};
use mlfleet_proto::gpu::v1::WatchNodeGpusRequest;
use mlfleet_proto::gpu::v1::gpu_agent_client::GpuAgentClient;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

const NAME: &str = "gpu-node-agent";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(*args).await,
        Command::Probe(args) => {
            let mut backend = args.open().context("opening the GPU backend")?;
            let reading = backend.read().context("reading GPUs")?;
            println!("{}", serde_json::to_string_pretty(&reading)?);
            Ok(())
        }
        Command::Watch(args) => watch(args).await,
    }
}

/// Prints one JSON line per WatchNodeGpus message until the stream ends.
async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut client = GpuAgentClient::connect(args.endpoint.clone())
        .await
        .with_context(|| format!("connecting to {}", args.endpoint))?;
    let mut stream = client
        .watch_node_gpus(WatchNodeGpusRequest {
            node_name: args.node_name,
            max_interval_ms: args.max_interval_ms,
        })
        .await?
        .into_inner();
    let stdout = std::io::stdout();
    while let Some(msg) = stream.message().await? {
        let mut out = stdout.lock();
        writeln!(out, "{}", gpu_node_agent::grpc::convert::watch_json(&msg))?;
        out.flush()?;
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = mlfleet_runtime::start(NAME, &args.common).await?;
    let node = args.backend.node_name.clone();
    anyhow::ensure!(
        !node.is_empty(),
        "--node-name (NODE_NAME) must not be empty"
    );
    if args.common.leader_elect {
        tracing::debug!("leader election does not apply to a per-node agent; not used");
    }

    let mut dcgm_registry = Registry::default();
    let metrics = Arc::new(
        started
            .registry
            .with(|r| AgentMetrics::register(&mut dcgm_registry, r)),
    );

    let kind = args.backend.backend.kind();
    let (tx, rx) = watch::channel(Arc::new(NodeSnapshot::empty(&node, kind)));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = Sampler::new(
        SamplerConfig {
            node_name: node.clone(),
            interval: args.sample_interval,
            policy: args.health_policy(),
            init_retry: args.backend_retry_interval,
        },
        kind,
        args.backend.factory(),
    );
    let sampler_thread = sampler
        .spawn(tx, metrics.clone(), stop.clone())
        .context("starting the sampler thread")?;

    let token = started.shutdown.token();
    let service = GpuAgentService::new(
        GrpcConfig {
            node_name: node.clone(),
            default_interval: args.watch_interval.max(args.sample_interval),
            min_interval: args.sample_interval,
            memory_threshold_bytes: args.memory_change_threshold_mib * MIB,
        },
        rx.clone(),
        metrics.clone(),
        token.clone(),
    );
    let (grpc_listener, grpc_addr) = server::bind(args.common.grpc_addr).await?;
    let (dcgm_listener, dcgm_addr) = server::bind(args.dcgm_metrics_addr).await?;
    tracing::info!(%grpc_addr, %dcgm_addr, node = %node, backend = %kind, "gpu-node-agent listening");
    let grpc_task = tokio::spawn(server::serve_grpc(
        grpc_listener,
        args.common.tls_files(),
        service,
        started.shutdown.clone(),
    ));
    let dcgm_task = tokio::spawn(server::serve_dcgm_metrics(
        dcgm_listener,
        Arc::new(dcgm_registry),
        started.shutdown.cancelled(),
    ));

    let sync_task = if args.kube_sync {
        let client = started.kube_client().await?;
        let sync = KubeSync::new(
            client,
            KubeSyncConfig {
                node_name: node.clone(),
                field_manager: NAME.to_owned(),
                heartbeat: args.heartbeat_interval,
                instance: args.common.identity.clone(),
            },
            metrics.clone(),
        );
        Some(tokio::spawn(sync.run(rx.clone(), token.clone())))
    } else {
        tracing::info!("--kube-sync=false: GPUNode status and node labels are not written");
        None
    };

    // Ready once the first sample is published.
    let readiness = started.readiness.clone();
    let mut first = rx.clone();
    tokio::spawn(async move {
        if first.changed().await.is_ok() {
            readiness.mark_ready();
        }
    });

    let shutdown = started.shutdown.clone();
    tokio::select! {
        () = shutdown.cancelled() => {}
        res = grpc_task => {
            shutdown.trigger();
            res.context("gRPC server task")?.context("gRPC server")?;
        }
        res = dcgm_task => {
            shutdown.trigger();
            res.context("metrics server task")?.context("DCGM metrics server")?;
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(task) = sync_task {
        let _ = task.await;
    }
    let _ = tokio::task::spawn_blocking(move || sampler_thread.join()).await;
    started.finish().await?;
    Ok(())
}
