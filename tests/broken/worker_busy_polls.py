"""DELIBERATELY BROKEN Lab 1 worker, for tests/test_grader.py: the grader must
fail it on the item 'crash_after_read'.

The bug: it never blocks on XREADGROUP. When nothing is new it asks again at
once, so while the job waits for a dead worker's entries to pass the claim
timeout, every worker (and Redis, answering it) spins at 100% CPU. The table
is exact and every item finishes; only the rubric's CPU budget catches it.
Everything else is the reference worker.py, which it imports (the client puts
the repository on PYTHONPATH for swapped parts).
"""
from __future__ import annotations

import sys

import worker


class BusyPolls(worker.Worker):
    def next_batch(self, block: int | None) -> list[worker.Item]:
        return super().next_batch(None)  # BUG: a read that never waits, asked again at once


if __name__ == "__main__":
    worker.Worker = BusyPolls
    sys.exit(worker.main())
