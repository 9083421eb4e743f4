//! `training-operator query …`: a small SchedulingState client that prints
//! queues, a job's admission state and GPU availability.

use mlfleet_proto::scheduling::v1::{self as pb, scheduling_state_client::SchedulingStateClient};
use thiserror::Error;

/// What to print.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Query {
    /// Queues with depth, usage and quota.
    Queues,
    /// One job's admission state and queue position (`namespace/name`).
    Job {
        /// `namespace/name`.
        job: String,
    },
    /// Free/used/unhealthy GPUs per node and per model.
    Gpus,
}

/// Query failures.
#[derive(Debug, Error)]
pub enum QueryError {
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
    /// Bad argument.
    #[error("job must be namespace/name, got {0:?}")]
    BadJob(String),
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn mem(b: u64) -> String {
    format!("{:.1}Gi", b as f64 / f64::from(1u32 << 30))
}

/// Renders queues as a table.
pub fn render_queues(r: &pb::ListQueuesResponse) -> String {
    let mut out = format!(
        "{:<24} {:>7} {:>8} {:>9} {:>9} {:>12} {:>12}\n",
        "QUEUE", "PENDING", "ADMITTED", "GPUS", "GPU-QUOTA", "CPU(m)", "MEMORY"
    );
    for q in &r.queues {
        let u = q.usage.unwrap_or_default();
        let quota = q.quota.unwrap_or_default();
        let name = if q.name.is_empty() {
            "(no queue)"
        } else {
            q.name.as_str()
        };
        out.push_str(&format!(
            "{:<24} {:>7} {:>8} {:>9} {:>9} {:>12} {:>12}\n",
            name,
            q.pending_jobs,
            q.admitted_jobs,
            u.gpus,
            opt(quota.gpus),
            u.cpu_millicores,
            mem(u.memory_bytes)
        ));
    }
    out
}

/// Renders one job.
pub fn render_job(a: &pb::JobAdmission) -> String {
    let state = pb::AdmissionState::try_from(a.state).map_or("?".into(), |s| {
        s.as_str_name()
            .trim_start_matches("ADMISSION_STATE_")
            .to_string()
    });
    let reason = pb::WaitReason::try_from(a.wait_reason).map_or("?".into(), |s| {
        s.as_str_name()
            .trim_start_matches("WAIT_REASON_")
            .to_string()
    });
    let req = a.requests.unwrap_or_default();
    format!(
        "job:       {}/{}\nqueue:     {}\nstate:     {state}\nposition:  {}\nreason:    {reason}\nmessage:   {}\npriority:  {}\nworkers:   {}\ngpus:      {}\n",
        a.namespace,
        a.name,
        if a.queue_name.is_empty() {
            "(none)"
        } else {
            &a.queue_name
        },
        a.queue_position
            .map_or_else(|| "-".into(), |p| p.to_string()),
        a.message,
        a.priority,
        a.workers,
        req.gpus
    )
}

/// Renders cluster GPUs.
pub fn render_gpus(c: &pb::ClusterGpus) -> String {
    let source = pb::CapacitySource::try_from(c.source).map_or("?".into(), |s| {
        s.as_str_name()
            .trim_start_matches("CAPACITY_SOURCE_")
            .to_string()
    });
    let row = |name: &str, model: &str, k: &pb::GpuCounts| {
        format!(
            "{:<28} {:<28} {:>5} {:>5} {:>5} {:>9}\n",
            name, model, k.allocatable, k.used, k.free, k.unhealthy
        )
    };
    let mut out = format!("source: {source} ({})\n", c.source_message);
    out.push_str(&format!(
        "{:<28} {:<28} {:>5} {:>5} {:>5} {:>9}\n",
        "NODE", "MODEL", "ALLOC", "USED", "FREE", "UNHEALTHY"
    ));
    for n in &c.nodes {
        out.push_str(&row(
            &n.node_name,
            &n.gpu_model,
            &n.counts.unwrap_or_default(),
        ));
    }
    for m in &c.models {
        out.push_str(&row(
            &format!("[model x{} nodes]", m.nodes),
            &m.gpu_model,
            &m.counts.unwrap_or_default(),
        ));
    }
    out.push_str(&row("TOTAL", "", &c.total.unwrap_or_default()));
    out
}

/// Runs a query against `addr` and returns the text to print.
pub async fn run(addr: &str, q: &Query) -> Result<String, QueryError> {
    let mut client = SchedulingStateClient::connect(addr.to_string())
        .await
        .map_err(|source| QueryError::Connect {
            addr: addr.to_string(),
            source,
        })?;
    Ok(match q {
        Query::Queues => render_queues(
            &client
                .list_queues(pb::ListQueuesRequest { names: vec![] })
                .await?
                .into_inner(),
        ),
        Query::Job { job } => {
            let (ns, name) = job
                .split_once('/')
                .ok_or_else(|| QueryError::BadJob(job.clone()))?;
            let r = client
                .get_job_admission(pb::GetJobAdmissionRequest {
                    namespace: ns.into(),
                    name: name.into(),
                })
                .await?
                .into_inner();
            render_job(&r.admission.unwrap_or_default())
        }
        Query::Gpus => render_gpus(
            &client
                .get_cluster_gpus(pb::GetClusterGpusRequest {})
                .await?
                .into_inner()
                .cluster
                .unwrap_or_default(),
        ),
    })
}
