"""Run every benchmark module (bench/bench_*.py, each with a ``run()``), or the ones named.

Exit code 1 when any benchmark failed or missed a goal (bench.report.GoalMissed); the others run
anyway. ``make bench`` then writes the README table (``python -m bench.report --readme``).

``scale`` (bench/bench_scale.py) is the long one: 10^7 events into PostgreSQL by default (about half
an hour on 2 cores, ~12 GB of temporary disk); ``SCALE_BENCH_EVENTS=1000000`` makes it a few
minutes.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from bench.report import GoalMissed


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem for p in here.glob("bench_*.py"))
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name if name.startswith('bench_') else 'bench_' + name}")
        print(f"\n=== {module.__name__} ===")
        t0 = time.monotonic()
        try:
            module.run()
        except GoalMissed as exc:
            failed.append(name)
            print(f"MISS: {exc}")
        except Exception as exc:  # report and go on with the others
            failed.append(name)
            print(f"{name} FAILED: {exc!r}")
        print(f"({time.monotonic() - t0:.1f}s)")
    if failed:
        print(f"failed or missed a goal: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
