#!/usr/bin/env bash
# Creates (once) the virtualenv with Helm v4's engine (PyPI helm-python-sdk) and prints its path.
# Shared by tests/chart/run.sh and tests/demo.sh.
set -euo pipefail

# Pinned: the versions the chart tests were written and checked against.
# prometheus-client: its text and OpenMetrics parsers read the controller's /metrics (test_metrics_logs.py).
PINS=(helm-python-sdk==0.2.2 pytest==9.2.0 PyYAML==6.0.4 prometheus-client==0.26.0)
pins_id="$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-12)"
VENV="${SSRS_CHART_VENV:-/var/cache/sealed-secrets-rs/chart-venv-$pins_id}"

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "==> installing python3-venv" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q python3-venv >&2 || { apt-get update -q >&2 && apt-get install -y -q python3-venv >&2; }
fi

if [[ ! -f "$VENV/.complete" ]]; then
  echo "==> creating $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}" >&2
  touch "$VENV/.complete"
fi
printf '%s\n' "$VENV"
