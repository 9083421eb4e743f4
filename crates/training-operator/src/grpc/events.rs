//! Scheduling events: the difference between two admission passes.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use mlfleet_proto::scheduling::v1::{
    SchedulingEvent, SchedulingEventType as T, scheduling_event::Subject,
};

use super::convert;
use crate::book::{Book, JobAdmissionState, JobRecord, QueueSnapshot};
use crate::cluster::Capacity;

fn ev(t: T, message: String, subject: Subject, now: Timestamp) -> SchedulingEvent {
    SchedulingEvent {
        time: Some(convert::ts(now)),
        r#type: t as i32,
        message,
        subject: Some(subject),
    }
}

/// Events between the previous book and the new pass.
pub fn diff(
    old: &Book,
    records: &BTreeMap<String, JobRecord>,
    queues: &BTreeMap<String, QueueSnapshot>,
    capacity: &Capacity,
    now: Timestamp,
) -> Vec<SchedulingEvent> {
    let mut out = Vec::new();
    for (key, r) in records {
        let prev = old.records.get(key);
        let job = || Subject::Job(convert::job(r));
        match (prev.map(|p| p.state), r.state) {
            (None, JobAdmissionState::Queued)
            | (Some(JobAdmissionState::Pending), JobAdmissionState::Queued) => out.push(ev(
                T::JobQueued,
                format!("{key} queued at position {}", r.position.unwrap_or(0)),
                job(),
                now,
            )),
            (p, JobAdmissionState::Admitted) if p != Some(JobAdmissionState::Admitted) => {
                out.push(ev(
                    T::JobAdmitted,
                    format!("{key} admitted with {} workers", r.workers),
                    job(),
                    now,
                ))
            }
            (p, JobAdmissionState::Preempting) if p != Some(JobAdmissionState::Preempting) => out
                .push(ev(
                    T::JobPreempted,
                    format!("{key}: {}", r.message),
                    job(),
                    now,
                )),
            (Some(JobAdmissionState::Queued), JobAdmissionState::Queued)
                if prev.and_then(|p| p.position) != r.position =>
            {
                out.push(ev(
                    T::JobPositionChanged,
                    format!("{key} now at position {}", r.position.unwrap_or(0)),
                    job(),
                    now,
                ))
            }
            _ => {}
        }
    }
    for (key, r) in &old.records {
        if !records.contains_key(key) {
            let mut done = r.clone();
            done.state = JobAdmissionState::Finished;
            out.push(ev(
                T::JobFinished,
                format!("{key} finished"),
                Subject::Job(convert::job(&done)),
                now,
            ));
        }
    }
    for (name, q) in queues {
        if old.queues.get(name) != Some(q) {
            out.push(ev(
                T::QueueUpdated,
                format!("queue {name:?} updated"),
                Subject::Queue(convert::queue(q)),
                now,
            ));
        }
    }
    let free = |c: &Capacity| {
        c.gpus
            .iter()
            .map(|n| (n.free, n.unhealthy))
            .collect::<Vec<_>>()
    };
    if free(&old.capacity) != free(capacity) || old.capacity.source != capacity.source {
        out.push(ev(
            T::CapacityChanged,
            "cluster GPU availability changed".into(),
            Subject::Cluster(convert::cluster(capacity, Some(now))),
            now,
        ));
    }
    out
}
