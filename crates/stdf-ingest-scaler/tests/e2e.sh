#!/usr/bin/env bash
# Runs the stdf-ingest-scaler end-to-end tests on the local control plane:
#   1. builds the binaries the tests start (stdf-ingest-scaler, stdf-gen, stdf2parquet),
#   2. prepares the cached Python venv (pyarrow, moto) and the KEDA Go client,
#   3. starts or reuses the plane (e2e/cluster up),
#   4. runs the e2e test targets stdf_ingest_scaler and stdf_ingest_s3.
# Extra arguments go to `cargo test`. Prerequisites: cargo, python3 (venv), Go,
# PyPI and the Go module proxy on first run; the plane's tools (e2e/tools/build.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
cargo build -p stdf-ingest-scaler -p stdf --bins
crates/stdf-ingest-scaler/tests/setup_venv.sh >/dev/null
e2e/tools/build.sh
e2e/cluster up
cargo test -p mlfleet-e2e --test stdf_ingest_scaler --test stdf_ingest_s3 "$@"
