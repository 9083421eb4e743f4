//! The local control plane: start or reuse it, and talk to it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::kubeconfig::write_impersonating_kubeconfig;
use crate::tools::{ToolPaths, Versions, crds_dir, repo_root, state_dir};
use crate::{E2eError, Result};

/// A running control plane (the local one, or any cluster named by `MLFLEET_E2E_KUBECONFIG`).
#[derive(Debug, Clone)]
pub struct Plane {
    kubeconfig: PathBuf,
    tools: ToolPaths,
    versions: Versions,
    local: bool,
}

/// Captured result of a command run against the plane.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CommandOutput {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

static PLANE: OnceLock<std::result::Result<Plane, String>> = OnceLock::new();

impl Plane {
    /// Returns the plane for this test process, starting it the first time if needed:
    /// `e2e/cluster up` reuses a running plane and starts one otherwise. Fails with
    /// [`E2eError::ToolsNotBuilt`] when `e2e/tools/build.sh` has not been run.
    ///
    /// With `MLFLEET_E2E_KUBECONFIG` set, that cluster is used and nothing is started.
    pub fn ensure() -> Result<&'static Plane> {
        let plane = PLANE.get_or_init(|| Self::start().map_err(|e| e.to_string()));
        plane
            .as_ref()
            .map_err(|message| E2eError::PlaneUnavailable(message.clone()))
    }

    fn start() -> Result<Plane> {
        let versions = Versions::load()?;
        let tools = ToolPaths::new(&versions);
        if let Some(kubeconfig) = std::env::var_os("MLFLEET_E2E_KUBECONFIG") {
            tools.check(false)?;
            return Ok(Plane {
                kubeconfig: PathBuf::from(kubeconfig),
                tools,
                versions,
                local: false,
            });
        }
        tools.check(true)?;
        let script = repo_root().join("e2e/cluster");
        let started = Instant::now();
        let out = run(Command::new(&script).arg("up"))?;
        if !out.success() {
            return Err(command_error(&script.display().to_string(), &out));
        }
        eprintln!(
            "[e2e] control plane ready in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(Plane {
            kubeconfig: state_dir().join("kubeconfig"),
            tools,
            versions,
            local: true,
        })
    }

    /// Path of the admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Pinned tool versions.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    /// Built tool paths (kubectl, helm).
    pub fn tools(&self) -> &ToolPaths {
        &self.tools
    }

    /// Whether this is the local plane started by `e2e/cluster` (not an external cluster).
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// A client with the admin credentials.
    pub async fn client(&self) -> Result<Client> {
        client_from(&self.kubeconfig).await
    }

    /// A client whose requests impersonate ServiceAccount `namespace/name`, so that only
    /// that account's RBAC applies. The kubeconfig it uses is written to `dest`.
    pub async fn impersonating_client(
        &self,
        namespace: &str,
        name: &str,
        dest: &Path,
    ) -> Result<Client> {
        write_impersonating_kubeconfig(&self.kubeconfig, dest, namespace, name)?;
        client_from(dest).await
    }

    /// Runs the built kubectl against the plane; non-zero exit is an error.
    pub fn kubectl<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<CommandOutput> {
        checked(self.kubectl_output(args)?, "kubectl", args)
    }

    /// Runs the built kubectl and returns its output whatever the exit status.
    pub fn kubectl_output<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<CommandOutput> {
        run(Command::new(&self.tools.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args))
    }

    /// Runs the built helm against the plane; non-zero exit is an error.
    pub fn helm<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<CommandOutput> {
        let out = run(Command::new(&self.tools.helm)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args))?;
        checked(out, "helm", args)
    }

    /// Applies every manifest under the repository's `crds/` (or `MLFLEET_E2E_CRDS`; see
    /// [`crds_dir`](crate::crds_dir)) with server-side apply and waits
    /// until each CustomResourceDefinition is Established. Returns the applied names.
    pub fn apply_crds(&self) -> Result<Vec<String>> {
        let dir = crds_dir();
        let has_yaml = std::fs::read_dir(&dir)
            .map_err(|e| E2eError::io("listing", &dir, e))?
            .filter_map(|e| e.ok())
            .any(|e| {
                e.path()
                    .extension()
                    .is_some_and(|x| x == "yaml" || x == "yml")
            });
        if !has_yaml {
            return Err(E2eError::NoCrds(dir));
        }
        let dir_arg = dir.display().to_string();
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "mlfleet-e2e",
            "-f",
            &dir_arg,
        ])?;
        let out = self.kubectl(&[
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "60s",
            "-f",
            &dir_arg,
            "-o",
            "name",
        ])?;
        Ok(out
            .stdout
            .lines()
            .map(|l| {
                l.trim_start_matches("customresourcedefinition.apiextensions.k8s.io/")
                    .to_string()
            })
            .collect())
    }
}

async fn client_from(path: &Path) -> Result<Client> {
    let err = |message: String| E2eError::Kubeconfig {
        path: path.to_path_buf(),
        message,
    };
    let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    Client::try_from(config).map_err(|e| err(e.to_string()))
}

pub(crate) fn run(cmd: &mut Command) -> Result<CommandOutput> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .map_err(|e| E2eError::io("running", program, e))?;
    Ok(CommandOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn checked<S: AsRef<std::ffi::OsStr>>(
    out: CommandOutput,
    tool: &str,
    args: &[S],
) -> Result<CommandOutput> {
    if out.success() {
        return Ok(out);
    }
    let line = std::iter::once(tool.to_string()).chain(
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned()),
    );
    Err(command_error(&line.collect::<Vec<_>>().join(" "), &out))
}

fn command_error(command: &str, out: &CommandOutput) -> E2eError {
    let tail: String = {
        let text = if out.stderr.trim().is_empty() {
            &out.stdout
        } else {
            &out.stderr
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    E2eError::Command {
        command: command.to_string(),
        status: out
            .code
            .map_or_else(|| "killed by signal".to_string(), |c| format!("exit {c}")),
        stderr: tail,
    }
}

/// A Helm release installed by a test, uninstalled when dropped, pass or fail (its
/// cluster-scoped objects, RBAC for one, outlive the test namespace otherwise).
#[derive(Debug)]
pub struct HelmRelease<'a> {
    plane: &'a Plane,
    name: String,
    namespace: String,
}

impl<'a> HelmRelease<'a> {
    /// Takes charge of release `name` in `namespace`.
    pub fn new(plane: &'a Plane, name: &str, namespace: &str) -> Self {
        Self {
            plane,
            name: name.to_string(),
            namespace: namespace.to_string(),
        }
    }
}

impl Drop for HelmRelease<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .plane
            .helm(&["uninstall", &self.name, "-n", &self.namespace])
        {
            eprintln!("helm uninstall {}: {e}", self.name);
        }
    }
}
