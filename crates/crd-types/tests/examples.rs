//! Every manifest under `examples/` parses into its Rust type and passes the CRD's own
//! rules (schema and CEL); every manifest under `examples/invalid/` parses but breaks the
//! rule its `mlfleet.io/expected-error` annotation names, with that very message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crd_types::generate::repo_root;
use crd_types::validation::{crd_schema, validate_against_schema};
use crd_types::{
    Experiment, GPUNode, ModelServer, STDFParserJob, TrainingJob, TrainingQueue, Trial, all_crds,
};
use serde_json::Value;

const EXPECTED_ERROR: &str = "mlfleet.io/expected-error";
const UPDATE_OF: &str = "mlfleet.io/update-of";

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

/// Deserialises the document into the Rust type of its kind and serialises it back.
fn typed_round_trip(doc: &Value, path: &Path) -> Value {
    fn rt<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value, path: &Path) -> Value {
        let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| {
            panic!("{}: does not parse into its Rust type: {e}", path.display())
        });
        serde_json::to_value(&typed).expect("serialise")
    }
    match doc["kind"].as_str() {
        Some("TrainingJob") => rt::<TrainingJob>(doc, path),
        Some("TrainingQueue") => rt::<TrainingQueue>(doc, path),
        Some("GPUNode") => rt::<GPUNode>(doc, path),
        Some("STDFParserJob") => rt::<STDFParserJob>(doc, path),
        Some("Experiment") => rt::<Experiment>(doc, path),
        Some("Trial") => rt::<Trial>(doc, path),
        Some("ModelServer") => rt::<ModelServer>(doc, path),
        other => panic!("{}: unknown kind {other:?}", path.display()),
    }
}

/// Every error the CRD's rules give for `doc` (as an update of `old` when given), plus the
/// Rust-side spec checks of kinds that have them.
fn errors(doc: &Value, old: Option<&Value>) -> Vec<String> {
    let kind = doc["kind"].as_str().expect("kind");
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let crd = all_crds()
        .into_iter()
        .find(|c| {
            c.spec.names.kind == kind
                && api_version == format!("{}/{}", c.spec.group, c.spec.versions[0].name)
        })
        .unwrap_or_else(|| panic!("no CRD for {api_version} {kind}"));
    let schema = crd_schema(&crd).expect("schema");
    let mut out: Vec<String> = validate_against_schema(&schema, doc)
        .into_iter()
        .map(|v| v.message)
        .collect();
    if let Err(errs) = kube_cel::Validator::new().validate(&schema, doc, old) {
        out.extend(
            errs.iter()
                .map(|e| format!("{}: {}", e.field_path, e.message)),
        );
    }
    let spec_check = match kind {
        "TrainingJob" => serde_json::from_value::<TrainingJob>(doc.clone())
            .ok()
            .and_then(|j| j.spec.check().err()),
        "Experiment" => serde_json::from_value::<Experiment>(doc.clone())
            .ok()
            .and_then(|e| e.spec.trial_template.spec.check().err()),
        "Trial" => serde_json::from_value::<Trial>(doc.clone())
            .ok()
            .and_then(|t| t.spec.training_job.check().err()),
        _ => None,
    };
    out.extend(spec_check.map(|e| e.to_string()));
    out
}

#[test]
fn valid_examples_parse_and_pass_every_rule() {
    let dir = repo_root().join("examples");
    let files = yaml_files(&dir);
    let mut kinds = BTreeSet::new();
    for path in &files {
        let doc = load(path);
        kinds.insert(doc["kind"].as_str().unwrap_or_default().to_owned());
        let errs = errors(&doc, None);
        assert!(
            errs.is_empty(),
            "{}: rejected:\n{}",
            path.display(),
            errs.join("\n")
        );
        // What the Rust types write back (with serde defaults filled in) must be valid too.
        let round = typed_round_trip(&doc, path);
        let errs = errors(&round, None);
        assert!(
            errs.is_empty(),
            "{}: Rust round trip rejected:\n{}",
            path.display(),
            errs.join("\n")
        );
        // And an unchanged re-apply passes the transition rules.
        let errs = errors(&doc, Some(&doc));
        assert!(
            errs.is_empty(),
            "{}: re-apply rejected:\n{}",
            path.display(),
            errs.join("\n")
        );
    }
    let all: BTreeSet<String> = all_crds().into_iter().map(|c| c.spec.names.kind).collect();
    assert_eq!(
        kinds, all,
        "every kind needs at least one example under examples/"
    );
}

#[test]
fn seed_example_is_the_documented_job() {
    let path = repo_root().join("examples/trainingjob-test-job.yaml");
    let job: TrainingJob =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("read")).expect("parse");
    assert_eq!(job.metadata.name.as_deref(), Some("test-job"));
    assert_eq!(job.spec.model, "resnet50");
    assert_eq!(job.spec.dataset, "imagenet");
    assert_eq!(job.spec.num_workers, 2);
    assert_eq!(job.spec.gpus_per_worker, 1);
    assert_eq!(
        job.spec.hyperparameters["learningRate"].as_f64(),
        Some(0.001)
    );
    assert_eq!(job.spec.hyperparameters["batchSize"].as_i64(), Some(32));
    assert_eq!(job.spec.hyperparameters["epochs"].as_i64(), Some(10));
    assert_eq!(job.total_gpus(), 2);
    assert_eq!(job.spec.total_epochs(), Some(10));
    assert_eq!(job.master_addr(), "test-job-workers-0.test-job-workers");
    // Defaults the schema documents are what the Rust type fills in.
    assert_eq!(job.spec.backoff_limit, 3);
    assert_eq!(job.spec.networking.master_port, 29500);
    assert_eq!(
        job.spec.effective_backend(),
        crd_types::training::Backend::Nccl
    );
}

#[test]
fn invalid_examples_are_rejected_with_their_expected_message() {
    let dir = repo_root().join("examples/invalid");
    let files = yaml_files(&dir);
    assert!(
        files.len() >= 3,
        "expected invalid examples under {}",
        dir.display()
    );
    for path in &files {
        let doc = load(path);
        let annotations = &doc["metadata"]["annotations"];
        let expected = annotations[EXPECTED_ERROR]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no {EXPECTED_ERROR} annotation", path.display()));
        // Invalid by our rules, yet still a well-formed instance of the Rust type, so a
        // controller never chokes on whatever the API server might hold.
        typed_round_trip(&doc, path);
        let old = annotations[UPDATE_OF]
            .as_str()
            .map(|f| load(&repo_root().join("examples").join(f)));
        if let Some(old) = &old {
            assert!(
                errors(&doc, None).is_empty(),
                "{}: should be valid as a create",
                path.display()
            );
            assert!(
                errors(old, None).is_empty(),
                "{}: its original should be valid",
                path.display()
            );
        }
        let errs = errors(&doc, old.as_ref());
        assert!(
            errs.iter().any(|e| e.contains(expected)),
            "{}: expected an error containing {expected:?}, got:\n{}",
            path.display(),
            errs.join("\n")
        );
    }
}
