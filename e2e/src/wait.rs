//! Waiting for an object to reach a condition, by watching it, with a deadline.

use std::fmt::Debug;
use std::time::Duration;

use kube::Api;
use kube::Resource;
use kube::runtime::wait::await_condition;
use serde::de::DeserializeOwned;

use crate::{E2eError, Result};

/// Watches `name` through `api` until `cond` holds (it sees `None` while the object does
/// not exist) and returns the object, or [`E2eError::Timeout`] after `timeout`.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    cond: impl Fn(&K) -> bool,
) -> Result<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    let what = format!("{} {name}", K::kind(&Default::default()));
    let watch = await_condition(api.clone(), name, move |obj: Option<&K>| {
        obj.is_some_and(&cond)
    });
    match tokio::time::timeout(timeout, watch).await {
        Err(_) => Err(E2eError::Timeout { what, timeout }),
        Ok(Err(e)) => Err(E2eError::Watch {
            what,
            message: e.to_string(),
        }),
        Ok(Ok(Some(obj))) => Ok(obj),
        Ok(Ok(None)) => Err(E2eError::Watch {
            what,
            message: "object disappeared".into(),
        }),
    }
}

/// Watches `name` until it no longer exists, or [`E2eError::Timeout`] after `timeout`.
pub async fn wait_for_deletion<K>(api: &Api<K>, name: &str, timeout: Duration) -> Result<()>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    let what = format!("deletion of {} {name}", K::kind(&Default::default()));
    let watch = await_condition(api.clone(), name, |obj: Option<&K>| obj.is_none());
    match tokio::time::timeout(timeout, watch).await {
        Err(_) => Err(E2eError::Timeout { what, timeout }),
        Ok(Err(e)) => Err(E2eError::Watch {
            what,
            message: e.to_string(),
        }),
        Ok(Ok(_)) => Ok(()),
    }
}
