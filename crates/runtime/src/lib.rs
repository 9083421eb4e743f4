//! mlfleet-runtime: the one runtime crate every mlfleet binary uses.
//!
//! A binary's `main` is wiring only: parse [`config::CommonArgs`], call [`start`], build the
//! controller from the returned [`Started`] (client, registry, readiness, shutdown, leader
//! election), run it, then [`Started::finish`]. See `docs/runtime.md` for the conventions.

pub mod admin;
pub mod apply;
pub mod bootstrap;
pub mod conditions;
pub mod config;
pub mod error_policy;
pub mod events;
pub mod grpc;
pub mod leader;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use admin::Readiness;
pub use bootstrap::{StartError, Started, start};
pub use config::{CommonArgs, LogFormat, TlsFiles};
pub use leader::{LeaderConfig, LeaderElector, LeaderHandle, run_while_leader};
pub use metrics::{MetricsRegistry, ReconcileMetrics};
pub use shutdown::Shutdown;
pub use tls::install_crypto_provider;
