#!/usr/bin/env bash
# The benchmark suite of issue 8 (docs/benchmarks.md). Arguments go to the control-plane driver
# (tests/src/bin/bench.rs), e.g. `tests/bench.sh --objects 1000` or `tests/bench.sh --sizes 100,1000,5000`.
#
#   1. builds the release controller, kubeseal and the driver;
#   2. `cargo bench` for P5 (common: one item unseal vs one aws-lc-rs RSA-4096 op) and P4 (kubeseal);
#   3. runs K (kubeseal --re-encrypt-dir, offline), obtains the control plane
#      (tests/cluster/cluster.sh build) and runs P1, P2, P3, P6 on a cluster of its own (started by
#      the harness, torn down when the driver exits), the control plane pinned to core 0 and the
#      controller to core 1 (taskset; --no-pin to share the cores).
# SSRS_BENCH_SKIP_MICRO=1 skips step 2.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*" >&2; }

step "machine"
echo "cores: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "flags: $(grep -m1 -o -w -e avx512ifma -e avx2 /proc/cpuinfo | sort -u | tr '\n' ' ')"

step "build release binaries (controller, kubeseal, bench driver)"
cargo build --release --locked -p sealed-secrets-controller -p kubeseal -p sealed-secrets-tests --bin controller --bin kubeseal --bin bench

if [[ "${SSRS_BENCH_SKIP_MICRO:-0}" != 1 ]]; then
  step "P5: cargo bench -p sealed-secrets-common --bench unseal"
  cargo bench --locked -p sealed-secrets-common --bench unseal
  step "P4: cargo bench -p kubeseal"
  cargo bench --locked -p kubeseal
fi

step "control plane: packages + cached kube-apiserver/kube-controller-manager"
bash tests/cluster/cluster.sh build >&2

step "P1/P2/P3/P6 against a cluster of the driver's own"
# The driver starts its own cluster (and a watchdog that stops it when the driver exits).
unset SSRS_CLUSTER_DIR
target="${CARGO_TARGET_DIR:-target}"
SSRS_CONTROLLER_BIN="${SSRS_CONTROLLER_BIN:-$target/release/controller}" SSRS_KUBESEAL_BIN="$target/release/kubeseal" "$target/release/bench" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
