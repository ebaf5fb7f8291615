"""Charts drawn on the server as SVG geometry (no JavaScript, no chart library): the template draws the shapes."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
PAD_LEFT = 8
PAD_BOTTOM = 22
PAD_TOP = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    title: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    baseline: float
    line_points: str  # a polyline over the bars for a second series ("" when there is none)
    max_value: int


def bar_chart(values: list[int], labels: list[str], titles: list[str], line: list[int] | None = None) -> BarChart:
    """Bars for `values` (e.g. sales per day) and an optional polyline for `line` (orders per day), each scaled to
    its own maximum. A zero is drawn as a 1 px bar so an empty day still shows on the axis."""
    count = max(len(values), 1)
    plot_w = WIDTH - PAD_LEFT * 2
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / count
    top = max(values) if values and max(values) > 0 else 1
    baseline = HEIGHT - PAD_BOTTOM
    bars = []
    for i, (value, label, title) in enumerate(zip(values, labels, titles, strict=True)):
        height = max(1.0, plot_h * value / top)
        bars.append(
            Bar(
                x=round(PAD_LEFT + i * slot + slot * 0.15, 1),
                y=round(baseline - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                label=label,
                value=value,
                title=title,
            )
        )
    points = ""
    if line:
        line_top = max(line) if max(line) > 0 else 1
        points = " ".join(
            f"{round(PAD_LEFT + i * slot + slot / 2, 1)},{round(baseline - plot_h * v / line_top, 1)}"
            for i, v in enumerate(line)
        )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        baseline=baseline,
        line_points=points,
        max_value=max(values) if values else 0,
    )
