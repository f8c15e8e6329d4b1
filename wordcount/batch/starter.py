"""Starting Lab 1 workers: their names, arguments, and warm starts.

A generation of workers is `w0 .. w{n-1}` (replacements `w0.1`, ...), each
`python worker.py --name NAME --job JOB --settings RUN/settings.json` with
the server in `$WC_REDIS_URL`. The first generation's size is known from the
inputs alone, and the workers' URL from the server's plan
(wordcount/jobuser.py), so the client starts those workers' interpreters
before it even imports redis-py (`prestart`; wordcount/warm.py): their
start-up, most of a small job's time, overlaps the client's own and the
server's. `start` then gives a prestarted worker its go, once the stream and
its group exist, or starts one from scratch (replacements, the spare);
`cancel_unused` ends the ones the job turned out not to need. This module
imports nothing of Redis.
"""
from __future__ import annotations

import os
import subprocess
from typing import Iterable

from wordcount import parts, procs
from wordcount.config import Settings
from wordcount.placement import place_of


def generation_size(workers: int, entries: int) -> int:
    """Workers per generation: `batch.workers`, but at most one more than there
    are entries. A worker with nothing to read only costs its start-up (~0.3 s
    of CPU, on the cores the others count on); the one spare is there to steal
    from a worker that stalls (a hung worker never exits, so no replacement
    would come)."""
    return max(1, min(workers, entries + 1))


def first_started(workers: int, entries: int) -> int:
    """How many of the first generation start at once: all but the spare (the
    one beyond the entries), which waits for the claim timeout (supervisor.py)."""
    size = generation_size(workers, entries)
    return size - 1 if size > entries else size


class WorkerStarter:
    """Starts the workers of one job (all from the client's main thread, which
    outlives them: PDEATHSIG follows the thread that forked)."""

    def __init__(self, settings: Settings, job: str, run_path: str, url: str) -> None:
        self.settings = settings
        self.job = job
        self.run_path = run_path
        self.url = url  # the workers' server: in their environment, never on their command line
        self.warm: dict[str, parts.Warm] = {}

    @property
    def settings_path(self) -> str:
        return os.path.join(self.run_path, "settings.json")

    def _prestart(self, name: str) -> parts.Warm:
        return parts.prestart(
            self.settings.parts, "worker", ["--name", name, "--job", self.job, "--settings", self.settings_path],
            label=name, log_path=os.path.join(self.run_path, "logs", f"{name}.log"),
            env={"WC_REDIS_URL": self.url, "WC_CLIENT_PID": str(os.getpid())},
            launch=place_of(self.settings.batch.placement, name).launch)

    def prestart(self, names: Iterable[str]) -> None:
        """Start these workers' interpreters now; each runs on its `start`."""
        with procs.deferred_interrupts():  # a Ctrl-C waits until each is registered, so it gets stopped
            for name in names:
                self.warm[name] = self._prestart(name)

    def start(self, name: str) -> subprocess.Popen:
        """Worker `name` running (its stream and group must exist by now)."""
        with procs.deferred_interrupts():
            warm = self.warm.pop(name, None) or self._prestart(name)
            return warm.go()

    def cancel_unused(self) -> None:
        """End the prestarted workers that never got their go."""
        for warm in self.warm.values():
            warm.cancel()
        self.warm.clear()
