//! The work of one STDFParserJob: its file queue, its journal and its stores, with
//! the claim / heartbeat / complete / fail operations the StdfWork gRPC service
//! exposes. Every transition is written to the journal before the in-memory queue
//! changes, so the process may be killed at any moment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::Mutex;

use crate::journal::{
    AttemptMarker, DoneMarker, Journal, JournalError, QuarantineMarker, Recorded,
};
use crate::location::{Location, LocationError, S3Settings, Selection, list_source};
use crate::queue::{
    Counts, FailureClass, FailureOutcome, FileQueue, FileStats, LeaseError, QueuePolicy,
};

/// Errors of the work service.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("cannot quarantine {key}: {source}")]
    Quarantine {
        key: String,
        #[source]
        source: object_store::Error,
    },
}

/// Where one job reads, writes and keeps its state.
#[derive(Clone, Debug)]
pub struct JobPlan {
    /// `namespace/name` of the STDFParserJob.
    pub job: String,
    pub source: Location,
    pub selection: Selection,
    pub output: Location,
    /// Where corrupt files and their error reports go.
    pub quarantine: Location,
    pub s3: S3Settings,
    pub policy: QueuePolicy,
}

/// A file handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub lease: String,
    /// Store key of the source file.
    pub key: String,
    /// Full URI of the source file.
    pub source_uri: String,
    /// URI of the folder the worker writes this file's tables into.
    pub output_uri: String,
    pub lease_expires_in: Duration,
    pub attempt: u32,
}

/// How a completion was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Counted now.
    Counted,
    /// Counted before (a retry of a completion whose answer was lost).
    AlreadyCounted,
}

/// What became of a failure report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureResult {
    /// The file waits for another attempt after `retry_in`.
    WillRetry { attempt: u32, retry_in: Duration },
    /// The file was copied to the quarantine location with an error report.
    Quarantined { attempts: u32, report_uri: String },
}

/// The live work of one job.
#[derive(Debug)]
pub struct JobWork {
    plan: JobPlan,
    source: Arc<dyn ObjectStore>,
    quarantine: Arc<dyn ObjectStore>,
    journal: Journal,
    queue: Mutex<FileQueue>,
}

/// The folder (store key, under the output prefix) for the tables of source `key`.
pub fn output_folder(source_prefix: &Path, output_prefix: &Path, key: &Path) -> Path {
    let rel: Vec<_> = key
        .prefix_match(source_prefix)
        .map(|it| it.map(|p| p.as_ref().to_string()).collect())
        .unwrap_or_else(|| key.parts().map(|p| p.as_ref().to_string()).collect());
    let mut out = output_prefix.clone();
    let last = rel.len().saturating_sub(1);
    for (i, part) in rel.iter().enumerate() {
        if i == last {
            let stem = part
                .trim_end_matches(".gz")
                .trim_end_matches(".bz2")
                .trim_end_matches(".stdf")
                .trim_end_matches(".std");
            out = out.join(stem);
        } else {
            out = out.join(part.as_str());
        }
    }
    out
}

impl JobWork {
    /// Open the stores, read the journal and the source, and rebuild the queue.
    /// Claims are held back for one lease period so workers holding leases from
    /// before a restart can finish their files instead of racing a second worker.
    pub async fn open(plan: JobPlan, incarnation: &str) -> Result<Self, WorkError> {
        let source = plan.source.open(&plan.s3)?;
        let output = plan.output.open(&plan.s3)?;
        let quarantine = plan.quarantine.open(&plan.s3)?;
        let state_prefix = plan
            .output
            .prefix()
            .join("_mlfleet")
            .join("jobs")
            .join(plan.job.replace('/', "."));
        let journal = Journal::new(output, state_prefix);
        let queue = FileQueue::new(plan.policy.clone(), incarnation);
        let work = Self {
            plan,
            source,
            quarantine,
            journal,
            queue: Mutex::new(queue),
        };
        work.rebuild().await?;
        Ok(work)
    }

    async fn rebuild(&self) -> Result<(), WorkError> {
        let records = self.journal.load().await?;
        let keys = list_source(
            self.source.as_ref(),
            &self.plan.source,
            &self.plan.selection,
        )
        .await?;
        let max = self.plan.policy.max_attempts;
        let mut unfinished = Vec::new();
        {
            let mut q = self.queue.lock().await;
            // Files known to the journal first, then any new ones from the source.
            for (key, rec) in &records {
                q.insert(key, rec.state(max));
                if let Some(a) = rec.unfinished_quarantine(max) {
                    unfinished.push(a.clone());
                }
            }
            for key in &keys {
                q.insert(key.as_ref(), pending());
            }
            q.recover_until(Instant::now() + self.plan.policy.lease_ttl);
        }
        for a in unfinished {
            self.quarantine_file(&a.key, a.attempt, &a.message).await?;
        }
        Ok(())
    }

    /// Look for new files in the source (Continuous mode); returns how many were added.
    pub async fn refresh(&self) -> Result<usize, WorkError> {
        let keys = list_source(
            self.source.as_ref(),
            &self.plan.source,
            &self.plan.selection,
        )
        .await?;
        let mut q = self.queue.lock().await;
        Ok(keys
            .iter()
            .filter(|k| q.insert(k.as_ref(), pending()))
            .count())
    }

    /// The plan this work runs.
    pub fn plan(&self) -> &JobPlan {
        &self.plan
    }

    /// The source key of the file with stable id `id` (see [`crate::journal::file_id`]).
    pub async fn key_of(&self, id: &str) -> Option<String> {
        self.queue.lock().await.key_of(id).map(str::to_string)
    }

    /// Current counts.
    pub async fn counts(&self) -> Counts {
        self.queue.lock().await.counts()
    }

    /// Per-file latencies (ms) and bytes of every parsed file.
    pub async fn parsed_samples(&self) -> Vec<(u64, u64)> {
        let q = self.queue.lock().await;
        q.parsed_stats().map(|s| (s.duration_ms, s.bytes)).collect()
    }

    /// Hand the next file to `worker`.
    pub async fn claim(&self, worker: &str) -> Option<Claim> {
        let lease = self.queue.lock().await.claim(worker, Instant::now())?;
        let key = Path::from(lease.key.as_str());
        let out = output_folder(&self.plan.source.prefix(), &self.plan.output.prefix(), &key);
        Some(Claim {
            source_uri: self.plan.source.uri_of(&key),
            output_uri: self.plan.output.uri_of(&out),
            key: lease.key,
            lease: lease.id,
            lease_expires_in: self.plan.policy.lease_ttl,
            attempt: lease.attempt,
        })
    }

    /// Renew a lease.
    pub async fn heartbeat(
        &self,
        lease: &str,
        key: &str,
        worker: &str,
    ) -> Result<Duration, WorkError> {
        let now = Instant::now();
        let until = self.queue.lock().await.heartbeat(lease, key, worker, now)?;
        Ok(until.saturating_duration_since(now))
    }

    /// Count a parsed file, exactly once.
    pub async fn complete(
        &self,
        lease: &str,
        key: &str,
        worker: &str,
        stats: FileStats,
    ) -> Result<Completion, WorkError> {
        let mut q = self.queue.lock().await;
        match q.validate(lease, key, worker, Instant::now()) {
            Ok(_) => {}
            Err(LeaseError::Finished {
                state: "parsed", ..
            }) => return Ok(Completion::AlreadyCounted),
            Err(e) => return Err(e.into()),
        }
        let recorded = self
            .journal
            .record_done(&DoneMarker {
                key: key.to_string(),
                stats: stats.clone(),
            })
            .await?;
        q.mark_parsed(key, stats);
        Ok(match recorded {
            Recorded::New => Completion::Counted,
            Recorded::AlreadyThere => Completion::AlreadyCounted,
        })
    }

    /// Record a failed attempt; retries or quarantines as the policy says.
    pub async fn fail(
        &self,
        lease: &str,
        key: &str,
        worker: &str,
        class: FailureClass,
        message: &str,
    ) -> Result<FailureResult, WorkError> {
        let outcome = {
            let mut q = self.queue.lock().await;
            let now = Instant::now();
            let attempt = q.validate(lease, key, worker, now)?;
            let outcome = q.failure_outcome(key, attempt, class, message, now);
            self.journal
                .record_attempt(&AttemptMarker {
                    key: key.to_string(),
                    attempt,
                    class,
                    message: message.to_string(),
                })
                .await?;
            q.apply_failure(&outcome, message);
            outcome
        };
        match outcome {
            FailureOutcome::Retry {
                attempts,
                not_before,
                ..
            } => Ok(FailureResult::WillRetry {
                attempt: attempts,
                retry_in: not_before.saturating_duration_since(Instant::now()),
            }),
            FailureOutcome::Quarantine {
                attempts, reason, ..
            } => {
                let report_uri = self.quarantine_file(key, attempts, &reason).await?;
                Ok(FailureResult::Quarantined {
                    attempts,
                    report_uri,
                })
            }
        }
    }

    /// Return leases that ran out to the queue (each counts as a failed attempt, so a
    /// file that kills every worker ends in quarantine instead of looping).
    pub async fn expire_leases(&self) -> Result<usize, WorkError> {
        self.expire_leases_at(Instant::now()).await
    }

    /// [`Self::expire_leases`] as of `now`.
    pub async fn expire_leases_at(&self, now: Instant) -> Result<usize, WorkError> {
        let expired = self.queue.lock().await.expired(now);
        let n = expired.len();
        for (lease, key, _attempt) in expired {
            match self
                .fail(
                    &lease,
                    &key,
                    "",
                    FailureClass::LeaseExpired,
                    "lease expired without a heartbeat",
                )
                .await
            {
                Ok(_) | Err(WorkError::Lease(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Copy the file and an error report to the quarantine location, then record it.
    async fn quarantine_file(
        &self,
        key: &str,
        attempts: u32,
        reason: &str,
    ) -> Result<String, WorkError> {
        let src = Path::from(key);
        let qprefix = self.plan.quarantine.prefix();
        let rel = output_folder(&self.plan.source.prefix(), &Path::default(), &src);
        let file_name = src.filename().unwrap_or("file.stdf").to_string();
        let dest = qprefix.clone().join(rel.as_ref()).join(file_name.as_str());
        let report = qprefix.join(rel.as_ref()).join("error.json");
        let err = |source| WorkError::Quarantine {
            key: key.to_string(),
            source,
        };
        let bytes = self
            .source
            .get(&src)
            .await
            .map_err(err)?
            .bytes()
            .await
            .map_err(err)?;
        self.quarantine
            .put(&dest, PutPayload::from(bytes))
            .await
            .map_err(err)?;
        let body = serde_json::json!({
            "job": self.plan.job,
            "source": self.plan.source.uri_of(&src),
            "attempts": attempts,
            "reason": reason,
        });
        self.quarantine
            .put(
                &report,
                PutPayload::from(serde_json::to_vec_pretty(&body).unwrap_or_default()),
            )
            .await
            .map_err(err)?;
        self.journal
            .record_quarantine(&QuarantineMarker {
                key: key.to_string(),
                attempts,
                reason: reason.to_string(),
            })
            .await?;
        self.queue
            .lock()
            .await
            .mark_quarantined(key, attempts, reason.to_string());
        Ok(self.plan.quarantine.uri_of(&report))
    }
}

fn pending() -> crate::queue::FileState {
    crate::queue::FileState::Pending {
        attempts: 0,
        not_before: None,
        last_error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dirs(std::path::PathBuf);
    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn plan(tag: &str, files: usize) -> (JobPlan, Dirs) {
        let root = std::env::temp_dir().join(format!("mlfleet-work-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("in")).unwrap();
        for i in 0..files {
            std::fs::write(root.join("in").join(format!("f{i}.stdf")), b"stdf").unwrap();
        }
        let uri = |p: &str| format!("file://{}/{p}", root.display());
        let policy = QueuePolicy {
            lease_ttl: Duration::from_millis(50),
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..QueuePolicy::default()
        };
        (
            JobPlan {
                job: "ns/job".into(),
                source: Location::parse(&uri("in")).unwrap(),
                selection: Selection::new(&[], None).unwrap(),
                output: Location::parse(&uri("out")).unwrap(),
                quarantine: Location::parse(&uri("quarantine")).unwrap(),
                s3: S3Settings::default(),
                policy,
            },
            Dirs(root),
        )
    }

    async fn claim_after_recovery(w: &JobWork, worker: &str) -> Option<Claim> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(c) = w.claim(worker).await {
                return Some(c);
            }
            if w.counts().await.pending == 0 || Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn restart_keeps_exact_counts() {
        let (plan, _dirs) = plan("restart", 3);
        let w = JobWork::open(plan.clone(), "one").await.unwrap();
        let c = claim_after_recovery(&w, "w1").await.unwrap();
        assert!(c.output_uri.ends_with("/out/f0"), "{}", c.output_uri);
        assert_eq!(
            w.complete(&c.lease, &c.key, "w1", FileStats::default())
                .await
                .unwrap(),
            Completion::Counted
        );
        let c2 = w.claim("w1").await.unwrap();
        w.fail(
            &c2.lease,
            &c2.key,
            "w1",
            FailureClass::Corrupt,
            "bad record",
        )
        .await
        .unwrap();
        drop(w);

        // A new incarnation rebuilt from the journal and the source.
        let w = JobWork::open(plan, "two").await.unwrap();
        let c = w.counts().await;
        assert_eq!((c.total, c.parsed, c.quarantined, c.pending), (3, 1, 1, 1));
        let c3 = claim_after_recovery(&w, "w2").await.unwrap();
        assert_eq!(
            c3.key, "f2.stdf",
            "parsed and quarantined files are not handed out again"
        );
        assert_eq!(
            w.complete("one-1", "f0.stdf", "w1", FileStats::default())
                .await
                .unwrap(),
            Completion::AlreadyCounted,
            "a repeated completion is not counted twice"
        );
    }

    #[tokio::test]
    async fn quarantine_copies_file_and_report() {
        let (plan, dirs) = plan("quarantine", 1);
        let w = JobWork::open(plan, "q").await.unwrap();
        let mut last = None;
        for _ in 0..3 {
            let c = claim_after_recovery(&w, "w").await.unwrap();
            last = Some(
                w.fail(&c.lease, &c.key, "w", FailureClass::Transient, "disk full")
                    .await
                    .unwrap(),
            );
        }
        assert!(
            matches!(last, Some(FailureResult::Quarantined { attempts: 3, .. })),
            "{last:?}"
        );
        assert!(dirs.0.join("quarantine/f0/f0.stdf").exists());
        let report = std::fs::read_to_string(dirs.0.join("quarantine/f0/error.json")).unwrap();
        assert!(
            report.contains("disk full") && report.contains("\"attempts\": 3"),
            "{report}"
        );
        let c = w.counts().await;
        assert_eq!((c.quarantined, c.failed, c.depth()), (1, 1, 0));
    }

    #[tokio::test]
    async fn expired_lease_returns_file_as_failed_attempt() {
        let (plan, _dirs) = plan("expire", 1);
        let w = JobWork::open(plan, "e").await.unwrap();
        let c = claim_after_recovery(&w, "w").await.unwrap();
        assert_eq!(w.expire_leases().await.unwrap(), 0, "lease still valid");
        let later = Instant::now() + Duration::from_millis(60);
        assert_eq!(w.expire_leases_at(later).await.unwrap(), 1);
        let c2 = claim_after_recovery(&w, "w2").await.unwrap();
        assert_eq!((c2.key.as_str(), c2.attempt), (c.key.as_str(), 2));
    }

    #[test]
    fn output_folder_mirrors_source_layout() {
        let f = output_folder(
            &Path::from("in"),
            &Path::from("out"),
            &Path::from("in/lot1/w3.stdf.gz"),
        );
        assert_eq!(f.as_ref(), "out/lot1/w3");
    }
}
