//! How many parser workers a job runs now.
//!
//! The wanted count comes from the spec (`IngestScaling::desired_workers`: zero for an
//! empty queue, else `ceil(depth / filesPerWorker)` within `minWorkers..maxWorkers`).
//! This module adds the cooldown: scaling up happens at once, scaling down only once
//! the cooldown has passed since the last change, so a queue that drains and refills
//! in bursts does not make the Deployment flap.

use std::time::{Duration, Instant};

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

    /// The replicas to set now, given what the queue asks for; remembers the decision.
    pub fn decide(&mut self, wanted: u32, cooldown: Duration, now: Instant) -> u32 {
        let next = match self.current {
            Some(cur) if wanted < cur => {
                let cooled = self
                    .changed_at
                    .is_none_or(|t| now.duration_since(t) >= cooldown);
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

    /// When a held-back scale-down becomes due.
    pub fn next_check(&self, cooldown: Duration) -> Option<Instant> {
        self.changed_at.map(|t| t + cooldown)
    }

    /// The replicas last decided.
    pub fn current(&self) -> Option<u32> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crd_types::ingest::IngestScaling;

    #[test]
    fn replicas_follow_depth_within_bounds() {
        let s = IngestScaling {
            min_workers: 1,
            max_workers: 20,
            files_per_worker: 5,
            cooldown_seconds: 30,
        };
        let got: Vec<i32> = [0, 1, 6, 40, 1000]
            .iter()
            .map(|d| s.desired_workers(*d))
            .collect();
        assert_eq!(got, [0, 1, 2, 8, 20]);
    }

    #[test]
    fn scale_up_is_immediate_scale_down_waits_for_cooldown() {
        let cool = Duration::from_secs(60);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut s = Scaler::starting_at(None);
        assert_eq!(s.decide(8, cool, t0), 8);
        assert_eq!(s.decide(10, cool, at(1)), 10, "up at once");
        assert_eq!(s.decide(2, cool, at(30)), 10, "down held back");
        assert_eq!(s.next_check(cool), Some(at(61)));
        assert_eq!(s.decide(2, cool, at(61)), 2, "down after cooldown");
        assert_eq!(s.decide(0, cool, at(62)), 2);
        assert_eq!(s.decide(0, cool, at(121)), 0);
    }
}
