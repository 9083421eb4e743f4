//! The umbrella chart's RBAC, installed for real, grants each controller ServiceAccount
//! what its roles list and nothing beyond (requests outside it get 403).

use std::collections::BTreeMap;

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Api;
use kube::api::PostParams;
use mlfleet_e2e::{HelmRelease, Plane, TestNamespace, repo_root};
use serde::Deserialize;
use serde_yaml::Value;

/// Rules granted through one binding: (namespace for a RoleBinding, the role's rules).
type Grant = (Option<String>, Vec<Value>);

fn documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc)?;
        if v.is_mapping() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Asks the API server's authorizer (SubjectAccessReview) whether `user` in `groups` may
/// `verb` the `resource.group` in `namespace` (all namespaces when `None`).
async fn can_i(
    admin: &kube::Client,
    user: &str,
    groups: &[String],
    verb: &str,
    qualified: &str,
    namespace: Option<&str>,
) -> anyhow::Result<bool> {
    let (resource, group) = qualified.split_once('.').unwrap_or((qualified, ""));
    let review: SubjectAccessReview = serde_json::from_value(serde_json::json!({
        "spec": {
            "user": user,
            "groups": groups,
            "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace.unwrap_or("")}
        }
    }))?;
    let answer = Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// One concrete permission a rule grants: (verb, resource.group) for an access review.
fn sample_permission(rule: &Value) -> Option<(String, String)> {
    if rule["resourceNames"]
        .as_sequence()
        .is_some_and(|n| !n.is_empty())
    {
        return None;
    }
    let verbs = str_list(&rule["verbs"]);
    let verb = [
        "list", "get", "watch", "create", "patch", "update", "delete",
    ]
    .into_iter()
    .find(|v| verbs.iter().any(|x| x == v))?;
    let group = str_list(&rule["apiGroups"])
        .into_iter()
        .find(|g| g != "*")?;
    let resource = str_list(&rule["resources"])
        .into_iter()
        .find(|r| r != "*" && !r.contains('/'))?;
    let qualified = if group.is_empty() {
        resource
    } else {
        format!("{resource}.{group}")
    };
    Some((verb.to_string(), qualified))
}

fn grants_everything_on_rbac(rules: &[Value]) -> bool {
    rules.iter().any(|r| {
        let groups = str_list(&r["apiGroups"]);
        let resources = str_list(&r["resources"]);
        let verbs = str_list(&r["verbs"]);
        groups
            .iter()
            .any(|g| g == "*" || g == "rbac.authorization.k8s.io")
            && resources
                .iter()
                .any(|x| x == "*" || x == "clusterrolebindings")
            && verbs.iter().any(|v| v == "*" || v == "create")
    })
}

#[tokio::test]
async fn chart_service_accounts_get_their_roles_and_403_beyond_them() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let chart = repo_root().join("charts/mlfleet");
    assert!(
        chart.join("Chart.yaml").is_file(),
        "no chart at {}",
        chart.display()
    );
    let chart = chart.display().to_string();
    plane.apply_crds()?;
    let ns = TestNamespace::create(plane, "chart-rbac").await?;
    let release = format!("r{}", ns.name().rsplit('-').next().unwrap_or("x"));
    let manifest = plane
        .helm(&["template", &release, &chart, "-n", ns.name()])?
        .stdout;
    let docs = documents(&manifest)?;
    plane.helm(&["install", &release, &chart, "-n", ns.name()])?;
    let _guard = HelmRelease::new(plane, &release, ns.name());

    // Roles by (kind, name) and the ServiceAccounts each binding grants them to.
    let mut roles: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for d in docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
    {
        let key = (
            d["kind"].as_str().unwrap_or_default().to_string(),
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        roles.insert(key, d["rules"].as_sequence().cloned().unwrap_or_default());
    }
    let mut grants: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    for b in docs.iter().filter(|d| {
        matches!(
            d["kind"].as_str(),
            Some("ClusterRoleBinding" | "RoleBinding")
        )
    }) {
        let role_key = (
            b["roleRef"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            b["roleRef"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let Some(rules) = roles.get(&role_key) else {
            continue;
        };
        let scope = (b["kind"].as_str() == Some("RoleBinding")).then(|| {
            b["metadata"]["namespace"]
                .as_str()
                .unwrap_or(ns.name())
                .to_string()
        });
        for s in b["subjects"].as_sequence().cloned().unwrap_or_default() {
            if s["kind"].as_str() == Some("ServiceAccount") {
                let sa = s["name"].as_str().unwrap_or_default().to_string();
                grants
                    .entry(sa)
                    .or_default()
                    .push((scope.clone(), rules.clone()));
            }
        }
    }
    assert!(
        !grants.is_empty(),
        "the chart binds no role to a ServiceAccount"
    );

    let admin = plane.client().await?;
    for (sa, bound) in &grants {
        let user = format!("system:serviceaccount:{}:{sa}", ns.name());
        let groups = vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{}", ns.name()),
            "system:authenticated".to_string(),
        ];
        let mut checked = 0;
        for (scope, rules) in bound {
            for (verb, resource) in rules.iter().filter_map(sample_permission) {
                assert!(
                    can_i(&admin, &user, &groups, &verb, &resource, scope.as_deref()).await?,
                    "{sa} lacks {verb} {resource} its role grants (scope {scope:?})"
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "{sa}: no checkable rule");
        eprintln!("{sa}: {checked} granted permissions confirmed by the authorizer");
        let all_rules: Vec<Value> = bound.iter().flat_map(|(_, r)| r.clone()).collect();
        if grants_everything_on_rbac(&all_rules) {
            continue;
        }
        assert!(
            !can_i(
                &admin,
                &user,
                &groups,
                "create",
                "clusterrolebindings.rbac.authorization.k8s.io",
                None
            )
            .await?,
            "{sa} may create ClusterRoleBindings"
        );
        // A real request, impersonating the ServiceAccount, is refused by the authorizer.
        let path = std::env::temp_dir().join(format!("{}-{sa}.kubeconfig", ns.name()));
        let client = plane.impersonating_client(ns.name(), sa, &path).await?;
        let crb: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("{}-escalate", ns.name())},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns.name()}]
        }))?;
        let res = Api::<ClusterRoleBinding>::all(client)
            .create(&PostParams::default(), &crb)
            .await;
        match res {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{sa}: {s:?}"),
            other => panic!("{sa} escalation was not refused: {other:?}"),
        }
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
