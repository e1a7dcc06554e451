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

VENV="$(bash tests/chart/venv.sh)"

# pytest exits 5 when no test was collected; that is a failure here too (set -e).
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/chart "$@"
