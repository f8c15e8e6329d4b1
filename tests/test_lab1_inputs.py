"""Bad input and configuration for Lab 1. Properties:

* every bad input, setting, flag or Redis URL is one clear line naming the
  file or the setting, exit 2, no traceback, nothing left running;
* a wrong Redis password is one line that never prints the password;
* an unreadable file or subdirectory is an error, never silently skipped;
* an output path that is a directory is refused before the job runs;
* a CSV cell longer than 128 KiB is counted;
* a file name that is not valid UTF-8 is counted or refused in one line;
* empty files give an empty table (and a record of them);
* a UTF-8 BOM is not part of the first word or of the CSV header;
* a CSV with a NUL byte is counted exactly;
* Redis kills without checkpoints (bgsave_interval_s 0) are refused.
"""
from __future__ import annotations

import csv
import json
import os
import socket

import pytest
from support import (
    assert_same_table,
    describe,
    make_corpus,
    run_batch,
    run_client,
    serial,
    slow_workers,
    write_config,
)


def assert_one_line_error(result, *fragments: str, prefix: str = "error:") -> str:
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith(prefix)]
    assert len(errors) == 1, describe(result)
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_text(tmp_run, text: str) -> list[str]:
    (tmp_run / "config.json").write_text(text, encoding="utf-8")
    return []


PORT = _free_port()  # free a moment ago; nothing of ours listens there

# Each case: (id, setup(tmp_run, corpus) -> extra args, fragments of the error line).
# Fragments "{run}" / "{corpus}" are filled in with those paths.
CASES = [
    ("missing data path", lambda r, c: ["--data", str(c / "nope")], ["data path", "{corpus}/nope", "does not exist"]),
    ("empty data dir", lambda r, c: (c / "empty").mkdir() or ["--data", str(c / "empty")],
     ["no input files", "{corpus}/empty"]),
    ("no matching extension", lambda r, c: (c / "md").mkdir() or (c / "md" / "a.md").write_text("x")
     and ["--data", str(c / "md")], ["no input files", ".txt"]),
    ("workers 0 in config", lambda r, c: write_config(r, batch={"workers": 0}) and [],
     ["{run}/config.json", "'batch.workers'", ">= 1"]),
    ("workers abc in config", lambda r, c: write_config(r, batch={"workers": "abc"}) and [],
     ["{run}/config.json", "'batch.workers'", "'abc'"]),
    ("unknown key", lambda r, c: write_config(r, wokers=2) and [], ["{run}/config.json", "unknown setting 'wokers'"]),
    ("invalid json", lambda r, c: _config_text(r, '{"workers": 2,,}'), ["{run}/config.json", "not valid JSON"]),
    ("config not an object", lambda r, c: _config_text(r, "[]"), ["{run}/config.json", "JSON object"]),
    ("missing config file", lambda r, c: ["--config", str(r / "absent.json")], ["{run}/absent.json", "not found"]),
    ("workers 0 flag", lambda r, c: ["--workers", "0"], ["command line", "'batch.workers'"]),
    ("negative claim timeout flag", lambda r, c: ["--claim-timeout", "-1"], ["'batch.claim_timeout_s'"]),
    ("bad crash flag", lambda r, c: ["--crash", "w0:explode"], ["--crash", "w0:explode"]),
    ("bad crash in config", lambda r, c: write_config(r, batch={"crash": {"w0": "later"}}) and [], ["'batch.crash'", "w0"]),
    ("bad tokenizer in config", lambda r, c: write_config(r, tokenizer="words") and [], ["'tokenizer'"]),
    ("unreachable redis", lambda r, c: ["--redis-url", f"redis://127.0.0.1:{PORT}/0"],
     ["cannot reach Redis", f"127.0.0.1:{PORT}"]),
    ("bad redis url", lambda r, c: ["--redis-url", "http://127.0.0.1:1"], ["bad Redis URL"]),
    ("csv without text column", lambda r, c: (c / "books.csv").write_text("id,body\n1,hello world\n") and [],
     ["{corpus}/books.csv", "'text'"]),
    ("dangling symlink", lambda r, c: os.symlink(c / "gone.txt", c / "link.txt") or [],
     ["{corpus}/link.txt", "cannot read"]),
]


@pytest.mark.parametrize("setup, fragments", [pytest.param(s, f, id=i) for i, s, f in CASES])
def test_bad_input_is_one_clear_line(tmp_run, corpus, setup, fragments):
    extra = setup(tmp_run, corpus)  # argparse: a later --data/--config wins
    result = run_client(["--config", str(tmp_run / "config.json"), "--data", str(corpus), *extra],
                        cwd=tmp_run, timeout=60)
    assert_one_line_error(result, *(f.format(run=tmp_run, corpus=corpus) for f in fragments))
    assert result.returncode == 2


def test_wrong_redis_password_is_one_line_without_the_password(tmp_run, corpus, redis_server):
    url = redis_server.url.replace(redis_server.password, "not-the-password")
    result = run_client(["--data", str(corpus)], cwd=tmp_run, timeout=60, env={"REDIS_URL": url})
    line = assert_one_line_error(result, "rejected the password")
    assert "not-the-password" not in line  # never print the password


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_one_line_naming_it(tmp_run, corpus):
    bad = corpus / "secret.txt"
    bad.write_text("hidden words\n")
    bad.chmod(0)
    try:
        result = run_client(["--data", str(corpus)], cwd=tmp_run, timeout=60)
    finally:
        bad.chmod(0o644)
    assert_one_line_error(result, "cannot read input file", str(bad), "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_unreadable_subdirectory_is_an_error_not_silently_skipped(tmp_run, corpus):
    """Fixed bug (untestable as root): os.walk() in wordcount/inputs.py
    ignores directories it cannot list, so their files are silently left out."""
    sub = corpus / "locked"
    sub.mkdir()
    (sub / "inside.txt").write_text("lost words\n")
    sub.chmod(0)
    try:
        result = run_client(["--data", str(corpus)], cwd=tmp_run, timeout=60)
    finally:
        sub.chmod(0o755)
    assert_one_line_error(result, str(sub))


def test_output_path_that_is_a_directory_is_one_line(tmp_run, corpus):
    """Fixed bug: write_table's os.replace fails with IsADirectoryError, a
    traceback after the whole job ran. Fix: check the output path before
    starting (not a directory, parent creatable/writable) and turn OSError from
    write_table into a UserError naming the output file."""
    out = tmp_run / "out_dir"
    out.mkdir()
    result = run_client(["--data", str(corpus), "--output", str(out)], cwd=tmp_run, timeout=60)
    assert_one_line_error(result, str(out))


def test_csv_cell_longer_than_128k_is_counted(tmp_run, tmp_path):
    """Fixed bug: csv.reader's default field_size_limit (131072 chars) raises
    _csv.Error for a longer quoted cell; every worker (and every replacement)
    dies and the job fails, although the file is valid CSV. Fix: call
    csv.field_size_limit(sys.maxsize) once in wordcount/tokenize.py (and turn any
    remaining csv.Error into a UserError naming the file)."""
    data = tmp_path / "longcsv"
    data.mkdir()
    with open(data / "long.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        w.writerow(["big, cell\n" * 20_000])  # 200 KB in one quoted field
        w.writerow(["small cell"])
    write_config(tmp_run, batch={"workers": 1, "max_replacement_workers": 0})  # fail fast while the bug is there
    result, table, _ = run_batch(tmp_run, data, expect_exit=None)
    assert result.returncode == 0, describe(result)
    assert table == {"big,": 20_000, "cell": 20_001, "small": 1}


def test_file_name_not_valid_utf8_is_counted_or_one_line(tmp_run, tmp_path):
    """Fixed bug: a file whose name is not valid UTF-8 (os.walk gives a str with
    surrogates) makes client.enqueue's XADD raise UnicodeEncodeError: a
    traceback. Fix: either reject such names in find_inputs with a UserError
    naming the file, or store paths as bytes (os.fsencode) and decode with
    os.fsdecode / encoding_errors='surrogateescape' in the worker. Either passes."""
    data = make_corpus(tmp_path / "names", n_files=2, words_per_file=200)
    with open(os.path.join(os.fsencode(data), b"bad\xffname.txt"), "wb") as fh:
        fh.write(b"oddname words\n")
    result, table, _ = run_batch(tmp_run, data, expect_exit=None)
    if result.returncode == 0:
        assert_same_table(serial(data), table)
        assert table["oddname"] == 1
    else:
        assert_one_line_error(result, "bad")


def test_empty_files_only_give_an_empty_table(tmp_run, tmp_path):
    data = tmp_path / "empties"
    data.mkdir()
    (data / "a.txt").write_bytes(b"")
    (data / "b.txt").write_bytes(b" \n\t\n")
    result, table, record = run_batch(tmp_run, data)
    assert table == {} and record.files == 2
    assert (tmp_run / "wordcount.tsv").read_bytes() == b""
    assert json.loads((tmp_run / "record.json").read_text())["files"] == 2


def test_utf8_bom_is_not_part_of_the_first_word_or_header(tmp_run, tmp_path):
    """Fixed bug: files saved as "UTF-8 with BOM" (Excel, Notepad) keep U+FEFF:
    a CSV whose first column is `text` is rejected with "CSV has no 'text'
    column" (the header cell is '\\ufefftext'), and in a .txt file the BOM sticks
    to the first word ('\\ufeffhello' counted apart from 'hello'). Fix: decode
    with 'utf-8-sig' in wordcount/tokenize.decode and in inputs._check_csv_header."""
    data = tmp_path / "bom"
    data.mkdir()
    (data / "a.csv").write_bytes(b"\xef\xbb\xbftext,id\nhello world,1\n")
    (data / "b.txt").write_bytes(b"\xef\xbb\xbfhello there\n")
    result, table, _ = run_batch(tmp_run, data, expect_exit=None)
    assert result.returncode == 0, describe(result)
    assert table == {"hello": 2, "world": 1, "there": 1}


def test_csv_with_nul_byte_is_counted_exactly(tmp_run, tmp_path):
    """Python 3.10 (allowed by requires-python) raises csv.Error "line contains
    NUL" in every worker, so the job fails; 3.11+ parses it. Fix: strip or
    replace NUL before csv.reader, or turn csv.Error into a UserError naming the file."""
    data = tmp_path / "nul"
    data.mkdir()
    (data / "a.csv").write_bytes(b"text\nhel\x00lo world\nplain\n")
    write_config(tmp_run, batch={"workers": 1, "max_replacement_workers": 0})
    result, table, _ = run_batch(tmp_run, data, expect_exit=None)
    assert result.returncode == 0, describe(result)
    assert_same_table(serial(data), table)


def test_redis_kills_without_checkpoints_are_refused(tmp_run, corpus):
    """Fixed bug: with bgsave_interval_s 0 every kill rolls Redis back to the
    snapshot taken at enqueue, so a job longer than the kill period never ends
    (seen: 29 restarts in 20 s, no progress). Fix: reject kill_redis_every_s > 0
    with bgsave_interval_s == 0 in settings validation (one line naming both)."""
    write_config(tmp_run, batch={"workers": 2, "batch_files": 1, "bgsave_interval_s": 0,
                                 "crash": slow_workers(2, 0.2)})
    result = run_client(["--data", str(corpus), "--kill-redis-every", "0.5"], cwd=tmp_run, timeout=10)
    assert_one_line_error(result, "bgsave_interval_s")
