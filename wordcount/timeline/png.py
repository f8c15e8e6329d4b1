"""The timeline as a PNG, drawn with matplotlib (an optional dependency,
imported when a PNG is asked for so the HTML renderer works without it)."""
from __future__ import annotations

from pathlib import Path

from wordcount.timeline.model import MARKERS, SPANS, Timeline

_MPL_MARKERS = {"dot": "o", "circle": "o", "triangle": "^", "square": "s", "diamond": "D", "x": "x",
                "X": "X", "bar": "|", "star": "*", "tri_right": ">", "tri_down": "v", "plus": "+"}
_MPL_SIZE = {"dot": 10, "circle": 22}


def render_png(tl: Timeline, out: str | Path) -> None:
    """Write the timeline as a PNG; raises ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = len(tl.lanes)
    y = {lane: n - 1 - i for i, lane in enumerate(tl.lanes)}
    fig, ax = plt.subplots(figsize=(12, 1.9 + 0.42 * n), dpi=100)
    for s in tl.spans:
        style = SPANS[s.kind]
        if s.band:
            ax.axvspan(s.start, s.end, color=style.color, alpha=0.07, lw=0)
        ax.broken_barh([(s.start, max(s.end - s.start, tl.duration / 500))], (y[s.lane] - 0.3, 0.6),
                       facecolors=style.color, alpha=0.35 if s.complete else 0.18,
                       hatch=None if s.complete else "//", edgecolor=style.color, lw=0.5)
    for seg in tl.segments:
        ax.hlines(y[seg.lane], seg.start, seg.end, colors="#cfcfcf", lw=6, zorder=1)
        ax.text(seg.start, y[seg.lane] + 0.24, f"pid {seg.pid}", fontsize=6.5, color="#777777", va="bottom")
    for key in tl.used_markers():
        style = MARKERS[key]
        pts = [m for m in tl.markers if MARKERS[m.style].legend == style.legend]
        ax.scatter([m.t for m in pts], [y[m.lane] for m in pts], marker=_MPL_MARKERS[style.shape],
                   s=_MPL_SIZE.get(style.shape, 30) * style.size, c=style.color, zorder=3,
                   linewidths=1.5 if style.shape in ("x", "X", "bar", "plus") else 0.5, label=style.legend)
    for m in tl.markers:
        if m.note:
            ax.annotate(m.note, (m.t, y[m.lane]), xytext=(4, -11), textcoords="offset points",
                        fontsize=7, color="#d62728", zorder=4)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor=SPANS[k].color, alpha=0.35, label=SPANS[k].legend) for k in tl.used_spans()]
    ax.set_yticks(range(n), list(reversed(tl.lanes)))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(-tl.duration * 0.01, tl.duration * 1.03)
    ax.set_xlabel("seconds since the first event")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    ax.set_title(f"{tl.title}\n{tl.summary}", fontsize=10)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.45 / max(n, 1) - 0.12),
              ncol=min(5, max(len(handles), 1)), fontsize=8, frameon=False)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
