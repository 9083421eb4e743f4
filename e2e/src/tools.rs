//! Where the repository, the pinned tool versions and the built binaries are.

use std::path::{Path, PathBuf};

use crate::{E2eError, Result};

/// The repository root (parent of the `e2e` crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Directory of the CRD manifests: `MLFLEET_E2E_CRDS` if set, else `<repo>/crds`.
pub fn crds_dir() -> PathBuf {
    std::env::var_os("MLFLEET_E2E_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("crds"))
}

/// Tool versions pinned in `e2e/tools/versions.env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// Kubernetes release, e.g. `v1.36.4`.
    pub kube: String,
    /// etcd release.
    pub etcd: String,
    /// kwok release.
    pub kwok: String,
    /// helm release.
    pub helm: String,
}

impl Versions {
    /// Reads `e2e/tools/versions.env`.
    pub fn load() -> Result<Self> {
        let path = repo_root().join("e2e/tools/versions.env");
        let text = std::fs::read_to_string(&path).map_err(|e| E2eError::io("reading", &path, e))?;
        Self::parse(&text).ok_or_else(|| E2eError::Parse {
            what: path.display().to_string(),
            message: "expected KUBE_VERSION, ETCD_VERSION, KWOK_VERSION and HELM_VERSION".into(),
        })
    }

    /// Parses `NAME=value` lines (comments and blank lines ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let get = |key: &str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    l.strip_prefix(key)?
                        .strip_prefix('=')
                        .map(|v| v.trim().to_string())
                })
        };
        Some(Self {
            kube: get("KUBE_VERSION")?,
            etcd: get("ETCD_VERSION")?,
            kwok: get("KWOK_VERSION")?,
            helm: get("HELM_VERSION")?,
        })
    }
}

/// Paths of the built binaries in the tool cache (same layout as `e2e/tools/build.sh`).
#[derive(Debug, Clone)]
pub struct ToolPaths {
    /// kubectl built from the pinned Kubernetes release.
    pub kubectl: PathBuf,
    /// helm built from the pinned release.
    pub helm: PathBuf,
    /// The control-plane binaries the cluster script needs.
    pub plane: Vec<PathBuf>,
}

impl ToolPaths {
    /// Computes the paths from `MLFLEET_CACHE` (default `~/.cache/mlfleet`) and `versions`.
    pub fn new(versions: &Versions) -> Self {
        let tools = cache_dir().join("tools");
        let kube = tools.join(format!("kubernetes-{}", versions.kube));
        let plane = vec![
            tools.join(format!("etcd-{}", versions.etcd)).join("etcd"),
            kube.join("kube-apiserver"),
            kube.join("kube-controller-manager"),
            kube.join("kube-scheduler"),
            tools.join(format!("kwok-{}", versions.kwok)).join("kwok"),
        ];
        Self {
            kubectl: kube.join("kubectl"),
            helm: tools.join(format!("helm-{}", versions.helm)).join("helm"),
            plane,
        }
    }

    /// Fails with [`E2eError::ToolsNotBuilt`] naming the first missing binary.
    pub fn check(&self, with_plane: bool) -> Result<()> {
        let mut needed = vec![&self.kubectl, &self.helm];
        if with_plane {
            needed.extend(self.plane.iter());
        }
        match needed.into_iter().find(|p| !p.is_file()) {
            Some(missing) => Err(E2eError::ToolsNotBuilt {
                missing: missing.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// `MLFLEET_CACHE` or `~/.cache/mlfleet`.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MLFLEET_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/mlfleet")
}

/// `MLFLEET_STATE` or `<cache>/cluster`.
pub(crate) fn state_dir() -> PathBuf {
    std::env::var_os("MLFLEET_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("cluster"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_file() {
        let v = Versions::parse(
            "# c\nKUBE_VERSION=v1.36.4\nETCD_VERSION=v3.6.16\nKWOK_VERSION=v0.8.0\nHELM_VERSION=v3.21.4\n",
        );
        assert_eq!(
            v.map(|v| (v.kube, v.helm)),
            Some(("v1.36.4".to_string(), "v3.21.4".to_string()))
        );
        assert_eq!(Versions::parse("KUBE_VERSION=v1\n"), None);
    }

    #[test]
    fn missing_tool_is_a_typed_error_naming_the_build_script() {
        let versions = Versions {
            kube: "v0.0.0-none".into(),
            etcd: "x".into(),
            kwok: "x".into(),
            helm: "x".into(),
        };
        let err = ToolPaths::new(&versions)
            .check(true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("e2e/tools/build.sh"), "{err}");
    }
}
