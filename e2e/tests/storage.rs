//! PVCs of the default StorageClass bind to pool PVs through the PV controller, and pods
//! mounting them are scheduled.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::{ListParams, PostParams};
use mlfleet_e2e::{Plane, TestNamespace, wait_for};

fn claim(name: &str, mode: &str) -> anyhow::Result<PersistentVolumeClaim> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": [mode], "resources": {"requests": {"storage": "1Gi"}}}
    }))?)
}

fn bound(pvc: &PersistentVolumeClaim) -> bool {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

#[tokio::test]
async fn default_class_claims_bind_to_pool_volumes_and_pods_mounting_them_schedule()
-> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "pvc").await?;
    let client = plane.client().await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns.name());
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let volumes: Api<PersistentVolume> = Api::all(client.clone());

    let classes = Api::<StorageClass>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let default_class: Vec<String> = classes
        .iter()
        .filter(|c| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                .map(String::as_str)
                == Some("true")
        })
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(
        default_class.len(),
        1,
        "exactly one default StorageClass: {default_class:?}"
    );

    for (name, mode) in [("data", "ReadWriteOnce"), ("shared", "ReadWriteMany")] {
        claims
            .create(&PostParams::default(), &claim(name, mode)?)
            .await?;
        let pvc = wait_for(&claims, name, Duration::from_secs(60), bound).await?;
        let spec = pvc.spec.clone().unwrap_or_default();
        assert_eq!(
            spec.storage_class_name.as_ref(),
            default_class.first(),
            "class filled in by DefaultStorageClass admission"
        );
        let pv = volumes
            .get(spec.volume_name.as_deref().unwrap_or_default())
            .await?;
        let labels = pv.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("mlfleet.io/pv-pool").map(String::as_str),
            Some("true"),
            "bound to a pool PV"
        );
        let pv_spec = pv.spec.clone().unwrap_or_default();
        assert!(
            pv_spec
                .access_modes
                .unwrap_or_default()
                .iter()
                .any(|m| m == mode),
            "{name}: PV lacks {mode}"
        );
        let claim_ref = pv_spec.claim_ref.unwrap_or_default();
        assert_eq!(
            (claim_ref.namespace.as_deref(), claim_ref.name.as_deref()),
            (Some(ns.name()), Some(name))
        );
    }

    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "reader"},
        "spec": {
            "containers": [{"name": "c", "image": "registry.invalid/reader:1",
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "shared", "mountPath": "/shared"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "shared", "persistentVolumeClaim": {"claimName": "shared"}}]
        }
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let running = wait_for(&pods, "reader", Duration::from_secs(60), |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await?;
    let node = running
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    assert!(node.starts_with("kwok-"), "scheduled onto {node}");
    Ok(())
}

#[tokio::test]
async fn claim_without_a_matching_volume_stays_pending_with_the_pv_controller_reason()
-> anyhow::Result<()> {
    // Guards against a plane that would mark every claim Bound: a class nobody serves
    // must leave the claim Pending, and the PV controller must say why.
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "pvc-none").await?;
    let client = plane.client().await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns.name());
    let events: Api<Event> = Api::namespaced(client, ns.name());
    let mut pvc = claim("orphan", "ReadWriteOnce")?;
    if let Some(spec) = pvc.spec.as_mut() {
        spec.storage_class_name = Some("no-such-class".into());
    }
    claims.create(&PostParams::default(), &pvc).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let reason = loop {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=orphan"))
            .await?
            .items;
        if let Some(e) = list
            .iter()
            .find(|e| e.reason.as_deref() == Some("ProvisioningFailed"))
        {
            break e.message.clone().unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "no ProvisioningFailed event for the claim: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(reason.contains("no-such-class"), "{reason}");
    let now = claims.get("orphan").await?;
    assert_eq!(now.status.and_then(|s| s.phase).as_deref(), Some("Pending"));
    assert!(now.spec.and_then(|s| s.volume_name).is_none());
    Ok(())
}
