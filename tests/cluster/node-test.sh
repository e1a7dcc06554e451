#!/usr/bin/env bash
# Checks the node of tests/cluster/cluster.sh for real (see docs/testing.md, "The node"):
#  1. on the cluster in $SSRS_CLUSTER_DIR: a Deployment rolls out (scheduler, ReplicaSet controller,
#     kubelet, containerd, CNI), a Service selecting it gets the Pod's IP as its endpoint, a Pod
#     reaches the apiserver through the `kubernetes` ClusterIP with its ServiceAccount token (CA
#     verified; RBAC allows it only because of a RoleBinding made here, so a 200 proves the token),
#     its log is read through the apiserver (-> kubelet); with --images, the controller and kubeseal
#     images (tests/image/build.sh images --import) run as the chart runs them: UID 1001, read-only
#     root filesystem, no pull; and the chart (default values, unique cluster-scoped names) installed
#     in Helm's order runs the controller Pod: /healthz and /v1/cert.pem answer on the Pod IP, its
#     process has uid 1001 and a read-only root (the Pod is not waited Ready: item 4 of issue 13);
#  2. a second cluster started meanwhile gets other addresses and runs its own node beside the first;
#     it is then crashed (every process SIGKILLed) and `down` must leave nothing behind;
#  3. a third `up` is SIGKILLed itself while it starts the node; `down` must leave nothing behind;
#  4. the first cluster is still healthy.
#
# Usage: eval "$(tests/cluster/cluster.sh up)"; tests/cluster/node-test.sh [--images]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER="$HERE/cluster.sh"
CURRENT_STEP="start"
IMAGES=0
[[ "${1:-}" == --images ]] && IMAGES=1
NS="node-test-$(date +%s)-$$"
T0=$SECONDS

step() {
  CURRENT_STEP="$*"
  printf '==> [%3ss] %s\n' "$((SECONDS - T0))" "$*" >&2
}
die() {
  printf 'node-test.sh: FAILED in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}
for v in SSRS_CLUSTER_DIR SSRS_APISERVER SSRS_ADMIN_TOKEN SSRS_NODE_NAME SSRS_POD_CIDR SSRS_NODE_IP; do
  [[ -n "${!v:-}" ]] || die "$v is not set: eval \"\$(tests/cluster/cluster.sh up)\" first (with the node)"
done
A_DIR="$SSRS_CLUSTER_DIR"
EXTRA=()
CHART_NAME=""
cleanup() {
  local d
  API_DIR="$A_DIR" API_SERVER="$SSRS_APISERVER" API_TOKEN="$SSRS_ADMIN_TOKEN"
  api DELETE "/api/v1/namespaces/$NS" >/dev/null 2>&1 || true
  if [[ -n "$CHART_NAME" ]]; then
    api DELETE "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/$CHART_NAME" >/dev/null 2>&1 || true
    api DELETE "/apis/rbac.authorization.k8s.io/v1/clusterroles/$CHART_NAME" >/dev/null 2>&1 || true
  fi
  for d in "${EXTRA[@]}"; do
    SSRS_CLUSTER_DIR="$d" bash "$CLUSTER" down >/dev/null 2>&1 || true
    rm -f -- "$d.up.log"
  done
}
trap cleanup EXIT

# Cluster the api function talks to (the first one, unless a step points it at another).
API_DIR="$A_DIR" API_SERVER="$SSRS_APISERVER" API_TOKEN="$SSRS_ADMIN_TOKEN"
api() { # method path [json] — admin request; body on stdout, fails on non-2xx
  local method="$1" path="$2" body="${3:-}" out code
  out="$(mktemp)"
  code="$(curl -sS --max-time 20 --cacert "$API_DIR/certs/apiserver.crt" -H "Authorization: Bearer $API_TOKEN" \
    -H "Content-Type: application/json" -X "$method" ${body:+--data-binary "$body"} -o "$out" -w '%{http_code}' \
    "$API_SERVER$path")" || {
    rm -f "$out"
    return 1
  }
  cat "$out"
  rm -f "$out"
  [[ "$code" == 2* ]]
}

jq_py() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }

wait_for() { # description timeout command...
  local what="$1" timeout="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what: not after ${timeout}s"
    sleep 0.5
  done
}

pod_phase() { api GET "/api/v1/namespaces/$NS/pods/$1" | jq_py 'print(d["status"].get("phase", ""))'; }
pod_done() { [[ "$(pod_phase "$1")" == "$2" ]]; }
pod_done_ns() { [[ "$(NS="$1" pod_phase "$2")" == "$3" ]]; }

# Independent of cluster.sh's own check after `down`: nothing of that cluster may be left.
check_gone() { # state-dir node-netns cgroup pod-cidr
  local dir="$1" netns="$2" cg="$3" cidr="$4" p left=()
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$dir"; then left+=("process ${p#/proc/}"); fi
  done
  ip netns list | awk '{print $1}' | grep -qx -- "$netns" && left+=("netns $netns")
  ip netns list | awk '{print $1}' | grep -qx -- "ssrs-${netns#ssrsn-}" && left+=("netns ssrs-${netns#ssrsn-}")
  ip -o link show | grep -q "ssrs${netns#ssrsn-}" && left+=("veth ssrs${netns#ssrsn-}*")
  compgen -G "/sys/fs/cgroup/*/$cg" >/dev/null && left+=("cgroup $cg")
  grep -qF -e "$dir" -e "$netns" /proc/self/mountinfo && left+=("mount")
  # Only a route through this cluster's veth is its own: another cluster started meanwhile (a
  # parallel test run) may already have been given the freed /24.
  [[ -n "$cidr" ]] && ip route show | grep "^$cidr " | grep -q " dev ssrs${netns#ssrsn-}" &&
    left+=("route $cidr")
  iptables-save 2>/dev/null | grep -qE '^:(KUBE-|CNI-)' && left+=("KUBE-/CNI- chain in the host's iptables")
  [[ -e "$dir" ]] && left+=("directory $dir")
  ((${#left[@]} == 0)) || die "left behind after down: ${left[*]}"
  printf '    nothing left of %s (processes, netns, veths, cgroups, mounts, routes, iptables, files)\n' "$dir" >&2
}

# --- 1. real Pods on the node of cluster A ------------------------------------------------------------
step "namespace $NS"
api POST /api/v1/namespaces "{\"metadata\":{\"name\":\"$NS\"}}" >/dev/null || die "cannot create namespace"
wait_for "ServiceAccount $NS/default" 30 api GET "/api/v1/namespaces/$NS/serviceaccounts/default"

step "Deployment probe (image localhost/ssrs-pause:1, never pulled) + Service selecting it"
t=$SECONDS
api POST "/apis/apps/v1/namespaces/$NS/deployments" '{"metadata":{"name":"probe"},"spec":{"replicas":1,
  "selector":{"matchLabels":{"app":"probe"}},"template":{"metadata":{"labels":{"app":"probe"}},
  "spec":{"containers":[{"name":"pause","image":"localhost/ssrs-pause:1","imagePullPolicy":"Never"}]}}}}' >/dev/null ||
  die "cannot create the Deployment"
api POST "/api/v1/namespaces/$NS/services" '{"metadata":{"name":"probe"},"spec":{"selector":{"app":"probe"},
  "ports":[{"name":"x","port":80,"targetPort":8080}]}}' >/dev/null || die "cannot create the Service"
available() {
  api GET "/apis/apps/v1/namespaces/$NS/deployments/probe" | jq_py 'sys.exit(0 if d["status"].get("availableReplicas") == 1 else 1)'
}
wait_for "Deployment probe available" 120 available
printf '    rolled out in %ss\n' "$((SECONDS - t))" >&2
pod_ip="$(api GET "/api/v1/namespaces/$NS/pods?labelSelector=app%3Dprobe" |
  jq_py 'print(d["items"][0]["status"]["podIP"], d["items"][0]["spec"]["nodeName"])')"
read -r pod_ip node <<<"$pod_ip"
[[ "$node" == "$SSRS_NODE_NAME" ]] || die "the Pod ran on node '$node', not $SSRS_NODE_NAME"
python3 -c "import ipaddress, sys; sys.exit(0 if ipaddress.ip_address('$pod_ip') in ipaddress.ip_network('$SSRS_POD_CIDR') else 1)" ||
  die "Pod IP $pod_ip not in the pod CIDR $SSRS_POD_CIDR"
endpoints() {
  api GET "/api/v1/namespaces/$NS/endpoints/probe" | jq_py "sys.exit(0 if '$pod_ip' in [a['ip'] for s in d.get('subsets') or [] for a in s.get('addresses', [])] else 1)"
}
wait_for "Endpoints probe -> $pod_ip" 30 endpoints
printf '    Pod %s on %s, Service endpoint %s\n' "$pod_ip" "$node" "$pod_ip" >&2

step "Pod -> kubernetes ClusterIP -> apiserver, with the ServiceAccount token"
api POST "/apis/rbac.authorization.k8s.io/v1/namespaces/$NS/rolebindings" "{\"metadata\":{\"name\":\"default-view\"},
  \"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"view\"},
  \"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"default\",\"namespace\":\"$NS\"}]}" >/dev/null ||
  die "cannot create the RoleBinding"
sa_has_token() { api GET "/api/v1/namespaces/$NS/serviceaccounts/default" | jq_py 'sys.exit(0 if d.get("secrets") else 1)'; }
wait_for "token Secret of $NS/default" 30 sa_has_token
api POST "/api/v1/namespaces/$NS/pods" "{\"metadata\":{\"name\":\"kcall\"},\"spec\":{\"restartPolicy\":\"Never\",
  \"containers\":[{\"name\":\"kcall\",\"image\":\"localhost/ssrs-pause:1\",\"imagePullPolicy\":\"Never\",
  \"command\":[\"/pause\",\"kcall\",\"/api/v1/namespaces/$NS/pods\"]}]}}" >/dev/null || die "cannot create Pod kcall"
pod_finished() { local p; p="$(pod_phase "$1")"; [[ "$p" == Succeeded || "$p" == Failed ]]; }
wait_for "Pod kcall finished" 60 pod_finished kcall
phase="$(pod_phase kcall)"
log="$(api GET "/api/v1/namespaces/$NS/pods/kcall/log")" || die "cannot read the log of Pod kcall (apiserver -> kubelet)"
printf '%s\n' "$log" | head -n 1 | sed 's/^/    /' >&2
[[ "$phase" == Succeeded ]] || die "Pod kcall ended $phase: $log"
[[ "$log" == *"GET https://10.0.0.1:443/api/v1/namespaces/$NS/pods -> 200"* ]] || die "unexpected output: $log"

if [[ "$IMAGES" == 1 ]]; then
  step "the controller and kubeseal images run as the chart runs them (no pull, UID 1001, read-only root)"
  refs="$(bash "$HERE/../image/build.sh" refs)"
  read -r -d '' ctl_ref ks_ref <<<"$refs" || true
  sc='"securityContext":{"readOnlyRootFilesystem":true,"runAsNonRoot":true,"runAsUser":1001,"runAsGroup":1001,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}'
  for spec in "ctl $ctl_ref" "ks $ks_ref"; do
    read -r name ref <<<"$spec"
    api POST "/api/v1/namespaces/$NS/pods" "{\"metadata\":{\"name\":\"$name\"},\"spec\":{\"restartPolicy\":\"Never\",
      \"containers\":[{\"name\":\"main\",\"image\":\"$ref\",\"imagePullPolicy\":\"IfNotPresent\",\"args\":[\"--version\"],$sc}]}}" \
      >/dev/null || die "cannot create Pod $name ($ref)"
  done
  for name in ctl ks; do
    wait_for "Pod $name Succeeded" 60 pod_done "$name" Succeeded
    log="$(api GET "/api/v1/namespaces/$NS/pods/$name/log")" || die "no log of Pod $name"
    printf '    %s: %s\n' "$name" "$log" >&2
    [[ "$log" == *version* ]] || die "Pod $name printed no version: $log"
  done

  step "the chart installed for real (default values, unique cluster-scoped names): the controller Pod"
  CHART_NAME="ssrs-nodetest-$$"
  venv="$(bash "$HERE/../chart/venv.sh")" || die "tests/chart/venv.sh failed"
  pods="$(KUBECONFIG="$A_DIR/admin.kubeconfig" "$venv/bin/python" "$HERE/../chart/node.py" install "$NS" \
    --set-json "fullnameOverride=\"$CHART_NAME\"" --set-json "rbac.clusterRoleName=\"$CHART_NAME\"" \
    --no-wait-ready --timeout 120)" || die "chart install / rollout failed"
  read -r cpod cip cid <<<"$(printf '%s' "$pods" | jq_py 'p = d[0]; print(p["metadata"]["name"], p["status"]["podIP"], p["status"]["containerStatuses"][0]["containerID"].split("//")[1])')"
  printf '    Pod %s (%s) Running from the chart, container %s\n' "$cpod" "$cip" "${cid:0:12}" >&2
  # The Pod IP is routed to the node: the host reaches the controller's HTTP port directly.
  healthz() { curl -sf --max-time 2 "http://$cip:8080/healthz"; }
  wait_for "controller /healthz at $cip:8080" 120 healthz
  # /healthz answers at once; /v1/cert.pem only once the first key exists (RSA-4096 generation
  # takes seconds on a loaded machine).
  cert_pem() { curl -sf --max-time 5 "http://$cip:8080/v1/cert.pem" >/dev/null; }
  wait_for "controller /v1/cert.pem at $cip:8080" 120 cert_pem
  cert="$(curl -sf --max-time 5 "http://$cip:8080/v1/cert.pem")" || die "no /v1/cert.pem from $cip:8080"
  [[ "$cert" == *"BEGIN CERTIFICATE"* ]] || die "/v1/cert.pem is not a certificate: $cert"
  # The securityContext as the runtime applied it: the container's process runs as 1001 on a
  # read-only root filesystem.
  cg="ssrs-${SSRS_NODE_NETNS#ssrsn-}"
  cdir="$(find "/sys/fs/cgroup/memory/$cg/kubepods" -type d -name "$cid" | head -n 1)"
  [[ -n "$cdir" ]] || die "no cgroup of container $cid under /$cg/kubepods"
  cpid="$(head -n 1 "$cdir/cgroup.procs")"
  uid="$(awk '/^Uid:/ {print $2}' "/proc/$cpid/status")"
  rootopts="$(awk '$5 == "/" {print $6}' "/proc/$cpid/mountinfo" | tail -n 1)"
  printf '    controller pid %s: uid %s, / mounted %s; /v1/cert.pem served\n' "$cpid" "$uid" "$rootopts" >&2
  [[ "$uid" == 1001 ]] || die "controller runs as uid $uid, not 1001"
  [[ ",$rootopts," == *",ro,"* ]] || die "controller's root filesystem is mounted $rootopts, not ro"
fi
api DELETE "/api/v1/namespaces/$NS" >/dev/null || true

# --- 2. a second cluster beside the first, then crashed -----------------------------------------------
B="$(mktemp -d /tmp/ssrs-cluster.nodetest-b.XXXXXX)"
EXTRA+=("$B")
step "second cluster in $B while the first runs"
t=$SECONDS
# (without the first cluster's exported SSRS_HOST_IP/SSRS_POD_IP, which would ask for its /30)
b_env="$(env -u SSRS_HOST_IP -u SSRS_POD_IP SSRS_CLUSTER_DIR="$B" bash "$CLUSTER" up 2>"$B.up.log")" || {
  tail -n 30 "$B.up.log" >&2
  die "second up failed"
}
rm -f "$B.up.log"
printf '    up (with node Ready) in %ss\n' "$((SECONDS - t))" >&2
b_node_ip="$(env -i bash -c "$b_env"$'\n''echo "$SSRS_NODE_IP $SSRS_POD_CIDR $SSRS_NODE_NETNS $SSRS_HOST_IP"')"
read -r b_ip b_cidr b_netns b_host <<<"$b_node_ip"
[[ "$b_ip" != "$SSRS_NODE_IP" && "$b_cidr" != "$SSRS_POD_CIDR" && "$b_netns" != "$SSRS_NODE_NETNS" &&
  "$b_host" != "$SSRS_HOST_IP" ]] || die "second cluster shares addresses with the first: $b_node_ip"
printf '    second node %s pods %s netns %s (first: %s %s %s)\n' "$b_ip" "$b_cidr" "$b_netns" \
  "$SSRS_NODE_IP" "$SSRS_POD_CIDR" "$SSRS_NODE_NETNS" >&2
SSRS_CLUSTER_DIR="$A_DIR" bash "$CLUSTER" status 2>/dev/null || die "first cluster unhealthy while the second runs"
SSRS_CLUSTER_DIR="$B" bash "$CLUSTER" status 2>/dev/null || die "second cluster unhealthy"

step "a Pod on the second node"
b_vars="$(env -i bash -c "$b_env"$'\n''echo "$SSRS_APISERVER $SSRS_ADMIN_TOKEN"')"
read -r API_SERVER API_TOKEN <<<"$b_vars"
API_DIR="$B"
wait_for "ServiceAccount default/default on the second cluster" 30 api GET /api/v1/namespaces/default/serviceaccounts/default
api POST /api/v1/namespaces/default/pods '{"metadata":{"name":"crash"},"spec":{"containers":[{"name":"pause",
  "image":"localhost/ssrs-pause:1","imagePullPolicy":"Never"}]}}' >/dev/null || die "cannot create a Pod on the second cluster"
wait_for "Pod crash Running on the second node" 60 pod_done_ns default crash Running
b_cgroup="ssrs-${b_netns#ssrsn-}"
[[ -n "$(find /sys/fs/cgroup/memory/"$b_cgroup"/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null)" ]] ||
  die "no process of the Pod in the cgroup /$b_cgroup/kubepods"
API_DIR="$A_DIR" API_SERVER="$SSRS_APISERVER" API_TOKEN="$SSRS_ADMIN_TOKEN"

step "crash the second cluster (SIGKILL every process it started; the Pod's stay), then down"
for f in "$B"/*.pid; do kill -KILL "$(cat "$f")" 2>/dev/null || true; done
SSRS_CLUSTER_DIR="$B" bash "$CLUSTER" down || die "down after a crash left something behind"
check_gone "$B" "$b_netns" "$b_cgroup" "$b_cidr"

# --- 3. `up` itself SIGKILLed half-way ----------------------------------------------------------------
C="$(mktemp -d /tmp/ssrs-cluster.nodetest-c.XXXXXX)"
EXTRA+=("$C")
step "third up in $C, SIGKILLed once its kubelet runs"
env -u SSRS_HOST_IP -u SSRS_POD_IP SSRS_CLUSTER_DIR="$C" setsid bash "$CLUSTER" up >/dev/null 2>"$C.up.log" &
up_pid=$!
wait_for "third up started kubelet" 120 test -s "$C/kubelet.pid"
kill -KILL "$up_pid"
wait "$up_pid" 2>/dev/null || true
rm -f "$C.up.log"
c_netns="$(sed -n 's/^NODE_NETNS=//p' "$C/state")"
c_cidr="$(sed -n 's/^POD_CIDR=//p' "$C/state")"
SSRS_CLUSTER_DIR="$C" bash "$CLUSTER" down || die "down after a killed up left something behind"
check_gone "$C" "$c_netns" "ssrs-${c_netns#ssrsn-}" "$c_cidr"

# --- 4. the first cluster is unaffected ---------------------------------------------------------------
step "first cluster still healthy"
SSRS_CLUSTER_DIR="$A_DIR" bash "$CLUSTER" status || die "first cluster unhealthy after the others went"
EXTRA=()
step "node test passed"
