#!/usr/bin/env bash
# Installs what the test cluster needs and builds kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy from Debian bookworm's `kubernetes` source package (see
# docs/testing.md). Idempotent: the binaries are cached outside the repository, keyed by the source
# package version, and a later run with the cache present only checks the packages and prints the
# cache directory. A cache directory that lacks some of the binaries (one made before the node
# existed held only kube-apiserver + kube-controller-manager) gets just the missing ones built.
#
# Usage: tests/cluster/build.sh            # progress on stderr, binary directory on stdout
# Env:   SSRS_K8S_CACHE    cache root (default /var/cache/sealed-secrets-rs)
#        SSRS_K8S_REBUILD=1  ignore an existing cache and resolve/build again
set -euo pipefail

CACHE_ROOT="${SSRS_K8S_CACHE:-/var/cache/sealed-secrets-rs}"
PACKAGES=(etcd-server golang-go rsync make iproute2 golang-github-modern-go-reflect2-dev
  openssl curl python3 dpkg-dev ca-certificates
  containerd runc containernetworking-plugins iptables conntrack)
# Every binary the cluster runs; one `make WHAT=...` builds the missing ones (code generators run once).
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
CURRENT_STEP="start"
WORK=""

step() {
  CURRENT_STEP="$*"
  printf '==> %s\n' "$*" >&2
}
die() {
  printf 'build.sh: error in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}
on_exit() {
  local rc=$?
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    rm -rf -- "$WORK"
  fi
  if [[ $rc -ne 0 ]]; then
    printf 'build.sh: FAILED in step "%s" (exit %s)\n' "$CURRENT_STEP" "$rc" >&2
  fi
}
trap on_exit EXIT
trap 'exit 143' TERM INT HUP

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
  step "check Debian packages: ${PACKAGES[*]}"
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  step "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Update the machine's package lists once, only when installing from them fails.
  if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    step "apt-get update (package lists were stale or empty)"
    as_root apt-get update -q >&2 || die "apt-get update failed"
    step "apt-get install ${missing[*]} (after update)"
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
      die "apt-get install ${missing[*]} failed"
  fi
}

# Binaries of BINARIES missing from directory $1 (space separated, empty if none).
missing_binaries() {
  local b out=()
  for b in "${BINARIES[@]}"; do
    [[ -x "$1/$b" ]] || out+=("$b")
  done
  printf '%s\n' "${out[*]}"
}

# Newest complete cache directory holding every binary, if any.
find_cached() {
  local d best=""
  [[ -d "$CACHE_ROOT" ]] || return 1
  while IFS= read -r d; do
    if [[ -f "$d/COMPLETE" && -z "$(missing_binaries "$d")" ]]; then
      best="$d"
    fi
  done < <(find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d -name 'k8s-*' | sort -V)
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# Writes deb-src entries for bookworm's Debian archives to $1, derived from the machine's own `deb`
# entries (deb822 *.sources files and one-line *.list / sources.list), keeping URI and Signed-By.
write_src_sources() {
  local out="$1"
  python3 - "$out" <<'PY' || die "could not derive a deb-src entry from the machine's apt sources"
import glob, os, re, sys

out = sys.argv[1]
entries = []  # (uri, suite, signed_by)
WANTED = {"bookworm", "bookworm-updates", "bookworm-security"}

def add(uri, suites, comps, signed):
    for s in suites:
        if s in WANTED and "main" in comps:
            entries.append((uri.rstrip("/"), s, signed))

for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    text = open(path, encoding="utf-8", errors="replace").read()
    for para in re.split(r"\n\s*\n", text):
        fields = {}
        key = None
        for line in para.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, val = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = val.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            add(uri, fields.get("suites", "").split(), fields.get("components", "").split(),
                fields.get("signed-by", ""))

lists = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for path in lists:
    if not os.path.isfile(path):
        continue
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        opts = {}
        m = re.match(r"deb\s+\[([^\]]*)\]\s+(.*)", line)
        rest = line[4:].strip()
        if m:
            for o in m.group(1).split():
                if "=" in o:
                    k, v = o.split("=", 1)
                    opts[k.lower()] = v
            rest = m.group(2)
        parts = rest.split()
        if len(parts) < 3:
            continue
        add(parts[0], [parts[1]], parts[2:], opts.get("signed-by", ""))

# Only Debian archives (a bookworm suite with `main`); keep order, drop duplicates.
seen = set()
paras = []
for uri, suite, signed in entries:
    if (uri, suite) in seen:
        continue
    seen.add((uri, suite))
    p = f"Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: main\n"
    if signed:
        p += f"Signed-By: {signed}\n"
    paras.append(p)
if not any(s == "bookworm" for _, s, _ in entries):
    sys.exit("no enabled `deb` entry for suite bookworm / component main found under /etc/apt")
with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(paras))
PY
}

main() {
  ensure_packages

  if [[ "${SSRS_K8S_REBUILD:-0}" != 1 ]] && cached="$(find_cached)"; then
    step "cached control-plane binaries found: $cached"
    printf '%s\n' "$cached"
    return 0
  fi

  step "prepare temporary build directory"
  mkdir -p "$CACHE_ROOT" || die "cannot create cache root $CACHE_ROOT"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/ssrs-k8s-build.XXXXXX")"
  mkdir -p "$WORK/apt/lists/partial" "$WORK/src" "$WORK/home"

  step "write a private deb-src sources file (machine apt config untouched)"
  write_src_sources "$WORK/apt/sources.sources"
  sed 's/^/    /' "$WORK/apt/sources.sources" >&2
  # A deb822 file needs the .sources suffix inside a sourceparts dir; use a private parts dir.
  mkdir -p "$WORK/apt/parts"
  cp "$WORK/apt/sources.sources" "$WORK/apt/parts/ssrs.sources"
  APT_OPTS=(
    -o "Dir::Etc::sourcelist=/dev/null"
    -o "Dir::Etc::sourceparts=$WORK/apt/parts"
    -o "Dir::State::Lists=$WORK/apt/lists"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Get::List-Cleanup=false"
    -o "APT::Sandbox::User=root"
  )

  step "apt-get update (private source lists)"
  apt-get "${APT_OPTS[@]}" update -q >&2 || die "apt-get update of the private deb-src lists failed"

  step "resolve the kubernetes source package version"
  local version
  version="$(apt-cache "${APT_OPTS[@]}" showsrc kubernetes 2>/dev/null |
    awk '/^Version:/ {print $2}' | sort -V | tail -n1)"
  [[ -n "$version" ]] || die "no source package 'kubernetes' in the bookworm deb-src lists"
  printf '    kubernetes source version %s\n' "$version" >&2
  local dest="$CACHE_ROOT/k8s-$version"
  # What to build: everything, or (a cache from before the node) only the binaries it lacks.
  local want=("${BINARIES[@]}")
  if [[ "${SSRS_K8S_REBUILD:-0}" != 1 && -f "$dest/COMPLETE" ]]; then
    read -r -a want <<<"$(missing_binaries "$dest")"
    if [[ ${#want[@]} -eq 0 ]]; then
      step "cache already holds $version"
      printf '%s\n' "$dest"
      return 0
    fi
    printf '    %s holds an older set of binaries; building the missing: %s\n' "$dest" "${want[*]}" >&2
  fi
  local what="" b
  for b in "${want[@]}"; do what+="${what:+ }cmd/$b"; done

  step "download kubernetes=$version source package"
  (cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source -q --download-only "kubernetes=$version" >&2) ||
    die "apt-get source --download-only kubernetes=$version failed"

  step "unpack source package"
  local dscs=("$WORK"/src/kubernetes_*.dsc)
  [[ -f "${dscs[0]}" ]] || die "no .dsc downloaded"
  local dsc="${dscs[0]}"
  (cd "$WORK/src" && dpkg-source --no-check -x "$dsc" tree >&2) || die "dpkg-source -x failed"
  local tree="$WORK/src/tree"
  [[ -d "$tree/vendor" ]] || die "unpacked tree has no vendor/ directory"

  step "swap vendored reflect2 for Debian's golang-github-modern-go-reflect2-dev"
  [[ -d "$REFLECT2_SRC" ]] || die "$REFLECT2_SRC missing (package golang-github-modern-go-reflect2-dev)"
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  mkdir -p "$tree/vendor/github.com/modern-go/reflect2"
  rsync -a --exclude go.mod --exclude go.sum "$REFLECT2_SRC/" "$tree/vendor/github.com/modern-go/reflect2/"

  step "build ${want[*]} (GOPATH mode, CGO_ENABLED=0; several minutes)"
  mkdir -p "$tree/.go/src/k8s.io"
  ln -sfn "$tree" "$tree/.go/src/k8s.io/kubernetes"
  local upstream="${version#*really}"
  upstream="${upstream%%-*}"
  local start=$SECONDS
  (
    cd "$tree/.go/src/k8s.io/kubernetes"
    export HOME="$WORK/home" GOPATH="$tree/.go" GOCACHE="$WORK/gocache" CGO_ENABLED=0 GO111MODULE=off
    export GOFLAGS='' GOTOOLCHAIN=local
    export KUBE_GIT_VERSION="v$upstream" KUBE_GIT_TREE_STATE=archive KUBE_GIT_COMMIT=debian-"$version"
    KUBE_GIT_MINOR="$(echo "$upstream" | cut -d. -f2)"
    export KUBE_GIT_MAJOR="${upstream%%.*}" KUBE_GIT_MINOR
    make WHAT="$what" >&2
  ) || die "make WHAT=\"$what\" failed"
  printf '    build took %ss\n' "$((SECONDS - start))" >&2

  step "install ${want[*]} into $dest"
  local out="$tree/_output/local/bin/linux/amd64"
  for b in "${want[@]}"; do
    [[ -x "$out/$b" ]] || die "$b missing in $out after make"
  done
  if [[ ${#want[@]} -lt ${#BINARIES[@]} ]]; then
    # Add to the existing cache dir: each file copied beside its final name, then renamed (atomic).
    for b in "${want[@]}"; do
      cp "$out/$b" "$dest/.$b.new"
      mv -f "$dest/.$b.new" "$dest/$b"
    done
  else
    local stage
    stage="$(mktemp -d "$CACHE_ROOT/.stage.XXXXXX")"
    for b in "${want[@]}"; do cp "$out/$b" "$stage/"; done
    printf '%s\n' "$version" >"$stage/VERSION"
    touch "$stage/COMPLETE"
    rm -rf -- "$dest"
    mv "$stage" "$dest"
    chmod 755 "$dest"
  fi
  for b in "${BINARIES[@]}"; do
    "$dest/$b" --version >&2 || die "built $b does not run ($dest/$b --version)"
  done
  printf '%s\n' "$dest"
}

main "$@"
