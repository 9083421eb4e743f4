//! Lifecycle phases.

use std::fmt;
use std::str::FromStr;

/// Phase of a TrainingJob (`status.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Accepted, not yet looked at by admission.
    Pending,
    /// Waiting in its queue for a gang admission.
    Queued,
    /// Admitted; workers are being created, scheduled or started.
    Initializing,
    /// Every worker is running.
    Running,
    /// An attempt failed; a new one starts after the backoff.
    Restarting,
    /// Suspended by the user; holds no resources.
    Suspended,
    /// Every worker finished successfully.
    Completed,
    /// Gave up (permanent error, backoff limit, deadline, invalid spec).
    Failed,
}

impl Phase {
    /// All phases, in lifecycle order.
    pub const ALL: [Phase; 8] = [
        Phase::Pending,
        Phase::Queued,
        Phase::Initializing,
        Phase::Running,
        Phase::Restarting,
        Phase::Suspended,
        Phase::Completed,
        Phase::Failed,
    ];
    /// Name as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Queued => "Queued",
            Phase::Initializing => "Initializing",
            Phase::Running => "Running",
            Phase::Restarting => "Restarting",
            Phase::Suspended => "Suspended",
            Phase::Completed => "Completed",
            Phase::Failed => "Failed",
        }
    }
    /// Completed or Failed: nothing more happens except TTL cleanup.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown phase {s:?}"))
    }
}
