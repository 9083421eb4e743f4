//! Lease-based leader election on `coordination.k8s.io/v1` Leases.
//!
//! A [`LeaderElector`] reads the Lease every retry period and, following the pure
//! [`decision::decide`], creates, renews, acquires or takes it over with
//! resourceVersion-guarded writes (a concurrent writer makes ours fail with 409 and we
//! re-read). A Lease is taken over once `renewTime + leaseDurationSeconds` has passed. A
//! leader that cannot renew for the renew deadline steps down before its Lease can expire
//! elsewhere. On graceful shutdown the Lease is released so a peer takes over at once.
//! Leadership is published on a `watch` channel and as the `mlfleet_leader{lease}` gauge.

pub mod decision;

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use prometheus_client::metrics::gauge::Gauge;
use rand::Rng;
use tokio::sync::watch;

use crate::config::CommonArgs;
use crate::metrics::{LeaseLabels, MetricsRegistry};
use crate::shutdown::Shutdown;
use decision::{Decision, decide, next_spec, released_spec};

/// Timing and identity of one leader election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub namespace: String,
    /// Our holder identity (unique per replica, usually the pod name).
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long steps down (must be < lease_duration).
    pub renew_deadline: Duration,
    /// Interval between Lease reads/renewals (jittered by up to 10%).
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// Config from the common flags: renew deadline 2/3 and retry period 1/5 of the lease
    /// duration (15 s → 10 s and 3 s).
    pub fn from_args(binary: &str, args: &CommonArgs) -> Self {
        Self::new(
            args.lease_name_or(binary),
            args.lease_namespace.clone(),
            args.identity_or_hostname(),
            args.lease_duration(),
        )
    }

    /// Config with the default derived renew deadline and retry period.
    pub fn new(
        lease_name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
        lease_duration: Duration,
    ) -> Self {
        Self {
            lease_name: lease_name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: (lease_duration / 5).max(Duration::from_millis(200)),
        }
    }
}

/// Errors of one election round (logged and retried by the elector loop).
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another writer changed the Lease between our read and write (HTTP 409).
    #[error("lease {0} changed concurrently")]
    Conflict(String),
    /// Any other API error.
    #[error("lease {name}: {source}")]
    Kube {
        /// Lease name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// The round did not finish in time.
    #[error("lease {0}: request timed out")]
    Timeout(String),
}

enum Round {
    Leading,
    Following {
        holder: String,
        expires_in: Duration,
    },
}

/// Runs leader election for one Lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderConfig,
    gauge: Gauge,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// A running election: leadership as a `watch` channel, and the task to await on exit.
#[derive(Debug)]
pub struct LeaderHandle {
    rx: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaderHandle {
    /// A handle that is always leader until shutdown (for `--leader-elect=false`).
    pub fn always(shutdown: Shutdown) -> Self {
        let (tx, rx) = watch::channel(true);
        let task = tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = tx.send(false);
        });
        Self { rx, task }
    }

    /// A receiver of leadership changes (`true` while we lead).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Whether we lead right now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits for the election task to end (after shutdown, once the Lease is released).
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "leader election task failed");
        }
    }
}

impl LeaderElector {
    /// An elector for `cfg`, exporting its state on `registry`.
    pub fn new(client: kube::Client, cfg: LeaderConfig, registry: &MetricsRegistry) -> Self {
        let gauge = registry
            .leader_gauge()
            .get_or_create(&LeaseLabels {
                lease: cfg.lease_name.clone(),
            })
            .clone();
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            gauge,
        }
    }

    /// Starts the election loop; it runs until `shutdown`, then releases the Lease if held.
    pub fn run(self, shutdown: Shutdown) -> LeaderHandle {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(self.run_loop(tx, shutdown));
        LeaderHandle { rx, task }
    }

    fn set_leader(&self, tx: &watch::Sender<bool>, leading: bool, why: &str) {
        let changed = tx.send_if_modified(|v| std::mem::replace(v, leading) != leading);
        self.gauge.set(i64::from(leading));
        if changed {
            if leading {
                tracing::info!(lease = %self.cfg.lease_name, identity = %self.cfg.identity, reason = why, "became leader");
            } else {
                tracing::warn!(lease = %self.cfg.lease_name, identity = %self.cfg.identity, reason = why, "stopped leading");
            }
        }
    }

    fn jittered(&self, d: Duration) -> Duration {
        let extra = rand::rng().random_range(0.0..0.1);
        d.mul_f64(1.0 + extra)
    }

    async fn run_loop(self, tx: watch::Sender<bool>, shutdown: Shutdown) {
        let mut last_renew: Option<Instant> = None;
        while !shutdown.is_triggered() {
            let round = tokio::time::timeout(
                self.cfg.retry_period.max(self.cfg.renew_deadline / 2),
                self.round(),
            );
            let result = match round.await {
                Ok(r) => r,
                Err(_) => Err(LeaderError::Timeout(self.cfg.lease_name.clone())),
            };
            let pause = match result {
                Ok(Round::Leading) => {
                    last_renew = Some(Instant::now());
                    self.set_leader(&tx, true, "lease held");
                    self.jittered(self.cfg.retry_period)
                }
                Ok(Round::Following { holder, expires_in }) => {
                    last_renew = None;
                    self.set_leader(&tx, false, "lease held by another replica");
                    tracing::debug!(lease = %self.cfg.lease_name, %holder, ?expires_in, "waiting for lease");
                    // Wake right at expiry so a dead leader is replaced within one lease duration.
                    let jitter = Duration::from_millis(rand::rng().random_range(0..50));
                    self.cfg.retry_period.min(expires_in) + jitter
                }
                Err(LeaderError::Conflict(_)) => {
                    tracing::debug!(lease = %self.cfg.lease_name, "lease changed concurrently, re-reading");
                    self.jittered(self.cfg.retry_period / 4)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election round failed");
                    if last_renew.is_some_and(|t| t.elapsed() >= self.cfg.renew_deadline) {
                        last_renew = None;
                        self.set_leader(&tx, false, "renew deadline passed");
                    }
                    self.jittered(self.cfg.retry_period)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shutdown.cancelled() => {}
            }
        }
        if *tx.borrow() {
            self.set_leader(&tx, false, "shutting down");
            match tokio::time::timeout(Duration::from_secs(5), self.release()).await {
                Ok(Ok(())) => tracing::info!(lease = %self.cfg.lease_name, "lease released"),
                Ok(Err(e)) => tracing::warn!(error = %e, "releasing lease"),
                Err(_) => tracing::warn!(lease = %self.cfg.lease_name, "releasing lease timed out"),
            }
        }
    }

    fn kube_err(&self, e: kube::Error) -> LeaderError {
        match &e {
            kube::Error::Api(s) if s.code == 409 => {
                LeaderError::Conflict(self.cfg.lease_name.clone())
            }
            _ => LeaderError::Kube {
                name: self.cfg.lease_name.clone(),
                source: e,
            },
        }
    }

    async fn round(&self) -> Result<Round, LeaderError> {
        let cfg = &self.cfg;
        let current = self
            .api
            .get_opt(&cfg.lease_name)
            .await
            .map_err(|e| self.kube_err(e))?;
        let spec = current.as_ref().map(|l| l.spec.clone().unwrap_or_default());
        let now = Timestamp::now();
        let decision = decide(spec.as_ref(), &cfg.identity, now, cfg.lease_duration);
        if let Decision::Wait { holder, expires_in } = decision {
            return Ok(Round::Following { holder, expires_in });
        }
        let next = next_spec(
            spec.as_ref(),
            &decision,
            &cfg.identity,
            cfg.lease_duration,
            now,
        );
        match (&decision, current) {
            (Decision::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(cfg.lease_name.clone()),
                        namespace: Some(cfg.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(next),
                };
                self.api
                    .create(&PostParams::default(), &lease)
                    .await
                    .map_err(|e| self.kube_err(e))?;
                tracing::info!(lease = %cfg.lease_name, identity = %cfg.identity, "created lease");
            }
            (_, Some(mut lease)) => {
                // Keeps metadata.resourceVersion: the write fails with 409 if anyone wrote since.
                lease.spec = Some(next);
                self.api
                    .replace(&cfg.lease_name, &PostParams::default(), &lease)
                    .await
                    .map_err(|e| self.kube_err(e))?;
                match &decision {
                    Decision::Takeover { previous } => {
                        tracing::info!(lease = %cfg.lease_name, identity = %cfg.identity, %previous, "took over expired lease")
                    }
                    Decision::Acquire => {
                        tracing::info!(lease = %cfg.lease_name, identity = %cfg.identity, "acquired vacant lease")
                    }
                    _ => {}
                }
            }
        }
        Ok(Round::Leading)
    }

    async fn release(&self) -> Result<(), LeaderError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.cfg.lease_name)
            .await
            .map_err(|e| self.kube_err(e))?
        else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        lease.spec = Some(released_spec(&spec, Timestamp::now()));
        self.api
            .replace(&self.cfg.lease_name, &PostParams::default(), &lease)
            .await
            .map_err(|e| self.kube_err(e))?;
        Ok(())
    }
}

/// Runs the future made by `make` only while `leader` is `true`: waits for leadership,
/// starts it, drops (cancels) it when leadership is lost and starts a fresh one when it is
/// regained. After `shutdown` the running future is left to finish on its own (it should
/// watch the same shutdown signal). Returns the future's output, or `None` if shutdown
/// came (or the election ended) before leader-only work completed.
pub async fn run_while_leader<F, Fut, T>(
    mut leader: watch::Receiver<bool>,
    shutdown: Shutdown,
    mut make: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    loop {
        tokio::select! {
            elected = async { leader.wait_for(|l| *l).await.is_ok() } => if !elected { return None },
            () = shutdown.cancelled() => return None,
        }
        let fut = make();
        tokio::pin!(fut);
        tokio::select! {
            out = &mut fut => return Some(out),
            () = async { let _ = leader.wait_for(|l| !*l).await; } => {
                if shutdown.is_triggered() {
                    return Some(fut.await);
                }
                tracing::warn!("leadership lost: stopping leader-only work until re-elected");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn timings_derive_from_the_lease_duration() {
        let c = LeaderConfig::new("l", "ns", "me", Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(3));
        // A leader that fails to renew steps down before anyone can take the lease.
        assert!(c.renew_deadline + c.retry_period.mul_f64(1.1) < c.lease_duration);
        let short = LeaderConfig::new("l", "ns", "me", Duration::from_secs(2));
        assert!(short.renew_deadline + short.retry_period.mul_f64(1.1) < short.lease_duration);
    }

    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn wait_count(c: &AtomicUsize, n: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while c.load(Ordering::SeqCst) < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("counter reached");
    }

    #[tokio::test]
    async fn work_runs_only_while_leader_and_restarts_after_reelection() {
        let (tx, rx) = watch::channel(false);
        let shutdown = Shutdown::new();
        let starts = Arc::new(AtomicUsize::new(0));
        let stops = Arc::new(AtomicUsize::new(0));
        let (s2, st2, sd) = (starts.clone(), stops.clone(), shutdown.clone());
        let task = tokio::spawn(run_while_leader(rx, shutdown.clone(), move || {
            s2.fetch_add(1, Ordering::SeqCst);
            let guard = CountDrop(st2.clone());
            let sd = sd.clone();
            async move {
                let _guard = guard;
                sd.cancelled().await;
                "drained"
            }
        }));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            starts.load(Ordering::SeqCst),
            0,
            "no work before leadership"
        );
        tx.send(true).unwrap();
        wait_count(&starts, 1).await;
        tx.send(false).unwrap();
        wait_count(&stops, 1).await;
        assert_eq!(
            starts.load(Ordering::SeqCst),
            1,
            "not restarted while follower"
        );
        tx.send(true).unwrap();
        wait_count(&starts, 2).await;
        // Shutdown lets the running work drain instead of cancelling it.
        shutdown.trigger();
        tx.send(false).unwrap();
        let out = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, Some("drained"));
        assert_eq!(stops.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn always_leader_handle_turns_false_on_shutdown() {
        let shutdown = Shutdown::new();
        let h = LeaderHandle::always(shutdown.clone());
        assert!(h.is_leader());
        let mut rx = h.subscribe();
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|l| !*l))
            .await
            .unwrap()
            .unwrap();
        h.join().await;
    }
}
