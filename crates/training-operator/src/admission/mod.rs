//! Gang admission (pure): which queued TrainingJobs may start now.
//!
//! A job is admitted only when *every* worker fits at once — its queue's quota
//! (GPU, CPU, memory) and a concrete per-worker placement on nodes with free
//! capacity (bin-packing worker by worker, not a comparison of totals). Jobs are
//! considered by priority, then creation time. Admitted jobs whose pods are not
//! bound yet keep their placement reserved, so two passes never hand the same
//! GPUs out twice.

mod placement;
mod types;

pub use placement::{fits, place};
pub use types::*;

use std::collections::BTreeMap;

/// Runs one admission pass.
pub fn admit(input: &AdmissionInput) -> AdmissionResult {
    let mut nodes: Vec<NodeFree> = input.nodes.clone();
    let mut result = AdmissionResult::default();

    // 1. Reserve capacity for admitted gangs whose workers are not bound yet.
    let mut reserved: Vec<&AdmittedJob> = input
        .admitted
        .iter()
        .filter(|a| a.unbound_workers > 0)
        .collect();
    reserved.sort_by(|a, b| b.demand.gpus.cmp(&a.demand.gpus).then(a.key.cmp(&b.key)));
    for a in reserved {
        // Best effort: if the cluster view is stale the scheduler already placed them.
        let _ = place(&mut nodes, &a.demand, a.unbound_workers);
    }

    // 2. Queue usage of everything already admitted.
    let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
    for a in &input.admitted {
        usage
            .entry(a.queue.clone())
            .or_default()
            .add(&a.demand, a.workers);
    }

    // 3. Pending jobs: priority (desc), then creation (asc), then key.
    let mut pending: Vec<&PendingJob> = input.pending.iter().collect();
    pending.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.created.cmp(&b.created))
            .then(a.key.cmp(&b.key))
    });

    let mut position: BTreeMap<String, u32> = BTreeMap::new();
    let mut blocked: BTreeMap<String, String> = BTreeMap::new();
    for job in pending {
        let queue = input.queues.get(&job.queue);
        let wait = |reason: WaitReason,
                    message: String,
                    result: &mut AdmissionResult,
                    position: &mut BTreeMap<String, u32>| {
            let p = position.entry(job.queue.clone()).or_insert(0);
            *p += 1;
            result.waiting.insert(
                job.key.clone(),
                Waiting {
                    position: *p,
                    reason,
                    message,
                },
            );
        };
        let Some(queue) = queue else {
            wait(
                WaitReason::QueueNotFound,
                format!("TrainingQueue {:?} does not exist", job.queue),
                &mut result,
                &mut position,
            );
            continue;
        };
        if !job.namespace_allowed {
            wait(
                WaitReason::NamespaceNotAllowed,
                format!(
                    "namespace {:?} is not selected by TrainingQueue {:?}",
                    job.namespace, queue.name
                ),
                &mut result,
                &mut position,
            );
            continue;
        }
        if let Some(head) = blocked.get(&job.queue) {
            wait(
                WaitReason::BlockedByQueueHead,
                format!(
                    "strict FIFO: waiting behind {head} in TrainingQueue {:?}",
                    queue.name
                ),
                &mut result,
                &mut position,
            );
            continue;
        }
        let used = usage.get(&job.queue).copied().unwrap_or_default();
        let candidates = job.worker_candidates();
        let mut admitted_with = None;
        let mut quota_msg = None;
        let mut capacity_msg = None;
        for workers in candidates {
            if let Some(msg) = queue.quota.exceeded_by(&used, &job.demand, workers) {
                quota_msg.get_or_insert(msg);
                continue;
            }
            let mut trial = nodes.clone();
            if place(&mut trial, &job.demand, workers).is_some() {
                nodes = trial;
                admitted_with = Some(workers);
                break;
            }
            capacity_msg.get_or_insert_with(|| capacity_message(&nodes, &job.demand, workers));
        }
        if let Some(workers) = admitted_with {
            usage
                .entry(job.queue.clone())
                .or_default()
                .add(&job.demand, workers);
            result.admitted.push(Admission {
                key: job.key.clone(),
                workers,
            });
            continue;
        }
        // Could preempting lower-priority work make room?
        if queue.preempt_lower_priority
            && let Some(victims) = preemption_victims(input, &nodes, &usage, queue, job)
        {
            result.preemptions.push(Preemption {
                preemptor: job.key.clone(),
                victims,
            });
        }
        let (reason, message) = match (capacity_msg, quota_msg) {
            (Some(c), _) => (WaitReason::InsufficientCapacity, c),
            (None, Some(q)) => (WaitReason::QuotaExceeded, q),
            (None, None) => (WaitReason::InsufficientCapacity, "no capacity".to_string()),
        };
        wait(reason, message, &mut result, &mut position);
        if queue.strict_fifo {
            blocked.insert(job.queue.clone(), job.key.clone());
        }
    }
    result.queue_usage = usage;
    result
}

fn capacity_message(nodes: &[NodeFree], demand: &WorkerDemand, workers: u32) -> String {
    let eligible: Vec<&NodeFree> = nodes.iter().filter(|n| n.accepts(demand)).collect();
    let free_gpus: u64 = eligible.iter().map(|n| n.gpus).sum();
    let fit = fits(nodes, demand);
    if demand.gpus > 0 {
        format!(
            "needs {workers} workers x {} GPUs; {free_gpus} GPUs free on {} eligible nodes, room for {fit} workers",
            demand.gpus,
            eligible.len()
        )
    } else {
        format!(
            "needs {workers} workers; {} eligible nodes have room for {fit}",
            eligible.len()
        )
    }
}

/// Lowest-priority (then newest) admitted jobs whose release lets `job` fit.
fn preemption_victims(
    input: &AdmissionInput,
    nodes: &[NodeFree],
    usage: &BTreeMap<String, Usage>,
    queue: &QueueInfo,
    job: &PendingJob,
) -> Option<Vec<String>> {
    let mut candidates: Vec<&AdmittedJob> = input
        .admitted
        .iter()
        .filter(|a| a.priority < job.priority && !a.preempting)
        .collect();
    candidates.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.created.cmp(&a.created)));
    let workers = job
        .worker_candidates()
        .last()
        .copied()
        .unwrap_or(job.workers);
    let mut trial_nodes = nodes.to_vec();
    let mut trial_usage = usage.clone();
    let mut victims = Vec::new();
    for v in candidates {
        for (node, count) in &v.placement {
            if let Some(n) = trial_nodes.iter_mut().find(|n| &n.name == node) {
                n.release(&v.demand, *count);
            }
        }
        if let Some(u) = trial_usage.get_mut(&v.queue) {
            u.remove(&v.demand, v.workers);
        }
        victims.push(v.key.clone());
        let used = trial_usage.get(&job.queue).copied().unwrap_or_default();
        if queue
            .quota
            .exceeded_by(&used, &job.demand, workers)
            .is_none()
            && place(&mut trial_nodes.clone(), &job.demand, workers).is_some()
        {
            return Some(victims);
        }
    }
    None
}

#[cfg(test)]
mod tests;
