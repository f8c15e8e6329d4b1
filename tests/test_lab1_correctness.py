"""Lab 1 without failures. Properties (each run's complete table equals the serial count):

* one worker, and many workers committing one file at a time, count exactly,
  with no steals and no replacements;
* CSV files count only the text column, quoted commas and newlines included;
* awkward files count exactly: empty, blank, invalid UTF-8 (U+FFFD and one
  warning), CRLF, non-ASCII names, upper-case extensions, non-inputs ignored,
  a file over 5 MB;
* --tokenizer normalize counts lower-cased words exactly;
* the output is UTF-8 word<TAB>count lines sorted by count then word;
* --verify says OK and the summary's totals and top words are right;
* a glob --data counts exactly the matching files.
"""
from __future__ import annotations

import csv
import re
from collections import Counter

from support import (
    assert_same_table,
    make_corpus,
    run_batch,
    serial,
    worker_log,
    write_config,
)

from wordcount.table import sorted_items


def test_one_worker_counts_exactly(tmp_run, corpus):
    write_config(tmp_run, batch={"workers": 1})
    result, table, record = run_batch(tmp_run, corpus)
    assert_same_table(serial(corpus), table)
    assert record.workers == 1 and record.files == 15
    assert "committed" in worker_log(tmp_run, "w0")


def test_six_workers_one_file_per_commit_count_exactly_without_steals(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "many", n_files=30, csv_files=2, words_per_file=800, seed=3)
    write_config(tmp_run, batch={"workers": 6, "batch_files": 1})
    result, table, record = run_batch(tmp_run, data)
    assert_same_table(serial(data), table)
    assert record.files == 32 and record.workers == 6
    assert record.stolen == 0 and record.replacements == 0


def test_csv_counts_only_text_column_with_quoted_newlines(tmp_run, tmp_path):
    data = tmp_path / "csvdata"
    data.mkdir()
    cells = ["plain words here", "with, commas, inside", "multi\nline\ncell words",
             'a "quoted" word', "", "  spaced   out  ", "naïve café 日本語"]
    expected: Counter = Counter()
    for i in range(3):
        with open(data / f"t{i}.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_ALL if i == 1 else csv.QUOTE_MINIMAL)
            w.writerow(["id", "text", "note"])
            for j, cell in enumerate(cells):
                w.writerow([j, f"{cell} row{j}", "NOTEWORD, never\ncounted"])
                expected.update(f"{cell} row{j}".split())
    (data / "header_only.csv").write_text("id,text\n", encoding="utf-8")
    (data / "empty.csv").write_bytes(b"")
    result, table, record = run_batch(tmp_run, data)
    assert_same_table(expected, table)
    assert_same_table(serial(data), table)
    assert "NOTEWORD," not in table and "text" not in table and "id" not in table


def test_awkward_files_count_exactly(tmp_run, tmp_path):
    data = make_corpus(tmp_path / "awkward", n_files=3, words_per_file=500, seed=5)
    (data / "empty.txt").write_bytes(b"")
    (data / "blank.txt").write_bytes(b"  \n\t\r\n \n\x0b\x0c")
    bad = data / "latin1.txt"
    bad.write_bytes("café déjà ok\n".encode("latin-1") + b"ok \xff\xfe end")
    (data / "crlf.txt").write_bytes(b"one two\r\nthree one\r\n\r\nlast")
    (data / "résumé 日本 ß.txt").write_text("nameword nameword\n", encoding="utf-8")
    (data / "UPPER.TXT").write_text("upperext\n", encoding="utf-8")
    (data / "notes.md").write_text("MDWORD is not an input\n", encoding="utf-8")
    n_long = 800_000
    (data / "long.txt").write_text(" ".join(f"longword w{i % 97}" for i in range(n_long // 2)), encoding="utf-8")
    assert (data / "long.txt").stat().st_size > 5_000_000

    result, table, record = run_batch(tmp_run, data)
    assert_same_table(serial(data), table)
    assert table["longword"] == n_long // 2
    assert table["nameword"] == 2 and table["upperext"] == 1 and table["one"] == 2
    assert "MDWORD" not in table
    assert not any("\r" in w or w == "" for w in table)
    assert table["caf\ufffd"] == 1 and table["\ufffd\ufffd"] == 1
    warnings = [ln for ln in result.stdout.splitlines() if ln.startswith("warning:")]
    assert warnings == [f"warning: {bad} is not valid UTF-8; bad bytes were counted as U+FFFD"], result.stdout


def test_normalize_tokenizer_counts_lower_cased_words_exactly(tmp_run, corpus):
    expected = serial(corpus, tokenizer="normalize")
    assert expected != serial(corpus, tokenizer="split")  # so a run ignoring the flag fails
    result, table, record = run_batch(tmp_run, corpus, "--tokenizer", "normalize")
    assert_same_table(expected, table)
    assert all(w == w.lower() for w in table)


def test_output_is_utf8_word_tab_count_sorted_by_count_then_word(tmp_run, corpus):
    out = tmp_run / "sub dir" / "table.tsv"
    result, table, record = run_batch(tmp_run, corpus, "--output", str(out))
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\n")
    text = raw.decode("utf-8")  # strict: must be valid UTF-8
    lines = text.split("\n")[:-1]
    pairs = []
    for line in lines:
        assert re.fullmatch(r"[^\t\n\r]+\t[1-9][0-9]*", line), repr(line)
        word, count = line.split("\t")
        pairs.append((word, int(count)))
    assert pairs == sorted_items(dict(pairs)), "not sorted by count desc, then word by code point"
    assert_same_table(serial(corpus), dict(pairs))
    assert any(ord(c) > 127 for w, _ in pairs for c in w)
    assert f"full table: {out}" in result.stdout


def test_verify_exits_zero_and_summary_matches(tmp_run, corpus):
    expected = serial(corpus)
    result, table, record = run_batch(tmp_run, corpus, "--verify")
    assert "verify: OK" in result.stdout, result.stdout
    assert (f"counted {sum(expected.values())} words ({len(expected)} distinct) in 15 files"
            in result.stdout), result.stdout
    top = sorted_items(expected)[:5]
    printed = re.findall(r"^\s+(\d+)\s+(\S+)$", result.stdout, re.M)
    assert [(w, int(c)) for c, w in printed] == top
    assert_same_table(expected, table)


def test_glob_data_path_counts_only_the_matching_files(tmp_run, corpus):
    pattern = str(corpus / "*.txt")
    expected = serial(pattern)
    assert 0 < sum(expected.values()) < sum(serial(corpus).values())
    result, table, record = run_batch(tmp_run, pattern)
    assert_same_table(expected, table)
