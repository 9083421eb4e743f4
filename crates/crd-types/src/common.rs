//! Types shared by every mlfleet API group: the status condition and its helpers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition as MetaCondition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of a [`Condition`], as in `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell whether the condition holds.
    Unknown,
}

impl ConditionStatus {
    /// The wire form (`"True"`, `"False"`, `"Unknown"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// One observation of an aspect of an object's state; same JSON shape as `metav1.Condition`,
/// so `kubectl wait --for=condition=...` and generic tooling understand it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition in CamelCase, for example `Admitted`, `Running` or `Failed`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Whether the condition holds: True, False or Unknown.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the condition's last transition.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// Human-readable details about the last transition; may be empty.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When the condition last changed status (RFC 3339). Not updated when only the reason
    /// or message changes.
    pub last_transition_time: Time,
    /// The `metadata.generation` the condition was computed from; when it is lower than the
    /// object's current generation the condition is out of date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition with the given type, status, reason and message, transitioning at `now`.
    pub fn new(
        type_: impl Into<String>,
        status: impl Into<ConditionStatus>,
        reason: impl Into<String>,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: Time,
    ) -> Self {
        Self {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
            observed_generation,
        }
    }

    /// Whether the condition's status is True.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Finds the condition of the given type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of the given type exists and is True.
pub fn condition_is_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(Condition::is_true)
}

/// Inserts or replaces the condition of `new.type_`. `lastTransitionTime` is kept from the old
/// condition when the status did not change. Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            if *old == new {
                false
            } else {
                *old = new;
                true
            }
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

impl From<Condition> for MetaCondition {
    fn from(c: Condition) -> Self {
        MetaCondition {
            type_: c.type_,
            status: c.status.as_str().to_owned(),
            reason: c.reason,
            message: c.message,
            last_transition_time: c.last_transition_time,
            observed_generation: c.observed_generation,
        }
    }
}

/// The reference to a Secret in the object's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretReference {
    /// Name of the Secret (in the same namespace as the referring object).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn set_condition_keeps_transition_time_when_status_unchanged() {
        let mut conds = vec![Condition::new(
            "Running",
            true,
            "Started",
            "",
            Some(1),
            at(10),
        )];
        let changed = set_condition(
            &mut conds,
            Condition::new("Running", true, "StillRunning", "epoch 2", Some(2), at(20)),
        );
        assert!(changed);
        assert_eq!(conds[0].last_transition_time, at(10));
        assert_eq!(conds[0].reason, "StillRunning");

        let changed = set_condition(
            &mut conds,
            Condition::new("Running", false, "Finished", "", Some(2), at(30)),
        );
        assert!(changed);
        assert_eq!(conds[0].last_transition_time, at(30));
        assert!(!condition_is_true(&conds, "Running"));
    }

    #[test]
    fn set_condition_reports_no_change_for_identical_condition() {
        let mut conds = vec![Condition::new("Ready", true, "Ok", "", Some(1), at(10))];
        let changed = set_condition(
            &mut conds,
            Condition::new("Ready", true, "Ok", "", Some(1), at(99)),
        );
        assert!(!changed);
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn converts_to_meta_condition() {
        let meta: MetaCondition = Condition::new("Failed", false, "Ok", "m", None, at(1)).into();
        assert_eq!(meta.status, "False");
        assert_eq!(meta.type_, "Failed");
    }
}
