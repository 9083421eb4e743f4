//! Per-test namespaces that dump their contents when a test fails.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::{Plane, Result};

/// Resource kinds dumped for a failed test's namespace.
const DUMP_KINDS: &str = "all,events,pvc,configmaps,serviceaccounts,roles,rolebindings,leases";

/// A namespace owned by one test. When dropped during a panic (a failed assertion) it
/// prints the namespace's objects as YAML, the tails of the registered logs, and the
/// `mlfleet` custom resources; then it deletes the namespace unless
/// `MLFLEET_E2E_KEEP_FAILED=1` asks to keep it for inspection.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    plane: &'static Plane,
    logs: Mutex<Vec<PathBuf>>,
}

impl TestNamespace {
    /// Creates `e2e-<prefix>-<unique suffix>` labelled `mlfleet.io/e2e=true`.
    pub async fn create(plane: &'static Plane, prefix: &str) -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "e2e-{prefix}-{:x}{:x}{n}",
            std::process::id() % 0xfff,
            nanos % 0xffff
        );
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("mlfleet.io/e2e".to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(plane.client().await?)
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(Self {
            name,
            plane,
            logs: Mutex::new(Vec::new()),
        })
    }

    /// [`TestNamespace::create`] for synchronous tests (runs a small runtime of its own).
    pub fn create_blocking(plane: &'static Plane, prefix: &str) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::E2eError::io("starting a runtime for", "namespace creation", e))?;
        rt.block_on(Self::create(plane, prefix))
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers a log file (e.g. a controller's) to print if the test fails.
    pub fn attach_log(&self, path: impl Into<PathBuf>) {
        if let Ok(mut logs) = self.logs.lock() {
            logs.push(path.into());
        }
    }

    /// Prints the namespace's objects, the `mlfleet` resources and the attached logs.
    pub fn dump(&self) {
        eprintln!("==== e2e dump of namespace {} ====", self.name);
        for args in [
            vec!["get", DUMP_KINDS, "-n", &self.name, "-o", "yaml"],
            vec!["get", "mlfleet", "-n", &self.name, "-o", "yaml"],
            vec!["get", "nodes", "-o", "wide"],
        ] {
            match self.plane.kubectl_output(&args) {
                Ok(out) => eprintln!("$ kubectl {}\n{}{}", args.join(" "), out.stdout, out.stderr),
                Err(e) => eprintln!("$ kubectl {}: {e}", args.join(" ")),
            }
        }
        let logs = self.logs.lock().map(|l| l.clone()).unwrap_or_default();
        for log in logs {
            let text =
                std::fs::read_to_string(&log).unwrap_or_else(|e| format!("<cannot read: {e}>"));
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "==== last lines of {} ====\n{}",
                log.display(),
                lines[lines.len().saturating_sub(200)..].join("\n")
            );
        }
    }
}

impl TestNamespace {
    /// Drops the finalizers of the namespace's mlfleet objects. A test's controller
    /// usually stops before its namespace is deleted; without this, objects whose
    /// finalizer only that controller removes would hold the namespace (and their
    /// children's GPUs) in Terminating for every later test.
    fn release_finalizers(&self) {
        let Ok(names) = self
            .plane
            .kubectl(&["get", "mlfleet", "-n", &self.name, "-o", "name"])
        else {
            return;
        };
        for object in names
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if let Err(e) = self.plane.kubectl(&[
                "patch",
                object,
                "-n",
                &self.name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]) {
                eprintln!(
                    "releasing finalizers of {object} in {} failed: {e}",
                    self.name
                );
            }
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            self.dump();
            if std::env::var("MLFLEET_E2E_KEEP_FAILED").is_ok_and(|v| v == "1") {
                eprintln!(
                    "keeping namespace {} (MLFLEET_E2E_KEEP_FAILED=1)",
                    self.name
                );
                return;
            }
        }
        self.release_finalizers();
        // Synchronous: Drop cannot await, and the deletion must be issued before the test
        // process exits. `--wait=false` returns once the apiserver accepted it.
        if let Err(e) = self.plane.kubectl(&[
            "delete",
            "namespace",
            &self.name,
            "--wait=false",
            "--ignore-not-found",
        ]) {
            eprintln!("cleanup of namespace {} failed: {e}", self.name);
        }
    }
}
