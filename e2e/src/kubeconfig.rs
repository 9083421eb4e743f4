//! Kubeconfig rewriting for ServiceAccount impersonation.

use std::path::Path;

use serde_yaml::Value;

use crate::{E2eError, Result};

/// The username the API server gives a ServiceAccount.
pub(crate) fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Writes a copy of the kubeconfig at `src` to `dest` whose users impersonate the
/// ServiceAccount `namespace/name` (kubeconfig `as` / `as-groups`), so that every request
/// made with it is authorized exactly as the ServiceAccount's RBAC allows. The admin
/// credentials stay the transport identity (they hold the `impersonate` permission).
pub fn write_impersonating_kubeconfig(
    src: &Path,
    dest: &Path,
    namespace: &str,
    name: &str,
) -> Result<()> {
    let text = std::fs::read_to_string(src).map_err(|e| E2eError::io("reading", src, e))?;
    let out = impersonating_kubeconfig(&text, namespace, name).map_err(|message| {
        E2eError::Kubeconfig {
            path: src.to_path_buf(),
            message,
        }
    })?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| E2eError::io("creating", parent, e))?;
    }
    std::fs::write(dest, out).map_err(|e| E2eError::io("writing", dest, e))
}

fn impersonating_kubeconfig(
    text: &str,
    namespace: &str,
    name: &str,
) -> std::result::Result<String, String> {
    let mut doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let users = doc
        .get_mut("users")
        .and_then(Value::as_sequence_mut)
        .ok_or("no users in kubeconfig")?;
    let groups = [
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".to_string(),
    ];
    for entry in users.iter_mut() {
        let user = entry
            .get_mut("user")
            .and_then(Value::as_mapping_mut)
            .ok_or("kubeconfig user without a `user` map")?;
        user.insert("as".into(), service_account_user(namespace, name).into());
        user.insert(
            "as-groups".into(),
            Value::Sequence(groups.iter().map(|g| Value::from(g.as_str())).collect()),
        );
    }
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_as_and_groups_on_every_user() {
        let src = "apiVersion: v1\nkind: Config\nusers:\n- name: a\n  user:\n    token: t\n";
        let out = impersonating_kubeconfig(src, "ns1", "sa1").unwrap_or_default();
        let kc = kube::config::Kubeconfig::from_yaml(&out).ok();
        let user = kc
            .and_then(|k| k.auth_infos.into_iter().next())
            .and_then(|a| a.auth_info);
        let user = user.unwrap_or_default();
        assert_eq!(
            user.impersonate.as_deref(),
            Some("system:serviceaccount:ns1:sa1")
        );
        assert!(
            user.impersonate_groups
                .unwrap_or_default()
                .contains(&"system:serviceaccounts:ns1".to_string())
        );
    }

    #[test]
    fn rejects_kubeconfig_without_users() {
        assert!(impersonating_kubeconfig("apiVersion: v1\nkind: Config\n", "a", "b").is_err());
    }
}
