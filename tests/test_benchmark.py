"""tests/benchmark.py reports what it promises: every row, its ratio and its peak memory, the auth
overhead line and the scaling table with its PNG.

Not a timed test: it runs the benchmark on tiny corpora with one round and checks the shape of the
report (rows, fields, lines), never a speed, which depends on the machine and its load.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest
from kit.bench.report import stolen_live
from kit.bench.rss import role_of
from kit.corpus import synthetic
from kit.run import Finished
from support import REPO, describe, run_command

from wordcount.record import RunRecord

BENCHMARK = REPO / "tests" / "benchmark.py"
TIMEOUT_S = 240  # each run takes ~30 s on an idle 2-core machine; loaded machines are slower


def run_benchmark(tmp_path: Path, *args: str) -> tuple[Finished, dict]:
    """One round of the benchmark with its work directory and generated corpora under tmp_path
    (TMPDIR), importing this checkout (the installed package may be another worktree's)."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
           "TMPDIR": str(tmp_path)}
    report = tmp_path / "bench.json"
    done = run_command([sys.executable, BENCHMARK, "--repeat", "1", "--work", tmp_path / "work",
                        "--json", report, "--log-level", "WARNING", *args],
                       cwd=REPO, env=env, timeout=TIMEOUT_S)
    assert done.exit_code == 0, describe(done)
    return done, json.loads(report.read_text(encoding="utf-8"))


def table_line(stdout: str, name: str) -> str:
    lines = [ln for ln in stdout.splitlines() if ln.startswith(f"{name} ") and "x " in ln]
    assert lines, f"no table row {name!r} in:\n{stdout}"
    return lines[0]


def test_roles_and_stolen_live_of_any_record() -> None:
    py = sys.executable
    assert role_of([py, "worker.py", "--name", "w3", "--job", "j"], "python3") == "worker w3"
    assert role_of([py, "-m", "mapper", "--id", "mapper-0", "--incarnation", "1"], "python3") == "mapper-0"
    assert role_of([py, "-m", "coordinator", "--spec", "s.json"], "python3") == "coordinator"
    assert role_of([py, "-P", "-m", "coordinator", "--spec", "s.json"], "python3") == "coordinator"
    assert role_of([py, "-c", "import runpy", "coordinator", "--spec", "s.json"], "python3") == "coordinator"
    warm = [py, "-P", "-m", "wordcount.warm", "--preload", "redis,message"]  # how parts start now
    assert role_of([*warm, "-m", "coordinator", "--spec", "s.json"], "python3") == "coordinator"
    assert role_of([*warm, "/r/worker.py", "--name", "w1", "--job", "j"], "python3") == "worker w1"
    assert role_of([*warm, "-m", "mapper", "--id", "mapper-1"], "python3") == "mapper-1"
    assert role_of(["/usr/bin/redis-server", "-"], "redis-server") == "redis-server"
    assert stolen_live(RunRecord.from_json({"kind": "batch", "stolen": 3, "stolen_live": 2})) == 2  # newer record
    assert stolen_live(RunRecord(kind="batch", stolen=3)) is None  # a record without the field: "n/a"


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_table_has_every_row_with_ratio_and_memory(tmp_path: Path) -> None:
    data = synthetic(tmp_path / "corpus", "2MB", 20)
    done, report = run_benchmark(tmp_path, "--data", str(data), "--workers", "2")
    rows = {r["run"]: r for r in report["summary"]}
    for name in ("serial", "Pool(2)", "batch 2 workers", "stream 2x2 ckpt 0.5s", "stream 2x2 no auth"):
        row = rows.get(name)
        assert row is not None and row["ok"], f"{name}: {row}\n{done.stdout}"
        assert row["ratio"] > 0 and row["peak_mb"] > 0 and row["rss_mb"], row
        assert re.search(r"\d+\.\d\dx", table_line(done.stdout, name))
        if name != "serial":
            assert row["check"] == "OK", row
    assert rows["serial"]["ratio"] == 1.0
    assert {"client", "worker w0", "worker w1", "redis-server"} <= set(rows["batch 2 workers"]["rss_mb"])
    assert {"client", "coordinator", "mapper-0", "reducer-1"} <= set(rows["stream 2x2 ckpt 0.5s"]["rss_mb"])
    assert "pool process" in rows["Pool(2)"]["rss_mb"]
    assert isinstance(rows["batch 2 workers"]["stolen"], int)
    assert rows["stream 2x2 ckpt 0.5s"]["auth"] is True and rows["stream 2x2 no auth"]["auth"] is False
    assert re.search(r"^auth: stream \d+\.\d\dx serial with HMAC, \d+\.\d\dx without: overhead \d+\.\d{3}x$",
                     done.stdout, re.M), done.stdout
    assert "peak RSS (VmHWM, MB)" in done.stdout and re.search(r"^target \(mixed corpus\): ", done.stdout, re.M)
    assert "serial count" in rows["serial"]["rss_mb"], rows["serial"]  # the script, in its own process
    assert rows["count only, in-process"]["check"] == "OK"
    small = report["small_job"]["seconds"]
    assert {"serial", "batch, one tiny file", "stream, one tiny file"} <= set(small), report["small_job"]
    assert re.search(r"^  batch, one tiny file +\d+\.\d\ds +\(\d+\.\dx serial\)  target <= 0.5s: (PASS|MISS)$",
                     done.stdout, re.M), done.stdout


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_scaling_table_and_png(tmp_path: Path) -> None:
    data = synthetic(tmp_path / "corpus", "1MB", 10)
    png = tmp_path / "scaling.png"
    done, report = run_benchmark(tmp_path, "--data", str(data), "--files", "10", "--workers", "1", "--no-stream",
                                 "--no-small-job", "--scaling", "--scaling-sizes", "1MB", "--png", str(png))
    scaling = report["scaling"]
    assert [row["corpus"] for row in scaling] == ["1MB, 10 files", "1MB, one file"], scaling
    assert [row["files"] for row in scaling] == [10, 1]
    for row in scaling:
        for name in ("Pool(2)", "batch 1 worker"):
            cell = row["cells"][name]
            assert cell["check"] == "OK" and cell["ratio"] > 0, (row["corpus"], name, cell)
    assert re.search(r"^1MB, one file +\d+\.\d\d +\d+\.\d\dx +\d+\.\d\dx$", done.stdout, re.M), done.stdout
    if importlib.util.find_spec("matplotlib") is None:
        assert "png: not written: matplotlib is not installed" in done.stdout, done.stdout
        pytest.skip("matplotlib is not installed: the benchmark said so instead of drawing the PNG")
    assert f"png: scaling drawn to {png}" in done.stdout, done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
