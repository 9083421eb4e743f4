#!/usr/bin/env bash
# Side-by-side benchmark: throughput (MB/s of STDF input) and peak RSS of our
# STDF -> Arrow (in memory) and STDF -> Parquet against stdf-convert, pystdf and
# stdfast, on both real samples and a generated file (default 500 MB).
# Whole-process measurements with /usr/bin/time -v (Python tools include
# interpreter start-up and imports).
#
# Usage: crates/stdf/scripts/bench.sh [--size-mb N] [--tools "ours-arrow ours-parquet stdf-convert pystdf stdfast"]
# Env: MLFLEET_CACHE (default ~/.cache/mlfleet), CARGO_TARGET_DIR, BENCH_TIMEOUT (s per run, default 1200).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
SIZE_MB=500
TOOLS="ours-arrow ours-parquet stdf-convert pystdf stdfast"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size-mb) SIZE_MB="$2"; shift 2 ;;
    --tools) TOOLS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x /usr/bin/time ]] || { apt-get install -y time >/dev/null 2>&1 || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }; }
CACHE="${MLFLEET_CACHE:-$HOME/.cache/mlfleet}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
TIMEOUT="${BENCH_TIMEOUT:-1200}"
(cd "$ROOT" && cargo build --release -p stdf --bins >&2)
BIN="$TARGET/release"
VENV="$(bash "$HERE/setup_venv.sh")"
PY="$VENV/bin/python"
GEN_DIR="$CACHE/stdf-bench"
GEN="$GEN_DIR/generated-${SIZE_MB}mb.stdf"
mkdir -p "$GEN_DIR"
[[ -f "$GEN" ]] || "$BIN/stdf-gen" --size-mb "$SIZE_MB" --out "$GEN" >&2
FILES=("$ROOT/../shared/data/stdf/demofile.stdf" "$ROOT/../shared/data/stdf/lot2.stdf" "$GEN")
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cmd_for() {
  local tool="$1" file="$2"
  case "$tool" in
    ours-arrow) echo "$BIN/stdf2parquet $file --out $WORK/out --layout records --format memory" ;;
    ours-parquet) echo "$BIN/stdf2parquet $file --out $WORK/out --layout records --format parquet" ;;
    stdf-convert|pystdf|stdfast) echo "$PY $HERE/bench_peer.py $tool $file" ;;
  esac
}

printf '| %-14s | %-22s | %9s | %9s | %10s | %s\n' tool file MB/s seconds "peak RSS" note
printf '|%s|%s|%s|%s|%s|%s\n' "----------------" "------------------------" "-----------" "-----------" "------------" "------"
declare -A RATE
for file in "${FILES[@]}"; do
  bytes=$(stat -c %s "$file")
  name=$(basename "$file")
  for tool in $TOOLS; do
    rm -rf "$WORK/out"
    set +e
    # shellcheck disable=SC2046
    timeout "$TIMEOUT" /usr/bin/time -v -o "$WORK/time" $(cmd_for "$tool" "$file") >"$WORK/stdout" 2>"$WORK/stderr"
    rc=$?
    set -e
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time" 2>/dev/null || echo 0)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time" 2>/dev/null || echo 0)
    note="ok"
    if [[ $rc -ne 0 ]]; then
      note="FAILED rc=$rc: $(tail -c 300 "$WORK/stderr" | tr '\n' ' ' | tail -c 160)"
      [[ $rc -eq 124 ]] && note="timeout after ${TIMEOUT}s"
    fi
    rate=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", b/1e6/s; else print "n/a" }')
    [[ $rc -eq 0 ]] && RATE["$tool|$name"]="$rate"
    printf '| %-14s | %-22s | %9s | %9s | %7.1f MB | %s\n' "$tool" "$name" "$rate" "$secs" "$(awk -v r="${rss:-0}" 'BEGIN{print r/1024}')" "$note"
  done
done
echo
echo "Ratios (ours / peer, MB/s):"
for file in "${FILES[@]}"; do
  name=$(basename "$file")
  for ours in ours-arrow ours-parquet; do
    for peer in stdf-convert pystdf stdfast; do
      a="${RATE[$ours|$name]:-}"; b="${RATE[$peer|$name]:-}"
      if [[ -n "$a" && -n "$b" ]]; then
        printf '  %-22s %-13s vs %-13s %6.1fx\n' "$name" "$ours" "$peer" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')"
      fi
    done
  done
done
