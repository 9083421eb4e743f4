//! Shared pieces of the stdf-ingest-scaler end-to-end tests: the binaries, input
//! fixtures, worker processes, the Python reader of the Parquet output, and polling of
//! an STDFParserJob's status through the API.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use mlfleet_e2e::{ControllerSpec, repo_root};
use serde_json::Value;

/// Every test of the scaler starts its own scaler, which watches STDFParserJobs in all
/// namespaces; the tests take this lock so no two scalers serve the same job.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The workspace binaries the tests run (built beforehand, see
/// `crates/stdf-ingest-scaler/tests/e2e.sh`).
pub struct Bins {
    pub scaler: PathBuf,
    pub stdf_gen: PathBuf,
    pub stdf2parquet: PathBuf,
}

pub fn bins() -> anyhow::Result<Bins> {
    let b = Bins {
        scaler: ControllerSpec::workspace_binary("stdf-ingest-scaler"),
        stdf_gen: ControllerSpec::workspace_binary("stdf-gen"),
        stdf2parquet: ControllerSpec::workspace_binary("stdf2parquet"),
    };
    for p in [&b.scaler, &b.stdf_gen, &b.stdf2parquet] {
        ensure!(
            p.is_file(),
            "{} is missing: run `cargo build -p stdf-ingest-scaler -p stdf --bins` first \
             (crates/stdf-ingest-scaler/tests/e2e.sh does)",
            p.display()
        );
    }
    Ok(b)
}

/// Python of the cached venv with pyarrow and moto (created on first use).
pub fn python() -> anyhow::Result<PathBuf> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| {
        let script = repo_root().join("crates/stdf-ingest-scaler/tests/setup_venv.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// A scratch folder of one test, removed when the test passes.
pub struct Scratch {
    pub root: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let base = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let root = base.join(format!(
            "stdf-e2e-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    pub fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let d = self.root.join(name);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping test files under {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// The input files of a test, by kind.
#[derive(Debug, Default)]
pub struct Inputs {
    /// File names (in the input folder) that are valid STDF.
    pub good: Vec<String>,
    /// File names that are corrupt.
    pub corrupt: Vec<String>,
}

impl Inputs {
    pub fn total(&self) -> usize {
        self.good.len() + self.corrupt.len()
    }
}

/// The real samples shipped beside the repository.
pub fn real_samples() -> anyhow::Result<Vec<PathBuf>> {
    let dir = repo_root().join("../shared/data/stdf");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "stdf"))
        .collect();
    v.sort();
    ensure!(
        v.len() >= 2,
        "expected the two real samples in {}",
        dir.display()
    );
    Ok(v)
}

/// Fills `dir` with `copies` copies of each real sample, `generated` files from the
/// codec's generator (`size_mb` each; every third big-endian, every fourth gzipped) and
/// two corrupt files: a generated file cut in the middle of a record, and bytes that
/// are not STDF at all.
pub fn make_inputs(
    bins: &Bins,
    dir: &Path,
    copies: usize,
    generated: usize,
    size_mb: f64,
) -> anyhow::Result<Inputs> {
    let mut inputs = Inputs::default();
    for sample in real_samples()? {
        let stem = sample
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for c in 0..copies {
            let name = format!("real-{stem}-{c}.stdf");
            std::fs::copy(&sample, dir.join(&name))?;
            inputs.good.push(name);
        }
    }
    for i in 0..generated {
        let name = if i % 4 == 3 {
            format!("gen-{i:03}.stdf.gz")
        } else {
            format!("gen-{i:03}.stdf")
        };
        let endian = if i % 3 == 2 { "big" } else { "little" };
        run_ok(
            Command::new(&bins.stdf_gen)
                .args(["--size-mb", &size_mb.to_string(), "--endian", endian])
                .args(["--seed", &(1000 + i).to_string(), "--tests-per-part", "20"])
                .arg("--out")
                .arg(dir.join(&name)),
        )?;
        inputs.good.push(name);
    }
    // Corrupt 1: cut inside a record (header walk of a little-endian generated file).
    let whole = dir.join("corrupt-source.tmp-gen");
    run_ok(
        Command::new(&bins.stdf_gen)
            .args(["--size-mb", "0.2", "--seed", "7", "--endian", "little"])
            .arg("--out")
            .arg(&whole),
    )?;
    let bytes = std::fs::read(&whole)?;
    std::fs::remove_file(&whole)?;
    let mut offsets = Vec::new();
    let mut at = 0usize;
    while at + 4 <= bytes.len() {
        let len = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
        offsets.push((at, len));
        at += 4 + len;
    }
    ensure!(at == bytes.len(), "generated file does not walk cleanly");
    let (mid, len) = offsets
        .iter()
        .skip(offsets.len() / 2)
        .find(|(_, len)| *len >= 8)
        .copied()
        .context("no record of 8+ bytes")?;
    std::fs::write(
        dir.join("corrupt-truncated.stdf"),
        &bytes[..mid + 4 + len / 2],
    )?;
    inputs.corrupt.push("corrupt-truncated.stdf".into());
    // Corrupt 2: not STDF.
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.join("corrupt-junk.stdf"), junk)?;
    inputs.corrupt.push("corrupt-junk.stdf".into());
    Ok(inputs)
}

/// The output folder name the scaler uses for an input file name.
pub fn stem(name: &str) -> String {
    name.trim_end_matches(".gz")
        .trim_end_matches(".stdf")
        .to_string()
}

pub fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Converts every good input with `stdf2parquet` (records layout) into
/// `expected/<stem>/`: what the codec predicts for each file.
pub fn expected_outputs(
    bins: &Bins,
    input: &Path,
    inputs: &Inputs,
    expected: &Path,
) -> anyhow::Result<()> {
    std::thread::scope(|s| -> anyhow::Result<()> {
        let chunks: Vec<&[String]> = inputs.good.chunks(inputs.good.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || -> anyhow::Result<()> {
                    for name in chunk {
                        run_ok(
                            Command::new(&bins.stdf2parquet)
                                .arg(input.join(name))
                                .arg("--out")
                                .arg(expected.join(stem(name)))
                                .args(["--layout", "records"]),
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("converter thread panicked"))??;
        }
        Ok(())
    })
}

const READ_PARQUET: &str = r#"
import json, pathlib, sys
import pyarrow.parquet as pq
root = pathlib.Path(sys.argv[1])
print(json.dumps({str(p.relative_to(root)): pq.read_table(p).num_rows
                  for p in sorted(root.rglob("*.parquet"))}))
"#;

/// Rows of every Parquet file under `dir` (relative path → rows), read by pyarrow.
pub fn parquet_rows(dir: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let out = run_ok(Command::new(python()?).args(["-c", READ_PARQUET]).arg(dir))?;
    Ok(serde_json::from_str(&out)?)
}

/// Files under `dir` whose name shows an unfinished write (object_store's local staging
/// files end in `#<n>`; our tools use `.tmp`).
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let n = e.file_name().to_string_lossy().to_string();
                if n.contains('#') || n.contains(".tmp") {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// A parser worker process (`stdf-ingest-scaler worker`), killed when dropped.
pub struct Worker {
    pub child: Child,
    pub log: PathBuf,
    pub id: String,
}

impl Worker {
    pub fn start(
        bins: &Bins,
        grpc: std::net::SocketAddr,
        job: &str,
        id: &str,
        scratch: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let log = scratch.join(format!("{id}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(&bins.scaler)
            .arg("worker")
            .args(["--scaler-addr", &format!("http://{grpc}"), "--job", job])
            .args(["--worker-id", id, "--log-format", "text"])
            .arg("--scratch")
            .arg(scratch.join(id))
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(Self {
            child,
            log,
            id: id.into(),
        })
    }

    /// Waits for the process to exit successfully.
    pub fn wait_success(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(
                    status.success(),
                    "worker {} exited with {status}; log:\n{}",
                    self.id,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "worker {} still running after {timeout:?}; log:\n{}",
                    self.id,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The STDFParserJob API (dynamic: the e2e crate does not link crd-types).
pub fn jobs_api(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("ingest.mlfleet.io", "v1alpha1", "STDFParserJob");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "stdfparserjobs");
    Api::namespaced_with(client, ns, &ar)
}

pub fn job_object(name: &str, spec: Value) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "ingest.mlfleet.io/v1alpha1",
        "kind": "STDFParserJob",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}

pub async fn create_job(api: &Api<DynamicObject>, name: &str, spec: Value) -> anyhow::Result<()> {
    api.create(&PostParams::default(), &job_object(name, spec)?)
        .await?;
    Ok(())
}

/// Deletes the job and waits until it is gone (so the next test's scaler never sees it).
pub async fn delete_job(api: &Api<DynamicObject>, name: &str) -> anyhow::Result<()> {
    let _ = api.delete(name, &DeleteParams::default()).await;
    poll(
        Duration::from_secs(30),
        &format!("deletion of {name}"),
        || async move { Ok(api.get_opt(name).await?.is_none().then_some(())) },
    )
    .await
}

/// Calls `probe` every 200 ms until it returns `Some`, or fails after `timeout`.
pub async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the job's status satisfies `cond`; returns the status.
pub async fn wait_status(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let job = api.get(name).await?;
        let status = job.data.get("status").cloned().unwrap_or(Value::Null);
        if cond(&status) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last status: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn int(v: &Value, path: &str) -> i64 {
    path.split('.').fold(v, |v, k| &v[k]).as_i64().unwrap_or(-1)
}

/// Records every `spec.replicas` value the worker Deployment takes (changes only).
pub struct ReplicaLog {
    pub seen: Arc<Mutex<Vec<i32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplicaLog {
    pub fn start(client: kube::Client, ns: &str, deployment: &str) -> Self {
        let api: Api<Deployment> = Api::namespaced(client, ns);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let cfg = watcher::Config::default().fields(&format!("metadata.name={deployment}"));
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, cfg)
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(ev) = stream.next().await {
                if let Ok(d) = ev {
                    let r = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                    if let Ok(mut v) = s.lock()
                        && v.last() != Some(&r)
                    {
                        v.push(r);
                    }
                }
            }
        });
        Self { seen, task }
    }

    pub fn values(&self) -> Vec<i32> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits until the last recorded value is `want`.
    pub async fn wait_for(&self, want: i32, timeout: Duration) -> anyhow::Result<()> {
        poll(timeout, &format!("worker replicas {want}"), || async move {
            Ok((self.values().last() == Some(&want)).then_some(()))
        })
        .await
        .with_context(|| format!("replicas seen: {:?}", self.values()))
    }
}

impl Drop for ReplicaLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
