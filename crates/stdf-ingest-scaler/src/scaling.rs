//! How many parser workers a job should run, from its queue depth.
//!
//! `ceil(depth / filesPerWorker)` clamped to `[minWorkers, maxWorkers]`; scaling up
//! happens at once, scaling down only after the cooldown has passed since the last
//! change, so a queue that drains and refills in bursts does not make the Deployment
//! flap. With `minWorkers: 0` an empty queue scales to zero.

use std::time::{Duration, Instant};

/// The scaling bounds of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalingBounds {
    pub min_workers: u32,
    pub max_workers: u32,
    pub files_per_worker: u32,
    pub cooldown: Duration,
}

/// The replica count a queue depth asks for, before the cooldown.
pub fn wanted_replicas(depth: u64, b: &ScalingBounds) -> u32 {
    let per = u64::from(b.files_per_worker.max(1));
    let wanted = depth.div_ceil(per).min(u64::from(u32::MAX)) as u32;
    wanted.clamp(b.min_workers, b.max_workers.max(b.min_workers))
}

/// Remembers the last change so scale-downs wait for the cooldown.
#[derive(Clone, Debug, Default)]
pub struct Scaler {
    current: Option<u32>,
    changed_at: Option<Instant>,
}

impl Scaler {
    /// A scaler that starts from the replicas the Deployment has now (if any).
    pub fn starting_at(current: Option<u32>) -> Self {
        Self {
            current,
            changed_at: None,
        }
    }

    /// The replicas to set now; remembers the decision.
    pub fn decide(&mut self, depth: u64, b: &ScalingBounds, now: Instant) -> u32 {
        let wanted = wanted_replicas(depth, b);
        let next = match self.current {
            Some(cur) if wanted < cur => {
                let cooled = self
                    .changed_at
                    .is_none_or(|t| now.duration_since(t) >= b.cooldown);
                if cooled { wanted } else { cur }
            }
            _ => wanted,
        };
        if self.current != Some(next) {
            self.current = Some(next);
            self.changed_at = Some(now);
        }
        next
    }

    /// When a held-back scale-down becomes due, for requeueing.
    pub fn next_check(&self, b: &ScalingBounds) -> Option<Instant> {
        self.changed_at.map(|t| t + b.cooldown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(min: u32, max: u32, per: u32) -> ScalingBounds {
        ScalingBounds {
            min_workers: min,
            max_workers: max,
            files_per_worker: per,
            cooldown: Duration::from_secs(60),
        }
    }

    #[test]
    fn replicas_follow_depth_within_bounds() {
        let b = bounds(1, 20, 5);
        assert_eq!(wanted_replicas(0, &b), 1);
        assert_eq!(wanted_replicas(1, &b), 1);
        assert_eq!(wanted_replicas(6, &b), 2);
        assert_eq!(wanted_replicas(40, &b), 8);
        assert_eq!(wanted_replicas(1000, &b), 20);
        assert_eq!(
            wanted_replicas(0, &bounds(0, 4, 2)),
            0,
            "continuous mode idles at zero"
        );
        assert_eq!(
            wanted_replicas(9, &bounds(0, 4, 0)),
            4,
            "filesPerWorker 0 is treated as 1"
        );
    }

    #[test]
    fn scale_up_is_immediate_scale_down_waits_for_cooldown() {
        let b = bounds(0, 10, 1);
        let t0 = Instant::now();
        let mut s = Scaler::starting_at(None);
        assert_eq!(s.decide(8, &b, t0), 8);
        assert_eq!(
            s.decide(10, &b, t0 + Duration::from_secs(1)),
            10,
            "up at once"
        );
        assert_eq!(
            s.decide(2, &b, t0 + Duration::from_secs(30)),
            10,
            "down held back"
        );
        assert_eq!(s.next_check(&b), Some(t0 + Duration::from_secs(61)));
        assert_eq!(
            s.decide(2, &b, t0 + Duration::from_secs(61)),
            2,
            "down after cooldown"
        );
        assert_eq!(s.decide(0, &b, t0 + Duration::from_secs(62)), 2);
        assert_eq!(s.decide(0, &b, t0 + Duration::from_secs(121)), 0);
    }
}
