"""Benchmarks are gates, and the README's benchmark table is generated from result files."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bench.__main__ as bench_main
import bench.report as br

ROOT = Path(__file__).resolve().parents[1]


def _results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speed: float) -> Path:
    out = tmp_path / "results"
    monkeypatch.setattr(br, "RESULTS", out)
    goals = [br.Goal("gas: single / bare", 1.494, 1.5, unit="x", shown="158,830 / 106,334 = 1.494x"),
             br.Goal("indexer backfill, SQLite", speed, 20_000, op=">=", unit=" events/s")]
    br.report("gas", "Gas", ["a", "b"], [["x", 1]], {"f": 1}, goals=goals[:1])
    br.report("indexer", "Indexer", ["a"], [["y"]], goals=goals[1:], readme=[("API, 100 clients", "4,188 req/s")])
    return out


def test_goals_are_gates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _results(tmp_path, monkeypatch, 30_000.0)
    saved = json.loads((tmp_path / "results" / "indexer.json").read_text())
    assert saved["goals"][0]["met"] is True and saved["goals"][0]["goal"] == ">= 20,000 events/s"
    br.check("indexer", [br.Goal("fast", 30_000, 20_000, op=">=")])  # met: no exception
    with pytest.raises(br.GoalMissed, match="indexer: goal missed: slow: 19,999 events/s"):
        br.check("indexer", [br.Goal("fast", 1.0, 2.0), br.Goal("slow", 19_999, 20_000, op=">=", unit=" events/s")])
    assert br.Goal("edge", 1.5, 1.5).met and br.Goal("edge", 20_000, 20_000, op=">=").met

    def missing() -> None:
        br.check("x", [br.Goal("p95", 21.0, 20.0, unit=" ms")])

    assert br.run_main(missing) == 1 and br.run_main(lambda: None) == 0


def test_python_m_bench_exits_non_zero_on_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def fake(name: str, outcome: str) -> types.ModuleType:
        module = types.ModuleType(name)

        def run() -> None:
            ran.append(name)
            if outcome == "miss":
                br.check(name, [br.Goal("p95", 21.0, 20.0)])
            if outcome == "crash":
                raise ValueError("boom")

        module.run = run  # type: ignore[attr-defined]
        return module

    modules = {"bench.bench_a": fake("bench.bench_a", "miss"), "bench.bench_b": fake("bench.bench_b", "ok"),
               "bench.bench_c": fake("bench.bench_c", "crash")}
    monkeypatch.setattr(bench_main.importlib, "import_module", lambda name: modules[name])
    assert bench_main.main(["a", "b"]) == 1 and ran == ["bench.bench_a", "bench.bench_b"]  # b still ran
    assert bench_main.main(["b"]) == 0
    assert bench_main.main(["c"]) == 1


def _readme(path: Path) -> str:
    text = ("# project\n\nintro\n\n## Benchmarks\n\ntext before\n\n" + br.BEGIN + "\n| old | hand | copied |\n"
            + br.END + "\n\ntext after\n")
    path.write_text(text)
    return text


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.report", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_readme_table_generated_from_result_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results(tmp_path, monkeypatch, 12_345.0)
    readme = tmp_path / "README.md"
    original = _readme(readme)
    proc = _generate("--readme", "--results", str(results), "--readme-file", str(readme))
    assert proc.returncode == 0, proc.stderr
    text = readme.read_text()
    before, _, rest = text.partition(br.BEGIN)
    table, _, after = rest.partition(br.END)
    assert before == original.partition(br.BEGIN)[0] and after == original.partition(br.END)[2]
    assert "| old | hand | copied |" not in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == [
        "| benchmark | figure | goal | met |",
        "| gas: single / bare | 158,830 / 106,334 = 1.494x | <= 1.5x | yes |",  # gas first (ORDER)
        "| indexer backfill, SQLite | 12,345.0 events/s | >= 20,000 events/s | **MISSED** |",
        "| API, 100 clients | 4,188 req/s | — | — |",
    ]
    assert "gas 20" in table and "indexer 20" in table  # which run, when
    again = _generate("--readme", "--results", str(results), "--readme-file", str(readme))
    assert again.returncode == 0 and "unchanged" in again.stdout and readme.read_text() == text


def test_readme_generator_refuses_without_results_or_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    original = _readme(readme)
    empty = tmp_path / "none"
    empty.mkdir()
    proc = _generate("--readme", "--results", str(empty), "--readme-file", str(readme))
    assert proc.returncode == 1 and "run `make bench` first" in proc.stderr
    assert readme.read_text() == original
    (empty / "broken.json").write_text("{not json")
    proc = _generate("--readme", "--results", str(empty), "--readme-file", str(readme))
    assert proc.returncode == 1 and "broken.json" in proc.stderr and readme.read_text() == original
    plain = tmp_path / "PLAIN.md"
    plain.write_text("# no markers\n")
    proc = _generate("--readme", "--readme-file", str(plain), "--results", str(empty))
    assert proc.returncode == 1 and plain.read_text() == "# no markers\n"


def test_the_real_readme_has_the_markers() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.count(br.BEGIN) == 1 and text.count(br.END) == 1 and text.index(br.BEGIN) < text.index(br.END)


def test_every_benchmark_module_is_a_gate() -> None:
    """Each bench/bench_*.py has a run() that checks its goals and, run as a module, exits through
    run_main (1 on a miss): none prints MISS and exits 0, none runs nothing."""
    import ast

    modules = sorted((ROOT / "bench").glob("bench_*.py"))
    assert {p.stem for p in modules} >= {"bench_gas", "bench_indexer", "bench_api", "bench_verify"}
    for path in modules:
        tree = ast.parse(path.read_text())
        run = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
        assert run, f"{path.name}: no run()"
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "check" in calls, f"{path.name}: its run does not check its goals"
        mains = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        assert mains and ast.unparse(mains[0].body[0]) == "sys.exit(run_main(run))", f"{path.name}: no gate as __main__"


def _bench_process(tmp_path: Path, goals: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "bench_fake.py"
    script.write_text("import sys\nfrom bench.report import Goal, check, run_main\n\n\n"
                      f"def run() -> None:\n    check('fake', [{goals}])\n\n\n"
                      "if __name__ == '__main__':\n    sys.exit(run_main(run))\n")
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_a_missed_goal_exits_non_zero_as_a_process(tmp_path: Path) -> None:
    missed = _bench_process(tmp_path, "Goal('p95', 21.0, 20.0, unit=' ms')")
    assert missed.returncode == 1 and "MISS: fake: goal missed: p95: 21.0 ms (goal <= 20.0 ms)" in missed.stderr
    met = _bench_process(tmp_path, "Goal('p95', 19.0, 20.0), Goal('rate', 5, 4, op='>=')")
    assert met.returncode == 0, met.stderr
    nan = _bench_process(tmp_path, "Goal('p95', float('nan'), 20.0)")
    assert nan.returncode == 1
    none = _bench_process(tmp_path, "")
    assert none.returncode == 1 and "no goal was measured" in none.stderr
    with pytest.raises(ValueError, match="op must be"):
        br.Goal("typo", 1.0, 2.0, op="<")


def test_readme_check_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results(tmp_path, monkeypatch, 25_000.0)
    readme = tmp_path / "README.md"
    _readme(readme)
    stale = _generate("--check", "--results", str(results), "--readme-file", str(readme))
    assert stale.returncode == 1 and "python -m bench.report --readme" in stale.stderr
    assert _generate("--readme", "--results", str(results), "--readme-file", str(readme)).returncode == 0
    assert _generate("--check", "--results", str(results), "--readme-file", str(readme)).returncode == 0
    readme.write_text(readme.read_text().replace("25,000.0 events/s", "99,999 events/s"))  # a hand edit
    assert _generate("--check", "--results", str(results), "--readme-file", str(readme)).returncode == 1


def test_the_real_readme_table_is_the_generated_one() -> None:
    """README.md's benchmark table is exactly what the committed bench/results/*.json give."""
    assert br.readme_is_current(), "run `python -m bench.report --readme` (never edit the table by hand)"
