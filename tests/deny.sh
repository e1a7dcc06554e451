#!/usr/bin/env bash
# Supply-chain checks with cargo-deny and the repository's deny.toml (see docs/security.md,
# "Supply chain"): licences, duplicate versions and banned crates, sources and, when a RustSec
# advisory database is at hand, advisories. Exit 0 when every check run passes, 1 otherwise.
#
#   bash tests/deny.sh                        bans, licenses, sources (no network needed)
#   SSRS_ADVISORY_DB=fetch bash tests/deny.sh  + advisories, cargo-deny fetching the database
#                                              (needs the RustSec repository on GitHub)
#   SSRS_ADVISORY_DB=DIR bash tests/deny.sh    + advisories from DIR without any fetch: DIR is a
#                                              clone of the RustSec advisory-db repository, or a
#                                              root as `cargo deny fetch db` fills it
#                                              (~/.cargo/advisory-dbs)
#
#   bash tests/deny.sh --self-test            the advisories wiring against a made-up local
#                                              database: a matching advisory must fail the run
#
# cargo-deny itself is installed once with `cargo install --locked` into
# $SSRS_TOOLS (default /var/cache/sealed-secrets-rs/tools), outside the repository.
set -euo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
cd "$(dirname "$self")/.."

DENY_VERSION=0.20.2 # rust-version 1.88; builds with the workspace toolchain
TOOLS=${SSRS_TOOLS:-/var/cache/sealed-secrets-rs/tools}
DENY=$TOOLS/bin/cargo-deny

fail() {
    echo "deny.sh: FAILED: $*" >&2
    exit 1
}

if [[ "$("$DENY" --version 2>/dev/null || true)" != "cargo-deny $DENY_VERSION" ]]; then
    echo "==> installing cargo-deny $DENY_VERSION into $TOOLS (one-time build)" >&2
    start=$SECONDS
    # cargo-deny's own release profile is fat LTO with one codegen unit (about 8 minutes on two
    # cores); a tool run once per test run does not need that, so build it with thin local
    # optimisation instead (config profiles override the package's own).
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install cargo-deny --version "$DENY_VERSION" --locked --root "$TOOLS" ||
        fail "cargo install cargo-deny $DENY_VERSION"
    echo "==> cargo-deny installed in $((SECONDS - start)) s" >&2
fi
[[ "$("$DENY" --version)" == "cargo-deny $DENY_VERSION" ]] ||
    fail "$DENY is not cargo-deny $DENY_VERSION"

# --self-test: prove the advisories wiring without the network, with a throw-away database made
# here. A made-up advisory against every version of serde must fail the run; the same advisory
# marked patched in every version must pass.
if [[ "${1:-}" == "--self-test" ]]; then
    st=$(mktemp -d)
    trap 'rm -rf "$st"' EXIT
    make_db() { # $1 = the made-up serde advisory's patched versions (TOML array)
        rm -rf "$st/db" && mkdir -p "$st/db/crates/serde"
        printf '%s\n' '```toml' '[advisory]' 'id = "RUSTSEC-0001-0001"' 'package = "serde"' \
            'date = "2000-01-01"' '' '[versions]' "patched = $1" '```' '' \
            '# Made-up advisory (tests/deny.sh --self-test)' >"$st/db/crates/serde/RUSTSEC-0001-0001.md"
        git -C "$st/db" init -q &&
            git -C "$st/db" -c user.name=deny -c user.email=deny@localhost add -A &&
            git -C "$st/db" -c user.name=deny -c user.email=deny@localhost commit -qm db
    }
    make_db '[]'
    if SSRS_ADVISORY_DB=$st/db bash "$self" >"$st/out" 2>&1; then
        cat "$st/out" >&2
        fail "self-test: an advisory against serde did not fail the check"
    fi
    grep -q 'RUSTSEC-0001-0001' "$st/out" || {
        cat "$st/out" >&2
        fail "self-test: the check failed, but not on the made-up advisory"
    }
    make_db '[">= 0.0.0"]'
    SSRS_ADVISORY_DB=$st/db bash "$self" >"$st/out" 2>&1 || {
        cat "$st/out" >&2
        fail "self-test: a patched advisory failed the check"
    }
    echo "deny.sh: self-test PASSED (a matching advisory fails the run, a patched one does not)" >&2
    exit 0
fi

checks=(bans licenses sources)
config=deny.toml
global=(--locked)
tmp=
trap '[[ -n "$tmp" ]] && rm -rf "$tmp"' EXIT

case "${SSRS_ADVISORY_DB:-}" in
"")
    echo "==> advisories: SKIPPED (no RustSec database: set SSRS_ADVISORY_DB, see docs/security.md)" >&2
    ;;
fetch)
    checks+=(advisories)
    ;;
*)
    db=$SSRS_ADVISORY_DB
    [[ -d "$db" ]] || fail "SSRS_ADVISORY_DB=$db is not a directory"
    db=$(cd "$db" && pwd)
    # deny.toml leaves db-path at cargo-deny's default; point a copy of it at a root holding the
    # database. --offline makes cargo-deny open the database without fetching (and fail if it is
    # missing or older than 90 days).
    tmp=$(mktemp -d)
    config=$tmp/deny.toml
    with_db_path() {
        awk -v path="$1" '{ print } /^\[advisories\]$/ { printf "db-path = \"%s\"\n", path }' \
            deny.toml >"$config"
        grep -q '^db-path = ' "$config" || fail "deny.toml has no [advisories] table"
    }
    if [[ -d "$db/crates" && -e "$db/.git" ]]; then
        # A clone of the advisory-db repository: link it where cargo-deny looks for its database
        # under a root (<name>-<hash of the URL>), which cargo-deny itself reports.
        with_db_path "$tmp/root"
        dir=$("$DENY" -L debug --locked --offline --config "$config" check advisories 2>&1 |
            sed -n "s|.*Opening advisory database at '\(.*\)'.*|\1|p" | head -n1 || true)
        [[ "$dir" == "$tmp/root/"* ]] || fail "cannot tell where cargo-deny looks for its database"
        mkdir -p "$tmp/root"
        ln -s "$db" "$dir"
    elif compgen -G "$db/*/crates" >/dev/null; then
        with_db_path "$db" # a root as `cargo deny fetch db` fills it
    else
        fail "SSRS_ADVISORY_DB=$db is neither a clone of the RustSec advisory-db repository nor a root holding one (<name>-<hash>/crates, as 'cargo deny fetch db' leaves in ~/.cargo/advisory-dbs)"
    fi
    global+=(--offline)
    checks+=(advisories)
    ;;
esac

echo "==> cargo deny check ${checks[*]}" >&2
if "$DENY" "${global[@]}" --config "$config" check "${checks[@]}"; then
    echo "deny.sh: PASSED (${checks[*]})" >&2
else
    fail "cargo deny check ${checks[*]} (see the diagnostics above)"
fi
