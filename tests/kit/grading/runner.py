"""How the grader runs a command: isolated from whatever ran the grader, through kit.run.

Every item's client and every helper (the preflight `client.py --help`, the
timeline renderer) runs with kit.run: its own session, output in a file, and
on timeout SIGTERM then SIGKILL of exactly what it started.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from kit.run import Finished, run

REPO = Path(__file__).resolve().parents[3]
# Variables that would make a client share state with whatever ran the grader.
ISOLATE_ENV = ("REDIS_URL", "WC_REDIS_URL", "WC_TRACE", "WC_TRACE_PROC", "WC_JOB_KEY", "WC_INSECURE_NO_AUTH")


def client_env() -> dict[str, str]:
    """The grader's environment (test tags included) minus what breaks isolation."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_client(argv: Sequence[str], log_path: Path, timeout_s: float) -> Finished:
    """`python client.py ...` (argv without the interpreter) from the repository root,
    both output streams in `log_path`."""
    return run([sys.executable, *argv], timeout_s, cwd=REPO, env=client_env(), output=log_path)


def quick(argv: Sequence[str], timeout_s: float = 60) -> tuple[int | None, str]:
    """Run a short helper command from the repository root; (exit code, output), None on timeout."""
    with tempfile.TemporaryDirectory(prefix="wc-grade-") as tmp:
        try:
            done = run(argv, timeout_s, cwd=REPO, env=client_env(), output=Path(tmp) / "output.log")
        except OSError as exc:
            return None, str(exc)
    if done.timed_out:
        return None, f"{' '.join(argv[1:3])} did not finish within {timeout_s:.0f}s; output: {done.stdout[-300:]}"
    return done.exit_code, done.stdout
