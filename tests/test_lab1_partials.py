"""Lab 1's partial tables: `wc_commit` with the fifth key keeps a packed commit
as it came, folds the oldest into the hash past FOLD_BYTES, and the client's
merge of hash and partial tables (wordcount/batch/partials.py) is the sum.

Every check compares the whole table with a Counter built independently."""
from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest
import redis
from support import assert_same_table, delivered_entries

from wordcount.batch import jobstate, partials
from wordcount.batch.commits import pack
from wordcount.keys import COMMIT_FUNCTION, JobKeys

pytestmark = pytest.mark.timeout(120)

LUA = Path(__file__).resolve().parent.parent / "lua" / "wordcount.lua"


def _fold_bytes() -> int:
    """FOLD_BYTES as the library defines it (so the test follows a change of it)."""
    match = re.search(r"^local FOLD_BYTES = ([\d *]+)", LUA.read_text(encoding="utf-8"), re.M)
    assert match, "FOLD_BYTES not found in lua/wordcount.lua"
    value = 1
    for factor in match.group(1).split("*"):
        value *= int(factor)
    return value


def _random_table(rng: random.Random, words: list[str]) -> Counter:
    return Counter({w: rng.choice([1, 1, 1, 2, 3, 40, 10**12]) for w in rng.sample(words, rng.randint(0, len(words)))})


def test_merging_partial_tables_and_the_hash_is_their_sum():
    """Any mix of tables, shared words or not, with the hash the largest part or not, and a
    word twice inside one packed table (the function allows it): the merge is the sum."""
    rng = random.Random(8)
    vocabulary = [f"w{i}" for i in range(300)] + ["café", "日本", "x,y", "\"q\""]
    for _ in range(40):
        tables = [_random_table(rng, vocabulary) for _ in range(rng.randint(1, 5))]
        stored = _random_table(rng, vocabulary) if rng.random() < 0.6 else Counter()
        blobs = [pack(t).encode() for t in tables if t]
        if tables[0] and rng.random() < 0.3:
            word = next(iter(tables[0]))
            blobs.append(f"{word}\t5\n{word}\t6\n".encode())
            tables.append(Counter({word: 11}))
        flat = [x for w, n in stored.items() for x in (w.encode(), str(n).encode())]
        want = sum(tables, Counter()) + stored
        if not want:
            continue
        got = partials.merged(flat, blobs)
        assert_same_table(dict(want), dict(got.as_dict()))
        assert got.data() == "".join(f"{w}\t{n}\n" for w, n in sorted(want.items(), key=lambda p: (-p[1], p[0]))).encode()


def _commit(conn: redis.Redis, keys: JobKeys, entry_id: str, counts: list) -> list:
    key_args = [keys.files, keys.counts, keys.progress, keys.warnings, keys.partials]
    return conn.fcall(COMMIT_FUNCTION, 5, *key_args, keys.group, 1, entry_id, 10, "", *counts)


def _table(server, keys: JobKeys) -> dict[str, int]:
    stored, _ = jobstate.read_results(redis.Redis.from_url(server.url), keys)
    return dict(stored.as_dict())


def test_a_packed_commit_is_kept_whole_and_pairs_go_to_the_hash(redis_server):
    conn = redis.Redis.from_url(redis_server.url)
    keys = JobKeys("part1")
    ids = delivered_entries(conn, keys, 3)
    blob = "x\t2\ncafé\t1\n".encode()
    assert _commit(conn, keys, ids[0], [blob]) == []
    assert conn.lrange(keys.partials, 0, -1) == [blob] and not conn.exists(keys.counts)
    assert int(conn.hget(keys.progress, "partial_bytes")) == len(blob)
    assert _commit(conn, keys, ids[1], ["x", 3, "y", 1]) == []  # the course's pairs: into the hash
    assert _commit(conn, keys, ids[1], [b"x\t9\n"]) == [ids[1]]  # committed already: nothing changes
    assert _commit(conn, keys, ids[2], [b""]) == []  # no words: no empty partial table
    assert conn.llen(keys.partials) == 1
    assert _table(redis_server, keys) == {"x": 5, "café": 1, "y": 1}


def test_past_fold_bytes_the_oldest_partial_tables_are_folded_into_the_hash(redis_server):
    """Redis holds at most FOLD_BYTES of partial tables (plus the newest): each commit
    past it folds the oldest into the hash, and one table larger than that on its own
    is folded at once. The table stays exact all along."""
    fold = _fold_bytes()
    conn = redis.Redis.from_url(redis_server.url)
    keys = JobKeys("part2")
    ids = delivered_entries(conn, keys, 4)
    word_bytes = 1000  # long words keep the word count, and so the test's time, small
    per_table = fold * 2 // 5 // (word_bytes + 3)
    want: Counter = Counter()
    held: list[int] = []
    for i, entry_id in enumerate(ids[:3]):
        # each table shares half its words with the one before
        table = Counter({f"{j:0{word_bytes}d}": i + 1 for j in range(i * per_table // 2, i * per_table // 2 + per_table)})
        blob = pack(table).encode()
        assert _commit(conn, keys, entry_id, [blob]) == []
        want += table
        held.append(len(blob))
        if sum(held) > fold:
            held.pop(0)
        assert conn.llen(keys.partials) == len(held) and int(conn.hget(keys.progress, "partial_bytes")) == sum(held)
        assert_same_table(dict(want), _table(redis_server, keys))
    assert conn.exists(keys.counts) and len(held) == 2  # the third commit folded the first table
    big = Counter({f"{j:0{word_bytes}d}": 7 for j in range(fold // word_bytes + 1)})
    assert _commit(conn, keys, ids[3], [pack(big).encode()]) == []
    want += big
    assert conn.llen(keys.partials) == 0 and int(conn.hget(keys.progress, "partial_bytes")) == 0
    assert_same_table(dict(want), _table(redis_server, keys))
