#!/usr/bin/env bash
# Build (once) and locate the pinned go-ethereum (geth) binary used by the end-to-end tests.
#
#   scripts/geth.sh build   build geth into the cache unless already there; print the binary path
#   scripts/geth.sh path    print the cached binary path (building first if needed)
#
# The binary is cached at ${DATALEDGER_CACHE:-$HOME/.cache/dataledger}/geth/<version>/geth.
# geth's go.mod has no replace directives, so a plain `go install ...@<version>` works
# (unlike Kubo, see scripts/kubo.sh).
set -euo pipefail

GETH_VERSION="${GETH_VERSION:-v1.17.10}"
CACHE_ROOT="${DATALEDGER_CACHE:-$HOME/.cache/dataledger}"
BIN_DIR="$CACHE_ROOT/geth/$GETH_VERSION"
BIN="$BIN_DIR/geth"

log() { echo "geth.sh: $*" >&2; }

# `geth version` prints "Version: 1.17.10-stable" (and more lines)
is_good_binary() {
    [[ -x "$1" ]] || return 1
    local out
    out="$("$1" version 2>/dev/null)" || return 1
    grep -Eq "^Version: ${GETH_VERSION#v}(-[a-z]+)?$" <<<"$out"
}

build() {
    if is_good_binary "$BIN"; then
        echo "$BIN"
        return 0
    fi
    command -v go >/dev/null || { log "Go toolchain not found (needed to build geth $GETH_VERSION)"; exit 1; }

    work="$(mktemp -d "${TMPDIR:-/tmp}/geth-build.XXXXXX")"
    trap 'rm -rf "${work:-}"' EXIT
    log "building geth $GETH_VERSION into $work (first run takes several minutes)"
    (
        export GOBIN="$work"
        export GOFLAGS="${GOFLAGS:--buildvcs=false}"
        go install -trimpath "github.com/ethereum/go-ethereum/cmd/geth@$GETH_VERSION"
    )
    is_good_binary "$work/geth" || { log "built binary does not report version $GETH_VERSION"; exit 1; }
    mkdir -p "$BIN_DIR"
    # atomic install so concurrent callers never see a half-written binary
    cp "$work/geth" "$BIN.tmp.$$"
    chmod 0755 "$BIN.tmp.$$"
    mv -f "$BIN.tmp.$$" "$BIN"
    log "installed $BIN"
    echo "$BIN"
}

case "${1:-path}" in
    build|path) build ;;
    *) echo "usage: $0 {build|path}" >&2; exit 2 ;;
esac
