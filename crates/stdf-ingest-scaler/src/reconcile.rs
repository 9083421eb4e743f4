//! The STDFParserJob reconciler: dereference (job, Secret) → validate (build the
//! plan) → open or refresh the job's work → scale the worker Deployment (server-side
//! apply) → write status. Invalid specs wait for a change; transient errors back off.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crd_types::ingest::{IngestMode, IngestPhase, S3Access, STDFParserJob, STDFParserJobStatus};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::Mutex;

use crate::deployment::{WorkerDefaults, worker_deployment};
use crate::location::{Location, LocationError, S3Settings, Selection};
use crate::queue::QueuePolicy;
use crate::registry::{Format, JobEntry, Layout, Registry, job_key};
use crate::scaling::Scaler;
use crate::status::{Observed, invalid_status, next_status};
use crate::work::{JobPlan, JobWork, WorkError};

/// The field manager of every write this controller makes.
pub const MANAGER: &str = "stdf-ingest-scaler";

/// Reconcile errors (transient: retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API call failed for {object}: {source}")]
    Kube {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("job {job}: {source}")]
    Work {
        job: String,
        #[source]
        source: WorkError,
    },
}

impl Error {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Work { .. } => "work",
        }
    }
}

/// Shared state of the controller.
pub struct Context {
    pub client: Client,
    pub registry: Registry,
    pub defaults: WorkerDefaults,
    /// Makes lease ids unique across restarts.
    pub incarnation: String,
    pub recorder: Recorder,
    scalers: Mutex<HashMap<String, Scaler>>,
    refreshed: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("incarnation", &self.incarnation)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        registry: Registry,
        defaults: WorkerDefaults,
        incarnation: String,
        recorder: Recorder,
    ) -> Self {
        Self {
            client,
            registry,
            defaults,
            incarnation,
            recorder,
            scalers: Mutex::new(HashMap::new()),
            refreshed: Mutex::new(HashMap::new()),
        }
    }
}

/// Why a spec cannot be acted on.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{field}: {source}")]
    Location {
        field: &'static str,
        #[source]
        source: LocationError,
    },
    #[error("secret {name} referenced by {field} not found")]
    MissingSecret { field: &'static str, name: String },
}

/// S3 settings of one location: the spec's fields over the referenced Secret's keys.
fn s3_settings(access: Option<&S3Access>, secret: Option<&BTreeMap<String, String>>) -> S3Settings {
    let mut s = secret.map(S3Settings::from_vars).unwrap_or_default();
    if let Some(a) = access {
        if a.endpoint.is_some() {
            s.endpoint = a.endpoint.clone();
        }
        if a.region.is_some() {
            s.region = a.region.clone();
        }
        s.allow_http |= a.allow_http
            || s.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
    }
    s
}

/// The work plan of a job, from its spec and the Secret values it references (pure).
pub fn plan(
    job: &STDFParserJob,
    secrets: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<JobPlan, SpecError> {
    let spec = &job.spec;
    let loc = |field, uri: &str| {
        Location::parse(uri).map_err(|source| SpecError::Location { field, source })
    };
    let source = loc("spec.source.uri", &spec.source.uri)?;
    let output = loc("spec.output.uri", &spec.output.uri)?;
    let quarantine = match &spec.quarantine {
        Some(q) => loc("spec.quarantine.uri", &q.uri)?,
        None => loc(
            "spec.output.uri",
            &format!("{}/_quarantine", spec.output.uri.trim_end_matches('/')),
        )?,
    };
    let selection =
        Selection::new(&spec.source.files, spec.source.pattern.as_deref()).map_err(|source| {
            SpecError::Location {
                field: "spec.source.pattern",
                source,
            }
        })?;
    let access = spec.source.s3.as_ref().or(spec.output.s3.as_ref());
    let secret = match access.and_then(|a| a.secret_ref.as_ref()) {
        Some(r) => Some(
            secrets
                .get(&r.name)
                .ok_or_else(|| SpecError::MissingSecret {
                    field: "spec.source.s3.secretRef",
                    name: r.name.clone(),
                })?,
        ),
        None => None,
    };
    Ok(JobPlan {
        job: job_key(&job.namespace().unwrap_or_default(), &job.name_any()),
        source,
        selection,
        output,
        quarantine,
        s3: s3_settings(access, secret),
        policy: QueuePolicy {
            max_attempts: spec.retry.max_attempts.max(1) as u32,
            lease_ttl: Duration::from_secs(spec.worker.lease_seconds.max(1) as u64),
            base_backoff: Duration::from_secs(spec.retry.backoff_seconds.max(0) as u64),
            max_backoff: Duration::from_secs(600),
        },
    })
}

fn kube_err(object: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { object, source }
}

async fn read_secrets(
    job: &STDFParserJob,
    client: &Client,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, Error> {
    let ns = job.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let mut out = BTreeMap::new();
    let refs = [&job.spec.source.s3, &job.spec.output.s3]
        .into_iter()
        .flatten()
        .filter_map(|a| a.secret_ref.as_ref().map(|r| r.name.clone()));
    for name in refs {
        if let Some(s) = api
            .get_opt(&name)
            .await
            .map_err(kube_err(format!("secret {ns}/{name}")))?
        {
            let vals = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect();
            out.insert(name, vals);
        }
    }
    Ok(out)
}

async fn publish(ctx: &Context, job: &STDFParserJob, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &job.object_ref(&())).await {
        tracing::warn!(error = %e, "could not record event");
    }
}

async fn patch_status(
    ctx: &Context,
    job: &STDFParserJob,
    status: &STDFParserJobStatus,
) -> Result<(), Error> {
    if job.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<STDFParserJob> =
        Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": STDFParserJob::api_version(&()),
        "kind": STDFParserJob::kind(&()),
        "status": status,
    });
    api.patch_status(
        &job.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(kube_err(format!("stdfparserjob {}", job.name_any())))?;
    Ok(())
}

/// Reconcile one STDFParserJob.
pub async fn reconcile(job: Arc<STDFParserJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = job_key(&job.namespace().unwrap_or_default(), &job.name_any());
    if job.meta().deletion_timestamp.is_some() {
        ctx.registry.remove(&key).await;
        return Ok(Action::await_change());
    }
    let prev = job.status.clone().unwrap_or_default();
    let now = || Time(k8s_openapi::jiff::Timestamp::now());

    // Validate: anything the schema could not check becomes InvalidSpec.
    let secrets = read_secrets(&job, &ctx.client).await?;
    let plan = match plan(&job, &secrets) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            if prev.phase != IngestPhase::Failed {
                publish(&ctx, &job, EventType::Warning, "InvalidSpec", msg.clone()).await;
            }
            patch_status(
                &ctx,
                &job,
                &invalid_status(&prev, job.meta().generation, &msg, now()),
            )
            .await?;
            return Ok(Action::await_change());
        }
    };

    // Open the job's work once; rebuild from the journal after a restart.
    let entry = match ctx.registry.get(&key).await {
        Some(e) => e,
        None => {
            let work = JobWork::open(plan, &ctx.incarnation)
                .await
                .map_err(|source| Error::Work {
                    job: key.clone(),
                    source,
                })?;
            let spec = &job.spec;
            let entry = JobEntry {
                work: Arc::new(work),
                format: match spec.output.format {
                    crd_types::ingest::OutputFormat::Parquet => Format::Parquet,
                    crd_types::ingest::OutputFormat::Csv => Format::Csv,
                },
                layout: match spec.output.layout {
                    crd_types::ingest::OutputLayout::Records => Layout::Records,
                    crd_types::ingest::OutputLayout::Measurements => Layout::Measurements,
                },
                files_per_worker: spec.scaling.files_per_worker.max(1) as u32,
                activation_depth: 0,
                batch: spec.mode == IngestMode::Batch,
            };
            let entry = ctx.registry.insert(key.clone(), entry).await;
            publish(&ctx, &job, EventType::Normal, "Queued", {
                let c = entry.work.counts().await;
                format!(
                    "{} files known ({} parsed, {} quarantined)",
                    c.total, c.parsed, c.quarantined
                )
            })
            .await;
            entry
        }
    };
    let work = &entry.work;
    let werr = |source| Error::Work {
        job: key.clone(),
        source,
    };

    let poll = Duration::from_secs(job.spec.source.poll_interval_seconds.max(5) as u64);
    if job.spec.mode == IngestMode::Continuous {
        let mut refreshed = ctx.refreshed.lock().await;
        let due = refreshed.get(&key).is_none_or(|t| t.elapsed() >= poll);
        if due {
            let added = work.refresh().await.map_err(werr)?;
            refreshed.insert(key.clone(), Instant::now());
            if added > 0 {
                tracing::info!(job = %key, added, "new files in source");
            }
        }
    }
    work.expire_leases().await.map_err(werr)?;

    // Scale the workers.
    let counts = work.counts().await;
    let wanted = if job.spec.suspend {
        0
    } else {
        job.spec.scaling.desired_workers(counts.depth()).max(0) as u32
    };
    let cooldown = Duration::from_secs(job.spec.scaling.cooldown_seconds.max(0) as u64);
    let replicas = {
        let mut scalers = ctx.scalers.lock().await;
        let s = scalers.entry(key.clone()).or_insert_with(|| {
            Scaler::starting_at(u32::try_from(prev.workers).ok().filter(|w| *w > 0))
        });
        s.decide(wanted, cooldown, Instant::now())
    };
    let deploy = worker_deployment(&job, replicas as i32, &ctx.defaults);
    let deploys: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    deploys
        .patch(
            deploy.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&deploy),
        )
        .await
        .map_err(kube_err(format!(
            "deployment {}",
            deploy.metadata.name.clone().unwrap_or_default()
        )))?;

    // Status.
    let observed = Observed {
        counts,
        samples: work.parsed_samples().await,
        workers: replicas as i32,
        mode: job.spec.mode,
        suspended: job.spec.suspend,
        generation: job.meta().generation,
    };
    let status = next_status(&prev, &observed, now());
    if status.files.quarantined > prev.files.quarantined {
        publish(
            &ctx,
            &job,
            EventType::Warning,
            "Quarantined",
            format!(
                "{} more file(s) quarantined ({} in all)",
                status.files.quarantined - prev.files.quarantined,
                status.files.quarantined
            ),
        )
        .await;
    }
    if status.workers != prev.workers {
        publish(
            &ctx,
            &job,
            EventType::Normal,
            "Scaled",
            format!(
                "workers {} -> {} (queue depth {})",
                prev.workers, status.workers, status.queue_depth
            ),
        )
        .await;
    }
    if status.phase != prev.phase {
        publish(
            &ctx,
            &job,
            EventType::Normal,
            &format!("{:?}", status.phase),
            format!("phase {:?} -> {:?}", prev.phase, status.phase),
        )
        .await;
    }
    patch_status(&ctx, &job, &status).await?;

    Ok(match status.phase {
        IngestPhase::Succeeded => Action::requeue(Duration::from_secs(300)),
        IngestPhase::Idle => Action::requeue(poll),
        _ => Action::requeue(Duration::from_secs(2)),
    })
}

/// Transient errors back off; the controller's own per-object backoff is added by the
/// caller's error policy.
pub fn error_policy(_job: Arc<STDFParserJob>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, kind = err.kind(), "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crd_types::ingest::STDFParserJobSpec;

    fn job(yaml: &str) -> STDFParserJob {
        let spec: STDFParserJobSpec = serde_yaml::from_str(yaml).unwrap();
        let mut j = STDFParserJob::new("lot", spec);
        j.metadata.namespace = Some("fab".into());
        j
    }

    #[test]
    fn plan_defaults_quarantine_under_output() {
        let p = plan(&job("source: {uri: 'file:///in'}\noutput: {uri: 'file:///out/'}\nretry: {maxAttempts: 4}\n"), &BTreeMap::new()).unwrap();
        assert_eq!(
            p.quarantine,
            Location::File {
                root: "/out/_quarantine".into()
            }
        );
        assert_eq!(p.policy.max_attempts, 4);
        assert_eq!(p.job, "fab/lot");
    }

    #[test]
    fn bad_locations_and_missing_secrets_are_spec_errors() {
        let e = plan(
            &job("source: {uri: 's3:///nobucket'}\noutput: {uri: 'file:///out'}\n"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("names no bucket"), "{e}");
        let e = plan(
            &job("source: {uri: 'file:///in'}\noutput: {uri: 'gs://b/o'}\n"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("spec.output.uri"), "{e}");
        let e = plan(
            &job("source: {uri: 's3://b/in', s3: {secretRef: {name: creds}}}\noutput: {uri: 's3://b/out'}\n"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(matches!(e, SpecError::MissingSecret { .. }), "{e}");
    }

    #[test]
    fn secret_keys_fill_s3_settings_and_spec_wins() {
        let secrets = BTreeMap::from([(
            "creds".to_string(),
            BTreeMap::from([
                ("AWS_ACCESS_KEY_ID".to_string(), "k".to_string()),
                ("AWS_SECRET_ACCESS_KEY".to_string(), "s".to_string()),
                ("AWS_REGION".to_string(), "eu-west-1".to_string()),
            ]),
        )]);
        let p = plan(
            &job("source: {uri: 's3://b/in', s3: {endpoint: 'http://127.0.0.1:9000', region: us-east-2, secretRef: {name: creds}}}\noutput: {uri: 's3://b/out'}\n"),
            &secrets,
        )
        .unwrap();
        assert_eq!(p.s3.access_key_id.as_deref(), Some("k"));
        assert_eq!(p.s3.region.as_deref(), Some("us-east-2"));
        assert!(p.s3.allow_http);
    }
}
