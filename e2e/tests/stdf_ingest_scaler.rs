//! stdf-ingest-scaler on the real control plane (file:// sources): the scaler binary runs
//! as a child process, parser workers run as local processes against its gRPC endpoint
//! (kwok runs no containers), and everything is checked through the API, the output
//! folder and pyarrow.
//!
//! Prerequisites: `cargo build -p stdf-ingest-scaler -p stdf --bins` (same target dir),
//! python3 with venv and PyPI access on first run (pyarrow, moto), Go for the KEDA
//! client. `crates/stdf-ingest-scaler/tests/e2e.sh` does all of it.

mod stdf_support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, ensure};
use mlfleet_e2e::{ControllerProcess, ControllerSpec, Plane, TestNamespace, repo_root};
use serde_json::{Value, json};
use stdf_support::*;

/// PTR records in the real sample `demofile.stdf`, as counted by its README (an
/// independent count, not produced by our codec).
const DEMOFILE_PTR_RECORDS: u64 = 54_123;

fn start_scaler(
    plane: &Plane,
    bins: &Bins,
    ns: &TestNamespace,
) -> anyhow::Result<ControllerProcess> {
    let spec =
        ControllerSpec::new(&bins.scaler).env("MLFLEET_LOG", "info,stdf_ingest_scaler=debug");
    let p = ControllerProcess::start(plane, &spec)?;
    ns.attach_log(p.log_path());
    Ok(p)
}

fn file_uri(p: &Path) -> String {
    format!("file://{}/", p.display())
}

/// Every good file's tables were written and pyarrow reads them with the row counts
/// `stdf2parquet` (the codec) gives for the same input; the corrupt ones have none.
fn check_outputs(
    out_rows: &BTreeMap<String, u64>,
    expected_rows: &BTreeMap<String, u64>,
    inputs: &Inputs,
) -> anyhow::Result<()> {
    let out: BTreeMap<&String, &u64> = out_rows
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect();
    let exp: BTreeMap<&String, &u64> = expected_rows.iter().collect();
    ensure!(!exp.is_empty(), "no expected tables");
    ensure!(
        out == exp,
        "output tables differ from the codec's prediction:\n got {out:?}\n want {exp:?}"
    );
    let stems: BTreeSet<String> = out
        .keys()
        .filter_map(|k| k.split('/').next().map(String::from))
        .collect();
    let good: BTreeSet<String> = inputs.good.iter().map(|n| stem(n)).collect();
    ensure!(
        stems == good,
        "output folders {stems:?} != good inputs {good:?}"
    );
    for name in inputs.good.iter().filter(|n| n.contains("demofile")) {
        let ptr = out_rows
            .get(&format!("{}/PTR.parquet", stem(name)))
            .copied();
        ensure!(
            ptr == Some(DEMOFILE_PTR_RECORDS),
            "{name}: PTR rows {ptr:?}, README says {DEMOFILE_PTR_RECORDS}"
        );
    }
    Ok(())
}

/// The quarantine folder holds each corrupt file and an error report naming one attempt
/// (corrupt files are quarantined at once, not retried).
fn check_quarantine(qdir: &Path, input: &Path, inputs: &Inputs) -> anyhow::Result<()> {
    for name in &inputs.corrupt {
        let folder = qdir.join(stem(name));
        let copy = std::fs::read(folder.join(name))
            .with_context(|| format!("quarantined copy of {name}"))?;
        ensure!(
            copy == std::fs::read(input.join(name))?,
            "{name}: quarantined copy differs"
        );
        let report: Value = serde_json::from_slice(&std::fs::read(folder.join("error.json"))?)?;
        ensure!(report["attempts"] == json!(1), "{name}: report {report}");
        ensure!(
            report["reason"]
                .as_str()
                .is_some_and(|r| r.contains("corrupt")),
            "{name}: report {report}"
        );
        ensure!(
            report["source"]
                .as_str()
                .is_some_and(|s| s.ends_with(name.as_str())),
            "{name}: report {report}"
        );
    }
    let folders: BTreeSet<String> = std::fs::read_dir(qdir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into())
        .collect();
    let want: BTreeSet<String> = inputs.corrupt.iter().map(|n| stem(n)).collect();
    ensure!(
        folders == want,
        "quarantine holds {folders:?}, want {want:?}"
    );
    Ok(())
}

fn final_status_ok(s: &Value, inputs: &Inputs) -> bool {
    s["phase"] == "Succeeded"
        && int(s, "files.total") == inputs.total() as i64
        && int(s, "files.parsed") == inputs.good.len() as i64
        && int(s, "files.quarantined") == inputs.corrupt.len() as i64
}

fn keda_client() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("MLFLEET_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mlfleet")
        });
    let src = repo_root().join("e2e/keda-client");
    let sum = std::fs::read(src.join("go.sum")).unwrap_or_default();
    let key = sum.len() + std::fs::read(src.join("main.go"))?.len();
    let bin = cache.join(format!("keda-client/keda-client-{key}"));
    if !bin.is_file() {
        run_ok(
            Command::new("go")
                .args(["build", "-o"])
                .arg(&bin)
                .arg(".")
                .current_dir(&src)
                .env("GOMODCACHE", cache.join("go/mod"))
                .env("GOFLAGS", "-mod=mod"),
        )?;
    }
    Ok(bin)
}

#[tokio::test]
async fn batch_job_on_files_scales_parses_quarantines_and_answers_keda() -> anyhow::Result<()> {
    let _serial = SERIAL.lock().await;
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let bins = bins()?;
    let ns = TestNamespace::create(plane, "stdf-file").await?;
    let client = plane.client().await?;
    let scratch = Scratch::new("file")?;
    let (input, output, expected) = (
        scratch.dir("in")?,
        scratch.dir("out")?,
        scratch.dir("expected")?,
    );

    // 40 files: 3 copies of each real sample, 32 generated, 2 corrupt.
    let inputs = make_inputs(&bins, &input, 3, 32, 0.25)?;
    assert_eq!(inputs.total(), 40);
    expected_outputs(&bins, &input, &inputs, &expected)?;
    let expected_rows = parquet_rows(&expected)?;

    let scaler = start_scaler(plane, &bins, &ns)?;
    let jobs = jobs_api(client.clone(), ns.name());
    let replicas = ReplicaLog::start(client.clone(), ns.name(), "lot-workers");
    create_job(
        &jobs,
        "lot",
        json!({
            "source": {"uri": file_uri(&input)},
            "mode": "Batch",
            "output": {"uri": file_uri(&output), "format": "parquet", "layout": "records"},
            "scaling": {"minWorkers": 1, "maxWorkers": 3, "filesPerWorker": 5, "cooldownSeconds": 2},
            "retry": {"maxAttempts": 3, "backoffSeconds": 1},
            "worker": {"leaseSeconds": 10}
        }),
    )
    .await?;
    let job = format!("{}/lot", ns.name());

    // 40 queued, 8 wanted, capped at maxWorkers 3.
    let s = wait_status(
        &jobs,
        "lot",
        Duration::from_secs(60),
        "40 files queued",
        |s| int(s, "files.total") == 40 && int(s, "queueDepth") == 40,
    )
    .await?;
    assert_eq!(s["phase"], "Running", "{s}");
    replicas.wait_for(3, Duration::from_secs(30)).await?;

    // Stage 1: three workers take 10 files each, then stop: depth 10 -> 2 workers.
    let grpc = scaler.grpc_addr();
    let mut stage1: Vec<Worker> = (0..3)
        .map(|i| {
            Worker::start(
                &bins,
                grpc,
                &job,
                &format!("w{i}"),
                &scratch.root,
                &["--max-files", "10"],
                &[],
            )
        })
        .collect::<Result<_, _>>()?;
    for w in &stage1 {
        ns.attach_log(&w.log);
    }
    for w in &mut stage1 {
        w.wait_success(Duration::from_secs(240))?;
    }
    let s = wait_status(&jobs, "lot", Duration::from_secs(30), "depth 10", |s| {
        int(s, "queueDepth") == 10
    })
    .await?;
    replicas.wait_for(2, Duration::from_secs(30)).await?;

    // KEDA's own client sees the same depth.
    let keda = keda_client()?;
    let out = run_ok(
        Command::new(&keda)
            .args([
                "-addr",
                &grpc.to_string(),
                "-namespace",
                ns.name(),
                "-name",
                "lot-workers",
            ])
            .args(["-metadata", &format!("job={job},activationThreshold=3")]),
    )?;
    let report: Value = serde_json::from_str(&out)?;
    eprintln!(
        "KEDA client: {report} (status queueDepth {})",
        int(&s, "queueDepth")
    );
    assert_eq!(report["active"], json!(true), "{report}");
    assert_eq!(
        report["specs"][0]["targetSize"],
        json!(5),
        "filesPerWorker is the per-replica target: {report}"
    );
    assert_eq!(
        report["metrics"][0]["metricValue"].as_i64(),
        Some(int(&s, "queueDepth")),
        "{report}"
    );
    assert_eq!(
        report["metrics"][0]["metricValueFloat"].as_f64(),
        Some(int(&s, "queueDepth") as f64),
        "{report}"
    );
    let out = run_ok(Command::new(&keda).args([
        "-addr",
        &grpc.to_string(),
        "-metadata",
        &format!("job={job},activationThreshold=10"),
    ]))?;
    let report: Value = serde_json::from_str(&out)?;
    assert_eq!(
        report["active"],
        json!(false),
        "depth 10 does not pass threshold 10: {report}"
    );

    // Stage 2: two workers finish the job.
    let mut stage2: Vec<Worker> = (3..5)
        .map(|i| {
            Worker::start(
                &bins,
                grpc,
                &job,
                &format!("w{i}"),
                &scratch.root,
                &["--exit-when-done"],
                &[],
            )
        })
        .collect::<Result<_, _>>()?;
    for w in &stage2 {
        ns.attach_log(&w.log);
    }
    for w in &mut stage2 {
        w.wait_success(Duration::from_secs(240))?;
    }
    let s = wait_status(
        &jobs,
        "lot",
        Duration::from_secs(60),
        "Succeeded with exact counts",
        |s| final_status_ok(s, &inputs),
    )
    .await?;
    replicas.wait_for(0, Duration::from_secs(30)).await?;
    let seen = replicas.values();
    eprintln!("worker Deployment spec.replicas sequence: {seen:?}");
    eprintln!("final status: {s}");
    assert!(
        seen.iter().all(|r| (0..=3).contains(r)),
        "replicas outside 0..=maxWorkers: {seen:?}"
    );
    assert_eq!(seen.iter().max(), Some(&3));
    assert!(seen.contains(&2), "scaled down with depth: {seen:?}");
    assert_eq!(int(&s, "completionPercent"), 100, "{s}");
    assert_eq!(int(&s, "queueDepth"), 0, "{s}");
    assert_eq!(int(&s, "files.failed"), 0, "{s}");
    assert!(
        s["p95FileLatencySeconds"].as_f64().is_some_and(|v| v > 0.0),
        "{s}"
    );

    check_outputs(&parquet_rows(&output)?, &expected_rows, &inputs)?;
    check_quarantine(&output.join("_quarantine"), &input, &inputs)?;
    let temps = temp_files(&output);
    assert!(temps.is_empty(), "unfinished writes left: {temps:?}");
    let events = plane
        .kubectl(&[
            "get",
            "events",
            "-n",
            ns.name(),
            "-o",
            "jsonpath={.items[*].reason}",
        ])?
        .stdout;
    assert!(events.contains("Quarantined"), "events: {events}");

    delete_job(&jobs, "lot").await?;
    drop(scaler);
    Ok(())
}

/// (inode, mtime, size) of every output file.
fn snapshot(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, (u64, SystemTime, u64)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.flatten() {
            let p = e.path();
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.insert(p, (m.ino(), m.modified()?, m.len()));
            }
        }
    }
    Ok(out)
}

#[tokio::test]
async fn kill_9_of_scaler_and_worker_mid_run_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let _serial = SERIAL.lock().await;
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let bins = bins()?;
    let ns = TestNamespace::create(plane, "stdf-kill").await?;
    let client = plane.client().await?;
    let scratch = Scratch::new("kill")?;
    let (input, output, expected) = (
        scratch.dir("in")?,
        scratch.dir("out")?,
        scratch.dir("expected")?,
    );
    let inputs = make_inputs(&bins, &input, 2, 14, 0.5)?;
    expected_outputs(&bins, &input, &inputs, &expected)?;
    let expected_rows = parquet_rows(&expected)?;

    let scaler = start_scaler(plane, &bins, &ns)?;
    let jobs = jobs_api(client.clone(), ns.name());
    create_job(
        &jobs,
        "lot",
        json!({
            "source": {"uri": file_uri(&input)},
            "output": {"uri": file_uri(&output)},
            "scaling": {"maxWorkers": 2, "filesPerWorker": 4, "cooldownSeconds": 0},
            "worker": {"leaseSeconds": 10}
        }),
    )
    .await?;
    let job = format!("{}/lot", ns.name());
    wait_status(&jobs, "lot", Duration::from_secs(60), "files queued", |s| {
        int(s, "files.total") == inputs.total() as i64
    })
    .await?;

    let mut a = Worker::start(
        &bins,
        scaler.grpc_addr(),
        &job,
        "a",
        &scratch.root,
        &["--exit-when-done"],
        &[],
    )?;
    let mut b = Worker::start(
        &bins,
        scaler.grpc_addr(),
        &job,
        "b",
        &scratch.root,
        &["--exit-when-done"],
        &[],
    )?;
    ns.attach_log(&a.log);
    ns.attach_log(&b.log);
    // Mid-run: some files done, most not.
    wait_status(
        &jobs,
        "lot",
        Duration::from_secs(120),
        "4 files parsed",
        |s| int(s, "files.parsed") >= 4,
    )
    .await?;
    // Kill worker a while it holds a lease (its log shows a claim after its last report).
    let a_log = &a.log;
    poll(
        Duration::from_secs(60),
        "worker a holding a lease",
        || async move {
            let log = std::fs::read_to_string(a_log).unwrap_or_default();
            let claimed = log.rfind("claimed");
            let done = log.rfind("parsed").max(log.rfind("parse failed"));
            Ok((claimed > done).then_some(()))
        },
    )
    .await?;
    Command::new("kill")
        .args(["-KILL", &scaler.id().to_string()])
        .status()?;
    a.kill9();
    let before = snapshot(&output)?;
    eprintln!("{} output tables existed at the kill", before.len());
    ensure!(!before.is_empty(), "nothing was written before the kill");
    // The other worker loses the scaler and stops on its own.
    let _ = b.wait_success(Duration::from_secs(60));
    b.kill9();

    let scaler2 = start_scaler(plane, &bins, &ns)?;
    let mut workers: Vec<Worker> = ["c", "d"]
        .iter()
        .map(|id| {
            Worker::start(
                &bins,
                scaler2.grpc_addr(),
                &job,
                id,
                &scratch.root,
                &["--exit-when-done"],
                &[],
            )
        })
        .collect::<Result<_, _>>()?;
    for w in &mut workers {
        ns.attach_log(&w.log);
        w.wait_success(Duration::from_secs(240))?;
    }
    let s = wait_status(
        &jobs,
        "lot",
        Duration::from_secs(60),
        "Succeeded with exact counts",
        |s| final_status_ok(s, &inputs),
    )
    .await?;
    eprintln!("status after restart: {s}");
    assert_eq!(int(&s, "completionPercent"), 100);

    // Outputs present at the kill were never rewritten; nothing half-written remains.
    let after = snapshot(&output)?;
    for (path, meta) in &before {
        assert_eq!(
            after.get(path),
            Some(meta),
            "{} was rewritten after the restart",
            path.display()
        );
    }
    let temps = temp_files(&output);
    assert!(temps.is_empty(), "unfinished writes left: {temps:?}");
    check_outputs(&parquet_rows(&output)?, &expected_rows, &inputs)?;
    check_quarantine(&output.join("_quarantine"), &input, &inputs)?;

    delete_job(&jobs, "lot").await?;
    drop(scaler);
    Ok(())
}

#[tokio::test]
async fn bad_specs_are_rejected_or_reported_invalid() -> anyhow::Result<()> {
    let _serial = SERIAL.lock().await;
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let bins = bins()?;
    let ns = TestNamespace::create(plane, "stdf-bad").await?;
    let jobs = jobs_api(plane.client().await?, ns.name());
    let ok_out = json!({"uri": "file:///tmp/mlfleet-e2e-bad-out/"});

    // maxWorkers 0: the schema's minimum.
    let err = create_job(&jobs, "zero", json!({"source": {"uri": "file:///tmp/in/"}, "output": ok_out, "scaling": {"maxWorkers": 0}}))
        .await
        .expect_err("maxWorkers 0 accepted");
    assert!(format!("{err:#}").contains("maxWorkers"), "{err:#}");
    // Unknown scheme: the CEL rule.
    let err = create_job(
        &jobs,
        "gcs",
        json!({"source": {"uri": "gs://bucket/in/"}, "output": ok_out}),
    )
    .await
    .expect_err("gs:// accepted");
    assert!(
        format!("{err:#}").contains("source.uri must start with file:// or s3://"),
        "{err:#}"
    );

    // No bucket: `s3:///x` is shorter than the schema's minimum URI length; a longer
    // bucket-less URI passes the schema and only the controller can tell: InvalidSpec
    // condition, phase Failed.
    let err = create_job(
        &jobs,
        "short",
        json!({"source": {"uri": "s3:///x"}, "output": ok_out}),
    )
    .await
    .expect_err("s3:///x accepted");
    assert!(format!("{err:#}").contains("spec.source.uri"), "{err:#}");
    let scaler = start_scaler(plane, &bins, &ns)?;
    create_job(
        &jobs,
        "nobucket",
        json!({"source": {"uri": "s3:///lots/in/"}, "output": ok_out}),
    )
    .await?;
    let s = wait_status(
        &jobs,
        "nobucket",
        Duration::from_secs(60),
        "InvalidSpec",
        |s| {
            s["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "InvalidSpec" && c["status"] == "True")
            })
        },
    )
    .await?;
    eprintln!("status of s3:///lots/in/: {s}");
    assert_eq!(s["phase"], "Failed", "{s}");
    let cond = s["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "InvalidSpec"))
        .cloned()
        .unwrap_or_default();
    assert!(
        cond["message"]
            .as_str()
            .is_some_and(|m| m.contains("bucket")),
        "{cond}"
    );
    let deploys = plane
        .kubectl(&["get", "deployments", "-n", ns.name(), "-o", "name"])?
        .stdout;
    assert!(
        deploys.trim().is_empty(),
        "no workers for an invalid job: {deploys}"
    );

    delete_job(&jobs, "nobucket").await?;
    drop(scaler);
    Ok(())
}
