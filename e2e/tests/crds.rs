//! The repository's CRDs install on the real API server and their schemas are enforced.

use std::path::PathBuf;

use mlfleet_e2e::{Plane, TestNamespace, crds_dir};
use serde_yaml::Value;

/// CRD documents of `crds/`, parsed from the files themselves.
fn crd_docs() -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(crds_dir())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path)?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v = Value::deserialize(doc)?;
                if v["kind"].as_str() == Some("CustomResourceDefinition") {
                    docs.push(v);
                }
            }
        }
    }
    Ok(docs)
}

use serde::Deserialize;

fn training_job_crd() -> anyhow::Result<Value> {
    crd_docs()?
        .into_iter()
        .find(|d| d["spec"]["names"]["kind"].as_str() == Some("TrainingJob"))
        .ok_or_else(|| anyhow::anyhow!("no TrainingJob CRD under crds/"))
}

fn write_manifest(name: &str, value: &serde_json::Value) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("mlfleet-e2e-{}-{name}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(value)?)?;
    Ok(path)
}

#[test]
fn crds_install_and_the_mlfleet_category_and_explain_work() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let docs = crd_docs()?;
    assert!(!docs.is_empty(), "crds/ holds no CustomResourceDefinition");
    let established = plane.apply_crds()?;
    let mut expected: Vec<String> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str().map(String::from))
        .collect();
    let mut got = established.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every CRD established");

    // Every CRD that declares the mlfleet category is served under it.
    let listed = plane
        .kubectl(&["api-resources", "--categories", "mlfleet", "-o", "name"])?
        .stdout;
    for d in docs.iter().filter(|d| {
        d["spec"]["names"]["categories"]
            .as_sequence()
            .is_some_and(|c| c.iter().any(|c| c.as_str() == Some("mlfleet")))
    }) {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        assert!(
            listed.lines().any(|l| l == name),
            "{name} not in category mlfleet: {listed}"
        );
    }
    let get = plane.kubectl_output(&["get", "mlfleet", "-A"])?;
    assert!(get.success(), "kubectl get mlfleet failed: {}", get.stderr);

    let crd = training_job_crd()?;
    let explain = plane.kubectl(&["explain", "trainingjob.spec"])?.stdout;
    let spec_props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    assert!(!spec_props.is_empty());
    for key in spec_props.keys().filter_map(Value::as_str) {
        assert!(
            explain.contains(key),
            "explain lacks field {key}:\n{explain}"
        );
    }
    Ok(())
}

#[test]
fn invalid_training_job_is_rejected_with_the_schema_message() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    plane.apply_crds()?;
    let ns = TestNamespace::create_blocking(plane, "crd")?;
    let crd = training_job_crd()?;
    let group = crd["spec"]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let version = crd["spec"]["versions"]
        .as_sequence()
        .and_then(|vs| vs.iter().find(|v| v["served"].as_bool() == Some(true)))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let num_workers = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["numWorkers"];
    let minimum = num_workers["minimum"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("numWorkers has no minimum"))?;
    let job = |workers: i64| {
        serde_json::json!({
            "apiVersion": format!("{group}/{version}"),
            "kind": "TrainingJob",
            "metadata": {"name": "tj", "namespace": ns.name()},
            "spec": {"model": "resnet50", "dataset": "s3://bucket/imagenet", "numWorkers": workers}
        })
    };

    let valid = write_manifest("valid", &job(minimum as i64 + 1))?;
    let ok = plane.kubectl_output(&[
        "create",
        "--dry-run=server",
        "-f",
        valid.to_str().unwrap_or_default(),
    ])?;
    assert!(
        ok.success(),
        "a valid TrainingJob was rejected: {}",
        ok.stderr
    );

    let invalid = write_manifest("invalid", &job(0))?;
    let rejected = plane.kubectl_output(&["create", "-f", invalid.to_str().unwrap_or_default()])?;
    assert!(!rejected.success(), "numWorkers 0 was accepted");
    let want = format!(
        "spec.numWorkers: Invalid value: 0: spec.numWorkers in body should be greater than or equal to {}",
        minimum as i64
    );
    assert!(
        rejected.stderr.contains(&want),
        "want {want:?} in {:?}",
        rejected.stderr
    );
    let absent = plane.kubectl_output(&["get", "trainingjob", "tj", "-n", ns.name()])?;
    assert!(!absent.success(), "rejected object exists");
    let _ = std::fs::remove_file(valid);
    let _ = std::fs::remove_file(invalid);
    Ok(())
}
