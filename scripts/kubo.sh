#!/usr/bin/env bash
# Build (once) and locate the pinned Kubo (go-ipfs) binary used by tests and the local stack.
#
#   scripts/kubo.sh build   build Kubo into the cache unless already there; print the binary path
#   scripts/kubo.sh path    print the cached binary path (building first if needed)
#
# The binary is cached at ${DATALEDGER_CACHE:-$HOME/.cache/dataledger}/kubo/<version>/ipfs.
#
# `go install github.com/ipfs/kubo/cmd/ipfs@<version>` is refused because kubo's go.mod has
# replace/exclude directives, so we build from a throw-away module that requires kubo and
# carries over kubo's exclude directives (directives of a dependency are ignored).
#
# Kubo v0.43.1 replaces go-libp2p with a personal fork (v0.49 + newer quic-go/webtransport-go)
# that the Go module proxy does not serve. Plain go-libp2p v0.49.0 does not compile against
# webtransport-go v0.13.0 ("undefined: webtransport.Dialer"); the released go-libp2p v0.50.0
# requires exactly quic-go v0.62.0 + webtransport-go v0.13.0, as kubo does, so we pin it.
# Replace targets that *are* downloadable are still copied over.
set -euo pipefail

KUBO_VERSION="${KUBO_VERSION:-v0.43.1}"
# extra `go get` pins applied after kubo (see above); override with KUBO_EXTRA_PINS
KUBO_EXTRA_PINS="${KUBO_EXTRA_PINS:-github.com/libp2p/go-libp2p@v0.50.0}"
CACHE_ROOT="${DATALEDGER_CACHE:-$HOME/.cache/dataledger}"
BIN_DIR="$CACHE_ROOT/kubo/$KUBO_VERSION"
BIN="$BIN_DIR/ipfs"

log() { echo "kubo.sh: $*" >&2; }

is_good_binary() {
    [[ -x "$1" ]] || return 1
    local out
    out="$("$1" version --number 2>/dev/null)" || return 1
    [[ "v$out" == "$KUBO_VERSION" ]]
}

build() {
    if is_good_binary "$BIN"; then
        echo "$BIN"
        return 0
    fi
    command -v go >/dev/null || { log "Go toolchain not found (needed to build Kubo $KUBO_VERSION)"; exit 1; }

    work="$(mktemp -d "${TMPDIR:-/tmp}/kubo-build.XXXXXX")"
    trap 'rm -rf "${work:-}"' EXIT
    log "building Kubo $KUBO_VERSION in $work (first run takes several minutes)"

    (
        cd "$work"
        export GOFLAGS="${GOFLAGS:--buildvcs=false}"
        cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "github.com/ipfs/kubo/cmd/ipfs"
EOF
        go mod init dataledger/kubo-build >/dev/null 2>&1

        # Fetch kubo's go.mod and copy its replace/exclude directives into ours.
        local gomod
        gomod="$(go mod download -json "github.com/ipfs/kubo@$KUBO_VERSION" \
                 | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
        [[ -f "$gomod" ]] || { log "could not download github.com/ipfs/kubo@$KUBO_VERSION"; exit 1; }
        go mod edit -json "$gomod" > kubo-mod.json
        python3 - kubo-mod.json > directives.txt <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
for r in m.get("Replace") or []:
    old, new = r["Old"], r["New"]
    lhs = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
    if new.get("Version"):
        print("-replace=%s=%s@%s" % (lhs, new["Path"], new["Version"]))
    # local-path replaces cannot apply outside kubo's tree; skip them
for e in m.get("Exclude") or []:
    print("-exclude=%s@%s" % (e["Path"], e["Version"]))
EOF
        local d target
        while read -r d; do
            [[ -n "$d" ]] || continue
            if [[ "$d" == -replace=* ]]; then
                target="${d#*=}"; target="${target#*=}"
                if ! go mod download "$target" >/dev/null 2>&1; then
                    log "skipping unavailable replace target $target"
                    continue
                fi
            fi
            go mod edit "$d"
        done < directives.txt
        # shellcheck disable=SC2086
        go get "github.com/ipfs/kubo@$KUBO_VERSION" $KUBO_EXTRA_PINS
        go mod tidy
        go build -trimpath -o "$work/ipfs" github.com/ipfs/kubo/cmd/ipfs
    )

    is_good_binary "$work/ipfs" || { log "built binary does not report version $KUBO_VERSION"; exit 1; }
    mkdir -p "$BIN_DIR"
    # atomic install so concurrent callers never see a half-written binary
    cp "$work/ipfs" "$BIN.tmp.$$"
    chmod 0755 "$BIN.tmp.$$"
    mv -f "$BIN.tmp.$$" "$BIN"
    log "installed $BIN"
    echo "$BIN"
}

case "${1:-path}" in
    build|path) build ;;
    *) echo "usage: $0 {build|path}" >&2; exit 2 ;;
esac
