"""The latency-against-load plot: p50/p90/p99 of each sweep against its offered rate (log-log), one PNG per run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the plot is only ever written to a file
import matplotlib.pyplot as plt  # after use(): the backend must be chosen before pyplot is imported
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.sweep import overloaded

PERCENTILES = (("p50_ms", "p50", "o-"), ("p90_ms", "p90", "s-"), ("p99_ms", "p99", "^-"))
PLAIN = FuncFormatter(lambda value, _: f"{value:g}")


def _panel(axes, title: str, points: list[dict], capacity: tuple[str, float] | None) -> None:
    rates = [point["offered_rate"] for point in points]
    for key, label, style in PERCENTILES:
        axes.plot(rates, [point[key] for point in points], style, label=label)
    late = [point for point in points if overloaded(point)]
    if late:
        axes.plot([point["offered_rate"] for point in late], [point["p99_ms"] for point in late], "rx", markersize=12,
                  label="did not keep up (<90 % achieved or >1 % failed)")
    if capacity is not None:
        name, rate = capacity
        axes.axvline(rate, color="grey", linestyle="--", label=f"{name}: {rate:,.0f}/s")
    axes.set(xscale="log", yscale="log", title=title, xlabel="offered rate (requests per second)",
             ylabel="latency from intended start (ms)")
    axes.set_xticks(rates)  # plain numbers at the measured rates, not powers of ten
    axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labelled even when less than a decade apart
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(PLAIN)
        axis.set_minor_formatter(NullFormatter())
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")


def latency_against_load(sweeps: dict[str, dict], path: Path, subtitle: str) -> Path:
    """Write one panel per sweep to `path`. Each sweep: {"title", "points", "capacity": (label, rate) | None}."""
    figure, panels = plt.subplots(1, len(sweeps), figsize=(6.5 * len(sweeps), 5), squeeze=False)
    for axes, sweep in zip(panels[0], sweeps.values(), strict=True):
        _panel(axes, sweep["title"], sweep["points"], sweep.get("capacity"))
    figure.suptitle(f"SmartSlot: latency against offered load ({subtitle})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
