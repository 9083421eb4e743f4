//! Reconcile error policy: invalid specs wait for a change, transient errors back off
//! exponentially with jitter (capped), counted per object.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use crate::metrics::ReconcileMetrics;

/// How a reconcile error should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The object itself is wrong; retrying cannot help until its spec changes.
    InvalidSpec,
    /// Anything that may succeed later (API errors, conflicts, unreachable peers).
    Transient,
}

/// Implemented by each controller's error enum.
pub trait Classify {
    /// How to handle this error.
    fn class(&self) -> ErrorClass;
    /// A short, bounded label for metrics, e.g. `InvalidSpec`, `KubeApi`.
    fn kind(&self) -> &'static str;
}

/// Classifies a Kubernetes API error: 400/422 (the server rejected what we built from the
/// spec) wait for a change; everything else (409, 429, 5xx, transport) is transient.
pub fn classify_kube_error(e: &kube::Error) -> ErrorClass {
    match e {
        kube::Error::Api(s) if s.code == 400 || s.code == 422 => ErrorClass::InvalidSpec,
        _ => ErrorClass::Transient,
    }
}

/// Exponential backoff with jitter: `min(max, base * 2^(failures-1)) * (1 ± jitter)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Upper bound before jitter.
    pub max: Duration,
    /// Relative jitter in `[0, 1)`; 0.2 spreads delays over ±20%.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delay after `failures` consecutive failures (>= 1), with `unit` a random number in
    /// `[0, 1)` (pure, so tests pass fixed values).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(32);
        let raw = self.base.saturating_mul(1u32 << exp.min(31)).min(self.max);
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        raw.mul_f64(factor.max(0.0))
    }
}

/// Object identity used for failure counting (namespace and name, no UID churn).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct ObjectKey {
    /// Namespace (None for cluster-scoped objects).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `obj`.
    pub fn of<K: Resource>(obj: &K) -> Self {
        Self {
            namespace: obj.namespace(),
            name: obj.name_any(),
        }
    }
}

/// Error policy of one controller: counts consecutive failures per object and turns an
/// error into a requeue [`Action`]; optionally counts errors in the reconcile metrics.
#[derive(Clone, Debug)]
pub struct ErrorPolicy {
    controller: String,
    backoff: Backoff,
    failures: Arc<Mutex<HashMap<ObjectKey, u32>>>,
    metrics: Option<ReconcileMetrics>,
}

impl ErrorPolicy {
    /// A policy for `controller` with `backoff`.
    pub fn new(controller: impl Into<String>, backoff: Backoff) -> Self {
        Self {
            controller: controller.into(),
            backoff,
            failures: Arc::default(),
            metrics: None,
        }
    }

    /// Also count errors in `metrics` (`mlfleet_reconcile_errors_total{controller,kind}`).
    pub fn with_metrics(mut self, metrics: ReconcileMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Records a failure of `obj` and returns what the controller should do next.
    pub fn on_error<K: Resource, E: Classify + std::fmt::Display>(
        &self,
        obj: &K,
        err: &E,
    ) -> Action {
        let key = ObjectKey::of(obj);
        let failures = self.record_failure(&key);
        if let Some(m) = &self.metrics {
            m.error(&self.controller, err.kind());
        }
        match err.class() {
            ErrorClass::InvalidSpec => {
                tracing::warn!(controller = %self.controller, namespace = ?key.namespace, name = %key.name, error = %err, "invalid spec; waiting for a change");
                Action::await_change()
            }
            ErrorClass::Transient => {
                let delay = self.backoff.delay(failures, rand::random::<f64>());
                tracing::warn!(controller = %self.controller, namespace = ?key.namespace, name = %key.name, error = %err, failures, ?delay, "reconcile failed; backing off");
                Action::requeue(delay)
            }
        }
    }

    /// Forgets the failures of `obj` after a successful reconcile.
    pub fn on_success<K: Resource>(&self, obj: &K) {
        self.lock().remove(&ObjectKey::of(obj));
    }

    /// Consecutive failures recorded for `key`.
    pub fn failures(&self, key: &ObjectKey) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn record_failure(&self, key: &ObjectKey) -> u32 {
        let mut map = self.lock();
        let n = map.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, u32>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    #[derive(Debug, thiserror::Error)]
    enum E {
        #[error("bad spec")]
        Bad,
        #[error("api down")]
        Down,
    }
    impl Classify for E {
        fn class(&self) -> ErrorClass {
            match self {
                E::Bad => ErrorClass::InvalidSpec,
                E::Down => ErrorClass::Transient,
            }
        }
        fn kind(&self) -> &'static str {
            match self {
                E::Bad => "InvalidSpec",
                E::Down => "KubeApi",
            }
        }
    }

    fn cm(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_within_bounds() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.2,
        };
        // unit 0.5 = no jitter.
        assert_eq!(b.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(b.delay(2, 0.5), Duration::from_secs(2));
        assert_eq!(b.delay(5, 0.5), Duration::from_secs(16));
        assert_eq!(b.delay(7, 0.5), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, 0.5), Duration::from_secs(60));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(3200));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(4800));
        for u in [0.0, 0.3, 0.99] {
            let d = b.delay(20, u);
            assert!(
                d >= Duration::from_secs(48) && d <= Duration::from_secs(72),
                "{d:?}"
            );
        }
    }

    #[test]
    fn invalid_spec_waits_transient_backs_off_and_success_resets() {
        let metrics = crate::metrics::MetricsRegistry::new().reconcile();
        let p = ErrorPolicy::new(
            "test",
            Backoff {
                jitter: 0.0,
                ..Backoff::default()
            },
        )
        .with_metrics(metrics.clone());
        let a = cm("a");
        assert_eq!(p.on_error(&a, &E::Bad), Action::await_change());
        assert_eq!(
            p.on_error(&a, &E::Down),
            Action::requeue(Duration::from_secs(2))
        );
        assert_eq!(
            p.on_error(&a, &E::Down),
            Action::requeue(Duration::from_secs(4))
        );
        assert_eq!(p.failures(&ObjectKey::of(&a)), 3);
        // Other objects are counted separately.
        assert_eq!(
            p.on_error(&cm("b"), &E::Down),
            Action::requeue(Duration::from_secs(1))
        );
        p.on_success(&a);
        assert_eq!(p.failures(&ObjectKey::of(&a)), 0);
        assert_eq!(
            p.on_error(&a, &E::Down),
            Action::requeue(Duration::from_secs(1))
        );
        assert_eq!(metrics.error_count("test", "InvalidSpec"), 1);
        assert_eq!(metrics.error_count("test", "KubeApi"), 4);
    }

    #[test]
    fn kube_errors_are_classified_by_status_code() {
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("x", "y")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert_eq!(classify_kube_error(&api(422)), ErrorClass::InvalidSpec);
        assert_eq!(classify_kube_error(&api(400)), ErrorClass::InvalidSpec);
        assert_eq!(classify_kube_error(&api(409)), ErrorClass::Transient);
        assert_eq!(classify_kube_error(&api(503)), ErrorClass::Transient);
    }
}
