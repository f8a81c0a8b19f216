"""bench.proc.tree_cpu_seconds: the CPU a benchmark charges to the processes beside the indexer
(the node, the PostgreSQL server) must count their children, live and already reaped."""

from __future__ import annotations

import subprocess
import sys

from bench.proc import process_tree, tree_cpu_seconds, tree_rss_kib

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def test_counts_a_process_its_reaped_children_and_its_live_children() -> None:
    # the parent burns 0.3 s, runs a child that burns 0.3 s and is reaped, then starts one that
    # burns 0.3 s, says so (on the parent's stdout) and waits for a line on stdin before it exits
    script = (BURN.format(s=0.3)
              + "import subprocess, sys\n"
              + f"subprocess.run([sys.executable, '-c', {BURN.format(s=0.3)!r}], check=True)\n"
              + f"live = subprocess.Popen([sys.executable, '-c', {BURN.format(s=0.3) + 'print(1, flush=True); input()'!r}], "
              + "stdin=subprocess.PIPE)\n"
              + "print('ready', flush=True)\nsys.stdin.readline()\nlive.stdin.write(b'\\n'); live.stdin.close(); live.wait()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == b"ready"
    assert proc.stdout.readline().strip() == b"1"  # the live child has burnt its 0.3 s
    seconds = tree_cpu_seconds(proc.pid)
    tree = process_tree(proc.pid)
    assert len(tree) == 2 and tree[0] == proc.pid  # the parent and its live child (the reaped one is gone)
    own_kib = tree_rss_kib(tree[1])
    assert tree_rss_kib(proc.pid) > own_kib > 0  # the tree's RSS holds the child's and the parent's
    proc.stdin.write(b"\n")
    proc.stdin.close()
    proc.wait()
    assert 0.85 <= seconds <= 3.0, seconds
    assert tree_cpu_seconds(proc.pid) == 0.0  # gone
