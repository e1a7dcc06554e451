#!/usr/bin/env bash
# The README's demo command: on a fresh Debian machine, builds everything, starts a real control
# plane (cached after the first build), installs the CRD and the chart's RBAC, runs the controller
# inside the pod network as the chart's ServiceAccount, seals a Secret with kubeseal through the
# apiserver's service proxy, applies it and shows the Secret the controller unsealed.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

step "build controller, kubeseal and the demo driver"
cargo build --workspace --bins --locked
step "control plane binaries (built once from Debian's kubernetes source, then cached)"
bash tests/cluster/cluster.sh build
step "Helm engine for rendering the chart"
bash tests/chart/venv.sh >/dev/null
# The demo driver starts its own cluster and stops it when it exits (tests/src/cluster.rs);
# with SSRS_CLUSTER_DIR set to a running cluster it uses that one instead.
SSRS_REPO="$PWD" RUST_LIB_BACKTRACE="${RUST_LIB_BACKTRACE:-0}" exec target/debug/demo
