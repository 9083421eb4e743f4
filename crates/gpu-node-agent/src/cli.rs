//! Command line: `gpu-node-agent run ...` (the agent) and `gpu-node-agent probe ...`
//! (read the GPUs once and print them as JSON, for checking a backend on a host).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mlfleet_runtime::CommonArgs;

use crate::backend::nvml::NvmlBackend;
use crate::backend::simulated::{SimFlags, SimSource, SimulatedBackend};
use crate::backend::{BackendError, BackendKind, GpuBackend};
use crate::health::{DEFAULT_IGNORED_XIDS, HealthPolicy};
use crate::sampler::BackendFactory;

/// gpu-node-agent: GPU discovery, health, labels, GPUNode status and GpuAgent gRPC for one node.
#[derive(Debug, Parser)]
#[command(name = "gpu-node-agent", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent for one node.
    Run(Box<RunArgs>),
    /// Read the GPUs once through a backend and print the reading as JSON.
    Probe(BackendArgs),
    /// Subscribe to an agent's WatchNodeGpus stream and print one JSON line per message.
    Watch(WatchArgs),
}

/// Flags of `watch`.
#[derive(Clone, Debug, Args)]
pub struct WatchArgs {
    /// Agent endpoint, e.g. `http://10.0.0.5:9090`.
    #[arg(long)]
    pub endpoint: String,
    /// Node the agent is expected to serve (empty: any).
    #[arg(long, default_value = "")]
    pub node_name: String,
    /// Longest wait between periodic samples (0: the agent's default).
    #[arg(long, default_value_t = 0)]
    pub max_interval_ms: u32,
}

/// Backend selection, shared by `run` and `probe`.
#[derive(Clone, Debug, Args)]
pub struct BackendArgs {
    /// Name of the Kubernetes Node this agent serves.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,

    /// Where GPU data comes from.
    #[arg(long, env = "MLFLEET_GPU_BACKEND", value_enum, default_value_t = BackendChoice::Nvml)]
    pub backend: BackendChoice,

    /// Path of libnvidia-ml [default: libnvidia-ml.so.1, then libnvidia-ml.so].
    #[arg(long, env = "MLFLEET_NVML_LIBRARY")]
    pub nvml_library: Option<String>,

    /// Simulated inventory file (YAML or JSON), re-read while the agent runs.
    #[arg(long, env = "MLFLEET_SIM_INVENTORY")]
    pub sim_inventory: Option<PathBuf>,

    /// Simulated GPU count, when no inventory file is given.
    #[arg(long, default_value_t = 8)]
    pub sim_gpus: u32,

    /// Simulated GPU model, when no inventory file is given.
    #[arg(long, default_value = "NVIDIA H100 80GB HBM3")]
    pub sim_model: String,

    /// Simulated GPU memory in MiB, when no inventory file is given.
    #[arg(long, default_value_t = 81559)]
    pub sim_memory_mib: u64,
}

/// Backend names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// NVIDIA Management Library (real GPUs).
    Nvml,
    /// Simulated inventory (kwok nodes, tests).
    Simulated,
}

impl BackendChoice {
    /// The backend kind.
    pub fn kind(self) -> BackendKind {
        match self {
            BackendChoice::Nvml => BackendKind::Nvml,
            BackendChoice::Simulated => BackendKind::Simulated,
        }
    }
}

impl BackendArgs {
    /// Opens the chosen backend once.
    pub fn open(&self) -> Result<Box<dyn GpuBackend>, BackendError> {
        match self.backend {
            BackendChoice::Nvml => Ok(Box::new(NvmlBackend::init(self.nvml_library.as_deref())?)),
            BackendChoice::Simulated => Ok(Box::new(SimulatedBackend::new(
                &self.node_name,
                self.sim_source(),
            )?)),
        }
    }

    fn sim_source(&self) -> SimSource {
        match &self.sim_inventory {
            Some(p) => SimSource::File(p.clone()),
            None => SimSource::Flags(SimFlags {
                count: self.sim_gpus,
                model: self.sim_model.clone(),
                memory_mib: self.sim_memory_mib,
            }),
        }
    }

    /// A factory the sampler calls to (re)create the backend.
    pub fn factory(&self) -> BackendFactory {
        let args = self.clone();
        Box::new(move || args.open())
    }
}

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Backend selection.
    #[command(flatten)]
    pub backend: BackendArgs,

    /// Time between GPU readings.
    #[arg(long, env = "MLFLEET_SAMPLE_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub sample_interval: Duration,

    /// GPUNode status is rewritten at least this often (it is written at once on change).
    #[arg(long, env = "MLFLEET_HEARTBEAT_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// Periodic WatchNodeGpus sample interval when the client asks for none.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub watch_interval: Duration,

    /// Free-memory move (MiB) that counts as an allocation-relevant change.
    #[arg(long, default_value_t = 1024)]
    pub memory_change_threshold_mib: u64,

    /// XIDs that do not make a GPU unhealthy (application-caused), comma-separated.
    #[arg(long, env = "MLFLEET_IGNORED_XIDS", value_delimiter = ',', default_values_t = DEFAULT_IGNORED_XIDS.to_vec())]
    pub ignored_xids: Vec<u64>,

    /// Consecutive failed event waits after which the node's GPUs are unhealthy.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub event_failure_threshold: u32,

    /// A GPU is healthy again this long after its last critical XID [default: only
    /// after the agent restarts].
    #[arg(long, value_parser = parse_duration)]
    pub xid_recovery: Option<Duration>,

    /// Time between attempts to load a missing or lost backend.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub backend_retry_interval: Duration,

    /// Where DCGM-compatible metrics are served (`/metrics`), dcgm-exporter's port.
    #[arg(
        long,
        env = "MLFLEET_DCGM_METRICS_ADDR",
        default_value = "0.0.0.0:9400"
    )]
    pub dcgm_metrics_addr: SocketAddr,

    /// Write GPUNode status and Node labels (`--kube-sync=false` serves gRPC and
    /// metrics only, without a cluster).
    #[arg(
        long,
        env = "MLFLEET_KUBE_SYNC",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub kube_sync: bool,

    /// Flags shared by every mlfleet binary.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl RunArgs {
    /// The health policy from the flags.
    pub fn health_policy(&self) -> HealthPolicy {
        HealthPolicy {
            ignored_xids: self.ignored_xids.iter().copied().collect::<BTreeSet<_>>(),
            event_failure_threshold: self.event_failure_threshold,
            xid_recovery: self.xid_recovery,
        }
    }
}

/// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 1s, 2m or 1h"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} in {s:?}")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("duration {s:?} must be greater than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1d").unwrap_err().contains("unit"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn run_flags_parse_with_defaults() {
        let cli = Cli::try_parse_from([
            "gpu-node-agent",
            "run",
            "--node-name",
            "gpu-1",
            "--backend",
            "simulated",
            "--sim-inventory",
            "/tmp/inv.yaml",
            "--sample-interval",
            "500ms",
            "--ignored-xids",
            "13,43",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.backend.node_name, "gpu-1");
        assert_eq!(run.backend.backend, BackendChoice::Simulated);
        assert_eq!(run.sample_interval, Duration::from_millis(500));
        assert_eq!(run.heartbeat_interval, Duration::from_secs(60));
        let policy = run.health_policy();
        assert_eq!(policy.ignored_xids, [13, 43].into_iter().collect());
        assert!(run.kube_sync);
        assert_eq!(run.dcgm_metrics_addr.port(), 9400);
    }

    #[test]
    fn default_ignored_xids_match_the_device_plugin() {
        let cli = Cli::try_parse_from(["gpu-node-agent", "run", "--node-name", "n"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.ignored_xids, vec![13, 31, 43, 45, 68]);
        assert_eq!(run.backend.backend, BackendChoice::Nvml);
    }
}
