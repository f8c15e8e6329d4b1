"""The scaling table drawn as a PNG (for docs/): one line per configuration over the corpus sizes.

matplotlib is an optional dependency (the `test` and `timeline` extras):
without it the benchmark still prints everything and says in one line why
there is no picture. The one-huge-file corpus is drawn apart from the
sized corpora (its own x position, points not joined to the line), since it
differs in kind, not in size.
"""
from __future__ import annotations

from math import nan
from pathlib import Path
from typing import Any

from kit.bench.report import TARGET_RATIO
from kit.bench.scaling import ONE_FILE


def write_png(rows: list[dict[str, Any]], path: Path, title: str) -> str:
    """Draw the scaling rows to `path`; returns the line to print (where it went, or why it did not)."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return "png: not written: matplotlib is not installed (pip install matplotlib)"
    if not rows:
        return "png: not written: no scaling rows"
    names = list(rows[0]["cells"])
    sized = [i for i, row in enumerate(rows) if not row["corpus"].endswith(ONE_FILE)]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for name in names:
        ratios = [nan if row["cells"][name]["ratio"] is None else row["cells"][name]["ratio"] for row in rows]
        line, = ax.plot(sized, [ratios[i] for i in sized], marker="o", label=name)
        apart = [i for i in range(len(rows)) if i not in sized]
        ax.plot(apart, [ratios[i] for i in apart], marker="s", linestyle="none", color=line.get_color())
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(TARGET_RATIO, color="grey", linewidth=0.8, linestyle="--", label=f"target {TARGET_RATIO:g}x")
    ax.set_xticks(range(len(rows)), [row["corpus"].replace(", ", "\n") for row in rows])
    ax.set_ylabel("time / serial count time (same corpus, same round)")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"png: scaling drawn to {path}"
