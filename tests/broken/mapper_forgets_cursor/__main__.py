"""DELIBERATELY BROKEN Lab 2 mapper, for tests/test_grader.py: the grader must
fail it on the item 'mapper_killed_once'.

The bug: its checkpoints never record where it is. Every checkpoint file holds
the starting cursor and position, so after any recovery to a checkpoint the
mapper re-reads its stream from the first entry and re-sends files whose
counts are already in the reducers' restored state: those words are counted
twice. Without a failure nothing reads the cursor back, so the job is exact.
Everything else is the reference mapper (mapper/), which it imports: a swapped
part runs with the repository on PYTHONPATH.
"""
from __future__ import annotations

import sys

from mapper import mapper


class ForgetsCursor(mapper.Mapper):
    def save_checkpoint(self, checkpoint_id: int, final: bool, completed_id: int, state: dict) -> None:
        # BUG: should persist state["cursor"] and state["position"] as they are now
        super().save_checkpoint(checkpoint_id, final, completed_id, {**state, "cursor": mapper.START, "position": 0})


if __name__ == "__main__":
    mapper.Mapper = ForgetsCursor  # mapper.main() runs whatever mapper.Mapper names
    sys.exit(mapper.main())
