//! The global admission loop (leader only): gathers queues, jobs and capacity
//! from the caches, runs one pure [`admit`](crate::admission::admit) pass,
//! publishes the result in the [`Book`](crate::book::Book) and wakes the
//! reconciler for every job whose decision changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crd_types::TrainingJob;
use crd_types::training::{PreemptionMode, QueueStrategy};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use crate::admission::{
    AdmissionInput, AdmittedJob, PendingJob, QueueInfo, Quota, Usage, WorkerDemand, admit,
};
use crate::book::{Book, JobAdmissionState, JobRecord, QueueSnapshot};
use crate::build::meta::{LABEL_ATTEMPT, LABEL_JOB_NAME};
use crate::cluster::{self, CapacitySource};
use crate::context::Context;
use crate::metrics::{QueueLabel, SourceLabel, StateLabel};
use crate::observe::{attempt_of, is_admitted, phase_of};
use crate::quantity;
use crate::state::{AdmissionView, Phase};
use crate::validate::validate;

/// Minimum time between passes (coalesces bursts of events).
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// Maximum time between passes.
pub const PERIOD: Duration = Duration::from_secs(5);

fn demand_of(plan: &crate::spec::JobPlan) -> WorkerDemand {
    WorkerDemand {
        gpus: u64::from(plan.resources.gpus),
        cpu_millis: plan.resources.cpu_millis,
        memory_bytes: plan.resources.memory_bytes,
    }
}

fn created(tj: &TrainingJob) -> Timestamp {
    tj.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

fn queue_infos(ctx: &Context) -> BTreeMap<String, QueueInfo> {
    let mut out = BTreeMap::new();
    // Jobs without a queue are admitted against free capacity only.
    out.insert(String::new(), QueueInfo::default());
    for q in ctx.caches.queues.state() {
        let name = q.name_any();
        let quota = Quota {
            gpus: q.spec.quota.gpus.and_then(|g| u64::try_from(g).ok()),
            cpu_millis: q
                .spec
                .quota
                .cpu
                .as_ref()
                .and_then(|c| quantity::cpu_millis(&c.0).ok()),
            memory_bytes: q
                .spec
                .quota
                .memory
                .as_ref()
                .and_then(|m| quantity::bytes(&m.0).ok()),
        };
        let quota = if q.spec.stop_admission {
            Quota {
                gpus: Some(0),
                cpu_millis: Some(0),
                memory_bytes: Some(0),
            }
        } else {
            quota
        };
        out.insert(
            name.clone(),
            QueueInfo {
                name,
                quota,
                strict_fifo: q.spec.strategy == QueueStrategy::StrictFIFO,
                preempt_lower_priority: q.spec.preemption.policy == PreemptionMode::LowerPriority,
            },
        );
    }
    out
}

fn namespace_allowed(
    ctx: &Context,
    queue: &str,
    ns: &str,
    ns_labels: &HashMap<String, BTreeMap<String, String>>,
) -> bool {
    let Some(q) = ctx.caches.queues.get(&ObjectRef::new(queue)) else {
        return true;
    };
    let Some(sel) = &q.spec.namespace_selector else {
        return true;
    };
    let labels = ns_labels.get(ns).cloned().unwrap_or_default();
    let mut labels = labels;
    labels.insert("kubernetes.io/metadata.name".into(), ns.to_string());
    let ok_labels = sel
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let ok_expr = sel.match_expressions.as_ref().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let val = labels.get(&e.key);
            let vals = e.values.clone().unwrap_or_default();
            match e.operator.as_str() {
                "In" => val.is_some_and(|v| vals.contains(v)),
                "NotIn" => val.is_none_or(|v| !vals.contains(v)),
                "Exists" => val.is_some(),
                "DoesNotExist" => val.is_none(),
                _ => false,
            }
        })
    });
    ok_labels && ok_expr
}

/// One pass. Returns the keys whose decision changed.
pub fn pass(ctx: &Context, ns_labels: &HashMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let now = Timestamp::now();
    let nodes = ctx.caches.nodes.state();
    let pods = ctx.caches.pods.state();
    let gpu_nodes = ctx.caches.gpu_nodes.as_ref().map(|s| s.state());
    let capacity = cluster::capacity(
        nodes.iter().map(|n| n.as_ref()),
        pods.iter().map(|p| p.as_ref()),
        gpu_nodes.as_deref(),
        &ctx.agent_health.snapshot(),
        now,
    );

    // Bound workers per job (namespace/name, attempt) -> per node counts.
    let mut bound: HashMap<(String, String, String), Vec<(String, u64)>> = HashMap::new();
    for p in &pods {
        let l = p.labels();
        let (Some(job), Some(att)) = (l.get(LABEL_JOB_NAME), l.get(LABEL_ATTEMPT)) else {
            continue;
        };
        if matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded") | Some("Failed")
        ) {
            continue;
        }
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        let e = bound
            .entry((p.namespace().unwrap_or_default(), job.clone(), att.clone()))
            .or_default();
        match e.iter_mut().find(|(n, _)| *n == node) {
            Some((_, c)) => *c += 1,
            None => e.push((node, 1)),
        }
    }

    let queues = queue_infos(ctx);
    let prev = ctx.book().decisions.clone();
    let mut input = AdmissionInput {
        nodes: capacity.nodes.clone(),
        queues: queues.clone(),
        ..Default::default()
    };
    let mut records = BTreeMap::new();
    let mut by_state: HashMap<Phase, i64> = HashMap::new();
    for tj in ctx.caches.training_jobs.state() {
        let key = format!("{}/{}", tj.namespace().unwrap_or_default(), tj.name_any());
        let phase = tj
            .status
            .as_ref()
            .map_or(Phase::Pending, |s| phase_of(s.state));
        *by_state.entry(phase).or_default() += 1;
        if phase.is_terminal() || tj.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Ok(plan) = validate(&tj) else { continue };
        let demand = demand_of(&plan);
        let workers = tj
            .status
            .as_ref()
            .and_then(|s| s.current_workers)
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(plan.workers);
        let mut record = JobRecord {
            namespace: plan.namespace.clone(),
            name: plan.name.clone(),
            queue: plan.queue.clone(),
            state: JobAdmissionState::Pending,
            position: None,
            reason: None,
            message: String::new(),
            priority: plan.priority,
            workers,
            requests: (
                demand.gpus * u64::from(workers),
                demand.cpu_millis * u64::from(workers),
                demand.memory_bytes * u64::from(workers),
            ),
            queued_time: Some(created(&tj)),
            admitted_time: tj
                .status
                .as_ref()
                .and_then(|s| s.admission_time.as_ref())
                .map(|t| t.0),
        };
        if tj.spec.suspend {
            record.state = JobAdmissionState::Suspended;
            records.insert(key, record);
            continue;
        }
        let in_memory = matches!(prev.get(&key), Some(AdmissionView::Admit(_)));
        if is_admitted(&tj) || in_memory {
            let attempt = attempt_of(&tj).to_string();
            let placement = bound
                .get(&(plan.namespace.clone(), plan.name.clone(), attempt))
                .cloned()
                .unwrap_or_default();
            let bound_count: u64 = placement.iter().map(|(_, c)| c).sum();
            let workers = match prev.get(&key) {
                Some(AdmissionView::Admit(w)) if !is_admitted(&tj) => *w,
                _ => workers,
            };
            input.admitted.push(AdmittedJob {
                key: key.clone(),
                queue: plan.queue.clone(),
                priority: plan.priority,
                created: created(&tj).as_second(),
                workers,
                demand,
                unbound_workers: workers
                    .saturating_sub(u32::try_from(bound_count).unwrap_or(u32::MAX)),
                placement,
                preempting: matches!(prev.get(&key), Some(AdmissionView::Preempt(_))),
            });
            record.state = JobAdmissionState::Admitted;
            records.insert(key, record);
            continue;
        }
        input.pending.push(PendingJob {
            key: key.clone(),
            namespace: plan.namespace.clone(),
            queue: plan.queue.clone(),
            priority: plan.priority,
            created: created(&tj).as_second(),
            workers: plan.workers,
            elastic: plan.elastic.map(|e| (e.min_workers, e.max_workers)),
            demand,
            namespace_allowed: namespace_allowed(ctx, &plan.queue, &plan.namespace, ns_labels),
        });
        record.state = JobAdmissionState::Queued;
        records.insert(key, record);
    }

    let result = admit(&input);
    let mut decisions: HashMap<String, AdmissionView> = HashMap::new();
    for a in &result.admitted {
        decisions.insert(a.key.clone(), AdmissionView::Admit(a.workers));
        if let Some(r) = records.get_mut(&a.key) {
            r.state = JobAdmissionState::Admitted;
            r.workers = a.workers;
            r.admitted_time = Some(now);
        }
        if let Some(tj) = ctx.caches.training_jobs.get(&obj_ref(&a.key)) {
            let waited = now.duration_since(created(&tj)).as_secs_f64().max(0.0);
            ctx.metrics.admission_wait.observe(waited);
        }
    }
    // Admitted jobs keep an Admit decision until the status shows it.
    for a in &input.admitted {
        if let Some(AdmissionView::Admit(w)) = prev.get(&a.key) {
            decisions.insert(a.key.clone(), AdmissionView::Admit(*w));
        }
    }
    for (key, w) in &result.waiting {
        decisions.insert(key.clone(), AdmissionView::Wait(w.clone()));
        if let Some(r) = records.get_mut(key) {
            r.position = Some(w.position);
            r.reason = Some(w.reason);
            r.message = w.message.clone();
        }
    }
    for p in &result.preemptions {
        for v in &p.victims {
            decisions.insert(v.clone(), AdmissionView::Preempt(p.preemptor.clone()));
            if let Some(r) = records.get_mut(v) {
                r.state = JobAdmissionState::Preempting;
                r.message = format!("preempted by {}", p.preemptor);
            }
        }
    }

    // Queue snapshots.
    let mut snaps: BTreeMap<String, QueueSnapshot> = BTreeMap::new();
    for (name, q) in &queues {
        snaps.insert(
            name.clone(),
            QueueSnapshot {
                name: name.clone(),
                quota: q.quota,
                exists: !name.is_empty(),
                ..Default::default()
            },
        );
    }
    for r in records.values() {
        let snap = snaps
            .entry(r.queue.clone())
            .or_insert_with(|| QueueSnapshot {
                name: r.queue.clone(),
                ..Default::default()
            });
        let (g, c, m) = r.requests;
        match r.state {
            JobAdmissionState::Queued => {
                snap.pending += 1;
                snap.pending_requests.gpus += g;
                snap.pending_requests.cpu_millis += c;
                snap.pending_requests.memory_bytes += m;
                snap.pending_requests.jobs += 1;
                snap.oldest_pending = match (snap.oldest_pending, r.queued_time) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            JobAdmissionState::Admitted | JobAdmissionState::Preempting => {
                snap.admitted += 1;
            }
            _ => {}
        }
    }
    for (name, u) in &result.queue_usage {
        if let Some(s) = snaps.get_mut(name) {
            s.usage = *u;
        }
    }

    // Metrics.
    for p in Phase::ALL {
        ctx.metrics
            .jobs
            .get_or_create(&StateLabel {
                state: p.as_str().into(),
            })
            .set(by_state.get(&p).copied().unwrap_or(0));
    }
    let total: Usage = result
        .queue_usage
        .values()
        .fold(Usage::default(), |mut acc, u| {
            acc.gpus += u.gpus;
            acc.workers += u.workers;
            acc
        });
    ctx.metrics
        .allocated_gpus
        .set(i64::try_from(total.gpus).unwrap_or(i64::MAX));
    ctx.metrics
        .allocated_workers
        .set(i64::try_from(total.workers).unwrap_or(i64::MAX));
    for s in snaps.values() {
        ctx.metrics
            .queue_depth
            .get_or_create(&QueueLabel {
                queue: s.name.clone(),
            })
            .set(i64::from(s.pending));
    }
    for src in [CapacitySource::NodeAllocatable, CapacitySource::GpuAgent] {
        ctx.metrics
            .capacity_source
            .get_or_create(&SourceLabel {
                source: src.as_str().into(),
            })
            .set(i64::from(src == capacity.source));
    }

    let changed: Vec<String> = decisions
        .iter()
        .filter(|(k, v)| prev.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    let events = crate::grpc::events::diff(&ctx.book(), &records, &snaps, &capacity, now);
    {
        let mut book = ctx.book.write().unwrap_or_else(|p| p.into_inner());
        let changed_any = !changed.is_empty() || book.records != records || book.queues != snaps;
        *book = Book {
            decisions,
            records,
            queues: snaps,
            capacity,
            computed_at: Some(now),
            version: book.version + u64::from(changed_any),
        };
    }
    for e in events {
        let _ = ctx.events.send(e);
    }
    changed
}

fn obj_ref(key: &str) -> ObjectRef<TrainingJob> {
    let (ns, name) = key.split_once('/').unwrap_or(("", key));
    ObjectRef::new(name).within(ns)
}

/// Runs passes until `shutdown`, sending changed jobs to `trigger`.
pub async fn run(
    ctx: Arc<Context>,
    trigger: mpsc::UnboundedSender<ObjectRef<TrainingJob>>,
    namespaces: kube::runtime::reflector::Store<k8s_openapi::api::core::v1::Namespace>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let ns_labels: HashMap<String, BTreeMap<String, String>> = namespaces
            .state()
            .iter()
            .map(|n| (n.name_any(), n.labels().clone()))
            .collect();
        let changed = pass(&ctx, &ns_labels);
        for key in changed {
            let _ = trigger.send(obj_ref(&key));
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ctx.admission_kick.notified() => {}
            _ = tokio::time::sleep(PERIOD) => {}
        }
        tokio::time::sleep(DEBOUNCE).await;
    }
}
