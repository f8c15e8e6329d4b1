"""Big inputs with real processes: files split into many ranges count exactly
like the serial count in both labs, a changed input stops the job with one
clear line, a live worker is never robbed (a stalled one is), and a Lab 2
mapper counting a big file keeps its heartbeats flowing."""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from support import (
    assert_same_table,
    describe,
    make_corpus,
    read_output,
    read_record,
    run_batch,
    run_client,
    serial,
    slow_workers,
    start_client,
    stop_client,
    wait_until,
    write_config,
)

STREAM_TEST = {"heartbeat_interval_s": 0.1, "heartbeat_timeout_s": 1.5, "resend_timeout_s": 0.3,
               "checkpoint_interval_s": 0.25}
# A tokenizer part that is `split` but takes 20 ms a chunk, so a small range
# takes longer to count than the claim timeout, without using the CPU.
SLOW_TOKENIZER = "import time\n\n\ndef words(text):\n    time.sleep(0.02)\n    return text.split()\n"


def tricky_corpus(root: Path) -> Path:
    """Small files plus the cases a cut could get wrong, each several splits long."""
    data = make_corpus(root, n_files=6, seed=11, words_per_file=800, csv_files=2)
    rng = random.Random(5)
    words = ["alpha", "日本語", "Straße", "ΣΊΣΥΦΟΣ", "x\u00a0y", "naïve", "C++", "don't"]
    seps = [" ", "\r\n", "\n", "\t", "  ", "\x0c"]
    text = "".join(rng.choice(words) + rng.choice(seps) for _ in range(6000))
    (data / "crlf-utf8.txt").write_bytes(b"\xef\xbb\xbf" + text.encode() + b"\xe6\x97 tail\xc3")
    (data / "nowhitespace.txt").write_bytes(("日本" * 3000).encode())
    rows = "".join(f'{i},"multi\nline ""q"" {rng.choice(words)}\r\nend {i}",skip{i}\r\n' for i in range(400))
    (data / "quoted.csv").write_text("id,text,note\r\n" + rows, encoding="utf-8", newline="")
    return data


def entries_enqueued(run_dir: Path) -> int:
    [trace] = run_dir.glob("*/trace.jsonl")
    return next(json.loads(ln)["files"] for ln in trace.read_text().splitlines() if '"enqueued"' in ln)


@pytest.mark.timeout(120)
def test_lab1_many_ranges_exact(tmp_run, tmp_path):
    data = tricky_corpus(tmp_path / "tricky")
    write_config(tmp_run, split_bytes=3000, chunk_bytes=700, batch={"workers": 2, "batch_bytes": 20_000})
    result, table, record = run_batch(tmp_run, data, timeout=100)
    assert_same_table(serial(data), table)
    assert entries_enqueued(tmp_run / ".wc-run") > 30 > record.files, record
    assert record.stolen_live == 0, record


@pytest.mark.stream
@pytest.mark.timeout(120)
def test_lab2_many_ranges_spread_over_mappers_exact(tmp_run, tmp_path):
    data = tricky_corpus(tmp_path / "tricky")
    write_config(tmp_run, split_bytes=3000, chunk_bytes=700, stream=STREAM_TEST)
    result = run_client(["stream", "--data", data, "--record", tmp_run / "rec.json"], cwd=tmp_run, timeout=100)
    assert result.returncode == 0, describe(result)
    assert_same_table(serial(data), read_output(tmp_run / "wordcount.tsv"))
    record = read_record(tmp_run / "rec.json")
    assert record.recoveries == [], record
    logs = {p.name: p.read_text() for p in Path(record.run_path, "logs").glob("mapper-*.log")}
    assert len(logs) == 2 and all("stream exhausted after" in t for t in logs.values()), logs


def _grow_later(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(b" appended words")


@pytest.mark.timeout(90)
def test_lab1_file_changed_during_the_job_is_one_clear_error(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "ch", n_files=1, seed=2, words_per_file=20_000)
    target = next(data.rglob("*.txt"))
    # one worker, stalling before each commit: the later ranges are surely read after the change
    write_config(tmp_run, split_bytes=20_000, batch={"workers": 1, "batch_bytes": 1, "crash": {"w0": "before_commit=slow:0.3"}})
    proc = start_client(["--config", "config.json", "--data", str(data)], cwd=tmp_run)
    wait_until(lambda: list((tmp_run / ".wc-run").glob("*/logs/w0.log")) and "committed" in
               next((tmp_run / ".wc-run").glob("*/logs/w0.log")).read_text(), 60, "a first commit")
    _grow_later(target)
    out, err = stop_client(proc, timeout=60)
    assert proc.returncode == 3, f"{out}\n{err}"
    assert f"job failed: {target} changed since the job began (size/mtime); rerun the job" in err, err
    assert "replacements" not in err and "Traceback" not in err


@pytest.mark.stream
@pytest.mark.timeout(90)
def test_lab2_file_changed_during_the_job_is_one_clear_error(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "ch", n_files=1, seed=2, words_per_file=20_000)
    target = next(data.rglob("*.txt"))
    write_config(tmp_run, split_bytes=10_000, stream=STREAM_TEST)
    proc = start_client(["stream", "--config", "config.json", "--data", str(data), "--throttle", "1"], cwd=tmp_run)
    wait_until(lambda: any("started" in p.read_text() for p in (tmp_run / ".wc-run").glob("*/logs/mapper-0.0.log")),
               60, "mapper-0 to start")
    _grow_later(target)
    out, err = stop_client(proc, timeout=60)
    assert proc.returncode == 2, f"{out}\n{err}"
    assert f"error: {target} changed since the job began (size/mtime); rerun the job" in err, err
    assert "failed 9 times" not in err


def _slow_tokenizer(tmp_path: Path) -> str:
    path = tmp_path / "slowtok.py"
    path.write_text(SLOW_TOKENIZER, encoding="utf-8")
    return str(path)


@pytest.mark.timeout(90)
def test_live_worker_counting_a_long_range_is_never_robbed(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "live", n_files=1, seed=4, words_per_file=12_000)
    # ~80 chunks of 1 KB at 20 ms each: about 1.6 s, three times the claim timeout
    write_config(tmp_run, chunk_bytes=1024, parts={"tokenizer": _slow_tokenizer(tmp_path)},
                 batch={"workers": 2, "claim_timeout_s": 0.5, "block_ms": 50})
    t0 = time.monotonic()
    result, table, record = run_batch(tmp_run, data, timeout=80)
    assert time.monotonic() - t0 > 1.0  # the range really took longer than the claim timeout
    assert_same_table(serial(data), table)
    assert record.stolen == 0 and record.stolen_live == 0, record
    assert '"steal"' not in next((tmp_run / ".wc-run").glob("*/trace.jsonl")).read_text()


@pytest.mark.timeout(90)
def test_stalled_worker_is_still_robbed(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "stall", n_files=1, seed=4, words_per_file=6_000)
    write_config(tmp_run, chunk_bytes=1024, parts={"tokenizer": _slow_tokenizer(tmp_path)},
                 batch={"workers": 2, "claim_timeout_s": 0.5, "block_ms": 50, "crash": slow_workers(2, 1.5)})
    result, table, record = run_batch(tmp_run, data, timeout=80)
    assert_same_table(serial(data), table)
    assert record.stolen >= 1 and record.stolen_live == 0, record


@pytest.mark.stream
@pytest.mark.timeout(150)
def test_lab2_mapper_counting_a_big_file_is_never_declared_dead(tmp_run, tmp_path):
    """Counted whole, this file holds the GIL far longer than the heartbeat timeout."""
    data = tmp_path / "big"
    data.mkdir()
    rng = random.Random(9)
    vocab = [f"w{i}é" for i in range(200_000)]
    line = " ".join(rng.choice(vocab) for _ in range(50_000)).encode() + b"\n"
    (data / "big.txt").write_bytes(line * 80)  # ~40 MB, one range
    write_config(tmp_run, split_bytes=1 << 30, chunk_bytes=1 << 18,
                 stream={**STREAM_TEST, "heartbeat_interval_s": 0.05, "heartbeat_timeout_s": 0.4})
    result = run_client(["stream", "--data", data, "--mappers", "1", "--reducers", "1",
                         "--record", tmp_run / "rec.json"], cwd=tmp_run, timeout=140)
    assert result.returncode == 0, describe(result)
    assert read_record(tmp_run / "rec.json").recoveries == []
    assert_same_table(serial(data), read_output(tmp_run / "wordcount.tsv"))
