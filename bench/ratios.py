"""Every scenario read against the baselines of the same run: what share of the machine's ceiling it reached, and how
many times the baseline's p99 its p99 is.

Every scenario talks HTTP, so each is read against wrk on the trivial handler, directly and through the gateway hop;
scenarios that book are also read against pgbench running the booking transaction; and every p99 against our own
driver on the trivial handler (the driver's own share).
"""

from __future__ import annotations

HTTP_BASELINES = ("wrk_direct", "wrk_gateway")
BOOKING_BASELINES = ("pgbench_booking",)
DRIVER_BASELINE = "driver_trivial_aiohttp"
# Scenarios whose every request writes a booking (name prefixes).
BOOKING_SCENARIOS = ("instant_bookings", "hot_slot_storm", "confirmation_to_email", "availability_bookings",
                     "hold_confirm_funnel")


def books(scenario: str) -> bool:
    """Whether each request of `scenario` is a booking transaction."""
    return scenario.startswith(BOOKING_SCENARIOS)


def _share(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return value / base


def baselines_for(scenario: str) -> tuple[str, ...]:
    """The baselines whose rate and p99 `scenario` is read against."""
    return HTTP_BASELINES + (BOOKING_BASELINES if books(scenario) else ())


def ratios(row: dict, baselines: dict[str, dict]) -> dict[str, float | None]:
    """`rate_vs_<baseline>` (achieved rate / baseline rate) and `p99_vs_<baseline>` (p99 / baseline p99); None when
    that baseline is missing or failed."""
    result: dict[str, float | None] = {}
    for name in baselines_for(row["scenario"]):
        base = baselines.get(name) or {}
        usable = "error" not in base
        result[f"rate_vs_{name}"] = _share(row.get("achieved_rate"), base.get("rate")) if usable else None
        result[f"p99_vs_{name}"] = _share(row.get("p99_ms"), base.get("p99_ms")) if usable else None
    floor = baselines.get(DRIVER_BASELINE) or {}
    result[f"p99_vs_{DRIVER_BASELINE}"] = _share(row.get("p99_ms"), floor.get("p99_ms"))
    return result
