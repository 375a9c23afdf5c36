"""Load sweeps: one scenario at several offered rates, lowest first, each point checked like any run, for the
latency-against-load plot.

A point already measured at its rate (the scenario's main run) is reused, not run twice. Once a point did not keep
up, the higher rates not yet measured are skipped (after `past_knee` more overloaded points): an open-loop run
beyond the knee only adds a backlog that takes minutes to drain, and the plot already shows where the knee is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from bench.report import progress
from bench.scenarios.booking import ScenarioResult

Scenario = Callable[[float], Awaitable[ScenarioResult]]
POINT_FIELDS = ("offered_rate", "achieved_rate", "sent", "p50_ms", "p90_ms", "p99_ms", "max_ms", "statuses", "errors")
KEPT_UP_SHARE = 0.9  # a point that achieved less than this share of its offered rate, or failed more than 1 %


def rates_with(rates: Iterable[float], main_rate: float) -> list[float]:
    """The sweep's rates, the main run's among them, lowest first."""
    return sorted({float(rate) for rate in rates} | {float(main_rate)})


def point(result: ScenarioResult) -> dict:
    """One sweep point: the outcome's rates, percentiles and statuses, the invariants checked after it and its CPU per
    request (None when not measured)."""
    summary = result.outcome.summary()
    return {field: summary[field] for field in POINT_FIELDS} | {"invariants": result.invariants, "cpu": result.cpu}


def failed(point: dict) -> int:
    """Requests the system failed: 5xx, connection errors and timeouts, and 429 (every scenario's clients stay within
    the product's quotas and limits when it keeps up: a 429 means work piled up, e.g. overlapping holds)."""
    refused = sum(n for status, n in point["statuses"].items() if int(status) >= 500 or int(status) == 429)
    return sum(point["errors"].values()) + refused


def overloaded(point: dict) -> bool:
    """The system did not keep up with the point's offered rate: requests fell behind or failed."""
    return point["achieved_rate"] < KEPT_UP_SHARE * point["offered_rate"] or failed(point) > point["sent"] / 100


async def sweep(scenario: Scenario, rates: Iterable[float], measured: dict[float, ScenarioResult],
                past_knee: int = 0) -> dict:
    """`scenario` at each rate in turn (reusing `measured` points): {"points": [...], "skipped": [rates]}."""
    points: list[dict] = []
    skipped: list[float] = []
    for rate in rates:
        result = measured.get(rate)
        if result is None and sum(overloaded(point) for point in points) > past_knee:
            skipped.append(rate)
            continue
        if result is None:
            progress(f"  sweep point: {rate:g}/s")
            result = await scenario(rate)
        points.append(point(result))
    if skipped:
        progress(f"  skipped {', '.join(f'{rate:g}/s' for rate in skipped)}: beyond the knee (a lower rate did not "
                 "keep up)")
    return {"points": points, "skipped": skipped}
