//! Exit-code classification and retry backoff.

use std::time::Duration;

use crate::spec::RetryBackoff;

/// What a worker's exit code means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// Exit 0.
    Success,
    /// 1-127: the program itself failed (bad code, bad data) — retrying will not help.
    Permanent,
    /// 128-255 (killed by a signal: OOM kill 137, SIGTERM 143, …) and anything
    /// else: infrastructure trouble — retry from the last checkpoint.
    Retryable,
}

/// Classifies a container exit code like Kubeflow's ExitCode restart policy.
pub fn classify_exit_code(code: i32) -> ExitClass {
    match code {
        0 => ExitClass::Success,
        1..=127 => ExitClass::Permanent,
        _ => ExitClass::Retryable,
    }
}

/// Finds "exit code N" in a Job controller message.
pub fn exit_code_in(message: &str) -> Option<i32> {
    let idx = message.find("exit code ")?;
    let rest = &message[idx + "exit code ".len()..];
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// Classifies a failed attempt from the Job's `Failed` condition. The Job's pod
/// failure policy fails it with reason `PodFailurePolicy` exactly for the
/// permanent exit codes; every other failure reason (backoff limit reached by a
/// signal/kill/eviction-less failure) is retryable.
pub fn classify_job_failure(reason: &str, message: &str) -> ExitClass {
    if reason == "PodFailurePolicy" {
        return match exit_code_in(message) {
            Some(code) => match classify_exit_code(code) {
                ExitClass::Success => ExitClass::Permanent,
                c => c,
            },
            None => ExitClass::Permanent,
        };
    }
    ExitClass::Retryable
}

/// Delay before retry number `restarts` (1-based): initial × 2^(restarts-1), capped.
pub fn backoff_delay(backoff: &RetryBackoff, restarts: u32) -> Duration {
    let exp = restarts.saturating_sub(1).min(30);
    let secs = backoff
        .initial_seconds
        .saturating_mul(1u64 << exp)
        .min(backoff.max_seconds.max(backoff.initial_seconds));
    Duration::from_secs(secs)
}
