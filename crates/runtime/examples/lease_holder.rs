//! Runs Lease-based leader election against the cluster from KUBECONFIG and prints every
//! leadership change as one line on stdout (`LEADER <identity>` / `FOLLOWER <identity>`),
//! so end-to-end tests can run two copies, kill the leader and time the takeover.
//!
//! ```text
//! cargo run -p mlfleet-runtime --example lease_holder -- --identity a --lease-name demo \
//!     --lease-duration-seconds 4 --admin-addr 127.0.0.1:0
//! ```

use clap::Parser;
use mlfleet_runtime::CommonArgs;
use std::io::Write;

#[derive(Parser)]
#[command(about = "Hold a leader-election Lease and print leadership changes")]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let started = mlfleet_runtime::start("lease-holder", &cli.common).await?;
    let client = started.kube_client().await?;
    let identity = started.args.identity_or_hostname();
    let leader = started.leader_election(client);
    started.readiness.mark_ready();
    let mut rx = leader.subscribe();
    let shutdown = started.shutdown.clone();
    let printer = tokio::spawn(async move {
        let mut last = None;
        loop {
            let now = *rx.borrow_and_update();
            if last != Some(now) {
                let word = if now { "LEADER" } else { "FOLLOWER" };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{word} {identity}");
                let _ = out.flush();
                last = Some(now);
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                () = shutdown.cancelled(), if !shutdown.is_triggered() => {}
            }
        }
    });
    leader.join().await;
    let _ = printer.await;
    started.finish().await?;
    Ok(())
}
