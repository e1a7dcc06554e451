#!/usr/bin/env bash
# Time `bash .ci/run` as a fresh machine would run it, on a machine that already has the caches:
# the cargo registry and target directories, the Kubernetes binaries and their Go build cache,
# cargo-deny and cargo-fuzz, the chart's Python venv and pip's cache all start empty, under DIR.
# The Debian packages and the Rust toolchain stay installed (a fresh machine adds their download).
#
#   git clone <repo> fresh && cd fresh && bash tests/fresh-ci.sh [DIR]   # clone next to shared/
#
# DIR defaults to a new /var/tmp/ssrs-fresh.XXXXXX; the log is DIR/ci.log, the outcome
# ("rc=… seconds=…") DIR/result. Nothing else should run meanwhile (docs/testing.md has the
# figures measured this way).
set -uo pipefail
cd "$(dirname "$0")/.."
dir="${1:-$(mktemp -d /var/tmp/ssrs-fresh.XXXXXX)}"
mkdir -p "$dir"
[[ -z "$(ls -A "$dir" 2>/dev/null)" ]] || { echo "fresh-ci: $dir is not empty" >&2; exit 2; }
[[ ! -e target ]] || { echo "fresh-ci: this clone already has a target/" >&2; exit 2; }
export CARGO_HOME="$dir/cargo-home" PATH="$HOME/.cargo/bin:$PATH"
export SSRS_K8S_CACHE="$dir/cache" SSRS_TOOLS="$dir/cache/tools" SSRS_CHART_VENV="$dir/cache/venv"
export SSRS_CARGO_TARGET_CACHE="$dir/cache/cargo-target" SSRS_FUZZ_TARGET_DIR="$dir/cache/fuzz-target"
export GOCACHE="$dir/gocache" PIP_NO_CACHE_DIR=1
unset CARGO_TARGET_DIR KUBECONFIG SSRS_CLUSTER_DIR SSRS_HOST_IP SSRS_POD_IP
echo "fresh-ci: caches in $dir, log $dir/ci.log" >&2
start=$(date +%s)
bash .ci/run >"$dir/ci.log" 2>&1
rc=$?
echo "rc=$rc seconds=$(($(date +%s) - start))" | tee "$dir/result"
exit "$rc"
