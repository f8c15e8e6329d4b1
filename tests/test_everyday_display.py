"""Everyday use, what a person sees: a live display on a terminal (a real pty),
plain grep-friendly lines anywhere else, safe words, and --help with defaults
and examples."""
from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from support import CLIENT, TAG_ENV, current_tag, describe, run_client, write_config

from wordcount.console import terminal_safe

LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_pty(args: list[str], cwd, timeout: float = 90) -> tuple[int, str]:
    """Run the client with stdin, stdout and stderr on a 120x30 pseudo-terminal; all it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = {**os.environ, TAG_ENV: current_tag(), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}
    proc = subprocess.Popen([sys.executable, str(CLIENT), *args], cwd=cwd, env=env, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), b"".join(chunks).decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_lab1_on_a_terminal_shows_a_live_progress_bar_then_the_summary(tmp_run, corpus):
    code, screen = run_in_pty(["--config", "config.json", "--data", str(corpus), "--log-level", "INFO"], tmp_run)
    assert code == 0, screen
    assert "\x1b[" in screen and "━" in screen, screen  # rich redraws a bar with escape sequences
    plain = ESCAPES.sub("", screen)
    assert re.search(r"15/15 files +\d+\.\d MB/s +stolen +\d+ +Redis restarts +\d+", plain), plain
    assert "INFO" in plain and "myrds: started" in plain  # log lines, printed above the bar
    assert plain.index("━") < plain.index("counted ") and "full table:" in plain


def test_lab2_on_a_terminal_shows_phase_checkpoint_and_worker_states(tmp_run, corpus):
    code, screen = run_in_pty(["stream", "--config", "config.json", "--data", str(corpus), "--throttle", "0.05"],
                              tmp_run)
    assert code == 0, screen
    plain = ESCAPES.sub("", screen)
    assert re.search(r"phase (CP|LAST_CP|EXITING)\s+last checkpoint\s+\d+\s+recovery\s+\d+\s+files\s+\d+/15", plain)
    assert re.search(r"mapper-0 (up|starting)\s+mapper-1 (up|starting)\s+reducer-0 (up|starting)", plain), plain
    assert "counted " in plain and "full table:" in plain


@pytest.mark.parametrize("lab", [[], ["stream"]])
def test_not_a_terminal_gives_plain_log_lines_and_no_escape_sequences(tmp_run, corpus, lab):
    write_config(tmp_run, log_level="INFO")
    result = run_client([*lab, "--config", "config.json", "--data", str(corpus)], cwd=tmp_run, timeout=90,
                        env={"TERM": "xterm-256color"})
    assert result.returncode == 0, describe(result)
    assert "\x1b" not in result.stdout + result.stderr, describe(result)
    assert "━" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and all(LOG_LINE.match(ln) for ln in lines), describe(result)
    assert result.stdout.startswith("counted ")


def test_terminal_safe_escapes_controls_and_bidi_only():
    assert terminal_safe("caf\u00e9 \u65e5\u672c") == "caf\u00e9 \u65e5\u672c"
    assert terminal_safe("a\x1b[2Jb\x07\x7f\x9b\u202e\u2066\t") == "a\\x1b[2Jb\\x07\\x7f\\x9b\\u202e\\u2066\\x09"


@pytest.mark.parametrize("args, must", [
    ([], ["(default: 4)", "(default: wordcount.tsv)", "1 to 64", "examples:", "client.py clean", "(exit status 130)"]),
    (["stream"], ["(default: 2)", "(default: 0.5)", "crash injection:", "mapper points:", "examples:",
                  "--kill any --every 3"]),
    (["clean"], ["--keep N", "(default: 0, delete all)"]),
])
def test_help_shows_defaults_wrapped_and_examples(tmp_path, args, must):
    result = run_client([*args, "--help"], cwd=tmp_path, timeout=30, env={"COLUMNS": "80"})
    assert result.returncode == 0, describe(result)
    for text in must:
        assert text in result.stdout, f"{text!r} missing from:\n{result.stdout}"
    prose = [ln for ln in result.stdout.splitlines() if not ln.startswith("  ")]
    assert all(len(ln) <= 80 for ln in prose), [ln for ln in prose if len(ln) > 80]
