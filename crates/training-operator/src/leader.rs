//! Lease-based leader election (coordination.k8s.io Lease): only the leader
//! reconciles, admits and serves; a replica that loses the Lease exits so it
//! restarts clean as a follower.

use kube_lease_manager::{LeaseCreateMode, LeaseManagerBuilder, LeaseManagerError};
use mlfleet_runtime::config::CommonArgs;
use tokio::sync::watch;

/// Blocks until this replica holds the Lease; returns a receiver that turns
/// `false` if leadership is lost.
pub async fn acquire(
    client: kube::Client,
    args: &CommonArgs,
) -> Result<watch::Receiver<bool>, LeaseManagerError> {
    let identity = args.identity_or_hostname();
    let manager = LeaseManagerBuilder::new(client, args.lease_name_or("training-operator"))
        .with_namespace(args.lease_namespace.clone())
        .with_identity(identity.clone())
        .with_duration(args.lease_duration_seconds)
        .with_grace((args.lease_duration_seconds / 3).max(1))
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .with_field_manager("training-operator")
        .build()
        .await?;
    let (mut rx, _task) = manager.watch().await;
    tracing::info!(%identity, "waiting for leadership");
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            break;
        }
    }
    tracing::info!(%identity, "acquired leadership");
    Ok(rx)
}
