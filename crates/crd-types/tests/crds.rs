//! The generated CRDs: drift against the checked-in manifests, metadata every kind must
//! have, descriptions on every field, the ranges/defaults/CEL rules the API promises, and
//! CEL rules that compile.

use crd_types::generate::{self, REGENERATE_COMMAND};
use crd_types::validation::crd_schema;
use crd_types::{CATEGORY, all_crds};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

#[test]
fn checked_in_manifests_match_generated_ones() {
    let drifts = generate::check_all(&generate::repo_root()).expect("compare manifests");
    assert!(
        drifts.is_empty(),
        "CRD manifests drifted from the Rust types:\n{}\nrun `{REGENERATE_COMMAND}` and commit the result",
        drifts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn repo_and_chart_copies_are_byte_identical() {
    let root = generate::repo_root();
    for (file, _) in generate::render_all().expect("render") {
        let a = std::fs::read(root.join("crds").join(&file)).expect("read crds/ copy");
        let b =
            std::fs::read(root.join("charts/mlfleet/crds").join(&file)).expect("read chart copy");
        assert_eq!(
            a, b,
            "{file}: crds/ and charts/mlfleet/crds/ differ; run `{REGENERATE_COMMAND}`"
        );
    }
}

#[test]
fn every_crd_has_category_short_name_columns_and_status() {
    let crds = all_crds();
    assert_eq!(crds.len(), 7);
    for crd in &crds {
        let name = crd.metadata.name.as_deref().unwrap_or_default();
        let names = &crd.spec.names;
        assert!(
            names
                .categories
                .as_ref()
                .is_some_and(|c| c.iter().any(|c| c == CATEGORY)),
            "{name}: not in category {CATEGORY}"
        );
        assert!(
            names.short_names.as_ref().is_some_and(|s| !s.is_empty()),
            "{name}: no short name"
        );
        assert_eq!(crd.spec.versions.len(), 1, "{name}");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1", "{name}");
        let cols = v.additional_printer_columns.as_deref().unwrap_or_default();
        assert!(cols.len() >= 3, "{name}: too few printer columns");
        assert!(
            cols.iter()
                .any(|c| c.name == "Age" && c.json_path == ".metadata.creationTimestamp"),
            "{name}: no Age column"
        );
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}: no status subresource"
        );
        assert!(
            name.ends_with(".mlfleet.io"),
            "{name}: group outside mlfleet.io"
        );
    }
}

#[test]
fn short_names_and_scopes_follow_the_design() {
    let expect = [
        ("trainingjobs.training.mlfleet.io", "tj", "Namespaced"),
        ("trainingqueues.training.mlfleet.io", "tq", "Cluster"),
        ("gpunodes.gpu.mlfleet.io", "gn", "Cluster"),
        ("stdfparserjobs.ingest.mlfleet.io", "stdf", "Namespaced"),
        ("experiments.tuning.mlfleet.io", "exp", "Namespaced"),
        ("trials.tuning.mlfleet.io", "tr", "Namespaced"),
        ("modelservers.serving.mlfleet.io", "ms", "Namespaced"),
    ];
    let crds = all_crds();
    for (name, short, scope) in expect {
        let crd = find(&crds, name);
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_owned()][..]),
            "{name}"
        );
        assert_eq!(crd.spec.scope, scope, "{name}");
    }
}

/// Walks a schema and returns the paths of properties (and list items / map values that are
/// objects) without a description.
fn undocumented(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, child) in props {
            let p = format!("{path}.{key}");
            if child
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(|d| d.trim().is_empty())
            {
                out.push(p.clone());
            }
            undocumented(child, &p, out);
        }
    }
    if let Some(items) = schema.get("items") {
        let p = format!("{path}[]");
        if items.get("properties").is_some()
            && items.get("description").and_then(Value::as_str).is_none()
        {
            out.push(p.clone());
        }
        undocumented(items, &p, out);
    }
    if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        undocumented(add, &format!("{path}{{}}"), out);
    }
}

#[test]
fn every_field_has_a_description() {
    for crd in all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let schema = crd_schema(&crd).expect("schema");
        assert!(
            schema.get("description").is_some(),
            "{name}: root has no description"
        );
        let mut missing = Vec::new();
        undocumented(&schema, "", &mut missing);
        // apiVersion/kind/metadata come from kube-derive; everything else is ours.
        missing.retain(|p| !matches!(p.as_str(), ".apiVersion" | ".kind" | ".metadata"));
        assert!(
            missing.is_empty(),
            "{name}: fields without description:\n{}",
            missing.join("\n")
        );
    }
}

#[test]
fn schemas_are_structural() {
    fn walk(schema: &Value, path: &str, out: &mut Vec<String>) {
        let obj = schema.as_object().expect("schema node is an object");
        for banned in ["$ref", "anyOf", "oneOf", "allOf", "not"] {
            if obj.contains_key(banned) {
                out.push(format!("{path}: uses {banned}"));
            }
        }
        let typed = obj.contains_key("type")
            || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if !typed {
            out.push(format!("{path}: no type"));
        }
        // The API server cannot build CEL declarations for a map of untyped values and
        // rejects the whole CRD ("unable to convert structural schema to CEL declarations").
        let untyped_values = obj
            .get("additionalProperties")
            .is_some_and(|a| a.is_object() && a.get("type").is_none());
        if obj.contains_key("x-kubernetes-validations") && untyped_values {
            out.push(format!("{path}: CEL rule on a map of untyped values"));
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                walk(v, &format!("{path}.{k}"), out);
            }
        }
        if let Some(items) = obj.get("items") {
            walk(items, &format!("{path}[]"), out);
        }
        if let Some(add) = obj.get("additionalProperties").filter(|a| a.is_object()) {
            walk(add, &format!("{path}{{}}"), out);
        }
    }
    for crd in all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let schema = crd_schema(&crd).expect("schema");
        let mut problems = Vec::new();
        walk(&schema, "", &mut problems);
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

fn find<'a>(crds: &'a [CustomResourceDefinition], name: &str) -> &'a CustomResourceDefinition {
    crds.iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"))
}

/// The schema node at a dotted path of property names below the root.
fn node(crds: &[CustomResourceDefinition], crd: &str, path: &str) -> Value {
    let mut cur = crd_schema(find(crds, crd)).expect("schema");
    for key in path.split('.') {
        cur = match key {
            "[]" => cur.get("items").cloned(),
            _ => cur.get("properties").and_then(|p| p.get(key)).cloned(),
        }
        .unwrap_or_else(|| panic!("{crd}: no schema at {path} (stuck at {key})"));
    }
    cur
}

fn rules(v: &Value) -> Vec<(String, String)> {
    v.get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["rule"].as_str().unwrap_or_default().to_owned(),
                r["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn ranges_defaults_and_enums_are_in_the_schema() {
    let crds = all_crds();
    let tj = "trainingjobs.training.mlfleet.io";
    let check = |crd: &str, path: &str, min: f64, max: Option<f64>, default: Option<i64>| {
        let n = node(&crds, crd, path);
        assert_eq!(n["minimum"].as_f64(), Some(min), "{crd} {path} minimum");
        assert_eq!(n["maximum"].as_f64(), max, "{crd} {path} maximum");
        assert_eq!(
            n.get("default").and_then(Value::as_i64),
            default,
            "{crd} {path} default"
        );
    };
    check(tj, "spec.numWorkers", 1.0, Some(32.0), Some(1));
    check(tj, "spec.gpusPerWorker", 0.0, Some(8.0), Some(1));
    check(tj, "spec.backoffLimit", 0.0, Some(10.0), Some(3));
    check(tj, "spec.elastic.minWorkers", 1.0, Some(32.0), None);
    check(tj, "spec.elastic.maxWorkers", 1.0, Some(32.0), None);
    check(
        tj,
        "spec.networking.masterPort",
        1024.0,
        Some(65535.0),
        Some(29500),
    );
    let stdf = "stdfparserjobs.ingest.mlfleet.io";
    check(stdf, "spec.scaling.maxWorkers", 1.0, Some(20.0), Some(20));
    check(stdf, "spec.scaling.minWorkers", 1.0, Some(20.0), Some(1));
    check(stdf, "spec.retry.maxAttempts", 1.0, Some(10.0), Some(3));
    let ms = "modelservers.serving.mlfleet.io";
    check(ms, "spec.canary.weight", 0.0, Some(100.0), Some(0));
    check(ms, "spec.rollout.steps.[]", 0.0, Some(100.0), None);

    let enum_of = |crd: &str, path: &str| -> Vec<String> {
        node(&crds, crd, path)["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{crd} {path}: no enum"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        enum_of(tj, "spec.framework"),
        ["pytorch", "tensorflow", "jax", "generic"]
    );
    assert_eq!(enum_of(tj, "spec.networking.backend"), ["nccl", "gloo"]);
    assert_eq!(
        enum_of(tj, "spec.checkpoint.storage.type"),
        ["pvc", "s3", "gcs"]
    );
    assert_eq!(
        enum_of(tj, "status.state"),
        [
            "Pending",
            "Queued",
            "Initializing",
            "Running",
            "Restarting",
            "Suspended",
            "Completed",
            "Failed"
        ]
    );
    assert_eq!(enum_of(stdf, "spec.mode"), ["Batch", "Continuous"]);
    assert_eq!(enum_of(stdf, "spec.output.format"), ["parquet", "csv"]);
    assert_eq!(
        enum_of(ms, "spec.traffic.router"),
        ["None", "GatewayAPI", "IngressNginx"]
    );
    assert_eq!(
        enum_of("experiments.tuning.mlfleet.io", "spec.algorithm.name"),
        ["random", "grid", "sobol", "tpe", "bayesian", "hyperband"]
    );
}

#[test]
fn cel_rules_cover_cross_field_and_immutability() {
    let crds = all_crds();
    let tj = "trainingjobs.training.mlfleet.io";
    for field in ["model", "dataset", "gpusPerWorker"] {
        let r = rules(&node(&crds, tj, &format!("spec.{field}")));
        assert!(
            r.iter()
                .any(|(rule, msg)| rule == "self == oldSelf"
                    && msg == &format!("{field} is immutable")),
            "{field}: {r:?}"
        );
    }
    let elastic = rules(&node(&crds, tj, "spec.elastic"));
    assert!(
        elastic
            .iter()
            .any(|(r, _)| r == "self.minWorkers <= self.maxWorkers"),
        "{elastic:?}"
    );
    let source = rules(&node(
        &crds,
        "stdfparserjobs.ingest.mlfleet.io",
        "spec.source",
    ));
    assert!(
        source
            .iter()
            .any(|(_, m)| m == "source.uri must start with file:// or s3://"),
        "{source:?}"
    );
    let scaling = rules(&node(
        &crds,
        "stdfparserjobs.ingest.mlfleet.io",
        "spec.scaling",
    ));
    assert!(
        scaling
            .iter()
            .any(|(r, _)| r == "self.minWorkers <= self.maxWorkers")
    );
    let ms = rules(&node(&crds, "modelservers.serving.mlfleet.io", "spec"));
    assert!(
        ms.iter()
            .any(|(r, _)| r.contains("self.canary.version != self.model.version"))
    );
}

#[test]
fn every_cel_rule_compiles() {
    for crd in all_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let schema = crd_schema(&crd).expect("schema");
        let compiled = kube_cel::compile_schema(&schema);
        let errors: Vec<String> = compiled
            .compilation_errors()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(
            errors.is_empty(),
            "{name}: CEL rules that do not compile:\n{}",
            errors.join("\n")
        );
    }
}
