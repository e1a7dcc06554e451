#!/usr/bin/env bash
# The README's test command: sets up what the tests need on a fresh Debian machine and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step says when it starts (seconds since the run began), so a slow step shows in the log.
step() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }
# Stop a background step and everything it started (cargo, rustc), e.g. when a test fails first.
kill_tree() {
  [[ -n "${1:-}" ]] || return 0
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}

step "rustfmt"
cargo fmt --all -- --check
step "packages the CLI tests drive: tmux (a real terminal for kubeseal's prompts)"
command -v tmux >/dev/null || apt-get install -y -q --no-install-recommends tmux >/dev/null ||
  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends tmux >/dev/null; }
# The Kubernetes build (Go, about 10 minutes on a fresh machine, nothing when cached) runs beside
# the Rust checks: rustc leaves a core idle in its serial phases (proc macros, the big crates,
# linking), and the two need nothing of each other. Its log is shown when it is waited for.
step "cluster: install packages, build or reuse the cached Kubernetes binaries and the pause image (in the background)"
k8s_log="$(mktemp /tmp/ssrs-k8s-build.XXXXXX)"
bash tests/cluster/cluster.sh build >"$k8s_log" 2>&1 &
k8s_pid=$!
trap 'kill "$k8s_pid" 2>/dev/null || true; rm -f "$k8s_log"' EXIT
step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "rustdoc (warnings denied)"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked
step "supply chain: cargo deny (licences, duplicate versions, sources; advisories need the RustSec DB)"
bash tests/deny.sh
bash tests/deny.sh --self-test
step "cluster: waiting for the Kubernetes build"
k8s_rc=0
wait "$k8s_pid" || k8s_rc=$?
cat "$k8s_log"
rm -f "$k8s_log"
trap - EXIT
((k8s_rc == 0)) || { echo "tests/run.sh: the Kubernetes build failed (exit $k8s_rc)" >&2; exit 1; }
if [[ -n "${SSRS_CLUSTER_DIR:-}" ]] && bash tests/cluster/cluster.sh status 2>/dev/null; then
  step "cluster: reusing the running cluster in $SSRS_CLUSTER_DIR"
  eval "$(bash tests/cluster/cluster.sh up)"
else
  step "cluster: start control plane + node (stopped again when this script exits)"
  SSRS_CLUSTER_DIR="$(mktemp -d /tmp/ssrs-cluster.XXXXXX)"
  export SSRS_CLUSTER_DIR
  # `down` exits 1 when something of the cluster is left behind: that fails the run too.
  trap 'rc=$?; kill_tree "${fuzz_build_pid:-}"; bash tests/cluster/cluster.sh down || rc=1; exit $rc' EXIT
  trap 'exit 130' INT TERM HUP
  eval "$(bash tests/cluster/cluster.sh up)"
fi
step "templates: build the Go reference renderer (Debian Go + sprig; the differential test uses it)"
SSRS_GOREF="$(bash tests/templates/goref.sh)"
export SSRS_GOREF
step "build the binaries the tests run (controller, kubeseal)"
cargo build --workspace --bins --locked
# The fuzz build (ASan + coverage: every dependency compiled again at opt-level 3, the longest
# compile of the run on a fresh machine) starts now at nice 19, so it takes the CPU the next steps
# leave while they wait on the cluster (fault tests, Pods starting); the fuzz step waits for it.
fuzz_build_log="$(mktemp /tmp/ssrs-fuzz-build.XXXXXX)"
nice -n 19 bash tests/fuzz/run.sh --build-only >"$fuzz_build_log" 2>&1 &
fuzz_build_pid=$!
if [[ "$(trap -p EXIT)" == "" ]]; then trap 'kill_tree "$fuzz_build_pid"' EXIT; fi
step "sealing page (/ui/): node --test (crypto core vs the shared vectors and the Rust side, YAML, eslint) and Debian chromium through playwright-core against a --ui controller on this cluster (about 35 s; chromium's first install about 60 s)"
command -v node >/dev/null || { echo "node (20 or newer) is needed for tests/ui" >&2; exit 1; }
command -v chromium >/dev/null || apt-get install -y -q --no-install-recommends chromium >/dev/null ||
  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
(cd tests/ui && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
SSRS_REQUIRE_CLUSTER=1 node --test tests/ui/unit.test.mjs tests/ui/browser.test.mjs
step "cargo test"
cargo test --workspace --locked
step "images: release build of controller + kubeseal (the second profile, built once), OCI archives, imported into the node"
bash tests/image/build.sh images --import >/dev/null
step "Helm chart: render + lint (Helm v4 engine), apply, the default install's controller Pod under the chart's RBAC, image contents"
SSRS_REQUIRE_CLUSTER=1 bash tests/chart/run.sh
step "node: real Pods, a second cluster beside this one, cleanup after crashes"
bash tests/cluster/node-test.sh --images
step "the chart installed for real: release sealed-secrets in kube-system, the controller Pod Ready through its probes, kubeseal through the Service, a values change, two replicas failing over, the PDB, the securityContext"
SSRS_CHART_NODE=1 "$(bash tests/chart/venv.sh)/bin/python" -m pytest -p no:cacheprovider -q tests/chart/test_chart_node.py
step "fuzzing: every cargo-fuzz target for a bounded time over its committed corpus"
fuzz_build_rc=0
wait "$fuzz_build_pid" || fuzz_build_rc=$?
if ((fuzz_build_rc != 0)); then
  tail -n 60 "$fuzz_build_log"
  echo "tests/run.sh: the fuzz build failed (exit $fuzz_build_rc; log above)" >&2
  exit 1
fi
rm -f "$fuzz_build_log"
bash tests/fuzz/run.sh
step "all tests passed"
