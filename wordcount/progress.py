"""A one-line progress bar on a terminal; silent (log lines only) otherwise."""
from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


class Progress:
    """Redraws one status line in place; does nothing when not on a TTY."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._drawn = False

    def show(self, done: int, total: int, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        width = shutil.get_terminal_size((80, 20)).columns
        bar_w = max(10, min(30, width - len(text) - 12))
        filled = int(bar_w * done / total) if total else bar_w
        line = f"[{'#' * filled}{'.' * (bar_w - filled)}] {text}"
        self.stream.write("\r" + line[: width - 1].ljust(width - 1))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
