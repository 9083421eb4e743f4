//! Compiles the `.proto` contracts under the repository's `proto/` folder with the
//! pure-Rust `protox` compiler (no system `protoc` needed) and generates tonic
//! clients and servers from the resulting descriptor set.

use std::{env, error::Error, fs, path::PathBuf};

use prost::Message;

/// Every contract file, relative to the `proto/` include root.
const PROTO_FILES: &[&str] = &[
    "mlfleet/gpu/v1/gpu.proto",
    "mlfleet/scheduling/v1/scheduling.proto",
    "mlfleet/training/v1/training.proto",
    "mlfleet/queue/v1/queue.proto",
    "mlfleet/ingest/v1/ingest.proto",
    "externalscaler/externalscaler.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }

    let fds = protox::compile(PROTO_FILES, [&proto_root])?;

    // Descriptor set for gRPC server reflection and for tests that inspect the
    // contracts (field numbers, names).
    fs::write(out_dir.join("mlfleet_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
