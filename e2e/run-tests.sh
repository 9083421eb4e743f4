#!/usr/bin/env bash
# Runs the end-to-end suite against the local control plane:
#   1. builds the control-plane tools if they are not in the cache (e2e/tools/build.sh),
#   2. starts the plane or reuses a running one (e2e/cluster up),
#   3. builds the workspace binaries (controller e2e tests start them as child processes;
#      MLFLEET_E2E_BUILD_BINS=0 skips this), then runs
#      `cargo test -p mlfleet-e2e --no-fail-fast` (extra arguments are passed on),
#   4. stops the plane when MLFLEET_E2E_TEARDOWN=1 (default: leave it running for reuse).
#
# Prerequisites: Go >= 1.26 (first run only: builds the tools, ~30 min on 2 cores), cargo,
# openssl, curl, ss (iproute2). The tool cache is ${MLFLEET_CACHE:-~/.cache/mlfleet}.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

t0=$SECONDS
e2e/tools/build.sh
t1=$SECONDS
e2e/cluster up
t2=$SECONDS

rc=0
if [[ "${MLFLEET_E2E_BUILD_BINS:-1}" == 1 ]]; then
  # A broken binary fails the run, but the suite still runs (its own tests are independent).
  cargo build --workspace --bins || { rc=$?; echo "e2e: cargo build --workspace --bins failed (exit $rc)" >&2; }
  # The runtime's Lease holder example drives the leader-election test.
  cargo build -p mlfleet-runtime --example lease_holder || { rc=$?; echo "e2e: building the lease_holder example failed (exit $rc)" >&2; }
fi
t_bins=$SECONDS

cargo test -p mlfleet-e2e --no-fail-fast "$@" || rc=$?
t3=$SECONDS

if [[ "${MLFLEET_E2E_TEARDOWN:-0}" == 1 ]]; then
  e2e/cluster down
fi
printf 'e2e: tools %ds, plane up %ds, binaries %ds, tests %ds (exit %d)\n' \
  $((t1 - t0)) $((t2 - t1)) $((t_bins - t2)) $((t3 - t_bins)) "$rc"
exit "$rc"
