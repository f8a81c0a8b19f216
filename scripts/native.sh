#!/usr/bin/env bash
# Build the indexer's compiled log parser and decoder (native/, Rust with PyO3) into
# gateway/indexer/_logs.abi3.so, when its sources are newer than the built module.
#   scripts/native.sh          build, or fail
#   scripts/native.sh --optional   build, or say why not and go on (the indexer then decodes in Python)
# Rust comes with the machine (rustup); the crates are pinned by native/Cargo.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
optional=0
[ "${1:-}" = "--optional" ] && optional=1
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
out=gateway/indexer/_logs.abi3.so
if [ -f "$out" ] && [ -z "$(find native/Cargo.toml native/Cargo.lock native/src -newer "$out" 2>/dev/null)" ]; then
  exit 0
fi
CARGO=$(command -v cargo || true)
[ -z "$CARGO" ] && [ -x "$HOME/.cargo/bin/cargo" ] && CARGO=$HOME/.cargo/bin/cargo
if [ -z "$CARGO" ]; then
  if [ "$optional" = 1 ]; then
    say "no cargo (Rust): the indexer parses and decodes logs in Python (the same results, slower)"
    exit 0
  fi
  echo "cargo (Rust) is missing: install it with rustup to build native/" >&2
  exit 1
fi
say "building the indexer's compiled log decoder (native/, cargo build --release)"
if (cd native && PYO3_PYTHON="$PWD/../.venv/bin/python" "$CARGO" build --release --locked --quiet); then
  cp native/target/release/lib_logs.so "$out.tmp" && mv "$out.tmp" "$out"
elif [ "$optional" = 1 ]; then
  say "the build failed: the indexer parses and decodes logs in Python (the same results, slower)"
else
  exit 1
fi
