//! training-operator: TrainingJob lifecycle, GPU-aware gang admission through
//! TrainingQueues, checkpoint-aware retries, progress reporting and the
//! scheduling-state gRPC API.
//!
//! Pipeline of one reconcile: dereference (`context` caches) → validate
//! (`validate`) → build (`build`, pure) → apply (`reconcile`, server-side apply
//! with owner references) → status (`status`, status subresource). Gang
//! admission (`admission`, pure) runs in its own loop (`admission_loop`) over
//! the cached cluster state (`cluster`).

pub mod admission;
pub mod admission_loop;
pub mod agents;
pub mod book;
pub mod build;
pub mod cluster;
pub mod context;
pub mod grpc;
pub mod leader;
pub mod metrics;
pub mod observe;
pub mod progress;
pub mod quantity;
pub mod query;
pub mod reconcile;
pub mod report;
pub mod spec;
pub mod state;
pub mod status;
pub mod validate;
