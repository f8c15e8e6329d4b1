"""DELIBERATELY BROKEN Lab 2 reducer, for tests/test_grader.py: the grader must
fail it on the item 'partition_zombie'.

The bug: it adds every word count it receives, whatever incarnation sent it
and whatever recovery id it carries. A mapper that was cut off, declared
dead and replaced is still running on its own host (a zombie); when the
partition heals, the counts it had in flight arrive -- from the superseded
incarnation, stamped with the recovery id from before its replacement -- and
this reducer adds them on top of the replacement's, which re-sent the same
files: those words are counted twice.
Everything else is the reference reducer (reducer/), which it imports.
"""
from __future__ import annotations

import sys

import message as m
from reducer import reducer
from wordcount.stream import auth


class AcceptsZombies(reducer.Reducer):
    def _admit_mapper(self, env: auth.Envelope) -> None:
        pass  # BUG: should refuse a mapper incarnation older than the coordinator's view

    def on_word_counts(self, msg: m.WordCounts) -> None:
        for word, n in msg.counts.items():  # BUG: no check of msg.recovery_id
            self.counts[word] = self.counts.get(word, 0) + n


if __name__ == "__main__":
    reducer.Reducer = AcceptsZombies  # reducer.main() runs whatever reducer.Reducer names
    sys.exit(reducer.main())
