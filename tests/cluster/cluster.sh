#!/usr/bin/env bash
# A throw-away Kubernetes control plane for tests: etcd + kube-apiserver + kube-controller-manager
# (1.20.2, built by build.sh) plus a "pod network" (a netns + veth pair). See docs/testing.md.
#
#   tests/cluster/cluster.sh build    install packages, build/cache the binaries
#   eval "$(tests/cluster/cluster.sh up)"   start (or reuse) a cluster; prints `export …` lines
#   tests/cluster/cluster.sh status   show state; exit 0 only if every process runs and /readyz is ok
#   tests/cluster/cluster.sh down     stop exactly what `up` started and remove its state
#   tests/cluster/cluster.sh stop|kill etcd|apiserver|kcm   stop one component (SIGTERM, then SIGKILL
#                                     after 5 s; `kill`: SIGKILL at once), keeping its data and ports
#   tests/cluster/cluster.sh start etcd|apiserver|kcm|all   start stopped component(s) again with the
#                                     same flags, ports and data; waits until the cluster is ready
#
# Progress goes to stderr; only `up` writes to stdout (the export lines).
#
# Env: SSRS_CLUSTER_DIR   state directory (default: a new /tmp/ssrs-cluster.XXXXXX, remembered in
#                         the pointer file $SSRS_POINTER, default /tmp/ssrs-cluster.current)
#      SSRS_HOST_IP / SSRS_POD_IP  pod-network addresses (a /30; default 10.254.254.1 / .2, or the
#                         first free /30 in 10.254.0.0/16 when the default is taken)
#      SSRS_K8S_CACHE     binary cache root for build.sh; SSRS_K8S_BIN_DIR  use binaries from there
#      SSRS_READY_TIMEOUT seconds to wait for each component (default 90)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POINTER="${SSRS_POINTER:-/tmp/ssrs-cluster.current}"
READY_TIMEOUT="${SSRS_READY_TIMEOUT:-90}"
LOCK_FILE="${SSRS_LOCK_FILE:-/run/lock/ssrs-cluster.lock}"
[[ -d "$(dirname "$LOCK_FILE")" ]] || LOCK_FILE=/tmp/ssrs-cluster.lock
CURRENT_STEP="start"
DIR=""

step() {
  CURRENT_STEP="$*"
  printf '==> %s\n' "$*" >&2
}
die() {
  printf 'cluster.sh: error in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------------
# State directory

# The state dir for down/status: $SSRS_CLUSTER_DIR, else the pointer file's target.
existing_dir() {
  if [[ -n "${SSRS_CLUSTER_DIR:-}" ]]; then
    printf '%s\n' "$SSRS_CLUSTER_DIR"
  elif [[ -f "$POINTER" ]]; then
    cat "$POINTER"
  fi
}

# Loads $DIR/state (shell assignments written by `up`).
load_state() {
  [[ -f "$DIR/state" ]] || return 1
  # shellcheck disable=SC1091
  source "$DIR/state"
}

pid_is_ours() { # pid — alive and its command line mentions our state dir
  local pid="$1"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR"
}

all_running() {
  local name
  for name in etcd kube-apiserver kube-controller-manager; do
    pid_is_ours "$(cat "$DIR/$name.pid" 2>/dev/null || true)" || return 1
  done
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$NETNS"
}

print_exports() {
  printf 'export KUBECONFIG=%q\n' "$DIR/admin.kubeconfig"
  printf 'export SSRS_NETNS=%q\n' "$NETNS"
  printf 'export SSRS_HOST_IP=%q\n' "$HOST_IP"
  printf 'export SSRS_POD_IP=%q\n' "$POD_IP"
  printf 'export SSRS_APISERVER=%q\n' "https://$HOST_IP:$APISERVER_PORT"
  printf 'export SSRS_ADMIN_TOKEN=%q\n' "$ADMIN_TOKEN"
  printf 'export SSRS_CLUSTER_DIR=%q\n' "$DIR"
}

# ---------------------------------------------------------------------------------------------------
# Helpers for `up`

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1]); s.close()'
}

# Prints "HOST_IP POD_IP" of a /30 that no host address or route overlaps.
pick_subnet() {
  python3 - "${SSRS_HOST_IP:-}" "${SSRS_POD_IP:-}" <<'PY'
import ipaddress, subprocess, sys

want_host, want_pod = sys.argv[1], sys.argv[2]
used = []
for cmd in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        for tok in line.split():
            try:
                net = ipaddress.ip_network(tok, strict=False)
            except ValueError:
                continue
            if net.version == 4 and not net.is_loopback and net.prefixlen > 0:
                used.append(net)
                break

def free(net):
    return not any(net.overlaps(u) for u in used)

if want_host or want_pod:
    if not (want_host and want_pod):
        sys.exit("set both SSRS_HOST_IP and SSRS_POD_IP, or neither")
    h, p = ipaddress.ip_address(want_host), ipaddress.ip_address(want_pod)
    net = ipaddress.ip_network(f"{h}/30", strict=False)
    if p not in net or h == p or h in (net.network_address, net.broadcast_address) \
            or p in (net.network_address, net.broadcast_address):
        sys.exit(f"SSRS_HOST_IP={h} and SSRS_POD_IP={p} must be the two usable addresses of one /30")
    if not free(net):
        sys.exit(f"{net} (SSRS_HOST_IP/SSRS_POD_IP) is already in use on this machine")
    print(h, p)
    sys.exit(0)

default = ipaddress.ip_network("10.254.254.0/30")
candidates = [default] + list(ipaddress.ip_network("10.254.0.0/16").subnets(new_prefix=30))
for net in candidates:
    if net.network_address.packed[2] == 255 or not free(net):
        continue
    print(net.network_address + 1, net.network_address + 2)
    sys.exit(0)
sys.exit("no free /30 left in 10.254.0.0/16")
PY
}

wait_until() { # description, command… — polls until the command succeeds or READY_TIMEOUT passes
  local what="$1"
  shift
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what not ready after ${READY_TIMEOUT}s"
    fi
    check_alive
    sleep 0.2
  done
}

# Components check_alive watches while waiting (`start` narrows it to what must be running).
ALIVE_NAMES="etcd kube-apiserver kube-controller-manager"

check_alive() {
  local name pid
  for name in $ALIVE_NAMES; do
    [[ -f "$DIR/$name.pid" ]] || continue
    pid="$(cat "$DIR/$name.pid")"
    if ! kill -0 "$pid" 2>/dev/null; then
      printf -- '--- last lines of %s ---\n' "$DIR/$name.log" >&2
      tail -n 30 "$DIR/$name.log" >&2 || true
      die "$name (pid $pid) exited"
    fi
  done
}

start_daemon() { # name, command…
  local name="$1"
  shift
  # setsid: own session, so a Ctrl-C aimed at the caller's process group does not reach it; no inherited
  # stdio, so callers capturing `up`'s stdout are not kept waiting.
  # Append: a component restarted by `start` keeps its earlier log.
  printf '=== %s started %s ===\n' "$name" "$(date -u +%FT%TZ)" >>"$DIR/$name.log"
  setsid "$@" </dev/null >>"$DIR/$name.log" 2>&1 &
  printf '%s\n' "$!" >"$DIR/$name.pid"
}

readyz() {
  [[ "$(curl -s --max-time 2 --cacert "$DIR/certs/apiserver.crt" \
    -H "Authorization: Bearer $ADMIN_TOKEN" "https://$HOST_IP:$APISERVER_PORT/readyz")" == ok ]]
}

write_kubeconfig() {
  local ca_data
  ca_data="$(base64 -w0 <"$DIR/certs/apiserver.crt")"
  umask 077
  cat >"$DIR/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ssrs
  cluster:
    server: https://$HOST_IP:$APISERVER_PORT
    certificate-authority-data: $ca_data
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: ssrs
  context:
    cluster: ssrs
    user: admin
    namespace: default
current-context: ssrs
EOF
}

# The three components, started from $DIR/state (by `up`, and again by `start` after `stop`).
start_etcd() {
  step "start etcd on 127.0.0.1:$ETCD_PORT"
  start_daemon etcd etcd --name default --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_until "etcd" etcd_health
}

etcd_health() { curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"; }

start_apiserver() {
  step "start kube-apiserver on https://$HOST_IP:$APISERVER_PORT"
  # The serving certificate in --cert-dir is generated on the first start and reused afterwards.
  start_daemon kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --secure-port="$APISERVER_PORT" --bind-address="$HOST_IP" --advertise-address="$HOST_IP" \
    --cert-dir="$DIR/certs" --token-auth-file="$DIR/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none
  wait_until "kube-apiserver serving certificate" test -s "$DIR/certs/apiserver.crt"
  wait_until "kube-apiserver /readyz" readyz
}

start_kcm() {
  step "start kube-controller-manager on 127.0.0.1:$KCM_PORT"
  start_daemon kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$DIR/admin.kubeconfig" \
    --controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token \
    --service-account-private-key-file="$DIR/sa.key" --root-ca-file="$DIR/certs/apiserver.crt" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --port=0
  wait_until "kube-controller-manager /healthz" kcm_healthz
}

kcm_healthz() { curl -skf --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"; }

on_up_exit() {
  if [[ "$1" -ne 0 ]]; then
    echo "cluster.sh: up FAILED in step \"$CURRENT_STEP\"; cleaning up" >&2
    do_down
  fi
}

cmd_up() {
  DIR="$(existing_dir || true)"
  if [[ -n "$DIR" ]] && load_state 2>/dev/null; then
    if all_running && readyz; then
      step "cluster already running in $DIR"
      print_exports
      return 0
    fi
    step "found a stale cluster in $DIR; removing it first"
    do_down
  fi

  local bindir="${SSRS_K8S_BIN_DIR:-}"
  if [[ -z "$bindir" ]]; then
    step "locate control-plane binaries (tests/cluster/build.sh)"
    bindir="$(bash "$HERE/build.sh")" || die "build.sh failed"
  fi
  [[ -x "$bindir/kube-apiserver" && -x "$bindir/kube-controller-manager" ]] ||
    die "no kube-apiserver/kube-controller-manager in $bindir"
  command -v etcd >/dev/null || die "etcd not installed (run: tests/cluster/cluster.sh build)"
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"

  step "create state directory"
  if [[ -n "${SSRS_CLUSTER_DIR:-}" ]]; then
    DIR="$SSRS_CLUSTER_DIR"
    mkdir -p "$DIR"
  else
    DIR="$(mktemp -d /tmp/ssrs-cluster.XXXXXX)"
    printf '%s\n' "$DIR" >"$POINTER"
  fi
  DIR="$(cd "$DIR" && pwd)"
  chmod 700 "$DIR"
  # From here on, a failure tears down whatever was created.
  trap 'on_up_exit $?' EXIT

  step "create pod network"
  exec 9>"$LOCK_FILE"
  flock -w 60 9 || die "could not lock $LOCK_FILE"
  # Names from a hash of the state dir (the basename alone collides: every "*-cluster" dir ended in
  # "luster"), skipping any taken by another cluster: `down` and a failed `up` delete the netns and
  # veth recorded in the state file, so it must only ever record ones this run creates.
  local id n=0
  while :; do
    id="$(printf '%s/%s' "$DIR" "$n" | sha1sum | cut -c1-6)"
    NETNS="ssrs-$id"
    VETH_HOST="ssrs${id}h"
    VETH_POD="ssrs${id}p"
    if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$NETNS" &&
      ! ip link show "$VETH_HOST" >/dev/null 2>&1 && ! ip link show "$VETH_POD" >/dev/null 2>&1; then
      break
    fi
    n=$((n + 1))
    ((n < 100)) || die "no free netns/veth name"
  done
  printf '    netns %s, veth %s/%s\n' "$NETNS" "$VETH_HOST" "$VETH_POD" >&2
  local ips
  ips="$(pick_subnet)" || die "no usable /30 for the pod network"
  read -r HOST_IP POD_IP <<<"$ips"
  # Record names before creating anything so a failed `up` can clean up.
  cat >"$DIR/state" <<EOF
NETNS=$NETNS
VETH_HOST=$VETH_HOST
VETH_POD=$VETH_POD
HOST_IP=$HOST_IP
POD_IP=$POD_IP
EOF
  # On failure, forget the name that was not created here, so the cleanup cannot delete another's.
  if ! ip netns add "$NETNS"; then
    sed -i '/^NETNS=/d;/^VETH_/d' "$DIR/state"
    die "ip netns add $NETNS failed"
  fi
  if ! ip link add "$VETH_HOST" type veth peer name "$VETH_POD"; then
    sed -i '/^VETH_/d' "$DIR/state"
    die "ip link add veth failed"
  fi
  ip link set "$VETH_POD" netns "$NETNS"
  ip addr add "$HOST_IP/30" dev "$VETH_HOST"
  ip link set "$VETH_HOST" up
  ip -n "$NETNS" addr add "$POD_IP/30" dev "$VETH_POD"
  ip -n "$NETNS" link set "$VETH_POD" up
  ip -n "$NETNS" link set lo up
  flock -u 9
  exec 9>&-
  printf '    host %s  <->  pod %s (netns %s)\n' "$HOST_IP" "$POD_IP" "$NETNS" >&2

  step "generate credentials (admin token, service-account keys)"
  mkdir -p "$DIR/certs" "$DIR/etcd"
  ADMIN_TOKEN="$(openssl rand -hex 32)"
  (
    umask 077
    printf '%s,admin,admin-uid,"system:masters"\n' "$ADMIN_TOKEN" >"$DIR/tokens.csv"
    openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
  ) || die "openssl genrsa failed"
  openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null || die "openssl rsa -pubout failed"

  step "pick free ports"
  ETCD_PORT="$(free_port)"
  ETCD_PEER_PORT="$(free_port)"
  APISERVER_PORT="$(free_port)"
  KCM_PORT="$(free_port)"
  while [[ "$ETCD_PEER_PORT" == "$ETCD_PORT" ]]; do ETCD_PEER_PORT="$(free_port)"; done
  while [[ "$APISERVER_PORT" == "$ETCD_PORT" || "$APISERVER_PORT" == "$ETCD_PEER_PORT" ]]; do
    APISERVER_PORT="$(free_port)"
  done
  cat >>"$DIR/state" <<EOF
ADMIN_TOKEN=$ADMIN_TOKEN
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
BIN_DIR=$bindir
EOF
  BIN_DIR="$bindir"

  start_etcd
  start_apiserver
  write_kubeconfig
  start_kcm

  trap - EXIT
  step "cluster up (state in $DIR)"
  print_exports
}

# ---------------------------------------------------------------------------------------------------
# down / status

stop_pid() { # name
  local name="$1" pid i
  pid="$(cat "$DIR/$name.pid" 2>/dev/null || true)"
  if pid_is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_is_ours "$pid" || break
      sleep 0.1
    done
    if pid_is_ours "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}

do_down() {
  local NETNS="" VETH_HOST=""
  load_state 2>/dev/null || true
  stop_pid kube-controller-manager
  stop_pid kube-apiserver
  stop_pid etcd
  if [[ -n "$NETNS" ]] && ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$NETNS"; then
    # Kill anything a test left running inside our netns (only processes in that netns).
    local pid
    for pid in $(ip netns pids "$NETNS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$NETNS" 2>/dev/null || true
  fi
  if [[ -n "$VETH_HOST" ]] && ip link show "$VETH_HOST" >/dev/null 2>&1; then
    ip link del "$VETH_HOST" 2>/dev/null || true
  fi
  if [[ -n "$DIR" && -d "$DIR" ]]; then
    rm -rf -- "$DIR"
  fi
  if [[ -f "$POINTER" && "$(cat "$POINTER")" == "$DIR" ]]; then
    rm -f -- "$POINTER"
  fi
}

cmd_down() {
  DIR="$(existing_dir || true)"
  if [[ -z "$DIR" ]]; then
    step "no cluster to stop"
    return 0
  fi
  step "stop cluster in $DIR"
  do_down
  step "cluster stopped and removed"
}

cmd_status() {
  DIR="$(existing_dir || true)"
  if [[ -z "$DIR" ]] || ! load_state 2>/dev/null; then
    if [[ -n "${SSRS_CLUSTER_DIR:-}" ]]; then
      echo "no cluster in SSRS_CLUSTER_DIR=$SSRS_CLUSTER_DIR" >&2
    else
      echo "no cluster (SSRS_CLUSTER_DIR unset and no $POINTER)" >&2
    fi
    return 1
  fi
  local ok=0 name pid
  echo "state dir: $DIR" >&2
  for name in etcd kube-apiserver kube-controller-manager; do
    pid="$(cat "$DIR/$name.pid" 2>/dev/null || true)"
    if pid_is_ours "$pid"; then
      echo "  $name: running (pid $pid)" >&2
    else
      echo "  $name: NOT running" >&2
      ok=1
    fi
  done
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$NETNS"; then
    echo "  netns $NETNS: present (host $HOST_IP, pod $POD_IP)" >&2
  else
    echo "  netns $NETNS: MISSING" >&2
    ok=1
  fi
  if readyz; then
    echo "  apiserver https://$HOST_IP:$APISERVER_PORT/readyz: ok" >&2
  else
    echo "  apiserver https://$HOST_IP:$APISERVER_PORT/readyz: NOT ready" >&2
    ok=1
  fi
  return "$ok"
}

# ---------------------------------------------------------------------------------------------------
# stop / kill / start one component (fault tests: tests/src/faults.rs)

component_name() { # etcd|apiserver|kcm (or the full process names) -> pid/log file name
  case "$1" in
    etcd) echo etcd ;;
    apiserver | kube-apiserver) echo kube-apiserver ;;
    kcm | controller-manager | kube-controller-manager) echo kube-controller-manager ;;
    *) die "unknown component \"$1\" (expected etcd, apiserver or kcm)" ;;
  esac
}

load_existing() {
  DIR="$(existing_dir || true)"
  if [[ -z "$DIR" ]] || ! load_state 2>/dev/null; then
    die "no cluster state (set SSRS_CLUSTER_DIR or run up first)"
  fi
  [[ -n "${BIN_DIR:-}" ]] || die "$DIR/state has no BIN_DIR"
}

running() { pid_is_ours "$(cat "$DIR/$1.pid" 2>/dev/null || true)"; }

cmd_stop() { # signal (TERM or KILL), component
  local signal="$1" name
  CURRENT_STEP="$signal ${2:-}"
  [[ -n "${2:-}" ]] || die "usage: $0 stop|kill etcd|apiserver|kcm"
  name="$(component_name "$2")"
  load_existing
  if ! running "$name"; then
    step "$name is not running"
    return 0
  fi
  step "stop $name (SIG$signal)"
  if [[ "$signal" == KILL ]]; then
    kill -KILL "$(cat "$DIR/$name.pid")" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
      running "$name" || break
      sleep 0.1
    done
  else
    stop_pid "$name"
  fi
  ! running "$name" || die "$name still running"
  # A stopped apiserver must not be answering any more (its port is free for the restart).
  if [[ "$name" == kube-apiserver ]] && readyz; then die "kube-apiserver still answers"; fi
}

cmd_start() { # component|all
  CURRENT_STEP="start ${1:-}"
  [[ -n "${1:-}" ]] || die "usage: $0 start etcd|apiserver|kcm|all"
  load_existing
  local want=()
  if [[ "$1" == all ]]; then
    want=(etcd kube-apiserver kube-controller-manager)
  else
    want=("$(component_name "$1")")
  fi
  local name
  for name in "${want[@]}"; do
    if running "$name"; then
      continue
    fi
    case "$name" in
      etcd)
        ALIVE_NAMES="etcd"
        start_etcd
        ;;
      kube-apiserver)
        running etcd || die "etcd is not running: start it first (or: start all)"
        ALIVE_NAMES="etcd kube-apiserver"
        start_apiserver
        ;;
      kube-controller-manager)
        running kube-apiserver || die "kube-apiserver is not running: start it first (or: start all)"
        ALIVE_NAMES="etcd kube-apiserver kube-controller-manager"
        start_kcm
        ;;
    esac
  done
  # Ready means ready for clients: after an etcd restart the apiserver needs a moment too.
  ALIVE_NAMES=""
  for name in etcd kube-apiserver kube-controller-manager; do
    running "$name" && ALIVE_NAMES="$ALIVE_NAMES $name"
  done
  if running etcd; then wait_until "etcd" etcd_health; fi
  if running kube-apiserver && running etcd; then wait_until "kube-apiserver /readyz" readyz; fi
  if running kube-controller-manager; then wait_until "kube-controller-manager /healthz" kcm_healthz; fi
  step "started: $(for n in etcd kube-apiserver kube-controller-manager; do running "$n" && printf '%s ' "$n"; done)"
}

case "${1:-}" in
  build) exec bash "$HERE/build.sh" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop) cmd_stop TERM "${2:-}" ;;
  kill) cmd_stop KILL "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  *)
    echo "usage: $0 build|up|down|status|stop|kill|start" >&2
    exit 2
    ;;
esac
