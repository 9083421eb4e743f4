//! Status conditions compatible with `metav1.Condition`: set/merge so that
//! `lastTransitionTime` changes only when the status changes, with `observedGeneration`.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Condition status `"True"`.
pub const TRUE: &str = "True";
/// Condition status `"False"`.
pub const FALSE: &str = "False";
/// Condition status `"Unknown"`.
pub const UNKNOWN: &str = "Unknown";

/// A condition to set, without the transition time (which [`set_condition`] decides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCondition {
    /// Condition type, e.g. `Ready`, `Degraded`.
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The `.metadata.generation` the controller acted on.
    pub observed_generation: Option<i64>,
}

impl NewCondition {
    /// A condition of `type_` with a boolean status.
    pub fn new(
        type_: impl Into<String>,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
        observed_generation: Option<i64>,
    ) -> Self {
        Self {
            type_: type_.into(),
            status: if status { TRUE } else { FALSE }.to_string(),
            reason: reason.into(),
            message: message.into(),
            observed_generation,
        }
    }
}

/// Sets `new` in `conditions` at time `now`: adds it if absent, otherwise updates reason,
/// message and observedGeneration, moving `lastTransitionTime` to `now` only when the status
/// changed. Returns whether anything changed (so callers can skip a status write).
pub fn set_condition(conditions: &mut Vec<Condition>, new: NewCondition, now: Timestamp) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => {
            conditions.push(Condition {
                type_: new.type_,
                status: new.status,
                reason: new.reason,
                message: new.message,
                observed_generation: new.observed_generation,
                last_transition_time: Time(now),
            });
            true
        }
        Some(existing) => {
            let before = existing.clone();
            if existing.status != new.status {
                existing.last_transition_time = Time(now);
                existing.status = new.status;
            }
            existing.reason = new.reason;
            existing.message = new.message;
            existing.observed_generation = new.observed_generation;
            *existing != before
        }
    }
}

/// Merges `updates` into `conditions` (each as [`set_condition`]); returns whether any changed.
pub fn merge_conditions(
    conditions: &mut Vec<Condition>,
    updates: impl IntoIterator<Item = NewCondition>,
    now: Timestamp,
) -> bool {
    updates.into_iter().fold(false, |changed, c| {
        set_condition(conditions, c, now) | changed
    })
}

/// The condition of `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == TRUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut cs = Vec::new();
        assert!(set_condition(
            &mut cs,
            NewCondition::new("Ready", false, "Pending", "waiting", Some(1)),
            t(0)
        ));
        assert_eq!(cs[0].last_transition_time, Time(t(0)));

        // Same status, new reason/message/generation: updated, time kept.
        assert!(set_condition(
            &mut cs,
            NewCondition::new("Ready", false, "Queued", "in queue", Some(2)),
            t(5)
        ));
        assert_eq!(cs[0].last_transition_time, Time(t(0)));
        assert_eq!(cs[0].reason, "Queued");
        assert_eq!(cs[0].observed_generation, Some(2));

        // Identical: no change reported, nothing moves.
        assert!(!set_condition(
            &mut cs,
            NewCondition::new("Ready", false, "Queued", "in queue", Some(2)),
            t(9)
        ));
        assert_eq!(cs[0].last_transition_time, Time(t(0)));

        // Status flips: time moves.
        assert!(set_condition(
            &mut cs,
            NewCondition::new("Ready", true, "Running", "ok", Some(2)),
            t(10)
        ));
        assert_eq!(cs[0].last_transition_time, Time(t(10)));
        assert_eq!(cs[0].status, TRUE);
        assert_eq!(cs.len(), 1);
        assert!(is_true(&cs, "Ready"));
    }

    #[test]
    fn merge_keeps_other_types_and_adds_new_ones() {
        let mut cs = Vec::new();
        set_condition(
            &mut cs,
            NewCondition::new("Ready", true, "Running", "", Some(1)),
            t(0),
        );
        let changed = merge_conditions(
            &mut cs,
            [
                NewCondition::new("Ready", true, "Running", "", Some(1)),
                NewCondition::new(
                    "Degraded",
                    true,
                    "GpuAgentUnavailable",
                    "falling back",
                    Some(1),
                ),
            ],
            t(3),
        );
        assert!(changed);
        assert_eq!(cs.len(), 2);
        assert_eq!(find(&cs, "Ready").unwrap().last_transition_time, Time(t(0)));
        assert_eq!(
            find(&cs, "Degraded").unwrap().last_transition_time,
            Time(t(3))
        );
        assert!(!is_true(&cs, "Missing"));
        assert!(!merge_conditions(
            &mut cs,
            [NewCondition::new("Ready", true, "Running", "", Some(1))],
            t(4)
        ));
    }
}
