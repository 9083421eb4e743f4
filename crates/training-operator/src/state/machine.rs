//! One step of the state machine.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::failure::{ExitClass, backoff_delay, classify_job_failure};

use super::phase::Phase;
use crate::admission::Waiting;
use crate::build::Attempt;
use crate::spec::JobPlan;

/// How an attempt's Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// `Complete` condition.
    Complete,
    /// `Failed` condition with the Job controller's reason and message.
    Failed {
        /// e.g. `PodFailurePolicy`, `BackoffLimitExceeded`.
        reason: String,
        /// Detail.
        message: String,
    },
}

/// The observed indexed Job, reduced to what the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildJob {
    /// Attempt annotation.
    pub attempt: u32,
    /// `spec.suspend`.
    pub suspended: bool,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Active pods.
    pub active: u32,
    /// Ready pods.
    pub ready: u32,
    /// Succeeded pods.
    pub succeeded: u32,
    /// Failed pods.
    pub failed: u32,
    /// Terminal condition, if any.
    pub finished: Option<Finish>,
}

/// What the status said before this step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prior {
    /// Previous phase (`None` for a new object).
    pub phase: Option<Phase>,
    /// Current attempt number (0 before the first Job).
    pub attempt: u32,
    /// Failed attempts retried so far.
    pub restarts: u32,
    /// Holds a gang admission.
    pub admitted: bool,
    /// Gang size of the admission.
    pub workers: Option<u32>,
    /// First time workers were started.
    pub start_time: Option<Timestamp>,
    /// When the next attempt may start (set while Restarting).
    pub next_retry_time: Option<Timestamp>,
    /// When the job finished.
    pub completion_time: Option<Timestamp>,
    /// Latest checkpoint reported by the workers.
    pub last_checkpoint: Option<String>,
    /// Reason and message of the previous phase (kept for terminal phases).
    pub reason: String,
    /// Message of the previous phase.
    pub message: String,
}

/// The admission loop's current word on this job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdmissionView {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// Admit with this gang size.
    Admit(u32),
    /// Keep waiting.
    Wait(Waiting),
    /// Give the admission up (preempted for higher-priority work).
    Preempt(String),
}

/// Everything one step looks at.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    /// Validated spec.
    pub plan: &'a JobPlan,
    /// `spec.suspend`.
    pub suspend: bool,
    /// Prior status.
    pub prior: Prior,
    /// The child Job, if it exists.
    pub job: Option<ChildJob>,
    /// Admission decision.
    pub admission: AdmissionView,
    /// Current time.
    pub now: Timestamp,
}

/// The single child-side action of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildAction {
    /// Nothing to do.
    None,
    /// Apply ConfigMap, Service, PVC and create the Job for this attempt.
    Create(Attempt),
    /// Set `spec.suspend: false` on the existing Job.
    Unsuspend,
    /// Delete the Job (stale attempt, suspend, preemption, deadline) with its pods.
    DeleteJob,
}

/// Result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Next phase.
    pub phase: Phase,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Attempt number after this step.
    pub attempt: u32,
    /// Restarts after this step.
    pub restarts: u32,
    /// Holds a gang admission after this step.
    pub admitted: bool,
    /// Gang size.
    pub workers: u32,
    /// Queue position while waiting.
    pub queue_position: Option<u32>,
    /// Children of the current attempt exist (or are being created now).
    pub resources_created: bool,
    /// Child action.
    pub action: ChildAction,
    /// Start time after this step.
    pub start_time: Option<Timestamp>,
    /// Earliest start of the next attempt after this step.
    pub next_retry_time: Option<Timestamp>,
    /// Completion time after this step.
    pub completion_time: Option<Timestamp>,
    /// Look again after this long (deadline, TTL, backoff) even without events.
    pub requeue_after: Option<Duration>,
    /// TTL expired: delete the TrainingJob.
    pub delete_self: bool,
}

fn until(now: Timestamp, at: Timestamp) -> Duration {
    let d: SignedDuration = at.duration_since(now);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// Computes the next step.
pub fn step(o: &Observation<'_>) -> Step {
    let p = &o.prior;
    let plan = o.plan;
    let mut s = Step {
        phase: p.phase.unwrap_or(Phase::Pending),
        reason: p.reason.clone(),
        message: p.message.clone(),
        attempt: p.attempt,
        restarts: p.restarts,
        admitted: p.admitted,
        workers: p.workers.unwrap_or(plan.workers),
        queue_position: None,
        resources_created: o
            .job
            .as_ref()
            .is_some_and(|j| j.attempt >= p.attempt && !j.deleting),
        action: ChildAction::None,
        start_time: p.start_time,
        next_retry_time: p.next_retry_time,
        completion_time: p.completion_time,
        requeue_after: None,
        delete_self: false,
    };

    // Finished: only TTL, and making sure nothing of a failed attempt keeps running.
    if s.phase.is_terminal() {
        s.admitted = false;
        if let Some(j) = &o.job
            && j.finished.is_none()
            && !j.deleting
        {
            s.action = ChildAction::DeleteJob;
        }
        if let (Some(ttl), Some(done)) = (plan.ttl_seconds_after_finished, p.completion_time) {
            let at = plus(done, Duration::from_secs(ttl));
            if o.now >= at {
                s.delete_self = true;
            } else {
                s.requeue_after = Some(until(o.now, at));
            }
        }
        return s;
    }

    let fail = |s: &mut Step, reason: &str, message: String| {
        s.phase = Phase::Failed;
        s.reason = reason.to_string();
        s.message = message;
        s.admitted = false;
        s.completion_time = Some(o.now);
        if let Some(ttl) = plan.ttl_seconds_after_finished {
            s.requeue_after = Some(Duration::from_secs(ttl));
        }
    };

    // Active deadline, counted from the first start.
    if let (Some(limit), Some(start)) = (plan.active_deadline_seconds, p.start_time) {
        let at = plus(start, Duration::from_secs(limit));
        if o.now >= at {
            fail(
                &mut s,
                "DeadlineExceeded",
                format!("ran longer than activeDeadlineSeconds={limit}"),
            );
            if o.job
                .as_ref()
                .is_some_and(|j| !j.deleting && j.finished.is_none())
            {
                s.action = ChildAction::DeleteJob;
            }
            return s;
        }
        s.requeue_after = Some(until(o.now, at));
    }

    // A Job of an older attempt: remove it before anything else happens.
    let mut job = o.job.clone();
    if let Some(j) = &job {
        if j.attempt < s.attempt {
            if !j.deleting {
                s.action = ChildAction::DeleteJob;
            }
            s.resources_created = false;
            s.requeue_after = min_opt(s.requeue_after, Some(Duration::from_secs(2)));
            return s;
        }
        if j.attempt > s.attempt {
            // Status was lost (restore, manual edit): adopt the Job's attempt.
            s.attempt = j.attempt;
        }
        if j.deleting {
            s.resources_created = false;
            return s;
        }
    }

    // Suspend: drop the attempt (and the admission); resuming starts a new attempt.
    if o.suspend {
        if job.as_ref().is_some_and(|j| j.finished.is_none()) {
            s.attempt += 1;
            s.action = ChildAction::DeleteJob;
        }
        s.phase = Phase::Suspended;
        s.reason = "SuspendedByUser".into();
        s.message = "spec.suspend is true; workers stopped, admission released".into();
        s.admitted = false;
        s.resources_created = false;
        return s;
    }

    if let Some(j) = &job
        && let Some(finish) = &j.finished
    {
        match finish {
            Finish::Complete => {
                s.phase = Phase::Completed;
                s.reason = "JobSucceeded".into();
                s.message = format!("all {} workers completed", s.workers);
                s.admitted = false;
                s.completion_time = Some(o.now);
                if let Some(ttl) = plan.ttl_seconds_after_finished {
                    s.requeue_after = Some(Duration::from_secs(ttl));
                }
                return s;
            }
            Finish::Failed { reason, message } => match classify_job_failure(reason, message) {
                ExitClass::Permanent | ExitClass::Success => {
                    let msg = format!(
                        "attempt {} failed with a permanent error: {message}",
                        s.attempt
                    );
                    fail(&mut s, "PermanentError", msg);
                    return s;
                }
                ExitClass::Retryable if s.restarts >= plan.backoff_limit => {
                    let msg = format!(
                        "attempt {} failed ({reason}: {message}); {} retries used of backoffLimit {}",
                        s.attempt, s.restarts, plan.backoff_limit
                    );
                    fail(&mut s, "BackoffLimitExceeded", msg);
                    return s;
                }
                ExitClass::Retryable => {
                    s.restarts += 1;
                    s.attempt += 1;
                    s.phase = Phase::Restarting;
                    s.reason = "AttemptFailed".into();
                    let delay = backoff_delay(&plan.retry_backoff, s.restarts);
                    s.message = format!(
                        "attempt {} failed ({reason}); retry {} of {} in {}s from {}",
                        s.attempt - 1,
                        s.restarts,
                        plan.backoff_limit,
                        delay.as_secs(),
                        p.last_checkpoint.as_deref().unwrap_or("the beginning")
                    );
                    s.next_retry_time = Some(plus(o.now, delay));
                    s.action = ChildAction::DeleteJob;
                    s.resources_created = false;
                    s.requeue_after = min_opt(s.requeue_after, Some(delay));
                    return s;
                }
            },
        }
    }

    // Preempted for higher-priority work: stop this attempt, go back to the queue.
    if let AdmissionView::Preempt(by) = &o.admission
        && s.admitted
    {
        s.attempt += 1;
        s.admitted = false;
        s.phase = Phase::Queued;
        s.reason = "Preempted".into();
        s.message =
            format!("preempted by {by}; resumes from the latest checkpoint when admitted again");
        if job.is_some() {
            s.action = ChildAction::DeleteJob;
        }
        s.resources_created = false;
        return s;
    }

    // Admission.
    match &o.admission {
        AdmissionView::Admit(w) if !s.admitted => {
            s.admitted = true;
            s.workers = *w;
        }
        _ => {}
    }
    match job.take() {
        None => {
            if s.phase == Phase::Restarting
                && let Some(at) = p.next_retry_time
                && o.now < at
            {
                s.requeue_after = min_opt(s.requeue_after, Some(until(o.now, at)));
                return s;
            }
            let attempt_no = s.attempt;
            s.action = ChildAction::Create(Attempt {
                number: attempt_no,
                resume_from: p.last_checkpoint.clone(),
                suspend: !s.admitted,
                workers: s.workers,
            });
            s.resources_created = true;
            if s.admitted {
                s.phase = Phase::Initializing;
                s.reason = "CreatingWorkers".into();
                s.message = format!(
                    "admitted; creating {} workers (attempt {attempt_no})",
                    s.workers
                );
                s.start_time.get_or_insert(o.now);
            } else {
                queued(&mut s, &o.admission);
            }
        }
        Some(j) => {
            if !s.admitted {
                queued(&mut s, &o.admission);
                return s;
            }
            if j.suspended {
                s.action = ChildAction::Unsuspend;
            }
            s.start_time.get_or_insert(o.now);
            if !j.suspended
                && j.ready + j.succeeded >= s.workers
                && j.active + j.succeeded >= s.workers
            {
                s.phase = Phase::Running;
                s.reason = "AllWorkersRunning".into();
                s.message = format!(
                    "{} of {} workers running (attempt {})",
                    j.ready, s.workers, s.attempt
                );
            } else {
                s.phase = Phase::Initializing;
                s.reason = "StartingWorkers".into();
                s.message = format!(
                    "{} of {} workers ready (attempt {})",
                    j.ready, s.workers, s.attempt
                );
            }
        }
    }
    s
}

fn queued(s: &mut Step, admission: &AdmissionView) {
    match admission {
        AdmissionView::Wait(w) => {
            s.phase = Phase::Queued;
            s.reason = w.reason.as_str().to_string();
            s.message = format!("position {} in queue: {}", w.position, w.message);
            s.queue_position = Some(w.position);
        }
        AdmissionView::Preempt(_) | AdmissionView::Admit(_) | AdmissionView::Unknown => {
            if !matches!(s.phase, Phase::Queued) || s.reason.is_empty() {
                s.phase = if s.reason == "Preempted" {
                    Phase::Queued
                } else {
                    Phase::Pending
                };
                if s.phase == Phase::Pending {
                    s.reason = "AwaitingAdmission".into();
                    s.message = "waiting for the admission loop".into();
                }
            }
        }
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
