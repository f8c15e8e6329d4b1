"""Unit tests of the shared pieces. Properties:

* the split tokenizer keeps case and punctuation and splits on all
  whitespace; normalize lower-cases and keeps letter/digit runs; CRLF counts
  like LF; invalid UTF-8 is replaced and reported;
* CSV counts only the text column (quoted newlines and commas too); a CSV
  without it names the file; an empty CSV has no words; an unknown tokenizer
  is a user error;
* bad config values name the file and the setting; invalid JSON names the
  line; a missing config file is named; flags override config values;
* the table is sorted by count then word, written as exact bytes, replaced
  atomically, and a diff names the first differing words with both counts;
* crash specs parse, and bad ones are rejected;
* the test support itself: table comparison fails on a difference and on an
  empty expectation; corpora are deterministic, nested and have awkward CSV;
  leftover processes are found, killed and reported;
* WC_PARTS swaps parts for every run, and its mistakes are one-line errors.
"""
from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
from collections import Counter

import pytest
from support import (
    TAG_ENV,
    assert_same_table,
    check_nothing_left,
    current_tag,
    make_corpus,
    serial,
    tagged_processes,
    write_config,
)

from wordcount.batch.commits import pack
from wordcount.config import Settings, apply_overrides, load_settings
from wordcount.errors import UserError
from wordcount.faults.flags import parse_batch_crashes
from wordcount.table import (
    Ordered,
    StoredOrdered,
    diff_report,
    differences,
    read_table,
    sorted_items,
    write_table,
)
from wordcount.tokenize import (
    TokenizerSpec,
    count_bytes,
    csv_texts,
    decode,
    normalized_words,
    split_words,
)

SPLIT = TokenizerSpec("split", "text")


# -- tokenizer ---------------------------------------------------------------------
def test_split_keeps_case_and_punctuation_and_splits_on_all_whitespace():
    text = "Hello, hello  world.\tC++\r\nnaïve\u00a0café\u2003x\r\n\n  end"
    assert split_words(text) == ["Hello,", "hello", "world.", "C++", "naïve", "café", "x", "end"]


def test_normalize_lowercases_and_keeps_only_letter_digit_runs():
    text = "Hello, HELLO_world! Café's 42nd naïve—Straße x²"
    assert normalized_words(text) == ["hello", "hello", "world", "café", "s", "42nd", "naïve", "straße", "x²"]


def test_crlf_text_counts_like_lf():
    lf = count_bytes("a b\nc a\n".encode(), False, SPLIT).counts
    crlf = count_bytes("a b\r\nc a\r\n".encode(), False, SPLIT).counts
    assert lf == crlf == Counter({"a": 2, "b": 1, "c": 1})


def test_invalid_utf8_is_replaced_and_reported():
    text, replaced = decode(b"ok \xff\xfe bad\xc3")
    assert replaced and text == "ok \ufffd\ufffd bad\ufffd"
    result = count_bytes(b"ok \xff\xfe bad\xc3", False, SPLIT)
    assert result.replaced
    assert result.counts == Counter({"ok": 1, "\ufffd\ufffd": 1, "bad\ufffd": 1})
    assert not count_bytes("ok café".encode(), False, SPLIT).replaced


def test_csv_counts_only_the_text_column_with_quoted_newlines_and_commas():
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "text", "note"])
    w.writerow(["1", "alpha, beta\ngamma \"q\"", "NOTE1 ignored"])
    w.writerow(["2", "alpha", "NOTE2"])
    w.writerow(["3"])  # short row: no text cell
    result = count_bytes(buf.getvalue().encode(), True, SPLIT, "x.csv")
    assert result.counts == Counter({"alpha,": 1, "beta": 1, "gamma": 1, '"q"': 1, "alpha": 1})
    assert "text" not in result.counts and "id" not in result.counts


def test_csv_without_text_column_names_the_file():
    with pytest.raises(UserError, match=r"books\.csv.*'text'"):
        list(csv_texts("id,body\n1,hello\n", "text", "books.csv"))


def test_empty_csv_has_no_words():
    assert count_bytes(b"", True, SPLIT).counts == Counter()


def test_unknown_tokenizer_is_a_user_error():
    with pytest.raises(UserError, match="tokenizer"):
        TokenizerSpec("bogus").words_fn()


# -- config --------------------------------------------------------------------------
@pytest.mark.parametrize("content, fragment", [
    ({"batch": {"workers": 0}}, "'batch.workers' must be an integer >= 1"),
    ({"batch": {"workers": "abc"}}, "'batch.workers' must be a int"),
    ({"batch": {"workers": True}}, "'batch.workers'"),
    ({"batch": {"workers": 2.5}}, "'batch.workers'"),
    ({"batch": {"claim_timeout_s": 0}}, "'batch.claim_timeout_s' must be a number > 0"),
    ({"batch": {"bgsave_interval_s": -1}}, "'batch.bgsave_interval_s'"),
    ({"batch": {"max_replacement_workers": -1}}, "'batch.max_replacement_workers' must be an integer >= 0"),
    ({"stream": {"max_restarts_per_worker": 1.5}}, "'stream.max_restarts_per_worker' must be a int"),
    ({"tokenizer": "words"}, "'tokenizer' must be one of"),
    ({"log_level": "LOUD"}, "'log_level'"),
    ({"wokers": 3}, "unknown setting 'wokers'"),
    ({"extensions": []}, "'extensions'"),
    ({"extensions": ["txt"]}, "'extensions'"),
    ({"batch": {"crash": {"w0": "explode"}}}, "'batch.crash'"),
    ({"batch": {"wokers": 2}}, "unknown setting 'batch.wokers'"),
    ({"batch": {"max_replacements": 2}}, "unknown setting 'batch.max_replacements' (renamed: use "),
    ({"stream": {"mapers": 2}}, "unknown setting 'stream.mapers'"),
    ({"stream": 3}, "'stream' must be an object"),
    ({"batch": []}, "'batch' must be an object"),
    ([1, 2], "must hold a JSON object"),
])
def test_bad_config_values_are_rejected_naming_file_and_setting(tmp_path, content, fragment):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(content))
    with pytest.raises(UserError) as info:
        load_settings(str(path))
    message = str(info.value)
    assert fragment in message and str(path) in message, message


def test_invalid_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text('{\n  "workers": 2,\n}\n')
    with pytest.raises(UserError, match=r"cfg\.json: not valid JSON .* line 3"):
        load_settings(str(path))


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.json"):
        load_settings(str(tmp_path / "nope.json"))


def test_config_values_and_flag_overrides(tmp_path):
    path = write_config(tmp_path, defaults=False, batch={"workers": 2, "claim_timeout_s": 2}, _comment="ignored")
    settings = load_settings(str(path), {"batch.workers": 5, "stream.mappers": 3, "tokenizer": None})
    assert settings.batch.workers == 5  # the flag wins
    assert settings.batch.claim_timeout_s == 2.0 and isinstance(settings.batch.claim_timeout_s, float)
    assert settings.stream.mappers == 3
    assert settings.tokenizer == Settings().tokenizer  # None = not given
    with pytest.raises(UserError, match="command line: setting 'batch.workers'"):
        apply_overrides(settings, {"batch.workers": 0})


# -- table format, ordering, diffs ---------------------------------------------------
def test_sorted_items_count_desc_then_word_by_code_point():
    table = {"b": 2, "a": 2, "B": 2, "é": 2, "z": 5, "Z": 1, "ä": 1}
    assert sorted_items(table) == [("z", 5), ("B", 2), ("a", 2), ("b", 2), ("é", 2), ("Z", 1), ("ä", 1)]


def test_top_words_are_the_head_of_the_full_order():
    """The summary's top words are the head of the table's own order: same ties broken the same way."""
    table = {"b": 2, "a": 2, "B": 2, "é": 2, "z": 5, "Z": 1, "ä": 1}
    for n in range(len(table) + 2):
        assert Ordered(table).top(n) == sorted_items(table)[:n], n


def test_write_table_exact_bytes_and_round_trip(tmp_path):
    table = {"café": 3, "the": 10, "日本語": 3, "\ufffd": 1, "a,b": 3}
    out = tmp_path / "sub" / "out.tsv"
    write_table(table, str(out))
    expected = "the\t10\na,b\t3\ncafé\t3\n日本語\t3\n\ufffd\t1\n".encode("utf-8")
    assert out.read_bytes() == expected
    assert read_table(str(out)) == table
    assert [p.name for p in out.parent.iterdir()] == ["out.tsv"]  # no temp file left


def test_ordered_text_is_the_one_line_per_word_format_on_random_tables():
    """The grouped join (one separator per count) writes exactly what one format per word would."""
    rng = random.Random(5)
    for _ in range(20):
        table = {"".join(rng.choice("aäb日c,\t") for _ in range(rng.randint(1, 4))): rng.choice([1, 1, 2, 3, 17])
                 for _ in range(rng.randint(0, 60))}
        table = {w: n for w, n in table.items() if "\t" not in w}
        lines = [f"{w}\t{n}\n" for w, n in sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))]
        assert Ordered(table).text() == "".join(lines)


def test_stored_table_orders_and_writes_its_bytes_like_the_text_table():
    """A table read back from Redis as bytes (HGETALL's pairs) is ordered, written,
    summed and compared exactly like the same table as text, without decoding it first;
    a count stored as "07" joins the 7s (and the file says 7)."""
    rng = random.Random(6)
    for _ in range(20):
        table = {"".join(rng.choice("aäb日c,😀") for _ in range(rng.randint(1, 4))):
                 rng.choice([1, 1, 2, 3, 17, 120]) for _ in range(rng.randint(0, 60))}
        pairs = [(w.encode(), str(n).encode()) for w, n in table.items()]
        stored, text = StoredOrdered(pairs), Ordered(table)
        assert stored.data() == text.data()
        assert (stored.total, stored.distinct) == (text.total, text.distinct) == (sum(table.values()), len(table))
        assert stored.top(7) == text.top(7)
        assert stored.as_dict() == table
    merged = StoredOrdered([(b"b", b"7"), (b"a", b"07"), (b"c", 8)])
    assert merged.data() == b"c\t8\na\t7\nb\t7\n"


def test_packed_commit_counts_hold_every_word_once():
    """The worker's packed counts (grouped by count, order free): every word once, with its count."""
    counts = Counter({"the": 3, "café": 1, "a,b": 1, "x": 2, "日本": 3})
    lines = pack(counts).split("\n")
    assert lines[-1] == "" and sorted(lines[:-1]) == sorted(f"{w}\t{n}" for w, n in counts.items())
    assert pack(Counter()) == ""


def test_write_table_replaces_existing_file_atomically(tmp_path):
    out = tmp_path / "out.tsv"
    out.write_text("old\t1\n")
    write_table({"new": 2}, str(out))
    assert out.read_text() == "new\t2\n"


def test_diff_report_names_first_differing_words_with_both_counts():
    expected = {"a": 5, "b": 3, "c": 1}
    assert diff_report(expected, dict(expected)) == ""
    report = diff_report(expected, {"a": 5, "b": 4, "d": 2})
    assert report.splitlines()[0].startswith("3 of 4 words differ (expected total 9, got 11)")
    assert "'b': expected 3, got 4" in report
    assert "'c': expected 1, got 0" in report
    assert "'d': expected 0, got 2" in report
    assert len(differences({str(i): i + 1 for i in range(50)}, {}, limit=10)) == 10


# -- crash specs -------------------------------------------------------------------
@pytest.mark.parametrize("spec, parsed", [
    ("w0:after_read", ("w0", "after_read")),
    ("w1.2:after_commit", ("w1.2", "after_commit")),
    ("w0:slow", ("w0", "slow")),
    ("w0:slow=0.5", ("w0", "slow=0.5")),
])
def test_crash_spec_parses(spec, parsed):
    assert parse_batch_crashes([spec]) == dict([parsed])


@pytest.mark.parametrize("spec", ["w0", "w0:", ":after_read", "w0:explode", "w0:slow=abc"])
def test_bad_crash_spec_is_rejected(spec):
    with pytest.raises(UserError, match="--crash"):
        parse_batch_crashes([spec])


# -- the test support itself ---------------------------------------------------------
def test_assert_same_table_fails_on_difference_and_on_empty_expectation():
    assert_same_table({"a": 1}, {"a": 1})
    with pytest.raises(pytest.fail.Exception, match="'a': expected 1, got 2"):
        assert_same_table({"a": 1}, {"a": 2})
    with pytest.raises(pytest.fail.Exception, match="empty"):
        assert_same_table({}, {})


def test_make_corpus_is_deterministic_nested_and_has_awkward_csv(tmp_path):
    """The `corpus` fixture's parameters: what most end-to-end tests count."""
    a = make_corpus(tmp_path / "a", n_files=12, csv_files=3, words_per_file=1500)
    b = make_corpus(tmp_path / "b", n_files=12, csv_files=3, words_per_file=1500)
    c = make_corpus(tmp_path / "c", n_files=12, csv_files=3, words_per_file=1500, seed=8)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.suffix in (".txt", ".csv"))
    assert len(files_a) == 15 and sum(f.suffix == ".csv" for f in files_a) == 3
    assert any(len(f.parts) > 1 for f in files_a)  # some inputs are nested
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.suffix in (".txt", ".csv"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    assert serial(a) == serial(b) != serial(c)
    rows = [r for f in files_a if f.suffix == ".csv"
            for r in csv.DictReader(io.StringIO((a / f).read_text(encoding="utf-8"), newline=""))]
    cells = [r["text"] for r in rows]
    assert any("\n" in x for x in cells) and any("," in x for x in cells) and any('"' in x for x in cells)
    counts = serial(a)
    assert any(ord(ch) > 127 for w in counts for ch in w)
    assert serial(a, tokenizer="normalize") != counts  # case and punctuation variants exist
    # the other CSV columns (user5, 2024-01-01T00:00:00Z, en...) never count
    assert not any(w.startswith(("user", "2024-")) or w in ("en", "und") for w in counts)
    assert {r["user"] for r in rows} and all(r["user"].startswith("user") for r in rows)


def test_leftover_processes_are_found_killed_and_reported(tmp_path):
    """What the autouse fixture relies on: a process is the test's if it carries
    the tag, or runs inside the test's tmp dir (Redis hides its environment)."""
    other = tmp_path.parent  # a cwd outside this test's tmp dir
    env_tagged = subprocess.Popen(["sleep", "30"], env={**os.environ, TAG_ENV: current_tag()}, cwd=other)
    cwd_only = subprocess.Popen(["sleep", "31"], env={k: v for k, v in os.environ.items() if k != TAG_ENV},
                                cwd=tmp_path)
    try:
        assert {p.pid for p in tagged_processes()} == {env_tagged.pid, cwd_only.pid}
        with pytest.raises(pytest.fail.Exception, match=r"(?s)2 process\(es\).*sleep 30.*sleep 31"):
            check_nothing_left(current_tag(), grace=0.2)
        assert not tagged_processes()  # killed (and reaped) by the check
    finally:
        env_tagged.kill()
        cwd_only.kill()
        env_tagged.wait()
        cwd_only.wait()


# -- swappable parts from the environment ---------------------------------------------
def test_wc_parts_env_swaps_parts_for_every_run(monkeypatch, tmp_path):
    from wordcount.config import load_settings

    student = tmp_path / "worker.py"
    student.write_text("# a student's worker\n")
    monkeypatch.setenv("WC_PARTS", f"worker={student}")
    assert load_settings(None).parts["worker"] == str(student)
    other = tmp_path / "other.py"
    other.write_text("")
    assert load_settings(None, {"parts": {"worker": str(other)}}).parts["worker"] == str(other)


@pytest.mark.parametrize("spec", ["worker", "nosuchpart=/tmp", "worker=/no/such/file.py"])
def test_wc_parts_env_mistakes_are_one_line_errors(monkeypatch, spec):
    from wordcount.config import load_settings
    from wordcount.errors import UserError

    monkeypatch.setenv("WC_PARTS", spec)
    with pytest.raises(UserError, match="WC_PARTS"):
        load_settings(None)
