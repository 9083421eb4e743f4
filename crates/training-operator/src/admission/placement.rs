//! Worker-by-worker bin packing onto nodes.

use super::types::{NodeFree, WorkerDemand};

/// Places `workers` identical workers, each on the eligible node with the
/// least free GPUs (then CPU) that still has room (best fit, which keeps whole
/// nodes free for large gangs). On success the nodes' free capacity is reduced
/// and the per-node counts are returned; on failure `nodes` is left partly
/// consumed, so callers try on a copy.
pub fn place(
    nodes: &mut [NodeFree],
    demand: &WorkerDemand,
    workers: u32,
) -> Option<Vec<(String, u64)>> {
    let mut placed: Vec<(String, u64)> = Vec::new();
    for _ in 0..workers {
        let best = nodes
            .iter_mut()
            .filter(|n| n.has_room(demand))
            .min_by(|a, b| {
                a.gpus
                    .cmp(&b.gpus)
                    .then(a.cpu_millis.cmp(&b.cpu_millis))
                    .then(a.name.cmp(&b.name))
            })?;
        best.take(demand, 1);
        match placed.iter_mut().find(|(n, _)| *n == best.name) {
            Some((_, c)) => *c += 1,
            None => placed.push((best.name.clone(), 1)),
        }
    }
    Some(placed)
}

/// How many such workers fit on the nodes in total right now.
pub fn fits(nodes: &[NodeFree], demand: &WorkerDemand) -> u64 {
    nodes
        .iter()
        .filter(|n| n.accepts(demand))
        .map(|n| {
            let by = |free: u64, per: u64| free.checked_div(per).unwrap_or(u64::MAX);
            by(n.gpus, demand.gpus)
                .min(by(n.cpu_millis, demand.cpu_millis))
                .min(by(n.memory_bytes, demand.memory_bytes))
        })
        .map(|f| f.min(1 << 20))
        .sum()
}
