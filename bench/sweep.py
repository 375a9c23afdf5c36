"""Load sweeps: one scenario at several offered rates, each point checked like any run, for the latency-against-load
plot. A point already measured at its rate (the scenario's main run) is reused, not run twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from bench.scenarios.booking import ScenarioResult

Scenario = Callable[[float], Awaitable[ScenarioResult]]
POINT_FIELDS = ("offered_rate", "achieved_rate", "sent", "p50_ms", "p90_ms", "p99_ms", "max_ms", "statuses", "errors")


def rates_with(rates: Iterable[float], main_rate: float) -> list[float]:
    """The sweep's rates, the main run's among them, lowest first."""
    return sorted({float(rate) for rate in rates} | {float(main_rate)})


def point(result: ScenarioResult) -> dict:
    """One sweep point: the outcome's rates, percentiles and statuses, and the invariants checked after it."""
    summary = result.outcome.summary()
    return {field: summary[field] for field in POINT_FIELDS} | {"invariants": result.invariants}


async def sweep(scenario: Scenario, rates: Iterable[float], measured: dict[float, ScenarioResult]) -> list[dict]:
    """`scenario` at each rate in turn (reusing `measured` points); one point per rate."""
    points = []
    for rate in rates:
        result = measured.get(rate)
        if result is None:
            print(f"  sweep point: {rate:g}/s", flush=True)
            result = await scenario(rate)
        points.append(point(result))
    return points
