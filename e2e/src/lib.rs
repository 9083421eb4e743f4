//! End-to-end harness for mlfleet controllers.
//!
//! The local control plane is real Kubernetes run as processes (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler) with kwok simulating nodes and the pod
//! lifecycle; `e2e/cluster` starts it and `e2e/tools/build.sh` builds its binaries.
//! This crate gives tests what they share:
//!
//! - [`Plane::ensure`]: reuse the running plane or start it (once per test process);
//! - [`Plane::client`] / [`Plane::impersonating_client`]: kube clients from its kubeconfig;
//! - [`Plane::apply_crds`]: install the repository's `crds/` and wait until established;
//! - [`ControllerProcess`]: run a controller binary as a child process against the plane,
//!   optionally as its chart ServiceAccount;
//! - [`wait_for`]: watch an object until a condition holds, with a deadline;
//! - [`TestNamespace`]: a per-test namespace that dumps its objects (and registered
//!   controller logs) when the test fails and is deleted afterwards.
//!
//! Set `MLFLEET_E2E_KUBECONFIG` to run the same tests against another cluster (the plane
//! is then not started; kubectl/helm still come from the tool cache).

mod controller;
mod error;
mod kubeconfig;
mod namespace;
mod plane;
mod tools;
mod wait;

pub use controller::{ControllerProcess, ControllerSpec};
pub use error::E2eError;
pub use kubeconfig::write_impersonating_kubeconfig;
pub use namespace::TestNamespace;
pub use plane::{CommandOutput, HelmRelease, Plane};
pub use tools::{ToolPaths, Versions, crds_dir, repo_root};
pub use wait::{wait_for, wait_for_deletion};

/// Result alias for this crate.
pub type Result<T, E = E2eError> = std::result::Result<T, E>;
