#!/usr/bin/env bash
# Static analysis of the contracts with Slither, on the Hardhat build (offline, npm solcjs).
#
#   scripts/slither.sh            compile (hardhat, incremental) + analyse; exit 1 on any High/Medium
#   SLITHER_NO_COMPILE=1 ...      analyse the existing build/hardhat/artifacts/build-info as is
#
# Outputs: build/slither.json (full JSON report, every detector), build/slither.log (slither's own
# text output), and a summary table on stdout (counts by impact; High/Medium findings listed).
# Filtering (node_modules, contracts/src/bench, contracts/src/test) lives in slither.config.json.
# Justified false positives are suppressed in the contracts with `// slither-disable-next-line`;
# each one is explained in docs/security.md.
#
# Slither lives in its own venv (.cache/slither-venv), not in .venv: slither-analyzer 0.11.x
# requires web3<8 and the SDK pins web3 8.
set -euo pipefail
cd "$(dirname "$0")/.."

SLITHER_VERSION=0.11.6
CRYTIC_COMPILE_VERSION=0.4.2
VENV=.cache/slither-venv
REPORT=build/slither.json
LOG=build/slither.log
FAIL_ON="High Medium"   # impacts that make this script fail
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

say() { printf '\033[1;34m[slither]\033[0m %s\n' "$*" >&2; }

# 1. slither-analyzer, pinned, in its own venv
if ! "$VENV/bin/slither" --version 2>/dev/null | grep -qx "$SLITHER_VERSION"; then
  say "installing slither-analyzer==$SLITHER_VERSION into $VENV"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "slither-analyzer==$SLITHER_VERSION" "crytic-compile==$CRYTIC_COMPILE_VERSION"
fi

# 2. the Hardhat build (solcjs; hardhat.config.js never downloads a compiler). Slither reads the
#    build-info files; more than one (left by incremental builds) would give duplicate
#    compilation units, so rebuild from scratch in that case.
mkdir -p build
if [ -z "${SLITHER_NO_COMPILE:-}" ]; then
  say "npx hardhat compile"
  npx hardhat compile --quiet >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 2; }
  if [ "$(ls build/hardhat/artifacts/build-info/*.json 2>/dev/null | wc -l)" -gt 1 ]; then
    say "several build-info files: npx hardhat compile --force"
    npx hardhat compile --force --quiet >"$LOG" 2>&1 || { cat "$LOG" >&2; exit 2; }
  fi
fi
ls build/hardhat/artifacts/build-info/*.json >/dev/null 2>&1 || {
  echo "no Hardhat build-info in build/hardhat/artifacts/build-info (run without SLITHER_NO_COMPILE)" >&2
  exit 2
}

# 3. analyse: every detector, JSON report; the pass/fail decision is taken below from the JSON.
#    --hardhat-ignore-compile: crytic-compile parses the build-info and never looks for a solc binary.
say "slither $SLITHER_VERSION on the Hardhat build"
run_slither() {
  rm -f "$REPORT"
  "$VENV/bin/slither" . --config-file slither.config.json --hardhat-ignore-compile \
    --hardhat-artifacts-directory build/hardhat/artifacts \
    --json "$REPORT" --fail-none >>"$LOG" 2>&1
}
set +e
run_slither
rc=$?
if [ $rc -ne 0 ] && [ -z "${SLITHER_NO_COMPILE:-}" ] && grep -q "Build artifacts are likely stale" "$LOG"; then
  # a source changed between the build and the analysis: rebuild once and retry
  say "sources changed during the run: npx hardhat compile --force, retry"
  npx hardhat compile --force --quiet >"$LOG" 2>&1 && run_slither
  rc=$?
fi
set -e
if [ $rc -ne 0 ] || [ ! -s "$REPORT" ]; then
  cat "$LOG" >&2
  echo "slither failed (exit $rc); see $LOG" >&2
  exit 2
fi

# 4. summary table; fail on High/Medium
"$VENV/bin/python" - "$REPORT" "$FAIL_ON" <<'PYEOF'
import json, sys
from collections import Counter
report, fail_on = sys.argv[1], sys.argv[2].split()
data = json.load(open(report))
if not data.get("success", False):
    sys.exit(f"slither reported an error: {data.get('error')}")
results = data.get("results", {}).get("detectors", [])
order = ["High", "Medium", "Low", "Informational", "Optimization"]
counts = Counter(r["impact"] for r in results)
by_detector = Counter((r["impact"], r["check"]) for r in results)
print(f"\nslither: {len(results)} finding(s) in contracts/src (bench/, test/, node_modules filtered)\n")
print(f"{'impact':<14}{'count':>6}   detectors")
print("-" * 72)
for impact in order:
    dets = ", ".join(f"{c}×{n}" for (i, c), n in sorted(by_detector.items()) if i == impact)
    print(f"{impact:<14}{counts.get(impact, 0):>6}   {dets}")
print("-" * 72)
bad = [r for r in results if r["impact"] in fail_on]
for r in bad:
    print(f"\n[{r['impact']}/{r['confidence']}] {r['check']}: {r['description'].strip()}")
print(f"\nfull report: {report}")
if bad:
    print(f"FAIL: {len(bad)} unresolved {'/'.join(fail_on)} finding(s)")
    sys.exit(1)
print(f"OK: no {'/'.join(fail_on)} finding")
PYEOF
