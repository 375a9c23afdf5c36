"""Charts as server-rendered SVG: the geometry is worked out here (pure), the template draws it.

Like a simple Grafana panel: a title, axes with a few labelled ticks, the data, a legend; no decoration. Each chart
also carries its numbers as a table for screen readers and for anyone who wants the exact figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48
# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # what a tooltip (an SVG <title>) says


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    """A drawn chart: bars, axis ticks and a legend, in a WIDTH x HEIGHT view box."""

    title: str
    bars: list[Rect] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_bottom: float = HEIGHT - BOTTOM
    plot_right: int = WIDTH - RIGHT


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing), for the y axis's top."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _y_ticks(top: float, as_percent: bool, count: int = 4) -> list[Tick]:
    plot_height = HEIGHT - TOP - BOTTOM
    ticks = []
    for index in range(count + 1):
        value = top * index / count
        label = f"{value * 100:.0f}%" if as_percent else (f"{value:.0f}" if top >= count else f"{value:.2g}")
        ticks.append(Tick(HEIGHT - BOTTOM - plot_height * index / count, label))
    return ticks


def stacked_bars(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]) -> Chart:
    """One stacked bar per category (e.g. a day), one segment per series (e.g. a status)."""
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    chart = Chart(title, y_ticks=_y_ticks(top, False),
                  legend=[(name, PALETTE[i % len(PALETTE)]) for i, (name, _) in enumerate(series)],
                  table_head=["", *(name for name, _ in series)],
                  table_rows=[[category, *(_number(values[i]) for _, values in series)]
                              for i, category in enumerate(categories)])
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    plot_height = HEIGHT - TOP - BOTTOM
    every = max(1, math.ceil(len(categories) / 8))  # at most eight labels along the axis
    for i, category in enumerate(categories):
        x, base = LEFT + i * slot + slot * 0.15, float(HEIGHT - BOTTOM)
        for s, (name, values) in enumerate(series):
            height = plot_height * values[i] / top
            if height > 0:
                base -= height
                chart.bars.append(Rect(x, base, slot * 0.7, height, PALETTE[s % len(PALETTE)],
                                       f"{category}: {_number(values[i])} {name}"))
        if i % every == 0:
            chart.x_ticks.append(Tick(LEFT + i * slot + slot / 2, category))
    return chart


def bars(title: str, items: Sequence[tuple[str, float]], as_percent: bool = False, unit: str = "") -> Chart:
    """One bar per item (e.g. per provider); values are fractions when `as_percent`."""
    top = 1.0 if as_percent else nice_ceiling(max((value for _, value in items), default=0))
    if as_percent:
        top = max(top, nice_ceiling(max((value for _, value in items), default=0)))
    chart = Chart(title, y_ticks=_y_ticks(top, as_percent), table_head=["", title],
                  table_rows=[[name, _shown(value, as_percent, unit)] for name, value in items])
    slot = (WIDTH - LEFT - RIGHT) / max(len(items), 1)
    plot_height = HEIGHT - TOP - BOTTOM
    for i, (name, value) in enumerate(items):
        height = plot_height * value / top
        x = LEFT + i * slot + slot * 0.2
        chart.bars.append(Rect(x, HEIGHT - BOTTOM - height, slot * 0.6, height, PALETTE[0],
                               f"{name}: {_shown(value, as_percent, unit)}"))
        chart.x_ticks.append(Tick(LEFT + i * slot + slot / 2, name[:18]))
    return chart


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _shown(value: float, as_percent: bool, unit: str) -> str:
    return f"{value * 100:.1f}%" if as_percent else f"{_number(value)}{unit}"
