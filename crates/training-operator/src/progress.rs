//! Progress reports from workers, folded into TrainingJob status at a bounded
//! rate: reports only update memory; a flusher writes at most one status patch
//! per job per interval, containing just the progress fields.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crd_types::TrainingJob;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::metrics::Metrics;

/// Latest progress of one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// Attempt the reports belong to.
    pub attempt: u32,
    /// Last completed epoch.
    pub epoch: u32,
    /// Total epochs (from the report, else the spec).
    pub total_epochs: Option<u32>,
    /// Metrics of the last report.
    pub metrics: BTreeMap<String, f64>,
    /// Latest checkpoint: path, epoch, time.
    pub checkpoint: Option<(String, u32, Timestamp)>,
    /// Not yet written.
    pub dirty: bool,
    /// When it was last written.
    pub written: Option<Instant>,
}

impl Entry {
    /// Percent complete, when the total is known.
    pub fn percent(&self) -> Option<u32> {
        let total = self.total_epochs.filter(|t| *t > 0)?;
        Some((u64::from(self.epoch) * 100 / u64::from(total)).min(100) as u32)
    }

    /// The status merge patch for this entry.
    pub fn patch(&self) -> Value {
        let mut status = json!({ "currentEpoch": self.epoch, "metrics": self.metrics });
        let obj = status.as_object_mut().expect("object literal");
        if let Some(total) = self.total_epochs {
            obj.insert("totalEpochs".into(), json!(total));
        }
        if let Some(p) = self.percent() {
            obj.insert("progress".into(), json!(p));
        }
        if let Some((path, epoch, t)) = &self.checkpoint {
            obj.insert(
                "lastCheckpoint".into(),
                json!({"path": path, "epoch": epoch, "time": Time(*t)}),
            );
        }
        json!({ "status": status })
    }
}

/// Why a report was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// From an attempt other than the current one.
    StaleAttempt {
        /// Reported attempt.
        reported: u32,
        /// Current attempt.
        current: u32,
    },
    /// A checkpoint older than the recorded one.
    OlderCheckpoint {
        /// Reported epoch.
        reported: u32,
        /// Recorded epoch.
        recorded: u32,
    },
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::StaleAttempt { reported, current } => {
                write!(
                    f,
                    "report from attempt {reported}, the job is on attempt {current}"
                )
            }
            Rejected::OlderCheckpoint { reported, recorded } => {
                write!(
                    f,
                    "checkpoint of epoch {reported} is older than the recorded epoch {recorded}"
                )
            }
        }
    }
}

/// In-memory progress per `namespace/name`.
#[derive(Debug, Default)]
pub struct ProgressBook {
    entries: Mutex<HashMap<String, Entry>>,
}

impl ProgressBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an epoch report.
    pub fn report_epoch(
        &self,
        key: &str,
        current_attempt: u32,
        reported_attempt: u32,
        epoch: u32,
        total: Option<u32>,
        metrics: BTreeMap<String, f64>,
    ) -> Result<(), Rejected> {
        if reported_attempt != current_attempt {
            return Err(Rejected::StaleAttempt {
                reported: reported_attempt,
                current: current_attempt,
            });
        }
        let mut map = self.lock();
        let e = map.entry(key.to_string()).or_default();
        e.attempt = current_attempt;
        // Epochs only move forward (a resumed attempt re-reports from its checkpoint).
        if epoch >= e.epoch || e.epoch == 0 {
            e.epoch = epoch;
            e.metrics = metrics;
        }
        if total.is_some() {
            e.total_epochs = total;
        }
        e.dirty = true;
        Ok(())
    }

    /// Records a checkpoint report.
    pub fn report_checkpoint(
        &self,
        key: &str,
        current_attempt: u32,
        reported_attempt: u32,
        epoch: u32,
        path: String,
        at: Timestamp,
    ) -> Result<(), Rejected> {
        if reported_attempt != current_attempt {
            return Err(Rejected::StaleAttempt {
                reported: reported_attempt,
                current: current_attempt,
            });
        }
        let mut map = self.lock();
        let e = map.entry(key.to_string()).or_default();
        if let Some((_, recorded, _)) = &e.checkpoint
            && epoch < *recorded
        {
            return Err(Rejected::OlderCheckpoint {
                reported: epoch,
                recorded: *recorded,
            });
        }
        e.attempt = current_attempt;
        e.checkpoint = Some((path, epoch, at));
        e.dirty = true;
        Ok(())
    }

    /// Latest checkpoint path known in memory.
    pub fn checkpoint(&self, key: &str) -> Option<String> {
        self.lock()
            .get(key)
            .and_then(|e| e.checkpoint.as_ref().map(|c| c.0.clone()))
    }

    /// Forgets a job.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Takes the entries due for a write: dirty and not written within `interval`.
    pub fn due(&self, interval: Duration) -> Vec<(String, Entry)> {
        let now = Instant::now();
        let mut map = self.lock();
        map.iter_mut()
            .filter(|(_, e)| e.dirty && e.written.is_none_or(|w| now.duration_since(w) >= interval))
            .map(|(k, e)| {
                e.dirty = false;
                e.written = Some(now);
                (k.clone(), e.clone())
            })
            .collect()
    }

    /// Marks an entry dirty again after a failed write.
    pub fn retry(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.dirty = true;
        }
    }
}

/// Writes due progress every `tick`, at most once per job per `interval`.
pub async fn flush_loop(
    client: kube::Client,
    book: std::sync::Arc<ProgressBook>,
    metrics: Metrics,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250).min(interval));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        for (key, entry) in book.due(interval) {
            let Some((ns, name)) = key.split_once('/') else {
                continue;
            };
            let api: Api<TrainingJob> = Api::namespaced(client.clone(), ns);
            let res = api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(entry.patch()))
                .await;
            match res {
                Ok(_) => {
                    metrics.progress_writes.inc();
                }
                Err(kube::Error::Api(e)) if e.code == 404 => book.remove(&key),
                Err(e) => {
                    tracing::warn!(job = %key, error = %e, "writing progress failed; will retry");
                    book.retry(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_reports_and_rejects_stale_ones() {
        let b = ProgressBook::default();
        for epoch in 1..=10 {
            b.report_epoch(
                "ns/j",
                0,
                0,
                epoch,
                Some(10),
                BTreeMap::from([("loss".into(), 1.0 / f64::from(epoch))]),
            )
            .unwrap();
        }
        assert_eq!(
            b.report_epoch("ns/j", 1, 0, 3, Some(10), BTreeMap::new()),
            Err(Rejected::StaleAttempt {
                reported: 0,
                current: 1
            })
        );
        let due = b.due(Duration::from_secs(5));
        assert_eq!(due.len(), 1, "ten reports, one write");
        let p = due[0].1.patch();
        assert_eq!(
            (
                p["status"]["currentEpoch"].clone(),
                p["status"]["progress"].clone()
            ),
            (json!(10), json!(100))
        );
        assert!(b.due(Duration::from_secs(5)).is_empty());
        // Rate bound: a new report within the interval waits.
        b.report_epoch("ns/j", 0, 0, 10, Some(10), BTreeMap::new())
            .unwrap();
        assert!(b.due(Duration::from_secs(5)).is_empty());
        assert_eq!(b.due(Duration::ZERO).len(), 1);
    }

    #[test]
    fn checkpoints_only_move_forward() {
        let b = ProgressBook::default();
        let t = Timestamp::now();
        b.report_checkpoint("ns/j", 0, 0, 4, "/ckpt/e4".into(), t)
            .unwrap();
        assert!(
            b.report_checkpoint("ns/j", 0, 0, 3, "/ckpt/e3".into(), t)
                .is_err()
        );
        assert_eq!(b.checkpoint("ns/j").as_deref(), Some("/ckpt/e4"));
    }
}
