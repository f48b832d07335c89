"""Server-rendered SVG charts: no script, no inline style, nothing from a CDN, so they
render under the strict Content-Security-Policy. Every chart is accompanied by a table of
the same numbers in the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    maximum: float
    title: str

    @property
    def axis_y(self) -> float:
        return self.height - BOTTOM


BOTTOM = 18  # room for the first and last labels under the bars
TOP = 14  # room for the maximum's label


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 640,
    height: int = 160,
    gap: float = 2.0,
) -> BarChart:
    """Bars scaled so the largest value fills the plot; zero values get no bar."""
    maximum = max((value for _, value in points), default=0) or 1
    plot = height - BOTTOM - TOP
    slot = width / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        bar_height = plot * (value / maximum) if value > 0 else 0.0
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(index * slot + gap / 2, 2),
                y=round(TOP + plot - bar_height, 2),
                width=round(max(slot - gap, 1), 2),
                height=round(bar_height, 2),
            )
        )
    return BarChart(width=width, height=height, bars=bars, maximum=maximum, title=title)
