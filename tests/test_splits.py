"""The splitter and the chunked range reader against whole-file counting, on
crafted bytes: every cut point and chunk size must give the same table."""
from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest
from support import assert_same_table

from wordcount.inputs import InputFile
from wordcount.splits import FileChanged, Range, count_range, split_file, split_inputs
from wordcount.tokenize import TokenizerSpec, count_bytes

SPLIT = TokenizerSpec("split")
NORMALIZE = TokenizerSpec("normalize")
PIECES = ["word", "café", "日本語", "Straße", "ΣΊΣΥΦΟΣ", "Σ", "x\u00a0y", "a\u3000b", "z\u0085q", "\ufeffbom",
          "\r\n", "\n", " ", "\t", "\x0b", "\x0c", "\x1c", "\x1f", "  ", "\u2028", "don't", "C++"]


def _whole(path: Path, spec: TokenizerSpec) -> tuple[Counter, bool]:
    r = count_bytes(path.read_bytes(), path.suffix == ".csv", spec, str(path))
    return r.counts, r.replaced


def _by_ranges(path: Path, split_bytes: int, chunk_bytes: int, spec: TokenizerSpec) -> tuple[Counter, bool]:
    total: Counter = Counter()
    replaced = False
    ranges = split_file(InputFile(str(path), path.stat().st_size), split_bytes)
    assert ranges[0].start == 0 and ranges[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:]))
    for rng in ranges:
        r = count_range(rng, spec, chunk_bytes)
        total.update(r.counts)
        replaced |= r.replaced
    return total, replaced


def _check(path: Path, split_bytes: int, chunk_bytes: int, spec: TokenizerSpec = SPLIT) -> None:
    want, want_replaced = _whole(path, spec)
    got, got_replaced = _by_ranges(path, split_bytes, chunk_bytes, spec)
    if want:
        assert_same_table(want, got)
    else:
        assert not got
    assert got_replaced == want_replaced


def _random_text(rng: random.Random, n: int) -> bytes:
    out = [rng.choice(PIECES) for _ in range(n)]
    data = "".join(out).encode("utf-8")
    if rng.random() < 0.3:  # invalid and truncated UTF-8 somewhere
        i = rng.randrange(len(data) + 1)
        data = data[:i] + rng.choice([b"\xff", b"\xe6\x97", b"\xc3", b"\x80\x80 "]) + data[i:]
    return (b"\xef\xbb\xbf" if rng.random() < 0.3 else b"") + data


@pytest.mark.timeout(60)
@pytest.mark.parametrize("spec", [SPLIT, NORMALIZE], ids=["split", "normalize"])
def test_random_texts_every_split_and_chunk_size(tmp_path, spec):
    rng = random.Random(7)
    path = tmp_path / "t.txt"
    for trial in range(120):
        path.write_bytes(_random_text(rng, rng.randint(0, 300)))
        _check(path, rng.randint(1, 64), rng.randint(1, 48), spec)


@pytest.mark.timeout(30)
def test_word_straddling_every_cut(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes("alpha βeta gamma\r\ndelta 日本語語 epsilon\n".encode() * 5)
    size = path.stat().st_size
    for split in range(1, size + 2):
        for chunk in (1, 2, 3, 5, 7, 64):
            _check(path, split, chunk)


@pytest.mark.timeout(30)
def test_multibyte_and_truncated_sequence_at_a_boundary(tmp_path):
    path = tmp_path / "m.txt"
    path.write_bytes(b"\xef\xbb\xbfab \xe6\x97 \xe6\x97\xa5 c\xc3 \xc3\xa9 " * 3)
    for split in range(1, 20):
        for chunk in range(1, 12):
            _check(path, split, chunk)


@pytest.mark.timeout(30)
def test_no_whitespace_is_one_range_read_as_one_growing_chunk(tmp_path):
    path = tmp_path / "n.txt"
    path.write_bytes(("x日" * 5000).encode())
    ranges = split_file(InputFile(str(path), path.stat().st_size), 100)
    assert len(ranges) == 1
    _check(path, 100, 7)
    assert count_range(ranges[0], SPLIT, 7).counts == Counter({"x日" * 5000: 1})


@pytest.mark.timeout(30)
def test_empty_and_whitespace_only_files(tmp_path):
    for name, data in (("e.txt", b""), ("w.txt", b" \n\t\r\n" * 10)):
        path = tmp_path / name
        path.write_bytes(data)
        _check(path, 3, 2)


@pytest.mark.timeout(30)
def test_csv_with_quoted_newlines_is_never_split_and_read_in_chunks(tmp_path):
    path = tmp_path / "t.csv"
    rows = ['id,text,note\r\n'] + [f'{i},"multi\nline, ""quoted"" {i}\r\nend",n{i} skip\r\n' for i in range(200)]
    path.write_bytes(("\ufeff" + "".join(rows)).encode())
    ranges = split_file(InputFile(str(path), path.stat().st_size), 50)
    assert len(ranges) == 1
    for chunk in (1, 5, 17, 100, 1 << 20):
        got = count_range(ranges[0], SPLIT, chunk)
        assert_same_table(_whole(path, SPLIT)[0], got.counts)
    assert "skip" not in got.counts and "quoted" not in got.counts


@pytest.mark.timeout(30)
def test_many_ranges_cover_a_big_file_exactly_once(tmp_path):
    path = tmp_path / "big.txt"
    rng = random.Random(3)
    path.write_bytes(b"".join(_random_text(rng, 200) + b"\n" for _ in range(200)))
    ranges = split_file(InputFile(str(path), path.stat().st_size), 4096)
    assert len(ranges) > 5
    _check(path, 4096, 1000)


@pytest.mark.timeout(30)
def test_changed_file_fails_clearly(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"one two three " * 100)
    [whole] = split_file(InputFile(str(path), 1400), 1 << 20)
    path.write_bytes(b"one two three " * 101)
    with pytest.raises(FileChanged, match=r"c.txt changed since the job began \(size/mtime\); rerun the job"):
        count_range(whole, SPLIT, 64)
    path.write_bytes(b"one two three " * 100)
    os.utime(path, ns=(whole.stamp.mtime_ns + 10**9, whole.stamp.mtime_ns + 10**9))
    with pytest.raises(FileChanged):
        count_range(whole, SPLIT, 64)


def test_entry_fields_round_trip_and_old_entries():
    r = split_inputs([], 10)
    assert r == []
    rng = Range("/a b/c.txt", 5, 90, None)
    fields = {k: str(v) for k, v in rng.fields().items()}
    assert Range.from_fields(fields) == rng and fields["size"] == "85"
    old = Range.from_fields({"path": "/x.txt", "size": "12"})
    assert (old.start, old.end, old.stamp) == (0, 12, None)


def test_ranges_are_ordered_largest_first(tmp_path):
    small, big = tmp_path / "a.txt", tmp_path / "b.txt"
    small.write_bytes(b"a " * 10)
    big.write_bytes(b"b " * 1000)
    ranges = split_inputs([InputFile(str(small), 20), InputFile(str(big), 2000)], 700)
    assert [r.path for r in ranges] == [str(big)] * 3 + [str(small)]
    assert [r.size for r in ranges] == sorted((r.size for r in ranges), reverse=True)


def test_bulk_partition_agrees_with_partition():
    from mapper.mapper import partition, split_by_owner

    counts = {w: i + 1 for i, w in enumerate(PIECES + [f"w{i}é" for i in range(500)] + ["\ud800x"])}
    for reducers in (1, 2, 3, 7):
        parts = split_by_owner(counts, reducers)
        assert sum(map(len, parts)) == len(counts)
        assert all(partition(w, reducers) == k for k, part in enumerate(parts) for w in part)


def test_word_counts_go_in_bounded_pieces():
    from mapper.mapper import pieces

    counts = {f"w{i}": i for i in range(1000)}
    got = list(pieces(counts, 300))
    assert [len(p) for p in got] == [300, 300, 300, 100]
    assert {k: v for p in got for k, v in p.items()} == counts
    assert list(pieces({}, 300)) == [] and list(pieces({"a": 1}, 300)) == [{"a": 1}]
