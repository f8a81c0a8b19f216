#!/usr/bin/env bash
# Install what the stack and the tests need; fast (stamp checks only) when already set up.
#   scripts/setup.sh up     node packages + Python venv with the runtime dependencies only (`make up`)
#   scripts/setup.sh dev    + the dev/test tooling (pip extra `dev`: pytest, mypy, py-solc-x, ...)
#   scripts/setup.sh test   dev + PostgreSQL server, Chromium and fonts-noto-cjk (Debian) + Kubo and geth (built from the Go module proxy)
#   scripts/setup.sh bench  same as test
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# apt_install PACKAGE WHAT: Debian's package, as root (a non-root user is told what to install)
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "$2 is missing and this is not root: install Debian's $1" >&2
    exit 1
  fi
  say "apt-get install $1"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

# 1. npm packages, pinned by package-lock.json: the stack needs only anvil (the one runtime
#    dependency, ~4 s); hardhat 2, solc and OpenZeppelin (devDependencies) come with dev/test
npm_fresh() { [ -f "$1" ] && [ ! package-lock.json -nt "$1" ]; }
if [ "$what" = "up" ]; then
  if ! npm_fresh node_modules/.stamp && ! npm_fresh node_modules/.stamp-runtime; then
    say "npm ci --omit=dev (anvil only; the contract toolchain comes with make test)"
    npm ci --omit=dev --no-audit --no-fund --loglevel=error
    touch node_modules/.stamp-runtime
  fi
elif ! npm_fresh node_modules/.stamp; then
  say "npm ci (hardhat 2, solc, OpenZeppelin, anvil)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.stamp
fi

# 2. Python venv with the packages pinned in constraints.txt, installed by uv (PyPI's static
#    installer, fetched once into .tools/uv): it downloads and installs in parallel, ~10-25 s where
#    pip took ~2 min on a cold machine. Without uv (it could not be fetched) pip does the same job.
UV=.tools/uv/bin/uv
if [ ! -x "$UV" ]; then
  say "fetching the installer uv into .tools/uv"
  "$PY" -m pip install -q --disable-pip-version-check --target .tools/uv "uv==0.13.8" >/dev/null 2>&1 \
    || { rm -rf .tools/uv; say "uv could not be fetched: installing with pip"; }
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  if [ -x "$UV" ]; then "$PY" -m venv --without-pip .venv; else "$PY" -m venv .venv; fi
fi
# pyinstall ARGS...: install into .venv (uv when there is one, else the venv's pip)
pyinstall() {
  if [ -x "$UV" ]; then
    PYTHONPATH= "$UV" pip install --python .venv/bin/python "$@"
  else
    [ -x .venv/bin/pip ] || .venv/bin/python -m ensurepip -q
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on "$@"
  fi
}
# fresh(STAMP): installed since pyproject.toml / constraints.txt last changed
fresh() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ] && [ ! constraints.txt -nt "$1" ]; }
# .venv/.stamp: the dev extra (a superset of the runtime); .venv/.stamp-runtime: the runtime only
if [ "$what" = "up" ]; then
  if ! fresh .venv/.stamp && ! fresh .venv/.stamp-runtime; then
    say "installing the runtime dependencies (pinned by constraints.txt; make test adds the dev extra)"
    pyinstall -c constraints.txt -e .
    touch .venv/.stamp-runtime
  fi
  # the indexer's compiled log decoder (Rust): without it the indexer decodes in Python
  scripts/native.sh --optional
  exit 0
fi
if ! fresh .venv/.stamp; then
  say "installing the runtime and the test tooling (.[dev], pinned by constraints.txt)"
  pyinstall -c constraints.txt -e ".[dev]"
  touch .venv/.stamp
fi

# the indexer's compiled log decoder (native/, Rust): the tests hold it equal to the Python decoder
scripts/native.sh
[ "$what" = "dev" ] && exit 0

# 3. PostgreSQL server binaries from Debian's packages (the cluster itself is per test run)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  apt_install postgresql "PostgreSQL's server binaries"
fi

# 4. Chromium for the browser tests (Debian's package; Playwright drives it, never downloads one)
command -v chromium >/dev/null 2>&1 || apt_install chromium "chromium"
# CJK fonts: the pages are 简体/繁體 by default; without them the screenshots show empty boxes
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || apt_install fonts-noto-cjk "CJK fonts (Noto Sans CJK)"

# 5. Kubo, built once from the Go module proxy and cached
scripts/kubo.sh path >/dev/null

# 6. geth (go-ethereum), the second node implementation of the end-to-end suite: built once, cached
scripts/geth.sh path >/dev/null

# 7. bench only: Ponder (the peer indexer of bench/bench_indexer.py), in its own npm folder with its
#    own lock file; never installed by `make up` or `make test`
if [ "$what" = "bench" ]; then
  if [ ! -f bench/ponder/node_modules/.stamp ] || [ bench/ponder/package-lock.json -nt bench/ponder/node_modules/.stamp ]; then
    say "npm ci in bench/ponder (Ponder, for the indexer benchmark)"
    (cd bench/ponder && npm ci --no-audit --no-fund --loglevel=error)
    touch bench/ponder/node_modules/.stamp
  fi
fi
