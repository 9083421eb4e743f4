#!/usr/bin/env bash
# Creates (once) the Python virtual environment holding the independent STDF
# parsers used for cross-checking and benchmarking, and prints its path.
# Cached under ${MLFLEET_CACHE:-$HOME/.cache/mlfleet}/venv-stdf, keyed by versions.
set -euo pipefail
PKGS="pystdf==1.4.0 stdf-convert==0.3.0 stdfast==0.2.1"
CACHE="${MLFLEET_CACHE:-$HOME/.cache/mlfleet}"
VENV="$CACHE/venv-stdf"
STAMP="$VENV/.installed-$(echo "$PKGS" | tr ' =' '_-')"
if [[ ! -f "$STAMP" ]]; then
  mkdir -p "$CACHE"
  PY="${PYTHON:-python3}"
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PKGS >&2
  touch "$STAMP"
fi
echo "$VENV"
