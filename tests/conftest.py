"""Fixtures for both labs. Every test gets a unique WC_TEST_TAG that all the
processes it starts inherit; after the test, any tagged process still alive
(or listening on a port) is killed and the test fails, naming it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import (
    TAG_ENV,
    check_nothing_left,
    forget_roots,
    make_corpus,
    new_tag,
    register_root,
    write_config,
)

# Children die with their parent via PDEATHSIG, which the kernel delivers at
# once but which may take a moment to be reaped: allow that much, no more.
LEFTOVER_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def wc_test_tag(request, tmp_path):
    """The running test's tag; fails the test if any of its processes outlives it.

    Processes count as the test's if they carry the tag in their environment,
    run with a cwd inside tmp_path (Redis, which hides its environment), or
    descend from one of those."""
    tag = new_tag(request.node.name)
    old = os.environ.get(TAG_ENV)
    os.environ[TAG_ENV] = tag
    register_root(tmp_path, tag)
    try:
        yield tag
    finally:
        if old is None:
            os.environ.pop(TAG_ENV, None)
        else:
            os.environ[TAG_ENV] = old
    try:
        check_nothing_left(tag, LEFTOVER_GRACE_S)
    finally:
        forget_roots(tag)


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A small deterministic corpus: 12 .txt files (some nested) and 3 CSVs."""
    return make_corpus(tmp_path / "corpus", n_files=12, csv_files=3, words_per_file=1500)


@pytest.fixture
def tmp_run(tmp_path) -> Path:
    """A working directory for the client holding config.json (TEST_DEFAULTS,
    run_dir <tmp_run>/.wc-run, output <tmp_run>/wordcount.tsv). Rewrite it with
    write_config(tmp_run, batch={...}, ...) to change settings."""
    cwd = tmp_path / "run"
    write_config(cwd)
    return cwd


@pytest.fixture
def redis_server(tmp_path):
    """A private Redis for tests of an external server (its passworded .url goes to the client in
    $REDIS_URL, never argv); yields the ManagedServer."""
    import myrds

    server, conn = myrds.start_private(str(tmp_path / "redis-fixture"))
    try:
        yield server
    finally:
        conn.close()
        server.stop()
