#!/usr/bin/env bash
# Side-by-side benchmark: Optuna 5 (TPE, random) vs ours (TPE, univariate TPE, GP-EI,
# Sobol, random) on Branin and Hartmann6, budgets 50 and 100, N seeds; then suggestion
# latency at 10 / 100 / 1,000 completed trials. Prints Markdown tables.
#
#   crates/hpo/bench/run.sh [SEEDS]        (default 20; needs python3 and cargo)
#
# Optuna is installed once into ${MLFLEET_CACHE:-$HOME/.cache/mlfleet}/venv-hpo.
# Its regret runs go in the background while ours run; latency is measured afterwards,
# one implementation at a time, so the two do not compete for cores.
set -euo pipefail
SEEDS=${1:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CACHE=${MLFLEET_CACHE:-$HOME/.cache/mlfleet}
VENV=$CACHE/venv-hpo
OPTUNA_VERSION=5.0.0
PY=$VENV/bin/python
if ! "$PY" -c "import optuna, sys; sys.exit(optuna.__version__ != '$OPTUNA_VERSION')" 2>/dev/null; then
  echo "installing optuna $OPTUNA_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "optuna==$OPTUNA_VERSION"
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$PY" "$HERE/optuna_bench.py" --seeds "$SEEDS" --skip-latency >"$OUT/optuna.jsonl" 2>"$OUT/optuna.log" &
OPTUNA_PID=$!

cd "$ROOT"
cargo build --release -q -p hpo --example bench
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bench
start=$(date +%s)
"$BIN" --seeds "$SEEDS" --skip-latency >"$OUT/ours.jsonl"
echo "ours: regret runs took $(( $(date +%s) - start )) s" >&2
start=$(date +%s)
wait "$OPTUNA_PID"
cat "$OUT/optuna.log" >&2
echo "waited $(( $(date +%s) - start )) s more for optuna's regret runs" >&2

"$BIN" --skip-regret >>"$OUT/ours.jsonl"
"$PY" "$HERE/optuna_bench.py" --skip-regret >>"$OUT/optuna.jsonl" 2>>"$OUT/optuna.log"

python3 "$HERE/report.py" "$OUT/optuna.jsonl" "$OUT/ours.jsonl"
