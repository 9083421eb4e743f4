use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::admission::{WaitReason, Waiting};
use crate::spec::fixtures::seed;
use crate::spec::{JobPlan, RetryBackoff};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn obs<'a>(
    plan: &'a JobPlan,
    prior: Prior,
    job: Option<ChildJob>,
    admission: AdmissionView,
    now: i64,
) -> Observation<'a> {
    Observation {
        plan,
        suspend: false,
        prior,
        job,
        admission,
        now: t(now),
    }
}

fn running_prior() -> Prior {
    Prior {
        phase: Some(Phase::Running),
        attempt: 1,
        admitted: true,
        workers: Some(2),
        start_time: Some(t(0)),
        last_checkpoint: Some("/mnt/checkpoints/resnet50/epoch-3".into()),
        ..Default::default()
    }
}

fn job(attempt: u32) -> ChildJob {
    ChildJob {
        attempt,
        active: 2,
        ready: 2,
        ..Default::default()
    }
}

fn failed(reason: &str, message: &str) -> Option<Finish> {
    Some(Finish::Failed {
        reason: reason.into(),
        message: message.into(),
    })
}

#[test]
fn new_job_creates_suspended_job_and_waits() {
    let plan = seed();
    let s = step(&obs(
        &plan,
        Prior::default(),
        None,
        AdmissionView::Unknown,
        0,
    ));
    assert_eq!(s.phase, Phase::Pending);
    assert_eq!(
        s.action,
        ChildAction::Create(crate::build::Attempt {
            number: 0,
            resume_from: None,
            suspend: true,
            workers: 2
        })
    );
    let waiting = Waiting {
        position: 3,
        reason: WaitReason::InsufficientCapacity,
        message: "no room".into(),
    };
    let s = step(&obs(
        &plan,
        Prior::default(),
        None,
        AdmissionView::Wait(waiting),
        0,
    ));
    assert_eq!((s.phase, s.queue_position), (Phase::Queued, Some(3)));
    assert_eq!(s.reason, "InsufficientCapacity");
    let conds = desired_conditions(&s);
    assert_eq!(conds.len(), 8);
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Queued" && c.status == "True")
    );
    assert!(conds.iter().any(|c| c.type_ == "Admitted"
        && c.status == "False"
        && c.reason == "InsufficientCapacity"));
}

#[test]
fn admission_unsuspends_then_running_then_completed() {
    let plan = seed();
    let prior = Prior {
        phase: Some(Phase::Queued),
        attempt: 1,
        ..Default::default()
    };
    let suspended = ChildJob {
        attempt: 1,
        suspended: true,
        ..Default::default()
    };
    let s = step(&obs(
        &plan,
        prior,
        Some(suspended),
        AdmissionView::Admit(2),
        5,
    ));
    assert_eq!(
        (s.phase, s.action.clone(), s.admitted),
        (Phase::Initializing, ChildAction::Unsuspend, true)
    );
    assert_eq!(s.start_time, Some(t(5)));

    let prior = Prior {
        phase: Some(Phase::Initializing),
        attempt: 1,
        admitted: true,
        workers: Some(2),
        start_time: Some(t(5)),
        ..Default::default()
    };
    let half = ChildJob {
        attempt: 1,
        active: 2,
        ready: 1,
        ..Default::default()
    };
    assert_eq!(
        step(&obs(
            &plan,
            prior.clone(),
            Some(half),
            AdmissionView::Unknown,
            6
        ))
        .phase,
        Phase::Initializing
    );
    let s = step(&obs(
        &plan,
        prior.clone(),
        Some(job(1)),
        AdmissionView::Unknown,
        7,
    ));
    assert_eq!(
        (s.phase, s.action.clone()),
        (Phase::Running, ChildAction::None)
    );

    let done = ChildJob {
        attempt: 1,
        succeeded: 2,
        finished: Some(Finish::Complete),
        ..Default::default()
    };
    let s = step(&obs(&plan, prior, Some(done), AdmissionView::Unknown, 9));
    assert_eq!(s.phase, Phase::Completed);
    assert!(!s.admitted);
    assert_eq!(s.completion_time, Some(t(9)));
    let conds = desired_conditions(&s);
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Succeeded" && c.status == "True")
    );
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Running" && c.status == "False")
    );
}

#[test]
fn retryable_failure_restarts_from_checkpoint_after_backoff() {
    let mut plan = seed();
    plan.retry_backoff = RetryBackoff {
        initial_seconds: 10,
        max_seconds: 60,
    };
    let dead = ChildJob {
        attempt: 1,
        finished: failed(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ),
        ..Default::default()
    };
    let s = step(&obs(
        &plan,
        running_prior(),
        Some(dead),
        AdmissionView::Unknown,
        100,
    ));
    assert_eq!((s.phase, s.restarts, s.attempt), (Phase::Restarting, 1, 2));
    assert_eq!(s.action, ChildAction::DeleteJob);
    assert!(s.admitted, "a restarting gang keeps its admission");
    assert_eq!(s.requeue_after, Some(Duration::from_secs(10)));
    assert!(
        desired_conditions(&s)
            .iter()
            .any(|c| c.type_ == "Restarting" && c.status == "True")
    );

    // The old Job is still visible (being deleted): wait.
    let prior = Prior {
        phase: Some(Phase::Restarting),
        attempt: 2,
        restarts: 1,
        next_retry_time: Some(t(110)),
        ..running_prior()
    };
    let old = ChildJob {
        attempt: 1,
        deleting: true,
        finished: failed("BackoffLimitExceeded", ""),
        ..Default::default()
    };
    let s = step(&obs(
        &plan,
        prior.clone(),
        Some(old),
        AdmissionView::Unknown,
        101,
    ));
    assert_eq!(
        (s.phase, s.action.clone()),
        (Phase::Restarting, ChildAction::None)
    );

    // Gone, backoff not over yet.
    let s = step(&obs(
        &plan,
        prior.clone(),
        None,
        AdmissionView::Unknown,
        105,
    ));
    assert_eq!(s.action, ChildAction::None);
    assert_eq!(s.requeue_after, Some(Duration::from_secs(5)));

    // Backoff over: attempt 2 resumes from the checkpoint, unsuspended.
    let s = step(&obs(&plan, prior, None, AdmissionView::Unknown, 110));
    assert_eq!(
        s.action,
        ChildAction::Create(crate::build::Attempt {
            number: 2,
            resume_from: Some("/mnt/checkpoints/resnet50/epoch-3".into()),
            suspend: false,
            workers: 2,
        })
    );
    assert_eq!(s.phase, Phase::Initializing);
}

#[test]
fn backoff_limit_counts_attempts_and_terminates() {
    let mut plan = seed();
    plan.backoff_limit = 2;
    let dead = ChildJob {
        attempt: 3,
        finished: failed("BackoffLimitExceeded", "x"),
        ..Default::default()
    };
    let prior = Prior {
        attempt: 3,
        restarts: 2,
        ..running_prior()
    };
    let s = step(&obs(&plan, prior, Some(dead), AdmissionView::Unknown, 0));
    assert_eq!(
        (s.phase, s.reason.as_str()),
        (Phase::Failed, "BackoffLimitExceeded")
    );
    assert!(
        s.message.contains("2 retries used of backoffLimit 2"),
        "{}",
        s.message
    );
    assert!(!s.admitted);
}

#[test]
fn permanent_exit_code_fails_without_retry() {
    let plan = seed();
    let msg = "Container worker for pod default/test-job-workers-0-abc failed with exit code 1 matching FailJob rule at index 1";
    let dead = ChildJob {
        attempt: 1,
        finished: failed("PodFailurePolicy", msg),
        ..Default::default()
    };
    let s = step(&obs(
        &plan,
        running_prior(),
        Some(dead),
        AdmissionView::Unknown,
        0,
    ));
    assert_eq!(
        (s.phase, s.reason.as_str(), s.restarts),
        (Phase::Failed, "PermanentError", 0)
    );
    assert!(
        desired_conditions(&s)
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True")
    );
}

#[test]
fn active_deadline_fires_at_the_deadline() {
    let mut plan = seed();
    plan.active_deadline_seconds = Some(60);
    let s = step(&obs(
        &plan,
        running_prior(),
        Some(job(1)),
        AdmissionView::Unknown,
        45,
    ));
    assert_eq!(s.phase, Phase::Running);
    assert_eq!(s.requeue_after, Some(Duration::from_secs(15)));
    let s = step(&obs(
        &plan,
        running_prior(),
        Some(job(1)),
        AdmissionView::Unknown,
        60,
    ));
    assert_eq!(
        (s.phase, s.reason.as_str()),
        (Phase::Failed, "DeadlineExceeded")
    );
    assert_eq!(s.action, ChildAction::DeleteJob);
}

#[test]
fn ttl_after_finished_deletes_on_time_and_finished_jobs_do_nothing_else() {
    let mut plan = seed();
    let done = Prior {
        phase: Some(Phase::Completed),
        attempt: 1,
        completion_time: Some(t(0)),
        ..Default::default()
    };
    let finished_job = ChildJob {
        attempt: 1,
        finished: Some(Finish::Complete),
        ..Default::default()
    };
    let s = step(&obs(
        &plan,
        done.clone(),
        Some(finished_job.clone()),
        AdmissionView::Unknown,
        10,
    ));
    assert_eq!(
        (s.action.clone(), s.requeue_after, s.delete_self),
        (ChildAction::None, None, false)
    );
    plan.ttl_seconds_after_finished = Some(30);
    let s = step(&obs(
        &plan,
        done.clone(),
        Some(finished_job.clone()),
        AdmissionView::Unknown,
        10,
    ));
    assert_eq!(
        (s.requeue_after, s.delete_self),
        (Some(Duration::from_secs(20)), false)
    );
    let s = step(&obs(
        &plan,
        done,
        Some(finished_job),
        AdmissionView::Unknown,
        30,
    ));
    assert!(s.delete_self);
}

#[test]
fn suspend_drops_attempt_and_admission_and_resume_requeues() {
    let plan = seed();
    let mut o = obs(
        &plan,
        running_prior(),
        Some(job(1)),
        AdmissionView::Unknown,
        0,
    );
    o.suspend = true;
    let s = step(&o);
    assert_eq!(
        (s.phase, s.action.clone(), s.attempt, s.admitted),
        (Phase::Suspended, ChildAction::DeleteJob, 2, false)
    );
    // Resumed after the Job is gone: a suspended attempt-2 Job waits for admission.
    let prior = Prior {
        phase: Some(Phase::Suspended),
        attempt: 2,
        admitted: false,
        ..running_prior()
    };
    let s = step(&obs(&plan, prior, None, AdmissionView::Unknown, 1));
    match s.action {
        ChildAction::Create(a) => {
            assert_eq!((a.number, a.suspend), (2, true));
            assert_eq!(
                a.resume_from.as_deref(),
                Some("/mnt/checkpoints/resnet50/epoch-3")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn stale_attempt_job_is_deleted_first() {
    let plan = seed();
    let prior = Prior {
        attempt: 3,
        ..running_prior()
    };
    let s = step(&obs(&plan, prior, Some(job(2)), AdmissionView::Admit(2), 0));
    assert_eq!(s.action, ChildAction::DeleteJob);
    assert!(!s.resources_created);
}

#[test]
fn preemption_requeues_and_deletes_workers() {
    let plan = seed();
    let s = step(&obs(
        &plan,
        running_prior(),
        Some(job(1)),
        AdmissionView::Preempt("ns/urgent".into()),
        0,
    ));
    assert_eq!(
        (s.phase, s.reason.as_str(), s.attempt, s.admitted),
        (Phase::Queued, "Preempted", 2, false)
    );
    assert_eq!(s.action, ChildAction::DeleteJob);
    assert_eq!(s.restarts, 0, "preemption is not a failure");
}

#[test]
fn exit_codes_and_backoff() {
    assert_eq!(classify_exit_code(0), ExitClass::Success);
    assert_eq!(classify_exit_code(1), ExitClass::Permanent);
    assert_eq!(classify_exit_code(127), ExitClass::Permanent);
    assert_eq!(classify_exit_code(128), ExitClass::Retryable);
    assert_eq!(classify_exit_code(137), ExitClass::Retryable);
    assert_eq!(classify_exit_code(255), ExitClass::Retryable);
    assert_eq!(exit_code_in("failed with exit code 42 matching"), Some(42));
    assert_eq!(
        classify_job_failure("BackoffLimitExceeded", ""),
        ExitClass::Retryable
    );
    assert_eq!(
        classify_job_failure("PodFailurePolicy", "exit code 3"),
        ExitClass::Permanent
    );
    let b = RetryBackoff {
        initial_seconds: 10,
        max_seconds: 60,
    };
    let delays: Vec<u64> = (1..=5).map(|n| backoff_delay(&b, n).as_secs()).collect();
    assert_eq!(delays, vec![10, 20, 40, 60, 60]);
}

#[test]
fn phase_names_round_trip() {
    for p in Phase::ALL {
        assert_eq!(p.as_str().parse::<Phase>().unwrap(), p);
    }
}
