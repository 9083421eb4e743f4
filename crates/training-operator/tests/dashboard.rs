//! The chart's Grafana dashboard queries only metrics the operator exports.

use std::collections::BTreeSet;

use mlfleet_runtime::MetricsRegistry;
use training_operator::metrics::{Metrics, QueueLabel, ReasonLabel, SourceLabel, StateLabel};

const DASHBOARD: &str = include_str!(
    "../../../charts/mlfleet/charts/training-operator/dashboards/training-operator.json"
);

/// Metric names (`mlfleet_…`) in a PromQL expression, without histogram/counter suffixes.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("mlfleet_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_total", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.push(base.to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_panel_query_names_an_exported_metric() {
    let registry = MetricsRegistry::new();
    // Families appear in the exposition once they have a series: give each one.
    let m = Metrics::register(&registry);
    m.jobs
        .get_or_create(&StateLabel {
            state: "Running".into(),
        })
        .set(1);
    m.failed
        .get_or_create(&ReasonLabel {
            reason: "PermanentError".into(),
        })
        .inc();
    m.queue_depth
        .get_or_create(&QueueLabel { queue: "q".into() })
        .set(1);
    m.capacity_source
        .get_or_create(&SourceLabel {
            source: "gpu-agent".into(),
        })
        .set(1);
    registry
        .reconcile()
        .observe("trainingjob", std::time::Duration::from_millis(3));
    let text = registry.encode().unwrap();
    let exported: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();

    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 6, "{} panels", panels.len());
    let mut queried = BTreeSet::new();
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr}");
            for n in names {
                assert!(
                    exported.contains(n.as_str()),
                    "{n} (in {expr}) is not exported: {exported:?}"
                );
                queried.insert(n);
            }
        }
    }
    for must in [
        "mlfleet_training_jobs",
        "mlfleet_training_allocated_gpus",
        "mlfleet_training_admission_wait_seconds",
        "mlfleet_reconcile_duration_seconds",
    ] {
        assert!(queried.contains(must), "no panel shows {must}");
    }
}
