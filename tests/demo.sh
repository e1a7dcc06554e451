#!/usr/bin/env bash
# The README's demo command: on a fresh Debian machine, builds everything, starts a real control
# plane and a kubelet node (binaries cached after the first build), imports the controller image
# (built from the release binaries, no registry), installs the chart with default values so the
# controller is a real Pod, seals a Secret with kubeseal through the chart's Service and the
# apiserver's service proxy, applies it and shows the Secret the controller unsealed.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

step "build controller, kubeseal and the demo driver"
cargo build --workspace --bins --locked
step "control plane and node binaries (built once from Debian's kubernetes source, then cached)"
bash tests/cluster/cluster.sh build
step "Helm engine for rendering the chart"
bash tests/chart/venv.sh >/dev/null
step "the controller image: release build (once), OCI archives without a registry"
SSRS_DEMO_IMAGES="$(bash tests/image/build.sh images)"
export SSRS_DEMO_IMAGES
# The demo driver starts its own cluster and stops it when it exits (tests/src/cluster.rs);
# with SSRS_CLUSTER_DIR set to a running cluster it uses that one instead.
SSRS_REPO="$PWD" RUST_LIB_BACKTRACE="${RUST_LIB_BACKTRACE:-0}" exec target/debug/demo
