//! Typed errors of the e2e harness.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while preparing or driving the local plane.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// The control-plane binaries are not in the tool cache.
    #[error(
        "control-plane tools are not built: {missing} not found. Run `e2e/tools/build.sh` \
         (first build takes a while; later runs reuse ${{MLFLEET_CACHE:-~/.cache/mlfleet}}/tools)"
    )]
    ToolsNotBuilt {
        /// The first missing binary.
        missing: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external command (cluster script, kubectl, helm, controller) failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status description.
        status: String,
        /// Captured standard error (tail).
        stderr: String,
    },
    /// The kubeconfig could not be loaded or turned into a client.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The kubeconfig path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// An API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A condition did not hold before the deadline.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// A watch ended with an error.
    #[error("watch of {what} failed: {message}")]
    Watch {
        /// What was watched.
        what: String,
        /// The watcher's error.
        message: String,
    },
    /// A YAML/JSON document could not be parsed.
    #[error("parsing {what}: {message}")]
    Parse {
        /// What was parsed.
        what: String,
        /// The parser's message.
        message: String,
    },
    /// A controller binary to start does not exist.
    #[error(
        "controller binary {0} not found: build it first (`cargo build --workspace --bins`; e2e/run-tests.sh does)"
    )]
    BinaryMissing(PathBuf),
    /// The plane could not be started earlier in this test process.
    #[error("local control plane unavailable: {0}")]
    PlaneUnavailable(String),
    /// The repository has no CRD manifests yet.
    #[error("no CRD manifests (*.yaml) under {0}")]
    NoCrds(PathBuf),
}

impl E2eError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
