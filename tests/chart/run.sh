#!/usr/bin/env bash
# Chart tests: renders and lints charts/sealed-secrets with Helm v4's engine (PyPI helm-python-sdk,
# no helm binary) and, when KUBECONFIG points at a cluster (tests/cluster/cluster.sh up), applies it.
#
#   bash tests/chart/run.sh [pytest args...]
#
# Env: SSRS_CHART_VENV       virtualenv to create/reuse (default /var/cache/sealed-secrets-rs/chart-venv-<pins>)
#      KUBECONFIG            cluster for the apply tests (skipped without it...)
#      SSRS_REQUIRE_CLUSTER  =1: ...unless this is set, then missing KUBECONFIG fails them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Pinned: the versions these tests were written and checked against.
PINS=(helm-python-sdk==0.2.2 pytest==9.2.0 PyYAML==6.0.4)
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
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}"
  touch "$VENV/.complete"
fi

# pytest exits 5 when no test was collected; that is a failure here too (set -e).
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/chart "$@"
