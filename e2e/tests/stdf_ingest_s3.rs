//! stdf-ingest-scaler against a real S3-compatible server: moto's S3 server (from PyPI,
//! in the cached venv) runs on loopback; the job reads `s3://` input, writes `s3://`
//! output and quarantine, and keeps its journal there with create-only puts.
//!
//! Prerequisites as for `stdf_ingest_scaler.rs`.

mod stdf_support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use mlfleet_e2e::{ControllerProcess, ControllerSpec, Plane, TestNamespace};
use serde_json::{Value, json};
use stdf_support::*;

/// moto's S3 server on a free loopback port; killed when dropped.
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    fn start(log: &Path) -> anyhow::Result<Self> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let out = std::fs::File::create(log)?;
        let child = Command::new(python()?)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &addr.port().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting moto.server")?;
        let mut m = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            if let Some(st) = m.child.try_wait()? {
                bail!(
                    "moto exited with {st}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("moto did not listen on {addr} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(m)
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// boto3 helper: `mkbucket B`, `upload B PREFIX DIR`, `download B PREFIX DIR`,
/// `list B PREFIX` (JSON keys), `create-only B KEY` (put twice with If-None-Match: *;
/// prints the second put's HTTP status).
const S3_TOOL: &str = r#"
import json, os, pathlib, sys
import boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
cmd, bucket = sys.argv[1], sys.argv[2]
if cmd == "mkbucket":
    s3.create_bucket(Bucket=bucket)
elif cmd == "upload":
    prefix, root = sys.argv[3], pathlib.Path(sys.argv[4])
    for p in sorted(root.iterdir()):
        s3.upload_file(str(p), bucket, prefix + p.name)
elif cmd in ("download", "list"):
    prefix = sys.argv[3]
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    if cmd == "list":
        print(json.dumps(keys))
    else:
        root = pathlib.Path(sys.argv[4])
        for k in keys:
            dest = root / k[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, k, str(dest))
elif cmd == "create-only":
    key = sys.argv[3]
    s3.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"second", IfNoneMatch="*")
        status = 200
    except botocore.exceptions.ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    print(json.dumps({"second_put_status": status, "body": body}))
"#;

fn s3_tool(moto: &Moto, args: &[&str]) -> anyhow::Result<String> {
    run_ok(
        Command::new(python()?)
            .args(["-c", S3_TOOL])
            .args(args)
            .env("ENDPOINT", moto.endpoint()),
    )
}

#[tokio::test]
async fn batch_job_on_s3_parses_quarantines_and_journals_create_only() -> anyhow::Result<()> {
    let _serial = SERIAL.lock().await;
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let bins = bins()?;
    let ns = TestNamespace::create(plane, "stdf-s3").await?;
    let client = plane.client().await?;
    let scratch = Scratch::new("s3")?;
    let (input, expected, fetched) = (
        scratch.dir("in")?,
        scratch.dir("expected")?,
        scratch.dir("fetched")?,
    );
    let inputs = make_inputs(&bins, &input, 1, 6, 0.25)?;
    expected_outputs(&bins, &input, &inputs, &expected)?;
    let expected_rows = parquet_rows(&expected)?;

    let moto_log = scratch.root.join("moto.log");
    ns.attach_log(&moto_log);
    let moto = Moto::start(&moto_log)?;
    s3_tool(&moto, &["mkbucket", "lots"])?;
    s3_tool(&moto, &["upload", "lots", "in/", &input.to_string_lossy()])?;
    // The server honours create-only puts (what the journal relies on).
    let probe: Value = serde_json::from_str(&s3_tool(&moto, &["create-only", "lots", "probe/x"])?)?;
    eprintln!("moto create-only probe: {probe}");
    ensure!(
        probe["second_put_status"] == json!(412) && probe["body"] == "first",
        "moto does not honour If-None-Match: * ({probe})"
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds"},
                "stringData": {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
            }))?,
        )
        .await?;
    let spec = ControllerSpec::new(&bins.scaler);
    let scaler = ControllerProcess::start(plane, &spec)?;
    ns.attach_log(scaler.log_path());
    let access = json!({"endpoint": moto.endpoint(), "region": "us-east-1", "allowHttp": true,
                        "secretRef": {"name": "s3-creds"}});
    let jobs = jobs_api(client.clone(), ns.name());
    create_job(
        &jobs,
        "lot",
        json!({
            "source": {"uri": "s3://lots/in/", "s3": access},
            "output": {"uri": "s3://lots/out/", "s3": access},
            "scaling": {"maxWorkers": 2, "filesPerWorker": 4, "cooldownSeconds": 0},
            "worker": {"leaseSeconds": 10}
        }),
    )
    .await?;
    let job = format!("{}/lot", ns.name());
    let total = inputs.total() as i64;
    wait_status(&jobs, "lot", Duration::from_secs(60), "files queued", |s| {
        int(s, "files.total") == total
    })
    .await?;

    // Workers take the connection from the standard AWS_* environment, as in their pods.
    let endpoint = moto.endpoint();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let mut workers: Vec<Worker> = ["s0", "s1"]
        .iter()
        .map(|id| {
            Worker::start(
                &bins,
                scaler.grpc_addr(),
                &job,
                id,
                &scratch.root,
                &["--exit-when-done"],
                &env,
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
        |s| {
            s["phase"] == "Succeeded"
                && int(s, "files.parsed") == inputs.good.len() as i64
                && int(s, "files.quarantined") == inputs.corrupt.len() as i64
        },
    )
    .await?;
    eprintln!("s3 job status: {s}");
    assert_eq!(int(&s, "files.total"), total);
    assert_eq!(int(&s, "completionPercent"), 100);

    // Output: every table read by pyarrow with the codec's row counts.
    s3_tool(
        &moto,
        &["download", "lots", "out/", &fetched.to_string_lossy()],
    )?;
    let rows = parquet_rows(&fetched)?;
    let out: std::collections::BTreeMap<String, u64> = rows
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect();
    assert_eq!(
        out, expected_rows,
        "tables differ from the codec's prediction"
    );
    // Quarantine: both corrupt files and their reports (default `<output>/_quarantine`).
    let keys: Vec<String> =
        serde_json::from_str(&s3_tool(&moto, &["list", "lots", "out/_quarantine/"])?)?;
    for name in &inputs.corrupt {
        let folder = format!("out/_quarantine/{}/", stem(name));
        assert!(
            keys.contains(&format!("{folder}{name}")),
            "{name} not quarantined: {keys:?}"
        );
        assert!(
            keys.contains(&format!("{folder}error.json")),
            "{name}: no report: {keys:?}"
        );
    }
    assert_eq!(keys.len(), 2 * inputs.corrupt.len(), "{keys:?}");
    // The journal lives beside the output: exactly one done marker per parsed file and
    // one quarantine marker per corrupt file.
    let journal: Vec<String> =
        serde_json::from_str(&s3_tool(&moto, &["list", "lots", "out/_mlfleet/"])?)?;
    let count = |suffix: &str| journal.iter().filter(|k| k.ends_with(suffix)).count();
    assert_eq!(
        count("/done.json"),
        inputs.good.len(),
        "journal: {journal:?}"
    );
    assert_eq!(
        count("/quarantined.json"),
        inputs.corrupt.len(),
        "journal: {journal:?}"
    );

    delete_job(&jobs, "lot").await?;
    drop(scaler);
    Ok(())
}
