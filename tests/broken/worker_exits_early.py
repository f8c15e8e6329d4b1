"""DELIBERATELY BROKEN Lab 1 worker, for tests/test_grader.py: the grader must
fail it on the item 'crash_after_read'.

The bug: it exits as soon as XREADGROUP returns nothing, without checking that
every entry was delivered *and acknowledged*, and it never steals. When another
worker dies holding entries, nobody is left to count them: every replacement
generation the client starts exits the same way, and the job fails.
Everything else is the reference worker.py, which it imports (the client puts
the repository on PYTHONPATH for swapped parts).
"""
from __future__ import annotations

import sys

import worker


class ExitsEarly(worker.Worker):
    def steal(self, count: int) -> list[worker.Item]:
        return []  # BUG: entries of a dead worker are never claimed

    def job_done(self) -> bool:
        return True  # BUG: should wait until no entry is undelivered or pending


if __name__ == "__main__":
    worker.Worker = ExitsEarly  # worker.main() builds whatever worker.Worker names
    sys.exit(worker.main())
