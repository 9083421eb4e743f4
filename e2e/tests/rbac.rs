//! Authorization is really on: a ServiceAccount gets exactly what its RBAC grants.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{ListParams, PostParams};
use mlfleet_e2e::{ControllerProcess, ControllerSpec, Plane, TestNamespace};

fn status_code<T: std::fmt::Debug>(r: &Result<T, kube::Error>) -> Option<u16> {
    match r {
        Err(kube::Error::Api(s)) => Some(s.code),
        _ => None,
    }
}

async fn create_service_account(plane: &Plane, ns: &str, name: &str) -> anyhow::Result<()> {
    let sa: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    Api::<ServiceAccount>::namespaced(plane.client().await?, ns)
        .create(&PostParams::default(), &sa)
        .await?;
    Ok(())
}

#[tokio::test]
async fn service_account_gets_403_without_a_grant_and_only_what_a_role_grants() -> anyhow::Result<()>
{
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "rbac").await?;
    create_service_account(plane, ns.name(), "probe").await?;
    let kubeconfig = std::env::temp_dir().join(format!("{}-probe.kubeconfig", ns.name()));
    let sa = plane
        .impersonating_client(ns.name(), "probe", &kubeconfig)
        .await?;

    let system_secrets = Api::<Secret>::namespaced(sa.clone(), "kube-system")
        .list(&ListParams::default())
        .await;
    assert_eq!(
        status_code(&system_secrets),
        Some(403),
        "{system_secrets:?}"
    );
    let own_pods: Api<Pod> = Api::namespaced(sa.clone(), ns.name());
    let before = own_pods.list(&ListParams::default()).await;
    assert_eq!(status_code(&before), Some(403), "{before:?}");

    let admin = plane.client().await?;
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    }))?;
    Api::<Role>::namespaced(admin.clone(), ns.name())
        .create(&PostParams::default(), &role)
        .await?;
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "probe-reads-pods"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": ns.name()}]
    }))?;
    Api::<RoleBinding>::namespaced(admin, ns.name())
        .create(&PostParams::default(), &binding)
        .await?;

    // The RBAC authorizer sees new bindings through an informer: poll until it does.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match own_pods.list(&ListParams::default()).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "grant never took effect: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Still nothing beyond the grant: other verbs, other namespaces, other resources.
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]}
    }))?;
    let create = own_pods.create(&PostParams::default(), &pod).await;
    assert_eq!(status_code(&create), Some(403), "{create:?}");
    let other_ns = Api::<Pod>::namespaced(sa.clone(), "kube-system")
        .list(&ListParams::default())
        .await;
    assert_eq!(status_code(&other_ns), Some(403), "{other_ns:?}");
    let secrets = Api::<Secret>::namespaced(sa, ns.name())
        .list(&ListParams::default())
        .await;
    assert_eq!(status_code(&secrets), Some(403), "{secrets:?}");
    let _ = std::fs::remove_file(kubeconfig);
    Ok(())
}

#[tokio::test]
async fn controller_child_process_runs_as_its_service_account() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "child").await?;
    create_service_account(plane, ns.name(), "operator").await?;
    // The built kubectl stands in for a controller binary: it reads KUBECONFIG from the
    // environment the harness sets and reports who the API server thinks it is.
    let spec = ControllerSpec {
        binary: plane.tools().kubectl.clone(),
        args: vec!["auth".into(), "whoami".into(), "-o".into(), "json".into()],
        ..ControllerSpec::default()
    }
    .as_service_account(ns.name(), "operator");
    let mut child = ControllerProcess::start(plane, &spec)?;
    ns.attach_log(child.log_path());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.exit_status()? {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "child did not exit: {}",
            child.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{}", child.log_text());
    let review: serde_json::Value = serde_json::from_str(&child.log_text())?;
    let user = &review["status"]["userInfo"];
    assert_eq!(
        user["username"].as_str(),
        Some(format!("system:serviceaccount:{}:operator", ns.name()).as_str()),
        "{review}"
    );
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(
        groups.contains(&format!("system:serviceaccounts:{}", ns.name()).as_str()),
        "{groups:?}"
    );
    Ok(())
}
