//! The jobs this scaler serves: each STDFParserJob's live [`JobWork`] plus the
//! settings its workers and autoscalers need. The reconciler adds and removes jobs;
//! the gRPC services read them.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::RwLock;

use crate::work::JobWork;

/// Output table format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
}

/// Output layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Records,
    Measurements,
    Both,
}

/// One served job.
#[derive(Debug)]
pub struct JobEntry {
    pub work: Arc<JobWork>,
    pub format: Format,
    pub layout: Layout,
    /// Target files per worker (the KEDA metric target).
    pub files_per_worker: u32,
    /// KEDA `IsActive` is true when the depth exceeds this (KEDA applies no activation
    /// threshold of its own for external scalers).
    pub activation_depth: u64,
    /// Batch jobs are done when every file is finished.
    pub batch: bool,
}

/// All served jobs, keyed `namespace/name`.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    jobs: Arc<RwLock<BTreeMap<String, Arc<JobEntry>>>>,
}

/// `namespace/name`.
pub fn job_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Registry {
    /// Add or replace a job.
    pub async fn insert(&self, key: String, entry: JobEntry) -> Arc<JobEntry> {
        let entry = Arc::new(entry);
        self.jobs.write().await.insert(key, entry.clone());
        entry
    }

    /// Stop serving a job.
    pub async fn remove(&self, key: &str) -> Option<Arc<JobEntry>> {
        self.jobs.write().await.remove(key)
    }

    /// A job by `namespace/name`.
    pub async fn get(&self, key: &str) -> Option<Arc<JobEntry>> {
        self.jobs.read().await.get(key).cloned()
    }

    /// Every job.
    pub async fn all(&self) -> Vec<(String, Arc<JobEntry>)> {
        self.jobs
            .read()
            .await
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A lease id as workers see it: `namespace/name/<file id>/<queue lease>`. It names
/// the job and the file, so a scaler restarted since the lease was issued can still
/// resolve it (and re-adopt the lease instead of giving the file to a second worker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireLease {
    pub job: String,
    pub file_id: String,
    pub lease: String,
}

impl WireLease {
    /// Encode.
    pub fn encode(&self) -> String {
        format!("{}/{}/{}", self.job, self.file_id, self.lease)
    }

    /// Decode; `None` for anything not made by [`Self::encode`].
    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.splitn(4, '/');
        let (ns, name, id, lease) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if [ns, name, id, lease].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Self {
            job: job_key(ns, name),
            file_id: id.to_string(),
            lease: lease.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_lease_round_trips_and_rejects_garbage() {
        let l = WireLease {
            job: job_key("team-a", "lot42"),
            file_id: "0123abcd".into(),
            lease: "f00d-7".into(),
        };
        assert_eq!(WireLease::decode(&l.encode()), Some(l));
        assert_eq!(WireLease::decode("a/b/c"), None);
        assert_eq!(WireLease::decode("a//c/d"), None);
        assert_eq!(WireLease::decode(""), None);
    }
}
