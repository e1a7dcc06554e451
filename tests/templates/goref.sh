#!/usr/bin/env bash
# Builds the Go reference renderer (tests/templates/goref/main.go): Go's own text/template with
# sprig, configured as upstream's controller configures it. Installs Debian's golang-go (Go 1.19)
# and golang-github-masterminds-sprig-dev (sprig 3.2.3 and its dependencies, sources under
# /usr/share/gocode/src) when they are missing, the way tests/cluster/build.sh installs its
# packages, then builds in GOPATH mode (GO111MODULE=off, import path github.com/Masterminds/sprig),
# offline. Rebuilds only when main.go is newer than the binary.
#
# Usage: tests/templates/goref.sh [OUT_DIR]   # progress on stderr, the binary's path on stdout
#        OUT_DIR defaults to ${CARGO_TARGET_DIR:-target}/goref
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out_dir="${1:-${CARGO_TARGET_DIR:-$repo/target}/goref}"
PACKAGES=(golang-go golang-github-masterminds-sprig-dev)
SPRIG_SRC=/usr/share/gocode/src/github.com/Masterminds/sprig

die() { printf 'goref.sh: %s\n' "$*" >&2; exit 1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  printf '==> apt-get install %s\n' "${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists once, only when installing from them fails.
  if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    printf '==> apt-get update (package lists were stale or empty)\n' >&2
    as_root apt-get update -q >&2 || die "apt-get update failed"
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
      die "apt-get install ${missing[*]} failed"
  fi
fi
[[ -f "$SPRIG_SRC/functions.go" ]] || die "$SPRIG_SRC/functions.go missing (package golang-github-masterminds-sprig-dev)"

bin="$out_dir/goref"
src="$here/goref/main.go"
if [[ ! -x "$bin" || "$src" -nt "$bin" ]]; then
  mkdir -p "$out_dir"
  printf '==> go build %s (Go %s, sprig %s)\n' "$bin" "$(go env GOVERSION)" \
    "$(dpkg-query -W -f='${Version}' golang-github-masterminds-sprig-dev)" >&2
  # A private build cache and a scratch GOPATH entry for main.go: nothing outside out_dir is written.
  work="$(mktemp -d "$out_dir/build.XXXXXX")"
  trap 'rm -rf -- "$work"' EXIT
  mkdir -p "$work/src/goref"
  cp "$src" "$work/src/goref/main.go"
  (cd "$work/src/goref" &&
    GO111MODULE=off GOFLAGS= GOPATH="$work:/usr/share/gocode" GOCACHE="$out_dir/gocache" \
      CGO_ENABLED=0 go build -o "$bin.tmp" .) || die "go build failed"
  mv -f "$bin.tmp" "$bin"
fi
printf '%s\n' "$bin"
