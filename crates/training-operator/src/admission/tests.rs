use super::*;

fn gpu_node(name: &str, gpus: u64) -> NodeFree {
    NodeFree {
        name: name.into(),
        gpus,
        cpu_millis: 64_000,
        memory_bytes: 512 << 30,
        accepts_gpu_workers: true,
        accepts_cpu_workers: false,
    }
}

fn job(name: &str, created: i64, workers: u32, gpus: u64) -> PendingJob {
    PendingJob {
        key: format!("ns/{name}"),
        namespace: "ns".into(),
        queue: "default".into(),
        priority: 0,
        created,
        workers,
        elastic: None,
        demand: WorkerDemand {
            gpus,
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
        },
        namespace_allowed: true,
    }
}

fn unlimited() -> BTreeMap<String, QueueInfo> {
    BTreeMap::from([(
        "default".to_string(),
        QueueInfo {
            name: "default".into(),
            ..Default::default()
        },
    )])
}

#[test]
fn five_gangs_of_eight_on_sixteen_free_gpus_admit_exactly_two() {
    let input = AdmissionInput {
        nodes: vec![
            gpu_node("a", 8),
            gpu_node("b", 8),
            gpu_node("c", 0),
            gpu_node("d", 0),
        ],
        queues: unlimited(),
        admitted: vec![],
        pending: (0..5).map(|i| job(&format!("j{i}"), i, 2, 4)).collect(),
    };
    let r = admit(&input);
    let admitted: Vec<&str> = r.admitted.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(admitted, vec!["ns/j0", "ns/j1"]);
    let positions: Vec<(String, u32)> = r
        .waiting
        .iter()
        .map(|(k, w)| (k.clone(), w.position))
        .collect();
    assert_eq!(
        positions,
        vec![
            ("ns/j2".into(), 1),
            ("ns/j3".into(), 2),
            ("ns/j4".into(), 3)
        ]
    );
    assert!(
        r.waiting
            .values()
            .all(|w| w.reason == WaitReason::InsufficientCapacity)
    );
    assert_eq!(r.queue_usage["default"].gpus, 16);
}

#[test]
fn placement_is_per_worker_not_by_total() {
    // 16 free GPUs in total, but no node has 8: a 2 x 8-GPU gang must wait.
    let input = AdmissionInput {
        nodes: (0..4).map(|i| gpu_node(&format!("n{i}"), 4)).collect(),
        queues: unlimited(),
        admitted: vec![],
        pending: vec![job("big", 0, 2, 8)],
    };
    let r = admit(&input);
    assert!(r.admitted.is_empty());
    let w = &r.waiting["ns/big"];
    assert_eq!(w.reason, WaitReason::InsufficientCapacity);
    assert!(w.message.contains("16 GPUs free"), "{}", w.message);
    assert!(w.message.contains("room for 0 workers"), "{}", w.message);
}

#[test]
fn quota_of_eight_admits_one_eight_gpu_job_despite_room() {
    let mut queues = unlimited();
    queues.get_mut("default").unwrap().quota.gpus = Some(8);
    let input = AdmissionInput {
        nodes: (0..4).map(|i| gpu_node(&format!("n{i}"), 8)).collect(),
        queues,
        admitted: vec![],
        pending: vec![job("first", 0, 1, 8), job("second", 1, 1, 8)],
    };
    let r = admit(&input);
    assert_eq!(
        r.admitted,
        vec![Admission {
            key: "ns/first".into(),
            workers: 1
        }]
    );
    let w = &r.waiting["ns/second"];
    assert_eq!((w.position, w.reason), (1, WaitReason::QuotaExceeded));
    assert!(w.message.contains("GPU quota 8"), "{}", w.message);
}

#[test]
fn quota_counts_already_admitted_jobs() {
    let mut queues = unlimited();
    queues.get_mut("default").unwrap().quota.gpus = Some(8);
    let running = AdmittedJob {
        key: "ns/running".into(),
        queue: "default".into(),
        workers: 1,
        demand: WorkerDemand {
            gpus: 8,
            ..Default::default()
        },
        placement: vec![("n0".into(), 1)],
        ..Default::default()
    };
    let input = AdmissionInput {
        nodes: (1..4).map(|i| gpu_node(&format!("n{i}"), 8)).collect(),
        queues,
        admitted: vec![running],
        pending: vec![job("next", 0, 1, 8)],
    };
    let r = admit(&input);
    assert!(r.admitted.is_empty());
    assert_eq!(r.waiting["ns/next"].reason, WaitReason::QuotaExceeded);
}

#[test]
fn unbound_workers_of_admitted_jobs_stay_reserved() {
    // An admitted 2 x 8 gang whose pods are not bound yet holds both nodes.
    let admitted = AdmittedJob {
        key: "ns/starting".into(),
        queue: "default".into(),
        workers: 2,
        demand: WorkerDemand {
            gpus: 8,
            ..Default::default()
        },
        unbound_workers: 2,
        ..Default::default()
    };
    let input = AdmissionInput {
        nodes: vec![gpu_node("a", 8), gpu_node("b", 8)],
        queues: unlimited(),
        admitted: vec![admitted],
        pending: vec![job("late", 0, 1, 8)],
    };
    let r = admit(&input);
    assert!(r.admitted.is_empty(), "{r:?}");
    assert_eq!(r.waiting["ns/late"].position, 1);
}

#[test]
fn priority_beats_age_and_strict_fifo_blocks_backfill() {
    let mut hi = job("hi", 10, 1, 8);
    hi.priority = 100;
    let small = job("small", 5, 1, 1);
    let big = job("big", 1, 4, 8);
    let base = AdmissionInput {
        nodes: vec![gpu_node("a", 8), gpu_node("b", 1)],
        queues: unlimited(),
        admitted: vec![],
        pending: vec![big.clone(), small.clone(), hi.clone()],
    };
    // Best effort: hi first (priority), big does not fit, small backfills.
    let r = admit(&base);
    let keys: Vec<&str> = r.admitted.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, vec!["ns/hi", "ns/small"]);
    assert_eq!(r.waiting["ns/big"].position, 1);

    let mut strict = base.clone();
    strict.queues.get_mut("default").unwrap().strict_fifo = true;
    let r = admit(&strict);
    let keys: Vec<&str> = r.admitted.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, vec!["ns/hi"]);
    assert_eq!(r.waiting["ns/small"].reason, WaitReason::BlockedByQueueHead);
    assert_eq!(r.waiting["ns/small"].position, 2);
}

#[test]
fn preemption_names_lowest_priority_victims() {
    let mut queues = unlimited();
    queues.get_mut("default").unwrap().preempt_lower_priority = true;
    let victim = |name: &str, prio: i32, node: &str| AdmittedJob {
        key: format!("ns/{name}"),
        queue: "default".into(),
        priority: prio,
        workers: 1,
        demand: WorkerDemand {
            gpus: 8,
            ..Default::default()
        },
        placement: vec![(node.into(), 1)],
        ..Default::default()
    };
    let mut urgent = job("urgent", 0, 1, 8);
    urgent.priority = 10;
    let input = AdmissionInput {
        nodes: vec![gpu_node("a", 0), gpu_node("b", 0)],
        queues,
        admitted: vec![
            victim("low", 1, "a"),
            victim("lowest", 0, "b"),
            victim("same", 10, "a"),
        ],
        pending: vec![urgent],
    };
    let r = admit(&input);
    assert!(r.admitted.is_empty());
    assert_eq!(
        r.preemptions,
        vec![Preemption {
            preemptor: "ns/urgent".into(),
            victims: vec!["ns/lowest".into()]
        }]
    );
}

#[test]
fn elastic_job_takes_the_largest_size_that_fits() {
    let mut j = job("elastic", 0, 2, 4);
    j.elastic = Some((1, 4));
    let input = AdmissionInput {
        nodes: vec![gpu_node("a", 8), gpu_node("b", 4)],
        queues: unlimited(),
        admitted: vec![],
        pending: vec![j],
    };
    let r = admit(&input);
    assert_eq!(
        r.admitted,
        vec![Admission {
            key: "ns/elastic".into(),
            workers: 3
        }]
    );
}

#[test]
fn missing_queue_and_foreign_namespace_wait_with_reasons() {
    let mut a = job("a", 0, 1, 1);
    a.queue = "nope".into();
    let mut b = job("b", 1, 1, 1);
    b.namespace_allowed = false;
    let input = AdmissionInput {
        nodes: vec![gpu_node("a", 8)],
        queues: unlimited(),
        admitted: vec![],
        pending: vec![a, b],
    };
    let r = admit(&input);
    assert!(r.admitted.is_empty());
    assert_eq!(r.waiting["ns/a"].reason, WaitReason::QueueNotFound);
    assert_eq!(r.waiting["ns/b"].reason, WaitReason::NamespaceNotAllowed);
}

#[test]
fn cpu_jobs_avoid_gpu_nodes() {
    let cpu = NodeFree {
        name: "cpu".into(),
        gpus: 0,
        cpu_millis: 4000,
        memory_bytes: 16 << 30,
        accepts_gpu_workers: false,
        accepts_cpu_workers: true,
    };
    let mut input = AdmissionInput {
        nodes: vec![gpu_node("g", 8), cpu],
        queues: unlimited(),
        admitted: vec![],
        pending: vec![job("cpu-job", 0, 2, 0)],
    };
    input.pending[0].demand.cpu_millis = 2000;
    let mut nodes = input.nodes.clone();
    let placed = place(&mut nodes, &input.pending[0].demand, 2).unwrap();
    assert_eq!(placed, vec![("cpu".to_string(), 2)]);
    input.pending[0].workers = 3;
    let r = admit(&input);
    assert!(r.admitted.is_empty());
}
