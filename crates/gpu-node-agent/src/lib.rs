//! gpu-node-agent: one agent per GPU node. It discovers the node's GPUs (NVML or a
//! simulated inventory), judges their health, labels the Node GFD-style, keeps the
//! node's GPUNode status current, serves the GpuAgent gRPC API and exports
//! DCGM-compatible metrics.

pub mod backend;
pub mod cli;
pub mod grpc;
pub mod health;
pub mod kube_sync;
pub mod labels;
pub mod metrics;
pub mod sampler;
pub mod server;
pub mod snapshot;
pub mod status;
