//! The STDFParserJob status computed from the queue (pure).

use crd_types::common::{Condition, ConditionStatus, set_condition};
use crd_types::ingest::{
    FileCounts, IngestMode, IngestPhase, STDFParserJobStatus, condition_types,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::queue::Counts;

/// What the status is computed from.
#[derive(Clone, Debug)]
pub struct Observed {
    pub counts: Counts,
    /// (latency ms, input bytes) of every parsed file.
    pub samples: Vec<(u64, u64)>,
    pub workers: i32,
    pub mode: IngestMode,
    pub suspended: bool,
    pub generation: Option<i64>,
}

/// The 95th percentile (nearest rank) of `values`.
pub fn p95(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (values.len() * 95).div_ceil(100).max(1);
    Some(values[rank - 1])
}

/// The next status from the previous one and what was observed at `now`.
pub fn next_status(prev: &STDFParserJobStatus, o: &Observed, now: Time) -> STDFParserJobStatus {
    let c = &o.counts;
    let files = FileCounts {
        total: c.total as i64,
        pending: c.pending as i64,
        leased: c.leased as i64,
        failed: c.failed.saturating_sub(c.quarantined) as i64,
        parsed: c.parsed as i64,
        quarantined: c.quarantined as i64,
    };
    let finished = c.total > 0 && c.depth() == 0;
    let phase = if o.suspended {
        IngestPhase::Suspended
    } else if finished && o.mode == IngestMode::Batch {
        IngestPhase::Succeeded
    } else if c.depth() == 0 && o.mode == IngestMode::Continuous {
        IngestPhase::Idle
    } else if c.total > 0 {
        IngestPhase::Running
    } else {
        IngestPhase::Pending
    };
    let mut latencies: Vec<u64> = o.samples.iter().map(|(ms, _)| *ms).collect();
    let bytes: u64 = o.samples.iter().map(|(_, b)| *b).sum();
    let start = prev
        .start_time
        .clone()
        .or_else(|| (c.parsed + c.leased + c.quarantined > 0).then(|| now.clone()));
    let completion_time = match (phase, &prev.completion_time) {
        (IngestPhase::Succeeded, Some(t)) => Some(t.clone()),
        (IngestPhase::Succeeded, None) => Some(now.clone()),
        _ => None,
    };
    let elapsed = match (&start, &completion_time) {
        (Some(s), Some(e)) => e.0.duration_since(s.0).as_secs_f64(),
        (Some(s), None) => now.0.duration_since(s.0).as_secs_f64(),
        _ => 0.0,
    };
    let rate = |x: f64| (elapsed > 0.0).then(|| (x / elapsed * 1000.0).round() / 1000.0);
    let mut conditions = prev.conditions.clone();
    let cond = |t: &str, ok: bool, reason: &str, msg: String| {
        Condition::new(
            t,
            if ok {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            reason,
            msg,
            o.generation,
            now.clone(),
        )
    };
    set_condition(
        &mut conditions,
        cond(
            condition_types::INVALID_SPEC,
            false,
            "SpecValid",
            String::new(),
        ),
    );
    set_condition(
        &mut conditions,
        cond(
            condition_types::SOURCE_READY,
            true,
            "Listed",
            format!("{} files known", c.total),
        ),
    );
    if o.mode == IngestMode::Batch {
        set_condition(
            &mut conditions,
            cond(
                condition_types::COMPLETE,
                finished,
                if finished {
                    "AllFilesFinished"
                } else {
                    "FilesRemaining"
                },
                format!(
                    "{} parsed, {} quarantined of {}",
                    c.parsed, c.quarantined, c.total
                ),
            ),
        );
    }
    STDFParserJobStatus {
        observed_generation: o.generation,
        phase,
        conditions,
        queue_depth: c.depth() as i64,
        workers: o.workers,
        completion_percent: files.completion_percent(),
        files,
        bytes_parsed: bytes as i64,
        throughput_files_per_second: rate(c.parsed as f64),
        throughput_mb_per_second: rate(bytes as f64 / 1_000_000.0),
        p95_file_latency_seconds: p95(&mut latencies).map(|ms| ms as f64 / 1000.0),
        start_time: start,
        completion_time,
        last_scale_time: if prev.workers != o.workers {
            Some(now)
        } else {
            prev.last_scale_time.clone()
        },
    }
}

/// The status of a spec the controller cannot act on.
pub fn invalid_status(
    prev: &STDFParserJobStatus,
    generation: Option<i64>,
    message: &str,
    now: Time,
) -> STDFParserJobStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    s.phase = IngestPhase::Failed;
    set_condition(
        &mut s.conditions,
        Condition::new(
            condition_types::INVALID_SPEC,
            ConditionStatus::True,
            "InvalidSpec",
            message,
            generation,
            now,
        ),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap())
    }

    fn observed(total: u64, parsed: u64, quarantined: u64, pending: u64) -> Observed {
        Observed {
            counts: Counts {
                total,
                pending,
                leased: 0,
                parsed,
                quarantined,
                failed: quarantined,
            },
            samples: (1..=parsed).map(|i| (i * 100, 1_000_000)).collect(),
            workers: 2,
            mode: IngestMode::Batch,
            suspended: false,
            generation: Some(1),
        }
    }

    #[test]
    fn p95_is_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        assert_eq!(p95(&mut v), Some(95));
        assert_eq!(p95(&mut [7]), Some(7));
        assert_eq!(p95(&mut []), None);
    }

    #[test]
    fn batch_job_succeeds_with_exact_counts() {
        let running = next_status(
            &STDFParserJobStatus::default(),
            &observed(40, 10, 0, 30),
            t(0),
        );
        assert_eq!(running.phase, IngestPhase::Running);
        assert_eq!((running.queue_depth, running.completion_percent), (30, 25));
        let done = next_status(&running, &observed(40, 38, 2, 0), t(10));
        assert_eq!(done.phase, IngestPhase::Succeeded);
        assert_eq!(done.completion_percent, 100);
        assert_eq!(
            (done.files.parsed, done.files.quarantined, done.files.failed),
            (38, 2, 0)
        );
        assert_eq!(done.completion_time, Some(t(10)));
        assert_eq!(done.throughput_files_per_second, Some(3.8));
        assert!(crd_types::common::condition_is_true(
            &done.conditions,
            condition_types::COMPLETE
        ));
        let again = next_status(&done, &observed(40, 38, 2, 0), t(99));
        assert_eq!(
            again.completion_time,
            Some(t(10)),
            "completion time is kept"
        );
    }
}
