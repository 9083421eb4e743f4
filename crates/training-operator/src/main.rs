//! training-operator binary: wiring only.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use crd_types::{GPUNode, TrainingJob, TrainingQueue};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use mlfleet_runtime::config::CommonArgs;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_stream::wrappers::UnboundedReceiverStream;
use training_operator::agents::{self, AgentHealth, AgentService};
use training_operator::book::Book;
use training_operator::build::meta::LABEL_JOB_NAME;
use training_operator::context::{Caches, Context};
use training_operator::metrics::Metrics;
use training_operator::progress::ProgressBook;
use training_operator::{admission_loop, grpc, leader, progress, query, reconcile, report};

#[derive(Parser)]
#[command(
    name = "training-operator",
    version,
    about = "TrainingJob controller with GPU-aware gang admission"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Minimum milliseconds between two progress status writes of one job.
    #[arg(long, env = "MLFLEET_PROGRESS_INTERVAL_MS", default_value_t = 2000)]
    progress_interval_ms: u64,
    /// The gpu-node-agents' headless Service, `<namespace>/<name>[:<gRPC port name>]`:
    /// subscribe to every agent behind it (EndpointSlices) for live GPU health.
    /// Unset: GPU health from GPUNode status only.
    #[arg(long, env = "MLFLEET_GPU_AGENT_SERVICE")]
    gpu_agent_service: Option<AgentService>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Query the scheduling state of a running operator over gRPC.
    Query {
        /// gRPC address of the operator.
        #[arg(
            long,
            env = "MLFLEET_OPERATOR_ADDR",
            default_value = "http://127.0.0.1:9090"
        )]
        addr: String,
        #[command(subcommand)]
        what: query::Query,
    },
    /// Report worker progress or a checkpoint to a running operator over gRPC.
    Report {
        /// gRPC address of the operator.
        #[arg(
            long,
            env = "MLFLEET_OPERATOR_ADDR",
            default_value = "http://127.0.0.1:9090"
        )]
        addr: String,
        #[command(subcommand)]
        what: report::Report,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Query { addr, what } => {
            print!("{}", query::run(&addr, &what).await?);
            Ok(())
        }
        Cmd::Report { addr, what } => {
            print!("{}", report::run(&addr, &what).await?);
            Ok(())
        }
        Cmd::Run(args) => {
            let RunArgs {
                common,
                progress_interval_ms,
                gpu_agent_service,
            } = *args;
            run(common, progress_interval_ms, gpu_agent_service).await
        }
    }
}

/// Starts a reflector for `api` and returns its store plus a task driving it;
/// `kick` is notified on every change.
fn reflect<K>(
    api: Api<K>,
    cfg: watcher::Config,
    kick: Option<Arc<Notify>>,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream =
        reflector::reflector(writer, watcher(api, cfg).default_backoff()).applied_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) => {
                    if let Some(k) = &kick {
                        k.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watch error"),
            }
        }
    });
    (store, task)
}

async fn run(
    common: CommonArgs,
    progress_interval_ms: u64,
    gpu_agent_service: Option<AgentService>,
) -> anyhow::Result<()> {
    let started = mlfleet_runtime::bootstrap::start("training-operator", &common).await?;
    let client: Client = started.kube_client().await?;
    let shutdown = started.shutdown.clone();

    let mut lost = if common.leader_elect {
        Some(
            leader::acquire(client.clone(), &common)
                .await
                .context("leader election")?,
        )
    } else {
        None
    };

    let kick = Arc::new(Notify::new());
    let wc = watcher::Config::default();
    let tj_api: Api<TrainingJob> = Api::all(client.clone());
    let job_api: Api<Job> = Api::all(client.clone());
    let (job_store, job_writer) = reflector::store();
    let job_stream = reflector::reflector(
        job_writer,
        watcher(job_api, wc.clone().labels(LABEL_JOB_NAME)).default_backoff(),
    )
    .touched_objects();
    let (queues, _q) = reflect(
        Api::<TrainingQueue>::all(client.clone()),
        wc.clone(),
        Some(kick.clone()),
    );
    let (nodes, _n) = reflect(
        Api::<Node>::all(client.clone()),
        wc.clone(),
        Some(kick.clone()),
    );
    let (pods, _p) = reflect(
        Api::<Pod>::all(client.clone()),
        wc.clone(),
        Some(kick.clone()),
    );
    let (namespaces, _ns) = reflect(Api::<Namespace>::all(client.clone()), wc.clone(), None);
    // GPUNode is optional: only watch it when its CRD is installed.
    let gpu_api: Api<GPUNode> = Api::all(client.clone());
    let gpu_nodes = match gpu_api
        .list(&kube::api::ListParams::default().limit(1))
        .await
    {
        Ok(_) => Some(reflect(gpu_api, wc.clone(), Some(kick.clone())).0),
        Err(e) => {
            tracing::info!(error = %e, "GPUNode API unavailable; capacity from Node allocatable");
            None
        }
    };

    let (trigger_tx, trigger_rx) = mpsc::unbounded_channel();
    let (tj_store, tj_writer) = reflector::store();
    let tj_stream = reflector::reflector(tj_writer, watcher(tj_api, wc.clone()).default_backoff())
        .touched_objects();
    let controller = Controller::for_stream(tj_stream, tj_store.clone())
        .owns_stream(job_stream)
        .reconcile_on(UnboundedReceiverStream::new(trigger_rx));
    let metrics = Metrics::register(&started.registry);
    let reporter = Reporter {
        controller: "training-operator".into(),
        instance: common.identity.clone(),
    };
    let (events, _) = broadcast::channel(1024);
    let ctx = Arc::new(Context {
        client: client.clone(),
        caches: Caches {
            training_jobs: tj_store.clone(),
            jobs: job_store,
            queues: queues.clone(),
            nodes: nodes.clone(),
            pods: pods.clone(),
            gpu_nodes,
        },
        book: Arc::new(RwLock::new(Book::default())),
        progress: Arc::new(ProgressBook::default()),
        metrics: metrics.clone(),
        reconcile_metrics: started.registry.reconcile(),
        recorder: Recorder::new(client.clone(), reporter),
        admission_kick: kick.clone(),
        events,
        agent_health: Arc::new(AgentHealth::default()),
    });
    let _agents = gpu_agent_service.map(|svc| {
        tokio::spawn(agents::run(
            client.clone(),
            svc,
            ctx.agent_health.clone(),
            kick.clone(),
            shutdown.clone(),
        ))
    });

    let grpc_task = tokio::spawn(grpc::serve(
        ctx.clone(),
        common.grpc_addr,
        common.tls_files(),
        shutdown.clone(),
    ));
    let flush = tokio::spawn(progress::flush_loop(
        client.clone(),
        ctx.progress.clone(),
        metrics,
        Duration::from_millis(progress_interval_ms),
        shutdown.cancelled(),
    ));
    let readiness = started.readiness.clone();
    let admission_ctx = ctx.clone();
    let admission = tokio::spawn(async move {
        // Admit only with complete caches, or capacity would look free that is not.
        let synced = async {
            nodes.wait_until_ready().await?;
            tracing::debug!("nodes cache synced");
            pods.wait_until_ready().await?;
            tracing::debug!("pods cache synced");
            queues.wait_until_ready().await?;
            tracing::debug!("trainingqueues cache synced");
            // The controller waits on this store too, and a store wakes only one
            // waiter: poll again with a timeout instead of waiting once.
            loop {
                match tokio::time::timeout(Duration::from_millis(500), tj_store.wait_until_ready())
                    .await
                {
                    Ok(r) => break r?,
                    Err(_) => continue,
                }
            }
            tracing::debug!("trainingjobs cache synced");
            Ok::<(), reflector::store::WriterDropped>(())
        };
        if let Err(e) = synced.await {
            tracing::error!(error = %e, "a cache stopped before it synced; admission disabled");
            return;
        }
        readiness.mark_ready();
        tracing::info!("caches synced; admission loop running");
        admission_loop::run(admission_ctx, trigger_tx, namespaces, shutdown.cancelled()).await;
    });

    let controller_shutdown = started.shutdown.clone();
    let run_controller = controller
        .graceful_shutdown_on(controller_shutdown.cancelled())
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile error");
            }
        });
    let leadership_lost = async {
        match lost.as_mut() {
            Some(rx) => {
                while *rx.borrow_and_update() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = run_controller => {}
        _ = leadership_lost => {
            tracing::error!("lost leadership; exiting");
            started.shutdown.trigger();
        }
    }
    started.shutdown.trigger();
    let _ = admission.await;
    let _ = flush.await;
    match grpc_task.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "gRPC server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "gRPC task failed"),
        Ok(Ok(())) => {}
    }
    started.finish().await?;
    Ok(())
}
