//! The reconcile pipeline for one TrainingJob: dereference (caches) →
//! validate → state step (pure) → status (status subresource, optimistic
//! concurrency) → child action (server-side apply with owner references).
//! Finished jobs return without a single API call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crd_types::TrainingJob;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use thiserror::Error;

use crate::build::{self, Attempt, meta::MANAGER};
use crate::context::Context;
use crate::metrics::ReasonLabel;
use crate::observe::{child_of, prior_of};
use crate::spec::JobPlan;
use crate::state::{ChildAction, Observation, Phase, step};
use crate::status::{StatusInputs, desired_status, needs_write};
use crate::validate::{InvalidSpec, validate};

/// Finalizer guarding checkpoint retention.
pub const FINALIZER: &str = "training.mlfleet.io/checkpoint-retention";
/// Resync period for unfinished jobs (events drive everything; this is a safety net).
pub const RESYNC: Duration = Duration::from_secs(300);

/// What went wrong in a reconcile.
#[derive(Debug, Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action} {kind} {name}: {source}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// Object kind.
        kind: &'static str,
        /// Object name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// A Job with our name exists but belongs to someone else.
    #[error("Job {0} exists and is not owned by this TrainingJob")]
    NameConflict(String),
    /// The finalizer helper failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// Short kind for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube {
                source: kube::Error::Api(e),
                ..
            } if e.code == 409 => "conflict",
            Error::Kube { .. } => "api",
            Error::NameConflict(_) => "name_conflict",
            Error::Finalizer(_) => "finalizer",
        }
    }
}

fn kerr(action: &'static str, kind: &'static str, name: &str) -> impl FnOnce(kube::Error) -> Error {
    let name = name.to_string();
    move |source| Error::Kube {
        action,
        kind,
        name,
        source,
    }
}

/// Entry point for the controller.
pub async fn reconcile(tj: Arc<TrainingJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = tj.namespace().unwrap_or_default();
    let api: Api<TrainingJob> = Api::namespaced(ctx.client.clone(), &ns);
    let res = finalizer(&api, FINALIZER, tj, |event| async {
        match event {
            Finalizer::Apply(tj) => apply(tj, ctx.clone()).await,
            Finalizer::Cleanup(tj) => cleanup(tj, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.reconcile_metrics
        .observe("training-operator", started.elapsed());
    res
}

/// Error policy: conflicts retry at once, other errors back off.
pub fn error_policy(tj: Arc<TrainingJob>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.reconcile_metrics.error("training-operator", err.kind());
    if err.kind() == "conflict" {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(job = %tj.name_any(), error = %err, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn key_of(tj: &TrainingJob) -> String {
    format!("{}/{}", tj.namespace().unwrap_or_default(), tj.name_any())
}

async fn publish(
    ctx: &Context,
    tj: &TrainingJob,
    warning: bool,
    reason: &str,
    note: String,
    action: &str,
) {
    let ev = KubeEvent {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &tj.object_ref(&())).await {
        tracing::debug!(error = %e, "publishing event failed");
    }
}

async fn write_status(
    ctx: &Context,
    tj: &TrainingJob,
    status: serde_json::Value,
) -> Result<(), Error> {
    let api: Api<TrainingJob> =
        Api::namespaced(ctx.client.clone(), &tj.namespace().unwrap_or_default());
    let mut patch = json!({ "status": status });
    // Optimistic concurrency: a stale cache view must not overwrite newer status.
    if let Some(rv) = tj.resource_version() {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    api.patch_status(
        &tj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(kerr("patch status of", "TrainingJob", &tj.name_any()))?;
    Ok(())
}

async fn apply(tj: Arc<TrainingJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = key_of(&tj);
    let plan = match validate(&tj) {
        Ok(p) => p,
        Err(e) => return invalid(&tj, &ctx, e).await,
    };
    if tj.status.is_none() {
        ctx.metrics.created.inc();
    }
    let ns = plan.namespace.clone();
    let child_job = ctx
        .caches
        .jobs
        .get(&ObjectRef::<Job>::new(&plan.job_name()).within(&ns));
    if let Some(j) = &child_job {
        let owned = j
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == tj.uid().as_ref());
        if !owned {
            return Err(Error::NameConflict(plan.job_name()));
        }
    }
    let child = child_job.as_deref().map(child_of);
    let admission = ctx.book().decision(&key);
    let prior = prior_of(&tj, ctx.progress.checkpoint(&key));
    let now = Timestamp::now();
    let s = step(&Observation {
        plan: &plan,
        suspend: tj.spec.suspend,
        prior: prior.clone(),
        job: child.clone(),
        admission,
        now,
    });

    // Status first: the attempt/restart counters are durable before anything is deleted or created.
    let nodes = if matches!(s.phase, Phase::Initializing | Phase::Running) {
        worker_nodes(&ctx, &plan, s.attempt)
    } else {
        vec![]
    };
    let inputs = StatusInputs {
        plan: &plan,
        generation: tj.metadata.generation,
        prior: tj.status.as_ref(),
        child: child.as_ref().filter(|c| c.attempt == s.attempt),
        nodes,
        now,
    };
    let desired = desired_status(&s, &inputs);
    if needs_write(tj.status.as_ref(), &desired) {
        write_status(&ctx, &tj, desired).await?;
    }
    let transitioned = prior.phase != Some(s.phase);
    if transitioned {
        on_transition(&ctx, &tj, &plan, prior.phase, &s).await;
    }

    match &s.action {
        ChildAction::None => {}
        ChildAction::Create(attempt) => create_children(&ctx, &plan, attempt).await?,
        ChildAction::Unsuspend => {
            let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
            api.patch(
                &plan.job_name(),
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": false}})),
            )
            .await
            .map_err(kerr("unsuspend", "Job", &plan.job_name()))?;
        }
        ChildAction::DeleteJob => {
            let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                ..Default::default()
            };
            match api.delete(&plan.job_name(), &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(kerr("delete", "Job", &plan.job_name())(e)),
            }
        }
    }
    if s.delete_self {
        let api: Api<TrainingJob> = Api::namespaced(ctx.client.clone(), &ns);
        match api.delete(&plan.name, &DeleteParams::background()).await {
            // Gone already, or a deletion in flight: nothing left to do.
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(kerr("delete (ttl)", "TrainingJob", &plan.name)(e)),
        }
        return Ok(Action::await_change());
    }
    if s.phase.is_terminal() {
        return Ok(s
            .requeue_after
            .map_or_else(Action::await_change, Action::requeue));
    }
    Ok(Action::requeue(
        s.requeue_after.unwrap_or(RESYNC).min(RESYNC),
    ))
}

async fn on_transition(
    ctx: &Context,
    tj: &TrainingJob,
    plan: &JobPlan,
    from: Option<Phase>,
    s: &crate::state::Step,
) {
    let warning = matches!(s.phase, Phase::Failed | Phase::Restarting);
    let from_txt = from.map_or("new".to_string(), |p| p.to_string());
    publish(
        ctx,
        tj,
        warning,
        &s.reason,
        format!("{from_txt} -> {}: {}", s.phase, s.message),
        s.phase.as_str(),
    )
    .await;
    match s.phase {
        Phase::Completed => {
            ctx.metrics.completed.inc();
        }
        Phase::Failed => {
            ctx.metrics
                .failed
                .get_or_create(&ReasonLabel {
                    reason: s.reason.clone(),
                })
                .inc();
        }
        Phase::Restarting => {
            ctx.metrics.restarts.inc();
        }
        _ => {}
    }
    if s.phase.is_terminal()
        || matches!(s.phase, Phase::Suspended | Phase::Queued | Phase::Pending)
        || s.admitted
    {
        // Admission-relevant change: capacity freed or a new candidate.
        ctx.admission_kick.notify_one();
    }
    if s.phase.is_terminal() {
        ctx.progress
            .remove(&format!("{}/{}", plan.namespace, plan.name));
    }
}

fn worker_nodes(ctx: &Context, plan: &JobPlan, attempt: u32) -> Vec<String> {
    let attempt = attempt.to_string();
    ctx.caches
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(plan.namespace.as_str()))
        .filter(|p| {
            let l = p.labels();
            l.get(build::meta::LABEL_JOB_NAME) == Some(&plan.name)
                && l.get(build::meta::LABEL_ATTEMPT) == Some(&attempt)
        })
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .collect()
}

async fn create_children(ctx: &Context, plan: &JobPlan, attempt: &Attempt) -> Result<(), Error> {
    let pp = PatchParams::apply(MANAGER).force();
    let ns = &plan.namespace;
    let cm = build::configmap::build(plan, attempt.workers);
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    cms.patch(&plan.config_map_name(), &pp, &Patch::Apply(&cm))
        .await
        .map_err(kerr("apply", "ConfigMap", &plan.config_map_name()))?;
    let svc = build::service::build(plan);
    let svcs: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    svcs.patch(&plan.service_name(), &pp, &Patch::Apply(&svc))
        .await
        .map_err(kerr("apply", "Service", &plan.service_name()))?;
    if let Some(pvc) = build::pvc::build(plan) {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
        // PVC specs are immutable after creation: create once, never re-apply.
        if let Err(e) = pvcs.create(&Default::default(), &pvc).await {
            match e {
                kube::Error::Api(ae) if ae.code == 409 => {}
                e => return Err(kerr("create", "PersistentVolumeClaim", &plan.pvc_name())(e)),
            }
        }
    }
    let job = with_type_meta(build::job::build(plan, attempt));
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    // Create, not apply: a Job's template is immutable, and an existing Job of
    // this attempt is already what we want.
    match jobs.create(&Default::default(), &job).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(kerr("create", "Job", &plan.job_name())(e)),
    }
}

fn with_type_meta(mut job: Job) -> Job {
    job.metadata.managed_fields = None;
    job
}

async fn invalid(tj: &TrainingJob, ctx: &Context, e: InvalidSpec) -> Result<Action, Error> {
    let already = tj
        .status
        .as_ref()
        .is_some_and(|s| s.state.is_finished() && s.message.as_deref() == Some(&e.to_string()));
    if !already {
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now());
        let mut conditions = tj
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        crd_types::common::set_condition(
            &mut conditions,
            crd_types::Condition::new(
                "Failed",
                true,
                e.reason(),
                e.to_string(),
                tj.metadata.generation,
                now.clone(),
            ),
        );
        write_status(
            ctx,
            tj,
            json!({"state": "Failed", "message": e.to_string(), "conditions": conditions,
                   "observedGeneration": tj.metadata.generation, "completionTime": now}),
        )
        .await?;
        publish(ctx, tj, true, e.reason(), e.to_string(), "Validate").await;
        ctx.metrics
            .failed
            .get_or_create(&ReasonLabel {
                reason: e.reason().into(),
            })
            .inc();
    }
    // Wait for the user to change the spec.
    Ok(Action::await_change())
}

async fn cleanup(tj: Arc<TrainingJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = key_of(&tj);
    ctx.progress.remove(&key);
    ctx.admission_kick.notify_one();
    let retain = tj.spec.checkpoint.as_ref().is_some_and(|c| {
        c.enabled && c.retention_policy == crd_types::training::RetentionPolicy::Retain
    });
    if retain {
        // Orphan the checkpoint PVC so garbage collection keeps it.
        let ns = tj.namespace().unwrap_or_default();
        let name = format!("{}-checkpoints", tj.name_any());
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
        match pvcs
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"ownerReferences": null}})),
            )
            .await
        {
            Ok(_) => {
                publish(
                    &ctx,
                    &tj,
                    false,
                    "CheckpointsRetained",
                    format!("kept PVC {name} (retentionPolicy Retain)"),
                    "Delete",
                )
                .await
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(kerr("orphan", "PersistentVolumeClaim", &name)(e)),
        }
    }
    Ok(Action::await_change())
}
