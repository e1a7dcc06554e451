#!/usr/bin/env bash
# Makes a process listening on $SSRS_POD_IP:<port> inside the test netns reachable through the
# apiserver's service proxy:
#   /api/v1/namespaces/<namespace>/services/http:<service-name>:http/proxy/...
# It creates a Pod object (never scheduled: its schedulerName names no scheduler, so the node's
# kubelet never runs it; no ServiceAccount token, so admission needs no token Secret), sets its
# status.podIP(s) to $SSRS_POD_IP, and creates a selector-less Service (port name `http`) plus
# Endpoints pointing at that Pod.
#
# Usage: tests/cluster/register-pod.sh <namespace> <service-name> <port> [pod-name]
# Needs the environment printed by `tests/cluster/cluster.sh up` (SSRS_APISERVER, SSRS_ADMIN_TOKEN,
# SSRS_POD_IP, SSRS_CLUSTER_DIR). The namespace must exist.
set -euo pipefail

CURRENT_STEP="start"
die() {
  printf 'register-pod.sh: error in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}
step() {
  CURRENT_STEP="$*"
  printf '==> %s\n' "$*" >&2
}

[[ $# -ge 3 && $# -le 4 ]] || {
  echo "usage: $0 <namespace> <service-name> <port> [pod-name]" >&2
  exit 2
}
NS="$1" SVC="$2" PORT="$3" POD="${4:-$2-pod}"
for v in SSRS_APISERVER SSRS_ADMIN_TOKEN SSRS_POD_IP SSRS_CLUSTER_DIR; do
  [[ -n "${!v:-}" ]] || die "$v is not set; eval \"\$(tests/cluster/cluster.sh up)\" first"
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"

api() { # method, path, content-type, body
  local method="$1" path="$2" ctype="$3" body="$4" out code
  out="$(mktemp)"
  code="$(curl -sS --max-time 20 --cacert "$SSRS_CLUSTER_DIR/certs/apiserver.crt" \
    -H "Authorization: Bearer $SSRS_ADMIN_TOKEN" -H "Content-Type: $ctype" \
    -X "$method" --data-binary "$body" -o "$out" -w '%{http_code}' "$SSRS_APISERVER$path")" ||
    {
      rm -f "$out"
      die "$method $path: request failed"
    }
  if [[ "$code" != 2* ]]; then
    cat "$out" >&2
    rm -f "$out"
    die "$method $path: HTTP $code"
  fi
  rm -f "$out"
}

step "create Pod $NS/$POD"
api POST "/api/v1/namespaces/$NS/pods" application/json "$(
  cat <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$POD","labels":{"app":"$SVC"}},
 "spec":{"schedulerName":"ssrs-never-scheduled","automountServiceAccountToken":false,
         "containers":[{"name":"main","image":"ssrs.invalid/placeholder:never-pulled"}]}}
EOF
)"

step "set Pod $NS/$POD status.podIP to $SSRS_POD_IP"
api PATCH "/api/v1/namespaces/$NS/pods/$POD/status" application/merge-patch+json \
  "{\"status\":{\"podIP\":\"$SSRS_POD_IP\",\"podIPs\":[{\"ip\":\"$SSRS_POD_IP\"}]}}"

step "create Service $NS/$SVC (port http=$PORT, no selector)"
api POST "/api/v1/namespaces/$NS/services" application/json \
  "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"$SVC\"},
    \"spec\":{\"ports\":[{\"name\":\"http\",\"port\":$PORT,\"targetPort\":$PORT,\"protocol\":\"TCP\"}]}}"

step "create Endpoints $NS/$SVC -> $SSRS_POD_IP:$PORT (targetRef Pod $POD)"
api POST "/api/v1/namespaces/$NS/endpoints" application/json \
  "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"$SVC\"},
    \"subsets\":[{\"addresses\":[{\"ip\":\"$SSRS_POD_IP\",
      \"targetRef\":{\"kind\":\"Pod\",\"name\":\"$POD\",\"namespace\":\"$NS\"}}],
      \"ports\":[{\"name\":\"http\",\"port\":$PORT,\"protocol\":\"TCP\"}]}]}"

step "registered: /api/v1/namespaces/$NS/services/http:$SVC:http/proxy/"
