//! The checkpoint PersistentVolumeClaim `<name>-checkpoints` (storage type `pvc`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::meta::child_meta;
use crate::spec::{CheckpointStorage, JobPlan};

/// Builds the PVC, or `None` when checkpoints do not live on a PVC.
///
/// Several workers on different nodes mount it, so a multi-worker job asks for
/// ReadWriteMany; a single worker needs only ReadWriteOnce.
pub fn build(plan: &JobPlan) -> Option<PersistentVolumeClaim> {
    let ckpt = plan.checkpoint.as_ref()?;
    let CheckpointStorage::Pvc {
        size,
        storage_class,
        ..
    } = &ckpt.storage
    else {
        return None;
    };
    let mode = if plan.workers > 1 || plan.elastic.is_some() {
        "ReadWriteMany"
    } else {
        "ReadWriteOnce"
    };
    Some(PersistentVolumeClaim {
        metadata: child_meta(plan, plan.pvc_name()),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![mode.into()]),
            storage_class_name: storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(size.clone()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures::seed;

    #[test]
    fn pvc_for_pvc_storage_only() {
        let mut plan = seed();
        let pvc = build(&plan).unwrap();
        assert_eq!(pvc.metadata.name.as_deref(), Some("test-job-checkpoints"));
        let spec = pvc.spec.unwrap();
        assert_eq!(
            spec.access_modes.unwrap(),
            vec!["ReadWriteMany".to_string()]
        );
        assert_eq!(
            spec.resources.unwrap().requests.unwrap()["storage"].0,
            "10Gi"
        );

        plan.checkpoint.as_mut().unwrap().storage = CheckpointStorage::ObjectStore {
            uri: "s3://bucket/ckpt".into(),
        };
        assert!(build(&plan).is_none());
        plan.checkpoint = None;
        assert!(build(&plan).is_none());
    }
}
