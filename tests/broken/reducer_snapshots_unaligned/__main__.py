"""DELIBERATELY BROKEN Lab 2 reducer, for tests/test_grader.py: the grader must
fail it on the item 'idle_mapper_alignment'.

The bug: it does not align. On the FIRST marker of a checkpoint it snapshots
its counts and acks, and it never blocks a channel, so it keeps reading the
others. A mapper whose marker comes later may still send counts of files that
its own checkpoint covers (it was counting one when the checkpoint arrived);
they land after the snapshot, so a recovery to that checkpoint loses them: the
mapper resumes after its saved cursor and never sends them again. When every
mapper is equally idle (--throttle) or equally busy, the markers often come
almost together and the bug hides; a mapper with nothing to count forwards
its marker at once, while the other is still counting a large file, and
exposes it every time.
Everything else is the reference reducer (reducer/), which it imports.
"""
from __future__ import annotations

import sys

from reducer import reducer


class SnapshotsUnaligned(reducer.Reducer):
    def on_marker(self, marker: reducer.Marker) -> None:
        marker.gate.set()  # BUG: the channel reads on past the marker
        msg = marker.msg
        if self.is_current(msg.recovery_id) and msg.checkpoint_id > self.last_cp_id:
            self.snapshot(msg)  # BUG: on the first marker, not once every channel delivered it


if __name__ == "__main__":
    reducer.Reducer = SnapshotsUnaligned  # reducer.main() runs whatever reducer.Reducer names
    sys.exit(reducer.main())
