"""DELIBERATELY BROKEN Lab 1 worker, for tests/test_grader.py: the grader must
fail it on the item 'redis_restart'.

The bug: the first time Redis does not answer (it was killed and is
restarting) the worker gives up and exits 1 instead of reconnecting and
retrying. The client's replacement workers still finish the job, so the table
is exact; the exit statuses are not, and the rubric checks them
(check.unexplained_exits). Everything else is the reference worker.py.
"""
from __future__ import annotations

import logging
import sys

import worker

log = logging.getLogger("worker")


class GivesUp(worker.Worker):
    def run(self) -> int:
        while True:
            try:
                if not self.step():
                    return 0
            except worker.RETRYABLE as exc:
                log.error("Redis is gone (%s); giving up", exc)  # BUG: should reconnect and retry
                return 1


if __name__ == "__main__":
    worker.Worker = GivesUp
    sys.exit(worker.main())
