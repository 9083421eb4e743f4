//! stdf-ingest-scaler: turns STDF tester files into Parquet with parser workers that
//! scale on queue depth. The library holds the domain logic; `main` wires it up.

pub mod deployment;
pub mod grpc;
pub mod journal;
pub mod location;
pub mod queue;
pub mod reconcile;
pub mod registry;
pub mod scaling;
pub mod status;
pub mod work;
pub mod worker;
