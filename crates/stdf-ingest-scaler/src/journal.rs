//! The durable record of a job's files, kept as small JSON markers in an object store
//! (usually beside the job's output): one folder per source file holding
//! `attempt-<n>.json` per failed attempt, `done.json` once parsed and
//! `quarantined.json` once given up on.
//!
//! Every marker is written with create-only semantics (`PutMode::Create`), so each
//! fact is recorded exactly once even when two writers race after a restart: a
//! parsed file is counted once, and an attempt number is used once. The scaler writes
//! a marker before it changes its in-memory [`FileQueue`](crate::queue::FileQueue),
//! so `kill -9` at any moment loses nothing: a restart lists the markers and the
//! source again and rebuilds the same queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::queue::{FailureClass, FileState, FileStats};

/// Errors reading or writing markers.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal store error at {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("journal marker {path} is not valid JSON: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptMarker {
    pub key: String,
    pub attempt: u32,
    pub class: FailureClass,
    pub message: String,
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoneMarker {
    pub key: String,
    pub stats: FileStats,
}

/// A quarantined file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuarantineMarker {
    pub key: String,
    pub attempts: u32,
    pub reason: String,
}

/// Whether a create-only marker was written by this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// This call wrote it.
    New,
    /// It existed already: someone recorded the same fact first.
    AlreadyThere,
}

/// What the journal knows about one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileRecord {
    pub key: String,
    pub attempts: Vec<AttemptMarker>,
    pub done: Option<DoneMarker>,
    pub quarantined: Option<QuarantineMarker>,
}

impl FileRecord {
    /// Number of attempts recorded as failed.
    pub fn failed_attempts(&self) -> u32 {
        self.attempts.iter().map(|a| a.attempt).max().unwrap_or(0)
    }

    /// The queue state this record stands for. A file whose failures reached
    /// `max_attempts` (or that was corrupt) but has no quarantine marker yet was cut
    /// off mid-quarantine: it comes back leased-free with its last failure so the
    /// caller finishes the quarantine.
    pub fn state(&self, max_attempts: u32) -> FileState {
        if let Some(d) = &self.done {
            return FileState::Parsed(d.stats.clone());
        }
        if let Some(q) = &self.quarantined {
            return FileState::Quarantined {
                attempts: q.attempts,
                reason: q.reason.clone(),
            };
        }
        FileState::Pending {
            attempts: self.failed_attempts().min(max_attempts),
            not_before: None,
            last_error: self.attempts.last().map(|a| a.message.clone()),
        }
    }

    /// A quarantine that was decided (and journaled as a failed attempt) but not
    /// finished before a crash.
    pub fn unfinished_quarantine(&self, max_attempts: u32) -> Option<&AttemptMarker> {
        if self.done.is_some() || self.quarantined.is_some() {
            return None;
        }
        self.attempts
            .iter()
            .find(|a| a.class == FailureClass::Corrupt || a.attempt >= max_attempts)
    }
}

/// Markers of one job under one prefix of a store.
#[derive(Clone, Debug)]
pub struct Journal {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// Stable folder name for a source key (hex SHA-256, first 32 hex digits).
pub fn file_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl Journal {
    /// A journal under `prefix` of `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Self { store, prefix }
    }

    fn path(&self, key: &str, name: &str) -> Path {
        self.prefix
            .clone()
            .join("files")
            .join(file_id(key))
            .join(name)
    }

    async fn create(&self, path: Path, body: Vec<u8>) -> Result<Recorded, JournalError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(body), opts)
            .await
        {
            Ok(_) => Ok(Recorded::New),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Recorded::AlreadyThere),
            Err(source) => Err(JournalError::Store {
                path: path.to_string(),
                source,
            }),
        }
    }

    fn encode<T: Serialize>(v: &T) -> Vec<u8> {
        serde_json::to_vec(v).expect("marker types always serialise")
    }

    /// Record a failed attempt.
    pub async fn record_attempt(&self, m: &AttemptMarker) -> Result<Recorded, JournalError> {
        let path = self.path(&m.key, &format!("attempt-{}.json", m.attempt));
        self.create(path, Self::encode(m)).await
    }

    /// Record a parsed file; [`Recorded::AlreadyThere`] means it was counted before.
    pub async fn record_done(&self, m: &DoneMarker) -> Result<Recorded, JournalError> {
        self.create(self.path(&m.key, "done.json"), Self::encode(m))
            .await
    }

    /// Record a quarantined file.
    pub async fn record_quarantine(&self, m: &QuarantineMarker) -> Result<Recorded, JournalError> {
        self.create(self.path(&m.key, "quarantined.json"), Self::encode(m))
            .await
    }

    /// Read every marker, grouped by source key.
    pub async fn load(&self) -> Result<BTreeMap<String, FileRecord>, JournalError> {
        let root = self.prefix.clone().join("files");
        let metas: Vec<_> = self
            .store
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|source| JournalError::Store {
                path: root.to_string(),
                source,
            })?;
        let mut by_id: BTreeMap<String, FileRecord> = BTreeMap::new();
        for meta in metas {
            let name = meta.location.filename().unwrap_or_default().to_string();
            let folder = meta
                .location
                .parts()
                .nth_back(1)
                .map(|p| p.as_ref().to_string())
                .unwrap_or_default();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let bytes = self
                .store
                .get(&meta.location)
                .await
                .map_err(|source| JournalError::Store {
                    path: meta.location.to_string(),
                    source,
                })?
                .bytes()
                .await
                .map_err(|source| JournalError::Store {
                    path: meta.location.to_string(),
                    source,
                })?;
            let decode_err = |source| JournalError::Decode {
                path: meta.location.to_string(),
                source,
            };
            let rec = by_id.entry(folder).or_default();
            if name == "done.json" {
                let m: DoneMarker = serde_json::from_slice(&bytes).map_err(decode_err)?;
                rec.key = m.key.clone();
                rec.done = Some(m);
            } else if name == "quarantined.json" {
                let m: QuarantineMarker = serde_json::from_slice(&bytes).map_err(decode_err)?;
                rec.key = m.key.clone();
                rec.quarantined = Some(m);
            } else if name.starts_with("attempt-") {
                let m: AttemptMarker = serde_json::from_slice(&bytes).map_err(decode_err)?;
                rec.key = m.key.clone();
                rec.attempts.push(m);
            }
        }
        let mut by_key = BTreeMap::new();
        for (_, mut rec) in by_id {
            rec.attempts.sort_by_key(|a| a.attempt);
            by_key.insert(rec.key.clone(), rec);
        }
        Ok(by_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn journal() -> Journal {
        Journal::new(
            Arc::new(InMemory::new()),
            Path::from("_mlfleet/jobs/ns/job"),
        )
    }

    fn attempt(key: &str, n: u32, class: FailureClass) -> AttemptMarker {
        AttemptMarker {
            key: key.into(),
            attempt: n,
            class,
            message: format!("failure {n}"),
        }
    }

    #[tokio::test]
    async fn markers_are_create_only() {
        let j = journal();
        let done = DoneMarker {
            key: "a/x.stdf".into(),
            stats: FileStats {
                records: 7,
                ..FileStats::default()
            },
        };
        assert_eq!(j.record_done(&done).await.unwrap(), Recorded::New);
        assert_eq!(j.record_done(&done).await.unwrap(), Recorded::AlreadyThere);
        let a = attempt("a/y.stdf", 1, FailureClass::Transient);
        assert_eq!(j.record_attempt(&a).await.unwrap(), Recorded::New);
        assert_eq!(j.record_attempt(&a).await.unwrap(), Recorded::AlreadyThere);
    }

    #[tokio::test]
    async fn load_rebuilds_every_file_state() {
        let j = journal();
        j.record_done(&DoneMarker {
            key: "done.stdf".into(),
            stats: FileStats {
                records: 3,
                ..FileStats::default()
            },
        })
        .await
        .unwrap();
        j.record_attempt(&attempt("retry.stdf", 1, FailureClass::Transient))
            .await
            .unwrap();
        j.record_attempt(&attempt("retry.stdf", 2, FailureClass::LeaseExpired))
            .await
            .unwrap();
        j.record_attempt(&attempt("bad.stdf", 1, FailureClass::Corrupt))
            .await
            .unwrap();
        j.record_quarantine(&QuarantineMarker {
            key: "bad.stdf".into(),
            attempts: 1,
            reason: "corrupt".into(),
        })
        .await
        .unwrap();
        j.record_attempt(&attempt("cut.stdf", 3, FailureClass::Transient))
            .await
            .unwrap();

        let recs = j.load().await.unwrap();
        assert_eq!(recs.len(), 4);
        assert!(matches!(recs["done.stdf"].state(3), FileState::Parsed(ref s) if s.records == 3));
        assert!(matches!(
            recs["bad.stdf"].state(3),
            FileState::Quarantined { attempts: 1, .. }
        ));
        assert!(matches!(
            recs["retry.stdf"].state(3),
            FileState::Pending { attempts: 2, .. }
        ));
        assert!(recs["retry.stdf"].unfinished_quarantine(3).is_none());
        assert_eq!(
            recs["cut.stdf"].unfinished_quarantine(3).map(|a| a.attempt),
            Some(3),
            "a quarantine cut off by a crash is found again"
        );
    }

    #[test]
    fn file_ids_are_stable_and_distinct() {
        assert_eq!(file_id("a.stdf"), file_id("a.stdf"));
        assert_ne!(file_id("a.stdf"), file_id("b.stdf"));
        assert_eq!(file_id("a.stdf").len(), 32);
    }
}
