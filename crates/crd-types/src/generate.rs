//! Rendering the CRD manifests and comparing them with the copies checked into the
//! repository (`crds/` and the umbrella chart's `crds/`).

use std::path::{Path, PathBuf};

use crate::{all_crds, crd_file_name, crd_yaml};

/// Directories, relative to the repository root, that hold a copy of every CRD manifest.
pub const CRD_DIRS: [&str; 2] = ["crds", "charts/mlfleet/crds"];

/// The command that regenerates the manifests.
pub const REGENERATE_COMMAND: &str = "cargo run -p crd-types --bin crdgen";

/// Errors of rendering or comparing CRD manifests.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A CRD could not be serialised to YAML.
    #[error("rendering CRD {name} as YAML: {source}")]
    Render {
        /// CRD name.
        name: String,
        /// Serialiser error.
        source: serde_yaml::Error,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One difference between the generated manifests and a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A generated manifest is missing from the directory.
    Missing(PathBuf),
    /// The file's content differs from the generated manifest.
    Changed(PathBuf),
    /// A `.yaml` file in the directory is not generated (for example a removed kind).
    Extra(PathBuf),
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(p) => write!(f, "missing: {}", p.display()),
            Self::Changed(p) => write!(f, "out of date: {}", p.display()),
            Self::Extra(p) => write!(f, "not generated (stale): {}", p.display()),
        }
    }
}

/// Every CRD manifest as (file name, YAML text), in [`all_crds`] order.
pub fn render_all() -> Result<Vec<(String, String)>, GenerateError> {
    all_crds()
        .iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            crd_yaml(crd)
                .map(|yaml| (crd_file_name(crd), yaml))
                .map_err(|source| GenerateError::Render { name, source })
        })
        .collect()
}

/// Writes every manifest into each of [`CRD_DIRS`] under `root`, removing stale `.yaml`
/// files there. Returns the paths written.
pub fn write_all(root: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    let rendered = render_all()?;
    let mut written = Vec::new();
    for dir in CRD_DIRS {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).map_err(|source| GenerateError::Io {
            action: "creating",
            path: dir.clone(),
            source,
        })?;
        for drift in compare_dir(&dir, &rendered)? {
            if let Drift::Extra(path) = drift {
                std::fs::remove_file(&path).map_err(|source| GenerateError::Io {
                    action: "removing",
                    path,
                    source,
                })?;
            }
        }
        for (file, yaml) in &rendered {
            let path = dir.join(file);
            std::fs::write(&path, yaml).map_err(|source| GenerateError::Io {
                action: "writing",
                path: path.clone(),
                source,
            })?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Compares every directory of [`CRD_DIRS`] under `root` with the generated manifests.
pub fn check_all(root: &Path) -> Result<Vec<Drift>, GenerateError> {
    let rendered = render_all()?;
    let mut drifts = Vec::new();
    for dir in CRD_DIRS {
        drifts.extend(compare_dir(&root.join(dir), &rendered)?);
    }
    Ok(drifts)
}

/// Compares one directory, file by file, with rendered manifests.
pub fn compare_dir(dir: &Path, rendered: &[(String, String)]) -> Result<Vec<Drift>, GenerateError> {
    let mut drifts = Vec::new();
    for (file, yaml) in rendered {
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == *yaml => {}
            Ok(_) => drifts.push(Drift::Changed(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => drifts.push(Drift::Missing(path)),
            Err(source) => {
                return Err(GenerateError::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(drifts),
        Err(source) => {
            return Err(GenerateError::Io {
                action: "listing",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| GenerateError::Io {
            action: "listing",
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && !rendered.iter().any(|(f, _)| *f == name) {
            drifts.push(Drift::Extra(entry.path()));
        }
    }
    Ok(drifts)
}

/// The repository root as seen from this crate's sources (`crates/crd-types/../..`).
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}
