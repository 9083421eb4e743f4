#!/usr/bin/env bash
# End-to-end throughput of stdf-ingest-scaler on the local control plane:
# N generated STDF files (default 200 x 5 MB) parsed to Parquet by 1, 2 and 4 local
# worker processes against the scaler binary. Prints, per worker count: wall time,
# files/s, MB/s (input), p95 per-file latency (from the job status and from the
# scaler's per-file durations), and the scaler's peak RSS (VmHWM).
#
# Prerequisites: the plane (e2e/cluster up), CRDs applied (the script applies crds/),
# cargo. Usage:
#   crates/stdf-ingest-scaler/bench/bench.sh [--files N] [--size-mb MB] [--workers "1 2 4"]
# Env: PROFILE=release|debug (default release), SKIP_BUILD=1 (binaries already built),
# CARGO_TARGET_DIR, BENCH_DIR (scratch,
# default a temp dir; needs about files*size*1.5 of disk).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
files=200 size=5 workers_list="1 2 4"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --size-mb) size=$2; shift 2 ;;
    --workers) workers_list=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
profile=${PROFILE:-release}
target=${CARGO_TARGET_DIR:-$root/target}
flag=(); [[ $profile == release ]] && flag=(--release)
[[ -n ${SKIP_BUILD:-} ]] || cargo build -q "${flag[@]}" -p stdf-ingest-scaler -p stdf --bins
bin="$target/$profile"
export KUBECONFIG; KUBECONFIG="$(e2e/cluster kubeconfig)"
eval "$(e2e/tools/build.sh --print-paths)"
"$KUBECTL" apply -f crds/ >/dev/null

dir=${BENCH_DIR:-$(mktemp -d /tmp/stdf-bench.XXXXXX)}
mkdir -p "$dir/in"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -z ${BENCH_KEEP:-} ]] && rm -rf "$dir"
}
trap cleanup EXIT

echo "generating $files x $size MB into $dir/in" >&2
gen_one() { "$bin/stdf-gen" --size-mb "$size" --seed "$1" --out "$(printf '%s/in/f%04d.stdf' "$dir" "$1")" >/dev/null; }
for ((i = 0; i < files; i++)); do
  gen_one "$i" &
  (( (i + 1) % 2 == 0 )) && wait
done
wait
in_bytes=$(du -sb "$dir/in" | cut -f1)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
jsonpath() { "$KUBECTL" get stdfparserjob bench -n "$ns" -o "jsonpath=$1"; }

printf '\n%-8s %8s %8s %8s %10s %12s %12s\n' workers files wall_s files/s MB/s p95_status_s scaler_rss_MB
for w in $workers_list; do
  ns="stdf-bench-$$-$w"
  out="$dir/out-$w"
  "$KUBECTL" create namespace "$ns" >/dev/null
  grpc=$(free_port); admin=$(free_port)
  "$bin/stdf-ingest-scaler" run --leader-elect=false --log-format text --log-level warn \
    --admin-addr "127.0.0.1:$admin" --grpc-addr "127.0.0.1:$grpc" >"$dir/scaler-$w.log" 2>&1 &
  scaler=$!; pids+=("$scaler")
  cat <<YAML | "$KUBECTL" apply -n "$ns" -f - >/dev/null
apiVersion: ingest.mlfleet.io/v1alpha1
kind: STDFParserJob
metadata: {name: bench}
spec:
  source: {uri: "file://$dir/in/"}
  output: {uri: "file://$out/", format: parquet, layout: records}
  scaling: {maxWorkers: 20, filesPerWorker: 5, cooldownSeconds: 0}
  worker: {leaseSeconds: 10}
YAML
  until [[ "$(jsonpath '{.status.files.total}' 2>/dev/null)" == "$files" ]]; do sleep 0.2; done
  t0=$(date +%s.%N)
  wp=()
  for ((k = 0; k < w; k++)); do
    "$bin/stdf-ingest-scaler" worker --scaler-addr "http://127.0.0.1:$grpc" --job "$ns/bench" \
      --worker-id "w$k" --scratch "$dir/scratch-$w-$k" --exit-when-done --log-format text \
      --log-level info >"$dir/worker-$w-$k.log" 2>&1 &
    wp+=($!)
  done
  for p in "${wp[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  until [[ "$(jsonpath '{.status.phase}')" == Succeeded ]]; do sleep 0.2; done
  parsed=$(jsonpath '{.status.files.parsed}')
  p95=$(jsonpath '{.status.p95FileLatencySeconds}')
  # A new job holds claims back for one lease period (leases from before a scaler
  # restart may still be live); the clock starts at the first claim a worker logged.
  first=$(grep -h ' claimed' "$dir"/worker-"$w"-*.log | awk '{print $1}' | sort | awk 'NR == 1')
  [[ -n $first ]] && t0=$(date -d "$first" +%s.%N)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$scaler/status")
  kill "$scaler"; wait "$scaler" 2>/dev/null || true
  awk -v w="$w" -v n="$parsed" -v t0="$t0" -v t1="$t1" -v b="$in_bytes" -v p="$p95" -v r="$rss_kb" \
    'BEGIN { t = t1 - t0; printf "%-8d %8d %8.1f %8.2f %10.1f %12.3f %12.1f\n", w, n, t, n / t, b / 1e6 / t, p, r / 1024 }'
  "$KUBECTL" delete namespace "$ns" --wait=false >/dev/null
  rm -rf "$out" "$dir"/scratch-"$w"-*
done
echo "input: $files files, $((in_bytes / 1000000)) MB; profile $profile; $(nproc) CPUs" >&2
