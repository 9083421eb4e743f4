//! Controllers under test, run as child processes against the plane.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kubeconfig::write_impersonating_kubeconfig;
use crate::tools::{repo_root, state_dir};
use crate::{E2eError, Plane, Result};

/// How to start a controller binary.
#[derive(Debug, Clone, Default)]
pub struct ControllerSpec {
    /// The binary (for a workspace binary, see [`ControllerSpec::workspace_binary`]).
    pub binary: PathBuf,
    /// Arguments; for mlfleet binaries usually `["run"]`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// `Some((namespace, name))`: every API request impersonates this ServiceAccount, so
    /// the chart's RBAC for it is what gets tested.
    pub service_account: Option<(String, String)>,
}

impl ControllerSpec {
    /// A spec running `binary run`.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            args: vec!["run".into()],
            ..Self::default()
        }
    }

    /// Path of a binary of this workspace in the cargo target dir (`CARGO_TARGET_DIR` or
    /// `<repo>/target`, debug profile). Tests in the binary's own crate should prefer
    /// `env!("CARGO_BIN_EXE_<name>")`.
    pub fn workspace_binary(name: &str) -> PathBuf {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        target.join("debug").join(name)
    }

    /// A gpu-node-agent for simulated node `node`, reading its GPUs from the inventory
    /// file `inventory` every `sample_interval`, its DCGM metrics on a free loopback
    /// port. Further flags can be pushed onto `args`.
    pub fn simulated_gpu_agent(
        node: &str,
        inventory: &std::path::Path,
        sample_interval: &str,
    ) -> std::io::Result<Self> {
        let dcgm = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut spec = Self::new(Self::workspace_binary("gpu-node-agent"));
        spec.args.extend([
            "--node-name".into(),
            node.into(),
            "--backend".into(),
            "simulated".into(),
            "--sim-inventory".into(),
            inventory.display().to_string(),
            "--sample-interval".into(),
            sample_interval.into(),
            "--dcgm-metrics-addr".into(),
            dcgm.to_string(),
        ]);
        Ok(spec)
    }

    /// Impersonates ServiceAccount `namespace/name`.
    pub fn as_service_account(mut self, namespace: &str, name: &str) -> Self {
        self.service_account = Some((namespace.into(), name.into()));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running controller. Its stdout and stderr go to [`ControllerProcess::log_path`];
/// it is stopped (SIGTERM, then SIGKILL after 5 s) when dropped.
#[derive(Debug)]
pub struct ControllerProcess {
    child: Child,
    log: PathBuf,
    kubeconfig: PathBuf,
    admin_addr: SocketAddr,
    grpc_addr: SocketAddr,
}

impl ControllerProcess {
    /// Starts `spec` with `KUBECONFIG` pointing at the plane (an impersonating copy when a
    /// ServiceAccount is set), text logs, leader election off, and the admin and gRPC
    /// listeners on free loopback ports (`MLFLEET_ADMIN_ADDR`, `MLFLEET_GRPC_ADDR`; the
    /// spec's own env wins).
    pub fn start(plane: &Plane, spec: &ControllerSpec) -> Result<Self> {
        if !spec.binary.is_file() {
            return Err(E2eError::BinaryMissing(spec.binary.clone()));
        }
        let stem = spec
            .binary
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "controller".into());
        let dir = state_dir().join("e2e-runs").join(format!(
            "{stem}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| E2eError::io("creating", &dir, e))?;
        let kubeconfig = match &spec.service_account {
            Some((ns, name)) => {
                let path = dir.join("kubeconfig");
                write_impersonating_kubeconfig(plane.kubeconfig(), &path, ns, name)?;
                path
            }
            None => plane.kubeconfig().to_path_buf(),
        };
        let admin_addr = free_loopback_port()?;
        let grpc_addr = free_loopback_port()?;
        let log = dir.join("controller.log");
        let out = File::create(&log).map_err(|e| E2eError::io("creating", &log, e))?;
        let err = out
            .try_clone()
            .map_err(|e| E2eError::io("opening", &log, e))?;
        let mut cmd = Command::new(&spec.binary);
        cmd.args(&spec.args)
            .env("KUBECONFIG", &kubeconfig)
            .env("MLFLEET_LOG_FORMAT", "text")
            .env("MLFLEET_LEADER_ELECT", "false")
            .env("MLFLEET_ADMIN_ADDR", admin_addr.to_string())
            .env("MLFLEET_GRPC_ADDR", grpc_addr.to_string())
            .env("POD_NAMESPACE", "default")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .map_err(|e| E2eError::io("starting controller", &spec.binary, e))?;
        Ok(Self {
            child,
            log,
            kubeconfig,
            admin_addr,
            grpc_addr,
        })
    }

    /// File receiving the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Kubeconfig the process uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Address given in `MLFLEET_ADMIN_ADDR` (metrics, health).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Address given in `MLFLEET_GRPC_ADDR`.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn exit_status(&mut self) -> Result<Option<std::process::ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| E2eError::io("polling", &self.log, e))
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process: SIGTERM, then SIGKILL if it has not exited within 5 s.
    pub fn stop(&mut self) -> Result<Option<std::process::ExitStatus>> {
        if let Some(status) = self.exit_status()? {
            return Ok(Some(status));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status()? {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child
            .kill()
            .map_err(|e| E2eError::io("killing", &self.log, e))?;
        self.child
            .wait()
            .map(Some)
            .map_err(|e| E2eError::io("waiting for", &self.log, e))
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping controller (log {}): {e}", self.log.display());
        }
    }
}

fn free_loopback_port() -> Result<SocketAddr> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| E2eError::io("binding", "127.0.0.1:0", e))?;
    listener
        .local_addr()
        .map_err(|e| E2eError::io("binding", "127.0.0.1:0", e))
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
