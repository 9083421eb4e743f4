//! Server-side apply helpers: one field manager per controller (always forced), owner
//! references from a custom resource, and status writes through the status subresource.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Errors of the apply helpers.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The object to apply has no `metadata.name`.
    #[error("{kind} to apply has no metadata.name")]
    MissingName {
        /// Kind of the object.
        kind: String,
    },
    /// The owner has no name or UID (not read from the API server).
    #[error("owner {kind}/{name} has no uid; owner references need an object read from the API")]
    OwnerWithoutUid {
        /// Owner kind.
        kind: String,
        /// Owner name (may be empty).
        name: String,
    },
    /// The API server rejected the request.
    #[error("applying {kind}/{name}: {source}")]
    Kube {
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// API error.
        source: kube::Error,
    },
}

impl ApplyError {
    /// The underlying API error, if any (for [`crate::error_policy::classify_kube_error`]).
    pub fn kube_error(&self) -> Option<&kube::Error> {
        match self {
            ApplyError::Kube { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Patch parameters for server-side apply as `field_manager`, forcing ownership of
/// conflicting fields (the controller is the authority for what it applies).
pub fn apply_params(field_manager: &str) -> PatchParams {
    PatchParams::apply(field_manager).force()
}

/// The controller owner reference to `owner` (`controller: true`,
/// `blockOwnerDeletion: true`), so children are garbage-collected with it.
pub fn owner_reference<K>(owner: &K) -> Result<OwnerReference, ApplyError>
where
    K: Resource<DynamicType = ()>,
{
    let meta = owner.meta();
    match (&meta.name, &meta.uid) {
        (Some(name), Some(uid)) => Ok(OwnerReference {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: name.clone(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }),
        _ => Err(ApplyError::OwnerWithoutUid {
            kind: K::kind(&()).into_owned(),
            name: meta.name.clone().unwrap_or_default(),
        }),
    }
}

/// Server-side applies `obj` (which must carry its name; apiVersion/kind come from its type)
/// through `api` as `field_manager`; returns the object as stored.
pub async fn apply<K>(api: &Api<K>, field_manager: &str, obj: &K) -> Result<K, ApplyError>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    let kind = K::kind(&()).into_owned();
    let name = obj
        .meta()
        .name
        .clone()
        .ok_or_else(|| ApplyError::MissingName { kind: kind.clone() })?;
    api.patch(&name, &apply_params(field_manager), &Patch::Apply(obj))
        .await
        .map_err(|source| ApplyError::Kube { kind, name, source })
}

/// The body of a server-side apply of `status` on an object of type `K` named `name`.
pub fn status_patch<K, S>(name: &str, status: &S) -> serde_json::Value
where
    K: Resource<DynamicType = ()>,
    S: Serialize,
{
    serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": name },
        "status": status,
    })
}

/// Writes `status` of `obj` through the status subresource with server-side apply as
/// `field_manager` (only the fields in `status` are owned by that manager).
pub async fn patch_status<K, S>(
    api: &Api<K>,
    field_manager: &str,
    obj: &K,
    status: &S,
) -> Result<K, ApplyError>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    S: Serialize,
{
    let name = obj.name_any();
    let body = status_patch::<K, S>(&name, status);
    api.patch_status(&name, &apply_params(field_manager), &Patch::Apply(&body))
        .await
        .map_err(|source| ApplyError::Kube {
            kind: K::kind(&()).into_owned(),
            name,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::ObjectMeta;

    fn deployment(uid: Option<&str>) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: uid.map(str::to_string),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn owner_reference_is_a_blocking_controller_reference() {
        let r = owner_reference(&deployment(Some("u-1"))).unwrap();
        assert_eq!(r.api_version, "apps/v1");
        assert_eq!(r.kind, "Deployment");
        assert_eq!(r.name, "web");
        assert_eq!(r.uid, "u-1");
        assert_eq!(r.controller, Some(true));
        assert_eq!(r.block_owner_deletion, Some(true));
        assert!(matches!(
            owner_reference(&deployment(None)),
            Err(ApplyError::OwnerWithoutUid { .. })
        ));
    }

    #[test]
    fn apply_params_force_one_manager_and_status_patch_carries_type() {
        let p = apply_params("training-operator");
        assert_eq!(p.field_manager.as_deref(), Some("training-operator"));
        assert!(p.force);
        let body = status_patch::<Deployment, _>("web", &serde_json::json!({"replicas": 2}));
        assert_eq!(body["apiVersion"], "apps/v1");
        assert_eq!(body["kind"], "Deployment");
        assert_eq!(body["metadata"]["name"], "web");
        assert_eq!(body["status"]["replicas"], 2);
    }
}
