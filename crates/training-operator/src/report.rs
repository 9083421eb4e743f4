//! `training-operator report …`: the worker side of TrainingProgress as a
//! command, for training scripts that would rather shell out than embed a gRPC
//! client. Defaults come from the worker environment the operator injects.

use std::collections::HashMap;

use mlfleet_proto::training::v1::{self as pb, training_progress_client::TrainingProgressClient};
use thiserror::Error;

/// Who is reporting.
#[derive(Debug, Clone, clap::Args)]
pub struct Worker {
    /// TrainingJob as `namespace/name`.
    #[arg(long)]
    pub job: String,
    /// Worker rank.
    #[arg(long, env = "RANK", default_value_t = 0)]
    pub rank: u32,
    /// Attempt the worker belongs to.
    #[arg(long, env = "TRAINING_ATTEMPT", default_value_t = 0)]
    pub attempt: u32,
}

/// What to report.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Report {
    /// A finished epoch and its metrics.
    Progress {
        #[command(flatten)]
        worker: Worker,
        /// Epochs completed.
        #[arg(long)]
        epoch: u32,
        /// Total epochs (0 = use the spec's `epochs` hyperparameter).
        #[arg(long, default_value_t = 0)]
        total: u32,
        /// Metrics as `name=value`, repeatable.
        #[arg(long = "metric", value_parser = parse_metric)]
        metrics: Vec<(String, f64)>,
    },
    /// A checkpoint that is fully written.
    Checkpoint {
        #[command(flatten)]
        worker: Worker,
        /// Epoch the checkpoint was taken after.
        #[arg(long)]
        epoch: u32,
        /// Path or URI.
        #[arg(long)]
        path: String,
    },
}

fn parse_metric(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected name=value, got {s:?}"))?;
    let v: f64 = v
        .parse()
        .map_err(|_| format!("metric {k}: {v:?} is not a number"))?;
    Ok((k.to_string(), v))
}

/// Report failures.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Could not connect.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Address.
        addr: String,
        /// Cause.
        #[source]
        source: tonic::transport::Error,
    },
    /// The call failed.
    #[error("{0}")]
    Rpc(#[from] tonic::Status),
    /// Bad job reference.
    #[error("job must be namespace/name, got {0:?}")]
    BadJob(String),
    /// The operator did not accept the report.
    #[error("report not accepted: {0}")]
    NotAccepted(String),
}

fn worker_ref(w: &Worker) -> Result<pb::WorkerRef, ReportError> {
    let (ns, name) = w
        .job
        .split_once('/')
        .ok_or_else(|| ReportError::BadJob(w.job.clone()))?;
    Ok(pb::WorkerRef {
        namespace: ns.into(),
        job_name: name.into(),
        rank: w.rank,
        attempt: w.attempt,
    })
}

/// Sends one report; `Ok` only when the operator accepted it.
pub async fn run(addr: &str, r: &Report) -> Result<String, ReportError> {
    let mut client = TrainingProgressClient::connect(addr.to_string())
        .await
        .map_err(|source| ReportError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    let (accepted, reason) = match r {
        Report::Progress {
            worker,
            epoch,
            total,
            metrics,
        } => {
            let resp = client
                .report_progress(pb::ReportProgressRequest {
                    worker: Some(worker_ref(worker)?),
                    epoch: *epoch,
                    total_epochs: *total,
                    step: None,
                    metrics: metrics.iter().cloned().collect::<HashMap<_, _>>(),
                    report_time: None,
                })
                .await?
                .into_inner();
            (resp.accepted, resp.reason)
        }
        Report::Checkpoint {
            worker,
            epoch,
            path,
        } => {
            let resp = client
                .report_checkpoint(pb::ReportCheckpointRequest {
                    worker: Some(worker_ref(worker)?),
                    epoch: *epoch,
                    path: path.clone(),
                    size_bytes: None,
                    metrics: HashMap::new(),
                    time: None,
                })
                .await?
                .into_inner();
            (resp.accepted, resp.reason)
        }
    };
    if accepted {
        Ok("accepted\n".into())
    } else {
        Err(ReportError::NotAccepted(reason))
    }
}
