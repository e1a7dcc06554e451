#!/usr/bin/env bash
# A throw-away Kubernetes 1.20.2 cluster for tests (binaries built by build.sh). See docs/testing.md.
#   control plane: etcd + kube-apiserver + kube-controller-manager (all controllers) on the host;
#   pod network:   a netns + veth pair, where tests run host processes as if in a Pod;
#   node:          kube-scheduler on the host, and containerd + kubelet + kube-proxy in a network and
#                  mount namespace of their own (nothing of the node is on the host's network, in its
#                  iptables or at the kubelet's hard-coded paths), so several clusters never collide.
#
#   tests/cluster/cluster.sh build    install packages, build/cache the binaries and the pause image
#   eval "$(tests/cluster/cluster.sh up)"   start (or reuse) a cluster; prints `export …` lines
#   tests/cluster/cluster.sh status   show state; exit 0 only if every process runs and /readyz is ok
#   tests/cluster/cluster.sh down     stop exactly what `up` started, remove its state, check that
#                                     nothing is left (exit 1 and a list if something is)
#   tests/cluster/cluster.sh stop|kill COMPONENT   stop one component (SIGTERM, then SIGKILL after
#                                     5 s; `kill`: SIGKILL at once), keeping its data and ports.
#                                     COMPONENT: etcd apiserver kcm scheduler containerd kubelet proxy
#   tests/cluster/cluster.sh start COMPONENT|all   start stopped component(s) again with the same
#                                     flags, ports and data; waits until the cluster is ready
#   tests/cluster/cluster.sh image-import TAR...   import image archives into the node's containerd
#   tests/cluster/cluster.sh node-exec CMD...      run CMD in the node's network + mount namespace
#
# Progress goes to stderr; only `up` writes to stdout (the export lines).
#
# Env: SSRS_CLUSTER_DIR   state directory (default: a new /tmp/ssrs-cluster.XXXXXX, remembered in
#                         the pointer file $SSRS_POINTER, default /tmp/ssrs-cluster.current)
#      SSRS_HOST_IP / SSRS_POD_IP  pod-network addresses (a /30; default 10.254.254.1 / .2, or the
#                         first free /30 in 10.254.0.0/16 when the default is taken)
#      SSRS_K8S_CACHE     binary cache root for build.sh; SSRS_K8S_BIN_DIR  use binaries from there
#      SSRS_READY_TIMEOUT seconds to wait for each component (default 90)
#      SSRS_NODE=0        no node (no scheduler, containerd, kubelet, kube-proxy): control plane only
#      SSRS_NODE_REGISTRY directory listing the running nodes (default /run/ssrs-node)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POINTER="${SSRS_POINTER:-/tmp/ssrs-cluster.current}"
READY_TIMEOUT="${SSRS_READY_TIMEOUT:-90}"
LOCK_FILE="${SSRS_LOCK_FILE:-/run/lock/ssrs-cluster.lock}"
[[ -d "$(dirname "$LOCK_FILE")" ]] || LOCK_FILE=/tmp/ssrs-cluster.lock
NODE_REGISTRY="${SSRS_NODE_REGISTRY:-/run/ssrs-node}"
SERVICE_CIDR=10.0.0.0/24
PAUSE_IMAGE=localhost/ssrs-pause:1 # built by tests/image/build.sh pause; containerd's sandbox_image
# kubelet sets these at start; they are global (not per namespace): the first node saves them, the
# last one's `down` restores them.
KUBELET_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
CONTROL_COMPONENTS="etcd kube-apiserver kube-controller-manager"
NODE_COMPONENTS="kube-scheduler node-ns containerd kubelet kube-proxy"
CURRENT_STEP="start"
DIR=""
NODE=0
LOCK_HELD=0 # 1 while `up` holds the lock on fd 9 (a failed `up` cleans up without taking it again)

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
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$DIR"
}

# Every component of this cluster (the node's only if `up` started one).
components() {
  if [[ "$NODE" == 1 ]]; then echo "$CONTROL_COMPONENTS $NODE_COMPONENTS"; else echo "$CONTROL_COMPONENTS"; fi
}

netns_exists() { [[ -n "$1" ]] && ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

all_running() {
  local name
  for name in $(components); do
    pid_is_ours "$(cat "$DIR/$name.pid" 2>/dev/null || true)" || return 1
  done
  netns_exists "$NETNS" || return 1
  if [[ "$NODE" == 1 ]]; then netns_exists "$NODE_NETNS" || return 1; fi
}

print_exports() {
  printf 'export KUBECONFIG=%q\n' "$DIR/admin.kubeconfig"
  printf 'export SSRS_NETNS=%q\n' "$NETNS"
  printf 'export SSRS_HOST_IP=%q\n' "$HOST_IP"
  printf 'export SSRS_POD_IP=%q\n' "$POD_IP"
  printf 'export SSRS_APISERVER=%q\n' "https://$HOST_IP:$APISERVER_PORT"
  printf 'export SSRS_ADMIN_TOKEN=%q\n' "$ADMIN_TOKEN"
  printf 'export SSRS_CLUSTER_DIR=%q\n' "$DIR"
  if [[ "$NODE" == 1 ]]; then
    printf 'export SSRS_NODE_NAME=%q\n' "$NODE_NAME"
    printf 'export SSRS_NODE_NETNS=%q\n' "$NODE_NETNS"
    printf 'export SSRS_NODE_IP=%q\n' "$NODE_IP"
    printf 'export SSRS_POD_CIDR=%q\n' "$POD_CIDR"
    printf 'export SSRS_CONTAINERD_SOCK=%q\n' "$DIR/node/containerd.sock"
  fi
}

# ---------------------------------------------------------------------------------------------------
# Helpers for `up`

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1]); s.close()'
}

# Prints "HOST_IP POD_IP" of a /30 that no host address or route overlaps ($1 $2: the wanted pair,
# or empty). With $3 = 24 instead: the first free /24 in 10.244.0.0/16 (a node's pod CIDR).
pick_subnet() {
  python3 - "${1:-}" "${2:-}" "${3:-30}" <<'PY'
import ipaddress, subprocess, sys

want_host, want_pod, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3])
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

if prefix == 24:
    for net in ipaddress.ip_network("10.244.0.0/16").subnets(new_prefix=24):
        if free(net):
            print(net)
            sys.exit(0)
    sys.exit("no free /24 left in 10.244.0.0/16")

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

# Components check_alive watches while waiting (`up` widens it as it starts them, `start` narrows it
# to what must be running).
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

api_get() { # path — GET as admin, body on stdout
  curl -sf --max-time 5 --cacert "$DIR/certs/apiserver.crt" \
    -H "Authorization: Bearer $ADMIN_TOKEN" "https://$HOST_IP:$APISERVER_PORT$1"
}

write_kubeconfig() { # [file user token] (default: the admin kubeconfig)
  local file="${1:-$DIR/admin.kubeconfig}" user="${2:-admin}" token="${3:-$ADMIN_TOKEN}" ca_data
  ca_data="$(base64 -w0 <"$DIR/certs/apiserver.crt")"
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ssrs
  cluster:
    server: https://$HOST_IP:$APISERVER_PORT
    certificate-authority-data: $ca_data
users:
- name: $user
  user:
    token: $token
contexts:
- name: ssrs
  context:
    cluster: ssrs
    user: $user
    namespace: default
current-context: ssrs
EOF
  )
}

# The control-plane components, started from $DIR/state (by `up`, and again by `start` after `stop`).
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
  # ServiceAccount admission is on (the default set); the default endpoint reconciler publishes
  # $HOST_IP:$APISERVER_PORT as the `kubernetes` Service's endpoint (10.0.0.1:443 in a Pod).
  start_daemon kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --secure-port="$APISERVER_PORT" --bind-address="$HOST_IP" --advertise-address="$HOST_IP" \
    --cert-dir="$DIR/certs" --token-auth-file="$DIR/tokens.csv" --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range="$SERVICE_CIDR" \
    --allow-privileged=true --kubelet-preferred-address-types=InternalIP,Hostname
  wait_until "kube-apiserver serving certificate" test -s "$DIR/certs/apiserver.crt"
  wait_until "kube-apiserver /readyz" readyz
}

start_kcm() {
  step "start kube-controller-manager on 127.0.0.1:$KCM_PORT (all controllers)"
  start_daemon kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$DIR/admin.kubeconfig" --controllers='*' \
    --flex-volume-plugin-dir="$DIR/kcm-volume-plugins" \
    --service-account-private-key-file="$DIR/sa.key" --root-ca-file="$DIR/certs/apiserver.crt" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --port=0
  wait_until "kube-controller-manager /healthz" kcm_healthz
}

kcm_healthz() { curl -skf --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"; }

# ---------------------------------------------------------------------------------------------------
# The node: kube-scheduler on the host; containerd, kubelet and kube-proxy in the node's network
# namespace $NODE_NETNS and a private mount namespace (held by the `node-ns` process), inside the
# cgroup tree /$CGROUP_ROOT of every hierarchy (so `down` finds every process of the node, pods too).

# Mount points of the cgroup hierarchies (v1 controllers, and the v2 one in hybrid mode).
cg_hierarchies() {
  awk '{for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break }}' \
    /proc/self/mountinfo
}

cg_setup() { # creates /$CGROUP_ROOT/node in every hierarchy (kubelet requires --cgroup-root to exist)
  local h d
  for h in $(cg_hierarchies); do
    for d in "$h/$CGROUP_ROOT" "$h/$CGROUP_ROOT/node"; do
      mkdir -p "$d" || die "mkdir $d failed"
      if [[ -f "$h/cpuset.cpus" ]]; then # a new cpuset cgroup starts empty: no task can join it
        cat "$h/cpuset.cpus" >"$d/cpuset.cpus"
        cat "$h/cpuset.mems" >"$d/cpuset.mems"
      fi
    done
  done
}

cg_join() { # pid — moves it into /$CGROUP_ROOT/node of every hierarchy
  local h
  for h in $(cg_hierarchies); do
    printf '%s\n' "$1" >"$h/$CGROUP_ROOT/node/cgroup.procs" || die "cannot move pid $1 into $h/$CGROUP_ROOT/node"
  done
}

cg_pids() { # every pid in /$CGROUP_ROOT of any hierarchy
  local h
  for h in $(cg_hierarchies); do
    [[ -d "$h/$CGROUP_ROOT" ]] || continue
    find "$h/$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done | sort -un
}

cg_remove() { # kills what is left in /$CGROUP_ROOT and removes the tree, depth first
  local i pids h
  for ((i = 0; i < 100; i++)); do
    pids="$(cg_pids)"
    [[ -n "$pids" ]] || break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  for ((i = 0; i < 50; i++)); do
    local left=0
    for h in $(cg_hierarchies); do
      [[ -d "$h/$CGROUP_ROOT" ]] || continue
      find "$h/$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d "$h/$CGROUP_ROOT" ]] && left=1
    done
    ((left == 0)) && break
    sleep 0.1
  done
}

# Registry of running nodes: one file per node naming its state dir. Only the sysctls kubelet sets
# are shared between nodes; the first node saves them, the last one restores them.
live_nodes_except() { # id — prints the other registered nodes whose state dir still exists
  local f d
  [[ -d "$NODE_REGISTRY" ]] || return 0
  for f in "$NODE_REGISTRY"/node-*; do
    [[ -f "$f" && "$f" != "$NODE_REGISTRY/node-$1" ]] || continue
    d="$(cat "$f")"
    if [[ -f "$d/state" ]]; then printf '%s\n' "$d"; else rm -f -- "$f"; fi
  done
}

node_register() {
  mkdir -p "$NODE_REGISTRY"
  if [[ -z "$(live_nodes_except "$NODE_ID")" || ! -f "$NODE_REGISTRY/sysctl.orig" ]]; then
    local k
    for k in $KUBELET_SYSCTLS; do
      printf '%s=%s\n' "$k" "$(sysctl -n "$k")"
    done >"$NODE_REGISTRY/sysctl.orig"
  fi
  printf '%s\n' "$DIR" >"$NODE_REGISTRY/node-$NODE_ID"
}

node_unregister() { # under the lock
  [[ -n "${NODE_ID:-}" && -d "$NODE_REGISTRY" ]] || return 0
  rm -f -- "$NODE_REGISTRY/node-$NODE_ID"
  if [[ -z "$(live_nodes_except "$NODE_ID")" ]]; then
    if [[ -f "$NODE_REGISTRY/sysctl.orig" ]]; then
      local line
      while IFS= read -r line; do
        sysctl -qw "$line" >/dev/null 2>&1 || printf 'cluster.sh: could not restore sysctl %s\n' "$line" >&2
      done <"$NODE_REGISTRY/sysctl.orig"
    fi
    rm -rf -- "$NODE_REGISTRY"
  fi
}

# Hidden subcommands run by start_daemon, so the recorded pid is the daemon's after the exec chain.
node_holder() { # __holder DIR: the node's namespaces; it mounts and then idles as `tail -f`
  cg_join "$$"
  exec nsenter --net="/run/netns/$NODE_NETNS" -- unshare --mount --propagation private -- \
    bash "$HERE/cluster.sh" __ns-init "$DIR"
}

node_ns_init() { # __ns-init DIR, inside the new mount namespace: private /run, /var/lib, /var/log
  # kubelet 1.20 writes to /var/lib/kubelet/device-plugins, /var/log/pods and /var/log/containers
  # whatever its flags, containerd's CNI library to /var/lib/cni, and containerd/runc to /run; here
  # those are the state dir's or a tmpfs that goes away with the namespace.
  mount -t tmpfs -o mode=0755,size=256m ssrs-node-run /run
  mkdir -p /run/netns /run/lock
  mount --bind "$DIR/node/var-lib" /var/lib
  mount --bind "$DIR/node/var-log" /var/log
  mkdir -p /var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers
  touch "$DIR/node/ns-ready"
  exec tail -f "$DIR/node/holder"
}

node_enter() { # __enter DIR CMD...: run CMD in the node's cgroup and namespaces
  local holder
  holder="$(cat "$DIR/node-ns.pid" 2>/dev/null || true)"
  pid_is_ours "$holder" || die "the node namespace holder is not running (run: cluster.sh down; cluster.sh up)"
  cg_join "$$"
  exec nsenter -t "$holder" -m -n -- "$@"
}

in_node_netns() { nsenter --net="/run/netns/$NODE_NETNS" -- "$@"; }

write_node_config() {
  step "write node configuration (containerd, CNI, kubeconfigs)"
  mkdir -p "$DIR/node/cni" "$DIR/node/var-lib" "$DIR/node/var-log" "$DIR/kcm-volume-plugins"
  : >"$DIR/node/holder"
  cat >"$DIR/node/containerd.toml" <<EOF
# containerd for node $NODE_NAME (tests/cluster/cluster.sh); private root, socket and state.
version = 2
root = "$DIR/node/containerd"
state = "/run/ssrs-containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$DIR/node/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/node/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Required on this machine kind: no CAP_SYS_RESOURCE, so runc cannot lower a sandbox's oom score.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/node/cni"
EOF
  local gw="${POD_CIDR%.*}.1"
  cat >"$DIR/node/cni/10-ssrs-bridge.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "ssrs-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$gw"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  write_kubeconfig "$DIR/node/kubelet.kubeconfig" "system:node:$NODE_NAME" "$NODE_TOKEN"
  write_kubeconfig "$DIR/node/kube-proxy.kubeconfig" "system:kube-proxy" "$PROXY_TOKEN"
}

start_node_ns() {
  step "start the node's namespaces (netns $NODE_NETNS, private mounts, cgroup /$CGROUP_ROOT)"
  cg_setup
  rm -f "$DIR/node/ns-ready"
  start_daemon node-ns bash "$HERE/cluster.sh" __holder "$DIR"
  wait_until "node namespace" test -f "$DIR/node/ns-ready"
}

containerd_ok() { ctr -a "$DIR/node/containerd.sock" version; }

start_containerd() {
  step "start containerd (socket $DIR/node/containerd.sock)"
  start_daemon containerd bash "$HERE/cluster.sh" __enter "$DIR" containerd --config "$DIR/node/containerd.toml"
  wait_until "containerd" containerd_ok
}

start_scheduler() {
  step "start kube-scheduler on 127.0.0.1:$SCHED_PORT"
  start_daemon kube-scheduler "$BIN_DIR/kube-scheduler" --kubeconfig="$DIR/admin.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --port=0
  wait_until "kube-scheduler /healthz" sched_healthz
}

sched_healthz() { curl -skf --max-time 2 "https://127.0.0.1:$SCHED_PORT/healthz"; }

start_kubelet() {
  step "start kubelet (node $NODE_NAME, $NODE_IP:10250)"
  # --root-dir is /var/lib/kubelet inside the node's mount namespace ($DIR/node/var-lib/kubelet).
  start_daemon kubelet bash "$HERE/cluster.sh" __enter "$DIR" "$BIN_DIR/kubelet" \
    --kubeconfig="$DIR/node/kubelet.kubeconfig" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --container-runtime=remote --container-runtime-endpoint="unix://$DIR/node/containerd.sock" \
    --runtime-request-timeout=5m --cgroup-driver=cgroupfs --cgroup-root="/$CGROUP_ROOT" \
    --fail-swap-on=false --pod-infra-container-image="$PAUSE_IMAGE" \
    --root-dir=/var/lib/kubelet --cert-dir=/var/lib/kubelet/pki \
    --volume-plugin-dir=/var/lib/kubelet/volume-plugins \
    --address="$NODE_IP" --port=10250 --healthz-bind-address=127.0.0.1 --healthz-port=10248 \
    --read-only-port=0 --anonymous-auth=true --authorization-mode=AlwaysAllow --resolv-conf="" \
    --eviction-hard='memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi' \
    --image-gc-high-threshold=100 --image-gc-low-threshold=99 --v=1
  # Eviction and image GC thresholds: the defaults (10 % of the disk free, GC above 85 % used) taint a
  # node on a developer's busy disk (disk-pressure: nothing schedules) and would garbage-collect the
  # imported images, which no registry can give back.
  wait_until "kubelet /healthz" kubelet_healthz
}

kubelet_healthz() { in_node_netns curl -sf --max-time 2 http://127.0.0.1:10248/healthz; }

node_ready() {
  api_get "/api/v1/nodes/$NODE_NAME" | python3 -c 'import json, sys
node = json.load(sys.stdin)
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", [])) else 1)'
}

start_proxy() {
  step "start kube-proxy (iptables mode, in the node netns)"
  # --conntrack-*=0: leave the (global) conntrack sysctls alone; --oom-score-adj=0: no CAP_SYS_RESOURCE.
  start_daemon kube-proxy bash "$HERE/cluster.sh" __enter "$DIR" "$BIN_DIR/kube-proxy" \
    --kubeconfig="$DIR/node/kube-proxy.kubeconfig" --hostname-override="$NODE_NAME" \
    --proxy-mode=iptables --cluster-cidr="$POD_CIDR" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 --oom-score-adj=0 --v=1
  wait_until "kube-proxy /healthz" proxy_healthz
}

proxy_healthz() { in_node_netns curl -sf --max-time 2 http://127.0.0.1:10256/healthz; }

import_images() { # tar... into the node's containerd (k8s.io namespace: what the CRI sees)
  local t
  for t in "$@"; do
    [[ -f "$t" ]] || die "image archive $t not found"
    ctr -a "$DIR/node/containerd.sock" -n k8s.io images import "$t" >&2 || die "ctr images import $t failed"
  done
}

start_node() {
  write_node_config
  ALIVE_NAMES="$CONTROL_COMPONENTS kube-scheduler"
  start_scheduler
  start_node_ns
  ALIVE_NAMES="$ALIVE_NAMES node-ns"
  ALIVE_NAMES="$ALIVE_NAMES containerd"
  start_containerd
  step "import the pause image $PAUSE_IMAGE"
  import_images "$PAUSE_TAR"
  ALIVE_NAMES="$ALIVE_NAMES kubelet"
  local t=$SECONDS
  start_kubelet
  ALIVE_NAMES="$ALIVE_NAMES kube-proxy"
  start_proxy
  step "wait for node $NODE_NAME to be Ready"
  wait_until "node $NODE_NAME Ready" node_ready
  printf '    node Ready %ss after kubelet started\n' "$((SECONDS - t))" >&2
}

on_up_exit() {
  if [[ "$1" -ne 0 ]]; then
    echo "cluster.sh: up FAILED in step \"$CURRENT_STEP\"; cleaning up" >&2
    do_down || true
  fi
}

host_kube_chains() { # KUBE-/CNI- chains in the host's iptables (the node never adds any there)
  if command -v iptables-save >/dev/null; then
    { iptables-save 2>/dev/null || true; } | grep -cE '^:(KUBE-|CNI-)' || true
  else
    echo 0
  fi
}

cmd_up() {
  UP_START=$SECONDS
  DIR="$(existing_dir || true)"
  if [[ -n "$DIR" ]] && load_state 2>/dev/null; then
    if all_running && readyz; then
      step "cluster already running in $DIR"
      print_exports
      return 0
    fi
    step "found a stale cluster in $DIR; removing it first"
    do_down || true
  fi
  local want_node="${SSRS_NODE:-1}"
  [[ "$want_node" == 0 || "$want_node" == 1 ]] || die "SSRS_NODE must be 0 or 1, got '$want_node'"

  local bindir="${SSRS_K8S_BIN_DIR:-}"
  if [[ -z "$bindir" ]]; then
    step "locate cluster binaries (tests/cluster/build.sh)"
    bindir="$(bash "$HERE/build.sh")" || die "build.sh failed"
  fi
  local b need=(kube-apiserver kube-controller-manager)
  [[ "$want_node" == 1 ]] && need+=(kube-scheduler kubelet kube-proxy)
  for b in "${need[@]}"; do
    [[ -x "$bindir/$b" ]] || die "no $b in $bindir (run: tests/cluster/cluster.sh build)"
  done
  command -v etcd >/dev/null || die "etcd not installed (run: tests/cluster/cluster.sh build)"
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"
  if [[ "$want_node" == 1 ]]; then
    for b in containerd ctr runc nsenter unshare iptables conntrack; do
      command -v "$b" >/dev/null || die "$b not installed (run: tests/cluster/cluster.sh build)"
    done
    [[ -x /usr/lib/cni/bridge ]] || die "/usr/lib/cni/bridge missing (package containernetworking-plugins)"
    step "pause image (tests/image/build.sh pause)"
    PAUSE_TAR="$(bash "$HERE/../image/build.sh" pause)" || die "building the pause image failed"
  fi

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
  LOCK_HELD=1
  # Names from a hash of the state dir (the basename alone collides: every "*-cluster" dir ended in
  # "luster"), skipping any taken by another cluster: `down` and a failed `up` delete the netns and
  # veths recorded in the state file, so it must only ever record ones this run creates.
  local id n=0
  while :; do
    id="$(printf '%s/%s' "$DIR" "$n" | sha1sum | cut -c1-6)"
    NETNS="ssrs-$id"
    VETH_HOST="ssrs${id}h"
    VETH_POD="ssrs${id}p"
    NODE_NETNS="ssrsn-$id"
    VETH_NODE_HOST="ssrs${id}n"
    if ! netns_exists "$NETNS" && ! netns_exists "$NODE_NETNS" &&
      ! ip link show "$VETH_HOST" >/dev/null 2>&1 && ! ip link show "$VETH_POD" >/dev/null 2>&1 &&
      ! ip link show "$VETH_NODE_HOST" >/dev/null 2>&1 && [[ ! -e "$NODE_REGISTRY/node-$id" ]]; then
      break
    fi
    n=$((n + 1))
    ((n < 100)) || die "no free netns/veth name"
  done
  printf '    netns %s, veth %s/%s\n' "$NETNS" "$VETH_HOST" "$VETH_POD" >&2
  local ips
  ips="$(pick_subnet "${SSRS_HOST_IP:-}" "${SSRS_POD_IP:-}")" || die "no usable /30 for the pod network"
  read -r HOST_IP POD_IP <<<"$ips"
  # Record names before creating anything so a failed `up` can clean up.
  cat >"$DIR/state" <<EOF
NETNS=$NETNS
VETH_HOST=$VETH_HOST
VETH_POD=$VETH_POD
HOST_IP=$HOST_IP
POD_IP=$POD_IP
HOST_KUBE_CHAINS=$(host_kube_chains)
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
  printf '    host %s  <->  pod %s (netns %s)\n' "$HOST_IP" "$POD_IP" "$NETNS" >&2

  if [[ "$want_node" == 1 ]]; then
    step "create the node network (netns $NODE_NETNS)"
    # The node's own /30 (host side $NODE_HOST_IP, node side $NODE_IP) and pod CIDR (a /24, routed
    # via the node), both chosen like the pod network's: free on this machine, so a second cluster
    # gets other addresses; ports are fixed but inside the node netns.
    ips="$(pick_subnet)" || die "no usable /30 for the node network"
    read -r NODE_HOST_IP NODE_IP <<<"$ips"
    POD_CIDR="$(pick_subnet "" "" 24)" || die "no free /24 for the pod CIDR"
    NODE_ID="$id"
    NODE_NAME="ssrs-node-$id"
    CGROUP_ROOT="ssrs-$id"
    cat >>"$DIR/state" <<EOF
NODE=1
NODE_ID=$NODE_ID
NODE_NAME=$NODE_NAME
NODE_NETNS=$NODE_NETNS
VETH_NODE_HOST=$VETH_NODE_HOST
NODE_HOST_IP=$NODE_HOST_IP
NODE_IP=$NODE_IP
POD_CIDR=$POD_CIDR
CGROUP_ROOT=$CGROUP_ROOT
EOF
    NODE=1
    if ! ip netns add "$NODE_NETNS"; then
      sed -i '/^NODE_NETNS=/d;/^VETH_NODE_HOST=/d' "$DIR/state"
      die "ip netns add $NODE_NETNS failed"
    fi
    if ! ip link add "$VETH_NODE_HOST" type veth peer name "ssrs${id}m"; then
      sed -i '/^VETH_NODE_HOST=/d' "$DIR/state"
      die "ip link add $VETH_NODE_HOST failed"
    fi
    ip link set "ssrs${id}m" netns "$NODE_NETNS"
    ip -n "$NODE_NETNS" link set "ssrs${id}m" name eth0
    ip addr add "$NODE_HOST_IP/30" dev "$VETH_NODE_HOST"
    ip link set "$VETH_NODE_HOST" up
    ip -n "$NODE_NETNS" addr add "$NODE_IP/30" dev eth0
    ip -n "$NODE_NETNS" link set eth0 up
    ip -n "$NODE_NETNS" link set lo up
    # No default route: the node and its pods reach the apiserver (and, for ClusterIPs sent from the
    # node itself, the service range) and nothing else; an image pull fails at once, sends nothing.
    ip -n "$NODE_NETNS" route add "$HOST_IP/32" via "$NODE_HOST_IP"
    ip -n "$NODE_NETNS" route add "$SERVICE_CIDR" via "$NODE_HOST_IP"
    ip route add "$POD_CIDR" via "$NODE_IP" dev "$VETH_NODE_HOST"
    in_node_netns sysctl -qw net.ipv4.ip_forward=1
    node_register
    printf '    host %s  <->  node %s (netns %s), pods %s\n' "$NODE_HOST_IP" "$NODE_IP" "$NODE_NETNS" "$POD_CIDR" >&2
  fi
  flock -u 9
  exec 9>&-
  LOCK_HELD=0

  step "generate credentials (tokens, service-account keys)"
  mkdir -p "$DIR/certs" "$DIR/etcd"
  ADMIN_TOKEN="$(openssl rand -hex 32)"
  NODE_TOKEN="$(openssl rand -hex 32)"
  PROXY_TOKEN="$(openssl rand -hex 32)"
  (
    umask 077
    printf '%s,admin,admin-uid,"system:masters"\n' "$ADMIN_TOKEN" >"$DIR/tokens.csv"
    if [[ "$NODE" == 1 ]]; then
      printf '%s,system:node:%s,node-uid,"system:nodes"\n' "$NODE_TOKEN" "$NODE_NAME" >>"$DIR/tokens.csv"
      printf '%s,system:kube-proxy,kube-proxy-uid\n' "$PROXY_TOKEN" >>"$DIR/tokens.csv"
    fi
    openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
  ) || die "openssl genrsa failed"
  openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null || die "openssl rsa -pubout failed"

  step "pick free ports"
  local ports=() p
  while ((${#ports[@]} < 5)); do
    p="$(free_port)"
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  ETCD_PORT="${ports[0]}" ETCD_PEER_PORT="${ports[1]}" APISERVER_PORT="${ports[2]}"
  KCM_PORT="${ports[3]}" SCHED_PORT="${ports[4]}"
  cat >>"$DIR/state" <<EOF
ADMIN_TOKEN=$ADMIN_TOKEN
NODE_TOKEN=$NODE_TOKEN
PROXY_TOKEN=$PROXY_TOKEN
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
BIN_DIR=$bindir
EOF
  BIN_DIR="$bindir"

  start_etcd
  start_apiserver
  write_kubeconfig
  start_kcm
  if [[ "$NODE" == 1 ]]; then start_node; fi

  trap - EXIT
  step "cluster up in $((SECONDS - UP_START))s (state in $DIR)"
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

kill_netns_pids() { # netns — SIGKILL everything in it until it is empty (only our processes are there)
  local i pids
  netns_exists "$1" || return 0
  for ((i = 0; i < 50; i++)); do
    pids="$(ip netns pids "$1" 2>/dev/null || true)"
    [[ -n "$pids" ]] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
}

down_node() {
  stop_pid kube-proxy
  stop_pid kubelet
  stop_pid kube-scheduler
  stop_pid containerd
  # Pods, shims and the namespace holder: everything in the node's cgroup tree and netns. Their
  # mounts live only in the node's private mount namespace, which goes away with its last process.
  if [[ -n "${CGROUP_ROOT:-}" ]]; then cg_remove; fi
  kill_netns_pids "${NODE_NETNS:-}"
  stop_pid node-ns
  if netns_exists "${NODE_NETNS:-}"; then ip netns del "$NODE_NETNS" 2>/dev/null || true; fi
  if [[ -n "${VETH_NODE_HOST:-}" ]] && ip link show "$VETH_NODE_HOST" >/dev/null 2>&1; then
    ip link del "$VETH_NODE_HOST" 2>/dev/null || true
  fi
  if [[ -n "${POD_CIDR:-}" ]] && [[ -n "$(ip route show "$POD_CIDR" 2>/dev/null)" ]] &&
    ip route show "$POD_CIDR" | grep -q "via ${NODE_IP:-none} "; then
    ip route del "$POD_CIDR" 2>/dev/null || true
  fi
  if [[ "$LOCK_HELD" == 1 ]]; then
    node_unregister
  else
    local lock
    exec {lock}>"$LOCK_FILE"
    flock -w 60 "$lock" || true
    node_unregister
    exec {lock}>&-
  fi
}

ancestors() { # pids of this process and its ancestors
  local p=$$
  while [[ -n "$p" && "$p" != 0 ]]; do
    echo "$p"
    p="$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)"
  done
}

# After `down`: lists what of this cluster is still there (processes, netns, veths, cgroups, mounts,
# routes, host iptables chains, files); returns 1 if anything is.
verify_clean() {
  local left=() p mine
  mine=" $(ancestors | tr '\n' ' ') "
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [[ "$mine" == *" $p "* ]] && continue
    [[ "$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)" == "$$" ]] && continue
    if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$DIR"; then
      left+=("process $p: $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-120)")
    fi
  done
  local ns
  for ns in "${NETNS:-}" "${NODE_NETNS:-}"; do
    if netns_exists "$ns"; then left+=("netns $ns"); fi
  done
  local l
  for l in "${VETH_HOST:-}" "${VETH_NODE_HOST:-}"; do
    if [[ -n "$l" ]] && ip link show "$l" >/dev/null 2>&1; then left+=("link $l"); fi
  done
  if [[ -n "${CGROUP_ROOT:-}" ]]; then
    local h
    for h in $(cg_hierarchies); do
      if [[ -d "$h/$CGROUP_ROOT" ]]; then left+=("cgroup $h/$CGROUP_ROOT"); fi
    done
  fi
  local m
  while IFS= read -r m; do
    left+=("mount $m")
  done < <([[ -n "$DIR" ]] && { grep -F -e "$DIR" /proc/self/mountinfo | awk '{print $5}' || true; };
    for ns in "${NETNS:-}" "${NODE_NETNS:-}"; do
      [[ -n "$ns" ]] && { grep -F "/run/netns/$ns " /proc/self/mountinfo | awk '{print $5}' || true; }
    done)
  if [[ -n "${POD_CIDR:-}" && -n "${NODE_IP:-}" ]] && ip route show "$POD_CIDR" 2>/dev/null | grep -q "via $NODE_IP "; then
    left+=("route $POD_CIDR via $NODE_IP")
  fi
  if [[ -n "${HOST_KUBE_CHAINS:-}" ]] && (($(host_kube_chains) > HOST_KUBE_CHAINS)); then
    left+=("host iptables: $(host_kube_chains) KUBE-/CNI- chains, $HOST_KUBE_CHAINS before up")
  fi
  if [[ -n "$DIR" && -e "$DIR" ]]; then left+=("directory $DIR"); fi
  if [[ -n "${NODE_ID:-}" && -e "$NODE_REGISTRY/node-$NODE_ID" ]]; then left+=("file $NODE_REGISTRY/node-$NODE_ID"); fi
  if ((${#left[@]} > 0)); then
    printf 'cluster.sh: down left behind:\n' >&2
    printf '  %s\n' "${left[@]}" >&2
    return 1
  fi
}

do_down() {
  local NETNS="" VETH_HOST="" NODE_NETNS="" VETH_NODE_HOST="" CGROUP_ROOT="" POD_CIDR="" NODE_IP="" \
    NODE_ID="" HOST_KUBE_CHAINS=""
  NODE=0
  load_state 2>/dev/null || true
  if [[ "$NODE" == 1 || -n "$NODE_NETNS" || -n "$CGROUP_ROOT" ]]; then down_node; fi
  stop_pid kube-controller-manager
  stop_pid kube-apiserver
  stop_pid etcd
  if netns_exists "$NETNS"; then
    # Kill anything a test left running inside our netns (only processes in that netns).
    kill_netns_pids "$NETNS"
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
  verify_clean
}

cmd_down() {
  DIR="$(existing_dir || true)"
  if [[ -z "$DIR" ]]; then
    step "no cluster to stop"
    return 0
  fi
  step "stop cluster in $DIR"
  do_down || die "cleanup incomplete (see the list above)"
  step "cluster stopped and removed; nothing of it is left"
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
  for name in $(components); do
    pid="$(cat "$DIR/$name.pid" 2>/dev/null || true)"
    if pid_is_ours "$pid"; then
      echo "  $name: running (pid $pid)" >&2
    else
      echo "  $name: NOT running" >&2
      ok=1
    fi
  done
  if netns_exists "$NETNS"; then
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
  if [[ "$NODE" == 1 ]]; then
    if netns_exists "$NODE_NETNS"; then
      echo "  node netns $NODE_NETNS: present (node $NODE_IP, pods $POD_CIDR)" >&2
    else
      echo "  node netns $NODE_NETNS: MISSING" >&2
      ok=1
    fi
    if node_ready 2>/dev/null; then
      echo "  node $NODE_NAME: Ready" >&2
    else
      echo "  node $NODE_NAME: NOT Ready" >&2
      ok=1
    fi
  fi
  return "$ok"
}

# ---------------------------------------------------------------------------------------------------
# stop / kill / start one component (fault tests: tests/src/faults.rs)

component_name() { # short or full name -> pid/log file name
  case "$1" in
    etcd) echo etcd ;;
    apiserver | kube-apiserver) echo kube-apiserver ;;
    kcm | controller-manager | kube-controller-manager) echo kube-controller-manager ;;
    scheduler | kube-scheduler) echo kube-scheduler ;;
    containerd) echo containerd ;;
    kubelet) echo kubelet ;;
    proxy | kube-proxy) echo kube-proxy ;;
    *) die "unknown component \"$1\" (expected etcd, apiserver, kcm, scheduler, containerd, kubelet or proxy)" ;;
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
  [[ -n "${2:-}" ]] || die "usage: $0 stop|kill etcd|apiserver|kcm|scheduler|containerd|kubelet|proxy"
  name="$(component_name "$2")"
  load_existing
  [[ " $(components) " == *" $name "* ]] || die "this cluster has no $name (started with SSRS_NODE=0)"
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
  [[ -n "${1:-}" ]] || die "usage: $0 start etcd|apiserver|kcm|scheduler|containerd|kubelet|proxy|all"
  load_existing
  local want=()
  if [[ "$1" == all ]]; then
    read -r -a want <<<"$(components)"
  else
    want=("$(component_name "$1")")
    [[ " $(components) " == *" ${want[0]} "* ]] || die "this cluster has no ${want[0]} (started with SSRS_NODE=0)"
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
      kube-scheduler)
        running kube-apiserver || die "kube-apiserver is not running: start it first (or: start all)"
        ALIVE_NAMES="kube-apiserver kube-scheduler"
        start_scheduler
        ;;
      node-ns)
        die "the node's namespace holder is gone (the node cannot be restarted: run down, then up)"
        ;;
      containerd)
        running node-ns || die "the node's namespace holder is gone (run down, then up)"
        ALIVE_NAMES="node-ns containerd"
        start_containerd
        ;;
      kubelet)
        running containerd || die "containerd is not running: start it first (or: start all)"
        ALIVE_NAMES="node-ns containerd kubelet"
        start_kubelet
        ;;
      kube-proxy)
        running node-ns || die "the node's namespace holder is gone (run down, then up)"
        ALIVE_NAMES="node-ns kube-proxy"
        start_proxy
        ;;
    esac
  done
  # Ready means ready for clients: after an etcd restart the apiserver needs a moment too.
  ALIVE_NAMES=""
  for name in $(components); do
    running "$name" && ALIVE_NAMES="$ALIVE_NAMES $name"
  done
  if running etcd; then wait_until "etcd" etcd_health; fi
  if running kube-apiserver && running etcd; then wait_until "kube-apiserver /readyz" readyz; fi
  if running kube-controller-manager; then wait_until "kube-controller-manager /healthz" kcm_healthz; fi
  if [[ "$NODE" == 1 ]] && running kubelet && running kube-apiserver && running etcd; then
    wait_until "node $NODE_NAME Ready" node_ready
  fi
  step "started: $(for n in $(components); do running "$n" && printf '%s ' "$n"; done)"
}

cmd_image_import() {
  CURRENT_STEP="image-import"
  load_existing
  [[ "$NODE" == 1 ]] || die "this cluster has no node (started with SSRS_NODE=0)"
  [[ $# -gt 0 ]] || die "usage: $0 image-import TAR..."
  running containerd || die "containerd is not running"
  import_images "$@"
}

cmd_node_exec() {
  CURRENT_STEP="node-exec"
  load_existing
  [[ "$NODE" == 1 ]] || die "this cluster has no node (started with SSRS_NODE=0)"
  [[ $# -gt 0 ]] || die "usage: $0 node-exec CMD..."
  local holder
  holder="$(cat "$DIR/node-ns.pid" 2>/dev/null || true)"
  pid_is_ours "$holder" || die "the node namespace holder is not running"
  exec nsenter -t "$holder" -m -n -- "$@"
}

case "${1:-}" in
  build)
    bash "$HERE/build.sh"
    bash "$HERE/../image/build.sh" pause >/dev/null
    ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop) cmd_stop TERM "${2:-}" ;;
  kill) cmd_stop KILL "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  image-import) shift && cmd_image_import "$@" ;;
  node-exec) shift && cmd_node_exec "$@" ;;
  __holder | __ns-init | __enter)
    # Internal (started by `up`/`start`): $2 is the state dir.
    DIR="$2"
    load_state || die "no state in $DIR"
    case "$1" in
      __holder) node_holder ;;
      __ns-init) node_ns_init ;;
      __enter) shift 2 && node_enter "$@" ;;
    esac
    ;;
  *)
    echo "usage: $0 build|up|down|status|stop|kill|start|image-import|node-exec" >&2
    exit 2
    ;;
esac
