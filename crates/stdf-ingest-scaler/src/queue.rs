//! The file queue of one STDFParserJob: which files wait, which are leased to a
//! worker, which are parsed and which are quarantined.
//!
//! Pure state, no I/O: the caller passes the clock in and makes every transition
//! durable in the [`journal`](crate::journal) *before* applying it here, so a restart
//! rebuilds exactly this state from the journal and the source listing.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// How a worker classifies a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The file itself is bad (decode error): quarantine at once, no retry.
    Corrupt,
    /// Anything that may pass on a retry (I/O, out of memory, a killed worker).
    Transient,
    /// The lease ran out without a heartbeat: the worker died or hung.
    LeaseExpired,
}

/// What a worker reports about a parsed file.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileStats {
    /// STDF records decoded.
    pub records: u64,
    /// Rows written across all output tables.
    pub rows: u64,
    /// Size of the input in bytes.
    pub bytes: u64,
    /// Wall time from claim to completion, in milliseconds.
    pub duration_ms: u64,
    /// Where the output went.
    pub output_uri: String,
}

/// The state of one source file.
#[derive(Clone, Debug, PartialEq)]
pub enum FileState {
    /// Waiting for a worker; `not_before` holds back a retry.
    Pending {
        attempts: u32,
        not_before: Option<Instant>,
        last_error: Option<String>,
    },
    /// A worker holds it until `expires`.
    Leased {
        lease: String,
        worker: String,
        expires: Instant,
        attempts: u32,
    },
    /// Parsed; never handed out again.
    Parsed(FileStats),
    /// Given up on; copied to the quarantine location with an error report.
    Quarantined { attempts: u32, reason: String },
}

/// A file handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Opaque lease id, unique across restarts of the scaler.
    pub id: String,
    /// The source object key.
    pub key: String,
    /// When the lease lapses unless renewed.
    pub expires: Instant,
    /// Attempt number of this lease (1 for the first).
    pub attempt: u32,
}

/// Why a lease operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeaseError {
    /// No such lease, and the file it named is not waiting either.
    #[error("lease {0} is unknown or has expired")]
    Unknown(String),
    /// Another worker holds the file now.
    #[error("file {key} is leased to another worker")]
    HeldElsewhere { key: String },
    /// The file is finished already (parsed or quarantined).
    #[error("file {key} is already {state}")]
    Finished { key: String, state: &'static str },
}

/// What must follow a failure report.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureOutcome {
    /// The file waits again until `not_before`.
    Retry {
        key: String,
        attempts: u32,
        not_before: Instant,
    },
    /// The file must be quarantined now.
    Quarantine {
        key: String,
        attempts: u32,
        reason: String,
    },
}

/// Counts shown in the STDFParserJob status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub pending: u64,
    pub leased: u64,
    pub parsed: u64,
    pub quarantined: u64,
    /// Files that failed at least once and are not parsed (retrying or quarantined).
    pub failed: u64,
}

impl Counts {
    /// Files still to be finished: what the queue-depth signals report.
    pub fn depth(&self) -> u64 {
        self.pending + self.leased
    }

    /// Percent of files finished (parsed or quarantined).
    pub fn completion_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 * (self.parsed + self.quarantined) as f64 / self.total as f64
    }
}

/// Retry and lease settings.
#[derive(Clone, Debug)]
pub struct QueuePolicy {
    /// Attempts before a file is quarantined (`retry.maxAttempts`).
    pub max_attempts: u32,
    /// How long a lease lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            lease_ttl: Duration::from_secs(30),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl QueuePolicy {
    /// Delay before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(16);
        self.base_backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }
}

#[derive(Clone, Debug)]
struct Entry {
    seq: u64,
    state: FileState,
}

/// The queue itself.
#[derive(Debug)]
pub struct FileQueue {
    policy: QueuePolicy,
    incarnation: String,
    next_lease: u64,
    next_seq: u64,
    files: HashMap<String, Entry>,
    /// Pending files in discovery order.
    pending: BTreeSet<(u64, String)>,
    /// Lease id -> file key.
    leases: HashMap<String, String>,
    /// Stable file id ([`crate::journal::file_id`]) -> file key.
    by_id: HashMap<String, String>,
    /// Until then no new claims: workers holding leases from before a restart may
    /// still heartbeat or complete, and are re-adopted instead of duplicated.
    recovering_until: Option<Instant>,
}

impl FileQueue {
    /// A new, empty queue. `incarnation` makes lease ids unique across restarts.
    pub fn new(policy: QueuePolicy, incarnation: impl Into<String>) -> Self {
        Self {
            policy,
            incarnation: incarnation.into(),
            next_lease: 0,
            next_seq: 0,
            files: HashMap::new(),
            pending: BTreeSet::new(),
            leases: HashMap::new(),
            by_id: HashMap::new(),
            recovering_until: None,
        }
    }

    /// Hold back claims until `until` (set after rebuilding from the journal).
    pub fn recover_until(&mut self, until: Instant) {
        self.recovering_until = Some(until);
    }

    /// The retry and lease settings.
    pub fn policy(&self) -> &QueuePolicy {
        &self.policy
    }

    /// Add a file seen in the source, in the given state (from the journal); a file
    /// already known is left as it is. Returns whether it was new.
    pub fn insert(&mut self, key: &str, state: FileState) -> bool {
        if self.files.contains_key(key) {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let FileState::Pending { .. } = state {
            self.pending.insert((seq, key.to_string()));
        }
        self.by_id
            .insert(crate::journal::file_id(key), key.to_string());
        self.files.insert(key.to_string(), Entry { seq, state });
        true
    }

    /// The key of the file with stable id `id`.
    pub fn key_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }

    /// The state of a file.
    pub fn state(&self, key: &str) -> Option<&FileState> {
        self.files.get(key).map(|e| &e.state)
    }

    /// Hand the oldest waiting file to `worker`.
    pub fn claim(&mut self, worker: &str, now: Instant) -> Option<Lease> {
        if self.recovering_until.is_some_and(|t| now < t) {
            return None;
        }
        let (seq, key) = self
            .pending
            .iter()
            .find(|(_, key)| match &self.files[key].state {
                FileState::Pending { not_before, .. } => not_before.is_none_or(|t| t <= now),
                _ => false,
            })?
            .clone();
        self.pending.remove(&(seq, key.clone()));
        let attempts = match &self.files[&key].state {
            FileState::Pending { attempts, .. } => *attempts,
            _ => 0,
        };
        Some(self.lease_to(&key, worker, attempts, now))
    }

    fn lease_to(&mut self, key: &str, worker: &str, attempts: u32, now: Instant) -> Lease {
        self.next_lease += 1;
        let id = format!("{}-{}", self.incarnation, self.next_lease);
        let expires = now + self.policy.lease_ttl;
        self.leases.insert(id.clone(), key.to_string());
        let entry = self.files.get_mut(key).expect("leased file is known");
        entry.state = FileState::Leased {
            lease: id.clone(),
            worker: worker.to_string(),
            expires,
            attempts,
        };
        Lease {
            id,
            key: key.to_string(),
            expires,
            attempt: attempts + 1,
        }
    }

    /// Resolve a lease to its file. A lease issued before a restart is re-adopted
    /// when its file is still waiting, so its worker can finish instead of a second
    /// worker parsing the same file.
    fn resolve(
        &mut self,
        lease: &str,
        key: &str,
        worker: &str,
        now: Instant,
    ) -> Result<(), LeaseError> {
        if self.leases.get(lease).is_some_and(|k| k == key) {
            return Ok(());
        }
        let entry = self
            .files
            .get(key)
            .ok_or_else(|| LeaseError::Unknown(lease.to_string()))?;
        match &entry.state {
            FileState::Pending { attempts, .. } => {
                let attempts = *attempts;
                let seq = entry.seq;
                self.pending.remove(&(seq, key.to_string()));
                self.files.get_mut(key).expect("known").state = FileState::Leased {
                    lease: lease.to_string(),
                    worker: worker.to_string(),
                    expires: now + self.policy.lease_ttl,
                    attempts,
                };
                self.leases.insert(lease.to_string(), key.to_string());
                Ok(())
            }
            FileState::Leased { .. } => Err(LeaseError::HeldElsewhere {
                key: key.to_string(),
            }),
            FileState::Parsed(_) => Err(LeaseError::Finished {
                key: key.to_string(),
                state: "parsed",
            }),
            FileState::Quarantined { .. } => Err(LeaseError::Finished {
                key: key.to_string(),
                state: "quarantined",
            }),
        }
    }

    /// Renew a lease; returns the new expiry.
    pub fn heartbeat(
        &mut self,
        lease: &str,
        key: &str,
        worker: &str,
        now: Instant,
    ) -> Result<Instant, LeaseError> {
        self.resolve(lease, key, worker, now)?;
        let expires = now + self.policy.lease_ttl;
        if let Some(Entry {
            state: FileState::Leased { expires: e, .. },
            ..
        }) = self.files.get_mut(key)
        {
            *e = expires;
        }
        Ok(expires)
    }

    /// Check that `lease` may complete or fail its file (call before writing the
    /// journal marker, then apply with [`Self::mark_parsed`] / [`Self::apply_failure`]).
    pub fn validate(
        &mut self,
        lease: &str,
        key: &str,
        worker: &str,
        now: Instant,
    ) -> Result<u32, LeaseError> {
        self.resolve(lease, key, worker, now)?;
        match &self.files[key].state {
            FileState::Leased { attempts, .. } => Ok(attempts + 1),
            _ => Err(LeaseError::Unknown(lease.to_string())),
        }
    }

    /// Record a parsed file (after its journal marker is durable).
    pub fn mark_parsed(&mut self, key: &str, stats: FileStats) {
        self.finish(key, FileState::Parsed(stats));
    }

    /// Record a quarantined file (after its journal marker is durable).
    pub fn mark_quarantined(&mut self, key: &str, attempts: u32, reason: String) {
        self.finish(key, FileState::Quarantined { attempts, reason });
    }

    fn finish(&mut self, key: &str, state: FileState) {
        if let Some(entry) = self.files.get_mut(key) {
            if let FileState::Leased { lease, .. } = &entry.state {
                self.leases.remove(lease);
            }
            self.pending.remove(&(entry.seq, key.to_string()));
            entry.state = state;
        }
    }

    /// Decide what a failure of attempt number `attempt` means for `key`.
    pub fn failure_outcome(
        &self,
        key: &str,
        attempt: u32,
        class: FailureClass,
        message: &str,
        now: Instant,
    ) -> FailureOutcome {
        if class == FailureClass::Corrupt || attempt >= self.policy.max_attempts {
            let why = match class {
                FailureClass::Corrupt => format!("corrupt file: {message}"),
                _ => format!("gave up after {attempt} attempts: {message}"),
            };
            FailureOutcome::Quarantine {
                key: key.to_string(),
                attempts: attempt,
                reason: why,
            }
        } else {
            FailureOutcome::Retry {
                key: key.to_string(),
                attempts: attempt,
                not_before: now + self.policy.backoff(attempt),
            }
        }
    }

    /// Apply a failure outcome (after its journal marker is durable). A quarantine
    /// outcome leaves the file leased until [`Self::mark_quarantined`].
    pub fn apply_failure(&mut self, outcome: &FailureOutcome, message: &str) {
        if let FailureOutcome::Retry {
            key,
            attempts,
            not_before,
        } = outcome
            && let Some(entry) = self.files.get_mut(key)
        {
            if let FileState::Leased { lease, .. } = &entry.state {
                self.leases.remove(lease);
            }
            entry.state = FileState::Pending {
                attempts: *attempts,
                not_before: Some(*not_before),
                last_error: Some(message.to_string()),
            };
            self.pending.insert((entry.seq, key.clone()));
        }
    }

    /// Leases past their expiry at `now`, with the attempt number they were on.
    pub fn expired(&self, now: Instant) -> Vec<(String, String, u32)> {
        let mut out: Vec<_> = self
            .files
            .iter()
            .filter_map(|(key, e)| match &e.state {
                FileState::Leased {
                    lease,
                    expires,
                    attempts,
                    ..
                } if *expires <= now => Some((lease.clone(), key.clone(), attempts + 1)),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    /// Status counts.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            total: self.files.len() as u64,
            ..Counts::default()
        };
        for e in self.files.values() {
            match &e.state {
                FileState::Pending { attempts, .. } => {
                    c.pending += 1;
                    c.failed += u64::from(*attempts > 0);
                }
                FileState::Leased { attempts, .. } => {
                    c.leased += 1;
                    c.failed += u64::from(*attempts > 0);
                }
                FileState::Parsed(_) => c.parsed += 1,
                FileState::Quarantined { .. } => {
                    c.quarantined += 1;
                    c.failed += 1;
                }
            }
        }
        c
    }

    /// Stats of every parsed file (for throughput and latency percentiles).
    pub fn parsed_stats(&self) -> impl Iterator<Item = &FileStats> {
        self.files.values().filter_map(|e| match &e.state {
            FileState::Parsed(s) => Some(s),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(n: usize) -> (FileQueue, Instant) {
        let mut q = FileQueue::new(QueuePolicy::default(), "a");
        for i in 0..n {
            q.insert(
                &format!("f{i}.stdf"),
                FileState::Pending {
                    attempts: 0,
                    not_before: None,
                    last_error: None,
                },
            );
        }
        (q, Instant::now())
    }

    #[test]
    fn claims_in_discovery_order_and_never_twice() {
        let (mut q, now) = queue(3);
        let a = q.claim("w1", now).unwrap();
        let b = q.claim("w2", now).unwrap();
        let c = q.claim("w1", now).unwrap();
        assert_eq!(
            [a.key.as_str(), b.key.as_str(), c.key.as_str()],
            ["f0.stdf", "f1.stdf", "f2.stdf"]
        );
        assert!(q.claim("w3", now).is_none());
        assert_eq!(q.counts().leased, 3);
        assert_eq!(q.counts().depth(), 3);
    }

    #[test]
    fn parsed_file_is_never_handed_out_again() {
        let (mut q, now) = queue(1);
        let l = q.claim("w", now).unwrap();
        assert_eq!(q.validate(&l.id, &l.key, "w", now), Ok(1));
        q.mark_parsed(&l.key, FileStats::default());
        assert!(q.claim("w", now).is_none());
        assert_eq!(
            q.validate(&l.id, &l.key, "w", now),
            Err(LeaseError::Finished {
                key: l.key.clone(),
                state: "parsed"
            })
        );
        let c = q.counts();
        assert_eq!((c.parsed, c.depth(), c.completion_percent()), (1, 0, 100.0));
    }

    #[test]
    fn transient_failures_back_off_then_quarantine_at_max_attempts() {
        let (mut q, now) = queue(1);
        let mut t = now;
        for attempt in 1..=3 {
            let l = q
                .claim("w", t)
                .expect("file is claimable after its backoff");
            assert_eq!(l.attempt, attempt);
            let n = q.validate(&l.id, &l.key, "w", t).unwrap();
            let out = q.failure_outcome(&l.key, n, FailureClass::Transient, "io", t);
            if attempt < 3 {
                let FailureOutcome::Retry { not_before, .. } = out else {
                    panic!("attempt {attempt} should retry, got {out:?}")
                };
                q.apply_failure(&out, "io");
                assert!(q.claim("w", t).is_none(), "held back during backoff");
                t = not_before;
            } else {
                assert!(matches!(
                    out,
                    FailureOutcome::Quarantine { attempts: 3, .. }
                ));
                q.mark_quarantined(&l.key, 3, "io".into());
            }
        }
        let c = q.counts();
        assert_eq!((c.quarantined, c.failed, c.depth()), (1, 1, 0));
    }

    #[test]
    fn corrupt_file_is_quarantined_on_first_failure() {
        let (mut q, now) = queue(1);
        let l = q.claim("w", now).unwrap();
        let n = q.validate(&l.id, &l.key, "w", now).unwrap();
        assert!(matches!(
            q.failure_outcome(&l.key, n, FailureClass::Corrupt, "bad REC_LEN", now),
            FailureOutcome::Quarantine { attempts: 1, .. }
        ));
    }

    #[test]
    fn heartbeat_extends_and_expiry_is_reported() {
        let (mut q, now) = queue(1);
        let l = q.claim("w", now).unwrap();
        let later = now + Duration::from_secs(20);
        let renewed = q.heartbeat(&l.id, &l.key, "w", later).unwrap();
        assert_eq!(renewed, later + q.policy().lease_ttl);
        assert!(q.expired(now + Duration::from_secs(31)).is_empty());
        assert_eq!(q.expired(renewed), vec![(l.id.clone(), l.key.clone(), 1)]);
    }

    #[test]
    fn lease_from_before_a_restart_is_readopted_not_duplicated() {
        // A new incarnation rebuilt from the journal: the file is pending again.
        let (mut q, now) = queue(1);
        q.recover_until(now + Duration::from_secs(30));
        assert!(q.claim("w2", now).is_none(), "no claims while recovering");
        // The old worker still holds "old-7" and completes it.
        assert_eq!(q.validate("old-7", "f0.stdf", "w1", now), Ok(1));
        q.mark_parsed("f0.stdf", FileStats::default());
        assert!(q.claim("w2", now + Duration::from_secs(31)).is_none());
        assert_eq!(q.counts().parsed, 1);
    }

    #[test]
    fn a_second_worker_cannot_take_a_held_file() {
        let (mut q, now) = queue(1);
        let _l = q.claim("w1", now).unwrap();
        assert_eq!(
            q.validate("stale-1", "f0.stdf", "w2", now),
            Err(LeaseError::HeldElsewhere {
                key: "f0.stdf".into()
            })
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = QueuePolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(2));
        assert_eq!(p.backoff(2), Duration::from_secs(4));
        assert_eq!(p.backoff(30), p.max_backoff);
    }
}
