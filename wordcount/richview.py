"""The rich renderables of the live terminal display (wordcount/console.py).

Kept apart so that rich is imported only when stderr is a terminal: a job in
a pipe, a test or CI never pays for it.
"""
from __future__ import annotations

from rich.columns import Columns
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

_WORKER_STYLE = {"up": "green", "starting": "yellow", "dead": "bold red"}


def batch_progress(console: Console, total_files: int, refresh_per_s: float) -> tuple[TaskID, Progress]:
    """Lab 1's bar: files committed of total, MB/s, stolen entries, Redis restarts."""
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description:<9}"), BarColumn(bar_width=30),
        MofNCompleteColumn(), TextColumn("files  {task.fields[mbps]:>7.1f} MB/s  stolen {task.fields[stolen]:>3}"
                                         "  Redis restarts {task.fields[restarts]:>2}"),
        TimeElapsedColumn(), console=console, refresh_per_second=refresh_per_s)
    task = progress.add_task("counting", total=total_files, mbps=0.0, stolen=0, restarts=0)
    return task, progress


def stream_live(console: Console, refresh_per_s: float) -> Live:
    """Lab 2's live status, until the coordinator's first status arrives."""
    return Live(Text("waiting for the coordinator..."), console=console, refresh_per_second=refresh_per_s)


def render_status(st: dict) -> Table:
    """One coordinator status as three steady lines: phase, a bar, the workers."""
    done, total = st["files_done"], st["files_total"]
    recovering = st["phase"].startswith("RECOVER")
    head = Text.assemble(("phase ", "dim"), (f"{st['phase']:<15}", "bold yellow" if recovering else "bold cyan"),
                         ("  last checkpoint ", "dim"), f"{st['completed']:>3}",
                         ("  recovery ", "dim"), f"{st['recovery']:>2}",
                         ("  files ", "dim"), f"{done:>{len(str(total))}}/{total}")
    bar = ProgressBar(total=max(total, 1), completed=done, width=50)
    workers = [Text.assemble(f"{w} ", (s, _WORKER_STYLE.get(s, ""))) for w, s in st["workers"].items()]
    grid = Table.grid()
    for row in (head, bar, Columns(workers, padding=(0, 3))):
        grid.add_row(row)
    return grid
