"""Everyday use, inputs and outputs: odd files in the data directory, binary
words in the summary, ragged CSV, the output's mode, unwritable and shared
outputs, and a --redis-url where nothing listens. Real client runs."""
from __future__ import annotations

import os
import socket
import stat
import time

import pytest
from support import (
    assert_same_table,
    describe,
    job_dirs,
    make_corpus,
    read_output,
    run_batch,
    run_client,
    serial,
    slow_workers,
    start_client,
    stop_client,
    wait_until,
    write_config,
)

from wordcount import procs
from wordcount.csvtext import MAX_ROW_WARNINGS
from wordcount.table import write_table
from wordcount.tokenize import TokenizerSpec, count_bytes


def one_error(result, *fragments: str) -> str:
    """The single `error:` line of a failed run, checked to hold every fragment."""
    assert result.returncode == 2, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, describe(result)
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


def _fifo(path):
    os.mkfifo(path)


def _socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays


def _device(path):
    os.symlink("/dev/zero", path)  # endless: reading it would never finish


@pytest.mark.parametrize("make, kind", [(_fifo, "FIFO"), (_socket, "socket"), (_device, "character device")])
def test_non_regular_input_is_refused_at_discovery_without_hanging(tmp_run, corpus, make, kind):
    make(corpus / "a.txt")
    t0 = time.monotonic()
    result = run_client(["--config", "config.json", "--data", str(corpus)], cwd=tmp_run, timeout=30)
    one_error(result, f"{corpus}/a.txt", kind, "only regular files are inputs")
    assert time.monotonic() - t0 < 15
    assert not job_dirs(tmp_run / ".wc-run"), "the job must not start"


BINARY = b"plain \x1b[2J\x1b]0;pwned\x07 words \x7fdel \xe2\x80\xaeevil plain\n"


def test_control_characters_are_escaped_in_the_summary_and_exact_in_the_table(tmp_run, tmp_path):
    data = tmp_path / "bin"
    data.mkdir()
    (data / "image.txt").write_bytes(BINARY)
    write_config(tmp_run, top=10)
    result, table, _ = run_batch(tmp_run, data)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\x7f" not in result.stdout
    assert "\u202e" not in result.stdout
    top = result.stdout.split("top 10:\n", 1)[1]
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in top and "\\x7fdel" in top and "\\u202eevil" in top, result.stdout
    assert table["\x1b[2J\x1b]0;pwned\x07"] == 1 and table["\x7fdel"] == 1 and table["\u202eevil"] == 1
    assert_same_table(serial(data), table)


RAGGED = ('id,text,note\n'
          '1,hello world,x\n'
          '2\n'                       # line 3: no text cell
          '3,more words,y,extra\n'    # line 4: one cell too many, text counted
          '\n'
          '5,"a quoted\nnewline",z\n'
          '7,"never closed words\n'   # line 8: the quote swallows the rest of the file
          '8,swallowed,row\n')


@pytest.mark.parametrize("lab", ["batch", "stream"])
def test_csv_ragged_rows_and_unclosed_quote_warn_with_file_and_line(tmp_run, tmp_path, lab):
    data = tmp_path / "csv"
    data.mkdir()
    (data / "odd.csv").write_text(RAGGED, encoding="utf-8")
    (data / "fine.csv").write_text('id,text\n1,"fine, ""quoted"" text"\n', encoding="utf-8")
    args = ["stream"] if lab == "stream" else []
    result = run_client([*args, "--config", "config.json", "--data", str(data), "--verify"], cwd=tmp_run, timeout=90)
    assert result.returncode == 0 and "verify: OK" in result.stdout, describe(result)
    odd = data / "odd.csv"
    warnings = [ln for ln in result.stdout.splitlines() if ln.startswith("warning:")]
    assert warnings == [
        f"warning: {odd}:3: row has 1 cell, the header 3: no 'text' cell, nothing counted",
        f"warning: {odd}:4: row has 4 cells, the header 3: its 'text' cell was counted",
        f"warning: {odd}:8: a quote opened here is never closed: lines 8-9 were read as one row, "
        "the rest of its cell as text",
        f"warning: {odd}:8: row has 2 cells, the header 3: its 'text' cell was counted",
    ], describe(result)
    table = read_output(tmp_run / "wordcount.tsv")
    assert_same_table(serial(data), table)
    assert table["8,swallowed,row"] == 1 and "x" not in table


def test_output_gets_the_users_umask_not_mkstemps_0600(tmp_run, corpus):
    old = os.umask(0o027)
    try:
        run_batch(tmp_run, corpus, "--output", str(tmp_run / "x.tsv"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_run / "x.tsv").stat().st_mode) == 0o640


def test_rewritten_output_keeps_its_mode(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("")
    path.chmod(0o604)
    write_table({"a": 1}, str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o604 and path.read_text() == "a\t1\n"


@pytest.mark.parametrize("output, fragment", [("/proc/x", "cannot write output '/proc/x'"),
                                              ("/dev/null", "not a regular file")])
def test_unusable_output_fails_before_the_job_starts(tmp_run, corpus, output, fragment):
    t0 = time.monotonic()
    result = run_client(["--config", "config.json", "--data", str(corpus), "--output", output], cwd=tmp_run,
                        timeout=30)
    one_error(result, fragment)
    assert time.monotonic() - t0 < 10
    assert not job_dirs(tmp_run / ".wc-run"), "no run directory, so no Redis and no worker"


def test_second_job_on_the_same_output_is_refused_naming_the_first(tmp_run, corpus, tmp_path):
    write_config(tmp_run, workers=1, crash=slow_workers(1, 60, 1))
    first = start_client(["--config", "config.json", "--data", str(corpus)], cwd=tmp_run)
    try:
        wait_until(lambda: (tmp_run / ".wordcount.tsv.lock").exists() and job_dirs(tmp_run / ".wc-run"), 30,
                   "the first job to start")
        second = run_client(["--config", "config.json", "--data", str(corpus)], cwd=tmp_run, timeout=30)
        one_error(second, "is being written by another job", f"pid {first.pid}", "--output")
        other = make_corpus(tmp_path / "other", n_files=3, words_per_file=200)
        third = run_client(["--config", "config.json", "--data", str(other), "--output", "other.tsv",
                            "--workers", "2", "--crash", "w0:after_commit"], cwd=tmp_run, timeout=60)
        assert third.returncode == 0, describe(third)  # distinct outputs: both run
        assert_same_table(serial(other), read_output(tmp_run / "other.tsv"))
    finally:
        first.send_signal(2)
        stop_client(first, timeout=15)
    assert not (tmp_run / ".wordcount.tsv.lock").exists(), "the lock file is removed when the job ends"


def test_redis_url_where_nothing_listens_says_so(tmp_run, corpus):
    port = procs.free_port()
    result = run_client(["--config", "config.json", "--data", str(corpus), "--redis-url",
                         f"redis://127.0.0.1:{port}/0"], cwd=tmp_run, timeout=30)
    line = one_error(result, f"127.0.0.1:{port}", "nothing listens there", "that the Redis server is running")
    assert "install" not in line


def test_many_ragged_rows_give_a_few_warnings_and_a_count():
    text = "id,text\n" + "1\n" * (MAX_ROW_WARNINGS + 5) + "2,counted words\n"
    result = count_bytes(text.encode(), True, TokenizerSpec(), "f.csv")
    assert result.counts == {"counted": 1, "words": 1}
    assert result.warnings("f.csv") == [
        *(f"f.csv:{line}: row has 1 cell, the header 2: no 'text' cell, nothing counted"
          for line in range(2, 2 + MAX_ROW_WARNINGS)),
        "f.csv: 5 more rows whose number of cells is not the header's 2"]
