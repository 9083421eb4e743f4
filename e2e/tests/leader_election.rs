//! Lease-based leader election of the shared runtime on the real API server: two
//! instances, exactly one leads; kill -9 the leader and the other takes over once the
//! Lease has run out (one lease duration after the last renewal, plus one retry period
//! of polling at most).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use mlfleet_e2e::{ControllerProcess, ControllerSpec, Plane, TestNamespace};

const LEASE_SECONDS: u64 = 4;

fn lease_holder() -> std::path::PathBuf {
    let bin = ControllerSpec::workspace_binary("examples/lease_holder");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p mlfleet-runtime --example lease_holder` (e2e/run-tests.sh does)",
        bin.display()
    );
    bin
}

fn start(plane: &Plane, ns: &str, identity: &str) -> anyhow::Result<ControllerProcess> {
    let mut spec = ControllerSpec::new(lease_holder())
        .env("MLFLEET_LEADER_ELECT", "true")
        .env("MLFLEET_LEASE_NAME", "e2e-leader")
        .env("MLFLEET_LEASE_DURATION_SECONDS", &LEASE_SECONDS.to_string())
        .env("POD_NAMESPACE", ns)
        .env("POD_NAME", identity);
    spec.args.clear();
    Ok(ControllerProcess::start(plane, &spec)?)
}

fn is_leader(p: &ControllerProcess, identity: &str) -> bool {
    p.log_text()
        .lines()
        .rev()
        .find(|l| l.starts_with("LEADER ") || l.starts_with("FOLLOWER "))
        .is_some_and(|l| l == format!("LEADER {identity}"))
}

async fn wait_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test]
async fn the_follower_takes_over_within_one_lease_duration_of_a_killed_leader() -> anyhow::Result<()>
{
    let plane = Plane::ensure()?;
    let ns = TestNamespace::create(plane, "leader").await?;
    let a = start(plane, ns.name(), "holder-a")?;
    ns.attach_log(a.log_path());
    let b = start(plane, ns.name(), "holder-b")?;
    ns.attach_log(b.log_path());
    let mut procs = [(a, "holder-a"), (b, "holder-b")];

    let elected = wait_until(Duration::from_secs(30), || {
        procs.iter().any(|(p, id)| is_leader(p, id))
    })
    .await;
    assert!(elected, "no instance became leader");
    let leaders: Vec<_> = procs
        .iter()
        .filter(|(p, id)| is_leader(p, id))
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader, got {leaders:?}");
    let (old, new) = if leaders[0] == "holder-a" {
        (0, 1)
    } else {
        (1, 0)
    };

    let leases: Api<Lease> = Api::namespaced(plane.client().await?, ns.name());
    let before = leases.get("e2e-leader").await?;
    let spec = before.spec.clone().unwrap_or_default();
    assert_eq!(spec.holder_identity.as_deref(), Some(leaders[0]));
    assert_eq!(spec.lease_duration_seconds, Some(LEASE_SECONDS as i32));

    // kill -9: no graceful release, the Lease must run out.
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &procs[old].0.id().to_string()])
        .status()?;
    assert!(status.success());
    let survivor = procs[new].1;
    let lease = Duration::from_secs(LEASE_SECONDS);
    let retry = lease / 5;
    let took_over = wait_until(lease * 3, || is_leader(&procs[new].0, survivor)).await;
    let elapsed = killed_at.elapsed();
    assert!(
        took_over,
        "{survivor} did not take over; log:\n{}",
        procs[new].0.log_text()
    );
    println!("takeover {elapsed:?} after kill -9 (lease duration {lease:?})");
    assert!(
        elapsed <= lease + retry + Duration::from_millis(500),
        "takeover took {elapsed:?}, more than one lease duration ({lease:?}) plus one retry period ({retry:?})"
    );

    let after = leases.get("e2e-leader").await?.spec.unwrap_or_default();
    assert_eq!(after.holder_identity.as_deref(), Some(survivor));
    assert!(
        after.lease_transitions.unwrap_or(0) > spec.lease_transitions.unwrap_or(0),
        "leaseTransitions did not grow: {:?} -> {:?}",
        spec.lease_transitions,
        after.lease_transitions
    );
    procs[new].0.stop()?;
    Ok(())
}
