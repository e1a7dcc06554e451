#!/usr/bin/env bash
# Build the cargo-fuzz targets of tests/fuzz and run each for a bounded time over a temporary
# copy of its committed corpus (tests/fuzz/corpus/<target>/ is never modified). Fails on any
# crash, assertion, timeout or out-of-memory. Stable toolchain only: cargo-fuzz's -Z flags are
# enabled with RUSTC_BOOTSTRAP=1.
#
#   bash tests/fuzz/run.sh [target…]        # default: every target
#   bash tests/fuzz/run.sh --build-only     # install the tools and build, run nothing (tests/run.sh
#                                           # starts this in the background, at nice 19, while the
#                                           # steps that mostly wait on the cluster run)
#
# Environment:
#   SSRS_FUZZ_SECONDS    time per target (default 20)
#   SSRS_FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 25)
#   SSRS_FUZZ_RSS_MB     memory limit per target process in MiB (default 2048)
#   SSRS_FUZZ_SANITIZER  address (default) or none
#   SSRS_FUZZ_JOBS       build jobs (cargo's default when unset)
#   SSRS_FUZZ_KEEP       directory to copy crash/timeout/OOM inputs to (default: kept in the temp
#                        dir, which is then not removed and its path is printed)
#   SSRS_TOOLS           install root for cargo-fuzz (default /var/cache/sealed-secrets-rs/tools)
#   SSRS_FUZZ_TARGET_DIR cargo target directory of the fuzz build, else CARGO_TARGET_DIR, else
#                        /var/cache/sealed-secrets-rs/fuzz-target (reused across runs)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
seconds="${SSRS_FUZZ_SECONDS:-20}"
timeout="${SSRS_FUZZ_TIMEOUT:-25}"
rss="${SSRS_FUZZ_RSS_MB:-2048}"
sanitizer="${SSRS_FUZZ_SANITIZER:-address}"
tools="${SSRS_TOOLS:-/var/cache/sealed-secrets-rs/tools}"
export CARGO_TARGET_DIR="${SSRS_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-/var/cache/sealed-secrets-rs/fuzz-target}}"
export RUSTC_BOOTSTRAP=1
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"

all_targets=(envelope documents pem template http_bodies)
# template_differential (needs the Go reference renderer) runs when named: bash tests/fuzz/run.sh template_differential
build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

die() { echo "fuzz: $*" >&2; exit 1; }

# libFuzzer is C++ (built by libfuzzer-sys).
if ! command -v c++ >/dev/null 2>&1; then
  echo "==> installing g++ (libFuzzer is C++)" >&2
  apt-get install -y --no-install-recommends g++ >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends g++ >/dev/null; } ||
    die "cannot install g++"
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz into $tools" >&2
  mkdir -p "$tools"
  cargo install cargo-fuzz --locked --root "$tools" || die "cannot install cargo-fuzz"
fi

cd "$repo" || die "no repository at $repo"
build=(cargo fuzz build --fuzz-dir tests/fuzz --sanitizer "$sanitizer")
if [ -n "${SSRS_FUZZ_JOBS:-}" ]; then build+=(--jobs "$SSRS_FUZZ_JOBS"); fi
echo "==> ${build[*]} (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
"${build[@]}" || die "build failed"
if [ "$build_only" -eq 1 ]; then exit 0; fi

work="$(mktemp -d /tmp/ssrs-fuzz.XXXXXX)"
keep_work=0
passed=0
failed=0
failed_names=()
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || die "unknown target $t (no tests/fuzz/corpus/$t)"
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  cp -r "tests/fuzz/corpus/$t/." "$work/corpus/$t/"
  log="$work/$t.log"
  echo "==> $t: ${seconds}s" >&2
  # template_differential: libFuzzer's entropic schedule and ASan's allocation stack traces
  # took about half its CPU (docs/security.md); its findings are assertion failures, not
  # memory errors, so neither is needed there.
  extra=()
  asan="${ASAN_OPTIONS:-}"
  if [ "$t" = template_differential ]; then
    extra=(-entropic=0)
    asan="${ASAN_OPTIONS:-malloc_context_size=0:detect_leaks=0}"
  fi
  ASAN_OPTIONS="$asan" cargo fuzz run --fuzz-dir tests/fuzz --sanitizer "$sanitizer" "$t" "$work/corpus/$t" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" "${extra[@]}" \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1
  rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
  cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1)"
  artifacts=("$work/artifacts/$t"/*)
  if [ "$rc" -eq 0 ] && [ ! -e "${artifacts[0]}" ]; then
    passed=$((passed + 1))
    echo "$t: ok, ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-cov: ?}"
  else
    failed=$((failed + 1))
    failed_names+=("$t")
    echo "$t: FAILED (exit $rc), ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-cov: ?}"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked|.*panicked at)|Test unit written|deadly signal|-timeout|out-of-memory' "$log" | head -n 20
    echo "--- last lines of $log"
    tail -n 30 "$log"
    if [ -n "${SSRS_FUZZ_KEEP:-}" ]; then
      mkdir -p "$SSRS_FUZZ_KEEP/$t" && cp -r "$work/artifacts/$t/." "$SSRS_FUZZ_KEEP/$t/"
      echo "inputs copied to $SSRS_FUZZ_KEEP/$t (reproduce: cargo fuzz run --fuzz-dir tests/fuzz $t <input>)"
    else
      keep_work=1
    fi
  fi
done

if [ "$keep_work" -eq 1 ]; then
  echo "kept $work (logs and failing inputs)"
else
  rm -rf "$work"
fi
[ "$failed" -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
