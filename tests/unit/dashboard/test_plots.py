"""Inline SVG line charts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from kubeling.dashboard import plots

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("value", "top"),
    [(0, 1.0), (0.3, 0.5), (0.7, 1.0), (1.0, 1.0), (1.2, 2.0), (2.2, 2.5), (3, 5.0), (7e8, 1e9), (120, 200)],
)
def test_nice_ceiling(value, top) -> None:
    assert plots.nice_ceiling(value) == pytest.approx(top)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.25, "250m"),
        (1.5, "1.5"),
        (2.0, "2"),
        (512 * 1024, "512Ki"),
        (1.5 * (1 << 30), "1.5Gi"),
        (100, "100"),
    ],
)
def test_formats(value, text) -> None:
    fmt = (
        plots.format_cores
        if text.endswith("m") or ("." in text and "i" not in text) or text == "2"
        else plots.format_bytes
    )
    assert fmt(value) == text


def test_chart_places_points_in_time_and_scale() -> None:
    now = 1000.0
    series = [plots.Series("web", [(now - 600, 0.5), (now - 300, 1.0), (now, 0.0), (now - 2000, 9.0)])]
    svg = plots.line_chart("CPU", series, fmt=plots.format_cores, span=600, now=now)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    (line,) = root.iter(f"{SVG}polyline")
    points = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
    # The sample older than the span is left out; x runs from the left edge to the right edge.
    assert len(points) == 3
    assert points[0][0] == plots._PAD_LEFT and points[-1][0] == plots.WIDTH - plots._PAD_RIGHT
    # Top of the scale is 1 core: the 1.0 sample touches the top, 0 the bottom.
    assert points[1][1] == plots._PAD_TOP and points[2][1] == plots.HEIGHT - plots._PAD_BOTTOM
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "1" in labels and "500m" in labels and "-10 min" in labels


def test_chart_without_samples_says_so_and_escapes_titles() -> None:
    svg = plots.line_chart("<pod>", [plots.Series("x", [])], fmt=plots.format_bytes, span=900, now=0)
    assert "no samples yet" in svg and "&lt;pod&gt;" in svg and "<polyline" not in svg
    ET.fromstring(svg)  # well-formed
