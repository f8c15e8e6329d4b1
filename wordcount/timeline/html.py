"""The timeline as a self-contained HTML page: one inline SVG, no scripts,
hover any mark for its event."""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from wordcount.timeline.model import MARKERS, SPANS, MarkerStyle, Timeline

SVG_W, LEFT, RIGHT, TOP, LANE_H, LEGEND_ROW = 1100, 110, 20, 16, 34, 18


def render_html(tl: Timeline, out: str | Path) -> None:
    """Write a self-contained HTML page: one inline SVG, hover any mark for its event."""
    page = (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(tl.title)}</title><style>body{{font-family:sans-serif;margin:1em}}"
        "h1{font-size:1.1em;margin:0}p{color:#555;margin:.3em 0 .8em}</style></head><body>"
        f"<h1>{html.escape(tl.title)}</h1><p>{html.escape(tl.summary)}. "
        "Hover any mark for its event.</p>\n"
        f"{svg(tl)}\n</body></html>\n"
    )
    Path(out).write_text(page, encoding="utf-8")


def svg(tl: Timeline) -> str:
    """The timeline as one SVG element (text; embeddable anywhere)."""
    n = len(tl.lanes)
    plot_h = n * LANE_H
    legend = [(MARKERS[k].legend, k, None) for k in tl.used_markers()] + \
             [(SPANS[k].legend, None, k) for k in tl.used_spans()]
    height = TOP + plot_h + 40 + LEGEND_ROW * math.ceil(len(legend) / 4) + 10
    scale = (SVG_W - LEFT - RIGHT) / (tl.duration * 1.02)
    x = lambda t: LEFT + t * scale  # noqa: E731
    y = {lane: TOP + (i + 0.5) * LANE_H for i, lane in enumerate(tl.lanes)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_W}" height="{height:.0f}" '
             f'font-family="sans-serif" font-size="11">']
    for i, lane in enumerate(tl.lanes):
        fill = "#f7f7f7" if i % 2 else "#ffffff"
        parts.append(f'<rect x="{LEFT}" y="{TOP + i * LANE_H}" width="{SVG_W - LEFT - RIGHT}" '
                     f'height="{LANE_H}" fill="{fill}"/><text x="{LEFT - 8}" y="{y[lane] + 4:.1f}" '
                     f'text-anchor="end">{html.escape(lane)}</text>')
    parts += _svg_axis(tl.duration, x, TOP + plot_h)
    for s in tl.spans:
        color = SPANS[s.kind].color
        if s.band:
            parts.append(f'<rect x="{x(s.start):.1f}" y="{TOP}" width="{max(x(s.end) - x(s.start), 1):.1f}" '
                         f'height="{plot_h}" fill="{color}" opacity="0.08"/>')
        dash = "" if s.complete else ' stroke-dasharray="4 2"'
        parts.append(f'<g><title>{html.escape(s.label)}: {s.start:.3f}s to {s.end:.3f}s</title>'
                     f'<rect x="{x(s.start):.1f}" y="{y[s.lane] - 0.3 * LANE_H:.1f}" '
                     f'width="{max(x(s.end) - x(s.start), 2):.1f}" height="{0.6 * LANE_H:.1f}" fill="{color}" '
                     f'opacity="{0.35 if s.complete else 0.18}" stroke="{color}"{dash}/></g>')
    for seg in tl.segments:
        parts.append(f'<g><title>{html.escape(seg.lane)} pid {seg.pid}: {seg.start:.3f}s to {seg.end:.3f}s'
                     f'</title><rect x="{x(seg.start):.1f}" y="{y[seg.lane] - 3:.1f}" '
                     f'width="{max(x(seg.end) - x(seg.start), 1):.1f}" height="6" fill="#cfcfcf"/></g>'
                     f'<text x="{x(seg.start):.1f}" y="{y[seg.lane] - 7:.1f}" font-size="8" '
                     f'fill="#777">pid {seg.pid}</text>')
    for m in tl.markers:
        parts.append(f'<g><title>{html.escape(m.text)}</title>'
                     f'{_svg_shape(MARKERS[m.style], x(m.t), y[m.lane])}</g>')
        if m.note:
            parts.append(f'<text x="{x(m.t) + 5:.1f}" y="{y[m.lane] + 12:.1f}" font-size="9" '
                         f'fill="#d62728">{html.escape(m.note)}</text>')
    parts += _svg_legend(legend, TOP + plot_h + 40)
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_step(span: float, target: int = 10) -> float:
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _svg_axis(duration: float, x: Any, bottom: float) -> list[str]:
    step = _nice_step(duration)
    out = [f'<line x1="{LEFT}" y1="{bottom}" x2="{SVG_W - RIGHT}" y2="{bottom}" stroke="#999"/>']
    for i in range(int(duration / step) + 1):
        t = i * step
        out.append(f'<line x1="{x(t):.1f}" y1="{TOP}" x2="{x(t):.1f}" y2="{bottom + 4}" stroke="#e5e5e5"/>'
                   f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{t:g}</text>')
    out.append(f'<text x="{(LEFT + SVG_W - RIGHT) / 2}" y="{bottom + 30}" text-anchor="middle" '
               'fill="#555">seconds since the first event</text>')
    return out


def _svg_legend(entries: list[tuple[str, str | None, str | None]], top: float) -> list[str]:
    out = []
    for i, (label, marker, span) in enumerate(entries):
        lx, ly = LEFT + (i % 4) * 240, top + (i // 4) * LEGEND_ROW
        if marker:
            out.append(_svg_shape(MARKERS[marker], lx + 6, ly))
        else:
            out.append(f'<rect x="{lx}" y="{ly - 6}" width="14" height="12" fill="{SPANS[span].color}" '
                       'opacity="0.35"/>')
        out.append(f'<text x="{lx + 20}" y="{ly + 4}">{html.escape(label)}</text>')
    return out


def _svg_shape(style: MarkerStyle, cx: float, cy: float) -> str:
    r = 4 * style.size ** 0.5
    c = style.color
    shape = style.shape
    if shape in ("dot", "circle"):
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r * (0.6 if shape == "dot" else 1):.1f}" fill="{c}"/>'
    if shape in ("x", "X", "plus", "bar"):
        w = 1.5 if shape != "X" else 3
        segs = {"plus": ((-r, 0, r, 0), (0, -r, 0, r)), "bar": ((0, -1.6 * r, 0, 1.6 * r),)}.get(
            shape, ((-r, -r, r, r), (-r, r, r, -r)))
        return "".join(f'<line x1="{cx + a:.1f}" y1="{cy + b:.1f}" x2="{cx + d:.1f}" y2="{cy + e:.1f}" '
                       f'stroke="{c}" stroke-width="{w}"/>' for a, b, d, e in segs)
    points = {
        "triangle": ((0, -r), (r, r), (-r, r)),
        "tri_down": ((0, r), (r, -r), (-r, -r)),
        "tri_right": ((r, 0), (-r, -r), (-r, r)),
        "square": ((-r, -r), (r, -r), (r, r), (-r, r)),
        "diamond": ((0, -r), (r, 0), (0, r), (-r, 0)),
        "star": tuple((r * (1 if i % 2 == 0 else 0.45) * math.sin(i * math.pi / 5),
                       -r * (1 if i % 2 == 0 else 0.45) * math.cos(i * math.pi / 5)) for i in range(10)),
    }[shape]
    pts = " ".join(f"{cx + a:.1f},{cy + b:.1f}" for a, b in points)
    return f'<polygon points="{pts}" fill="{c}"/>'
