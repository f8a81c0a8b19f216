"""Measuring benchmark subprocesses."""

from __future__ import annotations

import contextlib
import os
import threading


class HighWater:
    """Peak RSS of a child process: its ``VmHWM`` (the high-water mark of the address space it
    exec'd into), read every 20 ms while it lives. Not wait4's ``ru_maxrss``: Linux carries the
    pre-exec high-water mark into it, so a child forked from a (large) bench process reported
    the bench's own RSS (1,793 MiB for both 10^6-event backfills of the first full indexer run)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError, StopIteration):
            with open(f"/proc/{self.pid}/status") as f:
                self.kib = max(self.kib, next(int(line.split()[1]) for line in f if line.startswith("VmHWM")))

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            self._read()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (those still there when their parent is read)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
    return found


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants (KiB)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS")), 0)
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, with its descendants: each live
    process's own and its reaped children's times (a PostgreSQL postmaster reaps the backends
    of closed connections). 0 when the process is gone."""
    ticks = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")
