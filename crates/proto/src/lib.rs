//! Generated gRPC contracts of mlfleet.
//!
//! One module per protobuf package, each with its messages, a `*_client` module
//! (tonic client) and a `*_server` module (tonic server trait and service wrapper).
//! The `.proto` sources live in the repository's `proto/` folder; `docs/grpc.md`
//! describes who serves and who consumes each service.

/// `mlfleet.gpu.v1`: per-node GPU inventory and health (served by gpu-node-agent).
pub mod gpu {
    /// Version 1 of the GPU agent contract.
    pub mod v1 {
        tonic::include_proto!("mlfleet.gpu.v1");
    }
}

/// `mlfleet.scheduling.v1`: queues, job admission and cluster GPU availability
/// (served by training-operator).
pub mod scheduling {
    /// Version 1 of the scheduling-state contract.
    pub mod v1 {
        tonic::include_proto!("mlfleet.scheduling.v1");
    }
}

/// `mlfleet.training.v1`: progress and checkpoint reports from training workers
/// (served by training-operator).
pub mod training {
    /// Version 1 of the training-progress contract.
    pub mod v1 {
        tonic::include_proto!("mlfleet.training.v1");

        /// Well-known keys of the `metrics` maps in progress and checkpoint reports.
        pub mod metric_keys {
            /// Training loss of the last epoch.
            pub const LOSS: &str = "loss";
            /// Accuracy of the last epoch, 0 to 1.
            pub const ACCURACY: &str = "accuracy";
            /// Samples processed per second.
            pub const THROUGHPUT: &str = "throughput";
        }
    }
}

/// `mlfleet.queue.v1`: queue depth for autoscalers (served by training-operator and
/// stdf-ingest-scaler).
pub mod queue {
    /// Version 1 of the queue-depth contract.
    pub mod v1 {
        tonic::include_proto!("mlfleet.queue.v1");
    }
}

/// `mlfleet.ingest.v1`: leased STDF file work for parser workers (served by
/// stdf-ingest-scaler).
pub mod ingest {
    /// Version 1 of the STDF work contract.
    pub mod v1 {
        tonic::include_proto!("mlfleet.ingest.v1");
    }
}

/// KEDA's `externalscaler` package, wire-compatible with KEDA v2's external scaler
/// contract (same package, names and field numbers).
pub mod externalscaler {
    tonic::include_proto!("externalscaler");
}

/// Encoded `google.protobuf.FileDescriptorSet` of every contract above (with their
/// imports and source comments), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mlfleet_descriptor.bin"));
