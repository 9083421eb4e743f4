//! training-operator: TrainingJob lifecycle, GPU-aware gang admission through
//! TrainingQueues, checkpoint-aware retries, progress reporting and the
//! scheduling-state gRPC API.
//!
//! Module map (pipeline: dereference → validate → build → apply → status):
//! `spec` (validated view of a TrainingJob), `build` (pure child builders),
//! `admission` (pure gang admission), `state` (pure state machine).

pub mod admission;
pub mod build;
pub mod quantity;
pub mod spec;
pub mod state;
