//! The ConfigMap `<name>-config`: hyperparameters as JSON plus rendezvous settings,
//! mounted read-only into every worker at [`CONFIG_MOUNT`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::meta::child_meta;
use crate::spec::JobPlan;

/// Where the ConfigMap is mounted in worker containers.
pub const CONFIG_MOUNT: &str = "/etc/mlfleet";

/// Builds the ConfigMap.
pub fn build(plan: &JobPlan, workers: u32) -> ConfigMap {
    // BTreeMap keeps key order stable, so the JSON (and the SSA patch) is deterministic.
    let hp = serde_json::to_string_pretty(&plan.hyperparameters).unwrap_or_else(|_| "{}".into());
    let data = BTreeMap::from([
        ("hyperparameters.json".to_string(), hp),
        ("backend".to_string(), plan.backend.as_str().to_string()),
        ("master-addr".to_string(), plan.master_addr()),
        ("master-port".to_string(), plan.master_port.to_string()),
        ("world-size".to_string(), workers.to_string()),
        ("framework".to_string(), plan.framework.as_str().to_string()),
        ("model".to_string(), plan.model.clone()),
        ("dataset".to_string(), plan.dataset.clone()),
    ]);
    ConfigMap {
        metadata: child_meta(plan, plan.config_map_name()),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures::seed;

    #[test]
    fn seed_config_map() {
        let cm = build(&seed(), 2);
        assert_eq!(cm.metadata.name.as_deref(), Some("test-job-config"));
        let data = cm.data.unwrap();
        let hp: serde_json::Value = serde_json::from_str(&data["hyperparameters.json"]).unwrap();
        assert_eq!(
            hp,
            serde_json::json!({"batchSize": 32, "epochs": 10, "learningRate": 0.001})
        );
        assert_eq!(data["backend"], "nccl");
        assert_eq!(data["master-port"], "29500");
        assert_eq!(data["master-addr"], "test-job-workers-0.test-job-workers");
        assert_eq!(data["world-size"], "2");
        let owner = &cm.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("TrainingJob", "uid-1")
        );
        assert_eq!(owner.controller, Some(true));
    }
}
