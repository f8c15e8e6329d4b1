"""What a person sees on the terminal while a job runs, and only there.

On a terminal (stderr is a TTY and TERM is not "dumb") log records go through
rich's RichHandler and a live display (Lab 1: a progress bar; Lab 2: phase,
checkpoint, recovery and worker states) stays at the bottom, with every log
line printed above it. Anywhere else (a pipe, a file, CI) there is no live
display and no escape sequence: plain `LEVEL name: message` log lines, plus
an INFO progress line now and then, stable enough to grep.

The summary on stdout is printed after the display has stopped, so it never
mixes with it; words in it pass through `terminal_safe` first.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("client")
PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"
LOG_EVERY_S = 5.0  # progress log line period when there is no live display
REFRESH_PER_S = 8

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, lone surrogates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# what makes rich treat stderr as a terminal even when it is not a TTY
_FORCING = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


@functools.lru_cache(maxsize=None)
def stderr_console() -> Console:
    """The one rich Console on stderr: the live display and the log lines share
    it, so logs go above the display. Made on first use, since importing rich
    costs about 60 ms of every start-up and a job in a pipe never needs it."""
    from rich.console import Console

    return Console(stderr=True)


def live_terminal() -> bool:
    """True when a live display makes sense: stderr is an interactive, capable terminal."""
    if not sys.stderr.isatty() and not any(name in os.environ for name in _FORCING):
        return False  # what rich would answer too, without importing it
    console = stderr_console()
    return console.is_terminal and not console.is_dumb_terminal


def setup_logging() -> None:
    """Rich log lines on a terminal, plain grep-friendly ones anywhere else."""
    if live_terminal():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=stderr_console(), show_path=False, markup=False,
                                               rich_tracebacks=False, log_time_format="[%X]")
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO, format=PLAIN_FORMAT)


def terminal_safe(text: str) -> str:
    """`text` with every character that a terminal would act on shown as an escape.

    A word taken from a binary file can hold ESC sequences that clear the
    screen or retitle the window, or bidi overrides that reorder the line;
    printed as `\\x1b` / `\\u202e` they are visible and harmless. Only for the
    terminal: the table file keeps the exact word.
    """
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


D = TypeVar("D", bound="_Display")


class _Display:
    """Starts and stops a rich live renderable; nothing (but progress log lines) when not live."""

    def __init__(self) -> None:
        self.live = live_terminal()
        self._next_log = time.monotonic() + LOG_EVERY_S

    def _renderer(self) -> Any:
        """The rich renderable to keep live (wordcount/richview.py); only called on a terminal."""
        raise NotImplementedError

    def start(self: D) -> D:
        if self.live:
            self._view = self._renderer()
            self._view.start()
        return self

    def close(self) -> None:
        """Stop redrawing; the last frame stays on the screen, above what follows."""
        if self.live:
            self._view.stop()

    def _log_due(self) -> bool:
        """Without a live display: is it time for another progress log line?"""
        now = time.monotonic()
        if self.live or now < self._next_log:
            return False
        self._next_log = now + LOG_EVERY_S
        return True


class BatchDisplay(_Display):
    """Lab 1: files committed of total, MB/s, stolen entries and Redis restarts."""

    def __init__(self, total_files: int) -> None:
        super().__init__()
        self.total_files = total_files
        self.t0 = time.monotonic()

    def _renderer(self) -> Any:
        from wordcount import richview

        self._task, progress = richview.batch_progress(stderr_console(), self.total_files, REFRESH_PER_S)
        return progress

    def update(self, files: int, bytes_: int, stolen: int, restarts: int, done: bool = False) -> None:
        mbps = bytes_ / 1e6 / max(time.monotonic() - self.t0, 1e-9)
        if self.live:
            self._view.update(self._task, completed=files, mbps=mbps, stolen=stolen, restarts=restarts,
                              description="done" if done else "counting")
        elif self._log_due():
            log.info("progress: %d/%d files, %.1f MB/s, stolen %d, Redis restarts %d",
                     files, self.total_files, mbps, stolen, restarts)


class StreamDisplay(_Display):
    """Lab 2: the coordinator's phase, checkpoint, recovery, files and worker states."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict = {}

    def _renderer(self) -> Any:
        from wordcount import richview

        return richview.stream_live(stderr_console(), REFRESH_PER_S)

    def update(self, st: dict) -> None:
        """Redraw; log phase and recovery changes (the record of them without a terminal)."""
        if self.live:
            from wordcount import richview

            self._view.update(richview.render_status(st))
        if (st["phase"], st["recovery"]) != (self.last.get("phase"), self.last.get("recovery")):
            workers = " ".join(f"{w[0]}{w.rsplit('-', 1)[1]}:{s}" for w, s in st["workers"].items())  # m0:up r1:dead
            log.info("phase %s, last completed checkpoint %d, recovery id %d; %s", st["phase"],
                     st["completed"], st["recovery"], workers)
        elif self._log_due():
            log.info("progress: %d/%d files, phase %s, checkpoint %d", st["files_done"], st["files_total"],
                     st["phase"], st["completed"])
        self.last = st

