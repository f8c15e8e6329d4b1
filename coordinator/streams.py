"""When the mappers may start: once their input streams are filled.

The launcher gives the coordinator its go before it starts Redis and fills
the mappers' streams (wordcount/stream/launch.py), so the reducers' start-up
overlaps that work instead of following it; it then writes one line on the
coordinator's stdin, "ready" (`STREAMS_READY`). Until that line comes the coordinator starts
reducers and prestarts mappers but gives no mapper its go: a mapper that
found its stream still empty would report itself done. EOF without the
line means the launcher gave up (it failed to start Redis, or died) and the
job fails. A coordinator started without `--streams-on-stdin` (streams
filled before its go) treats them as ready from the start.
"""
from __future__ import annotations

import sys
import threading
from typing import BinaryIO, Callable

from wordcount.stream.spec import STREAMS_READY


class StreamsReady:
    """Whether the launcher said the streams are filled; `gone` if it never will."""

    def __init__(self, source: BinaryIO | None, wake: Callable[[], None]) -> None:
        self.ready = threading.Event()
        self.gone = False
        if source is None:
            self.ready.set()
            return
        threading.Thread(target=self._listen, args=(source, wake), name="streams", daemon=True).start()

    @classmethod
    def from_stdin(cls, wake: Callable[[], None]) -> "StreamsReady":
        return cls(sys.stdin.buffer, wake)

    def _listen(self, source: BinaryIO, wake: Callable[[], None]) -> None:
        line = source.readline()
        if line == STREAMS_READY:
            self.ready.set()
        else:
            self.gone = True
        wake()

    def is_ready(self) -> bool:
        return self.ready.is_set()
