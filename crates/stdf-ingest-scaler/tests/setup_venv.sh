#!/usr/bin/env bash
# Creates (once) the Python environment the stdf-ingest-scaler end-to-end tests use:
# pyarrow reads the Parquet output, moto's S3 server backs the s3:// test.
# Location: ${MLFLEET_CACHE:-$HOME/.cache/mlfleet}/venv-ingest-<versions>; prints its python.
set -euo pipefail
PYARROW_VERSION=26.0.1
MOTO_VERSION=5.2.5
cache="${MLFLEET_CACHE:-$HOME/.cache/mlfleet}"
venv="$cache/venv-ingest-pa${PYARROW_VERSION}-moto${MOTO_VERSION}"
lock="$cache/venv-ingest.lock"
mkdir -p "$cache"
exec 9>"$lock"
flock 9
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pyarrow, moto.server' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "pyarrow==$PYARROW_VERSION" "moto[server]==$MOTO_VERSION" >&2
fi
echo "$venv/bin/python"
