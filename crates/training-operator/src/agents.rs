//! Live GPU health from the gpu-node-agents' `WatchNodeGpus` streams.
//!
//! The agents' headless Service has one EndpointSlice entry per agent pod. The
//! operator watches those slices, keeps one subscription per ready endpoint, and
//! records each node's unhealthy GPU count as it arrives (an agent sends a message
//! within one sampling period of a health change). Admission prefers this over the
//! GPUNode status, which the agent writes on the same change but through the API
//! server. Subscriptions end when their endpoint leaves the slice; a broken stream
//! is retried with backoff; stale reports age out (see `cluster::AGENT_STALE_SECONDS`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{WatchStreamExt, watcher};

use kube::{Api, Client};
use mlfleet_proto::gpu::v1::gpu_agent_client::GpuAgentClient;
use mlfleet_proto::gpu::v1::{HealthState, NodeGpus, WatchNodeGpusRequest};
use mlfleet_runtime::Shutdown;
use mlfleet_runtime::grpc::{ClientOptions, connect_lazy};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Longest gap the operator asks an agent to leave between two messages.
const MAX_INTERVAL_MS: u32 = 5_000;

/// One node's health as its agent last streamed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReport {
    /// GPUs the agent sees.
    pub gpus: u64,
    /// GPUs not healthy (unhealthy or unknown); all of them when the backend is down.
    pub unhealthy: u64,
    /// When the message arrived.
    pub at: Timestamp,
}

/// Reports by node name, shared between the subscriptions and admission.
#[derive(Debug, Default)]
pub struct AgentHealth {
    nodes: RwLock<BTreeMap<String, NodeReport>>,
}

impl AgentHealth {
    /// Records `report` for `node`; returns whether the unhealthy count changed.
    pub fn record(&self, node: &str, report: NodeReport) -> bool {
        let mut map = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        let changed = map
            .get(node)
            .is_none_or(|old| (old.gpus, old.unhealthy) != (report.gpus, report.unhealthy));
        map.insert(node.to_string(), report);
        changed
    }

    /// A copy of every report.
    pub fn snapshot(&self) -> BTreeMap<String, NodeReport> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What one `WatchNodeGpus` message says about its node.
pub fn report_from(msg: &NodeGpus, at: Timestamp) -> NodeReport {
    let gpus = msg.gpus.len() as u64;
    let unhealthy = if msg.backend_ready {
        msg.gpus
            .iter()
            .filter(|g| g.health.as_ref().map(|h| h.state()) != Some(HealthState::Healthy))
            .count() as u64
    } else {
        gpus
    };
    NodeReport {
        gpus,
        unhealthy,
        at,
    }
}

/// gRPC URLs of the ready endpoints of `slices` on the port named `port_name`.
pub fn endpoint_urls<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    port_name: &str,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in slices {
        let Some(port) = s
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(port_name))
            .and_then(|p| p.port)
        else {
            continue;
        };
        for e in s.endpoints.iter().flatten() {
            // Ready unless the slice says otherwise (the API's own convention).
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for a in &e.addresses {
                let host = if a.contains(':') {
                    format!("[{a}]")
                } else if a.ends_with(".localhost") {
                    // RFC 6761 loopback names: resolved here, as the system resolver
                    // often does not (the API server rejects loopback IPs in slices).
                    "127.0.0.1".to_string()
                } else {
                    a.clone()
                };
                out.insert(format!("http://{host}:{port}"));
            }
        }
    }
    out
}

/// Where the agents are: their Service and its gRPC port name.
#[derive(Clone, Debug)]
pub struct AgentService {
    /// Namespace of the Service.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// Name of the gRPC port in the Service.
    pub port_name: String,
}

impl std::str::FromStr for AgentService {
    type Err = String;
    /// `namespace/name`, optionally `:port-name` (default `grpc`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (svc, port) = s.split_once(':').unwrap_or((s, "grpc"));
        match svc.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !port.is_empty() => {
                Ok(Self {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    port_name: port.to_string(),
                })
            }
            _ => Err(format!(
                "expected <namespace>/<service>[:<port name>], got {s:?}"
            )),
        }
    }
}

/// Watches the agents' EndpointSlices and keeps one subscription per endpoint
/// until `shutdown`.
pub async fn run(
    client: Client,
    service: AgentService,
    health: Arc<AgentHealth>,
    kick: Arc<Notify>,
    shutdown: Shutdown,
) {
    let api: Api<EndpointSlice> = Api::namespaced(client, &service.namespace);
    let cfg = watcher::Config::default().labels(&format!("{SERVICE_NAME_LABEL}={}", service.name));
    let stream = watcher(api, cfg).default_backoff();
    futures::pin_mut!(stream);
    // The slices by name, kept from the watch events.
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut listing: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut subs: HashMap<String, JoinHandle<()>> = HashMap::new();
    tracing::info!(
        service = %format!("{}/{}", service.namespace, service.name),
        "following gpu-node-agent endpoints"
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            item = stream.next() => match item {
                None => break,
                Some(Err(e)) => tracing::warn!(error = %e, "EndpointSlice watch error"),
                Some(Ok(event)) => {
                    let key = |s: &EndpointSlice| s.metadata.name.clone().unwrap_or_default();
                    match event {
                        watcher::Event::Init => listing.clear(),
                        watcher::Event::InitApply(s) => {
                            listing.insert(key(&s), s);
                        }
                        watcher::Event::InitDone => slices = std::mem::take(&mut listing),
                        watcher::Event::Apply(s) => {
                            slices.insert(key(&s), s);
                        }
                        watcher::Event::Delete(s) => {
                            slices.remove(&key(&s));
                        }
                    }
                    let want = endpoint_urls(slices.values(), &service.port_name);
                    tracing::debug!(endpoints = want.len(), "gpu-node-agent EndpointSlices changed");
                    subs.retain(|url, task| {
                        let keep = want.contains(url);
                        if !keep {
                            tracing::info!(%url, "gpu-node-agent endpoint gone; unsubscribing");
                            task.abort();
                        }
                        keep
                    });
                    for url in want {
                        subs.entry(url.clone()).or_insert_with(|| {
                            tracing::info!(%url, "subscribing to gpu-node-agent");
                            tokio::spawn(subscribe(url, health.clone(), kick.clone()))
                        });
                    }
                }
            }
        }
    }
    for (_, task) in subs {
        task.abort();
    }
}

/// Follows one agent's stream for ever, reconnecting with capped backoff.
async fn subscribe(url: String, health: Arc<AgentHealth>, kick: Arc<Notify>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match follow(&url, &health, &kick).await {
            Ok(()) => tracing::info!(%url, "gpu-node-agent stream ended; reconnecting"),
            Err(e) => tracing::warn!(%url, error = %e, "gpu-node-agent stream failed; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn follow(url: &str, health: &AgentHealth, kick: &Notify) -> anyhow::Result<()> {
    let channel = connect_lazy(url, &ClientOptions::default()).await?;
    let mut stream = GpuAgentClient::new(channel)
        .watch_node_gpus(WatchNodeGpusRequest {
            node_name: String::new(),
            max_interval_ms: MAX_INTERVAL_MS,
        })
        .await?
        .into_inner();
    while let Some(msg) = stream.message().await? {
        let Some(node) = msg.node else { continue };
        let report = report_from(&node, Timestamp::now());
        if health.record(&node.node_name, report) {
            tracing::info!(node = %node.node_name, url, "GPU health changed");
            kick.notify_one();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlfleet_proto::gpu::v1::{Gpu, GpuHealth};

    fn gpu(state: HealthState) -> Gpu {
        Gpu {
            health: Some(GpuHealth {
                state: state as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn unhealthy_and_unknown_gpus_are_not_free_and_a_down_backend_loses_all() {
        let at = Timestamp::UNIX_EPOCH;
        let mut msg = NodeGpus {
            node_name: "n".into(),
            backend_ready: true,
            gpus: vec![
                gpu(HealthState::Healthy),
                gpu(HealthState::Unhealthy),
                gpu(HealthState::Unknown),
                Gpu::default(),
            ],
            ..Default::default()
        };
        assert_eq!(report_from(&msg, at).unhealthy, 3);
        msg.gpus = vec![gpu(HealthState::Healthy); 8];
        assert_eq!(
            report_from(&msg, at),
            NodeReport {
                gpus: 8,
                unhealthy: 0,
                at
            }
        );
        msg.backend_ready = false;
        assert_eq!(report_from(&msg, at).unhealthy, 8);
    }

    #[test]
    fn record_says_when_the_count_changed() {
        let h = AgentHealth::default();
        let r = |unhealthy, s| NodeReport {
            gpus: 8,
            unhealthy,
            at: Timestamp::from_second(s).unwrap(),
        };
        assert!(h.record("a", r(0, 1)));
        assert!(!h.record("a", r(0, 2)), "a periodic sample is no change");
        assert!(h.record("a", r(1, 3)));
        assert_eq!(h.snapshot()["a"].at, Timestamp::from_second(3).unwrap());
    }

    #[test]
    fn endpoint_urls_take_ready_addresses_on_the_named_port() {
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s"},
            "addressType": "IPv4",
            "ports": [{"name": "admin", "port": 8080}, {"name": "grpc", "port": 9090}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.3"]},
            ]
        }))
        .unwrap();
        let v6: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s6"},
            "addressType": "IPv6",
            "ports": [{"name": "grpc", "port": 9090}],
            "endpoints": [{"addresses": ["fd00::1"]}]
        }))
        .unwrap();
        let no_port: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "np"},
            "addressType": "IPv4",
            "ports": [{"name": "admin", "port": 8080}],
            "endpoints": [{"addresses": ["10.0.0.9"]}]
        }))
        .unwrap();
        let fqdn: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "f"},
            "addressType": "FQDN",
            "ports": [{"name": "grpc", "port": 9091}],
            "endpoints": [{"addresses": ["agent-1.localhost", "agent.example.org"]}]
        }))
        .unwrap();
        let urls = endpoint_urls(&[slice, v6, no_port, fqdn], "grpc");
        assert_eq!(
            urls.into_iter().collect::<Vec<_>>(),
            vec![
                "http://10.0.0.1:9090",
                "http://10.0.0.3:9090",
                "http://127.0.0.1:9091",
                "http://[fd00::1]:9090",
                "http://agent.example.org:9091",
            ]
        );
    }

    #[test]
    fn agent_service_flag_parses_with_and_without_a_port_name() {
        let s: AgentService = "mlfleet-system/gpu-node-agent".parse().unwrap();
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.port_name.as_str()),
            ("mlfleet-system", "gpu-node-agent", "grpc")
        );
        let s: AgentService = "ns/svc:rpc".parse().unwrap();
        assert_eq!(s.port_name, "rpc");
        for bad in ["svc", "/svc", "ns/", "ns/svc:"] {
            assert!(bad.parse::<AgentService>().is_err(), "{bad}");
        }
    }
}
