//! Pure leader-election logic: given the current Lease and the time, what to do next.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What a candidate should do with the Lease it just read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create it holding it ourselves.
    Create,
    /// We hold the Lease: renew it.
    Renew,
    /// The Lease has no holder (never held or released): acquire it.
    Acquire,
    /// Another holder's Lease expired (`renewTime + leaseDuration` has passed): take it over.
    Takeover {
        /// The holder whose Lease expired.
        previous: String,
    },
    /// Another holder's Lease is still valid: wait.
    Wait {
        /// The current holder.
        holder: String,
        /// How long until that Lease expires if it is not renewed.
        expires_in: Duration,
    },
}

fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

/// When the Lease held in `spec` expires (renewTime, else acquireTime, plus its duration).
/// `None` when the Lease carries no time at all (treated as expired).
pub fn expiry(spec: &LeaseSpec, default_duration: Duration) -> Option<Timestamp> {
    let last = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let secs = spec
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .map(i64::from)
        .unwrap_or(default_duration.as_secs() as i64);
    last.checked_add(SignedDuration::from_secs(secs)).ok()
}

/// Decides the next step for candidate `identity` at time `now`.
pub fn decide(
    lease: Option<&LeaseSpec>,
    identity: &str,
    now: Timestamp,
    default_duration: Duration,
) -> Decision {
    let Some(spec) = lease else {
        return Decision::Create;
    };
    let Some(current) = holder(spec) else {
        return Decision::Acquire;
    };
    if current == identity {
        return Decision::Renew;
    }
    match expiry(spec, default_duration) {
        Some(exp) if exp > now => Decision::Wait {
            holder: current.to_string(),
            expires_in: Duration::try_from(exp.duration_since(now)).unwrap_or_default(),
        },
        _ => Decision::Takeover {
            previous: current.to_string(),
        },
    }
}

/// The Lease spec to write after `decision` ([`Decision::Wait`] writes nothing and returns
/// the current spec unchanged). Renewals keep acquireTime and transitions; acquisitions and
/// takeovers set acquireTime and count a transition when the holder changes.
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    identity: &str,
    duration: Duration,
    now: Timestamp,
) -> LeaseSpec {
    let base = current.cloned().unwrap_or_default();
    let duration_secs = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
    let transitions = base.lease_transitions.unwrap_or(0);
    match decision {
        Decision::Wait { .. } => base,
        Decision::Renew => LeaseSpec {
            holder_identity: Some(identity.to_string()),
            lease_duration_seconds: Some(duration_secs),
            renew_time: Some(MicroTime(now)),
            acquire_time: base.acquire_time.clone().or(Some(MicroTime(now))),
            ..base
        },
        Decision::Create | Decision::Acquire | Decision::Takeover { .. } => {
            // A transition is a change of holder; the first ever holder is not one.
            let had_holder =
                current.is_some_and(|s| base.lease_transitions.is_some() || holder(s).is_some());
            LeaseSpec {
                holder_identity: Some(identity.to_string()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(if had_holder { transitions + 1 } else { 0 }),
                ..base
            }
        }
    }
}

/// The Lease spec that releases a Lease we hold: no holder, so the next candidate acquires
/// it at once instead of waiting for expiry.
pub fn released_spec(current: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        renew_time: Some(MicroTime(now)),
        acquire_time: Some(MicroTime(now)),
        ..current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn held(by: &str, renewed: i64, duration: i32, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(by.into()),
            renew_time: Some(MicroTime(ts(renewed))),
            acquire_time: Some(MicroTime(ts(renewed - 100))),
            lease_duration_seconds: Some(duration),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    #[test]
    fn missing_lease_is_created_without_a_transition() {
        assert_eq!(decide(None, "a", ts(0), D), Decision::Create);
        let spec = next_spec(None, &Decision::Create, "a", D, ts(0));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.renew_time, Some(MicroTime(ts(0))));
    }

    #[test]
    fn own_lease_is_renewed_keeping_acquire_time_and_transitions() {
        let cur = held("a", 0, 15, 4);
        // Even past expiry our own lease is renewed (nobody took it).
        for now in [1, 14, 20] {
            assert_eq!(decide(Some(&cur), "a", ts(now), D), Decision::Renew);
        }
        let next = next_spec(Some(&cur), &Decision::Renew, "a", D, ts(5));
        assert_eq!(next.renew_time, Some(MicroTime(ts(5))));
        assert_eq!(next.acquire_time, cur.acquire_time);
        assert_eq!(next.lease_transitions, Some(4));
    }

    #[test]
    fn valid_foreign_lease_means_wait_until_expiry() {
        let cur = held("b", 0, 10, 1);
        assert_eq!(
            decide(Some(&cur), "a", ts(4), D),
            Decision::Wait {
                holder: "b".into(),
                expires_in: Duration::from_secs(6)
            }
        );
        let d = decide(Some(&cur), "a", ts(4), D);
        assert_eq!(next_spec(Some(&cur), &d, "a", D, ts(4)), cur);
    }

    #[test]
    fn expired_foreign_lease_is_taken_over_counting_a_transition() {
        let cur = held("b", 0, 10, 1);
        // Exactly at renewTime + duration the lease is expired.
        let d = decide(Some(&cur), "a", ts(10), D);
        assert_eq!(
            d,
            Decision::Takeover {
                previous: "b".into()
            }
        );
        let next = next_spec(Some(&cur), &d, "a", D, ts(10));
        assert_eq!(next.holder_identity.as_deref(), Some("a"));
        assert_eq!(next.lease_transitions, Some(2));
        assert_eq!(next.acquire_time, Some(MicroTime(ts(10))));
        assert_eq!(next.lease_duration_seconds, Some(15));
    }

    #[test]
    fn the_lease_own_duration_wins_over_the_default() {
        let cur = held("b", 0, 40, 0);
        assert!(matches!(
            decide(Some(&cur), "a", ts(30), D),
            Decision::Wait { .. }
        ));
        let mut no_duration = cur.clone();
        no_duration.lease_duration_seconds = None;
        assert!(matches!(
            decide(Some(&no_duration), "a", ts(30), D),
            Decision::Takeover { .. }
        ));
    }

    #[test]
    fn released_or_timeless_leases_are_acquired_at_once() {
        let cur = held("a", 0, 15, 3);
        let released = released_spec(&cur, ts(1));
        assert_eq!(decide(Some(&released), "b", ts(1), D), Decision::Acquire);
        let next = next_spec(Some(&released), &Decision::Acquire, "b", D, ts(1));
        assert_eq!(next.lease_transitions, Some(4));
        let mut empty_holder = cur.clone();
        empty_holder.holder_identity = Some(String::new());
        assert_eq!(
            decide(Some(&empty_holder), "b", ts(1), D),
            Decision::Acquire
        );
        let timeless = LeaseSpec {
            holder_identity: Some("b".into()),
            ..Default::default()
        };
        assert!(matches!(
            decide(Some(&timeless), "a", ts(0), D),
            Decision::Takeover { .. }
        ));
    }
}
