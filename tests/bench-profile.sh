#!/usr/bin/env bash
# A controller wrapper for the bench driver that profiles it (issue 20):
#
#   SSRS_PROFILE_BIN=$CARGO_TARGET_DIR/release/controller SSRS_PROFILE_DIR=/var/tmp/prof \
#   SSRS_CONTROLLER_BIN=$PWD/tests/bench-profile.sh tests/bench.sh --objects 1000
#
# The driver starts the controller three times per size: P1 (cold), P2 (warm), P3 (cluster-wide).
# Starts 1 and 2 (P1 cold, P2 warm): `perf record` (DWARF call graphs from .eh_frame: release
# builds need no debuginfo) of core 1, where the pinned controller runs alone, until the process
# exits, into p1.data and p2.data; start 3 runs under
# heaptrack's preload library (its RSS figure is then inflated by heaptrack's own buffers: take
# P3's RSS from a run without this wrapper). Both helpers run on core 0, away from the pinned
# controller. Afterwards:
#   perf report -i $SSRS_PROFILE_DIR/p1.data -g none --comm tokio-rt-worker --sort dso,sym --stdio
#   (the controller's threads are all named tokio-rt-worker; -g none keeps a report to minutes)
#   heaptrack_print $SSRS_PROFILE_DIR/p3.heaptrack.gz
# SSRS_PROFILE_KILL=1: the heaptrack start is stopped with SIGKILL, so "leaked" = the live heap.
# SSRS_PROFILE_FREQ: perf samples per second (default 499; about 4 MB of stacks per second of P1).
# SSRS_PROFILE_CALLGRAPH: perf's --call-graph (default dwarf,8192; "none" records self time only:
# small files and a report in seconds, `perf report --sort sym --stdio`).
# SSRS_PROFILE_PERF: which of starts 1 and 2 run under perf (default "1 2"; "2" profiles only the
# warm restart, which at N = 10,000 keeps the recording small: P1 would be ≈ 1 GB).
set -euo pipefail
bin="${SSRS_PROFILE_BIN:?the controller binary to profile}"
dir="${SSRS_PROFILE_DIR:?a directory for the profiles}"
mkdir -p "$dir"
n=$(($(cat "$dir/count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$dir/count"
if [[ $n == 1 || $n == 2 ]] && [[ " ${SSRS_PROFILE_PERF:-1 2} " == *" $n "* ]]; then
  # Pinned (the driver's default), the controller is alone on core 1: record that core until this
  # pid exits. `perf record -p` after the exec missed the threads spawned later (the blocking
  # pool, where the RSA work runs), so it is used only without pinning.
  cg="${SSRS_PROFILE_CALLGRAPH:-dwarf,8192}"
  cg_arg=""
  [[ $cg == none ]] || cg_arg="--call-graph $cg"
  if [[ "$(taskset -p $$ | awk '{print $NF}')" == 2 ]]; then
    setsid bash -c "exec taskset -c 0 perf record -F ${SSRS_PROFILE_FREQ:-499} $cg_arg -C 1 -o '$dir/p$n.data' -- tail --pid=$$ -f /dev/null" \
      </dev/null >"$dir/perf$n.log" 2>&1 &
  else
    setsid bash -c "sleep 0.3; exec taskset -c 0 perf record -F ${SSRS_PROFILE_FREQ:-499} $cg_arg -o '$dir/p$n.data' -p $$" \
      </dev/null >"$dir/perf$n.log" 2>&1 &
  fi
fi
if [[ $n == 3 ]]; then
  rm -f "$dir/heaptrack.fifo"
  mkfifo "$dir/heaptrack.fifo"
  setsid bash -c "taskset -c 0 /usr/lib/heaptrack/libexec/heaptrack_interpret <'$dir/heaptrack.fifo' | gzip >'$dir/p3.heaptrack.gz'" \
    </dev/null >/dev/null 2>&1 &
  if [[ "${SSRS_PROFILE_KILL:-0}" == 1 ]]; then
    # Stopped with SIGKILL instead of the driver's SIGTERM: nothing is freed on the way out, so
    # heaptrack_print's "leaked" figures are what the caches held after the sync (the driver's
    # RSS figures are then the wrapper's: this is a profile-only run).
    LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT="$dir/heaptrack.fifo" "$bin" "$@" &
    child=$!
    trap 'kill -KILL $child 2>/dev/null' TERM INT
    wait $child || true
    wait $child 2>/dev/null || true
    exit 0
  fi
  LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT="$dir/heaptrack.fifo" exec "$bin" "$@"
fi
exec "$bin" "$@"
