"""What the coordinator tells the launcher on stdout: JSON lines, a
{"status": ...} at most every STATUS_EVERY_S (and at every phase change)
while running, and one {"result": ...} at the end (coordinator/__main__.py).
The launcher (wordcount/stream/launch.py) draws its status line from them."""
from __future__ import annotations

import json
import sys
from typing import Callable

from coordinator.phases import Phase, State

STATUS_EVERY_S = 0.2


class StatusLine:
    """Throttles status lines: a new one only when due or when the phase changed."""

    def __init__(self, files_total: int) -> None:
        self.files_total = files_total
        self._last: tuple[float, Phase | None] = (0.0, None)

    def update(self, state: State, running: Callable[[str], bool], now: float) -> None:
        last_time, last_phase = self._last
        if now - last_time < STATUS_EVERY_S and state.phase == last_phase:
            return
        self._last = (now, state.phase)
        workers = {w.id: ("dead" if not running(w.id) else "up" if w.registered else "starting")
                   for w in state.workers}
        emit({"status": {"phase": state.phase.name, "completed": state.completed_id,
                         "recovery": state.recovery_id, "workers": workers, "files_done": state.files_done,
                         "files_total": self.files_total, "checkpoints": state.checkpoints_completed}})


def emit(obj: dict) -> None:
    """One JSON line to the launcher (stdout is a pipe it reads)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
