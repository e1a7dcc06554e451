#!/usr/bin/env bash
# Container images without a registry or a container engine: OCI image-layout archives written by
# mkoci.py (Python stdlib), imported into the test node's containerd. See docs/testing.md.
#
#   tests/image/build.sh pause            the node's pause image (Debian's Go, static, cached in
#                                         $SSRS_K8S_CACHE/images/); prints the archive's path
#   tests/image/build.sh images [--out DIR] [--import]
#                                         `cargo build --release --locked` of the controller and kubeseal,
#                                         then the controller image (the Dockerfile's final stage: both
#                                         binaries, their shared libraries, UID 1001, no shell) under the
#                                         chart's default image reference as the CRI names it, and the
#                                         same contents with kubeseal as entrypoint; prints the archives'
#                                         paths (default DIR: <cargo target dir>/images). --import: also
#                                         into the node of the cluster in $SSRS_CLUSTER_DIR.
#   tests/image/build.sh refs             print the two image references
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE_ROOT="${SSRS_K8S_CACHE:-/var/cache/sealed-secrets-rs}"
PAUSE_IMAGE=localhost/ssrs-pause:1 # also in tests/cluster/cluster.sh (containerd's sandbox_image)
CURRENT_STEP="start"

step() {
  CURRENT_STEP="$*"
  printf '==> %s\n' "$*" >&2
}
die() {
  printf 'tests/image/build.sh: error in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}

# The chart's default image (values.yaml image.registry/repository/tag, tag defaulting to the
# chart's appVersion) as containerd's CRI normalises it: docker.io/library/NAME:TAG for a bare name.
chart_image_ref() {
  python3 - "$REPO/charts/sealed-secrets" <<'PY'
import re, sys
chart = sys.argv[1]
values = open(f"{chart}/values.yaml", encoding="utf-8").read()
m = re.search(r"^image:\n((?:[ \t]+.*\n|\s*\n)+)", values, re.M)
if not m:
    sys.exit("values.yaml: no top-level image: block")
block = {}
for line in m.group(1).splitlines():
    kv = re.match(r"^  ([A-Za-z]+):\s*(.*?)\s*(?:#.*)?$", line)
    if kv:
        block[kv.group(1)] = kv.group(2).strip("\"'")
app = re.search(r"^appVersion:\s*\"?([^\"\n]+)\"?", open(f"{chart}/Chart.yaml", encoding="utf-8").read(), re.M)
registry, repo, tag = block.get("registry", ""), block.get("repository", ""), block.get("tag", "")
if not repo:
    sys.exit("values.yaml: image.repository is empty")
tag = tag or (app.group(1) if app else "")
if not tag:
    sys.exit("values.yaml image.tag and Chart.yaml appVersion are both empty")
name = f"{registry}/{repo}" if registry else repo
first = name.split("/")[0]
if "/" not in name:
    name = f"docker.io/library/{name}"
elif not ("." in first or ":" in first or first == "localhost"):
    name = f"docker.io/{name}"
print(f"{name}:{tag}")
PY
}

kubeseal_image_ref() { # the controller's name with -kubeseal appended
  local ref
  ref="$(chart_image_ref)"
  printf '%s-kubeseal:%s\n' "${ref%:*}" "${ref##*:}"
}

build_pause() {
  command -v go >/dev/null || die "go not installed (package golang-go; run tests/cluster/cluster.sh build)"
  local key dest
  key="$(cat "$HERE/pause.go" "$HERE/mkoci.py" <(go version) | sha256sum | cut -c1-16)"
  dest="$CACHE_ROOT/images/pause-$key.tar"
  if [[ -f "$dest" ]]; then
    printf '%s\n' "$dest"
    return 0
  fi
  step "build the pause image $PAUSE_IMAGE (Go $(go version | awk '{print $3}'), static)"
  mkdir -p "$CACHE_ROOT/images"
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/ssrs-pause.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf -- '$work'" EXIT
  cp "$HERE/pause.go" "$work/"
  (cd "$work" && HOME="$work" GOCACHE="$work/gocache" GOPATH="$work/gopath" GO111MODULE=off CGO_ENABLED=0 \
    GOFLAGS='' GOTOOLCHAIN=local go build -ldflags='-s -w' -o pause pause.go) || die "go build pause.go failed"
  python3 "$HERE/mkoci.py" "$work/pause.tar" "$PAUSE_IMAGE" --file "$work/pause:/pause:0755" \
    --entrypoint '["/pause"]' --user 65535:65535 || die "mkoci.py pause failed"
  mv "$work/pause.tar" "$dest.tmp"
  mv "$dest.tmp" "$dest"
  printf '%s\n' "$dest"
}

build_images() {
  local out="" import=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --out) out="$2" && shift 2 ;;
      --import) import=1 && shift ;;
      *) die "unknown argument $1" ;;
    esac
  done
  step "cargo build --release --locked -p sealed-secrets-controller -p kubeseal"
  (cd "$REPO" && cargo build --release --locked -p sealed-secrets-controller -p kubeseal) ||
    die "cargo build --release failed"
  local target
  target="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  local bin="$target/release"
  [[ -x "$bin/controller" && -x "$bin/kubeseal" ]] || die "no controller/kubeseal in $bin"
  out="${out:-$target/images}"
  mkdir -p "$out"
  local ctl_ref ks_ref
  ctl_ref="$(chart_image_ref)" || die "cannot read the chart's default image"
  ks_ref="$(kubeseal_image_ref)"
  # The Dockerfile's final stage: distroless/cc's runtime (glibc, libgcc_s, CA bundle, passwd/group,
  # /tmp) with the two binaries copied in, USER 1001:1001, EXPOSE 8080 8081, ENTRYPOINT controller.
  local common=(
    --file "$bin/controller:/usr/local/bin/controller:0755"
    --file "$bin/kubeseal:/usr/local/bin/kubeseal:0755"
    --libs-of /usr/local/bin/controller --libs-of /usr/local/bin/kubeseal
    --file "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0644"
    --passwd sealed-secrets:1001:1001 --dir /tmp:1777
    --env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --env "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
    --user 1001:1001 --expose 8080 --expose 8081
  )
  step "write $out/controller.tar ($ctl_ref) and $out/kubeseal.tar ($ks_ref)"
  python3 "$HERE/mkoci.py" "$out/controller.tar" "$ctl_ref" "${common[@]}" \
    --entrypoint '["/usr/local/bin/controller"]' || die "mkoci.py controller failed"
  python3 "$HERE/mkoci.py" "$out/kubeseal.tar" "$ks_ref" "${common[@]}" \
    --entrypoint '["/usr/local/bin/kubeseal"]' || die "mkoci.py kubeseal failed"
  if [[ "$import" == 1 ]]; then
    step "import into the node of the cluster in ${SSRS_CLUSTER_DIR:-<pointer file>}"
    bash "$REPO/tests/cluster/cluster.sh" image-import "$out/controller.tar" "$out/kubeseal.tar" ||
      die "image import failed"
  fi
  printf '%s\n' "$out/controller.tar" "$out/kubeseal.tar"
}

case "${1:-}" in
  pause) build_pause ;;
  images) shift && build_images "$@" ;;
  refs)
    chart_image_ref
    kubeseal_image_ref
    ;;
  *)
    echo "usage: $0 pause | images [--out DIR] [--import] | refs" >&2
    exit 2
    ;;
esac
