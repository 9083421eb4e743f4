//! GPU health: a pure state machine fed with readings, events and backend outcomes.
//!
//! A GPU is unhealthy while any of these holds:
//! - a critical XID was reported (application-caused XIDs are ignored, as NVIDIA's
//!   device plugin does; the list is configurable). The mark stays until the agent
//!   restarts, or for `xid_recovery` after the last such XID when that is set;
//! - its volatile uncorrectable ECC count is above zero, or an uncorrectable ECC
//!   event arrived and no reading since has shown the counter back at zero;
//! - the backend cannot read the device (fallen off the bus);
//! - the backend as a whole failed its last read (NVML lost);
//! - waiting for device events failed `event_failure_threshold` times in a row, so
//!   the node's GPUs are not silently reported healthy while unmonitored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use crate::backend::{GpuEvent, NodeReading};

/// XIDs that an application causes (bad kernel, illegal address, ...) rather than
/// the hardware; the same default list NVIDIA's device plugin ignores.
pub const DEFAULT_IGNORED_XIDS: &[u64] = &[13, 31, 43, 45, 68];

/// Tunables of the health state machine.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthPolicy {
    /// XIDs that do not make a GPU unhealthy.
    pub ignored_xids: BTreeSet<u64>,
    /// Consecutive failed event waits after which every GPU is unhealthy.
    pub event_failure_threshold: u32,
    /// How long after its last critical XID a GPU is healthy again; `None` keeps
    /// it unhealthy until the agent restarts (after the GPU was reset).
    pub xid_recovery: Option<Duration>,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            ignored_xids: DEFAULT_IGNORED_XIDS.iter().copied().collect(),
            event_failure_threshold: 3,
            xid_recovery: None,
        }
    }
}

/// Why a GPU is unhealthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnhealthyReason {
    /// A critical XID was reported.
    CriticalXid {
        /// The most recent critical XID.
        xid: u64,
    },
    /// Uncorrectable ECC errors.
    UncorrectableEcc {
        /// Volatile count, when the counter is readable.
        count: Option<u64>,
    },
    /// The backend cannot read this device.
    DeviceUnreachable {
        /// Backend error text.
        message: String,
    },
    /// The backend as a whole failed (NVML lost or not loaded).
    BackendUnavailable {
        /// Backend error text.
        message: String,
    },
    /// Device events could not be watched.
    EventMonitoringFailed {
        /// Consecutive failed waits.
        failures: u32,
    },
}

impl UnhealthyReason {
    /// CamelCase code for status and gRPC.
    pub fn code(&self) -> &'static str {
        match self {
            UnhealthyReason::CriticalXid { .. } => "CriticalXid",
            UnhealthyReason::UncorrectableEcc { .. } => "UncorrectableEcc",
            UnhealthyReason::DeviceUnreachable { .. } => "DeviceUnreachable",
            UnhealthyReason::BackendUnavailable { .. } => "BackendUnavailable",
            UnhealthyReason::EventMonitoringFailed { .. } => "EventMonitoringFailed",
        }
    }
}

impl fmt::Display for UnhealthyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnhealthyReason::CriticalXid { xid } => write!(f, "critical XID {xid} reported"),
            UnhealthyReason::UncorrectableEcc { count: Some(n) } => {
                write!(f, "{n} uncorrectable ECC errors")
            }
            UnhealthyReason::UncorrectableEcc { count: None } => {
                write!(f, "uncorrectable ECC error reported")
            }
            UnhealthyReason::DeviceUnreachable { message } => {
                write!(f, "device unreachable: {message}")
            }
            UnhealthyReason::BackendUnavailable { message } => {
                write!(f, "GPU backend unavailable: {message}")
            }
            // The count is left out so that status text stays stable while failing.
            UnhealthyReason::EventMonitoringFailed { .. } => {
                write!(f, "GPU event monitoring is failing")
            }
        }
    }
}

/// Health of one GPU at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuHealth {
    /// True when no reason applies.
    pub healthy: bool,
    /// Every reason that applies, most specific first.
    pub reasons: Vec<UnhealthyReason>,
}

impl GpuHealth {
    /// One line for status messages: the reasons joined, or `healthy`.
    pub fn summary(&self) -> String {
        if self.healthy {
            "healthy".to_owned()
        } else {
            self.reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

#[derive(Clone, Debug, Default)]
struct GpuState {
    critical_xid: Option<(u64, Instant)>,
    last_xid: Option<u64>,
    ecc_count: Option<u64>,
    ecc_event_latched: bool,
    access_error: Option<String>,
}

/// Tracks health of every GPU on the node.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    policy: HealthPolicy,
    gpus: BTreeMap<String, GpuState>,
    wait_failures: u32,
    backend_error: Option<String>,
}

impl HealthTracker {
    /// A tracker with no GPUs known yet.
    pub fn new(policy: HealthPolicy) -> Self {
        HealthTracker {
            policy,
            gpus: BTreeMap::new(),
            wait_failures: 0,
            backend_error: None,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// A successful read: the backend is back, per-device facts are refreshed and
    /// GPUs no longer present are forgotten.
    pub fn observe_reading(&mut self, reading: &NodeReading) {
        self.backend_error = None;
        let present: BTreeSet<&str> = reading.gpus.iter().map(|g| g.uuid.as_str()).collect();
        self.gpus.retain(|uuid, _| present.contains(uuid.as_str()));
        for gpu in &reading.gpus {
            let state = self.gpus.entry(gpu.uuid.clone()).or_default();
            state.access_error = gpu.access_error.clone();
            if gpu.access_error.is_none() {
                let uncorrected = gpu.ecc.map(|e| e.volatile_uncorrected);
                state.ecc_count = uncorrected;
                if uncorrected == Some(0) {
                    // The counter is readable and clean: a reset cleared it.
                    state.ecc_event_latched = false;
                }
            }
        }
    }

    /// A read that failed as a whole.
    pub fn observe_backend_failure(&mut self, message: impl Into<String>) {
        self.backend_error = Some(message.into());
    }

    /// A device event. Returns true when it changed some GPU's health.
    pub fn observe_event(&mut self, event: &GpuEvent, now: Instant) -> bool {
        match event {
            GpuEvent::Xid { uuid, xid } => {
                let state = self.gpus.entry(uuid.clone()).or_default();
                state.last_xid = Some(*xid);
                if self.policy.ignored_xids.contains(xid) {
                    return false;
                }
                let was = state.critical_xid.is_some();
                state.critical_xid = Some((*xid, now));
                !was
            }
            GpuEvent::UncorrectableEcc { uuid } => {
                let state = self.gpus.entry(uuid.clone()).or_default();
                let was = state.ecc_event_latched;
                state.ecc_event_latched = true;
                !was
            }
        }
    }

    /// An event wait that returned (with or without events).
    pub fn observe_wait_ok(&mut self) {
        self.wait_failures = 0;
    }

    /// An event wait that failed.
    pub fn observe_wait_failure(&mut self) {
        self.wait_failures = self.wait_failures.saturating_add(1);
    }

    /// The last XID seen on a GPU, critical or not (for the DCGM XID gauge).
    pub fn last_xid(&self, uuid: &str) -> Option<u64> {
        self.gpus.get(uuid).and_then(|s| s.last_xid)
    }

    /// Health of one GPU at `now`.
    pub fn health(&self, uuid: &str, now: Instant) -> GpuHealth {
        let mut reasons = Vec::new();
        if let Some(state) = self.gpus.get(uuid) {
            if let Some((xid, at)) = state.critical_xid {
                let expired = self
                    .policy
                    .xid_recovery
                    .is_some_and(|d| now.saturating_duration_since(at) >= d);
                if !expired {
                    reasons.push(UnhealthyReason::CriticalXid { xid });
                }
            }
            let ecc_count = state.ecc_count.filter(|n| *n > 0);
            if ecc_count.is_some() || state.ecc_event_latched {
                reasons.push(UnhealthyReason::UncorrectableEcc { count: ecc_count });
            }
            if let Some(message) = &state.access_error {
                reasons.push(UnhealthyReason::DeviceUnreachable {
                    message: message.clone(),
                });
            }
        }
        if let Some(message) = &self.backend_error {
            reasons.push(UnhealthyReason::BackendUnavailable {
                message: message.clone(),
            });
        }
        if self.wait_failures >= self.policy.event_failure_threshold.max(1) {
            reasons.push(UnhealthyReason::EventMonitoringFailed {
                failures: self.wait_failures,
            });
        }
        GpuHealth {
            healthy: reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{EccCounters, GpuReading};

    fn reading(gpus: &[(&str, Option<u64>, Option<&str>)]) -> NodeReading {
        NodeReading {
            driver_version: "550.54.15".into(),
            cuda_version: None,
            gpus: gpus
                .iter()
                .enumerate()
                .map(|(i, (uuid, ecc, err))| GpuReading {
                    index: i as u32,
                    uuid: (*uuid).into(),
                    name: "GPU".into(),
                    ecc: ecc.map(|n| EccCounters {
                        volatile_uncorrected: n,
                        aggregate_uncorrected: n,
                        ..EccCounters::default()
                    }),
                    access_error: err.map(str::to_owned),
                    ..GpuReading::default()
                })
                .collect(),
        }
    }

    fn xid(uuid: &str, xid: u64) -> GpuEvent {
        GpuEvent::Xid {
            uuid: uuid.into(),
            xid,
        }
    }

    fn tracker() -> (HealthTracker, Instant) {
        let mut t = HealthTracker::new(HealthPolicy::default());
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", Some(0), None)]));
        (t, Instant::now())
    }

    #[test]
    fn clean_reading_is_healthy() {
        let (t, now) = tracker();
        assert!(t.health("a", now).healthy);
        assert!(t.health("b", now).healthy);
        assert_eq!(t.health("a", now).summary(), "healthy");
    }

    #[test]
    fn critical_xid_makes_only_that_gpu_unhealthy_and_latches() {
        let (mut t, now) = tracker();
        assert!(t.observe_event(&xid("a", 79), now));
        let h = t.health("a", now);
        assert!(!h.healthy);
        assert_eq!(h.reasons, vec![UnhealthyReason::CriticalXid { xid: 79 }]);
        assert!(t.health("b", now).healthy);
        // Still unhealthy much later, and after clean readings.
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", Some(0), None)]));
        assert!(!t.health("a", now + Duration::from_secs(86_400)).healthy);
        // A second XID does not count as a new transition.
        assert!(!t.observe_event(&xid("a", 48), now));
        assert_eq!(t.last_xid("a"), Some(48));
    }

    #[test]
    fn application_xids_are_ignored_but_remembered() {
        let (mut t, now) = tracker();
        for x in DEFAULT_IGNORED_XIDS {
            assert!(!t.observe_event(&xid("a", *x), now));
            assert!(t.health("a", now).healthy, "xid {x}");
        }
        assert_eq!(t.last_xid("a"), Some(68));
    }

    #[test]
    fn ignore_list_is_configurable() {
        let policy = HealthPolicy {
            ignored_xids: [79].into_iter().collect(),
            ..HealthPolicy::default()
        };
        let mut t = HealthTracker::new(policy);
        let now = Instant::now();
        t.observe_reading(&reading(&[("a", None, None)]));
        t.observe_event(&xid("a", 79), now);
        assert!(t.health("a", now).healthy);
        t.observe_event(&xid("a", 13), now);
        assert!(
            !t.health("a", now).healthy,
            "13 is critical once not ignored"
        );
    }

    #[test]
    fn xid_recovery_window_clears_the_mark() {
        let policy = HealthPolicy {
            xid_recovery: Some(Duration::from_secs(60)),
            ..HealthPolicy::default()
        };
        let mut t = HealthTracker::new(policy);
        let now = Instant::now();
        t.observe_reading(&reading(&[("a", None, None)]));
        t.observe_event(&xid("a", 79), now);
        assert!(!t.health("a", now + Duration::from_secs(59)).healthy);
        assert!(t.health("a", now + Duration::from_secs(60)).healthy);
    }

    #[test]
    fn uncorrectable_ecc_count_tracks_the_counter() {
        let (mut t, now) = tracker();
        t.observe_reading(&reading(&[("a", Some(2), None), ("b", Some(0), None)]));
        assert_eq!(
            t.health("a", now).reasons,
            vec![UnhealthyReason::UncorrectableEcc { count: Some(2) }]
        );
        // Counter back at zero after a GPU reset: healthy again.
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", Some(0), None)]));
        assert!(t.health("a", now).healthy);
    }

    #[test]
    fn ecc_event_latches_until_a_clean_counter() {
        let (mut t, now) = tracker();
        assert!(t.observe_event(&GpuEvent::UncorrectableEcc { uuid: "b".into() }, now));
        assert!(!t.health("b", now).healthy);
        // Counter unreadable: stays latched.
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", None, None)]));
        assert!(!t.health("b", now).healthy);
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", Some(0), None)]));
        assert!(t.health("b", now).healthy);
    }

    #[test]
    fn unreachable_device_recovers_when_readable() {
        let (mut t, now) = tracker();
        t.observe_reading(&reading(&[
            ("a", None, Some("GPU is lost")),
            ("b", Some(0), None),
        ]));
        let h = t.health("a", now);
        assert_eq!(h.reasons[0].code(), "DeviceUnreachable");
        assert!(h.summary().contains("GPU is lost"));
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", Some(0), None)]));
        assert!(t.health("a", now).healthy);
    }

    #[test]
    fn backend_failure_marks_every_gpu_until_next_read() {
        let (mut t, now) = tracker();
        t.observe_backend_failure("NVML uninitialized");
        for g in ["a", "b"] {
            assert_eq!(
                t.health(g, now).reasons,
                vec![UnhealthyReason::BackendUnavailable {
                    message: "NVML uninitialized".into()
                }]
            );
        }
        t.observe_reading(&reading(&[("a", Some(0), None), ("b", Some(0), None)]));
        assert!(t.health("a", now).healthy);
    }

    #[test]
    fn repeated_event_wait_failures_mark_all_gpus() {
        let (mut t, now) = tracker();
        t.observe_wait_failure();
        t.observe_wait_failure();
        assert!(t.health("a", now).healthy, "below threshold");
        t.observe_wait_failure();
        for g in ["a", "b"] {
            assert_eq!(
                t.health(g, now).reasons,
                vec![UnhealthyReason::EventMonitoringFailed { failures: 3 }]
            );
        }
        t.observe_wait_ok();
        assert!(t.health("a", now).healthy);
    }

    #[test]
    fn gone_gpus_are_forgotten() {
        let (mut t, now) = tracker();
        t.observe_event(&xid("b", 79), now);
        t.observe_reading(&reading(&[("a", Some(0), None)]));
        assert_eq!(t.last_xid("b"), None);
        assert!(t.health("b", now).healthy);
    }

    #[test]
    fn reasons_accumulate() {
        let (mut t, now) = tracker();
        t.observe_event(&xid("a", 94), now);
        t.observe_reading(&reading(&[("a", Some(1), None), ("b", Some(0), None)]));
        let codes: Vec<_> = t
            .health("a", now)
            .reasons
            .iter()
            .map(|r| r.code())
            .collect();
        assert_eq!(codes, vec!["CriticalXid", "UncorrectableEcc"]);
    }
}
