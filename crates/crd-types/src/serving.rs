//! API group `serving.mlfleet.io/v1alpha1`: ModelServer, an autoscaled inference service
//! with canary rollouts.

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Condition;

/// The API group of this module's kinds.
pub const GROUP: &str = "serving.mlfleet.io";

/// Desired state of a ModelServer: the model, the serving runtime, the canary version and
/// how traffic moves to it, autoscaling and disruption budget.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "serving.mlfleet.io",
    version = "v1alpha1",
    kind = "ModelServer",
    plural = "modelservers",
    singular = "modelserver",
    shortname = "ms",
    category = "mlfleet",
    namespaced,
    status = "ModelServerStatus",
    derive = "PartialEq",
    doc = "Serves a model from stable (and optionally canary) Deployments behind one endpoint, autoscaled, with stepwise canary rollout and automatic rollback.",
    crates(kube_core = "::kube_core"),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Model",
        type_ = "string",
        json_path = ".spec.model.name",
        description = "Model served"
    ),
    printcolumn(
        name = "Stable",
        type_ = "string",
        json_path = ".status.stable.version",
        description = "Version receiving the main traffic"
    ),
    printcolumn(
        name = "Canary",
        type_ = "string",
        json_path = ".status.canary.version",
        description = "Canary version, if any"
    ),
    printcolumn(
        name = "Weight",
        type_ = "integer",
        json_path = ".status.canary.weight",
        description = "Percent of traffic sent to the canary"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Ready replicas (stable + canary)"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        json_path = ".status.url",
        priority = 1,
        description = "Endpoint URL"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.canary) || self.canary.version != self.model.version", "message": "canary.version must differ from model.version"},
    {"rule": "self.model.name == oldSelf.model.name", "message": "model.name is immutable"}
]))]
pub struct ModelServerSpec {
    /// The model and its stable version.
    pub model: ModelSpec,
    /// Serving container settings.
    #[serde(default)]
    pub runtime: ServingRuntime,
    /// A new version served next to the stable one and promoted by the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanarySpec>,
    /// Horizontal autoscaling of the stable Deployment (the canary scales proportionally).
    #[serde(default)]
    pub autoscaling: Autoscaling,
    /// PodDisruptionBudget of the serving pods.
    #[serde(default)]
    pub pdb: PdbSpec,
    /// How the canary is promoted.
    #[serde(default)]
    pub rollout: RolloutSpec,
    /// How requests reach the model.
    #[serde(default)]
    pub traffic: TrafficSpec,
}

/// The model a ModelServer serves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Model name, for example `resnet50`. Immutable.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Model format / framework, which selects the default serving image.
    pub framework: ModelFramework,
    /// Where the stable version's artifacts are, for example `s3://models/resnet50/3/`.
    #[schemars(length(min = 1, max = 2048))]
    pub storage_uri: String,
    /// Stable version label, for example `3`.
    #[schemars(length(min = 1, max = 63))]
    pub version: String,
}

/// Model format of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelFramework {
    /// TorchScript / PyTorch.
    Pytorch,
    /// TensorFlow SavedModel.
    Tensorflow,
    /// ONNX.
    Onnx,
    /// Triton model repository.
    Triton,
    /// scikit-learn.
    Sklearn,
    /// XGBoost.
    Xgboost,
    /// Hugging Face transformers.
    Huggingface,
    /// A custom server image.
    Custom,
}

/// Serving container settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServingRuntime {
    /// Server image; the framework's default image when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// HTTP port the server listens on.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Arguments for the server container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub env: Vec<EnvVar>,
    /// CPU and memory of each replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// GPUs per replica.
    #[serde(default)]
    #[schemars(range(min = 0, max = 8))]
    pub gpus: i32,
}

impl Default for ServingRuntime {
    fn default() -> Self {
        Self {
            image: None,
            port: default_port(),
            args: Vec::new(),
            env: Vec::new(),
            resources: None,
            gpus: 0,
        }
    }
}

/// The canary version of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanarySpec {
    /// Canary version label.
    #[schemars(length(min = 1, max = 63))]
    pub version: String,
    /// Artifacts of the canary version.
    #[schemars(length(min = 1, max = 2048))]
    pub storage_uri: String,
    /// Percent of traffic for the canary. Without rollout steps this weight is applied
    /// directly; with steps it is the weight the rollout starts from.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub weight: i32,
}

/// Autoscaling of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.minReplicas <= self.maxReplicas", "message": "autoscaling.minReplicas must be <= autoscaling.maxReplicas"}
]))]
pub struct Autoscaling {
    /// Fewest replicas.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    /// Most replicas.
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Target average CPU utilisation in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: Option<i32>,
    /// Target average memory utilisation in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_utilization: Option<i32>,
    /// Target in-flight requests per replica, read from the QueueDepth service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub target_queue_depth: Option<i64>,
    /// Seconds of stable metrics before scaling down.
    #[serde(default = "default_scale_down")]
    #[schemars(range(min = 0, max = 3600))]
    pub scale_down_stabilization_seconds: i32,
}

impl Default for Autoscaling {
    fn default() -> Self {
        Self {
            min_replicas: default_min_replicas(),
            max_replicas: default_max_replicas(),
            target_cpu_utilization: None,
            target_memory_utilization: None,
            target_queue_depth: None,
            scale_down_stabilization_seconds: default_scale_down(),
        }
    }
}

/// PodDisruptionBudget of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdbSpec {
    /// Create the PodDisruptionBudget.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Serving pods that may be unavailable during voluntary disruptions (number or percent).
    #[serde(default = "default_max_unavailable")]
    pub max_unavailable: IntOrString,
}

impl Default for PdbSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            max_unavailable: default_max_unavailable(),
        }
    }
}

/// Canary rollout of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.steps.isSorted()", "message": "rollout steps must be in ascending order"}
]))]
pub struct RolloutSpec {
    /// Canary weights applied in order; the canary is promoted after the last one passes.
    #[serde(default = "default_steps")]
    #[schemars(length(max = 20), inner(range(min = 0, max = 100)))]
    pub steps: Vec<i32>,
    /// Seconds each step is held and analysed before the next.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 10, max = 86400))]
    pub interval_seconds: i32,
    /// Thresholds a step must meet to proceed.
    #[serde(default)]
    pub analysis: RolloutAnalysis,
    /// Roll back to the stable version when a step fails its analysis.
    #[serde(default = "default_true")]
    pub auto_rollback: bool,
}

impl Default for RolloutSpec {
    fn default() -> Self {
        Self {
            steps: default_steps(),
            interval_seconds: default_interval(),
            analysis: RolloutAnalysis::default(),
            auto_rollback: true,
        }
    }
}

/// Analysis thresholds of a rollout step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    /// Highest acceptable fraction of failed canary requests (0-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_error_rate: Option<f64>,
    /// Highest acceptable canary p99 latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_p99_latency_ms: Option<i64>,
    /// Fewest canary requests in a step for its analysis to count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_requests: Option<i64>,
}

/// Traffic routing of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.router != 'GatewayAPI' || has(self.gatewayRef)", "message": "traffic.gatewayRef is required for router GatewayAPI"}
]))]
pub struct TrafficSpec {
    /// How traffic is split between stable and canary.
    #[serde(default)]
    pub router: Router,
    /// Host name the model is served on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub host: Option<String>,
    /// Gateway the HTTPRoute attaches to (GatewayAPI router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_ref: Option<GatewayRef>,
    /// IngressClass of the Ingresses (IngressNginx router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub ingress_class_name: Option<String>,
    /// Requests carrying this header always go to the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_header: Option<HeaderMatch>,
}

/// Traffic router.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Router {
    /// No external route: only the ClusterIP Service (weights split by replica count).
    #[default]
    None,
    /// Gateway API HTTPRoute with weighted backends.
    GatewayAPI,
    /// ingress-nginx canary Ingresses.
    IngressNginx,
}

/// Reference to a Gateway API Gateway.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRef {
    /// Gateway name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Gateway namespace; the ModelServer's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// An exact HTTP header match.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// Header name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Header value.
    #[schemars(length(min = 1, max = 4096))]
    pub value: String,
}

fn default_port() -> i32 {
    8080
}
fn default_true() -> bool {
    true
}
fn default_min_replicas() -> i32 {
    1
}
fn default_max_replicas() -> i32 {
    3
}
fn default_scale_down() -> i32 {
    300
}
fn default_max_unavailable() -> IntOrString {
    IntOrString::Int(1)
}
fn default_steps() -> Vec<i32> {
    vec![10, 25, 50, 100]
}
fn default_interval() -> i32 {
    300
}

/// Lifecycle phase of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ServingPhase {
    /// Accepted, Deployments not yet available.
    #[default]
    Pending,
    /// A canary rollout is in progress.
    Progressing,
    /// The stable version serves all traffic and is available.
    Ready,
    /// Fewer ready replicas than minReplicas.
    Degraded,
    /// A failed canary is being rolled back.
    RollingBack,
    /// The spec cannot be served (see conditions).
    Failed,
}

/// Observed state of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelServerStatus {
    /// The metadata.generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase.
    #[serde(default)]
    pub phase: ServingPhase,
    /// Standard conditions (for example Ready, Progressing, RolledBack).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The stable track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<TrackStatus>,
    /// The canary track, while one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<TrackStatus>,
    /// Ready replicas of both tracks.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Index of the current rollout step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<i32>,
    /// URL the model is served at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the last rollout step changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step_time: Option<Time>,
}

/// One track (stable or canary) of a ModelServer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackStatus {
    /// Version served by the track.
    #[serde(default)]
    pub version: String,
    /// Replicas of the track's Deployment.
    #[serde(default)]
    pub replicas: i32,
    /// Ready replicas.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Percent of traffic the track receives.
    #[serde(default)]
    pub weight: i32,
}
