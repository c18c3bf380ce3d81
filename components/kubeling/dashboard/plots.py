"""Line charts as inline SVG: a few samples over the last minutes, drawn server-side.

No script and no library: one ``<svg>`` with a polyline per series, a grid
of three horizontal lines labelled with the value they mark, and the time
span under it. Pure functions, so the picture of a given set of samples is
always the same text (unit-tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Point = tuple[float, float]  # (unix time, value)

WIDTH, HEIGHT = 360, 120
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 52, 8, 8, 18
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[Point]


def format_cores(value: float) -> str:
    """CPU in cores as people read it: ``250m``, ``1.5``."""
    if value < 1:
        return f"{round(value * 1000)}m"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_bytes(value: float) -> str:
    """Memory in binary units: ``512Ki``, ``1.5Gi``."""
    for unit, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{int(value)}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times 10^n that is at least ``value`` (the chart's top)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value * (1 - 1e-9))


def line_chart(
    title: str, series: Sequence[Series], *, fmt: Callable[[float], str], span: float, now: float
) -> str:
    """An SVG of ``series`` over the ``span`` seconds before ``now``; a note when there are no samples."""
    plot_w = WIDTH - _PAD_LEFT - _PAD_RIGHT
    plot_h = HEIGHT - _PAD_TOP - _PAD_BOTTOM
    start = now - span
    values = [v for s in series for t, v in s.points if t >= start]
    top = nice_ceiling(max(values, default=0.0))
    parts = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{WIDTH - _PAD_RIGHT}" y="{_PAD_TOP + 10}" text-anchor="end" font-size="11" '
        f'font-weight="600" fill="#374151">{escape(title)}</text>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _PAD_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{_PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - _PAD_RIGHT}" y2="{y:.1f}" stroke="#e5e7eb"/>'
        )
        parts.append(
            f'<text x="{_PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#6b7280">'
            f"{escape(fmt(top * fraction))}</text>"
        )
    minutes = round(span / 60)
    parts.append(
        f'<text x="{_PAD_LEFT}" y="{HEIGHT - 4}" font-size="10" fill="#6b7280">-{minutes} min</text>'
        f'<text x="{WIDTH - _PAD_RIGHT}" y="{HEIGHT - 4}" text-anchor="end" font-size="10" '
        'fill="#6b7280">now</text>'
    )
    if not values:
        parts.append(
            f'<text x="{_PAD_LEFT + plot_w / 2:.1f}" y="{_PAD_TOP + plot_h / 2:.1f}" text-anchor="middle" '
            'font-size="11" fill="#6b7280">no samples yet</text>'
        )
    for index, item in enumerate(series):
        shown = [(t, v) for t, v in item.points if t >= start]
        if not shown:
            continue
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(
            f"{_PAD_LEFT + plot_w * (t - start) / span:.1f},{_PAD_TOP + plot_h * (1 - v / top):.1f}"
            for t, v in shown
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}">'
            f"<title>{escape(item.label)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)
